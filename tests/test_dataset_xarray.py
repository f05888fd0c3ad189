"""Archives and the xarray / Dask path (issue 21): an archive of a DataArray reopens with xarray
(engine "inrcodec") as the source variable, lazily (indexing decodes only the items it touches, chunks=
gives Dask); a Dask-backed DataArray stays lazy until its chunks are fitted; a dask.distributed client
fits chunks on its workers and the archive's bytes do not depend on how many there are."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest
import xarray as xr

import inrcodec
from conftest import ASSETS_DIR, CLIMATE_FIELDS, DEBUG_FIT
from inrcodec import dataset
from inrcodec.bitstream.dataset_settings import Settings
from inrcodec.errors import FormatError, InputError
from make_assets import synthetic_field, synthetic_image

pytestmark = pytest.mark.usefixtures("inr_bases")

CLIMATE = dict(base="tiny-climate-test-base", fit=DEBUG_FIT, chunk=CLIMATE_FIELDS, block=4)


def source() -> xr.DataArray:
    """(time 3, level 2, lat, lon) with coordinates on every dim, attributes and a float32 source dtype."""
    t = synthetic_field(times=6)
    da = xr.DataArray(t.values.reshape(3, 2, *t.shape[1:]), dims=("time", "level", "lat", "lon"),
                      coords={"time": np.array(["2020-01-01", "2020-01-02", "2020-01-03"], "datetime64[ns]"),
                              "level": ("level", [850.0, 500.0], {"units": "hPa"}), "lat": t.lat, "lon": t.lon},
                      name="t", attrs={"units": "K", "long_name": "temperature"})
    da.lat.attrs["units"], da.lon.attrs["units"] = "degrees_north", "degrees_east"
    da.encoding["dtype"] = np.dtype("float32")
    return da


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """(path, source, the archive's items (6, ny, nx)) of `source()` compressed once."""
    path = tmp_path_factory.mktemp("xr") / "t.inrpack"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INRCODEC_BASES", str(ASSETS_DIR))
        with inrcodec.compress_dataset(source(), path, **CLIMATE) as archive:
            items = archive.decode_all()
    return path, source(), items


def test_an_archive_of_a_dataarray_reopens_as_the_source_variable(written):
    path, src, items = written
    ds = xr.open_dataset(path, engine="inrcodec")
    back = ds["t"]
    assert back.dims == src.dims and back.shape == src.shape and back.attrs == src.attrs
    for name in src.coords:
        xr.testing.assert_identical(back[name], src[name])
    assert back.encoding["dtype"] == np.dtype("float32")
    np.testing.assert_array_equal(back.values, items.reshape(src.shape))  # Item i is field i in C order.
    np.testing.assert_array_equal(np.isnan(back.values), np.isnan(src.values))
    xr.testing.assert_identical(inrcodec.open_archive(path).to_xarray(), ds)  # The same through the API.


def test_indexing_decodes_only_the_items_it_touches(written, monkeypatch):
    path, src, items = written
    asked = []
    items_of = dataset.Archive.items
    monkeypatch.setattr(dataset.Archive, "items", lambda self, idx: asked.append(list(idx)) or items_of(self, idx))
    t = xr.open_dataset(path, engine="inrcodec")["t"]
    assert asked == []  # Opening decodes nothing.
    part = t.isel(time=2, lat=slice(2, 5), lon=[7, 1]).values
    assert asked == [[4, 5]]  # time 2: items 4 and 5 (both levels).
    np.testing.assert_array_equal(part, items.reshape(src.shape)[2, :, 2:5][..., [7, 1]])
    np.testing.assert_array_equal(t.isel(level=1).values, items[1::2])
    np.testing.assert_array_equal(t.transpose("lon", "level", "lat", "time")[3].values,
                                  items.reshape(src.shape).transpose(3, 1, 2, 0)[3])


def test_chunks_make_it_dask_backed(written):
    pytest.importorskip("dask")
    path, src, items = written
    t = xr.open_dataset(path, engine="inrcodec", chunks={"time": 1})["t"]
    assert t.chunks == ((1, 1, 1), (2,), (src.sizes["lat"],), (src.sizes["lon"],))
    np.testing.assert_array_equal(t.mean("time").values, items.reshape(src.shape).mean(axis=0))


def test_a_source_with_the_grid_first_keeps_its_dim_order(tmp_path):
    src = source().transpose("lat", "level", "lon", "time")
    with inrcodec.compress_dataset(src, tmp_path / "t.inrpack", **CLIMATE) as archive:
        items = archive.decode_all()  # Fields in the order of the stack dims: level, then time.
        back = archive.to_xarray()["t"]
    assert back.dims == src.dims and back.shape == src.shape
    np.testing.assert_array_equal(back.values, items.reshape(2, 3, *items.shape[1:]).transpose(2, 0, 3, 1))


def test_items_without_a_template_read_along_item(tmp_path):
    fields = source().values.reshape(6, *source().shape[2:])
    with inrcodec.compress_dataset(fields, tmp_path / "f.inrpack", modality="climate", **CLIMATE) as archive:
        assert archive.settings.template == ""  # Bare arrays: settings as before (version 1).
        ds = archive.to_xarray()
        np.testing.assert_array_equal(ds["field"].values, archive.decode_all())
        assert ds["field"].dims == ("item", "y", "x")
    images = np.stack([synthetic_image(16, 16)] * 3)
    with inrcodec.compress_dataset(images, tmp_path / "i.inrpack", base="tiny-test-base", fit=DEBUG_FIT) as archive:
        image = archive.to_xarray()["image"]
        assert image.dims == ("item", "y", "x", "channel") and image.dtype == np.uint8
        np.testing.assert_array_equal(image[1].values, archive[1])


def test_settings_keep_the_template_and_refuse_a_damaged_one(written):
    path, src, _ = written
    with inrcodec.open_archive(path) as archive:
        settings = archive.settings
    assert settings.template and Settings.from_bytes(settings.to_bytes()) == settings
    assert settings.to_bytes().startswith(b'{"version":3,')  # Its lat/lon grid is stored in the separable form.
    assert settings.latlon.startswith("1d:")
    for older in (b'"version":1', b'"version":2'):
        with pytest.raises(FormatError, match="version"):
            Settings.from_bytes(settings.to_bytes().replace(b'"version":3', older))
    damaged = Settings(**{**settings.__dict__, "template": "not base64!"})
    with pytest.raises(FormatError, match="base64"):
        inrcodec.modalities.by_name("climate").stack_variable(damaged, 6)


def test_a_dask_backed_dataarray_stays_lazy_and_codes_as_numpy(written, tmp_path):
    pytest.importorskip("dask")
    path, src, _ = written
    lazy = source().chunk({"time": 1})
    reads = []
    lazy = lazy.copy(data=lazy.data.map_blocks(lambda b: reads.append(b.shape) or b, dtype=lazy.dtype))
    archive = inrcodec.compress_dataset(lazy, tmp_path / "lazy.inrpack", **CLIMATE)
    archive.close()
    assert len(reads) >= 3  # Read chunk by chunk, when fitted (not as one array up front).
    assert (tmp_path / "lazy.inrpack").read_bytes() == path.read_bytes()


def test_a_dask_client_writes_the_same_bytes_and_reports_bad_items(written, tmp_path):
    distributed = pytest.importorskip("distributed")
    path, src, _ = written
    # One thread holds two chunks: the third is launched once the first has chosen the scales, and is coded
    # on the worker (the first two come back as latents and are coded here).
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        inrcodec.compress_dataset(source().chunk({"time": 1}), tmp_path / "d.inrpack", client=client, **CLIMATE).close()
        assert (tmp_path / "d.inrpack").read_bytes() == path.read_bytes()
        bad = source()
        bad[2, 1, 0, 0] = np.nan  # Item 5 has another mask than the first.
        with pytest.raises(InputError, match="item 5"):
            inrcodec.compress_dataset(bad, tmp_path / "bad.inrpack", client=client, **CLIMATE)


def test_the_chunks_of_a_worker_that_leaves_are_fitted_elsewhere(written, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    path, _, _ = written
    monkeypatch.setattr(dataset, "WORKER_CHECK_SECONDS", 0.2)
    real_task, log = dataset._chunk_task, tmp_path / "started.txt"

    def task(*args):  # The second worker's chunk is still running when that worker leaves.
        with open(log, "a") as f:  # Tasks run on copies of this function: a file keeps the count.
            f.write(f"{args[-1]}\n")
        if distributed.get_worker().address == leaving:
            time.sleep(3.0)
        return real_task(*args)

    monkeypatch.setattr(dataset, "_chunk_task", task)
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as client:
        leaving = sorted(client.nthreads())[1]

        def progress(done, total):
            if done == CLIMATE_FIELDS:  # The first chunk is written (by the first worker).
                client.retire_workers([leaving], close_workers=True)

        inrcodec.compress_dataset(source().chunk({"time": 1}), tmp_path / "d.inrpack", client=client,
                                  progress=progress, **CLIMATE).close()
        assert leaving not in client.nthreads()
    started = [int(x) for x in log.read_text().split()]
    assert started.count(CLIMATE_FIELDS) == 2  # The leaving worker's chunk ran again elsewhere.
    assert (tmp_path / "d.inrpack").read_bytes() == path.read_bytes()


@pytest.mark.slow  # Starts worker processes (each imports JAX and compiles the fit).
def test_one_and_two_worker_processes_write_identical_bytes(tmp_path):
    distributed = pytest.importorskip("distributed")
    src = synthetic_field(times=12).chunk({"time": 4})
    env = {"INRCODEC_BASES": str(ASSETS_DIR), "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}
    digests = []
    for workers in (1, 2):
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, env=env,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            out = tmp_path / f"w{workers}.inrpack"
            inrcodec.compress_dataset(src, out, client=client, **CLIMATE).close()
            digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    inrcodec.compress_dataset(src, tmp_path / "local.inrpack", **CLIMATE).close()
    assert digests[0] == digests[1] == hashlib.sha256((tmp_path / "local.inrpack").read_bytes()).hexdigest()
