"""Error-bounded scientific compressors as rate-matched baselines: SZ3 (pysz) and ZFP (zfpy).

A field is a finite float32/float64 array (..., lat, lon) in physical units; arrays of up to 4
dimensions are compressed as they are, higher ones with their leading axes merged. Both codecs run
in absolute-error-bounded mode. Rate is bits per 2-D field, 8 * len(bytes) / prod(shape[:-2]) (the
stream's own header included). Metrics: RMSE, max abs error, and PSNR = 20 log10(range / RMSE) with
range the data's max - min or a given (lo, hi), e.g. COIN++'s ERA5 (202.66, 320.93) K.
Nothing here prints.
"""

from __future__ import annotations

import math

import numpy as np

from inrcodec.evaluation.baselines import _common
from inrcodec.evaluation.baselines._common import BaselineResult, Codec, lookup, missing_module
from inrcodec.signals.metrics import max_abs_error, psnr_range, rmse

# Error bounds searched, relative to the field's scale (its max - min): SZ3 in 1/8-octave steps,
# ZFP in octaves (its accuracy mode rounds the tolerance down to a power of two anyway), from the
# scale itself down to 2^-24 of it (float32 resolution).
_SZ3_STEPS_PER_OCTAVE = 8
_SEARCH_OCTAVES = 24


def _check_field(field: np.ndarray) -> np.ndarray:
    field = np.asarray(field)
    if field.ndim < 2 or field.size == 0:
        raise ValueError(f"expected a non-empty (..., lat, lon) array, got shape {field.shape}")
    if field.dtype not in (np.float32, np.float64):
        raise ValueError(f"expected float32 or float64 values, got {field.dtype}")
    if not np.all(np.isfinite(field)):
        raise ValueError("field values must be finite (fill NaNs / masked points first)")
    return np.ascontiguousarray(field)


def _coded_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape handed to SZ3/ZFP: at most 4-D, leading axes merged."""
    return shape if len(shape) <= 4 else (math.prod(shape[:-3]), *shape[-3:])


def encode_sz3(field: np.ndarray, error_bound: float) -> bytes:
    """SZ3 stream (pysz, default predictor), absolute error bound. field: (..., lat, lon) float32/float64."""
    from pysz import sz, szConfig, szErrorBoundMode

    field = _check_field(field)
    config = szConfig()
    config.errorBoundMode = szErrorBoundMode.ABS
    config.absErrorBound = float(error_bound)
    compressed, _ = sz.compress(field.reshape(_coded_shape(field.shape)), config)
    return compressed.tobytes()


def decode_sz3(data: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Decodes an `encode_sz3` stream to an array of `shape` and `dtype` (which pysz needs to be told)."""
    from pysz import sz

    decoded, _ = sz.decompress(np.frombuffer(data, np.uint8), np.dtype(dtype), _coded_shape(tuple(shape)))
    return decoded.reshape(shape)


def encode_zfp(field: np.ndarray, error_bound: float) -> bytes:
    """ZFP stream with full header (zfpy), fixed-accuracy mode. field: (..., lat, lon) float32/float64."""
    import zfpy

    field = _check_field(field)
    return zfpy.compress_numpy(field.reshape(_coded_shape(field.shape)), tolerance=float(error_bound))


def decode_zfp(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Decodes an `encode_zfp` stream (its header holds dtype and coded shape) to `shape`."""
    import zfpy

    return zfpy.decompress_numpy(data).reshape(shape)


def _psnr_peak(reference: np.ndarray, value_range: tuple[float, float] | None) -> float:
    lo, hi = value_range if value_range is not None else (float(reference.min()), float(reference.max()))
    if not hi > lo:
        raise ValueError(f"PSNR needs a value range with hi > lo, got ({lo}, {hi})")
    return float(hi) - float(lo)


def field_metrics(
    reference: np.ndarray, reconstruction: np.ndarray, value_range: tuple[float, float] | None = None
) -> dict[str, float]:
    """RMSE, max abs error (physical units) and PSNR (dB) of two same-shape fields.

    Args:
        reference: (..., lat, lon) original.
        reconstruction: Same shape.
        value_range: (lo, hi) for the PSNR peak hi - lo; default the reference's max - min.
    """
    reference = np.asarray(reference, dtype=np.float64)
    peak = _psnr_peak(reference, value_range)
    error = np.asarray(reconstruction, dtype=np.float64) - reference
    rmse = float(np.sqrt(np.mean(error**2)))
    return {
        "psnr": math.inf if rmse == 0 else 20.0 * math.log10(peak / rmse),
        "rmse": rmse,
        "max_abs_error": float(np.max(np.abs(error))),
    }


def _scale(field: np.ndarray) -> float:
    """max - min of the field, or its largest magnitude (or 1) if it is constant."""
    span = float(field.max()) - float(field.min())
    return span if span > 0 else max(float(np.max(np.abs(field))), 1.0)


def _sz3_error_bounds(field: np.ndarray) -> tuple[float, ...]:
    steps = _SZ3_STEPS_PER_OCTAVE * _SEARCH_OCTAVES
    return tuple(_scale(field) * 2.0 ** (-k / _SZ3_STEPS_PER_OCTAVE) for k in range(steps + 1))


def _zfp_error_bounds(field: np.ndarray) -> tuple[float, ...]:
    top = math.ceil(math.log2(_scale(field)))
    return tuple(2.0 ** (top - k) for k in range(_SEARCH_OCTAVES + 1))


CODECS: dict[str, Codec] = {
    "sz3": Codec(
        knob="absolute error bound",
        description="SZ3 via pysz, absolute error bound (ABS), default predictor, stream bytes incl. header",
        settings=_sz3_error_bounds,
        encode=encode_sz3,
        decode=lambda data, field: decode_sz3(data, field.shape, field.dtype),
        unavailable=lambda: missing_module("pysz"),
    ),
    "zfp": Codec(
        knob="absolute error tolerance (power of two)",
        description="ZFP via zfpy, fixed-accuracy mode, stream bytes incl. full header",
        settings=_zfp_error_bounds,
        encode=encode_zfp,
        decode=lambda data, field: decode_zfp(data, field.shape),
        unavailable=lambda: missing_module("zfpy"),
    ),
}


def available() -> dict[str, str | None]:
    """Maps each climate codec name to None if it can run here, else to the reason it cannot."""
    return {name: codec.unavailable() for name, codec in CODECS.items()}


def bits_per_field(num_bytes: int, shape: tuple[int, ...]) -> float:
    """Bits per 2-D (lat, lon) field of `num_bytes` for an array of `shape` (..., lat, lon)."""
    return 8.0 * num_bytes / math.prod(shape[:-2])


def match_rate(
    field: np.ndarray,
    codec: str,
    target_bits_per_field: float,
    value_range: tuple[float, float] | None = None,
) -> BaselineResult:
    """Compresses `field` with the tightest error bound whose rate does not exceed the target.

    Bisection over error bounds from the field's max - min down to 2^-24 of it
    (`_common.search_setting`); if even the loosest bound is above the target, it is used and its
    real rate reported. The reconstruction's max abs error stays within the chosen bound (`setting`).

    Args:
        field: (..., lat, lon) float32/float64, finite, physical units.
        codec: "sz3" or "zfp".
        target_bits_per_field: Target bits per 2-D field (> 0).
        value_range: (lo, hi) for PSNR; default the field's max - min.

    Returns:
        BaselineResult with rate in bits_per_field and metrics {"psnr", "rmse", "max_abs_error"}.
    """
    field = _check_field(field)
    _psnr_peak(field, value_range)  # Fails before compressing if the range is unusable.
    return _common.match_rate(
        codec, lookup(CODECS, codec, "climate"), field, target_bits_per_field,
        rate_of=lambda n: bits_per_field(n, field.shape), rate_unit="bits_per_field",
        metrics_of=lambda rec: field_metrics(field, rec, value_range),
    )


def match_item(field, codec: str, target: float, value_range=None) -> tuple[BaselineResult, dict]:
    """`match_rate` on a Field item, PSNR over `value_range` (default: the field's). Missing values are
    filled with the mean of the valid ones for the codec (the mask itself is not charged) and the
    metrics cover the valid points only."""
    if field.valid.all():
        r = match_rate(field.values, codec, target, value_range=value_range)
    else:
        data = field.values[field.valid]
        filled = np.where(field.valid, field.values, np.mean(data))
        lo, hi = value_range if value_range is not None else (float(data.min()), float(data.max()))

        def metrics_of(rec: np.ndarray) -> dict[str, float]:
            return {"psnr": psnr_range(field.values, rec, lo, hi, field.valid),
                    "rmse": rmse(field.values, rec, field.valid),
                    "max_abs_error": max_abs_error(field.values, rec, field.valid)}

        r = _common.match_rate(codec, lookup(CODECS, codec, "climate"), filled, target,
                               rate_of=lambda n: bits_per_field(n, filled.shape), rate_unit="bits_per_field",
                               metrics_of=metrics_of)
    return r, {k: r.metrics[k] for k in ("psnr", "rmse", "max_abs_error")}
