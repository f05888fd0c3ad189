"""Recipe of `siren-audio-p1`: `siren-audio-v2` meta-trained on a perceptual distortion (issue 18, item 2).

Every task's error is weighted per short-time spectral bin by how audible it is (signals.masking:
the inverse of a masking threshold from the window's own spectrum) in the fitted-latent term and the
outer loss; the meta-learned steps descend the squared error, as in the encoder. Tasks use the latent steps of the perceptual ladder (1/8 and 2^-7/2:
unit steps collapse under the weighted error, meta/README.md). Run from the repository root (each
call resumes):
    inrcodec train --recipe meta/recipes/audio_perceptual.py --data ../shared/data/audio/train \
        --out meta/checkpoints/siren-audio-p1
The shipped copy, meta/bases/siren-audio-p1, is that export with the ladders chosen afterwards on
training clips (manifest "quality_lambdas", "quality_step_index" and "distortions"; meta/README.md).
"""

import dataclasses
from pathlib import Path

from inrcodec.training.train import TrainConfig, load_recipe


def get_config() -> TrainConfig:
    """v2's network and objective, started from v2, with weighted errors and the perceptual rate weights."""
    return dataclasses.replace(
        load_recipe(Path(__file__).with_name("audio.py")),
        name="siren-audio-p1",
        init_from="meta/bases/siren-audio-v2",
        distortion="perceptual",
        lr=5e-4,  # Half of v2's: the run starts from trained weights.
        warmup=50,
        steps=3000,
        max_minutes=85.0,
        lam_min=2e-5,  # The perceptual fit's useful rate weights at step 1/8 (6e-5 ... 1e-3, meta/README.md).
        lam_max=2e-3,
        step_indices=(6, 7),
        quality_lambdas=(),  # The ladder is chosen after training, on training clips.
        quality_step_index=(),
        seed=1,
        checkpoint_every=50,
    )
