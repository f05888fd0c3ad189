"""Perceptual weights of an audio error (signals.masking) and the spectral error that applies them
(core.objective.spectral_error)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inrcodec.core import latents, objective, siren
from inrcodec.core.config import ModelConfig
from inrcodec.signals import masking

AUDIO = ModelConfig(spatial_dims=1, out_channels=1, channels=(1, 1, 1), hidden=8, depth=2, linear_skip=True)


def _tone_in_silence(rate=16000, seconds=0.5):
    t = np.arange(int(rate * seconds)) / rate
    x = np.where(t < seconds / 2, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0)
    return x.astype(np.float32)


def test_frames_cover_every_sample_four_times_with_a_constant_window_sum():
    frame = masking.frame_length(16000)
    assert frame == 512 and masking.frame_length(44100) == 1024 and masking.frame_length(8000) == 256
    x = np.ones(1000, np.float32)
    squares = np.zeros(1000)
    for i, row in enumerate(masking.frames(x, frame) ** 2):
        start = i * (frame // 4) - (frame - frame // 4)
        for j, v in enumerate(row):
            if 0 <= start + j < 1000:
                squares[start + j] += v
    np.testing.assert_allclose(squares, masking.WINDOW_SQUARED_SUM, rtol=1e-5)


def test_weights_are_largest_where_the_signal_is_quiet_and_coding_nothing_costs_its_mse():
    x = _tone_in_silence()
    w = masking.band_weights(x, 16000)
    frames = masking.frame_count(len(x), 512)
    assert w.shape == (frames, 257)
    loud, quiet = w[: frames // 4], w[-frames // 4 :]
    assert quiet.mean() > 30 * loud[:, 14].mean()  # 440 Hz is bin 14 at 31.25 Hz a bin.
    assert loud[:, 14].mean() < loud[:, 100].mean()  # Far from the tone, less masking.
    power = np.abs(np.fft.rfft(masking.frames(x - x.mean(), 512), axis=-1)) ** 2
    mse = np.mean((x - x.mean()) ** 2)
    assert (w * power).sum() / (512 * 1.5 * len(x)) == pytest.approx(mse, rel=1e-4)
    flat = masking.band_weights(x, 16000, exponent=0.0)
    np.testing.assert_allclose(flat, np.broadcast_to(masking.bin_multiplicity(512), flat.shape), rtol=1e-5)


def _signal_and_mods(samples=3000, seed=0):
    rng = np.random.default_rng(seed)
    base = objective.init_base(jax.random.PRNGKey(seed), AUDIO)
    mods = {"latents": [jnp.asarray(rng.normal(size=s), jnp.float32) for s in latents.grid_shapes((samples,), AUDIO)],
            "log_scale": base["log_scale"]}
    values = (0.5 + 0.2 * np.sin(np.arange(samples) / 7.0) + 0.05 * rng.normal(size=samples)).astype(np.float32)
    return base, mods, values


def test_with_flat_weights_the_spectral_error_is_the_mse_and_a_run_of_frames_estimates_it():
    base, mods, values = _signal_and_mods()
    signal = objective.make_signal(values[:, None])
    flat = dict(signal, band_weights=jnp.asarray(masking.band_weights(values, 8000, exponent=0.0)))
    key = jax.random.PRNGKey(3)
    _, (mse, bits) = objective.rd_loss(base["net"], mods, signal, 0.0, key, AUDIO, "round")
    _, (spectral, bits2) = objective.rd_loss(base["net"], mods, flat, 0.0, key, AUDIO, "round")
    assert float(spectral) == pytest.approx(float(mse), rel=1e-4) and float(bits2) == float(bits)
    run = jax.jit(lambda k: objective.rd_loss(base["net"], mods, flat, 0.0, k, AUDIO, "round", 600)[1][0])
    runs = [float(run(k)) for k in jax.random.split(key, 40)]
    assert len(set(runs)) > 10 and np.mean(runs) == pytest.approx(float(mse), rel=0.1)
    # A signal shorter than a hop: "every sample" is every frame, not one random frame.
    short = dict(objective.make_signal(values[:100, None]), band_weights=jnp.asarray(
        masking.band_weights(values[:100], 8000, exponent=0.0)))
    short_mods = {**mods, "latents": [y[: s[0]] for y, s in zip(mods["latents"], latents.grid_shapes((100,), AUDIO))]}
    every = [float(objective.rd_loss(base["net"], short_mods, short, 0.0, k, AUDIO, "round", n)[1][0])
             for k, n in zip(jax.random.split(key, 3), (None, 100, 1024))]
    assert every[0] == every[1] == every[2]


def test_the_spectral_error_counts_quiet_bins_more():
    """The same error costs more where the signal is silent than under loud broadband sound."""
    x = np.zeros(4000, np.float32)
    x[:2000] = 0.3 * np.random.default_rng(1).normal(size=2000)
    w = jnp.asarray(masking.band_weights(x, 8000))
    unit = (x + 1) / 2
    cfg = ModelConfig(spatial_dims=1, out_channels=1, channels=(1,), hidden=4, depth=1, linear_skip=True)
    net = siren.init(jax.random.PRNGKey(0), cfg)
    net = jax.tree_util.tree_map(jnp.zeros_like, net)
    net["skip"] = jnp.ones_like(net["skip"])
    # Output: 0.5 + the latent.
    half = len(x) // 2
    noise = 0.01 * np.random.default_rng(2).normal(size=half).astype(np.float32)
    signal = {"values": jnp.asarray(unit)[:, None], "band_weights": w}
    errors = []
    for where in (slice(0, half), slice(half, None)):
        latent = (unit - 0.5).copy()
        latent[where] += noise
        errors.append(float(objective.spectral_error(net, [jnp.asarray(latent)[:, None]], signal, cfg,
                                                     jax.random.PRNGKey(0))))
    assert errors[1] > 10 * errors[0]


def test_audio_encodes_perceptually_by_default_and_psnr_on_request(inr_bases):
    """The two distortions give different files, each deterministic, each decoding to the encoder's
    reconstruction; the option is refused for other modalities and for unknown names."""
    from inrcodec import api
    from inrcodec.errors import InputError
    from make_assets import synthetic_audio, synthetic_image

    from conftest import AUDIO_FRAMES, FAST_FIT_STEPS

    audio = synthetic_audio(AUDIO_FRAMES, 1, 16000)
    encode = lambda **kw: api.encode(audio, base="tiny-audio-test-base", quality=4, fit_steps=int(FAST_FIT_STEPS), **kw)
    perceptual, psnr = encode(), encode(distortion="psnr")
    assert perceptual.data != psnr.data and encode(distortion="perceptual").data == perceptual.data
    for result in (perceptual, psnr):
        np.testing.assert_array_equal(api.decode(result.data).array.samples, result.reconstruction.samples)
    with pytest.raises(InputError, match="one of perceptual, psnr"):
        encode(distortion="loud")
    with pytest.raises(InputError, match="--distortion applies to audio"):
        api.encode(synthetic_image(16, 16), base="tiny-test-base", distortion="psnr")


@pytest.mark.slow  # Compiles three fits.
def test_only_the_last_weighted_steps_see_the_band_weights(inr_bases):
    """FitConfig.weighted_steps: with 0, a signal's band weights change nothing (the squared error of the
    sample subset throughout); with some or all steps weighted, the fit differs."""
    from inrcodec import codec
    from inrcodec.core import bases, encoder
    from inrcodec.core.config import FitConfig
    from make_assets import synthetic_audio

    base = bases.load_base("tiny-audio-test-base")
    x = (synthetic_audio(3000, 1, 16000).samples[:, 0] + 1) / 2
    plain = {"values": x[None, :, None].astype(np.float32)}
    weighted = {**plain, "band_weights": masking.band_weights(x, 16000)[None]}
    keys = np.asarray(jax.random.PRNGKey(0))[None]

    def fit(signals, steps):
        problem = codec.problem(base, 4, False, FitConfig())[0]
        mods = encoder.fit_signals(problem, signals, keys, FitConfig(noise_steps=6, ste_steps=4, weighted_steps=steps))
        return np.concatenate([np.ravel(y) for y in mods["latents"]])

    reference = fit(plain, -1)
    np.testing.assert_array_equal(fit(weighted, 0), reference)
    assert not np.array_equal(fit(weighted, 4), reference) and not np.array_equal(fit(weighted, -1), fit(weighted, 4))
