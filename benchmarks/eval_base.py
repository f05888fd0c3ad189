"""Writes an evaluation base: a training checkpoint's weights with another base's context tables and
encoder schedule, so a checkpoint can be measured with the real encoder before its own tables exist.

    python benchmarks/eval_base.py meta/checkpoints/siren-image-v4 --tables siren-image-v4 \
        --name v4-4200 --out runs/evalbases/v4-4200
Then `INRCODEC_BASES=runs/evalbases` finds it by name.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from inrcodec.core.bases import add_context_tables, load_base, load_base_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a directory with manifest.json and params.npz")
    parser.add_argument("--tables", required=True, help="the base whose tables and fit schedule to use")
    parser.add_argument("--name", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    weights, donor = load_base_dir(args.checkpoint), load_base(args.tables)
    made = add_context_tables(weights, donor.context_tables, args.name, args.out, {"from": f"{donor.name} tables"},
                              donor.manifest.get("fit"))
    print(f"{made.name}: base id {made.base_id.hex()} in {args.out}")


if __name__ == "__main__":
    main()
