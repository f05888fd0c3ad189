"""The ERA5 UK hourly archive (744 x 33 x 49, March 2019) compressed whole: inrcodec vs SZ3 and ZFP.

For each inrcodec quality level the whole stack goes into one .inr file; SZ3 and ZFP (absolute
error bound) are then bisected to the same RMSE, and the compression ratios against float32 are
compared at equal RMSE. Writes results/era5_uk/archive.json and prints a table. Usage:
    python benchmarks/climate_archive.py ../shared/data/climate/archives/era5-2mt-2019-03-uk.grib --quality 2,4,6,8
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np

from inrcodec import api
from inrcodec.evaluation.baselines import climate as classic
from inrcodec.modalities import climate as climate_format


def match_rmse(values: np.ndarray, codec: str, target: float) -> dict:
    """The loosest error bound whose RMSE is <= target (bisection in log space), and its ratio."""
    encode = {"sz3": classic.encode_sz3, "zfp": classic.encode_zfp}[codec]
    decode = {"sz3": lambda d: classic.decode_sz3(d, values.shape, values.dtype),
              "zfp": lambda d: classic.decode_zfp(d, values.shape)}[codec]
    lo, hi, best = -12.0, 4.0, None
    for _ in range(30):
        mid = (lo + hi) / 2
        data = encode(values, 2.0 ** mid)
        err = np.sqrt(np.mean((decode(data).astype(np.float64) - values) ** 2))
        if err <= target:
            best, lo = {"error_bound": 2.0 ** mid, "bytes": len(data), "rmse": float(err),
                        "max_abs_error": float(np.max(np.abs(decode(data) - values)))}, mid
        else:
            hi = mid
    best["ratio"] = values.astype(np.float32).nbytes / best["bytes"]
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("grib")
    p.add_argument("--quality", default="2,4,6,8")
    p.add_argument("--out", default="results/era5_uk/archive.json")
    p.add_argument("--fit-steps", type=int, help="refinement steps per encode, split 3:1 noise/rounding (default: the base's)")
    args = p.parse_args()
    field = climate_format.read(args.grib, var="t2m")
    values = field.values.astype(np.float32)
    base = api.load_default_base(None, "climate")
    fit = api.default_fit(base, args.fit_steps)
    rows = []
    for q in [int(x) for x in args.quality.split(",")]:
        started = time.perf_counter()
        result = climate_format.encode(field, base, q, fit)
        seconds = time.perf_counter() - started
        t = time.perf_counter()
        decoded = climate_format.decode(result.data, base)
        decode_seconds = time.perf_counter() - t
        np.testing.assert_array_equal(decoded.array.values, result.reconstruction.values)
        row = {"quality": q, "bytes": len(result.data), "ratio": values.nbytes / len(result.data),
               "bits_per_field": result.rate, **result.metrics, "encoding_time": seconds, "decoding_time": decode_seconds}
        for codec in ("sz3", "zfp"):
            row[codec] = match_rmse(values, codec, result.metrics["rmse"])
        rows.append(row)
        print(f"q{q}: inrcodec {row['bytes']} B ratio {row['ratio']:.1f} rmse {row['rmse']:.3f} K max {row['max_abs_error']:.2f} K "
              f"({seconds:.0f} s enc, {decode_seconds:.1f} s dec) | SZ3 ratio {row['sz3']['ratio']:.1f} | "
              f"ZFP ratio {row['zfp']['ratio']:.1f} at equal RMSE", flush=True)
    out = {"name": "inrcodec vs SZ3/ZFP, ERA5 UK hourly 2 m temperature archive (744 x 33 x 49)",
           "command": "python benchmarks/climate_archive.py " + " ".join(f"{k}={v}" for k, v in vars(args).items()),
           "fit": dataclasses.asdict(fit),
           "base": {"name": base.name, "base_id": base.base_id.hex(), "params_bytes": base.nbytes},
           "machine": f"{platform.machine()}, python {platform.python_version()}",
           "float32_bytes": values.nbytes, "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
