"""Gridded fields: netCDF, GRIB, .npy, .npz <-> float64 values (*stack, ny, nx) + validity mask + template.

The last two dims of a field are its grid (latitude then longitude when the coordinates say which is
which); leading dims (time, level, member, ...) form a stack of 2-D fields. The template is a lossless
description of everything except the values (name, dims, coordinates, attributes, encoding), so
decoding rebuilds the same variable in the same dim order. Its bytes (and the mask's) are
inrcodec.bitstream.climate_template's; this module only turns DataArrays into templates and back.
"""

from __future__ import annotations

import copy
import math
import re
import struct
import subprocess
import sys
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from inrcodec.errors import FormatError, InputError

if TYPE_CHECKING:  # xarray is imported where it is used: images and audio never pay its 0.26 s.
    import xarray as xr

MAX_VALUES = 1 << 28  # values per field; larger inputs are refused from the shape, before loading.
UNROTATE_BLOCK = 1 << 16  # Grid points unrotated at a time.
# A netCDF-4 (HDF5) file is first read by a child process given this long (plus 1 s per 64 MB): a
# corrupt one can make netCDF-C/HDF5 loop forever (fuzz case 0:82545), which no Python timeout stops.
CHILD_READ_SECONDS = 5.0
CHILD_READ_BYTES_PER_SECOND = 64 << 20
ERA5_T2M_RANGE = (202.66, 320.93)  # K: COIN++'s normalisation of ERA5 2 m temperature to [0, 1].
NETCDF_SUFFIXES = (".nc", ".nc4", ".cdf")
GRIB_SUFFIXES = (".grib", ".grib2", ".grb", ".grb2")
GLOBAL_ATTRS = "global_attrs"  # DataArray.encoding key carrying the dataset's global attributes.
BOUNDS = "bounds_variables"  # DataArray.encoding key carrying the cell bounds variables (name -> xr.Variable).
DEFAULT_NAME = "values"  # variable name of unnamed arrays (.npy, unnamed DataArrays).

_LAT_NAMES = {"lat", "latitude", "nav_lat", "xlat"}
_LON_NAMES = {"lon", "longitude", "nav_lon", "xlong"}
_LAT_UNITS = {"degrees_north", "degree_north", "degrees_n", "degree_n", "degreesn", "degreen"}
_LON_UNITS = {"degrees_east", "degree_east", "degrees_e", "degree_e", "degreese", "degreee"}
# Encoding kept in the template: how the values and coordinates are stored on disk.
_ENCODING_KEYS = ("dtype", "_FillValue", "missing_value", "scale_factor", "add_offset", "units", "calendar",
                  "grid_mapping", "bounds")
_CFGRIB_HISTORY = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d GRIB to CDM\+CF via cfgrib")

@dataclass(frozen=True)
class Field:
    """A gridded field.

    values: float64 (*stack, ny, nx), NaN where missing.
    valid: bool (*stack, ny, nx), True where a value exists (~isnan(values)).
    latlon: float64 (ny, nx, 2) latitude, longitude in degrees of every grid point, or None.
    template: `field_template`: everything except the values (None for fields of bare arrays).
    name: variable name; units: its units attribute ("" if none).
    """

    values: np.ndarray
    valid: np.ndarray
    latlon: np.ndarray | None
    template: Template | None
    name: str
    units: str


@dataclass(frozen=True)
class Template:
    """Everything of a variable except its values; the fields of climate_template.Description, so
    climate_template.pack takes it as it is.

    name: variable name. dims, shape: dims and sizes in the source's order.
    grid: (y dim, x dim), the last two dims of the field. coords: name -> xr.Variable (cftime dates
    as CF numbers + units; encoding essentials only). attrs, global_attrs: variable and dataset
    attributes. encoding: on-disk encoding essentials ("dtype" a numpy dtype). bounds: name ->
    xr.Variable, the cell bounds its coordinates name (CF `bounds`, e.g. lat_bnds (lat, nb2)).
    """

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    grid: tuple[str, str]
    coords: dict[str, xr.Variable]
    attrs: dict
    global_attrs: dict
    encoding: dict
    bounds: dict[str, xr.Variable] = field(default_factory=dict)

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


def read_field(path: str | Path, var: str | None = None, max_values: int | None = None) -> Field:
    """Reads a field from netCDF (.nc, .nc4, .cdf), GRIB (.grib, .grib2, .grb, .grb2), .npy or .npz.

    `var` names the variable (netCDF, GRIB) or key (.npz); None picks the only variable with at least
    2 dims (the only array of an .npz). netCDF times are kept as stored (numbers + units attribute).
    GRIB files are read without writing an index file. A variable of more than `max_values` values
    (default MAX_VALUES) is refused from its shape, before its values are read.

    Raises:
      InputError: missing, unreadable or truncated file, unknown suffix, ambiguous or missing `var`, fewer than
        2 dims, non-numeric values, more than `max_values` values, all values missing, or infinite values.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        return _read_field(path, var, MAX_VALUES if max_values is None else max_values)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 -- the parsers (numpy, netCDF4, HDF5, ecCodes) raise anything on a corrupted file.
        raise InputError(f"{path}: cannot read ({type(e).__name__}: {_reason(e)})") from None


def _read_field(path: Path, var: str | None, max_values: int) -> Field:
    import xarray as xr

    suffix = path.suffix.lower()
    if suffix == ".npy":
        if var is not None:
            raise InputError(f"{path}: a .npy file holds one unnamed array; do not name a variable")
        return _from_dataarray(xr.DataArray(_load_npy(path), name=DEFAULT_NAME), str(path), max_values)
    if suffix == ".npz":
        key, arr = _load_npz(path, var, max_values)
        return _from_dataarray(xr.DataArray(arr, name=key), str(path), max_values)
    if suffix not in NETCDF_SUFFIXES + GRIB_SUFFIXES:
        raise InputError(f"{path}: unknown field format {suffix or '(no suffix)'} "
                         f"(netCDF {', '.join(NETCDF_SUFFIXES)}; GRIB {', '.join(GRIB_SUFFIXES)}; .npy; .npz)")
    kind = "GRIB" if suffix in GRIB_SUFFIXES else "netCDF"
    errors: tuple[type[Exception], ...] = (OSError, RuntimeError, ValueError, KeyError, IndexError, EOFError)
    if kind == "GRIB":
        from gribapi.errors import GribInternalError  # ecCodes' errors (the eccodes wheel ships gribapi).

        errors += (GribInternalError,)
    elif not _is_classic_netcdf(path):
        _read_in_child(path)
    try:
        with _open_dataset(path, kind) as ds:
            return _from_dataarray(_select(ds, var, path), str(path), max_values)
    except InputError:
        raise
    except errors as e:
        raise InputError(f"{path}: cannot read {kind} file ({_reason(e)})") from None


def _is_classic_netcdf(path: Path) -> bool:
    """Whether the file is a classic (netCDF-3) one; InputError if such a file is shorter than its header says:
    the netCDF library would read the missing values as fill values. scipy maps the file and shapes
    every variable from the header, reading no data; netCDF-4 (HDF5) files fail on opening instead,
    and 64-bit-data (CDF-5) files, which scipy cannot read, are left to the library."""
    from scipy.io import netcdf_file

    try:
        with path.open("rb") as f:
            if f.read(4) not in (b"CDF\x01", b"CDF\x02"):
                return False
        with netcdf_file(path, mmap=True):  # Maps every variable from the header's offsets and shapes.
            return True
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    except (ValueError, TypeError, IndexError, struct.error) as e:
        raise InputError(f"{path}: truncated or corrupt netCDF file ({e})") from None


def _read_in_child(path: Path) -> None:
    """Opens a netCDF-4 file and reads all its variables in a child process first (`_CHILD_READ`): a corrupt
    file may make the library loop or crash, which only a process boundary contains. Errors the library
    raises are left to the reader in this process, which turns them into its one-line InputError.

    Raises:
      InputError: the child ran out of time or died from a signal.
    """
    limit = CHILD_READ_SECONDS + path.stat().st_size / CHILD_READ_BYTES_PER_SECOND
    try:
        run = subprocess.run([sys.executable, "-c", _CHILD_READ, str(path), str(MAX_VALUES)], capture_output=True,
                             timeout=limit, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise InputError(f"{path}: the netCDF library did not finish reading it in {limit:.0f} s "
                         "(a corrupt netCDF-4 file?)") from None
    if run.returncode < 0:
        raise InputError(f"{path}: the netCDF library crashed reading it (signal {-run.returncode}; a corrupt file?)")


# The child of _read_in_child: argv FILE MAX_VALUES. Reads every attribute and every variable of at most
# MAX_VALUES values (larger ones are refused by their shape) in slabs of at most 2^22 values.
_CHILD_READ = """
import sys, netCDF4
def walk(group, most):
    [group.getncattr(a) for a in group.ncattrs()]
    for v in group.variables.values():
        [v.getncattr(a) for a in v.ncattrs()]
        v.set_auto_maskandscale(False)
        if not v.shape or v.size <= 1 << 22:
            v[...]
        elif v.size <= most:
            rows = max(1, (1 << 22) // (v.size // v.shape[0]))
            for i in range(0, v.shape[0], rows):
                v[i:i + rows]
    for g in group.groups.values():
        walk(g, most)
with netCDF4.Dataset(sys.argv[1]) as d:
    walk(d, int(sys.argv[2]))
"""


def _open_dataset(path: Path, kind: str) -> xr.Dataset:
    import xarray as xr

    if kind == "GRIB":
        # indexpath "": never write an .idx file next to the (possibly read-only) input.
        # errors "raise": a truncated or corrupt message fails instead of being skipped with a log line.
        return xr.open_dataset(path, engine="cfgrib", backend_kwargs={"indexpath": "", "errors": "raise"})
    # Raw times (numbers + units) round-trip exactly and never fail to decode (e.g. "months since").
    return xr.open_dataset(path, engine="netcdf4", decode_coords="all", decode_times=False, decode_timedelta=False)


def _select(ds: xr.Dataset, var: str | None, path: Path) -> xr.DataArray:
    """The chosen variable, with lat/lon data variables promoted to coordinates, and global attrs and the cell
    bounds its coordinates name in encoding."""
    ds = ds.set_coords([n for n, v in ds.data_vars.items() if v.ndim in (1, 2) and (_is_lat(n, v) or _is_lon(n, v))])
    if var is None:
        choices = [str(n) for n, v in ds.data_vars.items() if v.ndim >= 2]
        if not choices:
            raise InputError(f"{path}: no variable with 2 or more dimensions")
        if len(choices) > 1:
            raise InputError(f"{path}: {len(choices)} variables with 2 or more dimensions "
                             f"({', '.join(choices)}); choose one with --var")
        var = choices[0]
    elif var not in ds.data_vars:
        raise InputError(f"{path}: no variable {var!r} (available: {', '.join(map(str, ds.data_vars)) or 'none'})")
    da = ds[var]
    # cfgrib writes the read's time and the input's path into `history`: not the file's, and it would
    # make two encodings of one file differ.
    da.encoding[GLOBAL_ATTRS] = {k: v for k, v in ds.attrs.items()
                                 if not (k == "history" and _CFGRIB_HISTORY.match(str(v)))}
    # decode_coords="all" moves a coordinate's `bounds` attribute into its encoding and the bounds into
    # ds.coords; those with a dim the variable lacks (nb2) are not among the variable's coordinates.
    named = (c.encoding.get("bounds", c.attrs.get("bounds")) for c in da.coords.values())
    bounds = {str(n): ds[n].variable for n in named if isinstance(n, str) and n in ds.variables and n not in da.coords}
    if bounds:
        da.encoding[BOUNDS] = bounds
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


def _load_npz(path: Path, var: str | None, max_values: int) -> tuple[str, np.ndarray]:
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
                raise InputError(f"{path}: {len(keys)} arrays ({', '.join(keys) or 'none'}); choose one with --var")
            var = keys[0]
        elif var not in keys:
            raise InputError(f"{path}: no array {var!r} (available: {', '.join(keys) or 'none'})")
        try:
            member = var + ".npy" if var + ".npy" in z.zip.namelist() else var
            with z.zip.open(member) as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape = read(f)[0]
            if math.prod(shape) > max_values:
                raise InputError(f"{path}: array {var!r} of shape {shape} has more than {max_values} values")
            return var, z[var]
        except InputError:
            raise
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
            raise InputError(f"{path}: cannot read array {var!r} ({_reason(e)})") from None


def _reason(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def from_dataarray(da: xr.DataArray) -> Field:
    """A Field from an in-memory DataArray (dataset attributes may ride in `da.encoding["global_attrs"]`,
    cell bounds variables, name -> xr.Variable, in `da.encoding["bounds_variables"]`).

    Raises:
      InputError: as `read_field`, naming the DataArray instead of a path.
    """
    return _from_dataarray(da, f"DataArray {da.name!r}", MAX_VALUES)


def _from_dataarray(da: xr.DataArray, source: str, max_values: int) -> Field:
    name = DEFAULT_NAME if da.name is None else str(da.name)
    if da.ndim < 2:
        raise InputError(f"{source}: {name!r} has {da.ndim} dimension(s); a field needs at least 2")
    if da.size > max_values:
        raise InputError(f"{source}: {name!r} of shape {da.shape} has more than {max_values} values")
    if da.dtype.kind not in "iuf":
        raise InputError(f"{source}: {name!r} has non-numeric values ({da.dtype})")
    if da.size == 0:
        raise InputError(f"{source}: {name!r} has no values (shape {da.shape})")
    y, x, latlon = _grid(da)
    template = _template(da, (y, x))
    stack = [d for d in da.dims if d not in (y, x)]
    values = np.array(da.transpose(*stack, y, x).values, dtype=np.float64)
    infinite = int(np.isinf(values).sum())
    if infinite:
        raise InputError(f"{source}: {name!r} has {infinite} infinite values")
    valid = ~np.isnan(values)
    if not valid.any():
        raise InputError(f"{source}: {name!r} has all values missing")
    return Field(values, valid, latlon, template, name, str(da.attrs.get("units", "")))


def stack_view(da: xr.DataArray) -> tuple[Template, np.ndarray | None, xr.DataArray]:
    """(template, latlon (ny, nx, 2) or None, `da` ordered (*stack, y, x)) without reading its values:
    a Dask-backed DataArray stays lazy. Its fields are read (and checked, `check_values`) slab by slab.

    Raises:
      InputError: `da` has fewer than 2 dims, no values, or a non-numeric dtype.
    """
    name = DEFAULT_NAME if da.name is None else str(da.name)
    if da.ndim < 2 or da.size == 0 or da.dtype.kind not in "iuf":
        raise InputError(f"DataArray {name!r} of shape {da.shape} ({da.dtype}): a stack of fields needs at least 2 "
                         "dims, some values and a numeric dtype")
    y, x, latlon = _grid(da)
    stack = [d for d in da.dims if d not in (y, x)]
    return _template(da, (y, x)), latlon, da.transpose(*stack, y, x)


def check_values(values: np.ndarray, source: str) -> None:
    """InputError if `values` hold an infinite value (NaN is missing, infinity is a mistake)."""
    infinite = int(np.isinf(values).sum())
    if infinite:
        raise InputError(f"{source}: {infinite} infinite values")


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
        latlon = np.empty((lat.size, lon.size, 2), np.float64)  # Filled in place: no meshgrid copies.
        latlon[..., 0], latlon[..., 1] = lat.values.astype(np.float64)[:, None], lon.values.astype(np.float64)[None, :]
        return lat.dims[0], lon.dims[0], latlon
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
    rlat = np.asarray(rlat, np.float64)
    out = np.empty((rlat.size, np.size(rlon), 2), np.float64)
    rows = max(1, UNROTATE_BLOCK // max(1, np.size(rlon)))
    for start in range(0, rlat.size, rows):  # Elementwise: blocks of rows only bound the temporaries.
        out[start : start + rows] = _unrotate_rows(rlat[start : start + rows], rlon, mapping)
    return out


def _unrotate_rows(rlat: np.ndarray, rlon: np.ndarray, mapping: dict) -> np.ndarray:
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


def template_latlon(template) -> np.ndarray | None:
    """The grid coordinates (ny, nx, 2) of a template's field (None for a regular global grid), as
    `from_dataarray(to_dataarray(values, template)).latlon` gives them, without any values."""
    return _grid(to_dataarray(np.broadcast_to(np.float64(0.0), template.field_shape), template))[2]


# --- template --------------------------------------------------------------------------------------


def field_template(da: xr.DataArray) -> Template:
    """Everything of `da` except its values, losslessly: climate_template.pack turns it into bytes.

    Keeps the name, dims (in order), all coordinates (also scalar ones; datetime64/timedelta64 with
    their unit; cftime dates as CF numbers + units), variable, coordinate and dataset attributes
    (`da.encoding["global_attrs"]`), the cell bounds variables (`da.encoding["bounds_variables"]`) and
    the encoding essentials (dtype, _FillValue, missing_value, scale_factor, add_offset, units,
    calendar, grid_mapping, bounds).
    """
    y, x, _ = _grid(da)
    return _template(da, (y, x))


def _template(da: xr.DataArray, grid: tuple[str, str]) -> Template:
    coords = {str(name): _snapshot(coord.variable) for name, coord in da.coords.items()}
    bounds = {str(name): _snapshot(v) for name, v in da.encoding.get(BOUNDS, {}).items()}
    return Template(DEFAULT_NAME if da.name is None else str(da.name), tuple(str(d) for d in da.dims),
                    tuple(int(n) for n in da.shape), (str(grid[0]), str(grid[1])), coords, copy.deepcopy(da.attrs),
                    copy.deepcopy(da.encoding.get(GLOBAL_ATTRS, {})), _essentials(da.encoding), bounds)


def _snapshot(variable: xr.Variable) -> xr.Variable:
    """A loaded copy of a coordinate with its encoding essentials: the template is a snapshot (as its bytes
    are), and a file's dataset is closed once the field is read."""
    import xarray as xr

    if variable.dtype.kind == "O" and not _all_str(variable.values):
        variable = xr.conventions.encode_cf_variable(variable)  # cftime dates -> numbers + units.
    return xr.Variable(tuple(str(d) for d in variable.dims), np.array(variable.values),
                       copy.deepcopy(variable.attrs), _essentials(variable.encoding))


def _essentials(encoding: dict) -> dict:
    """The encoding keys that say how values are stored on disk; "dtype" as a numpy dtype."""
    out = {k: copy.deepcopy(encoding[k]) for k in _ENCODING_KEYS if k in encoding}
    if "dtype" in out:
        dtype = np.dtype(out["dtype"])
        if dtype.kind in "biufS" and dtype.itemsize:
            out["dtype"] = dtype
        else:
            del out["dtype"]  # Variable-length strings: xarray chooses the storage itself.
    return out


def _all_str(a: np.ndarray) -> bool:
    return all(isinstance(v, str) for v in a.ravel())


# --- decoding --------------------------------------------------------------------------------------


def to_dataarray(values: np.ndarray, template) -> xr.DataArray:
    """Rebuilds the source variable from `values` (*stack, ny, nx) (NaN where missing) and its template.

    `template`: a Template, or a climate_template.Description (same fields; its coordinates have
    dims, values, attrs, encoding). Dims come back in the source order, with all coordinates and
    attributes, copied (changing the DataArray leaves the template as it was). The values stay
    float64; the source dtype, fill value and packing are in `.encoding` (used by `netcdf_bytes`),
    as are the dataset's global attributes (`.encoding["global_attrs"]`) and the cell bounds variables
    (`.encoding["bounds_variables"]`, only when there are some).

    Raises:
      FormatError: `values` does not have the template's field shape.
    """
    import xarray as xr

    t = copy.deepcopy(template)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != t.field_shape:
        raise FormatError(f"values of shape {values.shape} do not match the template's {t.field_shape}")
    data = np.transpose(values, [t.field_dims.index(d) for d in t.dims])
    coords = {name: xr.Variable(c.dims, c.values, c.attrs, c.encoding) for name, c in t.coords.items()}
    da = xr.DataArray(data, dims=t.dims, coords=coords, name=t.name, attrs=t.attrs)
    da.encoding = {**t.encoding, GLOBAL_ATTRS: t.global_attrs}
    if getattr(t, "bounds", None):
        da.encoding[BOUNDS] = {name: xr.Variable(c.dims, c.values, c.attrs, c.encoding) for name, c in t.bounds.items()}
    return da


def _within_storage(da: xr.DataArray) -> xr.DataArray:
    """`da` with its values clipped to what its integer storage (dtype, scale_factor, add_offset) can
    hold: packing a value beyond it would wrap around (a decoded value may lie a little outside the
    source's range, which the packing was fitted to). Clipping only moves values towards the source's."""
    dtype = np.dtype(da.encoding.get("dtype", np.float64))
    if dtype.kind not in "iu":
        return da
    info = np.iinfo(dtype)
    codes = [info.min, info.max]
    fill = da.encoding.get("_FillValue")
    if fill is not None and np.isfinite(fill):  # The fill value's code is not a value.
        codes = [c + (1 if c == fill and c == info.min else -1 if c == fill else 0) for c in codes]
    scale, offset = float(da.encoding.get("scale_factor", 1.0)), float(da.encoding.get("add_offset", 0.0))
    ends = sorted(offset + scale * c for c in codes)
    return da.copy(data=np.clip(da.values, ends[0], ends[1]))  # NaN stays NaN.


def netcdf_bytes(da: xr.DataArray) -> bytes:
    """A netCDF-4 file in memory holding `da` (e.g. from `to_dataarray`) with its coordinates, attributes,
    storage encoding, the global attributes in `da.encoding["global_attrs"]` and the cell bounds
    variables in `da.encoding["bounds_variables"]`."""
    import xarray as xr

    name = DEFAULT_NAME if da.name is None else str(da.name)
    da = _within_storage(da)
    ds = da.to_dataset(name=name).assign_coords(da.encoding.get(BOUNDS, {}))
    ds.attrs = dict(da.encoding.get(GLOBAL_ATTRS, {}))
    ds[name].encoding = _essentials(da.encoding)
    if da.encoding.get(BOUNDS):
        # xarray drops a coordinate from `coordinates` when its name is part of a `bounds` value
        # (forecast_reference_time of forecast_reference_time_bnds): name them as it would, all of them.
        ds[name].encoding["coordinates"] = " ".join(sorted(str(c) for c in da.coords if c not in da.dims))
    for c in ds.coords:
        # No fill value on coordinates unless the source had one (xarray would add NaN to floats).
        ds[c].encoding = {"_FillValue": None, **_essentials(ds[c].encoding)}
    with warnings.catch_warnings():
        # Integer storage without a fill value: such a source had no missing values, so there is no NaN.
        warnings.filterwarnings("ignore", "saving variable .* without any _FillValue", xr.SerializationWarning)
        return bytes(ds.to_netcdf(engine="netcdf4"))
