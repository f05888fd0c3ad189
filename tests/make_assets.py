"""Regenerates the test assets (run from the repo root: python tests/make_assets.py [image|audio|climate ...]).

tiny-base, tiny-audio-base, tiny-climate-base: small random (not meta-learned) bases, so unit tests
never need the shipped ones. golden.inr, golden-audio.inr, golden-climate.inr: synthetic signals
encoded with them; tests/expected/golden*.json keep their hashes. Regenerate only for a deliberate
format change. golden-audio-1.0.inr and golden-climate-1.0/1.1.inr are files of older format versions
(kept, never regenerated), which must keep decoding.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import jax
import numpy as np

from inrcodec.core import bases, model
from inrcodec.core.config import FitConfig, ModelConfig
from inrcodec.modalities import audio as audio_format
from inrcodec.modalities import climate as climate_format
from inrcodec.modalities import image as image_format
from inrcodec.signals import audio as audio_io
from inrcodec.signals import climate as climate_io

HERE = Path(__file__).parent
TINY = ModelConfig(spatial_dims=2, out_channels=3, channels=(1, 1, 1, 1), hidden=8, depth=2)
TINY_AUDIO = ModelConfig(spatial_dims=1, out_channels=1, channels=(1, 1, 1, 1, 1), hidden=8, depth=2)
TINY_CLIMATE = ModelConfig(spatial_dims=2, out_channels=1, channels=(1, 1, 1), hidden=8, depth=2, input_features=3,
                           input_scale=2.0)
AUDIO_LAMBDAS = {str(q): 1e-3 / 2 ** q for q in range(1, 9)}
GOLDEN_FIT = FitConfig(noise_steps=10, ste_steps=5)


def synthetic_audio(frames: int = 2000, channels: int = 2, rate: int = 16000) -> audio_io.Audio:
    """A decaying chord, different per channel: float32 (frames, channels) in [-1, 1], PCM_16 WAV."""
    t = np.arange(frames) / rate
    cols = [0.5 * np.exp(-3 * t) * np.sin(2 * np.pi * (220 * (c + 1)) * t + c) for c in range(channels)]
    samples = np.round(np.stack(cols, axis=1) * 32767) / 32767
    return audio_io.Audio(samples.astype(np.float32), rate, "PCM_16", "WAV")


def synthetic_bursts(frames: int = 6000, channels: int = 2, rate: int = 16000) -> audio_io.Audio:
    """`synthetic_audio` switched on and off every 750 frames, like speech and pauses."""
    audio = synthetic_audio(frames, channels, rate)
    gate = (np.arange(frames) // 750 % 2 == 0)[:, None]
    return audio_io.Audio((audio.samples * gate).astype(np.float32), rate, "PCM_16", "WAV")


def synthetic_field(times: int = 2, ny: int = 9, nx: int = 16, missing: bool = True):
    """An xarray temperature field (time, lat, lon) in K on a global grid, NaN over a 'continent'."""
    import xarray as xr

    lat = np.linspace(80.0, -80.0, ny)
    lon = np.arange(nx) * (360.0 / nx)
    base = 288.0 - 40.0 * np.sin(np.deg2rad(lat))[:, None] ** 2 + 3.0 * np.cos(np.deg2rad(lon))[None, :]
    values = np.stack([base + 2.0 * k for k in range(times)])
    if missing:
        values[:, 2:4, 3:6] = np.nan
    return xr.DataArray(values, dims=("time", "lat", "lon"),
                        coords={"time": np.arange(times, dtype=np.int64), "lat": lat, "lon": lon},
                        name="t2m", attrs={"units": "K", "long_name": "2 metre temperature"})


def synthetic_image(h: int = 24, w: int = 40) -> np.ndarray:
    """A smooth colour gradient with a square: (h, w, 3) uint8."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([255 * x / (w - 1), 255 * y / (h - 1), 128 + 0 * x], axis=-1)
    img[h // 4 : h // 2, w // 4 : w // 2] = (200, 30, 60)
    return img.astype(np.uint8)


def tiny_bases() -> dict[str, bases.Base]:
    """Writes the three tiny bases (deterministic: same bytes, same ids every time)."""
    out = {}
    for name, modality, cfg, extra in (
        ("tiny-base", "image", TINY, {"inner_steps": 3}),
        ("tiny-audio-base", "audio", TINY_AUDIO, {"inner_steps": 3, "quality_lambdas": AUDIO_LAMBDAS}),
        ("tiny-climate-base", "climate", TINY_CLIMATE,
         {"inner_steps": 3, "weight_deltas": False, "value_range": [202.66, 320.93]}),
    ):
        params = model.init_base(jax.random.PRNGKey(0), cfg)
        out[modality] = bases.save_base(HERE / "assets" / name, name.replace("-base", "-test-base"), modality, cfg,
                                        params, extra)
    return out


def decoded_bytes(reconstruction) -> bytes:
    """The bytes a golden hash covers: the array, the audio samples or the field's values."""
    if isinstance(reconstruction, audio_io.Audio):
        return reconstruction.samples.tobytes()
    if hasattr(reconstruction, "values") and not isinstance(reconstruction, np.ndarray):
        return np.asarray(reconstruction.values).tobytes()
    return reconstruction.tobytes()


def decoded_values(reconstruction) -> np.ndarray:
    """The decoded float values a golden file is compared with (audio samples or field values)."""
    return np.frombuffer(decoded_bytes(reconstruction), np.float32)


def golden_inputs() -> dict:
    return {"image": synthetic_image(), "audio": synthetic_bursts(),
            "climate": climate_io.from_dataarray(synthetic_field())}


GOLDEN_FILES = {"image": "golden", "audio": "golden-audio", "climate": "golden-climate"}
FORMATS = {"image": image_format, "audio": audio_format, "climate": climate_format}


def main(modalities: list[str]) -> None:
    """Regenerates the tiny bases and the golden files of `modalities` (all of them when empty)."""
    made = tiny_bases()
    for modality, signal in golden_inputs().items():
        if modalities and modality not in modalities:
            continue
        result = FORMATS[modality].encode(signal, made[modality], 4, GOLDEN_FIT)
        stem = GOLDEN_FILES[modality]
        (HERE / "assets" / f"{stem}.inr").write_bytes(result.data)
        expected = {
            "inr_sha256": hashlib.sha256(result.data).hexdigest(),
            "decoded_sha256": hashlib.sha256(decoded_bytes(result.reconstruction)).hexdigest(),
            "bytes": len(result.data),
            "psnr": result.psnr,
        }
        (HERE / "expected" / f"{stem}.json").write_text(json.dumps(expected, indent=1) + "\n")
        if modality != "image":  # Float outputs: the test compares values (XLA's float rounding varies by CPU).
            np.save(HERE / "expected" / f"{stem}.npy", decoded_values(result.reconstruction))
        print(stem, json.dumps(expected))


if __name__ == "__main__":
    main(sys.argv[1:])
