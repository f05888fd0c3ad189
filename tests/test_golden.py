"""Golden-file tests: tests/assets/golden*.inr (made by tests/make_assets.py) must keep decoding to
the same symbols and values, and re-encoding the same signals must keep producing the same bytes.

What each check may expect on another CPU (XLA rounds sin, matmuls and sums differently in the last
bit from one CPU to another):
- exact everywhere: the files' bytes, their header fields and the integer symbols the range decoder
  gives (numpy and constriction: no floats are involved before the symbols);
- close everywhere: the decoded values, which the SIREN computes in float32 from those symbols. They
  agree within UNIT_ATOL in the coded [0, 1] range, so an 8- or 16-bit output moves by at most one
  step, and only where a value sits that close to a rounding boundary;
- exact on a machine of the same float rounding as the one that made the assets (the same
  `make_assets.float_fingerprint`, tests/expected/machine.json): the re-encoded bytes. Elsewhere the
  encoder's fit may move a latent across a rounding boundary; there the re-encoding is checked for
  determinism, its fit-independent header fields, its size and its PSNR instead.

If one of these fails, the bitstream, the decoder or the encoder changed: bump the format version if
needed and regenerate the assets deliberately (python tests/make_assets.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inrcodec import api
from inrcodec.core import bases
from make_assets import (
    BOUND_FILE,
    CELL_BOUNDS_FILE,
    FORMATS,
    GOLDEN_FILES,
    GOLDEN_FIT,
    GOLDEN_OPTIONS,
    decode_with_symbols,
    decoded_bytes,
    decoded_values,
    float_fingerprint,
    bound_result,
    golden_inputs,
    header_fields,
    symbols_digest,
)

pytestmark = pytest.mark.usefixtures("inr_bases")

TESTS_DIR = Path(__file__).resolve().parent
ASSETS = TESTS_DIR / "assets"
EXPECTED = TESTS_DIR / "expected"
EXACT = json.loads((EXPECTED / "exact.json").read_text())
MACHINE = json.loads((EXPECTED / "machine.json").read_text())
TINY_BASES = {"image": "tiny-test-base", "audio": "tiny-audio-test-base", "climate": "tiny-climate-test-base",
              "image-context": "tiny-context-test-base", "climate-compact": "tiny-climate-test-base",
              "image-context5": "tiny-context5-test-base"}

# The golden files and the older files kept beside them: their format version and the decoded values
# they are compared with. golden-climate-1.2.inr is golden-climate.inr as the encoder wrote it before
# the one vmapped fit (other noise keys); golden-climate-1.0/1.1.inr hold its latents in older formats.
FORMAT = {"golden": "1.0", "golden-context": "1.4", "golden-audio": "1.3", "golden-climate": "1.2", "golden-audio-1.0": "1.0",
          "golden-climate-1.0": "1.0", "golden-climate-1.1": "1.1", "golden-climate-1.2": "1.2",
          "golden-climate-bound": "1.5", "golden-climate-1.6": "1.6", "golden-climate-1.7": "1.7",
          "golden-context5": "1.8"}
VALUES = {"golden-climate-1.0": "golden-climate-1.2", "golden-climate-1.1": "golden-climate-1.2"}

# Decoded values may differ from the asset machine's by this much in the coded [0, 1] range: far above
# float32 rounding (2^-24 relative; other CPUs differ by ~1e-7 here), a quarter of a 16-bit output step.
UNIT_ATOL = 2.0**-18
MAX_CHANGED_PIXELS = 0.01  # Integer outputs: at most 1 % of the values one step off.


def _json(stem: str) -> dict:
    return json.loads((EXPECTED / f"{stem}.json").read_text())


def assert_values_close(got: np.ndarray, want: np.ndarray, info: dict) -> None:
    """Decoded values as close as float rounding on another CPU allows (see UNIT_ATOL); `info` is the
    file's header fields.

    Images (integers): every value within one output step, few values off at all. Audio samples (in
    [-1, 1], twice the coded range): within 2 * UNIT_ATOL. Climate fields: within UNIT_ATOL of the
    header's value range, and missing values exactly where they were.
    """
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    if info["modality"] == "image":
        diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
        assert diff.max() <= 1, f"a decoded value moved by {diff.max()} output steps"
        assert np.mean(diff != 0) <= MAX_CHANGED_PIXELS, f"{np.mean(diff != 0):.1%} of the decoded values changed"
        return
    if info["modality"] == "audio":
        scale = 2.0
    else:
        lo, hi = info["value_range"]
        scale = hi - lo
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=0, atol=scale * UNIT_ATOL)


@pytest.fixture(scope="module")
def same_float_rounding() -> bool:
    """Whether XLA rounds on this machine as on the one that made the assets (machine.json)."""
    return float_fingerprint() == MACHINE["float_fingerprint"]


@pytest.mark.parametrize("stem", list(FORMAT))
def test_golden_files_decode_to_the_same_symbols_and_values(stem):
    path = ASSETS / f"{stem}.inr"
    data = path.read_bytes()
    exact = EXACT[stem]
    assert hashlib.sha256(data).hexdigest() == exact["inr_sha256"], f"{stem}.inr itself was changed"
    if (EXPECTED / f"{stem}.json").is_file():
        assert exact["inr_sha256"] == _json(stem)["inr_sha256"]
    info = header_fields(path)
    assert info["format"] == FORMAT[stem]
    assert {k: info.get(k) for k in exact["header"]} == exact["header"]  # Parsed the same way.
    decoded, symbols = decode_with_symbols(data)
    assert symbols_digest(symbols) == exact["symbols"]  # Bit-exact on every machine.
    want = np.load(EXPECTED / f"{VALUES.get(stem, stem)}.npy", allow_pickle=False)
    assert_values_close(decoded_values(decoded.array), want, info)


def test_the_audio_file_of_format_1_0_has_no_local_scales():
    """golden-audio-1.0.inr (a chord, entropy model 1) was written before local scales (1.3)."""
    assert "local_scale_levels" not in api.info(ASSETS / "golden-audio-1.0.inr")
    assert api.info(ASSETS / "golden-audio.inr")["local_scale_levels"]


@pytest.mark.parametrize("stem", ["golden-context", "golden-context5"])
def test_context_coded_symbols_do_not_depend_on_the_network_floats(stem):
    """Entropy models 4 and 5 form their contexts (and model 5 its adapted rows) from decoded integers
    only: a network whose every weight is off by a relative 1e-5 (far more than any CPU's rounding)
    decodes golden-context.inr and golden-context5.inr to the same symbols, and to values within one
    output step."""
    from unittest import mock

    from inrcodec import decoder
    from inrcodec.core import bases

    data = (ASSETS / f"{stem}.inr").read_bytes()
    decoded, symbols = decode_with_symbols(data)
    real = decoder.network

    def perturbed(*args, **kwargs):
        net = real(*args, **kwargs)
        moved = {path: np.asarray(w) * np.float32(1 + 1e-5) for path, w in bases.leaves_with_paths(net)}
        return bases.unflatten(moved, {path: w.shape for path, w in bases.leaves_with_paths(net)})

    with mock.patch.object(decoder, "network", perturbed):
        moved, moved_symbols = decode_with_symbols(data)
    assert symbols_digest(moved_symbols) == symbols_digest(symbols) == EXACT[stem]["symbols"]
    assert np.abs(moved.array.astype(int) - decoded.array.astype(int)).max() <= 1


@pytest.mark.parametrize("modality", ["image", "image-context", "audio", "climate", "climate-compact", "image-context5"])
def test_reencoding_reproduces_golden_bytes(modality, same_float_rounding, tmp_path):
    stem = GOLDEN_FILES[modality]
    expected = _json(stem)
    if "float_fingerprint" in expected:  # Made on another machine than the other golden files.
        same_float_rounding = float_fingerprint() == expected["float_fingerprint"]
    golden = (ASSETS / f"{stem}.inr").read_bytes()
    base = bases.load_base(TINY_BASES[modality])
    signal = golden_inputs()[modality]
    options = GOLDEN_OPTIONS.get(modality, {})
    result = FORMATS[modality].encode(signal, base, 4, GOLDEN_FIT, **options)
    # On any machine, the decoder gives exactly the encoder's reconstruction.
    np.testing.assert_array_equal(decoded_values(api.decode(result.data).array), decoded_values(result.reconstruction))
    if same_float_rounding:
        assert len(result.data) == expected["bytes"]
        assert hashlib.sha256(result.data).hexdigest() == expected["inr_sha256"]
        assert result.data == golden
        assert hashlib.sha256(decoded_bytes(result.reconstruction)).hexdigest() == expected["decoded_sha256"]
        return
    # Another float rounding (XLA/CPU): the fit may end a latent on the other side of a rounding
    # boundary, so the bytes may differ. The encoder must still be deterministic here, write the same
    # header fields where they do not depend on the fit, and code as well as on the asset machine.
    assert FORMATS[modality].encode(signal, base, 4, GOLDEN_FIT, **options).data == result.data
    (tmp_path / "re.inr").write_bytes(result.data)
    fit_dependent = {"bytes", "payload_bytes", "scale_indices", "bpp", "kbps", "bits_per_field",
                     "local_scale_levels", "stack_predicted_levels"}
    info = header_fields(tmp_path / "re.inr")
    assert {k: info.get(k) for k in EXACT[stem]["header"] if k not in fit_dependent} == \
        {k: v for k, v in EXACT[stem]["header"].items() if k not in fit_dependent}
    assert abs(len(result.data) - expected["bytes"]) <= 0.1 * expected["bytes"]
    assert result.psnr == pytest.approx(expected["psnr"], abs=0.5)


@pytest.mark.parametrize("stem", [BOUND_FILE, CELL_BOUNDS_FILE])
def test_reencoding_the_error_bounded_file(same_float_rounding, stem):
    """golden-climate-bound.inr and golden-climate-1.6.inr (no fit: numpy float64 only) come back byte for
    byte where floats round as on the asset machine; elsewhere a residual may land on the other side of
    a rounding boundary, so the encoder is checked for determinism, size and the bound instead."""
    expected = _json(stem)
    result = bound_result(stem)
    field = golden_inputs()["climate"]
    error = np.abs(decoded_values(api.decode(result.data).array) - field.values)[field.valid]
    assert error.max() <= 0.05
    if same_float_rounding:
        assert result.data == (ASSETS / f"{stem}.inr").read_bytes()
        return
    assert bound_result(stem).data == result.data
    assert abs(len(result.data) - expected["bytes"]) <= 0.1 * expected["bytes"]


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_older_climate_files_still_decode_to_the_same_field(version):
    """golden-climate-1.0.inr and -1.1.inr are golden-climate-1.2.inr as formats 1.0 (template without
    the preset dictionary) and 1.1 (latents not stack-predicted) wrote it: same base, same latents, so
    the same values (bit for bit, on one machine) and the same netCDF description."""
    old = (ASSETS / f"golden-climate-{version}.inr").read_bytes()
    new = (ASSETS / "golden-climate-1.2.inr").read_bytes()
    info = api.info(ASSETS / "golden-climate-1.2.inr")
    assert info["format"] == "1.2" and info["stack_predicted_levels"]
    assert len(new) < len(old)
    a, b = api.decode(old).array, api.decode(new).array
    np.testing.assert_array_equal(a.values, b.values)
    assert a.dims == b.dims and a.attrs == b.attrs and a.name == b.name
    for name in a.coords:
        np.testing.assert_array_equal(a[name].values, b[name].values)


@pytest.mark.slow
def test_golden_tests_pass_where_floats_round_differently():
    """The fast golden tests, run again with XLA limited to SSE4.2 (another float rounding on an AVX
    machine): what a fresh clone on another CPU runs. Needs an x86 CPU with more than SSE4.2."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("XLA's --xla_cpu_max_isa=SSE4_2 exists on x86 only")
    env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_max_isa=SSE4_2".strip()}
    env.pop("INRCODEC_BASES", None)
    probe = subprocess.run([sys.executable, "-c", "import make_assets; print(make_assets.float_fingerprint())"],
                           cwd=TESTS_DIR, env=env, capture_output=True, text=True, check=True)
    if probe.stdout.strip() == MACHINE["float_fingerprint"]:
        pytest.skip("XLA rounds the same with SSE4.2 only on this machine: nothing to simulate")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                          str(TESTS_DIR / "test_golden.py")], cwd=TESTS_DIR.parent, env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
