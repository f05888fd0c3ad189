"""A base network meta-trained on the first items of a dataset (api.compress_dataset's train=)."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from inrcodec import modalities
from inrcodec.core import bases
from inrcodec.bitstream.dataset_settings import Settings
from inrcodec.errors import InputError
from inrcodec.training import samplers
from inrcodec.training import train as training


def base_from_items(items: np.ndarray, modality: str, hints: dict, cfg: training.TrainConfig,
                    train_dir: str | Path | None = None) -> bases.Base:
    """Meta-trains a base with the recipe `cfg` on `items` (N, ...) of `modality`.

    The recipe's modality is set from the items (climate: also its value range and grid). The base,
    its record and checkpoint go to `train_dir` (default: a temporary folder, removed afterwards);
    training resumes from a checkpoint there.
    """
    fmt = modalities.by_name(modality)
    cfg = fmt.train_config(dataclasses.replace(cfg, modality=modality), items)
    untrained = bases.Base(cfg.name, modality, cfg.model, {}, b"", {"value_range": list(cfg.value_range)})
    settings = Settings(modality, tuple(items.shape[1:]), 0, 0, (), 1, **fmt.stack_layout(items, untrained, hints))
    fmt.check_stack(items, settings, 0)
    pool = samplers.SignalPool(fmt.stack_signals(items, settings, untrained), cfg.crop if fmt.TRAIN_CROPS else None)
    with tempfile.TemporaryDirectory(prefix="inrcodec-train-") as tmp:
        try:
            return training.train(cfg, [], Path(train_dir or tmp), sampler=pool)
        except ValueError as e:
            raise InputError(f"training a base network on the items failed: {e}") from None
