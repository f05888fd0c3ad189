"""Perceptual speech metrics of decoded audio: PESQ wideband, STOI and ViSQOL (speech mode).

Waveform PSNR and SNR say how close the samples are, not what a listener hears; these estimate the
listener, per clip, against the reference:

* ``pesq_wb``: ITU-T P.862.2 wideband PESQ as MOS-LQO, about 1.0 to 4.64 (PyPI ``pesq``).
* ``stoi``: short-time objective intelligibility, 0 to 1 (PyPI ``pystoi``, the classic, not extended, STOI).
* ``visqol``: ViSQOL v3 speech mode as MOS-LQO, 1 to 5, through its deep-lattice mapper (PyPI
  ``visqol-python[lattice]``, a Python port of Google's C++ ViSQOL; its polynomial fallback
  over-predicts degraded speech by 1-2 MOS, so without the lattice runtime the metric is skipped).

Each metric takes the mono mix (channels averaged) resampled to 16 kHz with
``scipy.signal.resample_poly``, here only: PESQ-WB and ViSQOL speech mode are defined at 16 kHz;
STOI resamples to 10 kHz itself. 8 kHz clips are resampled up and scored wideband too (not P.862
narrowband, whose MOS scale differs), so ``pesq_wb`` is one scale for every clip.

A metric is None where it is undefined: a silent reference; PESQ finding no speech or less than
1/4 s of signal; STOI finding fewer than 30 frames (384 ms) of speech; a clip under 1 s for ViSQOL.
A silent decode of a non-silent reference scores the scale's floor (PESQ 1.0, ViSQOL 1.0, STOI 0),
which those packages do not compute themselves. Nothing here prints.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import os
import sys
import warnings
from collections.abc import Sequence

import numpy as np

NAMES = ("pesq_wb", "stoi", "visqol")
RATE = 16000  # Hz: the rate every metric is computed at.
SCALES = {"pesq_wb": (1.0, 4.64), "stoi": (0.0, 1.0), "visqol": (1.0, 5.0)}  # (floor, top) of each metric.
LABELS = {"pesq_wb": "PESQ-WB", "stoi": "STOI", "visqol": "ViSQOL"}
CONVENTIONS = {
    "pesq_wb": "ITU-T P.862.2 wideband PESQ (MOS-LQO, 1.0-4.64; PyPI pesq) per clip on the mono mix resampled to "
    "16 kHz (8 kHz clips up-sampled, still wideband), then averaged over the clips where it is defined",
    "stoi": "STOI (0-1; PyPI pystoi, classic) per clip on the mono mix at 16 kHz, then averaged over the clips "
    "where it is defined",
    "visqol": "ViSQOL v3 speech mode, deep-lattice mapper (MOS-LQO, 1-5; PyPI visqol-python[lattice]) per clip "
    "on the mono mix at 16 kHz, then averaged over the clips where it is defined",
}
_MODULES = {"pesq_wb": "pesq", "stoi": "pystoi", "visqol": "visqol"}
_PIP = {"pesq_wb": "pesq", "stoi": "pystoi", "visqol": "'visqol-python[lattice]'"}
_VISQOL_MIN_SECONDS = 1.0  # Shorter clips make visqol-python 3.8 fail inside its patch search.


def _unavailable(name: str) -> str | None:
    try:
        importlib.import_module(_MODULES[name])
    except ImportError as err:
        return f"Python module {_MODULES[name]} not installed ({err}); pip install {_PIP[name]}"
    if name == "visqol":
        from visqol.quality_mapper import has_lattice_runtime

        if not has_lattice_runtime():
            return "ViSQOL's lattice runtime (ai-edge-litert) is not installed; pip install 'visqol-python[lattice]'"
    return None


def available(names: Sequence[str] = NAMES) -> dict[str, str | None]:
    """{metric: None if it can run here, else why not}."""
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise ValueError(f"unknown perceptual metric {unknown[0]!r}; expected one of {', '.join(NAMES)}")
    return {n: _unavailable(n) for n in names}


def mono_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """The mono mix of (frames,) or (frames, channels) audio at 16 kHz: (frames * 16000 / sample_rate,) float64."""
    from scipy.signal import resample_poly

    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"expected (frames,) or (frames, channels) audio, got shape {np.shape(samples)}")
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate}")
    g = math.gcd(int(sample_rate), RATE)
    return x if sample_rate == RATE else resample_poly(x, RATE // g, int(sample_rate) // g)


def _silent(x: np.ndarray) -> bool:
    return not np.any(x)


def pesq_wb(reference: np.ndarray, test: np.ndarray) -> float | None:
    """Wideband PESQ MOS-LQO of two (n,) 16 kHz signals; None where PESQ is undefined."""
    import pesq

    if _silent(reference):
        return None
    if _silent(test):
        return SCALES["pesq_wb"][0]
    try:
        return float(pesq.pesq(RATE, reference, test, "wb"))
    except (pesq.NoUtterancesError, pesq.BufferTooShortError):
        return None


def stoi(reference: np.ndarray, test: np.ndarray) -> float | None:
    """STOI (0-1) of two (n,) 16 kHz signals; None with too little speech to measure."""
    from pystoi import stoi as pystoi_stoi

    if _silent(reference):
        return None
    with warnings.catch_warnings(record=True) as caught:
        # pystoi warns and returns 1e-5 when under 30 frames remain after removing silence.
        warnings.simplefilter("always")
        value = float(pystoi_stoi(reference, test, RATE, extended=False))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        return None
    return value


@contextlib.contextmanager
def _no_native_stderr():
    """Sends file descriptor 2 to /dev/null meanwhile: native code's logging bypasses sys.stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@functools.cache
def _visqol_api():
    from visqol import VisqolApi

    api = VisqolApi()
    with _no_native_stderr():  # The TFLite runtime logs "INFO: Created ... delegate" as it loads the model.
        api.create(mode="speech", use_lattice_model=True)
    return api


def visqol(reference: np.ndarray, test: np.ndarray) -> float | None:
    """ViSQOL speech-mode MOS-LQO (lattice mapper) of two (n,) 16 kHz signals; None for clips under 1 s."""
    if _silent(reference) or reference.size < _VISQOL_MIN_SECONDS * RATE:
        return None
    if _silent(test):
        return SCALES["visqol"][0]
    value = float(_visqol_api().measure_from_arrays(reference, test, RATE).moslqo)
    return value if math.isfinite(value) else None


_METRICS = {"pesq_wb": pesq_wb, "stoi": stoi, "visqol": visqol}


def measure(reference: np.ndarray, test: np.ndarray, sample_rate: int,
            names: Sequence[str] = NAMES) -> dict[str, float | None]:
    """The metrics `names` of a decoded clip: {name: value or None where undefined}.

    Args:
      reference, test: (frames,) or (frames, channels) float audio in [-1, 1], the same shape.
      sample_rate: Hz of both.
      names: metrics from NAMES; their packages must be installed (see `available`).
    """
    if np.shape(reference) != np.shape(test):
        raise ValueError(f"reference and test differ in shape: {np.shape(reference)} vs {np.shape(test)}")
    ref, deg = mono_16k(reference, sample_rate), mono_16k(test, sample_rate)
    return {n: _METRICS[n](ref, deg) for n in names}
