"""Growing a base into a larger architecture (training.growth) and holding data out of training."""

import dataclasses
import json

import jax
import numpy as np
import pytest
from PIL import Image

from inrcodec.cli import main
from inrcodec.core import bases, objective, siren
from inrcodec.core.config import ModelConfig
from inrcodec.training import growth, samplers
from make_assets import synthetic_image

SMALL = ModelConfig(channels=(1, 1, 1), hidden=8, depth=3)
LARGE = dataclasses.replace(SMALL, channels=(1, 2, 1), hidden=12)


def test_a_grown_base_computes_what_it_grew_from():
    params = objective.init_base(jax.random.PRNGKey(0), SMALL)
    grown = growth.grow(params, SMALL, LARGE, jax.random.PRNGKey(1))
    z = np.random.default_rng(0).normal(size=(500, SMALL.in_dim)).astype(np.float32)
    z_large = np.zeros((500, LARGE.in_dim), np.float32)
    z_large[:, [0, 1, 3]] = z  # Level 1's second channel (index 2) is the new one, at zero.
    # Equal up to float summation order (the matrices have other shapes).
    np.testing.assert_allclose(siren.apply(grown["net"], z_large, 1.0), siren.apply(params["net"], z, 1.0), atol=1e-6)
    assert grown["net"]["first"]["w"].shape == (4, 12) and grown["net"]["out"]["w"].shape == (12, 3)
    # The new channel has input weights (a gradient from the first step); new units start unused.
    assert np.abs(np.asarray(grown["net"]["first"]["w"])[2]).min() > 0
    assert not np.asarray(grown["net"]["out"]["w"])[8:].any()
    z_large[:, 2] = 1.0
    assert not np.allclose(siren.apply(grown["net"], z_large, 1.0), siren.apply(params["net"], z, 1.0))


@pytest.mark.parametrize("new", [dataclasses.replace(SMALL, hidden=6), dataclasses.replace(SMALL, channels=(1, 1)),
                                 dataclasses.replace(SMALL, depth=2), dataclasses.replace(SMALL, linear_skip=True)])
def test_growing_refuses_anything_but_more_channels_and_width(new):
    with pytest.raises(ValueError):
        growth.grow(objective.init_base(jax.random.PRNGKey(0), SMALL), SMALL, new, jax.random.PRNGKey(1))


def test_holdout_splits_files_by_folder_name(tmp_path):
    for sub in ("a", "val", "b/val", "b/c"):
        (tmp_path / sub).mkdir(parents=True)
        (tmp_path / sub / "x.png").write_bytes(b"")
        (tmp_path / sub / "notes.csv").write_bytes(b"")
    kept, held = samplers.split_holdout([tmp_path], samplers.IMAGE_SUFFIXES, ["val"])
    assert sorted(str(f.relative_to(tmp_path)) for f in kept) == ["a/x.png", "b/c/x.png"]
    assert sorted(str(f.relative_to(tmp_path)) for f in held) == ["b/val/x.png", "val/x.png"]


RECIPE = '''
from inrcodec.core.config import ModelConfig
from inrcodec.training.train import TrainConfig


def get_config():
    return TrainConfig(name="tiny-grown", model=ModelConfig(channels=(1, 2, 1), hidden=12, depth=3), crop=16,
                       batch=2, inner_steps=2, fit_steps=2, steps=4, warmup=1, checkpoint_every=2, log_every=3,
                       seed=3, init_from={init_from!r}, holdout=("held",), validate_every=2, validation_tasks=3)
'''


def _data(tmp_path, held=True):
    for i, sub in enumerate(["a", "a", "held"] if held else ["a"]):
        (tmp_path / "data" / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.roll(synthetic_image(24, 32), 5 * i, axis=1)).save(tmp_path / "data" / sub / f"{i}.png")
    small = bases.save_base(tmp_path / "small", "tiny-small", "image", SMALL,
                            objective.init_base(jax.random.PRNGKey(0), SMALL), {})
    recipe = tmp_path / "recipe.py"
    recipe.write_text(RECIPE.format(init_from=str(tmp_path / "small")))
    return small, recipe


@pytest.mark.slow  # Trains (compiles the outer step and the validation).
def test_training_grows_its_start_and_validates_on_held_out_folders(tmp_path):
    _, recipe = _data(tmp_path)
    assert main(["train", "--recipe", str(recipe), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "o")]) == 0
    record = json.loads((tmp_path / "o" / "record.json").read_text())
    assert [c["step"] for c in record["curve"]] == [2, 3, 4]  # Logged every 3 steps, and at every validation.
    assert all("val_psnr" in c for c in record["curve"] if c["step"] % 2 == 0)
    assert "val_psnr" not in record["curve"][1]
    assert len(record["data"]) == 2 and not any("held" in d["path"] for d in record["data"])
    assert bases.load_base_dir(tmp_path / "o").cfg.channels == (1, 2, 1)


def test_a_holdout_that_matches_no_folder_is_a_one_line_error(tmp_path, capsys):
    _, recipe = _data(tmp_path, held=False)
    assert main(["train", "--recipe", str(recipe), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err.strip()
    assert "holdout" in err and len(err.splitlines()) == 1
