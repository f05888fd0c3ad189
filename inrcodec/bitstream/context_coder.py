"""Context coding of 2-D latent levels with shared probability tables (entropy models 4 and 5).

Each latent's distribution is a row of a table that ships with the base network (zero bytes per
file), picked by an integer context formed from already-decoded neighbours in its plane (model 4:
left, top-left, top, top-right; model 5: those and the latents two to the left and two above), the
magnitude of the co-located latent one level coarser, and the sign of left + top. Model 5 also adapts
each row to the signal: after each wavefront, the counts of the symbols coded so far in the level are
added to the shipped row (weighted ADAPTIVE_WEIGHT) in integer arithmetic. Levels are coded coarsest
first; in a level channel after channel, each plane in wavefronts t = 2 i + j: a latent depends only
on earlier wavefronts, so the decoder decodes a whole wavefront in one call. Values beyond +-RANGE
are an escape symbol (one per sign), and all escaped values of a level follow its symbols, coded with
the level's plain Laplace model (its scale byte). Contexts use values clipped to +-(RANGE + 1), so the
escapes are not needed to form them. Integers and exact dyadic probabilities only: decoding is the
same on every CPU. numpy and constriction only; see SPEC.md.
"""

from __future__ import annotations

import functools

import constriction
import numpy as np

from inrcodec.bitstream import range_coder

RANGE = 15  # Symbols -RANGE..RANGE are coded directly; larger magnitudes escape.
ALPHABET = 2 * RANGE + 3  # -RANGE..RANGE, then the negative and the positive escape.
ESCAPE_NEGATIVE, ESCAPE_POSITIVE = 2 * RANGE + 1, 2 * RANGE + 2
NEIGHBOUR_EDGES = (1, 2, 3, 4, 6, 9, 14, 22)  # Model 4: bucket of the 4 neighbours' summed magnitude n: #edges <= n.
NEAR_EDGES = (1, 2, 3, 4, 6, 9, 14)  # Model 5: bucket of |left| + |top|.
FAR_EDGES = (1, 2, 4, 7, 11, 18)  # Model 5: bucket of |top-left| + |top-right| + |left-left| + |top-top|.
COARSE_EDGES = (1, 2, 4)  # Bucket of the co-located coarser magnitude.
SIGNS = 3  # sign(left + top) + 1.
CONTEXTS = (len(NEIGHBOUR_EDGES) + 1) * (len(COARSE_EDGES) + 1) * SIGNS  # Model 4: 108.
ADAPTIVE_CONTEXTS = (len(NEAR_EDGES) + 1) * (len(FAR_EDGES) + 1) * (len(COARSE_EDGES) + 1) * SIGNS  # Model 5: 672.
CONTEXTS_OF_MODEL = {4: CONTEXTS, 5: ADAPTIVE_CONTEXTS}
ADAPTIVE_WEIGHT = 32  # Model 5: the shipped row weighs as much as this many coded symbols.
TABLE_BITS = 16  # Every table row holds integer frequencies >= 1 summing to 2**TABLE_BITS.
CHUNK = 1 << 16  # Symbols per coder call when encoding (bounds the probability arrays' memory).


def check_tables(tables: np.ndarray, levels: int) -> np.ndarray:
    """Validates shipped tables: int (levels, CONTEXTS or ADAPTIVE_CONTEXTS, ALPHABET), entries >= 1,
    rows summing to 2**TABLE_BITS. Their number of contexts says which entropy model they serve."""
    tables = np.asarray(tables)
    if (tables.ndim != 3 or tables.shape[0] != levels or tables.shape[1] not in (CONTEXTS, ADAPTIVE_CONTEXTS)
            or tables.shape[2] != ALPHABET or tables.dtype.kind not in "iu"):
        raise ValueError(f"context tables must be int ({levels}, {CONTEXTS} or {ADAPTIVE_CONTEXTS}, {ALPHABET}), "
                         f"got {tables.dtype} {tables.shape}")
    if tables.min() < 1 or np.any(tables.sum(axis=-1, dtype=np.int64) != 1 << TABLE_BITS):
        raise ValueError(f"context table rows must be positive and sum to 2**{TABLE_BITS}")
    return tables.astype(np.int64)


def entropy_model(tables: np.ndarray) -> int:
    """The entropy model that checked tables serve: 4 (static rows) or 5 (adaptive rows, richer contexts)."""
    return 5 if np.shape(tables)[1] == ADAPTIVE_CONTEXTS else 4


def frequencies(probabilities: np.ndarray) -> np.ndarray:
    """Rows of probabilities (..., ALPHABET) -> integer frequencies >= 1 summing to 2**TABLE_BITS
    (the remainder of the rounding goes to each row's most probable symbol)."""
    p = np.asarray(probabilities, np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    f = 1 + np.floor(p * ((1 << TABLE_BITS) - ALPHABET)).astype(np.int64)
    top = np.argmax(p, axis=-1)
    np.put_along_axis(f, top[..., None], np.take_along_axis(f, top[..., None], -1) + (1 << TABLE_BITS) - f.sum(-1, keepdims=True), -1)
    return f


@functools.cache
def _bucket_lookup(edges: tuple[int, ...], largest: int) -> np.ndarray:
    """b[n] = number of edges <= n, for n in 0..largest."""
    return np.searchsorted(np.asarray(edges), np.arange(largest + 1), side="right").astype(np.int64)


_NEIGHBOURS = _bucket_lookup(NEIGHBOUR_EDGES, 4 * (RANGE + 1))
_NEAR = _bucket_lookup(NEAR_EDGES, 2 * (RANGE + 1))
_FAR = _bucket_lookup(FAR_EDGES, 4 * (RANGE + 1))
_COARSE = _bucket_lookup(COARSE_EDGES, RANGE + 1)
# Planes are zero-padded with PAD_TOP rows above, PAD_LEFT columns left and one column right.
PAD_TOP, PAD_LEFT = 2, 2


def _clipped(plane: np.ndarray) -> np.ndarray:
    return np.clip(plane, -(RANGE + 1), RANGE + 1).astype(np.int64)


def _coarse_buckets(coarse: np.ndarray | None, h: int, w: int) -> np.ndarray:
    """(h, w) bucket of each latent's co-located coarser latent (cell (i // 2, j // 2)); 0 without one."""
    if coarse is None:
        return np.zeros((h, w), np.int64)
    return _COARSE[np.abs(_clipped(coarse))][np.arange(h)[:, None] // 2, np.arange(w)[None, :] // 2]


def _context(model: int, left, top_left, top, top_right, left_left, top_top, coarse_bucket):
    """Context index of latents from their clipped neighbours (int64 arrays) and coarser bucket."""
    if model == 5:
        near = _NEAR[np.abs(left) + np.abs(top)]
        far = _FAR[np.abs(top_left) + np.abs(top_right) + np.abs(left_left) + np.abs(top_top)]
        ctx = (near * (len(FAR_EDGES) + 1) + far) * (len(COARSE_EDGES) + 1) + coarse_bucket
    else:
        n = np.abs(left) + np.abs(top_left) + np.abs(top) + np.abs(top_right)
        ctx = _NEIGHBOURS[n] * (len(COARSE_EDGES) + 1) + coarse_bucket
    return ctx * SIGNS + np.sign(left + top) + 1


def _neighbours(padded: np.ndarray, i, j) -> tuple:
    """(left, top-left, top, top-right, left-left, top-top) of latents (i, j) of a padded plane, as int64."""
    i, j = i + PAD_TOP, j + PAD_LEFT
    return tuple(padded[i + di, j + dj].astype(np.int64) for di, dj in ((0, -1), (-1, -1), (-1, 0), (-1, 1), (0, -2), (-2, 0)))


def _padded(plane: np.ndarray, dtype=np.int64) -> np.ndarray:
    h, w = plane.shape
    p = np.zeros((h + PAD_TOP, w + PAD_LEFT + 1), dtype)
    p[PAD_TOP:, PAD_LEFT:-1] = np.clip(plane, -(RANGE + 1), RANGE + 1)
    return p


def plane_contexts(plane: np.ndarray, coarse: np.ndarray | None, model: int = 4) -> np.ndarray:
    """Context index (h, w) of every latent of an int plane (h, w) under entropy `model`, given the
    coarser plane (ceil(h/2), ceil(w/2))."""
    h, w = plane.shape
    i, j = np.arange(h)[:, None], np.arange(w)[None, :]
    return _context(model, *_neighbours(_padded(plane), i, j), _coarse_buckets(coarse, h, w))


class _Rows:
    """The probability rows of one level's contexts as coding goes: the shipped rows (model 4), or
    those rows plus the counts of the level's symbols coded so far (model 5, updated per wavefront)."""

    def __init__(self, table: np.ndarray, model: int):
        self.adaptive = model == 5
        self.probabilities = table / float(1 << TABLE_BITS)  # Exact: dyadic. Model 5 rewrites the rows it updates.
        if self.adaptive:
            self.prior = table * ADAPTIVE_WEIGHT
            self.counts = np.zeros_like(table)
            self.totals = np.zeros(len(table), np.int64)
            self._refresh(np.arange(len(table)))

    def __call__(self, ctx: np.ndarray) -> np.ndarray:
        """Probabilities (len(ctx), ALPHABET), float64 multiples of 2**-TABLE_BITS (exact)."""
        return self.probabilities[ctx]

    def update(self, ctx: np.ndarray, symbols: np.ndarray) -> None:
        """Counts the symbols of one wavefront (model 5), and recomputes the rows of their contexts."""
        if self.adaptive:
            np.add.at(self.counts, (ctx, symbols), 1)
            seen = np.bincount(ctx, minlength=len(self.totals))
            self.totals += seen
            self._refresh(np.flatnonzero(seen))

    def _refresh(self, used: np.ndarray) -> None:
        v = self.prior[used] + (self.counts[used] << TABLE_BITS)  # < 2**43: int64 products stay exact.
        total = (ADAPTIVE_WEIGHT + self.totals[used]) << TABLE_BITS  # The sum of each row of v.
        f = 1 + v * ((1 << TABLE_BITS) - ALPHABET) // total[:, None]
        f[np.arange(used.size), np.argmax(v, axis=-1)] += (1 << TABLE_BITS) - f.sum(axis=-1)  # First largest.
        self.probabilities[used] = f / float(1 << TABLE_BITS)


def symbols_of(plane: np.ndarray) -> np.ndarray:
    """Alphabet index of every latent: value + RANGE, or an escape."""
    v = np.asarray(plane, np.int64)
    return np.where(v > RANGE, ESCAPE_POSITIVE, np.where(v < -RANGE, ESCAPE_NEGATIVE, v + RANGE))


@functools.cache
def wavefronts(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(flat indices of an (h, w) plane in coding order, start of each wavefront t = 2 i + j in it)."""
    i, j = np.divmod(np.arange(h * w), w)
    order = np.lexsort((i, 2 * i + j))
    starts = np.searchsorted((2 * i + j)[order], np.arange(2 * (h - 1) + w))
    return order, starts


def planes_of(levels: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Per level (*grid, C) -> its C planes (h, w)."""
    return [[np.asarray(q)[..., c] for c in range(q.shape[-1])] for q in levels]


def coarser_plane(planes: list[list[np.ndarray]], k: int, c: int) -> np.ndarray | None:
    if k + 1 >= len(planes):
        return None
    above = planes[k + 1]
    return above[min(c, len(above) - 1)]


def encode_levels(encoder, levels: list[np.ndarray], scale_indices: list[int], tables: np.ndarray) -> None:
    """Appends 2-D levels (*grid (h, w), C), finest first as stored, to a constriction RangeEncoder.

    Levels whose scale index is 0 are all zero and skipped. See the module docstring for the order.
    Memory: an int8 copy of one plane plus CHUNK symbols' worth of arrays, whatever the plane's size.
    """
    planes = planes_of(levels)
    number = entropy_model(tables)
    categorical = constriction.stream.model.Categorical(perfect=False)
    for k in reversed(range(len(levels))):
        if scale_indices[k] == 0:
            continue
        rows, escaped = _Rows(tables[k], number), []
        for c, plane in enumerate(planes[k]):
            h, w = plane.shape
            padded = _padded(plane, np.int8)
            above = coarser_plane(planes, k, c)
            coarse = None if above is None else _COARSE.astype(np.int8)[np.minimum(np.abs(above), RANGE + 1)]
            for i, j in wavefront_chunks(h, w, 1 if rows.adaptive else CHUNK):  # Adaptive rows change per wavefront.
                ctx = _context(number, *_neighbours(padded, i, j), 0 if coarse is None else coarse[i // 2, j // 2].astype(np.int64))
                values = np.asarray(plane[i, j], np.int64)
                symbols = symbols_of(values)
                encoder.encode(symbols.astype(np.int32), categorical, rows(ctx))
                rows.update(ctx, symbols)
                escaped.append(values[np.abs(values) > RANGE])
        _code_escapes(encoder, np.concatenate(escaped), scale_indices[k])


def wavefront_chunks(h: int, w: int, size: int):
    """The (i, j) of an (h, w) plane in coding order (wavefronts t = 2 i + j, i ascending in each), as
    successive pairs of arrays of whole wavefronts, about `size` latents each (at least one wavefront)."""
    per_wavefront = min(h, w // 2 + 1)
    step = max(1, size // per_wavefront)
    for t0 in range(0, 2 * (h - 1) + w, step):
        t = np.arange(t0, min(t0 + step, 2 * (h - 1) + w))
        lo = np.maximum(0, (t - w + 2) // 2)
        count = np.minimum(h - 1, t // 2) + 1 - lo
        first = np.repeat(lo - np.cumsum(count) + count, count)  # Per latent: its wavefront's i_lo minus its offset.
        i = first + np.arange(count.sum())
        yield i, np.repeat(t, count) - 2 * i


def _code_escapes(coder, values: np.ndarray, scale_index: int) -> None:
    if values.size:
        b = np.full(values.shape, range_coder.scale_from_index(scale_index), np.float64)
        coder.encode(values.astype(np.int32), range_coder.laplace_model(), np.zeros_like(b), b)


def wavefront(t: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) of wavefront t = 2 i + j of an (h, w) plane in coding order (i ascending): the part of
    `wavefronts`'s order for t, without forming the order of the whole plane."""
    i = np.arange(max(0, (t - w + 2) // 2), min(h - 1, t // 2) + 1)
    return i, t - 2 * i


def decode_levels(decoder, shapes: list[tuple[int, ...]], scale_indices: list[int], tables: np.ndarray) -> list[np.ndarray]:
    """Inverse of `encode_levels`: int32 levels of the given shapes (*grid (h, w), C), finest first.

    Index arrays are per wavefront, never per plane: a plane of n latents needs, besides the levels,
    n bytes of clipped values and n / 4 bytes of coarser buckets.
    """
    number = entropy_model(tables)
    categorical = constriction.stream.model.Categorical(perfect=False)
    planes = [[np.zeros(s[:2], np.int32) for _ in range(s[-1])] for s in shapes]
    for k in reversed(range(len(shapes))):
        if scale_indices[k] == 0:
            continue
        rows, escaped = _Rows(tables[k], number), []
        for c, plane in enumerate(planes[k]):
            h, w = plane.shape
            above = coarser_plane(planes, k, c)
            if above is not None:  # Bucket of (i // 2, j // 2) = (i // 2, t // 2 - i): at cell[i] + t // 2.
                coarse = _COARSE.astype(np.int8)[np.minimum(np.abs(above), RANGE + 1)].reshape(-1)
                cell = np.arange(h) // 2 * above.shape[1] - np.arange(h)
            # Clipped values, padded as in plane_contexts; int8 holds them and their sums of four.
            row = w + PAD_LEFT + 1
            padded = np.zeros((h + PAD_TOP) * row, np.int8)
            flat, fronts = plane.reshape(-1), []
            at_plane = np.arange(h) * (w - 2)  # (i, t - 2 i) is at i (w - 2) + t in the plane.
            # (i + PAD_TOP, t - 2 i + PAD_LEFT) of the padded plane is at i (row - 2) + t + PAD_TOP row + PAD_LEFT:
            # row - 2 apart along the wavefront; its neighbours at these offsets.
            offsets = (-1, -row - 1, -row, -row + 1, -2, -2 * row)
            stride = row - 2
            for t in range(2 * (h - 1) + w):
                first, last = max(0, (t - w + 2) // 2), min(h - 1, t // 2)
                n = max(0, last - first + 1)
                at = first * stride + t + PAD_TOP * row + PAD_LEFT
                neighbours = (padded[at + o : at + o + n * stride : stride].astype(np.int64) for o in offsets)
                bucket = 0 if above is None else coarse[cell[first : last + 1] + t // 2].astype(np.int64)
                ctx = _context(number, *neighbours, bucket)
                s = np.asarray(decoder.decode(categorical, rows(ctx)), np.int64)
                rows.update(ctx, s)
                flat[at_plane[first : last + 1] + t] = s - RANGE  # Escapes (RANGE + 1, RANGE + 2 here) are replaced below.
                padded[at : at + n * stride : stride] = np.where(s == ESCAPE_POSITIVE, RANGE + 1, np.where(s == ESCAPE_NEGATIVE, -RANGE - 1, s - RANGE))
                if n and s.max() >= ESCAPE_NEGATIVE:
                    fronts.append(t)
            escaped.append((plane, fronts))
        _decode_escapes(decoder, escaped, scale_indices[k])
    return [level[0][..., None] if len(level) == 1 else np.stack(level, axis=-1) for level in planes]


def _decode_escapes(decoder, planes: list[tuple[np.ndarray, list[int]]], scale_index: int) -> None:
    """Reads a level's escaped latents into its planes ((plane, its wavefronts holding an escape)) in
    coding order, one coder call per such wavefront (the decoder gives what one call would)."""
    scale = range_coder.scale_from_index(scale_index)
    for plane, fronts in planes:
        h, w = plane.shape
        flat = plane.reshape(-1)
        for t in fronts:
            i, j = wavefront(t, h, w)
            at = (i * w + j)[flat[i * w + j] > RANGE]
            got = range_coder.decode_plain(decoder, at.size, scale)
            if np.any(np.where(flat[at] + RANGE == ESCAPE_POSITIVE, got <= RANGE, got >= -RANGE)):
                raise ValueError("an escaped latent does not match its escape symbol")
            flat[at] = got


def level_bits(levels: list[np.ndarray], scale_indices: list[int], tables: np.ndarray) -> float:
    """Information content (bits) of the levels under the tables, escapes included (no coder overhead)."""
    planes = planes_of(levels)
    number = entropy_model(tables)
    bits = 0.0
    for k in range(len(levels)):
        if scale_indices[k] == 0:
            continue
        rows = _Rows(tables[k], number)
        for c, plane in enumerate(planes[k]):
            ctx, symbols = plane_contexts(plane, coarser_plane(planes, k, c), number), symbols_of(plane)
            for i, j in wavefront_chunks(*plane.shape, 1 if rows.adaptive else CHUNK):
                probabilities = rows(ctx[i, j])
                bits -= float(np.sum(np.log2(probabilities[np.arange(i.size), symbols[i, j]])))
                rows.update(ctx[i, j], symbols[i, j])
            escaped = plane[np.abs(plane) > RANGE]
            if escaped.size:
                bits += range_coder.coded_bits(escaped, scale_indices[k])
    return bits


def encode(levels: list[np.ndarray], scale_indices: list[int], tables: np.ndarray,
           weights: list[np.ndarray] = (), weight_scale_indices: list[int] = ()) -> bytes:
    """The payload of entropy model 4 or 5 (as `tables` serve): the latent levels by context, then the
    weight deltas as model 1."""
    encoder = constriction.stream.queue.RangeEncoder()
    encode_levels(encoder, levels, scale_indices, tables)
    range_coder.encode_into(encoder, list(weights), list(weight_scale_indices))
    return range_coder.to_bytes(encoder)


def decode(payload: bytes, shapes: list[tuple[int, ...]], scale_indices: list[int], tables: np.ndarray,
           weight_shapes: list[tuple[int, ...]] = (), weight_scale_indices: list[int] = ()) -> list[np.ndarray]:
    """Inverse of `encode`: the int32 latent levels, then the weight deltas."""
    decoder = range_coder.decoder_of(payload)
    levels = decode_levels(decoder, shapes, scale_indices, tables)
    return levels + range_coder.decode_from(decoder, list(weight_shapes), list(weight_scale_indices))


def escape_scale_index(level: np.ndarray) -> int:
    """The scale byte of a non-zero level under entropy model 4: the best Laplace scale of its escaped
    latents (1 when none escapes, as 0 would mean an all-zero level)."""
    escaped = np.asarray(level)[np.abs(level) > RANGE]
    return range_coder.best_scale_index(escaped) if escaped.size else 1
