"""Bytes of image latents under one Laplace per level (entropy model 1) and under a base's context
tables (entropy model 4), on photos the tables were not fitted on.

Encodes each photo at each quality with the encoder of `--base`'s weights (cached in --latents),
then codes the same integer latents both ways. Prints per-photo bytes and writes a JSON summary.
Example (held-back training photos; the tables never saw them):
    python benchmarks/context_tables.py --tables siren-image-v2 --latents runs/context-latents-val \\
        --qualities 1,3,6 --out results/context_tables/held_back.json \\
        ../shared/data/images/train/set5_subset ../shared/data/images/train/set14_subset
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "meta" / "recipes"))

from image_context import coded_latents  # noqa: E402

from inrcodec import api  # noqa: E402
from inrcodec.bitstream import context_coder, range_coder  # noqa: E402
from inrcodec.core.bases import load_base  # noqa: E402
from inrcodec.modalities import image  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--tables", required=True, help="base whose context tables are measured")
    parser.add_argument("--latents", type=Path, required=True)
    parser.add_argument("--qualities", default="1,3,6")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    api.use_compilation_cache()
    base = load_base(args.tables)
    args.latents.mkdir(parents=True, exist_ok=True)
    rows = []
    for folder in args.folders:
        for photo in sorted(p for p in folder.iterdir() if p.suffix.lower() in image.SUFFIXES):
            for quality in [int(q) for q in args.qualities.split(",")]:
                levels, scales = coded_latents(photo, quality, base, args.latents)
                plain = sum(range_coder.coded_bits(q, s) for q, s in zip(levels, scales) if s) / 8
                escape = [context_coder.escape_scale_index(q) if s else 0 for q, s in zip(levels, scales)]
                by_context = len(context_coder.encode(levels, escape, base.context_tables))
                rows.append({"photo": f"{folder.name}/{photo.name}", "quality": quality,
                             "plain_bytes": round(plain, 1), "context_bytes": by_context})
                print(f"{folder.name}/{photo.name} q{quality}: {plain:.0f} -> {by_context} bytes "
                      f"({100 * (by_context / plain - 1):+.1f} %)", flush=True)
    plain, ctx = sum(r["plain_bytes"] for r in rows), sum(r["context_bytes"] for r in rows)
    summary = {"command": " ".join(sys.argv), "base": base.name, "photos_x_qualities": len(rows),
               "plain_bytes": round(plain), "context_bytes": ctx, "change": round(ctx / plain - 1, 4), "rows": rows}
    print(f"total: {plain:.0f} -> {ctx} bytes ({100 * (ctx / plain - 1):+.1f} %) over {len(rows)} latent sets")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
