"""The audio format: WAV / FLAC <-> .inr files (modality 2).

Each channel is one 1-D signal (the waveform mapped from [-1, 1] to [0, 1]) coded over the whole
clip, with no patches and so no seams. The header is bitstream.audio's AudioHeader (per channel
its coding fields and payload length; the payload is the channels' streams in order). A channel's
levels may use local scales (entropy model 3, container minor 3) where that saves bits.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from inrcodec.core import bases
from inrcodec import decoder
from inrcodec.bitstream import container
from inrcodec.bitstream import audio as audio_header
from inrcodec.bitstream.audio import MAX_DECODE_SAMPLES, MINOR_LOCAL_SCALES, AudioHeader
from inrcodec.core.config import FitConfig
from inrcodec.errors import InputError
from inrcodec.modalities.common import (Decoded, EncodeResult, Progress, StackVariable, base_for, check_base,
                                       generic_variable)
from inrcodec.modalities.common import bound_block_unsupported as bound_block  # noqa: F401 (plug-in member)
from inrcodec.modalities.common import decode_bounded_block_unsupported as decode_bounded_block  # noqa: F401
from inrcodec.signals import audio as audio_io
from inrcodec.signals import masking
from inrcodec.signals.metrics import snr_db

NAME = "audio"
CODE = container.MODALITY_AUDIO
SUFFIXES = (".wav", ".flac")
OUTPUT_SUFFIX = ".wav"
RATE_UNIT = audio_header.RATE_UNIT
READ_OPTIONS = ("seconds",)  # Only the first `seconds` of the clip.
ENCODE_OPTIONS = ("distortion",)  # What the fit minimises: one of DISTORTIONS.
DISTORTIONS = masking.DISTORTIONS  # The error weighted by how audible it is (signals.masking); the waveform's.
TRAIN_CROPS = True  # Meta-training draws random windows.
FIXED_RANGE = False  # Waveforms in [-1, 1] map to [0, 1].


def read(path: str | Path, single_file: bool = False, seconds: float | None = None, **options) -> audio_io.Audio:
    """Reads a WAV / FLAC file, or only its first `seconds` (at least one frame)."""
    audio = audio_io.read_audio(path)
    if seconds is None:
        return audio
    if not seconds > 0:
        raise InputError(f"seconds must be positive, got {seconds}")
    frames = max(1, round(seconds * audio.sample_rate))
    return dataclasses.replace(audio, samples=np.ascontiguousarray(audio.samples[:frames]))


def metrics(reference: np.ndarray, test: np.ndarray) -> dict:
    """PSNR on [0, 1]-mapped waveforms (COIN++'s convention) and SNR, both in dB."""
    return {"psnr": audio_io.psnr_unit(reference, test), "snr_db": snr_db(reference, test)}


def encode(
    audio: audio_io.Audio,
    base: bases.Base,
    quality: int,
    fit_cfg: FitConfig = FitConfig(),
    seed: int = 0,
    progress: Progress | None = None,
    distortion: str | None = None,
    **options,
) -> EncodeResult:
    """Encodes every channel of `audio` at one quality level, minimising the `distortion` (DISTORTIONS;
    default "perceptual"). With "perceptual", the quality ladder is the base's perceptual one
    (manifest "distortions"), else its only one."""
    check_base(base, NAME)
    distortion = distortion or DISTORTIONS[0]
    if distortion not in DISTORTIONS:
        raise InputError(f"audio distortion must be one of {', '.join(DISTORTIONS)}, got {distortion!r}")
    ladder = base.manifest.get("distortions", {}).get(distortion)
    if ladder:
        base = dataclasses.replace(base, manifest={**base.manifest, **ladder})
    frames, channels = audio.samples.shape
    if frames == 0:
        raise InputError("audio has no samples")
    if frames * channels > MAX_DECODE_SAMPLES:
        raise InputError(f"{frames} frames x {channels} channels is more than the {MAX_DECODE_SAMPLES} samples of format 1")
    from inrcodec import codec  # Here: decoding needs no JAX.
    from inrcodec.core import objective

    started = time.perf_counter()
    codings, payloads, outs = [], [], []
    for c in range(channels):
        def channel_progress(done, total, c=c):
            if progress:
                progress(c * total + done, channels * total)

        signal = objective.make_signal(audio_io.to_unit(audio.samples[:, c])[:, None])
        if distortion == "perceptual":
            signal["band_weights"] = masking.band_weights(audio.samples[:, c], audio.sample_rate)
        coded = codec.encode_signal(signal, base, quality, fit_cfg, seed, channel_progress, local_scales=True)
        codings.append(coded.header)
        payloads.append(coded.payload)
        outs.append(coded.values[:, 0])
    header = AudioHeader(audio.sample_rate, frames, channels, audio.subtype, audio.container, tuple(codings),
                         tuple(len(p) for p in payloads))
    minor = MINOR_LOCAL_SCALES if any(c.contexts for c in codings) else container.FORMAT_MINOR
    data = container.pack(container.Container(CODE, base.base_id, header.pack(), b"".join(payloads), minor))
    recon = dataclasses.replace(audio, samples=audio_io.from_unit(np.stack(outs, axis=1)))
    m = metrics(audio.samples, recon.samples)
    return EncodeResult(data, recon, quality, header.rate(len(data)), RATE_UNIT, m["psnr"], m, time.perf_counter() - started)


read_header = audio_header.read  # (container, AudioHeader) of .inr bytes: the bitstream's reader.


def decode(data: bytes, base: bases.Base | None = None) -> Decoded:
    """Decodes .inr bytes to Audio. Deterministic: no optimisation, no randomness."""
    box, header = read_header(data)
    base = base_for(box, base)
    samples, offset = np.empty((header.frames, header.channels), np.float32), 0
    for c, (coding, size) in enumerate(zip(header.codings, header.payload_sizes)):
        # Each band of values becomes samples in place: no float copy of the whole clip.
        decoder.decode_signal(coding, box.payload[offset : offset + size], base, (header.frames,),
                              out=samples[:, c : c + 1], convert=audio_io.from_unit)
        offset += size
    return Decoded(audio_io.Audio(samples, header.sample_rate, header.subtype, header.container), header, base)


def write(decoded: Decoded, suffix: str = OUTPUT_SUFFIX) -> bytes:
    """The decoded audio as WAV or FLAC bytes (by `suffix`)."""
    kind = {".wav": "WAV", ".flac": "FLAC"}.get(suffix.lower())
    if kind is None:
        raise InputError(f"audio decodes to .wav or .flac, not {suffix}")
    return audio_io.audio_bytes(decoded.array, kind)


def summary(decoded: Decoded) -> str:
    h = decoded.header
    return f"{h.frames / h.sample_rate:.2f} s, {h.sample_rate} Hz, {h.channels} channel(s), {h.subtype}"


# --- in-memory signals -------------------------------------------------------------------------


def accepts(signal) -> bool:
    return isinstance(signal, audio_io.Audio)


def native(signal: audio_io.Audio) -> audio_io.Audio:
    return signal


# --- evaluation ----------------------------------------------------------------------------------


def positions(audio: audio_io.Audio) -> int:
    """Samples: frames * channels."""
    return int(audio.samples.size)


def item_shape(audio: audio_io.Audio) -> tuple:
    """(frames, channels, sample rate)."""
    frames, channels = audio.samples.shape
    return frames, channels, audio.sample_rate


def same(a: audio_io.Audio, b: audio_io.Audio) -> bool:
    return np.array_equal(a.samples, b.samples)


def distortion(audio: audio_io.Audio, decoded: Decoded) -> dict[str, float]:
    return metrics(audio.samples, decoded.array.samples)


# --- datasets: items are float sample arrays (T,) in [-1, 1], one channel --------------------------------


def stack_items(items, dim: str | None) -> None:
    """Sample arrays are not told apart from fields: a stack of clips needs modality="audio"."""
    return None


def item_array(audio: audio_io.Audio) -> np.ndarray:
    """The first channel."""
    return audio.samples[:, 0]


def stack_layout(items: np.ndarray, base: bases.Base, hints: dict) -> dict:
    shape = tuple(items.shape[1:])
    if len(shape) != 1:
        raise InputError(f"audio items must be 1-D sample arrays, got shape {shape}")
    return {}


def check_stack(items: np.ndarray, settings, first: int) -> None:
    pass


def stack_signals(items: np.ndarray, settings, base: bases.Base) -> dict:
    return {"values": audio_io.to_unit(np.clip(items, -1, 1))[..., None]}


def stack_arrays(values: np.ndarray, settings) -> np.ndarray:
    return audio_io.from_unit(values[..., 0])


def signal_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape)


def stack_inputs(settings, base: bases.Base, n: int) -> None:
    return None


def stack_variable(settings, n: int) -> StackVariable:
    return generic_variable("audio", ("sample",), n, tuple(settings.shape), "float32")


def train_config(cfg, items: np.ndarray):
    return cfg
