"""Golden-file tests: tests/assets/golden.inr (made by tests/make_assets.py) must keep decoding to
the same pixels, and re-encoding the same image must keep producing the same bytes.

If one of these fails, the bitstream or the encoder changed: bump the format version if needed
and regenerate the assets deliberately (python tests/make_assets.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from inrcodec import api
from inrcodec.core import bases
from inrcodec.core.config import FitConfig
from inrcodec.modalities import image as image_format

pytestmark = pytest.mark.usefixtures("inr_bases")

TESTS_DIR = Path(__file__).resolve().parent
GOLDEN_INR = TESTS_DIR / "assets" / "golden.inr"
TINY_BASE_DIR = TESTS_DIR / "assets" / "tiny-base"
EXPECTED = json.loads((TESTS_DIR / "expected" / "golden.json").read_text())
GOLDEN_FIT = FitConfig(noise_steps=10, ste_steps=5)  # As in make_assets.py.


def test_golden_file_decodes_to_expected_pixels():
    data = GOLDEN_INR.read_bytes()
    assert hashlib.sha256(data).hexdigest() == EXPECTED["inr_sha256"], "golden.inr itself was changed"
    decoded = api.decode(data)
    assert decoded.array.shape == (24, 40, 3)
    assert hashlib.sha256(decoded.array.tobytes()).hexdigest() == EXPECTED["decoded_sha256"]


def test_reencoding_reproduces_golden_bytes():
    from make_assets import synthetic_image

    base = bases.load_base_dir(TINY_BASE_DIR)
    result = image_format.encode(synthetic_image(), base, 4, GOLDEN_FIT)
    assert len(result.data) == EXPECTED["bytes"]
    assert hashlib.sha256(result.data).hexdigest() == EXPECTED["inr_sha256"]
    assert result.data == GOLDEN_INR.read_bytes()
    assert hashlib.sha256(result.reconstruction.tobytes()).hexdigest() == EXPECTED["decoded_sha256"]


@pytest.mark.parametrize("modality", ["audio", "climate"])
def test_audio_and_climate_golden_files_decode_and_reencode_identically(modality):
    from make_assets import FORMATS, GOLDEN_FILES, decoded_values, golden_inputs

    stem = GOLDEN_FILES[modality]
    expected = json.loads((TESTS_DIR / "expected" / f"{stem}.json").read_text())
    data = (TESTS_DIR / "assets" / f"{stem}.inr").read_bytes()
    assert hashlib.sha256(data).hexdigest() == expected["inr_sha256"], f"{stem}.inr itself was changed"
    decoded = api.decode(data)
    # Float outputs are compared by value: XLA's last-bit rounding of sin/matmul differs between CPUs
    # (the hash in the JSON is that of the machine that made the assets).
    want = np.load(TESTS_DIR / "expected" / f"{stem}.npy", allow_pickle=False)
    np.testing.assert_allclose(decoded_values(decoded.array), want, rtol=0, atol=1e-5)
    base = bases.load_base(f"tiny-{modality}-test-base")
    result = FORMATS[modality].encode(golden_inputs()[modality], base, 4, GOLDEN_FIT)
    assert result.data == data


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_older_climate_files_still_decode_to_the_same_field(version):
    """golden-climate-1.0.inr and -1.1.inr are golden-climate.inr as formats 1.0 (template without the
    preset dictionary) and 1.1 (latents not stack-predicted) wrote it: same base, same latents, so the
    same values and the same netCDF description."""
    old = (TESTS_DIR / "assets" / f"golden-climate-{version}.inr").read_bytes()
    new = (TESTS_DIR / "assets" / "golden-climate.inr").read_bytes()
    assert api.info(TESTS_DIR / "assets" / f"golden-climate-{version}.inr")["format"] == version
    info = api.info(TESTS_DIR / "assets" / "golden-climate.inr")
    assert info["format"] == "1.2" and info["stack_predicted_levels"]
    assert len(new) < len(old)
    a, b = api.decode(old).array, api.decode(new).array
    np.testing.assert_array_equal(a.values, b.values)
    assert a.dims == b.dims and a.attrs == b.attrs and a.name == b.name
    for name in a.coords:
        np.testing.assert_array_equal(a[name].values, b[name].values)


def test_audio_file_of_format_1_0_still_decodes_to_the_same_samples():
    """golden-audio-1.0.inr (a chord, entropy model 1) was written before local scales (1.3)."""
    from make_assets import decoded_values

    old = TESTS_DIR / "assets" / "golden-audio-1.0.inr"
    expected = json.loads((TESTS_DIR / "expected" / "golden-audio-1.0.json").read_text())
    assert hashlib.sha256(old.read_bytes()).hexdigest() == expected["inr_sha256"]
    assert api.info(old)["format"] == "1.0" and "local_scale_levels" not in api.info(old)
    want = np.load(TESTS_DIR / "expected" / "golden-audio-1.0.npy", allow_pickle=False)
    np.testing.assert_allclose(decoded_values(api.decode(old.read_bytes()).array), want, rtol=0, atol=1e-5)
    assert api.info(TESTS_DIR / "assets" / "golden-audio.inr")["format"] == "1.3"
