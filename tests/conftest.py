"""Shared fixtures and settings: the tiny test bases on the search path, one small signal per modality
and one encoded .inr of each, and the one debug fit schedule of the fast tests.

Most of the suite's time is JAX compiling the encoder: a new signal shape (or stack size), model or
sample count compiles new programs, the same ones reuse them. So the fast tests use one canonical
shape per modality, the golden files' (make_assets.golden_inputs: re-encoding those must stay fast):
images SMALL_SHAPE, audio AUDIO_FRAMES frames per channel, climate stacks of CLIMATE_FIELDS (or single)
9x16 fields; and one schedule, DEBUG_FIT (= `--fit-steps DEBUG_FIT_STEPS`). Tests of other shapes on
purpose (odd sizes, short clips) say so; the slow tier (`-m slow`) has the costly ones.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

import pytest

from inrcodec.core.config import FitConfig

TESTS_DIR = Path(__file__).resolve().parent
ASSETS_DIR = TESTS_DIR / "assets"
TINY_BASE_NAME = "tiny-test-base"
SMALL_SHAPE = (24, 40)  # (height, width) of the small test PNG: golden.inr's image (make_assets.synthetic_image).
AUDIO_FRAMES = 6000  # Frames of the test clips: golden-audio.inr's (make_assets.synthetic_bursts).
CLIMATE_FIELDS = 2  # 9x16 fields in a test stack: golden-climate.inr's (make_assets.synthetic_field).
# The debug fit of every fast test: 8 refinement steps, as `--fit-steps 8` splits them (api.default_fit;
# test_cli checks they agree). Enough for the rate to follow the quality level and for a fit to move the
# latents; the golden files keep their own make_assets.GOLDEN_FIT.
DEBUG_FIT_STEPS = 8
DEBUG_FIT = FitConfig(noise_steps=6, ste_steps=2)
FAST_FIT_STEPS = str(DEBUG_FIT_STEPS)
# The CLI keeps JAX's compiled programs across runs (api.use_compilation_cache): the tests share one
# fresh cache per session (repeated `train` / `encode` calls then skip compiling), never ~/.cache.
COMPILATION_CACHE = tempfile.mkdtemp(prefix="inrcodec-test-jax-cache-")
os.environ["INRCODEC_CACHE"] = COMPILATION_CACHE


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(COMPILATION_CACHE, ignore_errors=True)


@pytest.fixture
def inr_bases(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Puts tests/assets (which holds tiny-base) on the base search path for one test."""
    monkeypatch.setenv("INRCODEC_BASES", str(ASSETS_DIR))
    return ASSETS_DIR


@pytest.fixture(scope="session")
def small_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SMALL_SHAPE RGB PNG of make_assets.synthetic_image (session-wide; tests must not modify it)."""
    from PIL import Image

    from make_assets import synthetic_image

    path = tmp_path_factory.mktemp("input") / "small.png"
    Image.fromarray(synthetic_image(*SMALL_SHAPE), "RGB").save(path)
    return path


@pytest.fixture(scope="session")
def small_inr(small_png: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`small_png` encoded once with the tiny base via the CLI (`--fit-steps DEBUG_FIT_STEPS`).

    Tests must not modify it; copy it before corrupting it.
    """
    encoded = _cli_encode(small_png, TINY_BASE_NAME, tmp_path_factory.mktemp("encoded"))
    assert encoded.inr.is_file()
    return encoded.inr


class Encoded(NamedTuple):
    """A source file, its session-wide encoding (tests must not modify either) and the encode's JSON line."""

    src: Path
    inr: Path
    line: dict


def _cli_encode(src: Path, base: str, folder: Path) -> Encoded:
    import contextlib
    import io

    from inrcodec.cli import main

    out = folder / (src.stem + ".inr")
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        mp.setenv("INRCODEC_BASES", str(ASSETS_DIR))
        rc = main(["encode", str(src), "-o", str(out), "--base", base, "--fit-steps", FAST_FIT_STEPS, "--quiet", "--json"])
    assert rc == 0, f"session encode of {src.name} failed with exit code {rc}"
    return Encoded(src, out, json.loads(stdout.getvalue()))


@pytest.fixture(scope="session")
def small_audio(tmp_path_factory: pytest.TempPathFactory) -> Encoded:
    """A 16 kHz stereo PCM_16 WAV of make_assets.synthetic_audio (AUDIO_FRAMES frames), encoded once."""
    import soundfile as sf

    from make_assets import synthetic_audio

    folder = tmp_path_factory.mktemp("audio")
    audio = synthetic_audio(AUDIO_FRAMES, 2, 16000)
    sf.write(str(folder / "clip.wav"), audio.samples, audio.sample_rate, subtype="PCM_16")
    return _cli_encode(folder / "clip.wav", "tiny-audio-test-base", folder)


@pytest.fixture(scope="session")
def small_climate(tmp_path_factory: pytest.TempPathFactory) -> Encoded:
    """A netCDF stack of CLIMATE_FIELDS make_assets.synthetic_field temperature fields (with missing
    values), encoded once."""
    from make_assets import synthetic_field

    folder = tmp_path_factory.mktemp("climate")
    synthetic_field(times=CLIMATE_FIELDS).to_dataset().to_netcdf(folder / "t2m.nc")
    return _cli_encode(folder / "t2m.nc", "tiny-climate-test-base", folder)
