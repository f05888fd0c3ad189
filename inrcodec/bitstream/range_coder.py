"""The range coder of the latents: quantized zero-mean Laplace models, one scale byte per level.

In the file, each level carries one byte: the index of its quantized scale (0 means "every latent
of this level is zero; nothing coded"). The coder only ever sees integers and scales decoded from
that byte, never device floats, so decoding is the same on every CPU. A stack of signals (climate
fields over time) may code a level as its differences along the stack (`stack_differences`):
consecutive fields have similar latents. A level may instead use *local scales*
(`local_scale_indices`): blocks of CONTEXT_BLOCK positions, each with a scale set by the magnitudes
of the CONTEXT_WINDOW latents before it, so loud and quiet stretches of a sound get their own
scales without any side information. The context is integer arithmetic only. numpy and
constriction only (no JAX): see SPEC.md.
"""

from __future__ import annotations

import bisect
import functools

import constriction
import numpy as np

ENCODE_CHUNK = 1 << 16  # Symbols per coder call when encoding a level with one scale.
SYMBOL_MAX = 1023  # Quantized latents are clipped to [-SYMBOL_MAX, SYMBOL_MAX].
SCALE_STEPS_PER_OCTAVE = 16  # Scale index i (1..255) means b = 2 ** ((i - SCALE_INDEX_ONE) / 16).
SCALE_INDEX_ONE = 96  # Index of b = 1.0; index 1 is b = 2**-5.9, index 255 is b = 2**9.9.
CODER_PRECISION = 24  # constriction's models give every symbol a probability of at least 2^-24.
CONTEXT_BLOCK = 16  # Positions of a local-scale level that share one scale.
CONTEXT_WINDOW = 64  # Previous positions (same channel) whose magnitudes set a block's scale.
CONTEXT_GAIN_ZERO = 128  # Context byte g (1..255) adds g - 128 sixteenths of an octave; 0 = no context.
DECODE_CHUNK = 1 << 16  # Symbols per coder call when decoding: bounds the scale arrays' memory.
# round(2 ** (16 + i / 16)) for i = 1..15: the fractional steps of `ilog16` (none is near a tie).
_LOG_STEPS = (68438, 71468, 74632, 77936, 81386, 84990, 88752, 92682, 96785, 101070, 105545, 110218, 115098,
              120194, 125515)


def scale_from_index(index: int) -> float:
    """Laplace scale b for a stored scale index in 1..255 (exact, the same on every machine)."""
    return float(2.0 ** ((index - SCALE_INDEX_ONE) / SCALE_STEPS_PER_OCTAVE))


def symbol_bits(a, b, cap_bits: float, xp=np):
    """Bits of magnitudes `a` under a unit-bin quantized zero-mean Laplace(b), from 2^-cap_bits of
    probability (at most `cap_bits` each when capped by the caller).

    The one formula of the Laplace rate: `xp` is numpy here (float64, scale choice) and jax.numpy in
    the differentiable rate (core.rate). P(a) = F(a + 1/2) - F(a - 1/2) for the Laplace CDF F,
    written without cancellation; each branch only sees the values it is used for, so the unused
    one cannot put NaNs in gradients.
    """
    a_tail, a_centre = xp.maximum(a, 0.5), xp.minimum(a, 0.5)
    tail = 0.5 * xp.exp(-(a_tail - 0.5) / b) * (-xp.expm1(-1.0 / b))
    centre = 1.0 - 0.5 * (xp.exp(-(0.5 - a_centre) / b) + xp.exp(-(0.5 + a_centre) / b))
    return -xp.log2(xp.maximum(xp.where(a >= 0.5, tail, centre), 2.0**-cap_bits))


def _numpy_bits(symbols: np.ndarray, b: float) -> float:
    return float(symbol_bits(np.abs(symbols.astype(np.float64)), b, 32).sum())


SCALES = np.array([0.0] + [scale_from_index(i) for i in range(1, 256)])  # SCALES[i] = scale_from_index(i).


def best_scale_index(symbols: np.ndarray) -> int:
    """Scale index that minimises the coded size of `symbols` (0 if they are all zero)."""
    if not np.any(symbols):
        return 0
    counts = np.bincount(np.abs(np.asarray(symbols, np.int64).reshape(-1)))  # |symbol| <= SYMBOL_MAX: few bins.
    magnitudes = np.arange(counts.size, dtype=np.float64)
    mle = max(float(counts @ magnitudes / counts.sum()), 2.0**-5)
    guess = int(round(np.log2(mle) * SCALE_STEPS_PER_OCTAVE + SCALE_INDEX_ONE))
    candidates = range(max(1, guess - 24), min(255, guess + 24) + 1)
    return min(candidates, key=lambda i: float(counts @ symbol_bits(magnitudes, scale_from_index(i), 32)))


def coded_bits(symbols: np.ndarray, index: int | None = None) -> float:
    """Bits of `symbols` coded with scale `index` (default: their best; 0 = all zero, no bits)."""
    index = best_scale_index(symbols) if index is None else index
    return _numpy_bits(symbols, scale_from_index(index)) if index else 0.0


def stack_differences(symbols: np.ndarray) -> np.ndarray:
    """(N, ...) ints -> the first signal's, then each signal's difference from the one before (int64)."""
    symbols = np.asarray(symbols, np.int64)
    return np.concatenate([symbols[:1], np.diff(symbols, axis=0)], axis=0)


def stack_sums(differences: np.ndarray) -> np.ndarray:
    """Inverse of `stack_differences`: int32 (N, ...); raises ValueError outside [-SYMBOL_MAX, SYMBOL_MAX].

    Sums DECODE_CHUNK values at a time, so the int64 temporaries stay small whatever N.
    """
    differences = np.asarray(differences)
    out = np.empty(differences.shape, np.int32)
    carry = np.zeros(differences.shape[1:], np.int64)
    rows = max(1, DECODE_CHUNK // max(1, int(np.prod(differences.shape[1:]))))
    for start in range(0, differences.shape[0], rows):
        part = np.cumsum(differences[start : start + rows], axis=0, dtype=np.int64) + carry
        if part.size and np.abs(part).max() > SYMBOL_MAX:
            raise ValueError(f"stack-predicted latents leave [-{SYMBOL_MAX}, {SYMBOL_MAX}]")
        out[start : start + rows] = part
        carry = part[-1]
    return out


def predict_along_stack(symbols: np.ndarray) -> bool:
    """Whether coding (N, ...) ints as `stack_differences` takes fewer bits (and stays codable)."""
    if symbols.shape[0] < 2 or not np.any(symbols):
        return False
    differences = stack_differences(symbols)
    if np.abs(differences).max() > SYMBOL_MAX:
        return False
    return coded_bits(differences) < coded_bits(symbols)


def ilog16(x: np.ndarray) -> np.ndarray:
    """16 * e + #{i : x * 2^16 >= _LOG_STEPS[i] * 2^e}, e = bit length of x - 1: floor(16 * log2(x)) up to
    the rounding of _LOG_STEPS, in integer arithmetic only, for integers x >= 1 (int64, same shape)."""
    x = np.asarray(x, np.int64)
    if x.size and (x.min() < 1 or x.max() >= 2**47):
        raise ValueError("ilog16 needs integers in [1, 2^47)")
    octave = np.frexp(x.astype(np.float64))[1].astype(np.int64) - 1  # Exact below 2^53.
    # m * 2^e <= x * 2^16 for integer m exactly when m <= floor(x * 2^16 / 2^e).
    return 16 * octave + np.searchsorted(_LOG_STEPS, (x << 16) >> octave, side="right")


def _ilog16_int(x: int) -> int:
    """`ilog16` of one Python int >= 1."""
    octave = x.bit_length() - 1
    return 16 * octave + bisect.bisect_right(_LOG_STEPS, (x << 16) >> octave)


def _channel_major(symbols: np.ndarray) -> np.ndarray:
    """(*grid, C) -> (C, positions): the order in which a local-scale level is coded."""
    return np.ascontiguousarray(np.asarray(symbols).reshape(-1, symbols.shape[-1]).T)


def _window_logs(sequences: np.ndarray) -> np.ndarray:
    """(C, P) ints -> (C, blocks): ilog16 of each block's window sum, -1 where the window is all zero."""
    magnitude = np.abs(np.asarray(sequences, np.int64))
    prefix = np.concatenate([np.zeros((magnitude.shape[0], 1), np.int64), np.cumsum(magnitude, axis=1)], axis=1)
    starts = np.arange(0, magnitude.shape[1], CONTEXT_BLOCK)
    window = prefix[:, starts] - prefix[:, np.maximum(starts - CONTEXT_WINDOW, 0)]
    return np.where(window > 0, ilog16(np.maximum(window, 1)), -1)


def _block_indices(logs: np.ndarray, floor: int, context: int) -> np.ndarray:
    return np.where(logs >= 0, np.clip(logs + context - CONTEXT_GAIN_ZERO, floor, 255), floor)


def local_scale_indices(sequences: np.ndarray, floor: int, context: int) -> np.ndarray:
    """Scale index of every block of a local-scale level.

    Args:
      sequences: ints (C, P): each channel's latents in position order.
      floor: the smallest scale index (1..255), also that of blocks with an all-zero window.
      context: the level's context byte (1..255).

    Returns:
      int64 (C, ceil(P / CONTEXT_BLOCK)): block j's index is max(floor, min(255, ilog16(S) + context -
      CONTEXT_GAIN_ZERO)), S = sum of |latent| over the CONTEXT_WINDOW positions before the block.
    """
    return _block_indices(_window_logs(sequences), floor, context)


def _per_symbol(blocks: np.ndarray, positions: int) -> np.ndarray:
    """(C, blocks) -> (C, positions): each block's value for each of its symbols."""
    return np.repeat(blocks, CONTEXT_BLOCK, axis=1)[:, :positions]


def _local_scales(sequences: np.ndarray, floor: int, context: int) -> np.ndarray:
    """Per-symbol Laplace scales (C, P) of a local-scale level."""
    return SCALES[_per_symbol(local_scale_indices(sequences, floor, context), sequences.shape[1])]


@functools.cache
def _bits_table() -> np.ndarray:
    """(256, SYMBOL_MAX + 1) float64: bits of |symbol| a under scale index i (row 0 unused).

    Capped at CODER_PRECISION bits, as the range coder gives every symbol at least that probability:
    the first latents of a loud stretch after a quiet one cost that much under their small scale.
    """
    bits = symbol_bits(np.arange(SYMBOL_MAX + 1, dtype=np.float64)[None, :], SCALES[1:, None], CODER_PRECISION)
    return np.concatenate([np.zeros((1, SYMBOL_MAX + 1)), bits])


def bits_by_scale(symbols: np.ndarray) -> np.ndarray:
    """(255,) bits of `symbols` (|s| <= SYMBOL_MAX) under each scale index 1..255, from their histogram."""
    return _bits_table()[1:] @ np.bincount(np.abs(symbols).reshape(-1), minlength=SYMBOL_MAX + 1)


def _bits_given_logs(sequences: np.ndarray, logs: np.ndarray, floor: int, context: int) -> float:
    index = _per_symbol(_block_indices(logs, floor, context), sequences.shape[1])
    return float(_bits_table()[index, np.abs(sequences)].sum())


def local_scale_bits(symbols: np.ndarray, floor: int, context: int) -> float:
    """Bits of a level (*grid, C) coded with local scales."""
    sequences = _channel_major(symbols)
    return _bits_given_logs(sequences, _window_logs(sequences), floor, context)


def best_local_scale(symbols: np.ndarray, plain: int | None = None) -> tuple[int, int, float]:
    """(floor, context byte, bits) that code a non-zero level (*grid, C) with local scales in few bits.

    A coordinate search over the gain and the floor, each first coarse then fine, around the level's
    single best scale index `plain` (computed if not given).
    """
    plain = best_scale_index(symbols) if plain is None else plain
    if plain == 0:
        raise ValueError("an all-zero level has no local scales")
    floor, context = max(1, plain - 16), CONTEXT_GAIN_ZERO
    sequences = _channel_major(symbols)
    logs = _window_logs(sequences)

    def cost(f, g):
        return _bits_given_logs(sequences, logs, f, g)

    def search(values, which):
        nonlocal floor, context
        pairs = [(v, context) if which == "floor" else (floor, v) for v in values if 1 <= v <= 255]
        floor, context = min(pairs, key=lambda p: cost(*p))

    search(range(CONTEXT_GAIN_ZERO - 32, CONTEXT_GAIN_ZERO + 49, 4), "context")
    search(range(context - 3, context + 4), "context")
    search(range(plain - 64, plain + 1, 4), "floor")
    search(range(floor - 3, floor + 4), "floor")
    search(range(context - 2, context + 3), "context")
    return floor, context, cost(floor, context)


def laplace_model() -> constriction.stream.model.QuantizedLaplace:
    return constriction.stream.model.QuantizedLaplace(-SYMBOL_MAX, SYMBOL_MAX)


def encode(levels: list[np.ndarray], scale_indices: list[int], contexts: list[int] = ()) -> bytes:
    """Range-codes integer latents, level after level; levels with scale index 0 are skipped.

    Args:
      levels: int arrays (any shape) with values in [-SYMBOL_MAX, SYMBOL_MAX].
      scale_indices: one index per level (see `best_scale_index`), the floor of a local-scale level.
      contexts: context bytes of the first len(contexts) levels: 0 = one scale for the level, else
        local scales (the level's shape is (*grid, C); it is coded channel after channel).

    Returns:
      The compressed words as little-endian uint32 bytes.
    """
    encoder = constriction.stream.queue.RangeEncoder()
    encode_into(encoder, levels, scale_indices, contexts)
    return to_bytes(encoder)


def to_bytes(encoder) -> bytes:
    """A RangeEncoder's compressed words as little-endian uint32 bytes."""
    return encoder.get_compressed().astype("<u4").tobytes()


def encode_into(encoder, levels: list[np.ndarray], scale_indices: list[int], contexts: list[int] = ()) -> None:
    """Appends levels to a constriction RangeEncoder as `encode` codes them."""
    for k, (symbols, index) in enumerate(zip(levels, scale_indices)):
        if index == 0:
            continue
        context = contexts[k] if k < len(contexts) else 0
        if context:
            sequences = _channel_major(symbols)
            flat, b = sequences.astype(np.int32).reshape(-1), _local_scales(sequences, index, context).reshape(-1)
            encoder.encode(flat, laplace_model(), np.zeros_like(b), b)
            continue
        flat = np.asarray(symbols).reshape(-1)
        scale = np.full(min(flat.size, ENCODE_CHUNK), scale_from_index(index), np.float64)
        for start in range(0, flat.size, ENCODE_CHUNK):  # In chunks: the same bytes, bounded memory.
            part = flat[start : start + ENCODE_CHUNK].astype(np.int32)
            encoder.encode(part, laplace_model(), np.zeros(part.size), scale[: part.size])


def _decode_local(decoder, shape: tuple[int, ...], floor: int, context: int) -> np.ndarray:
    """One local-scale level, block after block (a block's scale needs the latents before it)."""
    channels, positions = shape[-1], int(np.prod(shape[:-1]))
    sequences = np.zeros((channels, positions), np.int32)  # |latent| <= SYMBOL_MAX: int32 is exact.
    model, block_sums = laplace_model(), np.zeros(-(-positions // CONTEXT_BLOCK), np.int64)
    lag = CONTEXT_WINDOW // CONTEXT_BLOCK  # The window is the `lag` blocks before.
    zeros = np.zeros(CONTEXT_BLOCK, np.float64)
    for c in range(channels):
        window = 0
        for j, start in enumerate(range(0, positions, CONTEXT_BLOCK)):
            if j > lag:
                window -= int(block_sums[j - lag - 1])
            index = max(floor, min(255, _ilog16_int(window) + context - CONTEXT_GAIN_ZERO)) if window else floor
            stop = min(start + CONTEXT_BLOCK, positions)
            b = np.full((stop - start,), SCALES[index], np.float64)
            block = decoder.decode(model, zeros[: stop - start], b)
            sequences[c, start:stop] = block
            block_sums[j] = np.abs(block).sum()
            window += int(block_sums[j])
    return np.ascontiguousarray(sequences.T).reshape(shape)  # No copy for one channel.


def decode(payload: bytes, shapes: list[tuple[int, ...]], scale_indices: list[int],
           contexts: list[int] = ()) -> list[np.ndarray]:
    """Inverse of `encode`: int32 arrays of the given shapes (all-zero where the index is 0)."""
    return decode_from(decoder_of(payload), shapes, scale_indices, contexts)


def decoder_of(payload: bytes):
    """A constriction RangeDecoder over payload bytes (little-endian uint32 words)."""
    if len(payload) % 4:
        raise ValueError("entropy-coded payload is not a whole number of 32-bit words")
    return constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))


def decode_from(decoder, shapes: list[tuple[int, ...]], scale_indices: list[int], contexts: list[int] = ()) -> list[np.ndarray]:
    """Reads levels from a RangeDecoder as `decode` does."""
    out = []
    for k, (shape, index) in enumerate(zip(shapes, scale_indices)):
        if index == 0:
            out.append(np.zeros(shape, np.int32))
            continue
        if k < len(contexts) and contexts[k]:
            out.append(_decode_local(decoder, tuple(shape), index, contexts[k]))
            continue
        out.append(decode_plain(decoder, int(np.prod(shape)), scale_from_index(index)).reshape(shape))
    return out


def decode_plain(decoder, n: int, scale: float) -> np.ndarray:
    """n symbols of one Laplace(scale) from a RangeDecoder -> int32 (n,), DECODE_CHUNK per coder call.

    The decoder reads symbol after symbol whatever the calls, so the chunks give what one call would.
    """
    out = np.empty(n, np.int32)
    b = np.full(min(n, DECODE_CHUNK), scale, np.float64)
    means, model = np.zeros_like(b), laplace_model()
    for start in range(0, n, DECODE_CHUNK):
        stop = min(start + DECODE_CHUNK, n)
        out[start:stop] = decoder.decode(model, means[: stop - start], b[: stop - start])
    return out
