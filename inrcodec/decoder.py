"""Decoding coded signals: range or context decoding of the integers, then the numpy synthesis.

numpy and constriction only (no JAX, nothing compiled): `inrcodec decode` starts in a fraction of a
second. Never optimises and never samples. The encoder (inrcodec.codec) uses the same functions for
the reconstruction it reports, so the decoder gives exactly that on the same machine. The modality
plug-ins (inrcodec.modalities) wrap this with their headers and file writers.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from inrcodec.bitstream import context_coder, range_coder
from inrcodec.bitstream.coding import CodingHeader, quant_step
from inrcodec.core import bases, synthesis
from inrcodec.core.config import grid_shapes
from inrcodec.errors import FormatError


def weight_tensors(base: bases.Base) -> list[np.ndarray]:
    """The base's SIREN arrays in the order their weight deltas are coded (JAX's leaf order)."""
    return [w for _, w in bases.leaves_with_paths(base.params["net"])]


def network(base: bases.Base, deltas: list[np.ndarray] | None, weight_step: float) -> dict:
    """The network a signal decodes with: the base, plus weight_step * its integer weight deltas if it has any."""
    net = base.params["net"]
    if deltas is None:
        return net
    shifted = {path: np.asarray(w, np.float32) + np.float32(weight_step) * np.asarray(d, np.float32)
               for (path, w), d in zip(bases.leaves_with_paths(net), deltas)}
    return bases.unflatten(shifted, {path: w.shape for path, w in bases.leaves_with_paths(net)})


def decode_symbols(header: CodingHeader, payload: bytes, base: bases.Base,
                   signal_shape: Sequence[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The integer latents (per level (*grid, c)) and weight deltas of one coded signal."""
    if len(header.scale_indices) != base.cfg.levels:
        raise FormatError(f"file has {len(header.scale_indices)} latent levels, base {base.name} has {base.cfg.levels}")
    shapes = grid_shapes(signal_shape, base.cfg)
    scales = list(header.scale_indices)
    weight_shapes, weight_scales = [], []
    if header.weight_step_index:
        tensors = weight_tensors(base)
        if len(header.weight_scale_indices) != len(tensors):
            raise FormatError(f"file has {len(header.weight_scale_indices)} weight tensors, base {base.name} has {len(tensors)}")
        weight_shapes, weight_scales = [w.shape for w in tensors], list(header.weight_scale_indices)
    if header.context_tables and base.context_tables is None:
        raise FormatError(f"the file is coded with context tables and base {base.name} has none")
    if header.context_tables and header.context_model != context_coder.entropy_model(base.context_tables):
        raise FormatError(f"the file is coded with entropy model {header.context_model} and the tables of base "
                          f"{base.name} are for model {context_coder.entropy_model(base.context_tables)}")
    try:
        if header.context_tables:
            decoded = context_coder.decode(payload, shapes, scales, base.context_tables, weight_shapes, weight_scales)
        else:
            decoded = range_coder.decode(payload, shapes + weight_shapes, scales + weight_scales, list(header.contexts))
    except (ValueError, RuntimeError, KeyError, AssertionError) as e:  # constriction asserts on invalid data.
        raise FormatError(f"entropy-coded payload is invalid ({e})") from None
    return decoded[: len(shapes)], decoded[len(shapes) :]


def decode_signal(
    header: CodingHeader,
    payload: bytes,
    base: bases.Base,
    signal_shape: Sequence[int],
    inputs: np.ndarray | None = None,
    out: np.ndarray | None = None,
    convert: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Decodes one signal's payload to values (*signal_shape, out_channels) in [0, 1].

    `inputs` are the base's fixed per-sample inputs, if it uses any. With `out`, each band of values
    goes through `convert` into it (synthesis.reconstruct), and `out` is returned.
    """
    ints, deltas = decode_symbols(header, payload, base, signal_shape)
    net = network(base, deltas if header.weight_step_index else None, quant_step(header.weight_step_index))
    return synthesis.reconstruct(net, ints, signal_shape, base.cfg, quant_step(header.step_index), inputs,
                                 out=out, convert=convert)


def reconstruct_batch(base: bases.Base, ints: list[np.ndarray], signal_shape: Sequence[int], step: float,
                      inputs: np.ndarray | None = None, out: np.ndarray | None = None,
                      convert: Callable[[np.ndarray], np.ndarray] | None = None, dtype=np.float32) -> np.ndarray:
    """Decodes N signals' integer latents (per level (N, *grid, c)) to (N, *signal_shape, C) in [0, 1]
    (with `out`, converted band by band into it: synthesis.reconstruct), computed in `dtype`."""
    return synthesis.reconstruct_batch(base.params["net"], ints, signal_shape, base.cfg, step, inputs, out, convert,
                                       dtype)


def decode_batch(header: CodingHeader, payload: bytes, base: bases.Base, n: int, signal_shape: Sequence[int],
                 inputs: np.ndarray | None = None, out: np.ndarray | None = None,
                 convert: Callable[[np.ndarray], np.ndarray] | None = None, dtype=np.float32) -> np.ndarray:
    """Inverse of codec.BatchCoded.payload for N signals: values (N, *signal_shape, C) in [0, 1] (with
    `out`, converted band by band into it), computed in `dtype`."""
    if header.weight_step_index:
        raise FormatError("batch-coded signals carry no weight deltas")
    if len(header.scale_indices) != base.cfg.levels:
        raise FormatError(f"file has {len(header.scale_indices)} latent levels, base {base.name} has {base.cfg.levels}")
    shapes = [(n, *s) for s in grid_shapes(signal_shape, base.cfg)]
    try:
        ints = range_coder.decode(payload, shapes, list(header.scale_indices))
        for k, predicted in enumerate(header.predicted):
            if predicted:  # In place in the list: one level's differences and sums at a time.
                ints[k] = range_coder.stack_sums(ints[k])
    except (ValueError, RuntimeError, KeyError, AssertionError) as e:
        raise FormatError(f"entropy-coded payload is invalid ({e})") from None
    return reconstruct_batch(base, ints, signal_shape, quant_step(header.step_index), inputs, out, convert, dtype)
