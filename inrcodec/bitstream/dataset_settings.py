"""What a dataset archive (.inrpack) stores besides the archive framing: its JSON settings and the
layout of one item, a block of signals (ARCHIVE.md, "Settings" and "Items")."""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from typing import Sequence

import numpy as np

from inrcodec.bitstream import range_coder
from inrcodec.errors import FormatError

SETTINGS_VERSION = 1  # Written when `template` is empty, so such archives keep their 1.0 bytes.
SETTINGS_VERSION_TEMPLATE = 2  # Written with a template; readers take both.
SETTINGS_VERSION_3 = 3  # Written for an error bound or a separable grid: has max_error (0 = none) and template.
SEPARABLE_LATLON = "1d:"  # A latlon of this prefix (version 3 only) holds ny latitudes and nx longitudes.
MAX_TEMPLATE_CHARS = 1 << 26  # Base64 characters of a template (its inflated size is checked when unpacked).
DEFAULT_BLOCK = 16  # Signals per archive item.
MAX_BLOCK = 255  # Its count is one byte.
MAX_ITEM_VALUES = 3 << 26  # Values of one item: an RGB image of 2^26 pixels, the image limit.


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every signal of an archive shares (stored once, as JSON, in the archive header)."""

    modality: str
    shape: tuple[int, ...]  # Shape of one signal as the user gives it (image (H, W, C), audio (T,), climate (ny, nx)).
    quality: int
    step_index: int
    scale_indices: tuple[int, ...]
    block: int
    lo: float = 0.0  # Climate: physical value of 0 (float32), and of 1.
    hi: float = 1.0
    mask: str = ""  # Climate: hex of climate_template.pack_mask of the valid points shared by every field ("" = all).
    # Climate: base64 of zlib of the (ny, nx, 2) float64 degrees, or (version 3) SEPARABLE_LATLON + base64 of
    # zlib of the ny latitudes and nx longitudes of a grid whose latitude varies along y only and longitude
    # along x only; "" for a regular global grid.
    latlon: str = ""
    base_manifest: dict | None = None  # When the base network is embedded in the archive.
    # Climate: base64 of climate_template.pack of the source variable (dims, coordinates, attributes; its
    # field shape (*stack, ny, nx) has as many fields as the archive has items); "" = bare arrays.
    template: str = ""
    # Climate: every decoded value lies within this of the original (the variable's units); 0 = no bound.
    max_error: float = 0.0

    def to_bytes(self) -> bytes:
        d = dataclasses.asdict(self)
        version = SETTINGS_VERSION_3 if self.max_error or self.latlon.startswith(SEPARABLE_LATLON) \
            else SETTINGS_VERSION_TEMPLATE if self.template else SETTINGS_VERSION
        if version != SETTINGS_VERSION_3:  # Older documents keep their bytes.
            del d["max_error"]
            if not self.template:
                del d["template"]
        return json.dumps({"version": version, **d}, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Settings":
        try:
            d = json.loads(data.decode())
            version = d.pop("version")
            expected = {SETTINGS_VERSION: (False, False), SETTINGS_VERSION_TEMPLATE: (True, False),
                        SETTINGS_VERSION_3: (True, True)}.get(version)
            if expected is None or expected != ("template" in d, "max_error" in d):
                raise ValueError(f"unknown settings version {version!r} (or a template or bound where it has none)")
            if version != SETTINGS_VERSION_3 and str(d.get("latlon", "")).startswith(SEPARABLE_LATLON):
                raise ValueError(f"a version-{version} document has a separable grid")
            d["shape"], d["scale_indices"] = tuple(d["shape"]), tuple(d["scale_indices"])
            settings = cls(**d)
            settings.check()
            return settings
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
            raise FormatError(f"archive settings are invalid ({e})") from None

    def check(self) -> None:
        """ValueError unless every field has its type and a sane range (the archive is untrusted input)."""
        def is_int(x, lo, hi):
            return isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi

        if not isinstance(self.modality, str):
            raise ValueError("modality is not a string")
        if not (1 <= len(self.shape) <= 4 and all(is_int(n, 1, MAX_ITEM_VALUES) for n in self.shape)
                and math.prod(self.shape) <= MAX_ITEM_VALUES):
            raise ValueError(f"item shape {self.shape} is invalid or larger than {MAX_ITEM_VALUES} values")
        if not (is_int(self.quality, 0, 255) and is_int(self.step_index, 0, 32) and is_int(self.block, 1, MAX_BLOCK)):
            raise ValueError("quality, step index or block out of range")
        if not (1 <= len(self.scale_indices) <= 64 and all(is_int(i, 0, 255) for i in self.scale_indices)):
            raise ValueError("scale indices out of range")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (self.lo, self.hi)) \
                or not self.hi > self.lo:
            raise ValueError(f"value range [{self.lo}, {self.hi}] is invalid")
        if not (isinstance(self.mask, str) and isinstance(self.latlon, str) and isinstance(self.template, str)):
            raise ValueError("mask, grid or template is not a string")
        if len(self.template) > MAX_TEMPLATE_CHARS:
            raise ValueError(f"template of {len(self.template)} characters (at most {MAX_TEMPLATE_CHARS})")
        if self.base_manifest is not None and not isinstance(self.base_manifest, dict):
            raise ValueError("base manifest is not an object")
        if not (isinstance(self.max_error, (int, float)) and not isinstance(self.max_error, bool)
                and math.isfinite(self.max_error) and self.max_error >= 0):
            raise ValueError(f"error bound {self.max_error!r} is not a finite number >= 0")


LATENT_BYTES = struct.Struct("<I")  # Bounded blocks: the latents stream's length, before it.


def pack_block(ints: list[np.ndarray], scale_indices: Sequence[int], bound: bytes | None = None) -> bytes:
    """One archive item: the count n of its signals (u8), then their latents, per level (n, *grid, c),
    range-coded with the archive's per-level scale indices. In a bounded archive, the latents stream
    is preceded by its length (u32) and followed by `bound`, the modality's residual section."""
    latents = range_coder.encode(ints, list(scale_indices))
    if bound is None:
        return bytes([ints[0].shape[0]]) + latents
    return bytes([ints[0].shape[0]]) + LATENT_BYTES.pack(len(latents)) + latents + bound


def unpack_block(item: bytes, grids: Sequence[tuple[int, ...]], scale_indices: Sequence[int],
                 bounded: bool = False) -> tuple[list[np.ndarray], bytes | None]:
    """Inverse of `pack_block`, given each level's grid shape (*grid, c) of one signal: (int32 latents
    (n, *grid, c) per level, the residual section or None when not `bounded`)."""
    if not item:
        raise FormatError("empty item")
    shapes = [(item[0], *g) for g in grids]
    stream, bound = item[1:], None
    if bounded:
        if len(item) < 1 + LATENT_BYTES.size:
            raise FormatError("truncated block")
        (length,) = LATENT_BYTES.unpack_from(item, 1)
        start = 1 + LATENT_BYTES.size
        if start + length > len(item):
            raise FormatError("the latents stream runs past the end of the block")
        stream, bound = item[start : start + length], item[start + length :]
    try:
        return range_coder.decode(stream, shapes, list(scale_indices)), bound
    except (ValueError, RuntimeError, KeyError, AssertionError) as e:  # constriction asserts on invalid data.
        raise FormatError(str(e)) from None
