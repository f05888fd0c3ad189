"""Rate targets in the API: the unit must be the modality's, and the search reports what it did (the
levels tried, their total time, a missed target). The plug-in's encoder is replaced by a stand-in whose
rate is its quality level, so no JAX runs."""

import time
from pathlib import Path

import pytest
from PIL import Image

from inrcodec import api
from inrcodec.core import bases
from inrcodec.errors import InputError
from inrcodec.modalities import image as image_modality
from inrcodec.modalities.common import EncodeResult
from conftest import DEBUG_FIT
from make_assets import synthetic_audio, synthetic_image

STAND_IN_SECONDS = 0.02  # Each stand-in encode's wall time, reported as 0 s.


@pytest.fixture(scope="module")
def tiny():
    return bases.load_base_dir(Path(__file__).parent / "assets" / "tiny-base")


@pytest.fixture
def levels_as_rates(monkeypatch):
    """The image plug-in's encode, replaced: quality q gives a file of q bpp. Returns the levels encoded."""
    encoded = []

    def encode(arr, base, quality, fit_cfg=None, seed=0, progress=None):
        encoded.append(quality)
        time.sleep(STAND_IN_SECONDS)
        return EncodeResult(bytes(quality), arr, quality, float(quality), "bpp", 30.0, {}, 0.0)

    monkeypatch.setattr(image_modality, "encode", encode)
    return encoded


def test_target_search_reports_levels_tried_and_their_total_time(tiny, levels_as_rates):
    result = api.encode(synthetic_image(8, 8), bpp=5.5, base=tiny, fit=DEBUG_FIT)
    assert result.quality == 5 and not result.target_missed and result.target == 5.5
    assert levels_as_rates == [4, 6, 5] and result.levels_tried == 3
    assert result.seconds >= 3 * STAND_IN_SECONDS  # All encodes, not the chosen one's 0 s.


def test_unreachable_target_returns_the_smallest_level_marked_missed(tiny, levels_as_rates):
    result = api.encode(synthetic_image(8, 8), rate=0.5, rate_unit="bpp", base=tiny, fit=DEBUG_FIT)
    assert result.quality == 1 and result.rate == 1.0 and result.target_missed
    assert levels_as_rates == [4, 2, 1] and result.levels_tried == 3


def test_unreachable_target_with_strict_raises_and_writes_nothing(tiny, levels_as_rates, tmp_path):
    src, dst = tmp_path / "x.png", tmp_path / "x.inr"
    Image.fromarray(synthetic_image(8, 8)).save(src)
    with pytest.raises(InputError, match="out of reach"):
        api.encode_file(src, dst, rate=0.5, rate_unit="bpp", strict=True, base=tiny, fit=DEBUG_FIT)
    assert not dst.exists()


def test_quality_levels_record_no_target(tiny, levels_as_rates):
    result = api.encode(synthetic_image(8, 8), quality=3, base=tiny, fit=DEBUG_FIT)
    assert result.target is None and result.levels_tried == 1 and not result.target_missed


@pytest.mark.parametrize("signal, options, right", [
    (synthetic_image(8, 8), {"rate": 16, "rate_unit": "kbps"}, "--bpp"),
    (synthetic_audio(100, 1), {"bpp": 1.0}, "--kbps"),  # `bpp` is the image alias, not any unit.
    (synthetic_audio(100, 1), {"rate": 1.0, "rate_unit": "bits per field"}, "--kbps"),
])
def test_rate_target_in_another_unit_is_refused(signal, options, right, levels_as_rates):
    with pytest.raises(InputError, match=right):
        api.encode(signal, base="no-such-base", **options)  # Refused before the base is looked up.
    assert levels_as_rates == []


def test_encode_file_checks_the_unit_before_reading(tmp_path):
    src = tmp_path / "x.wav"
    src.write_bytes(b"not a WAV: never read")
    with pytest.raises(InputError, match=r"x\.wav: audio rate targets are in kbps \(--kbps\), not bpp"):
        api.encode_file(src, tmp_path / "x.inr", bpp=0.5)
