"""The .inr bitstream container (see SPEC.md in this package)."""

from __future__ import annotations

from inrcodec.bitstream.container import (
    BASE_ID_BYTES,
    FORMAT_MAJOR,
    FORMAT_MINOR,
    HEADER_FIXED_BYTES,
    MAGIC,
    MAX_META_BYTES,
    MAX_PAYLOAD_BYTES,
    MIN_FILE_BYTES,
    MODALITIES,
    MODALITY_AUDIO,
    MODALITY_CLIMATE,
    MODALITY_IMAGE,
    Container,
    pack,
    unpack,
)

__all__ = [
    "BASE_ID_BYTES",
    "FORMAT_MAJOR",
    "FORMAT_MINOR",
    "HEADER_FIXED_BYTES",
    "MAGIC",
    "MAX_META_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MIN_FILE_BYTES",
    "MODALITIES",
    "MODALITY_AUDIO",
    "MODALITY_CLIMATE",
    "MODALITY_IMAGE",
    "Container",
    "pack",
    "unpack",
]
