"""Formats: one small plug-in per modality behind the same functions.

Each format module defines NAME, CODE (container modality id), SUFFIXES (input files it reads),
OUTPUT_SUFFIX, RATE_UNIT, and read(path, **options), encode(native, base, quality, fit_cfg, seed,
progress) -> EncodeResult, read_header(data), decode(data, base) -> Decoded, write(decoded,
suffix) -> bytes, rate(data, header), describe(header) -> dict, summary(decoded) -> str.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from inrcodec.errors import FormatError, InputError
from inrcodec.modalities import audio, climate, image

FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (image, audio, climate)}


def by_name(name: str) -> ModuleType:
    if name not in FORMATS:
        raise InputError(f"unknown modality {name!r}; expected one of {sorted(FORMATS)}")
    return FORMATS[name]


def by_code(code: int) -> ModuleType:
    for m in FORMATS.values():
        if m.CODE == code:
            return m
    raise FormatError(f"unknown modality {code}")


def for_path(path: str | Path, modality: str | None = None) -> ModuleType:
    """The format of an input file: `modality` if given, else from the file's suffix."""
    if modality:
        return by_name(modality)
    suffix = Path(path).suffix.lower()
    for m in FORMATS.values():
        if suffix in m.SUFFIXES:
            return m
    raise InputError(f"{path}: cannot tell the modality from the suffix {suffix!r}; pass --modality")
