"""Meta-training: a tiny recipe trains, checkpoints, resumes exactly, and exports a loadable base;
sparse bases (L0 gates inside the inner loop, fixed masks) train and export at the target density.
Every test that compiles a training step is in the slow tier (`-m slow`); the fast tier keeps the
recipe and manifest checks."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from inrcodec import api
from inrcodec.core import bases, objective
from inrcodec.training import l0, pruning
from inrcodec.cli import main
from inrcodec.core.config import FitConfig, ModelConfig
from inrcodec.training.train import TrainConfig, init_sparse_state, outer_loss
from conftest import DEBUG_FIT
from make_assets import synthetic_image

RECIPE = '''
from inrcodec.core.config import ModelConfig
from inrcodec.training.train import TrainConfig


def get_config():
    return TrainConfig(name="tiny-trained", model=ModelConfig(channels=(1, 1, 1), hidden=8, depth=2), crop=16,
                       batch=2, inner_steps=2, fit_steps={fit_steps}, steps=4, warmup=1, checkpoint_every=2,
                       log_every=1, seed=3, fit_lr=0.03, encoder_sample_fraction=0.25)
'''


def _setup(tmp_path, fit_steps=0):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(synthetic_image(24, 32), 5 * i, axis=1)).save(data / f"{i}.png")
    recipe = tmp_path / "recipe.py"
    recipe.write_text(RECIPE.format(fit_steps=fit_steps))
    return data, recipe


@pytest.mark.slow  # Trains three times (exact resume).
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
    assert api.default_fit(a) == FitConfig(lr=0.03, sample_fraction=0.25)  # The recipe's encoder schedule.
    assert "tiny-trained" in capsys.readouterr().out


@pytest.mark.slow  # Trains (compiles the outer step with a fitted latent term).
def test_train_with_fitted_latent_term(tmp_path):
    data, recipe = _setup(tmp_path, fit_steps=3)
    assert main(["train", "--recipe", str(recipe), "--data", str(data), "--out", str(tmp_path / "o")]) == 0
    assert bases.load_base_dir(tmp_path / "o").manifest["training"]["steps"] == 4


def test_train_without_images_is_a_one_line_error(tmp_path, capsys):
    _, recipe = _setup(tmp_path)
    (tmp_path / "empty").mkdir()
    assert main(["train", "--recipe", str(recipe), "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.strip().startswith("inrcodec: error:")


@pytest.mark.slow  # Trains three times (exact resume).
def test_sparse_train_resume_is_exact_and_exports_the_target_density(tmp_path, capsys):
    data, recipe = _setup(tmp_path)
    sparse = ["--density", "0.5", "--sparsity", "l0-structured"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["train", "--recipe", str(recipe), "--data", str(data), "--out", str(straight), *sparse]) == 0
    assert main(["train", "--recipe", str(recipe), "--data", str(data), "--out", str(resumed), "--steps", "2", *sparse]) == 0
    assert main(["train", "--recipe", str(recipe), "--data", str(data), "--out", str(resumed), *sparse]) == 0
    a, b = bases.load_base_dir(straight), bases.load_base_dir(resumed)
    assert a.base_id == b.base_id  # The multiplier and the gates are in the checkpoint.
    record = json.loads((resumed / "record.json").read_text())
    curve = record["curve"]
    assert all(np.isfinite(c["loss"]) for c in curve)
    # Dual ascent: the multiplier rises while the expected density (0.9 at the start) is above 0.5.
    assert all(c["density"] > 0.5 for c in curve)
    assert [c["multiplier"] for c in curve] == sorted(c["multiplier"] for c in curve) and curve[-1]["multiplier"] > 0
    sp = a.manifest["sparsity"]
    assert sp["method"] == "l0-structured" and abs(sp["density"] - 0.5) <= 0.01
    assert a.cfg.widths and a.cfg.hidden == 8 and sp["dense_params"] == ModelConfig(channels=(1, 1, 1), hidden=8, depth=2).num_params()
    assert sp["nonzero_params"] <= a.cfg.num_params() and a.manifest["compact_bytes"] < a.manifest["params_bytes"]
    assert a.params["net"]["first"]["w"].shape == (3, a.cfg.widths[0])
    out = capsys.readouterr().out
    assert "l0-structured density" in out and "compact" in out


@pytest.mark.slow  # Trains (compiles the outer step).
def test_fixed_mask_training_keeps_the_mask(tmp_path):
    data, recipe = _setup(tmp_path)
    out = tmp_path / "o"
    assert main(["train", "--recipe", str(recipe), "--data", str(data), "--out", str(out), "--steps", "2",
                 "--density", "0.3", "--sparsity", "magnitude"]) == 0
    base = bases.load_base_dir(out)
    assert base.manifest["sparsity"]["density"] == pytest.approx(0.3, abs=0.005)
    # The mask was chosen at the start and the pruned weights stayed exactly zero while training.
    start = objective.init_base(jax.random.PRNGKey(3), base.cfg)["net"]
    mask = pruning.magnitude_prune(start, 0.3)
    for m, w in zip(jax.tree.leaves(mask), jax.tree.leaves(l0.gated_weights(base.params["net"]))):
        assert np.all(np.asarray(w)[np.asarray(m) == 0] == 0)


def test_density_is_validated_in_one_line(tmp_path, capsys):
    data, recipe = _setup(tmp_path)
    assert main(["train", "--recipe", str(recipe), "--data", str(data), "--out", str(tmp_path / "o"), "--density", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("inrcodec: error:") and "--density" in err and "\n" not in err
    with pytest.raises(ValueError):
        TrainConfig(sparsity="l0-everything")


@pytest.mark.slow  # Compiles second-order gradients through the gated inner loop.
@pytest.mark.parametrize("sparsity,fit_steps", [("l0-unstructured", 0), ("l0-structured", 2)])
def test_gates_reach_the_inner_loop(sparsity, fit_steps):
    from inrcodec.training.train import fit_tasks

    cfg = TrainConfig(model=ModelConfig(channels=(1, 1), hidden=6, depth=2), batch=2, inner_steps=2,
                      fit_steps=fit_steps, sparsity=sparsity, density=0.5)
    params, _ = init_sparse_state(objective.init_base(jax.random.PRNGKey(0), cfg.model), cfg)
    rng = np.random.default_rng(0)
    batch = {"values": jnp.asarray(rng.random((2, 8, 8, 3)), jnp.float32)}
    lams = jnp.asarray([1e-3, 1e-2])
    key, gate_key = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
    fitted = jax.jit(fit_tasks, static_argnums=4)(params, batch, lams, key, cfg, gate_key) if fit_steps else None
    # Multiplier 0: no constraint term, so the whole gradient comes through the gated network.
    grad_fn = jax.jit(jax.grad(outer_loss, has_aux=True), static_argnums=4)
    grads, metrics = grad_fn(params, batch, lams, key, cfg, fitted, gate_key, 0.0)
    assert np.isfinite(float(metrics["loss"])) and float(metrics["multiplier"]) == 0.0
    assert all(float(jnp.abs(g).sum()) > 0 for g in jax.tree.leaves(grads["gates"]))

    # The inner loop itself runs through the gates: its adapted latents depend on log_alpha.
    def adapted_latents(gates):
        base = {**params, "net": l0.sample_gated_network(gate_key, params["net"], gates, sparsity == "l0-structured")}
        mods = objective.adapt(base, {"values": batch["values"][0]}, lams[0], key, cfg.model, cfg.inner_steps)
        return sum(jnp.sum(y) for y in mods["latents"])

    assert any(float(jnp.abs(g).sum()) > 0 for g in jax.tree.leaves(jax.jit(jax.grad(adapted_latents))(params["gates"])))
    with pytest.raises(ValueError):
        outer_loss(params, batch, lams, key, cfg)  # Gates need an explicit key.


@pytest.mark.slow  # Compiles the encoder for a model of its own.
def test_base_with_per_layer_widths_encodes_and_decodes(tmp_path, monkeypatch):
    cfg = ModelConfig(channels=(1, 1, 1, 1), hidden=8, depth=3, widths=(5, 3, 6))
    params = objective.init_base(jax.random.PRNGKey(0), cfg)
    assert [params["net"]["first"]["w"].shape, params["net"]["hidden"][1]["w"].shape] == [(4, 5), (3, 6)]
    bases.save_base(tmp_path / "narrow", "narrow-test-base", "image", cfg, params, {"inner_steps": 2})
    base = bases.load_base_dir(tmp_path / "narrow")
    assert base.cfg == cfg and base.cfg.macs_per_sample() == 4 * 5 + (5 * 3 + 4 * 3) + (3 * 6 + 4 * 6) + 6 * 3
    monkeypatch.setenv("INRCODEC_BASES", str(tmp_path))
    image = synthetic_image(16, 24)
    result = api.encode(image, quality=4, base=base, fit=DEBUG_FIT)
    decoded = api.decode(result.data)
    assert decoded.base.base_id == base.base_id and decoded.array.shape == image.shape
    np.testing.assert_array_equal(decoded.array, result.reconstruction)


def test_old_manifests_still_load():
    from pathlib import Path

    root = Path(__file__).resolve().parent
    manifests = sorted((root.parent / "meta" / "bases").glob("*/manifest.json")) + sorted((root / "assets").glob("*/manifest.json"))
    assert len(manifests) >= 4
    for path in manifests:
        stored = json.loads(path.read_text())["model"]
        cfg = ModelConfig.from_dict(stored)
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg
        if "widths" in stored:  # A shipped structured-sparse base (siren-image-s10-v1).
            assert cfg.layer_widths == tuple(stored["widths"])
        else:  # Dense manifests, including those written before per-layer widths existed.
            assert cfg.widths == () and cfg.layer_widths == (cfg.hidden,) * cfg.depth
            assert "widths" not in cfg.to_dict()
    assert ModelConfig(channels=(1,) * 7).macs_per_sample() == 2816  # siren-image-v1, as documented.
    with pytest.raises(ValueError):
        ModelConfig(depth=3, widths=(4, 4))


@pytest.mark.slow  # Compiles the outer loss for a batch of 8 crops.
def test_tasks_draw_their_quantization_step_and_the_loss_sees_it(tmp_path):
    """step_indices: each task quantizes with 2**(-i/2), i from the set; finer steps cost more bits
    for the same latents and add less noise."""
    from inrcodec.training import samplers
    from inrcodec.training.train import sample_batch

    data, _ = _setup(tmp_path)
    cfg = TrainConfig(model=ModelConfig(channels=(1, 1, 1), hidden=8, depth=2), crop=16, batch=8, inner_steps=2,
                      step_indices=(0, 4))
    sampler = samplers.dataset_sampler("image", [data], cfg.crop, cfg.grid, cfg.value_range)
    batch, lams, steps = sample_batch(sampler, cfg, 0)
    assert set(steps.tolist()) == {1.0, 0.25}
    params = objective.init_base(jax.random.PRNGKey(0), cfg.model)
    key = jax.random.PRNGKey(1)
    coarse = outer_loss(params, batch, lams, key, cfg, quant_steps=jnp.ones(8))[1]
    fine = outer_loss(params, batch, lams, key, cfg, quant_steps=jnp.full(8, 0.25))[1]
    assert fine["bpp"] > coarse["bpp"]
    # Unit steps passed explicitly are the default.
    assert outer_loss(params, batch, lams, key, cfg)[1]["loss"] == coarse["loss"]


def test_step_indices_are_validated():
    with pytest.raises(ValueError, match="step_indices"):
        TrainConfig(step_indices=())
    with pytest.raises(ValueError, match="step_indices"):
        TrainConfig(step_indices=(0, 40))


@pytest.mark.slow  # Compiles the outer loss twice.
def test_perceptual_tasks_carry_band_weights_and_the_loss_uses_them(tmp_path):
    """distortion="perceptual": every audio window gets its perceptual weights (signals.masking), the
    outer loss weighs its error with them (not the squared error), and other names are refused."""
    import soundfile as sf

    from inrcodec.training import samplers
    from inrcodec.training.train import sample_batch
    from make_assets import synthetic_audio

    data = tmp_path / "wavs"
    data.mkdir()
    sf.write(str(data / "a.wav"), synthetic_audio(3000, 1, 16000).samples, 16000, subtype="PCM_16")
    model = ModelConfig(spatial_dims=1, out_channels=1, channels=(1, 1), hidden=8, depth=1, linear_skip=True)
    cfg = TrainConfig(modality="audio", model=model, crop=1024, batch=2, inner_steps=1, distortion="perceptual")
    sampler = samplers.dataset_sampler("audio", [data], cfg.crop, cfg.grid, cfg.value_range)
    batch, lams, steps = sample_batch(sampler, cfg, 0)
    assert batch["band_weights"].shape == (2, 11, 257)  # (1023 + 384) // 128 + 1 frames of 512 samples.
    params = objective.init_base(jax.random.PRNGKey(0), model)
    key = jax.random.PRNGKey(1)
    weighted = outer_loss(params, batch, lams, key, cfg)[1]
    plain = outer_loss(params, {"values": batch["values"]}, lams, key, cfg)[1]
    assert np.isfinite(float(weighted["loss"])) and float(weighted["psnr"]) != float(plain["psnr"])
    with pytest.raises(ValueError, match="distortion"):
        TrainConfig(distortion="loud")
