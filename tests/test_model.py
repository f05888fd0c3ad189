"""Latent pyramid, SIREN, the shared fit routine and the rate-distortion loss (tiny configs)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import optax

from inrcodec.core import latents, objective, synthesis, siren
from inrcodec.core.config import ModelConfig
from inrcodec.core.fit import fit, per_leaf_sgd

TINY = ModelConfig(channels=(1, 2, 1), hidden=8, depth=2)


def test_grid_shapes_cover_odd_sizes():
    assert latents.grid_shapes((5, 9), TINY) == [(5, 9, 1), (3, 5, 2), (2, 3, 1)]


def test_sampling_level0_is_identity_and_constant_grids_stay_constant():
    rng = np.random.default_rng(0)
    grids = [jnp.asarray(rng.normal(size=s), jnp.float32) for s in latents.grid_shapes((6, 10), TINY)]
    grids[1] = jnp.full_like(grids[1], 2.5)
    pos = jnp.asarray(latents.all_positions((6, 10)))
    z = np.asarray(latents.sample(grids, pos))
    assert z.shape == (60, 4)
    np.testing.assert_allclose(z[:, 0], np.asarray(grids[0]).reshape(-1))
    np.testing.assert_allclose(z[:, 1:3], 2.5, rtol=1e-6)


def test_sampling_interpolates_between_cell_centres():
    # One axis of length 8 at stride 2: cells centred on samples 0.5, 2.5, ... -> sample 1 is halfway.
    cfg = ModelConfig(spatial_dims=1, channels=(1, 1), hidden=4, depth=2)
    grids = [jnp.zeros((8, 1)), jnp.asarray([[0.0], [4.0], [8.0], [12.0]])]
    z = np.asarray(latents.sample(grids, jnp.asarray(latents.all_positions((8,)))))[:, 1]
    np.testing.assert_allclose(z, [0, 1, 3, 5, 7, 9, 11, 12])
    del cfg


def test_siren_output_starts_near_mid_grey():
    params = siren.init(jax.random.PRNGKey(0), TINY)
    out = siren.apply(params, jnp.zeros((10, TINY.latent_dim)), TINY.w0)
    assert out.shape == (10, 3)
    assert float(jnp.abs(out - 0.5).max()) < 0.5


def test_fit_decreases_a_quadratic_and_continues_from_its_state():
    loss = lambda p, k: jnp.sum((p["x"] - 3.0) ** 2)
    p, state, losses = fit(loss, {"x": jnp.zeros(3)}, optax.adam(0.1), 50, jax.random.PRNGKey(0))
    assert losses.shape == (50,) and float(losses[-1]) < float(losses[0])
    p2, _, losses2 = fit(loss, p, optax.adam(0.1), 50, jax.random.PRNGKey(1), state)
    assert float(losses2[-1]) < float(losses[-1])


def test_per_leaf_sgd_uses_each_rate():
    opt = per_leaf_sgd([jnp.float32(0.1), jnp.float32(1.0)])
    updates, _ = opt.update([jnp.ones(2), jnp.ones(2)], opt.init(None))
    np.testing.assert_allclose(updates[0], -0.1)
    np.testing.assert_allclose(updates[1], -1.0)


@pytest.mark.slow  # Compiles second-order gradients through the inner loop (~20 s of CPU), as training does.
def test_maml_inner_loop_is_differentiable_and_reduces_the_loss():
    base = objective.init_base(jax.random.PRNGKey(0), TINY)
    target = objective.make_signal(np.random.default_rng(0).random((8, 8, 3)))
    key = jax.random.PRNGKey(1)

    def post(b):
        mods = objective.adapt(b, target, jnp.float32(1e-3), key, TINY, 3)
        return objective.rd_loss(b["net"], mods, target, jnp.float32(1e-3), key, TINY)[1][0]

    before = objective.rd_loss(base["net"], objective.init_modulations(base, (8, 8), TINY), target, 1e-3, key, TINY)[1][0]
    assert float(post(base)) < float(before)
    grads = jax.grad(post)(base)
    assert float(jnp.abs(grads["inner_log_lr"]).sum()) > 0  # Second order: step sizes get gradients.


def test_rd_loss_rate_is_bits_per_sample_and_subsampling_works():
    base = objective.init_base(jax.random.PRNGKey(0), TINY)
    mods = objective.init_modulations(base, (6, 10), TINY)
    target = objective.make_signal(jnp.full((6, 10, 3), 0.5))
    loss, (mse, rate) = objective.rd_loss(base["net"], mods, target, 0.0, jax.random.PRNGKey(0), TINY, "round", 16)
    assert float(rate) > 0 and np.isfinite(float(loss))
    assert float(loss) == float(mse)


def test_soft_rounding_goes_from_the_identity_to_rounding_and_off_is_plain_noise():
    y = jnp.linspace(-2.3, 2.7, 41)
    np.testing.assert_allclose(objective.soft_round(y, 1e-3), y, atol=1e-4)
    inner = y[jnp.abs(y - jnp.round(y)) < 0.4]  # Away from the half-integers, where it is steepest.
    np.testing.assert_allclose(objective.soft_round(inner, 50.0), jnp.round(inner), atol=1e-3)
    middle = objective.soft_round(y, 5.0)
    assert float(jnp.abs(middle - jnp.round(y)).max()) < float(jnp.abs(y - jnp.round(y)).max())
    key = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(objective.quantize(y, "noise", key, 0.0), objective.quantize(y, "noise", key))
    noise = objective.quantize(y, "noise", key) - y
    np.testing.assert_allclose(objective.quantize(y, "noise", key, 5.0), middle + noise, atol=1e-6)
    grad = jax.grad(lambda v: objective.quantize(v, "noise", key, jnp.float32(0.0)).sum())(y)
    np.testing.assert_array_equal(grad, jnp.ones_like(y))  # Off: no 0/0 from the unused branch.


def test_zero_levels_are_held_at_zero_unpriced_and_get_no_gradient():
    base = objective.init_base(jax.random.PRNGKey(0), TINY)
    mods = objective.init_modulations(base, (6, 10), TINY)
    mods["latents"] = [jnp.round(3 * jax.random.normal(jax.random.PRNGKey(k), y.shape)) for k, y in enumerate(mods["latents"])]
    target = objective.make_signal(jax.random.uniform(jax.random.PRNGKey(9), (6, 10, 3)))
    key = jax.random.PRNGKey(1)

    @functools.partial(jax.jit, static_argnums=1)  # One compiled program each: far faster than op by op.
    def loss(m, zero_levels):
        return objective.rd_loss(base["net"], m, target, 0.01, key, TINY, "ste", zero_levels=zero_levels)

    zeroed = {**mods, "latents": [jnp.zeros_like(mods["latents"][0])] + mods["latents"][1:]}
    _, (mse_held, rate_held) = loss(mods, 1)
    _, (mse_zeroed, rate_zeroed) = loss(zeroed, 0)
    assert float(mse_held) == float(mse_zeroed)  # The network sees zeros, whatever level 0 holds.
    assert float(rate_held) < float(rate_zeroed)  # An all-zero level costs nothing in a file (scale 0).
    assert float(rate_held) < float(loss(mods, 0)[1][1])
    grads = jax.grad(lambda m: loss(m, 1)[0])(mods)["latents"]
    assert not np.any(np.asarray(grads[0])) and np.any(np.asarray(grads[1]))


@pytest.mark.parametrize("cfg, shape", [
    (TINY, (7, 9)),
    (ModelConfig(spatial_dims=1, out_channels=1, channels=(1, 2, 1), hidden=8, depth=2, linear_skip=True), (37,)),
    (ModelConfig(spatial_dims=2, out_channels=1, channels=(1, 1), hidden=8, depth=3, input_features=3), (5, 6)),
])
def test_the_numpy_synthesis_is_the_training_math_and_bands_do_not_change_it(cfg, shape):
    """The decoder's numpy synthesis equals core.latents.sample + core.siren.apply (JAX) up to float
    rounding, and evaluating it in other bands of rows gives the same values up to rounding."""
    base = objective.init_base(jax.random.PRNGKey(0), cfg)
    rng = np.random.default_rng(0)
    ints = [rng.integers(-3, 4, s).astype(np.int32) for s in latents.grid_shapes(shape, cfg)]
    inputs = rng.normal(size=(*shape, cfg.input_features)).astype(np.float32) if cfg.input_features else None
    a = synthesis.reconstruct(base["net"], ints, shape, cfg, 0.5, inputs)
    b = synthesis.reconstruct(base["net"], ints, shape, cfg, 0.5, inputs, band=4)
    assert a.shape == (*shape, cfg.out_channels) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    np.testing.assert_allclose(a, b, atol=1e-6)  # BLAS may sum a smaller band in another order.
    z = latents.sample([jnp.asarray(q, jnp.float32) * 0.5 for q in ints], jnp.asarray(latents.all_positions(shape)))
    if inputs is not None:
        z = jnp.concatenate([z, jnp.asarray(inputs.reshape(-1, cfg.input_features))], axis=-1)
    want = np.clip(np.asarray(siren.apply(base["net"], z, cfg.w0)), 0, 1).reshape(a.shape)
    np.testing.assert_allclose(a, want, atol=2e-6)


def test_values_converted_band_by_band_are_those_of_the_whole_signal():
    """With `out` and `convert`, reconstruct writes each band's converted values: exactly (bit for bit)
    the conversion of the values it returns without them, in the output's dtype."""
    from inrcodec.signals import image as image_io

    cfg = ModelConfig(spatial_dims=2, out_channels=3, channels=(1, 2, 1), hidden=8, depth=2)
    base = objective.init_base(jax.random.PRNGKey(1), cfg)
    rng = np.random.default_rng(1)
    shape = (23, 17)
    ints = [rng.integers(-40, 41, s).astype(np.int32) for s in latents.grid_shapes(shape, cfg)]
    whole = synthesis.reconstruct(base["net"], ints, shape, cfg, 0.25, band=40)
    for depth in (8, 16):
        def grey(values):
            return image_io.from_unit(values.mean(axis=-1, keepdims=True), depth)

        out = np.empty((*shape, 1), np.uint8 if depth == 8 else np.uint16)
        got = synthesis.reconstruct(base["net"], ints, shape, cfg, 0.25, band=40, out=out, convert=grey)
        assert got is out
        np.testing.assert_array_equal(out, grey(whole))
    batch = synthesis.reconstruct_batch(base["net"], [np.stack([q, -q]) for q in ints], shape, cfg, 0.25)
    np.testing.assert_array_equal(batch[0], synthesis.reconstruct(base["net"], ints, shape, cfg, 0.25))


def test_missing_samples_do_not_count_in_the_distortion_and_inputs_reach_the_network():
    cfg = ModelConfig(spatial_dims=2, out_channels=1, channels=(1, 1), hidden=8, depth=2, input_features=3)
    base = objective.init_base(jax.random.PRNGKey(0), cfg)
    mods = objective.init_modulations(base, (5, 6), cfg)
    rng = np.random.default_rng(0)
    values, inputs = rng.random((5, 6, 1)), rng.normal(size=(5, 6, 3))
    weights = np.ones((5, 6))
    weights[:, :3] = 0
    key = jax.random.PRNGKey(0)

    def mse(v, x):
        return float(objective.rd_loss(base["net"], mods, objective.make_signal(v, x, weights), 0.0, key, cfg, "round")[1][0])

    changed = values.copy()
    changed[:, :3] = 5.0  # Only where the weight is 0.
    assert mse(values, inputs) == pytest.approx(mse(changed, inputs))
    changed[0, 4] = 5.0
    assert mse(changed, inputs) > mse(values, inputs)
    assert mse(values, inputs) != pytest.approx(mse(values, inputs + 1.0))
    out = np.asarray(synthesis.reconstruct(base["net"], [np.zeros(s, np.int32) for s in latents.grid_shapes((5, 6), cfg)],
                                       (5, 6), cfg, inputs=inputs))
    assert out.shape == (5, 6, 1) and np.ptp(out) > 0  # Zero latents, varying inputs: the output varies.


def test_linear_skip_adds_a_linear_map_of_the_latents_to_the_output():
    cfg = ModelConfig(spatial_dims=1, out_channels=1, channels=(1, 1), hidden=8, depth=2, linear_skip=True)
    params = siren.init(jax.random.PRNGKey(0), cfg)
    assert params["skip"].shape == (cfg.in_dim, 1)
    z = jnp.zeros((4, cfg.in_dim))
    without = siren.apply({k: v for k, v in params.items() if k != "skip"}, z + 1.0, cfg.w0)
    np.testing.assert_allclose(siren.apply(params, z + 1.0, cfg.w0), without + params["skip"].sum(), atol=1e-6)
    assert cfg.macs_per_sample() == ModelConfig(**{**cfg.to_dict(), "channels": (1, 1), "linear_skip": False}).macs_per_sample() + 2


@pytest.mark.parametrize("weighted", [False, True])
def test_the_distortion_over_every_sample_in_chunks_is_the_whole_one(monkeypatch, weighted):
    """Above ALL_SAMPLES_CHUNK samples, the all-sample distortion (the meta-learned adaptation's) is summed
    chunk by chunk with rematerialization: the same loss and gradient, in memory that does not grow with
    the signal; the last chunk's overhang (here 33 x 37 = 1221 = 4 x 256 + 197) counts for nothing."""
    cfg = ModelConfig(spatial_dims=2, out_channels=3, channels=(1, 1, 1), hidden=8, depth=2, input_features=2)
    base = objective.init_base(jax.random.PRNGKey(0), cfg)
    rng = np.random.default_rng(1)
    mods = {"latents": [jnp.asarray(rng.normal(size=s), jnp.float32) for s in latents.grid_shapes((33, 37), cfg)],
            "log_scale": base["log_scale"]}
    weights = (rng.random((33, 37)) > 0.3).astype(np.float32) if weighted else None
    signal = objective.make_signal(rng.random((33, 37, 3)), rng.normal(size=(33, 37, 2)), weights)

    def loss_and_grad(chunk):
        monkeypatch.setattr(objective, "ALL_SAMPLES_CHUNK", chunk)
        loss = lambda m: objective.rd_loss(base["net"], m, signal, 0.01, jax.random.PRNGKey(2), cfg, "round")[0]
        return jax.value_and_grad(loss)(mods)

    (whole, g_whole), (chunked, g_chunked) = loss_and_grad(1 << 16), loss_and_grad(256)
    assert float(chunked) == pytest.approx(float(whole), rel=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(g_whole), jax.tree_util.tree_leaves(g_chunked)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)


def test_integer_values_are_the_unit_floats_they_stand_for():
    """An image's uint8 values stay uint8 in the signal (a quarter of float32's memory) and the loss is
    bitwise the one of signals.image.to_unit's floats; uint16 likewise."""
    from inrcodec.signals.image import to_unit

    cfg = ModelConfig(spatial_dims=2, out_channels=3, channels=(1, 1), hidden=8, depth=2)
    base = objective.init_base(jax.random.PRNGKey(0), cfg)
    mods = objective.init_modulations(base, (6, 7), cfg)
    rng = np.random.default_rng(0)
    for dtype in (np.uint8, np.uint16):
        ints = rng.integers(0, np.iinfo(dtype).max, size=(6, 7, 3), dtype=dtype)
        assert objective.make_signal(ints)["values"].dtype == dtype
        losses = [objective.rd_loss(base["net"], mods, objective.make_signal(v), 0.01, jax.random.PRNGKey(1), cfg,
                                    "noise", num_samples=20)[0] for v in (ints, to_unit(ints))]
        assert float(losses[0]) == float(losses[1])
