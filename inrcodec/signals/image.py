"""Images: 8- and 16-bit PNG, JPEG, BMP, TIFF (via Pillow) <-> arrays (H, W, C) with C in {1, 3}."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from inrcodec.errors import InputError, LossWarning

MAX_PIXELS = 1 << 26  # 64 Mpixel: larger inputs are refused before decoding.


def read_array(path: str | Path) -> np.ndarray:
    """Reads an image as uint8 (H, W, C) or, for 16-bit grayscale PNG, uint16 (H, W, 1).

    Warns (LossWarning) when the file holds what the array cannot: transparency (the alpha channel
    is dropped) or 16-bit colour (Pillow reads it as 8 bits per channel).

    Raises:
      InputError: unreadable, not an image, more than MAX_PIXELS pixels (from the declared size, before
        decoding), or an unsupported pixel format.
    """
    path = Path(path)
    try:
        with _open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise InputError(f"{path}: {im.width}x{im.height} image is larger than {MAX_PIXELS} pixels")
            im.load()
            mode = im.mode
            _warn_losses(path, im)
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.uint16 if mode.startswith("I;16") else np.int64)
                if mode == "I":
                    arr = np.clip(arr, 0, 65535).astype(np.uint16)
                return arr[:, :, None]
            if mode in ("L", "1", "P", "LA") and not _palette_is_color(im):
                return np.asarray(im.convert("L"), dtype=np.uint8)[:, :, None]
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except InputError:  # An InputError is a ValueError: not "cannot read image".
        raise
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except Image.DecompressionBombError:  # Pillow refuses it on opening, before we see its size.
        raise InputError(f"{path}: image is larger than {MAX_PIXELS} pixels") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise InputError(f"{path}: cannot read image ({e})") from None
    except Exception as e:  # noqa: BLE001 -- Pillow's plug-ins raise anything on a corrupted file.
        raise InputError(f"{path}: cannot read image ({type(e).__name__}: {e})") from None


def _warn_losses(path: Path, im: Image.Image) -> None:
    if "A" in im.mode or "transparency" in im.info:
        alpha = np.asarray(im.convert("RGBA"))[..., 3]
        if (alpha < 255).any():
            warnings.warn(f"{path}: its transparency (alpha channel) is dropped: .inr images keep 1 or 3 channels",
                          LossWarning, stacklevel=3)
    if im.format == "PNG":
        with open(path, "rb") as f:
            head = f.read(26)
        if head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 6):  # Bit depth 16, RGB or RGBA.
            warnings.warn(f"{path}: 16-bit colour is read as 8 bits per channel (16 bits are kept for grey only)",
                          LossWarning, stacklevel=3)


def _open(path: Path) -> Image.Image:
    """Image.open without Pillow's decompression-bomb warning: its limit lies above MAX_PIXELS, which
    read_array checks from the declared size."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def _palette_is_color(im: Image.Image) -> bool:
    if im.mode != "P":
        return False
    rgb = np.asarray(im.convert("RGB"))
    return not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def to_unit(arr: np.ndarray) -> np.ndarray:
    """Integer image -> float32 in [0, 1]."""
    return arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)


def from_unit(x: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float image in [0, 1] -> uint8 or uint16 with rounding."""
    top = (1 << bit_depth) - 1
    return np.clip(np.round(np.asarray(x, np.float64) * top), 0, top).astype(np.uint8 if bit_depth == 8 else np.uint16)


PNG_COMPRESS_LEVEL = 1  # zlib level: decoded PNGs are written ~5x faster than at Pillow's 6, ~10 % larger.


def encode_png(arr: np.ndarray) -> bytes:
    """uint8/uint16 (H, W, C) -> PNG bytes."""
    if arr.dtype == np.uint16 and arr.shape[2] != 1:  # Pillow cannot write 16-bit RGB PNG: store 8-bit colour.
        arr = np.right_shift(arr, 8, out=np.empty(arr.shape, np.uint8), casting="unsafe")  # No uint16 temporary.
    # Pillow infers the mode from the dtype and shape: L, I;16 or RGB.
    im = Image.fromarray(np.ascontiguousarray(arr[:, :, 0] if arr.shape[2] == 1 else arr))
    del arr  # Pillow holds its own copy: a converted array is not kept while the PNG is written.
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()
