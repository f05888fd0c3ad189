"""Tests for the results JSON schema (inrcodec.evaluation.results) and the Pillow baselines (inrcodec.evaluation.baselines)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from inrcodec.evaluation.baselines import available_codecs, decode_pillow, encode_pillow, match_bpp
from inrcodec.evaluation.results import make_results, read_results, write_results
from inrcodec.signals.metrics import psnr, psnr_uint8

CODECS = available_codecs()


def _points() -> list[dict]:
    return [
        {
            "bpp": 0.25,
            "psnr-rgb": 28.0,
            "encoding_time": 1.5,
            "decoding_time": 0.1,
            "ms-ssim": 0.9,
            "per_item": {"file": ["a.png", "b.png"], "bpp": [0.2, 0.3]},
        },
        {
            "bpp": np.float32(0.5),
            "psnr-rgb": np.float64(31.0),
            "encoding_time": 1.6,
            "decoding_time": 0.1,
            "ms-ssim": 0.95,
            "per_item": {"file": ["a.png", "b.png"], "bpp": np.array([0.4, 0.6])},
        },
    ]


def _image(h: int = 64, w: int = 96) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x / (w - 1), y / (h - 1), (x + y) / (w + h - 2)], axis=-1) * 200.0 + 20.0
    noisy = base + rng.normal(0.0, 8.0, size=base.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def test_results_round_trip(tmp_path):
    meta = {"command": "inrcodec eval", "date": "2024-01-01", "machine": "test"}
    res = make_results("inrcodec", "test run", _points(), meta=meta)
    assert list(res["results"])[:4] == ["bpp", "psnr-rgb", "encoding_time", "decoding_time"]
    assert res["results"]["ms-ssim"] == [0.9, 0.95]
    path = tmp_path / "sub" / "inrcodec.json"
    write_results(path, res)
    assert not [p for p in path.parent.iterdir() if p.name != path.name]  # no temp file left
    back = read_results(path)
    assert back == json.loads(json.dumps(res))
    assert back["per_item"][1]["bpp"] == [0.4, 0.6]
    assert back["meta"] == meta
    assert back["results"]["bpp"] == pytest.approx([0.25, 0.5])
    assert path.read_text().startswith("{\n \"name\"")  # indent=1


def test_make_results_without_optional_parts():
    res = make_results("x", "", [{"bpp": 1.0}, {"bpp": 2.0}])
    assert res == {"name": "x", "description": "", "results": {"bpp": [1.0, 2.0]}}


def test_make_results_rejects_inconsistent_points():
    with pytest.raises(ValueError, match="bpp"):
        make_results("x", "", [{"psnr-rgb": 30.0}])
    with pytest.raises(ValueError, match="metrics"):
        make_results("x", "", [{"bpp": 1.0, "psnr-rgb": 30.0}, {"bpp": 2.0}])
    with pytest.raises(ValueError):
        make_results("x", "", [])


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"description": "", "results": {"bpp": [1.0]}}, "name"),
        ({"name": "x", "description": ""}, "'results'"),
        ({"name": "x", "results": {"psnr-rgb": [30.0]}}, "bpp"),
        ({"name": "x", "results": {"bpp": [1.0, 2.0], "psnr-rgb": [30.0]}}, "length"),
        ({"name": "x", "results": {"bpp": [1.0]}, "per_item": [{}, {}]}, "per_item"),
    ],
)
def test_read_results_rejects_bad_schema(tmp_path, doc, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=message):
        read_results(path)


def test_read_results_rejects_invalid_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="JSON"):
        read_results(path)


def test_psnr_hand_computed():
    a = np.full((4, 5, 3), 0.5)
    assert psnr(a, a + 0.1) == pytest.approx(20.0)
    assert psnr(a * 2, a * 2 + 0.2, peak=2.0) == pytest.approx(20.0)
    assert psnr(a, a) == math.inf


def test_psnr_uint8():
    a = np.full((8, 8, 3), 100, dtype=np.uint8)
    b = a.copy()
    b[...] = 110  # MSE 100 -> 10*log10(255^2/100)
    assert psnr_uint8(a, b) == pytest.approx(20 * math.log10(255 / 10))
    assert psnr_uint8(b, a) == pytest.approx(psnr_uint8(a, b))  # no uint8 wrap-around
    assert psnr_uint8(a, a) == math.inf
    with pytest.raises(ValueError):
        psnr_uint8(a.astype(np.float32), b)
    with pytest.raises(ValueError):
        psnr(a, b[:4])


def test_available_codecs():
    assert set(CODECS) <= {"jpeg", "webp"}
    assert "jpeg" in CODECS


@pytest.mark.parametrize("codec", CODECS)
def test_encode_decode_quality_90(codec):
    img = _image()
    data = encode_pillow(img, codec, 90)
    out = decode_pillow(data)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert psnr_uint8(img, out) > 30.0
    assert len(encode_pillow(img, codec, 10)) < len(data)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("target", [0.5, 1.0, 2.0, 4.0])
def test_match_bpp(codec, target):
    img = _image()
    h, w = img.shape[:2]
    r = match_bpp(img, codec, target)
    assert set(r) == {"quality", "bytes", "bpp", "psnr", "encoding_time", "decoding_time"}
    assert 1 <= r["quality"] <= 100
    assert r["bpp"] == pytest.approx(8 * r["bytes"] / (h * w))
    assert r["bytes"] == len(encode_pillow(img, codec, r["quality"]))
    assert r["psnr"] == pytest.approx(psnr_uint8(img, decode_pillow(encode_pillow(img, codec, r["quality"]))))
    assert r["encoding_time"] >= 0 and r["decoding_time"] >= 0
    if r["quality"] > 1:
        assert r["bpp"] <= target
    if r["quality"] < 100 and r["bpp"] <= target:
        assert 8 * len(encode_pillow(img, codec, r["quality"] + 1)) / (h * w) > target


@pytest.mark.parametrize("codec", CODECS)
def test_match_bpp_target_below_quality_1(codec):
    img = _image()
    r = match_bpp(img, codec, 1e-3)
    assert r["quality"] == 1
    assert r["bpp"] > 1e-3  # real rate reported, not the target


def test_bad_inputs():
    img = _image()
    with pytest.raises(ValueError):
        encode_pillow(img, "png", 50)
    with pytest.raises(ValueError):
        encode_pillow(img, "jpeg", 0)
    with pytest.raises(ValueError):
        encode_pillow(img.astype(np.float32), "jpeg", 50)
    with pytest.raises(ValueError):
        match_bpp(img, "jpeg", 0.0)
