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
import itertools
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from inrcodec.bitstream import archive
from inrcodec.bitstream.dataset_settings import DEFAULT_BLOCK, MAX_BLOCK, Settings, pack_block, unpack_block
from inrcodec.core import bases, latents
from inrcodec import codec, decoder, modalities
from inrcodec.core.config import FitConfig, quant_step
from inrcodec.errors import FormatError, InputError


DECODE_BATCH = 256  # Signals synthesized per call when iterating.

Progress = Callable[[int, int], None]


def _as_arrays(items: Any, dim: str | None) -> tuple[Iterable[np.ndarray], int, dict, str]:
    """Items -> (iterable of arrays, count, the modality's layout hints, modality guess or "")."""
    stack = modalities.for_stack(items, dim)
    if stack is not None:
        fmt, arrays, hints = stack
        return arrays, len(arrays), hints, fmt.NAME
    items = list(items)
    if items and isinstance(items[0], (str, Path)):
        return _read_paths(items), len(items), {}, ""
    return [np.asarray(a) for a in items], len(items), {}, ""


def _read_paths(paths: Sequence[str | Path]) -> Iterator[np.ndarray]:
    for p in paths:
        fmt = modalities.for_path(p)
        yield fmt.item_array(fmt.read(p))


def _chunks(arrays: Iterable[np.ndarray], size: int, skip: int) -> Iterator[np.ndarray]:
    batch = []
    for i, a in enumerate(arrays):
        if i < skip:
            continue
        batch.append(a)
        if len(batch) == size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


def compress_dataset(
    items: Any,
    out: str | Path,
    *,
    base: str | bases.Base | None = None,
    modality: str | None = None,
    quality: int = 4,
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
) -> "Archive":
    """Compresses many same-shaped signals into one .inrpack archive and returns it opened.

    Args:
      items: file paths, numpy arrays (an (N, ...) array or a list of same-shaped arrays: uint8 images
        (H, W, C), float audio (T,) in [-1, 1], or float fields (ny, nx) with NaN where missing), or an
        xarray DataArray split along `dim` (default: its leading dims).
      out: the archive path. An existing archive is extended only with resume=True (items already
        in it are skipped, so an interrupted run continues where it stopped); force=True replaces it.
      fit: the encoder schedule (default: the base's).
      block: signals per archive item (one stream each; 1..255).
      chunk: signals fitted per batched call (bounds memory).
      embed_base: store the base network in the archive (its bytes then count in the archive's rate).
      make_base: makes the base network from the first `chunk` items (N, ...) as (items, modality, layout
        hints), e.g. by meta-training one (api.compress_dataset's train=); `base` is then ignored and
        the base is embedded in the archive, so the archive's rate includes its bytes.
    """
    if not 1 <= block <= MAX_BLOCK:
        raise InputError(f"block must be in 1..{MAX_BLOCK}, got {block}")
    arrays, count, hints, guess = _as_arrays(items, dim)
    the_base = base if isinstance(base, bases.Base) else (bases.load_base(base) if base else None)
    modality = modality or (the_base.modality if the_base else guess)
    if not modality:
        raise InputError("cannot tell the modality of the items; pass modality=")
    if make_base is not None:
        if resume:
            raise InputError("train= makes a new base network; it cannot resume an archive")
        arrays = iter(arrays)
        first = list(itertools.islice(arrays, chunk))
        if not first:
            raise InputError("no items to train a base network on")
        the_base = make_base(np.stack([np.asarray(a) for a in first]), modality, hints)
        arrays, embed_base = itertools.chain(first, arrays), True
    the_base = the_base or bases.load_base(bases.DEFAULT_BASES[modality])
    modalities.check_base(the_base, modality)
    fmt = modalities.by_name(modality)
    blob = b""
    if embed_base:
        the_base, blob = bases.embeddable(the_base)
    fit = fit or codec.default_fit(the_base)
    out = Path(out)
    writer, settings, done = None, None, 0
    if out.exists() and resume:
        archive.open_for_append(out).close()  # Recovers the complete blocks of an interrupted run.
        with archive.read_archive(out) as reader:
            settings = Settings.from_bytes(reader.header.settings)
            if (reader.header.base_id, settings.quality, settings.modality) != (the_base.base_id, quality, fmt.NAME):
                raise InputError(f"{out}: was written with another base, quality or modality; cannot resume")
            done = sum((reader.peek(b, 1) or b"\0")[0] for b in range(len(reader)))
        writer = archive.open_for_append(out)
    total = count
    if progress and total is not None:
        progress(done, total)
    try:
        for arrs in _chunks(arrays, chunk, done):
            coded = None
            if settings is None:
                settings, coded = _first_settings(arrs, fmt, quality, the_base, fit, block, hints, embed_base, seed)
                writer = archive.create(out, archive.ArchiveHeader(fmt.CODE, the_base.base_id, settings.to_bytes(),
                                                                   blob), force=force)
            if tuple(arrs.shape[1:]) != settings.shape:
                raise InputError(f"item {done} has shape {arrs.shape[1:]}, the archive's items are {settings.shape}")
            fmt.check_stack(arrs, settings, done)
            coded = coded or codec.encode_batch(fmt.stack_signals(arrs, settings, the_base), the_base, quality, fit,
                                                seed, chunk=chunk, first_index=done)
            for start in range(0, arrs.shape[0], settings.block):
                writer.append(pack_block([q[start : start + settings.block] for q in coded.ints], settings.scale_indices))
            done += arrs.shape[0]
            if progress:
                progress(done, total or done)
    finally:
        if writer is not None:
            writer.close()
    if settings is None:
        raise InputError("no items to compress" if not out.exists() else f"{out}: nothing new to add")
    return open_archive(out)


def _first_settings(arrs: np.ndarray, fmt: modalities.Modality, quality: int, base: bases.Base, fit: FitConfig,
                    block: int, hints: dict, embed_base: bool, seed: int) -> tuple[Settings, codec.BatchCoded]:
    """Settings from the first chunk (shape, the modality's layout, per-level scales), and its coding."""
    layout = fmt.stack_layout(arrs, base, hints)
    settings = Settings(fmt.NAME, tuple(arrs.shape[1:]), quality, codec.quality_step_index(base, quality), (), block,
                        base_manifest=base.manifest if embed_base else None, **layout)
    coded = codec.encode_batch(fmt.stack_signals(arrs, settings, base), base, quality, fit, seed, chunk=arrs.shape[0])
    return dataclasses.replace(settings, scale_indices=coded.header.scale_indices), coded


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
        self._cfg = self.base.cfg
        if len(self.settings.scale_indices) != self._cfg.levels:
            raise FormatError(f"{self.path}: settings have {len(self.settings.scale_indices)} latent levels, "
                              f"base {self.base.name} has {self._cfg.levels}")
        self._format = modalities.by_name(self.settings.modality)
        self._signal_shape = self._format.signal_shape(self.settings.shape)
        # Each block's count byte, read without its CRC so that one damaged block does not hide the others.
        counts = [(self._reader.peek(b, 1) or b"\0")[0] for b in range(len(self._reader))]
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._cache: tuple[int, list[np.ndarray]] | None = None

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
        if self._cache is None or self._cache[0] != b:
            payload = self._reader[b]
            if not payload:
                raise FormatError(f"{self.path}: block {b} is empty")
            grids = latents.grid_shapes(self._signal_shape, self._cfg)
            try:
                ints = unpack_block(payload, grids, self.settings.scale_indices)
            except FormatError as e:
                raise FormatError(f"{self.path}: block {b} is invalid ({e})") from None
            self._cache = (b, ints)
        return self._cache[1]

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
        ints = [q[j : j + 1] for q in self._block_ints(b)]
        return self._decode(ints)[0]

    @_reading
    def _decode(self, ints: list[np.ndarray]) -> np.ndarray:
        inputs = self._format.stack_inputs(self.settings, self.base, ints[0].shape[0])
        values = decoder.reconstruct_batch(self.base, ints, self._signal_shape, quant_step(self.settings.step_index),
                                         inputs)
        return self._format.stack_arrays(values, self.settings)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Every item in order, decoded DECODE_BATCH signals at a time."""
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
