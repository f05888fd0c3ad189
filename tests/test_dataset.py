"""The dataset API: compress_dataset / open_archive on tiny test bases (random access, append,
resume after a crash, corrupted blocks, embedded base, bad items). Fields are fitted CLIMATE_FIELDS
at a time (chunk), so the encoder's programs are those of the other climate tests."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import inrcodec
from conftest import CLIMATE_FIELDS, DEBUG_FIT
from inrcodec.errors import FormatError, InputError
from make_assets import synthetic_audio, synthetic_field, synthetic_image

pytestmark = pytest.mark.usefixtures("inr_bases")

FAST = DEBUG_FIT
CLIMATE = dict(base="tiny-climate-test-base", fit=FAST, chunk=CLIMATE_FIELDS, block=4)
IMAGES = 3  # Image archives: 3 items of 16x16 (one compilation of the batched fit).


@pytest.fixture(scope="module")
def fields():
    return synthetic_field(times=21, missing=True)


@pytest.fixture(scope="module")
def whole(fields, tmp_path_factory):
    """The fields compressed in one run (reference for append/resume)."""
    path = tmp_path_factory.mktemp("ds") / "whole.inrpack"
    with pytest.MonkeyPatch.context() as mp:
        from conftest import ASSETS_DIR

        mp.setenv("INRCODEC_BASES", str(ASSETS_DIR))
        archive = inrcodec.compress_dataset(fields, path, **CLIMATE)
        items = archive.decode_all()
        archive.close()
    return path, items


def test_random_access_iteration_and_rate(whole, fields):
    path, items = whole
    with inrcodec.open_archive(path) as archive:
        assert len(archive) == 21 and items.shape == (21, 9, 16)
        np.testing.assert_array_equal(archive[7], items[7])
        np.testing.assert_array_equal(archive[-1], items[20])
        np.testing.assert_array_equal(np.stack(list(archive)), items)
        np.testing.assert_array_equal(np.isnan(items), np.isnan(fields.values))  # The shared mask is lossless.
        with pytest.raises(IndexError):
            archive[21]
        rate = archive.rate()
        assert rate["bits_per_item"] == 8 * path.stat().st_size / 21
        assert len(archive.modulations(3)) == 3  # One grid per latent level.


def test_append_in_two_runs_equals_one_run(whole, fields, tmp_path):
    path = tmp_path / "two.inrpack"
    inrcodec.compress_dataset(fields[:13], path, **CLIMATE).close()
    with pytest.raises(InputError, match="exists"):
        inrcodec.compress_dataset(fields, path, **CLIMATE)
    with inrcodec.compress_dataset(fields, path, resume=True, **CLIMATE) as archive:
        assert len(archive) == 21
        np.testing.assert_allclose(archive.decode_all(), whole[1], atol=1e-3)


def test_resume_after_a_crash_loses_and_duplicates_nothing(whole, fields, tmp_path):
    path = tmp_path / "crashed.inrpack"
    full = whole[0].read_bytes()
    with inrcodec.open_archive(whole[0]) as archive:
        cut = archive._reader.items_end - 3
    path.write_bytes(full[:cut])  # No index, no trailer, the last block torn.
    with pytest.raises(FormatError):
        inrcodec.open_archive(path)
    with inrcodec.compress_dataset(fields, path, resume=True, **CLIMATE) as archive:
        assert len(archive) == 21
        np.testing.assert_allclose(archive.decode_all(), whole[1], atol=1e-3)


def test_a_corrupted_block_is_detected_and_the_others_still_read(whole, tmp_path):
    path = tmp_path / "bad.inrpack"
    data = bytearray(whole[0].read_bytes())
    with inrcodec.open_archive(whole[0]) as archive:
        data[archive._reader.items_end - 12] ^= 0x40  # Inside one of the last blocks.
    path.write_bytes(bytes(data))
    with inrcodec.open_archive(path) as archive:
        bad = archive.verify()
        assert 0 < len(bad) <= 4  # One block of 4 signals.
        good = next(i for i in range(21) if i not in bad)
        np.testing.assert_array_equal(archive[good], whole[1][good])
        with pytest.raises(FormatError):
            archive[bad[0]]


# Images need a batched fit of their own (~20 s of CPU): the fast tier embeds the climate base.
@pytest.mark.parametrize("modality", ["climate", pytest.param("image", marks=pytest.mark.slow)])
def test_embedded_base_counts_in_the_rate_and_decodes_without_install(fields, tmp_path, monkeypatch, modality):
    path = tmp_path / "embedded.inrpack"
    if modality == "image":
        items = np.stack([synthetic_image(16, 16)] * IMAGES)
        inrcodec.compress_dataset(items, path, base="tiny-test-base", fit=FAST, embed_base=True).close()
    else:
        items = fields.values[:3]
        inrcodec.compress_dataset(fields[:3], path, embed_base=True, **CLIMATE).close()
    monkeypatch.setenv("INRCODEC_BASES", str(tmp_path))  # The tiny bases are no longer found.
    with inrcodec.open_archive(path) as archive:
        rate = archive.rate()
        assert rate["embedded_base_bytes"] > 0
        assert rate["bits_per_item"] > rate["bits_per_item_without_base"]
        assert archive[2].shape == items.shape[1:]
        if modality == "image":
            assert archive[2].dtype == np.uint8
        else:
            np.testing.assert_array_equal(np.isnan(archive[2]), np.isnan(items[2]))


def test_audio_clips_and_bad_items(tmp_path):
    clips = [synthetic_audio(512, 1).samples[:, 0] * s for s in (1.0, 0.5, 0.25)]
    with inrcodec.compress_dataset(clips, tmp_path / "a.inrpack", base="tiny-audio-test-base", fit=FAST) as archive:
        assert len(archive) == 3 and archive[1].shape == (512,)
    with pytest.raises(InputError, match="shape"):  # In the second chunk (the first is fitted as above).
        inrcodec.compress_dataset([*clips, clips[0][:100]], tmp_path / "b.inrpack", base="tiny-audio-test-base",
                                  fit=FAST, chunk=3)
    with pytest.raises(InputError, match="block"):
        inrcodec.compress_dataset(clips, tmp_path / "c.inrpack", base="tiny-audio-test-base", block=0)


def test_torch_adapter_yields_signals_and_modulations(whole):
    torch = pytest.importorskip("torch", reason="the torch extra is not installed")
    from inrcodec.torch_dataset import ArchiveDataset

    signals = ArchiveDataset(whole[0])
    assert len(signals) == 21
    x = signals[4]
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and tuple(x.shape) == (9, 16)
    np.testing.assert_allclose(x.numpy(), whole[1][4].astype(np.float32), equal_nan=True)
    mods = ArchiveDataset(whole[0], kind="modulations")
    loader = torch.utils.data.DataLoader(mods, batch_size=5)
    batch = next(iter(loader))
    assert batch.shape[0] == 5 and batch.ndim == 2
    with pytest.raises(InputError, match="kind"):
        ArchiveDataset(whole[0], kind="pixels")


@pytest.mark.slow  # Meta-trains a base network (compiles the training step).
def test_a_base_trained_on_the_dataset_is_embedded_and_counted(fields, tmp_path, monkeypatch):
    from inrcodec.core.config import ModelConfig
    from inrcodec.training.train import TrainConfig

    recipe = TrainConfig(name="tiny-fields-base", modality="image",  # The modality is taken from the items.
                         model=ModelConfig(out_channels=1, channels=(1, 1, 1), hidden=8, depth=2, input_features=3,
                                           input_scale=2.0),
                         batch=2, steps=3, warmup=1, checkpoint_every=100, log_every=1, lam_min=1e-3, lam_max=1e-2,
                         quality_lambdas=(0.1, 0.03, 0.01, 0.003), weight_deltas=False)
    path = tmp_path / "trained.inrpack"
    inrcodec.compress_dataset(fields, path, train=recipe, train_dir=tmp_path / "base", fit=FAST, chunk=8, block=4,
                              quality=2).close()  # The base is trained on the first chunk of 8 fields.
    assert (tmp_path / "base" / "params.npz").is_file()  # Kept, with its record, where asked.
    monkeypatch.setenv("INRCODEC_BASES", str(tmp_path / "nowhere"))  # Decodes without any installed base.
    with inrcodec.open_archive(path) as archive:
        assert archive.base.name == "tiny-fields-base" and archive.base.modality == "climate"
        assert archive.base.manifest["training"]["steps"] == 3
        lo, hi = np.nanmin(fields.values[:8]), np.nanmax(fields.values[:8])
        np.testing.assert_allclose(archive.base.manifest["value_range"], [lo, hi], rtol=1e-6)
        rate = archive.rate()
        assert rate["embedded_base_bytes"] > 0 and rate["bits_per_item"] > rate["bits_per_item_without_base"]
        assert len(archive) == 21
        decoded = np.stack(list(archive))
        np.testing.assert_array_equal(np.isnan(decoded), np.isnan(fields.values))
    with pytest.raises(InputError, match="resume"):
        inrcodec.compress_dataset(fields, path, train=recipe, resume=True, fit=FAST)


def test_embedded_sparse_base_costs_less_than_dense(fields, tmp_path):
    import dataclasses

    from conftest import ASSETS_DIR

    from inrcodec.core import bases
    from inrcodec.training import l0, pruning

    dense = bases.load_base_dir(ASSETS_DIR / "tiny-climate-base")
    net = l0.gate_weights(dense.params["net"], pruning.magnitude_prune(dense.params["net"], 0.25))
    sparse = dataclasses.replace(dense, params={**dense.params, "net": net})
    sizes = {}
    for name, base in (("dense", dense), ("sparse", sparse)):
        with inrcodec.compress_dataset(fields[:CLIMATE_FIELDS], tmp_path / f"{name}.inrpack", base=base, fit=FAST,
                                       embed_base=True, chunk=CLIMATE_FIELDS) as a:
            sizes[name] = a.rate()["embedded_base_bytes"]
            assert a[1].shape == (9, 16)
    assert sizes["sparse"] < 0.6 * sizes["dense"]


# --- error-bounded archives (settings version 3) -------------------------------------------------------

BOUNDED = dict(base="tiny-climate-test-base", chunk=8, block=4)


@pytest.mark.parametrize("bound", [0.003, 0.4, 5.0])
def test_bounded_archive_keeps_every_value_within_the_bound(fields, tmp_path, bound):
    """No fit (the default with a bound) and a fitted quality level: every read path stays within the bound,
    the mask is kept, the settings say version 3, and a second run writes the same bytes."""
    x = fields.values
    for quality, name in ((None, "nofit"), (4, "fitted")):
        path = tmp_path / f"{name}.inrpack"
        extra = {} if quality is None else {"quality": quality, "fit": FAST}
        with inrcodec.compress_dataset(fields, path, max_error=bound, **BOUNDED, **extra) as archive:
            assert archive.settings.max_error == bound and b'"version":3' in archive.settings.to_bytes()
            decoded = archive.decode_all()
            np.testing.assert_array_equal(np.isnan(decoded), np.isnan(x))
            assert np.nanmax(np.abs(decoded - x)) <= bound
            np.testing.assert_array_equal(archive[9], decoded[9])
            np.testing.assert_array_equal(archive.items([20, 3, 3, 0]), decoded[[20, 3, 3, 0]])
        again = tmp_path / f"{name}-again.inrpack"
        inrcodec.compress_dataset(fields, again, max_error=bound, **BOUNDED, **extra).close()
        assert again.read_bytes() == path.read_bytes()
    rel = tmp_path / "rel.inrpack"
    with inrcodec.compress_dataset(fields, rel, rel_error=0.01, **BOUNDED) as archive:
        first = fields.values[: BOUNDED["chunk"]]
        assert archive.settings.max_error == pytest.approx(0.01 * (np.nanmax(first) - np.nanmin(first)))
        assert np.nanmax(np.abs(archive.decode_all() - x)) <= archive.settings.max_error


def test_bounded_archive_refusals_and_damage(fields, tmp_path):
    path = tmp_path / "b.inrpack"
    with pytest.raises(InputError, match="not both"):
        inrcodec.compress_dataset(fields, path, max_error=0.1, rel_error=0.1, **BOUNDED)
    with pytest.raises(InputError, match="positive"):
        inrcodec.compress_dataset(fields, path, max_error=-1.0, **BOUNDED)
    with pytest.raises(InputError, match="no fit"):
        inrcodec.compress_dataset(fields, path, quality=0, **BOUNDED)
    with pytest.raises(InputError, match="climate fields"):
        inrcodec.compress_dataset(synthetic_image(16, 16)[None], path, base="tiny-test-base", max_error=1.0)
    inrcodec.compress_dataset(fields[:8], path, max_error=0.1, **BOUNDED).close()
    with pytest.raises(InputError, match="error bound"):
        inrcodec.compress_dataset(fields, path, max_error=0.2, resume=True, **BOUNDED)
    with inrcodec.compress_dataset(fields, path, max_error=0.1, resume=True, **BOUNDED) as archive:
        assert len(archive) == 21 and np.nanmax(np.abs(archive.decode_all() - fields.values)) <= 0.1
        ints, section = archive._block(0)
        settings, base = archive.settings, archive.base
    from inrcodec.modalities import climate

    for bad in (section[:-1], section + b"\0", section[:5]):
        with pytest.raises(FormatError):
            climate.decode_bounded_block(ints, bad, settings, base)
    with pytest.raises(FormatError, match="no fields"):  # A block whose count byte was set to 0 (fuzz 12:3851).
        climate.decode_bounded_block([q[:0] for q in ints], section, settings, base)
    with pytest.raises(FormatError, match="bound"):
        climate.decode_bounded_block(ints, section, dataclasses.replace(settings, max_error=0.2), base)


def test_settings_versions_say_what_they_hold():
    from inrcodec.bitstream.dataset_settings import Settings

    plain = Settings("climate", (9, 16), 4, 1, (1, 2), 4, 200.0, 300.0)
    bounded = dataclasses.replace(plain, max_error=0.25)
    assert b'"version":1' in plain.to_bytes() and b"max_error" not in plain.to_bytes()
    assert Settings.from_bytes(bounded.to_bytes()) == bounded
    for text in (plain.to_bytes().replace(b'"version":1', b'"version":3'),
                 bounded.to_bytes().replace(b'"version":3', b'"version":2'),
                 bounded.to_bytes().replace(b'"max_error":0.25', b'"max_error":-1'),
                 dataclasses.replace(plain, latlon="1d:eJw=", template="x").to_bytes().replace(b'"version":3',
                                                                                              b'"version":2')):
        with pytest.raises(FormatError):
            Settings.from_bytes(text)
    separable = dataclasses.replace(plain, latlon="1d:eJw=")  # A separable grid alone also needs version 3.
    assert b'"version":3' in separable.to_bytes() and b'"max_error":0.0' in separable.to_bytes()
    assert Settings.from_bytes(separable.to_bytes()) == separable


def test_a_regional_grid_costs_its_two_axes_not_every_point(tmp_path):
    """The UK-style regular regional grid is stored as ny latitudes and nx longitudes, and read back exactly."""
    import xarray as xr

    lat, lon = np.linspace(60.0, 50.0, 33), np.linspace(-10.0, 2.0, 49)
    values = 280.0 + np.random.default_rng(0).normal(0, 1, (3, 33, 49))
    da = xr.DataArray(values, dims=("time", "latitude", "longitude"),
                      coords={"time": np.arange(3), "latitude": lat, "longitude": lon}, name="t2m")
    with inrcodec.compress_dataset(da, tmp_path / "uk.inrpack", base="tiny-climate-test-base", max_error=0.5,
                                   block=4) as archive:
        assert archive.settings.latlon.startswith("1d:") and len(archive.settings.latlon) < 800
        from inrcodec.modalities import climate

        latlon = climate._stack_latlon(archive.settings)
        np.testing.assert_array_equal(latlon[..., 0], np.broadcast_to(lat[:, None], (33, 49)))
        np.testing.assert_array_equal(latlon[..., 1], np.broadcast_to(lon[None, :], (33, 49)))
        assert np.abs(archive.decode_all() - values).max() <= 0.5


def test_the_returned_archive_reads_with_a_base_that_is_not_installed(fields, tmp_path, monkeypatch):
    from conftest import ASSETS_DIR
    from inrcodec.core import bases

    base = bases.load_base("tiny-climate-test-base")
    monkeypatch.setenv("INRCODEC_BASES", str(tmp_path / "nothing-installed"))
    with inrcodec.compress_dataset(fields[:4], tmp_path / "a.inrpack", base=base, fit=FAST, block=4) as archive:
        assert archive.decode_all().shape == (4, 9, 16)
    with pytest.raises(inrcodec.errors.MissingBaseError):
        inrcodec.open_archive(tmp_path / "a.inrpack")  # Reopened later, the base must be given or installed.
    inrcodec.open_archive(tmp_path / "a.inrpack", base).close()
    other = bases.load_base(str(ASSETS_DIR / "tiny-base"))
    with pytest.raises(InputError, match="written with base"):
        inrcodec.open_archive(tmp_path / "a.inrpack", other)
