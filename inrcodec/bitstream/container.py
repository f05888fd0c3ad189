"""Modality-agnostic .inr container: framing, versioning and integrity.

The byte layout is normative and documented in ``SPEC.md`` next to this
module. This layer knows nothing about what ``meta`` and ``payload`` mean;
each modality defines those in its own spec section.

Two profiles share the format: the full container (magic ``\x89INR``, 26 bytes of framing) and,
since 1.7, the compact one (magic ``\x89i``, 11 bytes) for small signals whose modality defines a
compact header that says where its meta ends (SPEC.md §2.4).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from inrcodec.errors import FormatError

__all__ = [
    "BASE_ID_BYTES",
    "COMPACT_BASE_ID_BYTES",
    "COMPACT_MAGIC",
    "COMPACT_MINOR",
    "FORMAT_MAJOR",
    "FORMAT_MINOR",
    "HEADER_FIXED_BYTES",
    "MAGIC",
    "MAX_META_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MIN_FILE_BYTES",
    "MODALITIES",
    "MODALITY_AUDIO",
    "MODALITY_CLIMATE",
    "MODALITY_IMAGE",
    "Container",
    "pack",
    "unpack",
]

MAGIC = b"\x89INR"
FORMAT_MAJOR = 1
FORMAT_MINOR = 0
MAX_META_BYTES = 4096
MAX_PAYLOAD_BYTES = 1 << 30

MODALITY_IMAGE = 1
MODALITY_AUDIO = 2
MODALITY_CLIMATE = 3
MODALITIES = frozenset({MODALITY_IMAGE, MODALITY_AUDIO, MODALITY_CLIMATE})

BASE_ID_BYTES = 8

# magic, major, minor, flags, modality, base_id, meta_len
_HEAD = struct.Struct("<4sBBBB8sH")
_U32 = struct.Struct("<I")

HEADER_FIXED_BYTES = _HEAD.size  # 18: everything before meta
MIN_FILE_BYTES = HEADER_FIXED_BYTES + 2 * _U32.size  # 26: empty meta and payload

COMPACT_MAGIC = b"\x89i"
COMPACT_MINOR = 7  # The first minor version with the compact profile.
COMPACT_BASE_ID_BYTES = 4
# magic, minor << 4 | modality, first 4 bytes of the base id
_COMPACT_HEAD = struct.Struct("<2sB4s")
MIN_COMPACT_BYTES = _COMPACT_HEAD.size + _U32.size  # 11: empty body
COMPACT_MODALITIES = frozenset({MODALITY_CLIMATE})  # Modalities that define a compact header.


@dataclass(frozen=True)
class Container:
    """One .inr file, split into its header fields and opaque sections.

    Attributes:
        modality: Modality id (``MODALITY_IMAGE``, ``MODALITY_AUDIO`` or
            ``MODALITY_CLIMATE``).
        base_id: First 8 bytes of the SHA-256 of the base network's params file.
        meta: Modality-specific header bytes (at most ``MAX_META_BYTES``).
        payload: Entropy-coded data (at most ``MAX_PAYLOAD_BYTES``).
        minor: Format minor version written to / read from the file.
        compact: The compact profile (SPEC.md §2.4): ``base_id`` is then the first 4 bytes of the
            base id, and what ``unpack`` returns has the whole body in ``meta`` (the modality's
            compact header says where its meta ends) and an empty ``payload``.
    """

    modality: int
    base_id: bytes
    meta: bytes
    payload: bytes
    minor: int = FORMAT_MINOR
    compact: bool = False

    def base_matches(self, base_id: bytes) -> bool:
        """Whether the 8-byte `base_id` is the base this file names."""
        return base_id[: len(self.base_id)] == self.base_id if self.compact else base_id == self.base_id


def _check_u8(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise ValueError(f"{name} must be an int in 0..255, got {value!r}")
    return value


def _as_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ValueError(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value)


def pack(c: Container) -> bytes:
    """Serialise a container to the .inr byte layout.

    Args:
        c: The container to write. Its ``minor`` is written as-is.

    Returns:
        The complete file contents, CRC-32 trailer included.

    Raises:
        ValueError: If a field is out of range (unknown modality, ``base_id``
            not exactly 8 bytes, ``meta`` or ``payload`` too large, ...).
    """
    modality = _check_u8("modality", c.modality)
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality}")
    minor = _check_u8("minor", c.minor)
    base_id = _as_bytes("base_id", c.base_id)
    if c.compact:
        return _pack_compact(c, modality, minor, base_id)
    if len(base_id) != BASE_ID_BYTES:
        raise ValueError(f"base_id must be exactly {BASE_ID_BYTES} bytes, got {len(base_id)}")
    meta = _as_bytes("meta", c.meta)
    if len(meta) > MAX_META_BYTES:
        raise ValueError(f"meta is {len(meta)} bytes, limit is {MAX_META_BYTES}")
    payload = _as_bytes("payload", c.payload)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload is {len(payload)} bytes, limit is {MAX_PAYLOAD_BYTES}")

    body = b"".join(
        (
            _HEAD.pack(MAGIC, FORMAT_MAJOR, minor, 0, modality, base_id, len(meta)),
            meta,
            _U32.pack(len(payload)),
            payload,
        )
    )
    return body + _U32.pack(zlib.crc32(body))


def unpack(data: bytes) -> Container:
    """Parse and validate .inr bytes.

    Checks run in the order given by SPEC.md §2.3: length, magic, major
    version, CRC-32, flags, modality, meta length, payload length. No buffer
    is sized from a header field before that field is checked against the
    actual data length.

    Args:
        data: The complete file contents (bytes-like).

    Returns:
        The decoded container; ``meta`` and ``payload`` are still opaque.

    Raises:
        FormatError: If the bytes are not a valid .inr file of major version 1.
        TypeError: If ``data`` is not bytes-like.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    n = len(data)
    if data[: len(COMPACT_MAGIC)] == COMPACT_MAGIC:
        return _unpack_compact(data)
    if n < MIN_FILE_BYTES:
        raise FormatError(f"truncated: {n} bytes, a valid file has at least {MIN_FILE_BYTES}")

    magic, major, minor, flags, modality, base_id, meta_len = _HEAD.unpack_from(data, 0)
    if magic != MAGIC:
        raise FormatError("not an inrcodec file (bad magic)")
    if major != FORMAT_MAJOR:
        raise FormatError(
            f"unsupported format major version {major} (this decoder reads {FORMAT_MAJOR})"
        )

    crc_pos = n - _U32.size
    (stored_crc,) = _U32.unpack_from(data, crc_pos)
    if zlib.crc32(data[:crc_pos]) != stored_crc:
        raise FormatError("checksum mismatch: file is corrupted")

    if flags != 0:
        raise FormatError(f"reserved flags set (0x{flags:02x})")
    if modality not in MODALITIES:
        raise FormatError(f"unknown modality {modality}")
    if meta_len > MAX_META_BYTES:
        raise FormatError(f"meta_len {meta_len} exceeds limit {MAX_META_BYTES}")

    meta_end = HEADER_FIXED_BYTES + meta_len
    if meta_end + _U32.size > crc_pos:
        raise FormatError(f"truncated: meta_len {meta_len} runs past the end of the file")
    (payload_len,) = _U32.unpack_from(data, meta_end)
    if payload_len > MAX_PAYLOAD_BYTES:
        raise FormatError(f"payload_len {payload_len} exceeds limit {MAX_PAYLOAD_BYTES}")

    payload_start = meta_end + _U32.size
    available = crc_pos - payload_start
    if payload_len > available:
        raise FormatError(
            f"truncated: payload_len {payload_len} but only {available} payload bytes present"
        )
    if payload_len < available:
        raise FormatError(
            f"trailing bytes: {available - payload_len} bytes after payload before the CRC"
        )

    return Container(
        modality=modality,
        base_id=base_id,
        meta=data[HEADER_FIXED_BYTES:meta_end],
        payload=data[payload_start:crc_pos],
        minor=minor,
    )


def _pack_compact(c: Container, modality: int, minor: int, base_id: bytes) -> bytes:
    """The compact profile: magic, minor and modality in one byte, a 4-byte base id prefix, the body
    (meta then payload, no lengths), CRC-32."""
    if modality not in COMPACT_MODALITIES:
        raise ValueError(f"modality {modality} has no compact profile")
    if not COMPACT_MINOR <= minor <= 0x0F:
        raise ValueError(f"compact files have minor versions {COMPACT_MINOR}..15, got {minor}")
    if len(base_id) not in (COMPACT_BASE_ID_BYTES, BASE_ID_BYTES):
        raise ValueError(f"base_id must be {COMPACT_BASE_ID_BYTES} or {BASE_ID_BYTES} bytes, got {len(base_id)}")
    body = _as_bytes("meta", c.meta) + _as_bytes("payload", c.payload)
    if len(body) > MAX_META_BYTES + MAX_PAYLOAD_BYTES:
        raise ValueError(f"body is {len(body)} bytes, limit is {MAX_META_BYTES + MAX_PAYLOAD_BYTES}")
    head = _COMPACT_HEAD.pack(COMPACT_MAGIC, minor << 4 | modality, base_id[:COMPACT_BASE_ID_BYTES])
    return head + body + _U32.pack(zlib.crc32(head + body))


def _unpack_compact(data: bytes) -> Container:
    """Checks of SPEC.md §2.4, in order: length, version, CRC-32, modality, body length."""
    n = len(data)
    if n < MIN_COMPACT_BYTES:
        raise FormatError(f"truncated: {n} bytes, a valid compact file has at least {MIN_COMPACT_BYTES}")
    _, version, base_id = _COMPACT_HEAD.unpack_from(data, 0)
    minor, modality = version >> 4, version & 0x0F
    if minor < COMPACT_MINOR:
        raise FormatError(f"compact file of minor version {minor}: the compact profile starts at 1.{COMPACT_MINOR}")
    crc_pos = n - _U32.size
    if zlib.crc32(data[:crc_pos]) != _U32.unpack_from(data, crc_pos)[0]:
        raise FormatError("checksum mismatch: file is corrupted")
    if modality not in MODALITIES:
        raise FormatError(f"unknown modality {modality}")
    if modality not in COMPACT_MODALITIES:
        raise FormatError(f"modality {modality} has no compact profile")
    if crc_pos - _COMPACT_HEAD.size > MAX_META_BYTES + MAX_PAYLOAD_BYTES:
        raise FormatError("compact body exceeds the size limit")
    return Container(modality, base_id, data[_COMPACT_HEAD.size : crc_pos], b"", minor, compact=True)
