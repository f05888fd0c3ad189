"""Error-bounded archives (.inrpack, settings version 3) against SZ3 and ZFP, every byte counted.

For each file (a stack of 2-D fields) and each absolute bound: `inrcodec.compress_dataset(...,
max_error=bound)` with the shipped base (installed: not in the file), the same archive with the base
embedded (its bytes counted), and optionally with a base meta-trained on the archive's first chunk
(`--train-steps`, api.compress_dataset(train=), embedded); SZ3 (pysz) and ZFP (zfpy, accuracy mode)
at the same bound. Every archive is decoded with the reference reader and checked point by point.
With `--quality`, also archives without a bound at those levels, and SZ3/ZFP bisected to the same
RMSE. Writes one JSON and prints a line per case. Usage:
    python benchmarks/archive_bounds.py ../shared/data/climate/archives/era5-2mt-2019-03-uk.grib \
        --bounds 0.1,0.25,0.5,1 --quality 2,6 --out results/archive_bounds/era5_uk.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import inrcodec
from inrcodec import api
from inrcodec.modalities import climate as climate_format
from inrcodec.signals import climate as climate_io

sys.path.insert(0, str(Path(__file__).parent))
from climate_archive import match_rmse  # noqa: E402
from error_bound import classic_rows, measure  # noqa: E402


def archive_row(items, values: np.ndarray, out: Path, bound: float | None, **options) -> dict:
    """Compresses `items` into `out`, decodes it whole and measures it against `values` (F, ny, nx)."""
    t = time.perf_counter()
    with api.compress_dataset(items, out, max_error=bound, force=True, **options) as archive:
        encoded = time.perf_counter() - t
        t = time.perf_counter()
        decoded = archive.decode_all()
        seconds = {"encode_s": encoded, "decode_s": time.perf_counter() - t}
        rate = archive.rate()
    assert np.array_equal(np.isnan(decoded), np.isnan(values))
    row = measure(values, decoded, rate["file_bytes"], bound if bound is not None else np.inf, seconds)
    return {**row, "embedded_base_bytes": rate["embedded_base_bytes"], "overhead_bytes": rate["overhead_bytes"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file")
    p.add_argument("--var", help="the variable to read (default: the only gridded one)")
    p.add_argument("--bounds", default="0.1,0.25,0.5,1")
    p.add_argument("--quality", default="", help="levels without a bound, compared at equal RMSE")
    p.add_argument("--block", type=int, default=255, help="fields per archive block")
    p.add_argument("--fit-steps", type=int, help="fit steps of the --quality archives (default: the base's)")
    p.add_argument("--train-steps", type=int, default=0, help="also a base meta-trained on the archive (train=)")
    p.add_argument("--recipe", default="meta/recipes/climate_v3.py", help="the recipe train= starts from")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    field = climate_format.read(args.file, var=args.var)
    values = field.values.reshape(-1, *field.values.shape[-2:])
    items = climate_io.to_dataarray(field.values, field.template) if field.template else values
    filled = np.nan_to_num(values, nan=float(np.nanmean(values))).astype(np.float32)
    base = api.load_default_base(None, "climate")
    options = {"base": base, "block": args.block, "chunk": max(1, 256 // args.block) * args.block}  # Whole blocks.
    train = api.train_config(args.recipe, steps=args.train_steps) if args.train_steps else None
    rows: dict[str, list] = {"inrcodec": [], "inrcodec_embedded": [], "inrcodec_trained": [], "sz3": [], "zfp": []}
    equal_rmse = []
    name = Path(args.file).name
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.inrpack"
        for bound in [float(b) for b in args.bounds.split(",")]:
            rows["inrcodec"].append(archive_row(items, values, path, bound, **options))
            rows["inrcodec_embedded"].append(archive_row(items, values, path, bound, embed_base=True, **options))
            if train is not None:
                rows["inrcodec_trained"].append(archive_row(items, values, path, bound, train=train,
                                                            train_dir=Path(tmp) / "trained", **options))
            for codec, row in classic_rows(values, filled, bound).items():
                rows[codec].append(row)
            line = "  ".join(f"{k} ratio {v[-1]['ratio']:.1f} (max {v[-1]['max_abs_error']:.4g}, "
                             f"{v[-1]['violations']} over)" for k, v in rows.items() if v)
            print(f"{name} bound {bound:g}: {line}", flush=True)
        for q in [int(x) for x in args.quality.split(",") if x]:
            fit = api.default_fit(base, args.fit_steps)
            row = {"quality": q, "fit_steps": fit.noise_steps + fit.ste_steps,
                   **archive_row(items, values, path, None, quality=q, fit=fit, **options)}
            for codec in ("sz3", "zfp"):
                row[codec] = match_rmse(filled, codec, row["rmse"])
            equal_rmse.append(row)
            print(f"{name} q{q}: inrcodec ratio {row['ratio']:.1f} at RMSE {row['rmse']:.3f} | SZ3 "
                  f"{row['sz3']['ratio']:.1f} | ZFP {row['zfp']['ratio']:.1f} at equal RMSE", flush=True)
    out = {"name": f"error-bounded .inrpack archives vs SZ3 and ZFP: {name} {values.shape}",
           "command": "python benchmarks/archive_bounds.py " + " ".join(sys.argv[1:]),
           "base": {"name": base.name, "base_id": base.base_id.hex()}, "block": args.block,
           "train": None if train is None else {"recipe": args.recipe, "steps": args.train_steps},
           "machine": f"{platform.machine()}, python {platform.python_version()}",
           "float32_bytes": int(values.size) * 4,
           "results": {k: {key: [r[key] for r in v] for key in v[0]} for k, v in rows.items() if v},
           "equal_rmse": equal_rmse}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
