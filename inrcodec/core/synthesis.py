"""Synthesis: integer latents -> signal values through the base network (what the decoder runs).

numpy only, in float32 (float64 where a residual must land within an error bound): decoding needs
neither JAX nor any compilation, so `inrcodec decode` starts fast. The same code gives the encoder its reconstruction, so on one machine the decoder reproduces
it exactly. Deterministic: no noise, no optimisation; evaluated in bands of rows so that memory is
bounded. The math is that of core.latents.sample and core.siren.Siren (the training side, in JAX);
tests/test_model.py checks they agree.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np

from inrcodec.core.config import ModelConfig

BAND_SAMPLES = 1 << 15  # Samples evaluated at once per thread (about 20 MB of activations for a 3 x 32 SIREN).
THREADS = min(4, os.cpu_count() or 1)


def _axis_weights(index: np.ndarray, cells: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the samples `index` (ints) along an axis of a grid with `cells` cells of `stride` samples: the
    lower and upper cell index and the weight of the upper one (linear interpolation between cell centres).

    Only those samples: a band of a long signal costs its own length, not that of all samples before it.
    """
    # float32(i) as np.arange(n, dtype=np.float32)[i] gives it (rounded above 2^24): the same weights.
    x = (np.asarray(index, np.int64).astype(np.float32) + np.float32(0.5)) / np.float32(stride) - np.float32(0.5)
    x = np.clip(x, np.float32(0.0), np.float32(cells - 1))
    lo = np.floor(x).astype(np.int64)
    return lo, np.minimum(lo + 1, cells - 1), (x - lo).astype(np.float32)


def upsample(grid: np.ndarray, stride: int, span: Sequence[range], step: float = 1.0, dtype=np.float32) -> np.ndarray:
    """Level values (*grid, c) times `step` linearly interpolated at the samples `span` (one range per
    axis, of sample indices) -> (*len(span), c) of `dtype`; stride 1 reads the grid directly.

    Only the grid rows the samples of span[0] need are converted to `dtype` (`grid` may be integers).
    The interpolation weights are float32 numbers whatever `dtype`.
    """
    out = np.asarray(grid)
    for axis, samples in enumerate(span):
        index = np.asarray(samples)

        def take(at: np.ndarray) -> np.ndarray:  # Scaling the rows taken equals taking scaled rows.
            taken = np.take(out, at, axis=axis)
            return np.asarray(taken, dtype) * dtype(step) if axis == 0 else taken

        if stride == 1:
            out = take(index)
            continue
        lo, hi, frac = _axis_weights(index, grid.shape[axis], stride)
        shape = [1] * out.ndim
        shape[axis] = -1
        frac = frac.reshape(shape).astype(dtype)
        out = take(lo) * (dtype(1.0) - frac) + take(hi) * frac
    return out


def features(grids: list[np.ndarray], span: Sequence[range], step: float = 1.0, dtype=np.float32) -> np.ndarray:
    """The modulation features z (*len(span), sum c_k) of the samples `span`: every level times
    `step`, upsampled."""
    return np.concatenate([upsample(g, 2**k, span, step, dtype) for k, g in enumerate(grids)], axis=-1)


def apply(net: dict, z: np.ndarray, w0: float) -> np.ndarray:
    """The SIREN (core.siren.Siren) on inputs z (n, in_dim) -> (n, out_channels), in z's float dtype
    (the network's arrays have it too: `as_float`)."""
    w0 = z.dtype.type(w0)

    def sine(x: np.ndarray) -> np.ndarray:  # In place; w0 = 1 skips a multiply that would change nothing.
        if w0 != 1:
            x *= w0
        return np.sin(x, out=x)

    h = z @ net["first"]["w"]
    h += net["first"]["b"]
    h = sine(h)
    for layer in net["hidden"]:
        x = h @ layer["w"]
        x += layer["b"]
        x += z @ layer["shift"]
        h = sine(x)
    out = h @ net["out"]["w"] + net["out"]["b"] + z.dtype.type(0.5)
    return out + z @ net["skip"] if "skip" in net else out


def as_float(net: dict, dtype=np.float32) -> dict:
    """The network's arrays as numpy arrays of `dtype` (same structure)."""
    if isinstance(net, dict):
        return {k: as_float(v, dtype) for k, v in net.items()}
    if isinstance(net, (list, tuple)):
        return [as_float(v, dtype) for v in net]
    return np.asarray(net, dtype)


def reconstruct(
    net: dict,
    quantized: list,
    signal_shape: Sequence[int],
    cfg: ModelConfig,
    step: float = 1.0,
    inputs: np.ndarray | None = None,
    band: int = BAND_SAMPLES,
    out: np.ndarray | None = None,
    convert: Callable[[np.ndarray], np.ndarray] | None = None,
    dtype=np.float32,
) -> np.ndarray:
    """Decodes one signal's integer latents (per level (*grid, c), times `step`) to values
    (*signal_shape, out_channels) in [0, 1], computed in `dtype` (float32, or float64 for error-bounded
    climate fields).

    `inputs` (*signal_shape, input_features) are the fixed per-sample inputs, if the base uses any.
    With `out` (*signal_shape, ...), every band of rows of values goes through `convert` (elementwise
    along the rows, e.g. to the output's integers) into `out`, which is returned: the float32 values
    of the whole signal never exist at once.
    """
    net = as_float(net, dtype)
    grids = [np.asarray(q) for q in quantized]  # Converted to `dtype` a band at a time.
    rows = max(1, band // max(1, int(np.prod(signal_shape[1:]))))
    if out is None:
        out = np.empty((*signal_shape, cfg.out_channels), dtype)

    def one_band(start: int) -> None:
        span = [range(start, min(start + rows, signal_shape[0]))] + [range(n) for n in signal_shape[1:]]
        z = features(grids, span, step, dtype)
        if inputs is not None:
            z = np.concatenate([z, np.asarray(inputs[span[0].start : span[0].stop], dtype)], axis=-1)
        values = np.clip(apply(net, z.reshape(-1, z.shape[-1]), cfg.w0).reshape(*z.shape[:-1], -1), 0.0, 1.0)
        out[span[0].start : span[0].stop] = values if convert is None else convert(values)

    starts = range(0, signal_shape[0], rows)
    if len(starts) == 1:
        one_band(0)
    else:  # numpy's sin and matmuls release the GIL: bands run on every core. Each band's values do
        # not depend on the others, so threads change nothing. BLAS's own threads would compete with them.
        from threadpoolctl import threadpool_limits  # Imported here: 10 ms that only this path needs.

        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(one_band, starts))
    return out


def reconstruct_batch(
    net: dict,
    quantized: list,
    signal_shape: Sequence[int],
    cfg: ModelConfig,
    step: float = 1.0,
    inputs: np.ndarray | None = None,
    out: np.ndarray | None = None,
    convert: Callable[[np.ndarray], np.ndarray] | None = None,
    dtype=np.float32,
) -> np.ndarray:
    """`reconstruct` of N signals with one network: latents per level (N, *grid, c), `inputs`
    (N, *signal_shape, F) -> (N, *signal_shape, out_channels), or `convert`ed into `out` (N, ...)."""
    n = np.asarray(quantized[0]).shape[0]
    net = as_float(net, dtype)  # Once, not per signal.
    if out is None:
        out = np.empty((n, *signal_shape, cfg.out_channels), dtype)

    def one_signal(i: int) -> None:
        reconstruct(net, [np.asarray(q)[i] for q in quantized], signal_shape, cfg, step,
                    None if inputs is None else np.asarray(inputs)[i], out=out[i], convert=convert, dtype=dtype)

    if n == 1 or THREADS == 1 or int(np.prod(signal_shape)) > BAND_SAMPLES:
        for i in range(n):  # One signal at a time; a large one's bands run on every core (reconstruct).
            one_signal(i)
        return out
    # Small signals (one band each) run side by side, as a large signal's bands do.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one_signal, range(n)))
    return out
