"""L0 sparsity with hard-concrete gates and a Lagrangian density constraint.

Gates follow Louizos, Welling & Kingma (2018), "Learning Sparse Neural Networks through L0
Regularization": every gate z in [0, 1] is a hard-concrete random variable with a learned location
`log_alpha`; during training gates are sampled (reparameterised, so gradients reach log_alpha), at
test time they are deterministic. The expected fraction of nonzero gates is differentiable in
log_alpha, and instead of a tuned L0 penalty weight the density is a constraint
`expected_density <= target` solved with a Lagrange multiplier updated by dual ascent (the
constrained formulation of Gallego-Posada et al. 2022, "L0onie").

Two gate granularities are supported:
  * unstructured: one gate per weight, gates have the weight's shape;
  * structured: one gate per hidden unit (per output column of an (in, out) matrix), shape (out,).
For the SIREN base (see `inrcodec.core.siren`) structured unit gates multiply each sine layer's output;
`prune_structured` then removes the switched-off units physically.

Everything here is a pure function of arrays / pytrees with explicit PRNG keys.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from inrcodec.core import siren

Array = jnp.ndarray
PyTree = Any

BETA = 2.0 / 3.0
"""Temperature of the binary concrete distribution (Louizos et al. use 2/3)."""
GAMMA = -0.1
"""Lower end of the stretch interval (gamma < 0): stretching then clipping puts mass on exactly 0."""
ZETA = 1.1
"""Upper end of the stretch interval (zeta > 1): stretching then clipping puts mass on exactly 1."""

EPS = 1e-6
"""Uniform noise is drawn from U(EPS, 1 - EPS) so that log(u) and log(1 - u) stay finite."""

# beta * log(-gamma / zeta): the shift between log_alpha and the logit of P(z != 0).
_LOG_STRETCH = math.log(-GAMMA / ZETA)
_L0_SHIFT = BETA * _LOG_STRETCH


def init_log_alpha(shape: Sequence[int], keep_prob: float = 0.9, dtype: Any = jnp.float32) -> Array:
    """Constant log_alpha whose expected keep probability P(z != 0) is `keep_prob`.

    Inverts `expected_l0`: log_alpha = logit(keep_prob) + beta * log(-gamma / zeta).

    Args:
      shape: gate shape, e.g. a weight's (in, out) or (out,) for unit gates.
      keep_prob: initial P(z != 0), strictly between 0 and 1.
      dtype: floating dtype of the result.

    Returns:
      Array of `shape` filled with that log_alpha.
    """
    if not 0.0 < keep_prob < 1.0:
        raise ValueError(f"keep_prob must lie in (0, 1), got {keep_prob}")
    value = math.log(keep_prob) - math.log1p(-keep_prob) + _L0_SHIFT
    return jnp.full(tuple(shape), value, dtype)


def sample_gates(key: jax.Array, log_alpha: Array, beta: float | Array = BETA) -> Array:
    """Reparameterised hard-concrete samples (training-time gates).

    u ~ U(eps, 1 - eps), s = sigmoid((log u - log(1 - u) + log_alpha) / beta),
    z = clip(s * (zeta - gamma) + gamma, 0, 1). Exact 0s and 1s occur with positive probability;
    gradients flow to log_alpha where 0 < z < 1.

    Args:
      key: PRNG key.
      log_alpha: gate locations, any shape (...).

    Returns:
      Gates of shape (...) and log_alpha's dtype, in [0, 1].
    """
    u = jax.random.uniform(key, jnp.shape(log_alpha), jnp.result_type(log_alpha, jnp.float32), EPS, 1.0 - EPS)
    s = jax.nn.sigmoid((jnp.log(u) - jnp.log1p(-u) + log_alpha) / beta)
    return jnp.clip(s * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


def expected_l0(log_alpha: Array, beta: float | Array = BETA) -> Array:
    """Per-gate probability that the gate is nonzero: sigmoid(log_alpha - beta * log(-gamma / zeta)).

    Args:
      log_alpha: gate locations, shape (...).
      beta: the temperature the gates are sampled at (annealed: TrainConfig.gate_beta_final).

    Returns:
      P(z != 0), shape (...), differentiable in log_alpha.
    """
    return jax.nn.sigmoid(log_alpha - beta * _LOG_STRETCH)


def expected_density(log_alpha_tree: PyTree, sizes_tree: PyTree | None = None, beta: float | Array = BETA) -> Array:
    """Expected fraction of kept weights over a pytree of gate locations.

    density = sum_g n_g * P(z_g != 0) / sum_g n_g, where n_g is the number of weights gate g
    controls (1 for unstructured gates; e.g. fan-in + fan-out for a unit gate).

    Args:
      log_alpha_tree: pytree of log_alpha arrays.
      sizes_tree: optional pytree with the structure of `log_alpha_tree` whose leaves (scalars, or
        arrays broadcastable to the matching log_alpha's shape) give the weights per gate.
        None: every gate counts once.

    Returns:
      Scalar expected density in [0, 1].
    """
    if sizes_tree is None:
        sizes_tree = jax.tree.map(lambda _: 1.0, log_alpha_tree)

    def kept_and_total(la, n):
        n = jnp.broadcast_to(jnp.asarray(n, jnp.float32), jnp.shape(la))
        return jnp.sum(n * expected_l0(la, beta)), jnp.sum(n)

    pairs = jax.tree.leaves(
        jax.tree.map(kept_and_total, log_alpha_tree, sizes_tree), is_leaf=lambda x: isinstance(x, tuple)
    )
    if not pairs:
        raise ValueError("log_alpha_tree has no leaves")
    kept = sum(p[0] for p in pairs)
    total = sum(p[1] for p in pairs)
    return kept / total


def deterministic_gates(log_alpha: Array) -> Array:
    """Test-time gates min(1, max(0, sigmoid(log_alpha) * (zeta - gamma) + gamma)); no randomness.

    Args:
      log_alpha: gate locations, shape (...).

    Returns:
      Gates in [0, 1], shape (...).
    """
    return jnp.clip(jax.nn.sigmoid(log_alpha) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


def hard_mask(log_alpha: Array) -> Array:
    """Boolean mask of the gates that survive at test time: deterministic_gates(log_alpha) > 0.

    Args:
      log_alpha: gate locations, shape (...).

    Returns:
      Bool array, shape (...).
    """
    return deterministic_gates(log_alpha) > 0


def apply_gates(w: Array, gates: Array) -> Array:
    """Gates a weight: elementwise for full-shape gates, per column for a unit-gate vector.

    Args:
      w: weight (..., out) (e.g. (in, out) matrix or (out,) bias).
      gates: either w's shape (unstructured) or (out,) (structured: one gate per output unit,
        broadcast over the rows).

    Returns:
      Gated weight, shape of w.
    """
    w_shape, g_shape = jnp.shape(w), jnp.shape(gates)
    if g_shape == w_shape or (len(g_shape) == 1 and len(w_shape) >= 1 and g_shape[0] == w_shape[-1]):
        return w * gates
    raise ValueError(f"gates of shape {g_shape} fit neither the weight shape {w_shape} nor its columns")


def lagrangian_penalty(expected_density: Array, target: float | Array, multiplier: Array) -> Array:
    """Constraint term multiplier * (expected_density - target) added to the training loss.

    The multiplier is treated as a constant (stop_gradient): it is updated by `dual_ascent`, not
    by the primal optimiser, so gradients reach log_alpha only through expected_density.

    Args:
      expected_density: scalar, e.g. `expected_density(log_alpha_tree)`.
      target: desired density (constraint expected_density <= target).
      multiplier: scalar Lagrange multiplier >= 0.

    Returns:
      Scalar penalty.
    """
    return jax.lax.stop_gradient(multiplier) * (expected_density - target)


def dual_ascent(
    multiplier: Array, expected_density: Array, target: float | Array, lr: float, restart: bool = False,
    equality: bool = False,
) -> Array:
    """Projected gradient-ascent step on the multiplier: max(0, multiplier + lr * (density - target)).

    The multiplier rises while the constraint is violated (density > target) and decays towards,
    never below, 0 once it holds.

    Args:
      multiplier: scalar Lagrange multiplier >= 0.
      expected_density: current scalar expected density (its gradient is stopped).
      target: desired density.
      lr: dual learning rate > 0.
      restart: L0onie's "dual restart": reset the multiplier to 0 as soon as the constraint holds
        (density <= target) instead of letting it decay, which avoids overshooting below target
        when nothing in the loss pushes the density back up.
      equality: the constraint density == target: multiplier + lr * (density - target), unprojected and
        never restarted, so a negative multiplier pushes a density below the target back up.

    Returns:
      Updated scalar multiplier.
    """
    violation = jax.lax.stop_gradient(expected_density) - target
    if equality:
        return multiplier + lr * violation
    new = jnp.maximum(0.0, multiplier + lr * violation)
    if restart:
        new = jnp.where(violation <= 0, jnp.zeros_like(new), new)
    return new


# ----------------------------------------------------------------------------- SIREN, unit gates


def _sine_layers(params: siren.Params) -> list[dict]:
    return [params["first"], *params["hidden"]]


def num_sine_layers(params: siren.Params) -> int:
    """Number of sine layers (= number of unit-gate vectors): first layer + hidden layers."""
    return 1 + len(params["hidden"])


def init_unit_log_alphas(params: siren.Params, keep_prob: float = 0.9) -> list[Array]:
    """One log_alpha vector per sine layer, shape (width of that layer,), at keep probability keep_prob."""
    return [init_log_alpha(layer["b"].shape, keep_prob) for layer in _sine_layers(params)]


def apply_with_unit_gates(
    params: siren.Params, z: Array, w0: float, unit_gates: Sequence[Array | None]
) -> Array:
    """`siren.apply` with each sine layer's output multiplied by its unit gates.

    Args:
      params: SIREN pytree {"first", "hidden", "out"} (and "skip", never gated).
      z: modulation features (..., in_dim).
      w0: sine frequency factor.
      unit_gates: one entry per sine layer (first, then hidden): gates of shape (width,) (sampled,
        deterministic or boolean), or None for an ungated layer.

    Returns:
      Values (..., out_channels).
    """
    if len(unit_gates) != num_sine_layers(params):
        raise ValueError(f"expected {num_sine_layers(params)} unit-gate vectors, got {len(unit_gates)}")

    def gate(h, g):
        return h if g is None else h * jnp.asarray(g, h.dtype)

    h = gate(jnp.sin(w0 * (z @ params["first"]["w"] + params["first"]["b"])), unit_gates[0])
    for layer, g in zip(params["hidden"], unit_gates[1:]):
        h = gate(jnp.sin(w0 * (h @ layer["w"] + layer["b"] + z @ layer["shift"])), g)
    out = h @ params["out"]["w"] + params["out"]["b"] + 0.5
    return out + z @ params["skip"] if "skip" in params else out


def structured_expected_density(params: siren.Params, unit_log_alphas: Sequence[Array],
                                beta: float | Array = BETA) -> Array:
    """Expected fraction of SIREN parameters that survive structured pruning (exact, independent gates).

    A parameter survives when every unit gate it touches is nonzero: a hidden-to-hidden weight
    needs both its input and output units, a bias or shift column only its unit, an output-layer row
    only its input unit; the first layer's input rows, the output bias and a linear skip are never
    pruned.

    Args:
      params: SIREN pytree (only shapes are used).
      unit_log_alphas: one (width,) log_alpha vector per sine layer.

    Returns:
      Scalar expected density in [0, 1], differentiable in unit_log_alphas.
    """
    layers = _sine_layers(params)
    if len(unit_log_alphas) != len(layers):
        raise ValueError(f"expected {len(layers)} log_alpha vectors, got {len(unit_log_alphas)}")
    p = [jnp.sum(expected_l0(la, beta)) for la in unit_log_alphas]  # Expected kept units per layer.
    in_dim = params["first"]["w"].shape[0]
    kept = in_dim * p[0] + p[0]  # first: w rows are inputs, columns are units; b.
    for k, layer in enumerate(params["hidden"], start=1):
        kept += p[k - 1] * p[k] + p[k] + layer["shift"].shape[0] * p[k]  # w, b, shift.
    out_w, out_b = params["out"]["w"], params["out"]["b"]
    kept += p[-1] * out_w.shape[1] + out_b.size
    if "skip" in params:
        kept += params["skip"].size  # The linear skip is never pruned.
    total = sum(int(np.prod(np.shape(leaf))) for leaf in jax.tree.leaves(params))
    return kept / total


def prune_structured(params: siren.Params, unit_masks: Sequence[Array]) -> siren.Params:
    """Physically removes switched-off hidden units from a SIREN.

    For sine layer k with kept units K_k: keeps columns K_k of its w, b and (hidden layers) shift,
    and rows K_k of the next layer's w (the output layer's w for the last sine layer). Real-valued
    gates (e.g. `deterministic_gates`) are also accepted: units with gate 0 are dropped and the
    remaining gate values are folded into the next layer's rows. Either way
    `siren.apply(pruned, z, w0) == apply_with_unit_gates(params, z, w0, unit_masks)` up to rounding.

    Runs eagerly (output shapes depend on the mask values); not jittable.

    Args:
      params: SIREN pytree {"first": {w, b}, "hidden": [{w, b, shift}], "out": {w, b}}.
      unit_masks: one (width,) bool mask or gate vector per sine layer (first, then hidden).

    Returns:
      A new, smaller SIREN pytree with the same structure (a linear "skip" is kept as it is).
    """
    layers = _sine_layers(params)
    if len(unit_masks) != len(layers):
        raise ValueError(f"expected {len(layers)} unit masks, got {len(unit_masks)}")
    gates = [np.asarray(m) for m in unit_masks]
    for g, layer in zip(gates, layers):
        if g.shape != layer["b"].shape:
            raise ValueError(f"unit mask of shape {g.shape} does not match layer width {layer['b'].shape}")
    keep = [np.flatnonzero(g) for g in gates]
    scales = [g[idx].astype(np.float32) for g, idx in zip(gates, keep)]

    def rows_from(w, k):
        """Rows of w fed by sine layer k's kept units, scaled by their gate values."""
        w = jnp.asarray(w)
        return w[keep[k]] * jnp.asarray(scales[k], w.dtype)[:, None]

    first = params["first"]
    pruned = {
        "first": {"w": jnp.asarray(first["w"])[:, keep[0]], "b": jnp.asarray(first["b"])[keep[0]]},
        "hidden": [],
        "out": {"w": rows_from(params["out"]["w"], len(layers) - 1), "b": jnp.asarray(params["out"]["b"])},
    }
    for k, layer in enumerate(params["hidden"], start=1):
        pruned["hidden"].append(
            {
                "w": rows_from(layer["w"], k - 1)[:, keep[k]],
                "b": jnp.asarray(layer["b"])[keep[k]],
                "shift": jnp.asarray(layer["shift"])[:, keep[k]],
            }
        )
    if "skip" in params:
        pruned["skip"] = jnp.asarray(params["skip"])
    return pruned


# ------------------------------------------------------------- gating a whole SIREN (training)


def gated_weights(params: siren.Params) -> dict:
    """The tensors that unstructured gates (and the pruning masks of `inrcodec.training.pruning`) cover.

    Every weight matrix of the SIREN: {"first": first.w (in_dim, w_0), "hidden": [{"w":
    (w_{l-1}, w_l), "shift": (in_dim, w_l)}], "out": out.w (w_last, out_channels)}. Biases and
    the linear skip are never gated.
    """
    return {
        "first": params["first"]["w"],
        "hidden": [{"w": layer["w"], "shift": layer["shift"]} for layer in params["hidden"]],
        "out": params["out"]["w"],
    }


def with_gated_weights(params: siren.Params, weights: dict) -> siren.Params:
    """`params` with the tensors of `gated_weights` replaced by `weights` (same structure)."""
    return {
        **params,
        "first": {**params["first"], "w": weights["first"]},
        "hidden": [{**layer, **new} for layer, new in zip(params["hidden"], weights["hidden"])],
        "out": {**params["out"], "w": weights["out"]},
    }


def gate_weights(params: siren.Params, gates: dict) -> siren.Params:
    """Unstructured gating: every gated weight times its gate (`gates` has gated_weights' structure)."""
    return with_gated_weights(params, jax.tree.map(apply_gates, gated_weights(params), gates))


def gate_units(params: siren.Params, unit_gates: Sequence[Array]) -> siren.Params:
    """Structured gating: sine layer k's output units times unit_gates[k], shape (w_k,).

    Implemented by scaling the rows of the layer that consumes those units (the next hidden
    layer's w, or out.w), which equals gating the units' outputs exactly, so `siren.apply(gate_units(
    params, g), z, w0) == apply_with_unit_gates(params, z, w0, g)` and the gated network is an
    ordinary SIREN pytree.
    """
    if len(unit_gates) != num_sine_layers(params):
        raise ValueError(f"expected {num_sine_layers(params)} unit-gate vectors, got {len(unit_gates)}")
    consumers = [layer["w"] for layer in params["hidden"]] + [params["out"]["w"]]
    scaled = [w * jnp.asarray(g, w.dtype)[:, None] for w, g in zip(consumers, unit_gates)]
    return {
        **params,
        "hidden": [{**layer, "w": w} for layer, w in zip(params["hidden"], scaled[:-1])],
        "out": {**params["out"], "w": scaled[-1]},
    }


def init_network_gates(params: siren.Params, structured: bool, keep_prob: float = 0.9) -> PyTree:
    """Gate locations for a whole SIREN at keep probability `keep_prob`.

    Returns the unit log_alphas (one (w_k,) vector per sine layer) if `structured`, else one
    log_alpha per gated weight (a pytree shaped like `gated_weights(params)`).
    """
    if structured:
        return init_unit_log_alphas(params, keep_prob)
    return jax.tree.map(lambda w: init_log_alpha(jnp.shape(w), keep_prob), gated_weights(params))


def gate_network(params: siren.Params, gates: PyTree, structured: bool) -> siren.Params:
    """The SIREN gated by `gates` (sampled, deterministic or 0/1) of `init_network_gates`' structure."""
    return gate_units(params, gates) if structured else gate_weights(params, gates)


def sample_gated_network(key: jax.Array, params: siren.Params, log_alphas: PyTree, structured: bool,
                         beta: float | Array = BETA) -> siren.Params:
    """The SIREN gated by one reparameterised hard-concrete sample of every gate at temperature `beta`
    (differentiable in log_alphas)."""
    leaves, treedef = jax.tree.flatten(log_alphas)
    keys = jax.random.split(key, len(leaves))
    gates = jax.tree.unflatten(treedef, [sample_gates(k, la, beta) for k, la in zip(keys, leaves)])
    return gate_network(params, gates, structured)


def network_expected_density(params: siren.Params, log_alphas: PyTree, structured: bool,
                             beta: float | Array = BETA) -> Array:
    """Expected density of a gated SIREN sampled at temperature `beta`: of its parameters if `structured`
    (`structured_expected_density`), else of its gated weights (`expected_density`). Scalar."""
    if structured:
        return structured_expected_density(params, log_alphas, beta)
    return expected_density(log_alphas, beta=beta)
