"""Recipe of a structured-sparse climate base: `siren-climate-v3` with L0 gates on its sine units.

v3's recipe, data and held-out year (meta/recipes/climate_v3.py), started from v3's weights, with one
hard-concrete gate per unit of every sine layer and the constraint "expected density <= 0.25 of the
SIREN parameters" (meta/README.md, "Sparse base networks"). The export drops the gated-off units, so
the base costs about a quarter of v3's multiply-adds per grid point: the dataset API's speed
(issue 19, item 5) and a sparse default climate base (issue 20, item 3). Run from the repository
root (each call resumes):
    inrcodec train --recipe meta/recipes/climate_s25.py --data ../shared/data/climate/train \
        ../shared/data/climate/speedy_46x90 --out meta/checkpoints/siren-climate-s25
"""

import dataclasses
from pathlib import Path

from inrcodec.training.train import TrainConfig, load_recipe


def get_config() -> TrainConfig:
    """v3's recipe from v3's weights, structured L0 at density 0.25."""
    return dataclasses.replace(
        load_recipe(Path(__file__).with_name("climate_v3.py")),
        name="siren-climate-s25",
        init_from="meta/bases/siren-climate-v3",
        sparsity="l0-structured",
        density=0.25,
        lr=3e-4,  # From trained weights; the gates have their own rate (gate_lr).
        steps=1200,
        max_minutes=80.0,
        seed=2,
    )
