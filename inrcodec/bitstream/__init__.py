"""Every byte layout of inrcodec (SPEC.md, ARCHIVE.md in this package): numpy and constriction only, no JAX.

The package namespace re-exports the .inr container (bitstream.container).
"""

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
