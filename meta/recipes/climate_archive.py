"""Recipe for a climate base fine-tuned on one archive's own fields (api.compress_dataset(train=)).

`siren-climate-v3`'s network and objective, started from its weights; the archive's first chunk is
the training data (training.from_items sets the value range and grid from it), so a few hundred steps
adapt the shipped base to one region or model. The base is then embedded in the archive and its
bytes count. Example (benchmarks/archive_bounds.py --train-steps 200 measures it):
    inrcodec.compress_dataset(da, "uk.inrpack", max_error=0.1,
                              train=inrcodec.api.train_config("meta/recipes/climate_archive.py", steps=200))
"""

import dataclasses
from pathlib import Path

from inrcodec.training.train import TrainConfig, load_recipe


def get_config() -> TrainConfig:
    """v3's recipe from v3's weights, no held-out data (the archive is the data)."""
    return dataclasses.replace(
        load_recipe(Path(__file__).with_name("climate_v3.py")),
        name="siren-climate-archive",
        init_from="meta/bases/siren-climate-v3",
        lr=3e-4,
        steps=200,
        max_minutes=30.0,
        holdout=(),
        validate_every=0,
    )
