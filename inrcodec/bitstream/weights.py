"""Compact serialisation of a (sparse) base network: a size measure and an archival format.

params.npz stays the loading format of a base (its SHA-256 is the base id); this format measures
how small the same weights can be stored: zeros cost one mask bit, nonzeros are stored as float16.
Layout (little-endian):

    magic b"INRW" | version u8 | tensor count u16
    per tensor: name length u8, name (UTF-8), ndim u8, dims u32 x ndim
    nonzero count u32 | table size u8 | table: (symbol u8, frequency u16) x table size
    word count u32 | range-coded words u32 x word count
    mantissas: 10 bits per nonzero (np.packbits, big-endian bit order)
    mask: 1 bit per element of every tensor in order, C order (np.packbits), 1 = nonzero
    CRC-32 (zlib) of everything before, u32

Each nonzero value is rounded to float16; its top 6 bits (sign, exponent) are one symbol of a
Categorical model with the frequencies of the table (constriction queue range coder); the 10
mantissa bits are nearly uniform and stored as they are.
"""

from __future__ import annotations

import struct
import zlib

import constriction
import numpy as np

from inrcodec.errors import FormatError

MAGIC = b"INRW"
VERSION = 1
MAX_ELEMENTS = 1 << 26  # Reading refuses tensors with more elements in all (allocation bound).
MANTISSA_BITS = 10  # float16: 1 sign bit, 5 exponent bits, 10 mantissa bits.


def _model(frequencies: np.ndarray):
    return constriction.stream.model.Categorical(frequencies / frequencies.sum(), perfect=False)


def encode(arrays: dict[str, np.ndarray]) -> bytes:
    """Serialises named float arrays (e.g. `inrcodec.core.bases.flat_arrays(net)`), values as float16.

    Args:
      arrays: name -> array of any shape; names are UTF-8, at most 255 bytes.

    Returns:
      The bytes of the layout in the module docstring.
    """
    out = [MAGIC, struct.pack("<BH", VERSION, len(arrays))]
    values16 = []
    for name, array in arrays.items():
        array = np.asarray(array)
        raw = name.encode()
        out += [struct.pack("<B", len(raw)), raw, struct.pack(f"<B{array.ndim}I", array.ndim, *array.shape)]
        values16.append(np.asarray(array, np.float16).reshape(-1))
    flat = np.concatenate(values16) if values16 else np.zeros((0,), np.float16)
    mask = flat != 0
    bits = flat[mask].view(np.uint16)
    symbols, mantissas = bits >> MANTISSA_BITS, bits & ((1 << MANTISSA_BITS) - 1)
    table, index, counts = np.unique(symbols, return_inverse=True, return_counts=True)
    frequencies = np.maximum(1, np.round(counts * (0xFFFF / max(counts.max(initial=1), 1)))).astype(np.uint16)
    out.append(struct.pack("<IB", bits.size, table.size))
    out += [struct.pack("<BH", int(s), int(f)) for s, f in zip(table, frequencies)]
    if table.size > 1:  # A single symbol needs no bits.
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(index.astype(np.int32), _model(frequencies.astype(np.float64)))
        words = encoder.get_compressed().astype("<u4")
    else:
        words = np.zeros((0,), "<u4")
    out += [struct.pack("<I", words.size), words.tobytes()]
    mantissa_bits = (mantissas[:, None] >> np.arange(MANTISSA_BITS - 1, -1, -1, dtype=np.uint16)) & 1
    out += [np.packbits(mantissa_bits.astype(np.uint8)).tobytes(), np.packbits(mask).tobytes()]
    body = b"".join(out)
    return body + struct.pack("<I", zlib.crc32(body))


class _Reader:
    """Bounds-checked reads from a byte string; running past its end is a FormatError."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError("compact base: truncated data")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))


def decode(data: bytes) -> dict[str, np.ndarray]:
    """Inverse of `encode`: name -> float32 array (the float16-rounded values, exact zeros kept).

    Raises:
      FormatError: bad magic, version, sizes or checksum, or an undecodable stream.
    """
    if len(data) < len(MAGIC) + 7 or data[: len(MAGIC)] != MAGIC:
        raise FormatError("not a compact base network (bad magic)")
    body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
    if zlib.crc32(body) != crc:
        raise FormatError("compact base: CRC-32 mismatch")
    reader = _Reader(body)
    reader.take(len(MAGIC))
    version, count = reader.unpack("<BH")
    if version != VERSION:
        raise FormatError(f"compact base: unsupported version {version}")
    shapes = {}
    for _ in range(count):
        (length,) = reader.unpack("<B")
        try:
            name = reader.take(length).decode()
        except UnicodeDecodeError:
            raise FormatError("compact base: tensor name is not UTF-8") from None
        (ndim,) = reader.unpack("<B")
        shapes[name] = reader.unpack(f"<{ndim}I")
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes.values()]
    total = sum(sizes)
    if len(shapes) != count or total > MAX_ELEMENTS:
        raise FormatError("compact base: duplicate tensor names or too many elements")
    nonzeros, table_size = reader.unpack("<IB")
    if nonzeros > total:
        raise FormatError("compact base: more nonzeros than elements")
    pairs = [reader.unpack("<BH") for _ in range(table_size)]
    table = np.asarray([p[0] for p in pairs], np.uint16)
    frequencies = np.asarray([p[1] for p in pairs], np.float64)
    if (nonzeros and table_size == 0) or np.any(table >= 1 << (16 - MANTISSA_BITS)) or np.any(frequencies == 0):
        raise FormatError("compact base: bad symbol table")
    (word_count,) = reader.unpack("<I")
    words = np.frombuffer(reader.take(4 * word_count), "<u4").astype(np.uint32)
    mantissa_bytes = reader.take((MANTISSA_BITS * nonzeros + 7) // 8)
    mask_bytes = reader.take((total + 7) // 8)
    if reader.pos != len(body):
        raise FormatError("compact base: trailing bytes")
    mask = np.unpackbits(np.frombuffer(mask_bytes, np.uint8), count=total).astype(bool)
    if int(mask.sum()) != nonzeros:
        raise FormatError("compact base: mask does not match the nonzero count")
    if table_size > 1:
        try:
            index = np.asarray(constriction.stream.queue.RangeDecoder(words).decode(_model(frequencies), nonzeros))
        except (ValueError, RuntimeError, AssertionError) as e:  # constriction asserts on invalid data.
            raise FormatError(f"compact base: undecodable value stream ({e})") from None
    else:
        index = np.zeros((nonzeros,), np.int64)
    mantissa_bits = np.unpackbits(np.frombuffer(mantissa_bytes, np.uint8), count=MANTISSA_BITS * nonzeros)
    mantissas = mantissa_bits.reshape(nonzeros, MANTISSA_BITS).astype(np.uint16) @ (
        np.uint16(1) << np.arange(MANTISSA_BITS - 1, -1, -1, dtype=np.uint16))
    flat = np.zeros((total,), np.float16)
    flat[mask] = ((table[index] << MANTISSA_BITS) | mantissas).astype(np.uint16).view(np.float16)
    out, start = {}, 0
    for (name, shape), size in zip(shapes.items(), sizes):
        out[name] = flat[start : start + size].astype(np.float32).reshape(shape)
        start += size
    return out
