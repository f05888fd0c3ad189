"""End-to-end tests of the `inrcodec` command (inrcodec.cli.main, run in-process).

Exit codes: 0 ok, 1 bad input or file (exactly one stderr line "inrcodec: error: ..."), argparse
exits for --help. Every encode uses the tiny test base and `--fit-steps 8` (conftest.DEBUG_FIT) on
the SMALL_SHAPE image, so JAX compiles once (in the session fixture `small_inr`) and each later
encode takes milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inrcodec.bitstream import HEADER_FIXED_BYTES, MAGIC
from conftest import DEBUG_FIT, DEBUG_FIT_STEPS, FAST_FIT_STEPS, SMALL_SHAPE, TINY_BASE_NAME
from inrcodec.cli import main
from make_assets import png_claiming, synthetic_image

pytestmark = pytest.mark.usefixtures("inr_bases")

# As conftest.py's small_png and small_inr (encoded with these options).
HEIGHT, WIDTH = SMALL_SHAPE
ENCODE_OPTS = ["--base", TINY_BASE_NAME, "--fit-steps", FAST_FIT_STEPS, "--quiet"]


# --------------------------------------------------------------------------------------------
# Helpers


def run(capsys: pytest.CaptureFixture, *argv: str | Path) -> tuple[int, str, str]:
    """Runs the CLI in-process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()  # Drop anything captured before this call.
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def encode(capsys, src: Path, dst: Path, *extra: str) -> tuple[int, str, str]:
    return run(capsys, "encode", src, "-o", dst, *ENCODE_OPTS, *extra)


def assert_one_line_error(rc: int, err: str, *any_of: str) -> str:
    """Exit code 1 and stderr is exactly one 'inrcodec: error:' line (mentioning one of `any_of`)."""
    assert rc == 1, f"expected exit code 1, got {rc}; stderr: {err!r}"
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, f"stderr should be exactly one line, got {err!r}"
    line = lines[0]
    assert line.startswith("inrcodec: error:"), line
    if any_of:
        assert any(word.lower() in line.lower() for word in any_of), f"{line!r} mentions none of {any_of}"
    return line


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def with_crc(data: bytes | bytearray) -> bytes:
    """`data` with its CRC-32 trailer recomputed over all bytes but the last 4 (SPEC.md §2.2)."""
    body = bytes(data[:-4])
    return body + struct.pack("<I", zlib.crc32(body))


def write_variant(tmp_path: Path, data: bytes, name: str = "variant.inr") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def leftover_temp_files(directory: Path) -> list[str]:
    """Files atomic_write may have left behind (".<name>.<random>.tmp")."""
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]


# --------------------------------------------------------------------------------------------
# The happy path


def test_encode_writes_file_and_reports_bpp(capsys, small_png: Path, tmp_path: Path):
    out = tmp_path / "out.inr"
    rc, stdout, stderr = encode(capsys, small_png, out)
    assert rc == 0, stderr
    assert out.is_file() and out.stat().st_size > 0
    assert out.read_bytes().startswith(MAGIC)
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    assert "bpp" in lines[0]
    assert str(out) in lines[0]
    assert "Traceback" not in stderr


def test_info_prints_size_and_base(capsys, small_inr: Path):
    rc, stdout, stderr = run(capsys, "info", small_inr)
    assert rc == 0, stderr
    fields = {}
    for line in stdout.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    assert fields["width"] == str(WIDTH)
    assert fields["height"] == str(HEIGHT)
    assert fields["base"] == TINY_BASE_NAME


def test_info_json_bpp_matches_file_size(capsys, small_inr: Path):
    rc, stdout, stderr = run(capsys, "info", small_inr, "--json")
    assert rc == 0, stderr
    info = json.loads(stdout)
    size = small_inr.stat().st_size
    assert info["bytes"] == size
    assert info["width"] == WIDTH and info["height"] == HEIGHT
    assert info["base"] == TINY_BASE_NAME
    assert info["bpp"] == pytest.approx(8 * size / (WIDTH * HEIGHT), abs=1e-5)


def test_decode_writes_png_of_the_right_size(capsys, small_inr: Path, tmp_path: Path):
    out = tmp_path / "decoded.png"
    rc, stdout, stderr = run(capsys, "decode", small_inr, "-o", out)
    assert rc == 0, stderr
    assert str(out) in stdout
    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.size == (WIDTH, HEIGHT)
        assert im.mode == "RGB"


def test_encode_is_deterministic(capsys, small_png: Path, small_inr: Path, tmp_path: Path):
    a, b = tmp_path / "a.inr", tmp_path / "b.inr"
    assert encode(capsys, small_png, a)[0] == 0
    assert encode(capsys, small_png, b)[0] == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() == small_inr.read_bytes()


# --------------------------------------------------------------------------------------------
# Rate targets


def test_unreachable_rate_target_warns_and_reports_the_search(capsys, small_png: Path, small_inr: Path, tmp_path: Path):
    out = tmp_path / "out.inr"
    rc, stdout, stderr = encode(capsys, small_png, out, "--bpp", "0.01")
    assert rc == 0, stderr
    assert out.is_file()
    assert "Traceback" not in stderr
    warning, = stderr.splitlines()
    assert warning.startswith("inrcodec: warning:") and "0.01 bpp" in warning
    assert "levels tried" in stdout

    rc, stdout, stderr = encode(capsys, small_png, tmp_path / "json.inr", "--bpp", "0.01", "--json")
    line = json.loads(stdout)
    assert line["target_missed"] is True and line["quality"] == 1 and line["bpp"] > 0.01
    assert line["levels_tried"] == 3  # Bisection over the 8 levels down to the smallest: 4, 2, 1.


def test_unreachable_rate_target_with_strict_fails_and_writes_nothing(capsys, small_png: Path, small_inr: Path,
                                                                      tmp_path: Path):
    out = tmp_path / "out.inr"
    rc, _, err = encode(capsys, small_png, out, "--bpp", "0.01", "--strict")
    assert_one_line_error(rc, err, "out of reach")
    assert not out.exists()


def test_reachable_rate_target_reports_the_levels_tried(capsys, small_png: Path, small_inr: Path, tmp_path: Path):
    rc, stdout, stderr = encode(capsys, small_png, tmp_path / "out.inr", "--bpp", "1000", "--json", "--strict")
    assert rc == 0 and stderr == ""
    line = json.loads(stdout)
    assert line["target_missed"] is False and line["quality"] == 8
    assert line["levels_tried"] == 4  # Bisection up to the largest: 4, 6, 7, 8.
    rc, stdout, _ = encode(capsys, small_png, tmp_path / "q.inr", "--quality", "8", "--json")
    assert "levels_tried" not in json.loads(stdout)


# --------------------------------------------------------------------------------------------
# Help


@pytest.mark.parametrize("argv", [["--help"], ["encode", "--help"]], ids=["main", "encode"])
def test_help_exits_zero_and_mentions_rate_options(capsys, argv):
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--quality" in out
    assert "--bpp" in out


# --------------------------------------------------------------------------------------------
# Bad inputs


def test_encode_text_file_input(capsys, tmp_path: Path):
    src = tmp_path / "notes.png"
    src.write_text("this is not an image\n")
    rc, _, err = encode(capsys, src, tmp_path / "out.inr")
    assert_one_line_error(rc, err, "image")
    assert not (tmp_path / "out.inr").exists()


def test_decode_text_file_input(capsys, tmp_path: Path):
    src = tmp_path / "notes.inr"
    src.write_text("this is not an inr file, but it is long enough\n")
    rc, _, err = run(capsys, "decode", src, "-o", tmp_path / "out.png")
    assert_one_line_error(rc, err, "magic")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("command", ["encode", "decode", "info"])
def test_missing_input(capsys, tmp_path: Path, command):
    src = tmp_path / "does-not-exist.png"
    argv = [command, src] + ([] if command == "info" else ["-o", tmp_path / "out"])
    rc, _, err = run(capsys, *argv, *(ENCODE_OPTS if command == "encode" else []))
    assert_one_line_error(rc, err, "no such file")


@pytest.mark.parametrize("command", ["encode", "decode", "info"])
def test_directory_as_input(capsys, tmp_path: Path, command):
    src = tmp_path / "a-directory"
    src.mkdir()
    argv = [command, src] + ([] if command == "info" else ["-o", tmp_path / "out"])
    rc, _, err = run(capsys, *argv, *(ENCODE_OPTS if command == "encode" else []))
    assert_one_line_error(rc, err, "directory")


@pytest.mark.parametrize("side", [100_000, 10_000], ids=["bomb-error", "bomb-warning"])
def test_image_claiming_a_huge_size_is_refused_before_decoding(capsys, tmp_path: Path, side):
    """Pillow raises (100000^2) or warns (10000^2) about a decompression bomb; we give one line, no warning."""
    import warnings

    src = tmp_path / "huge.png"
    src.write_bytes(png_claiming(side, side))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        rc, _, err = encode(capsys, src, tmp_path / "out.inr")
    assert_one_line_error(rc, err, "larger than")
    assert "warning" not in err.lower()
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert time.perf_counter() - started < 5.0
    assert not (tmp_path / "out.inr").exists()


@pytest.mark.parametrize("modality, flag, right", [("image", "--kbps", "--bpp"), ("audio", "--bpp", "--kbps"),
                                                   ("climate", "--kbps", "--bits-per-field")])
def test_rate_target_in_another_modalitys_unit_is_refused(capsys, tmp_path: Path, modality, flag, right):
    src = {"image": tmp_path / "x.png", "audio": tmp_path / "x.wav", "climate": tmp_path / "x.npy"}[modality]
    src.write_bytes(b"never read: the unit is checked first")  # Nor is a base loaded or anything fitted.
    rc, _, err = run(capsys, "encode", src, "-o", tmp_path / "out.inr", flag, "1", "--quiet")
    line = assert_one_line_error(rc, err, right)
    assert modality in line
    assert not (tmp_path / "out.inr").exists()


def test_truncated_classic_netcdf_is_refused(capsys, tmp_path: Path):
    """The netCDF library reads a classic file's missing tail as fill values; we refuse the file."""
    from make_assets import synthetic_field

    whole = tmp_path / "whole.nc"
    synthetic_field(times=2).to_dataset().to_netcdf(whole, format="NETCDF3_64BIT")
    data = whole.read_bytes()
    for n in (len(data) // 2, len(data) - 1):
        src = write_variant(tmp_path, data[:n], f"cut{n}.nc")
        rc, _, err = encode(capsys, src, tmp_path / "out.inr")
        assert_one_line_error(rc, err, "truncated")
    assert not (tmp_path / "out.inr").exists()


# --------------------------------------------------------------------------------------------
# Corrupt, foreign and hostile .inr files


@pytest.mark.parametrize("cut", [0, 1, 4, 17, 25, 26, 30, "half", "-4", "-1"])
def test_truncated_file(capsys, small_inr: Path, tmp_path: Path, cut):
    data = small_inr.read_bytes()
    n = {"half": len(data) // 2, "-4": len(data) - 4, "-1": len(data) - 1}.get(cut, cut)
    assert n < len(data)
    src = write_variant(tmp_path, data[:n])
    rc, _, err = run(capsys, "decode", src, "-o", tmp_path / "out.png")
    assert_one_line_error(rc, err, "truncated", "checksum")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize(
    "where",
    ["magic", "major", "minor", "flags", "modality", "base_id", "meta_len", "meta",
     "payload_len", "payload", "payload_end", "crc_first", "crc_last"],
)
def test_flipped_byte(capsys, small_inr: Path, tmp_path: Path, where):
    data = bytearray(small_inr.read_bytes())
    meta_len = struct.unpack_from("<H", data, 16)[0]
    payload_start = HEADER_FIXED_BYTES + meta_len + 4
    offset = {
        "magic": 1, "major": 4, "minor": 5, "flags": 6, "modality": 7, "base_id": 11, "meta_len": 16,
        "meta": HEADER_FIXED_BYTES + 2, "payload_len": HEADER_FIXED_BYTES + meta_len,
        "payload": (payload_start + len(data) - 4) // 2, "payload_end": len(data) - 5,
        "crc_first": len(data) - 4, "crc_last": len(data) - 1,
    }[where]
    data[offset] ^= 0x01
    src = write_variant(tmp_path, bytes(data))
    rc, _, err = run(capsys, "decode", src, "-o", tmp_path / "out.png")
    assert_one_line_error(rc, err)
    assert not (tmp_path / "out.png").exists()


def test_wrong_magic(capsys, small_inr: Path, tmp_path: Path):
    data = small_inr.read_bytes()
    src = write_variant(tmp_path, with_crc(b"\x89PNG" + data[4:]))
    rc, _, err = run(capsys, "decode", src, "-o", tmp_path / "out.png")
    assert_one_line_error(rc, err, "magic")


def test_unknown_major_version(capsys, small_inr: Path, tmp_path: Path):
    data = bytearray(small_inr.read_bytes())
    data[4] = 2
    src = write_variant(tmp_path, with_crc(data))
    rc, _, err = run(capsys, "decode", src, "-o", tmp_path / "out.png")
    assert_one_line_error(rc, err, "major")


def test_reserved_flags_set(capsys, small_inr: Path, tmp_path: Path):
    data = bytearray(small_inr.read_bytes())
    data[6] = 0x01
    src = write_variant(tmp_path, with_crc(data))
    rc, _, err = run(capsys, "decode", src, "-o", tmp_path / "out.png")
    assert_one_line_error(rc, err, "flags")


def test_missing_base_network(capsys, small_inr: Path, tmp_path: Path):
    data = bytearray(small_inr.read_bytes())
    data[8:16] = bytes.fromhex("deadbeefcafef00d")
    src = write_variant(tmp_path, with_crc(data))
    rc, _, err = run(capsys, "decode", src, "-o", tmp_path / "out.png")
    assert_one_line_error(rc, err, "not installed")
    assert not (tmp_path / "out.png").exists()


def test_absurd_dimensions_fail_fast(capsys, small_inr: Path, tmp_path: Path):
    data = bytearray(small_inr.read_bytes())
    struct.pack_into("<HH", data, HEADER_FIXED_BYTES, 65535, 65535)  # height, width
    src = write_variant(tmp_path, with_crc(data))
    started = time.perf_counter()
    rc, _, err = run(capsys, "decode", src, "-o", tmp_path / "out.png")
    elapsed = time.perf_counter() - started
    assert_one_line_error(rc, err, "limit")
    assert elapsed < 5.0, f"rejecting a 65535x65535 header took {elapsed:.1f} s"
    assert not (tmp_path / "out.png").exists()


def test_dimensions_inconsistent_with_payload(capsys, small_inr: Path, tmp_path: Path):
    # A CRC-valid file whose (in-limit) dimensions need more latents than the payload holds.
    data = bytearray(small_inr.read_bytes())
    struct.pack_into("<HH", data, HEADER_FIXED_BYTES, HEIGHT, WIDTH + 16 * 256)
    src = write_variant(tmp_path, with_crc(data))
    rc, _, err = run(capsys, "decode", src, "-o", tmp_path / "out.png")
    assert_one_line_error(rc, err, "payload", "invalid")
    assert not (tmp_path / "out.png").exists()


# --------------------------------------------------------------------------------------------
# Output files: never clobbered silently, never half-written


def test_encode_refuses_existing_output_without_force(capsys, small_png: Path, small_inr: Path, tmp_path: Path):
    out = tmp_path / "existing.inr"
    out.write_bytes(b"precious")
    rc, _, err = encode(capsys, small_png, out)
    assert_one_line_error(rc, err, "exists")
    assert out.read_bytes() == b"precious"

    rc, _, err = encode(capsys, small_png, out, "--force")
    assert rc == 0, err
    assert out.read_bytes() == small_inr.read_bytes()


def test_decode_default_name_is_the_source_name_and_never_overwrites(capsys, small_inr: Path, tmp_path: Path):
    """`decode photo.inr` writes photo.png; if photo.png exists (likely the original) it is kept."""
    src = tmp_path / "photo.inr"
    src.write_bytes(small_inr.read_bytes())
    rc, stdout, err = run(capsys, "decode", src)
    assert rc == 0, err
    assert (tmp_path / "photo.png").is_file() and str(tmp_path / "photo.png") in stdout
    (tmp_path / "photo.png").write_bytes(b"original")
    rc, _, err = run(capsys, "decode", src)
    assert_one_line_error(rc, err, "already exists", "-o")
    assert (tmp_path / "photo.png").read_bytes() == b"original"
    rc, stdout, err = run(capsys, "decode", src, "-o", tmp_path / "again.png", "--json")
    assert rc == 0, err
    line = json.loads(stdout)
    assert line["output"] == str(tmp_path / "again.png") and line["seconds"] >= 0 and line["summary"]


def _png_16bit_rgb(h: int = HEIGHT, w: int = WIDTH) -> bytes:
    """A valid 16-bit RGB PNG (Pillow cannot write one)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + np.arange(w * 3, dtype=">u2").tobytes() for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_inputs_losing_transparency_or_16_bit_colour_warn_in_one_line(capsys, tmp_path: Path, inr_bases):
    rgba = np.zeros((HEIGHT, WIDTH, 4), np.uint8)  # The session's image shape: no new compilation.
    rgba[..., 3] = 255
    rgba[2:4, 2:4, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    opaque = rgba.copy()
    opaque[..., 3] = 255
    Image.fromarray(opaque, "RGBA").save(tmp_path / "opaque.png")
    (tmp_path / "deep.png").write_bytes(_png_16bit_rgb())
    for name, warned in (("alpha", "transparency"), ("opaque", None), ("deep", "16-bit colour")):
        rc, _, err = run(capsys, "encode", tmp_path / f"{name}.png", "-o", tmp_path / f"{name}.inr", "--base",
                         "tiny-test-base", "--fit-steps", "8", "--quiet")
        assert rc == 0, err
        lines = err.strip().splitlines()
        if warned:
            assert len(lines) == 1 and lines[0].startswith("inrcodec: warning:") and warned in lines[0], err
        else:
            assert not lines, err


def test_progress_bar_says_the_fit_is_prepared_until_steps_run(capsys):
    from inrcodec.cli import _progress_bar

    update, close = _progress_bar("encoding x.png", True)
    update(0, 400)  # encoder.fit_signals reports 0 before its first (compiling) chunk.
    assert "preparing the fit" in capsys.readouterr().err
    update(100, 400)
    update(200, 400)
    close()
    last = [line for line in capsys.readouterr().err.split("\r") if "/400" in line][-1]
    assert last.startswith("encoding x.png:") and "200/400" in last and "preparing" not in last


def test_pipes_encode_stdin_to_stdout_and_decode_back(capsysbinary, monkeypatch, small_png: Path, tmp_path: Path,
                                                     inr_bases):
    """`encode - -o -` and `decode - -o -`: the file bytes on standard output, the result line on stderr."""
    import io

    from inrcodec.cli import main

    def piped(data: bytes, *argv) -> tuple[int, bytes, bytes]:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        rc = main([str(a) for a in argv])
        out, err = capsysbinary.readouterr()
        return rc, out, err

    rc, inr, err = piped(small_png.read_bytes(), "encode", "-", "-o", "-", "--base", "tiny-test-base", "--fit-steps",
                         "8", "--quiet")
    assert rc == 0, err
    assert inr[:4] == b"\x89INR" and b"bytes" in err
    rc, png, err = piped(inr, "decode", "-", "-o", "-")
    assert rc == 0, err
    with Image.open(io.BytesIO(png)) as im:
        assert im.size == (WIDTH, HEIGHT)
    rc, out, err = piped(b"not an image at all", "encode", "-", "-o", tmp_path / "x.inr")
    assert rc != 0 and out == b"" and len(err.strip().splitlines()) == 1 and b"--modality" in err
    rc, out, err = piped(small_png.read_bytes(), "encode", "-")
    assert rc != 0 and b"needs -o" in err


def test_decode_refuses_existing_output_without_force(capsys, small_inr: Path, tmp_path: Path):
    out = tmp_path / "existing.png"
    out.write_bytes(b"precious")
    rc, _, err = run(capsys, "decode", small_inr, "-o", out)
    assert_one_line_error(rc, err, "exists")
    assert out.read_bytes() == b"precious"

    rc, _, err = run(capsys, "decode", small_inr, "-o", out, "--force")
    assert rc == 0, err
    with Image.open(out) as im:
        assert im.size == (WIDTH, HEIGHT)


def _unwritable_target(tmp_path: Path, kind: str) -> Path:
    """An output path whose directory cannot be written; returns the path."""
    if kind == "missing-dir":
        return tmp_path / "no" / "such" / "dir" / "out"
    if kind == "parent-is-file":
        (tmp_path / "a-file").write_text("x")
        return tmp_path / "a-file" / "out"
    if kind == "read-only-dir":
        if os.geteuid() == 0:
            pytest.skip("root can write into a mode 0o500 directory")
        ro = tmp_path / "read-only"
        ro.mkdir()
        ro.chmod(0o500)
        return ro / "out"
    raise AssertionError(kind)


UNWRITABLE = ["missing-dir", "parent-is-file", "read-only-dir"]


@pytest.mark.parametrize("kind", UNWRITABLE)
def test_encode_to_unwritable_directory(capsys, small_png: Path, tmp_path: Path, kind):
    out = _unwritable_target(tmp_path, kind).with_suffix(".inr")
    before = sorted(p.name for p in tmp_path.iterdir())
    try:
        rc, _, err = encode(capsys, small_png, out)
        assert_one_line_error(rc, err, "directory", "cannot write")
        assert not out.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == before
        if out.parent.is_dir():
            assert leftover_temp_files(out.parent) == []
    finally:
        if out.parent.is_dir():
            out.parent.chmod(0o700)


@pytest.mark.parametrize("kind", UNWRITABLE)
def test_decode_to_unwritable_directory(capsys, small_inr: Path, tmp_path: Path, kind):
    out = _unwritable_target(tmp_path, kind).with_suffix(".png")
    before = sorted(p.name for p in tmp_path.iterdir())
    try:
        rc, _, err = run(capsys, "decode", small_inr, "-o", out)
        assert_one_line_error(rc, err, "directory", "cannot write")
        assert not out.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == before
        if out.parent.is_dir():
            assert leftover_temp_files(out.parent) == []
    finally:
        if out.parent.is_dir():
            out.parent.chmod(0o700)


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_existing_directory_as_output_with_force(capsys, small_png: Path, small_inr: Path, tmp_path: Path, command):
    out = tmp_path / "out-dir"
    out.mkdir()
    if command == "encode":
        rc, _, err = encode(capsys, small_png, out, "--force")
    else:
        rc, _, err = run(capsys, "decode", small_inr, "-o", out, "--force")
    assert_one_line_error(rc, err, "directory")
    assert out.is_dir()
    assert leftover_temp_files(tmp_path) == []


def test_inputs_are_never_modified(capsys, small_png: Path, small_inr: Path, tmp_path: Path):
    png_hash, inr_hash = sha256_file(small_png), sha256_file(small_inr)
    png_mtime, inr_mtime = small_png.stat().st_mtime_ns, small_inr.stat().st_mtime_ns

    assert encode(capsys, small_png, tmp_path / "re.inr")[0] == 0
    assert run(capsys, "decode", small_inr, "-o", tmp_path / "re.png")[0] == 0
    assert run(capsys, "info", small_inr)[0] == 0

    assert sha256_file(small_png) == png_hash
    assert sha256_file(small_inr) == inr_hash
    assert small_png.stat().st_mtime_ns == png_mtime
    assert small_inr.stat().st_mtime_ns == inr_mtime


def test_encode_refuses_to_overwrite_its_input(capsys, small_png: Path, tmp_path: Path):
    src = tmp_path / "self.png"
    shutil.copyfile(small_png, src)
    rc, _, err = encode(capsys, src, src, "--force")
    assert_one_line_error(rc, err, "input")
    assert sha256_file(src) == sha256_file(small_png)


def test_decode_refuses_to_overwrite_its_input(capsys, small_inr: Path, tmp_path: Path):
    src = tmp_path / "self.inr"
    shutil.copyfile(small_inr, src)
    rc, _, err = run(capsys, "decode", src, "-o", src, "--force")
    assert sha256_file(src) == sha256_file(small_inr)
    assert_one_line_error(rc, err, "input")


def test_closed_stdout_stops_quietly():
    """`inrcodec info f.inr | head -1`: the reader goes away; no traceback, SIGPIPE's exit status."""
    import subprocess
    import sys
    from pathlib import Path

    golden = Path(__file__).parent / "assets" / "golden.inr"
    child = subprocess.Popen([sys.executable, "-m", "inrcodec", "info", str(golden)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    child.stdout.close()  # Before the child has written anything: its first print hits a closed pipe.
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=120) == 141
    assert "Traceback" not in stderr


def test_fit_steps_keep_the_rest_of_the_bases_encoder_schedule():
    """--fit-steps only changes the number of steps (split as the base splits its own): the base's learning
    rate and sampling stay."""
    import dataclasses

    from inrcodec import api
    from inrcodec.core import bases
    from inrcodec.errors import InputError

    base = bases.load_base(TINY_BASE_NAME)
    base = dataclasses.replace(base, manifest={**base.manifest, "fit": {"lr": 0.03, "sample_fraction": 0.5}})
    fit = api.default_fit(base, 8)
    assert (fit.noise_steps, fit.ste_steps, fit.lr, fit.sample_fraction) == (6, 2, 0.03, 0.5)
    # The CLI tests' --fit-steps and the API tests' DEBUG_FIT are one schedule (one set of compiled programs).
    assert api.default_fit(bases.load_base(TINY_BASE_NAME), DEBUG_FIT_STEPS) == DEBUG_FIT
    assert api.default_fit(base) == dataclasses.replace(fit, noise_steps=300, ste_steps=100)
    seven_to_one = dataclasses.replace(base, manifest={**base.manifest, "fit": {"noise_steps": 350, "ste_steps": 50}})
    assert (api.default_fit(seven_to_one, 48).noise_steps, api.default_fit(seven_to_one, 48).ste_steps) == (42, 6)
    with pytest.raises(InputError, match=">= 0"):
        api.default_fit(base, -1)


def test_effort_names_a_schedule_of_the_base_and_fit_steps_override_it(capsys):
    import dataclasses

    from inrcodec import api
    from inrcodec.cli import EFFORTS
    from inrcodec.core import bases
    from inrcodec.core.config import EFFORT_STEPS
    from inrcodec.errors import InputError

    assert EFFORTS == tuple(EFFORT_STEPS)
    base = bases.load_base(TINY_BASE_NAME)
    own = api.default_fit(base)
    assert api.default_fit(base, effort="default") == api.default_fit(base, effort=None) == own
    fast = api.default_fit(base, effort="fast")  # No schedule in the manifest: EFFORT_STEPS steps of its own.
    assert fast.noise_steps + fast.ste_steps == EFFORT_STEPS["fast"] < own.noise_steps + own.ste_steps
    assert api.default_fit(base, 12, effort="fast") == api.default_fit(base, 12)
    scheduled = dataclasses.replace(base, manifest={**base.manifest, "efforts": {"fast": {"noise_steps": 20, "lr": 0.1}}})
    assert api.default_fit(scheduled, effort="fast") == dataclasses.replace(own, noise_steps=20, lr=0.1)
    with pytest.raises(InputError, match="effort"):
        api.default_fit(base, effort="max")
    with pytest.raises(SystemExit):
        main(["encode", "x.png", "--effort", "slowest"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.slow  # Compiles the encoder for a shape of its own (~20 s of CPU).
def test_compiled_programs_are_kept_in_the_cache_unless_turned_off(tmp_path, monkeypatch, inr_bases):
    """The session's cache is $INRCODEC_CACHE (conftest); the JAX cache is set once per process."""
    import jax

    from inrcodec import api

    cache = Path(os.environ["INRCODEC_CACHE"])
    png = tmp_path / "odd.png"  # A size no other test uses, so this encode compiles its fit.
    Image.fromarray(synthetic_image(19, 23)).save(png)
    before = set(cache.iterdir())
    assert main(["encode", str(png), "--base", TINY_BASE_NAME, "--fit-steps", FAST_FIT_STEPS, "--quiet"]) == 0
    assert jax.config.jax_compilation_cache_dir == str(cache)
    assert set(cache.iterdir()) > before  # The fit's programs were kept.
    jax.config.update("jax_compilation_cache_dir", None)
    try:
        monkeypatch.setenv("INRCODEC_CACHE", "off")
        assert api.use_compilation_cache() is None
        (tmp_path / "file").write_text("")
        monkeypatch.setenv("INRCODEC_CACHE", str(tmp_path / "file" / "cache"))  # Cannot be a directory.
        assert api.use_compilation_cache() is None
        assert jax.config.jax_compilation_cache_dir is None
    finally:
        jax.config.update("jax_compilation_cache_dir", str(cache))
