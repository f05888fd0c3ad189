"""Fits the context tables of entropy model 5 (or 4) for an image base, and writes it with them as a new base.

The tables are counts of (context, symbol) over the latents that today's encoder writes for
training photos (every 3rd BSDS300-subset photo and every 6th BSD100
photo; two quality levels per photo, rotating over 1, 2, 3, 4, 6). Set5, Set14 and the scikit-image
photos are held back for validation; Kodak is never used. The latents are cached per (photo, quality)
so a run can be stopped and resumed. Run from the repository root:
    python meta/recipes/image_context.py --data ../shared/data/images/train --base siren-image-v1 \\
        --name siren-image-v2 --out meta/bases/siren-image-v2 --latents runs/context-latents
With --fit FIELD:VALUE,... the latents come from that encoder schedule (FitConfig fields over the
base's own), and the new base's manifest asks for it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from inrcodec import api, decoder
from inrcodec.bitstream import range_coder
from inrcodec.core.bases import add_context_tables, load_base
from inrcodec.core.config import FitConfig, fit_fields
from inrcodec.modalities import image
from inrcodec.training import context_tables

QUALITIES = (1, 2, 3, 4, 6)
TRAINING = (("bsds300_train_subset", 3), ("bsd100", 6))  # (folder, every n-th photo)
HELD_BACK = ("set5_subset", "set14_subset", "skimage")


def training_photos(data: Path) -> list[Path]:
    photos = []
    for folder, every in TRAINING:
        photos += sorted(p for p in (data / folder).iterdir() if p.suffix.lower() in image.SUFFIXES)[::every]
    return photos


def held_back_photos(data: Path) -> list[Path]:
    return [p for folder in HELD_BACK for p in sorted((data / folder).iterdir()) if p.suffix.lower() in image.SUFFIXES]


def coded_latents(photo: Path, quality: int, base, cache: Path, fit: FitConfig) -> tuple[list[np.ndarray], list[int]]:
    """The integer latents (and per-level scale indices) a file of `photo` at `quality` holds (cached)."""
    name = cache / f"{photo.parent.name}-{photo.stem}-q{quality}.npz"
    if not name.exists():
        arr = image.read(photo)
        result = image.encode(arr, base, quality, fit)
        box, header = image.read_header(result.data)
        levels, _ = decoder.decode_symbols(header.coding, box.payload, base, arr.shape[:2])
        scales = [range_coder.best_scale_index(q) for q in levels]  # Those of entropy model 1.
        tmp = name.with_suffix(".tmp.npz")
        np.savez(tmp, *levels, scales=np.array(scales), bytes=len(result.data), psnr=result.psnr)
        tmp.rename(name)
        print(f"{photo.name} q{quality}: {len(result.data)} bytes, {result.psnr:.2f} dB", file=sys.stderr, flush=True)
    with np.load(name, allow_pickle=False) as z:
        return [z[f"arr_{k}"] for k in range(base.cfg.levels)], [int(s) for s in z["scales"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--base", default="siren-image-v1")
    parser.add_argument("--name", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--latents", type=Path, required=True, help="cache of the training latents")
    parser.add_argument("--entropy-model", type=int, choices=(4, 5), default=5, help="the tables' model (v2-v4: 4)")
    parser.add_argument("--fit", default="", help="FIELD:VALUE,... over the base's encoder schedule")
    args = parser.parse_args()
    api.use_compilation_cache()
    base = load_base(args.base)
    changes = fit_fields(args.fit)
    fit = dataclasses.replace(api.default_fit(base), **changes)
    args.latents.mkdir(parents=True, exist_ok=True)
    photos = training_photos(args.data)
    counts = None
    for i, photo in enumerate(photos):
        for quality in (QUALITIES[(i + 2) % 5], QUALITIES[(i + 4) % 5]):
            counts = context_tables.count(*coded_latents(photo, quality, base, args.latents, fit), counts, args.entropy_model)
    tables = context_tables.tables(counts)
    extra = {"entropy_model": args.entropy_model, "fitted_on": f"{len(photos)} training photos x 2 quality levels (meta/recipes/image_context.py)",
             "symbols": int(counts.sum())}
    written = add_context_tables(base, tables, args.name, args.out, extra,
                                 {**base.manifest.get("fit", {}), **changes} if changes else None)
    print(f"{written.name}: base id {written.base_id.hex()}, {int(counts.sum())} symbols from {len(photos)} photos")


if __name__ == "__main__":
    main()
