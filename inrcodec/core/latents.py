"""The modulation field: a pyramid of latent grids, linearly interpolated at sample positions."""

from __future__ import annotations

import itertools
from typing import Sequence

import jax.numpy as jnp
import numpy as np

from inrcodec.core.config import ModelConfig, grid_shapes  # noqa: F401  (grid_shapes: used from here too)

Array = jnp.ndarray
Latents = list  # One array per pyramid level, shaped (*grid_shape, channels).


def zeros(signal_shape: Sequence[int], cfg: ModelConfig) -> Latents:
    return [jnp.zeros(s, jnp.float32) for s in grid_shapes(signal_shape, cfg)]


def sample(latents: Latents, positions: Array) -> Array:
    """Interpolates every level at integer sample positions and concatenates the channels.

    Args:
      latents: per level, an array of shape (*grid, c_k); level k has stride 2**k.
      positions: int32 array (n, d) of sample indices along the d spatial axes.

    Returns:
      Array (n, sum c_k): the modulation feature z of each sample.
    """
    feats = []
    for k, grid in enumerate(latents):
        if k == 0:
            feats.append(grid[tuple(positions[:, a] for a in range(positions.shape[1]))])
            continue
        stride = 2**k
        lo, hi, frac = [], [], []
        for a in range(positions.shape[1]):
            # Sample i sits at (i + 0.5) / stride - 0.5 in cell units (cell centres at integers).
            x = (positions[:, a].astype(jnp.float32) + 0.5) / stride - 0.5
            x = jnp.clip(x, 0.0, grid.shape[a] - 1)
            i0 = jnp.floor(x).astype(jnp.int32)
            lo.append(i0)
            hi.append(jnp.minimum(i0 + 1, grid.shape[a] - 1))
            frac.append(x - i0)
        acc = 0.0
        for corner in itertools.product((0, 1), repeat=len(lo)):
            idx = tuple(hi[a] if c else lo[a] for a, c in enumerate(corner))
            weight = 1.0
            for a, c in enumerate(corner):
                weight = weight * (frac[a] if c else 1.0 - frac[a])
            acc = acc + weight[:, None] * grid[idx]
        feats.append(acc)
    return jnp.concatenate(feats, axis=-1)


def all_positions(signal_shape: Sequence[int]) -> np.ndarray:
    """Every sample index of a signal, (prod(signal_shape), d) int32, in C order."""
    grids = np.meshgrid(*[np.arange(n, dtype=np.int32) for n in signal_shape], indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], axis=-1)
