"""An .inr file: the container and the header of its modality (SPEC.md), read without any network."""

from __future__ import annotations

from typing import Any

from inrcodec.bitstream import audio, climate, container, image
from inrcodec.errors import FormatError

HEADERS = {container.MODALITY_IMAGE: image, container.MODALITY_AUDIO: audio, container.MODALITY_CLIMATE: climate}


def read_header(data: bytes) -> tuple[container.Container, Any]:
    """(container, modality header) of .inr bytes, both checked; FormatError if either is invalid."""
    box = container.unpack(data)
    if box.modality not in HEADERS:
        raise FormatError(f"unknown modality {box.modality}")
    return HEADERS[box.modality].read(data)
