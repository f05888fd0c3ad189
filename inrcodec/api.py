"""The public file-level API: encode, encode_file, decode, decode_file, info (orchestration only).

The modality comes from the input (array/Audio/Field type, or file suffix) unless given; each
modality's format plug-in (inrcodec.modalities) does the work.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from inrcodec.core import bases
from inrcodec import modalities
from inrcodec._io import atomic_write, check_writable
from inrcodec.bitstream import container
from inrcodec.core.config import DEFAULT_QUALITY, FitConfig
from inrcodec.errors import InputError
from inrcodec.modalities.common import Decoded, EncodeResult, Progress
from inrcodec.signals import audio as audio_io
from inrcodec.signals import climate as climate_io


def load_default_base(ref: str | None = None, modality: str = "image") -> bases.Base:
    """The named (or directory) base, else the shipped default base of `modality`."""
    return bases.load_base(ref or bases.DEFAULT_BASES[modality])


def default_fit(base: bases.Base, steps: int | None = None) -> FitConfig:
    """The encoder schedule a base asks for in its manifest ("fit"), else the default one; with `steps`,
    that many refinement steps instead, split 3:1 between the noise and rounding phases."""
    fit = FitConfig(**base.manifest.get("fit", {}))
    if steps is None:
        return fit
    if steps < 0:
        raise InputError(f"the number of fit steps (--fit-steps) must be >= 0, got {steps}")
    return dataclasses.replace(fit, noise_steps=steps - steps // 4, ste_steps=steps // 4)


def modality_of(signal: Any) -> str:
    """The modality of an in-memory signal: image array, Audio, or Field / xarray.DataArray."""
    if isinstance(signal, audio_io.Audio):
        return "audio"
    if isinstance(signal, climate_io.Field) or type(signal).__name__ == "DataArray":
        return "climate"
    if isinstance(signal, np.ndarray):
        return "image"
    raise InputError(f"cannot tell the modality of a {type(signal).__name__}; pass modality=")


def _native(signal: Any, fmt: ModuleType) -> Any:
    if fmt.NAME == "climate" and type(signal).__name__ == "DataArray":
        return climate_io.from_dataarray(signal)
    return signal


def encode(
    signal: Any,
    *,
    quality: int | None = None,
    rate: float | None = None,
    bpp: float | None = None,
    base: str | bases.Base | None = None,
    modality: str | None = None,
    seed: int = 0,
    fit: FitConfig | None = None,
    fit_steps: int | None = None,
    progress: Progress | None = None,
) -> EncodeResult:
    """Encodes a signal at a quality level (1..8) or at the best level within a rate target.

    Args:
      signal: image array (H, W, C) uint8/uint16, modalities.audio.Audio, modalities.climate.Field or
        an xarray.DataArray.
      rate: target in the format's unit (bpp, kbps or bits per field); `bpp` is its image alias.
      fit: the encoder's schedule (default: the base's, `default_fit`, with `fit_steps` steps if given).
    """
    fmt = modalities.by_name(modality or modality_of(signal))
    base = base if isinstance(base, bases.Base) else load_default_base(base, fmt.NAME)
    if base.modality != fmt.NAME:
        raise InputError(f"base network {base.name!r} is for {base.modality}, not {fmt.NAME}")
    native = _native(signal, fmt)
    fit = fit or default_fit(base, fit_steps)
    target = rate if rate is not None else bpp
    if target is not None:
        if not target > 0:
            raise InputError(f"the rate target must be positive, got {target}")
        return _encode_to_rate(native, fmt, base, target, fit, seed, progress)
    return fmt.encode(native, base, DEFAULT_QUALITY if quality is None else quality, fit, seed, progress)


def _encode_to_rate(native, fmt: ModuleType, base: bases.Base, target: float, fit: FitConfig, seed: int,
                    progress: Progress | None) -> EncodeResult:
    """Highest quality level within `target` (bisection: ~3 encodes); the lowest level if none fits."""
    levels = sorted(int(q) for q in base.manifest.get("quality_lambdas", range(1, 9)))
    lo, hi, best = 0, len(levels) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        result = fmt.encode(native, base, levels[mid], fit, seed, progress)
        if result.rate <= target:
            best, lo = result, mid + 1
        else:
            hi = mid - 1
            if mid == 0:
                best = best or result
    return best


def encode_file(
    src: str | Path,
    dst: str | Path,
    *,
    quality: int | None = None,
    rate: float | None = None,
    bpp: float | None = None,
    base: str | bases.Base | None = None,
    modality: str | None = None,
    var: str | None = None,
    force: bool = False,
    seed: int = 0,
    fit: FitConfig | None = None,
    fit_steps: int | None = None,
    progress: Progress | None = None,
) -> EncodeResult:
    """Reads a file, encodes it and writes `dst` atomically (refuses to overwrite unless force).

    `var` picks the variable of a climate file.
    """
    dst = Path(dst)
    if Path(src).resolve() == dst.resolve():
        raise InputError(f"{dst}: output would overwrite the input")
    check_writable(dst, force)
    if isinstance(base, str) and not modality:
        base = load_default_base(base)  # A named base also names the modality.
        modality = base.modality
    fmt = modalities.for_path(src, modality)
    if isinstance(base, bases.Base) and base.modality != fmt.NAME:
        raise InputError(f"{src}: base network {base.name!r} is for {base.modality}, the file is {fmt.NAME}")
    native = fmt.read(src, var=var)
    result = encode(native, quality=quality, rate=rate, bpp=bpp, base=base, modality=fmt.NAME, seed=seed, fit=fit,
                    fit_steps=fit_steps, progress=progress)
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


def format_of(data: bytes) -> ModuleType:
    """The format plug-in of .inr bytes (from the container's modality byte)."""
    return modalities.by_code(container.unpack(data).modality)


def decode(data: bytes) -> Decoded:
    """Decodes .inr bytes (the base network named in the file must be installed)."""
    return format_of(data).decode(data)


def default_output(src: Path, data: bytes) -> Path:
    """Where `inrcodec decode x.inr` writes: x.inr.png / .wav / .nc."""
    return src.with_name(src.name + format_of(data).OUTPUT_SUFFIX)


def decode_file(src: str | Path, dst: str | Path | None = None, *, force: bool = False) -> tuple[Path, Decoded]:
    """Decodes a .inr file and writes the signal atomically (PNG, WAV/FLAC or netCDF by the suffix)."""
    src = Path(src)
    data = read_inr(src)
    fmt = format_of(data)
    dst = Path(dst) if dst else default_output(src, data)
    if src.resolve() == dst.resolve():
        raise InputError(f"{dst}: output would overwrite the input")
    check_writable(dst, force)
    decoded = fmt.decode(data)
    atomic_write(dst, fmt.write(decoded, dst.suffix), force=force)
    return dst, decoded


def info(src: str | Path) -> dict:
    """Header fields of a .inr file, the base network it needs (and whether it is installed), the rate."""
    data = read_inr(src)
    fmt = format_of(data)
    box, header = fmt.read_header(data)
    try:
        base_name = bases.load_base(box.base_id).name
    except bases.MissingBaseError:
        base_name = "(not installed)"
    coding = getattr(header, "coding", None) or header.codings[0]
    return {
        "file": str(src),
        "bytes": len(data),
        "format": f"{container.FORMAT_MAJOR}.{box.minor}",
        "modality": fmt.NAME,
        **fmt.describe(header),
        fmt.RATE_UNIT.replace(" ", "_"): round(fmt.rate(data, header), 5),
        "base_id": box.base_id.hex(),
        "base": base_name,
        "latent_levels": len(coding.scale_indices),
        "latent_step": f"2^(-{coding.step_index}/2)",
        "scale_indices": list(coding.scale_indices),
        **({"stack_predicted_levels": [k for k, p in enumerate(coding.predicted) if p]} if coding.predicted else {}),
        **({"local_scale_levels": [k for k, c in enumerate(coding.contexts) if c]} if coding.contexts else {}),
        "weight_deltas": f"{len(coding.weight_scale_indices)} tensors, step 2^(-{coding.weight_step_index}/2)"
        if coding.weight_step_index else "none",
        "payload_bytes": len(box.payload),
    }
