"""Dataset API speed on ERA5-size fields (46 x 90): fields per second to encode and decode, and the
peak memory of a run, for growing field counts (it must not grow with the count).
With --cache DIR, each count runs twice, each in a fresh process, with JAX's compilation cache and the
kept fit programs in DIR (api.use_compilation_cache): "cold" (DIR emptied first) and "warm".

The fields are the climate training fields regridded to 46 x 90 (samplers.ClimateFields),
repeated with longitude shifts to reach the count. Each count runs in a fresh process so that its
peak RSS is its own. Writes results/dataset_speed.json. Usage:
    python benchmarks/dataset_speed.py ../shared/data/climate/train --counts 1000,10000
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def run_one(data: str, count: int, noise_steps: int, ste_steps: int, chunk: int, base_name: str | None,
            cache: str | None) -> dict:
    import inrcodec
    from inrcodec import api
    from inrcodec.training import samplers
    from inrcodec.core.config import FitConfig

    if cache:
        api.use_compilation_cache(cache)
    base = api.load_default_base(base_name, "climate")
    lo, hi = base.manifest["value_range"]
    pool = samplers.ClimateFields([Path(data)], (46, 90), (lo, hi)).values[..., 0] * (hi - lo) + lo
    pool = pool[np.isfinite(pool).all(axis=(1, 2))]

    def fields():
        for i in range(count):
            yield np.roll(pool[i % len(pool)], (i // len(pool)) * 7, axis=1)

    out = Path(f"/tmp/inrcodec-speed-{count}.inrpack")
    fit = FitConfig(noise_steps=noise_steps, ste_steps=ste_steps)
    started = time.perf_counter()
    archive = inrcodec.compress_dataset(fields(), out, base=base, modality="climate", quality=4, fit=fit,
                                        chunk=chunk, force=True)
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    n = sum(1 for _ in archive)
    decode_s = time.perf_counter() - started
    rate = archive.rate()
    return {"fields": count, "base": base.name, "fit_steps": noise_steps + ste_steps, "chunk": chunk,
            "encode_fields_per_s": count / encode_s,
            "decode_fields_per_s": n / decode_s, "bits_per_field": rate["bits_per_item"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data")
    p.add_argument("--counts", default="1000,10000")
    p.add_argument("--fit", default="0+0,20+10", help="noise+ste Adam steps after the meta-learned ones")
    p.add_argument("--chunk", type=int, default=256)
    p.add_argument("--base", help="the climate base network (default: the default one)")
    p.add_argument("--cache", help="compilation cache directory: each count runs cold, then warm")
    p.add_argument("--compile", help=argparse.SUPPRESS)
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--out", default="results/dataset_speed.json")
    args = p.parse_args()
    if args.one:
        count, noise, ste = (int(x) for x in args.one.split(","))
        row = run_one(args.data, count, noise, ste, args.chunk, args.base, args.cache)
        print(json.dumps({**row, "compile": args.compile or "in process, no cache"}))
        return
    rows = []
    for fit in args.fit.split(","):
        noise, ste = (int(x) for x in fit.split("+"))
        for count in [int(c) for c in args.counts.split(",")]:
            for compile_state in ("cold", "warm") if args.cache else (None,):
                if compile_state == "cold":
                    shutil.rmtree(args.cache, ignore_errors=True)
                extra = ["--base", args.base] if args.base else []
                extra += ["--cache", args.cache, "--compile", compile_state] if compile_state else []
                line = subprocess.run([sys.executable, __file__, args.data, "--one", f"{count},{noise},{ste}",
                                       "--chunk", str(args.chunk), *extra], capture_output=True, text=True,
                                      check=True).stdout
                rows.append(json.loads(line.strip().splitlines()[-1]))
                r = rows[-1]
                print(f"{count} fields, {noise}+{ste} fit steps, {r['base']}, {r['compile']}: encode "
                      f"{r['encode_fields_per_s']:.1f}/s, decode {r['decode_fields_per_s']:.1f}/s, "
                      f"{r['bits_per_field']:.1f} bits/field, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"command": "python benchmarks/dataset_speed.py " + " ".join(sys.argv[1:]),
                                          "results": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
