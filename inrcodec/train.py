"""Meta-learning a base network: second-order MAML over the latents, with a rate term.

Each task is a random crop (image), window (audio) or field (climate) with its own rate weight lam
(log-uniform in [lam_min, lam_max]); the inner loop adapts the modulations with `inner_steps` SGD steps of learned size (model.adapt); the
outer loop (optax Adam) learns the SIREN weights, the inner step sizes and the initial entropy
scales by differentiating the post-adaptation loss through the inner loop.
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

from inrcodec import bases, model, training_data
from inrcodec.fit import fit
from inrcodec.config import ModelConfig


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Meta-training recipe."""

    name: str = "siren-image-v1"  # Name of the exported base.
    modality: str = "image"  # "image", "audio" or "climate" (selects the training_data sampler).
    model: ModelConfig = ModelConfig()
    crop: int = 128  # Side of the square training crops (image) or window length in samples (audio).
    grid: tuple[int, int] = (46, 90)  # Climate: the global grid every training field is regridded to.
    value_range: tuple[float, float] = (202.66, 320.93)  # Climate: physical values mapped to [0, 1] (K).
    quality_lambdas: tuple[float, ...] = ()  # Rate weights of quality levels 1.. (empty: config.QUALITY_LAMBDAS).
    quality_step_index: tuple[int, ...] = ()  # Latent step index per quality level (empty: all 0, unit steps).
    weight_deltas: bool = True  # Whether the encoder also fits per-signal weight deltas with this base.
    batch: int = 4  # Tasks (crops) per outer step.
    inner_steps: int = 3  # SGD steps of the inner loop (differentiated through: second order).
    fit_steps: int = 0  # If > 0: per task, also this many Adam steps (as the encoder does) from the
    # adapted latents, and a first-order loss at the fitted latents, so that the base also learns for
    # the regime it is used in (sparse, rounded latents after a long fit). 0 = pure MAML.
    fit_lr: float = 0.02  # Adam step of those fits (the encoder's FitConfig.lr).
    fit_weight: float = 1.0  # Weight of the first-order loss at the fitted latents.
    lr: float = 1e-3  # Peak outer Adam learning rate (cosine decay to 5 % over `steps`).
    warmup: int = 100  # Linear warm-up steps of the outer learning rate.
    steps: int = 5000  # Outer steps (training also stops after `max_minutes`).
    max_minutes: float = 120.0  # Wall-clock budget; the base is exported when it runs out.
    lam_min: float = 3e-4  # Range of the per-task rate weight (log-uniform).
    lam_max: float = 4e-2
    seed: int = 0
    init_from: str = ""  # Optional base directory whose weights start the training (fine-tuning).
    checkpoint_every: int = 100  # Outer steps between checkpoints (and base exports).
    log_every: int = 10  # Outer steps between entries of the loss curve.

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return d


def sample_batch(sampler: training_data.Sampler, cfg: TrainConfig, step: int) -> tuple[dict, np.ndarray]:
    """Deterministic batch for `step`: stacked task signals and their rate weights."""
    rng = np.random.default_rng([cfg.seed, step])
    batch = sampler.sample(rng, cfg.batch)
    return batch, training_data.log_uniform(rng, cfg.lam_min, cfg.lam_max, cfg.batch)


def fit_tasks(params: dict, batch: dict, lams: jnp.ndarray, key: jax.Array, cfg: TrainConfig) -> dict:
    """Per task: the meta-learned steps, then `fit_steps` Adam steps (no gradient flows back)."""
    params = jax.lax.stop_gradient(params)

    def task(signal, lam, k):
        k_inner, k_fit = jax.random.split(k)
        mods = model.adapt(params, signal, lam, k_inner, cfg.model, cfg.inner_steps)

        def loss(m, kk):
            return model.rd_loss(params["net"], m, signal, lam, kk, cfg.model, "noise")[0]

        return fit(loss, mods, optax.adam(cfg.fit_lr), cfg.fit_steps, k_fit)[0]

    return jax.vmap(task)(batch, lams, jax.random.split(key, lams.shape[0]))


def outer_loss(params: dict, batch: dict, lams: jnp.ndarray, key: jax.Array, cfg: TrainConfig, fitted: dict | None = None):
    """Mean post-adaptation rate-distortion loss over the tasks of a batch.

    With `fitted` (from fit_tasks), adds fit_weight x the loss at those latents (first order: by
    the envelope theorem this is the gradient of the fitted loss when the fit has converged).
    """

    def task(signal, lam, k, fitted_mods):
        k_inner, k_outer, k_fit = jax.random.split(k, 3)
        mods = model.adapt(params, signal, lam, k_inner, cfg.model, cfg.inner_steps)
        loss, (mse, rate) = model.rd_loss(params["net"], mods, signal, lam, k_outer, cfg.model, "noise")
        if fitted_mods is None:
            return loss, mse, rate
        fit_loss, (mse, rate) = model.rd_loss(params["net"], fitted_mods, signal, lam, k_fit, cfg.model, "noise")
        return loss + cfg.fit_weight * fit_loss, mse, rate

    keys = jax.random.split(key, lams.shape[0])
    loss, mse, rate = jax.vmap(task)(batch, lams, keys, fitted)
    # Reported psnr / bpp are those after the long fit when there is one, else after adaptation.
    return loss.mean(), {"loss": loss.mean(), "psnr": jnp.mean(-10 * jnp.log10(mse)), "bpp": rate.mean()}


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(0.0, cfg.lr, cfg.warmup, max(cfg.steps, cfg.warmup + 1), 0.05 * cfg.lr)
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _save_checkpoint(path: Path, step: int, params, opt_state, curve: list, elapsed: float) -> None:
    leaves = jax.tree_util.tree_leaves((params, opt_state))
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, *[np.asarray(x) for x in leaves])
    os.replace(tmp, path)
    meta = {"step": step, "curve": curve, "elapsed_s": elapsed}
    path.with_suffix(".json").write_text(json.dumps(meta))


def _load_checkpoint(path: Path, params, opt_state):
    treedef = jax.tree_util.tree_structure((params, opt_state))
    with np.load(path, allow_pickle=False) as npz:
        leaves = [jnp.asarray(npz[f"arr_{i}"]) for i in range(len(npz.files))]
    meta = json.loads(path.with_suffix(".json").read_text())
    params, opt_state = jax.tree_util.tree_unflatten(treedef, leaves)
    return params, opt_state, meta["step"], meta["curve"], meta["elapsed_s"]


def train(
    cfg: TrainConfig,
    data: Sequence[Path],
    out_dir: Path,
    progress: Callable[[int, dict], None] | None = None,
) -> bases.Base:
    """Meta-trains a base and exports it to `out_dir` (resumes from out_dir/checkpoint.npz).

    Args:
      cfg: the recipe.
      data: files or directories of training data of the recipe's modality.
      out_dir: receives params.npz, manifest.json, record.json and the checkpoint.
      progress: called after every step with (step, metrics); the CLI draws a progress bar.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sampler = training_data.dataset_sampler(cfg.modality, data, cfg.crop, cfg.grid, cfg.value_range,
                                             cfg.model.input_scale)
    files = sampler.files
    optimizer = make_optimizer(cfg)
    params = model.init_base(jax.random.PRNGKey(cfg.seed), cfg.model)
    ckpt = out_dir / "checkpoint.npz"
    if cfg.init_from and not ckpt.exists():
        start = bases.load_base_dir(Path(cfg.init_from))
        if start.cfg != cfg.model:
            raise ValueError(f"{cfg.init_from}: its architecture differs from the recipe's")
        params = start.params
    opt_state = optimizer.init(params)
    data_list = [{"path": str(f), "sha256": hashlib.sha256(Path(f).read_bytes()).hexdigest()} for f in files]
    step, curve, elapsed = 0, [], 0.0
    if ckpt.exists():
        params, opt_state, step, curve, elapsed = _load_checkpoint(ckpt, params, opt_state)

    @jax.jit
    def train_step(params, opt_state, batch, lams, key):
        k_fit, k_outer = jax.random.split(key)
        fitted = fit_tasks(params, batch, lams, k_fit, cfg) if cfg.fit_steps > 0 else None
        grads, metrics = jax.grad(outer_loss, has_aux=True)(params, batch, lams, k_outer, cfg, fitted)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, metrics

    started = time.time() - elapsed
    root_key = jax.random.PRNGKey(cfg.seed)
    while step < cfg.steps and (time.time() - started) < cfg.max_minutes * 60:
        batch, lams = sample_batch(sampler, cfg, step)
        params, opt_state, metrics = train_step(params, opt_state, batch, lams, jax.random.fold_in(root_key, step))
        step += 1
        metrics = {k: float(v) for k, v in metrics.items()}
        if not all(math.isfinite(v) for v in metrics.values()):
            raise FloatingPointError(f"training diverged at step {step}: {metrics}")
        if step % cfg.log_every == 0:
            curve.append({"step": step, "seconds": round(time.time() - started, 1), **{k: round(v, 5) for k, v in metrics.items()}})
        if progress:
            progress(step, metrics)
        if step % cfg.checkpoint_every == 0:
            _save_checkpoint(ckpt, step, params, opt_state, curve, time.time() - started)
            _export(cfg, params, out_dir, data_list, curve, step, time.time() - started)
    _save_checkpoint(ckpt, step, params, opt_state, curve, time.time() - started)
    return _export(cfg, params, out_dir, data_list, curve, step, time.time() - started)


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
        "fit": {"lr": cfg.fit_lr},  # The encoder's Adam step, as in the fitted-latent term of training.
        "training": {"steps": step, "wall_seconds": round(seconds, 1), "record": "record.json"},
    }
    if cfg.quality_lambdas:
        extra["quality_lambdas"] = {str(q): lam for q, lam in enumerate(cfg.quality_lambdas, start=1)}
        steps = cfg.quality_step_index or (0,) * len(cfg.quality_lambdas)
        extra["quality_step_index"] = {str(q): int(s) for q, s in enumerate(steps, start=1)}
    if cfg.modality == "climate":
        extra["value_range"] = list(cfg.value_range)
    return bases.save_base(out_dir, cfg.name, cfg.modality, cfg.model, params, extra)


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
