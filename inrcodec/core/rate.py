"""The differentiable rate of the modulations: the range coder's Laplace models as a JAX loss term.

`laplace_bits` is the coder's own formula (bitstream.range_coder.symbol_bits) on device floats;
`local_log_scales` is the smooth form of its local scales. Used only while fitting: what the file
holds is always computed by the range coder in numpy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from inrcodec.bitstream import context_coder, range_coder
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


def code_lengths(tables: np.ndarray) -> np.ndarray:
    """Context tables (levels, CONTEXTS, ALPHABET) -> float32 bits (levels, CONTEXTS, RANGE * 2 + 3),
    re-ordered by value: column e is the value e - RANGE - 1, the first and last the escapes."""
    bits = context_coder.TABLE_BITS - np.log2(np.asarray(tables, np.float64))
    r = context_coder.RANGE
    order = [context_coder.ESCAPE_NEGATIVE, *range(2 * r + 1), context_coder.ESCAPE_POSITIVE]
    return bits[..., order].astype(np.float32)


def _bucket(values: Array, edges: tuple[int, ...]) -> Array:
    """Number of `edges` <= each value (context_coder's bucket lookup)."""
    return sum((values >= e).astype(jnp.int32) for e in edges)


def _plane_contexts(r: Array, coarse: Array | None, model: int) -> Array:
    """context_coder.plane_contexts of an int plane (h, w) clipped to +-(RANGE + 1), in JAX."""
    h, w = r.shape
    p = jnp.pad(r, ((context_coder.PAD_TOP, 0), (context_coder.PAD_LEFT, 1)))

    def at(di, dj):  # The neighbour (i + di, j + dj) of every latent.
        i, j = context_coder.PAD_TOP + di, context_coder.PAD_LEFT + dj
        return p[i : i + h, j : j + w]

    left, top_left, top, top_right, left_left, top_top = (at(*d) for d in ((0, -1), (-1, -1), (-1, 0), (-1, 1), (0, -2), (-2, 0)))
    coarse_bucket = 0
    if coarse is not None:
        up = jnp.repeat(jnp.repeat(_bucket(jnp.abs(coarse), context_coder.COARSE_EDGES), 2, axis=0), 2, axis=1)
        coarse_bucket = up[:h, :w]
    if model == 5:
        near = _bucket(jnp.abs(left) + jnp.abs(top), context_coder.NEAR_EDGES)
        far = _bucket(jnp.abs(top_left) + jnp.abs(top_right) + jnp.abs(left_left) + jnp.abs(top_top), context_coder.FAR_EDGES)
        ctx = (near * (len(context_coder.FAR_EDGES) + 1) + far) * (len(context_coder.COARSE_EDGES) + 1) + coarse_bucket
    else:
        n = jnp.abs(left) + jnp.abs(top_left) + jnp.abs(top) + jnp.abs(top_right)
        ctx = _bucket(n, context_coder.NEIGHBOUR_EDGES) * (len(context_coder.COARSE_EDGES) + 1) + coarse_bucket
    return ctx * context_coder.SIGNS + jnp.sign(left + top) + 1


def context_bits(levels: list[Array], lengths: Array, log_scales: Array, rounded: bool | Array = True) -> Array:
    """Bits of 2-D latent levels (*grid (h, w), C), finest first, under context tables (entropy model 4,
    or 5 with its rows as shipped: the adaptation to the signal is not priced).

    `lengths` is `code_lengths(tables)`; escaped values add their Laplace bits at the level's log-scale.
    Contexts come from the rounded neighbours, held constant for the gradient. Noisy latents
    (`rounded` False) pay the row's bits linearly interpolated between integers: its gradient is the
    slope of the expected bits under the noise. Rounded latents (straight-through, `rounded` True or a
    runtime bool) pay exactly what the coder counts, with the central difference of the row as
    gradient (the slope of a Laplace's bits at an integer).
    """
    top = context_coder.RANGE + 1
    model = context_coder.entropy_model(lengths)
    levels_r = [jnp.clip(jax.lax.stop_gradient(jnp.round(y)), -top, top).astype(jnp.int32) for y in levels]
    total = jnp.float32(0.0)
    for k, y in enumerate(levels):
        flat = lengths[k].reshape(-1)
        for c in range(y.shape[-1]):
            coarse = None
            if k + 1 < len(levels):
                coarse = levels_r[k + 1][..., min(c, levels[k + 1].shape[-1] - 1)]
            row = _plane_contexts(levels_r[k][..., c], coarse, model) * (2 * top + 1)  # Start of each latent's row.

            def at(i):  # One gather from the flat table: no (h, w, row) array on every step.
                return flat[row + jnp.clip(i, 0, 2 * top)]

            q = y[..., c]
            e = levels_r[k][..., c] + top
            exact = at(e) + (q - jax.lax.stop_gradient(q)) * 0.5 * (at(e + 1) - at(e - 1))
            low = jnp.clip(jax.lax.stop_gradient(jnp.floor(q)), -top, top - 1).astype(jnp.int32) + top
            interpolated = at(low) + (q - (low - top)) * (at(low + 1) - at(low))
            bits = jnp.where(rounded, exact, interpolated)
            escaped = at(e) + laplace_bits(q, log_scales[k])
            total = total + jnp.where(jnp.abs(e - top) == top, escaped, bits).sum()
    return total
