"""Shared fixtures: the tiny test base on the search path, a small PNG and one encoded .inr of it."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
ASSETS_DIR = TESTS_DIR / "assets"
TINY_BASE_NAME = "tiny-test-base"
SMALL_SHAPE = (32, 48)  # (height, width) of the small test PNG.
FAST_FIT_STEPS = "8"
# The CLI keeps JAX's compiled programs across runs (cli.use_compilation_cache): the tests share one
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
    """A 32x48 RGB PNG of make_assets.synthetic_image (session-wide; tests must not modify it)."""
    from PIL import Image

    from make_assets import synthetic_image

    path = tmp_path_factory.mktemp("input") / "small.png"
    Image.fromarray(synthetic_image(*SMALL_SHAPE), "RGB").save(path)
    return path


@pytest.fixture(scope="session")
def small_inr(small_png: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`small_png` encoded once with the tiny base via the CLI (so JAX compiles once per session).

    Tests must not modify it; copy it before corrupting it.
    """
    from inrcodec.cli import main

    out = tmp_path_factory.mktemp("encoded") / "small.inr"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INRCODEC_BASES", str(ASSETS_DIR))
        rc = main(["encode", str(small_png), "-o", str(out), "--base", TINY_BASE_NAME,
                   "--fit-steps", FAST_FIT_STEPS, "--quiet"])
    assert rc == 0, f"session encode failed with exit code {rc}"
    assert out.is_file()
    return out
