"""Classical audio codecs as rate-matched baselines: MP3 (lameenc, CBR) and Opus (ffmpeg libopus).

Audio is float (frames, channels) in [-1, 1] with a sample rate in Hz. Rate is kilobits per second
of the encoded file, 8 * len(bytes) / seconds / 1000 (MP3 frames; the whole Ogg file for Opus).
Decoders remove the encoder delay (MP3: a measured constant; Opus: the Ogg pre-skip), trim to the
input length and clip to [-1, 1]. Metrics: PSNR of the waveform mapped from [-1, 1] to [0, 1] (peak
1, the COIN++ convention) and SNR in dB, after `align` (as in docs PROBES.md): Opus's SILK mode, used
at the lowest bitrates, leaves the decoded waveform a few samples late (2 at 16 kHz, measured), which
a waveform PSNR would punish by several dB although it is inaudible. `match_rate`'s `measure` adds
further metrics of the aligned decode (the evaluation's perceptual ones). Nothing here prints.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from inrcodec.evaluation.baselines import _common
from inrcodec.evaluation.baselines._common import (
    BaselineResult,
    Codec,
    ffmpeg_unavailable,
    lookup,
    missing_module,
    run_ffmpeg,
)
from inrcodec.signals.metrics import psnr

# CBR bitrates (kbps) of each MPEG audio version, keyed by the sample rates it covers.
_MP3_BITRATES = {
    (32000, 44100, 48000): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1
    (16000, 22050, 24000): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2
    (8000, 11025, 12000): (8, 16, 24, 32, 40, 48, 56, 64),  # MPEG-2.5
}
# Frames by which the libsndfile-decoded LAME stream lags the input: LAME's encoder delay (576) plus
# the decoder delay (529). Measured by cross-correlation at every MP3 sample rate and bitrate here.
MP3_DELAY_FRAMES = 1105
# Opus VBR target bitrates (kbps) in 1/16-octave steps from 6 kbps; libopus allows up to 256 per channel.
_OPUS_KBPS = tuple(round(6.0 * 2.0 ** (k / 16), 2) for k in range(16 * 7))
_OPUS_MAX_KBPS_PER_CHANNEL = 256.0
# Largest residual delay `align` compensates, in seconds.
MAX_ALIGN_SECONDS = 0.001
# (reference, decode), both (frames, channels) float -> further metrics of the decode.
Measure = Callable[[np.ndarray, np.ndarray], dict]


class _Clip(NamedTuple):
    samples: np.ndarray  # (frames, channels) float32 in [-1, 1]
    sample_rate: int


def _check_audio(samples: np.ndarray, sample_rate: int) -> _Clip:
    samples = np.asarray(samples)
    if samples.ndim != 2 or samples.shape[0] == 0 or samples.shape[1] == 0:
        raise ValueError(f"expected a (frames, channels) array with frames, channels >= 1, got shape {samples.shape}")
    if not np.issubdtype(samples.dtype, np.floating):
        raise ValueError(f"expected float samples in [-1, 1], got {samples.dtype}")
    if not np.all(np.isfinite(samples)) or np.max(np.abs(samples)) > 1.0:
        raise ValueError("samples must be finite and within [-1, 1]")
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate}")
    return _Clip(np.ascontiguousarray(samples, dtype=np.float32), int(sample_rate))


def _fit_length(decoded: np.ndarray, frames: int, codec: str) -> np.ndarray:
    if decoded.shape[0] < frames:
        raise RuntimeError(f"{codec} decoder returned {decoded.shape[0]} frames, expected at least {frames}")
    return np.clip(decoded[:frames], -1.0, 1.0).astype(np.float32)


def mp3_bitrates(sample_rate: int) -> tuple[int, ...]:
    """The MP3 CBR bitrates (kbps, ascending) for `sample_rate`; ValueError if MP3 has no such rate."""
    for rates, bitrates in _MP3_BITRATES.items():
        if sample_rate in rates:
            return bitrates
    raise ValueError(f"MP3 does not support {sample_rate} Hz; use one of {sorted(sum(_MP3_BITRATES, ()))}")


def encode_mp3(samples: np.ndarray, sample_rate: int, bitrate_kbps: int) -> bytes:
    """MP3 CBR through lameenc (LAME), quality 2, no resampling.

    Args:
        samples: (frames, channels) float in [-1, 1], 1 or 2 channels; quantized to 16-bit PCM.
        sample_rate: One of the MP3 rates (8 kHz ... 48 kHz).
        bitrate_kbps: A bitrate from `mp3_bitrates(sample_rate)`.
    """
    import lameenc

    clip = _check_audio(samples, sample_rate)
    if clip.samples.shape[1] > 2:
        raise ValueError(f"MP3 supports 1 or 2 channels, got {clip.samples.shape[1]}")
    if bitrate_kbps not in mp3_bitrates(clip.sample_rate):
        raise ValueError(f"{bitrate_kbps} kbps is not an MP3 bitrate at {sample_rate} Hz, see mp3_bitrates()")
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(int(bitrate_kbps))
    encoder.set_in_sample_rate(clip.sample_rate)
    encoder.set_out_sample_rate(clip.sample_rate)
    encoder.set_channels(clip.samples.shape[1])
    encoder.set_quality(2)
    pcm = np.clip(np.rint(clip.samples * 32768.0), -32768, 32767).astype("<i2")
    return bytes(encoder.encode(pcm.tobytes()) + encoder.flush())


def decode_mp3(data: bytes, frames: int) -> np.ndarray:
    """Decodes an `encode_mp3` stream with libsndfile (soundfile), removing `MP3_DELAY_FRAMES`.

    Returns:
        (frames, channels) float32 in [-1, 1], aligned with the encoder input.
    """
    import soundfile

    decoded, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return _fit_length(decoded[MP3_DELAY_FRAMES:], frames, "MP3")


def encode_opus(samples: np.ndarray, sample_rate: int, bitrate_kbps: float) -> bytes:
    """Opus in an Ogg file through ffmpeg libopus: VBR, application=audio, 20 ms frames, bit-exact muxing.

    Args:
        samples: (frames, channels) float in [-1, 1].
        sample_rate: Input rate in Hz (ffmpeg resamples rates libopus does not take).
        bitrate_kbps: VBR target bitrate, 0.5 .. 256 per channel.
    """
    clip = _check_audio(samples, sample_rate)
    return run_ffmpeg(
        ["-f", "f32le", "-ar", str(clip.sample_rate), "-ac", str(clip.samples.shape[1]), "-i", "pipe:0",
         "-c:a", "libopus", "-b:a", str(round(bitrate_kbps * 1000)), "-vbr", "on", "-application", "audio",
         "-frame_duration", "20", "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
         "-f", "ogg", "pipe:1"],
        clip.samples.astype("<f4").tobytes(),
    )


def decode_opus(data: bytes, sample_rate: int, frames: int, channels: int) -> np.ndarray:
    """Decodes an Ogg Opus file with ffmpeg at `sample_rate` (pre-skip and end trimming from the Ogg stream).

    Returns:
        (frames, channels) float32 in [-1, 1], aligned with the encoder input.
    """
    raw = run_ffmpeg(
        ["-f", "ogg", "-i", "pipe:0", "-f", "f32le", "-ar", str(sample_rate), "-ac", str(channels), "pipe:1"], data
    )
    return _fit_length(np.frombuffer(raw, "<f4").reshape(-1, channels), frames, "Opus")


def align(reference: np.ndarray, decoded: np.ndarray, max_lag: int) -> tuple[np.ndarray, int]:
    """Shifts `decoded` by the lag in [-max_lag, max_lag] that best matches `reference`.

    Args:
        reference: (frames, channels) input audio.
        decoded: (frames, channels) decoder output of the same shape.
        max_lag: Largest shift tried, in frames.

    Returns:
        (shifted copy of `decoded`, zero-padded at the edge; lag) where shifted[n] = decoded[n + lag];
        the lag maximizes the cross-correlation summed over channels (smallest |lag| on ties).
    """
    frames = reference.shape[0]
    max_lag = min(max_lag, frames - 1)
    ref = reference.astype(np.float64)
    dec = decoded.astype(np.float64)

    def correlation(lag: int) -> float:
        if lag >= 0:
            return float(np.sum(ref[: frames - lag] * dec[lag:]))
        return float(np.sum(ref[-lag:] * dec[: frames + lag]))

    lags = sorted(range(-max_lag, max_lag + 1), key=abs)
    lag = max(lags, key=correlation)
    shifted = np.zeros_like(decoded)
    if lag >= 0:
        shifted[: frames - lag] = decoded[lag:]
    else:
        shifted[-lag:] = decoded[: frames + lag]
    return shifted, lag


def audio_metrics(reference: np.ndarray, reconstruction: np.ndarray) -> dict[str, float]:
    """PSNR (dB, waveform mapped [-1, 1] -> [0, 1], peak 1) and SNR (dB) of two (frames, channels) arrays."""
    reference = np.asarray(reference, dtype=np.float64)
    reconstruction = np.asarray(reconstruction, dtype=np.float64)
    noise = float(np.sum((reference - reconstruction) ** 2))
    signal = float(np.sum(reference**2))
    if noise == 0:
        snr = math.inf
    elif signal == 0:
        snr = -math.inf
    else:
        snr = 10.0 * math.log10(signal / noise)
    return {"psnr": psnr((reference + 1) / 2, (reconstruction + 1) / 2, peak=1.0), "snr": snr}


def _lameenc_unavailable() -> str | None:
    reason = missing_module("lameenc")
    if reason is None:
        import soundfile

        if "MP3" not in soundfile.available_formats():
            reason = f"libsndfile {soundfile.__libsndfile_version__} cannot decode MP3 (needs >= 1.1)"
    return reason


def _opus_kbps(clip: _Clip) -> tuple[float, ...]:
    return tuple(k for k in _OPUS_KBPS if k <= _OPUS_MAX_KBPS_PER_CHANNEL * clip.samples.shape[1])


CODECS: dict[str, Codec] = {
    "mp3": Codec(
        knob="CBR bitrate kbps",
        description="MP3 via lameenc (LAME) CBR, quality 2, 16-bit PCM in; decoded by libsndfile; delay removed",
        settings=lambda clip: mp3_bitrates(clip.sample_rate),
        encode=lambda clip, bitrate: encode_mp3(clip.samples, clip.sample_rate, bitrate),
        decode=lambda data, clip: decode_mp3(data, clip.samples.shape[0]),
        unavailable=_lameenc_unavailable,
    ),
    "opus": Codec(
        knob="VBR target bitrate kbps",
        description="Opus via ffmpeg libopus, VBR, application=audio, 20 ms frames, Ogg file bytes; decoded by ffmpeg",
        settings=_opus_kbps,
        encode=lambda clip, bitrate: encode_opus(clip.samples, clip.sample_rate, bitrate),
        decode=lambda data, clip: decode_opus(data, clip.sample_rate, *clip.samples.shape),
        unavailable=lambda: ffmpeg_unavailable("libopus", "opus"),
    ),
}


def available() -> dict[str, str | None]:
    """Maps each audio codec name to None if it can run here, else to the reason it cannot."""
    return {name: codec.unavailable() for name, codec in CODECS.items()}


def kbps(num_bytes: int, frames: int, sample_rate: int) -> float:
    """Kilobits per second of `num_bytes` for `frames` frames at `sample_rate` Hz."""
    return 8.0 * num_bytes / (frames / sample_rate) / 1000.0


def match_rate(samples: np.ndarray, sample_rate: int, codec: str, target_kbps: float,
               measure: Measure | None = None) -> BaselineResult:
    """Encodes the audio with the highest codec bitrate whose real rate does not exceed `target_kbps`.

    Bisection over the codec's bitrates (`_common.search_setting`); if even the lowest is above the
    target, it is used and its real rate reported.

    Args:
        samples: (frames, channels) float in [-1, 1].
        sample_rate: Hz.
        codec: "mp3" or "opus".
        target_kbps: Target kilobits per second (> 0).
        measure: (reference, aligned decode), both (frames, channels) -> further metrics (e.g.
            `inrcodec.evaluation.perceptual`), run on the chosen setting's decode only.

    Returns:
        BaselineResult with rate in kbps and metrics {"psnr": dB, "snr": dB, "lag_frames": the
        residual delay `align` removed (within MAX_ALIGN_SECONDS) before measuring, **measure's}.
    """
    clip = _check_audio(samples, sample_rate)
    frames = clip.samples.shape[0]
    max_lag = round(MAX_ALIGN_SECONDS * clip.sample_rate)

    def metrics_of(decoded: np.ndarray) -> dict[str, float]:
        aligned, lag = align(clip.samples, decoded, max_lag)
        extra = measure(clip.samples, aligned) if measure is not None else {}
        return {**audio_metrics(clip.samples, aligned), "lag_frames": float(lag), **extra}

    return _common.match_rate(
        codec, lookup(CODECS, codec, "audio"), clip, target_kbps,
        rate_of=lambda n: kbps(n, frames, clip.sample_rate), rate_unit="kbps", metrics_of=metrics_of,
    )


def match_item(audio, codec: str, target: float, value_range=None,
               measure: Measure | None = None) -> tuple[BaselineResult, dict]:
    """`match_rate` on an Audio item; its metrics under the evaluation's keys ("lag_frames": the alignment)."""
    r = match_rate(audio.samples, audio.sample_rate, codec, target, measure)
    extra = {k: v for k, v in r.metrics.items() if k not in ("psnr", "snr", "lag_frames")}
    return r, {"psnr": r.metrics["psnr"], "snr_db": r.metrics["snr"], "lag_frames": r.metrics["lag_frames"], **extra}
