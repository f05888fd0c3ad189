"""Ablation of `climate_s25.py` (issue 20, item 1: gates that polarise): the same run with the gates'
hard-concrete temperature annealed from 2/3 to 0.1, so that late in training the sampled gates are
almost all exactly 0 or 1 and the network trained is the one the deterministic export keeps. Same
seed, data, steps and density as climate_s25.py. Run from the repository root:
    inrcodec train --recipe meta/recipes/climate_s25_anneal.py --data ../shared/data/climate/train \
        ../shared/data/climate/speedy_46x90 --out meta/checkpoints/siren-climate-s25-anneal
"""

import dataclasses
from pathlib import Path

from inrcodec.training.train import TrainConfig, load_recipe


def get_config() -> TrainConfig:
    """climate_s25.py with gate_beta_final 0.1."""
    return dataclasses.replace(load_recipe(Path(__file__).with_name("climate_s25.py")),
                               name="siren-climate-s25-anneal", gate_beta_final=0.1)
