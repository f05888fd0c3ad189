"""Atomic file output: write a temp file in the target directory, then rename over the target."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from inrcodec.errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: str | Path, force: bool) -> None:
    """Fails early (before any long computation) if `atomic_write(path, ..., force)` would fail."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    if path.exists() and not force:
        raise InputError(f"{path}: already exists (use --force to overwrite)")
    if not parent.is_dir():
        raise InputError(f"{parent}: output directory does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{parent}: output directory is not writable")


def atomic_write(path: str | Path, data: bytes, force: bool = True) -> None:
    """Writes `data` to `path` so that readers see the old file or the whole new one, never a part.

    Raises:
      InputError: `path` exists and not `force`, or its directory is missing or not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    if path.exists() and not force:
        raise InputError(f"{path}: already exists (use --force to overwrite)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{parent}: output directory does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise InputError(f"{parent}: cannot write there ({e.strerror})") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
