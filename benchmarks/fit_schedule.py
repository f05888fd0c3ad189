"""Encoder schedules compared on the same images: mean bpp, PSNR and fit seconds per quality, and each
schedule's BD-rate against the first.

A schedule is NAME=FIELD:VALUE,... over FitConfig's fields (steps given as noise_steps/ste_steps).
bpp counts every byte of the file (api.encode). Tune on training photos, never on Kodak. Example:
    python benchmarks/fit_schedule.py --quality 1,3,6 --out results/fit_schedule/held_back.json \\
        base= frac16=sample_fraction:0.0625 \\
        ../shared/data/images/train/set5_subset/baby.png ../shared/data/images/train/set14_subset/man.png
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from inrcodec import api
from inrcodec.codec import default_fit
from inrcodec.core import compilation
from inrcodec.core.config import FitConfig, with_fields
from inrcodec.evaluation.bdrate import bd_psnr_with_overlap, bd_rate_with_overlap


def schedule(spec: str, base_fit: FitConfig) -> tuple[str, FitConfig]:
    """NAME=FIELD:VALUE,... -> (NAME, the base's FitConfig with those fields replaced)."""
    name, _, fields = spec.partition("=")
    return name, with_fields(base_fit, fields)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", default="1,3,6")
    parser.add_argument("--base", default=None, help="base name (default: the image default)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("args", nargs="+", help="schedules (NAME=...), then image files")
    ns = parser.parse_args()
    schedules = [a for a in ns.args if "=" in a]
    images = [Path(a) for a in ns.args if "=" not in a]
    compilation.use_cache()  # As the CLI does: each image size compiles once.
    base = api.load_default_base(ns.base, "image")
    qualities = [int(q) for q in ns.quality.split(",")]
    runs = []
    for spec in schedules:
        name, fit = schedule(spec, default_fit(base))
        points = {}
        for path in images:
            pixels = np.asarray(Image.open(path).convert("RGB"))
            for q in qualities:
                start = time.perf_counter()
                result = api.encode(pixels, quality=q, base=base, fit=fit)
                points.setdefault(q, []).append((result.bpp, result.psnr, time.perf_counter() - start))
                print(f"{name} {path.name} q{q}: {result.bpp:.4f} bpp {result.psnr:.2f} dB "
                      f"{points[q][-1][2]:.1f} s", file=sys.stderr, flush=True)
        mean = {q: np.mean(v, axis=0).tolist() for q, v in points.items()}
        runs.append({"name": name, "fit": dataclasses.asdict(fit),
                     "per_quality": {str(q): dict(zip(("bpp", "psnr", "seconds"), m)) for q, m in mean.items()},
                     "per_image": {str(q): [dict(zip(("bpp", "psnr", "seconds"), p)) for p in v]
                                   for q, v in points.items()}})
    anchor = runs[0]["per_quality"]
    for run in runs[1:]:
        curve = run["per_quality"]
        args = ([anchor[str(q)]["bpp"] for q in qualities], [anchor[str(q)]["psnr"] for q in qualities],
                [curve[str(q)]["bpp"] for q in qualities], [curve[str(q)]["psnr"] for q in qualities])
        try:
            run["bd_rate_vs_first"] = bd_rate_with_overlap(*args)[0]
            run["bd_psnr_vs_first"] = bd_psnr_with_overlap(*args)[0]
        except ValueError as e:
            run["bd_rate_vs_first"] = f"not computed: {e}"
    for run in runs:
        seconds = np.mean([p["seconds"] for p in run["per_quality"].values()])
        print(f"{run['name']}: BD-rate vs {runs[0]['name']} {run.get('bd_rate_vs_first', 0.0)}, "
              f"BD-PSNR {run.get('bd_psnr_vs_first', 0.0)}, mean encode {seconds:.1f} s")
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps({"command": " ".join(sys.argv), "base": base.name, "images": [str(p) for p in images],
                                  "qualities": qualities, "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
