"""Bjøntegaard metrics, the anchor reference data and the R-D plot helper (numpy, matplotlib)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inrcodec.evaluation import anchors
from inrcodec.evaluation.bdrate import bd_psnr, bd_psnr_with_overlap, bd_rate, bd_rate_with_overlap
from inrcodec.evaluation.plot import plot_rd

RATES = [0.1, 0.2, 0.4, 0.8]
PSNRS = [26.0, 28.0, 30.0, 32.0]
# A curved (non-log-linear) anchor so the fits are not trivially exact lines.
CURVED_RATES = [0.05, 0.11, 0.24, 0.49, 0.87, 1.43]
CURVED_PSNRS = [26.1, 28.5, 31.2, 34.3, 37.4, 40.4]


def test_curve_against_itself_is_zero():
    assert bd_rate(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(CURVED_RATES, CURVED_PSNRS, CURVED_RATES, CURVED_PSNRS) == pytest.approx(
        0.0, abs=1e-9
    )


def test_half_rate_everywhere_is_minus_50_percent():
    half = [r / 2 for r in CURVED_RATES]
    assert bd_rate(CURVED_RATES, CURVED_PSNRS, half, CURVED_PSNRS) == pytest.approx(-50.0, abs=0.1)
    # And the other way round: the anchor needs twice the bits.
    assert bd_rate(half, CURVED_PSNRS, CURVED_RATES, CURVED_PSNRS) == pytest.approx(100.0, abs=0.1)


def test_one_db_higher_everywhere_gives_plus_one_db():
    higher = [p + 1.0 for p in CURVED_PSNRS]
    r, p = CURVED_RATES, CURVED_PSNRS
    assert bd_psnr(r, p, r, higher) == pytest.approx(1.0, abs=1e-6)
    assert bd_psnr(r, higher, r, p) == pytest.approx(-1.0, abs=1e-6)
    # bd_rate sees the same shift as fewer bits for the test curve.
    assert bd_rate(CURVED_RATES, CURVED_PSNRS, CURVED_RATES, higher) < 0


def test_hand_computed_minus_20_percent():
    # log10(rate) is linear in PSNR for both curves and differs by log10(0.8) everywhere, so the
    # cubic fits are exact and BD-rate = (0.8 - 1) * 100 = -20 %.
    test_rates = [0.08, 0.16, 0.32, 0.64]
    value, (lo, hi) = bd_rate_with_overlap(RATES, PSNRS, test_rates, PSNRS)
    assert value == pytest.approx(-20.0, abs=1e-6)
    assert (lo, hi) == (26.0, 32.0)


def test_point_order_does_not_matter():
    shuffled = [2, 0, 3, 1]
    r = [RATES[i] for i in shuffled]
    p = [PSNRS[i] for i in shuffled]
    assert bd_rate(r, p, [0.08, 0.16, 0.32, 0.64], PSNRS) == pytest.approx(-20.0, abs=1e-6)


def test_overlap_interval_is_intersection():
    value, (lo, hi) = bd_rate_with_overlap(RATES, PSNRS, [0.3, 0.6, 1.2, 2.4], [29, 31, 33, 35])
    assert (lo, hi) == (29.0, 32.0)
    assert math.isfinite(value)
    _, (rlo, rhi) = bd_psnr_with_overlap(RATES, PSNRS, [0.3, 0.6, 1.2, 2.4], [29, 31, 33, 35])
    assert rlo == pytest.approx(0.3) and rhi == pytest.approx(0.8)


def test_three_points_use_quadratic_fit():
    r, p = RATES[:3], PSNRS[:3]
    assert bd_rate(r, p, [x / 2 for x in r], p) == pytest.approx(-50.0, abs=1e-6)


def test_no_overlap_raises():
    with pytest.raises(ValueError, match="do not overlap"):
        bd_rate(RATES, PSNRS, RATES, [40.0, 42.0, 44.0, 46.0])
    with pytest.raises(ValueError, match="do not overlap"):
        bd_psnr(RATES, PSNRS, [10.0, 20.0, 40.0, 80.0], PSNRS)


def test_fewer_than_three_points_raises():
    with pytest.raises(ValueError, match="at least 3"):
        bd_rate(RATES[:2], PSNRS[:2], RATES, PSNRS)
    with pytest.raises(ValueError, match="at least 3"):
        bd_psnr(RATES, PSNRS, RATES[:2], PSNRS[:2])


def test_invalid_inputs_raise():
    with pytest.raises(ValueError):
        bd_rate(RATES, PSNRS[:3], RATES, PSNRS)  # length mismatch
    with pytest.raises(ValueError):
        bd_rate([0.0, 0.2, 0.4, 0.8], PSNRS, RATES, PSNRS)  # non-positive rate
    with pytest.raises(ValueError):
        bd_rate(RATES, [26.0, 26.0, 30.0, 30.0], RATES, PSNRS)  # only 2 distinct PSNRs


def test_reproduces_anchors_md_bd_rates():
    # ANCHORS.md 0.7 lists BD-rates computed independently with the same method from the same data.
    k = anchors.KODAK
    c3 = anchors.curve(k, "C3 (Kim et al. 2024)")
    coolchic = anchors.curve(k, "Cool-chic 5.0")
    vtm = anchors.curve(k, "VTM")
    assert bd_rate(*vtm, *c3) == pytest.approx(6.8, abs=0.05)
    assert bd_rate(*vtm, *coolchic) == pytest.approx(-5.3, abs=0.05)
    assert bd_rate(*c3, *coolchic) == pytest.approx(-10.4, abs=0.05)
    coin = anchors.curve(k, "COIN (Dupont et al. 2021)")
    coinpp = anchors.curve(k, "COIN++ (Dupont et al. 2022)")
    assert bd_rate(*coin, *coinpp) == pytest.approx(-15.9, abs=0.05)
    mp3 = anchors.curve("librispeech", "MP3 (coinpp)")
    coinpp_audio = anchors.curve("librispeech", "COIN++ (Dupont et al. 2022)")
    assert bd_rate(*mp3, *coinpp_audio) == pytest.approx(71.6, abs=0.05)


@pytest.mark.parametrize("dataset", ["kodak", "librispeech", "era5"])
def test_anchor_entries_are_well_formed(dataset):
    entries = anchors.DATASETS[dataset]
    assert entries
    for name, entry in entries.items():
        rate, psnr = entry["rate"], entry["psnr"]
        assert len(rate) == len(psnr) >= 3, name
        assert all(a < b for a, b in zip(rate, rate[1:])), f"{name}: rates not increasing"
        assert all(r > 0 and math.isfinite(r) for r in rate), name
        assert all(10.0 < p < 80.0 for p in psnr), name
        assert entry["unit"] in ("bpp", "kbps", "bits per field"), name
        assert entry[entry["unit"].replace(" ", "_")] == rate, name
        assert isinstance(entry["source"], str) and entry["source"], name


def test_anchor_units_and_required_entries():
    assert {e["unit"] for e in anchors.KODAK.values()} == {"bpp"}
    assert {e["unit"] for e in anchors.LIBRISPEECH.values()} == {"kbps"}
    assert {e["unit"] for e in anchors.ERA5.values()} == {"bits per field"}
    for name in ("COIN (Dupont et al. 2021)", "COIN++ (Dupont et al. 2022)", "C3 (Kim et al. 2024)",
                 "Cool-chic 5.0", "BPG444", "VTM", "JPEG (coinpp)", "WebP (measured here)"):
        assert name in anchors.KODAK
    era5 = anchors.ERA5["COIN++ (Dupont et al. 2022)"]
    np.testing.assert_allclose(era5["rate"], np.array(era5["bpp"]) * 46 * 90)
    assert era5["rate"][0] == pytest.approx(17.12, abs=0.01)  # ANCHORS.md 0.4: 17.1 bits per field


def test_plot_rd_writes_png(tmp_path):
    out = tmp_path / "rd.png"
    ours = {"ours": ([0.1, 0.2, 0.4], [25.0, 27.5, 30.0])}
    anchor_curves = anchors.curves("kodak", ["COIN++ (Dupont et al. 2022)", "VTM"])
    result = plot_rd(ours, anchor_curves, out, "Kodak", rate_label="bpp")
    assert result == out
    data = out.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["rd.png"]  # no temp file left behind

    # Anchors given as raw entry dicts, log axis, overwrite in place.
    plot_rd(ours, anchors.ERA5, out, "ERA5", rate_label="bits per field", log_rate=True)
    assert out.stat().st_size > 1000
    plot_rd(ours, anchors.KODAK, out, "Kodak zoom", xlim=(0.0, 1.0), ylim=(20.0, 40.0))
    assert out.stat().st_size > 1000
