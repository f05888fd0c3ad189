"""A torch `Dataset` over an .inrpack archive (optional extra: pip install 'inrcodec[torch]').

Yields decoded signals, or the raw modulations (the dequantized latents, flattened and
concatenated over the levels) for learning on modulations as in functa.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from inrcodec.dataset import open_archive
from inrcodec.errors import InputError

try:
    import torch
    from torch.utils.data import Dataset
except ImportError:  # The adapter is optional; the rest of inrcodec never imports torch.
    torch, Dataset = None, object

KINDS = ("signal", "modulations")


class ArchiveDataset(Dataset):
    """archive[i] as a float32 tensor: the decoded signal (its native shape), or its modulations (D,)."""

    def __init__(self, path: str | Path, kind: str = "signal", transform: Callable | None = None):
        if torch is None:
            raise InputError("the torch adapter needs PyTorch: pip install 'inrcodec[torch]'")
        if kind not in KINDS:
            raise InputError(f"kind must be one of {KINDS}, got {kind!r}")
        self.archive = open_archive(path)
        self.kind = kind
        self.transform = transform

    def __len__(self) -> int:
        return len(self.archive)

    def __getitem__(self, i: int):
        if self.kind == "signal":
            x = np.asarray(self.archive[i], np.float32)
        else:
            x = np.concatenate([m.reshape(-1) for m in self.archive.modulations(i)]).astype(np.float32)
        x = torch.from_numpy(np.ascontiguousarray(x))
        return self.transform(x) if self.transform else x
