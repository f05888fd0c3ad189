"""Each row of SPEC.md §3.1 (image meta) at its offset, and the decoder's checks on it."""

import struct

import jax
import pytest

from inrcodec.bitstream.coding import CODING, ENTROPY_MODEL_LAPLACE, CodingHeader
from inrcodec.bitstream.coding import quant_step
from inrcodec.bitstream.image import DIMENSIONS, ImageHeader
from inrcodec.errors import FormatError

HEADER = ImageHeader(height=512, width=768, channels=3, bit_depth=8,
                     coding=CodingHeader(step_index=2, weight_step_index=16, scale_indices=(0, 90, 101, 7),
                                         weight_scale_indices=(60, 0, 70)))


def test_rows_at_their_offsets():
    meta = HEADER.pack()
    assert len(meta) == 10 + 4 + 1 + 3
    assert struct.unpack_from("<H", meta, 0)[0] == 512  # height
    assert struct.unpack_from("<H", meta, 2)[0] == 768  # width
    assert meta[4] == 3  # channels
    assert meta[5] == 8  # bit depth
    assert meta[6] == ENTROPY_MODEL_LAPLACE == 1  # entropy model
    assert meta[7] == 2  # latent step index
    assert meta[8] == 16  # weight step index
    assert meta[9] == 4  # L
    assert list(meta[10:14]) == [0, 90, 101, 7]  # latent scale indices
    assert meta[14] == 3  # T
    assert list(meta[15:]) == [60, 0, 70]  # weight scale indices
    assert ImageHeader.unpack(meta) == HEADER


def test_without_weight_deltas_there_is_no_weight_section():
    header = ImageHeader(4, 4, 1, 16, CodingHeader(0, 0, (1, 2)))
    meta = header.pack()
    assert len(meta) == 12 and meta[8] == 0
    assert ImageHeader.unpack(meta) == header


def test_quant_step_is_a_power_of_sqrt2():
    assert quant_step(0) == 1.0 and quant_step(2) == 0.5 and quant_step(1) == 2 ** -0.5


def test_weight_tensor_order_is_the_params_file_order():
    from inrcodec.core import bases, objective
    from inrcodec.core.config import ModelConfig

    base = objective.init_base(jax.random.PRNGKey(0), ModelConfig(channels=(1, 1), hidden=4, depth=3))
    paths = ["/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in p)
             for p, _ in jax.tree_util.tree_leaves_with_path(base["net"])]
    assert [p for p, _ in bases.leaves_with_paths(base["net"])] == paths  # The decoder's order is JAX's.
    assert paths == sorted(paths) == ["first/b", "first/w", "hidden/0/b", "hidden/0/shift", "hidden/0/w",
                                       "hidden/1/b", "hidden/1/shift", "hidden/1/w", "out/b", "out/w"]


def _meta(**fields):
    values = dict(h=4, w=4, c=3, depth=8, model=1, step=0, wstep=0, levels=2)
    values.update(fields)
    v = list(values.values())
    return DIMENSIONS.pack(*v[:4]) + CODING.pack(*v[4:]) + bytes([90] * values["levels"])


@pytest.mark.parametrize(
    "meta, message",
    [
        (_meta()[:5], "truncated"),
        (_meta() + b"\x00", "expected"),
        (_meta(wstep=16), "truncated"),
        (_meta(wstep=16) + bytes([3, 1]), "truncated"),
        (_meta(wstep=16) + bytes([1, 1, 9]), "expected"),
        (_meta(h=0), "empty"),
        (_meta(h=65535, w=65535), "limit"),
        (_meta(c=2), "channel"),
        (_meta(depth=12), "bit depth"),
        (_meta(model=2), "entropy model"),  # Stack prediction is for climate stacks only.
        (_meta(model=3), "entropy model"),
        (_meta(step=33), "step index"),
        (_meta(wstep=40) + bytes([0]), "weight step"),
    ],
)
def test_decoder_rejects(meta, message):
    with pytest.raises(FormatError, match=message):
        ImageHeader.unpack(meta)
