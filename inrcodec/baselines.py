"""Classical image codecs (JPEG, WebP through Pillow) as rate-matched baselines.

`match_bpp` picks, for one image, the highest integer quality whose rate does not exceed a target
bits per pixel, so the baseline can be compared with inrcodec at the same rate. Nothing here prints.
"""

from __future__ import annotations

import io
import math
import time
from typing import Any

import numpy as np
from PIL import Image, features

from inrcodec.results import psnr_uint8

CODECS = ("jpeg", "webp")
MIN_QUALITY = 1
MAX_QUALITY = 100


def available_codecs() -> list[str]:
    """Lists the baseline codecs this Pillow build supports.

    Returns:
        A subset of ["jpeg", "webp"].
    """
    out = []
    if features.check("jpg"):
        out.append("jpeg")
    if features.check("webp"):
        out.append("webp")
    return out


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 array, got {rgb.dtype}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"empty image: shape {rgb.shape}")
    return np.ascontiguousarray(rgb)


def _check_codec(codec: str) -> str:
    codec = codec.lower()
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; expected one of {list(CODECS)}")
    if codec not in available_codecs():
        raise ValueError(f"codec {codec!r} is not supported by this Pillow build")
    return codec


def encode_pillow(rgb_uint8: np.ndarray, codec: str, quality: int) -> bytes:
    """Encodes an RGB image with Pillow.

    JPEG uses optimize=True and 4:2:0 chroma subsampling; WebP is lossy with method=6.

    Args:
        rgb_uint8: (H, W, 3) uint8 image.
        codec: "jpeg" or "webp".
        quality: Integer quality in 1..100.

    Returns:
        The encoded file bytes.
    """
    rgb = _check_rgb(rgb_uint8)
    codec = _check_codec(codec)
    quality = int(quality)
    if not MIN_QUALITY <= quality <= MAX_QUALITY:
        raise ValueError(f"quality must be in {MIN_QUALITY}..{MAX_QUALITY}, got {quality}")
    img = Image.fromarray(rgb)
    buf = io.BytesIO()
    if codec == "jpeg":
        img.save(buf, format="JPEG", quality=quality, optimize=True, subsampling="4:2:0")
    else:
        img.save(buf, format="WEBP", quality=quality, method=6, lossless=False)
    return buf.getvalue()


def decode_pillow(data: bytes) -> np.ndarray:
    """Decodes JPEG/WebP (or any Pillow-readable) bytes to an RGB array.

    Args:
        data: Encoded file bytes.

    Returns:
        (H, W, 3) uint8 array.
    """
    with Image.open(io.BytesIO(data)) as img:
        return np.array(img.convert("RGB"), dtype=np.uint8)


def match_bpp(rgb: np.ndarray, codec: str, target_bpp: float) -> dict[str, Any]:
    """Finds the largest quality whose rate does not exceed a target bpp.

    Binary search over integer quality 1..100 with bpp = 8 * len(bytes) / (H * W). The search
    keeps bpp(lo) <= target < bpp(hi), so the result q satisfies bpp(q) <= target and, unless
    q == 100, bpp(q + 1) > target, even where the rate is not perfectly monotone. If quality 1 is
    already above the target, quality 1 is returned with its real (too high) bpp.

    Args:
        rgb: (H, W, 3) uint8 image.
        codec: "jpeg" or "webp".
        target_bpp: Target rate in bits per pixel (> 0).

    Returns:
        dict with quality (int), bytes (int, encoded size), bpp, psnr (dB, RGB, peak 255), and
        encoding_time / decoding_time (seconds, time.perf_counter, for the chosen quality).
    """
    rgb = _check_rgb(rgb)
    codec = _check_codec(codec)
    target_bpp = float(target_bpp)
    if not (target_bpp > 0 and math.isfinite(target_bpp)):
        raise ValueError(f"target_bpp must be a positive finite number, got {target_bpp}")
    pixels = rgb.shape[0] * rgb.shape[1]
    cache: dict[int, int] = {}

    def bpp_at(q: int) -> float:
        if q not in cache:
            cache[q] = len(encode_pillow(rgb, codec, q))
        return 8.0 * cache[q] / pixels

    if bpp_at(MIN_QUALITY) > target_bpp:
        quality = MIN_QUALITY
    elif bpp_at(MAX_QUALITY) <= target_bpp:
        quality = MAX_QUALITY
    else:
        lo, hi = MIN_QUALITY, MAX_QUALITY  # bpp(lo) <= target < bpp(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if bpp_at(mid) <= target_bpp:
                lo = mid
            else:
                hi = mid
        quality = lo

    t0 = time.perf_counter()
    data = encode_pillow(rgb, codec, quality)
    t1 = time.perf_counter()
    decoded = decode_pillow(data)
    t2 = time.perf_counter()
    return {
        "quality": quality,
        "bytes": len(data),
        "bpp": 8.0 * len(data) / pixels,
        "psnr": psnr_uint8(rgb, decoded),
        "encoding_time": t1 - t0,
        "decoding_time": t2 - t1,
    }
