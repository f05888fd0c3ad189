"""Kodak report from the committed results: Markdown table, BD-rates and the R-D plot.

    python benchmarks/report.py results/kodak      # prints the table, writes results/kodak/rd.png
"""

import sys
from pathlib import Path

from inrcodec import anchors
from inrcodec.bdrate import bd_psnr_with_overlap, bd_rate_with_overlap
from inrcodec.plot import plot_rd
from inrcodec.results import read_results

COMPARE = ["COIN++ (Dupont et al. 2022)", "JPEG (coinpp)", "Strümpler et al. 2022, meta-learned (7 bit)",
           "JPEG 4:2:0 (measured here)", "WebP (measured here)", "x265 BPG 4:4:4 reproduction (measured here)"]


def main(folder: str) -> None:
    folder = Path(folder)
    ours = read_results(folder / "inrcodec.json")
    others = {p.stem: read_results(p) for p in sorted(folder.glob("*.json")) if p.stem != "inrcodec"}
    r = ours["results"]
    qualities = ours.get("meta", {}).get("quality", list(range(1, len(r["bpp"]) + 1)))
    print("| quality | bpp | PSNR (dB) | encode s/image | decode s/image |"
          + "".join(f" Pillow {n.upper()} at the same bpp |" for n in others))
    print("|" + "---|" * (5 + len(others)))
    for i, q in enumerate(qualities):
        print(f"| {q} | {r['bpp'][i]:.3f} | {r['psnr-rgb'][i]:.2f} | {r['encoding_time'][i]:.1f} | {r['decoding_time'][i]:.2f} |"
              + "".join(f" {o['results']['psnr-rgb'][i]:.2f} dB ({o['results']['bpp'][i]:.3f} bpp) |" for o in others.values()))
    print()
    print("| inrcodec vs | BD-rate | BD-PSNR | overlap (dB) |")
    print("|---|---|---|---|")
    rivals = {name: (anchors.KODAK[name]["rate"], anchors.KODAK[name]["psnr"]) for name in COMPARE}
    rivals.update({f"Pillow {n.upper()} (same images, same bpp)": (o["results"]["bpp"], o["results"]["psnr-rgb"]) for n, o in others.items()})
    for name, (rate, psnr) in rivals.items():
        try:
            rate_pct, (lo, hi) = bd_rate_with_overlap(rate, psnr, r["bpp"], r["psnr-rgb"])
            db, _ = bd_psnr_with_overlap(rate, psnr, r["bpp"], r["psnr-rgb"])
            print(f"| {name} | {rate_pct:+.1f} % | {db:+.2f} dB | {lo:.1f}–{hi:.1f} |")
        except ValueError as e:
            print(f"| {name} | n/a | n/a | {e} |")
    curves = {"inrcodec (this repo)": (r["bpp"], r["psnr-rgb"])}
    curves.update({f"Pillow {n.upper()} (matched bpp)": (o["results"]["bpp"], o["results"]["psnr-rgb"]) for n, o in others.items()})
    plot_rd(curves, {name: anchors.KODAK[name] for name in COMPARE}, folder / "rd.png", "Kodak (24 images)",
            xlim=(0, 1.1), ylim=(20, 36))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/kodak")
