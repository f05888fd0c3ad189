"""Audio I/O: WAV/FLAC in every supported subtype, round trips, error messages, metrics, real recordings."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from inrcodec.errors import InputError
from inrcodec.bitstream import audio as audio_header
from inrcodec.signals import audio, metrics

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "audio"
TEST_CLEAN_WAV = DATA / "test" / "librispeech_test_clean" / "1089-134686-0001.wav"
TRAIN_FLAC_DIR = DATA / "train" / "librispeech_train_clean_100"

# Largest |read - written| after a round trip through each subtype (float32 samples).
PRECISION = {"PCM_U8": 0.0, "PCM_S8": 0.0, "PCM_16": 0.0, "PCM_24": 0.0, "PCM_32": 2.0**-24, "FLOAT": 0.0,
             "DOUBLE": 0.0}
CASES = [("WAV", s) for s in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")] + [
    ("FLAC", s) for s in ("PCM_S8", "PCM_16", "PCM_24")]


def tone(frames: int, channels: int, rate: int) -> np.ndarray:
    """float32 (frames, channels) chirps in [-0.9, 0.9], one frequency per channel."""
    t = np.arange(frames) / rate
    return np.stack([0.9 * np.sin(2 * np.pi * (220 * (c + 1) + 300 * t) * t) for c in range(channels)],
                    axis=1).astype(np.float32)


def write(path, samples, rate, subtype, container="WAV"):
    sf.write(str(path), samples, rate, subtype=subtype, format=container)
    return path


@pytest.mark.parametrize("container,subtype", CASES)
@pytest.mark.parametrize("channels,rate", [(1, 8000), (2, 48000)])
def test_read_and_round_trip(tmp_path, container, subtype, channels, rate):
    src = write(tmp_path / f"in.{container.lower()}", tone(800, channels, rate), rate, subtype, container)
    a = audio.read_audio(src)
    assert (a.sample_rate, a.subtype, a.container) == (rate, subtype, container)
    assert a.samples.dtype == np.float32 and a.samples.shape == (800, channels)
    expected, _ = sf.read(str(src), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(a.samples, expected)
    assert np.abs(a.samples).max() <= 1.0

    out = tmp_path / f"out.{container.lower()}"
    out.write_bytes(audio.audio_bytes(a))
    b = audio.read_audio(out)
    assert (b.sample_rate, b.subtype, b.container, b.samples.shape) == (rate, subtype, container, a.samples.shape)
    assert np.abs(b.samples - a.samples).max() <= PRECISION[subtype]


def test_six_channels_and_wavex(tmp_path):
    src = write(tmp_path / "six.wav", tone(300, 6, 16000), 16000, "PCM_24")
    a = audio.read_audio(src)
    assert a.samples.shape == (300, 6) and a.container == "WAV"


def test_flac_fallbacks(tmp_path):
    """FLAC stores no float, no 32-bit and no unsigned 8-bit: nearest subtype, documented."""
    a = audio.read_audio(write(tmp_path / "f.wav", tone(500, 1, 16000), 16000, "FLOAT"))
    assert audio.output_subtype("FLOAT", "FLAC") == "PCM_24"
    assert audio.output_subtype("PCM_32", "FLAC") == "PCM_24"
    assert audio.output_subtype("PCM_U8", "FLAC") == "PCM_S8"
    assert audio.output_subtype("PCM_S8", "WAV") == "PCM_U8"
    out = tmp_path / "f.flac"
    out.write_bytes(audio.audio_bytes(a, "FLAC"))
    b = audio.read_audio(out)
    assert (b.container, b.subtype) == ("FLAC", "PCM_24")
    assert np.abs(b.samples - a.samples).max() <= 2.0**-24


def test_pcm_quantisation_is_exact_at_full_scale(tmp_path):
    """+1.0 and -1.0 land on the extreme levels; a value between levels rounds to the nearest."""
    a = audio.Audio(np.array([[1.0], [-1.0], [1.2], [0.5 + 0.4 / 32768]], np.float32), 16000, "PCM_16", "WAV")
    out = tmp_path / "q.wav"
    out.write_bytes(audio.audio_bytes(a))
    levels, _ = sf.read(str(out), dtype="int16")
    assert levels.tolist() == [32767, -32768, 32767, 16384]


def test_float_out_of_range_is_clipped(tmp_path):
    src = write(tmp_path / "loud.wav", np.array([[1.5], [-2.0], [0.25]], np.float32), 16000, "FLOAT")
    assert audio.read_audio(src).samples[:, 0].tolist() == [1.0, -1.0, 0.25]


@pytest.mark.parametrize("make,message", [
    (lambda p: write(p, np.zeros((0, 1), np.float32), 16000, "PCM_16"), "has no samples"),
    (lambda p: write(p, np.zeros((10, 1), np.float32), 16000, "ULAW"), "unsupported sample format ULAW"),
    (lambda p: write(p, np.zeros((10, 1), np.float32), 16000, "ALAW"), "unsupported sample format ALAW"),
    (lambda p: write(p, np.zeros((10, 1), np.float32), 16000, "IMA_ADPCM"), "unsupported sample format IMA_ADPCM"),
    (lambda p: write(p, np.zeros((10, 1), np.float32), 96000, "PCM_16"), "sample rate 96000 Hz is outside"),
    (lambda p: write(p, np.zeros((10, 1), np.float32), 4000, "PCM_16"), "sample rate 4000 Hz is outside"),
    (lambda p: write(p, np.zeros((10, 9), np.float32), 16000, "PCM_16"), "9 channels"),
    (lambda p: write(p, np.array([[0.1], [np.nan]], np.float32), 16000, "FLOAT"), "non-finite"),
    (lambda p: write(p, np.array([[0.1], [np.inf]], np.float32), 16000, "DOUBLE"), "non-finite"),
    (lambda p: write(p, np.zeros((10, 1), np.float32), 16000, "PCM_16", "AIFF"), "AIFF audio is not supported"),
    (lambda p: p.write_text("not audio at all"), "not an audio file"),
    (lambda p: None, "no such file"),
    (lambda p: p.mkdir(), "is a directory"),
])
def test_errors(tmp_path, make, message):
    path = tmp_path / "x.wav"
    make(path)
    with pytest.raises(InputError, match=message) as e:
        audio.read_audio(path)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def test_too_long_is_refused_from_the_header(tmp_path, monkeypatch):
    src = write(tmp_path / "long.wav", np.zeros((600, 2), np.float32), 8000, "PCM_16")
    monkeypatch.setattr(audio, "MAX_SAMPLES", 1000)
    monkeypatch.setattr(audio.sf, "read", lambda *a, **k: pytest.fail("samples read before the size check"))
    with pytest.raises(InputError, match=r"600 frames x 2 channels is more than 1000 samples"):
        audio.read_audio(src)


@pytest.mark.parametrize("container, subtype", [("WAV", "PCM_16"), ("WAV", "PCM_U8"), ("WAV", "DOUBLE"),
                                                ("FLAC", "PCM_24")])
def test_files_are_written_in_blocks_with_the_bytes_of_one_write(monkeypatch, container, subtype):
    """audio_bytes converts and writes WRITE_FRAMES frames at a time (bounded memory): the same file."""
    import io

    samples = tone(1001, 2, 16000)
    clip = audio.Audio(samples, 16000, subtype, container)
    monkeypatch.setattr(audio, "WRITE_FRAMES", 64)
    blocks = audio.audio_bytes(clip)
    monkeypatch.setattr(audio, "WRITE_FRAMES", 1 << 20)
    whole = audio.audio_bytes(clip)
    if b"PEAK" in whole:  # Float WAV: its PEAK chunk holds the wall-clock time of writing.
        at = whole.index(b"PEAK") + 12
        blocks, whole = blocks[:at] + blocks[at + 4 :], whole[:at] + whole[at + 4 :]
    assert blocks == whole
    back, _ = sf.read(io.BytesIO(audio.audio_bytes(clip)), dtype="float32", always_2d=True)
    assert back.shape == samples.shape


def test_codes_and_containers():
    assert audio_header.SUBTYPE_CODES == {"PCM_16": 0, "PCM_24": 1, "PCM_32": 2, "PCM_U8": 3, "PCM_S8": 4,
                                          "FLOAT": 5, "DOUBLE": 6}  # Frozen: the bitstream stores these numbers.
    assert all(audio_header.SUBTYPE_NAMES[c] == s for s, c in audio_header.SUBTYPE_CODES.items())
    assert all(audio_header.CONTAINER_NAMES[c] == s for s, c in audio_header.CONTAINER_CODES.items())
    # Every sample format and container the reader accepts has a code in the bitstream.
    assert set(audio.SUBTYPES) == set(audio_header.SUBTYPE_CODES)
    assert set(audio.CONTAINERS) == set(audio_header.CONTAINER_CODES)
    assert audio.container_for_path("a/b.WAV") == "WAV" and audio.container_for_path("x.flac") == "FLAC"
    with pytest.raises(InputError, match=r"^out\.mp3: audio output must end in \.wav or \.flac"):
        audio.container_for_path("out.mp3")
    with pytest.raises(InputError, match="WAV or FLAC"):
        audio.audio_bytes(audio.Audio(np.zeros((4, 1), np.float32), 8000, "PCM_16", "WAV"), "OGG")


def test_unit_mapping_and_metrics():
    x = np.array([[-1.0], [0.0], [0.5], [1.0]], np.float32)
    u = audio.to_unit(x)
    assert u.dtype == np.float32 and u[:, 0].tolist() == [0.0, 0.5, 0.75, 1.0]
    np.testing.assert_array_equal(audio.from_unit(u), x)
    assert audio.from_unit(np.array([-0.5, 1.5]))[[0, 1]].tolist() == [-1.0, 1.0]
    assert audio.psnr_unit(x, x) == float("inf")
    # An error of 0.02 on every sample is 0.01 in [0, 1]: PSNR 40 dB.
    assert audio.psnr_unit(x * 0.0, x * 0.0 + 0.02) == pytest.approx(40.0)
    ref = np.array([1.0, -1.0, 1.0, -1.0])
    assert metrics.snr_db(ref, ref * 0.9) == pytest.approx(20.0)
    assert metrics.snr_db(ref, ref) == float("inf")


def test_real_librispeech_test_clean_wav(tmp_path):
    if not TEST_CLEAN_WAV.is_file():
        pytest.skip(f"shared data not found: {TEST_CLEAN_WAV}")
    a = audio.read_audio(TEST_CLEAN_WAV)
    assert (a.sample_rate, a.subtype, a.container, a.samples.shape[1]) == (16000, "PCM_16", "WAV", 1)
    assert a.samples.shape[0] > 3 * 16000  # COIN++ uses the first 3 s.
    out = tmp_path / "copy.wav"
    out.write_bytes(audio.audio_bytes(a))
    np.testing.assert_array_equal(audio.read_audio(out).samples, a.samples)


def test_real_librispeech_train_flac(tmp_path):
    flacs = sorted(TRAIN_FLAC_DIR.glob("*.flac")) if TRAIN_FLAC_DIR.is_dir() else []
    if not flacs:
        pytest.skip(f"shared data not found: {TRAIN_FLAC_DIR}/*.flac")
    a = audio.read_audio(flacs[0])
    assert (a.sample_rate, a.subtype, a.container, a.samples.shape[1]) == (16000, "PCM_16", "FLAC", 1)
    out = tmp_path / "copy.flac"
    out.write_bytes(audio.audio_bytes(a))
    np.testing.assert_array_equal(audio.read_audio(out).samples, a.samples)
    assert audio.psnr_unit(a.samples, a.samples) == float("inf")
