"""Hostile but valid files: a header claiming the most the decoder accepts decodes within MAX_PEAK_RSS
(slow tier: `inrcodec decode` in a subprocess), and one claiming more is refused before anything is
allocated.

The files are built with the bitstream's own packers around the tiny test bases (tests/assets), with
an empty payload: a level with scale index 0 is all zero, and a level with a non-zero index decodes
every one of its symbols (constriction reads past the end of the data), the most work a file can ask.
"""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from inrcodec import api
from inrcodec.bitstream import audio as audio_header
from inrcodec.bitstream import climate as climate_header
from inrcodec.bitstream import climate_template, container
from inrcodec.bitstream import image as image_header
from inrcodec.bitstream.coding import CodingHeader
from inrcodec.core import bases
from inrcodec.errors import FormatError
from inrcodec.signals import audio as audio_io

SPEC = Path(image_header.__file__).resolve().parent / "SPEC.md"
MAX_PEAK_RSS = 1536 * 2**20  # What decoding any accepted file may take (bytes of resident memory).


def image_file(height: int, width: int, channels: int = 3, bit_depth: int = 8, scale: int = 0,
               base: str = "tiny-test-base", context: int = 0) -> bytes:
    """An image .inr of that size whose every latent level has scale index `scale`; empty payload;
    `context`: 0, or the context entropy model (4 or 5) of `base`'s tables."""
    b = bases.load_base(base)
    coding = CodingHeader(0, 0, (scale,) * b.cfg.levels, context_model=context)
    meta = image_header.ImageHeader(height, width, channels, bit_depth, coding).pack()
    return container.pack(container.Container(container.MODALITY_IMAGE, b.base_id, meta, b"", image_header.minor_version(coding)))


def audio_file(frames: int, channels: int = 1, subtype: str = "DOUBLE", scale: int = 0) -> bytes:
    """An audio .inr (WAV source) of frames x channels samples, every level at scale index `scale`."""
    b = bases.load_base("tiny-audio-test-base")
    coding = CodingHeader(0, 0, (scale,) * b.cfg.levels)
    meta = audio_header.AudioHeader(16000, frames, channels, subtype, "WAV", (coding,) * channels, (0,) * channels).pack()
    return container.pack(container.Container(container.MODALITY_AUDIO, b.base_id, meta, b""))


def climate_file(fields: int, ny: int, nx: int, scale: int = 0) -> bytes:
    """A climate .inr of `fields` fields of ny x nx on a regular grid, every level at scale index `scale`."""
    import xarray as xr

    from inrcodec.signals import climate as climate_io

    b = bases.load_base("tiny-climate-test-base")
    small = xr.DataArray(np.zeros((1, 1, 1)), dims=("time", "lat", "lon"), name="t")
    template = dataclasses.replace(climate_io.field_template(small), shape=(fields, ny, nx))
    coding = CodingHeader(0, 0, (scale,) * b.cfg.levels)
    meta = climate_header.ClimateHeader(ny, nx, fields, 0.0, 1.0, climate_template.pack(template), b"", coding).pack()
    return container.pack(container.Container(container.MODALITY_CLIMATE, b.base_id, meta, b""))


def test_the_spec_states_the_limits_the_decoder_applies():
    spec = SPEC.read_text()
    for rule, limit in (("H × W", image_header.MAX_DECODE_PIXELS), ("N × K", audio_header.MAX_DECODE_SAMPLES),
                        ("F × ny × nx", climate_header.MAX_DECODE_VALUES)):
        assert 2 ** int(math.log2(limit)) == limit
        assert f"{rule} ≤ 2^{int(math.log2(limit))} " in spec
    assert audio_io.MAX_SAMPLES == audio_header.MAX_DECODE_SAMPLES  # Nothing is read that cannot be decoded.


LIMITS = {
    "image": lambda: image_file(8192 + 1, 8192),
    "audio": lambda: audio_file(audio_header.MAX_DECODE_SAMPLES + 1),
    "audio 8 channels": lambda: audio_file(audio_header.MAX_DECODE_SAMPLES // 8 + 1, 8),
    "climate": lambda: climate_file(climate_header.MAX_DECODE_VALUES // 2**16 + 1, 256, 256),
}


@pytest.mark.parametrize("kind", LIMITS)
def test_a_header_beyond_the_decoder_limit_is_refused_before_allocating(inr_bases, kind):
    data = LIMITS[kind]()
    assert len(data) < 200
    api.format_of(data)  # Imports the modality's plug-in before counting.
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="limit"):
            api.decode(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"{peak} bytes allocated before refusing the header"


def test_headers_at_the_limit_are_accepted():
    assert image_header.ImageHeader.unpack(image_header.ImageHeader(8192, 8192, 3, 16, CodingHeader(0, 0, (0,))).pack())
    coding = CodingHeader(0, 0, (0,))
    for channels in (1, 8):
        frames = audio_header.MAX_DECODE_SAMPLES // channels
        meta = audio_header.AudioHeader(16000, frames, channels, "DOUBLE", "WAV", (coding,) * channels, (0,) * channels)
        assert audio_header.AudioHeader.unpack(meta.pack()).frames == frames
    fields = climate_header.MAX_DECODE_VALUES // 2**16
    meta = climate_header.ClimateHeader(256, 256, fields, 0.0, 1.0, b"", b"", coding)
    assert climate_header.ClimateHeader.unpack(meta.pack()).fields == fields


# The largest files the decoder accepts, each with the most work or output per value it can ask.
HOSTILE = {
    # 2^26 pixels of 16-bit RGB, all-zero latents: the largest output array and PNG conversion.
    "image 8192x8192 16-bit": lambda: image_file(8192, 8192, 3, 16),
    # 2^26 pixels, every latent of every level context-decoded (entropy model 4).
    "image 8192x8192 context-coded": lambda: image_file(8192, 8192, scale=1, base="tiny-context-test-base", context=4),
    # The same with entropy model 5 (adaptive rows).
    "image 8192x8192 model 5": lambda: image_file(8192, 8192, scale=1, base="tiny-context5-test-base", context=5),
    # MAX_DECODE_SAMPLES samples, every latent decoded, written as 64-bit float WAV (8 bytes a sample).
    "audio": lambda: audio_file(audio_header.MAX_DECODE_SAMPLES, subtype="DOUBLE", scale=1),
    # MAX_DECODE_VALUES values in fields of 256 x 256, every latent decoded, written as float64 netCDF.
    "climate": lambda: climate_file(climate_header.MAX_DECODE_VALUES // 2**16, 256, 256, scale=1),
}

# Runs one command and prints its peak resident memory in bytes (Linux: ru_maxrss in KiB) and exit code.
# The command is this process's only child, so RUSAGE_CHILDREN is the decoder's alone. The address
# space cap only keeps a regression from taking the machine down; the assertion is on RSS.
_MEASURE = textwrap.dedent("""
    import resource, subprocess, sys
    cap = 8 << 30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, rc)
""")


@pytest.mark.slow  # Minutes each: 2^26 pixels, samples or values through the whole decoder.
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB and RLIMIT_AS: Linux")
@pytest.mark.parametrize("kind", HOSTILE)
def test_the_largest_files_decode_in_bounded_memory(inr_bases, kind, tmp_path):
    src = tmp_path / "hostile.inr"
    src.write_bytes(HOSTILE[kind]())
    out = tmp_path / ("out" + api.format_of(src.read_bytes()).OUTPUT_SUFFIX)
    run = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "inrcodec", "decode", str(src),
                          "-o", str(out)], env=dict(os.environ), capture_output=True, text=True, check=True)
    peak, rc = map(int, run.stdout.split())
    assert rc == 0 and out.stat().st_size > 0, run.stderr
    assert peak <= MAX_PEAK_RSS, f"{kind}: peak RSS {peak / 2**20:.0f} MiB"
