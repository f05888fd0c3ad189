"""The climate format: gridded fields (netCDF, GRIB, .npy, .npz) <-> .inr files (modality 3).

A field (*stack, ny, nx) is a stack of 2-D fields, each one signal on its grid; the base also sees
every grid point on the unit sphere (no seam at the date line, single-valued poles). Values are
mapped to [0, 1] by a range stored in the header (the base's own range when the field lies within
it). Missing values are stored losslessly as a mask and are not fitted. All fields share one
coding header and one range-coded stream, in which a latent level may be coded as its differences
from one field to the next (format 1.2) when that is smaller. Header meta (SPEC.md): ny u16, nx u16, fields u32,
flags u8, reserved u8, lo f32, hi f32, template (u32 length + bytes), mask (u32 length + bytes),
coding fields.
"""

from __future__ import annotations

import dataclasses
import struct
import time
from pathlib import Path

import numpy as np

from inrcodec.core import bases
from inrcodec import codec
from inrcodec.training import samplers
from inrcodec.bitstream import container
from inrcodec.core.config import FitConfig
from inrcodec.errors import FormatError, InputError
from inrcodec.modalities.common import Decoded, EncodeResult, Progress, check_base, open_container
from inrcodec.signals import climate as climate_io
from inrcodec.signals import metrics

NAME = "climate"
CODE = container.MODALITY_CLIMATE
SUFFIXES = climate_io.NETCDF_SUFFIXES + climate_io.GRIB_SUFFIXES + (".npy", ".npz")
OUTPUT_SUFFIX = ".nc"
RATE_UNIT = "bits per field"
DESCRIPTOR = struct.Struct("<HHIBBff")  # ny, nx, fields, flags, reserved, lo, hi.
LENGTH = struct.Struct("<I")
FLAG_MASK = 1  # A mask of missing values follows the template.
FLAG_TEMPLATE_DICTIONARY = 2  # The template's zlib stream uses climate_io.TEMPLATE_DICTIONARY (format 1.1).
MINOR_TEMPLATE_DICTIONARY = 1  # Container minor version of files that set FLAG_TEMPLATE_DICTIONARY.
MINOR_STACK_PREDICTION = 2  # Container minor version of stacks coded with entropy model 2 (codec.ENTROPY_MODEL_STACK).
MAX_DECODE_VALUES = climate_io.MAX_VALUES


@dataclasses.dataclass(frozen=True)
class ClimateHeader:
    ny: int
    nx: int
    fields: int  # 2-D fields in the stack.
    lo: float  # Physical value of 0 in the coded [0, 1] range (float32).
    hi: float  # Physical value of 1.
    template: bytes  # climate_io.field_template: dims, coordinates, attributes (everything but values).
    mask: bytes  # climate_io.pack_mask of the valid points; b"" when every value exists.
    coding: codec.CodingHeader

    @property
    def dictionary(self) -> bool:
        """Whether the template is compressed with the preset dictionary (flags bit 1, format 1.1)."""
        return climate_io.uses_dictionary(self.template)

    def pack(self) -> bytes:
        flags = (FLAG_MASK if self.mask else 0) | (FLAG_TEMPLATE_DICTIONARY if self.dictionary else 0)
        return (DESCRIPTOR.pack(self.ny, self.nx, self.fields, flags, 0, self.lo, self.hi)
                + LENGTH.pack(len(self.template)) + self.template
                + (LENGTH.pack(len(self.mask)) + self.mask if self.mask else b"") + self.coding.pack())

    @classmethod
    def unpack(cls, meta: bytes) -> "ClimateHeader":
        if len(meta) < DESCRIPTOR.size:
            raise FormatError("climate header truncated")
        ny, nx, fields, flags, reserved, lo, hi = DESCRIPTOR.unpack_from(meta)
        if flags & ~(FLAG_MASK | FLAG_TEMPLATE_DICTIONARY) or reserved:
            raise FormatError("climate header has reserved bits set")
        if ny == 0 or nx == 0 or fields == 0 or ny * nx * fields > MAX_DECODE_VALUES:
            raise FormatError(f"climate header has {fields} fields of {ny}x{nx}: empty or beyond the decoder limit")
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise FormatError(f"climate value range [{lo}, {hi}] is invalid")
        offset = DESCRIPTOR.size
        template, offset = _blob(meta, offset)
        mask = b""
        if flags & FLAG_MASK:
            mask, offset = _blob(meta, offset)
        if bool(flags & FLAG_TEMPLATE_DICTIONARY) != climate_io.uses_dictionary(template):
            raise FormatError("climate header flags disagree with the template's preset dictionary bit")
        coding, offset = codec.CodingHeader.unpack_from(meta, offset, stack=True)
        if offset != len(meta):
            raise FormatError(f"climate header has {len(meta)} bytes, expected {offset}")
        return cls(ny, nx, fields, float(lo), float(hi), template, mask, coding)


def _blob(meta: bytes, offset: int) -> tuple[bytes, int]:
    if len(meta) < offset + LENGTH.size:
        raise FormatError("climate header truncated")
    n = LENGTH.unpack_from(meta, offset)[0]
    start = offset + LENGTH.size
    if len(meta) < start + n:
        raise FormatError("climate header truncated")
    return meta[start : start + n], start + n


def read(path: str | Path, var: str | None = None, **options) -> climate_io.Field:
    return climate_io.read_field(path, var)


def value_range(field: climate_io.Field, base: bases.Base) -> tuple[float, float]:
    """The physical range mapped to [0, 1]: the base's when the field lies within it (+-10 %), else the field's."""
    data = field.values[field.valid]
    lo, hi = float(data.min()), float(data.max())
    if "value_range" in base.manifest:
        base_lo, base_hi = base.manifest["value_range"]
        margin = 0.1 * (base_hi - base_lo)
        if lo >= base_lo - margin and hi <= base_hi + margin:
            return float(np.float32(base_lo)), float(np.float32(base_hi))
    if hi <= lo:
        hi = lo + 1.0
    return float(np.float32(lo)), float(np.float32(hi))


def grid_inputs(latlon: np.ndarray | None, ny: int, nx: int, base: bases.Base) -> np.ndarray:
    """The base's fixed inputs (ny, nx, 3): grid points on the unit sphere, times the base's input scale.

    Arrays without coordinates are taken as regular global grids, north to south, from 0 deg E.
    A base without fixed inputs gets a (ny, nx, 0) array.
    """
    if base.cfg.input_features == 0:
        return np.zeros((ny, nx, 0), np.float32)
    if latlon is None:
        lat, lon = samplers.global_grid(ny, nx)
        lat, lon = np.meshgrid(lat, lon, indexing="ij")
    else:
        lat, lon = latlon[..., 0], latlon[..., 1]
    return base.cfg.input_scale * samplers.sphere_inputs(lat, lon)


def metrics(field: climate_io.Field, values: np.ndarray, lo: float, hi: float, base: bases.Base) -> dict:
    """RMSE and max abs error in the field's units; PSNR over the base's range (COIN++'s ERA5 convention)."""
    ref_lo, ref_hi = base.manifest.get("value_range", (lo, hi))
    return {
        "rmse": metrics.rmse(field.values, values, field.valid),
        "max_abs_error": metrics.max_abs_error(field.values, values, field.valid),
        "psnr": metrics.psnr_range(field.values, values, ref_lo, ref_hi, field.valid),
    }


def signals(field: climate_io.Field, lo: float, hi: float, base: bases.Base) -> dict:
    """Stacked model signals of every 2-D field: values (N, ny, nx, 1), weights, inputs."""
    ny, nx = field.values.shape[-2:]
    n = int(np.prod(field.values.shape[:-2], dtype=np.int64))
    values = np.nan_to_num((field.values.reshape(n, ny, nx) - lo) / (hi - lo), nan=0.5).astype(np.float32)
    inputs = grid_inputs(field.latlon, ny, nx, base)
    return {"values": values[..., None], "weights": field.valid.reshape(n, ny, nx).astype(np.float32),
            "inputs": np.broadcast_to(inputs, (n, ny, nx, inputs.shape[-1]))}


def from_unit(values: np.ndarray, valid: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Coded values in [0, 1] -> physical values (float64), NaN where missing."""
    out = lo + (hi - lo) * np.asarray(values, np.float64)
    return np.where(valid, out, np.nan)


def encode(
    field: climate_io.Field,
    base: bases.Base,
    quality: int,
    fit_cfg: FitConfig = FitConfig(),
    seed: int = 0,
    progress: Progress | None = None,
) -> EncodeResult:
    """Encodes every 2-D field of `field` (fitted together in vmapped chunks) at one quality level."""
    check_base(base, NAME)
    started = time.perf_counter()
    ny, nx = field.values.shape[-2:]
    if ny > 65535 or nx > 65535:
        raise InputError(f"{ny}x{nx} grid is too large for format 1")
    lo, hi = value_range(field, base)
    stacked = signals(field, lo, hi, base)
    coded = codec.encode_batch(stacked, base, quality, fit_cfg, seed, progress, stack_prediction=True)
    n = stacked["values"].shape[0]
    header = ClimateHeader(ny, nx, n, lo, hi, field.template, climate_io.pack_mask(field.valid), coded.header)
    meta = header.pack()
    if len(meta) > container.MAX_META_BYTES:
        raise InputError(f"the field's description takes {len(meta)} bytes, more than one .inr file holds; "
                         "compress the stack with inrcodec.compress_dataset instead")
    minor = (MINOR_STACK_PREDICTION if coded.header.predicted else
             MINOR_TEMPLATE_DICTIONARY if header.dictionary else container.FORMAT_MINOR)
    data = container.pack(container.Container(CODE, base.base_id, meta, coded.payload(), minor))
    values = from_unit(coded.values[..., 0].reshape(field.values.shape), field.valid, lo, hi)
    recon = climate_io.to_dataarray(values, field.template)
    m = metrics(field, values, lo, hi, base)
    return EncodeResult(data, recon, quality, 8 * len(data) / n, RATE_UNIT, m["psnr"], m, time.perf_counter() - started)


def read_header(data: bytes) -> tuple[container.Container, ClimateHeader]:
    box = open_container(data, CODE, NAME)
    return box, ClimateHeader.unpack(box.meta)


def decode(data: bytes, base: bases.Base | None = None) -> Decoded:
    """Decodes .inr bytes to an xarray DataArray like the source. Deterministic."""
    box, header = read_header(data)
    base = base or bases.load_base(box.base_id)
    if base.base_id != box.base_id:
        raise FormatError(f"file needs base {box.base_id.hex()}, got {base.base_id.hex()}")
    template = climate_io.template_from_bytes(header.template)
    shape = template.field_shape
    if int(np.prod(shape[:-2], dtype=np.int64)) != header.fields or tuple(shape[-2:]) != (header.ny, header.nx):
        raise FormatError(f"template shape {shape} does not match {header.fields} fields of {header.ny}x{header.nx}")
    valid = climate_io.unpack_mask(header.mask, shape) if header.mask else np.ones(shape, bool)
    latlon = climate_io.from_dataarray(climate_io.to_dataarray(np.zeros(shape), header.template)).latlon
    inputs = grid_inputs(latlon, header.ny, header.nx, base)
    inputs = np.broadcast_to(inputs, (header.fields, *inputs.shape))
    values = codec.decode_batch(header.coding, box.payload, base, header.fields, (header.ny, header.nx), inputs)
    physical = from_unit(values[..., 0].reshape(shape), valid, header.lo, header.hi)
    return Decoded(climate_io.to_dataarray(physical, header.template), header, base)


def write(decoded: Decoded, suffix: str = OUTPUT_SUFFIX) -> bytes:
    """The decoded field as a netCDF file."""
    if suffix.lower() not in (".nc", ".nc4"):
        raise InputError(f"climate fields decode to .nc, not {suffix}")
    return climate_io.netcdf_bytes(decoded.array)


def rate(data: bytes, header: ClimateHeader) -> float:
    """Bits per 2-D field."""
    return 8 * len(data) / header.fields


def describe(header: ClimateHeader) -> dict:
    t = climate_io.template_from_bytes(header.template)
    return {"variable": t.name, "dims": dict(zip(t.dims, t.shape)), "units": str(t.attrs.get("units", "")),
            "fields": header.fields, "value_range": [header.lo, header.hi], "mask_bytes": len(header.mask)}


def summary(decoded: Decoded) -> str:
    h = decoded.header
    return f"{h.fields} field(s) of {h.ny}x{h.nx}, variable {decoded.array.name}"
