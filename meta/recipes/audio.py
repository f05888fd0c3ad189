"""Recipe of the shipped audio base network `siren-audio-v2` (speech, mono; see meta/README.md).

Run from the repository root:
    inrcodec train --recipe meta/recipes/audio.py --data ../shared/data/audio/train --out meta/bases/siren-audio-v2

v2 is v1's run carried on to the end of its schedule: `siren-audio-v1` is this recipe stopped by a
30-minute budget at step 989; v2 resumed from v1's checkpoint (copied into the output directory) with
the 120-minute budget below. Batches and keys depend only on the step, so this equals one long run.
"""

from inrcodec.core.config import ModelConfig
from inrcodec.training.train import TrainConfig


def get_config() -> TrainConfig:
    return TrainConfig(
        name="siren-audio-v2",
        modality="audio",
        # 8 latent levels over time (strides 1..128; 2 channels at strides 2..8) into a 3 x 32 SIREN.
        # A linear skip from the latents to the output carries the waveform with fine precision.
        model=ModelConfig(spatial_dims=1, out_channels=1, channels=(1, 2, 2, 2, 1, 1, 1, 1), hidden=32, depth=3,
                          linear_skip=True),
        crop=4096,  # Window of 4096 samples (0.26 s at 16 kHz) per task.
        batch=8,
        inner_steps=3,
        fit_steps=10,  # First-order term after 10 Adam steps, as for images (30 there).
        fit_lr=0.02,
        # The encoder keeps the default 1/8 of the samples per step. Half of them (measured): +0.15 dB
        # BD-PSNR (-1.3 % BD-rate) on 4 training clips of 4 corpora with this base at q3-q5, neutral with
        # v1 on the 3 test clips (+0.4 % BD-rate), for 2-2.4x the encode time: not worth it.
        fit_weight=1.0,
        lr=1e-3,
        warmup=50,
        steps=3000,
        max_minutes=120.0,  # Whole run, v1's 30 minutes included.
        # Rates of ~0.3-4 bits per sample (5-64 kbps at 16 kHz) need smaller rate weights than images.
        lam_min=3e-7,
        lam_max=6e-4,
        # The ladder: unit latent steps up to q3, then step 1/8 (index 6) with larger rate weights up to
        # q6, then finer steps (2^-7/2, 2^-9/2) with small ones to reach ~64 kbps. Chosen on 6 training
        # clips (benchmarks/quality_ladder.py, results/ladder/siren-audio-v2.json and -top.json): above
        # ~15 kbps a fine step with a large lambda beats a coarse step with a small one by ~1-2.5 dB at
        # equal rate (the old q4-q8, steps 0,1,2,3,3 at lambda 2.5e-5 ... 6e-7, lay 0.3-3 dB below);
        # below it, unit steps are as good or better; above ~45 kbps step 1/8 saturates (lambda 6e-6:
        # 41 kbps, 50.4 dB) and the finer steps take over (step 2^-9/2, lambda 2.5e-6: 66 kbps, 56.0 dB).
        quality_lambdas=(4e-4, 1.5e-4, 6e-5, 1.2e-4, 6e-5, 2.5e-5, 6e-6, 2.5e-6),
        quality_step_index=(0, 0, 0, 6, 6, 6, 7, 9),
        weight_deltas=True,
        seed=0,
        checkpoint_every=50,
        log_every=10,
    )
