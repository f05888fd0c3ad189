"""The modality-independent core of every format: fit modulations, quantize, entropy-code; and back.

`encode_signal` orchestrates: meta-learned adaptation (model.adapt) -> Adam refinement of the
latents and of per-signal weight deltas of the base under the rate-distortion loss (noise proxy,
then straight-through rounding) -> rounding -> per-tensor scale choice -> range coding.
`decode_signal` never optimises and never samples. The formats (inrcodec.modalities) wrap this core
with their own header fields and file readers and writers.
"""

from __future__ import annotations

import dataclasses
import functools
import struct
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from inrcodec.bitstream import range_coder
from inrcodec.bitstream.coding import CodingHeader, quant_step
from inrcodec.core import bases, latents, model, siren
from inrcodec.core.config import QUALITY_LAMBDAS, QUALITY_STEP_INDEX, FitConfig, ModelConfig
from inrcodec.errors import FormatError, InputError
from inrcodec.core.fit import fit

LOCAL_GAIN_INIT = 1.3  # A local scale starts at 1.3x the mean |latent| of its window (typical of speech).
FIT_CHUNK = 50  # Steps per compiled call (progress is reported between calls).
Progress = Callable[[int, int], None]


@dataclasses.dataclass(frozen=True)
class Coded:
    """One coded signal: its coding header, its payload and the decoder's reconstruction."""

    header: CodingHeader
    payload: bytes
    values: np.ndarray  # (*signal_shape, out_channels) in [0, 1], exactly what decode_signal gives.


@functools.partial(jax.jit, static_argnames=("cfg", "steps"))
def _adapt(base, signal, lam, key, cfg: ModelConfig, steps: int):
    return model.adapt(base, signal, lam, key, cfg, steps)


def _optimizer(lr: jax.Array, weight_lr: jax.Array, total: int, lr_final: float) -> optax.GradientTransformation:
    """Adam with cosine decay; the weight deltas get their own learning rate."""

    def adam(rate):
        return optax.adam(optax.cosine_decay_schedule(rate, max(total, 1), lr_final))

    def labels(params):
        return {k: jax.tree_util.tree_map(lambda _: "delta" if k == "delta" else "latent", v) for k, v in params.items()}

    return optax.multi_transform({"latent": adam(lr), "delta": adam(weight_lr)}, labels)


@functools.partial(jax.jit, static_argnames=("cfg", "mode", "steps", "num_samples", "total", "lr_final"))
def _refine(net, mods, opt_state, signal, lam, key, lr, weight_lr, step, weight_step, cfg: ModelConfig, mode: str,
            steps: int, num_samples: int, total: int, lr_final: float):
    def loss(m, k):
        return model.rd_loss(net, m, signal, lam, k, cfg, mode, num_samples, step, weight_step)[0]

    return fit(loss, mods, _optimizer(lr, weight_lr, total, lr_final), steps, key, opt_state)


def fit_modulations(
    base: bases.Base,
    signal: dict,
    lam: float,
    key: jax.Array,
    fit_cfg: FitConfig,
    step: float = 1.0,
    weight_step: float | None = None,
    progress: Progress | None = None,
    local_scales: bool = False,
) -> dict:
    """Fits the modulations of one signal (a model.make_signal dict).

    Starts with the meta-learned steps, then runs Adam on the latents (in units of the quantization
    step `step`) and, if `weight_step` is given, on per-signal weight deltas (in units of
    `weight_step`), under the rate-distortion loss: uniform noise first, then straight-through rounding.
    With `local_scales` the rate is that of local scales (rate.local_laplace_bits).
    """
    cfg = base.cfg
    k_adapt, k_fit = jax.random.split(key)
    inner_steps = int(base.manifest.get("inner_steps", 3))
    mods = _adapt(base.params, signal, jnp.float32(lam), k_adapt, cfg, inner_steps)
    # The meta-learned steps work at unit step; express their result in units of `step`.
    mods = {"latents": [y / step for y in mods["latents"]], "log_scale": mods["log_scale"] - np.log(step)}
    if local_scales:  # The rate of local scales: a gain per level, "log_scale" becomes the floor.
        mods["log_gain"] = jnp.full_like(mods["log_scale"], np.log(LOCAL_GAIN_INIT / range_coder.CONTEXT_WINDOW))
        mods["log_scale"] = mods["log_scale"] - 1.0
    if weight_step is not None:
        mods["delta"] = jax.tree_util.tree_map(jnp.zeros_like, base.params["net"])
        mods["delta_log_scale"] = jnp.zeros((len(jax.tree_util.tree_leaves(mods["delta"])),), jnp.float32)
    total = fit_cfg.noise_steps + fit_cfg.ste_steps
    samples = int(np.prod(signal["values"].shape[:-1]))
    num_samples = min(samples, max(1024, int(fit_cfg.sample_fraction * samples)))
    lr = jnp.float32(fit_cfg.lr / step)
    weight_lr = jnp.float32(fit_cfg.weight_lr / (weight_step or 1.0))
    opt_state = _optimizer(lr, weight_lr, total, fit_cfg.lr_final).init(mods)
    done = 0
    for mode, steps in (("noise", fit_cfg.noise_steps), ("ste", fit_cfg.ste_steps)):
        while steps > 0:
            n = min(FIT_CHUNK, steps)
            mods, opt_state, _ = _refine(
                base.params["net"], mods, opt_state, signal, jnp.float32(lam), jax.random.fold_in(k_fit, done),
                lr, weight_lr, jnp.float32(step), jnp.float32(weight_step or 1.0), cfg, mode, n, num_samples, total,
                fit_cfg.lr_final,
            )
            steps -= n
            done += n
            if progress:
                progress(done, total)
    return mods


def to_ints(values) -> np.ndarray:
    return np.clip(np.round(np.asarray(values)), -range_coder.SYMBOL_MAX, range_coder.SYMBOL_MAX).astype(np.int32)


def network(base: bases.Base, deltas: list[np.ndarray] | None, weight_step: float) -> dict:
    """The network a signal decodes with: the base, plus its weight deltas if it has any."""
    net = base.params["net"]
    if deltas is None:
        return net
    treedef = jax.tree_util.tree_structure(net)
    return model.apply_delta(net, jax.tree_util.tree_unflatten(treedef, [jnp.asarray(d, jnp.float32) for d in deltas]), weight_step)


def quality_lambda(base: bases.Base, quality: int) -> float:
    """The rate weight of a quality level: the base's own ladder if its manifest has one."""
    ladder = {int(k): float(v) for k, v in base.manifest.get("quality_lambdas", QUALITY_LAMBDAS).items()}
    if quality not in ladder:
        raise InputError(f"quality must be one of {sorted(ladder)}, got {quality}")
    return ladder[quality]


def quality_step_index(base: bases.Base, quality: int) -> int:
    ladder = {int(k): int(v) for k, v in base.manifest.get("quality_step_index", QUALITY_STEP_INDEX).items()}
    return ladder.get(quality, 0)


def encode_signal(
    signal: dict,
    base: bases.Base,
    quality: int,
    fit_cfg: FitConfig = FitConfig(),
    seed: int = 0,
    progress: Progress | None = None,
    local_scales: bool = False,
) -> Coded:
    """Fits, quantizes and entropy-codes one signal; also returns what the decoder will produce.

    With `local_scales`, levels are coded with local scales (entropy model 3) where that saves bits.
    """
    lam = quality_lambda(base, quality)
    step_index = quality_step_index(base, quality)
    weight_index = fit_cfg.weight_step_index if base.manifest.get("weight_deltas", True) else 0
    step, weight_step = quant_step(step_index), (quant_step(weight_index) if weight_index else None)
    mods = fit_modulations(base, signal, lam, jax.random.PRNGKey(seed), fit_cfg, step, weight_step, progress,
                           local_scales)
    ints = [to_ints(y) for y in mods["latents"]]
    deltas = [to_ints(d) for d in jax.tree_util.tree_leaves(mods["delta"])] if weight_step else []
    scale_indices = [range_coder.best_scale_index(q) for q in ints]
    if local_scales:
        scale_indices, contexts = local_scale_coding(ints, scale_indices)
    else:
        contexts = []
    weight_scale_indices = [range_coder.best_scale_index(d) for d in deltas]
    payload = range_coder.encode(ints + deltas, scale_indices + weight_scale_indices, contexts)
    header = CodingHeader(step_index, weight_index, tuple(scale_indices), tuple(weight_scale_indices),
                          contexts=tuple(contexts))
    net = network(base, deltas if weight_step else None, weight_step or 1.0)
    inputs = signal.get("inputs")
    values = model.reconstruct(net, ints, signal["values"].shape[:-1], base.cfg, step,
                               None if inputs is None else np.asarray(inputs))
    return Coded(header, payload, np.asarray(values))


def local_scale_coding(ints: list[np.ndarray], scale_indices: list[int]) -> tuple[list[int], list[int]]:
    """(scale indices, context bytes) that code each level with local scales where that takes fewer
    bits; the context bytes are [] (entropy model 1) if those L bytes would cost more than they save."""
    floors, contexts, saved = list(scale_indices), [0] * len(ints), 0.0
    for k, (q, index) in enumerate(zip(ints, scale_indices)):
        if index == 0:
            continue
        floor, context, bits = range_coder.best_local_scale(q, index)
        plain = range_coder.coded_bits(q, index)
        if bits < plain:
            floors[k], contexts[k], saved = floor, context, saved + plain - bits
    if saved <= 8 * len(ints):
        return list(scale_indices), []
    return floors, contexts


def decode_signal(
    header: CodingHeader,
    payload: bytes,
    base: bases.Base,
    signal_shape: Sequence[int],
    inputs: np.ndarray | None = None,
) -> np.ndarray:
    """Decodes one signal's payload to values (*signal_shape, out_channels) in [0, 1].

    Deterministic: no optimisation, no randomness. `inputs` are the base's fixed per-sample inputs.
    """
    if len(header.scale_indices) != base.cfg.levels:
        raise FormatError(f"file has {len(header.scale_indices)} latent levels, base {base.name} has {base.cfg.levels}")
    shapes = latents.grid_shapes(signal_shape, base.cfg)
    scales = list(header.scale_indices)
    weight_leaves = jax.tree_util.tree_leaves(base.params["net"])
    if header.weight_step_index:
        if len(header.weight_scale_indices) != len(weight_leaves):
            raise FormatError(f"file has {len(header.weight_scale_indices)} weight tensors, base {base.name} has {len(weight_leaves)}")
        shapes += [w.shape for w in weight_leaves]
        scales += list(header.weight_scale_indices)
    try:
        decoded = range_coder.decode(payload, shapes, scales, list(header.contexts))
    except (ValueError, RuntimeError, KeyError, AssertionError) as e:  # constriction asserts on invalid data.
        raise FormatError(f"entropy-coded payload is invalid ({e})") from None
    ints, deltas = decoded[: len(header.scale_indices)], decoded[len(header.scale_indices) :]
    net = network(base, deltas if header.weight_step_index else None, quant_step(header.weight_step_index))
    values = model.reconstruct(net, ints, signal_shape, base.cfg, quant_step(header.step_index), inputs)
    return np.asarray(values)


@dataclasses.dataclass(frozen=True)
class BatchCoded:
    """Many same-shaped signals coded with one set of per-level scales (no weight deltas)."""

    header: CodingHeader  # Shared by every signal.
    ints: list[np.ndarray]  # Per level: int32 (N, *grid_shape, channels).
    values: np.ndarray  # (N, *signal_shape, out_channels) in [0, 1], what the decoder gives.

    def payload(self, items: slice | None = None) -> bytes:
        """One range-coded stream of the given signals (all by default), level after level.

        Stack-predicted levels are coded as differences, so they can only be coded whole.
        """
        if items is not None and any(self.header.predicted):
            raise ValueError("stack-predicted signals cannot be coded one slice at a time")
        part = [q[items] if items is not None else q for q in self.ints]
        return range_coder.encode(_coded_symbols(part, self.header.predicted), list(self.header.scale_indices))


def _coded_symbols(levels: list[np.ndarray], predicted: tuple[bool, ...]) -> list[np.ndarray]:
    """The symbols a payload holds: per level, the latents or (predicted) their stack differences."""
    if not predicted:
        return levels
    return [range_coder.stack_differences(q) if p else q for q, p in zip(levels, predicted)]


@functools.partial(jax.jit, static_argnames=("cfg", "inner_steps", "noise_steps", "ste_steps", "num_samples", "lr_final"))
def _fit_batch(params, signals, lam, keys, lr, step, cfg: ModelConfig, inner_steps: int, noise_steps: int,
               ste_steps: int, num_samples: int, lr_final: float):
    """The encoder's fit (meta-learned steps, noise phase, rounding phase) of a batch of signals, vmapped."""

    def one(signal, key):
        k_adapt, k_noise, k_ste = jax.random.split(key, 3)
        mods = model.adapt(params, signal, lam, k_adapt, cfg, inner_steps)
        mods = {"latents": [y / step for y in mods["latents"]], "log_scale": mods["log_scale"] - jnp.log(step)}
        optimizer = optax.adam(optax.cosine_decay_schedule(lr, max(noise_steps + ste_steps, 1), lr_final))
        state = optimizer.init(mods)
        for mode, steps, k in (("noise", noise_steps, k_noise), ("ste", ste_steps, k_ste)):
            def loss(m, kk, mode=mode):
                return model.rd_loss(params["net"], m, signal, lam, kk, cfg, mode, num_samples, step)[0]

            mods, state, _ = fit(loss, mods, optimizer, steps, k, state)
        return mods["latents"]

    return jax.vmap(one)(signals, keys)


@functools.partial(jax.jit, static_argnames=("w0",))
def _synthesize_batch(net, grids, positions, inputs, w0: float):
    """Values (N, samples, C) of N signals' latent grids at shared positions; `inputs` (N, samples, F)."""

    def one(g, x):
        return siren.apply(net, jnp.concatenate([latents.sample(g, positions), x], axis=-1), w0)

    return jax.vmap(one)(grids, inputs)


def reconstruct_batch(base: bases.Base, ints: list[np.ndarray], signal_shape: Sequence[int], step: float,
                      inputs: np.ndarray | None = None, chunk: int = 64) -> np.ndarray:
    """Decodes N signals' integer latents (per level (N, *grid, c)) to (N, *signal_shape, C) in [0, 1]."""
    n = ints[0].shape[0]
    chunk = min(chunk, n)
    positions = jnp.asarray(latents.all_positions(signal_shape))
    samples = positions.shape[0]
    extra = np.zeros((n, samples, 0), np.float32) if inputs is None else np.asarray(inputs, np.float32).reshape(n, samples, -1)
    out = []
    for start in range(0, n, chunk):
        idx = _padded_range(start, min(start + chunk, n), chunk)
        grids = [jnp.asarray(q[idx], jnp.float32) * jnp.float32(step) for q in ints]
        values = _synthesize_batch(base.params["net"], grids, positions, jnp.asarray(extra[idx]), base.cfg.w0)
        out.append(np.asarray(values)[: min(chunk, n - start)])
    values = np.concatenate(out, axis=0)
    return np.clip(values, 0.0, 1.0).reshape(n, *signal_shape, -1)


def _padded_range(start: int, stop: int, size: int) -> np.ndarray:
    """Indices start..stop-1, padded to `size` by repeating the last (fixed shapes: one compilation)."""
    idx = np.arange(start, stop)
    return np.concatenate([idx, np.full(size - idx.size, stop - 1)]) if idx.size < size else idx


def encode_batch(
    signals: dict,
    base: bases.Base,
    quality: int,
    fit_cfg: FitConfig = FitConfig(),
    seed: int = 0,
    progress: Progress | None = None,
    chunk: int = 64,
    first_index: int = 0,
    stack_prediction: bool = False,
) -> BatchCoded:
    """Fits N same-shaped signals (stacked model signals, leading axis N) in vmapped chunks.

    Signal i is fitted with the key fold_in(PRNGKey(seed), first_index + i), so results do not depend
    on the chunking. One scale index per latent level is chosen for the whole batch. With
    `stack_prediction` (an ordered stack, e.g. fields over time), each level is coded as its
    differences along the stack where that is smaller (entropy model 2, whole payloads only).
    """
    lam = jnp.float32(quality_lambda(base, quality))
    step_index = quality_step_index(base, quality)
    step = quant_step(step_index)
    n = signals["values"].shape[0]
    signal_shape = signals["values"].shape[1:-1]
    samples = int(np.prod(signal_shape))
    num_samples = min(samples, max(1024, int(fit_cfg.sample_fraction * samples)))
    root = jax.random.PRNGKey(seed)
    chunk = min(chunk, n)
    fitted = []
    for start in range(0, n, chunk):
        idx = _padded_range(start, min(start + chunk, n), chunk)
        part = {k: jnp.asarray(v[idx]) for k, v in signals.items()}
        keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(jnp.asarray(first_index + idx))
        lat = _fit_batch(base.params, part, lam, keys, jnp.float32(fit_cfg.lr / step), jnp.float32(step), base.cfg,
                         int(base.manifest.get("inner_steps", 3)), fit_cfg.noise_steps, fit_cfg.ste_steps,
                         num_samples, fit_cfg.lr_final)
        fitted.append([to_ints(y)[: min(chunk, n - start)] for y in lat])
        if progress:
            progress(min(start + chunk, n), n)
    ints = [np.concatenate([f[k] for f in fitted], axis=0) for k in range(base.cfg.levels)]
    predicted = tuple(range_coder.predict_along_stack(q) for q in ints) if stack_prediction else ()
    predicted = predicted if any(predicted) else ()  # Entropy model 1 when no level gains.
    symbols = _coded_symbols(ints, predicted)
    header = CodingHeader(step_index, 0, tuple(range_coder.best_scale_index(q) for q in symbols), (), predicted)
    values = reconstruct_batch(base, ints, signal_shape, step, signals.get("inputs"))
    return BatchCoded(header, ints, values)


def decode_batch(header: CodingHeader, payload: bytes, base: bases.Base, n: int, signal_shape: Sequence[int],
                 inputs: np.ndarray | None = None) -> np.ndarray:
    """Inverse of BatchCoded.payload for N signals: values (N, *signal_shape, C) in [0, 1]."""
    if header.weight_step_index:
        raise FormatError("batch-coded signals carry no weight deltas")
    if len(header.scale_indices) != base.cfg.levels:
        raise FormatError(f"file has {len(header.scale_indices)} latent levels, base {base.name} has {base.cfg.levels}")
    shapes = [(n, *s) for s in latents.grid_shapes(signal_shape, base.cfg)]
    try:
        symbols = range_coder.decode(payload, shapes, list(header.scale_indices))
        predicted = header.predicted or (False,) * len(symbols)
        ints = [range_coder.stack_sums(q) if p else q for q, p in zip(symbols, predicted)]
    except (ValueError, RuntimeError, KeyError, AssertionError) as e:
        raise FormatError(f"entropy-coded payload is invalid ({e})") from None
    return reconstruct_batch(base, ints, signal_shape, quant_step(header.step_index), inputs)
