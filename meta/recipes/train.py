"""Thin entry point: `python meta/recipes/train.py RECIPE.py DATA_DIR OUT_DIR` (same as `inrcodec train`)."""

import sys

from inrcodec.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "--recipe", sys.argv[1], "--data", sys.argv[2], "--out", sys.argv[3]]))
