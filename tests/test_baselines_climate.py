"""Climate baselines (inrcodec.evaluation.baselines.climate): error bounds, shapes, rate matching, metrics."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from inrcodec.evaluation import baselines
from inrcodec.evaluation.baselines import climate

MODULES = {"sz3": "pysz", "zfp": "zfpy"}
ERA5_RANGE = (202.66, 320.93)  # COIN++'s ERA5 normalisation range, kelvin.


def _field(lat: int = 46, lon: int = 90, seed: int = 0) -> np.ndarray:
    """A smooth temperature-like field in kelvin with weather-scale noise: (lat, lon) float32."""
    rng = np.random.default_rng(seed)
    phi = np.linspace(-np.pi / 2, np.pi / 2, lat)[:, None]
    lam = np.linspace(0, 2 * np.pi, lon, endpoint=False)[None, :]
    field = 250 + 40 * np.cos(phi) + 5 * np.sin(3 * lam) * np.cos(2 * phi) + rng.normal(0, 0.5, (lat, lon))
    return field.astype(np.float32)


FIELD = _field()


def _codec(name: str) -> str:
    pytest.importorskip(MODULES[name])
    return name


@pytest.mark.parametrize("name", list(MODULES))
@pytest.mark.parametrize("error_bound", [0.01, 0.5])
def test_error_bound_respected_and_deterministic(name, error_bound):
    codec = climate.CODECS[_codec(name)]
    data = codec.encode(FIELD, error_bound)
    assert isinstance(data, bytes) and data == codec.encode(FIELD, error_bound)
    out = codec.decode(data, FIELD)
    assert out.shape == FIELD.shape and out.dtype == np.float32
    assert np.abs(out.astype(np.float64) - FIELD).max() <= error_bound


@pytest.mark.parametrize("name", list(MODULES))
@pytest.mark.parametrize("shape", [(4, 46, 90), (2, 1, 3, 46, 90)])
def test_stacks_of_fields_round_trip(name, shape):
    codec = climate.CODECS[_codec(name)]
    stack = np.stack([_field(seed=s) for s in range(math.prod(shape[:-2]))]).reshape(shape)
    out = codec.decode(codec.encode(stack, 0.1), stack)
    assert out.shape == shape
    assert np.abs(out - stack).max() <= 0.1
    assert climate.bits_per_field(100, shape) == 800 / math.prod(shape[:-2])


@pytest.mark.parametrize("name", list(MODULES))
def test_match_rate_fits_target_within_bound(name):
    """SZ3's error bounds are 1/8 octave apart (~0.15 bit/value, ~15 % of the rate here), so its rate
    must be >= 80 % of the target; ZFP only has power-of-two tolerances, about a bit per value apart
    (4,000+ bits per 46x90 field), so we only require >= 50 % for it. The next bound must not fit."""
    _codec(name)
    target = 12000.0
    r = climate.match_rate(FIELD, name, target, value_range=ERA5_RANGE)
    assert r.codec == name and r.rate_unit == "bits_per_field" and r.rate == 8 * r.bytes
    assert (0.8 if name == "sz3" else 0.5) * target <= r.rate <= target
    assert r.metrics["max_abs_error"] <= r.setting
    assert r.metrics["psnr"] == pytest.approx(20 * math.log10((ERA5_RANGE[1] - ERA5_RANGE[0]) / r.metrics["rmse"]))
    settings = list(climate.CODECS[name].settings(FIELD))
    tighter = settings[settings.index(r.setting) + 1]
    assert 8 * len(climate.CODECS[name].encode(FIELD, tighter)) > target


@pytest.mark.parametrize("name", list(MODULES))
def test_higher_rate_gives_higher_psnr(name):
    _codec(name)
    low, high = climate.match_rate(FIELD, name, 4000), climate.match_rate(FIELD, name, 30000)
    assert low.rate < high.rate
    assert low.metrics["psnr"] < high.metrics["psnr"] and low.metrics["rmse"] > high.metrics["rmse"]


def test_field_metrics_hand_computed():
    ref = np.zeros((2, 3))
    ref[0, 0] = 10.0  # Range 10.
    rec = ref + 0.1
    m = climate.field_metrics(ref, rec)
    assert m["rmse"] == pytest.approx(0.1) and m["max_abs_error"] == pytest.approx(0.1)
    assert m["psnr"] == pytest.approx(40.0)
    assert climate.field_metrics(ref, rec, value_range=(0.0, 100.0))["psnr"] == pytest.approx(60.0)


def test_bad_inputs():
    _codec("sz3")
    with pytest.raises(ValueError, match="finite"):
        climate.match_rate(np.where(FIELD > 280, np.nan, FIELD), "sz3", 1000)
    with pytest.raises(ValueError, match="hi > lo"):
        climate.match_rate(FIELD, "sz3", 1000, value_range=(300.0, 200.0))
    with pytest.raises(ValueError, match="float32 or float64"):
        climate.match_rate(FIELD.astype(np.int32), "sz3", 1000)
    with pytest.raises(ValueError, match="lat, lon"):
        climate.match_rate(FIELD[0], "sz3", 1000)
    with pytest.raises(ValueError, match="unknown climate baseline"):
        climate.match_rate(FIELD, "mgard", 1000)
    assert set(baselines.available("climate")) == {"sz3", "zfp"}


def test_missing_module_is_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "pysz", None)  # Makes `import pysz` fail.
    reason = baselines.available("climate")["sz3"]
    assert reason is not None and "pysz" in reason
    with pytest.raises(RuntimeError, match="pysz"):
        climate.match_rate(FIELD, "sz3", 1000)
