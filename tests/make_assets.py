"""Regenerates the test assets (run from the repo root: python tests/make_assets.py [image|audio|climate ...]).

tiny-base, tiny-audio-base, tiny-climate-base: small random (not meta-learned) bases, so unit tests
never need the shipped ones; tiny-context-base and tiny-context5-base: tiny-base with parametric
context tables (entropy models 4 and 5). golden.inr, golden-audio.inr, golden-climate.inr: synthetic signals
encoded with them; tests/expected/golden*.json keep their hashes, golden*.npy their decoded values,
exact.json their header fields and decoded integer symbols, machine.json the float fingerprint of the
machine that made them. Regenerate only for a deliberate format change. golden-climate-1.7.inr
(format 1.7, a bare 2-D field in the compact profile): `make_assets.py climate-compact`, and
golden-context5.inr (format 1.8, entropy model 5): `make_assets.py image-context5`, were made later,
possibly on another machine than the others (their records keep that machine's float fingerprint).
golden-audio-1.0.inr and golden-climate-1.0/1.1.inr are files of older format versions (kept, never regenerated), which must
keep decoding. golden-climate-bound.inr (format 1.5, error bound, no fit) and golden-climate-1.6.inr (the same
with cell bounds): `make_assets.py climate-bound`.

What is exact on every CPU: the file bytes, the header fields and the integer symbols the range
decoder gives (numpy and constriction, no floats). What is not: everything XLA computes in float32
(sin, matmuls, sums round differently in the last bit on other CPUs), i.e. the decoded values
(compared within a tolerance) and the encoder's fit (the re-encoded bytes equal the golden ones only
on a machine of the same float rounding, `float_fingerprint`).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path
from unittest import mock

import jax
import numpy as np

from inrcodec.core import bases, objective
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
# The golden audio file was made with the squared-error fit (before audio's perceptual default, session 13).
GOLDEN_OPTIONS = {"audio": {"distortion": "psnr"}}


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


def png_claiming(width: int, height: int) -> bytes:
    """A valid ~100-byte grey PNG whose header claims width x height (its one row of zeros is all the data)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey, no interlace.
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(width + 1)))
            + chunk(b"IEND", b""))


def tiny_bases() -> dict[str, bases.Base]:
    """Writes the three tiny bases (deterministic: same bytes, same ids every time)."""
    out = {}
    for name, modality, cfg, extra in (
        ("tiny-base", "image", TINY, {"inner_steps": 3}),
        ("tiny-audio-base", "audio", TINY_AUDIO, {"inner_steps": 3, "quality_lambdas": AUDIO_LAMBDAS}),
        ("tiny-climate-base", "climate", TINY_CLIMATE,
         {"inner_steps": 3, "weight_deltas": False, "value_range": [202.66, 320.93]}),
    ):
        params = objective.init_base(jax.random.PRNGKey(0), cfg)
        out[modality] = bases.save_base(HERE / "assets" / name, name.replace("-base", "-test-base"), modality, cfg,
                                        params, extra)
    out["image-context"] = bases.add_context_tables(out["image"], tiny_context_tables(TINY.levels), "tiny-context-test-base",
                                                    HERE / "assets" / "tiny-context-base", {"fitted_on": "nothing: parametric"})
    out["image-context5"] = tiny_context5_base(out["image"])
    return out


def tiny_context5_base(tiny: bases.Base) -> bases.Base:
    return bases.add_context_tables(tiny, tiny_context_tables(TINY.levels, 5), "tiny-context5-test-base",
                                    HERE / "assets" / "tiny-context5-base",
                                    {"entropy_model": 5, "fitted_on": "nothing: parametric"})


def tiny_context_tables(levels: int, model: int = 4) -> np.ndarray:
    """Context tables of a Laplace whose scale grows with the neighbours' and the coarser latent's
    magnitude buckets, and whose mean leans to the sign of left + top (deterministic, not fitted), for
    entropy model 4 or 5."""
    from inrcodec.bitstream import context_coder as cc

    x = np.arange(cc.ADAPTIVE_CONTEXTS if model == 5 else cc.CONTEXTS)
    sign, rest = x % cc.SIGNS - 1, x // cc.SIGNS
    coarse, neighbours = rest % (len(cc.COARSE_EDGES) + 1), rest // (len(cc.COARSE_EDGES) + 1)
    if model == 5:  # neighbours = near bucket * 7 + far bucket.
        near, far = np.divmod(neighbours, len(cc.FAR_EDGES) + 1)
        b = 0.3 + 0.3 * near + 0.15 * far + 0.2 * coarse
    else:
        b = 0.3 + 0.3 * neighbours + 0.2 * coarse
    values = np.arange(-cc.RANGE, cc.RANGE + 1)
    p = np.exp(-np.abs(values[None] - 0.5 * sign[:, None]) / b[:, None])
    tails = np.exp(-(cc.RANGE + 0.5) / b)
    rows = np.concatenate([p, tails[:, None], tails[:, None]], axis=1)
    return np.broadcast_to(cc.frequencies(rows), (levels, *rows.shape)).copy()


def decoded_bytes(reconstruction) -> bytes:
    """The bytes a golden hash covers: the array, the audio samples or the field's values."""
    if isinstance(reconstruction, audio_io.Audio):
        return reconstruction.samples.tobytes()
    if hasattr(reconstruction, "values") and not isinstance(reconstruction, np.ndarray):
        return np.asarray(reconstruction.values).tobytes()
    return reconstruction.tobytes()


def decoded_values(reconstruction) -> np.ndarray:
    """The decoded values a golden file is compared with, in their own dtype and shape: image pixels
    (uint8/uint16), audio samples (float32 in [-1, 1]) or field values (float64, NaN where missing)."""
    if isinstance(reconstruction, audio_io.Audio):
        return np.asarray(reconstruction.samples)
    if hasattr(reconstruction, "values") and not isinstance(reconstruction, np.ndarray):
        return np.asarray(reconstruction.values)
    return np.asarray(reconstruction)


def decode_with_symbols(data: bytes):
    """api.decode(data), and the integer symbols the range decoder gave on the way, in stream order
    (every channel's latent levels and weight deltas; stack differences where a level is predicted)."""
    from inrcodec import api
    from inrcodec.bitstream import context_coder, range_coder

    symbols: list[np.ndarray] = []

    def spy(real):
        def decode(*args, **kwargs):
            out = real(*args, **kwargs)
            symbols.extend(np.asarray(q) for q in out)
            return out
        return decode

    with mock.patch.object(range_coder, "decode", spy(range_coder.decode)), \
            mock.patch.object(context_coder, "decode", spy(context_coder.decode)):
        decoded = api.decode(data)
    if not symbols:
        raise AssertionError("the decoder no longer calls range_coder.decode or context_coder.decode: update decode_with_symbols")
    return decoded, symbols


def symbols_digest(symbols: list[np.ndarray]) -> dict:
    """Shapes and sha256 (over int32 little-endian) of decoded integer symbols: exact on every machine."""
    h = hashlib.sha256()
    for q in symbols:
        if q.dtype.kind not in "iu":
            raise AssertionError(f"range decoder gave {q.dtype} symbols, not integers")
        h.update(np.ascontiguousarray(q, "<i4").tobytes())
    return {"shapes": ["x".join(map(str, q.shape)) for q in symbols],
            "nonzero": int(sum(np.count_nonzero(q) for q in symbols)),
            "sha256": h.hexdigest()}


def header_fields(path: Path) -> dict:
    """`inrcodec info` of a file without its path: exact on every machine (no floats computed)."""
    from inrcodec import api

    return {k: v for k, v in api.info(path).items() if k != "file"}


def float_fingerprint() -> str:
    """sha256 of a fixed float32 computation with the operations of the encoder's fit (sin, exp, log,
    log1p, sqrt, small matmuls, sums, their gradients), compiled by XLA on this machine.

    Two machines with the same fingerprint round these operations identically (same CPU features, same
    XLA), so the encoder gives them the same bytes; a machine with another fingerprint may differ in the
    last bits of every float, which can move a latent across a rounding boundary.
    """
    import jax.numpy as jnp

    x = jnp.linspace(-3.0, 3.0, 4096, dtype=jnp.float32).reshape(1024, 4)
    w1 = 0.8 * jnp.cos(jnp.arange(32, dtype=jnp.float32)).reshape(4, 8)
    w2 = 0.3 * jnp.sin(0.7 * jnp.arange(24, dtype=jnp.float32)).reshape(8, 3)

    def loss(params, x):
        a, b = params
        h = jnp.sin(2.0 * (x @ a) + 0.1)
        y = h @ b + 0.5
        bits = -jnp.log2(jnp.exp(-jnp.abs(y) / 0.7) * (1.0 - jnp.exp(-1.0 / 0.7)) + 1e-9)
        return jnp.mean((y - jnp.tanh(x[:, :3])) ** 2) + 1e-3 * jnp.sum(jnp.log1p(bits))

    value, grads = jax.jit(jax.value_and_grad(loss))((w1, w2), x)
    adam = [g / (jnp.sqrt(g * g) + 1e-8) for g in grads]
    outs = [value, *grads, *adam, jax.jit(lambda v: jnp.cos(jnp.pi * v) ** 2 + jnp.exp(-v * v))(x)]
    return hashlib.sha256(b"".join(np.asarray(o, np.float32).tobytes() for o in outs)).hexdigest()


def machine_record() -> dict:
    """What tests/expected/machine.json keeps of the machine that made the golden files."""
    import jaxlib

    return {"float_fingerprint": float_fingerprint(), "machine": platform.machine(), "jax": jax.__version__,
            "jaxlib": jaxlib.__version__}


def bare_field():
    """One 2-D field of synthetic_field() as a bare named array (as read from an .npz): compact profile."""
    import xarray as xr

    return xr.DataArray(synthetic_field(times=1, missing=False).values[0], name="temperature")


def golden_inputs() -> dict:
    return {"image": synthetic_image(), "audio": synthetic_bursts(),
            "climate": climate_io.from_dataarray(synthetic_field()), "image-context": synthetic_image(),
            "climate-compact": climate_io.from_dataarray(bare_field()), "image-context5": synthetic_image()}


GOLDEN_FILES = {"image": "golden", "audio": "golden-audio", "climate": "golden-climate",
                "image-context": "golden-context", "climate-compact": "golden-climate-1.7",
                "image-context5": "golden-context5"}
FORMATS = {"image": image_format, "audio": audio_format, "climate": climate_format, "image-context": image_format,
           "climate-compact": climate_format, "image-context5": image_format}


BOUND_FILE, BOUND_OPTIONS = "golden-climate-bound", {"max_error": 0.05}  # Format 1.5, no fit (quality 0).
CELL_BOUNDS_FILE = "golden-climate-1.6"  # The same with lat_bnds and time_bnds in its template (format 1.6).
OLDER_FILES = ("golden-audio-1.0", "golden-climate-1.0", "golden-climate-1.1", "golden-climate-1.2")  # Never regenerated.
EXACT_JSON = HERE / "expected" / "exact.json"
MACHINE_JSON = HERE / "expected" / "machine.json"


def write_exact(stems: list[str]) -> None:
    """Records the header fields and decoded symbols of tests/assets/<stem>.inr in exact.json."""
    import os

    os.environ["INRCODEC_BASES"] = str(HERE / "assets")
    exact = json.loads(EXACT_JSON.read_text()) if EXACT_JSON.is_file() else {}
    for stem in stems:
        path = HERE / "assets" / f"{stem}.inr"
        data = path.read_bytes()
        exact[stem] = {"inr_sha256": hashlib.sha256(data).hexdigest(), "header": header_fields(path),
                       "symbols": symbols_digest(decode_with_symbols(data)[1])}
    EXACT_JSON.write_text(json.dumps(dict(sorted(exact.items())), indent=1) + "\n")


def write_decoded(stems: list[str]) -> None:
    """Rewrites tests/expected/<stem>.npy and the decoded_sha256 of <stem>.json where they exist."""
    import os

    from inrcodec import api

    os.environ["INRCODEC_BASES"] = str(HERE / "assets")
    for stem in stems:
        decoded = api.decode((HERE / "assets" / f"{stem}.inr").read_bytes())
        if (HERE / "expected" / f"{stem}.npy").is_file():
            np.save(HERE / "expected" / f"{stem}.npy", decoded_values(decoded.array))
        record = HERE / "expected" / f"{stem}.json"
        if record.is_file():
            expected = json.loads(record.read_text())
            expected["decoded_sha256"] = hashlib.sha256(decoded_bytes(decoded.array)).hexdigest()
            record.write_text(json.dumps(expected, indent=1) + "\n")


def cell_bounds_field():
    """golden_inputs()'s climate field with CF cell bounds: lat_bnds (lat, nv) and time_bnds (time, nv)."""
    import xarray as xr

    da = synthetic_field()
    lat, time = da["lat"].values, da["time"].values
    da["lat"].encoding["bounds"], da["time"].encoding["bounds"] = "lat_bnds", "time_bnds"
    da.encoding[climate_io.BOUNDS] = {
        "lat_bnds": xr.Variable(("lat", "nv"), np.stack([lat + 10.0, lat - 10.0], axis=1), {"units": "degrees_north"}),
        "time_bnds": xr.Variable(("time", "nv"), np.stack([time, time + 1], axis=1))}
    return climate_io.from_dataarray(da)


def bound_result(stem: str = BOUND_FILE):
    """golden_inputs()'s climate field (with cell bounds for CELL_BOUNDS_FILE) encoded with BOUND_OPTIONS
    by the tiny climate base (numpy only)."""
    import os

    from inrcodec.core.config import NO_FIT

    os.environ["INRCODEC_BASES"] = str(HERE / "assets")
    base = bases.load_base("tiny-climate-test-base")
    field = cell_bounds_field() if stem == CELL_BOUNDS_FILE else golden_inputs()["climate"]
    return climate_format.encode(field, base, NO_FIT, **BOUND_OPTIONS)


def write_bound(stems=(BOUND_FILE, CELL_BOUNDS_FILE)) -> None:
    """Writes golden-climate-bound.inr, golden-climate-1.6.inr and their records from the tiny climate base as it is."""
    for stem in stems:
        result = bound_result(stem)
        (HERE / "assets" / f"{stem}.inr").write_bytes(result.data)
        expected = {"inr_sha256": hashlib.sha256(result.data).hexdigest(),
                    "decoded_sha256": hashlib.sha256(decoded_bytes(result.reconstruction)).hexdigest(),
                    "bytes": len(result.data), "psnr": result.psnr}
        (HERE / "expected" / f"{stem}.json").write_text(json.dumps(expected, indent=1) + "\n")
        np.save(HERE / "expected" / f"{stem}.npy", decoded_values(result.reconstruction))
    write_exact(list(stems))


def main(modalities: list[str]) -> None:
    """Regenerates the tiny bases and the golden files of `modalities` (all of them when empty).

    `python tests/make_assets.py exact` only rewrites exact.json from the files as they are (after a
    deliberate change of what `inrcodec info` shows; the symbols must come out the same).
    `python tests/make_assets.py decoded` only rewrites the decoded values (.npy) and their hashes
    from the files as they are, after a deliberate change of the decoder's float arithmetic.
    """
    if modalities == ["exact"]:
        write_exact([*GOLDEN_FILES.values(), *OLDER_FILES, BOUND_FILE, CELL_BOUNDS_FILE])
        return
    if modalities == ["decoded"]:
        write_decoded([*GOLDEN_FILES.values(), *OLDER_FILES, BOUND_FILE, CELL_BOUNDS_FILE])
        return
    if modalities == ["climate-bound"]:  # The error-bounded files only: no tiny base is remade.
        write_bound()
        return
    if modalities == ["climate-compact"]:  # Made after the others, with the tiny climate base as it is.
        os.environ["INRCODEC_BASES"] = str(HERE / "assets")
        write_golden("climate-compact", bases.load_base("tiny-climate-test-base"), record_machine=True)
        write_exact([GOLDEN_FILES["climate-compact"]])
        return
    if modalities == ["image-context5"]:  # Made after the others, from the tiny image base as it is.
        os.environ["INRCODEC_BASES"] = str(HERE / "assets")
        write_golden("image-context5", tiny_context5_base(bases.load_base("tiny-test-base")), record_machine=True)
        write_exact([GOLDEN_FILES["image-context5"]])
        return
    made = tiny_bases()
    made["climate-compact"] = made["climate"]
    stems = [s for s in OLDER_FILES if not EXACT_JSON.is_file() or s not in json.loads(EXACT_JSON.read_text())]
    for modality in golden_inputs():
        if modalities and modality not in modalities:
            continue
        stems.append(write_golden(modality, made[modality]))
    write_exact(stems)
    MACHINE_JSON.write_text(json.dumps(machine_record(), indent=1) + "\n")


def write_golden(modality: str, base: bases.Base, record_machine: bool = False) -> str:
    """Encodes golden_inputs()[modality] at quality 4; writes tests/assets/<stem>.inr, expected/<stem>.json
    (with `record_machine`, the float fingerprint of this machine, when it is not machine.json's) and
    expected/<stem>.npy. Returns the stem."""
    result = FORMATS[modality].encode(golden_inputs()[modality], base, 4, GOLDEN_FIT, **GOLDEN_OPTIONS.get(modality, {}))
    stem = GOLDEN_FILES[modality]
    (HERE / "assets" / f"{stem}.inr").write_bytes(result.data)
    expected = {
        "inr_sha256": hashlib.sha256(result.data).hexdigest(),
        "decoded_sha256": hashlib.sha256(decoded_bytes(result.reconstruction)).hexdigest(),
        "bytes": len(result.data),
        "psnr": result.psnr,
        **({"float_fingerprint": float_fingerprint()} if record_machine else {}),
    }
    (HERE / "expected" / f"{stem}.json").write_text(json.dumps(expected, indent=1) + "\n")
    # Decoded values: the tests compare them within a tolerance (XLA's float rounding varies by CPU).
    np.save(HERE / "expected" / f"{stem}.npy", decoded_values(result.reconstruction))
    print(stem, json.dumps(expected))
    return stem


if __name__ == "__main__":
    main(sys.argv[1:])
