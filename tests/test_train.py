"""Meta-training: a tiny recipe trains, checkpoints, resumes exactly, and exports a loadable base."""

import json

import numpy as np
from PIL import Image

from inrcodec import bases
from inrcodec.cli import main
from make_assets import synthetic_image

RECIPE = '''
from inrcodec.config import ModelConfig
from inrcodec.train import TrainConfig


def get_config():
    return TrainConfig(name="tiny-trained", model=ModelConfig(channels=(1, 1, 1), hidden=8, depth=2), crop=16,
                       batch=2, inner_steps=2, fit_steps={fit_steps}, steps=4, warmup=1, checkpoint_every=2,
                       log_every=1, seed=3)
'''


def _setup(tmp_path, fit_steps=0):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(synthetic_image(24, 32), 5 * i, axis=1)).save(data / f"{i}.png")
    recipe = tmp_path / "recipe.py"
    recipe.write_text(RECIPE.format(fit_steps=fit_steps))
    return data, recipe


def test_train_resume_is_exact_and_exports_a_base(tmp_path, capsys):
    data, recipe = _setup(tmp_path)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["train", "--recipe", str(recipe), "--data", str(data), "--out", str(straight)]) == 0
    # Interrupted after 2 steps (a checkpoint), then resumed to 4.
    assert main(["train", "--recipe", str(recipe), "--data", str(data), "--out", str(resumed), "--steps", "2"]) == 0
    assert json.loads((resumed / "checkpoint.json").read_text())["step"] == 2
    assert main(["train", "--recipe", str(recipe), "--data", str(data), "--out", str(resumed)]) == 0
    a, b = bases.load_base_dir(straight), bases.load_base_dir(resumed)
    assert a.base_id == b.base_id  # Same bytes: resuming changes nothing.
    record = json.loads((resumed / "record.json").read_text())
    assert record["steps"] == 4 and [c["step"] for c in record["curve"]] == [1, 2, 3, 4]
    assert len(record["data"]) == 3 and all(len(d["sha256"]) == 64 for d in record["data"])
    assert a.manifest["inner_steps"] == 2
    assert "tiny-trained" in capsys.readouterr().out


def test_train_with_fitted_latent_term(tmp_path):
    data, recipe = _setup(tmp_path, fit_steps=3)
    assert main(["train", "--recipe", str(recipe), "--data", str(data), "--out", str(tmp_path / "o")]) == 0
    assert bases.load_base_dir(tmp_path / "o").manifest["training"]["steps"] == 4


def test_train_without_images_is_a_one_line_error(tmp_path, capsys):
    _, recipe = _setup(tmp_path)
    (tmp_path / "empty").mkdir()
    assert main(["train", "--recipe", str(recipe), "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.strip().startswith("inrcodec: error:")
