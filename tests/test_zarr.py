"""inrcodec.zarr: the numcodecs codec and its zarr 3 form. Chunks round trip within the bound (NaN kept,
dtype and shape kept) through the codec and through xarray zarr stores of both formats; the configs are
JSON; readers find the codec by entry point; a chunk whose base is missing names the base id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import numcodecs
import xarray as xr
import zarr

from inrcodec import api
from inrcodec.errors import FormatError, InputError, MissingBaseError
from inrcodec.zarr import CODEC_ID, ZARR3_NAME, InrCodec, InrZarr3Codec

from conftest import ASSETS_DIR

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "climate"
TINY_CLIMATE_BASE = "tiny-climate-test-base"
TINY_CLIMATE_ID = "c3f33e139e571d16"  # tests/assets/tiny-climate-base/manifest.json


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path


def temperatures(shape: tuple[int, ...], dtype, seed: int = 0, missing: float = 0.2) -> np.ndarray:
    """Smooth + noisy values around 280 K (*stack, ny, nx), a fraction `missing` of them NaN."""
    rng = np.random.default_rng(seed)
    y = np.arange(shape[-2])[:, None]
    x = np.arange(shape[-1])[None, :]
    values = 280 + 20 * np.sin(y / 3.0) * np.cos(x / 5.0) + rng.normal(0, 3, shape)
    values[rng.random(shape) < missing] = np.nan
    values.flat[0] = 280.0  # At least one value, however small the chunk.
    return values.astype(dtype)


def assert_within(decoded: np.ndarray, original: np.ndarray, bound: float) -> None:
    """Same dtype, shape and missing values; every value within `bound` (compared in float64)."""
    assert decoded.dtype == original.dtype and decoded.shape == original.shape
    np.testing.assert_array_equal(np.isnan(decoded), np.isnan(original))
    valid = ~np.isnan(original)
    error = np.abs(decoded.astype(np.float64)[valid] - original.astype(np.float64)[valid])
    assert error.max(initial=0.0) <= bound, error.max()


def chunk_bytes(store: Path, name: str) -> int:
    """Bytes of the chunk files of array `name` (zarr 2 or 3 layout)."""
    return sum(p.stat().st_size for p in (store / name).rglob("*") if p.is_file() and not p.name.startswith((".z", "zarr.json")))


# --- the numcodecs codec ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape, dtype", [
    ((9, 16), np.float32), ((3, 5, 7), np.float64), ((2, 3, 1, 1), np.float32), ((1, 13), np.float64),
    ((4, 2, 17, 3), np.float32), ((2, 11, 6), ">f4"), ((3, 4, 5), ">f8"),
])
def test_codec_round_trip_within_bound(shape, dtype):
    original = temperatures(shape, dtype)
    codec = InrCodec(max_error=0.05)
    data = codec.encode(original)
    decoded = codec.decode(data)
    assert_within(decoded, original.astype(np.dtype(dtype).newbyteorder("=")), 0.05)
    assert api.format_of(data).NAME == "climate"  # An ordinary .inr file.
    out = np.empty(shape, np.dtype(dtype).newbyteorder("="))
    assert codec.decode(data, out=out) is out
    np.testing.assert_array_equal(out, decoded)


def test_float32_round_trip_holds_where_float32_rounding_is_coarse():
    """Values near 1e4-1e5 (float32 spacing up to 0.008) with bounds a few spacings wide: the float32
    chunk is encoded as float32 (the encoder's storage margin), so its float32 round trip keeps the bound."""
    rng = np.random.default_rng(1)
    original = (rng.uniform(1e4, 1e5, (3, 10, 12))).astype(np.float32)
    for bound in (0.02, 0.05, 0.5):
        assert_within(InrCodec(max_error=bound).decode(InrCodec(max_error=bound).encode(original)), original, bound)
    with pytest.raises(InputError, match="below what the decoded values can resolve"):
        InrCodec(max_error=1e-3).encode(original)  # Below float32's resolution there: refused, never broken.


def test_rel_error_is_a_fraction_of_each_chunks_range():
    original = temperatures((2, 9, 16), np.float64)
    spread = float(np.nanmax(original) - np.nanmin(original))
    codec = InrCodec(rel_error=0.01)
    assert_within(codec.decode(codec.encode(original)), original, 0.01 * spread)
    with pytest.raises(InputError, match="relative bound needs values that vary"):
        codec.encode(np.full((3, 3), 5.0))


@pytest.mark.parametrize("chunk, message", [
    (np.zeros(5, np.float32), "at least 2 dims"),
    (np.float64(3.0), "at least 2 dims"),
    (np.zeros((3, 3), np.int16), "float32 or float64"),
    (np.zeros((3, 3), np.float16), "float32 or float64"),
    (np.full((3, 3), np.nan), "all values missing"),
    (np.array([[1.0, np.inf], [2.0, 3.0]]), "infinite"),
])
def test_codec_refuses_chunks_it_cannot_store(chunk, message):
    with pytest.raises(InputError, match=message):
        InrCodec(max_error=0.1).encode(chunk)


def test_config_is_json_and_round_trips():
    for codec in (InrCodec(max_error=0.1), InrCodec(rel_error=0.001, quality=3, base="siren-climate-v2")):
        config = json.loads(json.dumps(codec.get_config()))
        assert config["id"] == CODEC_ID and set(config) == {"id", "max_error", "rel_error", "quality", "base"}
        assert numcodecs.get_codec(config) == codec == InrCodec.from_config(dict(config))
        v3 = InrZarr3Codec(**{k: v for k, v in config.items() if k != "id"})
        spec = json.loads(json.dumps(v3.to_dict()))
        assert spec == {"name": ZARR3_NAME, "configuration": {k: v for k, v in config.items() if k != "id"}}
        assert zarr.registry.get_codec_class(ZARR3_NAME).from_dict(spec) == v3
    assert InrCodec(max_error=1).get_config()["max_error"] == 1.0  # Numbers as floats: equal configs compare equal.


@pytest.mark.parametrize("options", [
    {}, {"max_error": 0.1, "rel_error": 0.1}, {"max_error": -1.0}, {"max_error": float("nan")}, {"rel_error": "0.1"},
    {"max_error": 0.1, "quality": 2.5}, {"max_error": 0.1, "base": "/some/folder/base"},
])
def test_bad_options_are_refused_when_the_codec_is_made(options):
    with pytest.raises(InputError):
        InrCodec(**options)
    with pytest.raises(InputError):
        InrZarr3Codec(**options)


def test_codecs_pickle_and_take_numpy_numbers():
    """Dask and multiprocessing writers pickle codecs; numpy scalars are plain numbers in the config."""
    import pickle

    codec, v3 = InrCodec(max_error=np.float32(0.5), quality=np.int64(2)), InrZarr3Codec(rel_error=np.float64(0.01))
    assert codec.get_config() == {"id": CODEC_ID, "max_error": 0.5, "rel_error": None, "quality": 2, "base": None}
    assert pickle.loads(pickle.dumps(codec)) == codec and pickle.loads(pickle.dumps(v3)) == v3
    json.dumps(codec.get_config()), json.dumps(v3.to_dict())


@pytest.mark.parametrize("shape, dtype, message", [((10,), "float32", "at least 2 dims"), ((4, 5), "int16", "float32 or float64")])
def test_zarr3_refuses_arrays_it_cannot_store_when_they_are_made(tmp_path, shape, dtype, message):
    with pytest.raises(InputError, match=message):
        zarr.create_array(tmp_path / "a.zarr", shape=shape, dtype=dtype, compressors=[InrZarr3Codec(max_error=0.1)])


def test_decode_refuses_bytes_that_are_not_a_climate_inr():
    with pytest.raises(FormatError, match="cannot decode a zarr chunk"):
        InrCodec(max_error=0.1).decode(b"not an inr file")
    with pytest.raises(FormatError, match=r"holds modality 1, not climate"):
        InrCodec(max_error=0.1).decode((ASSETS_DIR / "golden.inr").read_bytes())  # An image .inr.


# --- zarr stores through xarray ------------------------------------------------------------------------


def write_read(ds: xr.Dataset, store: Path, fmt: int, codec, chunks: tuple[int, ...]) -> xr.Dataset:
    """`ds` written to a zarr store of format `fmt` with `codec` on every data variable, read back (no dask)."""
    encoding = {name: {"chunks": chunks, "compressors": [codec]} for name in ds.data_vars}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", zarr.errors.ZarrUserWarning)  # Consolidated metadata outside the v3 spec.
        ds.to_zarr(store, zarr_format=fmt, encoding=encoding)
        return xr.open_zarr(store, chunks=None).load()


@pytest.mark.parametrize("fmt", [3, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_xarray_store_with_partial_chunks_round_trips(tmp_path, fmt, dtype):
    """Chunks (2, 4, 6) of a (5, 7, 11) variable: partial edge chunks in every dim, NaN anywhere."""
    original = temperatures((5, 7, 11), dtype, seed=fmt)
    original[2] = np.nan  # A field with no values inside a chunk with some.
    ds = xr.Dataset({"t": (("time", "lat", "lon"), original, {"units": "K"})})
    codec = InrZarr3Codec(max_error=0.2) if fmt == 3 else InrCodec(max_error=0.2)
    back = write_read(ds, tmp_path / "t.zarr", fmt, codec, (2, 4, 6))
    assert_within(back.t.values, original, 0.2)
    assert back.t.dims == ("time", "lat", "lon") and back.t.attrs == {"units": "K"}
    assert back.t.encoding["compressors"] == (codec,)


def test_missing_base_error_names_the_base_id(tmp_path, monkeypatch, inr_bases):
    """A store written with a base this reader lacks: the error names the base id (and the config's name)."""
    original = temperatures((2, 9, 16), np.float32)
    ds = xr.Dataset({"t": (("time", "lat", "lon"), original)})
    write_read(ds, tmp_path / "t.zarr", 3, InrZarr3Codec(max_error=0.5, base=TINY_CLIMATE_BASE), (1, 9, 16))
    data = InrCodec(max_error=0.5, base=TINY_CLIMATE_BASE).encode(original)
    monkeypatch.delenv("INRCODEC_BASES")  # The tiny base is only in tests/assets.
    with pytest.raises(MissingBaseError, match=f"id {TINY_CLIMATE_ID} is not installed.*names base '{TINY_CLIMATE_BASE}'"):
        InrCodec(max_error=0.5, base=TINY_CLIMATE_BASE).decode(data)
    with pytest.raises(MissingBaseError, match=f"id {TINY_CLIMATE_ID} is not installed"):
        InrCodec(max_error=0.5).decode(data)
    with pytest.raises(MissingBaseError, match=f"id {TINY_CLIMATE_ID} is not installed"):
        xr.open_zarr(tmp_path / "t.zarr", chunks=None).t.values


def test_readers_find_the_codec_by_entry_point(tmp_path):
    """A fresh process that never imports inrcodec.zarr reads stores of both formats (the package's
    numcodecs.codecs and zarr.codecs entry points)."""
    original = temperatures((3, 6, 8), np.float32)
    ds = xr.Dataset({"t": (("time", "lat", "lon"), original)})
    write_read(ds, tmp_path / "v3.zarr", 3, InrZarr3Codec(max_error=0.1), (2, 6, 8))
    write_read(ds, tmp_path / "v2.zarr", 2, InrCodec(max_error=0.1), (2, 6, 8))
    np.save(tmp_path / "original.npy", original)
    script = f"""
import sys, warnings
import numpy as np
import xarray as xr
warnings.simplefilter("ignore")
original = np.load(r"{tmp_path / 'original.npy'}")
for name in ("v2.zarr", "v3.zarr"):
    values = xr.open_zarr(r"{tmp_path}/" + name, chunks=None).t.values
    assert values.dtype == original.dtype and np.array_equal(np.isnan(values), np.isnan(original)), name
    assert np.nanmax(np.abs(values.astype(float) - original)) <= 0.1, name
assert "inrcodec.zarr" in sys.modules
"""
    env = {k: v for k, v in os.environ.items() if k != "INRCODEC_BASES"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]


def test_real_grib_file_in_a_zarr_store(tmp_path):
    """ERA5 2 m temperature over the UK (744 hourly float32 fields of 33x49), read by inrcodec's climate
    reader, written to a zarr 3 store in chunks of 24 hours and read back: every value within 0.1 K,
    dims, coordinates and attributes as written."""
    from inrcodec.signals import climate

    field = climate.read_field(need(DATA / "archives" / "era5-2mt-2019-03-uk.grib"))
    da = climate.to_dataarray(field.values, field.template)
    ds = da.astype(field.template.encoding["dtype"]).to_dataset()  # The file's float32.
    ds.attrs = dict(da.encoding[climate.GLOBAL_ATTRS])
    back = write_read(ds, tmp_path / "t2m.zarr", 3, InrZarr3Codec(max_error=0.1), (24, 33, 49))
    assert_within(back.t2m.values, ds.t2m.values, 0.1)
    assert back.t2m.dims == ds.t2m.dims and back.t2m.attrs == ds.t2m.attrs and back.attrs == ds.attrs
    assert set(back.coords) == set(ds.coords)
    for name in ds.coords:
        xr.testing.assert_identical(back[name].variable, ds[name].variable)
    ratio = ds.t2m.values.nbytes / chunk_bytes(tmp_path / "t2m.zarr", "t2m")
    assert ratio > 8, ratio  # 11.8 when written (a 24 h chunk: ~13 kB instead of 155 kB of float32).
