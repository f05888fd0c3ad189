"""Growing a trained base into a larger architecture without changing what it computes.

A meta-training run can start from a smaller base (more latent channels per level, wider sine
layers): the old weights are copied into the new arrays, a new latent channel gets freshly
initialised input rows (it starts at zero in every fit, so it changes nothing until the fit moves
it, and its rows give it a gradient from the first step), and a new sine unit gets fresh incoming
weights and zero outgoing weights (its output is ignored until training gives it a use).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from inrcodec.core import objective
from inrcodec.core.config import ModelConfig


def _feature_map(old: ModelConfig, new: ModelConfig) -> np.ndarray:
    """Index in the new input z of every feature of the old one (latent channels level by level,
    then the fixed inputs)."""
    if old.levels != new.levels or old.input_features != new.input_features:
        raise ValueError("growing keeps the number of levels and of fixed inputs")
    if any(a > b for a, b in zip(old.channels, new.channels)):
        raise ValueError(f"channels {old.channels} cannot grow into {new.channels}")
    starts_old = np.cumsum((0, *old.channels))
    starts_new = np.cumsum((0, *new.channels))
    index = [starts_new[k] + c for k in range(old.levels) for c in range(old.channels[k])]
    index += [new.latent_dim + i for i in range(old.input_features)]
    assert len(index) == starts_old[-1] + old.input_features
    return np.asarray(index, np.int64)


def grow(params: dict, old: ModelConfig, new: ModelConfig, key: jax.Array) -> dict:
    """The base `params` of architecture `old` as a base of architecture `new` that computes the
    same values for every input whose new latent channels are zero.

    New rows and units come from core.siren.init(key, new). Raises ValueError unless `new` only
    adds latent channels and sine-layer width (same levels, depth, output, skip and w0).
    """
    w_old, w_new = old.layer_widths, new.layer_widths
    if (len(w_old) != len(w_new) or any(a > b for a, b in zip(w_old, w_new)) or old.out_channels != new.out_channels
            or old.linear_skip != new.linear_skip or old.w0 != new.w0 or old.spatial_dims != new.spatial_dims):
        raise ValueError(f"cannot grow {old} into {new}: only latent channels and layer widths may grow")
    rows = _feature_map(old, new)
    fresh = objective.init_base(key, new)
    net, src = jax.tree.map(np.array, fresh["net"]), jax.tree.map(np.asarray, params["net"])

    def paste(dst: np.ndarray, value: np.ndarray, row_index=None, zero_rows_from: int | None = None) -> jnp.ndarray:
        out = dst.copy()
        if zero_rows_from is not None:
            out[zero_rows_from:] = 0.0  # Outgoing weights of new units: ignored until trained.
        r = np.arange(value.shape[0]) if row_index is None else row_index
        if value.ndim == 2:
            out[np.ix_(r, np.arange(value.shape[1]))] = value
        else:
            out[: value.shape[0]] = value
        return jnp.asarray(out)

    grown = {"first": {"w": paste(net["first"]["w"], src["first"]["w"], rows),
                       "b": paste(net["first"]["b"], src["first"]["b"])}, "hidden": []}
    for l, layer in enumerate(src["hidden"]):
        grown["hidden"].append({"w": paste(net["hidden"][l]["w"], layer["w"], zero_rows_from=w_old[l]),
                                "b": paste(net["hidden"][l]["b"], layer["b"]),
                                "shift": paste(net["hidden"][l]["shift"], layer["shift"], rows)})
    grown["out"] = {"w": paste(net["out"]["w"], src["out"]["w"], zero_rows_from=w_old[-1]),
                    "b": jnp.asarray(src["out"]["b"])}
    if "skip" in src:
        skip = np.zeros_like(net["skip"])
        skip[rows] = src["skip"]
        grown["skip"] = jnp.asarray(skip)
    return {**params, "net": grown}
