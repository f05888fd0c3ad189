"""Image inputs: grey, 16-bit, palette, odd sizes and both orientations (tiny test base; SMALL_SHAPE
and DEBUG_FIT except where a size is the point)."""

import numpy as np
import pytest
from PIL import Image

from inrcodec import api
from inrcodec.core import bases
from inrcodec.modalities import image as codec
from conftest import DEBUG_FIT, SMALL_SHAPE
from inrcodec.errors import InputError
from inrcodec.signals import image as image_io
from make_assets import png_claiming, synthetic_image

FAST = DEBUG_FIT


@pytest.fixture(scope="module")
def tiny():
    from pathlib import Path

    return bases.load_base_dir(Path(__file__).parent / "assets" / "tiny-base")


def round_trip(arr, base):
    enc = codec.encode(arr, base, 6, FAST)
    dec = codec.decode(enc.data, base)
    np.testing.assert_array_equal(dec.array, enc.reconstruction)
    assert dec.array.shape == arr.shape and dec.array.dtype == arr.dtype
    return enc


def test_grey_8bit_png(tmp_path, tiny):
    grey = synthetic_image(*SMALL_SHAPE)[:, :, 1]
    Image.fromarray(grey).save(tmp_path / "g.png")
    arr = image_io.read_array(tmp_path / "g.png")
    assert arr.shape == (*SMALL_SHAPE, 1) and arr.dtype == np.uint8
    enc = round_trip(arr, tiny)
    assert codec.read_header(enc.data)[1].channels == 1


def test_grey_16bit_png(tmp_path, tiny):
    grey = (synthetic_image(*SMALL_SHAPE)[:, :, 0].astype(np.uint16) * 257)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    arr = image_io.read_array(tmp_path / "g16.png")
    assert arr.dtype == np.uint16 and arr.shape == (*SMALL_SHAPE, 1)
    enc = round_trip(arr, tiny)
    assert codec.read_header(enc.data)[1].bit_depth == 16
    png = image_io.encode_png(enc.reconstruction)
    back = image_io.read_array(tmp_path / "g16.png")  # The input is untouched ...
    np.testing.assert_array_equal(back, arr)
    (tmp_path / "out.png").write_bytes(png)  # ... and the output stays 16-bit.
    assert image_io.read_array(tmp_path / "out.png").dtype == np.uint16


# Each size compiles the encoder anew (~20 s of CPU): the fast tier keeps one odd, wide size.
@pytest.mark.parametrize("shape", [(17, 33), pytest.param((33, 17), marks=pytest.mark.slow),
                                   pytest.param((1, 5), marks=pytest.mark.slow)])
def test_odd_sizes_and_orientations(tiny, shape):
    round_trip(synthetic_image(*shape) if min(shape) > 1 else np.full(shape + (3,), 77, np.uint8), tiny)


@pytest.mark.parametrize("fmt", ["JPEG", "BMP", "TIFF", "PNG"])
def test_formats_read_as_rgb(tmp_path, fmt):
    path = tmp_path / f"x.{fmt.lower()}"
    Image.fromarray(synthetic_image(16, 24)).save(path, format=fmt)
    arr = image_io.read_array(path)
    assert arr.shape == (16, 24, 3) and arr.dtype == np.uint8


def test_palette_image_keeps_colour(tmp_path):
    Image.fromarray(synthetic_image(16, 24)).convert("P").save(tmp_path / "p.png")
    assert image_io.read_array(tmp_path / "p.png").shape[2] == 3


@pytest.mark.parametrize("side", [100_000, 10_000])  # Beyond Pillow's decompression-bomb error, warning limits.
def test_declared_size_beyond_the_limit_is_refused_before_decoding(tmp_path, side):
    import warnings

    path = tmp_path / "huge.png"
    path.write_bytes(png_claiming(side, side))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning must not escape either.
        with pytest.raises(InputError, match=f"larger than {image_io.MAX_PIXELS} pixels"):
            image_io.read_array(path)


def test_bad_quality_and_bpp_are_input_errors(tiny):
    with pytest.raises(InputError):
        api.encode(synthetic_image(8, 8), quality=9, base=tiny)
    with pytest.raises(InputError):
        api.encode(synthetic_image(8, 8), bpp=-1, base=tiny)


def test_bpp_target_picks_the_best_level_that_fits(tiny):
    arr = synthetic_image(*SMALL_SHAPE)
    sizes = {q: codec.encode(arr, tiny, q, FAST).bpp for q in range(1, 9)}
    target = sorted(sizes.values())[4]
    got = api.encode(arr, bpp=target, base=tiny, fit=FAST)
    assert got.bpp <= target
    assert got.bpp == max(b for b in sizes.values() if b <= target) or got.quality == max(q for q, b in sizes.items() if b <= target)
