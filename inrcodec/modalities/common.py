"""What every format shares: the encode result, the decoded record, container and base checks."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Protocol

from inrcodec.bitstream import container
from inrcodec.core import bases
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
    seconds: float  # Wall time; for a rate target, of every level tried.
    target: float | None = None  # The rate target searched for, in `rate_unit` (None: a quality level was asked).
    levels_tried: int = 1  # Quality levels encoded to find it.

    @property
    def target_missed(self) -> bool:
        """Whether even the smallest quality level exceeds the rate target (this is then its result)."""
        return self.target is not None and self.rate > self.target

    @property
    def bpp(self) -> float:
        """Bits per sample-position: for images, bits per pixel."""
        return self.rate


@dataclasses.dataclass(frozen=True)
class Decoded:
    array: Any  # The format's native signal.
    header: Any  # The format's header record.
    base: bases.Base


@dataclasses.dataclass(frozen=True)
class StackVariable:
    """How an archive's n items read as one xarray variable (inrcodec.xarray_backend).

    dims: the variable's dims, in its order; sizes: dim -> size. item_dims: the same dims in item
    order: the item index runs (C order) over the leading ones, an item's own shape over the rest.
    coords: name -> xarray.Variable. encoding: on-disk essentials (e.g. "dtype").
    """

    name: str
    dims: tuple[str, ...]
    sizes: dict[str, int]
    item_dims: tuple[str, ...]
    coords: dict[str, Any] = dataclasses.field(default_factory=dict)
    attrs: dict = dataclasses.field(default_factory=dict)
    global_attrs: dict = dataclasses.field(default_factory=dict)
    encoding: dict = dataclasses.field(default_factory=dict)
    dtype: str = "float64"  # Of the decoded values (Archive items).

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.sizes[d] for d in self.dims)


def generic_variable(name: str, item_dims: tuple[str, ...], n: int, shape: tuple[int, ...],
                     dtype: str = "float64") -> StackVariable:
    """n items of `shape` along a leading "item" dim."""
    dims = ("item", *item_dims)
    return StackVariable(name, dims, dict(zip(dims, (n, *shape))), dims, dtype=dtype)


class StackSettings(Protocol):
    """What a modality reads from a dataset archive's shared settings (inrcodec.bitstream.dataset_settings.Settings)."""

    shape: tuple[int, ...]  # One item's shape.
    lo: float  # Climate: the physical values of 0 and 1.
    hi: float
    mask: str  # Climate: hex of the packed mask of valid points ("" = all valid).
    latlon: str  # Climate: the packed grid coordinates ("" = a regular global grid).
    template: str  # Climate: the packed template of the source variable ("" = bare arrays).


def check_base(base: bases.Base, modality: str, source: str = "", subject: str = "") -> None:
    """InputError unless `base` is a base network of `modality`.

    The message reads "[source: ]base network 'b' is for audio, not image", or with a `subject`
    (e.g. "the file") "..., the file is image".
    """
    if base.modality != modality:
        tail = f"{subject} is {modality}" if subject else f"not {modality}"
        raise InputError(f"{source + ': ' if source else ''}base network {base.name!r} is for {base.modality}, {tail}")


def base_for(box: container.Container, base: bases.Base | None = None) -> bases.Base:
    """The base network a file names (installed, by its id), or `base`, which must be that one."""
    base = base or bases.load_base(box.base_id)
    if not box.base_matches(base.base_id):
        raise FormatError(f"file needs base {box.base_id.hex()}, got {base.base_id.hex()}")
    return base


def bound_block_unsupported(items, ints, settings, base) -> bytes:
    """`bound_block` of a modality without error bounds."""
    raise InputError("error bounds (max_error) are for climate fields")


def decode_bounded_block_unsupported(ints, section, settings, base):
    """`decode_bounded_block` of a modality without error bounds: its archives never have one."""
    raise FormatError("an archive of this modality cannot carry error-bounded blocks")
