"""Entropy model and range coder of the latents."""

import jax.numpy as jnp
import numpy as np
import pytest

from inrcodec import entropy


def test_laplace_bits_matches_the_quantized_cdf():
    b = 1.7
    ys = np.arange(-6, 7)
    cdf = lambda x: np.where(x < 0, 0.5 * np.exp(x / b), 1 - 0.5 * np.exp(-x / b))
    expected = -np.log2(cdf(ys + 0.5) - cdf(ys - 0.5))
    got = np.asarray(entropy.laplace_bits(jnp.asarray(ys, jnp.float32), jnp.log(b)))
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_laplace_probabilities_sum_to_one():
    for b in (0.05, 0.5, 3.0, 40.0):
        ys = jnp.arange(-2000, 2001, dtype=jnp.float32)
        p = 2.0 ** -entropy.laplace_bits(ys, jnp.log(b))
        assert abs(float(p.sum()) - 1.0) < 1e-3


def test_laplace_bits_is_capped():
    assert float(entropy.laplace_bits(jnp.float32(1e6), jnp.log(0.01))) == entropy.MAX_BITS_PER_LATENT


def test_round_trip_with_zero_levels_skipped():
    rng = np.random.default_rng(0)
    levels = [rng.laplace(0, 2, (5, 7)).round().astype(np.int32), np.zeros((3, 4), np.int32),
              rng.laplace(0, 0.3, (9,)).round().astype(np.int32)]
    idx = [entropy.best_scale_index(l) for l in levels]
    assert idx[1] == 0 and idx[0] > 0
    data = entropy.encode(levels, idx)
    assert len(data) % 4 == 0
    back = entropy.decode(data, [l.shape for l in levels], idx)
    for a, b in zip(levels, back):
        np.testing.assert_array_equal(a, b)


def test_best_scale_index_minimises_the_coded_size():
    rng = np.random.default_rng(1)
    sym = rng.laplace(0, 3, 4000).round().astype(np.int32)
    best = entropy.best_scale_index(sym)
    size = lambda i: len(entropy.encode([sym], [i]))
    assert size(best) <= min(size(best - 12), size(best + 12))


def test_scale_index_is_exact_powers_of_two():
    assert entropy.scale_from_index(entropy.SCALE_INDEX_ONE) == 1.0
    assert entropy.scale_from_index(entropy.SCALE_INDEX_ONE + 16) == 2.0


def test_decode_rejects_ragged_payload():
    with pytest.raises(ValueError):
        entropy.decode(b"abc", [(2,)], [90])


def test_laplace_bits_gradient_is_finite_for_large_values():
    import jax

    g = jax.grad(lambda y, s: entropy.laplace_bits(y, s).sum(), argnums=(0, 1))(
        jnp.asarray([0.0, 0.3, 5.0, 400.0]), jnp.float32(-4.0)
    )
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in g)


def test_stack_differences_invert_and_refuse_latents_out_of_range():
    rng = np.random.default_rng(2)
    q = rng.integers(-5, 6, (6, 3, 4, 1)).astype(np.int32)
    d = entropy.stack_differences(q)
    np.testing.assert_array_equal(d[0], q[0])
    np.testing.assert_array_equal(entropy.stack_sums(d), q)
    with pytest.raises(ValueError, match="leave"):
        entropy.stack_sums(np.full((2, 3), entropy.SYMBOL_MAX))  # Sums to 2 * SYMBOL_MAX.


def test_stack_prediction_is_chosen_only_where_it_saves_bits():
    rng = np.random.default_rng(3)
    drift = np.cumsum(rng.laplace(0, 0.3, (40, 5, 7)).round(), axis=0).astype(np.int32) + rng.integers(-9, 10, (5, 7))
    independent = rng.laplace(0, 2, (40, 5, 7)).round().astype(np.int32)
    assert entropy.predict_along_stack(drift)
    assert entropy.coded_bits(entropy.stack_differences(drift)) < entropy.coded_bits(drift)
    assert not entropy.predict_along_stack(independent)
    assert not entropy.predict_along_stack(drift[:1])  # One signal: nothing to predict from.
    assert not entropy.predict_along_stack(np.zeros((4, 2), np.int32))
    wide = np.stack([np.full(3, -entropy.SYMBOL_MAX), np.full(3, entropy.SYMBOL_MAX)] * 3)
    assert not entropy.predict_along_stack(wide)  # Its differences could not be coded.
