"""Traced programs kept across runs (core.compilation.call): the traced result, read back without
tracing, a damaged file traced again, and the encoder's fit coding the same bytes either way."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import DEBUG_FIT, TINY_BASE_NAME
from make_assets import synthetic_image

from inrcodec import api
from inrcodec.core import compilation


@functools.partial(jax.jit, static_argnames=("power",))
def _poly(x, coefficient, power):
    return {"sum": [jnp.sum(coefficient * x**power)], "double": x * 2}


@pytest.fixture
def kept(tmp_path, monkeypatch):
    """A fresh directory of kept programs, and none loaded in this process."""
    monkeypatch.setattr(compilation, "_programs", tmp_path / "programs")
    monkeypatch.setattr(compilation, "_loaded", {})
    return tmp_path / "programs"


def _no_tracing(*args, **kwargs):
    raise AssertionError("the program was traced again")


def _assert_same(got, want):
    jax.tree_util.tree_map(np.testing.assert_array_equal, got, want)


def test_a_kept_program_gives_the_traced_result_and_is_read_back_without_tracing(kept, monkeypatch):
    x, c = np.arange(4, dtype=np.float32), np.float32(0.5)
    _assert_same(compilation.call(_poly, {"power": 3}, x, c), _poly(x, c, power=3))
    assert len(list(kept.glob("*.jaxexport"))) == 1
    monkeypatch.setattr(compilation, "_loaded", {})  # As a new process: only the file is left.
    monkeypatch.setattr(jax.export, "export", _no_tracing)
    _assert_same(compilation.call(_poly, {"power": 3}, x + 1, c), _poly(x + 1, c, power=3))
    with pytest.raises(AssertionError, match="traced again"):  # Another static value is another program.
        compilation.call(_poly, {"power": 2}, x, c)
    with pytest.raises(AssertionError, match="traced again"):  # So is another shape.
        compilation.call(_poly, {"power": 3}, np.arange(5, dtype=np.float32), c)


def test_a_damaged_kept_program_is_traced_again_and_replaced(kept, monkeypatch):
    x, c = np.arange(4, dtype=np.float32), np.float32(2.0)
    compilation.call(_poly, {"power": 1}, x, c)
    (path,) = kept.glob("*.jaxexport")
    path.write_bytes(b"not a program")
    monkeypatch.setattr(compilation, "_loaded", {})
    _assert_same(compilation.call(_poly, {"power": 1}, x, c), _poly(x, c, power=1))
    assert path.read_bytes() != b"not a program"
    assert jax.export.deserialize(bytearray(path.read_bytes())).call(x, c)["double"].shape == (4,)


def test_the_fit_codes_the_same_bytes_with_and_without_kept_programs(kept, monkeypatch, inr_bases):
    image = synthetic_image(20, 28)
    kept_bytes = api.encode(image, base=TINY_BASE_NAME, fit=DEBUG_FIT).data
    assert len(list(kept.glob("*.jaxexport"))) == 2  # The fit's two programs: adaptation and refinement.
    monkeypatch.setattr(compilation, "_loaded", {})
    assert api.encode(image, base=TINY_BASE_NAME, fit=DEBUG_FIT).data == kept_bytes  # Read back.
    monkeypatch.setattr(compilation, "_programs", None)
    assert api.encode(image, base=TINY_BASE_NAME, fit=DEBUG_FIT).data == kept_bytes  # Traced, not kept.
