"""The objective of a signal's modulations: the rate-distortion loss and the meta-learned adaptation that
descends it (with the base and signal records they take).

A *base* is the shared, meta-learned part: {"net": SIREN params, "inner_log_lr": learned
inner-loop learning rates, "log_scale": initial entropy-model scales}. The *modulations* of one
signal are {"latents": [grid per level], "log_scale": (levels,)}: what the encoder fits and stores.
A *signal* is a dict {"values": (*signal_shape, out_channels) in [0, 1] (or unsigned integers
standing for value / max, `unit`), optionally "inputs":
(*signal_shape, input_features) fixed per-sample inputs, "weights": (*signal_shape,) 1 where
a value exists, 0 where it is missing, and, for 1-D signals, "band_weights": (frames, bins) perceptual
weights of the error per short-time spectral bin (`spectral_error`)}; `make_signal` builds one.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from inrcodec.core import rate, latents, siren
from inrcodec.core.config import ModelConfig
from inrcodec.core.fit import fit, per_leaf_sgd

Array = jnp.ndarray

QUANT_MODES = ("noise", "ste", "round")
# Samples per rematerialized chunk when the distortion covers every sample of a larger signal (the
# meta-learned adaptation): its memory then grows with the chunk, not with the signal.
ALL_SAMPLES_CHUNK = 1 << 16


def init_base(key: jax.Array, cfg: ModelConfig) -> dict:
    """A freshly initialised base (before meta-learning)."""
    return {
        "net": siren.init(key, cfg),
        # Per level: log of the inner-loop SGD step on the latents (a level-k latent gathers the
        # gradients of ~2**(d k) samples, hence the initial 2**(-d k)).
        "inner_log_lr": jnp.asarray(
            [math.log(15.0) - cfg.spatial_dims * k * math.log(2.0) for k in range(cfg.levels)], jnp.float32
        ),
        "log_scale": jnp.zeros((cfg.levels,), jnp.float32),
    }


def make_signal(values, inputs=None, weights=None) -> dict:
    """The signal dict of `values` (*signal_shape, C), with optional fixed inputs and sample weights.

    Integer `values` (uint8, uint16) stay integers, standing for value / dtype max in [0, 1] (`unit`):
    a quarter of the memory of float32, converted where they are used."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.unsignedinteger):
        values = np.asarray(values, np.float32)
    signal = {"values": jnp.asarray(values)}
    if inputs is not None:
        signal["inputs"] = jnp.asarray(inputs, jnp.float32)
    if weights is not None:
        signal["weights"] = jnp.asarray(weights, jnp.float32)
    return signal


def unit(values: Array) -> Array:
    """Signal values as float32: unsigned integers are divided by their dtype's max (as signals.image.to_unit)."""
    if jnp.issubdtype(values.dtype, jnp.unsignedinteger):
        top = np.iinfo(values.dtype).max
        # A table of numpy's quotients: XLA may turn a division by a constant into a multiplication.
        return jnp.asarray(np.arange(top + 1, dtype=np.float32) / np.float32(top))[values]
    return values


def signal_size(signal: dict) -> Array:
    """Number of samples that carry a value (the sum of the weights, else all samples)."""
    if "weights" in signal:
        return jnp.maximum(signal["weights"].sum(), 1.0)
    return jnp.float32(np.prod(signal["values"].shape[:-1]))


def init_modulations(base: dict, signal_shape: Sequence[int], cfg: ModelConfig) -> dict:
    return {"latents": latents.zeros(signal_shape, cfg), "log_scale": base["log_scale"]}


def soft_round(y: Array, alpha: Array) -> Array:
    """Soft rounding (Agustsson & Theis 2020): y at alpha -> 0, round(y) as alpha -> infinity; alpha > 0."""
    middle = jnp.floor(y) + 0.5
    return middle + jnp.tanh(alpha * (y - middle)) / (2 * jnp.tanh(alpha / 2))


def quantize(y: Array, mode: str | Array, key: jax.Array, soft: Array | float = 0.0) -> Array:
    """Quantization proxy: uniform noise (on soft_round(y, soft) when soft > 0), straight-through
    rounding, or plain rounding.

    `mode` is one of QUANT_MODES, or a runtime bool: True = "ste", False = "noise" (one compiled
    program serves both phases of a fit).
    """

    def noisy():
        # Where soft is 0, y itself: the same numbers as without soft rounding (and no 0/0 gradient).
        base = jnp.where(soft > 0, soft_round(y, jnp.maximum(soft, 1e-3)), y)
        return base + jax.random.uniform(key, y.shape, y.dtype, -0.5, 0.5)

    def straight_through():
        return y + jax.lax.stop_gradient(jnp.round(y) - y)

    if not isinstance(mode, str):
        return jnp.where(mode, straight_through(), noisy())
    if mode == "noise":
        return noisy()
    if mode == "ste":
        return straight_through()
    if mode == "round":
        return jnp.round(y)
    raise ValueError(f"unknown quantization mode {mode!r}")


def rd_loss(
    net: dict,
    mods: dict,
    signal: dict,
    lam: Array,
    key: jax.Array,
    cfg: ModelConfig,
    mode: str | Array = "noise",
    num_samples: int | None = None,
    step: float = 1.0,
    weight_step: float = 1.0,
    lengths: Array | None = None,
    zero_levels: int = 0,
    soft: Array | float = 0.0,
) -> tuple[Array, tuple[Array, Array]]:
    """Distortion + lam * rate of one signal.

    Args:
      net: SIREN params (of the base).
      mods: modulations {"latents", "log_scale"}, optionally with "log_gain" (levels,): then the rate is
        that of local scales, with floors exp(log_scale) (rate.local_laplace_bits); optionally with per-signal weight updates
        {"delta": pytree like `net`, "delta_log_scale": (number of tensors,)}: the network used
        is net + weight_step * quantized(delta), and the deltas' bits count in the rate.
      signal: {"values", optional "inputs", optional "weights"} (see the module docstring).
      lam: rate weight (scalar).
      key: PRNG key for the quantization noise and the sample subset.
      mode: quantization proxy, one of QUANT_MODES, or a runtime bool (True: "ste", False: "noise").
      num_samples: evaluate the distortion on this many random samples (None: all of them).
      step: quantization step; the network sees step * (quantized latents).
      weight_step: quantization step of the weight deltas.
      lengths: with 2-D levels, the latents' rate is that of the context tables (rate.context_bits of
        rate.code_lengths(tables)) instead of one Laplace per level.
      zero_levels: the finest levels that are held at zero (static): neither quantized nor priced (an
        all-zero level costs no bits), with no gradient.
      soft: the latents' noise proxy soft-rounds them first with this alpha (`quantize`; 0: off).

    Returns:
      (loss, (distortion, bits per sample with a value)): the distortion is the mse over the samples with
      a value, or with "band_weights" the weighted spectral error (`spectral_error`).
    """
    signal_shape = signal["values"].shape[:-1]
    total = int(np.prod(signal_shape))
    keys = jax.random.split(key, len(mods["latents"]) + 1)
    held = [jnp.zeros_like(y) for y in mods["latents"][:zero_levels]]  # No gradient reaches the held levels.
    fitted = [quantize(y, mode, k, soft) for y, k in zip(mods["latents"][zero_levels:], keys[1 + zero_levels :])]
    log_scales = mods["log_scale"][zero_levels:]
    quantized = held + fitted
    if "log_gain" in mods:  # Local scales (entropy model 3).
        log_gains = mods["log_gain"][zero_levels:]
        scales = [rate.local_log_scales(q, log_gains[i], log_scales[i]) for i, q in enumerate(fitted)]
    else:
        scales = [log_scales[i] for i in range(len(fitted))]
    coded, bits = list(fitted), jnp.float32(0.0)  # Everything whose bits count, with its log-scales.
    if lengths is not None:  # Context tables (entropy model 4); a coarse level's contexts need no finer one.
        rounded = mode != "noise" if isinstance(mode, str) else mode
        coded, scales, bits = [], [], rate.context_bits(fitted, lengths[zero_levels:], log_scales, rounded)
    if "delta" in mods:
        leaves, treedef = jax.tree_util.tree_flatten(mods["delta"])
        dkeys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
        dq = [quantize(d, mode, k) for d, k in zip(leaves, dkeys)]
        coded += dq
        scales += [mods["delta_log_scale"][i] for i in range(len(dq))]
        net = apply_delta(net, jax.tree_util.tree_unflatten(treedef, dq), weight_step)
    if coded:
        bits = bits + rate.total_laplace_bits(coded, scales)
    grids = [step * q for q in quantized]
    flat = {k: v.reshape(total, -1) for k, v in signal.items() if k != "band_weights"}
    if "band_weights" in signal:
        mse = spectral_error(net, grids, signal, cfg, keys[0], num_samples)
    elif (num_samples is None or num_samples >= total) and total > ALL_SAMPLES_CHUNK:
        mse = _chunked_mse(net, grids, flat, signal_shape, cfg)
    else:
        if num_samples is None or num_samples >= total:
            positions = jnp.asarray(latents.all_positions(signal_shape))
        else:
            index = jax.random.randint(keys[0], (num_samples,), 0, total)
            positions = jnp.stack(jnp.unravel_index(index, signal_shape), axis=-1).astype(jnp.int32)
            flat = {k: v[index] for k, v in flat.items()}
        z = latents.sample(grids, positions)
        if "inputs" in flat:
            z = jnp.concatenate([z, flat["inputs"]], axis=-1)
        pred = siren.apply(net, z, cfg.w0)
        err = jnp.mean((pred - unit(flat["values"])) ** 2, axis=-1)
        if "weights" in flat:
            w = flat["weights"][:, 0]
            mse = jnp.sum(w * err) / jnp.maximum(w.sum(), 1.0)
        else:
            mse = jnp.mean(err)
    bits_per_sample = bits / signal_size(signal)
    return mse + lam * bits_per_sample, (mse, bits_per_sample)


def spectral_error(net: dict, grids: list, signal: dict, cfg: ModelConfig, key: jax.Array,
                   num_samples: int | None = None) -> Array:
    """The error of a 1-D signal weighted per short-time spectral bin by signal["band_weights"]
    (frames, frame // 2 + 1) (signals.masking.band_weights, whose framing this follows): the mean
    squared error when every weight is the bin multiplicity.

    With `num_samples` below the signal's length, only a random run of num_samples // hop consecutive
    frames (at least one): an estimate whose cost does not grow with the signal, as rd_loss's random samples.
    """
    values, band_weights = signal["values"], signal["band_weights"]
    total, (count, bins) = values.shape[0], band_weights.shape
    frame = 2 * (bins - 1)
    hop = frame // 4
    whole = num_samples is None or num_samples >= total
    run = count if whole else max(1, min(count, num_samples // hop))
    first = jnp.int32(0) if run == count else jax.random.randint(key, (), 0, count - run + 1)
    span = (run - 1) * hop + frame
    positions = first * hop - (frame - hop) + jnp.arange(span, dtype=jnp.int32)
    inside = (positions >= 0) & (positions < total)
    positions = jnp.clip(positions, 0, total - 1)
    z = latents.sample(grids, positions[:, None])
    if "inputs" in signal:
        z = jnp.concatenate([z, signal["inputs"][positions]], axis=-1)
    err = (siren.apply(net, z, cfg.w0) - unit(values[positions])) * inside[:, None]
    if "weights" in signal:
        err = err * signal["weights"][positions][:, None]
    window = 0.5 - 0.5 * jnp.cos(2 * jnp.pi * jnp.arange(frame) / frame)
    index = jnp.arange(run)[:, None] * hop + jnp.arange(frame)[None]
    spectrum = jnp.fft.rfft(err[index] * window[None, :, None], axis=1)  # (run, bins, channels)
    power = spectrum.real**2 + spectrum.imag**2
    weights = jax.lax.dynamic_slice_in_dim(band_weights, first, run)
    # Every sample lies in 4 frames whose squared windows sum to 1.5 (signals.masking).
    samples = total if run == count else run * hop
    return jnp.sum(weights[:, :, None] * power) / (frame * 1.5 * samples * values.shape[-1])


def _chunked_mse(net: dict, grids: list, flat: dict, signal_shape: Sequence[int], cfg: ModelConfig) -> Array:
    """rd_loss's mse over every sample, ALL_SAMPLES_CHUNK samples at a time: each chunk is recomputed
    in the backward pass (jax.checkpoint), so memory holds one chunk's activations, not the signal's.

    flat: the signal's arrays reshaped to (samples, features); grids: the scaled latents.
    """
    total = flat["values"].shape[0]

    @jax.checkpoint
    def chunk(carry, c):
        index = c * ALL_SAMPLES_CHUNK + jnp.arange(ALL_SAMPLES_CHUNK, dtype=jnp.int32)
        inside = (index < total).astype(jnp.float32)  # The last chunk's overhang repeats the last sample, unweighted.
        index = jnp.minimum(index, total - 1)
        part = {k: v[index] for k, v in flat.items()}
        z = latents.sample(grids, jnp.stack(jnp.unravel_index(index, signal_shape), axis=-1).astype(jnp.int32))
        if "inputs" in part:
            z = jnp.concatenate([z, part["inputs"]], axis=-1)
        err = jnp.mean((siren.apply(net, z, cfg.w0) - unit(part["values"])) ** 2, axis=-1)
        w = inside * part["weights"][:, 0] if "weights" in part else inside
        return (carry[0] + jnp.sum(w * err), carry[1] + jnp.sum(w)), None

    zero = jnp.float32(0.0)
    (sse, count), _ = jax.lax.scan(chunk, (zero, zero), jnp.arange(-(-total // ALL_SAMPLES_CHUNK)))
    return sse / jnp.maximum(count, 1.0)


def apply_delta(net: dict, delta: dict, weight_step: float) -> dict:
    """The per-signal network: base weights + weight_step * (quantized) deltas, tensor by tensor."""
    return jax.tree_util.tree_map(lambda w, d: w + weight_step * d, net, delta)


def in_step_units(mods: dict, step: Array | float, log_step: Array | float | None = None) -> dict:
    """Modulations with latents in value units -> the same in units of the quantization `step`
    (what rd_loss with that `step` takes): latents / step, entropy log-scales - log(step).

    `log_step` is log(step) when the caller has it rounded from float64 (the encoder, whose bytes
    depend on it); else it is computed in float32."""
    log_step = jnp.log(step) if log_step is None else log_step
    return {**mods, "latents": [y / step for y in mods["latents"]], "log_scale": mods["log_scale"] - log_step}


def adapt(
    base: dict, signal: dict, lam: Array, key: jax.Array, cfg: ModelConfig, steps: int, step: Array | float = 1.0
) -> dict:
    """The meta-learned inner loop: `steps` SGD steps on the latents, from zero, with learned sizes.

    The inner loss is the total (not mean) over samples, so a step size means the same for any
    signal size: sum of squared errors / channels + lam * total bits. The entropy scales stay at
    the base's values here (their gradient grows with the signal size); the encoder refines them.
    The latents are quantized with `step` (noise proxy) and returned in value units (in_step_units
    turns them into the units rd_loss takes with that step).
    """
    mods = init_modulations(base, signal["values"].shape[:-1], cfg)
    # Always the squared error: plain SGD steps diverge on perceptually weighted errors, whose curvature
    # spans decades (meta/README.md); the fit (Adam) and meta-training's outer loss see the weights.
    signal = {k: v for k, v in signal.items() if k != "band_weights"}
    lr = jnp.exp(base["inner_log_lr"])
    total = signal_size(signal)

    def loss(lat, k):
        scaled = in_step_units({**mods, "latents": lat}, step)
        return total * rd_loss(base["net"], scaled, signal, lam, k, cfg, "noise", step=step)[0]

    fitted, _, _ = fit(loss, mods["latents"], per_leaf_sgd([lr[i] for i in range(cfg.levels)]), steps, key)
    return {**mods, "latents": fitted}
