"""Hard-concrete L0 gates, the Lagrangian density constraint and structured SIREN pruning (tiny arrays)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from inrcodec.training import l0
from inrcodec.core import siren
from inrcodec.core.config import ModelConfig

TINY = ModelConfig(channels=(1, 1, 1), hidden=8, depth=3)


def test_constants():
    assert (l0.BETA, l0.GAMMA, l0.ZETA) == (2.0 / 3.0, -0.1, 1.1)


def test_expected_l0_matches_monte_carlo():
    log_alpha = jnp.asarray([-2.0, -0.5, 0.0, 1.0, 3.0])
    n = 200_000
    z = l0.sample_gates(jax.random.PRNGKey(0), jnp.broadcast_to(log_alpha, (n, log_alpha.size)))
    mc = np.mean(np.asarray(z) > 0, axis=0)
    np.testing.assert_allclose(mc, np.asarray(l0.expected_l0(log_alpha)), atol=0.01)


def test_samples_lie_in_unit_interval_with_exact_zeros_and_ones():
    z = np.asarray(l0.sample_gates(jax.random.PRNGKey(1), jnp.zeros((10_000,))))
    assert z.min() >= 0.0 and z.max() <= 1.0
    assert np.any(z == 0.0) and np.any(z == 1.0)
    assert np.any((z > 0.0) & (z < 1.0))
    # Different keys give different samples; the gradient reaches log_alpha.
    z2 = np.asarray(l0.sample_gates(jax.random.PRNGKey(2), jnp.zeros((10_000,))))
    assert not np.array_equal(z, z2)
    g = jax.grad(lambda la: jnp.sum(l0.sample_gates(jax.random.PRNGKey(1), la)))(jnp.zeros((100,)))
    assert np.all(np.asarray(g) >= 0) and np.any(np.asarray(g) > 0)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_init_log_alpha_gives_requested_keep_probability(keep):
    la = l0.init_log_alpha((3, 4), keep_prob=keep)
    assert la.shape == (3, 4) and la.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(l0.expected_l0(la)), keep, rtol=1e-5)
    np.testing.assert_allclose(float(l0.expected_density({"a": la, "b": la[0]})), keep, rtol=1e-5)


def test_init_log_alpha_rejects_bad_keep_probability():
    with pytest.raises(ValueError):
        l0.init_log_alpha((2,), keep_prob=1.0)


def test_expected_density_weights_gates_by_size():
    keep_a, keep_b = 0.2, 0.8
    tree = {"a": l0.init_log_alpha((4,), keep_a), "b": l0.init_log_alpha((2, 3), keep_b)}
    np.testing.assert_allclose(float(l0.expected_density(tree)), (4 * keep_a + 6 * keep_b) / 10, rtol=1e-5)
    # Unit gates of "a" each control 10 weights; "b" gates one each (per-gate array sizes also work).
    sizes = {"a": 10, "b": np.ones((2, 3))}
    want = (40 * keep_a + 6 * keep_b) / 46
    np.testing.assert_allclose(float(l0.expected_density(tree, sizes)), want, rtol=1e-5)


def test_deterministic_gates_and_hard_mask_are_stable():
    la = jnp.asarray([-10.0, -3.0, -2.0, 0.0, 1.0, 2.5, 10.0])
    g1, g2 = l0.deterministic_gates(la), jax.jit(l0.deterministic_gates)(la)
    np.testing.assert_array_equal(np.asarray(g1), np.asarray(l0.deterministic_gates(la)))
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), rtol=1e-6)
    want = np.clip(1 / (1 + np.exp(-np.asarray(la))) * 1.2 - 0.1, 0, 1)
    np.testing.assert_allclose(np.asarray(g1), want, rtol=1e-5, atol=1e-7)
    assert float(g1[0]) == 0.0 and float(g1[-1]) == 1.0
    m = np.asarray(l0.hard_mask(la))
    assert m.dtype == bool
    np.testing.assert_array_equal(m, np.asarray(l0.hard_mask(la)))
    np.testing.assert_array_equal(m, np.asarray(g1) > 0)
    np.testing.assert_array_equal(m, [False, False, True, True, True, True, True])


def test_apply_gates_structured_and_unstructured():
    w = jnp.arange(6.0).reshape(2, 3)
    unit = jnp.asarray([1.0, 0.0, 0.5])
    np.testing.assert_allclose(np.asarray(l0.apply_gates(w, unit)), [[0, 0, 1], [3, 0, 2.5]])
    full = jnp.asarray([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(np.asarray(l0.apply_gates(w, full)), [[0, 0, 2], [0, 4, 0]])
    with pytest.raises(ValueError):
        l0.apply_gates(w, jnp.ones((2,)))


def test_dual_ascent_rises_above_target_and_falls_to_zero_below():
    m = jnp.asarray(1.0)
    up = l0.dual_ascent(m, jnp.asarray(0.5), 0.25, lr=0.1)
    down = l0.dual_ascent(m, jnp.asarray(0.1), 0.25, lr=0.1)
    np.testing.assert_allclose([float(up), float(down)], [1.025, 0.985], rtol=1e-6)
    assert float(l0.dual_ascent(jnp.asarray(0.001), jnp.asarray(0.0), 0.25, lr=0.1)) == 0.0
    assert float(l0.dual_ascent(m, jnp.asarray(0.2), 0.25, lr=0.1, restart=True)) == 0.0
    np.testing.assert_allclose(float(l0.dual_ascent(m, jnp.asarray(0.5), 0.25, lr=0.1, restart=True)), 1.025)


def test_lagrangian_gradient_pushes_density_down():
    la = {"a": l0.init_log_alpha((3, 4), 0.9), "b": l0.init_log_alpha((5,), 0.9)}
    m = jnp.asarray(2.0)

    def penalty(la, m):
        return l0.lagrangian_penalty(l0.expected_density(la), 0.25, m)

    np.testing.assert_allclose(float(penalty(la, m)), 2.0 * (0.9 - 0.25), rtol=1e-5)
    g, gm = jax.grad(penalty, argnums=(0, 1))(la, m)
    assert all(np.all(np.asarray(x) > 0) for x in jax.tree.leaves(g))
    assert float(gm) == 0.0  # The multiplier belongs to dual_ascent, not to the primal optimiser.
    stepped = jax.tree.map(lambda x, d: x - 1.0 * d, la, g)
    assert float(l0.expected_density(stepped)) < float(l0.expected_density(la))


def _run_constrained(task_weight: float, lr: float, dual_lr: float, steps: int, restart: bool):
    """Alternating Adam on log_alpha and dual ascent on the multiplier, target density 0.25."""
    la = {"a": l0.init_log_alpha((4, 6), 0.9), "b": l0.init_log_alpha((5,), 0.9)}
    # A toy task loss that wants every gate on, more strongly for some gates than for others.
    importance = {"a": jnp.linspace(0.5, 2.0, 24).reshape(4, 6), "b": jnp.linspace(0.5, 2.0, 5)}
    opt = optax.adam(lr)

    def loss(la, m):
        d = l0.expected_density(la)
        task = sum(
            jnp.mean(c * (1 - l0.expected_l0(x)) ** 2)
            for x, c in zip(jax.tree.leaves(la), jax.tree.leaves(importance))
        )
        return task_weight * task + l0.lagrangian_penalty(d, 0.25, m), d

    @jax.jit
    def step(carry, _):
        la, state, m = carry
        (_, d), g = jax.value_and_grad(loss, has_aux=True)(la, m)
        updates, state = opt.update(g, state, la)
        m = l0.dual_ascent(m, d, 0.25, dual_lr, restart=restart)
        return (optax.apply_updates(la, updates), state, m), d

    (la, _, m), _ = jax.lax.scan(step, (la, opt.init(la), jnp.zeros(())), None, length=steps)
    return float(l0.expected_density(la)), float(m)


def test_constrained_density_converges_to_target():
    # With a task loss opposing sparsity the saddle point sits on the constraint, multiplier > 0.
    density, m = _run_constrained(task_weight=1.0, lr=0.05, dual_lr=0.1, steps=400, restart=False)
    assert abs(density - 0.25) < 0.02
    assert m > 0.0


def test_pure_penalty_needs_dual_restart():
    # Nothing but the constraint term: while the multiplier is positive Adam keeps lowering the
    # density, and a decaying multiplier stays positive long after the crossing (big overshoot).
    # Resetting it to 0 once the constraint holds (L0onie's dual restart) stops near the target.
    overshoot, _ = _run_constrained(task_weight=0.0, lr=0.005, dual_lr=1.0, steps=800, restart=False)
    assert overshoot < 0.15
    density, m = _run_constrained(task_weight=0.0, lr=0.005, dual_lr=1.0, steps=800, restart=True)
    assert abs(density - 0.25) < 0.02
    assert m == 0.0


def _random_masks(params, seed=0):
    rng = np.random.default_rng(seed)
    masks = []
    for layer in [params["first"], *params["hidden"]]:
        width = layer["b"].shape[0]
        m = rng.random(width) < 0.6
        m[0], m[1] = True, False  # Some units on and some off in every layer.
        masks.append(m)
    return masks


def _setup():
    params = siren.init(jax.random.PRNGKey(0), TINY)
    z = jax.random.normal(jax.random.PRNGKey(1), (16, TINY.latent_dim))
    return params, z


def test_unit_gates_all_ones_equal_plain_siren():
    params, z = _setup()
    ones = [jnp.ones_like(layer["b"]) for layer in [params["first"], *params["hidden"]]]
    want = np.asarray(siren.apply(params, z, TINY.w0))
    np.testing.assert_allclose(np.asarray(l0.apply_with_unit_gates(params, z, TINY.w0, ones)), want, atol=1e-6)
    nones = [None] * l0.num_sine_layers(params)
    np.testing.assert_allclose(np.asarray(l0.apply_with_unit_gates(params, z, TINY.w0, nones)), want, atol=1e-6)
    with pytest.raises(ValueError):
        l0.apply_with_unit_gates(params, z, TINY.w0, ones[:-1])


def test_prune_structured_shrinks_and_matches_gated_siren():
    params, z = _setup()
    masks = _random_masks(params)
    pruned = l0.prune_structured(params, masks)
    kept = [int(m.sum()) for m in masks]
    assert all(k < TINY.hidden for k in kept)
    h, c = TINY.latent_dim, TINY.out_channels
    assert pruned["first"]["w"].shape == (h, kept[0]) and pruned["first"]["b"].shape == (kept[0],)
    for i, layer in enumerate(pruned["hidden"], start=1):
        assert layer["w"].shape == (kept[i - 1], kept[i])
        assert layer["b"].shape == (kept[i],) and layer["shift"].shape == (h, kept[i])
    assert pruned["out"]["w"].shape == (kept[-1], c) and pruned["out"]["b"].shape == (c,)
    gated = l0.apply_with_unit_gates(params, z, TINY.w0, [jnp.asarray(m) for m in masks])
    np.testing.assert_allclose(np.asarray(siren.apply(pruned, z, TINY.w0)), np.asarray(gated), atol=1e-5)
    # The pruned units really mattered: the gated output differs from the dense one.
    assert not np.allclose(np.asarray(gated), np.asarray(siren.apply(params, z, TINY.w0)), atol=1e-5)


def test_prune_structured_folds_real_valued_deterministic_gates():
    params, z = _setup()
    rng = np.random.default_rng(3)
    log_alphas = [jnp.asarray(rng.normal(0.0, 3.0, layer["b"].shape), jnp.float32)
                  for layer in [params["first"], *params["hidden"]]]
    gates = [l0.deterministic_gates(la) for la in log_alphas]
    assert any(np.any(np.asarray(g) == 0) for g in gates)
    assert any(np.any((np.asarray(g) > 0) & (np.asarray(g) < 1)) for g in gates)
    pruned = l0.prune_structured(params, gates)
    for g, layer in zip(gates, [pruned["first"], *pruned["hidden"]]):
        assert layer["b"].shape == (int(np.sum(np.asarray(g) > 0)),)
    gated = l0.apply_with_unit_gates(params, z, TINY.w0, gates)
    np.testing.assert_allclose(np.asarray(siren.apply(pruned, z, TINY.w0)), np.asarray(gated), atol=1e-5)


def test_structured_expected_density_counts_surviving_parameters():
    params, _ = _setup()
    masks = _random_masks(params, seed=4)
    # Saturated gates: P(z != 0) is ~1 for kept units and ~0 for dropped ones.
    log_alphas = [jnp.where(jnp.asarray(m), 30.0, -30.0) for m in masks]
    pruned = l0.prune_structured(params, masks)
    size = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))  # noqa: E731
    want = size(pruned) / size(params)
    np.testing.assert_allclose(float(l0.structured_expected_density(params, log_alphas)), want, rtol=1e-5)
    full = l0.init_unit_log_alphas(params, keep_prob=0.9)
    assert [la.shape for la in full] == [(TINY.hidden,)] * TINY.depth
    d = float(l0.structured_expected_density(params, full))
    assert 0.8 < d < 0.95
    g = jax.grad(lambda las: l0.structured_expected_density(params, las))(full)
    assert all(np.all(np.asarray(x) > 0) for x in g)


# ----------------------------------------------------------------- whole-network gates and export

from inrcodec.training import pruning  # noqa: E402

WIDE = ModelConfig(channels=(1, 1, 1, 1), hidden=32, depth=3)


def _random_log_alphas(net, structured, seed=0):
    rng = np.random.default_rng(seed)
    shapes = l0.init_network_gates(net, structured)
    return jax.tree.map(lambda la: jnp.asarray(rng.normal(0.0, 3.0, la.shape), jnp.float32), shapes)


def test_gate_units_equals_gating_the_unit_outputs():
    params, z = _setup()
    gates = [l0.sample_gates(jax.random.PRNGKey(k), jnp.zeros((TINY.hidden,))) for k in range(TINY.depth)]
    np.testing.assert_allclose(np.asarray(siren.apply(l0.gate_units(params, gates), z, TINY.w0)),
                               np.asarray(l0.apply_with_unit_gates(params, z, TINY.w0, gates)), atol=1e-6)
    ones = jax.tree.map(jnp.ones_like, l0.gated_weights(params))
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), l0.gate_weights(params, ones), params))


def test_deterministic_export_is_stable_across_runs():
    net = siren.init(jax.random.PRNGKey(0), WIDE)
    log_alphas = _random_log_alphas(net, structured=False)
    a, density_a = pruning.export_unstructured(net, log_alphas, 0.25)
    b, density_b = pruning.export_unstructured(net, jax.tree.map(jnp.array, log_alphas), 0.25)
    assert density_a == density_b
    assert jax.tree.all(jax.tree.map(lambda x, y: bool(np.array_equal(np.asarray(x), np.asarray(y))), a, b))


@pytest.mark.parametrize("target", [0.5, 0.25, 0.1])
def test_unstructured_export_hits_the_target_with_exact_zeros(target):
    net = siren.init(jax.random.PRNGKey(0), WIDE)
    log_alphas = _random_log_alphas(net, structured=False)
    exported, gate_density = pruning.export_unstructured(net, log_alphas, target)
    assert abs(gate_density - target) > pruning.DENSITY_TOLERANCE  # The random gates needed the fix.
    record = pruning.sparsity_record("l0-unstructured", target, exported, WIDE, gate_density)
    assert abs(record["density"] - target) <= 0.01
    # Kept weights are the largest log_alphas, their deterministic gate folded in; biases untouched.
    flat_la = np.concatenate([np.asarray(x).ravel() for x in jax.tree.leaves(log_alphas)])
    flat_w = np.concatenate([np.asarray(x).ravel() for x in jax.tree.leaves(l0.gated_weights(exported))])
    assert flat_la[flat_w != 0].min() >= flat_la[flat_w == 0].max()
    np.testing.assert_array_equal(np.asarray(exported["first"]["b"]), np.asarray(net["first"]["b"]))


def test_unstructured_export_without_fix_folds_deterministic_gates():
    net = siren.init(jax.random.PRNGKey(0), WIDE)
    log_alphas = _random_log_alphas(net, structured=False)
    gates = jax.tree.map(l0.deterministic_gates, log_alphas)
    exact = pruning.mask_density(gates)
    exported, gate_density = pruning.export_unstructured(net, log_alphas, exact)
    assert gate_density == exact
    want = l0.gate_weights(net, gates)
    assert jax.tree.all(jax.tree.map(lambda x, y: bool(np.allclose(x, y)), exported, want))


@pytest.mark.parametrize("target", [0.5, 0.25, 0.1])
def test_structured_export_hits_the_target(target):
    net = siren.init(jax.random.PRNGKey(0), WIDE)
    exported, cfg, _ = pruning.export_structured(net, _random_log_alphas(net, structured=True), target, WIDE)
    assert len(cfg.widths) == WIDE.depth and cfg.num_params() == sum(x.size for x in jax.tree.leaves(exported))
    assert abs(pruning.sparsity_record("l0-structured", target, exported, WIDE, None)["density"] - target) <= 0.01
    assert [exported["first"]["b"].shape[0], *(h["b"].shape[0] for h in exported["hidden"])] == list(cfg.widths)


def test_structured_export_matches_the_deterministically_gated_network():
    net = siren.init(jax.random.PRNGKey(0), WIDE)
    log_alphas = _random_log_alphas(net, structured=True, seed=1)
    gates = [l0.deterministic_gates(la) for la in log_alphas]
    target = sum(x.size for x in jax.tree.leaves(l0.prune_structured(net, gates))) / WIDE.num_params()
    exported, cfg, gate_density = pruning.export_structured(net, log_alphas, target, WIDE)
    assert gate_density == pytest.approx(target) and min(cfg.widths) < WIDE.hidden
    z = jax.random.normal(jax.random.PRNGKey(2), (32, WIDE.in_dim))
    gated = siren.apply(l0.gate_network(net, gates, structured=True), z, WIDE.w0)
    np.testing.assert_allclose(np.asarray(siren.apply(exported, z, WIDE.w0)), np.asarray(gated), atol=1e-5)


@pytest.mark.parametrize("density", [0.5, 0.25, 0.1, 0.013])
def test_magnitude_and_random_prune_hit_the_density_exactly(density):
    net = siren.init(jax.random.PRNGKey(0), WIDE)
    n = sum(x.size for x in jax.tree.leaves(l0.gated_weights(net)))
    magnitude = pruning.magnitude_prune(net, density)
    random = pruning.random_prune(net, density, jax.random.PRNGKey(5))
    for mask in (magnitude, random):
        assert sum(int(np.sum(m)) for m in jax.tree.leaves(mask)) == round(density * n)
        assert jax.tree.structure(mask) == jax.tree.structure(l0.gated_weights(net))
    w = np.concatenate([np.abs(np.asarray(x)).ravel() for x in jax.tree.leaves(l0.gated_weights(net))])
    m = np.concatenate([np.asarray(x).ravel() for x in jax.tree.leaves(magnitude)])
    assert w[m > 0].min() >= w[m == 0].max()
    assert not np.array_equal(m, np.concatenate([np.asarray(x).ravel() for x in jax.tree.leaves(random)]))
    pruned = l0.gate_weights(net, magnitude)
    assert pruning.mask_density(l0.gated_weights(pruned)) == pytest.approx(round(density * n) / n)


def test_narrow_width_matches_the_parameter_budget():
    for density in (0.5, 0.25, 0.1):
        h = pruning.narrow_width_for_density(WIDE, density)
        budget = density * WIDE.num_params()
        params = lambda w: ModelConfig(channels=WIDE.channels, hidden=w, depth=3).num_params()  # noqa: E731
        assert abs(params(h) - budget) <= min(abs(params(h - 1) - budget), abs(params(h + 1) - budget))
    assert pruning.narrow_width_for_density(WIDE, 1.0) == WIDE.hidden


def test_annealed_gates_are_nearly_binary_and_keep_their_expected_density():
    """At a low temperature the samples are almost all exactly 0 or 1, P(z != 0) still matches
    expected_l0 at that temperature, and the schedule falls from BETA to the final one."""
    from inrcodec.training.train import TrainConfig, gate_beta

    log_alpha = jnp.linspace(-4.0, 4.0, 41)
    for beta, most_fractional in ((l0.BETA, 1.0), (0.05, 0.06)):
        z = jax.vmap(lambda k: l0.sample_gates(k, log_alpha, beta))(jax.random.split(jax.random.PRNGKey(0), 20000))
        np.testing.assert_allclose(np.mean(z != 0, axis=0), l0.expected_l0(log_alpha, beta), atol=0.015)
        fractional = float(np.mean((z > 0) & (z < 1)))
        assert fractional <= most_fractional
        if beta == l0.BETA:
            assert fractional > 0.3  # Louizos et al.'s temperature leaves many gates in between.
    cfg = TrainConfig(steps=100, sparsity="l0-structured", density=0.5, gate_beta_final=0.05)
    betas = [float(gate_beta(cfg, s)) for s in (0, 50, 100, 200)]
    assert betas[0] == pytest.approx(l0.BETA) and betas[2] == pytest.approx(0.05) == betas[3]
    assert betas[0] > betas[1] > betas[2]
    assert float(gate_beta(TrainConfig(), 70)) == pytest.approx(l0.BETA)  # Default: no annealing.
    with pytest.raises(ValueError, match="gate_beta_final"):
        TrainConfig(gate_beta_final=1.0)


def test_an_equality_constraint_pushes_a_low_density_back_up():
    """Below the target the inequality's multiplier stays at 0; the equality's turns negative, so its
    penalty's gradient raises log_alpha (and the density)."""
    low = jnp.asarray(0.1)
    assert float(l0.dual_ascent(jnp.asarray(0.0), low, 0.25, 0.5, restart=True)) == 0.0
    mu = l0.dual_ascent(jnp.asarray(0.0), low, 0.25, 0.5, equality=True)
    assert float(mu) == pytest.approx(-0.075)
    log_alpha = jnp.full((8,), -2.0)
    grad = jax.grad(lambda la: l0.lagrangian_penalty(l0.expected_density(la), 0.25, mu))(log_alpha)
    assert (np.asarray(grad) < 0).all()  # Gradient descent raises every log_alpha.
