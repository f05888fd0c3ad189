"""The climate header (modality 3): ny u16, nx u16, fields u32, flags u8, reserved u8, lo f32, hi f32,
template (u32 length + bytes), mask (u32 length + bytes, only with flags bit 0), coding fields, and
with flags bit 2 the error-bound fields (bitstream.residuals, format 1.5). Flags bit 3 says the template
carries the variable's cell bounds (format 1.6).

A single bare 2-D field (no coordinates, attributes or mask, the base's value range, no error bound)
may instead be written with the compact header of format 1.7 (SPEC.md §3.3.3) in a compact container:
its dims as LEB128 numbers, its name as a code of COMPACT_NAMES, the latent step and scales.

Byte layout: SPEC.md, "Climate". The template and mask bytes are those of climate_template. The
template may use the preset dictionary (flags bit 1, container minor 1); a stack's latent levels may
be coded as their differences from one field to the next (entropy model 2, container minor 2).
"""

from __future__ import annotations

import dataclasses
import math
import struct

from inrcodec.bitstream import climate_template
from inrcodec.bitstream import container, leb128
from inrcodec.bitstream.coding import CodingHeader
from inrcodec.bitstream.residuals import ResidualHeader
from inrcodec.errors import FormatError

DESCRIPTOR = struct.Struct("<HHIBBff")  # ny, nx, fields, flags, reserved, lo, hi.
LENGTH = struct.Struct("<I")  # Bytes of the template, of the mask.
FLAG_MASK = 1  # A mask of missing values follows the template.
FLAG_TEMPLATE_DICTIONARY = 2  # The template's zlib stream uses climate_template.TEMPLATE_DICTIONARY (format 1.1).
FLAG_ERROR_BOUND = 4  # Error-bound fields follow the coding fields; residuals follow the latents (format 1.5).
FLAG_BOUNDS = 8  # The template has bounds variables (climate_template.has_bounds; format 1.6).
MINOR_TEMPLATE_DICTIONARY = 1  # Container minor version of files that set FLAG_TEMPLATE_DICTIONARY.
MINOR_STACK_PREDICTION = 2  # Container minor version of stacks coded with entropy model 2 (coding.ENTROPY_MODEL_STACK).
MINOR_ERROR_BOUND = 5  # Container minor version of files that set FLAG_ERROR_BOUND.
MINOR_BOUNDS = 6  # Container minor version of files that set FLAG_BOUNDS.
MINOR_COMPACT = container.COMPACT_MINOR  # Compact files (SPEC.md §2.4, §3.3.3).
# Variable names a compact header codes in one byte (index = code; append only: the codes are normative).
COMPACT_NAMES = ("values", "temperature", "t2m", "tas", "air", "TREFHT", "ts", "t", "2t", "T2", "TS", "sst",
                 "skt", "tos", "pr", "tp", "precip", "msl", "psl", "sp", "z")
NAME_LITERAL = 255  # Name code: a u8 length and the UTF-8 name follow.
MAX_DECODE_VALUES = 1 << 25  # fields x ny x nx; larger headers are refused before decoding (bounds memory).
NAME = "climate"  # The modality's name in base manifests, archive settings and results.
RATE_UNIT = "bits per field"


@dataclasses.dataclass(frozen=True)
class ClimateHeader:
    ny: int
    nx: int
    fields: int  # 2-D fields in the stack.
    lo: float  # Physical value of 0 in the coded [0, 1] range (float32).
    hi: float  # Physical value of 1.
    template: bytes  # climate_template.pack: dims, coordinates, attributes (everything but values).
    mask: bytes  # climate_template.pack_mask of the valid points; b"" when every value exists.
    coding: CodingHeader
    residual: ResidualHeader | None = None  # With an error bound (flags bit 2).
    bounds: bool = False  # The template has bounds variables (flags bit 3).
    compact: bool = False  # Read from a compact header: lo, hi are the base's value range (NaN until known).

    def compact_meta(self) -> bytes | None:
        """This header as a compact header (SPEC.md §3.3.3), or None when it says more than one can:
        a stack, a mask, an error bound, a template other than a bare 2-D array, or coding other than
        entropy model 1 without weight deltas. Whether lo, hi are the base's range is the caller's check."""
        if (self.fields != 1 or self.mask or self.residual or self.bounds or self.coding.entropy_model != 1
                or self.coding.weight_step_index):
            return None
        name = climate_template.unpack(self.template).name
        if self.template != climate_template.pack(climate_template.bare(name, (self.ny, self.nx))):
            return None
        raw = name.encode()
        if name in COMPACT_NAMES:
            coded = bytes([COMPACT_NAMES.index(name)])
        elif 1 <= len(raw) <= 255:
            coded = bytes([NAME_LITERAL, len(raw)]) + raw
        else:
            return None
        scales = self.coding.scale_indices
        return (leb128.encode(self.ny) + leb128.encode(self.nx) + coded + bytes([self.coding.step_index, len(scales), *scales]))

    @classmethod
    def unpack_compact(cls, body: bytes) -> tuple["ClimateHeader", int]:
        """(the header, the offset where the payload starts) of a compact file's body; lo and hi are NaN
        (the base's value range: ClimateHeader.with_range)."""
        ny, offset = leb128.decode(body, 0, "compact climate header: ny")
        nx, offset = leb128.decode(body, offset, "compact climate header: nx")
        if not (1 <= ny <= 65535 and 1 <= nx <= 65535) or ny * nx > MAX_DECODE_VALUES:
            raise FormatError(f"compact climate header has a {ny}x{nx} field: empty or beyond the decoder limit")
        code, offset = _byte(body, offset), offset + 1
        if code == NAME_LITERAL:
            n = _byte(body, offset)
            if n == 0 or len(body) < offset + 1 + n:
                raise FormatError("compact climate header truncated (variable name)")
            try:
                name = body[offset + 1 : offset + 1 + n].decode()
            except UnicodeDecodeError:
                raise FormatError("compact climate header has a variable name that is not UTF-8") from None
            if name in COMPACT_NAMES:
                raise FormatError(f"compact climate header spells out {name!r}, which has a name code")
            offset += 1 + n
        elif code < len(COMPACT_NAMES):
            name = COMPACT_NAMES[code]
        else:
            raise FormatError(f"compact climate header has an unknown name code {code}")
        step_index, levels = _byte(body, offset), _byte(body, offset + 1)
        end = offset + 2 + levels
        if len(body) < end:
            raise FormatError("compact climate header truncated")
        coding, _ = CodingHeader.unpack_from(bytes([1, step_index, 0, levels]) + body[offset + 2 : end], 0)
        template = climate_template.pack(climate_template.bare(name, (ny, nx)))
        return cls(ny, nx, 1, math.nan, math.nan, template, b"", coding, compact=True), end

    def with_range(self, lo: float, hi: float) -> "ClimateHeader":
        """The header with its value range (a compact header's is the base's)."""
        return dataclasses.replace(self, lo=lo, hi=hi)

    @property
    def dictionary(self) -> bool:
        """Whether the template is compressed with the preset dictionary (flags bit 1, format 1.1)."""
        return climate_template.uses_dictionary(self.template)

    def pack(self) -> bytes:
        flags = ((FLAG_MASK if self.mask else 0) | (FLAG_TEMPLATE_DICTIONARY if self.dictionary else 0)
                 | (FLAG_ERROR_BOUND if self.residual else 0) | (FLAG_BOUNDS if self.bounds else 0))
        return (DESCRIPTOR.pack(self.ny, self.nx, self.fields, flags, 0, self.lo, self.hi)
                + LENGTH.pack(len(self.template)) + self.template
                + (LENGTH.pack(len(self.mask)) + self.mask if self.mask else b"") + self.coding.pack()
                + (self.residual.pack() if self.residual else b""))

    @classmethod
    def unpack(cls, meta: bytes) -> "ClimateHeader":
        if len(meta) < DESCRIPTOR.size:
            raise FormatError("climate header truncated")
        ny, nx, fields, flags, reserved, lo, hi = DESCRIPTOR.unpack_from(meta)
        if flags & ~(FLAG_MASK | FLAG_TEMPLATE_DICTIONARY | FLAG_ERROR_BOUND | FLAG_BOUNDS) or reserved:
            raise FormatError("climate header has reserved bits set")
        if ny == 0 or nx == 0 or fields == 0 or ny * nx * fields > MAX_DECODE_VALUES:
            raise FormatError(f"climate header has {fields} fields of {ny}x{nx}: empty or beyond the decoder limit")
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise FormatError(f"climate value range [{lo}, {hi}] is invalid")
        offset = DESCRIPTOR.size
        template, offset = _blob(meta, offset)
        mask = b""
        if flags & FLAG_MASK:
            mask, offset = _blob(meta, offset)
        if bool(flags & FLAG_TEMPLATE_DICTIONARY) != climate_template.uses_dictionary(template):
            raise FormatError("climate header flags disagree with the template's preset dictionary bit")
        coding, offset = CodingHeader.unpack_from(meta, offset, stack=True)
        residual = None
        if flags & FLAG_ERROR_BOUND:
            residual, offset = ResidualHeader.unpack_from(meta, offset)
        if offset != len(meta):
            raise FormatError(f"climate header has {len(meta)} bytes, expected {offset}")
        return cls(ny, nx, fields, float(lo), float(hi), template, mask, coding, residual, bool(flags & FLAG_BOUNDS))

    def rate(self, file_bytes: int) -> float:
        """Bits per 2-D field of a file of `file_bytes` bytes."""
        return 8 * file_bytes / self.fields

    def describe(self, base_manifest: dict | None = None) -> dict:
        """The fields `inrcodec info` shows; a compact header's value range is its base's (None when the
        base's manifest is not at hand)."""
        t = climate_template.unpack(self.template, self.bounds)
        value_range = [self.lo, self.hi]
        if self.compact:
            stored = stored_range(base_manifest.get("value_range")) if base_manifest else None
            value_range = list(stored) if stored else None
        out = {"variable": t.name, "dims": dict(zip(t.dims, t.shape)), "units": str(t.attrs.get("units", "")),
               "fields": self.fields, "value_range": value_range, "mask_bytes": len(self.mask)}
        if t.bounds:
            out["bounds"] = list(t.bounds)
        if self.residual:
            out["max_error"] = self.residual.bound
        return out


def _blob(meta: bytes, offset: int) -> tuple[bytes, int]:
    """(the u32-length-prefixed bytes at `offset`, the offset after them)."""
    if len(meta) < offset + LENGTH.size:
        raise FormatError("climate header truncated")
    n = LENGTH.unpack_from(meta, offset)[0]
    start = offset + LENGTH.size
    if len(meta) < start + n:
        raise FormatError("climate header truncated")
    return meta[start : start + n], start + n


def stored_range(value_range) -> tuple[float, float] | None:
    """A base manifest's value_range as headers store it (two float32 values), or None when it has none."""
    if value_range is None:
        return None
    lo, hi = (struct.unpack("<f", struct.pack("<f", v))[0] for v in value_range)
    return lo, hi


def _byte(body: bytes, offset: int) -> int:
    if offset >= len(body):
        raise FormatError("compact climate header truncated")
    return body[offset]


def read(data: bytes) -> tuple[container.Container, ClimateHeader]:
    """Parses and checks the container and the climate header of .inr bytes (no network needed). A
    compact file comes back split into meta and payload, its header's lo, hi NaN (the base's range)."""
    box = container.unpack(data)
    if box.modality != container.MODALITY_CLIMATE:
        raise FormatError(f"file holds modality {box.modality}, not climate ({container.MODALITY_CLIMATE})")
    if box.compact:
        header, end = ClimateHeader.unpack_compact(box.meta)
        return dataclasses.replace(box, meta=box.meta[:end], payload=box.meta[end:]), header
    header = ClimateHeader.unpack(box.meta)
    return box, header
