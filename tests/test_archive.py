"""Tests for the .inrpack archive storage layer (inrcodec/bitstream/ARCHIVE.md)."""

from __future__ import annotations

import hashlib
import random
import shutil
import struct
import time
import zlib
from pathlib import Path

import pytest

from inrcodec.bitstream.archive import (
    ARCHIVE_MAGIC,
    MAX_ITEM_BYTES,
    TRAILER_BYTES,
    ArchiveHeader,
    create,
    open_for_append,
    read_archive,
)
from inrcodec.bitstream import MODALITY_CLIMATE, MODALITY_IMAGE, Container, pack
from inrcodec.errors import FormatError, InputError

HEADER = ArchiveHeader(MODALITY_CLIMATE, bytes(range(8)), b"shared settings")
H = 28 + len(HEADER.settings)  # header size of HEADER
EDGE_SIZES = [0, 1, 127, 128, 16383, 16384, 70000]

# An archive with settings b"s" and items b"", b"ab" -- computed once and checked by
# hand against ARCHIVE.md. If this test fails, the on-disk format changed.
GOLDEN_HEX = (
    "89494e50"  # magic
    "01000003"  # major 1, minor 0, flags 0, modality 3 (climate)
    "0001020304050607"  # base_id
    "01000000"  # settings_len
    "73"  # settings b"s"
    "00000000"  # base_len
    "84c738c7"  # header crc32
    "00"  # item 0: length 0
    "026162"  # item 1: length 2, b"ab"
    "8000"  # end marker
    "f0e103d6"  # crc16 of record 0 and record 1
    "1d00000000000000"  # checkpoint 0 = H = 29
    "0200000000000000"  # item count
    "2100000000000000"  # index offset X = 33
    "282cb365"  # index crc32
    "89494e58"  # trailer magic
)


def _payloads(n: int, seed: int = 0, max_len: int = 40) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(max_len + 1)) for _ in range(n)]


def _write(path: Path, payloads: list[bytes], header: ArchiveHeader = HEADER) -> None:
    with create(path, header) as w:
        w.extend(payloads)


def _read_all(path: Path) -> list[bytes]:
    with read_archive(path) as r:
        return list(r)


def _framing(n: int) -> int:
    return 1 if n < 128 else 2 if n < 16384 else 3


def _flip(path: Path, pos: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[pos] ^= mask
    path.write_bytes(bytes(data))


def _with_header_fields(path: Path, **fields: int) -> None:
    """Rewrites fixed header bytes (major=4, minor=5, flags=6) and fixes the header CRC."""
    data = bytearray(path.read_bytes())
    for name, value in fields.items():
        data[{"major": 4, "minor": 5, "flags": 6}[name]] = value
    data[H - 4 : H] = struct.pack("<I", zlib.crc32(bytes(data[: H - 4])))
    path.write_bytes(bytes(data))


def test_golden_bytes(tmp_path: Path) -> None:
    path = tmp_path / "g.inrpack"
    _write(path, [b"", b"ab"], ArchiveHeader(MODALITY_CLIMATE, bytes(range(8)), b"s"))
    assert path.read_bytes().hex() == GOLDEN_HEX


def test_round_trip_edge_sizes(tmp_path: Path) -> None:
    rng = random.Random(1)
    payloads = [rng.randbytes(n) for n in EDGE_SIZES * 3] + _payloads(500)
    path = tmp_path / "a.inrpack"
    _write(path, payloads)
    with read_archive(path) as r:
        assert r.header == HEADER
        assert len(r) == len(payloads)
        assert list(r) == payloads
        assert [r[i] for i in range(len(r))] == payloads
        assert r.verify() == []
        assert r.file_bytes == path.stat().st_size
        assert r.overhead_bytes() == r.file_bytes - sum(map(len, payloads))


def test_embedded_base_and_empty_archive(tmp_path: Path) -> None:
    blob = b"PK\x03\x04 pretend params.npz" * 100
    header = ArchiveHeader(MODALITY_IMAGE, hashlib.sha256(blob).digest()[:8], b"", blob)
    path = tmp_path / "b.inrpack"
    _write(path, [b"x"], header)
    with read_archive(path) as r:
        assert r.header == header and r[0] == b"x"
    path = tmp_path / "e.inrpack"
    _write(path, [])
    assert path.stat().st_size == H + 2 + TRAILER_BYTES
    with read_archive(path) as r:
        assert len(r) == 0 and list(r) == [] and r.verify() == []
        assert r.overhead_bytes() == r.file_bytes


@pytest.mark.parametrize("size", EDGE_SIZES)
def test_framing_is_at_most_two_bytes_below_16384(tmp_path: Path, size: int) -> None:
    n = 300
    path = tmp_path / "f.inrpack"
    _write(path, [bytes(size)] * n)
    index = 2 + 2 * n + 8 * 2 + TRAILER_BYTES
    framing = (path.stat().st_size - H - index - n * size) / n
    assert framing == _framing(size)
    assert framing <= (2 if size < 16384 else 3)


def test_random_access_and_negative_indices(tmp_path: Path) -> None:
    payloads = _payloads(1000, seed=2)
    path = tmp_path / "r.inrpack"
    _write(path, payloads)
    rng = random.Random(3)
    with read_archive(path) as r:
        for i in rng.sample(range(-len(payloads), len(payloads)), 300):
            assert r[i] == payloads[i]
        assert r[-1] == payloads[-1] and r[-1000] == payloads[0]
        for bad in (1000, -1001):
            with pytest.raises(IndexError):
                r[bad]
        with pytest.raises(TypeError):
            r[1:3]  # type: ignore[index]


def test_append_across_sessions(tmp_path: Path) -> None:
    payloads = _payloads(700, seed=4)
    path = tmp_path / "s.inrpack"
    _write(path, payloads[:100])
    for lo, hi in ((100, 101), (101, 600), (600, 700)):
        with open_for_append(path) as w:
            assert len(w) == lo and not w.recovered and w.header == HEADER
            for p in payloads[lo:hi]:
                w.append(p)
            assert len(w) == hi
    before = path.read_bytes()
    with open_for_append(path) as w:
        assert len(w) == 700
    assert path.read_bytes() == before  # opening without appending changes nothing
    assert _read_all(path) == payloads


def test_resume_after_killed_writer(tmp_path: Path) -> None:
    payloads = _payloads(900, seed=5)
    path = tmp_path / "k.inrpack"
    snapshots = []
    w = create(path, HEADER)
    for i, p in enumerate(payloads):
        w.append(p)
        if i in (0, 255, 256, 600):
            shutil.copy(path, snap := tmp_path / f"snap{i}.inrpack")
            snapshots.append((snap, i + 1))
    w.close()
    for snap, complete in snapshots:
        with pytest.raises(FormatError, match="open it for append"):
            read_archive(snap)
        with open_for_append(snap) as w:
            assert w.recovered and len(w) == complete
            w.extend(payloads[len(w) :])
        assert _read_all(snap) == payloads


def _record_ends(payloads: list[bytes]) -> list[int]:
    ends, pos = [], H
    for p in payloads:
        pos += _framing(len(p)) + len(p)
        ends.append(pos)
    return ends


def test_recovery_from_truncation_anywhere(tmp_path: Path) -> None:
    rng = random.Random(6)
    payloads = [rng.randbytes(n) for n in (5, 0, 300, 17000, 1)] + _payloads(520, seed=7)
    full = tmp_path / "full.inrpack"
    _write(full, payloads)
    data = full.read_bytes()
    ends = _record_ends(payloads)
    x = ends[-1]
    cuts = {H, H + 1, ends[0] - 1, ends[0], ends[2] + 2, ends[3] - 100, ends[3] + 1, ends[300]}
    cuts |= {
        ends[-2] + 1,
        x,
        x + 1,
        x + 2,
        x + 3,
        x + 500,
        len(data) - TRAILER_BYTES,
        len(data) - 1,
    }
    for cut in sorted(cuts):
        path = tmp_path / f"cut{cut}.inrpack"
        path.write_bytes(data[:cut])
        complete = sum(e <= cut for e in ends)
        with open_for_append(path) as w:
            assert w.recovered and len(w) == complete, cut
            w.extend(payloads[complete:])
        assert _read_all(path) == payloads, cut
        assert path.read_bytes() == data, cut  # the recovered archive is the one written in one go


def test_recovery_without_appending_keeps_complete_items(tmp_path: Path) -> None:
    payloads = _payloads(10, seed=8)
    path = tmp_path / "p.inrpack"
    _write(path, payloads)
    ends = _record_ends(payloads)
    path.write_bytes(path.read_bytes()[: ends[6] + 2])  # mid-item 7
    with pytest.raises(FormatError, match="unfinished archive"):
        read_archive(path)
    with open_for_append(path) as w:
        assert len(w) == 7
    assert _read_all(path) == payloads[:7]


def test_context_manager_indexes_items_written_before_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.inrpack"

    def gen():
        yield b"a"
        yield b"b"
        raise RuntimeError("codec failed")

    with pytest.raises(RuntimeError), create(path, HEADER) as w:
        w.extend(gen())
    assert _read_all(path) == [b"a", b"b"]
    with open_for_append(path) as w:
        with pytest.raises(InputError, match="at most"):
            w.append(bytes(MAX_ITEM_BYTES + 1))
        w.append(bytes(MAX_ITEM_BYTES))
    with read_archive(path) as r:
        assert len(r) == 3 and len(r[2]) == MAX_ITEM_BYTES
    with pytest.raises(ValueError, match="closed"):
        w.append(b"late")


def test_flipped_payload_byte_reports_only_that_item(tmp_path: Path) -> None:
    payloads = _payloads(600, seed=9, max_len=30)
    payloads[300] = b"0123456789"
    path = tmp_path / "c.inrpack"
    _write(path, payloads)
    _flip(path, _record_ends(payloads)[300] - 3)
    with read_archive(path) as r:
        assert r.verify() == [300]
        with pytest.raises(FormatError, match="item 300:"):
            r[300]
        with pytest.raises(FormatError, match="item 300:"):
            list(r)
        assert [r[i] for i in range(600) if i != 300] == payloads[:300] + payloads[301:]


def test_flipped_length_byte_spares_other_blocks(tmp_path: Path) -> None:
    payloads = _payloads(700, seed=10, max_len=30)
    path = tmp_path / "l.inrpack"
    _write(path, payloads)
    ends = _record_ends(payloads)
    _flip(path, ends[299], 0x40)  # the length prefix of item 300 (block 1 is items 256..511)
    with read_archive(path) as r:
        bad = r.verify()
        assert bad[0] == 300 and set(bad) <= set(range(300, 512))
        with pytest.raises(FormatError, match="item 300:"):
            r[300]
        with pytest.raises(FormatError, match="item 300 is corrupted"):
            r[bad[-1]]
        with pytest.raises(FormatError, match="item 300"):
            r.overhead_bytes()
        good = [i for i in range(700) if i not in bad]
        assert [r[i] for i in good] == [payloads[i] for i in good]


def test_flipped_byte_in_header_index_or_trailer_is_rejected(tmp_path: Path) -> None:
    payloads = _payloads(300, seed=11)
    path = tmp_path / "h.inrpack"
    _write(path, payloads)
    data = path.read_bytes()
    x = _record_ends(payloads)[-1]
    crc_end = x + 2 + 2 * len(payloads)
    # Every header byte, the end marker, the first and last item CRCs, checkpoints and trailer.
    for pos in [*range(H), *range(x, x + 6), *range(crc_end - 4, len(data))]:
        for mask in (0x01, 0x80):
            broken = bytearray(data)
            broken[pos] ^= mask
            path.write_bytes(bytes(broken))
            with pytest.raises(FormatError):
                read_archive(path)


def test_corrupt_index_is_not_silently_recovered(tmp_path: Path) -> None:
    path = tmp_path / "i.inrpack"
    _write(path, _payloads(20))
    _flip(path, path.stat().st_size - TRAILER_BYTES - 3)  # a checkpoint byte
    with pytest.raises(FormatError, match="index checksum"):
        open_for_append(path)


def test_header_fields_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "v.inrpack"
    _write(path, [b"abc"])
    original = path.read_bytes()
    _with_header_fields(path, flags=1)
    with pytest.raises(FormatError, match="reserved flags"):
        read_archive(path)
    path.write_bytes(original)
    _with_header_fields(path, major=2)
    with pytest.raises(FormatError, match="major version 2"):
        read_archive(path)
    with pytest.raises(FormatError, match="major version 2"):
        open_for_append(path)
    path.write_bytes(original)
    _with_header_fields(path, minor=7)
    with read_archive(path) as r:  # newer minor: readable ...
        assert r[0] == b"abc"
    with pytest.raises(FormatError, match="format 1.7"):  # ... but not appendable
        open_for_append(path)
    path.write_bytes(b"\x89XYZ" + original[4:])
    with pytest.raises(FormatError, match="bad magic"):
        read_archive(path)
    path.write_bytes(pack(Container(MODALITY_IMAGE, bytes(8), b"", b"payload")))
    with pytest.raises(FormatError, match="single .inr file"):
        read_archive(path)
    for size in (0, 10, H + 2):
        path.write_bytes(original[:size])
        with pytest.raises(FormatError, match="truncated|unfinished"):
            read_archive(path)
    assert original.startswith(ARCHIVE_MAGIC)


def test_invalid_headers_are_refused_on_create(tmp_path: Path) -> None:
    path = tmp_path / "n.inrpack"
    for bad in (
        ArchiveHeader(9, bytes(8), b""),
        ArchiveHeader(MODALITY_IMAGE, bytes(7), b""),
        ArchiveHeader(MODALITY_IMAGE, bytes(8), b"", b"blob whose hash is not the base id"),
    ):
        with pytest.raises(ValueError):
            create(path, bad)
    assert not path.exists()


def test_create_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "o.inrpack"
    _write(path, [b"old"])
    with pytest.raises(InputError, match="already exists"):
        create(path, HEADER)
    assert _read_all(path) == [b"old"]
    with create(path, HEADER, force=True) as w:
        w.append(b"new")
    assert _read_all(path) == [b"new"]
    with pytest.raises(InputError, match="no such file"):
        open_for_append(tmp_path / "missing.inrpack")
    with pytest.raises(InputError, match="no such file"):
        read_archive(tmp_path / "missing.inrpack")


def test_100k_tiny_items_are_fast(tmp_path: Path) -> None:
    n = 100_000
    payloads = _payloads(n, seed=12, max_len=12)
    path = tmp_path / "big.inrpack"
    t0 = time.perf_counter()
    _write(path, payloads)
    with read_archive(path) as r:
        assert len(r) == n
        rng = random.Random(13)
        for i in rng.sample(range(n), 2000):
            assert r[i] == payloads[i]
    with open_for_append(path) as w:
        w.append(b"one more")
    with read_archive(path) as r:
        assert r[-1] == b"one more" and r[n - 1] == payloads[-1]
    assert time.perf_counter() - t0 < 10
