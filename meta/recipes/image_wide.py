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

from inrcodec.core.config import ModelConfig
from inrcodec.training.train import TrainConfig


def get_config() -> TrainConfig:
    return TrainConfig(
        name="siren-image-wide",
        modality="image",
        model=ModelConfig(spatial_dims=2, out_channels=3, channels=(1, 2, 2, 2, 1, 1, 1), hidden=48, depth=3),
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
