"""The coding fields of a signal (or stack of signals): how its latents are quantized and entropy-coded.

Byte layout: SPEC.md, "Coding fields". Pure Python (no JAX): read by every modality's header.
"""

from __future__ import annotations

import dataclasses
import struct

from inrcodec.errors import FormatError

# Entropy model id, latent step index, weight step index, number of latent levels.
CODING = struct.Struct("<BBBB")
ENTROPY_MODEL_LAPLACE = 1  # Zero-mean quantized Laplace per tensor, one range-coded stream.
ENTROPY_MODEL_STACK = 2  # As 1, and levels flagged in a bitmap are coded as differences along a stack.
ENTROPY_MODEL_LOCAL = 3  # As 1, and levels with a context byte are coded with local scales (audio).
ENTROPY_MODEL_CONTEXT = 4  # 2-D levels coded by the base's context tables (bitstream.context_coder).
ENTROPY_MODEL_ADAPTIVE = 5  # As 4 with richer contexts and rows that adapt to the signal as it is coded.
MAX_STEP_INDEX = 32  # Quantization steps 2 ** (-index / 2) from 1 down to 2**-16.



@dataclasses.dataclass(frozen=True)
class CodingHeader:
    """How the modulations of one signal (or of a stack of signals) are quantized and entropy-coded."""

    step_index: int  # Latent quantization step 2 ** (-step_index / 2) (config.quant_step).
    weight_step_index: int  # 0: no weight deltas; else their quantization step 2 ** (-index / 2).
    scale_indices: tuple[int, ...]  # Per latent level; 0 = level is all zero.
    weight_scale_indices: tuple[int, ...] = ()  # Per weight tensor (when weight_step_index > 0).
    predicted: tuple[bool, ...] = ()  # Per level, coded as stack differences (entropy model 2); () = model 1.
    contexts: tuple[int, ...] = ()  # Per level, its context byte (entropy model 3; 0 = one scale); () = model 1.
    context_model: int = 0  # Entropy model 4 or 5 (context tables; the scale indices are those of the escaped latents).

    @property
    def context_tables(self) -> bool:
        return self.context_model != 0

    @property
    def entropy_model(self) -> int:
        if self.context_model:
            return self.context_model
        if self.contexts:
            return ENTROPY_MODEL_LOCAL
        return ENTROPY_MODEL_STACK if self.predicted else ENTROPY_MODEL_LAPLACE

    def pack(self) -> bytes:
        fields = (self.entropy_model, self.step_index, self.weight_step_index, len(self.scale_indices))
        out = CODING.pack(*fields) + bytes(self.scale_indices)
        if self.contexts:
            out += bytes(self.contexts)
        if self.predicted:
            bits = sum(1 << k for k, p in enumerate(self.predicted) if p)
            out += bits.to_bytes(_bitmap_bytes(len(self.scale_indices)), "little")
        if self.weight_step_index:
            out += bytes([len(self.weight_scale_indices), *self.weight_scale_indices])
        return out

    @classmethod
    def unpack_from(cls, meta: bytes, offset: int, stack: bool = False, local: bool = False,
                    context: bool = False) -> tuple["CodingHeader", int]:
        """Parses the coding fields starting at `offset`; returns them and the offset after them.

        Entropy model 2 is accepted only for a `stack` of signals (the climate format), model 3 only
        where `local` scales are allowed (the audio format), model 4 only for 2-D `context` coding
        (the image format).
        """
        if len(meta) < offset + CODING.size:
            raise FormatError("header truncated")
        entropy_model, step_index, weight_step_index, levels = CODING.unpack_from(meta, offset)
        allowed = {ENTROPY_MODEL_LAPLACE}
        for model, allow in ((ENTROPY_MODEL_STACK, stack), (ENTROPY_MODEL_LOCAL, local), (ENTROPY_MODEL_CONTEXT, context),
                            (ENTROPY_MODEL_ADAPTIVE, context)):
            if allow:
                allowed.add(model)
        if entropy_model not in allowed:
            raise FormatError(f"unknown entropy model {entropy_model}")
        end = offset + CODING.size + levels
        if len(meta) < end:
            raise FormatError("header truncated")
        scales = tuple(meta[end - levels : end])
        contexts: tuple[int, ...] = ()
        if entropy_model == ENTROPY_MODEL_LOCAL:
            if len(meta) < end + levels:
                raise FormatError("header truncated")
            contexts = tuple(meta[end : end + levels])
            end += levels
            if any(c and not s for c, s in zip(contexts, scales)):
                raise FormatError("a context byte is set for an all-zero latent level")
        predicted: tuple[bool, ...] = ()
        if entropy_model == ENTROPY_MODEL_STACK:
            n = _bitmap_bytes(levels)
            if len(meta) < end + n:
                raise FormatError("header truncated")
            bits = int.from_bytes(meta[end : end + n], "little")
            if bits >> levels:
                raise FormatError("stack-prediction bitmap has bits beyond the latent levels")
            predicted = tuple(bool(bits >> k & 1) for k in range(levels))
            end += n
        weight_scales: tuple[int, ...] = ()
        if weight_step_index:
            if len(meta) <= end:
                raise FormatError("header truncated")
            tensors = meta[end]
            if len(meta) < end + 1 + tensors:
                raise FormatError("header truncated")
            weight_scales = tuple(meta[end + 1 : end + 1 + tensors])
            end += 1 + tensors
        for name, index in (("quantization step", step_index), ("weight step", weight_step_index)):
            if index > MAX_STEP_INDEX:
                raise FormatError(f"{name} index {index} out of range (0..{MAX_STEP_INDEX})")
        return cls(step_index, weight_step_index, scales, weight_scales, predicted, contexts,
                   entropy_model if entropy_model in (ENTROPY_MODEL_CONTEXT, ENTROPY_MODEL_ADAPTIVE) else 0), end


def _bitmap_bytes(levels: int) -> int:
    """Bytes of a one-bit-per-level bitmap (level k is bit k % 8 of byte k // 8)."""
    return max(1, (levels + 7) // 8)


def quant_step(index: int) -> float:
    """Quantization step of a stored step index (exact power of sqrt(2))."""
    return float(2.0 ** (-index / 2))
