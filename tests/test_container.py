"""Tests for the modality-agnostic .inr container (inrcodec/bitstream/SPEC.md)."""

from __future__ import annotations

import struct
import zlib

import pytest

from inrcodec.bitstream import (
    FORMAT_MAJOR,
    FORMAT_MINOR,
    MAGIC,
    MAX_META_BYTES,
    MAX_PAYLOAD_BYTES,
    MIN_FILE_BYTES,
    MODALITY_AUDIO,
    MODALITY_CLIMATE,
    MODALITY_IMAGE,
    Container,
    pack,
    unpack,
)
from inrcodec.errors import FormatError

BASE_ID = bytes(range(8))
META = b"meta"
PAYLOAD = b"payload!"

# pack(Container(MODALITY_IMAGE, bytes(range(8)), b"meta", b"payload!")) -- computed once.
# If this test fails, the on-disk format changed: bump the version and update SPEC.md.
GOLDEN_HEX = (
    "89494e52"  # magic
    "01"  # major
    "00"  # minor
    "00"  # flags
    "01"  # modality (image)
    "0001020304050607"  # base_id
    "0400"  # meta_len
    "6d657461"  # meta
    "08000000"  # payload_len
    "7061796c6f616421"  # payload
    "554b5f79"  # crc32
)
# Empty meta and payload, minor 3, climate.
GOLDEN_MIN_HEX = "89494e52010300030123456789abcdef000000000000bcf71386"


def _small() -> Container:
    return Container(MODALITY_IMAGE, BASE_ID, META, PAYLOAD)


def _with_crc(head: bytes) -> bytes:
    return head + struct.pack("<I", zlib.crc32(head))


def _raw(
    *,
    magic: bytes = MAGIC,
    major: int = FORMAT_MAJOR,
    minor: int = FORMAT_MINOR,
    flags: int = 0,
    modality: int = MODALITY_IMAGE,
    base_id: bytes = BASE_ID,
    meta: bytes = META,
    meta_len: int | None = None,
    payload: bytes = PAYLOAD,
    payload_len: int | None = None,
) -> bytes:
    """Hand-build a file with a correct CRC but arbitrary (possibly invalid) fields."""
    head = (
        magic
        + bytes([major, minor, flags, modality])
        + base_id
        + struct.pack("<H", len(meta) if meta_len is None else meta_len)
        + meta
        + struct.pack("<I", len(payload) if payload_len is None else payload_len)
        + payload
    )
    return _with_crc(head)


# --- round trip and layout --------------------------------------------------------


@pytest.mark.parametrize(
    "c",
    [
        Container(MODALITY_IMAGE, BASE_ID, META, PAYLOAD),
        Container(MODALITY_AUDIO, b"\xff" * 8, b"", b""),
        Container(MODALITY_CLIMATE, b"\x00" * 8, b"x" * MAX_META_BYTES, bytes(range(256)) * 4),
        Container(MODALITY_IMAGE, BASE_ID, META, PAYLOAD, minor=255),
    ],
)
def test_round_trip(c: Container) -> None:
    data = pack(c)
    assert unpack(data) == c
    assert unpack(bytearray(data)) == c
    assert unpack(memoryview(data)) == c


def test_golden_bytes() -> None:
    assert pack(_small()).hex() == GOLDEN_HEX
    assert unpack(bytes.fromhex(GOLDEN_HEX)) == _small()
    minimal = Container(MODALITY_CLIMATE, bytes.fromhex("0123456789abcdef"), b"", b"", minor=3)
    assert pack(minimal).hex() == GOLDEN_MIN_HEX
    assert len(bytes.fromhex(GOLDEN_MIN_HEX)) == MIN_FILE_BYTES == 26


def test_byte_table_offsets() -> None:
    data = pack(Container(MODALITY_AUDIO, BASE_ID, META, PAYLOAD, minor=7))
    m = len(META)
    assert data[0:4] == b"\x89\x49\x4e\x52" == MAGIC
    assert data[4] == 1 == FORMAT_MAJOR
    assert data[5] == 7
    assert data[6] == 0
    assert data[7] == MODALITY_AUDIO == 2
    assert data[8:16] == BASE_ID
    assert struct.unpack_from("<H", data, 16)[0] == m
    assert data[18 : 18 + m] == META
    assert struct.unpack_from("<I", data, 18 + m)[0] == len(PAYLOAD)
    assert data[22 + m : 22 + m + len(PAYLOAD)] == PAYLOAD
    assert len(data) == 22 + m + len(PAYLOAD) + 4
    assert struct.unpack_from("<I", data, len(data) - 4)[0] == zlib.crc32(data[:-4])


def test_modality_ids() -> None:
    assert (MODALITY_IMAGE, MODALITY_AUDIO, MODALITY_CLIMATE) == (1, 2, 3)


def test_container_is_frozen() -> None:
    c = _small()
    with pytest.raises(AttributeError):
        c.modality = 2  # type: ignore[misc]


# --- corruption -------------------------------------------------------------------


def test_every_single_byte_flip_rejected() -> None:
    data = pack(_small())
    for i in range(len(data)):
        for mask in (0x01, 0x80, 0xFF):
            bad = bytearray(data)
            bad[i] ^= mask
            with pytest.raises(FormatError):
                unpack(bytes(bad))


def test_flip_messages() -> None:
    data = bytearray(pack(_small()))
    bad = bytearray(data)
    bad[0] ^= 1
    with pytest.raises(FormatError, match=r"bad magic"):
        unpack(bytes(bad))
    bad = bytearray(data)
    bad[20] ^= 1  # inside meta
    with pytest.raises(FormatError, match=r"^checksum mismatch: file is corrupted$"):
        unpack(bytes(bad))
    bad = bytearray(data)
    bad[-1] ^= 1  # inside the CRC itself
    with pytest.raises(FormatError, match=r"checksum mismatch"):
        unpack(bytes(bad))


def test_every_truncation_rejected() -> None:
    data = pack(_small())
    for n in range(len(data)):
        with pytest.raises(FormatError):
            unpack(data[:n])
    for n in range(MIN_FILE_BYTES):
        with pytest.raises(FormatError, match=r"^truncated"):
            unpack(data[:n])


def test_wrong_magic() -> None:
    with pytest.raises(FormatError, match=r"^not an inrcodec file \(bad magic\)$"):
        unpack(_raw(magic=b"\x89PNG"))
    with pytest.raises(FormatError, match=r"bad magic"):
        unpack(b"\x00" * 64)


def test_major_2_rejected() -> None:
    with pytest.raises(
        FormatError, match=r"^unsupported format major version 2 \(this decoder reads 1\)$"
    ):
        unpack(_raw(major=2))
    # Major is checked before the CRC, so even a corrupted v2 file gets the version message.
    bad = bytearray(_raw(major=2))
    bad[-1] ^= 0xFF
    with pytest.raises(FormatError, match=r"major version 2"):
        unpack(bytes(bad))


def test_any_minor_accepted() -> None:
    for minor in (0, 1, 9, 255):
        assert unpack(_raw(minor=minor)).minor == minor


def test_nonzero_flags_rejected_with_valid_crc() -> None:
    for flags in (0x01, 0x80, 0xFF):
        data = _raw(flags=flags)
        assert struct.unpack_from("<I", data, len(data) - 4)[0] == zlib.crc32(data[:-4])
        with pytest.raises(FormatError, match=rf"^reserved flags set \(0x{flags:02x}\)$"):
            unpack(data)


@pytest.mark.parametrize("modality", [0, 4, 255])
def test_unknown_modality_with_valid_crc(modality: int) -> None:
    with pytest.raises(FormatError, match=rf"unknown modality {modality}"):
        unpack(_raw(modality=modality))


def test_meta_len_too_large() -> None:
    with pytest.raises(FormatError, match=r"meta_len"):
        unpack(_raw(meta_len=MAX_META_BYTES + 1))
    with pytest.raises(FormatError, match=r"meta_len"):
        unpack(_raw(meta_len=0xFFFF))


def test_meta_len_past_end() -> None:
    # meta_len within the limit but longer than the file: valid CRC, must still be rejected.
    with pytest.raises(FormatError, match=r"^truncated"):
        unpack(_raw(meta_len=len(META) + len(PAYLOAD) + 100))


def test_trailing_bytes() -> None:
    with pytest.raises(FormatError, match=r"^trailing bytes"):
        unpack(_raw(payload=PAYLOAD + b"extra", payload_len=len(PAYLOAD)))


def test_payload_shorter_than_declared() -> None:
    with pytest.raises(FormatError, match=r"^truncated"):
        unpack(_raw(payload_len=len(PAYLOAD) + 1))


@pytest.mark.parametrize("payload_len", [MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES + 1, 0xFFFFFFFF])
def test_huge_payload_len_in_tiny_file(payload_len: int) -> None:
    data = _raw(payload_len=payload_len)
    assert len(data) < 64
    with pytest.raises(FormatError):
        unpack(data)


def test_unpack_rejects_non_bytes() -> None:
    with pytest.raises(TypeError):
        unpack("not bytes")  # type: ignore[arg-type]


# --- pack validation --------------------------------------------------------------


@pytest.mark.parametrize("base_id", [b"", b"\x00" * 7, b"\x00" * 9, b"\x00" * 32])
def test_pack_rejects_bad_base_id_length(base_id: bytes) -> None:
    with pytest.raises(ValueError, match=r"base_id"):
        pack(Container(MODALITY_IMAGE, base_id, META, PAYLOAD))


def test_pack_rejects_bad_fields() -> None:
    with pytest.raises(ValueError, match=r"meta"):
        pack(Container(MODALITY_IMAGE, BASE_ID, b"x" * (MAX_META_BYTES + 1), PAYLOAD))
    for modality in (0, 4, -1, 256):
        with pytest.raises(ValueError, match=r"modality"):
            pack(Container(modality, BASE_ID, META, PAYLOAD))
    for minor in (-1, 256):
        with pytest.raises(ValueError, match=r"minor"):
            pack(Container(MODALITY_IMAGE, BASE_ID, META, PAYLOAD, minor=minor))
    with pytest.raises(ValueError, match=r"payload"):
        pack(Container(MODALITY_IMAGE, BASE_ID, META, "text"))  # type: ignore[arg-type]


def test_pack_errors_are_not_format_errors() -> None:
    # pack reports caller mistakes as plain ValueError, not FormatError.
    with pytest.raises(ValueError) as info:
        pack(Container(MODALITY_IMAGE, b"short", META, PAYLOAD))
    assert not isinstance(info.value, FormatError)
