"""Sweep the encoder's two rate knobs, latent step index and rate weight (lambda), of a base network.

A quality level of a base is one (step index, lambda) pair from its manifest ("quality_step_index",
"quality_lambdas"); this measures the rate and PSNR of other pairs, to choose a ladder on the
rate-distortion envelope. Tune on training data, not on the test set. Every point encodes each
item once (the base's default fit); rates come from the file sizes. Writes one results JSON
(CompressAI schema, the points in the order given, with "step_index" and "lambda" lists) and prints
one line per point. Usage (the audio ladder of siren-audio-v2 was chosen from this run):
    python benchmarks/quality_ladder.py ../shared/data/audio/train/librispeech_train_clean_100 \
        --count 6 --seconds 3 --base siren-audio-v2 --out results/ladder/siren-audio-v2.json \
        --points 0:4e-4,0:1.5e-4,0:6e-5,0:2.5e-5,1:1e-5,2:4e-6,3:1.5e-6,3:6e-7,2:6e-5,3:6e-5,5:1e-4,6:1.2e-4,\
2:4e-5,5:8e-5,5:6e-5,6:6e-5,6:4e-5,5:2.5e-5,6:2.5e-5,6:1.5e-5,6:1e-5
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import platform
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from inrcodec import api, modalities
from inrcodec.evaluation import evaluate, results


def parse_points(text: str) -> list[tuple[int, float]]:
    """'step:lambda,...' -> [(step index, lambda), ...]."""
    points = []
    for item in text.split(","):
        step, lam = item.split(":")
        points.append((int(step), float(lam)))
    return points


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="a folder of items (the first --count in name order)")
    p.add_argument("--points", required=True, help="step_index:lambda pairs, comma-separated")
    p.add_argument("--base", help="base network (default: the modality's shipped default)")
    p.add_argument("--count", type=int, default=6, help="number of items")
    p.add_argument("--seconds", type=float, help="audio: the first SECONDS of each clip")
    p.add_argument("--out", required=True, help="results JSON to write")
    args = p.parse_args()
    modality, files = evaluate.find_items([args.data])
    files = files[: args.count]
    items = [evaluate.load_item(f, f.stem, modality, None, args.seconds) for f in files]
    base0 = api.load_default_base(args.base, modality)
    fmt, fit = modalities.by_name(modality), api.default_fit(base0)
    pairs, points = parse_points(args.points), []
    with tqdm(total=len(files) * len(pairs), file=sys.stderr, unit="encode") as bar:
        for step, lam in pairs:
            ladder = {"quality_lambdas": {"1": lam}, "quality_step_index": {"1": step}}
            base = dataclasses.replace(base0, manifest={**base0.manifest, **ladder})
            coded = []
            for item in items:
                coded.append(fmt.encode(item.native, base, 1, fit))
                bar.update()
            rate = [8 * len(c.data) / item.positions for c, item in zip(coded, items)]
            point = {"bpp": float(np.mean(rate)), "rate": float(np.mean([c.rate for c in coded])),
                     "psnr": float(np.mean([c.psnr for c in coded])), "step_index": step, "lambda": lam,
                     "encoding_time": float(np.mean([c.seconds for c in coded])),
                     "per_item": {"file": [f.name for f in files], "rate": [c.rate for c in coded],
                                  "psnr": [c.psnr for c in coded]}}
            points.append(point)
            print(f"step {step} lambda {lam:.3g}: {point['rate']:.2f} {coded[0].rate_unit}, {point['psnr']:.2f} dB "
                  f"(items {', '.join(f'{c.psnr:.2f}' for c in coded)})", flush=True)
    meta = {"command": "python " + " ".join(sys.argv), "base": base0.name, "rate_unit": coded[0].rate_unit,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip()}
    results.write_results(args.out, results.make_results(
        f"inrcodec {base0.name} (step, lambda) sweep", f"{modality} ladder sweep on {len(files)} items of {args.data}",
        points, meta))


if __name__ == "__main__":
    main()
