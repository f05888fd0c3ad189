"""Meta-learning a base network: second-order MAML over the latents, with a rate term.

Each task is a random crop (image), window (audio) or field (climate) with its own rate weight lam
(log-uniform in [lam_min, lam_max]); the inner loop adapts the modulations with `inner_steps` SGD steps of learned size (objective.adapt); the
outer loop (optax Adam) learns the SIREN weights, the inner step sizes and the initial entropy
scales by differentiating the post-adaptation loss through the inner loop.

Sparse bases (`TrainConfig.sparsity`, meta/README.md "Sparse base networks"): with L0 gates the
gate locations log_alpha are trained parameters (params["gates"]); every task samples its gates
once and runs the whole inner loop through the gated SIREN, so the outer gradient reaches
log_alpha through the post-adaptation loss; the Lagrange multiplier of the density constraint is
train state, updated by dual ascent every step. "magnitude" and "random" fix a mask at the start
and fine-tune the kept weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import subprocess
import time
from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from inrcodec import modalities
from inrcodec.core import bases, encoder, objective
from inrcodec.training import growth, l0, pruning, samplers
from inrcodec.bitstream.coding import MAX_STEP_INDEX, quant_step
from inrcodec.core.config import FitConfig, ModelConfig
from inrcodec.signals import masking


L0_METHODS = ("l0-unstructured", "l0-structured")
SPARSITY_METHODS = ("none", *L0_METHODS, "magnitude", "random")
PERCEPTUAL_RATE = 16000  # Hz: the framing of training windows' perceptual weights (their files' rates vary).


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Meta-training recipe."""

    name: str = "siren-image-v1"  # Name of the exported base.
    modality: str = "image"  # "image", "audio" or "climate" (selects the training_data sampler).
    model: ModelConfig = ModelConfig()
    crop: int = 128  # Side of the square training crops (image) or window length in samples (audio).
    grid: tuple[int, int] = (46, 90)  # Climate: the global grid every training field is regridded to.
    value_range: tuple[float, float] = (202.66, 320.93)  # Climate: physical values mapped to [0, 1] (K).
    lon_roll: float = 0.0  # Climate: probability that a training field is rotated in longitude (augmentation;
    # the grid points' positions on the sphere stay, so it trades the learned geography for variety).
    quality_lambdas: tuple[float, ...] = ()  # Rate weights of quality levels 1.. (empty: config.QUALITY_LAMBDAS).
    quality_step_index: tuple[int, ...] = ()  # Latent step index per quality level (empty: all 0, unit steps).
    step_indices: tuple[int, ...] = (0,)  # Per task, its latents are quantized with step 2 ** (-i / 2), i drawn
    # uniformly from these, so the base also learns the finer steps of the high quality levels.
    weight_deltas: bool = True  # Whether the encoder also fits per-signal weight deltas with this base.
    batch: int = 4  # Tasks (crops) per outer step.
    inner_steps: int = 3  # SGD steps of the inner loop (differentiated through: second order).
    fit_steps: int = 0  # If > 0: per task, also this many Adam steps (as the encoder does) from the
    # adapted latents, and a first-order loss at the fitted latents, so that the base also learns for
    # the regime it is used in (sparse, rounded latents after a long fit). 0 = pure MAML.
    fit_lr: float = 0.02  # Adam step of those fits (the encoder's FitConfig.lr).
    encoder_sample_fraction: float = 0.125  # The encoder's FitConfig.sample_fraction (manifest "fit"): the
    # share of samples whose distortion each of its steps evaluates (per-sample latents need a large one).
    fit_weight: float = 1.0  # Weight of the first-order loss at the fitted latents.
    distortion: str = "psnr"  # "perceptual" (1-D signals): every task's error is weighted per short-time
    # spectral bin by how audible it is (signals.masking, framed as at 16 kHz) in the fitted-latent term and the
    # outer loss (the meta-learned steps descend the squared error, as in the encoder: objective.adapt).
    lr: float = 1e-3  # Peak outer Adam learning rate (cosine decay to 5 % over `steps`).
    warmup: int = 100  # Linear warm-up steps of the outer learning rate.
    steps: int = 5000  # Outer steps (training also stops after `max_minutes`).
    max_minutes: float = 120.0  # Wall-clock budget; the base is exported when it runs out.
    lam_min: float = 3e-4  # Range of the per-task rate weight (log-uniform).
    lam_max: float = 4e-2
    seed: int = 0
    init_from: str = ""  # Optional base directory whose weights start the training (fine-tuning); a base with
    # fewer latent channels or narrower sine layers is grown into the recipe's architecture (training.growth).
    holdout: tuple[str, ...] = ()  # Names of data folders (climate: also file stems) not trained on: the validation curve.
    validate_every: int = 0  # Outer steps between validation losses on the held-out crops (0: none).
    validation_tasks: int = 16  # Held-out crops, each with its own rate weight (fixed for the whole run).
    checkpoint_every: int = 100  # Outer steps between checkpoints (and base exports).
    log_every: int = 10  # Outer steps between entries of the loss curve.
    sparsity: str = "none"  # One of SPARSITY_METHODS: "none" (dense); "l0-unstructured" (one hard-concrete
    # gate per weight of l0.gated_weights: first.w, hidden w and shift, out.w); "l0-structured" (one gate
    # per sine-layer unit, exported as narrower layers); "magnitude" / "random" (a mask fixed at the start,
    # from the init_from weights' magnitudes or at random; the kept weights are fine-tuned).
    density: float = 1.0  # Target fraction kept: of the gated weights (unstructured, masks) or of all
    # SIREN parameters (structured). The L0 constraint is expected density <= density.
    dual_lr: float = 0.05  # Dual-ascent step of the constraint's Lagrange multiplier (l0.dual_ascent).
    dual_restart: bool = True  # Reset the multiplier to 0 once the constraint holds (L0onie's dual restart):
    # without it the multiplier built up on the way down keeps pushing the density far below the target.
    gate_lr: float = 0.05  # Constant Adam learning rate of the gate locations log_alpha.
    gate_keep_prob: float = 0.9  # Initial keep probability P(gate != 0) of every gate.
    density_equality: bool = False  # The constraint is expected density == density (l0.dual_ascent's equality):
    # its multiplier may turn negative and push the density back up (issue 20: the inequality let every run
    # settle far below its target, and the export then re-admitted units the training had switched off).
    gate_beta_final: float = l0.BETA  # Temperature of the hard-concrete gates at the last step: below l0.BETA it
    # falls geometrically from l0.BETA over the run, so the sampled gates approach 0 / 1 and the network the
    # training sees approaches the deterministic one the export keeps (issue 20: gates that polarise).

    def __post_init__(self):
        if self.sparsity not in SPARSITY_METHODS:
            raise ValueError(f"sparsity must be one of {', '.join(SPARSITY_METHODS)}, got {self.sparsity!r}")
        if not 0.0 < self.density <= 1.0:
            raise ValueError(f"density must lie in (0, 1], got {self.density}")
        if not self.step_indices or not all(0 <= i <= MAX_STEP_INDEX for i in self.step_indices):
            raise ValueError(f"step_indices must be a non-empty tuple of indices in 0..{MAX_STEP_INDEX}, "
                             f"got {self.step_indices}")
        if not 0.0 < self.gate_beta_final <= l0.BETA:
            raise ValueError(f"gate_beta_final must lie in (0, {l0.BETA:.4f}], got {self.gate_beta_final}")
        if not 0.0 <= self.lon_roll <= 1.0:
            raise ValueError(f"lon_roll is a probability, got {self.lon_roll}")
        if self.distortion not in masking.DISTORTIONS:
            raise ValueError(f"distortion must be one of {', '.join(masking.DISTORTIONS)}, got {self.distortion!r}")
        if self.sparsity == "none" and self.density < 1.0:
            raise ValueError(f"density {self.density} needs a sparsity method other than 'none'")

    @property
    def gated(self) -> bool:
        """Whether the training learns L0 gates."""
        return self.sparsity in L0_METHODS

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return d


def sample_batch(sampler: samplers.Sampler, cfg: TrainConfig, step: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Deterministic batch for `step`: stacked task signals, their rate weights and quantization steps."""
    rng = np.random.default_rng([cfg.seed, step])
    batch = with_distortion(sampler.sample(rng, cfg.batch), cfg)
    lams = samplers.log_uniform(rng, cfg.lam_min, cfg.lam_max, cfg.batch)
    indices = rng.choice(cfg.step_indices, cfg.batch) if len(cfg.step_indices) > 1 else np.full(cfg.batch, cfg.step_indices[0])
    return batch, lams, np.array([quant_step(int(i)) for i in indices], np.float32)


def validation_set(sampler: samplers.Sampler, cfg: TrainConfig) -> tuple[dict, np.ndarray, np.ndarray]:
    """The held-out tasks of the validation curve: `validation_tasks` crops from `sampler`, rate weights
    spread log-evenly over [lam_min, lam_max] and quantization steps cycling over `step_indices`."""
    rng = np.random.default_rng([cfg.seed, 1 << 30])
    n = cfg.validation_tasks
    batch = with_distortion(sampler.sample(rng, n), cfg)
    lams = np.geomspace(cfg.lam_min, cfg.lam_max, n).astype(np.float32)
    steps = np.array([quant_step(int(cfg.step_indices[i % len(cfg.step_indices)])) for i in range(n)], np.float32)
    return batch, lams, steps


def with_distortion(batch: dict, cfg: TrainConfig) -> dict:
    """The batch with the perceptual "band_weights" of each task when the recipe's distortion asks for them."""
    if cfg.distortion != "perceptual":
        return batch
    weights = [masking.band_weights(v[..., 0], PERCEPTUAL_RATE) for v in np.asarray(batch["values"], np.float32)]
    return {**batch, "band_weights": np.stack(weights)}


def gate_beta(cfg: TrainConfig, step: int) -> np.float32:
    """The gates' temperature at outer step `step`: l0.BETA, falling geometrically to cfg.gate_beta_final."""
    progress = min(1.0, step / max(1, cfg.steps))
    return np.float32(l0.BETA * (cfg.gate_beta_final / l0.BETA) ** progress)


def task_base(params: dict, gate_key: jax.Array, cfg: TrainConfig, beta: float | jnp.ndarray = l0.BETA) -> dict:
    """The base one task sees: with L0 gates, its SIREN gated by one hard-concrete sample drawn
    with `gate_key` at temperature `beta` (differentiable in params["gates"]); otherwise `params` itself."""
    if not cfg.gated:
        return params
    net = l0.sample_gated_network(gate_key, params["net"], params["gates"], cfg.sparsity == "l0-structured", beta)
    return {**params, "net": net}


def expected_density(params: dict, cfg: TrainConfig, beta: float | jnp.ndarray = l0.BETA) -> jnp.ndarray:
    """Expected density of the gated SIREN (scalar; see TrainConfig.density for what it counts)."""
    return l0.network_expected_density(params["net"], params["gates"], cfg.sparsity == "l0-structured", beta)


def fit_tasks(params: dict, batch: dict, lams: jnp.ndarray, key: jax.Array, cfg: TrainConfig,
              gate_key: jax.Array | None = None, quant_steps: jnp.ndarray | None = None,
              beta: float | jnp.ndarray = l0.BETA) -> dict:
    """Per task: the meta-learned steps, then `fit_steps` Adam steps of the encoder's refinement
    (core.encoder.refine; no gradient flows back).

    `quant_steps` (tasks,) are the tasks' quantization steps (None: 1); the fitted latents are in value units.

    With L0 gates, task i runs through the SIREN gated by the sample of split(gate_key)[i] (the
    same sample as in outer_loss).
    """
    params = jax.lax.stop_gradient(params)

    def task(signal, lam, step, k, gk):
        base = task_base(params, gk, cfg, beta)
        k_inner, k_fit = jax.random.split(k)
        mods = objective.in_step_units(objective.adapt(base, signal, lam, k_inner, cfg.model, cfg.inner_steps, step), step)
        hyper = encoder.schedule_values(schedule, step, None)
        keys = jax.random.split(k_fit, max(cfg.fit_steps, 1))
        mods, _ = encoder.refine(base["net"], mods, encoder.init_state(mods, hyper), signal, lam, keys, cfg.fit_steps,
                                 False, step, 1.0, hyper, cfg.model, None)
        return {**mods, "latents": [y * step for y in mods["latents"]], "log_scale": mods["log_scale"] + jnp.log(step)}

    # The encoder's refinement at a constant learning rate, noise phase only.
    schedule = FitConfig(noise_steps=cfg.fit_steps, ste_steps=0, lr=cfg.fit_lr, lr_final=1.0)

    n = lams.shape[0]
    quant_steps = jnp.ones_like(lams) if quant_steps is None else quant_steps
    return jax.vmap(task)(batch, lams, quant_steps, jax.random.split(key, n), _gate_keys(gate_key, n, cfg))


def _gate_keys(gate_key: jax.Array | None, n: int, cfg: TrainConfig) -> jax.Array | None:
    """One gate-sampling key per task (None without L0 gates)."""
    if not cfg.gated:
        return None
    if gate_key is None:
        raise ValueError("training with L0 gates needs a gate_key")
    return jax.random.split(gate_key, n)


def outer_loss(params: dict, batch: dict, lams: jnp.ndarray, key: jax.Array, cfg: TrainConfig, fitted: dict | None = None,
               gate_key: jax.Array | None = None, multiplier: jnp.ndarray | float = 0.0,
               quant_steps: jnp.ndarray | None = None, beta: float | jnp.ndarray = l0.BETA):
    """Mean post-adaptation rate-distortion loss over the tasks of a batch (task i quantizes its
    latents with quant_steps[i]; None: unit steps).

    With `fitted` (from fit_tasks), adds fit_weight x the loss at those latents (first order: by
    the envelope theorem this is the gradient of the fitted loss when the fit has converged).

    With L0 gates (cfg.gated), task i samples its gates (temperature `beta`) once with split(gate_key, batch)[i] and
    adapts and is evaluated through that gated SIREN, and the loss gains the constraint term
    l0.lagrangian_penalty(expected density, cfg.density, multiplier); the metrics then also hold
    "density" (expected) and "multiplier".
    """

    def task(signal, lam, step, k, fitted_mods, gk):
        base = task_base(params, gk, cfg, beta)
        k_inner, k_outer, k_fit = jax.random.split(k, 3)
        mods = objective.adapt(base, signal, lam, k_inner, cfg.model, cfg.inner_steps, step)
        loss, (mse, rate) = objective.rd_loss(base["net"], objective.in_step_units(mods, step), signal, lam, k_outer,
                                          cfg.model, "noise", step=step)
        if fitted_mods is None:
            return loss, mse, rate
        fit_loss, (mse, rate) = objective.rd_loss(base["net"], objective.in_step_units(fitted_mods, step), signal, lam, k_fit,
                                              cfg.model, "noise", step=step)
        return loss + cfg.fit_weight * fit_loss, mse, rate

    n = lams.shape[0]
    quant_steps = jnp.ones_like(lams) if quant_steps is None else quant_steps
    loss, mse, rate = jax.vmap(task)(batch, lams, quant_steps, jax.random.split(key, n), fitted,
                                     _gate_keys(gate_key, n, cfg))
    # Reported psnr / bpp are those after the long fit when there is one, else after adaptation.
    metrics = {"loss": loss.mean(), "psnr": jnp.mean(-10 * jnp.log10(mse)), "bpp": rate.mean()}
    total = loss.mean()
    if cfg.gated:
        density = expected_density(params, cfg, beta)
        total = total + l0.lagrangian_penalty(density, cfg.density, multiplier)
        metrics.update(density=density, multiplier=jnp.asarray(multiplier, jnp.float32))
    return total, metrics


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """Adam on the base (warm-up, cosine decay, gradient clipping); gates get their own constant-rate Adam."""
    schedule = optax.warmup_cosine_decay_schedule(0.0, cfg.lr, cfg.warmup, max(cfg.steps, cfg.warmup + 1), 0.05 * cfg.lr)
    weights = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))
    if not cfg.gated:
        return weights

    def labels(params):
        return {k: jax.tree.map(lambda _: "gates" if k == "gates" else "weights", v) for k, v in params.items()}

    return optax.multi_transform({"weights": weights, "gates": optax.adam(cfg.gate_lr)}, labels)


def init_sparse_state(params: dict, cfg: TrainConfig) -> tuple[dict, dict]:
    """Adds the sparsity method's parameters and train state to freshly loaded base params.

    Returns (params, state): L0 gates go into params["gates"] (trained by the outer Adam) and
    the state is {"multiplier": 0}; "magnitude" / "random" prune params["net"] now and the state
    is {"mask": the fixed mask}; dense training has no state ({}).
    """
    if cfg.gated:
        gates = l0.init_network_gates(params["net"], cfg.sparsity == "l0-structured", cfg.gate_keep_prob)
        return {**params, "gates": gates}, {"multiplier": jnp.zeros((), jnp.float32)}
    if cfg.sparsity == "magnitude":
        mask = pruning.magnitude_prune(params["net"], cfg.density)
    elif cfg.sparsity == "random":
        mask = pruning.random_prune(params["net"], cfg.density, jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1))
    else:
        return params, {}
    mask = jax.tree.map(jnp.asarray, mask)
    return {**params, "net": l0.gate_weights(params["net"], mask)}, {"mask": mask}


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _save_checkpoint(path: Path, step: int, params, opt_state, sparse_state, curve: list, elapsed: float) -> None:
    leaves = jax.tree_util.tree_leaves((params, opt_state, sparse_state))
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, *[np.asarray(x) for x in leaves])
    os.replace(tmp, path)
    meta = {"step": step, "curve": curve, "elapsed_s": elapsed}
    path.with_suffix(".json").write_text(json.dumps(meta))


def _load_checkpoint(path: Path, params, opt_state, sparse_state):
    """Restores the leaves saved by _save_checkpoint into the structure of the given templates
    (dense training has no sparse-state leaves, so older dense checkpoints load unchanged)."""
    treedef = jax.tree_util.tree_structure((params, opt_state, sparse_state))
    with np.load(path, allow_pickle=False) as npz:
        leaves = [jnp.asarray(npz[f"arr_{i}"]) for i in range(len(npz.files))]
    meta = json.loads(path.with_suffix(".json").read_text())
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"{path}: the checkpoint does not match the recipe (architecture or sparsity changed?)")
    params, opt_state, sparse_state = jax.tree_util.tree_unflatten(treedef, leaves)
    return params, opt_state, sparse_state, meta["step"], meta["curve"], meta["elapsed_s"]


def train(
    cfg: TrainConfig,
    data: Sequence[Path],
    out_dir: Path,
    progress: Callable[[int, dict], None] | None = None,
    sampler: samplers.Sampler | None = None,
) -> bases.Base:
    """Meta-trains a base and exports it to `out_dir` (resumes from out_dir/checkpoint.npz).

    Args:
      cfg: the recipe.
      data: files or directories of training data of the recipe's modality.
      out_dir: receives params.npz, manifest.json, record.json and the checkpoint.
      progress: called after every step with (step, metrics); the CLI draws a progress bar.
      sampler: tasks from elsewhere than `data` (e.g. samplers.SignalPool over signals in memory).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    validation = None
    if cfg.holdout and sampler is None:
        sampler, held = samplers.split_sampler(cfg.modality, data, cfg.holdout, cfg.crop, cfg.grid, cfg.value_range,
                                               cfg.model.input_scale, cfg.lon_roll)
        validation = validation_set(held, cfg)
    sampler = sampler or samplers.dataset_sampler(cfg.modality, data, cfg.crop, cfg.grid, cfg.value_range,
                                                       cfg.model.input_scale, cfg.lon_roll)
    files = sampler.files
    optimizer = make_optimizer(cfg)
    params = objective.init_base(jax.random.PRNGKey(cfg.seed), cfg.model)
    ckpt = out_dir / "checkpoint.npz"
    if cfg.init_from and not ckpt.exists():
        start = bases.load_base_dir(Path(cfg.init_from))
        params = start.params
        if start.cfg != cfg.model:
            try:
                params = growth.grow(start.params, start.cfg, cfg.model, jax.random.PRNGKey(cfg.seed))
            except ValueError as e:
                raise ValueError(f"{cfg.init_from}: its architecture cannot start the recipe's ({e})") from None
    params, sparse_state = init_sparse_state(params, cfg)
    opt_state = optimizer.init(params)
    data_list = [{"path": str(f), "sha256": hashlib.sha256(Path(f).read_bytes()).hexdigest()} for f in files]
    step, curve, elapsed = 0, [], 0.0
    if ckpt.exists():
        params, opt_state, sparse_state, step, curve, elapsed = _load_checkpoint(ckpt, params, opt_state, sparse_state)

    @jax.jit
    def train_step(params, opt_state, sparse_state, batch, lams, quant_steps, key, beta):
        k_fit, k_outer = jax.random.split(key)
        gate_key = jax.random.fold_in(key, 1)  # Only used with L0 gates; leaves the dense keys unchanged.
        fitted = fit_tasks(params, batch, lams, k_fit, cfg, gate_key, quant_steps, beta) if cfg.fit_steps > 0 else None
        grads, metrics = jax.grad(outer_loss, has_aux=True)(params, batch, lams, k_outer, cfg, fitted, gate_key,
                                                            sparse_state.get("multiplier", 0.0), quant_steps, beta)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        if "mask" in sparse_state:  # Fixed mask: pruned weights are re-zeroed after every update.
            params = {**params, "net": l0.gate_weights(params["net"], sparse_state["mask"])}
        if "multiplier" in sparse_state:
            sparse_state = {"multiplier": l0.dual_ascent(sparse_state["multiplier"], metrics["density"], cfg.density,
                                                         cfg.dual_lr, cfg.dual_restart, cfg.density_equality)}
        return params, opt_state, sparse_state, metrics

    @jax.jit
    def validate(params, sparse_state, batch, lams, quant_steps, beta):
        key = jax.random.PRNGKey(cfg.seed + 1)  # The same noise at every validation: a comparable curve.
        k_fit, k_outer = jax.random.split(key)
        gate_key = jax.random.fold_in(key, 1)
        fitted = fit_tasks(params, batch, lams, k_fit, cfg, gate_key, quant_steps, beta) if cfg.fit_steps > 0 else None
        return outer_loss(params, batch, lams, k_outer, cfg, fitted, gate_key, sparse_state.get("multiplier", 0.0),
                          quant_steps, beta)[1]

    started = time.time() - elapsed
    root_key = jax.random.PRNGKey(cfg.seed)
    while step < cfg.steps and (time.time() - started) < cfg.max_minutes * 60:
        batch, lams, quant_steps = sample_batch(sampler, cfg, step)
        beta = gate_beta(cfg, step)
        params, opt_state, sparse_state, metrics = train_step(params, opt_state, sparse_state, batch, lams, quant_steps,
                                                              jax.random.fold_in(root_key, step), beta)
        step += 1
        metrics = {k: float(v) for k, v in metrics.items()}
        if cfg.gated and cfg.gate_beta_final < l0.BETA:
            metrics["beta"] = float(beta)
        if cfg.gated and step % cfg.log_every == 0:  # What the export would keep: does it follow the constraint?
            metrics["gate_density"] = pruning.deterministic_density(params["net"], params["gates"],
                                                                     cfg.sparsity == "l0-structured")
        if not all(math.isfinite(v) for v in metrics.values()):
            raise FloatingPointError(f"training diverged at step {step}: {metrics}")
        if validation is not None and cfg.validate_every and step % cfg.validate_every == 0:
            held_out = validate(params, sparse_state, *validation, beta)
            metrics |= {f"val_{k}": float(held_out[k]) for k in ("loss", "psnr", "bpp")}
        if step % cfg.log_every == 0 or "val_loss" in metrics:
            curve.append({"step": step, "seconds": round(time.time() - started, 1), **{k: round(v, 5) for k, v in metrics.items()}})
        if progress:
            progress(step, metrics)
        if step % cfg.checkpoint_every == 0:
            _save_checkpoint(ckpt, step, params, opt_state, sparse_state, curve, time.time() - started)
            _export(cfg, params, out_dir, data_list, curve, step, time.time() - started)
    _save_checkpoint(ckpt, step, params, opt_state, sparse_state, curve, time.time() - started)
    return _export(cfg, params, out_dir, data_list, curve, step, time.time() - started)


def export_sparse(params: dict, cfg: TrainConfig) -> tuple[dict, ModelConfig, dict]:
    """The base to export, its architecture and its manifest "sparsity" entry (None when dense).

    L0 gates become deterministic, then a hard mask (pruning.export_unstructured /
    export_structured, which also enforce the target density); fixed masks are already applied.
    """
    base = {k: v for k, v in params.items() if k != "gates"}
    if cfg.sparsity == "none":
        return base, cfg.model, None
    model_cfg, gate_density = cfg.model, None
    if cfg.sparsity == "l0-unstructured":
        base["net"], gate_density = pruning.export_unstructured(params["net"], params["gates"], cfg.density)
    elif cfg.sparsity == "l0-structured":
        base["net"], model_cfg, gate_density = pruning.export_structured(params["net"], params["gates"], cfg.density,
                                                                         cfg.model)
    return base, model_cfg, pruning.sparsity_record(cfg.sparsity, cfg.density, base["net"], cfg.model, gate_density)


def _export(cfg: TrainConfig, params, out_dir: Path, data_list: list, curve, step: int, seconds: float) -> bases.Base:
    record = {
        "config": cfg.to_dict(),
        "steps": step,
        "wall_seconds": round(seconds, 1),
        "commit": _git_commit(),
        "jax": jax.__version__,
        "data": data_list,
        "curve": curve,
    }
    (out_dir / "record.json").write_text(json.dumps(record, indent=1) + "\n")
    extra = {
        "inner_steps": cfg.inner_steps,
        "weight_deltas": cfg.weight_deltas,
        **({"meta_distortion": cfg.distortion} if cfg.distortion != "psnr" else {}),  # What it was trained for.
        # The encoder's Adam step (as in the fitted-latent term of training) and its sampling.
        "fit": {"lr": cfg.fit_lr, "sample_fraction": cfg.encoder_sample_fraction},
        "training": {"steps": step, "wall_seconds": round(seconds, 1), "record": "record.json"},
    }
    if cfg.quality_lambdas:
        extra["quality_lambdas"] = {str(q): lam for q, lam in enumerate(cfg.quality_lambdas, start=1)}
        indices = cfg.quality_step_index or (0,) * len(cfg.quality_lambdas)
        extra["quality_step_index"] = {str(q): int(s) for q, s in enumerate(indices, start=1)}
    if modalities.by_name(cfg.modality).FIXED_RANGE:
        extra["value_range"] = list(cfg.value_range)
    base, model_cfg, sparsity = export_sparse(params, cfg)
    if sparsity is not None:
        extra["sparsity"] = sparsity
    return bases.save_base(out_dir, cfg.name, cfg.modality, model_cfg, base, extra)


def load_recipe(path: str | Path) -> TrainConfig:
    """Runs a recipe file's `get_config()` (a Python file, like meta/recipes/image.py)."""
    import importlib.util

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such recipe file")
    spec = importlib.util.spec_from_file_location(f"inrcodec_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = module.get_config()
    if not isinstance(cfg, TrainConfig):
        raise ValueError(f"{path}: get_config() must return a TrainConfig")
    return cfg
