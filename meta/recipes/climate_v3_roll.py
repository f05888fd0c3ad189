"""Ablation of meta/recipes/climate_v3.py (not shipped unless it wins): half of the training fields are
rotated by a random whole number of grid columns in longitude (`TrainConfig.lon_roll`). It trades the
geography the base learns at fixed sphere inputs for variety; the held-out fields are never rotated.
    inrcodec train --recipe meta/recipes/climate_v3_roll.py --data ../shared/data/climate/train \
        ../shared/data/climate/speedy_46x90 --out meta/checkpoints/siren-climate-v3-roll
"""

import dataclasses
from pathlib import Path

from inrcodec.training.train import TrainConfig, load_recipe


def get_config() -> TrainConfig:
    return dataclasses.replace(load_recipe(Path(__file__).with_name("climate_v3.py")),
                               name="siren-climate-v3-roll", lon_roll=0.5)
