"""Error-bounded climate chunks in zarr stores: a numcodecs codec (`InrCodec`) and its zarr 3 form
(`InrZarr3Codec`).

Every chunk, (*stack, lat, lon) float32 or float64 with NaN where missing, is stored as one ordinary
.inr file (api.encode with `max_error` or `rel_error`): every decoded value is within the bound of
the original, missing values stay missing, and the file names its base network by id, so any
reader with inrcodec and that base installed decodes it. Chunks carry no coordinates: the climate
modality takes them as regular global grids, which only changes the network's prediction (the
rate), never the bound.

    ds.to_zarr(store, encoding={"t2m": {"compressors": [InrZarr3Codec(max_error=0.1)]}})  # zarr format 3
    ds.to_zarr(store, zarr_format=2, encoding={"t2m": {"compressors": [InrCodec(max_error=0.1)]}})

Importing this module registers both with numcodecs and zarr; the package's entry points
("numcodecs.codecs", "zarr.codecs") do it for readers that never import it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import numbers
import os
from functools import cached_property
from typing import Any

import numcodecs
import numpy as np
import xarray as xr
from numcodecs.abc import Codec
from numcodecs.compat import ensure_bytes, ensure_ndarray_like, ndarray_copy

from inrcodec import api, modalities
from inrcodec.errors import FormatError, InputError, MissingBaseError

__all__ = ["InrCodec", "CODEC_ID", "ZARR3_NAME"]  # And InrZarr3Codec with zarr 3.

CODEC_ID = "inrcodec"  # numcodecs id (zarr format 2 metadata, numcodecs.get_codec).
ZARR3_NAME = "numcodecs.inrcodec"  # zarr 3 codec name: zarr's spelling for numcodecs codecs outside its spec.
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_DIM_NAMES = ("y", "x")  # The grid dims of a chunk's DataArray (it has no coordinates: a regular global grid).
_NAME = "chunk"  # Its variable name, which inrcodec's messages quote.
CLIMATE = modalities.by_name("climate")  # Chunks are climate fields: their plug-in checks the files.


def _bound_config(max_error: float | None, rel_error: float | None, quality: int | None,
                  base: str | None) -> dict:
    """The checked codec options (JSON values); InputError for a bad one."""
    if (max_error is None) == (rel_error is None):
        raise InputError("inrcodec: give one error bound, max_error (the variable's units) or rel_error "
                         "(a fraction of each chunk's value range)")
    bound = max_error if max_error is not None else rel_error
    if isinstance(bound, bool) or not isinstance(bound, numbers.Real) or not (np.isfinite(bound) and bound > 0):
        raise InputError(f"inrcodec: the error bound must be a positive number, got {bound!r}")
    if quality is not None and (isinstance(quality, bool) or not isinstance(quality, numbers.Integral)):
        raise InputError(f"inrcodec: quality must be a quality level (an integer) or None, got {quality!r}")
    if base is not None and (not isinstance(base, str) or not base or os.sep in base or "/" in base):
        # The config is stored with the array: a folder of this machine would mean nothing elsewhere.
        raise InputError(f"inrcodec: base must be the name of an installed base network (put its folder on "
                         f"INRCODEC_BASES), got {base!r}")
    return {"max_error": None if max_error is None else float(max_error),
            "rel_error": None if rel_error is None else float(rel_error),
            "quality": None if quality is None else int(quality), "base": base}


class InrCodec(Codec):
    """numcodecs codec: a chunk (*stack, lat, lon) float32/float64 (NaN = missing) <-> one .inr file,
    every decoded value within the bound of the original.

    Args:
      max_error: the bound in the variable's units. rel_error: instead, this fraction of each chunk's
        value range (so chunks get different absolute bounds). Exactly one of the two.
      quality: a quality level of the base: the network is then fitted to each chunk (JAX; slower,
        seldom smaller). None (default): no fit, the base's own field predicts.
      base: name of an installed climate base network; None: the default (api.load_default_base).
    """

    codec_id = CODEC_ID

    def __init__(self, max_error: float | None = None, rel_error: float | None = None, quality: int | None = None,
                 base: str | None = None):
        config = _bound_config(max_error, rel_error, quality, base)
        self.max_error, self.rel_error = config["max_error"], config["rel_error"]
        self.quality, self.base = config["quality"], config["base"]

    def get_config(self) -> dict:
        """{"id": "inrcodec", "max_error", "rel_error", "quality", "base"}: plain JSON."""
        return {"id": self.codec_id, "max_error": self.max_error, "rel_error": self.rel_error,
                "quality": self.quality, "base": self.base}

    @classmethod
    def from_config(cls, config: dict) -> "InrCodec":
        """The codec of a `get_config` dict (with or without its "id")."""
        config = dict(config)
        if config.pop("id", CODEC_ID) != CODEC_ID:
            raise InputError(f"inrcodec: not an {CODEC_ID!r} codec config: {config!r}")
        return cls(**config)

    def __repr__(self) -> str:
        given = {k: v for k, v in self.get_config().items() if k != "id" and v is not None}
        return f"InrCodec({', '.join(f'{k}={v!r}' for k, v in given.items())})"

    def encode(self, buf: Any) -> bytes:
        """The .inr bytes of a chunk: an array (*stack, lat, lon), at least 2-D, float32 or float64."""
        chunk = np.asarray(ensure_ndarray_like(buf))
        check_chunk(chunk.shape, chunk.dtype)
        dtype = chunk.dtype.newbyteorder("=")  # The template records the native float type.
        dims = tuple(f"s{i}" for i in range(chunk.ndim - 2)) + _DIM_NAMES
        da = xr.DataArray(chunk.astype(dtype, copy=False), dims=dims, name=_NAME)
        # The template's dtype makes the encoder keep a margin for rounding the decoded float64 values
        # to float32 (modalities.climate.storage_margin): the float32 round trip stays within the bound.
        da.encoding["dtype"] = dtype
        try:
            result = api.encode(da, base=self.base, quality=self.quality, modality="climate",
                                max_error=self.max_error, rel_error=self.rel_error)
        except InputError as e:
            reason = str(e).removeprefix(f"DataArray {_NAME!r}: ").removeprefix(f"{_NAME!r} ")
            raise InputError(f"inrcodec: cannot encode a chunk of shape {chunk.shape} ({chunk.dtype}): {reason}") from None
        return result.data

    def decode(self, buf: Any, out: Any = None) -> np.ndarray:
        """The chunk (*stack, lat, lon) of .inr bytes, in its original dtype; copied into `out` if given."""
        data = ensure_bytes(buf)
        try:
            CLIMATE.read_header(data)  # FormatError unless the chunk is a climate .inr file.
            decoded = api.decode(data)
        except MissingBaseError as e:
            named = f" (this array's codec names base {self.base!r})" if self.base else ""
            raise MissingBaseError(f"inrcodec: cannot decode a zarr chunk: {e}{named}; install that base "
                                   "network or put its folder on INRCODEC_BASES") from None
        except FormatError as e:
            raise FormatError(f"inrcodec: cannot decode a zarr chunk: {e}") from None
        dtype = np.dtype(decoded.array.encoding.get("dtype", np.float64))
        values = decoded.array.values.astype(dtype)  # NaN stays NaN; rounding is within the encoder's margin.
        return ndarray_copy(values, out) if out is not None else values


def check_chunk(shape: tuple[int, ...], dtype: np.dtype) -> None:
    """InputError unless chunks of this shape and dtype can be encoded: >= 2 dims, float32/float64."""
    if len(shape) < 2:
        raise InputError(f"inrcodec: chunks must have at least 2 dims (..., lat, lon), got shape {tuple(shape)}")
    if np.dtype(dtype).newbyteorder("=") not in DTYPES:
        raise InputError(f"inrcodec: chunks must be float32 or float64, got {np.dtype(dtype)}")


numcodecs.register_codec(InrCodec)


# --- zarr format 3 ------------------------------------------------------------------------------------

try:
    from zarr.abc.codec import BytesBytesCodec
    from zarr.registry import register_codec as _register_zarr_codec
except ImportError:  # zarr 2 (or none): it takes InrCodec itself as a compressor.
    BytesBytesCodec = None


if BytesBytesCodec is not None:

    @dataclasses.dataclass(frozen=True)
    class InrZarr3Codec(BytesBytesCodec):
        """InrCodec as a zarr 3 compressor (a bytes-to-bytes codec named "numcodecs.inrcodec").

        zarr 3 hands compressors the chunk's bytes from its default "bytes" serializer (little
        endian) with the chunk's shape and dtype; this rebuilds the array (*stack, lat, lon) from
        them. It must be the first compressor. Same options as InrCodec.
        """

        max_error: float | None = None
        rel_error: float | None = None
        quality: int | None = None
        base: str | None = None
        is_fixed_size = False

        def __init__(self, *, max_error: float | None = None, rel_error: float | None = None,
                     quality: int | None = None, base: str | None = None):
            for key, value in _bound_config(max_error, rel_error, quality, base).items():
                object.__setattr__(self, key, value)

        @cached_property
        def codec(self) -> InrCodec:
            return InrCodec(max_error=self.max_error, rel_error=self.rel_error, quality=self.quality, base=self.base)

        @classmethod
        def from_dict(cls, data: dict) -> "InrZarr3Codec":
            if data.get("name") != ZARR3_NAME:
                raise ValueError(f"expected a {ZARR3_NAME!r} codec, got {data.get('name')!r}")
            return cls(**data.get("configuration", {}))

        def to_dict(self) -> dict:
            config = self.codec.get_config()
            del config["id"]
            return {"name": ZARR3_NAME, "configuration": config}

        def validate(self, *, shape, dtype, chunk_grid) -> None:
            """Refuses arrays the codec cannot store (when the array is created, not at the first write)."""
            check_chunk(tuple(shape), dtype.to_native_dtype())

        def compute_encoded_size(self, input_byte_length: int, chunk_spec) -> int:
            raise NotImplementedError  # Variable: the rate follows the data.

        def _array(self, raw: bytes, chunk_spec) -> np.ndarray:
            dtype = chunk_spec.dtype.to_native_dtype().newbyteorder("<")
            if len(raw) != int(np.prod(chunk_spec.shape)) * dtype.itemsize:
                raise InputError(f"inrcodec: got {len(raw)} bytes for a chunk {tuple(chunk_spec.shape)} {dtype}: "
                                 "InrZarr3Codec must be the first compressor, after zarr's 'bytes' serializer")
            return np.frombuffer(raw, dtype).reshape(chunk_spec.shape)

        async def _encode_single(self, chunk_bytes, chunk_spec):
            def encode():
                data = self.codec.encode(self._array(chunk_bytes.to_bytes(), chunk_spec))
                return chunk_spec.prototype.buffer.from_bytes(data)

            return await asyncio.to_thread(encode)  # Off the event loop, as zarr's own codecs.

        async def _decode_single(self, chunk_bytes, chunk_spec):
            def decode():
                values = self.codec.decode(chunk_bytes.to_bytes())
                dtype = chunk_spec.dtype.to_native_dtype().newbyteorder("<")  # What the 'bytes' serializer reads.
                return chunk_spec.prototype.buffer.from_bytes(values.astype(dtype, copy=False).tobytes())

            return await asyncio.to_thread(decode)

    _register_zarr_codec(ZARR3_NAME, InrZarr3Codec)
    __all__.append("InrZarr3Codec")
