"""Minimal unsigned LEB128 numbers of at most 3 bytes (values below 2^21): archive item lengths
(ARCHIVE.md §2.2) and the grid sizes of compact climate headers (SPEC.md §3.3.3)."""

from __future__ import annotations

from inrcodec.errors import FormatError

MAX_VALUE = (1 << 21) - 1


def encode(n: int) -> bytes:
    """The minimal encoding of 0 <= n <= MAX_VALUE: 7 bits per byte, low bits first, high bit = more."""
    if not 0 <= n <= MAX_VALUE:
        raise ValueError(f"LEB128 value {n} is outside 0..{MAX_VALUE}")
    if n < 0x80:
        return bytes((n,))
    if n < 0x4000:
        return bytes((n & 0x7F | 0x80, n >> 7))
    return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14))


def decode(data: bytes, offset: int, what: str) -> tuple[int, int]:
    """(the number at `offset`, the offset after it); FormatError naming `what` if it is truncated, not
    minimal (a last byte 0 after the first) or longer than 3 bytes."""
    value = 0
    for i in range(3):
        if offset + i >= len(data):
            raise FormatError(f"truncated: {what} runs past the end")
        byte = data[offset + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if i and not byte:
                raise FormatError(f"{what} is not minimally encoded")
            return value, offset + i + 1
    raise FormatError(f"{what} takes more than 3 bytes")
