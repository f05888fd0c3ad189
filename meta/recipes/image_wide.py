"""Recipe of `siren-image-wide` (not shipped): a stronger synthesis grown from `siren-image-v3`, meta-trained for hours.

Two more latent channels where the bits go (strides 2, 4 and 8 get two channels each) and sine layers
48 wide instead of 32: 6.2 kMAC/pixel (v3: 2.8 k). Training starts from v3's weights, grown so that
it first computes exactly what v3 computes (inrcodec/training/growth.py), and runs the phase-2
objective (meta/recipes/image.py) for up to 8 hours over several sittings, resuming from its
checkpoint. Its control run, the same training at v3's width, became `siren-image-v4`
(meta/recipes/image_v4.py). Set5 and Set14 are held out: their crops give the validation curve. Run from the
repository root (each call resumes; `--minutes` caps the total):
    inrcodec train --recipe meta/recipes/image_wide.py --data ../shared/data/images/train --out meta/checkpoints/siren-image-wide
"""

import dataclasses
from pathlib import Path

from inrcodec.core.config import ModelConfig
from inrcodec.training.train import TrainConfig, load_recipe


def get_config() -> TrainConfig:
    """meta/recipes/image_v4.py (same data, objective, schedule and seed) with the wider network."""
    return dataclasses.replace(
        load_recipe(Path(__file__).with_name("image_v4.py")),
        name="siren-image-wide",
        model=ModelConfig(spatial_dims=2, out_channels=3, channels=(1, 2, 2, 2, 1, 1, 1), hidden=48, depth=3),
    )
