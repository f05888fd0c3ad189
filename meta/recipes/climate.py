"""Recipe of the shipped climate base network `siren-climate-v1` (near-surface temperature, K).

Every training field is regridded to the 46 x 90 global grid of the ERA5 benchmark; the SIREN also
sees each grid point on the unit sphere, so the base learns the climatology and the latents code
the departures from it. Run from the repository root:
    inrcodec train --recipe meta/recipes/climate.py --data ../shared/data/climate/train --out meta/bases/siren-climate-v1
"""

from inrcodec.config import ModelConfig
from inrcodec.train import TrainConfig


def get_config() -> TrainConfig:
    return TrainConfig(
        name="siren-climate-v1",
        modality="climate",
        # 7 latent levels (strides 1..64) plus the point on the sphere (x10) into a 3 x 64 SIREN.
        # A linear skip from the latents to the output carries smooth departures with fine precision.
        model=ModelConfig(spatial_dims=2, out_channels=1, channels=(1, 1, 1, 1, 1, 1, 1), hidden=64, depth=3,
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
        steps=3000,
        max_minutes=30.0,
        # A few tens of bits per 4,140-point field: rate weights far above the image ones.
        lam_min=1e-5,
        lam_max=0.2,
        quality_lambdas=(0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5),
        weight_deltas=False,  # Deltas of the weights cost more than a whole small field.
        seed=0,
        checkpoint_every=50,
        log_every=10,
    )
