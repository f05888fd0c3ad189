"""What every format shares: the encode result, the decoded record, container and base checks."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from inrcodec.core import bases
from inrcodec.bitstream import container
from inrcodec.errors import FormatError, InputError

Progress = Callable[[int, int], None]


@dataclasses.dataclass(frozen=True)
class EncodeResult:
    """What the encoder produced: the file bytes and the reconstruction the decoder will give."""

    data: bytes
    reconstruction: Any  # The format's native signal (image array, Audio, Field).
    quality: int
    rate: float  # In `rate_unit`, from the file size: bpp, kbps or bits per field.
    rate_unit: str
    psnr: float  # dB, with the format's convention (images: peak of the dtype; audio/climate: see metrics).
    metrics: dict  # Further modality metrics (e.g. snr_db, rmse, max_abs_error).
    seconds: float

    @property
    def bpp(self) -> float:
        """Bits per sample-position: for images, bits per pixel."""
        return self.rate


@dataclasses.dataclass(frozen=True)
class Decoded:
    array: Any  # The format's native signal.
    header: Any  # The format's header record.
    base: bases.Base


def check_base(base: bases.Base, modality: str) -> None:
    if base.modality != modality:
        raise InputError(f"base network {base.name!r} is for {base.modality}, not {modality}")


def open_container(data: bytes, code: int, name: str) -> container.Container:
    box = container.unpack(data)
    if box.modality != code:
        raise FormatError(f"file holds modality {box.modality}, not {name} ({code})")
    return box
