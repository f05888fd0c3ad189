"""Climate I/O: netCDF/GRIB/.npy/.npz fields, lossless templates and their bytes, masks, errors, metrics, real archives."""

import os
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from inrcodec.bitstream import climate_template
from inrcodec.errors import FormatError, InputError
from inrcodec.signals import climate, metrics

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "climate"
ARCHIVES = DATA / "archives"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path


def same_attrs(a: dict, b: dict) -> bool:
    """Equal keys, values and value dtypes (attrs may hold numpy arrays)."""
    return a.keys() == b.keys() and all(
        np.array_equal(np.asarray(a[k]), np.asarray(b[k])) and np.asarray(a[k]).dtype == np.asarray(b[k]).dtype
        for k in a)


def assert_same_variable(back: xr.Dataset, orig: xr.Dataset, name: str) -> None:
    """Same dims, coordinates (values, dtypes, attrs), attributes, global attributes and values."""
    v, o = back[name], orig[name]
    assert v.dims == o.dims and v.shape == o.shape
    assert set(v.coords) == set(o.coords)
    for c in o.coords:
        assert v[c].dims == o[c].dims and v[c].dtype == o[c].dtype, c
        assert np.array_equal(v[c].values, o[c].values, equal_nan=o[c].dtype.kind == "f"), c
        assert same_attrs(v[c].attrs, o[c].attrs), c
    assert same_attrs(v.attrs, o.attrs)
    assert same_attrs(back.attrs, orig.attrs)
    assert v.attrs.get("units") == o.attrs.get("units")
    np.testing.assert_array_equal(v.values, o.values)
    for c in o.coords:  # Cell bounds (CF `bounds`), which are not among the variable's coordinates.
        bounds = o[c].encoding.get("bounds")
        assert v[c].encoding.get("bounds") == bounds, c
        if bounds:
            b, ob = back[bounds].variable, orig[bounds].variable
            assert b.dims == ob.dims and b.dtype == ob.dtype and np.array_equal(b.values, ob.values), bounds


def stored(template: climate.Template) -> climate_template.Description:
    """The template as a decoder gets it: through its bytes."""
    return climate_template.unpack(climate_template.pack(template), climate_template.has_bounds(template))


def decode_to_file(field: climate.Field, path: Path, values: np.ndarray | None = None) -> Path:
    da = climate.to_dataarray(field.values if values is None else values, stored(field.template))
    path.write_bytes(climate.netcdf_bytes(da))
    return path


def open_raw(path: Path) -> xr.Dataset:
    return xr.open_dataset(path, decode_times=False, decode_coords="all")


def synthetic_netcdf(path: Path, dims=("time", "lat", "lon")) -> Path:
    """time x lat x lon float32 temperature with a fill value, NaNs, attrs and global attrs."""
    rng = np.random.default_rng(0)
    lat = np.linspace(60.0, 30.0, 7, dtype=np.float32)  # north to south
    lon = np.arange(10, dtype=np.float64) * 2.5 - 10.0
    values = (280 + 10 * rng.standard_normal((5, 7, 10))).astype(np.float32)
    values[:, 0, :3] = np.nan  # "land"
    values[2, 4, 4] = np.nan
    da = xr.DataArray(values, dims=("time", "lat", "lon"), name="t2m",
                      coords={"time": ("time", np.array([0, 6, 12, 18, 30], np.int32),
                                       {"units": "hours since 2000-01-01", "calendar": "standard"}),
                              "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
                              "lon": ("lon", lon, {"units": "degrees_east"}),
                              "height": ((), 2.0, {"units": "m"})},
                      attrs={"units": "K", "long_name": "2 m temperature", "valid_range": np.array([150, 350], "f4"),
                             "level": np.int16(3)})
    ds = da.transpose(*dims).to_dataset()
    ds.attrs = {"title": "synthetic", "Conventions": "CF-1.8", "version": np.float64(1.5)}
    ds.to_netcdf(path, encoding={"t2m": {"_FillValue": np.float32(-9999.0), "dtype": "float32"}})
    return path


# --- netCDF ----------------------------------------------------------------------------------------


def test_netcdf_read_and_round_trip(tmp_path):
    src = synthetic_netcdf(tmp_path / "t.nc")
    f = climate.read_field(src)
    assert (f.name, f.units) == ("t2m", "K")
    assert f.values.dtype == np.float64 and f.values.shape == (5, 7, 10)
    assert f.valid.dtype == bool and int((~f.valid).sum()) == 5 * 3 + 1
    np.testing.assert_array_equal(f.valid, ~np.isnan(f.values))
    assert f.latlon.shape == (7, 10, 2) and f.latlon.dtype == np.float64
    assert f.latlon[0, 0].tolist() == [60.0, -10.0] and f.latlon[-1, -1].tolist() == [30.0, 12.5]

    out = decode_to_file(f, tmp_path / "out.nc")
    with open_raw(src) as orig, open_raw(out) as back:
        assert_same_variable(back, orig, "t2m")
        assert back["t2m"].encoding["_FillValue"] == np.float32(-9999.0)
        assert back["t2m"].encoding["dtype"] == np.float32
    with xr.open_dataset(out) as back:  # CF time decoding still works on the output.
        assert back["time"].dtype.kind == "M"


@pytest.mark.parametrize("dims", [("lon", "time", "lat"), ("lat", "lon", "time"), ("time", "lon", "lat")])
def test_grid_dims_moved_last_and_restored(tmp_path, dims):
    src = synthetic_netcdf(tmp_path / "t.nc", dims)
    f = climate.read_field(src)
    reference = climate.read_field(synthetic_netcdf(tmp_path / "ref.nc"))
    np.testing.assert_array_equal(f.values, reference.values)
    np.testing.assert_array_equal(f.latlon, reference.latlon)
    assert f.template.field_dims == stored(f.template).field_dims == ("time", "lat", "lon")
    out = decode_to_file(f, tmp_path / "out.nc")
    with open_raw(src) as orig, open_raw(out) as back:
        assert back["t2m"].dims == dims
        assert_same_variable(back, orig, "t2m")


def test_curvilinear_grid_with_2d_latlon(tmp_path):
    """A rotated/curvilinear grid: 2-D auxiliary lat/lon over (rlat, rlon), grid mapping, height stack."""
    rlat = np.linspace(-5, 5, 6)
    rlon = np.linspace(-8, 8, 9)
    lat2d = 50 + rlat[:, None] + 0.1 * rlon[None, :]
    lon2d = 10 + rlon[None, :] - 0.2 * rlat[:, None]
    da = xr.DataArray(
        np.arange(2 * 6 * 9, dtype=np.float32).reshape(2, 6, 9), dims=("height", "rlat", "rlon"), name="tas",
        coords={"height": ("height", [2.0, 10.0]),
                "rlat": ("rlat", rlat, {"standard_name": "grid_latitude", "units": "degrees"}),
                "rlon": ("rlon", rlon, {"standard_name": "grid_longitude", "units": "degrees"}),
                "lat": (("rlat", "rlon"), lat2d, {"standard_name": "latitude", "units": "degrees_north"}),
                "lon": (("rlat", "rlon"), lon2d, {"standard_name": "longitude", "units": "degrees_east"}),
                "rotated_pole": ((), np.int32(0), {"grid_mapping_name": "rotated_latitude_longitude",
                                                   "grid_north_pole_latitude": 39.25,
                                                   "grid_north_pole_longitude": -162.0})},
        attrs={"units": "K", "grid_mapping": "rotated_pole"})
    src = tmp_path / "rot.nc"
    da.to_dataset().to_netcdf(src)
    f = climate.read_field(src)
    assert f.values.shape == (2, 6, 9)
    np.testing.assert_array_equal(f.latlon[..., 0], lat2d)
    np.testing.assert_array_equal(f.latlon[..., 1], lon2d)
    out = decode_to_file(f, tmp_path / "out.nc")
    with open_raw(src) as orig, open_raw(out) as back:
        assert_same_variable(back, orig, "tas")
        assert back["tas"].encoding.get("grid_mapping") == "rotated_pole"


def test_rotated_pole_without_latlon_is_unrotated():
    """Only rlat/rlon and a CF rotated_latitude_longitude mapping: latlon computed from the pole."""
    da = xr.DataArray(np.zeros((3, 3)), dims=("rlat", "rlon"), coords={
        "rlat": ("rlat", [0.0, 39.25, -20.0], {"standard_name": "grid_latitude"}),
        "rlon": ("rlon", [0.0, 90.0, -10.0], {"standard_name": "grid_longitude"}),
        "crs": ((), 0, {"grid_mapping_name": "rotated_latitude_longitude", "grid_north_pole_latitude": 39.25,
                        "grid_north_pole_longitude": -162.0})})
    latlon = climate.from_dataarray(da).latlon
    np.testing.assert_allclose(latlon[0, 0], [90.0 - 39.25, 18.0], atol=1e-9)  # rotated origin
    assert latlon[1, 0, 0] == pytest.approx(90.0)  # the true north pole sits at rlon 0, rlat = pole latitude
    np.testing.assert_allclose(latlon[0, 1], [0.0, 18.0 + 90.0], atol=1e-9)  # on the equator of both grids


def test_lat_lon_data_variables_become_coordinates(tmp_path):
    """Like sstdata_netcdf.nc: lat/lon are data variables over dims without coordinates."""
    ds = xr.Dataset({"sst": (("time", "latitude", "longitude"), np.ones((2, 3, 4), np.float32), {"units": "deg_C"}),
                     "lat": ("latitude", np.array([-2.0, 0.0, 2.0]), {"units": "degrees_north"}),
                     "lon": ("longitude", np.array([0.0, 2.0, 4.0, 6.0]), {"units": "degrees_east"})})
    ds.to_netcdf(tmp_path / "sst.nc")
    f = climate.read_field(tmp_path / "sst.nc")
    assert f.name == "sst" and f.latlon[2, 3].tolist() == [2.0, 6.0]


def test_packed_integer_variable_round_trip(tmp_path):
    """int16 with scale_factor/add_offset/_FillValue: decoding writes the same packing back."""
    values = np.array([[250.0, 260.5], [np.nan, 300.25]])
    da = xr.DataArray(values, dims=("y", "x"), name="t", attrs={"units": "K"})
    src = tmp_path / "packed.nc"
    da.to_dataset().to_netcdf(src, encoding={"t": {"dtype": "int16", "scale_factor": 0.25, "add_offset": 275.0,
                                                   "_FillValue": np.int16(-32767)}})
    f = climate.read_field(src)
    assert f.latlon is None and f.valid.tolist() == [[True, True], [False, True]]
    out = decode_to_file(f, tmp_path / "out.nc")
    with xr.open_dataset(out, mask_and_scale=False) as back, xr.open_dataset(src, mask_and_scale=False) as orig:
        assert back["t"].dtype == np.int16
        np.testing.assert_array_equal(back["t"].values, orig["t"].values)
        assert same_attrs(back["t"].attrs, orig["t"].attrs)


def test_lossy_values_are_written_with_the_source_encoding(tmp_path):
    f = climate.read_field(synthetic_netcdf(tmp_path / "t.nc"))
    noisy = np.where(f.valid, f.values + 0.01, np.nan)
    out = decode_to_file(f, tmp_path / "out.nc", noisy)
    with open_raw(out) as back:
        assert back["t2m"].encoding["dtype"] == np.float32
        np.testing.assert_allclose(back["t2m"].values, noisy.astype(np.float32), rtol=0, atol=0)
        np.testing.assert_array_equal(np.isnan(back["t2m"].values), ~f.valid)


# --- in-memory DataArrays and templates ------------------------------------------------------------


def test_from_dataarray_with_datetimes_strings_and_scalars(tmp_path):
    time = np.arange("2019-03-01T00", "2019-03-03T00", dtype="datetime64[h]").astype("datetime64[ns]")
    da = xr.DataArray(
        np.random.default_rng(1).random((48, 2, 3, 4)), dims=("time", "member", "latitude", "longitude"),
        name="t2m",
        coords={"time": time, "member": ["a", "bb"],
                "latitude": ("latitude", [58.0, 57.75, 57.5], {"units": "degrees_north"}),
                "longitude": ("longitude", [-10.0, -9.75, -9.5, -9.25], {"units": "degrees_east"}),
                "step": np.timedelta64(0, "ns"), "surface": 0.0, "number": np.int64(0),
                "valid_time": ("time", time + np.timedelta64(1, "h"))},
        attrs={"units": "K", "GRIB_paramId": 167, "list": [1, 2, 3], "raw": b"\x00\xff"})
    da.encoding["global_attrs"] = {"history": "made here", "levels": np.array([1, 2], np.int32)}
    f = climate.from_dataarray(da)
    assert f.values.shape == (48, 2, 3, 4) and f.latlon.shape == (3, 4, 2)
    # Regular axes (hourly times, the 0.25 degree grid) are stored as (start, step, n): a small template.
    assert len(climate_template.pack(f.template)) < 700
    back = climate.to_dataarray(f.values, stored(f.template))
    xr.testing.assert_identical(back, da)
    xr.testing.assert_identical(climate.to_dataarray(f.values, f.template), da)
    assert back.encoding["global_attrs"]["history"] == "made here"
    assert back["time"].dtype == np.dtype("datetime64[ns]") and back["step"].dtype.kind == "m"
    out = tmp_path / "out.nc"
    out.write_bytes(climate.netcdf_bytes(back))
    with xr.open_dataset(out) as ds:
        xr.testing.assert_equal(ds["t2m"], da)
        assert ds.attrs["history"] == "made here"


def test_cftime_coordinates_are_stored_as_cf_numbers(tmp_path):
    cftime = pytest.importorskip("cftime")
    time = [cftime.DatetimeNoLeap(2000, m, 1) for m in (1, 2, 3)]
    da = xr.DataArray(np.ones((3, 2, 2)), dims=("time", "y", "x"), coords={"time": time}, name="tas")
    f = climate.from_dataarray(da)
    back = climate.to_dataarray(f.values, stored(f.template))
    assert back["time"].values.tolist() == [0, 31, 59] and back["time"].attrs["calendar"] == "noleap"
    out = tmp_path / "out.nc"
    out.write_bytes(climate.netcdf_bytes(back))
    with xr.open_dataset(out, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True)) as ds:
        assert list(ds["time"].values) == time


def test_unnamed_dataarray_without_coordinates(tmp_path):
    f = climate.from_dataarray(xr.DataArray(np.arange(6.0).reshape(2, 3)))
    assert f.name == "values" and f.latlon is None and f.units == ""
    back = climate.to_dataarray(f.values, stored(f.template))
    assert back.dims == ("dim_0", "dim_1") and back.name == "values"
    out = tmp_path / "out.nc"
    out.write_bytes(climate.netcdf_bytes(back))
    with xr.open_dataset(out) as ds:
        np.testing.assert_array_equal(ds["values"].values, f.values)


def test_field_template_matches_read_field(tmp_path):
    src = synthetic_netcdf(tmp_path / "t.nc")
    with open_raw(src) as ds:
        da = ds["t2m"].load()
    t = climate.field_template(da)
    assert stored(t).field_shape == t.field_shape and stored(t).encoding == t.encoding
    assert t.name == "t2m" and t.dims == ("time", "lat", "lon") and t.grid == ("lat", "lon")
    assert t.field_shape == (5, 7, 10) and t.attrs["units"] == "K"
    assert t.encoding["_FillValue"] == np.float32(-9999.0)


def test_wrong_values_shape_is_refused(tmp_path):
    f = climate.read_field(synthetic_netcdf(tmp_path / "t.nc"))
    with pytest.raises(FormatError, match="do not match"):
        climate.to_dataarray(f.values[:, :, :-1], f.template)
    with pytest.raises(FormatError, match="do not match"):
        climate.to_dataarray(f.values[:, :, :-1], stored(f.template))


def test_decoded_arrays_do_not_share_the_template():
    f = climate.from_dataarray(xr.DataArray(np.ones((2, 3)), dims=("y", "x"), name="t",
                                            coords={"depth": ("y", [1.0, 2.0])}, attrs={"flags": [1, 2]}))
    da = climate.to_dataarray(f.values, f.template)
    da.attrs["flags"].append(3)
    da.coords["depth"].values[0] = 9.0  # Not an index: a plain array that a shared template would see.
    assert f.template.attrs["flags"] == [1, 2] and f.template.coords["depth"].values[0] == 1.0


@pytest.mark.parametrize("data", [b"", b"junk", zlib.compress(b"\x01\x00"), zlib.compress(b"\x05\x00\x00\x00{}xyz"),
                                  zlib.compress(b"\x02\x00\x00\x00[]")])
def test_corrupt_template(data):
    with pytest.raises(FormatError):
        climate_template.unpack(data)


def _edited_template(template: climate.Template, edit) -> bytes:
    """The template with its JSON edited, deflated without the preset dictionary (format 1.0)."""
    raw = zlib.decompressobj(zdict=climate_template.TEMPLATE_DICTIONARY).decompress(climate_template.pack(template))
    n = int.from_bytes(raw[:4], "little")
    import json

    doc = json.loads(raw[4:4 + n])
    edit(doc)
    text = json.dumps(doc).encode()
    return zlib.compress(len(text).to_bytes(4, "little") + text + raw[4 + n:])


@pytest.mark.parametrize("edit,message", [
    (lambda d: d.update(shape=[1 << 20, 1 << 20, 1]), "more than"),
    (lambda d: d["coords"][0]["data"].update(shape=[1 << 27], at=0), "outside the template"),
    (lambda d: d["coords"][1]["data"].update(n=1 << 40), "bad size"),
    (lambda d: d["coords"][1]["data"].update(dtype="O"), "unsupported dtype"),
    (lambda d: d.update(grid=["lat", "nope"]), "invalid grid"),
    (lambda d: d.update(v=99), "version 99"),
])
def test_template_sizes_are_checked_before_allocating(tmp_path, edit, message):
    f = climate.read_field(synthetic_netcdf(tmp_path / "t.nc"))
    with pytest.raises(FormatError, match=message):
        climate_template.unpack(_edited_template(f.template, edit))


def test_templates_use_the_preset_dictionary_and_1_0_templates_still_parse(tmp_path):
    f = climate.read_field(synthetic_netcdf(tmp_path / "t.nc"))
    template = climate_template.pack(f.template)
    assert climate_template.uses_dictionary(template)
    raw = zlib.decompressobj(zdict=climate_template.TEMPLATE_DICTIONARY).decompress(template)
    plain = zlib.compress(raw, 9)
    assert not climate_template.uses_dictionary(plain) and len(template) < len(plain)
    xr.testing.assert_identical(climate.to_dataarray(f.values, climate_template.unpack(plain)),
                                climate.to_dataarray(f.values, climate_template.unpack(template)))


def test_template_with_another_preset_dictionary_is_refused(tmp_path):
    f = climate.read_field(synthetic_netcdf(tmp_path / "t.nc"))
    raw = zlib.decompressobj(zdict=climate_template.TEMPLATE_DICTIONARY).decompress(climate_template.pack(f.template))
    other = zlib.compressobj(zdict=b'{"v":1,"name":"other dictionary"}')
    data = other.compress(raw) + other.flush()
    assert climate_template.uses_dictionary(data)
    with pytest.raises(FormatError, match="corrupt"):
        climate_template.unpack(data)


# --- .npy, .npz ------------------------------------------------------------------------------------


def test_npy_2d_and_nd(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(12, dtype=np.int16).reshape(3, 4))
    f = climate.read_field(tmp_path / "a.npy")
    assert f.values.dtype == np.float64 and f.values.shape == (3, 4) and f.latlon is None and f.name == "values"
    assert f.template.encoding == stored(f.template).encoding == {}
    np.save(tmp_path / "b.npy", np.ones((2, 3, 4, 5), np.float32))
    assert climate.read_field(tmp_path / "b.npy").values.shape == (2, 3, 4, 5)


def test_npz_key_selection(tmp_path):
    np.savez(tmp_path / "one.npz", temperature=np.ones((4, 5), np.float32))
    assert climate.read_field(tmp_path / "one.npz").name == "temperature"
    np.savez(tmp_path / "two.npz", a=np.ones((4, 5)), b=np.zeros((2, 2)))
    assert climate.read_field(tmp_path / "two.npz", "b").values.shape == (2, 2)


def zipped_npy(values) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, a=values)
    return buf.getvalue()


def write_npy(values):
    return lambda p: np.save(p.with_suffix(".npy"), values)


@pytest.mark.parametrize("name,make,var,message", [
    ("x.npy", write_npy(np.zeros(5)), None, "has 1 dimension"),
    ("x.npy", write_npy(np.full((2, 2), np.nan)), None, "all values missing"),
    ("x.npy", write_npy(np.array([[1.0, np.inf], [-np.inf, 0]])), None, "has 2 infinite values"),
    ("x.npy", write_npy(np.zeros((2, 2), complex)), None, "non-numeric"),
    ("x.npy", write_npy(np.zeros((2, 0))), None, "has no values"),
    ("x.npy", write_npy(np.zeros((2, 2))), "t", "holds one unnamed array"),
    ("x.npy", lambda p: p.write_bytes(b"garbage"), None, "not a .npy file"),
    ("x.npz", lambda p: np.savez(p, a=np.ones((2, 2)), b=np.ones((2, 2))), None, r"2 arrays \(a, b\); choose one"),
    ("x.npz", lambda p: np.savez(p, a=np.ones((2, 2))), "c", r"no array 'c' \(available: a\)"),
    ("x.npz", lambda p: p.write_bytes(b"garbage"), None, "not an .npz"),
    ("x.npz", lambda p: p.write_bytes(b"PK\x03\x04garbage"), None, "cannot read .npz file"),
    ("x.npz", lambda p: p.write_bytes(zipped_npy(np.ones((3, 3)))[:-30]), None, "cannot read"),
    ("x.nc", lambda p: p.write_bytes(b"garbage"), None, "cannot read netCDF file"),
    ("x.grib", lambda p: p.write_bytes(b"garbage"), None, "cannot read GRIB file"),
    ("x.txt", lambda p: p.write_text("1 2"), None, "unknown field format .txt"),
    ("x.nc", lambda p: None, None, "no such file"),
    ("x.nc", lambda p: p.mkdir(), None, "is a directory"),
    ("x.nc", lambda p: xr.Dataset({"a": ("x", [1.0])}).to_netcdf(p), None, "no variable with 2 or more dim"),
    ("x.nc", lambda p: xr.Dataset({"a": (("y", "x"), [[1.0]]), "b": (("y", "x"), [[1.0]])}).to_netcdf(p), None,
     r"2 variables with 2 or more dimensions \(a, b\); choose one"),
    ("x.nc", lambda p: xr.Dataset({"a": (("y", "x"), [[1.0]])}).to_netcdf(p), "t2m",
     r"no variable 't2m' \(available: a\)"),
    ("x.nc", lambda p: xr.Dataset({"a": ("x", [1.0])}).to_netcdf(p), "a", "has 1 dimension"),
    ("x.nc", lambda p: xr.Dataset({"a": (("y", "x"), [[np.nan]])}).to_netcdf(p), None, "all values missing"),
    ("x.nc", lambda p: xr.Dataset({"a": (("y", "x"), [[np.inf]])}).to_netcdf(p), None, "infinite"),
])
def test_errors(tmp_path, name, make, var, message):
    path = tmp_path / name
    make(path)
    with pytest.raises(InputError, match=message) as e:
        climate.read_field(path, var)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def test_too_many_values_refused_before_loading(tmp_path, monkeypatch):
    np.save(tmp_path / "a.npy", np.ones((30, 40)))
    np.savez(tmp_path / "a.npz", big=np.ones((30, 40)))
    synthetic_netcdf(tmp_path / "a.nc")
    monkeypatch.setattr(climate, "MAX_VALUES", 300)  # the netCDF field has 350 values
    for name in ("a.npy", "a.npz", "a.nc"):
        with pytest.raises(InputError, match="more than 300 values"):
            climate.read_field(tmp_path / name)


# --- mask, metrics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (2, 7, 9), (744, 33, 49)])
def test_mask_round_trip(shape):
    rng = np.random.default_rng(2)
    for valid in (np.ones(shape, bool), np.zeros(shape, bool), rng.random(shape) < 0.7):
        data = climate_template.pack_mask(valid)
        np.testing.assert_array_equal(climate_template.unpack_mask(data, shape), valid)
    assert climate_template.pack_mask(np.ones(shape, bool)) == b""
    assert len(climate_template.pack_mask(np.zeros(shape, bool))) < 200


def test_land_mask_is_compact():
    valid = np.ones((12, 91, 181), bool)
    valid[:, 20:50, 30:90] = False  # the same "continent" in every month
    assert len(climate_template.pack_mask(valid)) < 200


def test_corrupt_mask():
    data = climate_template.pack_mask(np.eye(4, dtype=bool))
    with pytest.raises(FormatError):
        climate_template.unpack_mask(data, (5, 5))
    with pytest.raises(FormatError):
        climate_template.unpack_mask(data[:-3], (4, 4))
    with pytest.raises(FormatError):
        climate_template.unpack_mask(b"junk", (4, 4))
    with pytest.raises(FormatError, match="more than"):
        climate_template.unpack_mask(data, (1 << 20, 1 << 20))


def test_metrics_use_valid_points_only():
    ref = np.array([[1.0, 2.0], [np.nan, 4.0]])
    test = np.array([[1.5, 2.0], [100.0, 3.0]])
    assert metrics.rmse(ref, test) == pytest.approx(np.sqrt((0.25 + 1.0) / 3))
    assert metrics.max_abs_error(ref, test) == 1.0
    lo, hi = climate.ERA5_T2M_RANGE
    assert (lo, hi) == (202.66, 320.93)
    assert metrics.psnr_range(ref, test, 0.0, 10.0) == pytest.approx(20 * np.log10(10 / np.sqrt(1.25 / 3)))
    assert metrics.psnr_range(ref, ref, lo, hi) == float("inf")
    only_first = np.array([[True, False], [False, False]])
    assert metrics.rmse(ref, test, only_first) == 0.5


# --- GRIB and real data ----------------------------------------------------------------------------


def test_grib_in_read_only_directory_writes_no_index(tmp_path, caplog):
    src = need(ARCHIVES / "era5-single-level-scalar-time.grib")
    ro = tmp_path / "ro"
    ro.mkdir()
    shutil.copy(src, ro / "t2m.grib")
    os.chmod(ro, 0o555)
    try:
        f = climate.read_field(ro / "t2m.grib")
    finally:
        os.chmod(ro, 0o755)
    assert os.listdir(ro) == ["t2m.grib"]
    assert not [r for r in caplog.records if "idx" in r.getMessage()]  # not even a failed attempt
    assert (f.name, f.units, f.values.shape) == ("t2m", "K", (121, 201))
    t = stored(f.template)
    assert {"time", "step", "number", "surface", "valid_time"} <= set(t.coords)


def test_real_era5_uk_grib(tmp_path):
    src = need(ARCHIVES / "era5-2mt-2019-03-uk.grib")
    before = sorted(os.listdir(src.parent))
    f = climate.read_field(src)
    assert sorted(os.listdir(src.parent)) == before
    assert (f.name, f.units, f.values.shape) == ("t2m", "K", (744, 33, 49))
    assert f.valid.all() and climate_template.pack_mask(f.valid) == b""
    assert f.latlon[0, 0].tolist() == [58.0, -10.0] and f.latlon[-1, -1].tolist() == [50.0, 2.0]
    assert len(climate_template.pack(f.template)) < 2000
    assert 230 < np.nanmin(f.values) < np.nanmax(f.values) < 300
    t = f.template
    assert t.coords["time"].dtype == np.dtype("datetime64[ns]") and t.coords["step"].dtype.kind == "m"
    out = decode_to_file(f, tmp_path / "uk.nc")
    with xr.open_dataset(out) as back, xr.open_dataset(src, engine="cfgrib",
                                                       backend_kwargs={"indexpath": ""}) as orig:
        # cfgrib's `history` (the time of reading, the input's path) is not kept: see the next test.
        assert "cfgrib" in orig.attrs.pop("history") and "history" not in back.attrs
        assert_same_variable(back, orig, "t2m")


def test_grib_template_is_the_same_at_every_read():
    """cfgrib stamps its `history` with the minute of reading and the path: the template drops it,
    so encoding one GRIB file twice gives the same bytes."""
    src = need(ARCHIVES / "era5-single-level-scalar-time.grib")
    t = stored(climate.read_field(src).template)
    assert "history" not in t.global_attrs and t.global_attrs["Conventions"] == "CF-1.7"


@pytest.mark.parametrize("fmt", ["NETCDF3_CLASSIC", "NETCDF3_64BIT"])
def test_truncated_classic_netcdf_is_refused(tmp_path, fmt):
    """Record and fixed variables: a classic file cut anywhere in its data is refused, not read as fill values."""
    import netCDF4

    path = tmp_path / "f.nc"
    with netCDF4.Dataset(path, "w", format=fmt) as ds:
        ds.createDimension("time", None)
        ds.createDimension("y", 3)
        ds.createDimension("x", 5)
        ds.title = "two record variables and a fixed one"
        ds.createVariable("fixed", "f8", ("y", "x"))[:] = 1.0
        ds.createVariable("t2m", "f4", ("time", "y", "x"))[:] = np.ones((4, 3, 5))
        ds.createVariable("flag", "i2", ("time", "y", "x"))[:] = np.ones((4, 3, 5))
    data = path.read_bytes()
    climate.read_field(path, "t2m")
    for n in (len(data) // 2, len(data) - 5):
        (tmp_path / "cut.nc").write_bytes(data[:n])
        with pytest.raises(InputError, match="truncated"):
            climate.read_field(tmp_path / "cut.nc", "t2m")


@pytest.mark.parametrize("name", ["train/geocat_t2m_single/T2m.nc",  # classic (CDF-1)
                                  "archives/eraint_uvz.nc",  # 64-bit offsets (CDF-2)
                                  "archives/basin_mask.nc"])  # netCDF-4 (HDF5): the library refuses it
def test_real_netcdf_cut_in_half_is_refused(tmp_path, name):
    data = need(DATA / name).read_bytes()
    cut = tmp_path / "half.nc"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="half.nc: (truncated|cannot read)"):
        climate.read_field(cut, "u" if "uvz" in name else None)


def test_real_sst_netcdf(tmp_path):
    src = need(ARCHIVES / "sstdata_netcdf.nc")
    f = climate.read_field(src)
    assert (f.name, f.units, f.values.shape) == ("sst", "deg_C", (12, 91, 181))
    assert f.latlon.shape == (91, 181, 2) and f.latlon[0, 0].tolist() == [-90.0, 0.0]
    # The README says land is NaN; this copy stores land (and sea ice) as -1.8, the valid_range minimum.
    assert int((~f.valid).sum()) == 0 and np.min(f.values) == np.float32(-1.8)
    out = decode_to_file(f, tmp_path / "sst.nc")
    with open_raw(out) as back, open_raw(src) as orig:
        assert_same_variable(back, orig.set_coords(["lat", "lon"]), "sst")


def test_real_masked_netcdf(tmp_path):
    src = need(ARCHIVES / "ostia_monthly.nc")
    f = climate.read_field(src)
    assert f.values.shape == (54, 18, 432) and f.units == "K"
    assert int((~f.valid).sum()) == 110970  # land
    out = decode_to_file(f, tmp_path / "ostia.nc")
    with open_raw(out) as back, open_raw(src) as orig:
        assert_same_variable(back, orig, "surface_temperature")


def test_real_rotated_grid(tmp_path):
    src = need(ARCHIVES / "tas_rotated_grid_EUR11.nc")
    f = climate.read_field(src)
    assert (f.name, f.units, f.values.shape) == ("tas", "K", (1, 1, 412, 424))
    # EURO-CORDEX EUR-11 corners (south-west, north-east) from the rotated pole (39.25 N, 162 W).
    np.testing.assert_allclose(f.latlon[0, 0], [21.99, -10.06], atol=0.01)
    np.testing.assert_allclose(f.latlon[-1, -1], [66.69, 64.96], atol=0.01)
    out = decode_to_file(f, tmp_path / "tas.nc")
    with open_raw(out) as back, open_raw(src) as orig:
        assert_same_variable(back, orig, "tas")


def test_real_cmip_bounds_are_kept(tmp_path):
    """lat_bnds, lon_bnds, time_bnds (dims lat/lon/time x nb2) and the coordinates' `bounds` attributes
    come back; the regular lon_bnds are stored as two arithmetic columns."""
    src = need(ARCHIVES / "tas_rectilinear_grid_2D.nc")
    f = climate.read_field(src)
    assert list(f.template.bounds) == ["lon_bnds", "lat_bnds", "time_bnds"]
    out = decode_to_file(f, tmp_path / "tas.nc")
    with open_raw(out) as back, open_raw(src) as orig:
        assert_same_variable(back, orig, "tas")
    import netCDF4

    with netCDF4.Dataset(out) as back, netCDF4.Dataset(src) as orig:
        for name in ("lon_bnds", "lat_bnds", "time_bnds", "lon", "lat", "time"):
            assert back[name].dimensions == orig[name].dimensions, name  # The netCDF attributes, as stored,
            # but for units and calendar equal to the parent's: xarray leaves those out of bounds (CF: inherited).
            parent = {"time_bnds": "time"}.get(name)
            kept = {k: orig[name].getncattr(k) for k in orig[name].ncattrs()
                    if not (parent and k in ("units", "calendar") and orig[name].getncattr(k) == orig[parent].getncattr(k))}
            assert {k: back[name].getncattr(k) for k in back[name].ncattrs()} == kept, name
    raw = zlib.decompressobj(zdict=climate_template.TEMPLATE_DICTIONARY).decompress(climate_template.pack(f.template))
    assert b'"name":"lon_bnds","dims":["lon","nb2"],"data":{"dtype":"<f8","start":[' in raw


def _bounded_dataarray() -> xr.DataArray:
    lat, lon = np.array([10.0, 20.0, 30.0]), np.arange(4) * 90.0
    lat_bnds = xr.Variable(("lat", "nv"), np.stack([lat - 5, lat + 5], axis=1), {"units": "degrees_north"})
    da = xr.DataArray(np.arange(12.0).reshape(3, 4), dims=("lat", "lon"), name="t",
                      coords={"lat": ("lat", lat, {"units": "degrees_north"}), "lon": ("lon", lon)})
    da["lat"].encoding["bounds"] = "lat_bnds"
    da.encoding[climate.BOUNDS] = {"lat_bnds": lat_bnds}
    return da


def test_bounds_of_an_in_memory_dataarray_round_trip(tmp_path):
    f = climate.from_dataarray(_bounded_dataarray())
    back = climate.to_dataarray(f.values, stored(f.template))
    xr.testing.assert_identical(back.encoding[climate.BOUNDS]["lat_bnds"], _bounded_dataarray().encoding[climate.BOUNDS]["lat_bnds"])
    (tmp_path / "b.nc").write_bytes(climate.netcdf_bytes(back))
    with open_raw(tmp_path / "b.nc") as ds:
        assert ds["lat"].encoding["bounds"] == "lat_bnds" and ds["lat_bnds"].dims == ("lat", "nv")
        np.testing.assert_array_equal(ds["lat_bnds"].values[:, 1], [15.0, 25.0, 35.0])


@pytest.mark.parametrize("edit,message", [
    (lambda d: d["bounds"].append(dict(d["bounds"][0], name="other", data=dict(d["bounds"][0]["data"],
                                       start=[5.0, 15.0, 25.0], step=[1.0] * 3))), "has shape"),  # nv of 3, not 2
    (lambda d: d["bounds"][0]["data"].update(start=[5.0, "15"]), "bad arithmetic columns"),
    (lambda d: d["bounds"].append(dict(d["bounds"][0], dims=["lat", "nv2"])), "named like another"),
    (lambda d: d["bounds"][0].update(name="lat"), "named like another"),
    (lambda d: d["bounds"][0].update(dims=["lon", "nv"]), "has shape"),  # lon has 4 points, not 3
    (lambda d: d.update(bounds=[]), "disagree with the header"),
])
def test_corrupt_bounds_are_refused(edit, message):
    template = climate.from_dataarray(_bounded_dataarray()).template
    with pytest.raises(FormatError, match=message):
        climate_template.unpack(_edited_template(template, edit), bounds=True)


def test_bounds_need_the_header_flag_and_only_bounds_set_it():
    template = climate_template.pack(climate.from_dataarray(_bounded_dataarray()).template)
    with pytest.raises(FormatError, match="disagree with the header"):
        climate_template.unpack(template)  # A 1.5 decoder's view: flags bit 3 clear.
    plain = climate.from_dataarray(xr.DataArray(np.zeros((3, 4)), dims=("y", "x"))).template
    assert not climate_template.has_bounds(plain)
    with pytest.raises(FormatError, match="disagree with the header"):
        climate_template.unpack(climate_template.pack(plain), bounds=True)


def test_real_era5_npz_and_coinpp_psnr():
    src = need(DATA / "era5_46x90" / "era5_t2m_test_0000.npz")
    recon = need(DATA / "era5_46x90" / "coinpp_reconstruction_test_0000.npz")
    f = climate.read_field(src, "temperature")
    assert f.values.shape == (46, 90) and f.latlon is None and f.valid.all()
    lo, hi = climate.ERA5_T2M_RANGE
    normalized = climate.read_field(src, "temperature_normalized").values
    np.testing.assert_allclose((f.values - lo) / (hi - lo), normalized, atol=1e-5)
    coinpp = climate.read_field(recon).values
    assert 30 < metrics.psnr_range(normalized, coinpp, 0.0, 1.0) < 60
