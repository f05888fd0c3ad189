"""The image header (modality 1): height u16, width u16, channels u8, bit depth u8, coding fields.

Byte layout: SPEC.md, "Image header". Grey images are coded as RGB and averaged back on decoding.
"""

from __future__ import annotations

import dataclasses
import struct

from inrcodec.bitstream import container
from inrcodec.bitstream.coding import CodingHeader
from inrcodec.errors import FormatError

MAX_DECODE_PIXELS = 1 << 26  # 64 Mpixel: larger headers are refused before decoding.
DIMENSIONS = struct.Struct("<HHBB")  # height, width, channels, bit depth.
NAME = "image"  # The modality's name in base manifests, archive settings and results.
RATE_UNIT = "bpp"
MINOR_CONTEXT_TABLES = 4  # Container minor version of files coded with entropy model 4.
MINOR_ADAPTIVE_CONTEXT = 8  # Container minor version of files coded with entropy model 5.


def minor_version(coding: CodingHeader) -> int:
    """The container minor version an image file with these coding fields is written with."""
    return {4: MINOR_CONTEXT_TABLES, 5: MINOR_ADAPTIVE_CONTEXT}.get(coding.context_model, container.FORMAT_MINOR)


@dataclasses.dataclass(frozen=True)
class ImageHeader:
    height: int
    width: int
    channels: int  # 1 (grey) or 3 (RGB) in the decoded output.
    bit_depth: int  # 8 or 16.
    coding: CodingHeader

    def pack(self) -> bytes:
        return DIMENSIONS.pack(self.height, self.width, self.channels, self.bit_depth) + self.coding.pack()

    @classmethod
    def unpack(cls, meta: bytes) -> "ImageHeader":
        if len(meta) < DIMENSIONS.size:
            raise FormatError("image header truncated")
        h, w, c, depth = DIMENSIONS.unpack_from(meta)
        coding, end = CodingHeader.unpack_from(meta, DIMENSIONS.size, context=True)
        if len(meta) != end:
            raise FormatError(f"image header has {len(meta)} bytes, expected {end}")
        if h == 0 or w == 0:
            raise FormatError(f"image dimensions {w}x{h} are empty")
        if h * w > MAX_DECODE_PIXELS:
            raise FormatError(f"image dimensions {w}x{h} exceed the decoder limit of {MAX_DECODE_PIXELS} pixels")
        if c not in (1, 3):
            raise FormatError(f"unsupported channel count {c}")
        if depth not in (8, 16):
            raise FormatError(f"unsupported bit depth {depth}")
        return cls(h, w, c, depth, coding)

    def rate(self, file_bytes: int) -> float:
        """Bits per pixel of a file of `file_bytes` bytes."""
        return 8 * file_bytes / (self.width * self.height)

    def describe(self, base_manifest: dict | None = None) -> dict:
        """The fields `inrcodec info` shows (`base_manifest`: unused, as every header's describe takes it)."""
        return {"width": self.width, "height": self.height, "channels": self.channels, "bit_depth": self.bit_depth}


def read(data: bytes) -> tuple[container.Container, ImageHeader]:
    """Parses and checks the container and the image header of .inr bytes (no network needed)."""
    box = container.unpack(data)
    if box.modality != container.MODALITY_IMAGE:
        raise FormatError(f"file holds modality {box.modality}, not image ({container.MODALITY_IMAGE})")
    header = ImageHeader.unpack(box.meta)
    return box, header
