"""Perceptual audio metrics (inrcodec.evaluation.perceptual) and their place in `inrcodec eval`: PESQ-WB and
STOI (and ViSQOL where installed) per clip, the 16 kHz mono path, the results JSON, BD-rate on PESQ."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from inrcodec.evaluation import baselines, evaluate, perceptual
from inrcodec.evaluation.results import make_results, read_results

CLIP = (Path(__file__).resolve().parents[2] / "shared" / "data" / "audio" / "test" / "librispeech_test_clean"
        / "1089-134686-0001.wav")


def _need(*names: str) -> None:
    for name, why in perceptual.available(names).items():
        if why is not None:
            pytest.skip(f"{name}: {why}")


def speechlike(seconds: float = 2.0, rate: int = 16000) -> np.ndarray:
    """(frames,) float32: a gliding 120 Hz harmonic voice in syllable bursts with pauses (PESQ finds it speech)."""
    t = np.arange(round(seconds * 16000)) / 16000
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    x = sum(np.sin(k * phase) / k for k in range(1, 30))
    envelope = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 0.5
    x = x * envelope + 0.002 * np.random.default_rng(0).standard_normal(t.size)
    if rate != 16000:  # Made at 16 kHz so every rate holds the same sound.
        g = np.gcd(rate, 16000)
        x = resample_poly(x, rate // g, 16000 // g)
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)


def noisy(x: np.ndarray, sigma: float = 0.03) -> np.ndarray:
    return np.clip(x + sigma * np.random.default_rng(1).standard_normal(x.shape), -1, 1).astype(np.float32)


@pytest.mark.parametrize("rate", [16000, 8000, 44100])
def test_identical_clip_scores_the_top_and_a_noisy_one_clearly_less(rate):
    _need("pesq_wb", "stoi")
    x = speechlike(rate=rate)
    same = perceptual.measure(x, x, rate, ("pesq_wb", "stoi"))
    assert same["pesq_wb"] == pytest.approx(4.64, abs=0.01) and same["stoi"] == pytest.approx(1.0, abs=1e-6)
    worse = perceptual.measure(x, noisy(x), rate, ("pesq_wb", "stoi"))
    assert worse["pesq_wb"] < 2.0 and worse["stoi"] < 0.97


def test_resampling_to_16k_and_mono_mix():
    assert perceptual.mono_16k(np.zeros(8000), 8000).shape == (16000,)
    assert perceptual.mono_16k(np.zeros((44100, 2)), 44100).shape == (16000,)
    x = speechlike(1.0)
    np.testing.assert_array_equal(perceptual.mono_16k(x, 16000), x.astype(np.float64))  # No resampling at 16 kHz.
    stereo = np.stack([x, np.zeros_like(x)], axis=1)
    np.testing.assert_allclose(perceptual.mono_16k(stereo, 16000), x / 2)  # Channels averaged.
    with pytest.raises(ValueError, match="shape"):
        perceptual.measure(x, stereo, 16000, ())


def test_stereo_scores_its_mix():
    _need("pesq_wb")
    x = speechlike()
    y = noisy(x)
    mono = perceptual.measure(x, y, 16000, ("pesq_wb",))
    assert perceptual.measure(np.stack([x, x], 1), np.stack([y, y], 1), 16000, ("pesq_wb",)) == mono


def test_undefined_and_silent_clips():
    _need("pesq_wb", "stoi")
    x = speechlike()
    assert perceptual.measure(x[:3000], x[:3000], 16000, ("pesq_wb", "stoi")) == {"pesq_wb": None, "stoi": None}
    silence = np.zeros_like(x)
    assert perceptual.measure(silence, x, 16000, ("pesq_wb", "stoi")) == {"pesq_wb": None, "stoi": None}
    assert perceptual.measure(x, silence, 16000, ("pesq_wb", "stoi")) == {"pesq_wb": 1.0, "stoi": 0.0}  # The floor.


def test_visqol_where_installed():
    _need("visqol")
    x = speechlike(1.5)
    same = perceptual.measure(x, x, 16000, ("visqol",))["visqol"]
    assert 4.0 < same <= 5.0 and perceptual.measure(x, noisy(x), 16000, ("visqol",))["visqol"] < same - 1.0
    assert perceptual.measure(x[:8000], x[:8000], 16000, ("visqol",)) == {"visqol": None}  # Under 1 s.


def test_missing_package_is_skipped_with_a_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "pesq", None)  # Makes `import pesq` raise ImportError.
    why = perceptual.available()["pesq_wb"]
    assert why and "pip install pesq" in why
    runnable, skipped = evaluate.check_perceptual("audio")
    assert "pesq_wb" not in runnable and "pip install pesq" in skipped["pesq_wb"]
    assert evaluate.check_perceptual("image") == ([], {}) and evaluate.check_perceptual("climate") == ([], {})
    with pytest.raises(ValueError, match="unknown"):
        perceptual.available(["mos"])


def test_librispeech_clip_through_mp3():
    """A real clip (first 3 s) through MP3 at 16 kbps, measured on the aligned decode like `inrcodec eval` does."""
    if not CLIP.is_file():
        pytest.skip(f"shared data not found: {CLIP}")
    if baselines.available("audio")["mp3"] is not None:
        pytest.skip(baselines.available("audio")["mp3"])
    _need("pesq_wb", "stoi")
    from inrcodec.signals.audio import read_audio

    audio = read_audio(CLIP)
    audio = type(audio)(audio.samples[:48000], audio.sample_rate, audio.subtype, audio.container)

    def measure(ref, test):
        return perceptual.measure(ref, test, audio.sample_rate, ("pesq_wb", "stoi"))

    r, metrics = baselines.audio.match_item(audio, "mp3", 16.0, measure=measure)
    assert r.rate <= 16.0 and {"psnr", "snr_db", "lag_frames", "pesq_wb", "stoi"} <= set(metrics)
    assert 1.0 < metrics["pesq_wb"] < 4.5 and 0.5 < metrics["stoi"] < 1.0
    assert "pesq_wb" not in baselines.audio.match_item(audio, "mp3", 16.0)[1]  # Only when asked.


def _results(name: str, kbps, psnr, pesq, modality: str = "audio") -> dict:
    points = [{"bpp": k / 16, "kbps": k, "psnr": p, "snr_db": p - 34, "pesq_wb": q, "encoding_time": 0.0,
               "decoding_time": 0.0} for k, p, q in zip(kbps, psnr, pesq)]
    return make_results(name, name, points, meta={"modality": modality, "rate_key": "kbps", "items": ["a.wav"]})


def test_bd_rate_on_pesq_beside_psnr(tmp_path):
    """inrcodec ahead on PSNR but behind on PESQ: the two BD-rates say so, in bd.json, the report and the log line."""
    ours = _results("inrcodec", [8, 16, 32, 64], [40, 44, 48, 52], [1.3, 1.6, 2.2, 3.0])
    mp3 = _results("mp3", [8, 16, 32, 64], [39, 42, 45, 48], [1.6, 2.2, 3.0, 3.8])
    for name, res in (("inrcodec", ours), ("mp3", mp3)):
        (tmp_path / f"{name}.json").write_text(json.dumps(res))
    bd = evaluate.report(tmp_path, plot=False)
    assert bd["bd_metrics"] == ["pesq_wb"]  # ViSQOL: not in these results.
    row = next(r for r in bd["comparisons"] if r["anchor"] == "mp3")
    assert row["bd_rate_percent"] < 0 and row["bd_by_metric"]["pesq_wb"]["bd_rate_percent"] > 0
    assert row["bd_by_metric"]["pesq_wb"]["bd_delta"] < 0
    assert row["bd_by_metric"]["pesq_wb"]["metric_overlap"] == [1.6, 3.0]
    assert all("bd_by_metric" not in r for r in bd["comparisons"] if r["kind"] == "published")
    assert "on PESQ-WB: BD-rate +" in evaluate.bd_line(row) and "BD-PESQ-WB -" in evaluate.bd_line(row)
    report = (tmp_path / "report.md").read_text()
    assert "BD-rate on PESQ-WB | BD-PESQ-WB |" in report and "PESQ-WB 1.6" in report
    # A baseline without the metric (results written before it existed) gets a reason, not a number.
    (tmp_path / "opus.json").write_text(json.dumps(make_results(
        "opus", "opus", [{"bpp": 1.0, "kbps": k, "psnr": p} for k, p in zip([8, 16, 32], [40, 44, 48])],
        meta={"modality": "audio"})))
    row = next(r for r in evaluate.report(tmp_path, plot=False)["comparisons"] if r["anchor"] == "opus")
    why = "opus has no pesq_wb"
    assert row["bd_by_metric"]["pesq_wb"] == {"bd_rate_percent": None, "bd_delta": None, "bd_rate_error": why,
                                              "bd_delta_error": why}


def test_undefined_points_make_no_bd_number(tmp_path):
    ours = _results("inrcodec", [8, 16, 32], [40, 44, 48], [None, 1.6, 2.2])
    mp3 = _results("mp3", [8, 16, 32], [39, 42, 45], [1.6, 2.2, 3.0])
    m = evaluate.bd_metric_comparison(evaluate.metric_curve(mp3, "pesq_wb"), evaluate.metric_curve(ours, "pesq_wb"),
                                      "pesq_wb", "kbps")
    assert m["bd_rate_percent"] is None and "undefined" in m["bd_rate_error"]


def test_image_bd_has_no_perceptual_axis():
    ours = make_results("inrcodec", "", [{"bpp": b, "psnr": p} for b, p in [(0.2, 25), (0.5, 28), (1, 31)]],
                        meta={"modality": "image", "rate_key": "bpp"})
    bd = evaluate.compare(ours, {"jpeg": make_results("jpeg", "", [{"bpp": b, "psnr": p} for b, p in
                                                                   [(0.2, 24), (0.5, 27), (1, 30)]])})
    assert "bd_metrics" not in bd and all("bd_by_metric" not in r for r in bd["comparisons"])


def test_eval_writes_perceptual_lists_for_inrcodec_and_mp3(tmp_path, inr_bases, monkeypatch):
    """`evaluate.run` on one clip, the inrcodec encoder replaced by added noise (no JAX: this checks the
    bookkeeping, not the codec): pesq_wb and stoi lists beside psnr and snr_db in both JSON files."""
    if baselines.available("audio")["mp3"] is not None:
        pytest.skip(baselines.available("audio")["mp3"])
    _need("pesq_wb", "stoi")
    import dataclasses

    import soundfile as sf

    from inrcodec.modalities import audio as audio_format
    from inrcodec.modalities.common import Decoded, EncodeResult
    from inrcodec.signals.audio import Audio

    data = tmp_path / "wavs"
    data.mkdir()
    sf.write(data / "clip.wav", speechlike(1.5)[:, None], 16000, subtype="PCM_16")
    kbps = {1: 12.0, 4: 24.0, 8: 48.0}
    decoded = {}

    class Header:
        def rate(self, n: int) -> float:
            return 8 * n / 1.5 / 1000

    def encode(audio, base, quality, fit=None, seed=0, progress=None):
        data = bytes(round(kbps[quality] * 1000 * 1.5 / 8))
        decoded[data] = Audio(noisy(audio.samples, 0.1 / quality), audio.sample_rate, audio.subtype, audio.container)
        return EncodeResult(data, decoded[data], quality, kbps[quality], "kbps", 0.0, {}, 0.0)

    monkeypatch.setattr(audio_format, "encode", encode)
    monkeypatch.setattr(audio_format, "decode", lambda data, base=None: Decoded(decoded[data], Header(), base))
    bench = evaluate.BENCHMARKS["audio"]
    monkeypatch.setitem(evaluate.BENCHMARKS, "audio", dataclasses.replace(bench, perceptual=("pesq_wb", "stoi")))
    lines = []
    evaluate.run(data, [1, 4, 8], tmp_path / "out", ["mp3"], base="tiny-audio-test-base", log=lines.append)
    for name in ("inrcodec", "mp3"):
        res = read_results(tmp_path / "out" / f"{name}.json")
        assert {"psnr", "snr_db", "pesq_wb", "stoi"} <= set(res["results"])
        assert len(res["results"]["pesq_wb"]) == 3 and len(res["per_item"][0]["stoi"]) == 1
        assert set(res["meta"]["perceptual"]) == {"pesq_wb", "stoi"}
    ours = read_results(tmp_path / "out" / "inrcodec.json")["results"]["pesq_wb"]
    assert ours[0] < ours[1] < ours[2]  # Less noise, higher PESQ.
    assert any("PESQ-WB" in line for line in lines)
