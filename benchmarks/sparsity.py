"""Sparse base networks at equal fine-tuning budgets: L0 (unstructured, structured) vs magnitude and
random pruning vs a dense-narrow network, on Kodak centre crops.

Every run fine-tunes the warm-start base (--base) for --steps outer steps of pure second-order MAML
(meta/recipes/image_maml.py style, fit_steps=0) and exports to --out/<method>-<density>/:
  dense            sparsity "none", density 1 (one run);
  l0-unstructured  hard-concrete gates per weight, Lagrangian density constraint;
  l0-structured    gates per sine-layer unit, exported as narrower layers;
  magnitude        global magnitude mask of the warm-start weights, fixed while fine-tuning;
  random           random mask of the same density, fixed while fine-tuning;
  dense-narrow     a dense SIREN of width pruning.narrow_width_for_density, fine-tuned from a
                   width-sliced copy of the warm-start base (the first `hidden` units of every sine
                   layer), written to --out/init/dense-narrow-<density>/.
Each export is then evaluated on the centre crops (--crop) of the first --images Kodak files at
two quality levels with inrcodec.api.encode (real file bytes); the PSNR at --bpp is interpolated
linearly in log-bpp between the two levels, or taken from the nearer level if they do not bracket
--bpp (recorded as "psnr_at_bpp_method"). Decode time is the mean of inrcodec.api.decode over
all files, after one warm-up decode per base (JAX compilation).

Writes --out/sparsity.json (one record per run) and prints a Markdown table. Resumes: runs whose
export has --steps steps are not retrained, and runs already in sparsity.json are not re-evaluated.

    python benchmarks/sparsity.py --kodak ../shared/data/images/kodak --data ../shared/data/images/train --out results/sparsity
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from inrcodec import api
from inrcodec.core import bases
from inrcodec.training import l0, pruning
from inrcodec.signals.image import read_array
from inrcodec.training.train import TrainConfig, train

METHODS = ("dense", "l0-unstructured", "l0-structured", "magnitude", "random", "dense-narrow")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default="meta/bases/siren-image-v1", help="warm-start base directory")
    p.add_argument("--data", default="../shared/data/images/train", help="training images (never Kodak)")
    p.add_argument("--kodak", default="../shared/data/images/kodak", help="folder of evaluation images")
    p.add_argument("--out", default="results/sparsity", help="output folder (exports, sparsity.json)")
    p.add_argument("--steps", type=int, default=150, help="outer fine-tuning steps of every run")
    p.add_argument("--densities", default="0.5,0.25,0.1", help="comma-separated target densities")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ", ".join(METHODS))
    p.add_argument("--images", type=int, default=4, help="number of evaluation files (sorted by name)")
    p.add_argument("--crop", type=int, default=256, help="side of the evaluation centre crops")
    p.add_argument("--qualities", default="3,5", help="the two quality levels evaluated")
    p.add_argument("--bpp", type=float, default=0.5, help="reference rate of the PSNR column")
    p.add_argument("--train-crop", type=int, default=128, help="side of the training crops")
    p.add_argument("--batch", type=int, default=4, help="tasks per outer step")
    return p.parse_args(argv)


def recipe(args: argparse.Namespace, warm: bases.Base, name: str, **changes) -> TrainConfig:
    """Fine-tuning recipe in the style of meta/recipes/image_maml.py (pure MAML, for speed)."""
    cfg = TrainConfig(
        name=name,
        modality="image",
        model=warm.cfg,
        crop=args.train_crop,
        batch=args.batch,
        inner_steps=int(warm.manifest.get("inner_steps", 3)),
        fit_steps=0,
        lr=5e-4,
        warmup=min(20, max(1, args.steps // 5)),
        steps=args.steps,
        max_minutes=600.0,
        seed=0,
        init_from=str(warm.path),
        checkpoint_every=max(1, min(50, args.steps)),
        log_every=max(1, min(10, args.steps)),
    )
    return dataclasses.replace(cfg, **changes)


def width_sliced_base(warm: bases.Base, hidden: int, directory: Path) -> bases.Base:
    """The warm-start base cut to its first `hidden` units in every sine layer (a dense narrow SIREN)."""
    keep = [np.arange(w) < hidden for w in warm.cfg.layer_widths]
    params = {**warm.params, "net": l0.prune_structured(warm.params["net"], keep)}
    cfg = dataclasses.replace(warm.cfg, hidden=hidden, widths=())
    return bases.save_base(directory, f"{warm.name}-narrow{hidden}", "image", cfg, params,
                           {"inner_steps": warm.manifest.get("inner_steps", 3)})


def ordered(done: dict) -> list[dict]:
    """The records of every run so far, by method then decreasing density."""
    return sorted(done.values(), key=lambda r: (METHODS.index(r["method"]), -r["target_density"]))


def runs(args: argparse.Namespace) -> list[tuple[str, float]]:
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        sys.exit(f"unknown methods: {', '.join(sorted(unknown))}")
    densities = [float(d) for d in args.densities.split(",") if d]
    return [(m, 1.0) for m in methods if m == "dense"] + [(m, d) for m in methods if m != "dense" for d in densities]


def fine_tune(args: argparse.Namespace, warm: bases.Base, method: str, density: float, out: Path) -> bases.Base:
    """Trains (or resumes, or skips when done) one run and returns its exported base."""
    run_dir = out / f"{method}-{density:g}"
    manifest = run_dir / bases.MANIFEST_FILE
    if manifest.is_file() and json.loads(manifest.read_text())["training"]["steps"] >= args.steps:
        return bases.load_base_dir(run_dir)
    name = f"sparsity-{method}-{density:g}"
    if method == "dense":
        cfg = recipe(args, warm, name)
    elif method == "dense-narrow":
        start = width_sliced_base(warm, pruning.narrow_width_for_density(warm.cfg, density),
                                  out / "init" / f"{method}-{density:g}")
        cfg = recipe(args, start, name)
    else:
        cfg = recipe(args, warm, name, sparsity=method, density=density)
    return train(cfg, [Path(args.data)], run_dir)


def psnr_at_bpp(points: list[tuple[float, float]], bpp: float) -> tuple[float, str]:
    """PSNR at `bpp` from (bpp, psnr) points: linear in log-bpp if bracketed, else the nearest point."""
    (r0, p0), (r1, p1) = sorted(points)
    if r0 <= bpp <= r1 and r1 > r0:
        t = (math.log(bpp) - math.log(r0)) / (math.log(r1) - math.log(r0))
        return p0 + t * (p1 - p0), "interpolated"
    return min(points, key=lambda rp: abs(math.log(rp[0]) - math.log(bpp)))[1], "nearest"


def centre_crops(args: argparse.Namespace) -> list[tuple[str, np.ndarray]]:
    files = sorted(p for p in Path(args.kodak).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"))
    crops = []
    for path in files[: args.images]:
        image = read_array(path)
        h, w = image.shape[:2]
        c = min(args.crop, h, w)
        top, left = (h - c) // 2, (w - c) // 2
        crops.append((path.name, np.ascontiguousarray(image[top : top + c, left : left + c])))
    return crops


def evaluate(args: argparse.Namespace, base: bases.Base, crops: list, qualities: list[int]) -> dict:
    """Mean bpp / PSNR per quality level, PSNR at --bpp and mean decode seconds of one base."""
    per_quality, decode_seconds = {}, []
    for q in qualities:
        rates, psnrs = [], []
        for _, crop in crops:
            result = api.encode(crop, quality=q, base=base)
            if not decode_seconds:
                api.decode(result.data)  # Warm-up: JAX compiles for this network's shapes.
            started = time.perf_counter()
            api.decode(result.data)
            decode_seconds.append(time.perf_counter() - started)
            rates.append(result.rate)
            psnrs.append(result.psnr)
        per_quality[str(q)] = {"bpp": float(np.mean(rates)), "psnr": float(np.mean(psnrs))}
    psnr, how = psnr_at_bpp([(v["bpp"], v["psnr"]) for v in per_quality.values()], args.bpp)
    return {"per_quality": per_quality, "psnr_at_bpp": round(psnr, 3), "psnr_at_bpp_method": how,
            "decode_seconds": round(float(np.mean(decode_seconds)), 4)}


def record_of(method: str, density: float, base: bases.Base, warm: bases.Base) -> dict:
    sparsity = base.manifest.get("sparsity")
    achieved = sparsity["density"] if sparsity else base.cfg.num_params() / warm.cfg.num_params()
    return {"method": method, "target_density": density, "density": round(achieved, 6),
            "params_bytes": base.manifest["params_bytes"], "compact_bytes": base.manifest["compact_bytes"],
            "macs_per_pixel": base.cfg.macs_per_sample(), "train_seconds": base.manifest["training"]["wall_seconds"],
            "base_id": base.base_id.hex(), "path": str(base.path)}


def table(records: list[dict], bpp: float) -> str:
    lines = [f"| method | target density | achieved density | params bytes | compact bytes | MAC/pixel | "
             f"PSNR @ {bpp} bpp (dB) | decode s | train s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        mark = "" if r["psnr_at_bpp_method"] == "interpolated" else " (nearest)"
        lines.append(f"| {r['method']} | {r['target_density']:g} | {r['density']:.4f} | {r['params_bytes']} | "
                     f"{r['compact_bytes']} | {r['macs_per_pixel']} | {r['psnr_at_bpp']:.2f}{mark} | "
                     f"{r['decode_seconds']:.3f} | {r['train_seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["INRCODEC_BASES"] = os.pathsep.join([str(out), os.environ.get("INRCODEC_BASES", "")])  # For decode.
    qualities = [int(q) for q in args.qualities.split(",")]
    if len(qualities) != 2:
        sys.exit("--qualities must name exactly two levels")
    warm = bases.load_base_dir(Path(args.base))
    crops = centre_crops(args)
    if not crops:
        sys.exit(f"{args.kodak}: no images")
    results_path = out / "sparsity.json"
    done = {(r["method"], r["target_density"]): r for r in
            (json.loads(results_path.read_text())["runs"] if results_path.is_file() else [])}
    todo = runs(args)
    for method, density in tqdm(todo, desc="sparsity runs", unit="run", file=sys.stderr, dynamic_ncols=True):
        base = fine_tune(args, warm, method, density, out)
        if (method, density) in done and done[(method, density)]["base_id"] == base.base_id.hex():
            continue
        done[(method, density)] = {**record_of(method, density, base, warm), **evaluate(args, base, crops, qualities)}
        records = ordered(done)  # With the runs of earlier invocations (other densities or methods).
        results_path.write_text(json.dumps({"settings": vars(args), "images": [n for n, _ in crops], "runs": records},
                                           indent=1) + "\n")
    print(table(ordered(done), args.bpp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
