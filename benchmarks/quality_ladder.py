"""Sweep the encoder's two rate knobs, latent step index and rate weight (lambda), of a base network.

A quality level of a base is one (step index, lambda) pair from its manifest ("quality_step_index",
"quality_lambdas"); this measures the rate and PSNR of other pairs, to choose a ladder on the
rate-distortion envelope. Tune on training data, not on the test set. Every point encodes each
item once (the base's default fit); rates come from the file sizes. Writes one results JSON
(CompressAI schema, the points in the order given, with "step_index" and "lambda" lists) and prints
one line per point. Usage (the audio ladder of siren-audio-v2 was chosen from this run):
    python benchmarks/quality_ladder.py ../shared/data/audio/train/librispeech_train_clean_100 \
        --count 6 --seconds 3 --base siren-audio-v2 --distortion psnr --out results/ladder/siren-audio-v2.json \
        --points 0:4e-4,0:1.5e-4,0:6e-5,0:2.5e-5,1:1e-5,2:4e-6,3:1.5e-6,3:6e-7,2:6e-5,3:6e-5,5:1e-4,6:1.2e-4,\
2:4e-5,5:8e-5,5:6e-5,6:6e-5,6:4e-5,5:2.5e-5,6:2.5e-5,6:1.5e-5,6:1e-5
Audio also takes --distortion (what the fit minimises, audio.DISTORTIONS; the pairs replace the base's
ladder for it) and --metrics (perceptual metrics per point, inrcodec.evaluation.perceptual), e.g. the
perceptual ladder of siren-audio-v2 (session 13, results/ladder/siren-audio-v2-perceptual.json):
    python benchmarks/quality_ladder.py ../shared/data/audio/train/librispeech_train_clean_100 --count 6 \
        --seconds 3 --base siren-audio-v2 --distortion perceptual --metrics pesq_wb,stoi --points ...
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
from inrcodec.evaluation import evaluate, perceptual, results


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
    p.add_argument("--distortion", help="audio: what the fit minimises (perceptual or psnr; default: the modality's)")
    p.add_argument("--metrics", default="", help="audio: comma-separated perceptual metrics per point (e.g. pesq_wb,stoi)")
    p.add_argument("--out", required=True, help="results JSON to write")
    args = p.parse_args()
    metrics = [m for m in args.metrics.split(",") if m]
    options = {"distortion": args.distortion} if args.distortion else {}
    modality, files = evaluate.find_items([args.data])
    files = files[: args.count]
    items = [evaluate.load_item(f, f.stem, modality, None, args.seconds) for f in files]
    base0 = api.load_default_base(args.base, modality)
    fmt, fit = modalities.by_name(modality), api.default_fit(base0)
    pairs, points = parse_points(args.points), []
    with tqdm(total=len(files) * len(pairs), file=sys.stderr, unit="encode") as bar:
        for step, lam in pairs:
            # The pair replaces every ladder of the base, that of each distortion included.
            ladder = {"quality_lambdas": {"1": lam}, "quality_step_index": {"1": step}, "distortions": {}}
            base = dataclasses.replace(base0, manifest={**base0.manifest, **ladder})
            coded = []
            for item in items:
                coded.append(fmt.encode(item.native, base, 1, fit, **options))
                bar.update()
            scores = {m: [perceptual.measure(item.native.samples, c.reconstruction.samples, item.native.sample_rate,
                                             [m])[m] for c, item in zip(coded, items)] for m in metrics}
            rate = [8 * len(c.data) / item.positions for c, item in zip(coded, items)]
            point = {"bpp": float(np.mean(rate)), "rate": float(np.mean([c.rate for c in coded])),
                     "psnr": float(np.mean([c.psnr for c in coded])), "step_index": step, "lambda": lam,
                     "encoding_time": float(np.mean([c.seconds for c in coded])),
                     **{m: float(np.mean([v for v in vs if v is not None])) for m, vs in scores.items()},
                     "per_item": {"file": [f.name for f in files], "rate": [c.rate for c in coded],
                                  "psnr": [c.psnr for c in coded], **scores}}
            points.append(point)
            print(f"step {step} lambda {lam:.3g}: {point['rate']:.2f} {coded[0].rate_unit}, {point['psnr']:.2f} dB"
                  + "".join(f", {m} {point[m]:.3f}" for m in metrics) + " "
                  f"(items {', '.join(f'{c.psnr:.2f}' for c in coded)})", flush=True)
    meta = {"command": "python " + " ".join(sys.argv), "base": base0.name, "rate_unit": coded[0].rate_unit,
            **options,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip()}
    results.write_results(args.out, results.make_results(
        f"inrcodec {base0.name} (step, lambda) sweep", f"{modality} ladder sweep on {len(files)} items of {args.data}",
        points, meta))


if __name__ == "__main__":
    main()
