"""`inrcodec eval` on tiny data with the tiny test bases: CompressAI-schema JSON that reloads, matched-rate
baselines, BD metrics, the report and the plot, for images, audio and climate fields."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from conftest import AUDIO_FRAMES, CLIMATE_FIELDS, FAST_FIT_STEPS, SMALL_SHAPE
from inrcodec.evaluation import baselines, evaluate
from inrcodec.cli import main
from inrcodec.evaluation.results import read_results
from make_assets import synthetic_field, synthetic_image

REPO = Path(__file__).resolve().parent.parent
TIME_KEYS = ("encoding_time", "decoding_time")


def _check_outputs(out: Path, rate_key: str, baseline_names: list[str]) -> tuple[dict, dict]:
    """Round trip of every JSON, the rate key, per-item baseline rates within inrcodec's (or counted
    as above it), report files."""
    ours = read_results(out / "inrcodec.json")
    assert json.loads((out / "inrcodec.json").read_text()) == ours  # Plain JSON on disk.
    assert ours["meta"]["rate_key"] == rate_key and rate_key in ours["results"] and "psnr" in ours["results"]
    assert ours["meta"]["base"]["base_id"] and ours["meta"]["items"]
    for point in ours["per_item"]:
        assert all(r > 0 for r in point[rate_key]) and all(b > 0 for b in point["bytes"])
    for name in baseline_names:
        res = read_results(out / f"{name}.json")
        assert len(res["results"][rate_key]) == len(ours["results"][rate_key])
        above = 0  # Runs where even the baseline's lowest setting is above inrcodec's rate.
        for ours_point, their_point in zip(ours["per_item"], res["per_item"]):
            assert their_point["file"] == ours_point["file"]
            assert their_point["target"] == ours_point[rate_key]
            above += sum(b > a for a, b in zip(ours_point[rate_key], their_point[rate_key]))
        assert above == res["meta"]["runs_above_target"]  # Reported, not hidden.
    bd = json.loads((out / "bd.json").read_text())
    assert bd["rate_key"] == rate_key
    kinds = {row["anchor"]: row["kind"] for row in bd["comparisons"]}
    assert all(kinds[n] == "baseline" for n in baseline_names) and "published" in kinds.values()
    for row in bd["comparisons"]:  # Either a number or the reason why not.
        assert row["bd_rate_percent"] is not None or row["bd_rate_error"]
        assert row["bd_psnr_db"] is not None or row["bd_psnr_error"]
    assert "| inrcodec vs |" in (out / "report.md").read_text()
    assert (out / "rd.png").read_bytes()[:4] == b"\x89PNG"
    return ours, bd


def _without_times(res: dict) -> dict:
    """A results dict without timings and the run's date (what may differ between reruns)."""
    res = json.loads(json.dumps(res))
    res["results"] = {k: v for k, v in res["results"].items() if k not in TIME_KEYS}
    res["per_item"] = [{k: v for k, v in p.items() if k not in TIME_KEYS} for p in res["per_item"]]
    for key in ("date", "command"):  # The command names the --out folder.
        res["meta"].pop(key)
    return res


def test_eval_writes_results_for_inrcodec_and_baselines(tmp_path, inr_bases, capsys):
    data = tmp_path / "imgs"
    data.mkdir()
    # The tests' image shape (one JIT compilation of the fit); the second image is the first mirrored.
    Image.fromarray(synthetic_image(*SMALL_SHAPE)).save(data / "im0.png")
    Image.fromarray(synthetic_image(*SMALL_SHAPE)[:, ::-1]).save(data / "im1.png")
    out = tmp_path / "res"
    rc = main(["eval", str(data), "--quality", "2,6", "--out", str(out), "--base", "tiny-test-base", "--fit-steps",
               FAST_FIT_STEPS, "--quiet"])
    assert rc == 0
    ours = read_results(out / "inrcodec.json")
    assert ours["name"] == "inrcodec" and len(ours["results"]["bpp"]) == 2
    assert ours["results"]["bpp"][0] < ours["results"]["bpp"][1]
    assert ours["results"]["psnr"] == ours["results"]["psnr-rgb"]  # Old readers use psnr-rgb.
    # bpp is measured from the files: per-item values are 8 * bytes / pixels, > 0.
    assert all(b > 0 for b in ours["per_item"][0]["bpp"])
    assert ours["per_item"][0]["bpp"] == [8 * n / (SMALL_SHAPE[0] * SMALL_SHAPE[1]) for n in ours["per_item"][0]["bytes"]]
    ran = [n for n, why in baselines.available("image").items() if why is None]
    assert {"jpeg", "webp"} <= set(ran)
    for name in ran:
        res = read_results(out / f"{name}.json")
        assert len(res["results"]["psnr-rgb"]) == 2
    bd = json.loads((out / "bd.json").read_text())
    # Two quality levels are too few for a BD fit: the reason is recorded instead.
    assert all(row["bd_rate_percent"] is None and "3 points" in row["bd_rate_error"] for row in bd["comparisons"])
    assert not bd["anchors_comparable"] and "Kodak" in bd["anchor_note"]
    stdout = capsys.readouterr().out
    assert "inrcodec:" in stdout and "jpeg:" in stdout and "BD vs COIN++" in stdout
    assert (out / "rd.png").is_file() and (out / "report.md").is_file()


def _write_clips(folder: Path, seconds: float, rate: int = 24000) -> None:
    """Two decaying tones, 16-bit WAV."""
    folder.mkdir()
    t = np.arange(round(seconds * rate)) / rate
    for i, f0 in enumerate((440.0, 330.0)):
        x = (0.5 - 0.1 * i) * np.exp(-2 * t) * np.sin(2 * np.pi * f0 * t)
        sf.write(folder / f"clip{i}.wav", x[:, None], rate, subtype="PCM_16")


def test_eval_audio(tmp_path, inr_bases, capsys):
    """Two clips cut to their first 0.25 s (AUDIO_FRAMES frames: the other audio tests' compiled fit); MP3 at
    inrcodec's per-clip kbps (24 kHz so the tiny base's rates are above MP3's lowest bitrate)."""
    if baselines.available("audio")["mp3"] is not None:
        pytest.skip(baselines.available("audio")["mp3"])
    seconds = AUDIO_FRAMES / 24000
    data = tmp_path / "wavs"
    _write_clips(data, 0.4)
    out = tmp_path / "res"
    rc = main(["eval", str(data), "--quality", "1,4,8", "--out", str(out), "--base", "tiny-audio-test-base",
               "--fit-steps", FAST_FIT_STEPS, "--seconds", str(seconds), "--baselines", "mp3", "--target", "psnr",
               "--quiet"])
    assert rc == 0
    ours, bd = _check_outputs(out, "kbps", ["mp3"])
    assert ours["meta"]["modality"] == "audio" and ours["meta"]["seconds"] == seconds
    assert ours["meta"]["encode_options"] == {"distortion": "psnr"} and "--target psnr" in ours["meta"]["command"]
    mp3 = read_results(out / "mp3.json")
    for ours_point, their_point in zip(ours["per_item"], mp3["per_item"]):
        for a, b, setting in zip(ours_point["kbps"], their_point["kbps"], their_point["setting"]):
            assert b <= a or setting == 8  # Above inrcodec's rate only at LAME's lowest CBR (8 kbps).
    assert {"psnr", "snr_db", "bpp"} <= set(ours["results"])
    point = ours["per_item"][0]
    assert point["kbps"] == pytest.approx([8 * n / seconds / 1000 for n in point["bytes"]])
    assert point["bpp"] == pytest.approx([8 * n / AUDIO_FRAMES for n in point["bytes"]])  # Bits per sample.
    assert ours["meta"]["item_shapes"] == [[AUDIO_FRAMES, 1, 24000]] * 2
    assert "not the first 3 s" in bd["anchor_note"]
    assert {row["anchor"] for row in bd["comparisons"]} >= {"mp3", "COIN++ (Dupont et al. 2022)", "MP3 (coinpp)"}
    stdout = capsys.readouterr().out
    assert "inrcodec:" in stdout and "kbps" in stdout and "mp3:" in stdout and "BD vs mp3" in stdout


def test_eval_climate(tmp_path, inr_bases, capsys):
    """A small netCDF stack with missing values; SZ3 at inrcodec's bits per field; reruns give the same results."""
    if baselines.available("climate")["sz3"] is not None:
        pytest.skip(baselines.available("climate")["sz3"])
    data = tmp_path / "fields"
    data.mkdir()
    synthetic_field(CLIMATE_FIELDS, 9, 16, missing=True).to_netcdf(data / "a.nc")
    (synthetic_field(CLIMATE_FIELDS, 9, 16, missing=True) + 1.5).rename("t2m").to_netcdf(data / "b.nc")
    args = ["eval", str(data), "--quality", "1,4,8", "--base", "tiny-climate-test-base", "--fit-steps", FAST_FIT_STEPS,
            "--var", "t2m", "--baselines", "sz3", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "res")]) == 0
    ours, bd = _check_outputs(tmp_path / "res", "bits_per_field", ["sz3"])
    assert {"psnr", "rmse", "max_abs_error", "bpp"} <= set(ours["results"])
    point = ours["per_item"][0]
    assert point["bits_per_field"] == [8 * n / CLIMATE_FIELDS for n in point["bytes"]]
    assert ours["meta"]["var"] == "t2m" and "46x90" in bd["anchor_note"]
    sz3 = read_results(tmp_path / "res" / "sz3.json")
    assert all(np.isfinite(sz3["results"]["psnr"]))  # Metrics over the valid points only.
    assert "bits per field" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "again")]) == 0
    for name in ("inrcodec", "sz3"):
        first, second = (read_results(tmp_path / d / f"{name}.json") for d in ("res", "again"))
        assert _without_times(first) == _without_times(second)


def test_eval_unknown_baseline_is_a_one_line_error(tmp_path, inr_bases, capsys):
    data = tmp_path / "imgs"
    data.mkdir()
    Image.fromarray(synthetic_image()).save(data / "im.png")
    rc = main(["eval", str(data), "--out", str(tmp_path / "res"), "--base", "tiny-test-base", "--baselines", "jpeg,mp3"])
    assert rc == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown image baseline 'mp3'" in err and "jpeg" in err
    assert not (tmp_path / "res" / "inrcodec.json").exists()


def test_eval_needs_one_modality(tmp_path, inr_bases, capsys):
    data = tmp_path / "mixed"
    data.mkdir()
    Image.fromarray(synthetic_image()).save(data / "im.png")
    synthetic_field(1, 9, 16).to_netcdf(data / "f.nc")
    assert main(["eval", str(data), "--out", str(tmp_path / "res")]) == 1
    err = capsys.readouterr().err
    assert "several modalities" in err and "--modality" in err
    assert main(["eval", str(data), "--modality", "image", "--var", "t2m", "--out", str(tmp_path / "res")]) == 1
    assert "--var applies to climate" in capsys.readouterr().err


def test_report_of_committed_kodak_results(tmp_path):
    """The report (also `benchmarks/report.py`) still reads the committed results/kodak (psnr-rgb only)."""
    src = REPO / "results" / "kodak"
    if not (src / "inrcodec.json").is_file():
        pytest.skip("no committed results/kodak")
    folder = tmp_path / "kodak"
    shutil.copytree(src, folder)
    bd = evaluate.report(folder)
    assert bd["rate_key"] == "bpp" and bd["modality"] == "image"
    rows = {row["anchor"]: row for row in bd["comparisons"]}
    assert rows["COIN++ (Dupont et al. 2022)"]["bd_rate_percent"] is not None
    assert rows["jpeg"]["kind"] == "baseline"
    assert (folder / "rd.png").is_file() and "COIN++" in (folder / "report.md").read_text()
