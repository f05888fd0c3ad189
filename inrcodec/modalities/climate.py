"""The climate format: gridded fields (netCDF, GRIB, .npy, .npz) <-> .inr files (modality 3).

A field (*stack, ny, nx) is a stack of 2-D fields, each one signal on its grid; the base also sees
every grid point on the unit sphere (no seam at the date line, single-valued poles). Values are
mapped to [0, 1] by a range stored in the header (the base's own range when the field lies within
it). Missing values are stored losslessly as a mask and are not fitted. All fields share one
coding header and one range-coded stream, in which a latent level may be coded as its differences
from one field to the next (format 1.2) when that is smaller. The header is bitstream.climate's
ClimateHeader; the field's template and mask go to bytes and back through bitstream.climate_template.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import time
import warnings
from pathlib import Path

import numpy as np

from inrcodec.bitstream.coding import CodingHeader, quant_step
from inrcodec.core.config import NO_FIT, grid_shapes
from inrcodec.core import bases
from inrcodec import decoder
from inrcodec.bitstream import climate as climate_header
from inrcodec.bitstream import climate_template, container, residuals
from inrcodec.bitstream.climate import (MAX_DECODE_VALUES, MINOR_BOUNDS, MINOR_COMPACT, MINOR_ERROR_BOUND,
                                        MINOR_STACK_PREDICTION, MINOR_TEMPLATE_DICTIONARY, ClimateHeader)
from inrcodec.bitstream.dataset_settings import SEPARABLE_LATLON
from inrcodec.bitstream.residuals import ResidualHeader
from inrcodec.core.config import FitConfig
from inrcodec.errors import FormatError, InputError
from inrcodec.modalities.common import (Decoded, EncodeResult, Progress, StackVariable, base_for, check_base,
                                       generic_variable)
from inrcodec.signals import climate as climate_io
from inrcodec.signals import geometry
from inrcodec.signals.metrics import max_abs_error, psnr_range, rmse

NAME = "climate"
CODE = container.MODALITY_CLIMATE
SUFFIXES = climate_io.NETCDF_SUFFIXES + climate_io.GRIB_SUFFIXES + (".npy", ".npz")
OUTPUT_SUFFIX = ".nc"
RATE_UNIT = climate_header.RATE_UNIT
INPUT_BLOCK = 1 << 16  # Grid points whose fixed inputs are computed at a time.
# An error bound keeps this fraction of the value range for the float64 prediction to differ between CPUs
# (sums in another order, another libm's sin): many orders of magnitude above what they change.
PREDICTION_MARGIN = 2.0**-30


def read(path: str | Path, var: str | None = None, single_file: bool = False, **options) -> climate_io.Field:
    """The field of a file; for a single .inr file (`single_file`) one of at most MAX_DECODE_VALUES values,
    refused from its shape before its values are read."""
    return climate_io.read_field(path, var, MAX_DECODE_VALUES if single_file else None)


def base_value_range(base: bases.Base) -> tuple[float, float] | None:
    """The base's value range as headers store it (float32), or None when its manifest has none."""
    return climate_header.stored_range(base.manifest.get("value_range"))


def value_range(field: climate_io.Field, base: bases.Base) -> tuple[float, float]:
    """The physical range mapped to [0, 1]: the base's when the field lies within it (+-10 %), else the field's."""
    data = field.values[field.valid]
    lo, hi = float(data.min()), float(data.max())
    if "value_range" in base.manifest:
        base_lo, base_hi = base.manifest["value_range"]
        margin = 0.1 * (base_hi - base_lo)
        if lo >= base_lo - margin and hi <= base_hi + margin:
            return base_value_range(base)
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
    out = np.empty((ny, nx, 3), np.float32)
    rows = max(1, INPUT_BLOCK // nx)
    lats, lons = geometry.global_grid(ny, nx)
    for start in range(0, ny, rows):  # Elementwise: blocks of rows only bound the float64 temporaries.
        if latlon is None:
            lat, lon = np.meshgrid(lats[start : start + rows], lons, indexing="ij")
        else:
            lat, lon = latlon[start : start + rows, :, 0], latlon[start : start + rows, :, 1]
        out[start : start + rows] = base.cfg.input_scale * geometry.sphere_inputs(lat, lon)
    return out


def metrics(field: climate_io.Field, values: np.ndarray, lo: float, hi: float, base: bases.Base) -> dict:
    """RMSE and max abs error in the field's units; PSNR over the base's range (COIN++'s ERA5 convention)."""
    ref_lo, ref_hi = base.manifest.get("value_range", (lo, hi))
    return {
        "rmse": rmse(field.values, values, field.valid),
        "max_abs_error": max_abs_error(field.values, values, field.valid),
        "psnr": psnr_range(field.values, values, ref_lo, ref_hi, field.valid),
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
    return np.where(valid, physical(values, lo, hi), np.nan)


def physical(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Coded values in [0, 1] -> physical values (float64, same shape), elementwise."""
    return lo + (hi - lo) * np.asarray(values, np.float64)


def encode(
    field: climate_io.Field,
    base: bases.Base,
    quality: int,
    fit_cfg: FitConfig = FitConfig(),
    seed: int = 0,
    progress: Progress | None = None,
    max_error: float | None = None,
    rel_error: float | None = None,
    **options,
) -> EncodeResult:
    """Encodes every 2-D field of `field` (fitted together in vmapped chunks) at one quality level.

    With `max_error` (in the variable's units) or `rel_error` (a fraction of the valid values' range),
    every decoded value lies within that bound of the original: the network's prediction plus coded
    residuals (format 1.5, bitstream.residuals). Quality NO_FIT (bounds only) skips the fit.
    """
    check_base(base, NAME)
    started = time.perf_counter()
    ny, nx = field.values.shape[-2:]
    if ny > 65535 or nx > 65535 or field.values.size > MAX_DECODE_VALUES:
        raise InputError(f"a field of shape {field.values.shape} is too large for format 1 (grids up to 65535 x 65535, "
                         f"at most {MAX_DECODE_VALUES} values); compress it with inrcodec.compress_dataset instead")
    bound = error_bound(field, max_error, rel_error)
    if quality == NO_FIT and bound is None:
        raise InputError(f"quality {NO_FIT} (no fit) needs an error bound (--max-error or --rel-error)")
    lo, hi = value_range(field, base)
    stacked = signals(field, lo, hi, base)
    n = stacked["values"].shape[0]
    if quality == NO_FIT:  # Zero latents: the base's own field predicts; no JAX, no fitting.
        coding = CodingHeader(0, 0, (0,) * base.cfg.levels, (), ())
        ints, latents = [np.zeros((n, *s), np.int32) for s in grid_shapes((ny, nx), base.cfg)], b""
    else:
        from inrcodec import codec  # Here: decoding needs no JAX.

        coded = codec.encode_batch(stacked, base, quality, fit_cfg, seed, progress, stack_prediction=True)
        coding, ints, latents = coded.header, coded.ints, coded.payload()
    template = climate_template.pack(field.template)
    residual, extra = None, b""
    if bound is not None:
        prediction = _prediction(ints, coding.step_index, stacked["inputs"], base, lo, hi)
        residual, extra, values = _bounded(field, prediction, bound, lo, hi)
    else:
        values = from_unit(coded.values[..., 0].reshape(field.values.shape), field.valid, lo, hi)
    header = ClimateHeader(ny, nx, n, lo, hi, template, climate_template.pack_mask(field.valid), coding, residual,
                           climate_template.has_bounds(field.template))
    meta = header.pack()
    if len(meta) > container.MAX_META_BYTES:
        raise InputError(f"the field's description takes {len(meta)} bytes, more than one .inr file holds; "
                         "compress the stack with inrcodec.compress_dataset instead")
    minor = (MINOR_BOUNDS if header.bounds else MINOR_ERROR_BOUND if residual else MINOR_STACK_PREDICTION if coding.predicted else
             MINOR_TEMPLATE_DICTIONARY if header.dictionary else container.FORMAT_MINOR)
    compact = header.compact_meta() if (lo, hi) == base_value_range(base) else None
    if compact is not None:  # A bare 2-D field in the base's range: the compact profile says all of it.
        meta, minor = compact, MINOR_COMPACT
    data = container.pack(container.Container(CODE, base.base_id, meta, latents + extra, minor, compact is not None))
    recon = climate_io.to_dataarray(values, climate_template.unpack(template, header.bounds))  # Exactly what decoding gives.
    m = metrics(field, values, lo, hi, base)
    return EncodeResult(data, recon, quality, header.rate(len(data)), RATE_UNIT, m["psnr"], m, time.perf_counter() - started)


def error_bound(field: climate_io.Field, max_error: float | None, rel_error: float | None) -> float | None:
    """The absolute bound of `max_error` or `rel_error` (a fraction of the valid values' range), or None."""
    if max_error is not None and rel_error is not None:
        raise InputError("give an absolute (--max-error) or a relative (--rel-error) bound, not both")
    given = max_error if max_error is not None else rel_error
    if given is None:
        return None
    if not (np.isfinite(given) and given > 0):
        raise InputError(f"the error bound must be a positive number, got {given}")
    if max_error is not None:
        return float(max_error)
    data = field.values[field.valid]
    spread = float(data.max() - data.min()) if data.size else 0.0
    if spread == 0:
        raise InputError("a relative bound needs values that vary; the field is constant (give --max-error)")
    return float(rel_error) * spread


def storage_margin(encoding: dict, magnitude: float) -> float:
    """How far writing a value of at most `magnitude` to the source's storage (dtype, packing) can move it."""
    dtype = np.dtype(encoding.get("dtype", np.float64))
    if "scale_factor" in encoding or dtype.kind in "iu":
        return 0.5 * abs(float(encoding.get("scale_factor", 1.0)))
    if dtype.kind == "f" and dtype.itemsize < 8:
        return float(np.spacing(np.array(magnitude, dtype))) if np.isfinite(magnitude) else np.inf
    return 0.0


def _prediction(ints: list[np.ndarray], step_index: int, inputs: np.ndarray, base: bases.Base, lo: float,
                hi: float) -> np.ndarray:
    """The float64 prediction (N, ny, nx) of coded latents, in physical units: what the decoder computes.

    Without latents every field has the same prediction: it is computed once (same bits as N times).
    """
    n, ny, nx = inputs.shape[:3]
    if not any(np.any(q) for q in ints):
        ints, inputs = [np.zeros((1, *q.shape[1:]), np.int32) for q in ints], inputs[:1]
    out = np.empty((len(inputs), ny, nx, 1), np.float64)
    decoder.reconstruct_batch(base, ints, (ny, nx), quant_step(step_index), inputs, out=out,
                              convert=lambda band: physical(band, lo, hi), dtype=np.float64)
    return np.broadcast_to(out[..., 0], (n, ny, nx))


def _bounded(field: climate_io.Field, prediction: np.ndarray, bound: float, lo: float,
             hi: float, encoding: dict | None = None) -> tuple[ResidualHeader, bytes, np.ndarray]:
    """(error-bound fields, residual bytes, decoded values (field shape, NaN where missing)) that put every
    valid value within `bound` of the original, after the decoder's float64 arithmetic and the output's storage
    (`encoding`, default the field's template's)."""
    x = field.values.reshape(prediction.shape)
    valid = field.valid.reshape(prediction.shape)
    magnitude = float(np.abs(x[valid]).max(initial=0.0)) + bound
    if encoding is None:
        encoding = field.template.encoding if field.template else {}
    margin = PREDICTION_MARGIN * (hi - lo) + storage_margin(encoding, magnitude)
    inner = bound - margin  # What the residuals must meet before the storage and another CPU's rounding.
    if not inner > magnitude * 2.0**-40:
        raise InputError(f"the error bound {bound:g} is below what the decoded values can resolve "
                         f"({margin:.3g} for this variable's storage and range)")
    step = 2.0 * inner * (1.0 - 2.0**-20)  # Rounding p + decoded residual cannot carry it past `inner`.
    e = np.where(valid, x - prediction, 0.0)
    if not np.abs(e).max(initial=0.0) < step * 2.0**32:
        raise InputError(f"the error bound {bound:g} is too small for this field's values (residuals beyond 2^32 steps)")
    try:
        (predictor, shift, index, context, groups), symbols, decoded = residuals.choose(e, valid, step)
    except ValueError:
        raise InputError(f"the error bound {bound:g} is too small for this field's values") from None
    values = prediction + decoded  # A new array (prediction may be a broadcast view).
    if not (np.abs(x - values)[valid] <= inner).all():
        raise RuntimeError("error-bounded residuals missed their bound")  # Never: tests/test_error_bound.py.
    sizes = residuals.group_sizes(valid, predictor) if groups else None
    stream, raw = residuals.encode(symbols, shift, index, context, groups, sizes)
    header = ResidualHeader(bound, step, predictor, shift, index, context, len(stream), groups)
    values[~valid] = np.nan
    return header, stream + raw, values.reshape(field.values.shape)


read_header = climate_header.read  # (container, ClimateHeader) of .inr bytes: the bitstream's reader.


def decode(data: bytes, base: bases.Base | None = None) -> Decoded:
    """Decodes .inr bytes to an xarray DataArray like the source. Deterministic."""
    box, header = read_header(data)
    base = base_for(box, base)
    if header.compact:  # Its values map to [0, 1] by the base's range.
        stored = base_value_range(base)
        if stored is None:
            raise FormatError(f"compact file needs a base with a value range; {base.name} has none")
        header = header.with_range(*stored)
    template = climate_template.unpack(header.template, header.bounds)
    shape = template.field_shape
    if int(np.prod(shape[:-2], dtype=np.int64)) != header.fields or tuple(shape[-2:]) != (header.ny, header.nx):
        raise FormatError(f"template shape {shape} does not match {header.fields} fields of {header.ny}x{header.nx}")
    valid = climate_template.unpack_mask(header.mask, shape)
    inputs = grid_inputs(climate_io.template_latlon(template), header.ny, header.nx, base)
    inputs = np.broadcast_to(inputs, (header.fields, *inputs.shape))
    stack = (header.fields, header.ny, header.nx)
    latents, residual = _split_payload(box.payload, header, valid.reshape(stack))
    no_latents = not any(header.coding.scale_indices) and len(header.coding.scale_indices) == base.cfg.levels
    if header.residual and no_latents:  # The encoder's _prediction, and its values + decoded residual.
        zeros = [np.zeros((1, *s), np.int32) for s in grid_shapes((header.ny, header.nx), base.cfg)]
        values = (_prediction(zeros, header.coding.step_index, inputs, base, header.lo, header.hi)
                  + residual).reshape(shape)
    else:  # Physical values band by band (from_unit, missing values set below): no float32 copy of the stack.
        values = np.empty((*stack, 1), np.float64)
        decoder.decode_batch(header.coding, latents, base, header.fields, (header.ny, header.nx), inputs, out=values,
                             convert=lambda band: physical(band, header.lo, header.hi),
                             dtype=np.float64 if header.residual else np.float32)
        values = values.reshape(shape)
        if header.residual:
            values += residual.reshape(shape)  # As the encoder's prediction + decoded residual.
    values[~valid] = np.nan
    return Decoded(climate_io.to_dataarray(values, template), header, base)


def _split_payload(payload: bytes, header: ClimateHeader, valid: np.ndarray) -> tuple[bytes, np.ndarray | None]:
    """(the latents' stream, the decoded residuals (F, ny, nx) float64 or None) of a payload."""
    if header.residual is None:
        return payload, None
    h = header.residual
    raw = h.raw_bytes(h.coded_count(valid))
    latent_bytes = len(payload) - h.stream_bytes - raw
    if latent_bytes < 0:
        raise FormatError("error-bounded residual payload is truncated")
    stream = payload[latent_bytes : latent_bytes + h.stream_bytes]
    return payload[:latent_bytes], residuals.decode(h, stream, payload[latent_bytes + h.stream_bytes :], valid)


def write(decoded: Decoded, suffix: str = OUTPUT_SUFFIX) -> bytes:
    """The decoded field as a netCDF file."""
    if suffix.lower() not in (".nc", ".nc4"):
        raise InputError(f"climate fields decode to .nc, not {suffix}")
    try:
        return climate_io.netcdf_bytes(decoded.array)
    except (ValueError, RuntimeError, TypeError, OverflowError) as e:  # netCDF refuses the stored description.
        raise FormatError(f"the file's description of the field cannot be written as netCDF ({e})") from None


def summary(decoded: Decoded) -> str:
    h = decoded.header
    bound = f", every value within {h.residual.bound:.4g}" if h.residual else ""
    return f"{h.fields} field(s) of {h.ny}x{h.nx}, variable {decoded.array.name}{bound}"


# --- plug-in members besides the codec (modalities.Modality) -------------------------------------------

READ_OPTIONS = ("var",)  # The variable to read from a file holding several.
ENCODE_OPTIONS = ("max_error", "rel_error")  # Error bounds (absolute, or a fraction of the values' range).
TRAIN_CROPS = False  # Meta-training sees whole fields: the inputs are positions on the sphere.
FIXED_RANGE = True  # Physical values map to [0, 1] by the base's value_range.


def _is_dataarray(signal) -> bool:
    import xarray as xr

    return isinstance(signal, xr.DataArray)


def accepts(signal) -> bool:
    """A Field or an xarray DataArray."""
    return isinstance(signal, climate_io.Field) or _is_dataarray(signal)


def native(signal) -> climate_io.Field:
    return climate_io.from_dataarray(signal) if _is_dataarray(signal) else signal


# Evaluation: decoded fields and reconstructions are DataArrays, the originals Fields.


def positions(field: climate_io.Field) -> int:
    """Grid points of every 2-D field."""
    return int(field.values.size)


def item_shape(field: climate_io.Field) -> tuple:
    return tuple(field.values.shape)


def same(a, b) -> bool:
    return np.array_equal(np.asarray(a.values), np.asarray(b.values), equal_nan=True)


def distortion(field: climate_io.Field, decoded: Decoded) -> dict[str, float]:
    values = climate_io.from_dataarray(decoded.array).values
    return metrics(field, values, decoded.header.lo, decoded.header.hi, decoded.base)


def _pack_latlon(latlon: np.ndarray | None) -> str:
    """Base64 of zlib of the (ny, nx, 2) float64 degrees, or for a grid whose latitudes vary along y only
    and longitudes along x only, SEPARABLE_LATLON + base64 of zlib of its ny latitudes and nx longitudes
    (ARCHIVE.md, appendix); "" for a regular global grid."""
    import zlib

    if latlon is None:
        return ""
    lat, lon = latlon[:, 0, 0], latlon[0, :, 1]
    if (latlon[..., 0] == lat[:, None]).all() and (latlon[..., 1] == lon[None, :]).all():
        raw = np.concatenate([lat, lon]).astype("<f8").tobytes()
        return SEPARABLE_LATLON + base64.b64encode(zlib.compress(raw, 9)).decode()
    return base64.b64encode(zlib.compress(latlon.astype("<f8").tobytes(), 9)).decode()


def _stack_latlon(settings) -> np.ndarray | None:
    return _unpack_latlon(settings.latlon, tuple(settings.shape))


@functools.lru_cache(maxsize=4)
def _unpack_latlon(packed: str, shape: tuple[int, int]) -> np.ndarray | None:
    """Inverse of `_pack_latlon` for fields of `shape` (read-only: it is shared)."""
    import zlib

    if not packed:
        return None
    ny, nx = shape
    separable = packed.startswith(SEPARABLE_LATLON)
    size = 8 * (ny + nx if separable else 2 * ny * nx)
    raw = zlib.decompress(base64.b64decode(packed[len(SEPARABLE_LATLON) :] if separable else packed), bufsize=size)
    if len(raw) != size:
        raise FormatError("archive settings: the grid coordinates do not match the shape")
    degrees = np.frombuffer(raw, "<f8")
    if separable:
        latlon = np.stack(np.broadcast_arrays(degrees[:ny, None], degrees[None, ny:]), axis=-1)
    else:
        latlon = degrees.reshape(ny, nx, 2)
    latlon.setflags(write=False)
    return latlon


def _stack_mask(settings) -> np.ndarray:
    """The valid points (ny, nx) every item shares."""
    if not settings.mask:
        return np.ones(settings.shape, bool)
    return climate_template.unpack_mask(bytes.fromhex(settings.mask), settings.shape)


def stack_items(items, dim: str | None):
    """A DataArray (split along `dim`, default its leading dims, into 2-D fields; read slab by slab, so a
    Dask-backed one stays lazy until its fields are fitted) or a float array (N, ny, nx)."""
    if _is_dataarray(items):
        template, latlon, ordered = climate_io.stack_view(items if dim is None else items.transpose(dim, ...))
        packed = base64.b64encode(climate_template.pack(template)).decode()
        return FieldSlabs(ordered), {"latlon": _pack_latlon(latlon), "template": packed}
    if isinstance(items, np.ndarray):
        return items, {}
    return None


class FieldSlabs:
    """The 2-D fields of a DataArray (*stack, ny, nx) as a sequence, read SLAB fields at a time."""

    SLAB = 256

    def __init__(self, ordered):
        self._da = ordered
        self._stack = tuple(ordered.shape[:-2])

    def __len__(self) -> int:
        return int(np.prod(self._stack, dtype=np.int64))

    def slab(self, start: int, stop: int, load: bool = True):
        """Fields start..stop-1 (C order of the stack dims), (n, ny, nx): numpy, or with load=False the
        DataArray's own (lazy: Dask) array."""
        da = self._da
        if self._stack:
            index = np.unravel_index(np.arange(start, min(stop, len(self))), self._stack)
            dims = da.dims[: len(self._stack)]
            da = da.isel({d: xr_index(i) for d, i in zip(dims, index)})  # -> ("item", y, x)
        else:
            da = da.expand_dims("item")
        if not load:
            return da.data
        values = np.asarray(da.values, dtype=np.float64)
        climate_io.check_values(values, f"DataArray {da.name!r}, fields {start}..{stop - 1}")
        return values

    def __iter__(self):
        for start in range(0, len(self), self.SLAB):
            yield from self.slab(start, start + self.SLAB)


def xr_index(positions: np.ndarray):
    """A vectorized xarray indexer along a new "item" dim."""
    import xarray as xr

    return xr.DataArray(positions, dims="item")


def item_array(field: climate_io.Field) -> np.ndarray:
    """The first 2-D field."""
    return field.values.reshape(-1, *field.values.shape[-2:])[0]


def stack_layout(items: np.ndarray, base: bases.Base, hints: dict) -> dict:
    """The value range (the base's when the items lie within it), the first item's mask, the grid."""
    shape = tuple(items.shape[1:])
    if len(shape) != 2:
        raise InputError(f"climate items must be 2-D fields, got shape {shape}")
    valid = ~np.isnan(items)
    if not valid.any():
        raise InputError("the first fields have no values")
    lo, hi = value_range(climate_io.Field(items.astype(np.float64), valid, None, None, "", ""), base)
    return {"lo": lo, "hi": hi, "mask": climate_template.pack_mask(valid[0]).hex(), "latlon": hints.get("latlon", ""),
            "template": hints.get("template", "")}


def check_stack(items: np.ndarray, settings, first: int) -> None:
    """Every item has the stack's missing values."""
    same_mask = (~np.isnan(items) == _stack_mask(settings)).reshape(len(items), -1).all(axis=1)
    if not same_mask.all():
        raise InputError(f"item {first + int(np.argmin(same_mask))}: its missing values differ from the first "
                         "item's (one mask per archive)")


def stack_signals(items: np.ndarray, settings, base: bases.Base) -> dict:
    valid = np.broadcast_to(_stack_mask(settings), items.shape)
    field = climate_io.Field(items.astype(np.float64), valid, _stack_latlon(settings), None, "", "")
    return signals(field, settings.lo, settings.hi, base)


def stack_arrays(values: np.ndarray, settings) -> np.ndarray:
    return from_unit(values[..., 0], _stack_mask(settings), settings.lo, settings.hi)


def bound_block(items: np.ndarray, ints: list[np.ndarray], settings, base: bases.Base) -> bytes:
    """The residual section of an archive block (ARCHIVE.md, appendix): a residual descriptor, stream and
    raw bits that put every valid value of `items` (n, ny, nx) within settings.max_error of what
    `decode_bounded_block` gives from the block's int latents `ints` (per level (n, *grid, c))."""
    valid = np.broadcast_to(_stack_mask(settings), items.shape)
    field = climate_io.Field(np.asarray(items, np.float64), valid, None, None, "", "")
    inputs = stack_inputs(settings, base, len(items))
    prediction = _prediction(ints, settings.step_index, inputs, base, settings.lo, settings.hi)
    header, extra, _ = _bounded(field, prediction, settings.max_error, settings.lo, settings.hi,
                                _template_encoding(settings.template))
    return header.pack() + extra


def decode_bounded_block(ints: list[np.ndarray], section: bytes, settings, base: bases.Base) -> np.ndarray:
    """Inverse of `bound_block`: the block's items (n, ny, nx) float64, NaN where missing."""
    n = ints[0].shape[0]
    if n == 0:
        raise FormatError("an error-bounded block holds no fields")
    valid = np.broadcast_to(_stack_mask(settings), (n, *settings.shape))
    header, offset = ResidualHeader.unpack_from(section, 0)
    if header.bound != settings.max_error:
        raise FormatError(f"block residuals have bound {header.bound}, the archive {settings.max_error}")
    end = offset + header.stream_bytes
    residual = residuals.decode(header, section[offset:end], section[end:], valid)  # Checks both lengths.
    inputs = stack_inputs(settings, base, n)
    values = _prediction(ints, settings.step_index, inputs, base, settings.lo, settings.hi) + residual
    values[~valid] = np.nan
    return values


@functools.lru_cache(maxsize=4)
def _template_encoding(template: str) -> dict:
    """The on-disk encoding (dtype, packing) of an archive's packed template ("" = none: float64)."""
    if not template:
        return {}
    raw = base64.b64decode(template, validate=True)
    return climate_template.unpack(raw, bounds=None, max_values=1 << 62).encoding


def signal_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape)


def stack_inputs(settings, base: bases.Base, n: int) -> np.ndarray:
    grid = grid_inputs(_stack_latlon(settings), *settings.shape, base)
    return np.broadcast_to(grid, (n, *grid.shape))


def stack_variable(settings, n: int) -> StackVariable:
    """The source variable (dims, coordinates, attributes of its template) when the archive holds all of its
    fields, else n fields along "item" (with 2-D latitude/longitude on a grid that has them)."""
    import xarray as xr

    ny, nx = settings.shape
    if settings.template:
        try:
            raw = base64.b64decode(settings.template, validate=True)
        except ValueError as e:  # binascii.Error
            raise FormatError(f"archive settings: the template is not base64 ({e})") from None
        t = climate_template.unpack(raw, bounds=None, max_values=max(n * ny * nx, climate_template.MAX_VALUES))
        if t.field_shape[-2:] == (ny, nx) and int(np.prod(t.field_shape[:-2], dtype=np.int64)) == n:
            coords = {name: xr.Variable(c.dims, c.values, c.attrs, c.encoding) for name, c in {**t.coords, **t.bounds}.items()}
            return StackVariable(t.name, t.dims, dict(zip(t.dims, t.shape)), t.field_dims, coords, t.attrs,
                                 t.global_attrs, t.encoding)
        warnings.warn(f"the archive holds {n} of the {int(np.prod(t.field_shape[:-2], dtype=np.int64))} fields of "
                      f"{t.name!r} (an interrupted run? resume it): read as {n} items", stacklevel=3)
    variable = generic_variable("field", ("y", "x"), n, (ny, nx))
    latlon = _stack_latlon(settings)
    if latlon is not None:
        variable.coords.update({"latitude": xr.Variable(("y", "x"), latlon[..., 0], {"units": "degrees_north"}),
                                "longitude": xr.Variable(("y", "x"), latlon[..., 1], {"units": "degrees_east"})})
    return variable


def train_config(cfg, items: np.ndarray):
    """The recipe with the items' value range and grid."""
    if items.ndim != 3 or not np.isfinite(items).any():
        raise InputError("climate items must be 2-D fields with values to train a base network on")
    lo, hi = float(np.nanmin(items)), float(np.nanmax(items))
    return dataclasses.replace(cfg, value_range=(lo, hi if hi > lo else lo + 1.0), grid=items.shape[1:])
