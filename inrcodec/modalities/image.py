"""The image format: 8/16-bit grey or RGB images <-> .inr files (modality 1).

The header is bitstream.image.ImageHeader. Grey images are coded as RGB and averaged back on decoding.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from inrcodec.core import bases
from inrcodec import decoder
from inrcodec.signals import metrics
from inrcodec.bitstream import container
from inrcodec.bitstream import image as image_header
from inrcodec.bitstream.image import MAX_DECODE_PIXELS, ImageHeader
from inrcodec.core.config import FitConfig
from inrcodec.errors import InputError
from inrcodec.modalities.common import (Decoded, EncodeResult, Progress, StackVariable, base_for, check_base,
                                       generic_variable)
from inrcodec.modalities.common import bound_block_unsupported as bound_block  # noqa: F401 (plug-in member)
from inrcodec.modalities.common import decode_bounded_block_unsupported as decode_bounded_block  # noqa: F401
from inrcodec.signals import image as image_io

NAME = "image"
CODE = container.MODALITY_IMAGE
SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp")
OUTPUT_SUFFIX = ".png"
RATE_UNIT = image_header.RATE_UNIT
READ_OPTIONS: tuple[str, ...] = ()
ENCODE_OPTIONS: tuple[str, ...] = ()  # No options beyond the quality level.
TRAIN_CROPS = True  # Meta-training draws random square crops.
FIXED_RANGE = False  # Pixel values map to [0, 1] by their bit depth.


def read(path: str | Path, single_file: bool = False, **options) -> np.ndarray:
    """Reads an image file as uint8/uint16 (H, W, C), C in {1, 3} (the reader refuses more than any file holds)."""
    return image_io.read_array(path)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two integer images, peak = the largest value of their dtype."""
    return metrics.psnr(a, b, peak=float(np.iinfo(a.dtype).max))


def _to_output(values: np.ndarray, channels: int, bit_depth: int) -> np.ndarray:
    values = np.asarray(values)
    if channels == 1:
        values = values.mean(axis=2, keepdims=True)
    return image_io.from_unit(values, bit_depth)


def encode(
    arr: np.ndarray,
    base: bases.Base,
    quality: int,
    fit_cfg: FitConfig = FitConfig(),
    seed: int = 0,
    progress: Progress | None = None,
    **options,
) -> EncodeResult:
    """Encodes an image array (H, W, C) of uint8 or uint16, C in {1, 3}, at one quality level."""
    if arr.ndim != 3 or arr.shape[2] not in (1, 3) or arr.dtype not in (np.uint8, np.uint16):
        raise InputError(f"expected an (H, W, 1|3) uint8/uint16 image, got {arr.shape} {arr.dtype}")
    h, w, c = arr.shape
    if h > 65535 or w > 65535 or h * w > MAX_DECODE_PIXELS:
        raise InputError(f"{w}x{h} image is too large for format 1")
    check_base(base, NAME)
    started = time.perf_counter()
    target = np.repeat(arr, 3, axis=2) if c == 1 else arr  # Integers: objective.unit makes them [0, 1] as used.
    from inrcodec import codec  # Here: decoding needs no JAX.
    from inrcodec.core import objective

    bit_depth = 8 * arr.dtype.itemsize
    # Converted band by band as decode does: the image's float values never exist at once (bounded memory).
    coded = codec.encode_signal(objective.make_signal(target), base, quality, fit_cfg, seed, progress,
                                out=np.empty_like(arr), convert=lambda values: _to_output(values, c, bit_depth))
    header = ImageHeader(h, w, c, bit_depth, coded.header)
    data = container.pack(container.Container(CODE, base.base_id, header.pack(), coded.payload,
                                              image_header.minor_version(coded.header)))
    recon = coded.values
    return EncodeResult(data, recon, quality, header.rate(len(data)), RATE_UNIT, psnr(arr, recon), {}, time.perf_counter() - started)


read_header = image_header.read  # (container, ImageHeader) of .inr bytes: the bitstream's reader.


def decode(data: bytes, base: bases.Base | None = None) -> Decoded:
    """Decodes .inr bytes to an image array (H, W, C). Deterministic: no optimisation, no randomness."""
    box, header = read_header(data)
    base = base_for(box, base)
    # Converted band by band: the image's float values never exist at once (bounded memory).
    out = np.empty((header.height, header.width, header.channels), np.uint8 if header.bit_depth == 8 else np.uint16)
    decoder.decode_signal(header.coding, box.payload, base, (header.height, header.width), out=out,
                          convert=lambda values: _to_output(values, header.channels, header.bit_depth))
    return Decoded(out, header, base)


def write(decoded: Decoded, suffix: str = OUTPUT_SUFFIX) -> bytes:
    """The decoded image as PNG bytes."""
    if suffix.lower() != ".png":
        raise InputError(f"images decode to .png, not {suffix}")
    return image_io.encode_png(decoded.array)


def summary(decoded: Decoded) -> str:
    h = decoded.header
    return f"{h.width}x{h.height}, {h.channels} channel(s), {h.bit_depth}-bit"


# --- in-memory signals -------------------------------------------------------------------------


def accepts(signal) -> bool:
    return isinstance(signal, np.ndarray)


def native(signal: np.ndarray) -> np.ndarray:
    return signal


# --- evaluation ----------------------------------------------------------------------------------


def positions(arr: np.ndarray) -> int:
    """Pixels."""
    return arr.shape[0] * arr.shape[1]


def item_shape(arr: np.ndarray) -> tuple:
    """(h, w, c)."""
    return tuple(arr.shape)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return np.array_equal(a, b)


def distortion(arr: np.ndarray, decoded: Decoded) -> dict[str, float]:
    """PSNR on the integer image; "psnr-rgb" is the same value under CompressAI's key."""
    p = psnr(arr, decoded.array)
    return {"psnr": p, "psnr-rgb": p}




# --- datasets: items are uint8 (H, W, C) arrays, C in {1, 3} -----------------------------------------


def stack_items(items, dim: str | None):
    """A uint8 array (N, H, W, C) is a stack of images."""
    if isinstance(items, np.ndarray) and items.dtype == np.uint8:
        return items, {}
    return None


def item_array(arr: np.ndarray) -> np.ndarray:
    return arr


def stack_layout(items: np.ndarray, base: bases.Base, hints: dict) -> dict:
    shape = tuple(items.shape[1:])
    if len(shape) != 3 or shape[2] not in (1, 3) or items.dtype != np.uint8:
        raise InputError(f"image items must be uint8 (H, W, 1|3) arrays, got {items.dtype} {shape}")
    return {}


def check_stack(items: np.ndarray, settings, first: int) -> None:
    pass


def stack_signals(items: np.ndarray, settings, base: bases.Base) -> dict:
    """Grey images are coded as RGB, like single images."""
    values = image_io.to_unit(items)
    return {"values": np.repeat(values, 3, axis=-1) if values.shape[-1] == 1 else values}


def stack_arrays(values: np.ndarray, settings) -> np.ndarray:
    if settings.shape[-1] == 1:
        values = values.mean(axis=-1, keepdims=True)
    return image_io.from_unit(values, 8)


def signal_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape[:2])


def stack_inputs(settings, base: bases.Base, n: int) -> None:
    return None


def stack_variable(settings, n: int) -> StackVariable:
    return generic_variable("image", ("y", "x", "channel"), n, tuple(settings.shape), "uint8")


def train_config(cfg, items: np.ndarray):
    return cfg
