"""Audio baselines (inrcodec.evaluation.baselines.audio): alignment, round trips, rate matching, metrics."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from inrcodec.evaluation import baselines
from inrcodec.evaluation.baselines import audio

RATE = 16000


def _require(codec: str) -> None:
    if codec == "mp3":
        pytest.importorskip("lameenc")
    elif shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not found on PATH")
    reason = audio.available()[codec]
    if reason:
        pytest.skip(f"{codec}: {reason}")


def _clip(frames: int = RATE, channels: int = 1, sample_rate: int = RATE) -> np.ndarray:
    """A chirp plus low-passed noise, (frames, channels) float32 in [-1, 1].

    Not periodic, so the cross-correlation has a single clear peak at the true lag.
    """
    rng = np.random.default_rng(0)
    t = np.arange(frames) / sample_rate
    chirp = 0.3 * np.sin(2 * np.pi * (150 + 1500 * t) * t)
    noise = np.convolve(rng.standard_normal(frames + 15), np.hanning(16) / 8, mode="valid")[:frames]
    mono = chirp + 0.2 * noise
    return np.stack([mono * (1 - 0.3 * c) for c in range(channels)], axis=1).astype(np.float32)


def _lag(reference: np.ndarray, decoded: np.ndarray, max_lag: int) -> int:
    """The lag in [-max_lag, max_lag] maximizing the cross-correlation of the first channels (by FFT)."""
    n = reference.shape[0] + decoded.shape[0]
    spectrum = np.fft.rfft(decoded[:, 0], n) * np.conj(np.fft.rfft(reference[:, 0], n))
    corr = np.fft.irfft(spectrum, n)  # corr[k] = sum_t reference[t] * decoded[t + k], k mod n.
    lags = np.arange(-max_lag, max_lag + 1)
    return int(lags[np.argmax(corr[lags % n])])


CLIP = _clip()
# Bitrates well inside Opus's CELT mode (SILK, used below ~12 kbps, is a few samples late).
SETTING = {"mp3": 64, "opus": 32.0}


def _round_trip(codec: str, samples: np.ndarray, sample_rate: int, setting) -> tuple[bytes, np.ndarray]:
    if codec == "mp3":
        data = audio.encode_mp3(samples, sample_rate, setting)
        return data, audio.decode_mp3(data, samples.shape[0])
    data = audio.encode_opus(samples, sample_rate, setting)
    return data, audio.decode_opus(data, sample_rate, *samples.shape)


@pytest.mark.parametrize("codec", ["mp3", "opus"])
def test_decoded_audio_is_aligned_and_deterministic(codec):
    _require(codec)
    data, out = _round_trip(codec, CLIP, RATE, SETTING[codec])
    assert out.shape == CLIP.shape and out.dtype == np.float32
    assert np.abs(out).max() <= 1.0
    # A window wider than MP3's 1105-frame delay: an unremoved delay would show up here.
    assert _lag(CLIP, out, max_lag=1500) == 0
    assert audio.audio_metrics(CLIP, out)["snr"] > 10
    assert data == _round_trip(codec, CLIP, RATE, SETTING[codec])[0]


@pytest.mark.parametrize("codec, sample_rate, channels", [("mp3", 44100, 2), ("opus", 48000, 2), ("opus", 22050, 1)])
def test_other_rates_and_channels_keep_length(codec, sample_rate, channels):
    _require(codec)
    clip = _clip(12345, channels, sample_rate)
    _, out = _round_trip(codec, clip, sample_rate, 96 if codec == "mp3" else 64.0)
    assert out.shape == clip.shape
    assert _lag(clip, out, max_lag=1500) == 0


@pytest.mark.parametrize("codec", ["mp3", "opus"])
def test_match_rate_fits_target(codec):
    """Opus's bitrate grid has 1/16-octave (4.4 %) steps, but VBR and the ~0.3 KB of Ogg headers
    make the real rate drift from the nominal one, so we require >= 75 % of the target; MP3 CBR
    bitrates are 8 kbps apart at 16 kHz, so 24 of 30 kbps is the best that fits."""
    _require(codec)
    target = 30.0
    r = audio.match_rate(CLIP, RATE, codec, target)
    assert r.codec == codec and r.rate_unit == "kbps"
    assert r.rate == pytest.approx(8 * r.bytes / (CLIP.shape[0] / RATE) / 1000)
    assert 0.75 * target <= r.rate <= target
    settings = list(audio.CODECS[codec].settings(audio._Clip(CLIP, RATE)))
    nxt = settings.index(r.setting) + 1
    data = audio.CODECS[codec].encode(audio._Clip(CLIP, RATE), settings[nxt])
    assert audio.kbps(len(data), CLIP.shape[0], RATE) > target
    assert r.metrics["lag_frames"] == 0
    assert set(r.metrics) == {"psnr", "snr", "lag_frames"}


@pytest.mark.parametrize("codec", ["mp3", "opus"])
def test_higher_rate_gives_higher_psnr(codec):
    _require(codec)
    low, high = audio.match_rate(CLIP, RATE, codec, 12.0), audio.match_rate(CLIP, RATE, codec, 48.0)
    assert low.rate < high.rate
    assert low.metrics["psnr"] < high.metrics["psnr"] and low.metrics["snr"] < high.metrics["snr"]


def test_align_recovers_a_known_shift():
    late = np.zeros_like(CLIP)
    late[3:] = CLIP[:-3]  # The "decoder" output is 3 frames late.
    shifted, lag = audio.align(CLIP, late, max_lag=16)
    assert lag == 3
    np.testing.assert_array_equal(shifted[:-3], CLIP[:-3])
    assert audio.align(CLIP, CLIP, max_lag=16)[1] == 0


def test_metrics_hand_computed():
    x = np.full((100, 1), 0.5)
    m = audio.audio_metrics(x, x + 0.02)  # On [0, 1] the error is 0.01: PSNR 40 dB.
    assert m["psnr"] == pytest.approx(40.0)
    assert m["snr"] == pytest.approx(20 * math.log10(0.5 / 0.02))
    assert audio.audio_metrics(x, x)["psnr"] == math.inf


def test_mp3_bitrates_and_errors():
    assert audio.mp3_bitrates(16000)[:3] == (8, 16, 24)
    assert audio.mp3_bitrates(48000)[-1] == 320
    with pytest.raises(ValueError, match="Hz"):
        audio.mp3_bitrates(96000)
    with pytest.raises(ValueError, match="frames, channels"):
        audio.match_rate(CLIP[:, 0], RATE, "mp3", 32.0)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        audio.match_rate(CLIP * 4, RATE, "mp3", 32.0)
    with pytest.raises(ValueError, match="unknown audio baseline"):
        audio.match_rate(CLIP, RATE, "aac", 32.0)
    assert set(baselines.available("audio")) == {"mp3", "opus"}
