"""Each row of SPEC.md §3.1 (image meta) at its offset, and the decoder's checks on it."""

import struct

import pytest

from inrcodec.codec import ENTROPY_MODEL_LAPLACE, IMAGE_META, ImageHeader
from inrcodec.config import quant_step
from inrcodec.errors import FormatError

HEADER = ImageHeader(height=512, width=768, channels=3, bit_depth=8, step_index=2, scale_indices=(0, 90, 101, 7))


def test_rows_at_their_offsets():
    meta = HEADER.pack()
    assert len(meta) == 9 + 4
    assert struct.unpack_from("<H", meta, 0)[0] == 512  # height
    assert struct.unpack_from("<H", meta, 2)[0] == 768  # width
    assert meta[4] == 3  # channels
    assert meta[5] == 8  # bit depth
    assert meta[6] == ENTROPY_MODEL_LAPLACE == 1  # entropy model
    assert meta[7] == 2  # step index
    assert meta[8] == 4  # L
    assert list(meta[9:]) == [0, 90, 101, 7]  # scale indices
    assert ImageHeader.unpack(meta) == HEADER


def test_quant_step_is_a_power_of_sqrt2():
    assert quant_step(0) == 1.0 and quant_step(2) == 0.5 and quant_step(1) == 2 ** -0.5


def _meta(**fields):
    values = dict(h=4, w=4, c=3, depth=8, model=1, step=0, levels=2)
    values.update(fields)
    return IMAGE_META.pack(*values.values()) + bytes([90] * values["levels"])


@pytest.mark.parametrize(
    "meta, message",
    [
        (_meta()[:5], "truncated"),
        (_meta() + b"\x00", "expected"),
        (_meta(h=0), "empty"),
        (_meta(h=65535, w=65535), "limit"),
        (_meta(c=2), "channel"),
        (_meta(depth=12), "bit depth"),
        (_meta(model=2), "entropy model"),
        (_meta(step=17), "step index"),
    ],
)
def test_decoder_rejects(meta, message):
    with pytest.raises(FormatError, match=message):
        ImageHeader.unpack(meta)
