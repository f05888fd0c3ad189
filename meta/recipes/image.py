"""Recipe of the shipped image base network `siren-image-v1` (phase 2; see meta/README.md).

Phase 2 starts from phase 1 (meta/recipes/image_maml.py, output in runs/phase1) and adds, per
task, a 30-step Adam fit of the latents like the encoder's, with a first-order loss at the fitted
latents, so the base also learns the regime it is used in. Run from the repository root:
    inrcodec train --recipe meta/recipes/image.py --data ../shared/data/images/train --out meta/bases/siren-image-v1
"""

from inrcodec.core.config import ModelConfig
from inrcodec.training.train import TrainConfig


def get_config() -> TrainConfig:
    return TrainConfig(
        name="siren-image-v1",
        modality="image",
        # 7 latent levels (strides 1..64, one channel each) into a 3 x 32 SIREN: 2.8 kMAC/pixel.
        model=ModelConfig(spatial_dims=2, out_channels=3, channels=(1, 1, 1, 1, 1, 1, 1), hidden=32, depth=3),
        crop=128,
        batch=4,
        inner_steps=3,  # Second-order MAML term, as in phase 1.
        fit_steps=30,  # Plus a first-order term after 30 Adam steps (~2 s per outer step in all).
        fit_lr=0.02,
        fit_weight=1.0,
        lr=5e-4,
        warmup=20,
        steps=1500,
        max_minutes=55.0,  # Phase 1 (30 min) + phase 2 stay within the 2 h budget.
        lam_min=3e-4,
        lam_max=4e-2,
        seed=1,
        init_from="runs/phase1",
        checkpoint_every=50,
        log_every=10,
    )
