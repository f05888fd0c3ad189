"""Recipe of the weights of `siren-image-v4`, the default image base: v3's network meta-trained for longer.

v3's 7 x 1 latent channels and 3 x 32 SIREN (2.8 kMAC/pixel), starting from v3's weights, with the
objective of meta/recipes/image.py and Set5/Set14 held out for the validation curve. It is also the
control of meta/recipes/image_wide.py (same training, wider network). The shipped base is the
checkpoint at step 2,800 plus context tables refitted on its latents (meta/recipes/image_context.py;
commands in meta/README.md). Run from the repository root (each call resumes):
    inrcodec train --recipe meta/recipes/image_v4.py --data ../shared/data/images/train \
        --out meta/checkpoints/siren-image-v4
"""

from inrcodec.core.config import ModelConfig
from inrcodec.training.train import TrainConfig


def get_config() -> TrainConfig:
    return TrainConfig(
        name="siren-image-v4",
        modality="image",
        model=ModelConfig(spatial_dims=2, out_channels=3, channels=(1, 1, 1, 1, 1, 1, 1), hidden=32, depth=3),
        crop=128,
        batch=4,
        inner_steps=3,
        fit_steps=30,
        fit_lr=0.02,
        fit_weight=1.0,
        encoder_sample_fraction=0.0625,
        step_indices=(0, 0, 1),  # Two tasks in three at the unit step (q1-q4), one at 2^-1/2 (q5-q6).
        lr=3e-4,
        warmup=50,
        steps=8000,
        max_minutes=480.0,
        lam_min=3e-4,
        lam_max=4e-2,
        seed=4,
        init_from="meta/bases/siren-image-v3",
        holdout=("set5_subset", "set14_subset"),
        validate_every=100,
        checkpoint_every=50,
        log_every=10,
    )
