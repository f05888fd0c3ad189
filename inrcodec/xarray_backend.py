"""Archives (.inrpack) as xarray Datasets: `xr.open_dataset("f.inrpack", engine="inrcodec")` (the
package's "xarray.backends" entry point) and `Archive.to_xarray()`.

The Dataset holds one variable, the archive's items as the modality plug-in describes them
(modalities.StackVariable): a climate archive written from a DataArray comes back with its dims,
coordinates and attributes. Nothing is decoded when it opens; indexing decodes the items it
touches, and chunks= makes the variable Dask-backed (each Dask task opens the archive itself).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.core import indexing

from inrcodec import dataset
from inrcodec.bitstream import archive
from inrcodec.core import bases

__all__ = ["ArchiveBackend", "open_archive_dataset"]


class ArchiveArray(BackendArray):
    """The archive's items as one lazily decoded array, in the variable's dim order."""

    def __init__(self, archive_: dataset.Archive, base: bases.Base | None = None):
        variable = archive_.variable
        self.path, self._base = archive_.path, base
        self.shape, self.dtype = variable.shape, np.dtype(variable.dtype)
        self._order = [variable.dims.index(d) for d in variable.item_dims]  # Item axis i is variable axis order[i].
        self._item_shape = tuple(variable.sizes[d] for d in variable.item_dims)
        self._stacked = len(variable.item_dims) - len(archive_.settings.shape)  # Leading item axes: the index.
        self._lock = threading.Lock()
        self._archive: dataset.Archive | None = None

    def __getstate__(self) -> dict:  # Dask ships the array to its workers; each opens the file itself.
        return {**self.__dict__, "_lock": None, "_archive": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._outer)

    def _outer(self, key: tuple) -> np.ndarray:
        """Outer indexing: per variable axis an int, a slice or a 1-D integer array."""
        positions = []
        for a in self._order:
            k, size = key[a], self.shape[a]
            if isinstance(k, (int, np.integer)):
                positions.append(np.array([int(k) % size]))
            elif isinstance(k, slice):
                positions.append(np.arange(*k.indices(size)))
            else:
                positions.append(np.asarray(k, np.int64) % size)
        stack_shape = self._item_shape[: self._stacked]
        ids = np.arange(int(np.prod(stack_shape, dtype=np.int64))).reshape(stack_shape)[np.ix_(*positions[: self._stacked])]
        with self._lock:
            values = self._open().items(ids.ravel())
        values = values.reshape(*ids.shape, *self._item_shape[self._stacked:])
        if len(positions) > self._stacked:
            values = values[(slice(None),) * self._stacked + np.ix_(*positions[self._stacked:])]
        values = np.transpose(values, np.argsort(self._order))  # To the variable's dim order.
        drop = tuple(a for a, k in enumerate(key) if isinstance(k, (int, np.integer)))
        return values.squeeze(axis=drop) if drop else values

    def _open(self) -> dataset.Archive:
        if self._archive is None:
            self._archive = dataset.open_archive(self.path, self._base)
        return self._archive


def open_archive_dataset(path: str | os.PathLike, *, chunks: Any = None, base: bases.Base | None = None,
                         drop_variables: Any = None) -> xr.Dataset:
    """The archive at `path` as an xarray.Dataset (values decoded when read; chunks= as xarray's)."""
    with dataset.open_archive(path, base) as opened:
        variable = opened.variable
        data = indexing.LazilyIndexedArray(ArchiveArray(opened, base))
    var = xr.Variable(variable.dims, data, variable.attrs, encoding=dict(variable.encoding))
    coords = {name: c for name, c in variable.coords.items() if name not in set(drop_variables or ())}
    ds = xr.Dataset({variable.name: var}, coords=coords, attrs=variable.global_attrs)
    if chunks is not None:
        ds = ds.chunk(chunks)
    return ds


class ArchiveBackend(BackendEntrypoint):
    """xarray's engine "inrcodec": xr.open_dataset("fields.inrpack", engine="inrcodec", chunks={})."""

    description = "inrcodec dataset archives (.inrpack): compressed fields, decoded when read"
    url = "https://pypi.org/project/inrcodec/"
    open_dataset_parameters = ("filename_or_obj", "drop_variables")

    def open_dataset(self, filename_or_obj, *, drop_variables=None) -> xr.Dataset:
        return open_archive_dataset(filename_or_obj, drop_variables=drop_variables)

    def guess_can_open(self, filename_or_obj) -> bool:
        if isinstance(filename_or_obj, (str, os.PathLike)):
            path = Path(filename_or_obj)
            if path.suffix == ".inrpack":
                return True
            try:
                with open(path, "rb") as f:
                    return f.read(len(archive.ARCHIVE_MAGIC)) == archive.ARCHIVE_MAGIC
            except OSError:
                return False
        return False
