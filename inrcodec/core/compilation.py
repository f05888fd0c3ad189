"""Programs kept across runs: JAX's persistent compilation cache, and the traced programs of the
encoder's fit (jax.export), so that a second encode of a same-sized input skips compiling and
tracing its fit (measurements: meta/README.md).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any, Callable

MIN_COMPILE_SECONDS = 1.0  # Programs that compile faster are not worth a disk read.


def default_directory() -> Path | None:
    """$INRCODEC_CACHE, else $XDG_CACHE_HOME/inrcodec/jax (~/.cache/...); None if INRCODEC_CACHE=off."""
    where = os.environ.get("INRCODEC_CACHE", "")
    if where.lower() == "off":
        return None
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(where) if where else root / "inrcodec" / "jax"


def use_cache(directory: str | Path | None = None) -> Path | None:
    """Keeps compiled programs in `directory` (default: `default_directory()`) from now on in this process.

    Returns the directory in use, or None when there is none: turned off, or not creatable or
    writable (then programs are simply compiled again; nothing fails).
    """
    global _programs
    _programs = None
    path = Path(directory) if directory is not None else default_directory()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(path, os.W_OK):
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    _programs = path / "programs"
    return path


_programs: Path | None = None  # Where traced programs are kept (set by use_cache).
_loaded: dict[str, Any] = {}  # Traced programs of this process, by key.


@functools.cache
def _source_digest() -> str:
    """A digest of inrcodec's source and JAX's version: a kept program is never used by other code."""
    import jax

    digest = hashlib.sha256(jax.__version__.encode())
    for source in sorted(Path(__file__).resolve().parents[1].rglob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def call(fn: Callable, static: dict, *args):
    """`fn(*args, **static)` for a jitted `fn`; with a cache in use (use_cache), its traced program
    is exported (jax.export) and kept on disk, keyed by the source, `static` and the arguments'
    structure, shapes and dtypes, so the next run calls it without tracing (~2.6 s for the fit).
    A kept program that cannot be read is traced again and replaced."""
    import jax
    from jax import export

    if _programs is None:
        return fn(*args, **static)
    leaves, tree = jax.tree_util.tree_flatten(args)
    avals = [str(jax.typeof(x)) for x in leaves]  # Shape and dtype ("~" marks a weakly typed Python number).
    key = hashlib.sha256(repr((_source_digest(), jax.default_backend(), fn.__module__, fn.__qualname__,
                               sorted(static.items()), str(tree), avals)).encode()).hexdigest()[:32]
    program = _loaded.get(key)
    path = _programs / f"{key}.jaxexport"
    if program is None and path.is_file():
        try:
            program = export.deserialize(bytearray(path.read_bytes()))
        except Exception:  # noqa: BLE001 - a damaged or foreign file: trace again.
            program = None
    if program is None:
        program = export.export(fn)(*args, **static)
        try:
            _programs.mkdir(parents=True, exist_ok=True)
            temp = path.with_suffix(f".{os.getpid()}.tmp")
            temp.write_bytes(program.serialize())
            os.replace(temp, path)
        except OSError:
            pass  # Not writable: traced again next run.
    _loaded[key] = program
    return program.call(*args)
