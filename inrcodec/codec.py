"""Modality-free coding of signals: fit (core.encoder), quantize, choose scales, range-code; and back.

`encode_signal` codes one signal with its own coding fields (and weight deltas, local scales);
`encode_batch` codes N same-shaped signals with shared coding fields (climate stacks, datasets).
Both run the one encoder fit (a single signal is a batch of one) and the one synthesis path.
The decoding side (`decode_signal` / `decode_batch`, numpy only) is inrcodec.decoder; the encoder
reports the reconstruction it gives. The modality plug-ins (inrcodec.modalities) wrap this with their
headers and file readers and writers.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from inrcodec.bitstream import context_coder, range_coder
from inrcodec.bitstream.coding import CodingHeader, quant_step
from inrcodec.core import bases, encoder, objective, rate, synthesis
from inrcodec.decoder import network, reconstruct_batch
from inrcodec.core.config import EFFORT_STEPS, QUALITY_LAMBDAS, QUALITY_STEP_INDEX, FitConfig, grid_shapes
from inrcodec.errors import InputError

LOCAL_GAIN_INIT = 1.3  # A local scale starts at 1.3x the mean |latent| of its window (typical of speech).
FIT_CHUNK = 50  # Steps per compiled call (progress is reported between calls).
# 2-D signals of more samples are fitted a tile at a time (`fit_in_tiles`): the fit's memory (~120 bytes a
# sample, meta/README.md "Hardening") is then that of a tile, whatever the size of the image.
TILED_FIT_SAMPLES = 1 << 22
TILE = 1024  # Side of a tile's own samples (a multiple of the coarsest stride of every shipped base).
TILE_MARGIN_CELLS = 2  # Coarsest cells fitted on each side of a tile's own samples, then dropped.
Progress = Callable[[int, int], None]


@dataclasses.dataclass(frozen=True)
class Coded:
    """One coded signal: its coding header, its payload and the decoder's reconstruction."""

    header: CodingHeader
    payload: bytes
    values: np.ndarray  # (*signal_shape, out_channels) in [0, 1] (or `convert`ed), exactly what decode_signal gives.


def default_fit(base: bases.Base, steps: int | None = None, effort: str | None = None) -> FitConfig:
    """The encoder schedule a base asks for in its manifest ("fit"), else the default one; with `steps`,
    that many refinement steps instead, split between the noise and rounding phases as the schedule splits them.
    Without `steps`, an `effort` (EFFORT_STEPS) is the manifest's schedule for it ("efforts"), else its steps."""
    fit = FitConfig(**base.manifest.get("fit", {}))
    if effort is not None and effort not in EFFORT_STEPS:
        raise InputError(f"effort must be one of {', '.join(EFFORT_STEPS)}, got {effort!r}")
    if steps is None and effort is not None:
        schedule = base.manifest.get("efforts", {}).get(effort)
        if schedule is not None:
            return dataclasses.replace(fit, **schedule)
        steps = EFFORT_STEPS[effort]
    if steps is None:
        return fit
    if steps < 0:
        raise InputError(f"the number of fit steps (--fit-steps) must be >= 0, got {steps}")
    ste = steps * fit.ste_steps // max(1, fit.noise_steps + fit.ste_steps)
    return dataclasses.replace(fit, noise_steps=steps - ste, ste_steps=ste)


def problem(base: bases.Base, quality: int, weight_deltas: bool, fit_cfg: FitConfig,
            local_scales: bool = False) -> tuple[encoder.Problem, int, int]:
    """The fit problem of a quality level, with its latent and weight step indices (0: no deltas)."""
    step_index = quality_step_index(base, quality)
    priced = fit_cfg.context_rate and not local_scales and base.cfg.spatial_dims == 2  # Tables code 2-D levels.
    tables = base.context_tables if priced else None
    weight_index = fit_cfg.weight_step_index if weight_deltas and base.manifest.get("weight_deltas", True) else 0
    return encoder.Problem(
        base.params, base.cfg, quality_lambda(base, quality), quant_step(step_index),
        quant_step(weight_index) if weight_index else None, local_scales, int(base.manifest.get("inner_steps", 3)),
        None if tables is None else rate.code_lengths(tables), fit_cfg.zero_levels if step_index == 0 else 0,
    ), step_index, weight_index


def to_ints(values) -> np.ndarray:
    return np.clip(np.round(np.asarray(values)), -range_coder.SYMBOL_MAX, range_coder.SYMBOL_MAX).astype(np.int32)


def quality_lambda(base: bases.Base, quality: int) -> float:
    """The rate weight of a quality level: the base's own ladder if its manifest has one."""
    ladder = {int(k): float(v) for k, v in base.manifest.get("quality_lambdas", QUALITY_LAMBDAS).items()}
    if quality not in ladder:
        raise InputError(f"quality must be one of {sorted(ladder)}, got {quality}")
    return ladder[quality]


def quality_step_index(base: bases.Base, quality: int) -> int:
    ladder = {int(k): int(v) for k, v in base.manifest.get("quality_step_index", QUALITY_STEP_INDEX).items()}
    return ladder.get(quality, 0)


def encode_signal(
    signal: dict,
    base: bases.Base,
    quality: int,
    fit_cfg: FitConfig = FitConfig(),
    seed: int = 0,
    progress: Progress | None = None,
    local_scales: bool = False,
    out: np.ndarray | None = None,
    convert: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Coded:
    """Fits, quantizes and entropy-codes one signal; also returns what the decoder will produce.

    With `local_scales`, levels are coded with local scales (entropy model 3) where that saves bits.
    With `out` and `convert`, the reconstruction is converted band by band into `out` (as the
    decoder's `decode_signal` does), which becomes `Coded.values`.
    """
    fit_problem, step_index, weight_index = problem(base, quality, True, fit_cfg, local_scales)
    step, weight_step = fit_problem.step, fit_problem.weight_step
    shape = signal["values"].shape[:-1]
    if base.cfg.spatial_dims == 2 and int(np.prod(shape)) > TILED_FIT_SAMPLES:
        ints, deltas = fit_in_tiles(fit_problem, signal, seed, fit_cfg, progress)
    else:
        batch = {k: np.asarray(v)[None] for k, v in signal.items()}  # One signal: a batch of one.
        key = np.asarray(jax.random.PRNGKey(seed))[None]  # numpy: indexing JAX arrays compiles a program each.
        mods = encoder.fit_signals(fit_problem, batch, key, fit_cfg, progress)
        mods = jax.tree_util.tree_map(lambda x: np.asarray(x)[0], mods)
        ints = [to_ints(y) for y in mods["latents"]]
        deltas = [to_ints(d) for d in jax.tree_util.tree_leaves(mods["delta"])] if weight_step else []
    scale_indices = [range_coder.best_scale_index(q) for q in ints]
    if local_scales:
        scale_indices, contexts = local_scale_coding(ints, scale_indices)
    else:
        contexts = []
    weight_scale_indices = [range_coder.best_scale_index(d) for d in deltas]
    payload = range_coder.encode(ints + deltas, scale_indices + weight_scale_indices, contexts)
    header = CodingHeader(step_index, weight_index, tuple(scale_indices), tuple(weight_scale_indices),
                          contexts=tuple(contexts))
    if base.context_tables is not None and not contexts and all(q.ndim == 3 for q in ints):
        escape_scales = [context_coder.escape_scale_index(q) if index else 0 for q, index in zip(ints, scale_indices)]
        by_context = context_coder.encode(ints, escape_scales, base.context_tables, deltas, weight_scale_indices)
        if len(by_context) < len(payload):  # Entropy model 4 or 5 where the tables beat one Laplace per level.
            payload = by_context
            header = dataclasses.replace(header, scale_indices=tuple(escape_scales),
                                         context_model=context_coder.entropy_model(base.context_tables))
    net = network(base, deltas if weight_step else None, weight_step or 1.0)
    inputs = signal.get("inputs")
    values = synthesis.reconstruct(net, ints, signal["values"].shape[:-1], base.cfg, step,
                                   None if inputs is None else np.asarray(inputs), out=out, convert=convert)
    return Coded(header, payload, np.asarray(values))


def tile_spans(n: int, tile: int, margin: int, align: int) -> list[tuple[int, int, int, int]]:
    """Along an axis of n samples: per tile (start, end) of its own samples and (lo, hi) of those fitted.

    Windows are tile + 2 margin samples (n if fewer), moved inward at the ends (lo a multiple of `align`,
    the last ones up to align - 1 longer): at most two window lengths per axis, so at most four compiled fits.
    """
    window = tile + 2 * margin
    if n <= window:
        return [(a, min(a + tile, n), 0, n) for a in range(0, n, tile)]
    last = (n - window) // align * align
    spans = []
    for a in range(0, n, tile):
        lo = min(max(0, a - margin), last)
        spans.append((a, min(a + tile, n), lo, n if lo == last else lo + window))
    return spans


def fit_in_tiles(fit_problem: encoder.Problem, signal: dict, seed: int, fit_cfg: FitConfig,
                 progress: Progress | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(integer latents per level (*grid, c) as int16, integer weight deltas) of a 2-D signal fitted a
    tile at a time.

    Tiles are TILE x TILE samples starting at multiples of TILE, each fitted in a window of at least
    TILE_MARGIN_CELLS coarsest cells more on every side (`tile_spans`; windows start at multiples of
    the coarsest stride, so their grids are blocks of the signal's grids) whose latents are dropped:
    every latent kept saw the samples it shapes on every side. The tile nearest the centre is fitted first, with the weight deltas if the problem has them;
    the others then fit their latents under those deltas, quantized. Tile n's noise comes from
    fold_in(PRNGKey(seed), n). Memory: one tile's fit plus the signal's int16 latents.
    """
    cfg = fit_problem.cfg
    h, w = signal["values"].shape[:2]
    top = 2 ** (cfg.levels - 1)
    side = max(top, TILE // top * top)
    tiles = [(r, c) for r in tile_spans(h, side, TILE_MARGIN_CELLS * top, top)
             for c in tile_spans(w, side, TILE_MARGIN_CELLS * top, top)]
    centre = min(range(len(tiles)), key=lambda n: (abs(tiles[n][0][0] + side / 2 - h / 2)
                                                  + abs(tiles[n][1][0] + side / 2 - w / 2), n))
    ints = [np.zeros(s, np.int16) for s in grid_shapes((h, w), cfg)]  # |latent| <= SYMBOL_MAX < 2^15.
    deltas: list[np.ndarray] = []
    for done, n in enumerate([centre] + [n for n in range(len(tiles)) if n != centre]):
        (r0, r1, rlo, rhi), (c0, c1, clo, chi) = tiles[n]
        part = {k: jnp.asarray(v[rlo:rhi, clo:chi])[None] for k, v in signal.items()}

        def tile_progress(steps, total, done=done):
            if progress:
                progress(done * total + steps, len(tiles) * total)

        key = jax.random.fold_in(jax.random.PRNGKey(seed), n)[None]
        mods = encoder.fit_signals(fit_problem, part, key, fit_cfg, tile_progress)
        for k, (grid, y) in enumerate(zip(ints, mods["latents"])):
            s = 2**k
            rows, cols = slice(r0 // s, -(-r1 // s)), slice(c0 // s, -(-c1 // s))
            grid[rows, cols] = to_ints(y[0, rows.start - rlo // s : rows.stop - rlo // s,
                                         cols.start - clo // s : cols.stop - clo // s])
        if done == 0 and fit_problem.weight_step:  # The other tiles fit under the centre tile's deltas.
            leaves, tree = jax.tree_util.tree_flatten(jax.tree_util.tree_map(lambda x: x[0], mods["delta"]))
            deltas = [to_ints(d) for d in leaves]
            frozen = jax.tree_util.tree_unflatten(tree, [jnp.asarray(d, jnp.float32) for d in deltas])
            net = objective.apply_delta(fit_problem.params["net"], frozen, fit_problem.weight_step)
            fit_problem = dataclasses.replace(fit_problem, params={**fit_problem.params, "net": net}, weight_step=None)
        del part, mods  # Before the next tile's fit allocates its own.
    return ints, deltas


def local_scale_coding(ints: list[np.ndarray], scale_indices: list[int]) -> tuple[list[int], list[int]]:
    """(scale indices, context bytes) that code each level with local scales where that takes fewer
    bits; the context bytes are [] (entropy model 1) if those L bytes would cost more than they save."""
    floors, contexts, saved = list(scale_indices), [0] * len(ints), 0.0
    for k, (q, index) in enumerate(zip(ints, scale_indices)):
        if index == 0:
            continue
        floor, context, bits = range_coder.best_local_scale(q, index)
        plain = range_coder.coded_bits(q, index)
        if bits < plain:
            floors[k], contexts[k], saved = floor, context, saved + plain - bits
    if saved <= 8 * len(ints):
        return list(scale_indices), []
    return floors, contexts


@dataclasses.dataclass(frozen=True)
class BatchCoded:
    """Many same-shaped signals coded with one set of per-level scales (no weight deltas)."""

    header: CodingHeader  # Shared by every signal.
    ints: list[np.ndarray]  # Per level: int32 (N, *grid_shape, channels).
    reconstruct: Callable[[], np.ndarray]  # -> `values`; run only if asked (archives need only the ints).

    @functools.cached_property
    def values(self) -> np.ndarray:
        """(N, *signal_shape, out_channels) in [0, 1], what the decoder gives."""
        return self.reconstruct()

    def payload(self, items: slice | None = None) -> bytes:
        """One range-coded stream of the given signals (all by default), level after level.

        Stack-predicted levels are coded as differences, so they can only be coded whole.
        """
        if items is not None and any(self.header.predicted):
            raise ValueError("stack-predicted signals cannot be coded one slice at a time")
        part = [q[items] if items is not None else q for q in self.ints]
        return range_coder.encode(_coded_symbols(part, self.header.predicted), list(self.header.scale_indices))


def _coded_symbols(levels: list[np.ndarray], predicted: tuple[bool, ...]) -> list[np.ndarray]:
    """The symbols a payload holds: per level, the latents or (predicted) their stack differences."""
    if not predicted:
        return levels
    return [range_coder.stack_differences(q) if p else q for q, p in zip(levels, predicted)]


def _padded_range(start: int, stop: int, size: int) -> np.ndarray:
    """Indices start..stop-1, padded to `size` by repeating the last (fixed shapes: one compilation)."""
    idx = np.arange(start, stop)
    return np.concatenate([idx, np.full(size - idx.size, stop - 1)]) if idx.size < size else idx


def encode_batch(
    signals: dict,
    base: bases.Base,
    quality: int,
    fit_cfg: FitConfig = FitConfig(),
    seed: int = 0,
    progress: Progress | None = None,
    chunk: int = 64,
    first_index: int = 0,
    stack_prediction: bool = False,
) -> BatchCoded:
    """Fits N same-shaped signals (stacked model signals, leading axis N) in vmapped chunks.

    Signal i is fitted with the key fold_in(PRNGKey(seed), first_index + i), so results do not depend
    on the chunking. One scale index per latent level is chosen for the whole batch. With
    `stack_prediction` (an ordered stack, e.g. fields over time), each level is coded as its
    differences along the stack where that is smaller (entropy model 2, whole payloads only).
    Batch-coded signals carry no weight deltas (one coding header serves the whole batch).
    """
    fit_problem, step_index, _ = problem(base, quality, False, fit_cfg)
    step = fit_problem.step
    n = signals["values"].shape[0]
    signal_shape = signals["values"].shape[1:-1]
    root = jax.random.PRNGKey(seed)
    size = min(chunk, 1 << (n - 1).bit_length())  # A power of two: few batch shapes, so few compilations.
    chunks = -(-n // size)
    fitted = []
    for c, start in enumerate(range(0, n, size)):
        idx = _padded_range(start, min(start + size, n), size)
        part = {k: jnp.asarray(v[idx]) for k, v in signals.items()}
        keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(jnp.asarray(first_index + idx))

        def chunk_progress(done, total, c=c):
            if progress:
                progress(c * total + done, chunks * total)

        mods = encoder.fit_signals(fit_problem, part, keys, fit_cfg, chunk_progress)
        fitted.append([to_ints(y)[: min(size, n - start)] for y in mods["latents"]])
    ints = [np.concatenate([f[k] for f in fitted], axis=0) for k in range(base.cfg.levels)]
    predicted = tuple(range_coder.predict_along_stack(q) for q in ints) if stack_prediction else ()
    predicted = predicted if any(predicted) else ()  # Entropy model 1 when no level gains.
    symbols = _coded_symbols(ints, predicted)
    header = CodingHeader(step_index, 0, tuple(range_coder.best_scale_index(q) for q in symbols), (), predicted)
    inputs = signals.get("inputs")
    return BatchCoded(header, ints, lambda: reconstruct_batch(base, ints, signal_shape, step, inputs))
