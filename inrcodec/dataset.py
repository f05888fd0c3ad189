"""Whole datasets in one .inrpack archive: compress_dataset and open_archive.

Every signal of a dataset has the same shape and is fitted in batched (vmapped) JAX calls, in
chunks that bound memory. Shared settings (shape, value range, quantization step, per-level
entropy scales, fixed missing-value mask, optionally the base network itself) are stored once;
each archive item is a *block* of up to `block` signals: one count byte and one range-coded stream,
so the coder's 32-bit word rounding is paid once per block, not once per signal. The per-level
scales are chosen on the first chunk and then fixed, so appending and resuming code every signal
the same way. Signal i is always fitted with the same PRNG key, whatever the chunking.
"""

from __future__ import annotations

import binascii
import dataclasses
import functools
import queue
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from inrcodec.bitstream import archive
from inrcodec.bitstream.dataset_settings import DEFAULT_BLOCK, MAX_BLOCK, Settings, pack_block, unpack_block
from inrcodec.core import bases, latents
from inrcodec import codec, decoder, modalities
from inrcodec.core.config import DEFAULT_QUALITY, NO_FIT, FitConfig, quant_step
from inrcodec.errors import FormatError, InputError


DECODE_BATCH = 256  # Signals synthesized per call when iterating.

Progress = Callable[[int, int], None]


def _as_arrays(items: Any, dim: str | None) -> tuple[Sequence, dict, str]:
    """Items -> (a sequence of arrays, the modality's layout hints, modality guess or "").

    The sequence may have `slab(start, stop, load=True)`: items start..stop-1 stacked, read only then
    (load=False: what a Dask worker loads them from, `_load`)."""
    stack = modalities.for_stack(items, dim)
    if stack is not None:
        fmt, arrays, hints = stack
        return arrays, hints, fmt.NAME
    items = list(items)
    if items and isinstance(items[0], (str, Path)):
        return _Paths(items), {}, ""
    return [np.asarray(a) for a in items], {}, ""


@dataclasses.dataclass(frozen=True)
class _Paths:
    """Files read as dataset items, one item each (the modality of each file's suffix)."""

    paths: tuple

    def __init__(self, paths: Sequence[str | Path]):
        object.__setattr__(self, "paths", tuple(str(p) for p in paths))

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[np.ndarray]:
        for p in self.paths:
            fmt = modalities.for_path(p)
            yield fmt.item_array(fmt.read(p))

    def slab(self, start: int, stop: int, load: bool = True):
        part = _Paths(self.paths[start:stop])
        return np.stack(list(part)) if load else part


def _slab(arrays: Sequence, start: int, stop: int, load: bool = True):
    """Items start..stop-1 of `_as_arrays`' sequence, (n, *shape) (load=False: what `_load` takes)."""
    if hasattr(arrays, "slab"):
        return arrays.slab(start, stop, load)
    return np.stack([np.asarray(a) for a in arrays[start:stop]])


def _load(source) -> np.ndarray:
    """The items (n, *shape) of a `_slab(load=False)`: files are read, (Dask) arrays computed."""
    return np.stack(list(source)) if isinstance(source, _Paths) else np.asarray(source)


def compress_dataset(
    items: Any,
    out: str | Path,
    *,
    base: str | bases.Base | None = None,
    modality: str | None = None,
    quality: int | None = None,
    fit: FitConfig | None = None,
    dim: str | None = None,
    block: int = DEFAULT_BLOCK,
    chunk: int = 256,
    embed_base: bool = False,
    make_base: "Callable[[np.ndarray, str, dict], bases.Base] | None" = None,
    resume: bool = False,
    force: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
    client: Any = None,
    max_error: float | None = None,
    rel_error: float | None = None,
) -> "Archive":
    """Compresses many same-shaped signals into one .inrpack archive and returns it opened.

    Args:
      items: file paths, numpy arrays (an (N, ...) array or a list of same-shaped arrays: uint8 images
        (H, W, C), float audio (T,) in [-1, 1], or float fields (ny, nx) with NaN where missing), or an
        xarray DataArray (Dask-backed ones stay lazy) split along `dim` (default: its leading dims);
        its dims, coordinates and attributes are stored, so `Archive.to_xarray` gives it back.
      out: the archive path. An existing archive is extended only with resume=True (items already
        in it are skipped, so an interrupted run continues where it stopped); force=True replaces it.
      quality: the quality level (default DEFAULT_QUALITY; with an error bound NO_FIT: no fit, the base's
        own field predicts, as api.encode does).
      fit: the encoder schedule (default: the base's).
      block: signals per archive item (one stream each; 1..255).
      chunk: signals fitted per batched call (bounds memory; a Dask task's unit).
      embed_base: store the base network in the archive (its bytes then count in the archive's rate).
      make_base: makes the base network from the first `chunk` items (N, ...) as (items, modality, layout
        hints), e.g. by meta-training one (api.compress_dataset's train=); `base` is then ignored and
        the base is embedded in the archive, so the archive's rate includes its bytes.
      max_error, rel_error: climate: every decoded value within this absolute bound of the original (the
        variable's units), or within this fraction of the first chunk's value range; each block then
        carries error-bounded residuals (ARCHIVE.md, appendix).
      client: a dask.distributed Client: chunks are fitted on its workers (they read files and Dask
        chunks themselves), this process writes the archive in order; the bytes do not depend on the
        number of workers.
    """
    if not 1 <= block <= MAX_BLOCK:
        raise InputError(f"block must be in 1..{MAX_BLOCK}, got {block}")
    arrays, hints, guess = _as_arrays(items, dim)
    the_base = base if isinstance(base, bases.Base) else (bases.load_base(base) if base else None)
    modality = modality or (the_base.modality if the_base else guess)
    if not modality:
        raise InputError("cannot tell the modality of the items; pass modality=")
    if make_base is not None:
        if resume:
            raise InputError("train= makes a new base network; it cannot resume an archive")
        if not len(arrays):
            raise InputError("no items to train a base network on")
        the_base, embed_base = make_base(_slab(arrays, 0, chunk), modality, hints), True
    the_base = the_base or bases.load_base(bases.DEFAULT_BASES[modality])
    modalities.check_base(the_base, modality)
    fmt = modalities.by_name(modality)
    blob = b""
    if embed_base:
        the_base, blob = bases.embeddable(the_base)
    fit = fit or codec.default_fit(the_base)
    bound = _Bound(max_error, rel_error)
    if bound.given and "max_error" not in fmt.ENCODE_OPTIONS:
        raise InputError(f"error bounds (max_error, rel_error) are for climate fields, not {fmt.NAME}")
    quality = (NO_FIT if bound.given else DEFAULT_QUALITY) if quality is None else quality
    if quality == NO_FIT and not bound.given:
        raise InputError(f"quality {NO_FIT} (no fit) needs an error bound (max_error or rel_error)")
    job = _Job(fmt.NAME, the_base, quality, fit, seed, chunk)
    out = Path(out)
    writer, settings, done = None, None, 0
    if out.exists() and resume:
        archive.open_for_append(out).close()  # Recovers the complete blocks of an interrupted run.
        with archive.read_archive(out) as reader:
            settings = Settings.from_bytes(reader.header.settings)
            if (reader.header.base_id, settings.quality, settings.modality) != (the_base.base_id, quality, fmt.NAME):
                raise InputError(f"{out}: was written with another base, quality or modality; cannot resume")
            if not bound.matches(settings.max_error):
                raise InputError(f"{out}: was written with error bound {settings.max_error or 'none'}; cannot resume")
            done = sum((reader.peek(b, 1) or b"\0")[0] for b in range(len(reader)))
        writer = archive.open_for_append(out)
    total = len(arrays)
    if progress:
        progress(done, total)
    coded = _coded_chunks(arrays, job, done, settings, block, hints, embed_base, client, bound)
    try:
        for start, chunk_settings, blocks in coded:
            if settings is None:
                settings = chunk_settings
                writer = archive.create(out, archive.ArchiveHeader(fmt.CODE, the_base.base_id, settings.to_bytes(),
                                                                   blob), force=force)
            for b in blocks:
                writer.append(b)
            done = start + sum(b[0] for b in blocks)
            if progress:
                progress(done, total)
    finally:
        coded.close()  # Cancels the chunks still running on a Dask cluster.
        if writer is not None:
            writer.close()
    if settings is None:
        raise InputError("no items to compress" if not out.exists() else f"{out}: nothing new to add")
    return open_archive(out, the_base)  # The base it was written with, installed or not.


@dataclasses.dataclass(frozen=True)
class _Bound:
    """An archive's error bound as given: absolute (max_error), relative (rel_error), or none."""

    max_error: float | None
    rel_error: float | None

    def __post_init__(self):
        if self.max_error is not None and self.rel_error is not None:
            raise InputError("give an absolute (max_error) or a relative (rel_error) bound, not both")
        given = self.max_error if self.max_error is not None else self.rel_error
        if given is not None and (isinstance(given, bool) or not np.isfinite(given) or not given > 0):
            raise InputError(f"the error bound must be a positive number, got {given!r}")

    @property
    def given(self) -> bool:
        return self.max_error is not None or self.rel_error is not None

    def absolute(self, items: np.ndarray) -> float:
        """The bound in the items' units (0: none), a relative one from the valid values of `items`."""
        if self.max_error is not None:
            return float(self.max_error)
        if self.rel_error is None:
            return 0.0
        spread = float(np.nanmax(items) - np.nanmin(items)) if np.isfinite(items).any() else 0.0
        if not spread > 0:
            raise InputError("a relative bound needs values that vary; the first fields are constant (give max_error)")
        return float(self.rel_error) * spread

    def matches(self, stored: float) -> bool:
        """Whether an archive with bound `stored` continues this one (a relative bound: any bound)."""
        return stored == (self.max_error or 0.0) if self.rel_error is None else stored > 0


@dataclasses.dataclass(frozen=True)
class _Job:
    """How every chunk is coded (what a Dask worker needs besides the chunk and the settings)."""

    modality: str
    base: bases.Base
    quality: int
    fit: FitConfig
    seed: int
    chunk: int

    def settings(self, arrs: np.ndarray, block: int, hints: dict, embed_base: bool, bound: _Bound) -> Settings:
        """The archive's settings from its first chunk (shape, the modality's layout, the error bound),
        without the per-level scales (the first chunk's latents choose them)."""
        fmt = modalities.by_name(self.modality)
        layout = fmt.stack_layout(arrs, self.base, hints)
        return Settings(fmt.NAME, tuple(arrs.shape[1:]), self.quality, codec.quality_step_index(self.base, self.quality),
                        (), block, base_manifest=self.base.manifest if embed_base else None,
                        max_error=bound.absolute(arrs), **layout)

    def latents(self, arrs: np.ndarray, settings: Settings, first: int) -> tuple[tuple[int, ...], list[np.ndarray]]:
        """(the per-level scales these latents would choose, the int latents per level (n, *grid, c)) of
        items first..first+n-1, (n, *shape)."""
        fmt = modalities.by_name(self.modality)
        if tuple(arrs.shape[1:]) != settings.shape:
            raise InputError(f"item {first} has shape {arrs.shape[1:]}, the archive's items are {settings.shape}")
        fmt.check_stack(arrs, settings, first)
        if self.quality == NO_FIT:  # Zero latents: no fitting, nothing coded but the residuals.
            return (0,) * self.base.cfg.levels, [np.zeros((len(arrs), *g), np.int32)
                                                  for g in latents.grid_shapes(fmt.signal_shape(settings.shape), self.base.cfg)]
        # The first chunk in one batch (as archives were always written), the others padded to `chunk`.
        chunk = arrs.shape[0] if first == 0 else self.chunk
        coded = codec.encode_batch(fmt.stack_signals(arrs, settings, self.base), self.base, self.quality, self.fit,
                                   self.seed, chunk=chunk, first_index=first)
        return coded.header.scale_indices, coded.ints


def _chunk_task(source, job: _Job, settings: Settings, first: int) -> tuple[tuple[int, ...], Any]:
    """A chunk coded: ((), its archive blocks), or while the archive's scales are not chosen yet (the first
    chunks), (the scales its latents would choose, (its int latents per level, its blocks' residual
    sections or None)). A worker's task."""
    arrs = _load(source)
    scales, ints = job.latents(arrs, settings, first)
    sections = None
    if settings.max_error:  # Residuals depend on the latents, not on the scales that code them.
        fmt, size = modalities.by_name(job.modality), settings.block
        sections = [fmt.bound_block(arrs[s : s + size], [q[s : s + size] for q in ints], settings, job.base)
                    for s in range(0, len(arrs), size)]
    return ((), _blocks(ints, settings, sections)) if settings.scale_indices else (scales, (ints, sections))


def _blocks(ints: list[np.ndarray], settings: Settings, sections: list[bytes] | None = None) -> list[bytes]:
    """The archive items of a chunk's latents (and residual sections): blocks of `settings.block` signals."""
    n = ints[0].shape[0]
    return [pack_block([q[s : s + settings.block] for q in ints], settings.scale_indices,
                       None if sections is None else sections[k])
            for k, s in enumerate(range(0, n, settings.block))]


def _coded_chunks(arrays: Sequence, job: _Job, skip: int, settings: Settings | None, block: int, hints: dict,
                  embed_base: bool, client: Any, bound: _Bound) -> Iterator[tuple[int, Settings, list[bytes]]]:
    """(first item, settings, blocks) of every chunk after the first `skip` items, in order. Chunks are
    fitted here or on a Dask client's workers (a few per worker in flight, so memory stays bounded);
    only their entropy coding waits for the first chunk, whose latents choose the archive's scales (a
    chunk fitted before that returns its int latents, later ones their coded blocks: far fewer bytes)."""
    starts = range(skip, len(arrays), job.chunk)
    first_items = None
    if settings is None and len(starts):
        first_items = _slab(arrays, 0, job.chunk)
        settings = job.settings(first_items, block, hints, embed_base, bound)

    def source(start: int, where: dict | None = None):
        if start == 0 and first_items is not None:
            return first_items
        part = _slab(arrays, start, start + job.chunk, load=client is None)
        return client.compute(part, **where) if hasattr(part, "dask") else part  # Dask chunks: read on that worker.

    current = {"settings": settings}  # With the scales once the first chunk has chosen them.
    if client is None:
        coded = ((start, _chunk_task(source(start), job, current["settings"], start)) for start in starts)
    else:
        coded = _on_workers(client, starts, source, job, lambda: current["settings"])
    try:
        for start, (scales, out) in coded:
            if scales and not current["settings"].scale_indices:
                current["settings"] = dataclasses.replace(current["settings"], scale_indices=scales)
            settings = current["settings"]
            yield start, settings, _blocks(out[0], settings, out[1]) if scales else out
    finally:
        coded.close()


def _on_workers(client: Any, starts: range, source: Callable, job: _Job, settings: Callable[[], Settings]) -> Iterator:
    """(start, `_chunk_task`'s result) of every chunk, in order, coded on the client's workers with the
    settings of the moment each is launched.

    Each worker thread holds one chunk, pinned to it; when it finishes, that worker reads and fits the
    next. (Left loose, chunks moved between workers: 5 to one and 3 to the other, meta/README.md.) A
    chunk whose worker is gone is launched again on another one. Finished chunks wait for the earlier
    ones, at most BUFFERED per thread.
    """
    job_future = client.scatter(job, broadcast=True, hash=False)  # A fresh key: an earlier call's may be being released.
    threads = sorted(client.nthreads().items())
    if not threads:
        raise InputError("the Dask client has no workers")
    slots = [w for k in range(max(n for _, n in threads)) for w, n in threads if k < n]  # Workers interleaved.
    todo, order = iter(starts), iter(starts)
    finished: queue.Queue = queue.Queue()
    running: dict[str, tuple[int, str, Any]] = {}
    ready: dict[int, Any] = {}
    idle: list[str] = []
    retry: list[int] = []

    def launch(worker: str) -> None:
        start = retry.pop() if retry else next(todo, None)
        if start is None:
            return
        where = dict(workers=[worker], allow_other_workers=False)
        future = client.submit(_chunk_task, source(start, where), job_future, settings(), start, pure=False, **where)
        running[future.key] = (start, worker, future)
        future.add_done_callback(finished.put)  # Called from another thread.

    def relaunch_lost() -> None:
        alive = client.nthreads()
        for key, (start, worker, future) in list(running.items()):
            if worker not in alive:
                del running[key]
                future.cancel()
                retry.append(start)
        slots[:] = [w for w in slots if w in alive]
        idle[:] = [w for w in idle if w in alive] + [w for w in slots if w not in idle and
                                                     all(r[1] != w for r in running.values())][: len(retry)]
        if not slots:
            raise InputError("every Dask worker is gone")
        while retry and idle:
            launch(idle.pop())

    try:
        for worker in slots:
            launch(worker)
        want = next(order, None)
        while want is not None:
            while want in ready:
                yield want, ready.pop(want)
                want = next(order, None)
                while idle and len(ready) < BUFFERED * len(slots):
                    launch(idle.pop())
            if want is None:
                break
            try:
                done = finished.get(timeout=WORKER_CHECK_SECONDS)
            except queue.Empty:
                relaunch_lost()
                continue
            if done.key not in running:
                continue  # Cancelled as lost.
            start, worker, future = running.pop(done.key)
            ready[start] = future.result()  # Raises what the task raised.
            if len(ready) < BUFFERED * len(slots):
                launch(worker)
            else:
                idle.append(worker)
    finally:
        for _, _, future in running.values():
            future.cancel()


BUFFERED = 4  # Finished chunks per worker thread waiting for an earlier one (small: coded blocks).
WORKER_CHECK_SECONDS = 10.0  # How often a wait for chunks checks that their workers are still there.


_DAMAGE = (ValueError, TypeError, KeyError, OverflowError, ZeroDivisionError, RuntimeError, MemoryError, zlib.error,
           binascii.Error)  # What numpy, zlib and the decoders raise on settings or blocks that are not what they say.


def _reading(method):
    """An Archive method reading untrusted bytes: their parsers' errors become FormatError."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (FormatError, InputError):
            raise
        except _DAMAGE as e:
            raise FormatError(f"{self.path}: archive is invalid ({type(e).__name__}: {e})") from None
    return wrapper


class Archive:
    """A compressed dataset: len(), random access archive[i] -> decoded array, iteration, modulations(i)."""

    @_reading
    def __init__(self, path: str | Path, base: bases.Base | None = None):
        self.path = Path(path)
        self._reader = archive.read_archive(self.path)
        self.settings = Settings.from_bytes(self._reader.header.settings)
        self.base = base or self._load_base()
        if self.base.base_id != self._reader.header.base_id:
            raise InputError(f"{self.path}: written with base {self._reader.header.base_id.hex()}, "
                             f"not {self.base.base_id.hex()} ({self.base.name})")
        self._cfg = self.base.cfg
        if len(self.settings.scale_indices) != self._cfg.levels:
            raise FormatError(f"{self.path}: settings have {len(self.settings.scale_indices)} latent levels, "
                              f"base {self.base.name} has {self._cfg.levels}")
        self._format = modalities.by_name(self.settings.modality)
        self._signal_shape = self._format.signal_shape(self.settings.shape)
        # Each block's count byte, read without its CRC so that one damaged block does not hide the others.
        counts = [(self._reader.peek(b, 1) or b"\0")[0] for b in range(len(self._reader))]
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._cache: tuple[int, list[np.ndarray], bytes | None] | None = None
        self._bounded = bool(self.settings.max_error)
        self._values: tuple[int, np.ndarray] | None = None  # A bounded archive's last decoded block.

    def _load_base(self) -> bases.Base:
        header = self._reader.header
        if not header.base_blob:
            return bases.load_base(header.base_id)
        try:
            return bases.base_from_embedded(header.base_blob, self.settings.base_manifest or {})
        except FormatError:
            raise
        except Exception as e:  # noqa: BLE001 -- a damaged manifest can fail anywhere in building the network.
            raise FormatError(f"{self.path}: the embedded base network is invalid ({type(e).__name__}: {e})") from None

    def __len__(self) -> int:
        return int(self._starts[-1])

    @_reading
    def _block_ints(self, b: int) -> list[np.ndarray]:
        return self._block(b)[0]

    def _block(self, b: int) -> tuple[list[np.ndarray], bytes | None]:
        """Block b's int latents per level (n, *grid, c) and, in a bounded archive, its residual section."""
        if self._cache is None or self._cache[0] != b:
            payload = self._reader[b]
            if not payload:
                raise FormatError(f"{self.path}: block {b} is empty")
            grids = latents.grid_shapes(self._signal_shape, self._cfg)
            try:
                ints, section = unpack_block(payload, grids, self.settings.scale_indices, self._bounded)
            except FormatError as e:
                raise FormatError(f"{self.path}: block {b} is invalid ({e})") from None
            self._cache = (b, ints, section)
        return self._cache[1], self._cache[2]

    @_reading
    def _block_values(self, b: int) -> np.ndarray:
        """A bounded archive's block b decoded, (n, *shape): every item within the bound of the original."""
        if self._values is None or self._values[0] != b:
            ints, section = self._block(b)
            try:
                values = self._format.decode_bounded_block(ints, section, self.settings, self.base)
            except FormatError as e:
                raise FormatError(f"{self.path}: block {b} is invalid ({e})") from None
            self._values = (b, values)
        return self._values[1]

    def _locate(self, i: int) -> tuple[int, int]:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"item {i} out of range for an archive of {n}")
        i %= n
        b = int(np.searchsorted(self._starts, i, side="right") - 1)
        return b, i - int(self._starts[b])

    @_reading
    def modulations(self, i: int) -> list[np.ndarray]:
        """The latents of item i (per level, (*grid, channels)), dequantized: what functa-style learning uses."""
        b, j = self._locate(i)
        step = quant_step(self.settings.step_index)
        return [q[j].astype(np.float32) * step for q in self._block_ints(b)]

    def __getitem__(self, i: int) -> np.ndarray:
        b, j = self._locate(i)
        if self._bounded:
            return self._block_values(b)[j].copy()
        ints = [q[j : j + 1] for q in self._block_ints(b)]
        return self._decode(ints)[0]

    def items(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """The items at `indices` (any order, repeats allowed), (k, *shape): each block is read once and
        the items are synthesized DECODE_BATCH at a time."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"item indices {idx.min()}..{idx.max()} out of range for an archive of {n}")
        idx = idx % max(n, 1)
        blocks = np.searchsorted(self._starts, idx, side="right") - 1
        out = np.empty((idx.size, *self.settings.shape), np.dtype(self.variable.dtype))
        pending: list[tuple[np.ndarray, list[np.ndarray]]] = []

        def flush():
            values = self._decode([np.concatenate(level) for level in zip(*(ints for _, ints in pending))])
            out[np.concatenate([sel for sel, _ in pending])] = values
            pending.clear()

        for b in np.unique(blocks):
            sel = np.flatnonzero(blocks == b)
            if self._bounded:
                out[sel] = self._block_values(int(b))[idx[sel] - self._starts[b]]
                continue
            pending.append((sel, [q[idx[sel] - self._starts[b]] for q in self._block_ints(int(b))]))
            if sum(len(s) for s, _ in pending) >= DECODE_BATCH:
                flush()
        if pending:
            flush()
        return out

    @functools.cached_property
    @_reading
    def variable(self) -> modalities.StackVariable:
        """How the items read as one xarray variable (dims, sizes, coordinates, attributes, dtype)."""
        return self._format.stack_variable(self.settings, len(self))

    def to_xarray(self, chunks: Any = None) -> Any:
        """The archive as an xarray.Dataset of one variable: a climate archive of a DataArray comes back
        with its dims, coordinates and attributes (others as items along "item"). Values are decoded
        when read; chunks= (as xarray.open_dataset's) makes it Dask-backed."""
        from inrcodec import xarray_backend

        return xarray_backend.open_archive_dataset(self.path, chunks=chunks, base=self.base)

    @_reading
    def _decode(self, ints: list[np.ndarray]) -> np.ndarray:
        inputs = self._format.stack_inputs(self.settings, self.base, ints[0].shape[0])
        values = decoder.reconstruct_batch(self.base, ints, self._signal_shape, quant_step(self.settings.step_index),
                                         inputs)
        return self._format.stack_arrays(values, self.settings)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Every item in order, decoded DECODE_BATCH signals at a time."""
        if self._bounded:
            for b in range(len(self._reader)):
                yield from self._block_values(b).copy()
            return
        pending: list[list[np.ndarray]] = []
        for b in range(len(self._reader)):
            pending.append(self._block_ints(b))
            if sum(p[0].shape[0] for p in pending) >= DECODE_BATCH or b == len(self._reader) - 1:
                yield from self._decode([np.concatenate(level) for level in zip(*pending)])
                pending = []

    def decode_all(self) -> np.ndarray:
        """Every item, (N, *shape)."""
        return np.stack(list(self))

    def verify(self) -> list[int]:
        """Indices of the items in damaged blocks (CRC mismatch)."""
        bad = []
        for b in self._reader.verify():
            bad += list(range(int(self._starts[b]), int(self._starts[b + 1])))
        return bad

    def rate(self) -> dict:
        """Bits per item: everything in the file, and without the base network when it is embedded."""
        total = self._reader.file_bytes
        embedded = len(self._reader.header.base_blob)
        n = max(len(self), 1)
        return {"items": len(self), "file_bytes": total, "bits_per_item": 8 * total / n,
                "bits_per_item_without_base": 8 * (total - embedded) / n,
                "overhead_bytes": self._reader.overhead_bytes(), "embedded_base_bytes": embedded}

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_archive(path: str | Path, base: bases.Base | None = None) -> Archive:
    """Opens an .inrpack archive written by compress_dataset."""
    return Archive(path, base)
