"""Sparse SIREN base networks: baseline pruning masks and the export of trained L0 gates.

Masks and unstructured gates cover the tensors of `l0.gated_weights` (every weight matrix: first.w,
hidden w and shift, out.w; biases and the linear skip are never pruned); their density is the
fraction of those weights kept. Structured density is the fraction of all SIREN parameters that
survive (`l0.structured_expected_density`). Everything here runs eagerly on concrete arrays
(exported shapes depend on the values).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import jax
import numpy as np

from inrcodec.training import l0
from inrcodec.core.config import ModelConfig

PyTree = Any

DENSITY_TOLERANCE = 0.005
"""At export, a deterministic L0 mask farther than this from the target density is replaced by the
exact-density mask ranked by log_alpha (`export_unstructured`, `export_structured`)."""


def _count(tree: PyTree) -> int:
    return sum(int(np.size(x)) for x in jax.tree.leaves(tree))


def _nonzero(tree: PyTree) -> int:
    return sum(int(np.count_nonzero(np.asarray(x))) for x in jax.tree.leaves(tree))


def top_k_mask(scores: PyTree, density: float) -> PyTree:
    """0/1 float32 masks (shaped like `scores`) keeping exactly round(density x n) highest scores.

    The ranking is global over all leaves; ties go to the earlier element (leaf order, C order).
    """
    leaves, treedef = jax.tree.flatten(scores)
    flat = np.concatenate([np.asarray(x, np.float64).reshape(-1) for x in leaves])
    keep = np.zeros(flat.shape, np.float32)
    keep[np.argsort(-flat, kind="stable")[: int(round(density * flat.size))]] = 1.0
    bounds = np.cumsum([0] + [int(np.size(x)) for x in leaves])
    return jax.tree.unflatten(treedef, [keep[a:b].reshape(np.shape(x)) for a, b, x in zip(bounds, bounds[1:], leaves)])


def magnitude_prune(net: dict, density: float) -> PyTree:
    """Global magnitude pruning: the mask of the round(density x n) largest |w| over the gated weights.

    Applied between training phases (MSR-style); the mask then stays fixed while the kept
    weights are fine-tuned (`TrainConfig.sparsity = "magnitude"`).

    Args:
      net: SIREN params.
      density: fraction of the gated weights to keep, in (0, 1].

    Returns:
      0/1 float32 masks shaped like `l0.gated_weights(net)`; apply with `l0.gate_weights`.
    """
    return top_k_mask(jax.tree.map(lambda w: np.abs(np.asarray(w)), l0.gated_weights(net)), density)


def random_prune(net: dict, density: float, key: jax.Array) -> PyTree:
    """A uniformly random mask keeping exactly round(density x n) of the gated weights (see magnitude_prune)."""
    leaves, treedef = jax.tree.flatten(l0.gated_weights(net))
    keys = jax.random.split(key, len(leaves))
    return top_k_mask(jax.tree.unflatten(treedef, [jax.random.uniform(k, np.shape(w)) for k, w in zip(keys, leaves)]),
                      density)


def mask_density(mask: PyTree) -> float:
    """Fraction of nonzero entries over all leaves of a mask (or of gated weights)."""
    return _nonzero(mask) / _count(mask)


def narrow_width_for_density(cfg: ModelConfig, density: float) -> int:
    """The dense-narrow baseline: the `hidden` width whose SIREN has the parameter count nearest
    density x cfg.num_params() (ties: the narrower)."""
    target = density * cfg.num_params()
    widths = range(1, max(cfg.layer_widths) + 1)
    return min(widths, key=lambda h: abs(dataclasses.replace(cfg, hidden=h, widths=()).num_params() - target))


def deterministic_density(net: dict, log_alphas: PyTree, structured: bool) -> float:
    """What the deterministic gates keep, before any exact-density fix: the fraction of the SIREN's
    parameters (structured: one log_alpha vector per sine layer) or of its gated weights."""
    return _kept_fraction(net, jax.tree.map(lambda la: np.asarray(l0.deterministic_gates(la)), log_alphas), structured)


def _kept_fraction(net: dict, gates: PyTree, structured: bool) -> float:
    """The fraction `deterministic_density` reports, for gates already made deterministic."""
    return _count(l0.prune_structured(net, gates)) / _count(net) if structured else mask_density(gates)


def export_unstructured(net: dict, log_alphas: PyTree, target: float) -> tuple[dict, float]:
    """The exported unstructured-L0 network: deterministic gates folded into the weights.

    Pruned weights become exact zeros. If the deterministic mask's density is farther than
    DENSITY_TOLERANCE from `target`, exactly round(target x n) gated weights are kept instead, the
    ones with the largest log_alpha; a kept weight whose deterministic gate is 0 keeps its raw value.

    Args:
      net: trained SIREN params.
      log_alphas: its gate locations, shaped like `l0.gated_weights(net)`.
      target: target density in (0, 1].

    Returns:
      (exported SIREN, density of the deterministic mask before the fix).
    """
    gates = jax.tree.map(lambda la: np.asarray(l0.deterministic_gates(la)), log_alphas)
    gate_density = _kept_fraction(net, gates, False)
    if abs(gate_density - target) > DENSITY_TOLERANCE:
        keep = top_k_mask(log_alphas, target)
        gates = jax.tree.map(lambda g, k: np.where(k > 0, np.where(g > 0, g, 1.0), 0.0).astype(np.float32), gates, keep)
    return l0.gate_weights(net, gates), gate_density


def export_structured(net: dict, unit_log_alphas: list, target: float, cfg: ModelConfig) -> tuple[dict, ModelConfig, float]:
    """The exported structured-L0 network: switched-off units removed, gate values folded in.

    If the deterministic units' parameter density is farther than DENSITY_TOLERANCE from `target`
    (or a layer lost every unit), the per-layer widths are chosen instead: among the widths whose
    density is within the tolerance, those nearest (L1) to the deterministic widths (if none is, the
    widths of the nearest density: a narrow network has coarse steps); within each
    layer the units with the largest log_alpha are kept (a kept unit whose deterministic gate is 0
    keeps its raw weights).

    Args:
      net: trained SIREN params of architecture `cfg`.
      unit_log_alphas: one (width,) log_alpha vector per sine layer.
      target: target density (fraction of SIREN parameters) in (0, 1].
      cfg: the dense architecture.

    Returns:
      (pruned SIREN, its ModelConfig with `widths`, density of the deterministic units before the fix).
    """
    gates = [np.asarray(l0.deterministic_gates(la)) for la in unit_log_alphas]
    total = cfg.num_params()
    gate_density = _kept_fraction(net, gates, True)
    widths = tuple(int(np.count_nonzero(g)) for g in gates)
    if abs(gate_density - target) > DENSITY_TOLERANCE or min(widths) == 0:

        def density(ks):
            return dataclasses.replace(cfg, widths=ks).num_params() / total

        def preference(ks):  # Within the tolerance: nearest widths first; otherwise nearest density.
            error = abs(density(ks) - target)
            if error <= DENSITY_TOLERANCE:
                return False, sum(abs(k - w) for k, w in zip(ks, widths)), error
            return True, 0, error

        widths = min(itertools.product(*(range(1, w + 1) for w in cfg.layer_widths)), key=preference)
        gates = [np.where(np.isin(np.arange(g.size), np.argsort(-np.asarray(la), kind="stable")[:k]),
                          np.where(g > 0, g, 1.0), 0.0).astype(np.float32)
                 for g, la, k in zip(gates, unit_log_alphas, widths)]
    return l0.prune_structured(net, gates), dataclasses.replace(cfg, widths=widths), gate_density


def sparsity_record(method: str, target: float, net: dict, dense_cfg: ModelConfig, gate_density: float | None) -> dict:
    """The manifest's "sparsity" entry, measured on the exported arrays.

    density: structured: parameters of `net` / parameters of the dense architecture; otherwise
    the fraction of nonzero gated weights. dense_params: parameter count of the dense architecture;
    nonzero_params: nonzero entries of `net`; gate_density: the L0 mask's density before the
    exact-density fix (None for fixed masks).
    """
    if method == "l0-structured":
        density = _count(net) / dense_cfg.num_params()
    else:
        density = mask_density(l0.gated_weights(net))
    record = {"method": method, "target_density": target, "density": round(density, 6),
              "dense_params": dense_cfg.num_params(), "nonzero_params": _nonzero(net)}
    if gate_density is not None:
        record["gate_density"] = round(gate_density, 6)
    return record
