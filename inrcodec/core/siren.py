"""The base network: a SIREN whose input and per-layer shifts come from the modulation field."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from inrcodec.core.config import ModelConfig

Array = jnp.ndarray
Params = dict


def init(key: jax.Array, cfg: ModelConfig) -> Params:
    """SIREN initialisation (Sitzmann et al. 2020): W ~ U(+-sqrt(6 / fan_in) / w0).

    Returns a pytree {"first": {w (in_dim, w_0), b (w_0,)}, "hidden": [{w (w_{l-1}, w_l), b (w_l,),
    shift (in_dim, w_l)}], "out": {w (w_last, out_channels), b (out_channels,)}} (plus "skip"
    (in_dim, out_channels) with cfg.linear_skip), where w_l = cfg.layer_widths[l] and `shift`
    maps the input z (modulation features and fixed inputs) to a FiLM shift of that layer.
    """
    z, widths = cfg.in_dim, cfg.layer_widths
    keys = iter(jax.random.split(key, 3 * cfg.depth + 2))

    def uniform(shape, fan_in, gain=1.0):
        bound = gain * jnp.sqrt(6.0 / fan_in) / cfg.w0
        return jax.random.uniform(next(keys), shape, jnp.float32, -bound, bound)

    params = {
        "first": {"w": uniform((z, widths[0]), z), "b": uniform((widths[0],), z)},
        "hidden": [
            {"w": uniform((a, b), a), "b": uniform((b,), a), "shift": uniform((z, b), z, 0.5)}
            for a, b in zip(widths, widths[1:])
        ],
        # A small output layer starts every signal near mid-grey (0.5).
        "out": {"w": uniform((widths[-1], cfg.out_channels), widths[-1], 0.05),
                "b": jnp.zeros((cfg.out_channels,), jnp.float32)},
    }
    if cfg.linear_skip:
        # Latent -> output map: one integer latent step starts as 1/50 of the value range.
        params["skip"] = jnp.concatenate([jnp.full((cfg.latent_dim, cfg.out_channels), 0.02, jnp.float32),
                                          jnp.zeros((cfg.input_features, cfg.out_channels), jnp.float32)])
    return params


def apply(params: Params, z: Array, w0: float) -> Array:
    """Maps inputs z (..., in_dim) to values (..., out_channels) around 0.5."""
    h = jnp.sin(w0 * (z @ params["first"]["w"] + params["first"]["b"]))
    for layer in params["hidden"]:
        h = jnp.sin(w0 * (h @ layer["w"] + layer["b"] + z @ layer["shift"]))
    out = h @ params["out"]["w"] + params["out"]["b"] + 0.5
    return out + z @ params["skip"] if "skip" in params else out
