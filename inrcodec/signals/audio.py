"""Audio: WAV and FLAC (via soundfile) <-> float32 samples (frames, channels) in [-1, 1]."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from inrcodec.errors import InputError
from inrcodec.signals import metrics

MAX_SAMPLES = 1 << 25  # frames x channels, as bitstream.audio.MAX_DECODE_SAMPLES; longer inputs are refused
# from the header, before decoding.
WRITE_FRAMES = 1 << 16  # Frames converted and written to a file at a time.
MAX_CHANNELS = 8
MIN_RATE, MAX_RATE = 8_000, 48_000  # Hz, inclusive.

SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "PCM_U8", "PCM_S8", "FLOAT", "DOUBLE")  # soundfile subtypes read.
CONTAINERS = ("WAV", "FLAC")

_PCM_BITS = {"PCM_U8": 8, "PCM_S8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}
_CONTAINERS = {"WAV": "WAV", "WAVEX": "WAV", "FLAC": "FLAC"}  # soundfile format -> container.
_SUFFIXES = {".wav": "WAV", ".flac": "FLAC"}


@dataclass(frozen=True)
class Audio:
    """Decoded audio.

    samples: float32 (frames, channels) in [-1, 1].
    sample_rate: Hz.
    subtype: soundfile subtype of the source, one of SUBTYPES (e.g. "PCM_16", "FLOAT").
    container: "WAV" or "FLAC".
    """

    samples: np.ndarray
    sample_rate: int
    subtype: str
    container: str


def read_audio(path: str | Path) -> Audio:
    """Reads a WAV or FLAC file (1..8 channels, 8-48 kHz, 8/16/24/32-bit PCM or 32/64-bit float).

    Float samples outside [-1, 1] are clipped to it. PCM_32 and DOUBLE lose precision in float32.

    Raises:
      InputError: missing, unreadable or not WAV/FLAC; unsupported rate, channels or sample format;
        no samples, more than MAX_SAMPLES samples, or non-finite float samples.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise InputError(f"{path}: not an audio file soundfile can read ({_reason(e)})") from None
    container = _CONTAINERS.get(info.format)
    if container is None:
        raise InputError(f"{path}: {info.format} audio is not supported (WAV or FLAC only)")
    if info.subtype not in SUBTYPES:
        raise InputError(f"{path}: unsupported sample format {info.subtype} (PCM or float only)")
    if not MIN_RATE <= info.samplerate <= MAX_RATE:
        raise InputError(f"{path}: sample rate {info.samplerate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise InputError(f"{path}: {info.channels} channels (1 to {MAX_CHANNELS} supported)")
    if info.frames <= 0:
        raise InputError(f"{path}: has no samples")
    if info.frames * info.channels > MAX_SAMPLES:
        raise InputError(f"{path}: {info.frames} frames x {info.channels} channels is more than {MAX_SAMPLES} samples")
    try:
        samples, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise InputError(f"{path}: cannot read audio ({_reason(e)})") from None
    if info.subtype in ("FLOAT", "DOUBLE"):
        if not np.isfinite(samples).all():
            raise InputError(f"{path}: has non-finite (NaN or infinite) samples")
        samples = np.clip(samples, -1.0, 1.0)
    return Audio(np.ascontiguousarray(samples), int(info.samplerate), info.subtype, container)


def _reason(e: Exception) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def container_for_path(path: str | Path) -> str:
    """"WAV" or "FLAC" from the file suffix (case-insensitive).

    Raises:
      InputError: any other suffix.
    """
    container = _SUFFIXES.get(Path(path).suffix.lower())
    if container is None:
        raise InputError(f"{path}: audio output must end in .wav or .flac")
    return container


def output_subtype(subtype: str, container: str) -> str:
    """The subtype `audio_bytes` writes: `subtype` if `container` can store it, else the nearest it can.

    FLAC stores no float and no 32-bit PCM (-> PCM_24) and no unsigned 8-bit (-> PCM_S8);
    WAV stores no signed 8-bit (-> PCM_U8).
    """
    if sf.check_format(container, subtype):
        return subtype
    if subtype in ("PCM_U8", "PCM_S8"):
        return "PCM_S8" if subtype == "PCM_U8" else "PCM_U8"
    return "PCM_24"


def audio_bytes(audio: Audio, container: str | None = None) -> bytes:
    """Encodes `audio` as a WAV or FLAC file in memory (default: `audio.container`).

    Samples are clipped to [-1, 1] and, for PCM, rounded to the nearest level of the output subtype
    (see `output_subtype`), so reading the result back returns exactly those levels. Written
    WRITE_FRAMES frames at a time: the file's bytes are those of one write, the temporaries stay small.
    """
    container = container or audio.container
    if container not in CONTAINERS:
        raise InputError(f"audio container must be WAV or FLAC, not {container!r}")
    subtype = output_subtype(audio.subtype, container)
    samples = np.asarray(audio.samples)
    buf = io.BytesIO()
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with sf.SoundFile(buf, "w", audio.sample_rate, channels, subtype, format=container) as f:
        for start in range(0, len(samples), WRITE_FRAMES):
            f.write(_file_samples(samples[start : start + WRITE_FRAMES], subtype))
    return buf.getvalue()


def _file_samples(samples: np.ndarray, subtype: str) -> np.ndarray:
    """Samples (frames, channels) as soundfile writes them in `subtype`: float, or left-aligned int32 levels."""
    x = np.clip(np.asarray(samples, np.float64), -1.0, 1.0)
    bits = _PCM_BITS.get(subtype)
    if bits is None:
        return x.astype(np.float64 if subtype == "DOUBLE" else np.float32)
    # soundfile treats int32 input as left-aligned: the top `bits` bits are the sample.
    top = 1 << (bits - 1)
    levels = np.clip(np.round(x * top), -top, top - 1).astype(np.int64)
    return (levels << (32 - bits)).astype(np.int32)


def to_unit(samples: np.ndarray) -> np.ndarray:
    """Samples in [-1, 1] -> float32 in [0, 1] ((x + 1) / 2)."""
    return ((np.asarray(samples, np.float32) + 1.0) * 0.5).astype(np.float32)


def from_unit(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> float32 samples in [-1, 1] (clipped)."""
    return np.clip(np.asarray(values, np.float32) * 2.0 - 1.0, -1.0, 1.0).astype(np.float32)


def psnr_unit(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two waveforms in [-1, 1] after mapping both to [0, 1] (peak 1), as COIN++ reports it."""
    return metrics.psnr(to_unit(a), to_unit(b))
