"""Shared parts of the baseline codecs: the result record, the codec record, the rate search, ffmpeg."""

from __future__ import annotations

import functools
import importlib
import math
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class BaselineResult:
    """One codec run at the setting chosen by a rate search.

    Attributes:
        codec: Registry name, e.g. "avif".
        setting: The knob value used (quality, qp, bitrate in kbps, error bound, ...; see Codec.knob).
        bytes: Size of the encoded stream as counted for the rate.
        rate: Rate in `rate_unit`, computed from `bytes`.
        rate_unit: "bpp" (images), "kbps" (audio) or "bits_per_field" (climate).
        metrics: Distortion metrics of the decoded signal, e.g. {"psnr-rgb": 29.1}.
        encode_seconds: Wall time of the encode at `setting` (perf_counter; includes ffmpeg start-up).
        decode_seconds: Wall time of the decode.
    """

    codec: str
    setting: int | float
    bytes: int
    rate: float
    rate_unit: str
    metrics: Mapping[str, float]
    encode_seconds: float
    decode_seconds: float


@dataclass(frozen=True)
class Codec:
    """A baseline codec of one modality, as the rate search drives it.

    Attributes:
        knob: What the searched setting is, e.g. "quality 0-100" or "qp 51-0".
        description: Library and fixed parameters, for result files.
        settings: signal -> knob values ordered by increasing rate.
        encode: (signal, setting) -> encoded bytes.
        decode: (bytes, signal) -> reconstruction; only the signal's shape, dtype and sample rate
            are used (the bitstream formats do not all store them).
        unavailable: () -> why the codec cannot run here, or None if it can.
    """

    knob: str
    description: str
    settings: Callable[[Any], Sequence[int | float]]
    encode: Callable[[Any, Any], bytes]
    decode: Callable[[bytes, Any], np.ndarray]
    unavailable: Callable[[], str | None]


def check_target(target: float, unit: str) -> float:
    """Returns `target` as a float; ValueError unless it is positive and finite."""
    target = float(target)
    if not (target > 0 and math.isfinite(target)):
        raise ValueError(f"target rate must be a positive finite number of {unit}, got {target}")
    return target


def search_setting(
    settings: Sequence[int | float],
    encode: Callable[[int | float], bytes],
    rate_of: Callable[[int], float],
    target: float,
) -> tuple[int | float, bytes, float]:
    """Finds the highest-rate setting whose rate does not exceed `target`, by bisection.

    The search keeps rate(lo) <= target < rate(hi), so the chosen setting fits the target and the
    next one in `settings` does not, even where the rate is not perfectly monotone. If even the
    first setting is above the target, the first setting is returned.

    Args:
        settings: Knob values ordered by increasing rate.
        encode: setting -> encoded bytes (deterministic).
        rate_of: number of bytes -> rate.
        target: Target rate.

    Returns:
        (setting, its encoded bytes, encode wall seconds).
    """
    runs: dict[int, tuple[bytes, float]] = {}

    def rate_at(i: int) -> float:
        if i not in runs:
            start = time.perf_counter()
            data = encode(settings[i])
            runs[i] = (data, time.perf_counter() - start)
        return rate_of(len(runs[i][0]))

    lo, hi = 0, len(settings) - 1
    if rate_at(lo) > target:
        best = lo
    elif rate_at(hi) <= target:
        best = hi
    else:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if rate_at(mid) <= target:
                lo = mid
            else:
                hi = mid
        best = lo
    data, seconds = runs[best]
    return settings[best], data, seconds


def match_rate(
    name: str,
    codec: Codec,
    signal: Any,
    target: float,
    rate_of: Callable[[int], float],
    rate_unit: str,
    metrics_of: Callable[[np.ndarray], dict[str, float]],
) -> BaselineResult:
    """Runs `search_setting` for one codec, decodes the chosen stream and measures it.

    Raises:
        RuntimeError: If the codec cannot run here (missing library or ffmpeg).
    """
    reason = codec.unavailable()
    if reason is not None:
        raise RuntimeError(f"baseline {name!r} is unavailable: {reason}")
    target = check_target(target, rate_unit)
    setting, data, encode_seconds = search_setting(
        codec.settings(signal), lambda s: codec.encode(signal, s), rate_of, target
    )
    start = time.perf_counter()
    reconstruction = codec.decode(data, signal)
    decode_seconds = time.perf_counter() - start
    return BaselineResult(
        codec=name,
        setting=setting,
        bytes=len(data),
        rate=rate_of(len(data)),
        rate_unit=rate_unit,
        metrics=metrics_of(reconstruction),
        encode_seconds=encode_seconds,
        decode_seconds=decode_seconds,
    )


def lookup(codecs: Mapping[str, Codec], name: str, modality: str) -> Codec:
    """Returns codecs[name]; ValueError naming the known codecs otherwise."""
    if name not in codecs:
        raise ValueError(f"unknown {modality} baseline {name!r}; expected one of {sorted(codecs)}")
    return codecs[name]


def missing_module(module: str) -> str | None:
    """Returns why `module` cannot be imported, or None if it can."""
    try:
        importlib.import_module(module)
    except ImportError as err:
        return f"Python module {module} not installed ({err}); pip install 'inrcodec[baselines]'"
    return None


@functools.cache
def _ffmpeg_components(kind: str) -> frozenset[str]:
    """Names in `ffmpeg -encoders` (kind="encoders") or `ffmpeg -decoders`."""
    listing = run_ffmpeg([f"-{kind}"], b"").decode(errors="replace")
    names = []
    in_table = False
    for line in listing.splitlines():
        if line.strip().startswith("------"):
            in_table = True
        elif in_table and len(line.split()) >= 2:
            names.append(line.split()[1])
    return frozenset(names)


def ffmpeg_unavailable(encoder: str, decoder: str) -> str | None:
    """Returns why ffmpeg cannot encode with `encoder` and decode with `decoder`, or None."""
    if shutil.which("ffmpeg") is None:
        return "ffmpeg not found on PATH"
    if encoder not in _ffmpeg_components("encoders"):
        return f"ffmpeg has no {encoder} encoder"
    if decoder not in _ffmpeg_components("decoders"):
        return f"ffmpeg has no {decoder} decoder"
    return None


def run_ffmpeg(args: Sequence[str], stdin: bytes) -> bytes:
    """Runs `ffmpeg <args>` with `stdin` piped in and returns its stdout.

    Raises:
        RuntimeError: If ffmpeg exits with an error (the message ends with its stderr).
    """
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", *args], input=stdin, capture_output=True, check=False
    )
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip()[-800:]
        raise RuntimeError(f"ffmpeg {' '.join(args[:6])} ... failed with exit code {proc.returncode}: {tail}")
    return proc.stdout
