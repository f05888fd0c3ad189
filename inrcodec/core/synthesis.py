"""Synthesis: integer latents -> signal values through the base network (what the decoder runs).

Deterministic: no noise, no optimisation; chunked with fixed padded shapes so memory is bounded and
one compiled program serves every call of a shape.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from inrcodec.core import latents, siren
from inrcodec.core.config import ModelConfig

Array = jnp.ndarray


def reconstruct(
    net: dict,
    quantized: list,
    signal_shape: Sequence[int],
    cfg: ModelConfig,
    step: float = 1.0,
    inputs: np.ndarray | None = None,
    chunk: int = 1 << 17,
) -> Array:
    """Decodes one signal's integer latents (times `step`) to (*signal_shape, out_channels) in [0, 1].

    `reconstruct_batch` of a batch of one. `inputs` (*signal_shape, input_features) are the fixed
    per-sample inputs, if the base uses any.
    """
    batch_inputs = None if inputs is None else np.asarray(inputs)[None]
    return reconstruct_batch(net, [np.asarray(q)[None] for q in quantized], signal_shape, cfg, step, batch_inputs,
                             chunk)[0]


def reconstruct_batch(
    net: dict,
    quantized: list,
    signal_shape: Sequence[int],
    cfg: ModelConfig,
    step: float = 1.0,
    inputs: np.ndarray | None = None,
    chunk: int = 1 << 17,
) -> np.ndarray:
    """Decodes N signals' integer latents (per level (N, *grid, c), times `step`) with one network.

    Returns (N, *signal_shape, out_channels) in [0, 1]. `inputs` (N, *signal_shape, F) are the fixed
    per-sample inputs, if the base uses any. Deterministic: no noise, no optimisation. Evaluated
    `chunk` values at a time (a power of two of signals, or a part of one signal), with fixed padded
    shapes so that one program serves every call, and so that memory is bounded.
    """
    n = quantized[0].shape[0]
    positions = latents.all_positions(signal_shape)
    samples = positions.shape[0]
    extra = (np.zeros((n, samples, 0), np.float32) if inputs is None
             else np.asarray(inputs, np.float32).reshape(n, samples, -1))
    per_call = max(1, chunk // samples)
    signals = min(1 << (n - 1).bit_length(), 1 << (per_call.bit_length() - 1))  # A power of two.
    part = min(samples, chunk)
    out = np.zeros((n, samples, cfg.out_channels), np.float32)
    for first in range(0, n, signals):
        idx = np.minimum(np.arange(first, first + signals), n - 1)  # Padded by repeating the last.
        grids = [jnp.asarray(np.asarray(q)[idx], jnp.float32) * jnp.float32(step) for q in quantized]
        for start in range(0, samples, part):
            stop = min(start + part, samples)
            pos = np.zeros((part, positions.shape[1]), np.int32)
            pos[: stop - start] = positions[start:stop]
            x = np.zeros((signals, part, extra.shape[-1]), np.float32)
            x[:, : stop - start] = extra[idx, start:stop]
            values = np.asarray(_synthesize(net, grids, jnp.asarray(pos), jnp.asarray(x), cfg.w0))
            count = min(signals, n - first)
            out[first : first + count, start:stop] = values[:count, : stop - start]
    return np.clip(out, 0.0, 1.0).reshape(n, *signal_shape, -1)


@jax.jit
def _synthesize(net: dict, grids: list, positions: Array, inputs: Array, w0: float) -> Array:
    """Values (N, samples, C) of N signals' latent grids at shared `positions` (samples, d), with their
    fixed `inputs` (N, samples, F)."""

    def one(g, x):
        return siren.apply(net, jnp.concatenate([latents.sample(g, positions), x], axis=-1), w0)

    return jax.vmap(one)(grids, inputs)
