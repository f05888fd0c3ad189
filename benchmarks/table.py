"""Prints the Kodak R-D results as a Markdown table: python benchmarks/table.py results/kodak"""

import sys
from pathlib import Path

from inrcodec.results import read_results


def main(folder: str) -> None:
    folder = Path(folder)
    ours = read_results(folder / "inrcodec.json")
    others = {p.stem: read_results(p) for p in sorted(folder.glob("*.json")) if p.stem != "inrcodec"}
    qualities = ours.get("meta", {}).get("quality", list(range(1, len(ours["results"]["bpp"]) + 1)))
    head = "| quality | bpp | PSNR (dB) | encode s | decode s |" + "".join(f" {n} PSNR at that bpp |" for n in others)
    print(head)
    print("|" + "---|" * (5 + len(others)))
    r = ours["results"]
    for i, q in enumerate(qualities):
        row = f"| {q} | {r['bpp'][i]:.3f} | {r['psnr-rgb'][i]:.2f} | {r['encoding_time'][i]:.1f} | {r['decoding_time'][i]:.2f} |"
        row += "".join(f" {o['results']['psnr-rgb'][i]:.2f} ({o['results']['bpp'][i]:.3f} bpp) |" for o in others.values())
        print(row)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/kodak")
