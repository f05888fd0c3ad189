"""Classical codecs as rate-matched baselines for `inrcodec eval`, one module per modality.

* `image`: JPEG, WebP, AVIF, JPEG 2000 (Pillow), JPEG XL (imagecodecs), x265 intra 4:4:4 (ffmpeg);
  rate in bits per pixel, metric PSNR-RGB.
* `audio`: MP3 (lameenc), Opus (ffmpeg libopus); rate in kbps, metrics PSNR and SNR.
* `climate`: SZ3 (pysz), ZFP (zfpy), absolute-error-bounded; rate in bits per 2-D field,
  metrics RMSE, max abs error, PSNR.

Each module has per-codec encode_*/decode_* functions, a `CODECS` registry, `available()` and
`match_rate(signal, ..., codec, target)`, which searches the codec's knob for the highest rate not
above the target and returns a `BaselineResult`. `available_codecs`, `encode_pillow`,
`decode_pillow` and `match_bpp` are the Pillow JPEG/WebP interface used by `inrcodec.evaluation.evaluate`.
Nothing here prints.
"""

from __future__ import annotations

from inrcodec.evaluation.baselines import audio, climate, image
from inrcodec.evaluation.baselines._common import BaselineResult, Codec
from inrcodec.evaluation.baselines.image import available_codecs, decode_pillow, encode_pillow, match_bpp

# The classical codecs of each modality, keyed by its plug-in's NAME.
BY_MODALITY = {"image": image, "audio": audio, "climate": climate}

MODALITIES = {"image": image, "audio": audio, "climate": climate}


def available(modality: str) -> dict[str, str | None]:
    """Which baselines of a modality can run here.

    Args:
        modality: "image", "audio" or "climate".

    Returns:
        {codec name: None if usable, else the reason (e.g. "ffmpeg not found on PATH")}.
    """
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {list(MODALITIES)}")
    return MODALITIES[modality].available()


__all__ = [
    "MODALITIES",
    "BaselineResult",
    "Codec",
    "audio",
    "available",
    "available_codecs",
    "climate",
    "decode_pillow",
    "encode_pillow",
    "image",
    "match_bpp",
]
