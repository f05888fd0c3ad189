"""Perceptual weights of an audio error: per short-time spectral bin, how much a listener hears it.

Noise under a loud partial is masked; the same noise in a pause or between formants is heard. The
weight of bin (frame i, frequency k) is M_ik ** -exponent, where the masking threshold M is the
signal's own power spectrum smoothed across neighbouring bins and frames, plus a floor (a fraction
of the mean power: the quietest sound still worth coding). The weights are scaled so that coding
nothing costs exactly its mean squared error: a rate weight keeps its meaning at the low end.

Framing, shared with the loss that applies the weights (core.objective.spectral_error): periodic
Hann frames of `frame` samples every hop = frame // 4, the first one starting frame - hop samples
before the signal (zeros outside it), as many as cover the last sample; every sample then lies in
4 frames, whose squared windows sum to 1.5.
"""

from __future__ import annotations

import math

import numpy as np

DISTORTIONS = ("perceptual", "psnr")  # What an audio fit minimises: these weights on the error, or the plain error.
FRAME_SECONDS = 0.032  # About 32 ms: long enough to resolve speech harmonics, short enough to follow syllables.
WINDOW_SQUARED_SUM = 1.5  # Sum over the 4 frames covering a sample of the periodic Hann window squared.
EXPONENT = 0.5  # Of the masking threshold (0: plain MSE; 1: noise-to-mask ratio), measured in meta/README.md.
FLOOR = 1e-3  # Of the mean power: the masking threshold's floor.
SMOOTH_BINS = 9  # Frequency bins a masker spreads over (at 16 kHz, 9 x 31 Hz).
SMOOTH_FRAMES = 3  # Frames a masker spreads over (at 16 kHz, 3 x 8 ms).


def frame_length(sample_rate: int) -> int:
    """Frame length of a rate: the power of two nearest FRAME_SECONDS (512 at 16 kHz, 1024 at 44.1 kHz)."""
    return 1 << max(4, round(math.log2(FRAME_SECONDS * sample_rate)))


def frame_count(samples: int, frame: int) -> int:
    """Frames covering `samples` samples (every sample in frame // hop frames)."""
    hop = frame // 4
    return (samples - 1 + frame - hop) // hop + 1


def window(frame: int) -> np.ndarray:
    """The periodic Hann window, (frame,) float32."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)).astype(np.float32)


def bin_multiplicity(frame: int) -> np.ndarray:
    """(frame // 2 + 1,): how many bins of the full spectrum each real-FFT bin stands for (1 at 0 and
    Nyquist, else 2), so that sum(multiplicity * |X|^2) = frame * sum(x^2) (Parseval)."""
    m = np.full(frame // 2 + 1, 2.0, np.float32)
    m[0] = m[-1] = 1.0
    return m


def frames(x: np.ndarray, frame: int) -> np.ndarray:
    """The windowed frames of (T,) samples: (frame_count(T, frame), frame)."""
    hop = frame // 4
    count = frame_count(len(x), frame)
    padded = np.zeros((count - 1) * hop + frame, x.dtype)
    padded[frame - hop : frame - hop + len(x)] = x
    index = np.arange(count)[:, None] * hop + np.arange(frame)[None]
    return padded[index] * window(frame)


def band_weights(x: np.ndarray, sample_rate: int, exponent: float = EXPONENT, floor: float = FLOOR) -> np.ndarray:
    """Perceptual weights of the error of (T,) or (T, C) samples: (frames, frame // 2 + 1) float32.

    The bin multiplicity is folded in: sum(weights * |E|^2) / (frame * 1.5 * T) is the mean squared
    error when exponent = 0, and, whatever the exponent, when the error is the signal itself.
    """
    x = np.asarray(x, np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    frame = frame_length(sample_rate)
    power = np.abs(np.fft.rfft(frames(x - x.mean(), frame), axis=-1)) ** 2
    spread = _smooth(_smooth(power, SMOOTH_BINS, axis=1), SMOOTH_FRAMES, axis=0)
    mean = power.mean()
    if mean == 0:  # Silence: every error equally heard.
        return np.broadcast_to(bin_multiplicity(frame), power.shape).astype(np.float32)
    weights = (spread + floor * mean) ** -exponent * bin_multiplicity(frame)
    weights *= (bin_multiplicity(frame) * power).sum() / (weights * power).sum()
    return weights.astype(np.float32)


def _smooth(a: np.ndarray, width: int, axis: int) -> np.ndarray:
    """Moving average over `width` entries along `axis` (edges repeated)."""
    a = np.moveaxis(a, axis, -1)
    half = width // 2
    padded = np.pad(a, [(0, 0)] * (a.ndim - 1) + [(half, width - 1 - half)], mode="edge")
    sums = np.cumsum(np.pad(padded, [(0, 0)] * (a.ndim - 1) + [(1, 0)]), axis=-1)
    return np.moveaxis((sums[..., width:] - sums[..., :-width]) / width, -1, axis)
