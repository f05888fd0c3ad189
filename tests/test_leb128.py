"""The LEB128 lengths shared by archives (ARCHIVE.md §2.2) and compact climate headers (SPEC.md §3.3.3)."""

from __future__ import annotations

import pytest

from inrcodec.bitstream import leb128
from inrcodec.errors import FormatError


@pytest.mark.parametrize("n, encoded", [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (90, b"\x5a"),
                                        (16383, b"\xff\x7f"), (16384, b"\x80\x80\x01"), ((1 << 21) - 1, b"\xff\xff\x7f")])
def test_numbers_encode_minimally_and_come_back(n, encoded):
    assert leb128.encode(n) == encoded
    assert leb128.decode(b"\xaa" + encoded + b"\x55", 1, "n") == (n, 1 + len(encoded))


@pytest.mark.parametrize("data, message", [(b"\x80\x00", "minimally"), (b"\x80\x80\x00", "minimally"),
                                           (b"\x80\x80\x80\x01", "more than 3"), (b"\x80", "truncated"), (b"", "truncated")])
def test_malformed_numbers_are_format_errors(data, message):
    with pytest.raises(FormatError, match=message):
        leb128.decode(data, 0, "n")


def test_values_beyond_three_bytes_cannot_be_encoded():
    with pytest.raises(ValueError):
        leb128.encode(1 << 21)
