"""The compact profile (format 1.7, SPEC.md §2.4 and §3.3.3): a bare 2-D climate field in 11 bytes of
container plus a header of a few bytes, decoding to what the full profile decodes to."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest
import xarray as xr

from inrcodec import api
from inrcodec.bitstream import climate as climate_header
from inrcodec.bitstream import climate_template, container
from inrcodec.bitstream.climate import COMPACT_NAMES, ClimateHeader
from inrcodec.bitstream.coding import CodingHeader
from inrcodec.core import bases
from inrcodec.core.config import FitConfig
from inrcodec.errors import FormatError
from inrcodec.modalities import climate as climate_format
from inrcodec.signals import climate as climate_io

FIT = FitConfig(noise_steps=4, ste_steps=2)


def bare_header(name: str = "temperature", ny: int = 46, nx: int = 90, scales=(0, 0, 0, 78, 0, 0, 0, 0)) -> ClimateHeader:
    template = climate_template.pack(climate_template.bare(name, (ny, nx)))
    return ClimateHeader(ny, nx, 1, 202.66, 320.93, template, b"", CodingHeader(0, 0, tuple(scales)))


def compact_file(meta: bytes, payload: bytes = b"\x01\x02\x03\x04", base_id: bytes = bytes(range(8))) -> bytes:
    return container.pack(container.Container(container.MODALITY_CLIMATE, base_id, meta, payload,
                                              container.COMPACT_MINOR, compact=True))


def test_an_era5_sized_field_takes_24_bytes_of_framing():
    meta = bare_header().compact_meta()
    data = compact_file(meta, payload=b"")
    assert len(data) == 24  # 11 of container, 13 of header: ny, nx, name code, step, L, 8 scales.
    assert data[:2] == b"\x89i" and data[2] == 0x73  # Minor 7, modality 3.
    box, header = climate_header.read(data)
    assert box.compact and box.base_id == bytes(range(4)) and box.payload == b""
    assert header.compact and header.fields == 1 and (header.ny, header.nx) == (46, 90)
    assert header.coding == bare_header().coding
    assert climate_template.unpack(header.template).name == "temperature"


@pytest.mark.parametrize("name", ["values", "t2m", "z", "Temperatur über Grund", "x" * 255])
def test_names_come_back_from_codes_or_literals(name):
    header = bare_header(name, ny=300, nx=70_000 // 2)
    meta = header.compact_meta()
    assert len(meta) == (3 + 2 + 1 + 2 + 8 if name in COMPACT_NAMES else 3 + 2 + 2 + len(name.encode()) + 2 + 8)
    back, end = ClimateHeader.unpack_compact(meta + b"payload")
    assert end == len(meta) and back.template == header.template and (back.ny, back.nx) == (300, 35_000)


def test_what_a_compact_header_cannot_say_keeps_the_full_profile():
    header = bare_header()
    assert bare_header("x" * 256).compact_meta() is None  # A name longer than 255 bytes.
    assert dataclasses.replace(header, fields=2).compact_meta() is None
    assert dataclasses.replace(header, mask=b"\x00").compact_meta() is None
    assert dataclasses.replace(header, coding=CodingHeader(0, 0, (1, 2), predicted=(True, False))).compact_meta() is None
    with_attrs = dataclasses.replace(climate_template.bare("t2m", (46, 90)), attrs={"units": "K"})
    assert dataclasses.replace(header, template=climate_template.pack(with_attrs)).compact_meta() is None


@pytest.mark.parametrize("mutate, message", [
    (lambda m: b"\x80\x00" + m[1:], "minimally"),  # ny written in two bytes.
    (lambda m: b"\xff\xff\xff\x01" + m[1:], "more than 3 bytes"),
    (lambda m: m[:2] + b"\x80" + m[3:], "name code"),
    (lambda m: m[:2] + b"\xff\x01t" + m[3:], "has a name code"),  # "t" spelled out.
    (lambda m: m[:2] + b"\xff\x02\xff\xfe" + m[3:], "UTF-8"),
    (lambda m: m[:3] + b"\x21" + m[4:], "quantization step"),  # Step index 33.
    (lambda m: b"\x00" + m[1:], "empty"),
])
def test_malformed_compact_headers_are_refused(mutate, message):
    meta = bare_header().compact_meta()
    with pytest.raises(FormatError, match=message):
        climate_header.read(compact_file(mutate(meta)))


def test_every_truncation_and_bit_flip_is_a_format_error():
    data = compact_file(bare_header().compact_meta())
    for n in range(len(data)):
        with pytest.raises(FormatError):
            climate_header.read(data[:n])
    for i in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[i // 8] ^= 1 << (i % 8)
        with pytest.raises(FormatError):
            climate_header.read(bytes(flipped))


def test_container_rules_of_the_compact_profile():
    body = bare_header().compact_meta()
    data = compact_file(body)
    with pytest.raises(FormatError, match="starts at 1.7"):
        container.unpack(_recrc(data[:2] + b"\x63" + data[3:]))  # Minor 6.
    with pytest.raises(FormatError, match="no compact profile"):
        container.unpack(_recrc(data[:2] + b"\x71" + data[3:]))  # An image.
    with pytest.raises(FormatError, match="unknown modality"):
        container.unpack(_recrc(data[:2] + b"\x79" + data[3:]))
    with pytest.raises(ValueError, match="no compact profile"):
        container.pack(container.Container(container.MODALITY_IMAGE, bytes(8), b"", b"", 7, compact=True))
    assert container.unpack(data).base_matches(bytes(range(8)))
    assert not container.unpack(data).base_matches(bytes(range(1, 9)))


def _recrc(data: bytes) -> bytes:
    return data[:-4] + zlib.crc32(data[:-4]).to_bytes(4, "little")


@pytest.mark.usefixtures("inr_bases")
def test_a_bare_field_is_written_compact_and_decodes_as_its_full_profile_twin(tmp_path):
    base = bases.load_base("tiny-climate-test-base")
    lat = np.linspace(80.0, -80.0, 9)
    values = 288.0 - 40.0 * np.sin(np.deg2rad(lat))[:, None] ** 2 + np.cos(np.arange(16))[None, :]
    np.savez(tmp_path / "t.npz", temperature=values)
    field = climate_io.read_field(tmp_path / "t.npz")
    result = climate_format.encode(field, base, 3, FIT)
    box, header = climate_header.read(result.data)
    assert box.compact and len(result.data) - len(box.payload) == 11 + 2 + 1 + 2 + base.cfg.levels
    full = ClimateHeader(9, 16, 1, *climate_format.base_value_range(base), header.template, b"", header.coding)
    twin = container.pack(container.Container(container.MODALITY_CLIMATE, base.base_id, full.pack(), box.payload, 1))
    compact, long = api.decode(result.data).array, api.decode(twin).array
    np.testing.assert_array_equal(compact.values, long.values)
    assert compact.name == long.name == "temperature" and compact.dims == long.dims
    np.testing.assert_array_equal(compact.values, result.reconstruction.values)
    (tmp_path / "t.inr").write_bytes(result.data)
    info = api.info(tmp_path / "t.inr")
    assert info["profile"] == "compact" and info["format"] == "1.7" and info["value_range"][0] == pytest.approx(202.66)


@pytest.mark.usefixtures("inr_bases")
def test_fields_with_metadata_stacks_or_an_error_bound_keep_the_full_profile():
    base = bases.load_base("tiny-climate-test-base")
    values = np.full((9, 16), 280.0) + np.arange(16)
    named = xr.DataArray(values, name="t2m", attrs={"units": "K"})
    stack = xr.DataArray(np.stack([values, values + 1.0]), name="t2m")
    out_of_range = xr.DataArray(values - 200.0, name="t2m")
    for da in (named, stack, out_of_range):
        data = climate_format.encode(climate_io.from_dataarray(da), base, 3, FIT).data
        assert data[:4] == container.MAGIC
    bounded = climate_format.encode(climate_io.from_dataarray(xr.DataArray(values, name="t2m")), base, 3, FIT,
                                    max_error=0.5).data
    assert bounded[:4] == container.MAGIC


@pytest.mark.usefixtures("inr_bases")
def test_a_compact_file_refuses_a_base_of_another_id():
    base = bases.load_base("tiny-climate-test-base")
    data = climate_format.encode(climate_io.from_dataarray(xr.DataArray(np.full((9, 16), 280.0), name="t")), base, 3,
                                 FIT).data
    other = dataclasses.replace(base, base_id=bytes(8))
    with pytest.raises(FormatError, match="needs base"):
        climate_format.decode(data, other)
