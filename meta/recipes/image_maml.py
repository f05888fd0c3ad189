"""Phase 1 of `siren-image-v1`: second-order MAML from scratch (see meta/README.md).

Run from the repository root (resumes from the checkpoint in the output directory):
    inrcodec train --recipe meta/recipes/image_maml.py --data ../shared/data/images/train --out runs/phase1
The run behind the shipped base stopped at step 1600 (30 min); its record is meta/records/phase1.json.
"""

from inrcodec.core.config import ModelConfig
from inrcodec.training.train import TrainConfig


def get_config() -> TrainConfig:
    return TrainConfig(
        name="siren-image-v1-phase1",
        modality="image",
        # 7 latent levels (strides 1..64, one channel each) into a 3 x 32 SIREN: 2.8 kMAC/pixel.
        model=ModelConfig(spatial_dims=2, out_channels=3, channels=(1, 1, 1, 1, 1, 1, 1), hidden=32, depth=3),
        crop=128,  # Crops large enough for the stride-64 level to interpolate between 2 x 2 cells.
        batch=4,  # ~0.75 s per second-order outer step on 2 cores.
        inner_steps=3,
        lr=1e-3,
        warmup=20,
        steps=6000,  # Cosine schedule length; the shipped run was stopped at 1600 (wall clock).
        max_minutes=30.0,
        lam_min=3e-4,
        lam_max=4e-2,
        seed=0,
        checkpoint_every=100,
        log_every=10,
    )
