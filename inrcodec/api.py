"""The public file-level API: encode_file, decode_file, info (orchestration only, no math)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inrcodec import bases, codec
from inrcodec._io import atomic_write, check_writable
from inrcodec.bitstream import container
from inrcodec.codec import Decoded, EncodeResult, Progress
from inrcodec.config import DEFAULT_QUALITY, FitConfig
from inrcodec.errors import InputError
from inrcodec.modalities import image as image_io


def load_default_base(ref: str | None = None) -> bases.Base:
    """The named (or directory) base, else the shipped default image base."""
    return bases.load_base(ref or bases.DEFAULT_BASES["image"])


def encode(
    arr: np.ndarray,
    *,
    quality: int | None = None,
    bpp: float | None = None,
    base: str | bases.Base | None = None,
    seed: int = 0,
    fit: FitConfig = FitConfig(),
    progress: Progress | None = None,
) -> EncodeResult:
    """Encodes an image array (H, W, C) uint8/uint16 at a quality level (1..8) or a bpp target."""
    base = base if isinstance(base, bases.Base) else load_default_base(base)
    if bpp is not None:
        if not bpp > 0:
            raise InputError(f"--bpp must be positive, got {bpp}")
        return codec.encode_to_bpp(arr, base, bpp, fit, seed, progress)
    return codec.encode_array(arr, base, DEFAULT_QUALITY if quality is None else quality, fit, seed, progress)


def encode_file(
    src: str | Path,
    dst: str | Path,
    *,
    quality: int | None = None,
    bpp: float | None = None,
    base: str | bases.Base | None = None,
    force: bool = False,
    seed: int = 0,
    fit: FitConfig = FitConfig(),
    progress: Progress | None = None,
) -> EncodeResult:
    """Reads an image file, encodes it and writes `dst` atomically (refuses to overwrite unless force)."""
    dst = Path(dst)
    if Path(src).resolve() == dst.resolve():
        raise InputError(f"{dst}: output would overwrite the input")
    check_writable(dst, force)
    arr = image_io.read_array(src)
    result = encode(arr, quality=quality, bpp=bpp, base=base, seed=seed, fit=fit, progress=progress)
    atomic_write(dst, result.data, force=force)
    return result


def read_inr(src: str | Path) -> bytes:
    try:
        return Path(src).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{src}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{src}: is a directory") from None
    except OSError as e:
        raise InputError(f"{src}: cannot read ({e.strerror})") from None


def decode(data: bytes) -> Decoded:
    """Decodes .inr bytes (the base network named in the file must be installed)."""
    return codec.decode(data)


def decode_file(src: str | Path, dst: str | Path, *, force: bool = False) -> Decoded:
    """Decodes a .inr file and writes a PNG atomically."""
    dst = Path(dst)
    if Path(src).resolve() == dst.resolve():
        raise InputError(f"{dst}: output would overwrite the input")
    check_writable(dst, force)
    decoded = codec.decode(read_inr(src))
    atomic_write(dst, image_io.encode_png(decoded.array), force=force)
    return decoded


def info(src: str | Path) -> dict:
    """Header fields of a .inr file, the base network it needs (and whether it is installed), bpp."""
    data = read_inr(src)
    box, header = codec.read_header(data)
    try:
        base = bases.load_base(box.base_id)
        base_name = base.name
    except bases.MissingBaseError:
        base_name = "(not installed)"
    return {
        "file": str(src),
        "bytes": len(data),
        "format": f"{container.FORMAT_MAJOR}.{box.minor}",
        "modality": "image",
        "width": header.width,
        "height": header.height,
        "channels": header.channels,
        "bit_depth": header.bit_depth,
        "bpp": round(8 * len(data) / (header.width * header.height), 5),
        "base_id": box.base_id.hex(),
        "base": base_name,
        "latent_levels": len(header.scale_indices),
        "latent_step": f"2^(-{header.step_index}/2)",
        "scale_indices": list(header.scale_indices),
        "weight_deltas": f"{len(header.weight_scale_indices)} tensors, step 2^(-{header.weight_step_index}/2)"
        if header.weight_step_index else "none",
        "payload_bytes": len(box.payload),
    }
