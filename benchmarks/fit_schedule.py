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
import re
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from inrcodec import api
from inrcodec.core.config import FitConfig, fit_fields
from inrcodec.evaluation.bdrate import bd_psnr_with_overlap, bd_rate_with_overlap


def schedule(spec: str, base_fit: FitConfig) -> tuple[str, FitConfig]:
    """NAME=FIELD:VALUE,... -> (NAME, the base's FitConfig with those fields replaced)."""
    name, _, fields = spec.partition("=")
    return name, dataclasses.replace(base_fit, **fit_fields(fields))


LINE = re.compile(r"(\S+) (\S+) q(\d+): ([\d.]+) bpp ([\d.]+) dB ([\d.]+) s$")


def record(name: str, fit: dict | None, points: dict[int, list[tuple[float, float, float]]]) -> dict:
    """One schedule's record: per quality the mean (bpp, PSNR, seconds) and every image's."""
    mean = {q: np.mean(v, axis=0).tolist() for q, v in points.items()}
    return {"name": name, "fit": fit,
            "per_quality": {str(q): dict(zip(("bpp", "psnr", "seconds"), m)) for q, m in mean.items()},
            "per_image": {str(q): [dict(zip(("bpp", "psnr", "seconds"), p)) for p in v] for q, v in points.items()}}


def compare(runs: list[dict], qualities: list[int]) -> None:
    """Adds each run's BD-rate and BD-PSNR against the first run."""
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


def from_log(path: Path, qualities: list[int]) -> tuple[list[str], list[dict]]:
    """The image names and the records of the schedules a (possibly stopped) run printed in full: every
    image at every quality."""
    lines = [LINE.match(line.strip()) for line in path.read_text().splitlines()]
    names = list(dict.fromkeys(m[1] for m in lines if m))
    images = list(dict.fromkeys(m[2] for m in lines if m))
    runs = []
    for name in names:
        points = {q: [(float(m[4]), float(m[5]), float(m[6])) for m in lines if m and m[1] == name and int(m[3]) == q]
                  for q in qualities}
        if all(len(v) == len(images) for v in points.values()):
            runs.append(record(name, None, points))
    return images, runs


def write(out: Path, command: str, base: str, images: list, qualities: list[int], runs: list[dict]) -> None:
    compare(runs, qualities)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": command, "base": base, "images": [str(p) for p in images],
                               "qualities": qualities, "runs": runs}, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", default="1,3,6")
    parser.add_argument("--base", default=None, help="base name (default: the image default)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--from-log", type=Path, help="write --out from the lines a stopped run printed")
    parser.add_argument("args", nargs="*", help="schedules (NAME=...), then image files")
    ns = parser.parse_args()
    qualities = [int(q) for q in ns.quality.split(",")]
    if ns.from_log:
        images, runs = from_log(ns.from_log, qualities)
        write(ns.out, f"{' '.join(sys.argv)} (schedules complete in {ns.from_log.name})", ns.base or "?",
              images, qualities, runs)
        return
    schedules = [a for a in ns.args if "=" in a]
    images = [Path(a) for a in ns.args if "=" not in a]
    api.use_compilation_cache()  # As the CLI does: each image size compiles once.
    base = api.load_default_base(ns.base, "image")
    runs = []
    for spec in schedules:
        name, fit = schedule(spec, api.default_fit(base))
        points: dict[int, list] = {}
        for path in images:
            pixels = np.asarray(Image.open(path).convert("RGB"))
            for q in qualities:
                start = time.perf_counter()
                result = api.encode(pixels, quality=q, base=base, fit=fit)
                points.setdefault(q, []).append((result.bpp, result.psnr, time.perf_counter() - start))
                print(f"{name} {path.name} q{q}: {result.bpp:.4f} bpp {result.psnr:.2f} dB "
                      f"{points[q][-1][2]:.1f} s", file=sys.stderr, flush=True)
        runs.append(record(name, dataclasses.asdict(fit), points))
        write(ns.out, " ".join(sys.argv), base.name, images, qualities, runs)  # After each: a stopped run keeps its data.
    for run in runs:
        seconds = np.mean([p["seconds"] for p in run["per_quality"].values()])
        print(f"{run['name']}: BD-rate vs {runs[0]['name']} {run.get('bd_rate_vs_first', 0.0)}, "
              f"BD-PSNR {run.get('bd_psnr_vs_first', 0.0)}, mean encode {seconds:.1f} s")


if __name__ == "__main__":
    main()
