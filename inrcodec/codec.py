"""Image encoding and decoding: fit modulations, quantize, entropy-code, pack; and the reverse.

`encode_array` orchestrates: meta-learned adaptation (model.adapt) -> Adam refinement of the
latents and of per-image weight deltas of the base under the rate-distortion loss (noise proxy,
then straight-through rounding) -> rounding -> per-tensor scale choice -> range coding ->
container. `decode` never optimises and never samples.
"""

from __future__ import annotations

import dataclasses
import functools
import struct
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from inrcodec import bases, entropy, latents, model, results
from inrcodec.bitstream import container
from inrcodec.config import DEFAULT_QUALITY, QUALITY_LAMBDAS, QUALITY_STEP_INDEX, FitConfig, ModelConfig, quant_step
from inrcodec.errors import FormatError, InputError
from inrcodec.fit import fit
from inrcodec.modalities import image as image_io

MAX_DECODE_PIXELS = image_io.MAX_PIXELS
# height, width, channels, bit depth, entropy model id, latent step index, weight step index, levels.
IMAGE_META = struct.Struct("<HHBBBBBB")
ENTROPY_MODEL_LAPLACE = 1  # Zero-mean quantized Laplace per tensor, one range-coded stream.
MAX_STEP_INDEX = 32  # Quantization steps 2 ** (-index / 2) from 1 down to 2**-16.
FIT_CHUNK = 50  # Steps per compiled call (progress is reported between calls).

Progress = Callable[[int, int], None]


@dataclasses.dataclass(frozen=True)
class EncodeResult:
    """What the encoder produced: the file bytes and the reconstruction the decoder will give."""

    data: bytes
    reconstruction: np.ndarray  # Same dtype and shape as the input array.
    quality: int
    bpp: float  # 8 * len(data) / pixels.
    psnr: float  # PSNR (dB) of the reconstruction against the input, peak = max of the dtype.
    seconds: float


@dataclasses.dataclass(frozen=True)
class ImageHeader:
    height: int
    width: int
    channels: int  # 1 (grey) or 3 (RGB) in the decoded output.
    bit_depth: int  # 8 or 16.
    step_index: int  # Latent quantization step 2 ** (-step_index / 2) (config.quant_step).
    weight_step_index: int  # 0: no weight deltas; else their quantization step 2 ** (-index / 2).
    scale_indices: tuple[int, ...]  # Per latent level; 0 = level is all zero.
    weight_scale_indices: tuple[int, ...] = ()  # Per weight tensor (when weight_step_index > 0).

    def pack(self) -> bytes:
        fields = (self.height, self.width, self.channels, self.bit_depth, ENTROPY_MODEL_LAPLACE, self.step_index,
                  self.weight_step_index, len(self.scale_indices))
        out = IMAGE_META.pack(*fields) + bytes(self.scale_indices)
        if self.weight_step_index:
            out += bytes([len(self.weight_scale_indices), *self.weight_scale_indices])
        return out

    @classmethod
    def unpack(cls, meta: bytes) -> "ImageHeader":
        if len(meta) < IMAGE_META.size:
            raise FormatError("image header truncated")
        h, w, c, depth, entropy_model, step_index, weight_step_index, levels = IMAGE_META.unpack_from(meta)
        end = IMAGE_META.size + levels
        tensors = 0
        if weight_step_index:
            if len(meta) <= end:
                raise FormatError("image header truncated")
            tensors = meta[end]
            end += 1 + tensors
        if len(meta) != end:
            raise FormatError(f"image header has {len(meta)} bytes, expected {end}")
        if h == 0 or w == 0:
            raise FormatError(f"image dimensions {w}x{h} are empty")
        if h * w > MAX_DECODE_PIXELS:
            raise FormatError(f"image dimensions {w}x{h} exceed the decoder limit of {MAX_DECODE_PIXELS} pixels")
        if c not in (1, 3):
            raise FormatError(f"unsupported channel count {c}")
        if depth not in (8, 16):
            raise FormatError(f"unsupported bit depth {depth}")
        if entropy_model != ENTROPY_MODEL_LAPLACE:
            raise FormatError(f"unknown entropy model {entropy_model}")
        for name, index in (("quantization step", step_index), ("weight step", weight_step_index)):
            if index > MAX_STEP_INDEX:
                raise FormatError(f"{name} index {index} out of range (0..{MAX_STEP_INDEX})")
        scales = tuple(meta[IMAGE_META.size : IMAGE_META.size + levels])
        weight_scales = tuple(meta[end - tensors : end]) if weight_step_index else ()
        return cls(h, w, c, depth, step_index, weight_step_index, scales, weight_scales)


@functools.partial(jax.jit, static_argnames=("cfg", "steps"))
def _adapt(base, target, lam, key, cfg: ModelConfig, steps: int):
    return model.adapt(base, target, lam, key, cfg, steps)


def _optimizer(lr: jax.Array, weight_lr: jax.Array, total: int, lr_final: float) -> optax.GradientTransformation:
    """Adam with cosine decay; the weight deltas get their own learning rate."""

    def adam(rate):
        return optax.adam(optax.cosine_decay_schedule(rate, max(total, 1), lr_final))

    def labels(params):
        return {k: jax.tree_util.tree_map(lambda _: "delta" if k == "delta" else "latent", v) for k, v in params.items()}

    return optax.multi_transform({"latent": adam(lr), "delta": adam(weight_lr)}, labels)


@functools.partial(jax.jit, static_argnames=("cfg", "mode", "steps", "num_samples", "total", "lr_final"))
def _refine(net, mods, opt_state, target, lam, key, lr, weight_lr, step, weight_step, cfg: ModelConfig, mode: str,
            steps: int, num_samples: int, total: int, lr_final: float):
    def loss(m, k):
        return model.rd_loss(net, m, target, lam, k, cfg, mode, num_samples, step, weight_step)[0]

    return fit(loss, mods, _optimizer(lr, weight_lr, total, lr_final), steps, key, opt_state)


def fit_modulations(
    base: bases.Base,
    target: np.ndarray,
    lam: float,
    key: jax.Array,
    fit_cfg: FitConfig,
    inner_steps: int,
    step: float = 1.0,
    weight_step: float | None = None,
    progress: Progress | None = None,
) -> dict:
    """Fits the modulations of one signal (H, W, out_channels) in [0, 1].

    Starts with the meta-learned steps, then runs Adam on the latents (in units of the quantization
    step `step`) and, if `weight_step` is given, on per-signal weight deltas (in units of
    `weight_step`), under the rate-distortion loss: uniform noise first, then straight-through rounding.
    """
    cfg = base.cfg
    target = jnp.asarray(target, jnp.float32)
    k_adapt, k_fit = jax.random.split(key)
    mods = _adapt(base.params, target, jnp.float32(lam), k_adapt, cfg, inner_steps)
    # The meta-learned steps work at unit step; express their result in units of `step`.
    mods = {"latents": [y / step for y in mods["latents"]], "log_scale": mods["log_scale"] - np.log(step)}
    if weight_step is not None:
        mods["delta"] = jax.tree_util.tree_map(jnp.zeros_like, base.params["net"])
        mods["delta_log_scale"] = jnp.zeros((len(jax.tree_util.tree_leaves(mods["delta"])),), jnp.float32)
    total = fit_cfg.noise_steps + fit_cfg.ste_steps
    num_samples = max(1024, int(fit_cfg.sample_fraction * np.prod(target.shape[:-1])))
    lr = jnp.float32(fit_cfg.lr / step)
    weight_lr = jnp.float32(fit_cfg.weight_lr / (weight_step or 1.0))
    opt_state = _optimizer(lr, weight_lr, total, fit_cfg.lr_final).init(mods)
    done = 0
    for mode, steps in (("noise", fit_cfg.noise_steps), ("ste", fit_cfg.ste_steps)):
        while steps > 0:
            n = min(FIT_CHUNK, steps)
            mods, opt_state, _ = _refine(
                base.params["net"], mods, opt_state, target, jnp.float32(lam), jax.random.fold_in(k_fit, done),
                lr, weight_lr, jnp.float32(step), jnp.float32(weight_step or 1.0), cfg, mode, n, num_samples, total,
                fit_cfg.lr_final,
            )
            steps -= n
            done += n
            if progress:
                progress(done, total)
    return mods


def _to_ints(values) -> np.ndarray:
    return np.clip(np.round(np.asarray(values)), -entropy.SYMBOL_MAX, entropy.SYMBOL_MAX).astype(np.int32)


def _network(base: bases.Base, deltas: list[np.ndarray] | None, weight_step: float) -> dict:
    """The network a file decodes with: the base, plus its weight deltas if it has any."""
    net = base.params["net"]
    if deltas is None:
        return net
    treedef = jax.tree_util.tree_structure(net)
    return model.apply_delta(net, jax.tree_util.tree_unflatten(treedef, [jnp.asarray(d, jnp.float32) for d in deltas]), weight_step)


def _as_rgb_target(arr: np.ndarray) -> np.ndarray:
    unit = image_io.to_unit(arr)
    return np.repeat(unit, 3, axis=2) if unit.shape[2] == 1 else unit


def _to_output(values: np.ndarray, channels: int, bit_depth: int) -> np.ndarray:
    values = np.asarray(values)
    if channels == 1:
        values = values.mean(axis=2, keepdims=True)
    return image_io.from_unit(values, bit_depth)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two integer images, peak = the largest value of their dtype."""
    return results.psnr(a, b, peak=float(np.iinfo(a.dtype).max))


def encode_array(
    arr: np.ndarray,
    base: bases.Base,
    quality: int = DEFAULT_QUALITY,
    fit_cfg: FitConfig = FitConfig(),
    seed: int = 0,
    progress: Progress | None = None,
) -> EncodeResult:
    """Encodes an image array (H, W, C) of uint8 or uint16, C in {1, 3}, at one quality level."""
    if quality not in QUALITY_LAMBDAS:
        raise InputError(f"quality must be one of {sorted(QUALITY_LAMBDAS)}, got {quality}")
    if arr.ndim != 3 or arr.shape[2] not in (1, 3) or arr.dtype not in (np.uint8, np.uint16):
        raise InputError(f"expected an (H, W, 1|3) uint8/uint16 image, got {arr.shape} {arr.dtype}")
    h, w, c = arr.shape
    if h > 65535 or w > 65535 or h * w > MAX_DECODE_PIXELS:
        raise InputError(f"{w}x{h} image is too large for format 1")
    if base.modality != "image":
        raise InputError(f"base network {base.name!r} is for {base.modality}, not images")
    started = time.perf_counter()
    target = _as_rgb_target(arr)
    inner_steps = int(base.manifest.get("inner_steps", 3))
    step_index = QUALITY_STEP_INDEX[quality]
    weight_index = fit_cfg.weight_step_index
    step, weight_step = quant_step(step_index), (quant_step(weight_index) if weight_index else None)
    mods = fit_modulations(
        base, target, QUALITY_LAMBDAS[quality], jax.random.PRNGKey(seed), fit_cfg, inner_steps, step, weight_step, progress
    )
    ints = [_to_ints(y) for y in mods["latents"]]
    deltas = [_to_ints(d) for d in jax.tree_util.tree_leaves(mods["delta"])] if weight_step else []
    scale_indices = [entropy.best_scale_index(q) for q in ints]
    weight_scale_indices = [entropy.best_scale_index(d) for d in deltas]
    payload = entropy.encode(ints + deltas, scale_indices + weight_scale_indices)
    header = ImageHeader(h, w, c, 8 * arr.dtype.itemsize, step_index, weight_index, tuple(scale_indices),
                         tuple(weight_scale_indices))
    data = container.pack(container.Container(container.MODALITY_IMAGE, base.base_id, header.pack(), payload))
    net = _network(base, deltas if weight_step else None, weight_step or 1.0)
    recon = _to_output(model.reconstruct(net, ints, (h, w), base.cfg, step), c, header.bit_depth)
    return EncodeResult(data, recon, quality, 8 * len(data) / (h * w), psnr(arr, recon), time.perf_counter() - started)


def encode_to_bpp(
    arr: np.ndarray,
    base: bases.Base,
    target_bpp: float,
    fit_cfg: FitConfig = FitConfig(),
    seed: int = 0,
    progress: Progress | None = None,
) -> EncodeResult:
    """Highest quality level whose file fits in `target_bpp` (bisection over levels: ~3 encodes).

    If even the lowest level is larger than the target, that level's result is returned.
    """
    levels = sorted(QUALITY_LAMBDAS)
    lo, hi = 0, len(levels) - 1
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        result = encode_array(arr, base, levels[mid], fit_cfg, seed, progress)
        if result.bpp <= target_bpp:
            best, lo = result, mid + 1
        else:
            hi = mid - 1
            if mid == 0:
                best = best or result
    return best


@dataclasses.dataclass(frozen=True)
class Decoded:
    array: np.ndarray  # (H, W, C) uint8 or uint16.
    header: ImageHeader
    base: bases.Base


def read_header(data: bytes) -> tuple[container.Container, ImageHeader]:
    """Parses and validates the container and the image header (no base network needed)."""
    box = container.unpack(data)
    if box.modality != container.MODALITY_IMAGE:
        raise FormatError(f"modality {box.modality} is not supported by this decoder (images only)")
    return box, ImageHeader.unpack(box.meta)


def decode(data: bytes, base: bases.Base | None = None) -> Decoded:
    """Decodes .inr bytes to an image array. Deterministic: no optimisation, no randomness."""
    box, header = read_header(data)
    base = base or bases.load_base(box.base_id)
    if base.base_id != box.base_id:
        raise FormatError(f"file needs base {box.base_id.hex()}, got {base.base_id.hex()}")
    if len(header.scale_indices) != base.cfg.levels:
        raise FormatError(f"file has {len(header.scale_indices)} latent levels, base {base.name} has {base.cfg.levels}")
    shapes = latents.grid_shapes((header.height, header.width), base.cfg)
    scales = list(header.scale_indices)
    weight_leaves = jax.tree_util.tree_leaves(base.params["net"])
    if header.weight_step_index:
        if len(header.weight_scale_indices) != len(weight_leaves):
            raise FormatError(f"file has {len(header.weight_scale_indices)} weight tensors, base {base.name} has {len(weight_leaves)}")
        shapes += [w.shape for w in weight_leaves]
        scales += list(header.weight_scale_indices)
    try:
        decoded = entropy.decode(box.payload, shapes, scales)
    except (ValueError, RuntimeError, KeyError, AssertionError) as e:  # constriction asserts on invalid data.
        raise FormatError(f"entropy-coded payload is invalid ({e})") from None
    ints, deltas = decoded[: len(header.scale_indices)], decoded[len(header.scale_indices) :]
    weight_step = quant_step(header.weight_step_index)
    net = _network(base, deltas if header.weight_step_index else None, weight_step)
    values = model.reconstruct(net, ints, (header.height, header.width), base.cfg, quant_step(header.step_index))
    return Decoded(_to_output(values, header.channels, header.bit_depth), header, base)
