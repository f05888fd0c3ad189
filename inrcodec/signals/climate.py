"""Gridded fields: netCDF, GRIB, .npy, .npz <-> float64 values (*stack, ny, nx) + validity mask + template.

The last two dims of a field are its grid (latitude then longitude when the coordinates say which is
which); leading dims (time, level, member, ...) form a stack of 2-D fields. The template is a lossless,
compact description of everything except the values (name, dims, coordinates, attributes, encoding),
so decoding rebuilds the same variable in the same dim order.
"""

from __future__ import annotations

import json
import math
import re
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from inrcodec.errors import FormatError, InputError

MAX_VALUES = 1 << 28  # values per field; larger inputs are refused from the shape, before loading.
ERA5_T2M_RANGE = (202.66, 320.93)  # K: COIN++'s normalisation of ERA5 2 m temperature to [0, 1].
NETCDF_SUFFIXES = (".nc", ".nc4", ".cdf")
GRIB_SUFFIXES = (".grib", ".grib2", ".grb", ".grb2")
GLOBAL_ATTRS = "global_attrs"  # DataArray.encoding key carrying the dataset's global attributes.
DEFAULT_NAME = "values"  # variable name of unnamed arrays (.npy, unnamed DataArrays).

_LAT_NAMES = {"lat", "latitude", "nav_lat", "xlat"}
_LON_NAMES = {"lon", "longitude", "nav_lon", "xlong"}
_LAT_UNITS = {"degrees_north", "degree_north", "degrees_n", "degree_n", "degreesn", "degreen"}
_LON_UNITS = {"degrees_east", "degree_east", "degrees_e", "degree_e", "degreese", "degreee"}
# Encoding kept in the template: how the values and coordinates are stored on disk.
_ENCODING_KEYS = ("dtype", "_FillValue", "missing_value", "scale_factor", "add_offset", "units", "calendar",
                  "grid_mapping")
_ARRAY_KINDS = "biufSUMm"  # numpy kinds the template stores as raw little-endian bytes.
_MAX_TEMPLATE_BYTES = 1 << 30  # decompressed template size limit.
_TEMPLATE_VERSION = 1
_CFGRIB_HISTORY = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d GRIB to CDM\+CF via cfgrib")

# The preset dictionary of template zlib streams (SPEC.md section 3.3, climate flags bit 1): text that
# templates often contain (their JSON keys, CF and cfgrib attribute names and values), most common
# last. Part of the format: changing one byte changes its zlib DICTID and needs a new flag bit.
TEMPLATE_DICTIONARY = "".join((
    '"GRIB_gridDefinitionDescription":{"s":"Latitude/Longitude Grid"},"GRIB_iDirectionIncrementInDegrees":',
    '{"j":0.25},"GRIB_iScansNegatively":{"j":0},"GRIB_jDirectionIncrementInDegrees":{"j":0.25},',
    '"GRIB_jPointsAreConsecutive":{"j":0},"GRIB_jScansPositively":{"j":0},"GRIB_latitudeOfFirstGridPointInDegrees":',
    '{"j":90.0},"GRIB_latitudeOfLastGridPointInDegrees":{"j":-90.0},"GRIB_longitudeOfFirstGridPointInDegrees":',
    '{"j":0.0},"GRIB_longitudeOfLastGridPointInDegrees":{"j":359.0},"GRIB_missingValue":{"j":3.4028234663852886e+38},',
    '"GRIB_paramId":{"j":167},"GRIB_dataType":{"s":"an"},"GRIB_numberOfPoints":{"j":','"GRIB_typeOfLevel":{"s":"surface"},',
    '"GRIB_stepUnits":{"j":1},"GRIB_stepType":{"s":"instant"},"GRIB_gridType":{"s":"regular_ll"},',
    '"GRIB_uvRelativeToGrid":{"j":0},"GRIB_NV":{"j":0},"GRIB_Nx":{"j":','"GRIB_Ny":{"j":','"GRIB_cfName":{"s":"unknown"},',
    '"GRIB_cfVarName":{"s":"t2m"},"GRIB_name":{"s":"2 metre temperature"},"GRIB_shortName":{"s":"2t"},',
    '"GRIB_totalNumber":{"j":0},"GRIB_units":{"s":"K"},',
    '"global_attrs":{"GRIB_edition":{"j":1},"GRIB_centre":{"s":"ecmf"},"GRIB_centreDescription":',
    '{"s":"European Centre for Medium-Range Weather Forecasts"},"GRIB_subCentre":{"j":0},"Conventions":{"s":"CF-1.7"},',
    '"institution":{"s":"European Centre for Medium-Range Weather Forecasts"},',
    '{"name":"number","dims":[],"data":{"dtype":"<i8","shape":[],"at":0},"attrs":{"long_name":',
    '{"s":"ensemble member numerical id"},"units":{"s":"1"},"standard_name":{"s":"realization"}},',
    '"attrs":{"long_name":{"s":"initial time of forecast"},"standard_name":{"s":"forecast_reference_time"}},',
    '{"name":"step","dims":[],"data":{"dtype":"<m8[ns]","shape":[],"at":8},"attrs":{"long_name":',
    '{"s":"time since forecast_reference_time"},"standard_name":{"s":"forecast_period"}},"encoding":',
    '{"dtype":{"s":"<f8"},"units":{"s":"hours"}}},{"name":"surface","dims":[],"data":{"dtype":"<f8","shape":[],',
    '"at":16},"attrs":{"long_name":{"s":"original GRIB coordinate for key: level(surface)"},"units":{"s":"1"}},',
    '{"name":"valid_time","dims":["time"],"data":{"dtype":"<M8[ns]","start":',
    '"cell_methods":{"s":"time: mean"},"grid_mapping":{"s":"rotated_pole"},"coordinates":{"s":"lat lon"},',
    '"history":{"s":"","source":{"s":"","title":{"s":"","references":{"s":"","comment":{"s":"",',
    '"Conventions":{"s":"CF-1.6"},"_FillValue":{"a":{"dtype":"<f4","shape":[],"at":0},"scalar":true},',
    '"missing_value":{"a":{"dtype":"<f4","shape":[],"at":0},"scalar":true},"scale_factor":{"a":{"dtype":"<f8",',
    '"shape":[],"at":0},"scalar":true},"add_offset":{"a":{"dtype":"<f8","shape":[],"at":0},"scalar":true},',
    '"units":{"s":"days since 1850-01-01 00:00:00"},"calendar":{"s":"standard"},"calendar":{"s":"noleap"},',
    '"units":{"s":"hours since 1900-01-01 00:00:00.0"},"calendar":{"s":"gregorian"},',
    '"units":{"s":"seconds since 1970-01-01T00:00:00"},"calendar":{"s":"proleptic_gregorian"}},',
    '"long_name":{"s":"Near-Surface Air Temperature"},"standard_name":{"s":"air_temperature"},',
    '"long_name":{"s":"2 metre temperature"},"units":{"s":"K"},"standard_name":{"s":"unknown"}},',
    '"long_name":{"s":"Sea Surface Temperature"},"standard_name":{"s":"sea_surface_temperature"},',
    '"units":{"s":"degC"},"units":{"s":"K"},"units":{"s":"hPa"},"units":{"s":"m"},',
    '"axis":{"s":"T"},"axis":{"s":"Z"},"axis":{"s":"X"}},"axis":{"s":"Y"}},"positive":{"s":"down"},',
    '{"name":"time","dims":["time"],"data":{"dtype":"<f8","shape":[',
    '{"name":"lon","dims":["lon"],"data":{"dtype":"<f4","start":0.0,"step":',
    '{"name":"lat","dims":["lat"],"data":{"dtype":"<f4","start":-90.0,"step":',
    '"attrs":{"units":{"s":"degrees_north"},"standard_name":{"s":"latitude"},"long_name":{"s":"latitude"},',
    '"stored_direction":{"s":"decreasing"}},"encoding":{"dtype":{"s":"<f8"}}},',
    '{"name":"longitude","dims":["longitude"],"data":{"dtype":"<f8","start":0.0,"step":',
    '"attrs":{"units":{"s":"degrees_east"},"standard_name":{"s":"longitude"},"long_name":{"s":"longitude"}},',
    '{"name":"latitude","dims":["latitude"],"data":{"dtype":"<f8","start":90.0,"step":',
    '"dims":["time","latitude","longitude"],"grid":["latitude","longitude"],',
    '"dims":["time","lat","lon"],"grid":["lat","lon"],"coords":[{"name":"',
    '{"v":1,"name":"values","dims":["dim_0","dim_1"],"shape":[',
    '"],"grid":["dim_0","dim_1"],"coords":[],"attrs":{},"global_attrs":{},"encoding":{}}',
)).encode()


@dataclass(frozen=True)
class Field:
    """A gridded field.

    values: float64 (*stack, ny, nx), NaN where missing.
    valid: bool (*stack, ny, nx), True where a value exists (~isnan(values)).
    latlon: float64 (ny, nx, 2) latitude, longitude in degrees of every grid point, or None.
    template: `field_template` bytes: everything except the values.
    name: variable name; units: its units attribute ("" if none).
    """

    values: np.ndarray
    valid: np.ndarray
    latlon: np.ndarray | None
    template: bytes
    name: str
    units: str


@dataclass(frozen=True)
class Template:
    """A decoded template.

    name: variable name. dims, shape: dims and sizes in the source's order.
    grid: (y dim, x dim), the last two dims of the field. coords: name -> xr.Variable.
    attrs, global_attrs: variable and dataset attributes. encoding: on-disk encoding essentials.
    """

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    grid: tuple[str, str]
    coords: dict[str, xr.Variable]
    attrs: dict
    global_attrs: dict
    encoding: dict

    @property
    def field_dims(self) -> tuple[str, ...]:
        """Dims of `Field.values`: the stack dims in source order, then y, x."""
        return tuple(d for d in self.dims if d not in self.grid) + self.grid

    @property
    def field_shape(self) -> tuple[int, ...]:
        """Shape of `Field.values`: (*stack, ny, nx)."""
        size = dict(zip(self.dims, self.shape))
        return tuple(size[d] for d in self.field_dims)


# --- reading ---------------------------------------------------------------------------------------


def read_field(path: str | Path, var: str | None = None) -> Field:
    """Reads a field from netCDF (.nc, .nc4, .cdf), GRIB (.grib, .grib2, .grb, .grb2), .npy or .npz.

    `var` names the variable (netCDF, GRIB) or key (.npz); None picks the only variable with at least
    2 dims (the only array of an .npz). netCDF times are kept as stored (numbers + units attribute).
    GRIB files are read without writing an index file.

    Raises:
      InputError: missing or unreadable file, unknown suffix, ambiguous or missing `var`, fewer than
        2 dims, non-numeric values, more than MAX_VALUES values, all values missing, or infinite values.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if var is not None:
            raise InputError(f"{path}: a .npy file holds one unnamed array; do not name a variable")
        return _from_dataarray(xr.DataArray(_load_npy(path), name=DEFAULT_NAME), str(path))
    if suffix == ".npz":
        key, arr = _load_npz(path, var)
        return _from_dataarray(xr.DataArray(arr, name=key), str(path))
    if suffix not in NETCDF_SUFFIXES + GRIB_SUFFIXES:
        raise InputError(f"{path}: unknown field format {suffix or '(no suffix)'} "
                         f"(netCDF {', '.join(NETCDF_SUFFIXES)}; GRIB {', '.join(GRIB_SUFFIXES)}; .npy; .npz)")
    kind = "GRIB" if suffix in GRIB_SUFFIXES else "netCDF"
    errors: tuple[type[Exception], ...] = (OSError, RuntimeError, ValueError, KeyError, IndexError, EOFError)
    if kind == "GRIB":
        from gribapi.errors import GribInternalError  # ecCodes' errors (the eccodes wheel ships gribapi).

        errors += (GribInternalError,)
    try:
        with _open_dataset(path, kind) as ds:
            return _from_dataarray(_select(ds, var, path), str(path))
    except InputError:
        raise
    except errors as e:
        raise InputError(f"{path}: cannot read {kind} file ({_reason(e)})") from None


def _open_dataset(path: Path, kind: str) -> xr.Dataset:
    if kind == "GRIB":
        # indexpath "": never write an .idx file next to the (possibly read-only) input.
        # errors "raise": a truncated or corrupt message fails instead of being skipped with a log line.
        return xr.open_dataset(path, engine="cfgrib", backend_kwargs={"indexpath": "", "errors": "raise"})
    # Raw times (numbers + units) round-trip exactly and never fail to decode (e.g. "months since").
    return xr.open_dataset(path, engine="netcdf4", decode_coords="all", decode_times=False, decode_timedelta=False)


def _select(ds: xr.Dataset, var: str | None, path: Path) -> xr.DataArray:
    """The chosen variable, with lat/lon data variables promoted to coordinates and global attrs in encoding."""
    ds = ds.set_coords([n for n, v in ds.data_vars.items() if v.ndim in (1, 2) and (_is_lat(n, v) or _is_lon(n, v))])
    if var is None:
        choices = [str(n) for n, v in ds.data_vars.items() if v.ndim >= 2]
        if not choices:
            raise InputError(f"{path}: no variable with 2 or more dimensions")
        if len(choices) > 1:
            raise InputError(f"{path}: {len(choices)} variables with 2 or more dimensions "
                             f"({', '.join(choices)}); choose one")
        var = choices[0]
    elif var not in ds.data_vars:
        raise InputError(f"{path}: no variable {var!r} (available: {', '.join(map(str, ds.data_vars)) or 'none'})")
    da = ds[var]
    # cfgrib writes the read's time and the input's path into `history`: not the file's, and it would
    # make two encodings of one file differ.
    da.encoding[GLOBAL_ATTRS] = {k: v for k, v in ds.attrs.items()
                                 if not (k == "history" and _CFGRIB_HISTORY.match(str(v)))}
    return da


def _load_npy(path: Path) -> np.ndarray:
    """The array of an .npy file, memory-mapped (loaded only after the size checks)."""
    _check_magic(path, b"\x93NUMPY", "a .npy")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"{path}: cannot read .npy file ({_reason(e)})") from None


def _check_magic(path: Path, magic: bytes, what: str) -> None:
    try:
        with open(path, "rb") as f:
            head = f.read(len(magic))
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    if head != magic:
        raise InputError(f"{path}: not {what} file")


def _load_npz(path: Path, var: str | None) -> tuple[str, np.ndarray]:
    """(key, array) of an .npz archive; the shape is checked from the member's header before loading."""
    _check_magic(path, b"PK", "an .npz (zip)")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: cannot read .npz file ({_reason(e)})") from None
    with z:
        keys = list(z.files)
        if var is None:
            if len(keys) != 1:
                raise InputError(f"{path}: {len(keys)} arrays ({', '.join(keys) or 'none'}); choose one")
            var = keys[0]
        elif var not in keys:
            raise InputError(f"{path}: no array {var!r} (available: {', '.join(keys) or 'none'})")
        try:
            member = var + ".npy" if var + ".npy" in z.zip.namelist() else var
            with z.zip.open(member) as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape = read(f)[0]
            if math.prod(shape) > MAX_VALUES:
                raise InputError(f"{path}: array {var!r} of shape {shape} has more than {MAX_VALUES} values")
            return var, z[var]
        except InputError:
            raise
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
            raise InputError(f"{path}: cannot read array {var!r} ({_reason(e)})") from None


def _reason(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def from_dataarray(da: xr.DataArray) -> Field:
    """A Field from an in-memory DataArray (dataset attributes may ride in `da.encoding["global_attrs"]`).

    Raises:
      InputError: as `read_field`, naming the DataArray instead of a path.
    """
    return _from_dataarray(da, f"DataArray {da.name!r}")


def _from_dataarray(da: xr.DataArray, source: str) -> Field:
    name = DEFAULT_NAME if da.name is None else str(da.name)
    if da.ndim < 2:
        raise InputError(f"{source}: {name!r} has {da.ndim} dimension(s); a field needs at least 2")
    if da.size > MAX_VALUES:
        raise InputError(f"{source}: {name!r} of shape {da.shape} has more than {MAX_VALUES} values")
    if da.dtype.kind not in "iuf":
        raise InputError(f"{source}: {name!r} has non-numeric values ({da.dtype})")
    if da.size == 0:
        raise InputError(f"{source}: {name!r} has no values (shape {da.shape})")
    y, x, latlon = _grid(da)
    template = _template(da, (y, x), source)
    stack = [d for d in da.dims if d not in (y, x)]
    values = np.array(da.transpose(*stack, y, x).values, dtype=np.float64)
    infinite = int(np.isinf(values).sum())
    if infinite:
        raise InputError(f"{source}: {name!r} has {infinite} infinite values")
    valid = ~np.isnan(values)
    if not valid.any():
        raise InputError(f"{source}: {name!r} has all values missing")
    return Field(values, valid, latlon, template, name, str(da.attrs.get("units", "")))


# --- grid and geographic coordinates -------------------------------------------------------------


def _is_lat(name, v) -> bool:
    units = str(v.attrs.get("units", "")).lower()
    return v.attrs.get("standard_name") == "latitude" or units in _LAT_UNITS or str(name).lower() in _LAT_NAMES


def _is_lon(name, v) -> bool:
    units = str(v.attrs.get("units", "")).lower()
    return v.attrs.get("standard_name") == "longitude" or units in _LON_UNITS or str(name).lower() in _LON_NAMES


def _find(da: xr.DataArray, test, ndim: int) -> xr.DataArray | None:
    """The first `ndim`-D coordinate passing `test(name, coord)`, dimension coordinates first."""
    names = sorted(da.coords, key=lambda n: n not in da.dims)
    return next((da.coords[n] for n in names if da.coords[n].ndim == ndim and test(n, da.coords[n])), None)


def _grid(da: xr.DataArray) -> tuple[str, str, np.ndarray | None]:
    """(y dim, x dim, latlon (ny, nx, 2) or None) of `da`."""
    lat, lon = _find(da, _is_lat, 1), _find(da, _is_lon, 1)
    if lat is not None and lon is not None and lat.dims != lon.dims:
        lats, lons = np.meshgrid(lat.values.astype(np.float64), lon.values.astype(np.float64), indexing="ij")
        return lat.dims[0], lon.dims[0], np.stack([lats, lons], axis=-1)
    lat, lon = _find(da, _is_lat, 2), _find(da, _is_lon, 2)
    if lat is not None and lon is not None and set(lat.dims) == set(lon.dims):
        y, x = lat.dims
        return y, x, np.stack([lat.values, lon.transpose(y, x).values], axis=-1).astype(np.float64)
    rlat = _find(da, lambda n, v: v.attrs.get("standard_name") == "grid_latitude", 1)
    rlon = _find(da, lambda n, v: v.attrs.get("standard_name") == "grid_longitude", 1)
    if rlat is not None and rlon is not None and rlat.dims != rlon.dims:
        mapping = next((c.attrs for c in da.coords.values()
                        if c.attrs.get("grid_mapping_name") == "rotated_latitude_longitude"), None)
        latlon = None if mapping is None else _unrotate(rlat.values, rlon.values, mapping)
        return rlat.dims[0], rlon.dims[0], latlon
    ys = [d for d in da.dims if str(d).lower() in _LAT_NAMES]
    xs = [d for d in da.dims if str(d).lower() in _LON_NAMES]
    if len(ys) == 1 and len(xs) == 1:
        return ys[0], xs[0], None
    return da.dims[-2], da.dims[-1], None


def _unrotate(rlat: np.ndarray, rlon: np.ndarray, mapping: dict) -> np.ndarray:
    """Geographic (ny, nx, 2) latitude, longitude in degrees of a CF rotated_latitude_longitude grid."""
    pole_lat = float(mapping["grid_north_pole_latitude"])
    pole_lon = float(mapping["grid_north_pole_longitude"])
    rlon = np.asarray(rlon, np.float64) - float(mapping.get("north_pole_grid_longitude", 0.0))
    phi, lam = np.meshgrid(np.radians(np.asarray(rlat, np.float64)), np.radians(rlon), indexing="ij")
    x, y, z = np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)
    # Tilt about the y axis so the rotated pole lands at latitude pole_lat, then turn it to pole_lon.
    theta = np.radians(pole_lat - 90.0)
    x, z = np.cos(theta) * x + np.sin(theta) * z, -np.sin(theta) * x + np.cos(theta) * z
    lat = np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))
    lon = (np.degrees(np.arctan2(y, x)) + pole_lon) % 360.0 - 180.0  # + pole_lon + 180, wrapped to [-180, 180)
    return np.stack([lat, lon], axis=-1)


# --- template --------------------------------------------------------------------------------------


def field_template(da: xr.DataArray) -> bytes:
    """Everything of `da` except its values, as compact lossless bytes (JSON + raw arrays, zlib).

    Keeps the name, dims (in order), all coordinates (also scalar ones; datetime64/timedelta64 with
    their unit), variable, coordinate and dataset attributes (`da.encoding["global_attrs"]`) and the
    encoding essentials (dtype, _FillValue, missing_value, scale_factor, add_offset, units, calendar,
    grid_mapping). Arithmetic coordinate axes are stored as (start, step, n).
    """
    y, x, _ = _grid(da)
    return _template(da, (y, x), f"DataArray {da.name!r}")


def _template(da: xr.DataArray, grid: tuple[str, str], source: str) -> bytes:
    packer = _Packer(source)
    coords = []
    for name, coord in da.coords.items():
        variable = coord.variable
        if variable.dtype.kind == "O" and not _all_str(variable.values):
            variable = xr.conventions.encode_cf_variable(variable)  # cftime dates -> numbers + units.
        coords.append({"name": str(name), "dims": list(variable.dims),
                       "data": packer.array(np.asarray(variable.values), f"coordinate {name!r}"),
                       "attrs": packer.mapping(variable.attrs, f"coordinate {name!r} attribute"),
                       "encoding": packer.mapping(_essentials(variable.encoding), f"coordinate {name!r} encoding")})
    doc = {"v": _TEMPLATE_VERSION, "name": DEFAULT_NAME if da.name is None else str(da.name),
           "dims": [str(d) for d in da.dims], "shape": list(da.shape), "grid": [str(grid[0]), str(grid[1])],
           "coords": coords,
           "attrs": packer.mapping(da.attrs, "attribute"),
           "global_attrs": packer.mapping(da.encoding.get(GLOBAL_ATTRS, {}), "global attribute"),
           "encoding": packer.mapping(_essentials(da.encoding), "encoding")}
    text = json.dumps(doc, separators=(",", ":")).encode()
    deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, TEMPLATE_DICTIONARY)
    return deflate.compress(struct.pack("<I", len(text)) + text + bytes(packer.blob)) + deflate.flush()


def _essentials(encoding: dict) -> dict:
    out = {k: encoding[k] for k in _ENCODING_KEYS if k in encoding}
    if "dtype" in out:
        dtype = np.dtype(out["dtype"])
        if dtype.kind in "biufS" and dtype.itemsize:
            out["dtype"] = dtype.str
        else:
            del out["dtype"]  # Variable-length strings: xarray chooses the storage itself.
    return out


def _all_str(a: np.ndarray) -> bool:
    return all(isinstance(v, str) for v in a.ravel())


class _Packer:
    """Turns arrays and attribute values into JSON-able specs; raw array bytes go to `blob`."""

    def __init__(self, source: str):
        self.source = source
        self.blob = bytearray()

    def mapping(self, d: dict, what: str) -> dict:
        return {str(k): self.value(v, f"{what} {k!r}") for k, v in d.items()}

    def value(self, v, what: str) -> dict:
        if v is None:
            return {"none": 1}
        if isinstance(v, str):
            return {"s": v}
        if isinstance(v, (np.generic, np.ndarray)):
            return {"a": self.array(np.asarray(v), what), "scalar": isinstance(v, np.generic)}
        if isinstance(v, (bool, int, float)):
            return {"j": v}
        if isinstance(v, bytes):
            return {"y": v.hex()}
        if isinstance(v, (list, tuple)):
            return {"l": [self.value(x, what) for x in v]}
        raise InputError(f"{self.source}: {what} has unsupported type {type(v).__name__}")

    def array(self, a: np.ndarray, what: str) -> dict:
        if a.dtype.kind == "O":
            if not _all_str(a):
                raise InputError(f"{self.source}: {what} holds Python objects that are not strings")
            return {"str": [str(v) for v in a.ravel()], "shape": list(a.shape)}
        if a.dtype.kind not in _ARRAY_KINDS or a.dtype.fields is not None:
            raise InputError(f"{self.source}: {what} has unsupported dtype {a.dtype}")
        dtype = a.dtype.newbyteorder("<") if a.dtype.byteorder in "=>" else a.dtype
        regular = _arithmetic(a)
        if regular is not None:
            return {"dtype": dtype.str, "start": regular[0], "step": regular[1], "n": a.size}
        at = len(self.blob)
        self.blob += np.ascontiguousarray(a, dtype=dtype).tobytes()
        return {"dtype": dtype.str, "shape": list(a.shape), "at": at}


def _arithmetic(a: np.ndarray) -> tuple[int, int] | tuple[float, float] | None:
    """(start, step) if the 1-D `a` equals `_arange(start, step, len(a), a.dtype)` exactly, else None."""
    if a.ndim != 1 or a.size < 3 or a.dtype.kind not in "iufMm" or (a.dtype.kind == "u" and a.itemsize == 8):
        return None
    if a.dtype.kind == "f":
        start, step = float(a[0]), float(a[1]) - float(a[0])
    else:
        ints = a.view(np.int64) if a.dtype.kind in "Mm" else a.astype(np.int64)
        start, step = int(ints[0]), int(ints[1]) - int(ints[0])
    with np.errstate(over="ignore", invalid="ignore"):  # a non-arithmetic `a` may overflow the guess.
        same = np.array_equal(_arange(start, step, a.size, a.dtype), a)
    return (start, step) if same else None


def _arange(start, step, n: int, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "f":
        return (start + step * np.arange(n, dtype=np.float64)).astype(dtype)
    ints = start + step * np.arange(n, dtype=np.int64)
    return ints.view(dtype) if dtype.kind in "Mm" else ints.astype(dtype)


def uses_dictionary(template: bytes) -> bool:
    """Whether a template's zlib stream needs a preset dictionary (the FDICT bit of RFC 1950)."""
    return len(template) >= 2 and bool(template[1] & 0x20)


def template_from_bytes(data: bytes) -> Template:
    """Parses `field_template` bytes (with or without TEMPLATE_DICTIONARY), checking every size before allocating.

    Raises:
      FormatError: the bytes are not a valid template.
    """
    raw = _inflate(data, _MAX_TEMPLATE_BYTES, "climate template", TEMPLATE_DICTIONARY if uses_dictionary(data) else None)
    if len(raw) < 4:
        raise FormatError("climate template is truncated")
    (n,) = struct.unpack_from("<I", raw)
    if 4 + n > len(raw):
        raise FormatError("climate template is truncated")
    try:
        doc = json.loads(raw[4:4 + n].decode())
        if doc["v"] != _TEMPLATE_VERSION:
            raise FormatError(f"climate template version {doc['v']} is not supported")
        unpacker = _Unpacker(memoryview(raw)[4 + n:])
        dims = tuple(_str(d) for d in doc["dims"])
        shape = tuple(_count(s) for s in doc["shape"])
        grid = tuple(_str(d) for d in doc["grid"])
        if len(dims) != len(shape) or len(set(dims)) != len(dims) or len(dims) < 2:
            raise FormatError("climate template has inconsistent dims")
        if len(grid) != 2 or grid[0] == grid[1] or not set(grid) <= set(dims):
            raise FormatError("climate template has an invalid grid")
        if math.prod(shape) > MAX_VALUES:
            raise FormatError(f"climate template shape {shape} has more than {MAX_VALUES} values")
        size = dict(zip(dims, shape))
        coords = {}
        for c in doc["coords"]:
            cdims = tuple(_str(d) for d in c["dims"])
            if not set(cdims) <= set(dims):
                raise FormatError(f"climate template coordinate {c['name']!r} has unknown dims {cdims}")
            values = unpacker.array(c["data"])
            if values.shape != tuple(size[d] for d in cdims):
                raise FormatError(f"climate template coordinate {c['name']!r} has shape {values.shape}")
            coords[_str(c["name"])] = xr.Variable(cdims, values, unpacker.mapping(c["attrs"]),
                                                  _dtype_in(unpacker.mapping(c["encoding"])))
        return Template(_str(doc["name"]), dims, shape, grid, coords, unpacker.mapping(doc["attrs"]),
                        unpacker.mapping(doc["global_attrs"]), _dtype_in(unpacker.mapping(doc["encoding"])))
    except FormatError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, UnicodeDecodeError) as e:
        raise FormatError(f"climate template is malformed ({_reason(e)})") from None


def _inflate(data: bytes, limit: int, what: str, dictionary: bytes | None = None) -> bytes:
    d = zlib.decompressobj(zdict=dictionary) if dictionary else zlib.decompressobj()
    try:
        raw = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise FormatError(f"{what} is corrupt ({e})") from None
    if len(raw) > limit:
        raise FormatError(f"{what} is larger than {limit} bytes")
    if not d.eof or d.unused_data:
        raise FormatError(f"{what} is truncated or has trailing bytes")
    return raw


def _str(v) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {type(v).__name__}")
    return v


def _count(v) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_VALUES:
        raise ValueError(f"bad size {v!r}")
    return v


def _dtype_in(encoding: dict) -> dict:
    if "dtype" in encoding:
        encoding["dtype"] = _dtype(encoding["dtype"])
    return encoding


def _dtype(s) -> np.dtype:
    dtype = np.dtype(_str(s))
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None or not dtype.itemsize:
        raise ValueError(f"unsupported dtype {s!r}")
    return dtype


class _Unpacker:
    """Inverse of `_Packer` over the template's raw-bytes section."""

    def __init__(self, blob: memoryview):
        self.blob = blob

    def mapping(self, d: dict) -> dict:
        if not isinstance(d, dict):
            raise TypeError("expected a mapping")
        return {k: self.value(v) for k, v in d.items()}

    def value(self, spec: dict):
        if "none" in spec:
            return None
        if "s" in spec:
            return _str(spec["s"])
        if "a" in spec:
            a = self.array(spec["a"])
            return a[()] if spec["scalar"] else a
        if "j" in spec:
            if not isinstance(spec["j"], (bool, int, float)):
                raise TypeError("bad number")
            return spec["j"]
        if "y" in spec:
            return bytes.fromhex(_str(spec["y"]))
        return [self.value(v) for v in spec["l"]]

    def array(self, spec: dict) -> np.ndarray:
        if "str" in spec:
            shape = tuple(_count(s) for s in spec["shape"])
            items = [_str(v) for v in spec["str"]]
            if len(items) != math.prod(shape):
                raise ValueError("string array size does not match its shape")
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out.reshape(shape)
        dtype = _dtype(spec["dtype"])
        if "n" in spec:
            start, step = spec["start"], spec["step"]
            number = (float, int) if dtype.kind == "f" else int
            if not isinstance(start, number) or not isinstance(step, number):
                raise TypeError("bad arithmetic axis")
            return _arange(start, step, _count(spec["n"]), dtype)
        shape = tuple(_count(s) for s in spec["shape"])
        count, at = math.prod(shape), spec["at"]
        if count > MAX_VALUES or not isinstance(at, int) or not 0 <= at <= len(self.blob) - count * dtype.itemsize:
            raise ValueError("array outside the template")
        a = np.frombuffer(self.blob, dtype=dtype, count=count, offset=at).reshape(shape)
        return a.astype(dtype.newbyteorder("=")) if dtype.byteorder == "<" else a.copy()


# --- decoding --------------------------------------------------------------------------------------


def to_dataarray(values: np.ndarray, template: bytes) -> xr.DataArray:
    """Rebuilds the source variable from `values` (*stack, ny, nx) (NaN where missing) and its template.

    Dims come back in the source order, with all coordinates and attributes. The values stay float64;
    the source dtype, fill value and packing are in `.encoding` (used by `netcdf_bytes`), as are the
    dataset's global attributes (`.encoding["global_attrs"]`).

    Raises:
      FormatError: invalid template, or `values` does not have the template's field shape.
    """
    t = template_from_bytes(template)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != t.field_shape:
        raise FormatError(f"values of shape {values.shape} do not match the template's {t.field_shape}")
    data = np.transpose(values, [t.field_dims.index(d) for d in t.dims])
    da = xr.DataArray(data, dims=t.dims, coords=t.coords, name=t.name, attrs=t.attrs)
    da.encoding = {**t.encoding, GLOBAL_ATTRS: t.global_attrs}
    return da


def netcdf_bytes(da: xr.DataArray) -> bytes:
    """A netCDF-4 file in memory holding `da` (e.g. from `to_dataarray`) with its coordinates, attributes,
    storage encoding and the global attributes in `da.encoding["global_attrs"]`."""
    name = DEFAULT_NAME if da.name is None else str(da.name)
    ds = da.to_dataset(name=name)
    ds.attrs = dict(da.encoding.get(GLOBAL_ATTRS, {}))
    ds[name].encoding = _dtype_in(_essentials(da.encoding))
    for c in ds.coords:
        # No fill value on coordinates unless the source had one (xarray would add NaN to floats).
        ds[c].encoding = {"_FillValue": None, **_dtype_in(_essentials(ds[c].encoding))}
    with warnings.catch_warnings():
        # Integer storage without a fill value: such a source had no missing values, so there is no NaN.
        warnings.filterwarnings("ignore", "saving variable .* without any _FillValue", xr.SerializationWarning)
        return bytes(ds.to_netcdf(engine="netcdf4"))


# --- mask ------------------------------------------------------------------------------------------


def pack_mask(valid: np.ndarray) -> bytes:
    """Lossless compact bytes of a bool mask: b"" if all True, else zlib of the packed bits (C order)."""
    valid = np.asarray(valid, dtype=bool)
    if valid.all():
        return b""
    return zlib.compress(np.packbits(valid.ravel()).tobytes(), 9)


def unpack_mask(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of `pack_mask` for a mask of `shape`.

    Raises:
      FormatError: the bytes do not hold a mask of that shape.
    """
    count = math.prod(shape)
    if count > MAX_VALUES:
        raise FormatError(f"mask shape {tuple(shape)} has more than {MAX_VALUES} values")
    if not data:
        return np.ones(shape, dtype=bool)
    raw = _inflate(data, (count + 7) // 8, "mask")
    if len(raw) != (count + 7) // 8:
        raise FormatError(f"mask holds {len(raw)} bytes, not {(count + 7) // 8} for shape {tuple(shape)}")
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=count).astype(bool).reshape(shape)
