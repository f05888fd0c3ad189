"""Fitting the shared context tables of entropy model 4 from the latents of training signals."""

from __future__ import annotations

import numpy as np

from inrcodec.bitstream import context_coder


def count(levels: list[np.ndarray], scale_indices: list[int], counts: np.ndarray | None = None,
          model: int = 5) -> np.ndarray:
    """Adds one signal's (context, symbol) counts under entropy `model`'s contexts to `counts`
    (levels, contexts, ALPHABET) and returns them.

    `levels` are its int latents per level (*grid (h, w), C), finest first; levels whose scale index is
    0 are not coded and not counted.
    """
    if counts is None:
        counts = np.zeros((len(levels), context_coder.CONTEXTS_OF_MODEL[model], context_coder.ALPHABET), np.int64)
    planes = context_coder.planes_of(levels)
    for k in range(len(levels)):
        if scale_indices[k] == 0:
            continue
        for c, plane in enumerate(planes[k]):
            ctx = context_coder.plane_contexts(plane, context_coder.coarser_plane(planes, k, c), model)
            np.add.at(counts[k], (ctx.reshape(-1), context_coder.symbols_of(plane).reshape(-1)), 1)
    return counts


def tables(counts: np.ndarray, prior_weight: float = 4.0) -> np.ndarray:
    """Integer tables (levels, contexts, ALPHABET) from counts.

    Each context's distribution is its counts plus `prior_weight` pseudo-counts spread as its level's
    overall distribution (itself smoothed with one count per symbol), so rare contexts fall back to
    the level's statistics.
    """
    counts = np.asarray(counts, np.float64)
    level = counts.sum(axis=1, keepdims=True) + 1.0
    level /= level.sum(axis=-1, keepdims=True)
    return context_coder.frequencies(counts + prior_weight * level)
