"""Report of an `inrcodec eval` results folder: BD-rates, Markdown table and the R-D plot.

    python benchmarks/report.py results/kodak   # writes results/kodak/{bd.json,report.md,rd.png}, prints report.md

A thin wrapper over `inrcodec.evaluation.evaluate.report` (which `inrcodec eval` runs itself at the end); use
it to redo the report of committed results, e.g. after the anchors changed.
"""

import sys
from pathlib import Path

from inrcodec.evaluation import evaluate


def main(folder: str) -> None:
    folder = Path(folder)
    evaluate.report(folder, log=lambda s: print(s, file=sys.stderr))
    print((folder / "report.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/kodak")
