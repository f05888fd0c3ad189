"""Training tasks for meta-learning, one sampler per modality.

A sampler holds the decoded training signals in memory and draws a batch of same-shaped tasks:
a dict of stacked model signals {"values": (B, *shape, C), optional "inputs", "weights"}.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from inrcodec.signals import audio as audio_io
from inrcodec.signals import geometry
from inrcodec.signals import image as image_io

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
AUDIO_SUFFIXES = {".wav", ".flac"}
FILE_SUFFIXES = {"image": IMAGE_SUFFIXES, "audio": AUDIO_SUFFIXES}  # Modalities whose tasks come from files.


class Sampler(Protocol):
    files: list[Path]  # The files the tasks come from (recorded with their sha256).

    def sample(self, rng: np.random.Generator, batch: int) -> dict:
        """A batch of tasks: stacked signal arrays (see the module docstring)."""


def find_files(roots: Sequence[Path], suffixes: set[str]) -> list[Path]:
    files = []
    for root in roots:
        root = Path(root)
        files += [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes)
    return files


def split_holdout(roots: Sequence[Path], suffixes: set[str], names: Sequence[str]) -> tuple[list[Path], list[Path]]:
    """The files with `suffixes` under `roots` split into (those outside, those inside) any folder
    called one of `names`."""
    kept, held = [], []
    for root in map(Path, roots):
        for f in find_files([root], suffixes):
            (held if set(f.relative_to(root).parts[:-1] if f != root else ()) & set(names) else kept).append(f)
    return kept, held


class ImageCrops:
    """Random square crops of RGB images, with flips and transposes; values in [0, 1]."""

    def __init__(self, roots: Sequence[Path], crop: int):
        self.crop = crop
        self.files, self.images = [], []
        for f in find_files(roots, IMAGE_SUFFIXES):
            arr = image_io.read_array(f)
            if arr.shape[2] == 1:
                arr = np.repeat(arr, 3, axis=2)
            if min(arr.shape[:2]) >= crop:
                self.files.append(f)
                self.images.append(arr)
        if not self.images:
            raise ValueError(f"no training images of at least {crop}x{crop} found in {list(map(str, roots))}")

    def sample(self, rng: np.random.Generator, batch: int) -> dict:
        crops = []
        for _ in range(batch):
            img = self.images[rng.integers(len(self.images))]
            y = rng.integers(img.shape[0] - self.crop + 1)
            x = rng.integers(img.shape[1] - self.crop + 1)
            c = img[y : y + self.crop, x : x + self.crop]
            if rng.random() < 0.5:
                c = c[:, ::-1]
            if rng.random() < 0.5:
                c = c.transpose(1, 0, 2)
            crops.append(c)
        return {"values": image_io.to_unit(np.stack(crops))}


class AudioWindows:
    """Random windows of mono speech (multichannel files are split), mapped from [-1, 1] to [0, 1]."""

    def __init__(self, roots: Sequence[Path], window: int):
        import soundfile

        self.window = window
        self.files, self.clips = [], []
        for f in find_files(roots, AUDIO_SUFFIXES):
            x, _ = soundfile.read(str(f), dtype="float32", always_2d=True)
            if x.shape[0] >= window:
                self.files.append(f)
                self.clips += [np.clip(x[:, c], -1.0, 1.0) for c in range(x.shape[1])]
        if not self.clips:
            raise ValueError(f"no training audio of at least {window} samples found in {list(map(str, roots))}")

    def sample(self, rng: np.random.Generator, batch: int) -> dict:
        windows = []
        for _ in range(batch):
            clip = self.clips[rng.integers(len(self.clips))]
            start = rng.integers(clip.shape[0] - self.window + 1)
            w = clip[start : start + self.window]
            windows.append(-w if rng.random() < 0.5 else w)  # Polarity flip: same sound.
        return {"values": audio_io.to_unit(np.stack(windows))[..., None]}


class ClimateFields:
    """Near-surface temperature fields regridded to one global grid, normalised to [0, 1] by a fixed range.

    The fields are listed in a FIELDS.csv (file, index, optional var and units, ...) in each data folder
    (netCDF files, or npz files with `latitude` / `longitude` arrays); with `holdout`, only the entries
    outside (or, with `held`, inside) files or folders of those names are read. Each is bilinearly
    interpolated (periodic in longitude) to `grid` = (ny, nx) of `geometry.global_grid`. Missing values
    stay missing (weight 0); the inputs are the grid points on the sphere.
    """

    def __init__(self, roots: Sequence[Path], grid: tuple[int, int], value_range: tuple[float, float],
                 input_scale: float = 1.0, lon_roll: float = 0.0, holdout: Sequence[str] = (), held: bool = False):
        self.lon_roll = lon_roll
        lat, lon = geometry.global_grid(*grid)
        self.inputs = input_scale * geometry.sphere_inputs(*np.meshgrid(lat, lon, indexing="ij"))
        self.files, fields = [], []
        for root in roots:
            index = Path(root) / "FIELDS.csv"
            if not index.is_file():
                raise ValueError(f"{root}: no FIELDS.csv listing the climate training fields")
            rows = list(csv.DictReader(index.open()))
            for path, group in _group_by_file(rows).items():
                if _is_held_out(path, holdout) != held:
                    continue
                stack = _read_regridded(Path(root) / path, group[0].get("var"), lat, lon)
                if stack is None:
                    continue
                units = group[0].get("units") or "K"
                offset = 273.15 if units.strip().lower() in ("degc", "c", "celsius", "deg_c") else 0.0
                for row in group:
                    fields.append(stack[int(row["index"])] + offset)
                self.files.append(Path(root) / path)
        if not fields and held:
            raise ValueError(f"no climate fields are in a file or folder named {' or '.join(holdout)} (the recipe's holdout)")
        if not fields:
            raise ValueError(f"no climate training fields found in {list(map(str, roots))}")
        lo, hi = value_range
        data = np.stack(fields)
        self.weights = np.isfinite(data).astype(np.float32)
        self.values = np.nan_to_num((data - lo) / (hi - lo), nan=0.5).astype(np.float32)[..., None]

    def sample(self, rng: np.random.Generator, batch: int) -> dict:
        """`batch` fields; with probability `lon_roll` each is rotated in longitude by a random whole
        number of grid columns (values and mask; the inputs stay the grid's points on the sphere)."""
        pick = rng.integers(len(self.values), size=batch)
        values, weights = self.values[pick], self.weights[pick]
        if self.lon_roll > 0:  # (No draws otherwise: the batches of recipes without it stay as they were.)
            shifts = np.where(rng.random(batch) < self.lon_roll, rng.integers(self.values.shape[2], size=batch), 0)
            for i in np.flatnonzero(shifts):
                values[i], weights[i] = np.roll(values[i], shifts[i], axis=1), np.roll(weights[i], shifts[i], axis=1)
        return {"values": values, "weights": weights,
                "inputs": np.broadcast_to(self.inputs, (batch, *self.inputs.shape)).copy()}


def _group_by_file(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["file"], []).append(row)
    return groups


def _is_held_out(path: str, names: Sequence[str]) -> bool:
    """Whether a FIELDS.csv `file` entry lies in a folder, or is a file (name or stem), called one of `names`."""
    parts = Path(path).parts
    return bool(set(names) & {*parts, Path(path).stem})


def _read_fields(path: Path, var: str | None):
    """All 2-D fields of `var` in a netCDF file, or in an npz with `latitude` and `longitude` arrays (`var`
    may then be omitted when one 3-D array is there): a (n, ny, nx) DataArray with lat / lon dims, or None."""
    import xarray as xr

    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            if not {"latitude", "longitude"} <= set(npz.files):
                return None  # Arrays without geographic coordinates cannot be placed on the sphere.
            cubes = [k for k in npz.files if npz[k].ndim == 3]
            name = var or (cubes[0] if len(cubes) == 1 else None)
            if name not in npz.files:
                return None
            return xr.DataArray(npz[name].astype(np.float64), dims=("n", "lat", "lon"),
                                coords={"lat": npz["latitude"], "lon": npz["longitude"]})
    if suffix not in (".nc", ".nc4") or var is None:
        return None
    with xr.open_dataset(path, decode_times=False) as ds:
        da = ds[var]
        lat_name = next((n for n in da.dims if n.lower() in ("lat", "latitude", "y")), None)
        lon_name = next((n for n in da.dims if n.lower() in ("lon", "longitude", "x")), None)
        if lat_name is None or lon_name is None:
            return None
        return da.transpose(..., lat_name, lon_name).astype(np.float64).load().rename({lat_name: "lat", lon_name: "lon"})


def _read_regridded(path: Path, var: str | None, lat: np.ndarray, lon: np.ndarray) -> np.ndarray | None:
    """All 2-D fields of `var` in a file (see _read_fields), interpolated to (lat, lon): (n, ny, nx), or None."""
    import xarray as xr

    da = _read_fields(path, var)
    if da is None:
        return None
    src_lon = np.asarray(da["lon"].values) % 360.0
    order = np.argsort(src_lon)
    values = da.values.reshape(-1, da.shape[-2], da.shape[-1])[:, :, order]
    src_lon = src_lon[order]
    # Periodic extension in longitude, so the interpolation wraps across 0 / 360 deg.
    values = np.concatenate([values[:, :, -1:], values, values[:, :, :1]], axis=2)
    src_lon = np.concatenate([src_lon[-1:] - 360.0, src_lon, src_lon[:1] + 360.0])
    grid = xr.DataArray(values, dims=("n", "lat", "lon"), coords={"lat": np.asarray(da["lat"].values), "lon": src_lon})
    grid = grid.sortby("lat")
    out = grid.interp(lat=lat, lon=lon, method="linear").values
    # Rows beyond the source's latitude range (e.g. poles of a Gaussian grid): nearest row.
    src_lat = grid["lat"].values
    near = grid.interp(lat=np.clip(lat, src_lat.min(), src_lat.max()), lon=lon, method="linear").values
    return np.where(np.isnan(out) & ~np.isnan(near), near, out)


class SignalPool:
    """Tasks drawn from signals already in memory (e.g. a sample of a dataset being compressed).

    `signals` holds stacked model signals {"values": (n, *signal_shape, C), optional "inputs" and
    "weights"} in [0, 1]; each task is one whole signal, or, with `crop`, a random window of `crop`
    samples along every signal axis where the signals are longer (image crops, audio windows).
    """

    def __init__(self, signals: dict, crop: int | None = None):
        self.signals = {k: np.asarray(v, np.float32) for k, v in signals.items()}
        self.crop = crop
        self.files: list[Path] = []  # In-memory data: nothing to record.
        if not len(self.signals["values"]):
            raise ValueError("no signals to train on")

    def sample(self, rng: np.random.Generator, batch: int) -> dict:
        pick = rng.integers(len(self.signals["values"]), size=batch)
        tasks = {k: v[pick] for k, v in self.signals.items()}
        shape = tasks["values"].shape[1:-1]
        if self.crop and min(shape) > self.crop:
            window = tuple(slice(o, o + self.crop) for o in (rng.integers(n - self.crop + 1) for n in shape))
            tasks = {k: v[(slice(None), *window)] for k, v in tasks.items()}
        return tasks


def dataset_sampler(modality: str, roots: Sequence[Path], crop: int, grid: tuple[int, int],
                    value_range: tuple[float, float], input_scale: float = 1.0, lon_roll: float = 0.0) -> Sampler:
    """The sampler of a modality: image crops of `crop`, audio windows of `crop` samples, climate fields on
    `grid` (rotated in longitude with probability `lon_roll`)."""
    samplers = {
        "image": lambda: ImageCrops(roots, crop),
        "audio": lambda: AudioWindows(roots, crop),
        "climate": lambda: ClimateFields(roots, grid, value_range, input_scale, lon_roll),
    }
    if modality not in samplers:
        raise ValueError(f"unknown modality {modality!r}")
    return samplers[modality]()


def split_sampler(modality: str, roots: Sequence[Path], holdout: Sequence[str], crop: int, grid: tuple[int, int],
                  value_range: tuple[float, float], input_scale: float = 1.0,
                  lon_roll: float = 0.0) -> tuple[Sampler, Sampler]:
    """(training sampler, held-out sampler): files in folders named one of `holdout` (climate: FIELDS.csv
    entries in such a folder or with such a file stem) are held out. Held-out tasks are never rotated."""
    def by_fields():  # Climate tasks are FIELDS.csv entries, not files found by suffix.
        return (ClimateFields(roots, grid, value_range, input_scale, lon_roll, holdout, held=False),
                ClimateFields(roots, grid, value_range, input_scale, 0.0, holdout, held=True))

    def by_files():
        kept, held_files = split_holdout(roots, FILE_SUFFIXES[modality], holdout)
        if not held_files:
            raise ValueError(f"no training files are in a folder named {' or '.join(holdout)} (the recipe's holdout)")
        return (dataset_sampler(modality, kept, crop, grid, value_range, input_scale, lon_roll),
                dataset_sampler(modality, held_files, crop, grid, value_range, input_scale))

    splits = {"image": by_files, "audio": by_files, "climate": by_fields}
    if modality not in splits:
        raise ValueError(f"unknown modality {modality!r}")
    return splits[modality]()


def log_uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return np.exp(rng.uniform(math.log(lo), math.log(hi), n)).astype(np.float32)
