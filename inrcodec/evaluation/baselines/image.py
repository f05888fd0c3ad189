"""Classical image codecs as rate-matched baselines.

JPEG, WebP, AVIF and JPEG 2000 through Pillow, JPEG XL through imagecodecs, and HEVC intra 4:4:4
through ffmpeg's libx265 as a stand-in for BPG 4:4:4 (recipe and traps: docs PROBES.md section 4).
Images are (H, W, 3) uint8 RGB. Rate is bits per pixel of the encoded bytes, 8 * len(bytes) / (H * W);
the metric is PSNR on 8-bit RGB (peak 255). Nothing here prints.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import numpy as np
from PIL import Image, features

from inrcodec.evaluation.baselines import _common
from inrcodec.evaluation.baselines._common import (
    BaselineResult,
    Codec,
    ffmpeg_unavailable,
    lookup,
    missing_module,
    run_ffmpeg,
)
from inrcodec.signals.metrics import psnr_uint8

# JPEG 2000 compression ratios (vs 24-bit RGB), 1/32-octave steps from 2048:1 (0.012 bpp) to 1:1.
JPEG2000_RATIOS = tuple(2.0 ** (k / 32) for k in range(11 * 32, -1, -1))
# Full-range BT.601 RGB -> YCbCr (JFIF, as BPG uses by default); rows give Y, Cb, Cr.
_YCBCR_FROM_RGB = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)
_CHROMA_OFFSET = np.array([0.0, 128.0, 128.0])


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 array, got {rgb.dtype}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"empty image: shape {rgb.shape}")
    return np.ascontiguousarray(rgb)


def _pillow_encode(rgb: np.ndarray, **params: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_check_rgb(rgb)).save(buf, **params)
    return buf.getvalue()


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """JPEG (Pillow/libjpeg-turbo), 4:2:0, optimized Huffman tables; quality 1..100. rgb: (H, W, 3) uint8."""
    return _pillow_encode(rgb, format="JPEG", quality=int(quality), optimize=True, subsampling="4:2:0")


def encode_webp(rgb: np.ndarray, quality: int) -> bytes:
    """Lossy WebP (Pillow/libwebp), method 6; quality 0..100. rgb: (H, W, 3) uint8."""
    return _pillow_encode(rgb, format="WEBP", quality=int(quality), method=6, lossless=False)


def encode_avif(rgb: np.ndarray, quality: int) -> bytes:
    """AVIF (Pillow/libavif + aom), speed 6, 4:2:0, one thread; quality 0..100. rgb: (H, W, 3) uint8."""
    return _pillow_encode(rgb, format="AVIF", quality=int(quality), speed=6, max_threads=1)


def encode_jpeg2000(rgb: np.ndarray, ratio: float) -> bytes:
    """JPEG 2000 raw codestream (Pillow/OpenJPEG), 9/7 wavelet + colour transform, one layer.

    Args:
        rgb: (H, W, 3) uint8 image.
        ratio: Compression ratio against 24-bit RGB (OpenJPEG rate control), e.g. 96 for 0.25 bpp.
    """
    return _pillow_encode(
        rgb, format="JPEG2000", irreversible=True, mct=1, quality_mode="rates",
        quality_layers=[float(ratio)], no_jp2=True,
    )


def decode_pillow(data: bytes) -> np.ndarray:
    """Decodes JPEG/WebP/AVIF/JPEG 2000 (any Pillow-readable) bytes to a (H, W, 3) uint8 array."""
    with Image.open(io.BytesIO(data)) as img:
        return np.array(img.convert("RGB"), dtype=np.uint8)


def encode_jxl(rgb: np.ndarray, quality: int) -> bytes:
    """JPEG XL bare codestream (imagecodecs/libjxl), effort 7, one thread; quality 0..100. rgb: (H, W, 3) uint8."""
    import imagecodecs

    return bytes(imagecodecs.jpegxl_encode(_check_rgb(rgb), level=int(quality), effort=7, numthreads=1))


def decode_jxl(data: bytes) -> np.ndarray:
    """Decodes a JPEG XL stream to a (H, W, 3) uint8 array."""
    import imagecodecs

    return np.asarray(imagecodecs.jpegxl_decode(data), dtype=np.uint8)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """Full-range BT.601 RGB -> YCbCr, rounded: (H, W, 3) uint8 -> (H, W, 3) uint8 (Y, Cb, Cr)."""
    ycc = rgb.astype(np.float64) @ _YCBCR_FROM_RGB.T + _CHROMA_OFFSET
    return np.clip(np.rint(ycc), 0, 255).astype(np.uint8)


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Inverse of `rgb_to_ycbcr`: (H, W, 3) uint8 YCbCr -> (H, W, 3) uint8 RGB."""
    rgb = (ycc.astype(np.float64) - _CHROMA_OFFSET) @ np.linalg.inv(_YCBCR_FROM_RGB).T
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def encode_x265(rgb: np.ndarray, qp: int) -> bytes:
    """HEVC intra 4:4:4 raw bitstream, the BPG 4:4:4 reproduction (ffmpeg + libx265).

    RGB is converted to full-range YCbCr here and fed as one rawvideo yuv444p frame to
    `libx265 -preset veryslow -tune ssim -x265-params keyint=1:qp=N:info=0` (info=0 drops the ~2.3 KB
    options SEI). x265 rejects very small pictures (e.g. 8x8) with a RuntimeError.

    Args:
        rgb: (H, W, 3) uint8 image.
        qp: Quantization parameter 0..51 (lower = more bits).
    """
    rgb = _check_rgb(rgb)
    height, width = rgb.shape[:2]
    planar = np.ascontiguousarray(rgb_to_ycbcr(rgb).transpose(2, 0, 1)).tobytes()
    return run_ffmpeg(
        ["-f", "rawvideo", "-pix_fmt", "yuv444p", "-s", f"{width}x{height}", "-i", "pipe:0", "-frames:v", "1",
         "-c:v", "libx265", "-preset", "veryslow", "-tune", "ssim",
         "-x265-params", f"keyint=1:qp={int(qp)}:info=0", "-f", "hevc", "pipe:1"],
        planar,
    )


def decode_x265(data: bytes, height: int, width: int) -> np.ndarray:
    """Decodes an `encode_x265` stream with ffmpeg to a (height, width, 3) uint8 RGB array."""
    raw = run_ffmpeg(["-f", "hevc", "-i", "pipe:0", "-f", "rawvideo", "-pix_fmt", "yuv444p", "pipe:1"], data)
    if len(raw) != 3 * height * width:
        raise RuntimeError(f"x265 decode gave {len(raw)} bytes, expected one {height}x{width} yuv444p frame")
    return ycbcr_to_rgb(np.frombuffer(raw, np.uint8).reshape(3, height, width).transpose(1, 2, 0))


def _pillow_unavailable(feature: str) -> str | None:
    return None if features.check(feature) else f"this Pillow build has no {feature} support"


def _jxl_unavailable() -> str | None:
    reason = missing_module("imagecodecs")
    if reason is None:
        import imagecodecs

        if not imagecodecs.JPEGXL.available:
            reason = "this imagecodecs build has no JPEG XL codec"
    return reason


CODECS: dict[str, Codec] = {
    "jpeg": Codec(
        knob="quality 1-100", description="Pillow JPEG (libjpeg-turbo), 4:2:0, optimize",
        settings=lambda rgb: range(1, 101), encode=encode_jpeg, decode=lambda data, rgb: decode_pillow(data),
        unavailable=lambda: _pillow_unavailable("jpg"),
    ),
    "webp": Codec(
        knob="quality 0-100", description="Pillow WebP (libwebp), lossy, method 6",
        settings=lambda rgb: range(101), encode=encode_webp, decode=lambda data, rgb: decode_pillow(data),
        unavailable=lambda: _pillow_unavailable("webp"),
    ),
    "avif": Codec(
        knob="quality 0-100", description="Pillow AVIF (libavif + aom), speed 6, 4:2:0, 1 thread",
        settings=lambda rgb: range(101), encode=encode_avif, decode=lambda data, rgb: decode_pillow(data),
        unavailable=lambda: _pillow_unavailable("avif"),
    ),
    "jpeg2000": Codec(
        knob="compression ratio vs 24-bit RGB",
        description="Pillow JPEG 2000 (OpenJPEG), irreversible 9/7 + colour transform, rate control, raw codestream",
        settings=lambda rgb: JPEG2000_RATIOS, encode=encode_jpeg2000, decode=lambda data, rgb: decode_pillow(data),
        unavailable=lambda: _pillow_unavailable("jpg_2000"),
    ),
    "jxl": Codec(
        knob="quality 0-100", description="JPEG XL (imagecodecs, libjxl), effort 7, bare codestream, 1 thread",
        settings=lambda rgb: range(101), encode=encode_jxl, decode=lambda data, rgb: decode_jxl(data),
        unavailable=_jxl_unavailable,
    ),
    "x265": Codec(
        knob="qp 51-0",
        description="HEVC intra 4:4:4 via ffmpeg libx265 (BPG 4:4:4 stand-in): own full-range BT.601 YCbCr, "
        "-preset veryslow -tune ssim -x265-params keyint=1:qp=N:info=0, raw HEVC bytes",
        settings=lambda rgb: range(51, -1, -1), encode=encode_x265,
        decode=lambda data, rgb: decode_x265(data, rgb.shape[0], rgb.shape[1]),
        unavailable=lambda: ffmpeg_unavailable("libx265", "hevc"),
    ),
}


def available() -> dict[str, str | None]:
    """Maps each image codec name to None if it can run here, else to the reason it cannot."""
    return {name: codec.unavailable() for name, codec in CODECS.items()}


def bpp(num_bytes: int, rgb: np.ndarray) -> float:
    """Bits per pixel of `num_bytes` for the (H, W, 3) image `rgb`."""
    return 8.0 * num_bytes / (rgb.shape[0] * rgb.shape[1])


def match_rate(rgb: np.ndarray, codec: str, target_bpp: float) -> BaselineResult:
    """Encodes `rgb` with the highest codec setting whose rate does not exceed `target_bpp`.

    Bisection over the codec's knob (`_common.search_setting`); if even the lowest-rate setting is above
    the target, that setting is used and its real rate reported.

    Args:
        rgb: (H, W, 3) uint8 image.
        codec: A name in `CODECS`.
        target_bpp: Target bits per pixel (> 0).

    Returns:
        BaselineResult with rate in bpp and metrics {"psnr-rgb": dB}.
    """
    return _match(codec, lookup(CODECS, codec, "image"), rgb, target_bpp)


def _match(name: str, codec: Codec, rgb: np.ndarray, target_bpp: float) -> BaselineResult:
    rgb = _check_rgb(rgb)
    return _common.match_rate(
        name, codec, rgb, target_bpp,
        rate_of=lambda n: bpp(n, rgb), rate_unit="bpp", metrics_of=lambda rec: {"psnr-rgb": psnr_uint8(rgb, rec)},
    )


# The Pillow JPEG/WebP interface that inrcodec.evaluation.evaluate uses.
_LEGACY_ENCODERS = {"jpeg": encode_jpeg, "webp": encode_webp}


def available_codecs() -> list[str]:
    """Lists which of the Pillow codecs ["jpeg", "webp"] this Pillow build supports."""
    return [name for name in _LEGACY_ENCODERS if CODECS[name].unavailable() is None]


def _check_legacy_codec(codec: str) -> None:
    if codec not in _LEGACY_ENCODERS:
        raise ValueError(f"unknown codec {codec!r}; expected one of {list(_LEGACY_ENCODERS)}")
    if codec not in available_codecs():
        raise ValueError(f"codec {codec!r} is not supported by this Pillow build")


def encode_pillow(rgb_uint8: np.ndarray, codec: str, quality: int) -> bytes:
    """Encodes an (H, W, 3) uint8 image with Pillow "jpeg" or "webp" at integer quality 1..100."""
    _check_legacy_codec(codec)
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    return _LEGACY_ENCODERS[codec](rgb_uint8, int(quality))


def match_bpp(rgb: np.ndarray, codec: str, target_bpp: float) -> dict[str, Any]:
    """Finds the largest Pillow quality (1..100) whose rate does not exceed a target bpp.

    `match_rate` for "jpeg"/"webp" with the qualities restricted to 1..100; quality 1 is returned
    with its real (too high) bpp if nothing fits.

    Returns:
        dict with quality (int), bytes (int), bpp, psnr (dB, RGB, peak 255), encoding_time and
        decoding_time (seconds).
    """
    _check_legacy_codec(codec)
    qualities_1_to_100 = dataclasses.replace(CODECS[codec], settings=lambda image: range(1, 101))
    result = _match(codec, qualities_1_to_100, rgb, target_bpp)
    return {
        "quality": result.setting,
        "bytes": result.bytes,
        "bpp": result.rate,
        "psnr": result.metrics["psnr-rgb"],
        "encoding_time": result.encode_seconds,
        "decoding_time": result.decode_seconds,
    }


def match_item(arr: np.ndarray, codec: str, target: float, value_range=None) -> tuple[BaselineResult, dict]:
    """`match_rate` on an image item (H, W, 1|3) of any bit depth, as 8-bit RGB; its metrics under
    the evaluation's keys."""
    rgb = np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr
    rgb = (rgb >> 8).astype(np.uint8) if rgb.dtype == np.uint16 else rgb
    r = match_rate(rgb, codec, target)
    return r, {"psnr": r.metrics["psnr-rgb"], "psnr-rgb": r.metrics["psnr-rgb"]}
