"""The error-bounded climate mode (format 1.5): every decoded value within the bound, exactly coded residuals.

Most cases need no network: `climate._bounded` takes any float64 prediction, so thousands of field x
bound cases run in seconds; the end-to-end cases use the tiny climate base (one fit).
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from inrcodec.bitstream import residuals
from inrcodec.bitstream.climate import ClimateHeader
from inrcodec.errors import FormatError, InputError
from inrcodec.modalities import climate
from inrcodec.signals import climate as climate_io


def _field(values: np.ndarray, dtype=np.float64) -> climate_io.Field:
    template = climate_io.Template("t", ("time", "y", "x"), values.shape, ("y", "x"), {}, {}, {}, {"dtype": np.dtype(dtype)})
    return climate_io.Field(values, ~np.isnan(values), None, template, "t", "K")


def _kinds(rng: np.random.Generator, shape: tuple[int, ...]):
    """(name, values (F, ny, nx) float64 with NaN where missing, prediction) of hard and easy fields."""
    f, ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx]
    smooth = 250 + 30 * np.sin(y / 3.0)[None] * np.cos(x / 5.0)[None] + np.arange(f)[:, None, None]
    noisy = smooth + rng.normal(0, 5, shape)
    yield "smooth", smooth, smooth + rng.normal(0, 1, shape)
    yield "noisy", noisy, smooth
    masked = noisy.copy()
    masked[:, : ny // 2, : nx // 3] = np.nan
    yield "masked", masked, smooth
    yield "constant", np.full(shape, 273.15), np.full(shape, 270.0)
    edges = np.where(rng.random(shape) < 0.5, -1e6, 1e6)  # Values at the far ends of a huge range.
    yield "edges", edges, np.zeros(shape)
    yield "float32 steps", np.float32(smooth).astype(np.float64) + np.float64(np.spacing(np.float32(300))), smooth
    yield "bad prediction", noisy, smooth[::-1] * 1.5


def test_bound_holds_for_thousands_of_fields_and_bounds():
    """Every field x bound: |decoded - original| <= bound at every valid point, also after float32 storage;
    the residuals decode to exactly the encoder's values."""
    rng = np.random.default_rng(0)
    cases, predictors = 0, set()
    for trial in range(26):
        shape = (int(rng.integers(1, 4)), int(rng.integers(3, 12)), int(rng.integers(3, 20)))
        for name, values, prediction in _kinds(rng, shape):
            spread = np.nanmax(values) - np.nanmin(values)
            for bound in (10 ** rng.uniform(-4, 1, size=5)).tolist() + [spread + 1.0]:
                for dtype in (np.float64, np.float32):
                    field = _field(values, dtype)
                    try:
                        header, extra, decoded = climate._bounded(field, prediction, bound, -50.0, 400.0)
                    except InputError:
                        assert name == "edges", (name, bound, dtype)  # +-1e6: float32 spacing 0.06, 2^33 steps.
                        continue
                    valid = field.valid
                    error = np.abs(decoded - values)[valid]
                    assert (error <= bound).all(), (name, bound, error.max())
                    stored = np.abs(decoded.astype(dtype).astype(np.float64) - values)[valid]
                    assert (stored <= bound).all(), (name, bound, dtype, stored.max())
                    assert np.isnan(decoded[~valid]).all()
                    raw = header.raw_bytes(header.coded_count(valid))
                    stream, low = extra[: header.stream_bytes], extra[header.stream_bytes :]
                    assert len(low) == raw
                    again = np.where(valid, prediction + residuals.decode(header, stream, low, valid), np.nan)
                    np.testing.assert_array_equal(again, decoded)
                    predictors.add(header.predictor)
                    cases += 1
    assert cases >= 2000, cases
    assert {0, 1} < predictors and len(predictors) >= 4, predictors  # Several axis orders were chosen too.


def test_residual_coder_round_trips_every_predictor_and_shift():
    """Symbols of every predictor and shift decode to exactly the encoder's residuals, within step / 2."""
    rng = np.random.default_rng(1)
    for trial in range(40):
        shape = (int(rng.integers(1, 5)), int(rng.integers(1, 30)), int(rng.integers(1, 30)))
        step = 10 ** rng.uniform(-3, 1)
        e = np.cumsum(rng.laplace(0, 10 ** rng.uniform(-2, 6), shape), axis=-1)
        valid = rng.random(shape) < (0.7 if trial % 2 else 1.01)
        e[~valid] = 0
        for predictor in residuals.PREDICTORS:
            d, decoded = residuals.fit(e, valid, step, predictor)
            assert (np.abs(e - decoded)[valid] <= step / 2 * (1 + 1e-9) + 1e-9 * np.abs(e[valid])).all()
            for shift in (residuals.least_shift(d), residuals.least_shift(d) + 1):
                index, context, _ = residuals._high_coding(d >> shift)
                stream, raw = residuals.encode(d, shift, index, context)
                header = residuals.ResidualHeader(step, step, predictor, shift, index, context, len(stream))
                back = residuals.decode(header, stream, raw, valid)
                np.testing.assert_array_equal(back[valid], decoded[valid])
                if residuals.is_interpolation(predictor):  # One scale per pass.
                    sizes = residuals.group_sizes(valid, predictor)
                    groups, _ = residuals._group_coding(d >> shift, sizes)
                    stream, raw = residuals.encode(d, shift, 0, 0, groups, sizes)
                    header = residuals.ResidualHeader(step, step, predictor, shift, 0, 0, len(stream), groups)
                    assert residuals.ResidualHeader.unpack_from(header.pack(), 0)[0] == header
                    back = residuals.decode(header, stream, raw, valid)
                    np.testing.assert_array_equal(back[valid], decoded[valid])
                    short = residuals.ResidualHeader(step, step, predictor, shift, 0, 0, len(stream), groups[:-1])
                    with pytest.raises(FormatError, match="scale groups"):
                        residuals.decode(short, stream, raw, valid)


def test_bound_modes_are_refused_where_they_cannot_hold():
    values = np.full((1, 4, 5), 300.0)
    with pytest.raises(InputError, match="below what the decoded values can resolve"):
        climate._bounded(_field(values, np.float32), values, 1e-6, 200.0, 320.0)  # float32 spacing at 300 is 3e-5.
    with pytest.raises(InputError, match="relative bound needs values that vary"):
        climate.error_bound(_field(values), None, 0.01)
    with pytest.raises(InputError, match="not both"):
        climate.error_bound(_field(values), 0.1, 0.01)
    with pytest.raises(InputError, match="positive"):
        climate.error_bound(_field(values), -1.0, None)
    assert climate.error_bound(_field(values + np.arange(5)), None, 0.5) == 2.0


def test_float64_prediction_moves_far_less_than_its_margin():
    """The decoder's float64 prediction, with every weight moved by 4 ulps (another CPU's sums and sines
    differ by less): the change is < 1/1000 of the margin the bound keeps for it."""
    import dataclasses

    from inrcodec import decoder
    from inrcodec.core import bases
    from inrcodec.core.config import grid_shapes

    base = bases.load_base("siren-climate-v2")
    lo, hi = base.manifest["value_range"]
    rng = np.random.default_rng(2)
    ints = [rng.integers(-3, 4, (1, *s)).astype(np.int32) for s in grid_shapes((46, 90), base.cfg)]
    inputs = climate.grid_inputs(None, 46, 90, base)[None]

    def predict(net_base):
        return decoder.reconstruct_batch(net_base, ints, (46, 90), 0.5, inputs, dtype=np.float64)[..., 0] * (hi - lo)

    moved = dataclasses.replace(base, params={"net": _nudged(base.params["net"])})
    change = np.abs(predict(moved) - predict(base)).max()
    assert change < climate.PREDICTION_MARGIN * (hi - lo) / 1000, change


def _nudged(net):
    if isinstance(net, dict):
        return {k: _nudged(v) for k, v in net.items()}
    if isinstance(net, (list, tuple)):
        return [_nudged(v) for v in net]
    w = np.asarray(net, np.float64)
    return w * (1 + 4 * np.finfo(np.float64).eps)


def test_header_rejects_invalid_error_bound_fields():
    good = residuals.ResidualHeader(0.1, 0.2, 1, 0, 96, 0, 8)
    assert residuals.ResidualHeader.unpack_from(good.pack(), 0)[0] == good
    for bad in (good.__class__(0.1, 0.3, 1, 0, 96, 0, 8), good.__class__(0.1, 0.2, 8, 0, 96, 0, 8),
                good.__class__(0.1, 0.2, 1, 25, 96, 0, 8), good.__class__(0.1, 0.2, 1, 0, 0, 0, 8),
                good.__class__(float("nan"), 0.2, 1, 0, 96, 0, 8), good.__class__(0.1, 0.2, 1, 0, 96, 0, 6),
                good.__class__(0.1, 0.2, 1, 0, 0, 0, 8, (96,))):  # Scale groups need interpolation.
        with pytest.raises(FormatError):
            residuals.ResidualHeader.unpack_from(bad.pack(), 0)
    with pytest.raises(FormatError, match="truncated"):
        residuals.ResidualHeader.unpack_from(good.pack()[:-1], 0)


def test_cli_max_error_round_trip_through_netcdf(small_climate, tmp_path, inr_bases, capsys):
    """`encode --max-error` on a netCDF stack with missing values; the decoded netCDF is within the bound."""
    import xarray as xr

    from conftest import FAST_FIT_STEPS
    from inrcodec.cli import main

    out = tmp_path / "bounded.inr"
    rc = main(["encode", str(small_climate.src), "-o", str(out), "--base", "tiny-climate-test-base",
               "--fit-steps", FAST_FIT_STEPS, "--max-error", "0.05", "--quiet", "--json"])
    assert rc == 0
    line = json.loads(capsys.readouterr().out)
    assert line["max_abs_error"] <= 0.05
    assert main(["decode", str(out), "-o", str(tmp_path / "back.nc")]) == 0
    assert "every value within 0.05" in capsys.readouterr().out
    original = xr.open_dataarray(small_climate.src).values
    back = xr.open_dataarray(tmp_path / "back.nc").values
    assert np.array_equal(np.isnan(back), np.isnan(original))
    assert np.nanmax(np.abs(back - original)) <= 0.05
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["max_error"] == 0.05 and info["format"] == "1.5"
    plain = small_climate.inr.read_bytes()
    assert ClimateHeader.unpack(_meta(plain)).residual is None


def test_cli_keeps_cell_bounds_in_a_format_1_6_file(tmp_path, inr_bases, capsys):
    """A netCDF whose lat and time name bounds variables (lat_bnds, time_bnds; dims x nv) decodes with
    them and the `bounds` attributes; such files are format 1.6 (climate flags bit 3)."""
    import xarray as xr

    from inrcodec.bitstream.climate import FLAG_BOUNDS
    from inrcodec.cli import main
    from make_assets import synthetic_field

    ds = synthetic_field(times=2, missing=False).to_dataset()
    lat, time = ds["lat"].values, ds["time"].values
    ds = ds.assign_coords(lat_bnds=(("lat", "nv"), np.stack([lat - 1, lat + 1], axis=1)),
                          time_bnds=(("time", "nv"), np.stack([time, time + 1], axis=1)))
    ds["lat"].attrs["bounds"], ds["time"].attrs["bounds"] = "lat_bnds", "time_bnds"
    ds.to_netcdf(tmp_path / "b.nc")
    assert main(["encode", str(tmp_path / "b.nc"), "-o", str(tmp_path / "b.inr"), "--base",
                 "tiny-climate-test-base", "--max-error", "0.5", "--quiet"]) == 0
    assert main(["decode", str(tmp_path / "b.inr"), "-o", str(tmp_path / "back.nc")]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "b.inr"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "1.6" and sorted(info["bounds"]) == ["lat_bnds", "time_bnds"]
    assert ClimateHeader.unpack(_meta((tmp_path / "b.inr").read_bytes())).bounds
    with xr.open_dataset(tmp_path / "back.nc", decode_times=False) as back, \
            xr.open_dataset(tmp_path / "b.nc", decode_times=False) as orig:
        for name in ("lat_bnds", "time_bnds"):
            np.testing.assert_array_equal(back[name].values, orig[name].values)
        assert back["lat"].attrs["bounds"] == "lat_bnds"
        assert np.abs(back["t2m"].values - orig["t2m"].values).max() <= 0.5
    meta = bytearray(_meta((tmp_path / "b.inr").read_bytes()))
    meta[8] &= ~FLAG_BOUNDS  # As a 1.5 encoder could not have written it: the template disagrees.
    with pytest.raises(FormatError, match="disagree"):
        ClimateHeader.unpack(bytes(meta)).describe()


def _meta(data: bytes) -> bytes:
    (meta_len,) = struct.unpack_from("<H", data, 16)
    return data[18 : 18 + meta_len]


@pytest.mark.parametrize("args, message", [
    (["--max-error", "0.1"], "--max-error applies to climate signals, not image"),
    (["--max-error", "0.1", "--bpp", "0.5"], None),
])
def test_cli_refuses_bounds_where_they_do_not_apply(small_png, tmp_path, inr_bases, capsys, args, message):
    from inrcodec.cli import main

    rc = main(["encode", str(small_png), "-o", str(tmp_path / "x.inr"), "--quiet", *args])
    err = capsys.readouterr().err
    assert rc != 0 and not (tmp_path / "x.inr").exists()
    assert len(err.strip().splitlines()) == 1
    if message:
        assert message in err


def test_packed_int16_netcdf_keeps_the_bound_at_the_ends_of_its_range(tmp_path, inr_bases, capsys):
    """int16 packing fitted to the source's range: decoded values beyond it are clipped into what the
    packing holds, not wrapped around (which once moved a value by 1e5)."""
    import xarray as xr

    from inrcodec.cli import main
    from make_assets import synthetic_field

    da = synthetic_field(times=2, missing=False)
    lo, hi = float(da.min()), float(da.max())
    scale = (hi - lo) / 65000
    da.encoding = {"dtype": "int16", "scale_factor": scale, "add_offset": (hi + lo) / 2}
    da.to_dataset().to_netcdf(tmp_path / "packed.nc")
    source = xr.open_dataarray(tmp_path / "packed.nc").values
    assert main(["encode", str(tmp_path / "packed.nc"), "-o", str(tmp_path / "p.inr"), "--base",
                 "tiny-climate-test-base", "--max-error", "0.5", "--quiet"]) == 0
    assert main(["decode", str(tmp_path / "p.inr"), "-o", str(tmp_path / "back.nc")]) == 0
    back = xr.open_dataarray(tmp_path / "back.nc").values
    assert np.abs(back - source).max() <= 0.5
