"""Modalities: one plug-in module per kind of signal (image, audio, climate) behind one protocol.

`Modality` lists what every plug-in module defines; the rest of the package reaches a modality only
through this registry (by_name, by_code, for_path, for_signal, for_stack) and those members, so
adding a modality means adding a module here, not branches elsewhere.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Any, Iterable, Protocol, runtime_checkable

import numpy as np

from inrcodec.bitstream import container, files
from inrcodec.core import bases
from inrcodec.core.config import FitConfig
from inrcodec.errors import FormatError, InputError
from inrcodec.modalities.common import Decoded, EncodeResult, Progress, StackSettings, StackVariable, check_base


@runtime_checkable
class Modality(Protocol):
    """The members of a modality plug-in module. "native" is the modality's in-memory signal (image
    array (H, W, C), signals.audio.Audio, signals.climate.Field); "items" are the same-shaped arrays of
    a dataset (n, *shape); "values" are model outputs in [0, 1], (n, *signal_shape, C)."""

    NAME: str  # "image", "audio", "climate": in base manifests, archive settings and results.
    CODE: int  # The container's modality byte.
    SUFFIXES: tuple[str, ...]  # Input files it reads (lower case, with the dot).
    OUTPUT_SUFFIX: str  # What `decode` writes by default.
    RATE_UNIT: str  # "bpp", "kbps" or "bits per field".
    READ_OPTIONS: tuple[str, ...]  # Keyword options `read` takes (e.g. "var", "seconds").
    ENCODE_OPTIONS: tuple[str, ...]  # Keyword options `encode` takes besides the quality (e.g. "max_error").
    TRAIN_CROPS: bool  # Whether meta-training draws random crops of the items (else whole items).
    FIXED_RANGE: bool  # Whether values map to [0, 1] by a physical range the base records (manifest value_range).

    # Files and the codec.
    def read(self, path: str | Path, single_file: bool = False, **options: Any) -> Any:
        """The native signal of a file; options not in READ_OPTIONS are ignored. `single_file`: the signal
        goes into one .inr file, so one larger than a file holds may be refused from the file's header,
        before its values are read."""

    def encode(self, native: Any, base: bases.Base, quality: int, fit_cfg: FitConfig = ..., seed: int = ...,
               progress: Progress | None = ..., **options: Any) -> EncodeResult:
        """The .inr bytes of a native signal at one quality level, and the decoder's reconstruction;
        options not in ENCODE_OPTIONS are ignored (the API refuses them first)."""

    def read_header(self, data: bytes) -> tuple[container.Container, Any]:
        """The validated container and the modality's header (with rate(file bytes) and describe())."""

    def decode(self, data: bytes, base: bases.Base | None = ...) -> Decoded:
        """The native signal of .inr bytes (deterministic)."""

    def write(self, decoded: Decoded, suffix: str = ...) -> bytes:
        """A decoded signal as file bytes of the format `suffix` names."""

    def summary(self, decoded: Decoded) -> str:
        """One line describing a decoded signal."""

    # In-memory signals.
    def accepts(self, signal: Any) -> bool:
        """Whether an in-memory object is a signal of this modality."""

    def native(self, signal: Any) -> Any:
        """An accepted in-memory signal as the native type `encode` takes."""

    # Evaluation.
    def positions(self, native: Any) -> int:
        """Sample positions of a signal: pixels, samples (frames * channels) or grid points."""

    def item_shape(self, native: Any) -> tuple:
        """The shape recorded for a signal: image (h, w, c), audio (frames, channels, rate), climate field shape."""

    def same(self, a: Any, b: Any) -> bool:
        """Whether two native signals are identical (NaN equal to NaN)."""

    def distortion(self, native: Any, decoded: Decoded) -> dict[str, float]:
        """The modality's metrics of a decoded signal against the original, "psnr" first."""

    # Datasets (.inrpack): `settings` is the archive's shared settings (StackSettings).
    def stack_items(self, items: Any, dim: str | None) -> tuple[Iterable[np.ndarray], dict] | None:
        """(items (n, *shape), layout hints) when `items` is an in-memory stack of this modality, else None."""

    def item_array(self, native: Any) -> np.ndarray:
        """One dataset item of a file's native signal."""

    def stack_layout(self, items: np.ndarray, base: bases.Base, hints: dict) -> dict:
        """The settings this modality stores for the whole stack, from the first items (InputError if unfit)."""

    def check_stack(self, items: np.ndarray, settings: StackSettings, first: int) -> None:
        """InputError if items (the first has index `first`) do not fit the stack's layout."""

    def stack_signals(self, items: np.ndarray, settings: StackSettings, base: bases.Base) -> dict:
        """Stacked model signals {"values": (n, *signal_shape, C), optional "inputs", "weights"}."""

    def stack_arrays(self, values: np.ndarray, settings: StackSettings) -> np.ndarray:
        """Decoded values (n, *signal_shape, C) in [0, 1] -> items (n, *shape)."""

    def bound_block(self, items: np.ndarray, ints: list[np.ndarray], settings: StackSettings,
                    base: bases.Base) -> bytes:
        """An error-bounded archive block's residual section for items (n, *shape) and their int latents
        (per level (n, *grid, c)); InputError for a modality without error bounds."""

    def decode_bounded_block(self, ints: list[np.ndarray], section: bytes, settings: StackSettings,
                             base: bases.Base) -> np.ndarray:
        """Inverse of `bound_block`: the block's items (n, *shape)."""

    def signal_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The coded grid of an item of `shape`: image (H, W, C) -> (H, W); others unchanged."""

    def stack_inputs(self, settings: StackSettings, base: bases.Base, n: int) -> np.ndarray | None:
        """The fixed inputs of n items, (n, *signal_shape, features), or None."""

    def stack_variable(self, settings: StackSettings, n: int) -> StackVariable:
        """How the n items of an archive read as one xarray variable (dims, coordinates, attributes)."""

    def train_config(self, cfg: Any, items: np.ndarray) -> Any:
        """A training recipe (training.train.TrainConfig) fitted to sample items (e.g. their value range)."""


PLUGINS = ("image", "audio", "climate")  # Modules of this package, each imported on first use.


@functools.cache
def _plugin(name: str) -> Modality:
    return importlib.import_module(f"{__name__}.{name}")


def _registry() -> dict[str, Modality]:
    return {name: _plugin(name) for name in PLUGINS}


def __getattr__(name: str):
    if name == "FORMATS":  # {name: plug-in module} of every modality.
        return _registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def by_name(name: str) -> Modality:
    if name not in PLUGINS:
        raise InputError(f"unknown modality {name!r}; expected one of {sorted(PLUGINS)}")
    return _plugin(name)


def by_code(code: int) -> Modality:
    """The plug-in of a container modality code (only that plug-in is imported: decoding an image
    needs neither the audio nor the climate readers)."""
    if code not in files.HEADERS:
        raise FormatError(f"unknown modality {code}")
    return by_name(files.HEADERS[code].NAME)


def for_suffix(path: str | Path) -> Modality | None:
    """The modality whose SUFFIXES hold the file's suffix, or None."""
    suffix = Path(path).suffix.lower()
    return next((m for m in _registry().values() if suffix in m.SUFFIXES), None)


def for_path(path: str | Path, modality: str | None = None) -> Modality:
    """The modality of an input file: `modality` if given, else from the file's suffix."""
    if modality:
        return by_name(modality)
    found = for_suffix(path)
    if found is None:
        raise InputError(f"{path}: cannot tell the modality from the suffix {Path(path).suffix.lower()!r}; "
                         "pass --modality")
    return found


def for_signal(signal: Any) -> Modality:
    """The modality of an in-memory signal (the first plug-in that accepts it)."""
    found = next((m for m in _registry().values() if m.accepts(signal)), None)
    if found is None:
        raise InputError(f"cannot tell the modality of a {type(signal).__name__}; pass modality=")
    return found


def for_stack(items: Any, dim: str | None = None) -> tuple[Modality, Iterable[np.ndarray], dict] | None:
    """(modality, items (n, *shape), layout hints) of an in-memory stack a plug-in recognises, else None."""
    for m in _registry().values():
        found = m.stack_items(items, dim)
        if found is not None:
            return (m, *found)
    return None


def taking_option(option: str) -> list[str]:
    """Names of the modalities whose `read` or `encode` takes `option`."""
    return [m.NAME for m in _registry().values() if option in m.READ_OPTIONS + m.ENCODE_OPTIONS]


__all__ = ["FORMATS", "Decoded", "EncodeResult", "Modality", "Progress", "StackSettings", "StackVariable", "by_code",
           "by_name", "check_base", "for_path", "for_signal", "for_stack", "for_suffix", "taking_option"]
