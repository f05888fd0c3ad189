"""Entropy model and range coder of the latents."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inrcodec.bitstream import range_coder
from inrcodec.core import rate


def test_laplace_bits_matches_the_quantized_cdf():
    b = 1.7
    ys = np.arange(-6, 7)
    cdf = lambda x: np.where(x < 0, 0.5 * np.exp(x / b), 1 - 0.5 * np.exp(-x / b))
    expected = -np.log2(cdf(ys + 0.5) - cdf(ys - 0.5))
    got = np.asarray(rate.laplace_bits(jnp.asarray(ys, jnp.float32), jnp.log(b)))
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_laplace_probabilities_sum_to_one():
    for b in (0.05, 0.5, 3.0, 40.0):
        ys = jnp.arange(-2000, 2001, dtype=jnp.float32)
        p = 2.0 ** -rate.laplace_bits(ys, jnp.log(b))
        assert abs(float(p.sum()) - 1.0) < 1e-3


def test_laplace_bits_is_capped():
    assert float(rate.laplace_bits(jnp.float32(1e6), jnp.log(0.01))) == rate.MAX_BITS_PER_LATENT


def test_round_trip_with_zero_levels_skipped():
    rng = np.random.default_rng(0)
    levels = [rng.laplace(0, 2, (5, 7)).round().astype(np.int32), np.zeros((3, 4), np.int32),
              rng.laplace(0, 0.3, (9,)).round().astype(np.int32)]
    idx = [range_coder.best_scale_index(l) for l in levels]
    assert idx[1] == 0 and idx[0] > 0
    data = range_coder.encode(levels, idx)
    assert len(data) % 4 == 0
    back = range_coder.decode(data, [l.shape for l in levels], idx)
    for a, b in zip(levels, back):
        np.testing.assert_array_equal(a, b)


def test_best_scale_index_minimises_the_coded_size():
    rng = np.random.default_rng(1)
    sym = rng.laplace(0, 3, 4000).round().astype(np.int32)
    best = range_coder.best_scale_index(sym)
    size = lambda i: len(range_coder.encode([sym], [i]))
    assert size(best) <= min(size(best - 12), size(best + 12))


def test_scale_index_is_exact_powers_of_two():
    assert range_coder.scale_from_index(range_coder.SCALE_INDEX_ONE) == 1.0
    assert range_coder.scale_from_index(range_coder.SCALE_INDEX_ONE + 16) == 2.0


def test_decode_rejects_ragged_payload():
    with pytest.raises(ValueError):
        range_coder.decode(b"abc", [(2,)], [90])


def test_laplace_bits_gradient_is_finite_for_large_values():
    import jax

    g = jax.grad(lambda y, s: rate.laplace_bits(y, s).sum(), argnums=(0, 1))(
        jnp.asarray([0.0, 0.3, 5.0, 400.0]), jnp.float32(-4.0)
    )
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in g)


def test_stack_differences_invert_and_refuse_latents_out_of_range():
    rng = np.random.default_rng(2)
    q = rng.integers(-5, 6, (6, 3, 4, 1)).astype(np.int32)
    d = range_coder.stack_differences(q)
    np.testing.assert_array_equal(d[0], q[0])
    np.testing.assert_array_equal(range_coder.stack_sums(d), q)
    with pytest.raises(ValueError, match="leave"):
        range_coder.stack_sums(np.full((2, 3), range_coder.SYMBOL_MAX))  # Sums to 2 * SYMBOL_MAX.


def test_decoding_in_chunks_gives_the_symbols_of_one_call(monkeypatch):
    """Levels and stack sums are decoded DECODE_CHUNK values at a time (bounded memory); chunk
    boundaries anywhere give the same symbols as one coder call, and the same out-of-range error."""
    rng = np.random.default_rng(7)
    levels = [rng.laplace(0, 3, (41, 5)).round().astype(np.int32), rng.laplace(0, 0.4, (23,)).round().astype(np.int32)]
    indices = [range_coder.best_scale_index(q) for q in levels]
    payload = range_coder.encode(levels, indices)
    whole = range_coder.decode(payload, [q.shape for q in levels], indices)
    past_end = range_coder.decode(payload[:8], [q.shape for q in levels], indices)  # Reads past the data.
    q = rng.integers(-5, 6, (13, 3, 4)).astype(np.int32)
    monkeypatch.setattr(range_coder, "DECODE_CHUNK", 7)
    for got, want, level in zip(range_coder.decode(payload, [q.shape for q in levels], indices), whole, levels):
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got, level)
    for got, want in zip(range_coder.decode(payload[:8], [q.shape for q in levels], indices), past_end):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(range_coder.stack_sums(range_coder.stack_differences(q)), q)
    with pytest.raises(ValueError, match="leave"):
        range_coder.stack_sums(np.concatenate([np.zeros((9, 2), np.int32), np.full((2, 2), range_coder.SYMBOL_MAX)]))


def test_stack_prediction_is_chosen_only_where_it_saves_bits():
    rng = np.random.default_rng(3)
    drift = np.cumsum(rng.laplace(0, 0.3, (40, 5, 7)).round(), axis=0).astype(np.int32) + rng.integers(-9, 10, (5, 7))
    independent = rng.laplace(0, 2, (40, 5, 7)).round().astype(np.int32)
    assert range_coder.predict_along_stack(drift)
    assert range_coder.coded_bits(range_coder.stack_differences(drift)) < range_coder.coded_bits(drift)
    assert not range_coder.predict_along_stack(independent)
    assert not range_coder.predict_along_stack(drift[:1])  # One signal: nothing to predict from.
    assert not range_coder.predict_along_stack(np.zeros((4, 2), np.int32))
    wide = np.stack([np.full(3, -range_coder.SYMBOL_MAX), np.full(3, range_coder.SYMBOL_MAX)] * 3)
    assert not range_coder.predict_along_stack(wide)  # Its differences could not be coded.


def test_ilog16_is_sixteen_steps_per_octave_in_integers():
    assert range_coder._LOG_STEPS == tuple(round(2 ** (16 + i / 16)) for i in range(1, 16))
    x = np.arange(1, 100_000)
    got = range_coder.ilog16(x)
    assert np.all(np.diff(got) >= 0)  # Monotone.
    np.testing.assert_array_equal(range_coder.ilog16(2 ** np.arange(40)), 16 * np.arange(40))
    # floor(16 log2 x) except within the rounding of _LOG_STEPS (2^-17 relative) of a step.
    exact = np.floor(16 * np.log2(x)).astype(np.int64)
    assert np.abs(got - exact).max() <= 1 and np.mean(got != exact) < 1e-3
    assert all(range_coder._ilog16_int(int(v)) == w for v, w in zip(x[::97], got[::97]))
    with pytest.raises(ValueError):
        range_coder.ilog16(np.array([0]))


def test_local_scale_indices_follow_the_window_rule():
    rng = np.random.default_rng(1)
    seq = rng.integers(-5, 6, (2, 150))
    seq[0, :40] = 0  # A silent start: the floor.
    got = range_coder.local_scale_indices(seq, 20, 130)
    assert got.shape == (2, 10)
    for c in range(2):
        for j in range(10):
            s = int(np.abs(seq[c, max(0, 16 * j - 64) : 16 * j]).sum())
            want = 20 if s == 0 else max(20, min(255, int(np.floor(16 * np.log2(s))) + 130 - 128))
            assert abs(int(got[c, j]) - want) <= (1 if s else 0)
    assert got[0, 0] == got[0, 1] == got[0, 2] == 20


def bursty(n=3000, channels=2, seed=0):
    """Laplace latents whose spread switches between loud and quiet stretches (ints (n, channels))."""
    rng = np.random.default_rng(seed)
    envelope = np.where(np.arange(n) // 400 % 2 == 0, 8.0, 0.3)[:, None]
    return rng.laplace(0, 1, (n, channels)).__mul__(envelope).round().astype(np.int32)


def test_local_scales_round_trip_with_plain_and_zero_levels():
    levels = [bursty(1000, 2), np.zeros((500, 1), np.int32), bursty(257, 1, seed=3), bursty(130, 2, seed=4)]
    scales = [range_coder.best_scale_index(q) for q in levels]
    contexts = [0, 0, 0, 0]
    for k in (0, 2):
        scales[k], contexts[k], _ = range_coder.best_local_scale(levels[k])
    data = range_coder.encode(levels, scales, contexts)
    back = range_coder.decode(data, [q.shape for q in levels], scales, contexts)
    for a, b in zip(levels, back):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        range_coder.best_local_scale(levels[1])


def test_local_scales_save_bits_on_loud_and_quiet_stretches():
    q = bursty()
    floor, context, bits = range_coder.best_local_scale(q)
    assert abs(bits - range_coder.local_scale_bits(q, floor, context)) < 1e-6
    assert bits < 0.9 * range_coder.coded_bits(q)
    local = range_coder.encode([q], [floor], [context])
    plain = range_coder.encode([q], [range_coder.best_scale_index(q)])
    assert len(local) < 0.9 * len(plain)
    assert abs(8 * len(local) - bits) < 64  # The coder spends what the model says (32-bit words).
    flat = np.random.default_rng(2).laplace(0, 3, (3000, 1)).round().astype(np.int32)
    assert range_coder.best_local_scale(flat)[2] > 0.97 * range_coder.coded_bits(flat)  # Little to gain without bursts.


def test_local_rate_proxy_tracks_the_coded_bits():
    """The fit's differentiable rate of local scales is close to the coder's, at the coder's parameters."""
    q = bursty()
    floor, context, bits = range_coder.best_local_scale(q)
    log_floor = np.log(range_coder.scale_from_index(floor))
    log_gain = (context - range_coder.CONTEXT_GAIN_ZERO - range_coder.SCALE_INDEX_ONE) / range_coder.SCALE_STEPS_PER_OCTAVE * np.log(2)
    proxy = rate.local_laplace_bits(jnp.asarray(q, jnp.float32), jnp.float32(log_gain), jnp.float32(log_floor))
    assert proxy.shape == q.shape
    assert abs(float(proxy.sum()) / bits - 1) < 0.05
    grad = jax.grad(lambda y: rate.local_laplace_bits(y, log_gain, log_floor).sum())(jnp.asarray(q, jnp.float32) + 0.3)
    assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0


def test_context_rate_proxy_is_the_coders_bits_with_usable_slopes():
    """The fit's rate under context tables: at integer latents, exactly what entropy model 4 counts
    (escapes at the level's scale), with the central difference of each latent's row as gradient;
    noisy latents get the slope between the integers around them."""
    from inrcodec.bitstream import context_coder as cc
    from make_assets import tiny_context_tables
    from test_context_coder import smooth_levels

    shapes = [(17, 23, 1), (9, 12, 2), (5, 6, 1), (3, 3, 1), (2, 2, 1)]  # A pyramid, with two channels.
    levels = smooth_levels(np.random.default_rng(3), shapes, scale=4.0)
    levels[0][0, 0, 0] = 40  # One escape.
    tables = tiny_context_tables(len(shapes))
    scales = [cc.escape_scale_index(q) for q in levels]
    log_scales = jnp.log(jnp.asarray([range_coder.scale_from_index(s) for s in scales], jnp.float32))
    lengths = jnp.asarray(rate.code_lengths(tables))
    as_float = [jnp.asarray(q, jnp.float32) for q in levels]
    bits = jax.jit(rate.context_bits, static_argnames="rounded")  # Compiled once: op by op took ~25 s.
    proxy = float(bits(as_float, lengths, log_scales))
    assert proxy == pytest.approx(cc.level_bits(levels, scales, tables), rel=1e-5)
    grad = jax.grad(lambda ys: bits(ys, lengths, log_scales))(as_float)
    k, i, j = 1, 4, 5
    plane = levels[k][..., 0]
    ctx = cc.plane_contexts(plane, levels[k + 1][..., 0])[i, j]
    row = cc.TABLE_BITS - np.log2(tables[k][ctx].astype(np.float64))
    v = plane[i, j] + cc.RANGE
    assert abs(v - cc.RANGE) < cc.RANGE
    assert float(grad[k][i, j, 0]) == pytest.approx((row[v + 1] - row[v - 1]) / 2, rel=1e-4)
    noisy = [q + 0.3 for q in as_float]  # Noisy latents pay the row's bits interpolated between integers.
    interpolated = jax.grad(lambda ys: bits(ys, lengths, log_scales, rounded=False))(noisy)
    assert float(interpolated[k][i, j, 0]) == pytest.approx(row[v + 1] - row[v], rel=1e-4)


def test_the_fits_model_5_contexts_are_the_coders():
    from inrcodec.bitstream import context_coder as cc
    from test_context_coder import smooth_levels

    plane, coarse = smooth_levels(np.random.default_rng(8), [(13, 17, 1), (7, 9, 1)], scale=5.0)
    top = cc.RANGE + 1
    got = rate._plane_contexts(jnp.clip(jnp.asarray(plane[..., 0]), -top, top), jnp.clip(jnp.asarray(coarse[..., 0]), -top, top), 5)
    np.testing.assert_array_equal(np.asarray(got), cc.plane_contexts(plane[..., 0], coarse[..., 0], 5))
