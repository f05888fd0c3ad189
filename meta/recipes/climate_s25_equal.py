"""Ablation of `climate_s25.py` (issue 20, item 1: gates that polarise): the same run with the density
constraint an equality (TrainConfig.density_equality), so its multiplier keeps acting once the density
is below the target. Same seed, data, steps and density as climate_s25.py. Run from the repository root
(each call resumes; a session's part with --minutes):
    inrcodec train --recipe meta/recipes/climate_s25_equal.py --data ../shared/data/climate/train \
        ../shared/data/climate/speedy_46x90 --out meta/checkpoints/siren-climate-s25-equal
"""

import dataclasses
from pathlib import Path

from inrcodec.training.train import TrainConfig, load_recipe


def get_config() -> TrainConfig:
    """climate_s25.py with an equality constraint."""
    return dataclasses.replace(load_recipe(Path(__file__).with_name("climate_s25.py")),
                               name="siren-climate-s25-equal", density_equality=True)
