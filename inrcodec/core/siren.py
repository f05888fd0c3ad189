"""The base network: a SIREN whose input and per-layer shifts come from the modulation field."""

from __future__ import annotations

import flax.linen as nn
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


class Siren(nn.Module):
    """The SIREN as a flax module: sine layers whose pre-activations get a FiLM shift from the input z.

    h_0 = sin(w0 (z W_0 + b_0)); h_l = sin(w0 (h_{l-1} W_l + b_l + z S_l)); out = h W + b + 0.5
    (+ z K with a linear skip). Its variables are `to_variables(params)` of the `init` pytree.
    """

    widths: tuple[int, ...]  # Width of every sine layer.
    out_channels: int
    w0: float
    linear_skip: bool = False

    @nn.compact
    def __call__(self, z: Array) -> Array:
        h = jnp.sin(self.w0 * nn.Dense(self.widths[0], name="first")(z))
        for l, width in enumerate(self.widths[1:]):
            pre = nn.Dense(width, name=f"hidden_{l}")(h) + nn.Dense(width, use_bias=False, name=f"shift_{l}")(z)
            h = jnp.sin(self.w0 * pre)
        out = nn.Dense(self.out_channels, name="out")(h) + 0.5
        return out + nn.Dense(self.out_channels, use_bias=False, name="skip")(z) if self.linear_skip else out


def to_variables(params: Params) -> dict:
    """The `init` pytree as the flax variables of `Siren` ({"params": {"first": {"kernel", "bias"}, ...}})."""
    variables = {"first": {"kernel": params["first"]["w"], "bias": params["first"]["b"]},
                 "out": {"kernel": params["out"]["w"], "bias": params["out"]["b"]}}
    for l, layer in enumerate(params["hidden"]):
        variables[f"hidden_{l}"] = {"kernel": layer["w"], "bias": layer["b"]}
        variables[f"shift_{l}"] = {"kernel": layer["shift"]}
    if "skip" in params:
        variables["skip"] = {"kernel": params["skip"]}
    return {"params": variables}


def module_of(params: Params, w0: float) -> Siren:
    """The `Siren` whose variables are `to_variables(params)` (its layer widths are read off the params)."""
    widths = (params["first"]["w"].shape[1], *(layer["w"].shape[1] for layer in params["hidden"]))
    return Siren(widths, params["out"]["w"].shape[1], w0, "skip" in params)


def apply(params: Params, z: Array, w0: float) -> Array:
    """Maps inputs z (..., in_dim) to values (..., out_channels) around 0.5 (the `Siren` module)."""
    return module_of(params, w0).apply(to_variables(params), z)
