"""The climate training sampler: fields listed in FIELDS.csv, regridded, optionally rotated in longitude."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from inrcodec.training.train import TrainConfig
from inrcodec.training.samplers import ClimateFields, split_sampler


def write_fields(root, n: int = 3):
    """n smooth fields on a 1-degree-ish global grid (K), with a FIELDS.csv listing them."""
    lat = np.linspace(-89.0, 89.0, 30)
    lon = np.arange(0.0, 360.0, 6.0)
    la, lo = np.meshgrid(np.radians(lat), np.radians(lon), indexing="ij")
    data = np.stack([250 + 40 * np.cos(la) + 5 * (k + 1) * np.sin(lo + k) for k in range(n)]).astype(np.float32)
    xr.Dataset({"t": (("time", "lat", "lon"), data)}, coords={"lat": lat, "lon": lon}).to_netcdf(root / "t.nc")
    rows = "".join(f"t.nc,t,{k},30,60,K\n" for k in range(n))
    (root / "FIELDS.csv").write_text("file,var,index,ny,nx,units\n" + rows)


def test_fields_are_regridded_and_normalised(tmp_path):
    write_fields(tmp_path)
    fields = ClimateFields([tmp_path], (12, 24), (200.0, 320.0))
    assert fields.values.shape == (3, 12, 24, 1) and fields.weights.all()
    assert 0.2 < fields.values.min() < fields.values.max() < 1.0  # 235-305 K.
    batch = fields.sample(np.random.default_rng(0), 5)
    assert batch["values"].shape == (5, 12, 24, 1) and batch["inputs"].shape == (5, 12, 24, 3)
    assert all(any(np.array_equal(v, f) for f in fields.values) for v in batch["values"])


def test_longitude_rotation_rolls_values_and_mask_but_not_the_inputs(tmp_path):
    write_fields(tmp_path)
    plain = ClimateFields([tmp_path], (12, 24), (200.0, 300.0))
    plain.weights[:, :, :3] = 0.0  # A mask that makes a roll visible.
    rolled = ClimateFields([tmp_path], (12, 24), (200.0, 300.0), lon_roll=1.0)
    rolled.weights = plain.weights.copy()
    batch = rolled.sample(np.random.default_rng(1), 8)
    moved = 0
    for v, w in zip(batch["values"], batch["weights"]):
        shifts = [(k, s) for k in range(3) for s in range(24) if np.array_equal(v, np.roll(plain.values[k], s, axis=1))]
        assert shifts, "every sample is a rotation of a training field"
        k, s = shifts[0]
        np.testing.assert_array_equal(w, np.roll(plain.weights[k], s, axis=1))
        moved += s != 0
    assert moved >= 6  # 8 draws of 24 shifts: nearly all move.
    np.testing.assert_array_equal(batch["inputs"][0], plain.inputs)


def test_lon_roll_is_a_probability():
    with pytest.raises(ValueError, match="probability"):
        TrainConfig(modality="climate", lon_roll=1.5)


def write_npz_fields(root, stems=("year_a", "year_b"), n: int = 2):
    """npz files laid out like ../shared/data/climate/speedy_46x90 (north first; no var or units column)."""
    lat, lon = np.linspace(90.0, -90.0, 12), np.arange(0.0, 360.0, 15.0)
    rows = []
    for j, stem in enumerate(stems):
        data = np.stack([250 + 40 * np.cos(np.radians(lat))[:, None] + 10 * j + k + 0 * lon for k in range(n)])
        np.savez(root / f"{stem}.npz", temperature=data.astype(np.float32), latitude=lat.astype(np.float32),
                 longitude=lon.astype(np.float32), time=np.array(["t"] * n))
        rows += [f"model,{stem}.npz,{k},t0\n" for k in range(n)]
    (root / "FIELDS.csv").write_text("source,file,index,variable\n" + "".join(rows))
    return lat


def test_npz_fields_on_the_grid_are_read_as_they_are(tmp_path):
    lat = write_npz_fields(tmp_path)
    fields = ClimateFields([tmp_path], (12, 24), (200.0, 320.0))
    assert fields.values.shape == (4, 12, 24, 1)
    expected = (250 + 40 * np.cos(np.radians(lat)) - 200.0) / 120.0  # Row 0 is the north pole in both.
    np.testing.assert_allclose(fields.values[0, :, 5, 0], expected, atol=1e-5)
    np.testing.assert_allclose(fields.values[3, :, 0, 0], expected + 11 / 120, atol=1e-5)


def test_climate_holdout_splits_by_file_stem_and_is_never_rotated(tmp_path):
    write_npz_fields(tmp_path)
    train, held = split_sampler("climate", [tmp_path], ("year_b",), 0, (12, 24), (200.0, 320.0), lon_roll=1.0)
    assert len(train.values) == len(held.values) == 2
    assert train.values.mean() < held.values.mean()  # year_b is 10 K warmer.
    assert held.lon_roll == 0.0 and train.lon_roll == 1.0
    with pytest.raises(ValueError, match="holdout"):
        split_sampler("climate", [tmp_path], ("year_c",), 0, (12, 24), (200.0, 320.0))
