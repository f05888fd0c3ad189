"""Recipe of the shipped climate base network `siren-climate-v2` (near-surface temperature, K).

Every training field is regridded to the 46 x 90 global grid of the ERA5 benchmark; the SIREN also
sees each grid point on the unit sphere, so the base learns the climatology and the latents code
the departures from it. Besides 7 latent levels (strides 1..64) there is one global level: 16
channels at stride 128, a single latent vector for a whole 46 x 90 field (COIN++'s global
modulations). Every task quantizes its latents with one of five steps (1 ... 1/4), so the base also
learns the fine steps of the high quality levels. (v1, without those two, is described by the
config in meta/bases/siren-climate-v1/record.json.) Run from the repository root:
    inrcodec train --recipe meta/recipes/climate.py --data ../shared/data/climate/train --out meta/bases/siren-climate-v2
"""

from inrcodec.core.config import ModelConfig
from inrcodec.training.train import TrainConfig


def get_config() -> TrainConfig:
    return TrainConfig(
        name="siren-climate-v2",
        modality="climate",
        # 7 latent levels (strides 1..64, 1 channel each), a global level (stride 128, 16 channels)
        # and the point on the sphere (x10), into a 3 x 64 SIREN with a linear skip from the latents.
        model=ModelConfig(spatial_dims=2, out_channels=1, channels=(1, 1, 1, 1, 1, 1, 1, 16), hidden=64, depth=3,
                          input_features=3, input_scale=10.0, linear_skip=True),
        grid=(46, 90),
        value_range=(202.66, 320.93),  # COIN++'s ERA5 2 m temperature range (K) -> [0, 1].
        batch=6,
        inner_steps=3,
        fit_steps=10,
        fit_lr=0.05,  # Larger Adam steps than images: the fields' latents span more steps.
        fit_weight=1.0,
        lr=1e-3,
        warmup=50,
        steps=1300,  # ~2.5-3.2 s per step on this machine: the cosine schedule ends within the budget.
        max_minutes=70.0,
        # A few tens of bits per 4,140-point field: rate weights far above the image ones.
        lam_min=1e-5,
        lam_max=0.2,
        quality_lambdas=(0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5),
        quality_step_index=(0, 0, 0, 1, 2, 3, 4, 4),  # Steps 1, ..., 1/4 (config.quant_step).
        step_indices=(0, 1, 2, 3, 4),
        weight_deltas=False,  # Deltas of the weights cost more than a whole small field.
        seed=0,
        checkpoint_every=50,
        log_every=10,
    )
