"""Distortion metrics of decoded signals (numpy, float64): MSE, PSNR, RMSE, max error, SNR."""

from __future__ import annotations

import math

import numpy as np

BAND_VALUES = 1 << 22  # Larger arrays are compared a band of rows at a time.


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise ValueError("psnr: empty arrays")
    if a.size <= BAND_VALUES:
        diff = a.astype(np.float64) - b.astype(np.float64)
        return float(np.mean(diff * diff))
    rows = max(1, BAND_VALUES // (a.size // a.shape[0]))  # Bands of rows: no float64 copy of a large signal.
    total = 0.0
    for start in range(0, a.shape[0], rows):
        diff = a[start : start + rows].astype(np.float64) - b[start : start + rows].astype(np.float64)
        total += float(np.sum(diff * diff))
    return total / a.size


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """PSNR in dB between two float arrays, computed in float64.

    Args:
        a: Reference array.
        b: Distorted array of the same shape.
        peak: Peak signal value (1.0 for signals in [0, 1]).

    Returns:
        10 * log10(peak**2 / MSE); inf if the arrays are identical.
    """
    mse = _mse(a, b)
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(float(peak) ** 2 / mse)


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 arrays (peak 255), computed in float64.

    Args:
        a: Reference uint8 array.
        b: Distorted uint8 array of the same shape.

    Returns:
        The PSNR; inf if the arrays are identical.

    Raises:
        ValueError: If either array is not uint8 or the shapes differ.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"psnr_uint8: expected uint8 arrays, got {a.dtype} and {b.dtype}")
    return psnr(a, b, peak=255.0)



def _errors(reference: np.ndarray, test: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """test - reference over `valid` (default: where the reference is not NaN)."""
    reference = np.asarray(reference, np.float64)
    valid = ~np.isnan(reference) if valid is None else np.asarray(valid, dtype=bool)
    return np.asarray(test, np.float64)[valid] - reference[valid]


def rmse(reference: np.ndarray, test: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Root-mean-square error over valid points (default: where `reference` is not NaN)."""
    return float(np.sqrt(np.mean(_errors(reference, test, valid) ** 2)))


def max_abs_error(reference: np.ndarray, test: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Largest absolute error over valid points (default: where `reference` is not NaN)."""
    return float(np.max(np.abs(_errors(reference, test, valid))))


def psnr_range(reference: np.ndarray, test: np.ndarray, lo: float, hi: float,
               valid: np.ndarray | None = None) -> float:
    """PSNR in dB with peak hi - lo (e.g. ERA5_T2M_RANGE) over valid points (default: reference not NaN)."""
    error = rmse(reference, test, valid)
    return float("inf") if error == 0.0 else 20.0 * math.log10((hi - lo) / error)


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-noise ratio in dB: 10 log10(sum(reference^2) / sum((reference - test)^2))."""
    ref = np.asarray(reference, np.float64)
    noise = float(np.sum((ref - np.asarray(test, np.float64)) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0.0:
        return float("inf")
    return float("-inf") if signal == 0.0 else 10.0 * np.log10(signal / noise)
