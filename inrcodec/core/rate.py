"""The differentiable rate of the modulations: the range coder's Laplace models as a JAX loss term.

`laplace_bits` is the coder's own formula (bitstream.range_coder.symbol_bits) on device floats;
`local_log_scales` is the smooth form of its local scales. Used only while fitting: what the file
holds is always computed by the range coder in numpy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from inrcodec.bitstream import range_coder
from inrcodec.bitstream.range_coder import CONTEXT_BLOCK, CONTEXT_WINDOW

Array = jnp.ndarray

MAX_BITS_PER_LATENT = 32.0  # Rate proxy guard: no value may cost more than 32 bits.


def laplace_bits(y: Array, log_scale: Array) -> Array:
    """Bits of each value of `y` under a unit-bin quantized zero-mean Laplace(exp(log_scale)).

    Differentiable in both arguments; `y` may be continuous (noisy or straight-through rounded).
    """
    b = jnp.exp(jnp.clip(log_scale, -6.0, 10.0))  # The range of storable scales (see scale_from_index).
    bits = range_coder.symbol_bits(jnp.abs(y), b, MAX_BITS_PER_LATENT, xp=jnp)
    return jnp.minimum(bits, MAX_BITS_PER_LATENT)


def local_log_scales(y: Array, log_gain: Array, log_floor: Array) -> Array:
    """Log Laplace scale of every value of a level `y` (*grid, C) under local scales, same shape as `y`.

    Block j's scale is about floor + gain * S_j (S_j: sum of |y| over the CONTEXT_WINDOW positions
    before it, held constant for the gradient), as the coder's max(floor, gain * S_j) made smooth
    (cf. `local_scale_indices`).
    """
    flat = y.reshape(-1, y.shape[-1])
    positions, channels = flat.shape
    blocks = -(-positions // CONTEXT_BLOCK)
    padded = jnp.pad(flat, ((0, blocks * CONTEXT_BLOCK - positions), (0, 0))).reshape(blocks, CONTEXT_BLOCK, channels)
    block_sums = jax.lax.stop_gradient(jnp.abs(padded).sum(axis=1))  # (blocks, C)
    lag = CONTEXT_WINDOW // CONTEXT_BLOCK
    prefix = jnp.concatenate([jnp.zeros((1, channels), flat.dtype), jnp.cumsum(block_sums, axis=0)])
    starts = np.arange(blocks)
    window = prefix[starts] - prefix[np.maximum(starts - lag, 0)]
    log_b = jnp.logaddexp(log_floor, jnp.log(window + 1e-6) + log_gain)  # (blocks, C)
    return jnp.repeat(log_b, CONTEXT_BLOCK, axis=0)[:positions].reshape(y.shape)


def local_laplace_bits(y: Array, log_gain: Array, log_floor: Array) -> Array:
    """Differentiable bits of each value of a level `y` (*grid, C) under local scales (`local_log_scales`)."""
    return laplace_bits(y, local_log_scales(y, log_gain, log_floor))


def total_laplace_bits(values: list[Array], log_scales: list[Array]) -> Array:
    """Sum of `laplace_bits` over several arrays, each with a scalar or same-shape log-scale.

    One `laplace_bits` over everything concatenated: the same bits as one call per array (up to the
    float summation order), with a far smaller graph (that call is ~60 operations and their
    gradients), so it compiles faster.
    """
    flat_y = jnp.concatenate([jnp.ravel(y) for y in values])
    flat_s = jnp.concatenate([jnp.ravel(jnp.broadcast_to(s, y.shape)) for y, s in zip(values, log_scales)])
    return laplace_bits(flat_y, flat_s).sum()
