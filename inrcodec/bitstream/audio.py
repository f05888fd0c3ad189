"""The audio header (modality 2): sample rate, frames, channels, sample format, container, then per
channel its coding fields and payload length.

Byte layout: SPEC.md, "Audio header". A channel's levels may use local scales (entropy model 3,
container minor 3).
"""

from __future__ import annotations

import dataclasses
import struct

from inrcodec.bitstream import container
from inrcodec.bitstream.coding import CodingHeader
from inrcodec.errors import FormatError

DESCRIPTOR = struct.Struct("<IIBBB")  # sample rate, frames, channels, sample format, container.
CHANNEL_BYTES = struct.Struct("<I")  # Payload bytes of one channel.
MAX_DECODE_SAMPLES = 1 << 25  # frames x channels; larger headers are refused before decoding (bounds memory;
# beyond 2^25 frames, float32 cell coordinates of level 1 would also round past its grid).
MAX_CHANNELS = 8
MINOR_LOCAL_SCALES = 3  # Container minor version of files with a channel coded with entropy model 3.
# Stable codes of the source's sample format and container: never renumber, only append.
SUBTYPE_CODES: dict[str, int] = {"PCM_16": 0, "PCM_24": 1, "PCM_32": 2, "PCM_U8": 3, "PCM_S8": 4, "FLOAT": 5,
                                 "DOUBLE": 6}
SUBTYPE_NAMES: dict[int, str] = {code: name for name, code in SUBTYPE_CODES.items()}
CONTAINER_CODES: dict[str, int] = {"WAV": 0, "FLAC": 1}
CONTAINER_NAMES: dict[int, str] = {code: name for name, code in CONTAINER_CODES.items()}
NAME = "audio"  # The modality's name in base manifests, archive settings and results.
RATE_UNIT = "kbps"


@dataclasses.dataclass(frozen=True)
class AudioHeader:
    sample_rate: int
    frames: int
    channels: int
    subtype: str  # Sample format of the source (and of the decoded file where the container allows).
    container: str  # "WAV" or "FLAC".
    codings: tuple[CodingHeader, ...]  # One per channel.
    payload_sizes: tuple[int, ...]  # Payload bytes per channel.

    def pack(self) -> bytes:
        out = DESCRIPTOR.pack(self.sample_rate, self.frames, self.channels, SUBTYPE_CODES[self.subtype],
                              CONTAINER_CODES[self.container])
        for coding, size in zip(self.codings, self.payload_sizes):
            out += coding.pack() + CHANNEL_BYTES.pack(size)
        return out

    @classmethod
    def unpack(cls, meta: bytes) -> "AudioHeader":
        if len(meta) < DESCRIPTOR.size:
            raise FormatError("audio header truncated")
        rate, frames, channels, subtype_code, container_code = DESCRIPTOR.unpack_from(meta)
        if frames == 0 or channels == 0 or channels > MAX_CHANNELS:
            raise FormatError(f"audio header has {frames} frames and {channels} channels")
        if frames * channels > MAX_DECODE_SAMPLES:
            raise FormatError(f"audio of {frames} x {channels} samples exceeds the decoder limit")
        if not 1 <= rate <= 384_000:
            raise FormatError(f"sample rate {rate} Hz is out of range")
        subtypes, containers = SUBTYPE_NAMES, CONTAINER_NAMES
        if subtype_code not in subtypes or container_code not in containers:
            raise FormatError(f"unknown sample format {subtype_code} or container {container_code}")
        codings, sizes, offset = [], [], DESCRIPTOR.size
        for _ in range(channels):
            coding, offset = CodingHeader.unpack_from(meta, offset, local=True)
            if len(meta) < offset + CHANNEL_BYTES.size:
                raise FormatError("audio header truncated")
            sizes.append(CHANNEL_BYTES.unpack_from(meta, offset)[0])
            codings.append(coding)
            offset += CHANNEL_BYTES.size
        if offset != len(meta):
            raise FormatError(f"audio header has {len(meta)} bytes, expected {offset}")
        return cls(rate, frames, channels, subtypes[subtype_code], containers[container_code], tuple(codings), tuple(sizes))

    def rate(self, file_bytes: int) -> float:
        """Kilobits per second of audio of a file of `file_bytes` bytes."""
        return 8 * file_bytes / (self.frames / self.sample_rate) / 1000

    def describe(self, base_manifest: dict | None = None) -> dict:
        """The fields `inrcodec info` shows (`base_manifest`: unused, as every header's describe takes it)."""
        return {"sample_rate": self.sample_rate, "frames": self.frames, "channels": self.channels,
                "seconds": round(self.frames / self.sample_rate, 3), "sample_format": self.subtype,
                "container": self.container}


def read(data: bytes) -> tuple[container.Container, AudioHeader]:
    """Parses and checks the container and the audio header of .inr bytes (no network needed)."""
    box = container.unpack(data)
    if box.modality != container.MODALITY_AUDIO:
        raise FormatError(f"file holds modality {box.modality}, not audio ({container.MODALITY_AUDIO})")
    header = AudioHeader.unpack(box.meta)
    if sum(header.payload_sizes) != len(box.payload):
        raise FormatError(f"channel payloads add up to {sum(header.payload_sizes)} bytes, the file has {len(box.payload)}")
    return box, header
