"""Recipe of `siren-climate-v3`: v2's network meta-trained on 8,000+ six-hourly climate-model fields.

v2 (meta/recipes/climate.py) saw the 614 readable fields of ../shared/data/climate/train, mostly
annual and monthly means. This run starts from v2's weights and adds the SPEEDY fields (six-hourly,
on the ERA5 46 x 90 grid, ../shared/data/climate/speedy_46x90/README.md). The SPEEDY year 1986
(1,460 fields) is held out: 16 of its fields give the validation curve. No ERA5 field is used.
Its ablation, meta/recipes/climate_v3_roll.py, rotates half the fields in longitude. Run from the
repository root (each call resumes):
    inrcodec train --recipe meta/recipes/climate_v3.py --data ../shared/data/climate/train \
        ../shared/data/climate/speedy_46x90 --out meta/checkpoints/siren-climate-v3
"""

import dataclasses
from pathlib import Path

from inrcodec.training.train import TrainConfig, load_recipe


def get_config() -> TrainConfig:
    """v2's recipe (network, objective, quality levels) started from v2, with a longer, gentler schedule."""
    return dataclasses.replace(
        load_recipe(Path(__file__).with_name("climate.py")),
        name="siren-climate-v3",
        init_from="meta/bases/siren-climate-v2",
        lr=5e-4,  # Half of v2's: the run starts from trained weights.
        steps=3000,
        max_minutes=480.0,
        seed=1,
        holdout=("speedy_t0_1986",),
        validate_every=100,
    )
