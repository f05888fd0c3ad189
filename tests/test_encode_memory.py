"""Encoding memory: images above 4 Mpixel are fitted tile by tile (codec.fit_in_tiles), checked here at
a small scale; in the slow tier a 4-Mpixel image (fitted whole) and a 4.4-Mpixel one (fitted in tiles)
encode with the shipped image base within 2 GB. Measured with the CLI: 1.75 GB at 16 Mpixel and 1.69 GB
at 64 (2.53 and 7.15 GB before the tiled fit). meta/README.md, "Hardening"."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import DEBUG_FIT
from inrcodec import api, codec
from inrcodec.core import encoder
from make_assets import synthetic_image
from test_decode_memory import _MEASURE

MAX_ENCODE_PEAK_RSS_4MP = 2 << 30


def _peak_rss_of_encoding(tmp_path, side: int) -> int:
    """Peak RSS in bytes of `inrcodec encode` (shipped image base, 4 refinement steps) of a side² photo-like image."""
    y, x = np.mgrid[0:side, 0:side] / side
    rng = np.random.default_rng(0)
    rgb = np.stack([np.sin(9 * x + 3 * y), np.cos(7 * y * x), x * y], axis=-1) * 0.4 + 0.5
    rgb = np.clip(rgb + 0.05 * rng.standard_normal(rgb.shape), 0, 1)
    Image.fromarray((rgb * 255).astype(np.uint8)).save(tmp_path / "big.png")
    run = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "inrcodec", "encode",
                          str(tmp_path / "big.png"), "-o", str(tmp_path / "big.inr"), "--fit-steps", "4", "--quiet"],
                         capture_output=True, text=True, check=True)
    peak, rc = map(int, run.stdout.split())
    assert rc == 0 and (tmp_path / "big.inr").stat().st_size > 0, run.stderr
    return peak


@pytest.mark.slow  # ~40 s: compiling and running the fit at 2000 x 2000.
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB and RLIMIT_AS: Linux")
def test_a_4_mpixel_image_encodes_in_bounded_memory(tmp_path):
    peak = _peak_rss_of_encoding(tmp_path, 2000)  # 4.0 Mpixel: still fitted whole.
    assert peak <= MAX_ENCODE_PEAK_RSS_4MP, f"peak RSS {peak / 2**20:.0f} MiB"


@pytest.mark.slow  # ~1-2 min: nine tiles in four window shapes.
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB and RLIMIT_AS: Linux")
def test_an_image_above_the_tiling_threshold_encodes_in_the_same_bound(tmp_path):
    assert 2100 * 2100 > codec.TILED_FIT_SAMPLES  # 3 x 3 tiles of 1024 (the last ones 52 wide).
    peak = _peak_rss_of_encoding(tmp_path, 2100)
    assert peak <= MAX_ENCODE_PEAK_RSS_4MP, f"peak RSS {peak / 2**20:.0f} MiB"


def test_tile_windows_have_margins_and_at_most_two_lengths():
    for n in range(1, 300):
        spans = codec.tile_spans(n, 32, 16, 8)
        assert [s[:2] for s in spans] == [(a, min(a + 32, n)) for a in range(0, n, 32)]
        for start, end, lo, hi in spans:
            assert lo % 8 == 0 and lo <= max(0, start - 16) and min(n, end + 16) <= hi <= n
        assert len({hi - lo for *_, lo, hi in spans}) <= 2


def test_large_images_are_fitted_tile_by_tile(inr_bases, monkeypatch):
    """The tiled fit (codec.fit_in_tiles, used above TILED_FIT_SAMPLES) at a scale a fast test affords:
    16 x 16 tiles in 48 x 48 windows of a 64 x 64 image (the tiny base's coarsest stride is 8): one
    compiled fit."""
    image = synthetic_image(64, 64)
    whole = api.encode(image, base="tiny-context-test-base", fit=DEBUG_FIT)
    monkeypatch.setattr(codec, "TILED_FIT_SAMPLES", 16 * 16)
    monkeypatch.setattr(codec, "TILE", 16)
    fitted = []
    real_fit = encoder.fit_signals
    monkeypatch.setattr(encoder, "fit_signals", lambda p, s, *a, **k: fitted.append((s["values"].shape[1:3], p.weight_step))
                        or real_fit(p, s, *a, **k))
    tiled = api.encode(image, base="tiny-context-test-base", fit=DEBUG_FIT)
    # 4 x 4 tiles, every window 48 x 48; the centre tile first, and alone with weight deltas.
    assert len(fitted) == 16 and {shape for shape, _ in fitted} == {(48, 48)}
    assert fitted[0][1] is not None and all(weight_step is None for _, weight_step in fitted[1:])
    decoded = api.decode(tiled.data)
    np.testing.assert_array_equal(decoded.array, tiled.reconstruction)  # The decoder gives what the encoder reports.
    assert tiled.psnr > whole.psnr - 1.5, (tiled.psnr, whole.psnr)
