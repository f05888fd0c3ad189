"""Compact base format: sparse SIREN weights round-trip to float16 precision; bad bytes are FormatErrors."""

import struct
import zlib

import jax
import numpy as np
import pytest

from inrcodec.bitstream import weights
from inrcodec.core import bases, siren
from inrcodec.training import l0, pruning
from inrcodec.core.config import ModelConfig
from inrcodec.errors import FormatError

CFG = ModelConfig(channels=(1, 1, 1, 1), hidden=32, depth=3)


def _sparse_net(density):
    net = siren.init(jax.random.PRNGKey(0), CFG)
    return l0.gate_weights(net, pruning.magnitude_prune(net, density))


def test_sparse_base_round_trips_to_float16_precision():
    net = _sparse_net(0.25)
    arrays = bases.flat_arrays(net)
    decoded = weights.decode(weights.encode(arrays))
    assert list(decoded) == list(arrays)
    for name, array in arrays.items():
        assert decoded[name].dtype == np.float32 and decoded[name].shape == array.shape
        np.testing.assert_array_equal(decoded[name], array.astype(np.float16).astype(np.float32))
        np.testing.assert_array_equal(decoded[name] == 0, array == 0)


def test_compact_size_shrinks_with_density():
    sizes = [len(weights.encode(bases.flat_arrays(_sparse_net(d)))) for d in (1.0, 0.5, 0.25, 0.1)]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < 0.3 * sizes[0]
    assert sizes[0] < len(bases.params_to_bytes(_sparse_net(1.0)))  # Below float32 .npz even when dense.


def test_degenerate_inputs_round_trip():
    for arrays in ({}, {"zeros": np.zeros((3, 2))}, {"one": np.full((4,), 0.5)}):
        decoded = weights.decode(weights.encode(arrays))
        assert {k: v.tolist() for k, v in decoded.items()} == {k: np.asarray(v, np.float32).tolist() for k, v in arrays.items()}


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_bad_bytes_raise_format_errors():
    data = weights.encode(bases.flat_arrays(_sparse_net(0.5)))
    corrupt = bytearray(data)
    corrupt[len(data) // 2] ^= 0xFF
    huge = _with_crc(weights.MAGIC + struct.pack("<BH", 1, 1) + struct.pack("<B1sB2I", 1, b"w", 2, 1 << 20, 1 << 20))
    for bad in (b"", b"nope" + data[4:], data[:-1], bytes(corrupt), _with_crc(data[:-4] + b"x"),
                _with_crc(data[:4] + b"\x09" + data[5:-4]), huge, _with_crc(data[:40])):
        with pytest.raises(FormatError):
            weights.decode(bad)


def test_an_embedded_manifest_with_an_absurd_depth_is_refused_before_listing_its_layers():
    blob = weights.encode(bases.flat_arrays(siren.init(jax.random.PRNGKey(0), CFG)))
    manifest = {"name": "x", "modality": "image", "model": {**CFG.to_dict(), "depth": 2_000_000}}
    with pytest.raises(FormatError, match="2000000 layers"):  # Took 25 s and 2 GB before the check (fuzz 0:5587).
        bases.base_from_embedded(blob, manifest)
