"""Audio and climate through the same commands as images: round trips that keep what users need,
and the bad inputs of each (tiny random test bases; see make_assets.py). Clips have AUDIO_FRAMES
frames and stacks CLIMATE_FIELDS (or one) fields, encoded with DEBUG_FIT (conftest): one compilation each."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import xarray as xr

from conftest import AUDIO_FRAMES, CLIMATE_FIELDS, DEBUG_FIT, FAST_FIT_STEPS
from inrcodec import api
from inrcodec.cli import main
from inrcodec.signals import climate as climate_io
from make_assets import GOLDEN_FIT, synthetic_audio, synthetic_field

pytestmark = pytest.mark.usefixtures("inr_bases")

FAST = ["--fit-steps", FAST_FIT_STEPS, "--quiet"]
AUDIO_BASE = ["--base", "tiny-audio-test-base"]
CLIMATE_BASE = ["--base", "tiny-climate-test-base"]


def write_wav(path, audio, subtype="PCM_16"):
    sf.write(str(path), audio.samples, audio.sample_rate, subtype=subtype)
    return path


@pytest.mark.parametrize("suffix, subtype, rate, channels", [(".wav", "PCM_16", 16000, 2), (".flac", "PCM_24", 48000, 1),
                                                              (".wav", "FLOAT", 8000, 1)])
def test_audio_round_trip_keeps_rate_channels_length_and_format(tmp_path, capsys, suffix, subtype, rate, channels):
    src = write_wav(tmp_path / f"in{suffix}", synthetic_audio(AUDIO_FRAMES, channels, rate), subtype)
    assert main(["encode", str(src), "-o", str(tmp_path / "a.inr"), *AUDIO_BASE, *FAST, "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["kbps"] == pytest.approx(8 * line["bytes"] / (AUDIO_FRAMES / rate) / 1000, abs=1e-3)
    assert "snr_db" in line and line["psnr"] > 0
    assert main(["decode", str(tmp_path / "a.inr"), "-o", str(tmp_path / f"out{suffix}")]) == 0
    info = sf.info(str(tmp_path / f"out{suffix}"))
    assert (info.samplerate, info.channels, info.frames) == (rate, channels, AUDIO_FRAMES)
    assert info.subtype == subtype
    meta = api.info(tmp_path / "a.inr")
    assert meta["modality"] == "audio" and meta["frames"] == AUDIO_FRAMES and meta["sample_rate"] == rate


def test_audio_encoding_is_deterministic_and_decoding_matches_the_encoder(tmp_path):
    from inrcodec.core import bases
    from inrcodec.modalities import audio as audio_format

    base = bases.load_base("tiny-audio-test-base")
    audio = synthetic_audio(AUDIO_FRAMES, 1)
    a = audio_format.encode(audio, base, 5, DEBUG_FIT)
    b = audio_format.encode(audio, base, 5, DEBUG_FIT)
    assert a.data == b.data
    np.testing.assert_array_equal(audio_format.decode(a.data).array.samples, a.reconstruction.samples)


def test_climate_round_trip_keeps_dims_coords_attrs_and_missing_values(tmp_path, small_climate):
    src, line = small_climate.src, small_climate.line  # Encoded by the CLI with --json (conftest).
    assert line["bits_per_field"] == pytest.approx(8 * line["bytes"] / CLIMATE_FIELDS)
    assert line["bytes"] == small_climate.inr.stat().st_size
    assert {"rmse", "max_abs_error"} <= set(line)
    shutil.copyfile(small_climate.inr, tmp_path / "t.inr")
    assert main(["decode", str(tmp_path / "t.inr")]) == 0
    with xr.open_dataset(src) as a, xr.open_dataset(tmp_path / "t.nc") as b:
        assert a["t2m"].dims == b["t2m"].dims and a["t2m"].shape == b["t2m"].shape
        for c in ("time", "lat", "lon"):
            np.testing.assert_array_equal(a[c].values, b[c].values)
        assert b["t2m"].attrs["units"] == "K" and b["t2m"].attrs["long_name"] == "2 metre temperature"
        np.testing.assert_array_equal(np.isnan(a["t2m"].values), np.isnan(b["t2m"].values))  # Lossless mask.
        err = np.nanmax(np.abs(a["t2m"].values - b["t2m"].values))
        assert np.isfinite(err)


def test_climate_from_npz_with_var_and_rate_in_bits_per_field(tmp_path, capsys):
    src = tmp_path / "f.npz"
    np.savez(src, temperature=synthetic_field(1, missing=False).values[0], other=np.zeros(3))
    assert main(["encode", str(src), "--var", "temperature", *CLIMATE_BASE, *FAST, "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["bits_per_field"] == 8 * line["bytes"]
    decoded = api.decode((tmp_path / "f.inr").read_bytes())
    assert decoded.array.shape == (9, 16)


def test_the_python_api_takes_a_dataarray_and_returns_one():
    da = synthetic_field(CLIMATE_FIELDS)
    result = api.encode(da, base="tiny-climate-test-base", fit=DEBUG_FIT)
    assert result.rate_unit == "bits per field"
    out = api.decode(result.data).array
    assert isinstance(out, xr.DataArray) and out.dims == da.dims and out.name == "t2m"
    np.testing.assert_array_equal(out.values, result.reconstruction.values)


def test_a_slowly_changing_stack_is_coded_as_differences_and_decodes_to_the_encoders_values():
    """Format 1.2: levels whose field-to-field differences cost fewer bits are stack-predicted."""
    from inrcodec.core import bases
    from inrcodec.modalities import climate as climate_format

    base = bases.load_base("tiny-climate-test-base")
    da = synthetic_field(times=CLIMATE_FIELDS)
    da.values[:] = da.values[:1] + 0.05 * np.arange(CLIMATE_FIELDS)[:, None, None]  # 0.05 K per step.
    field = climate_io.from_dataarray(da)
    result = climate_format.encode(field, base, 6, DEBUG_FIT)
    box, header = climate_format.read_header(result.data)
    assert box.minor == climate_format.MINOR_STACK_PREDICTION and any(header.coding.predicted)
    np.testing.assert_array_equal(climate_format.decode(result.data).array.values, result.reconstruction.values)
    one = climate_format.encode(climate_io.from_dataarray(da[:1]), base, 6, DEBUG_FIT)
    assert climate_format.read_header(one.data)[1].coding.predicted == ()  # A single field: format 1.1 bytes.


def test_stack_prediction_bitmap_round_trips_and_is_checked():
    from inrcodec import codec
    from inrcodec.bitstream import coding
    from inrcodec.errors import FormatError

    header = coding.CodingHeader(3, 0, tuple(range(1, 11)), (), (True, False) * 5)
    packed = header.pack()
    assert packed[0] == coding.ENTROPY_MODEL_STACK and len(packed) == 4 + 10 + 2
    assert coding.CodingHeader.unpack_from(packed, 0, stack=True) == (header, len(packed))
    with pytest.raises(FormatError, match="entropy model"):
        coding.CodingHeader.unpack_from(packed, 0)  # Only climate stacks may use entropy model 2.
    with pytest.raises(FormatError, match="beyond"):
        coding.CodingHeader.unpack_from(packed[:-1] + bytes([0x04]), 0, stack=True)  # Level 10 of 0..9.
    with pytest.raises(FormatError, match="truncated"):
        coding.CodingHeader.unpack_from(packed[:-1], 0, stack=True)
    coded = codec.BatchCoded(header, [np.zeros((2, 1), np.int32)] * 10, lambda: np.zeros((2, 1, 1)))
    with pytest.raises(ValueError, match="slice"):
        coded.payload(slice(0, 1))


# --- bad input: one line, exit code 1, nothing written ------------------------------------------------


def fails(capsys, args, message, out=None):
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("inrcodec: error:") and "\n" not in err and message in err, err
    if out is not None:
        assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))


def test_wav_without_samples(tmp_path, capsys):
    src = tmp_path / "empty.wav"
    sf.write(str(src), np.zeros((0, 1), np.float32), 16000, subtype="PCM_16")
    fails(capsys, ["encode", str(src), *AUDIO_BASE, *FAST], "no samples", tmp_path / "empty.inr")


def test_unsupported_sample_format(tmp_path, capsys):
    src = tmp_path / "ulaw.wav"
    sf.write(str(src), synthetic_audio(800, 1).samples, 8000, subtype="ULAW")
    fails(capsys, ["encode", str(src), *AUDIO_BASE, *FAST], "unsupported sample format", tmp_path / "ulaw.inr")


def test_netcdf_without_the_named_variable(tmp_path, capsys):
    src = tmp_path / "t2m.nc"
    synthetic_field().to_dataset().to_netcdf(src)
    fails(capsys, ["encode", str(src), "--var", "sst", *CLIMATE_BASE, *FAST], "t2m", tmp_path / "t2m.inr")


@pytest.mark.parametrize("bad, message", [(np.nan, "missing"), (np.inf, "infinite")])
def test_all_missing_or_non_finite_fields(tmp_path, capsys, bad, message):
    da = synthetic_field(1, missing=False)
    da.values[...] = bad if bad is np.nan else da.values
    if bad is np.inf:
        da.values[0, 0, 0] = np.inf
    src = tmp_path / "bad.nc"
    da.to_dataset().to_netcdf(src)
    fails(capsys, ["encode", str(src), *CLIMATE_BASE, *FAST], message, tmp_path / "bad.inr")


def test_modality_of_the_file_must_match_the_base(tmp_path, capsys, small_png):
    src = write_wav(tmp_path / "a.wav", synthetic_audio(800, 1))
    fails(capsys, ["encode", str(src), "--base", "tiny-test-base", *FAST], "image", tmp_path / "a.inr")
    fails(capsys, ["encode", str(small_png), "-o", str(tmp_path / "p.inr"), *AUDIO_BASE, *FAST], "audio",
          tmp_path / "p.inr")


def test_decode_refuses_a_suffix_the_modality_cannot_write(tmp_path, capsys, small_audio):
    fails(capsys, ["decode", str(small_audio.inr), "-o", str(tmp_path / "a.png")], ".wav or .flac", tmp_path / "a.png")


@pytest.mark.parametrize("flip, message", [(2, "disagree"), (4, "error-bound fields"), (8, "bounds variables disagree"),
                                           (16, "reserved")])
def test_climate_header_flag_bits_are_checked(flip, message):
    """Flags bit 1 must agree with the template's preset-dictionary bit; bit 2 announces error-bound
    fields, which must be there; bit 3 bounds variables in the template, which must be there; higher
    bits are reserved."""
    from pathlib import Path

    from inrcodec.bitstream import container
    from inrcodec.errors import FormatError

    data = (Path(__file__).parent / "assets" / "golden-climate.inr").read_bytes()
    box = container.unpack(data)
    meta = bytearray(box.meta)
    meta[8] ^= flip  # The climate flags byte (SPEC.md section 3.3).
    edited = container.pack(container.Container(box.modality, box.base_id, bytes(meta), box.payload, box.minor))
    with pytest.raises(FormatError, match=message):
        api.decode(edited)


def test_local_scale_coding_fields_round_trip_and_are_checked():
    from inrcodec.bitstream import coding
    from inrcodec.errors import FormatError

    header = coding.CodingHeader(0, 16, (0, 53, 41), (9, 9), contexts=(0, 134, 0))
    packed = header.pack()
    assert packed[0] == coding.ENTROPY_MODEL_LOCAL and len(packed) == 4 + 3 + 3 + 1 + 2
    assert coding.CodingHeader.unpack_from(packed, 0, local=True) == (header, len(packed))
    for kwargs in ({}, {"stack": True}):  # Only audio may use entropy model 3.
        with pytest.raises(FormatError, match="entropy model"):
            coding.CodingHeader.unpack_from(packed, 0, **kwargs)
    with pytest.raises(FormatError, match="all-zero"):
        coding.CodingHeader.unpack_from(packed[:4] + bytes([0, 53, 41, 7, 134, 0]) + packed[10:], 0, local=True)
    with pytest.raises(FormatError, match="truncated"):
        coding.CodingHeader.unpack_from(packed[:8], 0, local=True)


def test_audio_with_pauses_is_coded_with_local_scales_and_decodes_exactly():
    from inrcodec.core import bases
    from inrcodec.modalities import audio as audio_format
    from make_assets import synthetic_bursts

    base = bases.load_base("tiny-audio-test-base")
    fit = GOLDEN_FIT  # golden-audio.inr's encoding: same programs as test_golden.
    audio = synthetic_bursts()
    result = audio_format.encode(audio, base, 4, fit)
    box, header = audio_format.read_header(result.data)
    assert box.minor == audio_format.MINOR_LOCAL_SCALES and all(c.contexts for c in header.codings)
    np.testing.assert_array_equal(audio_format.decode(result.data).array.samples, result.reconstruction.samples)
    # The same latents coded with one scale per level (model 1) take more bytes and decode the same.
    plain = codec_plain_bytes(audio, base, fit)
    assert len(result.data) < len(plain)
    np.testing.assert_array_equal(audio_format.decode(plain).array.samples, result.reconstruction.samples)


def codec_plain_bytes(audio, base, fit):
    """`audio` encoded as format 1.2 encoders did: entropy model 1 for every channel."""
    from unittest import mock

    from inrcodec import codec
    from inrcodec.modalities import audio as audio_format

    with mock.patch.object(codec, "local_scale_coding", lambda ints, scales: (list(scales), [])):
        data = audio_format.encode(audio, base, 4, fit).data
    assert audio_format.read_header(data)[0].minor == 0
    return data


# Each length compiles the encoder anew (~20 s of CPU): the fast tier keeps the one past a window.
@pytest.mark.parametrize("frames", [pytest.param(1, marks=pytest.mark.slow), pytest.param(17, marks=pytest.mark.slow), 130])
def test_short_audio_round_trips_exactly_with_or_without_local_scales(frames):
    """Clips of one sample, of about one local-scale block (16 latents), and of two windows (64) and a bit."""
    from inrcodec.core import bases
    from inrcodec.modalities import audio as audio_format
    from make_assets import synthetic_bursts

    base = bases.load_base("tiny-audio-test-base")
    result = audio_format.encode(synthetic_bursts(frames, 2), base, 6, DEBUG_FIT)
    decoded = audio_format.decode(result.data).array
    assert decoded.samples.shape == (frames, 2)
    np.testing.assert_array_equal(decoded.samples, result.reconstruction.samples)


def test_a_field_larger_than_one_file_holds_is_refused_from_its_shape(tmp_path, monkeypatch):
    """encode_file reads a climate file with the decoder's limit, so the values of a field too large for
    one .inr are never loaded (a 2^26-value all-fill netCDF: refused in 3.4 s at 237 MB, was 3.3 GB);
    compress_dataset's reader keeps the larger limit."""
    import xarray as xr

    from inrcodec.errors import InputError
    from inrcodec.modalities import climate as climate_modality
    from inrcodec.signals import climate as climate_io

    xr.DataArray(np.zeros((3, 20, 30)), dims=("time", "lat", "lon"), name="t").to_dataset().to_netcdf(tmp_path / "t.nc")
    monkeypatch.setattr(climate_modality, "MAX_DECODE_VALUES", 1000)
    with pytest.raises(InputError, match=r"'t' of shape \(3, 20, 30\) has more than 1000 values"):
        api.encode_file(tmp_path / "t.nc", tmp_path / "t.inr", max_error=0.1)
    assert climate_modality.read(tmp_path / "t.nc").values.shape == (3, 20, 30)
    assert climate_io.read_field(tmp_path / "t.nc").values.size == 1800
