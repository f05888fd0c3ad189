"""BD-rate and BD-PSNR of one inrcodec eval run against another, on the items both coded.

Each run is a CompressAI-schema JSON written by `inrcodec eval` (per-item bpp and PSNR per quality), or
the JSON of `benchmarks/fit_schedule.py` (its first schedule; to compare two bases on the same images).
The curves are the per-quality means over the common items (optionally only `--items`), so runs on
different subsets compare fairly. Prints one line and, with --out, writes JSON. Example:
    python benchmarks/compare_runs.py results/kodak_v1/inrcodec.json results/kodak/inrcodec.json \\
        --out results/ablation/context_tables.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from inrcodec.evaluation.bdrate import bd_psnr_with_overlap, bd_rate_with_overlap


def per_item(path: Path) -> dict[str, list[tuple[float, float]]]:
    """{file: [(bpp, psnr) per quality]} of an eval JSON or a fit_schedule JSON."""
    data = json.loads(path.read_text())
    out: dict[str, list[tuple[float, float]]] = {}
    if "runs" in data:  # fit_schedule.py: per quality, one entry per image in data["images"] order.
        per_quality = data["runs"][0]["per_image"]
        for q in sorted(per_quality, key=int):
            for name, point in zip(data["images"], per_quality[q]):
                out.setdefault(Path(name).name, []).append((point["bpp"], point["psnr"]))
        return out
    for level in data["per_item"]:
        for name, bpp, psnr in zip(level["file"], level["bpp"], level["psnr-rgb"]):
            out.setdefault(name, []).append((bpp, psnr))
    return out


def curve(points: dict[str, list[tuple[float, float]]], items: list[str]) -> tuple[np.ndarray, np.ndarray]:
    means = np.mean([points[i] for i in items], axis=0)  # (qualities, 2)
    return means[:, 0], means[:, 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("anchor", type=Path)
    parser.add_argument("test", type=Path)
    parser.add_argument("--items", help="comma-separated file names (default: every item both runs coded)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    a, t = per_item(args.anchor), per_item(args.test)
    items = args.items.split(",") if args.items else sorted(set(a) & set(t))
    (ra, pa), (rt, pt) = curve(a, items), curve(t, items)
    rate, psnr_range = bd_rate_with_overlap(ra, pa, rt, pt)
    psnr, rate_range = bd_psnr_with_overlap(ra, pa, rt, pt)
    summary = {"command": " ".join(["python", *sys.argv]), "anchor": str(args.anchor), "test": str(args.test),
               "items": items, "bd_rate_percent": round(rate, 2), "bd_psnr_db": round(psnr, 3),
               "psnr_overlap_db": [round(x, 2) for x in psnr_range], "rate_overlap": [round(x, 4) for x in rate_range],
               "anchor_curve": {"bpp": ra.round(4).tolist(), "psnr": pa.round(2).tolist()},
               "test_curve": {"bpp": rt.round(4).tolist(), "psnr": pt.round(2).tolist()}}
    print(f"{args.test} vs {args.anchor} on {len(items)} items: BD-rate {rate:+.1f} %, BD-PSNR {psnr:+.2f} dB")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
