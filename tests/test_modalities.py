"""The modality plug-ins: each registered module satisfies modalities.Modality, the registry finds them,
their dataset conversions invert each other, and no modality branches live outside inrcodec/modalities."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inrcodec import modalities
from inrcodec.errors import FormatError, InputError
from inrcodec.modalities import Modality
from make_assets import synthetic_audio, synthetic_field, synthetic_image

PACKAGE = Path(modalities.__file__).resolve().parent.parent
PLUGINS = list(modalities.FORMATS.values())


def _protocol_members() -> list[str]:
    """The protocol's constants (annotations) and functions."""
    names = set(getattr(Modality, "__annotations__", {}))
    names |= {n for n, v in vars(Modality).items() if inspect.isfunction(v)}
    return sorted(n for n in names if not n.startswith("_"))


def _parameters(fn, options: tuple[str, ...] = ()) -> list[tuple]:
    """(kind, has a default) of each parameter but self and `options`: the plug-ins name the native
    signal their own way."""
    return [(p.kind, p.default is not p.empty) for p in inspect.signature(fn).parameters.values()
            if p.name != "self" and p.name not in options]


@pytest.mark.parametrize("plugin", PLUGINS, ids=[p.NAME for p in PLUGINS])
def test_every_plugin_satisfies_the_protocol(plugin):
    assert isinstance(plugin, Modality)
    for name in _protocol_members():
        assert hasattr(plugin, name), f"{plugin.NAME} lacks {name}"
        spec = getattr(Modality, name, None)
        if inspect.isfunction(spec):
            assert callable(getattr(plugin, name)), f"{plugin.NAME}.{name} is not a function"
            options = {"read": plugin.READ_OPTIONS, "encode": plugin.ENCODE_OPTIONS}.get(name, ())
            assert _parameters(getattr(plugin, name), options) == _parameters(spec), f"{plugin.NAME}.{name}: parameters"
    assert set(plugin.READ_OPTIONS) <= set(inspect.signature(plugin.read).parameters)
    assert set(plugin.ENCODE_OPTIONS) <= set(inspect.signature(plugin.encode).parameters)
    assert isinstance(plugin.NAME, str) and isinstance(plugin.CODE, int) and isinstance(plugin.TRAIN_CROPS, bool)
    assert isinstance(plugin.FIXED_RANGE, bool)
    assert all(s.startswith(".") and s == s.lower() for s in plugin.SUFFIXES)
    assert isinstance(plugin.READ_OPTIONS, tuple) and isinstance(plugin.RATE_UNIT, str)


def test_registry_names_codes_and_suffixes_are_unique():
    assert [modalities.by_name(p.NAME) for p in PLUGINS] == PLUGINS
    assert [modalities.by_code(p.CODE) for p in PLUGINS] == PLUGINS
    suffixes = [s for p in PLUGINS for s in p.SUFFIXES]
    assert len(suffixes) == len(set(suffixes))
    for p in PLUGINS:
        assert modalities.for_path(f"x{p.SUFFIXES[0].upper()}") is p
    with pytest.raises(InputError, match="unknown modality"):
        modalities.by_name("video")
    with pytest.raises(FormatError, match="unknown modality"):
        modalities.by_code(99)
    with pytest.raises(InputError, match="--modality"):
        modalities.for_path("notes.txt")


def test_in_memory_signals_find_their_plugin():
    field = synthetic_field(2, 9, 16)
    cases = {"image": synthetic_image(8, 8), "audio": synthetic_audio(64, 1), "climate": field}
    for name, signal in cases.items():
        assert modalities.for_signal(signal).NAME == name
    native = modalities.for_signal(field).native(field)
    assert modalities.by_name("climate").accepts(native) and native.values.shape == (2, 9, 16)
    with pytest.raises(InputError, match="cannot tell the modality of a str"):
        modalities.for_signal("x.png")


@dataclasses.dataclass
class _Settings:
    shape: tuple[int, ...]
    lo: float = 0.0
    hi: float = 1.0
    mask: str = ""
    latlon: str = ""
    template: str = ""


def test_dataset_conversions_invert_each_other():
    base = None  # Only the climate layout and inputs need a base; see test_climate_stack_layout.
    images = np.stack([synthetic_image(8, 8), synthetic_image(8, 8)[::-1]])
    image = modalities.by_name("image")
    settings = _Settings(images.shape[1:])
    values = image.stack_signals(images, settings, base)["values"]
    assert values.shape == (2, 8, 8, 3) and image.signal_shape(settings.shape) == (8, 8)
    np.testing.assert_array_equal(image.stack_arrays(values, settings), images)
    grey = images[..., :1]
    grey_values = image.stack_signals(grey, _Settings(grey.shape[1:]), base)["values"]
    np.testing.assert_array_equal(image.stack_arrays(grey_values, _Settings(grey.shape[1:])), grey)

    audio = modalities.by_name("audio")
    clips = np.stack([np.linspace(-1, 1, 32, dtype=np.float32)] * 2)
    settings = _Settings(clips.shape[1:])
    values = audio.stack_signals(clips, settings, base)["values"]
    assert values.shape == (2, 32, 1) and audio.stack_inputs(settings, base, 2) is None
    np.testing.assert_allclose(audio.stack_arrays(values, settings), clips, atol=1e-6)
    with pytest.raises(InputError, match="1-D"):
        audio.stack_layout(images, base, {})
    with pytest.raises(InputError, match="uint8"):
        image.stack_layout(clips, base, {})


def test_climate_stack_layout_mask_and_grid(inr_bases):
    from inrcodec.core import bases

    base = bases.load_base("tiny-climate-test-base")
    climate = modalities.by_name("climate")
    fields = synthetic_field(3, 9, 16, missing=True)
    slabs, hints = climate.stack_items(fields, None)
    assert len(slabs) == 3 and "template" in hints  # Read when asked for, slab by slab.
    arrays = slabs.slab(0, 3)
    assert arrays.shape == (3, 9, 16)
    np.testing.assert_array_equal(np.stack(list(slabs)), arrays)
    settings = _Settings(arrays.shape[1:], **climate.stack_layout(arrays, base, hints))
    climate.check_stack(arrays, settings, 0)
    signals = climate.stack_signals(arrays, settings, base)
    assert signals["values"].shape == (3, 9, 16, 1) and signals["weights"].shape == (3, 9, 16)
    np.testing.assert_array_equal(climate.stack_inputs(settings, base, 3), signals["inputs"])
    back = climate.stack_arrays(signals["values"], settings)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(arrays))
    np.testing.assert_allclose(back, arrays, rtol=1e-5, equal_nan=True)
    other = arrays.copy()
    other[2, 0, 0] = np.nan if not np.isnan(other[2, 0, 0]) else 1.0
    with pytest.raises(InputError, match="item 7: its missing values differ"):
        climate.check_stack(other, settings, 5)


# --- boundaries ----------------------------------------------------------------------------------

BRANCH = re.compile(r"modality\s*[!=]=|\.NAME\s*[!=]=|NAME\s*==")


def _branching_files() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if rel.startswith(("inrcodec/modalities/", "inrcodec/bitstream/")):
            continue  # The plug-ins, and the header readers that check the container's modality byte.
        if BRANCH.search(path.read_text(encoding="utf-8")):
            found.add(rel)
    return found


def test_no_modality_branches_outside_the_plugins():
    assert _branching_files() == set()


def test_the_cli_imports_only_the_api():
    tree = ast.parse((PACKAGE / "cli.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inrcodec"):
            imported |= {f"{node.module}.{a.name}" if node.module == "inrcodec" else node.module for a in node.names}
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names if a.name.startswith("inrcodec")}
    assert imported == {"inrcodec.__version__", "inrcodec.api", "inrcodec.errors"}


def test_the_api_imports_neither_training_nor_evaluation():
    code = ("import sys, inrcodec.api; "
            "print([m for m in sys.modules if m.startswith(('inrcodec.training', 'inrcodec.evaluation'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("stem", ["golden", "golden-context", "golden-audio", "golden-climate"])
def test_decoding_a_file_imports_no_jax(stem):
    """`inrcodec decode` starts fast: reading the file, the base and the decoder's numpy synthesis need no JAX."""
    assets = Path(__file__).resolve().parent / "assets"
    code = ("import os, sys; from inrcodec import api; "
            f"api.decode(open({str(assets / (stem + '.inr'))!r}, 'rb').read()); "
            "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'flax', 'optax')}))")
    env = {**os.environ, "INRCODEC_BASES": str(assets)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True, env=env)
    assert out.stdout.strip() == "[]"
