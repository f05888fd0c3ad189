"""Regenerates the test assets (run from the repo root: python tests/make_assets.py).

tiny-base: a small random (not meta-learned) image base, so unit tests never need the shipped one.
golden.inr: a 24x40 synthetic image encoded with tiny-base; tests/expected/golden.json keeps its
hashes. Regenerate only for a deliberate format change.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jax
import numpy as np

from inrcodec import bases, codec, model
from inrcodec.config import FitConfig, ModelConfig

HERE = Path(__file__).parent
TINY = ModelConfig(spatial_dims=2, out_channels=3, channels=(1, 1, 1, 1), hidden=8, depth=2)
GOLDEN_FIT = FitConfig(noise_steps=10, ste_steps=5)


def synthetic_image(h: int = 24, w: int = 40) -> np.ndarray:
    """A smooth colour gradient with a square: (h, w, 3) uint8."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([255 * x / (w - 1), 255 * y / (h - 1), 128 + 0 * x], axis=-1)
    img[h // 4 : h // 2, w // 4 : w // 2] = (200, 30, 60)
    return img.astype(np.uint8)


def main() -> None:
    params = model.init_base(jax.random.PRNGKey(0), TINY)
    base = bases.save_base(HERE / "assets" / "tiny-base", "tiny-test-base", "image", TINY, params, {"inner_steps": 3})
    result = codec.encode_array(synthetic_image(), base, quality=4, fit_cfg=GOLDEN_FIT)
    (HERE / "assets" / "golden.inr").write_bytes(result.data)
    expected = {
        "inr_sha256": hashlib.sha256(result.data).hexdigest(),
        "decoded_sha256": hashlib.sha256(result.reconstruction.tobytes()).hexdigest(),
        "bytes": len(result.data),
        "psnr": result.psnr,
    }
    (HERE / "expected" / "golden.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(json.dumps(expected))


if __name__ == "__main__":
    main()
