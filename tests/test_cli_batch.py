"""`inrcodec encode` / `decode` of several files or a folder in one call (inrcodec.cli, run in-process).

Every encode uses the tiny test base and `--fit-steps 8` on SMALL_SHAPE images, as tests/test_cli.py
does, so JAX compiles the fit once for the session and each later encode takes milliseconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST_FIT_STEPS, SMALL_SHAPE, TINY_BASE_NAME
from make_assets import synthetic_image
from PIL import Image

from inrcodec import api
from inrcodec.cli import main

pytestmark = pytest.mark.usefixtures("inr_bases")

HEIGHT, WIDTH = SMALL_SHAPE
ENCODE_OPTS = ["--base", TINY_BASE_NAME, "--fit-steps", FAST_FIT_STEPS, "--quiet"]


def run(capsys: pytest.CaptureFixture, *argv: str | Path) -> tuple[int, str, str]:
    """Runs the CLI in-process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def usage_error(capsys: pytest.CaptureFixture, *argv: str | Path) -> str:
    """Runs an argv argparse refuses: exit code 2; returns stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    assert exc.value.code == 2
    return capsys.readouterr().err


def images(folder: Path, small_png: Path, *names: str) -> list[Path]:
    """Same-size images in `folder`: a copy of `small_png` for "a.png", a flipped one for any other name."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = folder / name
        if name == "a.png":
            shutil.copyfile(small_png, path)
        else:
            Image.fromarray(np.ascontiguousarray(synthetic_image(*SMALL_SHAPE)[::-1])).save(path)
        paths.append(path)
    return paths


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_expand_inputs_lists_a_folders_files_of_the_suffixes_sorted_not_recursively(tmp_path: Path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.PNG", "a.png", "c.wav", "notes.txt", ".hidden.png", "sub/d.png"):
        (folder / name).write_bytes(b"x")
    given = tmp_path / "given.txt"
    assert api.expand_inputs([given, folder], (".png",)) == [given, folder / "a.png", folder / "b.PNG"]
    assert ".wav" in api.encodable_suffixes() and ".png" in api.encodable_suffixes()
    assert ".wav" not in api.encodable_suffixes(base=TINY_BASE_NAME)  # An image base reads images only.


def test_folder_encode_writes_each_image_into_the_output_folder(capsys, small_png: Path, small_inr: Path,
                                                                tmp_path: Path):
    folder = tmp_path / "photos"
    images(folder, small_png, "a.png", "b.png")
    (folder / "notes.txt").write_text("not an image")
    images(folder / "sub", small_png, "c.png")  # Not recursive.
    out = tmp_path / "made" / "encoded"  # Created, with its parent.
    rc, stdout, stderr = run(capsys, "encode", folder, "-o", out, "--base", TINY_BASE_NAME, "--fit-steps",
                             FAST_FIT_STEPS, "--json")
    assert rc == 0, stderr
    assert all_files(out) == ["a.inr", "b.inr"]
    assert (out / "a.inr").read_bytes() == small_inr.read_bytes()  # The flags apply to every file.
    assert (out / "b.inr").read_bytes() != small_inr.read_bytes()
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert [line["output"] for line in lines] == [str(out / "a.inr"), str(out / "b.inr")]
    assert "encoding a.png (1/2)" in stderr and "encoding b.png (2/2)" in stderr
    assert stderr.splitlines()[-1] == "inrcodec: 2 encoded, 0 failed"
    assert "error" not in stderr


def test_several_files_are_encoded_next_to_themselves_with_the_same_flags_and_decoded_into_a_folder(
        capsys, small_png: Path, tmp_path: Path):
    a, b = images(tmp_path / "in", small_png, "a.png", "b.png")
    rc, stdout, stderr = run(capsys, "encode", a, b, *ENCODE_OPTS, "--quality", "2", "--json")
    assert rc == 0, stderr
    assert [json.loads(line)["quality"] for line in stdout.splitlines()] == [2, 2]
    assert all_files(tmp_path / "in") == ["a.inr", "a.png", "b.inr", "b.png"]

    encoded = tmp_path / "in"
    (encoded / "notes.txt").write_text("skipped")
    for inputs in ([encoded / "a.inr", encoded / "b.inr"], [encoded]):
        out = tmp_path / f"decoded-{len(inputs)}"
        rc, stdout, stderr = run(capsys, "decode", *inputs, "-o", out)
        assert rc == 0, stderr
        assert all_files(out) == ["a.png", "b.png"]
        for name in ("a.png", "b.png"):
            with Image.open(out / name) as im:
                assert im.size == (WIDTH, HEIGHT)
        assert [line.split(":")[0] for line in stdout.splitlines()] == [str(out / "a.png"), str(out / "b.png")]
        assert stderr.splitlines() == ["inrcodec: 2 decoded, 0 failed"]


def test_failing_files_are_reported_and_the_others_still_encoded(capsys, small_png: Path, tmp_path: Path):
    folder = tmp_path / "in"
    images(folder, small_png, "a.png", "c.png")
    (folder / "bad.png").write_text("this is not an image\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "c.inr").write_bytes(b"precious")  # An existing output, kept without --force.
    rc, stdout, stderr = run(capsys, "encode", folder, "-o", out, *ENCODE_OPTS)
    assert rc == 1
    assert all_files(out) == ["a.inr", "c.inr"] and (out / "c.inr").read_bytes() == b"precious"
    assert len(stdout.splitlines()) == 1 and str(out / "a.inr") in stdout
    errors, summary = stderr.splitlines()[:-1], stderr.splitlines()[-1]
    assert summary == "inrcodec: 1 encoded, 2 failed"
    assert [e.split(": ")[:3] for e in errors] == [["inrcodec", "error", str(folder / "bad.png")],
                                                   ["inrcodec", "error", str(folder / "c.png")]]
    assert "not an image" in errors[0] and "already exists" in errors[1]
    assert "Traceback" not in stderr


def test_a_bad_inr_file_among_good_ones_is_reported_and_the_others_decoded(capsys, small_inr: Path, tmp_path: Path):
    shutil.copyfile(small_inr, tmp_path / "a.inr")
    (tmp_path / "bad.inr").write_bytes(b"this is not an inr file, but it is long enough")
    shutil.copyfile(small_inr, tmp_path / "c.inr")
    out = tmp_path / "out"
    rc, stdout, stderr = run(capsys, "decode", tmp_path, "-o", out)
    assert rc == 1
    assert all_files(out) == ["a.png", "c.png"]
    assert len(stdout.splitlines()) == 2
    error, summary = stderr.splitlines()
    assert error.startswith(f"inrcodec: error: {tmp_path / 'bad.inr'}: ") and "magic" in error
    assert summary == "inrcodec: 2 decoded, 1 failed"


@pytest.mark.parametrize("into", ["folder", "next-to-inputs"])
def test_inputs_writing_the_same_output_are_refused_before_any_work(capsys, small_png: Path, tmp_path: Path, into):
    folder = tmp_path / "in"
    images(folder, small_png, "a.png")
    Image.open(small_png).convert("RGB").save(folder / "a.jpg")  # Also a valid input: a.inr too.
    out = ["-o", tmp_path / "out"] if into == "folder" else []
    rc, stdout, stderr = run(capsys, "encode", folder, *out, *ENCODE_OPTS)
    assert rc == 1 and stdout == ""
    line, = stderr.splitlines()
    assert line.startswith("inrcodec: error:") and "a.jpg" in line and "a.png" in line and "a.inr" in line
    assert all_files(tmp_path) == ["in/a.jpg", "in/a.png"]  # No output, no output folder.

    rc, _, stderr = run(capsys, "encode", folder / "a.png", folder / "a.png", *ENCODE_OPTS)
    assert rc == 1 and "given twice" in stderr and all_files(tmp_path) == ["in/a.jpg", "in/a.png"]


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_output_naming_an_existing_file_is_refused_with_several_inputs(capsys, small_png: Path, small_inr: Path,
                                                                       tmp_path: Path, command):
    inputs = images(tmp_path, small_png, "a.png", "b.png") if command == "encode" else [small_inr, small_inr]
    existing = tmp_path / "existing.inr"
    existing.write_bytes(b"precious")
    before = all_files(tmp_path)
    rc, stdout, stderr = run(capsys, command, *inputs, "-o", existing, *(ENCODE_OPTS if command == "encode" else []))
    assert rc == 1 and stdout == ""
    line, = stderr.splitlines()
    assert line.startswith(f"inrcodec: error: {existing}: ") and "directory" in line
    assert existing.read_bytes() == b"precious" and all_files(tmp_path) == before


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_standard_input_or_output_with_several_inputs_is_a_usage_error(capsys, small_png: Path, small_inr: Path,
                                                                       tmp_path: Path, command):
    given = small_png if command == "encode" else small_inr
    assert "standard input" in usage_error(capsys, command, "-", given, "-o", tmp_path / "out")
    assert "standard input" in usage_error(capsys, command, given, "-", "-o", tmp_path / "out")
    assert "standard output" in usage_error(capsys, command, given, given, "-o", "-")
    assert "standard output" in usage_error(capsys, command, given.parent, "-o", "-")
    assert not (tmp_path / "out").exists()


def test_a_folder_without_a_usable_file_is_an_error_naming_it(capsys, tmp_path: Path):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    (folder / "photo.inr").write_bytes(b"x")  # Not an input of encode.
    for command in ("encode", "decode"):
        if command == "decode":
            (folder / "photo.inr").unlink()
        rc, stdout, stderr = run(capsys, command, folder, "-o", tmp_path / "out",
                                 *(ENCODE_OPTS if command == "encode" else []))
        assert rc == 1 and stdout == ""
        line, = stderr.splitlines()
        assert line.startswith(f"inrcodec: error: {folder}: ") and "directory" in line
    assert not (tmp_path / "out").exists()


def test_a_single_file_prints_no_summary_and_its_error_as_before(capsys, small_png: Path, tmp_path: Path):
    rc, stdout, stderr = run(capsys, "encode", small_png, "-o", tmp_path / "one.inr", *ENCODE_OPTS, "--json")
    assert rc == 0 and stderr == ""
    assert json.loads(stdout)["output"] == str(tmp_path / "one.inr")
    rc, stdout, stderr = run(capsys, "encode", tmp_path / "missing.png", "-o", tmp_path / "two.inr", *ENCODE_OPTS)
    assert rc == 1 and stdout == ""
    assert stderr == f"inrcodec: error: {tmp_path / 'missing.png'}: no such file\n"
    rc, stdout, stderr = run(capsys, "decode", tmp_path / "one.inr", "-o", tmp_path / "one.png")
    assert rc == 0 and stderr == "" and stdout.startswith(f"{tmp_path / 'one.png'}: ")
