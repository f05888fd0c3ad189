"""The climate template and mask bytes: a field's description without its values, and its missing values.

A template describes everything of a variable except its values (name, dims, coordinates,
attributes, encoding) in plain Python and numpy values (`Description`); inrcodec.signals.climate
turns DataArrays into such descriptions and back. Its bytes (SPEC.md, "Climate header", template):
zlib (RFC 1950, level 9, usually with TEMPLATE_DICTIONARY) of a u32 length, a JSON document
{"v": 1, "name", "dims", "shape", "grid", "coords", "attrs", "global_attrs", "encoding"} (and
"bounds" when the variable has cell bounds, format 1.6), then the raw little-endian bytes of the
arrays the document cites by offset ("at"). Arithmetic 1-D arrays are stored as (start, step, n),
bounds whose columns are arithmetic as ([starts], [steps], n). Every size is checked before allocating. The mask is zlib of the
packed bits of the valid points (C order).
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from inrcodec.errors import FormatError, InputError

MAX_VALUES = 1 << 28  # values per field; larger shapes are refused before allocating.
VERSION = 1  # The JSON document's "v".
MAX_TEMPLATE_BYTES = 1 << 30  # Inflated template size limit.
ARRAY_KINDS = "biufSUMm"  # numpy kinds stored as raw little-endian bytes (object arrays only of str).
LENGTH = struct.Struct("<I")  # Bytes of the JSON document.

# The preset dictionary of template zlib streams (SPEC.md section 3.3.1, climate flags bit 1): text that
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
class Coordinate:
    """One coordinate of a template.

    dims: its dims (a subset of the variable's). values: numpy array of shape (size of each dim),
    of a kind in ARRAY_KINDS or an object array of str. attrs: its attributes. encoding: on-disk
    encoding essentials ("dtype" a numpy dtype).
    """

    dims: tuple[str, ...]
    values: np.ndarray
    attrs: dict
    encoding: dict


@dataclass(frozen=True)
class Description:
    """Everything of a variable except its values.

    name: variable name. dims, shape: dims and sizes in the source's order. grid: (y dim, x dim).
    coords: name -> Coordinate, in order. attrs, global_attrs: variable and dataset attributes
    (str, bool, int, float, bytes, None, numpy scalars and arrays, lists of these). encoding: the
    variable's on-disk encoding essentials ("dtype" a numpy dtype). bounds: name -> Coordinate, the
    cell bounds variables its coordinates name (CF `bounds`), whose dims may go beyond the variable's
    (e.g. lat_bnds (lat, nb2)).
    """

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    grid: tuple[str, str]
    coords: dict[str, Coordinate]
    attrs: dict
    global_attrs: dict
    encoding: dict
    bounds: dict[str, Coordinate] = field(default_factory=dict)

    @property
    def field_dims(self) -> tuple[str, ...]:
        """Dims of the field's values: the stack dims in source order, then y, x."""
        return tuple(d for d in self.dims if d not in self.grid) + self.grid

    @property
    def field_shape(self) -> tuple[int, ...]:
        """Shape of the field's values: (*stack, ny, nx)."""
        size = dict(zip(self.dims, self.shape))
        return tuple(size[d] for d in self.field_dims)


def bare(name: str, shape: tuple[int, ...]) -> Description:
    """The description of an array without coordinates or attributes (a .npy or .npz array): dims
    dim_0, dim_1, ..., the last two the grid."""
    dims = tuple(f"dim_{i}" for i in range(len(shape)))
    return Description(str(name), dims, tuple(int(n) for n in shape), dims[-2:], {}, {}, {}, {})


# --- packing ---------------------------------------------------------------------------------------


def pack(template) -> bytes:
    """The template bytes of a Description (or any object with its fields, e.g. the xarray-side
    inrcodec.signals.climate.Template, whose xr.Variable coordinates have dims, values, attrs, encoding).

    Raises:
      InputError: an attribute or coordinate holds a value the template cannot store.
    """
    packer = _Packer()
    coords = [_pack_coordinate(packer, name, c, "coordinate") for name, c in template.coords.items()]
    doc = {"v": VERSION, "name": str(template.name), "dims": [str(d) for d in template.dims],
           "shape": [int(s) for s in template.shape], "grid": [str(d) for d in template.grid], "coords": coords,
           "attrs": packer.mapping(template.attrs, "attribute"),
           "global_attrs": packer.mapping(template.global_attrs, "global attribute"),
           "encoding": packer.mapping(_dtype_out(template.encoding), "encoding")}
    bounds = getattr(template, "bounds", {})
    if bounds:  # Only then: templates without bounds keep their bytes of format 1.5.
        doc["bounds"] = [_pack_coordinate(packer, name, c, "bounds variable", columns=True) for name, c in bounds.items()]
    text = json.dumps(doc, separators=(",", ":")).encode()
    deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, TEMPLATE_DICTIONARY)
    return deflate.compress(LENGTH.pack(len(text)) + text + bytes(packer.blob)) + deflate.flush()


def _pack_coordinate(packer: "_Packer", name, c, what: str, columns: bool = False) -> dict:
    # Key order and packing order (data, attrs, encoding) fix the bytes: keep them.
    return {"name": str(name), "dims": [str(d) for d in c.dims],
            "data": packer.array(np.asarray(c.values), f"{what} {name!r}", columns),
            "attrs": packer.mapping(c.attrs, f"{what} {name!r} attribute"),
            "encoding": packer.mapping(_dtype_out(c.encoding), f"{what} {name!r} encoding")}


def has_bounds(template) -> bool:
    """Whether `template` (Description or Template) has bounds variables: its bytes then need format 1.6."""
    return bool(getattr(template, "bounds", None))


def _dtype_out(encoding: dict) -> dict:
    """`encoding` with its numpy "dtype" as the dtype's string (e.g. "<f4"), in the same key order."""
    out = dict(encoding)
    if "dtype" in out:
        dtype = np.dtype(out["dtype"])
        if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None or not dtype.itemsize:
            raise InputError(f"climate template: encoding dtype {dtype} cannot be stored")
        out["dtype"] = dtype.str
    return out


def _all_str(a: np.ndarray) -> bool:
    return all(isinstance(v, str) for v in a.ravel())


class _Packer:
    """Turns arrays and attribute values into JSON-able specs; raw array bytes go to `blob`."""

    def __init__(self):
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
        raise InputError(f"climate template: {what} has unsupported type {type(v).__name__}")

    def array(self, a: np.ndarray, what: str, columns: bool = False) -> dict:
        """The spec of `a`; with `columns`, a 2-D `a` whose every column is arithmetic is stored as
        (starts, steps, rows) (bounds of regular axes: (x - d/2, x + d/2))."""
        if a.dtype.kind == "O":
            if not _all_str(a):
                raise InputError(f"climate template: {what} holds Python objects that are not strings")
            return {"str": [str(v) for v in a.ravel()], "shape": list(a.shape)}
        if a.dtype.kind not in ARRAY_KINDS or a.dtype.fields is not None:
            raise InputError(f"climate template: {what} has unsupported dtype {a.dtype}")
        dtype = a.dtype.newbyteorder("<") if a.dtype.byteorder in "=>" else a.dtype
        regular = _arithmetic(a)
        if regular is not None:
            return {"dtype": dtype.str, "start": regular[0], "step": regular[1], "n": a.size}
        if columns and a.ndim == 2 and a.shape[1] <= 16:
            regular = [_arithmetic(column) for column in a.T]
            if all(r is not None for r in regular):
                return {"dtype": dtype.str, "start": [r[0] for r in regular], "step": [r[1] for r in regular],
                        "n": a.shape[0]}
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


# --- unpacking -------------------------------------------------------------------------------------


def uses_dictionary(template: bytes) -> bool:
    """Whether a template's zlib stream needs a preset dictionary (the FDICT bit of RFC 1950)."""
    return len(template) >= 2 and bool(template[1] & 0x20)


def unpack(data: bytes, bounds: bool | None = False, max_values: int = MAX_VALUES) -> Description:
    """Parses template bytes (with or without TEMPLATE_DICTIONARY), checking every size before allocating.

    bounds: whether the file says the template has bounds variables (climate flags bit 3, format 1.6);
    the document must have them exactly then (None: either, as in an archive's settings).
    max_values: the most values the whole field may have (an archive's items may hold more than a file).

    Raises:
      FormatError: the bytes are not a valid template.
    """
    raw = _inflate(data, MAX_TEMPLATE_BYTES, "climate template", TEMPLATE_DICTIONARY if uses_dictionary(data) else None)
    if len(raw) < LENGTH.size:
        raise FormatError("climate template is truncated")
    (n,) = LENGTH.unpack_from(raw)
    if LENGTH.size + n > len(raw):
        raise FormatError("climate template is truncated")
    try:
        doc = json.loads(raw[LENGTH.size:LENGTH.size + n].decode())
        if doc["v"] != VERSION:
            raise FormatError(f"climate template version {doc['v']} is not supported")
        unpacker = _Unpacker(memoryview(raw)[LENGTH.size + n:])
        dims = tuple(_str(d) for d in doc["dims"])
        shape = tuple(_count(s) for s in doc["shape"])
        grid = tuple(_str(d) for d in doc["grid"])
        if len(dims) != len(shape) or len(set(dims)) != len(dims) or len(dims) < 2:
            raise FormatError("climate template has inconsistent dims")
        if len(grid) != 2 or grid[0] == grid[1] or not set(grid) <= set(dims):
            raise FormatError("climate template has an invalid grid")
        if math.prod(shape) > max_values:
            raise FormatError(f"climate template shape {shape} has more than {max_values} values")
        size = dict(zip(dims, shape))
        coords = dict(_unpack_coordinate(unpacker, c, size, "coordinate") for c in doc["coords"])
        listed = "bounds" in doc
        if (bounds is not None and bounds != listed) or (listed and not doc["bounds"]):
            raise FormatError("climate template's bounds variables disagree with the header's flags")
        extra: dict[str, int] = {}  # Sizes of the dims only bounds variables have, set by the first that does.
        cells = dict(_unpack_coordinate(unpacker, c, size, "bounds variable", extra) for c in doc.get("bounds", []))
        if len(cells) != len(doc.get("bounds", [])) or cells.keys() & {*coords, _str(doc["name"])}:
            raise FormatError("climate template has a bounds variable named like another variable")
        return Description(_str(doc["name"]), dims, shape, grid, coords, unpacker.mapping(doc["attrs"]),
                           unpacker.mapping(doc["global_attrs"]), _dtype_in(unpacker.mapping(doc["encoding"])), cells)
    except FormatError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, UnicodeDecodeError) as e:
        raise FormatError(f"climate template is malformed ({_reason(e)})") from None


def _unpack_coordinate(unpacker: "_Unpacker", c: dict, size: dict[str, int], what: str,
                       extra: dict[str, int] | None = None) -> tuple[str, Coordinate]:
    """(name, Coordinate) of a document entry whose dims are the variable's (`size`) or, given `extra`,
    also dims of its own, whose sizes must agree with `extra` (filled in here)."""
    name, cdims = _str(c["name"]), tuple(_str(d) for d in c["dims"])
    if len(set(cdims)) != len(cdims) or (extra is None and not set(cdims) <= set(size)):
        raise FormatError(f"climate template {what} {name!r} has unknown dims {cdims}")
    values = unpacker.array(c["data"])
    if values.ndim != len(cdims):
        raise FormatError(f"climate template {what} {name!r} has shape {values.shape}")
    for d, n in zip(cdims, values.shape):
        if d not in size and extra is not None:
            extra.setdefault(d, n)
        if n != size.get(d, extra.get(d) if extra is not None else None):
            raise FormatError(f"climate template {what} {name!r} has shape {values.shape}")
    return name, Coordinate(cdims, values, unpacker.mapping(c["attrs"]), _dtype_in(unpacker.mapping(c["encoding"])))


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


def _reason(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


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
    if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None or not dtype.itemsize:
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
            start, step, n = spec["start"], spec["step"], _count(spec["n"])
            number = (float, int) if dtype.kind == "f" else int
            if isinstance(start, list) and isinstance(step, list) and 0 < len(start) == len(step) <= 16:
                if not all(isinstance(v, number) for v in start + step):  # Columns of a bounds variable.
                    raise TypeError("bad arithmetic columns")
                return np.stack([_arange(a, d, n, dtype) for a, d in zip(start, step)], axis=1)
            if not isinstance(start, number) or not isinstance(step, number):
                raise TypeError("bad arithmetic axis")
            return _arange(start, step, n, dtype)
        shape = tuple(_count(s) for s in spec["shape"])
        count, at = math.prod(shape), spec["at"]
        if count > MAX_VALUES or not isinstance(at, int) or not 0 <= at <= len(self.blob) - count * dtype.itemsize:
            raise ValueError("array outside the template")
        a = np.frombuffer(self.blob, dtype=dtype, count=count, offset=at).reshape(shape)
        return a.astype(dtype.newbyteorder("=")) if dtype.byteorder == "<" else a.copy()


# --- mask ------------------------------------------------------------------------------------------


def pack_mask(valid: np.ndarray) -> bytes:
    """Lossless compact bytes of a bool mask: b"" if all True, else zlib of the packed bits (C order)."""
    valid = np.asarray(valid, dtype=bool)
    if valid.all():
        return b""
    return zlib.compress(np.packbits(valid.ravel()).tobytes(), 9)


def unpack_mask(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of `pack_mask`: the bool mask of `shape`.

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
