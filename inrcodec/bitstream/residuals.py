"""Error-bounded residuals (climate, format 1.5): what puts every decoded value within a bound.

A field coded with an error bound decodes to p + e' at every valid point, where p is the base
network's prediction (evaluated in float64) and e' a decoded residual; the encoder makes |x - p - e'|
at most step / 2 (modalities.climate). The residual's symbols are integers, coded exactly; e' comes
from them by integer arithmetic or IEEE float64 additions, multiplications and divisions by powers
of two in a fixed order, so every CPU decodes the same e':

- predictor 0: e' = step * r, r = round(e / step) at the valid points, coded in C order over (F, ny, nx);
- predictor 1: the same r at every point (0 where a value is missing), coded after 2-D Lorenzo
  prediction d = r - r_north - r_west + r_northwest (0 outside the grid): undone by cumulative sums;
- predictors 2-7: closed-loop interpolation, as SZ3 does: pass after pass from coarse to fine over the
  (F, ny, nx) array with its axes in the order ORDERS[predictor - 2] (`interpolation_passes`), each
  point is predicted by cubic interpolation of e' decoded before it, and e' = prediction + step * k
  with k coded (valid points only). The axis order matters: up to 1.7x in bytes on 6-hourly fields.

Each symbol d is split into d >> shift (at most 1023 in magnitude) and its low `shift` bits; the
high parts are range-coded as one zero-mean Laplace level (range_coder, one scale or local scales),
the low bits are stored raw, packed little-endian. SPEC.md, "Climate", has the byte tables.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import struct

import numpy as np

from inrcodec.bitstream import range_coder
from inrcodec.errors import FormatError

DESCRIPTOR = struct.Struct("<ddBBBBIB")  # bound, step, predictor, shift, scale index, context, stream bytes, groups.
PREDICT_NONE, PREDICT_LORENZO, PREDICT_INTERPOLATION = 0, 1, 2
ORDERS = tuple(itertools.permutations(range(3)))  # Axis orders (of (F, ny, nx)) of predictors 2..7.
GROUP_PREFERENCE = 1.02  # Per-pass scales are taken unless local scales save more than 2 % of the bits.
PREDICTORS = (PREDICT_NONE, PREDICT_LORENZO) + tuple(PREDICT_INTERPOLATION + j for j in range(len(ORDERS)))
MAX_SHIFT = 24  # |d| < 2^34, so cumulative sums over 2^25 points stay inside int64 (2^59).
RAW_CHUNK = 1 << 16  # Symbols whose low bits are packed or unpacked at a time (bounds memory).


@dataclasses.dataclass(frozen=True)
class ResidualHeader:
    bound: float  # The guaranteed maximum absolute error, in the variable's units.
    step: float  # Decoded value = prediction + step * r; 0 < step <= 2 * bound.
    predictor: int  # PREDICT_NONE, PREDICT_LORENZO, or interpolation (PREDICT_INTERPOLATION + axis order).
    shift: int  # Low bits of each symbol stored raw, 0..MAX_SHIFT.
    scale_index: int  # Laplace scale index of the high parts (range_coder), 0 = all zero.
    context: int  # 0 = one scale; else the local-scale context byte (scale_index is then the floor).
    stream_bytes: int  # Bytes of the range-coded high parts (a multiple of 4).
    groups: tuple[int, ...] = ()  # Interpolation: one scale index per pass (`group_sizes`); then index, context are 0.

    def pack(self) -> bytes:
        return DESCRIPTOR.pack(self.bound, self.step, self.predictor, self.shift, self.scale_index, self.context,
                               self.stream_bytes, len(self.groups)) + bytes(self.groups)

    @classmethod
    def unpack_from(cls, meta: bytes, offset: int) -> tuple["ResidualHeader", int]:
        if len(meta) < offset + DESCRIPTOR.size:
            raise FormatError("climate header truncated (error-bound fields)")
        *fields, count = DESCRIPTOR.unpack_from(meta, offset)
        offset += DESCRIPTOR.size
        if len(meta) < offset + count:
            raise FormatError("climate header truncated (error-bound fields)")
        header = h = cls(*fields, tuple(meta[offset : offset + count]))
        if not (math.isfinite(h.bound) and math.isfinite(h.step) and 0 < h.step <= 2 * h.bound):
            raise FormatError(f"error bound {h.bound} with residual step {h.step} is invalid")
        if h.predictor not in PREDICTORS or h.shift > MAX_SHIFT:
            raise FormatError(f"residual predictor {h.predictor} or shift {h.shift} is invalid")
        if h.groups and (not is_interpolation(h.predictor) or h.scale_index or h.context):
            raise FormatError("residual scale groups need an interpolation predictor and no single scale")
        if (h.scale_index == 0 and not any(h.groups) and (h.context or h.stream_bytes)) or h.stream_bytes % 4:
            raise FormatError("residual coding fields are inconsistent")
        return header, offset + count

    def coded_count(self, valid: np.ndarray) -> int:
        """Symbols coded for fields with these valid points (F, ny, nx)."""
        return int(valid.size) if self.predictor == PREDICT_LORENZO else int(valid.sum())

    def raw_bytes(self, count: int) -> int:
        return -(-count * self.shift // 8)


def lorenzo(r: np.ndarray) -> np.ndarray:
    """(F, ny, nx) ints -> d = r - r_north - r_west + r_northwest per field (0 outside), int64."""
    p = np.pad(np.asarray(r, np.int64), ((0, 0), (1, 0), (1, 0)))
    return p[:, 1:, 1:] - p[:, :-1, 1:] - p[:, 1:, :-1] + p[:, :-1, :-1]


def unlorenzo(d: np.ndarray) -> np.ndarray:
    """Inverse of `lorenzo` (in place): cumulative sums along x, then along y."""
    np.cumsum(d, axis=2, out=d)
    np.cumsum(d, axis=1, out=d)
    return d


def interpolation_passes(shape: tuple[int, ...]):
    """The passes of the interpolation predictor over an array of `shape`, coarse to fine: (h, axis) for
    h = T/2, T/4, ..., 1 (T the least power of two >= every size) and each axis in order. A pass
    predicts the points whose index along `axis` is an odd multiple of h, whose indices along the axes
    before it are multiples of h and along the axes after it multiples of 2h (`pass_view`)."""
    top = 1
    while top < max(shape):
        top *= 2
    h = top // 2
    while h >= 1:
        for axis in range(len(shape)):
            if shape[axis] > h:
                yield h, axis
        h //= 2


def pass_view(r: np.ndarray, h: int, axis: int) -> np.ndarray:
    """The view of r in which a pass's points are the odd indices along `axis` (the even ones known)."""
    return r[tuple(slice(None, None, h if b <= axis else 2 * h) for b in range(r.ndim))]


def interpolate(view: np.ndarray, axis: int) -> np.ndarray:
    """float64 predictions of the odd indices along `axis` of `view` from its even ones: cubic
    ((-a + 9b) + (9c - d)) / 16 with a, b, c, d at offsets -3, -1, +1, +3 where all four exist, linear
    (b + c) / 2 where only b and c do, b where c is missing. IEEE float64 in this order: the same
    bits on every CPU."""
    n = view.shape[axis]
    at = lambda idx: np.take(view, idx, axis=axis)  # noqa: E731
    odd = np.arange(1, n, 2)
    last_even = n - 1 - (n - 1) % 2
    b, c = at(odd - 1), at(np.minimum(odd + 1, last_even))
    a, d = at(np.maximum(odd - 3, 0)), at(np.minimum(odd + 3, last_even))
    shape = [1] * view.ndim
    shape[axis] = -1
    has_c, has_cubic = (odd + 1 < n).reshape(shape), ((odd >= 3) & (odd + 3 < n)).reshape(shape)
    cubic = ((-a + 9.0 * b) + (9.0 * c - d)) / 16.0
    linear = (b + c) / 2.0
    return np.where(has_cubic, cubic, np.where(has_c, linear, b))


def _targets(view: np.ndarray, axis: int) -> tuple:
    index = [slice(None)] * view.ndim
    index[axis] = slice(1, None, 2)
    return tuple(index)


def is_interpolation(predictor: int) -> bool:
    return predictor >= PREDICT_INTERPOLATION


def _order(predictor: int) -> tuple[int, ...]:
    return ORDERS[predictor - PREDICT_INTERPOLATION]


def group_sizes(valid: np.ndarray, predictor: int) -> list[int]:
    """Symbols of an interpolation predictor per group: the first point, then each pass (valid points only)."""
    valid = valid.transpose(_order(predictor))
    sizes = [int(valid[(0,) * valid.ndim])]
    for h, axis in interpolation_passes(valid.shape):
        view = pass_view(valid, h, axis)
        sizes.append(int(view[_targets(view, axis)].sum()))
    return sizes


def interpolation_fit(e: np.ndarray, valid: np.ndarray, step: float, predictor: int) -> tuple[np.ndarray, np.ndarray]:
    """(symbols k (n valid,) int64, decoded residuals (F, ny, nx) float64) of target residuals e with
    closed-loop interpolation over the predictor's axis order: pass after pass, k = round((e -
    prediction) / step) at the valid points and decoded = prediction + step * k (prediction alone
    where a value is missing), so that |e - decoded| <= step / 2 + rounding at every valid point."""
    order = _order(predictor)
    e, valid = e.transpose(order), valid.transpose(order)
    out = np.zeros(e.shape, np.float64)
    parts = []

    def code(prediction, target, ok):
        k = np.where(ok, np.rint((target - prediction) / step), 0.0).astype(np.int64)
        parts.append(k[ok])
        return prediction + step * k

    anchor = (0,) * e.ndim
    out[anchor] = code(np.zeros(1), e[anchor].reshape(1), valid[anchor].reshape(1))[0]
    for h, axis in interpolation_passes(e.shape):
        view = pass_view(out, h, axis)
        index = _targets(view, axis)
        view[index] = code(interpolate(view, axis), pass_view(e, h, axis)[index], pass_view(valid, h, axis)[index])
    return np.concatenate(parts), np.ascontiguousarray(out.transpose(np.argsort(order)))


def _uninterpolate(k: np.ndarray, valid: np.ndarray, step: float, predictor: int) -> np.ndarray:
    order = _order(predictor)
    valid = valid.transpose(order)
    out = np.zeros(valid.shape, np.float64)
    used = 0

    def code(prediction, ok):
        nonlocal used
        n = int(ok.sum())
        values = np.zeros(ok.shape, np.int64)
        values[ok] = k[used : used + n]
        used += n
        return prediction + step * values

    anchor = (0,) * valid.ndim
    out[anchor] = code(np.zeros(1), valid[anchor].reshape(1))[0]
    for h, axis in interpolation_passes(valid.shape):
        view = pass_view(out, h, axis)
        index = _targets(view, axis)
        view[index] = code(interpolate(view, axis), pass_view(valid, h, axis)[index])
    return np.ascontiguousarray(out.transpose(np.argsort(order)))


def fit(e: np.ndarray, valid: np.ndarray, step: float, predictor: int) -> tuple[np.ndarray, np.ndarray]:
    """(symbols (n,) int64, decoded residuals (F, ny, nx) float64) of target residuals e (F, ny, nx)
    under a predictor: |e - decoded| <= step / 2 (up to float64 rounding) at every valid point."""
    if is_interpolation(predictor):
        return interpolation_fit(e, valid, step, predictor)
    r = np.where(valid, np.rint(e / step), 0.0).astype(np.int64)
    if predictor == PREDICT_NONE:
        return r[valid], step * r
    return lorenzo(r).reshape(-1), step * r


def least_shift(d: np.ndarray) -> int:
    """The smallest shift that brings every d >> shift within the range coder's alphabet."""
    peak = int(np.abs(d).max(initial=0))
    shift = 0
    while (peak >> shift) > range_coder.SYMBOL_MAX - 1:  # -(x >> s) can be one above (x >> s) in magnitude.
        shift += 1
    return shift


def _high_coding(high: np.ndarray, local: bool = True) -> tuple[int, int, float]:
    """(scale index, context byte, bits) that code the high parts in fewest bits (local scales tried
    only if `local`: their search costs ~30 passes over the symbols)."""
    if not high.any():
        return 0, 0, 0.0
    bits = range_coder.bits_by_scale(high)
    plain = 1 + int(np.argmin(bits))
    if local and high.size >= 4 * range_coder.CONTEXT_WINDOW:
        floor, context, local_bits = range_coder.best_local_scale(high[:, None], plain)
        if local_bits < bits[plain - 1]:
            return floor, context, local_bits
    return plain, 0, float(bits[plain - 1])


def choose(e: np.ndarray, valid: np.ndarray, step: float) -> tuple[tuple, np.ndarray, np.ndarray]:
    """((predictor, shift, scale index, context byte, scale groups), symbols, decoded residuals) that
    code target residuals e (F, ny, nx) with `step` in few bits.

    Every predictor and shift is costed with one scale (or one per pass); local scales are then
    tried for the cheapest only. Raises ValueError if every predictor needs a shift beyond MAX_SHIFT.
    """
    candidates, seen = [], set()
    for predictor in PREDICTORS:
        if is_interpolation(predictor):  # Axes of size 1 do not change the passes: skip equivalent orders.
            key = tuple(a for a in _order(predictor) if e.shape[a] > 1)
            if key in seen:
                continue
            seen.add(key)
        d, decoded = fit(e, valid, step, predictor)
        sizes = group_sizes(valid, predictor) if is_interpolation(predictor) else None  # Once, not per shift.
        least = least_shift(d)
        for shift in range(least, min(least + 2, MAX_SHIFT) + 1):  # A larger shift can cost fewer bits.
            index, context, bits = _high_coding(d >> shift, local=False)
            options = [(bits, (index, context, ()))]
            if is_interpolation(predictor):
                groups, grouped = _group_coding(d >> shift, sizes)
                options.append((grouped / GROUP_PREFERENCE, (0, 0, groups)))  # Decodes far faster than local scales.
            bits, (index, context, groups) = min(options, key=lambda o: o[0])
            candidates.append((bits + shift * d.size, (predictor, shift, index, context, groups), d, decoded))
    if not candidates:
        raise ValueError("residuals too large for the error-bounded coder")
    total, (predictor, shift, index, context, groups), d, decoded = min(candidates, key=lambda c: c[0])
    local_index, local_context, local_bits = _high_coding(d >> shift)
    if local_context and local_bits + shift * d.size < total / (GROUP_PREFERENCE if groups else 1.0):
        index, context, groups = local_index, local_context, ()
    return (predictor, shift, index, context, groups), d, decoded


def _group_coding(high: np.ndarray, sizes: list[int]) -> tuple[tuple[int, ...], float]:
    """(scale index per group, bits with the group bytes) of high parts split into groups of `sizes`."""
    indices, bits = [], 8.0 * len(sizes)
    for part in np.split(high, np.cumsum(sizes)[:-1]):
        if not part.any():
            indices.append(0)
            continue
        by_scale = range_coder.bits_by_scale(part)
        indices.append(1 + int(np.argmin(by_scale)))
        bits += float(by_scale.min())
    return tuple(indices), bits


def encode(d: np.ndarray, shift: int, index: int, context: int, groups: tuple[int, ...] = (),
           sizes: list[int] | None = None) -> tuple[bytes, bytes]:
    """(range-coded high parts, packed low bits) of symbols d (n,) with the chosen coding; with
    `groups`, one scale index per group of `sizes` symbols."""
    high = d >> shift
    if groups:
        parts = [part[:, None] for part in np.split(high, np.cumsum(sizes)[:-1])]
        stream = range_coder.encode(parts, list(groups)) if any(groups) else b""
    else:
        stream = range_coder.encode([high[:, None]], [index], [context]) if index else b""
    return stream, _pack_low(d, shift)


def _pack_low(d: np.ndarray, shift: int) -> bytes:
    if shift == 0:
        return b""
    out = []
    weights = np.arange(shift, dtype=np.int64)
    for start in range(0, d.size, RAW_CHUNK):  # RAW_CHUNK * shift bits: whole bytes per chunk.
        low = d[start : start + RAW_CHUNK] & ((1 << shift) - 1)
        out.append(np.packbits(((low[:, None] >> weights) & 1).astype(np.uint8).reshape(-1), bitorder="little"))
    return b"".join(a.tobytes() for a in out)


def _unpack_low(raw: bytes, count: int, shift: int) -> np.ndarray:
    low = np.zeros(count, np.int64)
    if shift == 0:
        return low
    weights = np.int64(1) << np.arange(shift, dtype=np.int64)
    data = np.frombuffer(raw, np.uint8)
    per_chunk = RAW_CHUNK * shift // 8
    for j, start in enumerate(range(0, count, RAW_CHUNK)):
        n = min(RAW_CHUNK, count - start)
        bits = np.unpackbits(data[j * per_chunk : j * per_chunk + -(-n * shift // 8)], bitorder="little")
        low[start : start + n] = bits[: n * shift].reshape(n, shift).astype(np.int64) @ weights
    return low


def decode(header: ResidualHeader, stream: bytes, raw: bytes, valid: np.ndarray) -> np.ndarray:
    """Inverse of `encode`, then of `fit`: the decoded residuals (F, ny, nx) float64."""
    count = header.coded_count(valid)
    if len(stream) != header.stream_bytes or len(raw) != header.raw_bytes(count):
        raise FormatError("error-bounded residual payload has the wrong length")
    d = np.zeros(count, np.int64)
    sizes = group_sizes(valid, header.predictor) if header.groups else [count]
    if len(sizes) != max(1, len(header.groups)):
        raise FormatError(f"the file has {len(header.groups)} residual scale groups, the field needs {len(sizes)}")
    scales, contexts = (list(header.groups), []) if header.groups else ([header.scale_index], [header.context])
    if any(scales):
        try:
            high = range_coder.decode(stream, [(n, 1) for n in sizes], scales, contexts)
        except (ValueError, RuntimeError, KeyError, AssertionError) as e:
            raise FormatError(f"error-bounded residual payload is invalid ({e})") from None
        d += np.concatenate([h.reshape(-1) for h in high]).astype(np.int64) << header.shift
    d += _unpack_low(raw, count, header.shift)
    with np.errstate(over="ignore", invalid="ignore"):  # A hostile file may decode to inf: not an error.
        if is_interpolation(header.predictor):
            return _uninterpolate(d, valid, header.step, header.predictor)
        if header.predictor == PREDICT_NONE:
            r = np.zeros(valid.shape, np.int64)
            r[valid] = d
        else:
            r = unlorenzo(d.reshape(valid.shape))
        return header.step * r
