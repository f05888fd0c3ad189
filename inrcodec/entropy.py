"""Entropy model of the latents: a zero-mean Laplace per pyramid level, and its range coder.

During fitting, `laplace_bits` gives a differentiable rate. In the file, each level carries one
byte: the index of its quantized scale (0 means "every latent of this level is zero; nothing coded").
The coder only ever sees integers and scales decoded from that byte, never device floats.
A stack of signals (climate fields over time) may code a level as its differences along the stack
(`stack_differences`): consecutive fields have similar latents.
"""

from __future__ import annotations

import constriction
import jax.numpy as jnp
import numpy as np

Array = jnp.ndarray

SYMBOL_MAX = 1023  # Quantized latents are clipped to [-SYMBOL_MAX, SYMBOL_MAX].
SCALE_STEPS_PER_OCTAVE = 16  # Scale index i (1..255) means b = 2 ** ((i - SCALE_INDEX_ONE) / 16).
SCALE_INDEX_ONE = 96  # Index of b = 1.0; index 1 is b = 2**-5.9, index 255 is b = 2**9.9.
MAX_BITS_PER_LATENT = 32.0  # Rate proxy guard: no value may cost more than 32 bits.


def laplace_bits(y: Array, log_scale: Array) -> Array:
    """Bits of each value of `y` under a unit-bin quantized zero-mean Laplace(exp(log_scale)).

    Differentiable in both arguments; `y` may be continuous (noisy or straight-through rounded).
    """
    b = jnp.exp(jnp.clip(log_scale, -6.0, 10.0))  # The range of storable scales (see scale_from_index).
    a = jnp.abs(y)
    # P(a) = F(a + 1/2) - F(a - 1/2) for the Laplace CDF F, written without cancellation. Each
    # branch only sees the values it is used for, so the unused one cannot put NaNs in gradients.
    a_tail, a_centre = jnp.maximum(a, 0.5), jnp.minimum(a, 0.5)
    tail = 0.5 * jnp.exp(-(a_tail - 0.5) / b) * (-jnp.expm1(-1.0 / b))
    centre = 1.0 - 0.5 * (jnp.exp(-(0.5 - a_centre) / b) + jnp.exp(-(0.5 + a_centre) / b))
    p = jnp.where(a >= 0.5, tail, centre)
    return jnp.minimum(-jnp.log2(jnp.maximum(p, 2.0**-MAX_BITS_PER_LATENT)), MAX_BITS_PER_LATENT)


def scale_from_index(index: int) -> float:
    """Laplace scale b for a stored scale index in 1..255 (exact, the same on every machine)."""
    return float(2.0 ** ((index - SCALE_INDEX_ONE) / SCALE_STEPS_PER_OCTAVE))


def _numpy_bits(symbols: np.ndarray, b: float) -> float:
    a = np.abs(symbols.astype(np.float64))
    a_tail, a_centre = np.maximum(a, 0.5), np.minimum(a, 0.5)
    tail = 0.5 * np.exp(-(a_tail - 0.5) / b) * (-np.expm1(-1.0 / b))
    centre = 1.0 - 0.5 * (np.exp(-(0.5 - a_centre) / b) + np.exp(-(0.5 + a_centre) / b))
    p = np.where(a >= 0.5, tail, centre)
    return float(-np.log2(np.maximum(p, 2.0**-32)).sum())


def best_scale_index(symbols: np.ndarray) -> int:
    """Scale index that minimises the coded size of `symbols` (0 if they are all zero)."""
    if not np.any(symbols):
        return 0
    mle = max(float(np.mean(np.abs(symbols))), 2.0**-5)
    guess = int(round(np.log2(mle) * SCALE_STEPS_PER_OCTAVE + SCALE_INDEX_ONE))
    candidates = range(max(1, guess - 24), min(255, guess + 24) + 1)
    return min(candidates, key=lambda i: _numpy_bits(symbols, scale_from_index(i)))


def coded_bits(symbols: np.ndarray) -> float:
    """Bits of `symbols` coded with their best scale (0 when they are all zero)."""
    index = best_scale_index(symbols)
    return _numpy_bits(symbols, scale_from_index(index)) if index else 0.0


def stack_differences(symbols: np.ndarray) -> np.ndarray:
    """(N, ...) ints -> the first signal's, then each signal's difference from the one before (int64)."""
    symbols = np.asarray(symbols, np.int64)
    return np.concatenate([symbols[:1], np.diff(symbols, axis=0)], axis=0)


def stack_sums(differences: np.ndarray) -> np.ndarray:
    """Inverse of `stack_differences`: int32 (N, ...); raises ValueError outside [-SYMBOL_MAX, SYMBOL_MAX]."""
    symbols = np.cumsum(np.asarray(differences, np.int64), axis=0)
    if symbols.size and np.abs(symbols).max() > SYMBOL_MAX:
        raise ValueError(f"stack-predicted latents leave [-{SYMBOL_MAX}, {SYMBOL_MAX}]")
    return symbols.astype(np.int32)


def predict_along_stack(symbols: np.ndarray) -> bool:
    """Whether coding (N, ...) ints as `stack_differences` takes fewer bits (and stays codable)."""
    if symbols.shape[0] < 2 or not np.any(symbols):
        return False
    differences = stack_differences(symbols)
    if np.abs(differences).max() > SYMBOL_MAX:
        return False
    return coded_bits(differences) < coded_bits(symbols)


def _model() -> constriction.stream.model.QuantizedLaplace:
    return constriction.stream.model.QuantizedLaplace(-SYMBOL_MAX, SYMBOL_MAX)


def encode(levels: list[np.ndarray], scale_indices: list[int]) -> bytes:
    """Range-codes integer latents, level after level; levels with scale index 0 are skipped.

    Args:
      levels: int arrays (any shape) with values in [-SYMBOL_MAX, SYMBOL_MAX].
      scale_indices: one index per level (see `best_scale_index`).

    Returns:
      The compressed words as little-endian uint32 bytes.
    """
    encoder = constriction.stream.queue.RangeEncoder()
    for symbols, index in zip(levels, scale_indices):
        if index == 0:
            continue
        flat = np.ascontiguousarray(symbols, dtype=np.int32).reshape(-1)
        b = np.full(flat.shape, scale_from_index(index), np.float64)
        encoder.encode(flat, _model(), np.zeros_like(b), b)
    return encoder.get_compressed().astype("<u4").tobytes()


def decode(payload: bytes, shapes: list[tuple[int, ...]], scale_indices: list[int]) -> list[np.ndarray]:
    """Inverse of `encode`: int32 arrays of the given shapes (all-zero where the index is 0)."""
    if len(payload) % 4:
        raise ValueError("entropy-coded payload is not a whole number of 32-bit words")
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    out = []
    for shape, index in zip(shapes, scale_indices):
        n = int(np.prod(shape))
        if index == 0:
            out.append(np.zeros(shape, np.int32))
            continue
        b = np.full((n,), scale_from_index(index), np.float64)
        out.append(np.asarray(decoder.decode(_model(), np.zeros_like(b), b), np.int32).reshape(shape))
    return out
