"""Entropy models 4 and 5: context-coded 2-D latent levels with shared tables (inrcodec.bitstream.context_coder)."""

from __future__ import annotations

import numpy as np
import pytest

from inrcodec.bitstream import context_coder as cc
from inrcodec.bitstream import range_coder
from inrcodec.training import context_tables
from make_assets import tiny_context_tables


def smooth_levels(rng, shapes, scale=1.5):
    """Spatially correlated integer levels (a blurred Laplace field, quiet on the left and loud on the
    right), like fitted latents: flat regions and detailed ones."""
    out = []
    for h, w, c in shapes:
        field = rng.laplace(0, scale, (h + 2, w + 2, c))
        field = (field[:-2, 1:-1] + field[1:-1, 1:-1] + field[2:, 1:-1] + field[1:-1, :-2] + field[1:-1, 2:]) / 2.5
        out.append(np.round(field * np.linspace(0.1, 2.0, w)[None, :, None]).astype(np.int32))
    return out


SHAPES = [(17, 23, 1), (9, 12, 2), (5, 6, 1), (3, 3, 1), (1, 2, 1)]


@pytest.mark.parametrize("model", [4, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_levels_and_weight_deltas_round_trip_exactly(seed, model):
    rng = np.random.default_rng(seed)
    levels = smooth_levels(rng, SHAPES)
    levels[1][0, 0, 1], levels[1][2, 3, 0], levels[0][5, 5, 0] = 40, -300, 1023  # Escapes of both signs.
    levels[3][:] = 0
    scales = [cc.escape_scale_index(q) if q.any() else 0 for q in levels]
    tables = tiny_context_tables(len(SHAPES), model)
    deltas = [rng.integers(-4, 5, (3, 4)).astype(np.int32), np.zeros(5, np.int32)]
    delta_scales = [range_coder.best_scale_index(d) for d in deltas]
    payload = cc.encode(levels, scales, tables, deltas, delta_scales)
    out = cc.decode(payload, [q.shape for q in levels], scales, tables, [d.shape for d in deltas], delta_scales)
    for got, want in zip(out, levels + deltas):
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)
    # The payload is within a few words of the information content the tables give.
    bits = cc.level_bits(levels, scales, tables) + sum(range_coder.coded_bits(d, s) for d, s in zip(deltas, delta_scales))
    assert bits / 8 - 4 <= len(payload) <= bits / 8 + 16


def test_a_wavefront_only_needs_latents_of_earlier_wavefronts():
    h, w = 7, 9
    order, starts = cc.wavefronts(h, w)
    assert sorted(order.tolist()) == list(range(h * w))
    wave = np.empty(h * w, int)
    for t, (a, b) in enumerate(zip(starts, list(starts[1:]) + [h * w])):
        wave[order[a:b]] = t
    for i in range(h):
        for j in range(w):
            for di, dj in ((0, -1), (-1, -1), (-1, 0), (-1, 1)):
                if 0 <= i + di < h and 0 <= j + dj < w:
                    assert wave[(i + di) * w + j + dj] < wave[i * w + j]


@pytest.mark.parametrize("h, w", [(7, 9), (1, 1), (1, 6), (6, 1), (2, 2), (11, 4)])
def test_the_decoder_visits_each_wavefront_in_the_encoder_order(h, w):
    """decode_levels forms each wavefront's (i, j) alone (never the whole plane's order): the same
    positions in the same order as `wavefronts`, empty wavefronts (a plane 1 wide) included."""
    order, starts = cc.wavefronts(h, w)
    ends = list(starts[1:]) + [h * w]
    assert len(starts) == 2 * (h - 1) + w
    for t, (a, b) in enumerate(zip(starts, ends)):
        i, j = cc.wavefront(t, h, w)
        np.testing.assert_array_equal(i * w + j, order[a:b])


@pytest.mark.parametrize("model", [4, 5])
def test_levels_that_mostly_escape_round_trip_exactly(model):
    """Escapes of both signs in every wavefront of several planes and levels (decoded wavefront by
    wavefront after their level's symbols)."""
    rng = np.random.default_rng(4)
    levels = [np.clip(rng.laplace(0, 40, s), -1023, 1023).round().astype(np.int32) for s in [(13, 10, 2), (7, 5, 1), (4, 3, 2)]]
    scales = [cc.escape_scale_index(q) for q in levels]
    tables = tiny_context_tables(3, model)
    out = cc.decode(cc.encode(levels, scales, tables), [q.shape for q in levels], scales, tables)
    for got, want in zip(out, levels):
        assert got.dtype == np.int32 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_contexts_see_the_neighbours_and_the_coarser_level():
    plane = np.zeros((4, 4), np.int64)
    coarse = np.zeros((2, 2), np.int64)
    assert cc.plane_contexts(plane, coarse).max() == cc.plane_contexts(plane, None).max() == 1  # Sign 0.
    plane[1, 1] = 3
    ctx = cc.plane_contexts(plane, coarse)
    assert ctx[1, 2] != ctx[0, 0] and ctx[2, 2] != ctx[0, 0] and ctx[2, 0] != ctx[0, 0]  # Left, top-left, top-right.
    assert ctx[1, 0] == ctx[0, 0]  # Right of it comes later: no influence.
    coarse[1, 1] = 5
    assert cc.plane_contexts(plane, coarse)[3, 3] != ctx[3, 3]


@pytest.mark.parametrize("model, signals", [(4, 4), (5, 16)])  # Model 5 has 6x the contexts to fill.
def test_fitted_tables_code_correlated_latents_in_fewer_bits_than_one_laplace_per_level(model, signals):
    rng = np.random.default_rng(3)
    shapes = [(40, 60, 1), (20, 30, 1), (10, 15, 1)]
    counts = None
    for _ in range(signals):
        levels = smooth_levels(rng, shapes)
        counts = context_tables.count(levels, [1, 1, 1], counts, model)
    tables = context_tables.tables(counts)
    cc.check_tables(tables, 3)
    assert cc.entropy_model(tables) == model
    held_out = smooth_levels(rng, shapes)
    plain = sum(range_coder.coded_bits(q) for q in held_out)
    by_context = cc.level_bits(held_out, [1, 1, 1], tables)
    assert by_context < 0.95 * plain


@pytest.mark.parametrize("change", ["zero entry", "row sum", "shape", "float"])
def test_malformed_tables_are_rejected(change):
    tables = tiny_context_tables(2)
    if change == "zero entry":
        tables[0, 0, 0] = 0
    elif change == "row sum":
        tables[1, 5, 3] += 1
    elif change == "shape":
        tables = tables[:, :-1]
    else:
        tables = tables.astype(float)
    with pytest.raises(ValueError):
        cc.check_tables(tables, 2)


def test_a_corrupted_payload_fails_cleanly_or_decodes_to_valid_integers():
    rng = np.random.default_rng(5)
    levels = smooth_levels(rng, SHAPES[:3])
    scales = [cc.escape_scale_index(q) for q in levels]
    tables = tiny_context_tables(3)
    payload = bytearray(cc.encode(levels, scales, tables))
    for trial in range(20):
        bad = bytearray(payload)
        bad[rng.integers(len(bad))] ^= 1 << int(rng.integers(8))
        try:
            out = cc.decode(bytes(bad), [q.shape for q in levels], scales, tables)
        except (ValueError, RuntimeError, AssertionError):
            continue
        assert all(q.dtype == np.int32 and np.abs(q).max() <= range_coder.SYMBOL_MAX for q in out)


def test_model_5_contexts_see_the_latents_two_to_the_left_and_two_above():
    plane = np.zeros((5, 5), np.int64)
    base = cc.plane_contexts(plane, None, 5)
    plane[2, 0] = 4  # Two to the left of (2, 2), and two above (4, 0).
    ctx = cc.plane_contexts(plane, None, 5)
    assert ctx[2, 2] != base[2, 2] and ctx[4, 0] != base[4, 0]
    assert ctx[2, 3] == base[2, 3] and cc.plane_contexts(plane, None, 4)[2, 2] == cc.plane_contexts(plane * 0, None, 4)[2, 2]
    assert cc.plane_contexts(np.full((6, 6), 16), np.full((3, 3), 16), 5).max() == cc.ADAPTIVE_CONTEXTS - 1


def test_adaptive_rows_are_exact_dyadic_distributions_at_any_count():
    """Model 5's rows are integer frequencies >= 1 summing to 2**16 (so constriction sees the same
    probabilities on every CPU), also after as many updates as a level can have (2**26 latents)."""
    tables = tiny_context_tables(1, 5)
    rows = cc._Rows(tables[0], 5)
    ctx = np.arange(cc.ADAPTIVE_CONTEXTS)
    np.testing.assert_array_equal(rows(ctx).sum(-1), 1.0)
    rows.counts[3, 7] = rows.totals[3] = 1 << 26  # One symbol seen everywhere in a largest level.
    rows.counts[5], rows.totals[5] = 1 << 20, cc.ALPHABET << 20
    rows._refresh(np.array([3, 5]))
    for p in (rows(ctx), rows(np.array([3, 5, 3]))):
        f = p * (1 << cc.TABLE_BITS)
        np.testing.assert_array_equal(f, np.round(f))
        assert f.min() >= 1 and np.all(f.sum(-1) == 1 << cc.TABLE_BITS)
    assert rows(np.array([3]))[0, 7] > 0.99


def test_model_5_adapts_to_a_signal_louder_than_its_tables():
    """Tables made for quiet latents code loud ones in fewer bits once the rows adapt, and the
    payload is the information content the adaptive rows give."""
    rng = np.random.default_rng(5)
    levels = smooth_levels(rng, [(40, 60, 1), (20, 30, 1), (10, 15, 1)], scale=6.0)
    scales = [cc.escape_scale_index(q) for q in levels]
    tables = tiny_context_tables(3, 5)
    static = 0.0
    planes = cc.planes_of(levels)
    for k in range(3):
        ctx = cc.plane_contexts(planes[k][0], cc.coarser_plane(planes, k, 0), 5)
        static += float(np.sum(cc.TABLE_BITS - np.log2(tables[k][ctx, cc.symbols_of(planes[k][0])])))
        escaped = planes[k][0][np.abs(planes[k][0]) > cc.RANGE]
        static += range_coder.coded_bits(escaped, scales[k]) if escaped.size else 0.0
    adaptive = cc.level_bits(levels, scales, tables)
    assert adaptive < 0.96 * static  # 6 % fewer here; the rows as shipped would give static exactly.
    payload = cc.encode(levels, scales, tables)
    assert adaptive / 8 - 4 <= len(payload) <= adaptive / 8 + 16


def test_a_file_of_one_context_model_is_refused_with_tables_of_the_other(inr_bases):
    """The header's entropy model (4 or 5) must be the one the base's tables serve: never decoded with
    the other model's contexts."""
    import dataclasses

    from inrcodec import decoder
    from inrcodec.core import bases
    from inrcodec.errors import FormatError
    from inrcodec.modalities import image

    box, header = image.read_header((inr_bases / "golden-context5.inr").read_bytes())
    assert header.coding.entropy_model == 5
    model4 = bases.load_base("tiny-context-test-base")  # Same network, model 4's tables.
    with pytest.raises(FormatError, match="entropy model 5 and the tables of base tiny-context-test-base are for model 4"):
        decoder.decode_symbols(header.coding, box.payload, model4, (header.height, header.width))
    as_model4 = dataclasses.replace(header.coding, context_model=4)
    with pytest.raises(FormatError, match="entropy model 4 and the tables"):
        decoder.decode_symbols(as_model4, box.payload, bases.load_base("tiny-context5-test-base"), (header.height, header.width))
