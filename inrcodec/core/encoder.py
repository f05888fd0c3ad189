"""The encoder's fit: the modulations of N same-shaped signals, vmapped (one signal is a batch of one).

Meta-learned adaptation (objective.adapt), then Adam on the latents (in units of the quantization step)
and, optionally, on per-signal weight deltas of the base (in units of their step), under the
rate-distortion loss: uniform noise first, then straight-through rounding. Step counts, learning
rates and the phase are runtime values, so a new schedule does not compile new programs: one
compilation per signal shape, batch size and model.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from inrcodec.bitstream.range_coder import CONTEXT_WINDOW
from inrcodec.core import compilation, objective
from inrcodec.core.config import FitConfig, ModelConfig

CHUNK_STEPS = 50  # Adam steps per compiled call (progress is reported between calls).
MAX_FIT_SAMPLES = 1 << 18  # Samples per Adam step at most: their activations bound the fit's memory.
LOCAL_GAIN_INIT = 1.3  # A local scale starts at 1.3x the mean |latent| of its window (typical of speech).

Progress = Callable[[int, int], None]


@dataclasses.dataclass(frozen=True)
class Problem:
    """What the fit of a batch needs besides the signals: the base, the rate weight and the steps."""

    params: dict  # The base: {"net", "inner_log_lr", "log_scale"} (objective.init_base).
    cfg: ModelConfig
    lam: float  # Rate weight.
    step: float  # Latent quantization step.
    weight_step: float | None = None  # Step of per-signal weight deltas; None: no deltas.
    local_scales: bool = False  # The rate of local scales (rate.local_log_scales) instead of one scale per level.
    inner_steps: int = 3  # Meta-learned adaptation steps.
    lengths: np.ndarray | None = None  # rate.code_lengths of the base's context tables: the latents' rate.
    zero_levels: int = 0  # The finest levels are held at zero, not fitted (FitConfig.zero_levels).


def _batched(fn, *args):
    """`jax.vmap(fn)(*args)`; a batch of one runs `fn` unbatched (XLA's batched gathers and scatters made
    the single-signal fit ~45 % slower on the CPU, meta/README.md)."""
    if jax.tree_util.tree_leaves(args)[0].shape[0] != 1:
        return jax.vmap(fn)(*args)
    out = fn(*jax.tree_util.tree_map(lambda x: x[0], args))
    return jax.tree_util.tree_map(lambda x: x[None], out)


def _schedule(lr: jax.Array, total: jax.Array, one_minus_final: jax.Array, final: jax.Array):
    """Cosine decay of `lr` to lr * final over `total` steps (optax.cosine_decay_schedule with
    runtime values; 1 - final is given, rounded once, as optax rounds its Python float)."""

    def schedule(count):
        count = jnp.minimum(count, total)
        cosine = 0.5 * (1 + jnp.cos(jnp.pi * count / total))
        return lr * (one_minus_final * cosine**1.0 + final)

    return schedule


def _optimizer(hyper: dict) -> optax.GradientTransformation:
    """Adam with cosine decay; the weight deltas get their own learning rate."""

    def adam(rate):
        return optax.adam(_schedule(rate, hyper["total"], hyper["one_minus_final"], hyper["final"]))

    def labels(params):
        return {k: jax.tree_util.tree_map(lambda _: "delta" if k == "delta" else "latent", v) for k, v in params.items()}

    return optax.multi_transform({"latent": adam(hyper["lr"]), "delta": adam(hyper["weight_lr"])}, labels)


@functools.partial(jax.jit, static_argnames=("cfg", "inner_steps", "local_scales", "deltas", "zero_levels"))
def _start(params, signals, lam, keys, step, log_step, hyper, cfg: ModelConfig, inner_steps: int,
           local_scales: bool, deltas: bool, zero_levels: int = 0):
    """Per signal: the meta-learned steps, in units of `step`, with the fit's extra modulations and
    the optimizer state; the `zero_levels` finest levels set to zero. Returns (mods, opt_state leaves,
    keys of the refinement), each with a leading batch axis (the leaves are a plain list:
    compilation.call can keep the program)."""

    def one(signal, signal_key):
        key, fit_key = jax.random.split(signal_key)
        mods = objective.in_step_units(objective.adapt(params, signal, lam, key, cfg, inner_steps), step, log_step)
        mods["latents"] = [jnp.zeros_like(y) if k < zero_levels else y for k, y in enumerate(mods["latents"])]
        if local_scales:  # A gain per level; "log_scale" becomes the floor.
            mods["log_gain"] = jnp.full_like(mods["log_scale"], np.log(LOCAL_GAIN_INIT / CONTEXT_WINDOW))
            mods["log_scale"] = mods["log_scale"] - 1.0
        if deltas:
            mods["delta"] = jax.tree_util.tree_map(jnp.zeros_like, params["net"])
            mods["delta_log_scale"] = jnp.zeros((len(jax.tree_util.tree_leaves(mods["delta"])),), jnp.float32)
        return mods, jax.tree_util.tree_leaves(init_state(mods, hyper)), fit_key

    return _batched(one, signals, keys)


def refine(net, mods, opt_state, signal, lam, step_keys, steps, ste, step, weight_step, hyper, cfg: ModelConfig,
           num_samples: int | None, lengths=None, zero_levels: int = 0, first=0):
    """`steps` (runtime) Adam steps on one signal's modulations (in units of `step`) under the RD loss;
    step i uses step_keys[i]; `ste` (runtime bool) picks straight-through rounding over noise;
    `lengths` (rate.code_lengths) prices the latents with context tables; the `zero_levels` finest
    levels stay as they are (zero: Adam moves no value whose gradient is always zero); `first` is the
    fit's count of step 0 (the soft rounding's alpha rises with it).

    Pure and jit-able: the encoder runs it vmapped over signals (`fit_signals`), meta-training inside
    its tasks (training.train.fit_tasks). Returns (mods, opt_state).
    """
    optimizer = _optimizer(hyper)

    def body(i, carry):
        p, s = carry
        soft = hyper["soft"] * jnp.minimum(1.0, (first + i) / hyper["noise_steps"])
        grads = jax.grad(lambda q: objective.rd_loss(net, q, signal, lam, step_keys[i], cfg, ste, num_samples, step,
                                                 weight_step, lengths, zero_levels, soft)[0])(p)
        updates, s = optimizer.update(grads, s, p)
        return optax.apply_updates(p, updates), s

    return jax.lax.fori_loop(0, steps, body, (mods, opt_state))


def schedule_values(fit_cfg: FitConfig, step: float, weight_step: float | None) -> dict:
    """The runtime hyperparameters of `refine` for a schedule (learning rates in units of the steps)."""
    total = fit_cfg.noise_steps + fit_cfg.ste_steps
    return {"lr": _float32(fit_cfg.lr / step), "weight_lr": _float32(fit_cfg.weight_lr / (weight_step or 1.0)),
            "total": np.float32(max(total, 1)), "one_minus_final": np.float32(1 - fit_cfg.lr_final),
            "final": np.float32(fit_cfg.lr_final), "soft": np.float32(fit_cfg.soft_rounding),
            "noise_steps": np.float32(max(fit_cfg.noise_steps, 1))}


def _float32(x):
    """A numpy float32 for a number (converting it in JAX would compile a program per run), a JAX one
    for a traced value (meta-training passes a traced quantization step)."""
    return np.float32(x) if isinstance(x, (int, float, np.number)) else jnp.asarray(x, jnp.float32)


def init_state(mods: dict, hyper: dict):
    """The optimizer state of `refine` for fresh modulations."""
    return _optimizer(hyper).init(mods)


@functools.partial(jax.jit, static_argnames=("cfg", "num_samples", "zero_levels"))
def _run(net, mods, opt_state, signals, lam, keys, done, steps, ste, step, weight_step, hyper, lengths,
         cfg: ModelConfig, num_samples: int, zero_levels: int = 0):
    """`refine` of every signal for `steps` <= CHUNK_STEPS after `done` steps; signal n's step i uses
    split(fold_in(keys[n], done), CHUNK_STEPS)[i]. `opt_state` and the returned state are the leaves
    of refine's optimizer state (as `_start` gives them)."""

    def one(m, leaves, signal, fit_key):
        key = jax.random.fold_in(fit_key, done)
        state = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(jax.eval_shape(init_state, m, hyper)), leaves)
        m, state = refine(net, m, state, signal, lam, jax.random.split(key, CHUNK_STEPS), steps, ste, step, weight_step,
                          hyper, cfg, num_samples, lengths, zero_levels, done)
        return m, jax.tree_util.tree_leaves(state)

    return _batched(one, mods, opt_state, signals, keys)


def fit_signals(problem: Problem, signals: dict, keys: jax.Array, fit_cfg: FitConfig,
                progress: Progress | None = None) -> dict:
    """Fits the modulations of N same-shaped signals together.

    Args:
      problem: the base, rate weight and quantization steps (Problem).
      signals: stacked model signals {"values": (N, *shape, C), optional "inputs", "weights"}.
      keys: (N,) PRNG keys, one per signal: signal i's fit depends only on its signal and keys[i].
      fit_cfg: the schedule (steps, learning rates, sample fraction).
      progress: called with (steps done, total steps) between compiled calls.

    Returns:
      The modulations with a leading axis N, latents in units of `problem.step`: {"latents",
      "log_scale", optional "log_gain", "delta", "delta_log_scale"}.
    """
    total = fit_cfg.noise_steps + fit_cfg.ste_steps
    weight_step = problem.weight_step
    hyper = schedule_values(fit_cfg, problem.step, weight_step)
    lam = np.float32(problem.lam)  # numpy scalars: JAX would compile a program for each conversion.
    mods, state, fit_keys = compilation.call(
        _start, {"cfg": problem.cfg, "inner_steps": problem.inner_steps, "local_scales": problem.local_scales,
                 "deltas": weight_step is not None, "zero_levels": problem.zero_levels},
        problem.params, signals, lam, keys, np.float32(problem.step), np.float32(np.log(problem.step)), hyper)
    samples = int(np.prod(signals["values"].shape[1:-1]))
    sampled = min(samples, max(1024, int(fit_cfg.sample_fraction * samples)), MAX_FIT_SAMPLES)
    plain = {k: v for k, v in signals.items() if k != "band_weights"}
    # Steps from `weighted_from` on see the band weights, on every frame (runs of 1/8 of the frames cost
    # 0.2-1.2 PESQ against all of them, meta/README.md); the steps before, the squared error of a sample subset.
    if len(plain) == len(signals):
        weighted_from = total  # No weights.
    else:
        weighted_from = 0 if fit_cfg.weighted_steps < 0 else max(0, total - fit_cfg.weighted_steps)
    done = 0
    if progress:
        progress(0, total)  # Before the first chunk, which also compiles (or loads) the fit: seconds to a minute.
    for ste, steps in ((False, fit_cfg.noise_steps), (True, fit_cfg.ste_steps)):
        while steps > 0:
            weighted = done >= weighted_from
            n = min(CHUNK_STEPS, steps, CHUNK_STEPS if weighted else weighted_from - done)
            used, num_samples = (signals, min(samples, MAX_FIT_SAMPLES)) if weighted else (plain, sampled)
            mods, state = compilation.call(
                _run, {"cfg": problem.cfg, "num_samples": num_samples, "zero_levels": problem.zero_levels},
                problem.params["net"], mods, state, used, lam, fit_keys, np.int32(done), np.int32(n), np.bool_(ste),
                np.float32(problem.step), np.float32(weight_step or 1.0), hyper, problem.lengths)
            steps -= n
            done += n
            if progress:
                jax.block_until_ready(mods)  # Report steps that ran, not steps dispatched.
                progress(done, total)
    return mods
