"""Error-bounded climate coding (format 1.5) against SZ3 and ZFP at the same absolute bounds.

For each file and each bound: inrcodec's .inr (whole stack in one file, every byte counted; the
network not fitted unless --quality is given), SZ3 (pysz) and ZFP (zfpy, accuracy mode) at that
bound. Reports bytes, compression ratio against float32, RMSE, max abs error and the bound
violations (decoded with the reference decoder, not taken from the encoder), and times. Writes
one JSON (CompressAI-style: name, command, results lists per codec) and prints a table. Usage:
    python benchmarks/error_bound.py ../shared/data/climate/archives/era5-2mt-2019-03-uk.grib \
        --bounds 0.1,0.25,0.5,1 --out results/error_bound/era5_uk.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from inrcodec import api
from inrcodec.evaluation.baselines import climate as classic
from inrcodec.modalities import climate as climate_format


def measure(values: np.ndarray, decoded: np.ndarray, data_bytes: int, bound: float, seconds: dict) -> dict:
    valid = ~np.isnan(values)
    error = np.abs(decoded.astype(np.float64) - values)[valid]
    return {"bound": bound, "bytes": data_bytes, "ratio": 4 * int(valid.size) / data_bytes,
            "bits_per_value": 8 * data_bytes / int(valid.sum()), "rmse": float(np.sqrt(np.mean(error**2))),
            "max_abs_error": float(error.max()), "violations": int((error > bound).sum()), **seconds}


def classic_rows(values: np.ndarray, filled: np.ndarray, bound: float) -> dict[str, dict]:
    """SZ3's and ZFP's `measure` rows at an absolute bound, on `filled` (float32, NaN replaced) against `values`."""
    rows = {}
    for name, enc, dec in (("sz3", classic.encode_sz3, lambda d: classic.decode_sz3(d, filled.shape, filled.dtype)),
                           ("zfp", classic.encode_zfp, lambda d: classic.decode_zfp(d, filled.shape))):
        t = time.perf_counter()
        data = enc(filled, bound)
        encoded = time.perf_counter() - t
        t = time.perf_counter()
        out = dec(data)
        rows[name] = measure(values, out, len(data), bound, {"encode_s": encoded, "decode_s": time.perf_counter() - t})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+")
    p.add_argument("--var", help="the variable to read (default: the only gridded one)")
    p.add_argument("--bounds", default="0.1,0.25,0.5,1")
    p.add_argument("--quality", type=int, help="fit the network at this level (default: no fit, quality 0)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    bounds = [float(b) for b in args.bounds.split(",")]
    base = api.load_default_base(None, "climate")
    rows = {"inrcodec": [], "sz3": [], "zfp": []}
    for path in args.files:
        field = climate_format.read(path, var=args.var)
        values = field.values
        filled = np.nan_to_num(values, nan=float(np.nanmean(values))).astype(np.float32)
        for bound in bounds:
            t = time.perf_counter()
            result = api.encode(field, base=base, quality=args.quality, max_error=bound)
            encoded = time.perf_counter() - t
            t = time.perf_counter()
            decoded = climate_format.decode(result.data, base).array.values
            seconds = {"encode_s": encoded, "decode_s": time.perf_counter() - t}
            rows["inrcodec"].append({"file": Path(path).name, **measure(values, decoded, len(result.data), bound, seconds)})
            for name, row in classic_rows(values, filled, bound).items():
                rows[name].append({"file": Path(path).name, **row})
            line = "  ".join(f"{k} {rows[k][-1]['bytes']} B (ratio {rows[k][-1]['ratio']:.1f}, max {rows[k][-1]['max_abs_error']:.4g}, "
                             f"{rows[k][-1]['violations']} over)" for k in rows)
            print(f"{Path(path).name} bound {bound:g}: {line}", flush=True)
    out = {"name": "error-bounded: inrcodec (format 1.5) vs SZ3 and ZFP at equal absolute bounds",
           "command": "python benchmarks/error_bound.py " + " ".join(sys.argv[1:]),
           "base": {"name": base.name, "base_id": base.base_id.hex()}, "quality": args.quality or 0,
           "machine": f"{platform.machine()}, python {platform.python_version()}",
           "results": {k: {key: [r[key] for r in v] for key in v[0]} for k, v in rows.items()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
