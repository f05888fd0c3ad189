"""Recipe of the shipped image base network `siren-image-v1` (see meta/README.md for the record).

Run from the repository root (resumes from the checkpoint in the output directory):
    inrcodec train --recipe meta/recipes/image.py --data ../shared/data/images/train --out meta/bases/siren-image-v1
"""

from inrcodec.config import ModelConfig
from inrcodec.train import TrainConfig


def get_config() -> TrainConfig:
    return TrainConfig(
        name="siren-image-v1",
        modality="image",
        # 7 latent levels (strides 1..64, one channel each) into a 3 x 32 SIREN: 2.8 kMAC/pixel.
        model=ModelConfig(spatial_dims=2, out_channels=3, channels=(1, 1, 1, 1, 1, 1, 1), hidden=32, depth=3),
        crop=128,  # Crops large enough for the stride-64 level to interpolate between 2 x 2 cells.
        batch=4,  # ~0.75 s per second-order outer step on 2 cores.
        inner_steps=3,
        lr=1e-3,
        warmup=20,
        steps=6000,
        max_minutes=90.0,  # The budget is <= 2 h of meta-training on this machine.
        lam_min=3e-4,
        lam_max=4e-2,
        seed=0,
        checkpoint_every=100,
        log_every=10,
    )
