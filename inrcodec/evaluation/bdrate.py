"""Bjøntegaard delta metrics (BD-rate, BD-PSNR), pure numpy.

The classic method of G. Bjøntegaard, "Calculation of average PSNR differences between RD-curves",
VCEG-M33 (2001), as in the widely used ``bjontegaard_delta`` reference scripts:

1. Sort each curve's points (by PSNR for BD-rate, by rate for BD-PSNR).
2. Fit a polynomial (``np.polyfit``) to each curve:
   * BD-rate: log10(rate) as a function of PSNR;
   * BD-PSNR: PSNR as a function of log10(rate).
3. Integrate both fits (``np.polyint``) over the interval where the two curves overlap on the
   independent axis, ``[max(lows), min(highs)]``; no extrapolation beyond that interval.
4. Average difference = (integral of test - integral of anchor) / interval length.
   * BD-rate (percent) = (10 ** average log10-rate difference - 1) * 100;
     negative means the test codec needs fewer bits for the same PSNR.
   * BD-PSNR (dB) = average PSNR difference; positive means the test codec has higher PSNR at the
     same rate.

Polynomial degree rule: each curve needs at least ``MIN_POINTS`` = 3 points (with at least 3
distinct values of the independent variable), otherwise ``ValueError``. The degree is
``min(3, n_distinct - 1)``: cubic with 4 or more points (the VCEG-M33 choice), quadratic with
exactly 3 (a cubic through 3 points is under-determined). With exactly 4 points the cubic
interpolates them; with more it is a least-squares fit.

Numerics: the independent variable is centred on the middle of the overlap interval before fitting.
This is mathematically the same fit (the integral of a polynomial is translation invariant) but
avoids the ill-conditioned Vandermonde matrix of a cubic in PSNR values around 30-40 dB.

Rates may be in any positive unit (bpp, kbps, bits per field), as long as both curves use the same
one; BD-rate is a ratio and therefore unit-free.

If the two curves do not overlap (or only touch at one point) a ``ValueError`` explains which ranges
were given. ``bd_rate_with_overlap`` and ``bd_psnr_with_overlap`` also return the interval used:
a PSNR interval in dB for BD-rate, a rate interval (in the input unit) for BD-PSNR.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MIN_POINTS = 3
MAX_DEGREE = 3

__all__ = [
    "MIN_POINTS",
    "bd_psnr",
    "bd_psnr_with_overlap",
    "bd_rate",
    "bd_rate_with_overlap",
]


def _as_curve(
    rate: Sequence[float], psnr: Sequence[float], which: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validates one R-D curve; returns float arrays (rate, psnr), unsorted."""
    r = np.asarray(rate, dtype=np.float64).reshape(-1)
    p = np.asarray(psnr, dtype=np.float64).reshape(-1)
    if r.shape != p.shape:
        raise ValueError(f"{which} curve: {r.size} rates but {p.size} PSNR values")
    if r.size < MIN_POINTS:
        raise ValueError(
            f"{which} curve has {r.size} point(s); BD metrics need at least {MIN_POINTS} per curve"
        )
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(p))):
        raise ValueError(f"{which} curve contains non-finite rate or PSNR values")
    if np.any(r <= 0):
        raise ValueError(f"{which} curve: rates must be positive (log10 is taken)")
    return r, p


def _fit(x: np.ndarray, y: np.ndarray, centre: float, which: str) -> np.poly1d:
    """Sorts by x and fits y(x - centre) with degree min(3, distinct x - 1)."""
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    n_distinct = np.unique(x).size
    if n_distinct < MIN_POINTS:
        raise ValueError(
            f"{which} curve has only {n_distinct} distinct value(s) of the fitted variable; "
            f"BD metrics need at least {MIN_POINTS}"
        )
    degree = min(MAX_DEGREE, n_distinct - 1)
    return np.poly1d(np.polyfit(x - centre, y, degree))


def _overlap(xa: np.ndarray, xt: np.ndarray, axis: str) -> tuple[float, float]:
    lo = max(float(xa.min()), float(xt.min()))
    hi = min(float(xa.max()), float(xt.max()))
    if not hi > lo:
        raise ValueError(
            f"the R-D curves do not overlap in {axis}: anchor spans "
            f"[{xa.min():.6g}, {xa.max():.6g}], test spans [{xt.min():.6g}, {xt.max():.6g}]; "
            "BD metrics are only defined on a common interval"
        )
    return lo, hi


def _average_difference(
    xa: np.ndarray, ya: np.ndarray, xt: np.ndarray, yt: np.ndarray, axis: str
) -> tuple[float, tuple[float, float]]:
    """Mean over the overlap of (fit_test - fit_anchor), both fitted as y(x)."""
    lo, hi = _overlap(xa, xt, axis)
    centre = 0.5 * (lo + hi)
    fa = _fit(xa, ya, centre, "anchor")
    ft = _fit(xt, yt, centre, "test")
    ia, it = np.polyint(fa), np.polyint(ft)
    a, b = lo - centre, hi - centre
    area_a = ia(b) - ia(a)
    area_t = it(b) - it(a)
    return float((area_t - area_a) / (hi - lo)), (lo, hi)


def bd_rate_with_overlap(
    rate_anchor: Sequence[float],
    psnr_anchor: Sequence[float],
    rate_test: Sequence[float],
    psnr_test: Sequence[float],
) -> tuple[float, tuple[float, float]]:
    """BD-rate in percent and the PSNR interval ``(lo, hi)`` in dB it was averaged over.

    Negative = the test curve needs fewer bits than the anchor for the same PSNR.
    Raises ``ValueError`` for fewer than 3 points per curve or non-overlapping PSNR ranges.
    """
    ra, pa = _as_curve(rate_anchor, psnr_anchor, "anchor")
    rt, pt = _as_curve(rate_test, psnr_test, "test")
    diff, interval = _average_difference(pa, np.log10(ra), pt, np.log10(rt), "PSNR (dB)")
    return float((10.0**diff - 1.0) * 100.0), interval


def bd_rate(
    rate_anchor: Sequence[float],
    psnr_anchor: Sequence[float],
    rate_test: Sequence[float],
    psnr_test: Sequence[float],
) -> float:
    """BD-rate in percent (negative = test needs fewer bits). See :func:`bd_rate_with_overlap`."""
    return bd_rate_with_overlap(rate_anchor, psnr_anchor, rate_test, psnr_test)[0]


def bd_psnr_with_overlap(
    rate_anchor: Sequence[float],
    psnr_anchor: Sequence[float],
    rate_test: Sequence[float],
    psnr_test: Sequence[float],
) -> tuple[float, tuple[float, float]]:
    """BD-PSNR in dB and the rate interval ``(lo, hi)`` (input units) it was averaged over.

    Positive = the test curve has higher PSNR than the anchor at the same rate.
    Raises ``ValueError`` for fewer than 3 points per curve or non-overlapping rate ranges.
    """
    ra, pa = _as_curve(rate_anchor, psnr_anchor, "anchor")
    rt, pt = _as_curve(rate_test, psnr_test, "test")
    diff, (lo, hi) = _average_difference(np.log10(ra), pa, np.log10(rt), pt, "rate")
    return diff, (float(10.0**lo), float(10.0**hi))


def bd_psnr(
    rate_anchor: Sequence[float],
    psnr_anchor: Sequence[float],
    rate_test: Sequence[float],
    psnr_test: Sequence[float],
) -> float:
    """BD-PSNR in dB (positive = test has higher PSNR). See :func:`bd_psnr_with_overlap`."""
    return bd_psnr_with_overlap(rate_anchor, psnr_anchor, rate_test, psnr_test)[0]
