"""The audio format: WAV / FLAC <-> .inr files (modality 2).

Each channel is one 1-D signal (the waveform mapped from [-1, 1] to [0, 1]) coded over the whole
clip, with no patches and so no seams. Header meta (SPEC.md): sample rate u32, frames u32,
channels u8, sample format u8, container u8, then per channel its coding fields
(codec.CodingHeader) and its payload length u32; the payload is the channels' streams in order.
A channel's levels may use local scales (entropy model 3, container minor 3) where that saves bits.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from inrcodec.core import bases, model
from inrcodec import codec
from inrcodec.bitstream import container
from inrcodec.bitstream.audio import MINOR_LOCAL_SCALES, AudioHeader
from inrcodec.core.config import FitConfig
from inrcodec.errors import FormatError, InputError
from inrcodec.modalities.common import Decoded, EncodeResult, Progress, check_base, open_container
from inrcodec.signals import audio as audio_io
from inrcodec.signals import metrics

NAME = "audio"
CODE = container.MODALITY_AUDIO
SUFFIXES = (".wav", ".flac")
OUTPUT_SUFFIX = ".wav"
RATE_UNIT = "kbps"


def read(path: str | Path, **options) -> audio_io.Audio:
    return audio_io.read_audio(path)


def metrics(reference: np.ndarray, test: np.ndarray) -> dict:
    """PSNR on [0, 1]-mapped waveforms (COIN++'s convention) and SNR, both in dB."""
    return {"psnr": audio_io.psnr_unit(reference, test), "snr_db": metrics.snr_db(reference, test)}


def encode(
    audio: audio_io.Audio,
    base: bases.Base,
    quality: int,
    fit_cfg: FitConfig = FitConfig(),
    seed: int = 0,
    progress: Progress | None = None,
) -> EncodeResult:
    """Encodes every channel of `audio` at one quality level."""
    check_base(base, NAME)
    frames, channels = audio.samples.shape
    if frames == 0:
        raise InputError("audio has no samples")
    started = time.perf_counter()
    codings, payloads, outs = [], [], []
    for c in range(channels):
        def channel_progress(done, total, c=c):
            if progress:
                progress(c * total + done, channels * total)

        signal = model.make_signal(audio_io.to_unit(audio.samples[:, c])[:, None])
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
    return EncodeResult(data, recon, quality, rate(data, header), RATE_UNIT, m["psnr"], m, time.perf_counter() - started)


def read_header(data: bytes) -> tuple[container.Container, AudioHeader]:
    box = open_container(data, CODE, NAME)
    header = AudioHeader.unpack(box.meta)
    if sum(header.payload_sizes) != len(box.payload):
        raise FormatError(f"channel payloads add up to {sum(header.payload_sizes)} bytes, the file has {len(box.payload)}")
    return box, header


def decode(data: bytes, base: bases.Base | None = None) -> Decoded:
    """Decodes .inr bytes to Audio. Deterministic: no optimisation, no randomness."""
    box, header = read_header(data)
    base = base or bases.load_base(box.base_id)
    if base.base_id != box.base_id:
        raise FormatError(f"file needs base {box.base_id.hex()}, got {base.base_id.hex()}")
    outs, offset = [], 0
    for coding, size in zip(header.codings, header.payload_sizes):
        values = codec.decode_signal(coding, box.payload[offset : offset + size], base, (header.frames,))
        outs.append(values[:, 0])
        offset += size
    samples = audio_io.from_unit(np.stack(outs, axis=1))
    return Decoded(audio_io.Audio(samples, header.sample_rate, header.subtype, header.container), header, base)


def write(decoded: Decoded, suffix: str = OUTPUT_SUFFIX) -> bytes:
    """The decoded audio as WAV or FLAC bytes (by `suffix`)."""
    kind = {".wav": "WAV", ".flac": "FLAC"}.get(suffix.lower())
    if kind is None:
        raise InputError(f"audio decodes to .wav or .flac, not {suffix}")
    return audio_io.audio_bytes(decoded.array, kind)


def rate(data: bytes, header: AudioHeader) -> float:
    """Kilobits per second of audio."""
    return 8 * len(data) / (header.frames / header.sample_rate) / 1000


def describe(header: AudioHeader) -> dict:
    return {"sample_rate": header.sample_rate, "frames": header.frames, "channels": header.channels,
            "seconds": round(header.frames / header.sample_rate, 3), "sample_format": header.subtype,
            "container": header.container}


def summary(decoded: Decoded) -> str:
    h = decoded.header
    return f"{h.frames / h.sample_rate:.2f} s, {h.sample_rate} Hz, {h.channels} channel(s), {h.subtype}"
