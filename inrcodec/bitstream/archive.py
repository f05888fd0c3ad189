"""The .inrpack archive: many opaque item payloads in one file.

The byte layout is normative and documented in ``bitstream/ARCHIVE.md``. This
layer stores bytes only; what the settings, the base blob and the item
payloads mean is up to the codec on top of it.

Writers append directly to the file. Crash safety comes from the recovery
rule: a file without a valid trailer still holds every item that was
completely written, and :func:`open_for_append` rebuilds the index from them.
"""

from __future__ import annotations

import binascii
import hashlib
import operator
import os
import struct
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from inrcodec._io import atomic_write
from inrcodec.bitstream import leb128
from inrcodec.bitstream.container import BASE_ID_BYTES, MAGIC, MODALITIES
from inrcodec.errors import FormatError, InputError

__all__ = [
    "ARCHIVE_MAGIC",
    "ARCHIVE_MAJOR",
    "ARCHIVE_MINOR",
    "BLOCK_ITEMS",
    "END_MARKER",
    "MAX_BASE_BYTES",
    "MAX_ITEM_BYTES",
    "MAX_SETTINGS_BYTES",
    "TRAILER_BYTES",
    "TRAILER_MAGIC",
    "ArchiveHeader",
    "ArchiveReader",
    "ArchiveWriter",
    "create",
    "open_for_append",
    "read_archive",
]

ARCHIVE_MAGIC = b"\x89INP"
TRAILER_MAGIC = b"\x89INX"
ARCHIVE_MAJOR = 1
ARCHIVE_MINOR = 0
MAX_SETTINGS_BYTES = 1 << 24
MAX_BASE_BYTES = 1 << 28
MAX_ITEM_BYTES = (1 << 21) - 1  # the largest length a 3-byte LEB128 holds
BLOCK_ITEMS = 256  # the index stores the offset of every BLOCK_ITEMS-th item
END_MARKER = b"\x80\x00"  # starts the index; never a valid item length (not minimal LEB128)

# magic, major, minor, flags, modality, base_id, settings_len
_HEAD = struct.Struct("<4sBBBB8sI")
_U32 = struct.Struct("<I")
_CRC16 = struct.Struct("<H")
# item count, index offset, index crc32, trailer magic
_TRAILER = struct.Struct("<QQI4s")
TRAILER_BYTES = _TRAILER.size  # 24
_HEADER_MIN_BYTES = _HEAD.size + 2 * _U32.size  # 28: empty settings and base blob
_CHUNK = 1 << 16  # bytes read at once when scanning or reading runs of small items


@dataclass(frozen=True)
class ArchiveHeader:
    """The fields written once at the start of an archive.

    Attributes:
        modality: Modality id, as in ``bitstream.container`` (1 image, 2 audio, 3 climate).
        base_id: First 8 bytes of the SHA-256 of the base network's params file.
        settings: Opaque codec settings shared by all items (at most ``MAX_SETTINGS_BYTES``).
        base_blob: The base network's params.npz bytes when embedded, else empty.
            When present, ``base_id`` must be its SHA-256 prefix.
    """

    modality: int
    base_id: bytes
    settings: bytes
    base_blob: bytes = b""


def _crc16(record: bytes) -> int:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF)."""
    return binascii.crc_hqx(record, 0xFFFF)


def _framing(n: int) -> bytes:
    """The minimal unsigned LEB128 encoding of an item length ``n`` ≤ MAX_ITEM_BYTES."""
    return leb128.encode(n)


def _framing_size(record: bytes) -> int:
    """Length of the LEB128 prefix of a record already known to be well formed."""
    if record[0] < 0x80:
        return 1
    return 2 if record[1] < 0x80 else 3


def _blocks(n: int) -> int:
    return -(-n // BLOCK_ITEMS)


def _index_bytes(n: int) -> int:
    """Bytes from the end of the items to the end of the file for ``n`` items."""
    return len(END_MARKER) + _CRC16.size * n + 8 * _blocks(n) + TRAILER_BYTES


def _as_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value)


class _File:
    """An open archive file with its path (for messages) and its size when opened."""

    def __init__(self, path: Path, f: BinaryIO) -> None:
        self.path = path
        self.f = f
        self.size = os.fstat(f.fileno()).st_size

    def error(self, message: str) -> FormatError:
        return FormatError(f"{self.path}: {message}")

    def read_at(self, pos: int, n: int) -> bytes:
        self.f.seek(pos)
        data = self.f.read(n)
        if len(data) != n:
            raise self.error("file ended early (was it truncated while open?)")
        return data


def _open(path: str | Path, mode: str) -> _File:
    path = Path(path)
    try:
        return _File(path, open(path, mode))  # closed by the reader/writer
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except OSError as e:
        raise InputError(f"{path}: cannot open ({e.strerror})") from None


def _pack_header(h: ArchiveHeader) -> bytes:
    modality = h.modality
    if isinstance(modality, bool) or not isinstance(modality, int) or modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}")
    base_id = _as_bytes("base_id", h.base_id)
    if len(base_id) != BASE_ID_BYTES:
        raise ValueError(f"base_id must be exactly {BASE_ID_BYTES} bytes, got {len(base_id)}")
    settings = _as_bytes("settings", h.settings)
    if len(settings) > MAX_SETTINGS_BYTES:
        raise ValueError(f"settings are {len(settings)} bytes, limit is {MAX_SETTINGS_BYTES}")
    blob = _as_bytes("base_blob", h.base_blob)
    if len(blob) > MAX_BASE_BYTES:
        raise InputError(f"embedded base is {len(blob)} bytes, limit is {MAX_BASE_BYTES}")
    if blob and hashlib.sha256(blob).digest()[:BASE_ID_BYTES] != base_id:
        raise ValueError("base_id is not the SHA-256 prefix of the embedded base blob")
    body = b"".join(
        (
            _HEAD.pack(
                ARCHIVE_MAGIC, ARCHIVE_MAJOR, ARCHIVE_MINOR, 0, modality, base_id, len(settings)
            ),
            settings,
            _U32.pack(len(blob)),
            blob,
        )
    )
    return body + _U32.pack(zlib.crc32(body))


def _read_header(file: _File) -> tuple[ArchiveHeader, int, int]:
    """Checks the header (ARCHIVE.md §4 steps 1-8); returns it, its minor version and its size."""
    size = file.size
    if size < _HEADER_MIN_BYTES:
        raise file.error(f"truncated: {size} bytes, an archive has at least {_HEADER_MIN_BYTES}")
    head = file.read_at(0, _HEAD.size)
    magic, major, minor, flags, modality, base_id, settings_len = _HEAD.unpack(head)
    if magic == MAGIC:
        raise file.error("this is a single .inr file, not an .inrpack archive")
    if magic != ARCHIVE_MAGIC:
        raise file.error("not an inrcodec archive (bad magic)")
    if major != ARCHIVE_MAJOR:
        raise file.error(
            f"unsupported archive major version {major} (this version reads {ARCHIVE_MAJOR})"
        )
    if settings_len > MAX_SETTINGS_BYTES:
        raise file.error(f"settings_len {settings_len} exceeds limit {MAX_SETTINGS_BYTES}")
    if _HEADER_MIN_BYTES + settings_len > size:
        raise file.error("truncated: the header runs past the end of the file")
    settings_and_len = file.read_at(_HEAD.size, settings_len + _U32.size)
    (base_len,) = _U32.unpack_from(settings_and_len, settings_len)
    if base_len > MAX_BASE_BYTES:
        raise file.error(f"base_len {base_len} exceeds limit {MAX_BASE_BYTES}")
    header_bytes = _HEADER_MIN_BYTES + settings_len + base_len
    if header_bytes > size:
        raise file.error("truncated: the header runs past the end of the file")
    blob_and_crc = file.read_at(_HEAD.size + len(settings_and_len), base_len + _U32.size)
    (stored_crc,) = _U32.unpack_from(blob_and_crc, base_len)
    blob = blob_and_crc[:base_len]
    if zlib.crc32(blob, zlib.crc32(settings_and_len, zlib.crc32(head))) != stored_crc:
        raise file.error("header checksum mismatch: the archive header is corrupted")
    if flags != 0:
        raise file.error(f"reserved flags set (0x{flags:02x})")
    if modality not in MODALITIES:
        raise file.error(f"unknown modality {modality}")
    if blob and hashlib.sha256(blob).digest()[:BASE_ID_BYTES] != base_id:
        raise file.error("embedded base does not match the header's base_id")
    header = ArchiveHeader(modality, base_id, settings_and_len[:settings_len], blob)
    return header, minor, header_bytes


def _read_index(file: _File, start: int) -> tuple[int, int, bytes, list[int]] | None:
    """Checks the index (ARCHIVE.md §4 steps 9-12).

    Returns:
        ``(count, index_offset, crc16s, checkpoints)``, or None when the file
        has no trailer (an unfinished or truncated archive).
    """
    size = file.size
    if size < start + len(END_MARKER) + TRAILER_BYTES:
        return None
    n, index_offset, stored_crc, magic = _TRAILER.unpack(
        file.read_at(size - TRAILER_BYTES, TRAILER_BYTES)
    )
    if magic != TRAILER_MAGIC:
        return None
    if index_offset < start or index_offset + _index_bytes(n) != size:
        raise file.error("corrupted index: item count and index offset do not fit the file size")
    body = file.read_at(index_offset, size - 8 - index_offset)
    if zlib.crc32(body) != stored_crc:
        raise file.error("index checksum mismatch: the archive index is corrupted")
    if body[: len(END_MARKER)] != END_MARKER:
        raise file.error("corrupted index: missing end-of-items marker")
    crc_end = len(END_MARKER) + _CRC16.size * n
    k = _blocks(n)
    checkpoints = list(struct.unpack_from(f"<{k}Q", body, crc_end))
    bounds = [*checkpoints, index_offset]
    if bounds[0] != start:
        raise file.error("corrupted index: the first item does not start after the header")
    for b in range(k):
        m = min(BLOCK_ITEMS, n - b * BLOCK_ITEMS)
        if not m <= bounds[b + 1] - bounds[b] <= m * (3 + MAX_ITEM_BYTES):
            raise file.error(f"corrupted index: offset of block {b} is impossible")
    return n, index_offset, body[len(END_MARKER) : crc_end], checkpoints


def _walk(file: _File, pos: int, end: int, limit: int) -> tuple[array, int]:
    """Boundaries of up to ``limit`` consecutive well-formed records starting at ``pos``.

    The walk stops early at ``end``, at a record that would run past ``end``,
    or at bytes that are not a minimal LEB128 length (such as ``END_MARKER``).

    Returns:
        ``(bounds, framing)``: ``bounds[0] == pos`` and ``bounds[j + 1]`` is the
        end of record ``j``; ``framing`` is the total size of their length prefixes.
    """
    bounds = array("Q", [pos])
    framing = 0
    buf = b""
    base = pos
    while len(bounds) <= limit and pos < end:
        r = pos - base
        if r + 3 > len(buf) and base + len(buf) < end:
            base, r = pos, 0
            buf = file.read_at(pos, min(_CHUNK, end - pos))
        avail = len(buf) - r
        b0 = buf[r]
        if b0 < 0x80:
            h, length = 1, b0
        elif avail < 2:
            break
        elif buf[r + 1] < 0x80:
            if buf[r + 1] == 0:
                break
            h, length = 2, b0 & 0x7F | buf[r + 1] << 7
        elif avail < 3 or not 0 < buf[r + 2] < 0x80:
            break
        else:
            h, length = 3, b0 & 0x7F | (buf[r + 1] & 0x7F) << 7 | buf[r + 2] << 14
        if pos + h + length > end:
            break
        pos += h + length
        framing += h
        bounds.append(pos)
    return bounds, framing


def _records(file: _File, bounds: array) -> Iterator[bytes]:
    """The bytes of each record between consecutive ``bounds``, read in chunks of about _CHUNK."""
    i, last = 0, len(bounds) - 1
    while i < last:
        j = i + 1
        while j < last and bounds[j + 1] - bounds[i] <= _CHUNK:
            j += 1
        base = bounds[i]
        chunk = file.read_at(base, bounds[j] - base)
        for t in range(i, j):
            yield chunk[bounds[t] - base : bounds[t + 1] - base]
        i = j


class ArchiveWriter:
    """Appends items to an archive; get one from :func:`create` or :func:`open_for_append`.

    ``len(writer)`` counts every item in the archive, including those that
    were there before it was opened. Closing (or leaving the ``with`` block,
    also on an exception) writes the index and trailer and fsyncs. If a write
    fails, the writer stops and leaves the file for :func:`open_for_append`
    to recover.

    Attributes:
        path: The archive file.
        header: The archive header.
        recovered: True if the file had no valid trailer when opened, so its
            index was rebuilt by scanning the complete items.
    """

    def __init__(
        self,
        file: _File,
        header: ArchiveHeader,
        *,
        end: int,
        crcs: bytes,
        checkpoints: list[int],
        recovered: bool,
        dirty: bool,
    ) -> None:
        self.path = file.path
        self.header = header
        self.recovered = recovered
        self._f = file.f
        self._end = end  # end of the last complete item
        self._n = len(crcs) // _CRC16.size
        self._crcs = bytearray(crcs)
        self._checkpoints = checkpoints
        self._stale = file.size > end  # an old index or a partial item still follows the items
        self._dirty = dirty  # the index on disk (if any) is out of date
        self._broken = False
        self._closed = False

    def __len__(self) -> int:
        return self._n

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, payload: bytes) -> int:
        """Adds one item and returns its index.

        Raises:
            InputError: If the payload is larger than ``MAX_ITEM_BYTES``.
        """
        self._write(payload)
        self._flush()
        return self._n - 1

    def extend(self, payloads: Iterable[bytes]) -> None:
        """Adds items in order; items written before an error in ``payloads`` are kept."""
        try:
            for payload in payloads:
                self._write(payload)
        finally:
            self._flush()

    def close(self) -> None:
        """Writes the index and trailer and fsyncs (nothing to write if no item was added)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._dirty and not self._broken:
                self._cut()
                trailer_head = struct.pack("<QQ", self._n, self._end)
                body = b"".join(
                    (
                        END_MARKER,
                        self._crcs,
                        struct.pack(f"<{len(self._checkpoints)}Q", *self._checkpoints),
                        trailer_head,
                    )
                )
                self._f.seek(self._end)
                self._f.write(body + _U32.pack(zlib.crc32(body)) + TRAILER_MAGIC)
                self._f.flush()
                os.fsync(self._f.fileno())
        finally:
            self._f.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self.path}: archive writer is closed")
        if self._broken:
            raise ValueError(f"{self.path}: an earlier write failed; reopen with open_for_append")

    def _cut(self) -> None:
        """Removes what follows the last complete item (done once, before the first write)."""
        if self._stale:
            self._f.truncate(self._end)
            os.fsync(self._f.fileno())
            self._f.seek(self._end)
            self._stale = False
        self._dirty = True

    def _write(self, payload: bytes) -> None:
        self._check_open()
        data = _as_bytes("payload", payload)
        if len(data) > MAX_ITEM_BYTES:
            raise InputError(
                f"item is {len(data)} bytes, an archive item holds at most {MAX_ITEM_BYTES}"
            )
        record = _framing(len(data)) + data
        try:
            self._cut()
            self._f.write(record)
        except BaseException:
            self._broken = True
            raise
        if self._n % BLOCK_ITEMS == 0:
            self._checkpoints.append(self._end)
        self._crcs += _CRC16.pack(_crc16(record))
        self._end += len(record)
        self._n += 1

    def _flush(self) -> None:
        if self._broken or self._closed:
            return
        try:
            self._f.flush()
        except BaseException:
            self._broken = True
            raise


class ArchiveReader:
    """Random access to the items of a finished archive; get one from :func:`read_archive`.

    Items are checked against their CRC-16 when read. Exact offsets are found
    lazily, one block of ``BLOCK_ITEMS`` items at a time, so opening reads
    only the header and the index. Not safe for concurrent use from threads.

    Attributes:
        path: The archive file.
        header: The archive header.
        file_bytes: Size of the file in bytes.
    """

    def __init__(
        self, file: _File, header: ArchiveHeader, index: tuple[int, int, bytes, list[int]]
    ) -> None:
        self.path = file.path
        self.header = header
        self.file_bytes = file.size
        self._file = file
        self._n, self._index_offset, self._crcs, self._checkpoints = index
        self._cache: dict[int, tuple[array, int, int]] = {}

    def __len__(self) -> int:
        return self._n

    @property
    def items_end(self) -> int:
        """File offset where the items end and the index begins."""
        return self._index_offset

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.f.close()

    def __getitem__(self, i: int) -> bytes:
        """The payload of item ``i`` (negative indices count from the end).

        Raises:
            IndexError: If ``i`` is out of range.
            FormatError: If the item is corrupted.
        """
        i = operator.index(i)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"item index out of range (the archive has {self._n} items)")
        b, j = divmod(i, BLOCK_ITEMS)
        bounds, good, _ = self._block(b)
        if j >= good:
            raise self._unreadable(i, b * BLOCK_ITEMS + good)
        return self._payload(i, self._file.read_at(bounds[j], bounds[j + 1] - bounds[j]))

    def peek(self, i: int, n: int) -> bytes:
        """The first ``n`` payload bytes of item ``i`` without checking its CRC (for a small per-item
        header that must stay readable when the rest of the item is damaged).

        Raises:
            IndexError: If ``i`` is out of range.
            FormatError: If the item cannot be located (a damaged length before it).
        """
        i = operator.index(i) % self._n if self._n else operator.index(i)
        if not 0 <= i < self._n:
            raise IndexError(f"item index out of range (the archive has {self._n} items)")
        b, j = divmod(i, BLOCK_ITEMS)
        bounds, good, _ = self._block(b)
        if j >= good:
            raise self._unreadable(i, b * BLOCK_ITEMS + good)
        record = self._file.read_at(bounds[j], bounds[j + 1] - bounds[j])
        return record[_framing_size(record) :][:n]

    def __iter__(self) -> Iterator[bytes]:
        """The payloads in order; raises FormatError at the first corrupted item."""
        for b in range(_blocks(self._n)):
            first = b * BLOCK_ITEMS
            bounds, good, _ = self._block(b)
            for j, record in enumerate(_records(self._file, bounds[: good + 1])):
                yield self._payload(first + j, record)
            if good < min(BLOCK_ITEMS, self._n - first):
                raise self._unreadable(first + good, first + good)

    def verify(self) -> list[int]:
        """Indices of the items that fail their checksum or cannot be located, in order."""
        bad = []
        for b in range(_blocks(self._n)):
            first = b * BLOCK_ITEMS
            bounds, good, _ = self._block(b)
            for j, record in enumerate(_records(self._file, bounds[: good + 1])):
                if _crc16(record) != self._crc(first + j):
                    bad.append(first + j)
            bad.extend(range(first + good, min(first + BLOCK_ITEMS, self._n)))
        return bad

    def overhead_bytes(self) -> int:
        """Bytes of the file that are not item payload: header, length prefixes, index, trailer.

        Raises:
            FormatError: If an item cannot be located (see :meth:`verify`).
        """
        payload = 0
        for b in range(_blocks(self._n)):
            first = b * BLOCK_ITEMS
            bounds, good, framing = self._block(b)
            if good < min(BLOCK_ITEMS, self._n - first):
                raise self._unreadable(first + good, first + good)
            payload += bounds[-1] - bounds[0] - framing
        return self.file_bytes - payload

    def _crc(self, i: int) -> int:
        return _CRC16.unpack_from(self._crcs, _CRC16.size * i)[0]

    def _payload(self, i: int, record: bytes) -> bytes:
        if _crc16(record) != self._crc(i):
            raise FormatError(f"{self.path}: item {i}: checksum mismatch (the item is corrupted)")
        return record[_framing_size(record) :]

    def _unreadable(self, i: int, damaged: int) -> FormatError:
        if i == damaged:
            return FormatError(
                f"{self.path}: item {i}: corrupted (damaged length or checksum mismatch)"
            )
        return FormatError(f"{self.path}: item {i}: cannot be located, item {damaged} is corrupted")

    def _block(self, b: int) -> tuple[array, int, int]:
        """Record boundaries of block ``b`` and how many of its leading items can be located.

        Returns:
            ``(bounds, good, framing)`` with ``bounds`` and ``framing`` as from
            :func:`_walk`; ``good`` is the block's item count unless a length
            prefix in it is damaged.
        """
        cached = self._cache.get(b)
        if cached is None:
            first = b * BLOCK_ITEMS
            m = min(BLOCK_ITEMS, self._n - first)
            k = _blocks(self._n)
            end = self._checkpoints[b + 1] if b + 1 < k else self._index_offset
            bounds, framing = _walk(self._file, self._checkpoints[b], end, m)
            good = m
            if len(bounds) != m + 1 or bounds[-1] != end:
                good = 0
                for record in _records(self._file, bounds):
                    if _crc16(record) != self._crc(first + good):
                        break
                    good += 1
            cached = self._cache[b] = (bounds, good, framing)
        return cached


def create(path: str | Path, header: ArchiveHeader, *, force: bool = False) -> ArchiveWriter:
    """Starts a new archive: writes its header atomically and returns a writer for its items.

    Raises:
        InputError: If ``path`` exists and not ``force``, or cannot be written.
        ValueError: If a header field is invalid.
    """
    head = _pack_header(header)
    atomic_write(path, head, force=force)
    file = _open(path, "r+b")
    file.f.seek(len(head))
    return ArchiveWriter(
        file,
        header,
        end=len(head),
        crcs=b"",
        checkpoints=[],
        recovered=False,
        dirty=True,
    )


def open_for_append(path: str | Path) -> ArchiveWriter:
    """Opens an archive to add items after those it holds.

    A file without a valid trailer (its writer was interrupted, or it was
    truncated) is recovered: every complete item is kept, a trailing partial
    item or partial index is dropped when the writer first writes or closes.
    Items already in the file are never rewritten. Continue from ``len(writer)``.

    Raises:
        InputError: If the file cannot be opened.
        FormatError: If the header or an existing index is invalid, or the
            archive was written by a newer minor version.
    """
    file = _open(path, "r+b")
    try:
        header, minor, start = _read_header(file)
        if minor > ARCHIVE_MINOR:
            raise file.error(
                f"written by archive format {ARCHIVE_MAJOR}.{minor}; this version appends only to "
                f"{ARCHIVE_MAJOR}.{ARCHIVE_MINOR}"
            )
        index = _read_index(file, start)
        if index is not None:
            _, end, crcs, checkpoints = index
            return ArchiveWriter(
                file,
                header,
                end=end,
                crcs=crcs,
                checkpoints=checkpoints,
                recovered=False,
                dirty=False,
            )
        bounds, _ = _walk(file, start, file.size, file.size)
        crcs = b"".join(_CRC16.pack(_crc16(record)) for record in _records(file, bounds))
        return ArchiveWriter(
            file,
            header,
            end=bounds[-1],
            crcs=crcs,
            checkpoints=list(bounds[: len(bounds) - 1 : BLOCK_ITEMS]),
            recovered=True,
            dirty=True,
        )
    except BaseException:
        file.f.close()
        raise


def read_archive(path: str | Path) -> ArchiveReader:
    """Opens a finished archive for reading (use as a context manager, or call ``close()``).

    Raises:
        InputError: If the file cannot be opened.
        FormatError: If the header, index or trailer is invalid or missing.
    """
    file = _open(path, "rb")
    try:
        header, _, start = _read_header(file)
        index = _read_index(file, start)
        if index is None:
            raise file.error(
                "unfinished archive: no index at the end (its writer was interrupted or the file "
                "is truncated); open it for append to recover its complete items"
            )
        return ArchiveReader(file, header, index)
    except BaseException:
        file.f.close()
        raise
