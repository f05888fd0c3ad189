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

import base64
import dataclasses
import json
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from inrcodec.bitstream import archive
from inrcodec.bitstream import range_coder
from inrcodec.core import bases, latents
from inrcodec import codec, modalities
from inrcodec.core.config import FitConfig, quant_step
from inrcodec.errors import FormatError, InputError
from inrcodec.modalities import climate as climate_format
from inrcodec.signals import climate as climate_io

if TYPE_CHECKING:
    from inrcodec.training.train import TrainConfig

SETTINGS_VERSION = 1
DEFAULT_BLOCK = 16  # Signals per archive item.
DECODE_BATCH = 256  # Signals synthesized per call when iterating.
MAX_BLOCK = 255

Progress = Callable[[int, int], None]


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every signal of an archive shares (stored once, as JSON, in the archive header)."""

    modality: str
    shape: tuple[int, ...]  # Shape of one signal as the user gives it (image (H, W, C), audio (T,), climate (ny, nx)).
    quality: int
    step_index: int
    scale_indices: tuple[int, ...]
    block: int
    lo: float = 0.0  # Climate: physical value of 0 (float32), and of 1.
    hi: float = 1.0
    mask: str = ""  # Climate: hex of climate_io.pack_mask of the valid points shared by every field ("" = all).
    latlon: str = ""  # Climate: base64 of zlib of the (ny, nx, 2) float64 degrees; "" for a regular global grid.
    base_manifest: dict | None = None  # When the base network is embedded in the archive.

    def to_bytes(self) -> bytes:
        return json.dumps({"version": SETTINGS_VERSION, **dataclasses.asdict(self)}, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Settings":
        try:
            d = json.loads(data.decode())
            if d.pop("version") != SETTINGS_VERSION:
                raise ValueError("unknown settings version")
            d["shape"], d["scale_indices"] = tuple(d["shape"]), tuple(d["scale_indices"])
            return cls(**d)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise FormatError(f"archive settings are invalid ({e})") from None


def _to_signals(arrays: np.ndarray, settings: Settings, base: bases.Base) -> dict:
    """A chunk of user arrays (n, *shape) -> stacked model signals."""
    if settings.modality == "image":
        values = arrays.astype(np.float32) / 255.0
        return {"values": np.repeat(values, 3, axis=-1) if values.shape[-1] == 1 else values}
    if settings.modality == "audio":
        return {"values": ((np.clip(arrays.astype(np.float32), -1, 1) + 1) / 2)[..., None]}
    valid = _mask(settings)
    field = climate_io.Field(arrays.astype(np.float64), np.broadcast_to(valid, arrays.shape), _latlon(settings), b"", "", "")
    return climate_format.signals(field, settings.lo, settings.hi, base)


def _from_values(values: np.ndarray, settings: Settings) -> np.ndarray:
    """Decoded values (n, *signal_shape, C) in [0, 1] -> user arrays (n, *shape)."""
    if settings.modality == "image":
        if settings.shape[-1] == 1:
            values = values.mean(axis=-1, keepdims=True)
        return np.clip(np.round(values * 255), 0, 255).astype(np.uint8)
    if settings.modality == "audio":
        return (values[..., 0] * 2 - 1).astype(np.float32)
    return climate_format.from_unit(values[..., 0], _mask(settings), settings.lo, settings.hi)


def _signal_shape(settings: Settings) -> tuple[int, ...]:
    return settings.shape[:2] if settings.modality == "image" else settings.shape


def _mask(settings: Settings) -> np.ndarray:
    if not settings.mask:
        return np.ones(settings.shape, bool)
    return climate_io.unpack_mask(bytes.fromhex(settings.mask), settings.shape)


def _latlon(settings: Settings) -> np.ndarray | None:
    if not settings.latlon:
        return None
    raw = zlib.decompress(base64.b64decode(settings.latlon), bufsize=8 * 2 * int(np.prod(settings.shape)))
    if len(raw) != 8 * 2 * int(np.prod(settings.shape)):
        raise FormatError("archive settings: the grid coordinates do not match the shape")
    return np.frombuffer(raw, "<f8").reshape(*settings.shape, 2)


def _pack_latlon(latlon: np.ndarray | None) -> str:
    return "" if latlon is None else base64.b64encode(zlib.compress(latlon.astype("<f8").tobytes(), 9)).decode()


def _block_payload(ints: list[np.ndarray], settings: Settings) -> bytes:
    return bytes([ints[0].shape[0]]) + range_coder.encode(ints, list(settings.scale_indices))


def _as_arrays(items: Any, dim: str | None) -> tuple[Iterable[np.ndarray], int | None, np.ndarray | None, str]:
    """Items -> (iterable of arrays, count if known, latlon if known, modality guess)."""
    if type(items).__name__ == "DataArray":
        field = climate_io.from_dataarray(items if dim is None else items.transpose(dim, ...))
        stack = field.values.reshape(-1, *field.values.shape[-2:])
        return stack, stack.shape[0], field.latlon, "climate"
    if isinstance(items, np.ndarray):
        return items, items.shape[0], None, "image" if items.dtype == np.uint8 else "climate"
    items = list(items)
    if items and isinstance(items[0], (str, Path)):
        return _read_paths(items), len(items), None, ""
    return [np.asarray(a) for a in items], len(items), None, ""


def _read_paths(paths: Sequence[str | Path]) -> Iterator[np.ndarray]:
    from inrcodec import modalities

    for p in paths:
        native = modalities.for_path(p).read(p)
        if hasattr(native, "samples"):
            yield native.samples[:, 0]
        elif hasattr(native, "values") and hasattr(native, "valid"):
            yield native.values.reshape(-1, *native.values.shape[-2:])[0]
        else:
            yield native


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
    train: "TrainConfig | None" = None,
    train_dir: str | Path | None = None,
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
      train: meta-train a base network on the first chunk of items with this recipe (`base`, if
        given, is ignored) and embed it in the archive, so the archive's rate includes its bytes.
        Its `modality` is set from the items; for climate its value range is the chunk's range.
      train_dir: where the trained base, its record and checkpoint are kept (default: a temporary
        folder, removed afterwards); training resumes from a checkpoint there.
    """
    from inrcodec import api

    if not 1 <= block <= MAX_BLOCK:
        raise InputError(f"block must be in 1..{MAX_BLOCK}, got {block}")
    arrays, count, latlon, guess = _as_arrays(items, dim)
    the_base = base if isinstance(base, bases.Base) else (bases.load_base(base) if base else None)
    modality = modality or (the_base.modality if the_base else guess)
    if not modality:
        raise InputError("cannot tell the modality of the items; pass modality=")
    if train is not None:
        if resume:
            raise InputError("train= makes a new base network; it cannot resume an archive")
        arrays, the_base = _train_on_first_chunk(arrays, modality, latlon, train, chunk, train_dir)
        embed_base = True
    the_base = the_base or api.load_default_base(None, modality)
    if the_base.modality != modality:
        raise InputError(f"base network {the_base.name!r} is for {the_base.modality}, not {modality}")
    blob = b""
    if embed_base:
        the_base, blob = bases.embeddable(the_base)
    fit = fit or api.default_fit(the_base)
    out = Path(out)
    writer, settings, done = None, None, 0
    if out.exists() and resume:
        archive.open_for_append(out).close()  # Recovers the complete blocks of an interrupted run.
        with archive.read_archive(out) as reader:
            settings = Settings.from_bytes(reader.header.settings)
            if reader.header.base_id != the_base.base_id or settings.quality != quality or settings.modality != modality:
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
                settings, coded = _first_settings(arrs, modality, quality, the_base, fit, block, latlon, embed_base,
                                                  seed)
                writer = archive.create(out, archive.ArchiveHeader(
                    modalities.by_name(modality).CODE, the_base.base_id, settings.to_bytes(),
                    blob), force=force)
            if tuple(arrs.shape[1:]) != settings.shape:
                raise InputError(f"item {done} has shape {arrs.shape[1:]}, the archive's items are {settings.shape}")
            if settings.modality == "climate" and not np.array_equal(~np.isnan(arrs), np.broadcast_to(_mask(settings), arrs.shape)):
                raise InputError(f"item {done}: its missing values differ from the first item's (one mask per archive)")
            coded = coded or codec.encode_batch(_to_signals(arrs, settings, the_base), the_base, quality, fit, seed,
                                                chunk=chunk, first_index=done)
            for start in range(0, arrs.shape[0], settings.block):
                writer.append(_block_payload([q[start : start + settings.block] for q in coded.ints], settings))
            done += arrs.shape[0]
            if progress:
                progress(done, total or done)
    finally:
        if writer is not None:
            writer.close()
    if settings is None:
        raise InputError("no items to compress" if not out.exists() else f"{out}: nothing new to add")
    return open_archive(out)


def _train_on_first_chunk(arrays: Iterable[np.ndarray], modality: str, latlon: np.ndarray | None, cfg: "TrainConfig",
                          chunk: int, train_dir: str | Path | None) -> tuple[Iterable[np.ndarray], bases.Base]:
    """Meta-trains a base on the first `chunk` items; returns the items (all of them, again) and the base."""
    import itertools
    import tempfile

    from inrcodec.training import train as training
    from inrcodec.training import samplers

    arrays = iter(arrays)
    first = list(itertools.islice(arrays, chunk))
    if not first:
        raise InputError("no items to train a base network on")
    sample = np.stack([np.asarray(a) for a in first])
    cfg = dataclasses.replace(cfg, modality=modality)
    if modality == "climate":
        if len(sample.shape) != 3 or not np.isfinite(sample).any():
            raise InputError("climate items must be 2-D fields with values to train a base network on")
        lo, hi = float(np.nanmin(sample)), float(np.nanmax(sample))
        cfg = dataclasses.replace(cfg, value_range=(lo, hi if hi > lo else lo + 1.0), grid=sample.shape[1:])
    untrained = bases.Base(cfg.name, modality, cfg.model, {}, b"", {"value_range": list(cfg.value_range)})
    lo, hi = cfg.value_range
    settings = Settings(modality, tuple(sample.shape[1:]), 0, 0, (), 1, lo, hi,
                        climate_io.pack_mask(~np.isnan(sample[0])).hex() if modality == "climate" else "",
                        _pack_latlon(latlon) if modality == "climate" else "")
    if modality == "climate" and not np.array_equal(~np.isnan(sample), np.broadcast_to(_mask(settings), sample.shape)):
        raise InputError("the items' missing values differ (one mask per archive)")
    pool = samplers.SignalPool(_to_signals(sample, settings, untrained), None if modality == "climate" else cfg.crop)
    with tempfile.TemporaryDirectory(prefix="inrcodec-train-") as tmp:
        try:
            base = training.train(cfg, [], Path(train_dir or tmp), sampler=pool)
        except ValueError as e:
            raise InputError(f"training a base network on the items failed: {e}") from None
    return itertools.chain(first, arrays), base


def _first_settings(arrs: np.ndarray, modality: str, quality: int, base: bases.Base, fit: FitConfig, block: int,
                    latlon: np.ndarray | None, embed_base: bool, seed: int) -> tuple[Settings, codec.BatchCoded]:
    """Settings from the first chunk (shape, value range and mask, per-level scales), and its coding."""
    shape = tuple(arrs.shape[1:])
    if modality == "image" and (len(shape) != 3 or shape[2] not in (1, 3) or arrs.dtype != np.uint8):
        raise InputError(f"image items must be uint8 (H, W, 1|3) arrays, got {arrs.dtype} {shape}")
    if modality == "audio" and len(shape) != 1:
        raise InputError(f"audio items must be 1-D sample arrays, got shape {shape}")
    extra: dict = {}
    if modality == "climate":
        if len(shape) != 2:
            raise InputError(f"climate items must be 2-D fields, got shape {shape}")
        valid = ~np.isnan(arrs)
        if not valid.any():
            raise InputError("the first fields have no values")
        field = climate_io.Field(arrs.astype(np.float64), valid, latlon, b"", "", "")
        lo, hi = climate_format.value_range(field, base)
        extra = {"lo": lo, "hi": hi, "mask": climate_io.pack_mask(valid[0]).hex(),
                 "latlon": _pack_latlon(latlon)}
    settings = Settings(modality, shape, quality, codec.quality_step_index(base, quality), (), block,
                        base_manifest=base.manifest if embed_base else None, **extra)
    coded = codec.encode_batch(_to_signals(arrs, settings, base), base, quality, fit, seed, chunk=arrs.shape[0])
    return dataclasses.replace(settings, scale_indices=coded.header.scale_indices), coded


class Archive:
    """A compressed dataset: len(), random access archive[i] -> decoded array, iteration, modulations(i)."""

    def __init__(self, path: str | Path, base: bases.Base | None = None):
        self.path = Path(path)
        self._reader = archive.read_archive(self.path)
        self.settings = Settings.from_bytes(self._reader.header.settings)
        self.base = base or self._load_base()
        self._cfg = self.base.cfg
        # Each block's count byte, read without its CRC so that one damaged block does not hide the others.
        counts = [(self._reader.peek(b, 1) or b"\0")[0] for b in range(len(self._reader))]
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._cache: tuple[int, list[np.ndarray]] | None = None

    def _load_base(self) -> bases.Base:
        header = self._reader.header
        if header.base_blob:
            return bases.base_from_embedded(header.base_blob, self.settings.base_manifest or {})
        return bases.load_base(header.base_id)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _block_ints(self, b: int) -> list[np.ndarray]:
        if self._cache is None or self._cache[0] != b:
            payload = self._reader[b]
            if not payload:
                raise FormatError(f"{self.path}: block {b} is empty")
            n = payload[0]
            shapes = [(n, *s) for s in latents.grid_shapes(_signal_shape(self.settings), self._cfg)]
            try:
                ints = range_coder.decode(payload[1:], shapes, list(self.settings.scale_indices))
            except (ValueError, RuntimeError, KeyError, AssertionError) as e:
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

    def modulations(self, i: int) -> list[np.ndarray]:
        """The latents of item i (per level, (*grid, channels)), dequantized: what functa-style learning uses."""
        b, j = self._locate(i)
        step = quant_step(self.settings.step_index)
        return [q[j].astype(np.float32) * step for q in self._block_ints(b)]

    def __getitem__(self, i: int) -> np.ndarray:
        b, j = self._locate(i)
        ints = [q[j : j + 1] for q in self._block_ints(b)]
        return self._decode(ints)[0]

    def _decode(self, ints: list[np.ndarray]) -> np.ndarray:
        n = ints[0].shape[0]
        inputs = None
        if self.settings.modality == "climate":
            grid = climate_format.grid_inputs(_latlon(self.settings), *self.settings.shape, self.base)
            inputs = np.broadcast_to(grid, (n, *grid.shape))
        values = codec.reconstruct_batch(self.base, ints, _signal_shape(self.settings),
                                         quant_step(self.settings.step_index), inputs, chunk=DECODE_BATCH)
        return _from_values(values, self.settings)

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
