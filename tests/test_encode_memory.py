"""Encoding memory (slow tier): a 4-Mpixel image encodes with the shipped image base within 2 GB
(measured 1.5-1.6 GB); before the adaptation was chunked it took 12.5 GB. The encoder's memory still
grows with the image (7.1 GB at 64 Mpixel): meta/README.md, "Encoder memory"."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from test_decode_memory import _MEASURE

MAX_ENCODE_PEAK_RSS_4MP = 2 << 30


@pytest.mark.slow  # ~40 s: compiling and running the fit at 2000 x 2000.
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB and RLIMIT_AS: Linux")
def test_a_4_mpixel_image_encodes_in_bounded_memory(tmp_path):
    y, x = np.mgrid[0:2000, 0:2000] / 2000.0
    rng = np.random.default_rng(0)
    rgb = np.stack([np.sin(9 * x + 3 * y), np.cos(7 * y * x), x * y], axis=-1) * 0.4 + 0.5
    rgb = np.clip(rgb + 0.05 * rng.standard_normal(rgb.shape), 0, 1)
    Image.fromarray((rgb * 255).astype(np.uint8)).save(tmp_path / "big.png")
    run = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "inrcodec", "encode",
                          str(tmp_path / "big.png"), "-o", str(tmp_path / "big.inr"), "--fit-steps", "4", "--quiet"],
                         capture_output=True, text=True, check=True)
    peak, rc = map(int, run.stdout.split())
    assert rc == 0 and (tmp_path / "big.inr").stat().st_size > 0, run.stderr
    assert peak <= MAX_ENCODE_PEAK_RSS_4MP, f"peak RSS {peak / 2**20:.0f} MiB"
