"""Frozen configuration records: the base network's architecture and the encoder's fitting schedule."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

from inrcodec.bitstream.coding import quant_step  # noqa: F401  (the ladders below are in its units)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture of a modulated SIREN base network over a latent pyramid.

    The per-signal modulations are a pyramid of latent grids; level k has stride 2**k along every
    signal axis. Grids are upsampled (linear interpolation) to every sample position and the
    resulting feature vector z (sum of `channels` entries) drives the SIREN: it is the input of
    the first sine layer and produces a FiLM shift for every hidden layer.
    """

    spatial_dims: int = 2  # 2 for images and fields, 1 for audio.
    out_channels: int = 3  # Values per sample (3 for RGB).
    channels: tuple[int, ...] = (1, 1, 1, 1, 1, 1, 1)  # Latent channels per pyramid level (level k: stride 2**k).
    hidden: int = 32  # Width of the sine layers (of the dense network when `widths` is set).
    depth: int = 3  # Number of sine layers.
    widths: tuple[int, ...] = ()  # Per-layer widths of the sine layers (`depth` entries), e.g. after
    # structured pruning; empty = every layer `hidden` wide.
    w0: float = 1.0  # Frequency factor of every sine layer: h = sin(w0 * (W x + b + shift)).
    input_features: int = 0  # Fixed per-sample inputs appended to z (3 for climate: the grid point
    # on the unit sphere), supplied by the modality, not stored in files.
    input_scale: float = 1.0  # The fixed inputs are multiplied by this (their SIREN frequency factor).
    linear_skip: bool = False  # Also add a learned linear map of z to the output: the latent field can then
    # carry the signal itself with fine precision (smooth fields, waveforms) and the sines add detail.

    def __post_init__(self):
        if self.widths and (len(self.widths) != self.depth or min(self.widths) < 1):
            raise ValueError(f"widths {self.widths} must give {self.depth} positive layer widths")

    @property
    def layer_widths(self) -> tuple[int, ...]:
        """Width of every sine layer (first, then hidden): `widths`, else `depth` x `hidden`."""
        return tuple(self.widths) or (self.hidden,) * self.depth

    @property
    def levels(self) -> int:
        return len(self.channels)

    @property
    def latent_dim(self) -> int:
        return sum(self.channels)

    @property
    def in_dim(self) -> int:
        """Width of the SIREN's input z: latent features, then the fixed inputs."""
        return self.latent_dim + self.input_features

    def macs_per_sample(self) -> int:
        """Multiply-accumulates per decoded sample (synthesis MLP only)."""
        z, w = self.in_dim, self.layer_widths
        skip = z * self.out_channels if self.linear_skip else 0
        return z * w[0] + sum(a * b + z * b for a, b in zip(w, w[1:])) + w[-1] * self.out_channels + skip

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of every array of a base's params (params.npz keys, sorted; see core.siren.init and
        core.objective.init_base)."""
        z, w = self.in_dim, self.layer_widths
        shapes = {"inner_log_lr": (self.levels,), "log_scale": (self.levels,), "net/first/w": (z, w[0]),
                  "net/first/b": (w[0],), "net/out/w": (w[-1], self.out_channels), "net/out/b": (self.out_channels,)}
        for l, (a, b) in enumerate(zip(w, w[1:])):
            shapes |= {f"net/hidden/{l}/w": (a, b), f"net/hidden/{l}/b": (b,), f"net/hidden/{l}/shift": (z, b)}
        if self.linear_skip:
            shapes["net/skip"] = (z, self.out_channels)
        return dict(sorted(shapes.items()))

    def num_params(self) -> int:
        """Number of SIREN parameters (weights, biases, shifts, skip): see `inrcodec.core.siren.init`."""
        return self.macs_per_sample() + sum(self.layer_widths) + self.out_channels

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; `widths` is left out when empty, so dense manifests stay as they were."""
        d = dataclasses.asdict(self)
        d["channels"] = list(self.channels)
        if self.widths:
            d["widths"] = list(self.widths)
        else:
            del d["widths"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {sorted(unknown)}")
        d = dict(d)
        d["channels"] = tuple(int(c) for c in d["channels"])
        d["widths"] = tuple(int(w) for w in d.get("widths", ()))
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """Schedule of the encoder's test-time fit of the latents (after the meta-learned steps)."""

    noise_steps: int = 300  # Adam steps with additive uniform noise as the quantization proxy.
    ste_steps: int = 100  # Adam steps with straight-through rounding (quantization-aware finish).
    lr: float = 0.02  # Adam learning rate on the latents (in units of the quantization step).
    lr_final: float = 0.1  # Cosine decay of the learning rate to lr * lr_final over all the steps.
    soft_rounding: float = 0.0  # The noise steps quantize soft_round(y, a) + u (C3), a rising linearly from 0
    # to this over them (a = 0: y + u; large a: nearly rounded); 0 turns it off.
    sample_fraction: float = 0.125  # Fraction of samples whose distortion is evaluated each step.
    weight_step_index: int = 16  # Per-image weight deltas quantized with step 2 ** (-index / 2); 0 = none.
    weight_lr: float = 2e-3  # Adam learning rate on the weight deltas (in weight units).
    context_rate: bool = True  # Price 2-D latents with the base's context tables, when it ships them.
    weighted_steps: int = -1  # Signals with perceptual "band_weights": only the last this many steps see them
    # (on every frame); the steps before fit the squared error of `sample_fraction` of the samples; -1: all.
    # The last 100 of 400: ~2.5x faster, better PESQ at low rates, worse at high ones (meta/README.md).
    zero_levels: int = 0  # At the unit latent step (step index 0), hold this many finest levels at zero
    # instead of fitting them (the image base never used its stride-1 level there: meta/README.md).


def fit_fields(spec: str) -> dict[str, Any]:
    """"FIELD:VALUE,..." -> {field: value} of FitConfig fields, typed as FitConfig's defaults are;
    ValueError for an unknown field or value."""
    defaults = dataclasses.asdict(FitConfig())
    fields: dict[str, Any] = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition(":")
        if key not in defaults:
            raise ValueError(f"FitConfig has no field {key!r}")
        kind = type(defaults[key])
        fields[key] = value.lower() in ("1", "true") if kind is bool else kind(value)
    return fields


# Rate-distortion trade-off per quality level: loss = MSE + lam * bits_per_sample. Level 1 is
# the smallest file; the values are spaced by ~2x, like Cool-chic's lambda ladder.
QUALITY_LAMBDAS: dict[int, float] = {
    1: 0.04,
    2: 0.02,
    3: 0.01,
    4: 0.005,
    5: 0.0025,
    6: 0.0012,
    7: 0.0006,
    8: 0.0003,
}
DEFAULT_QUALITY = 4
NO_FIT = 0  # Quality "no fit": error-bounded climate files whose latents are all zero (modalities.climate).
# Encoder effort -> refinement steps of the base's schedule (None: its own, 350 + 50 for the image base),
# unless the base's manifest gives the effort a schedule of its own ("efforts": {name: FitConfig fields}).
# R-D and seconds of each: meta/README.md (1,600 steps coded 16 % larger files: no "max" yet).
EFFORT_STEPS: dict[str, int | None] = {"fast": 48, "default": None}
# Quantization step index per quality level: the decoder multiplies the integer latents by
# 2 ** (-index / 2) (index 0: unit step, the step the base is meta-trained with). Finer steps pay
# off at high rates (meta/README.md).
QUALITY_STEP_INDEX: dict[int, int] = {1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 6: 1, 7: 2, 8: 2}


def grid_shapes(signal_shape: Sequence[int], cfg: "ModelConfig") -> list[tuple[int, ...]]:
    """Shapes of the latent grids for a signal of `signal_shape` (spatial axes only).

    Level k covers the signal with cells of 2**k samples per axis: ceil(n / 2**k) cells.
    """
    return [
        tuple(math.ceil(n / 2**k) for n in signal_shape) + (c,) for k, c in enumerate(cfg.channels)
    ]
