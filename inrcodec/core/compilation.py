"""JAX's persistent compilation cache for inrcodec: compiled programs kept across runs.

A second encode of a same-sized input then skips compiling its fit (measurements: meta/README.md).
"""

from __future__ import annotations

import os
from pathlib import Path

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
    return path
