"""Rate-distortion results in the CompressAI JSON schema (the metrics are in inrcodec.signals.metrics).

The schema is the one written by CompressAI's ``eval_model`` and read by coinpp's results folder::

    {
     "name": "inrcodec",
     "description": "...",
     "results": {"bpp": [...], "psnr-rgb": [...], "encoding_time": [...], "decoding_time": [...], ...},
     "per_item": [{"file": [...], "bpp": [...], ...}, ...],   # optional, one dict per quality point
     "meta": {"command": "...", "date": "...", "machine": "..."}  # optional
    }

Every list in ``results`` has one entry per quality point (rate-distortion point), each the mean
over the evaluated items. Pure numpy; nothing here prints.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from inrcodec._io import atomic_write

# Metrics listed first (in this order) when present; any others follow in order of appearance.
STANDARD_METRICS = ("bpp", "psnr-rgb", "encoding_time", "decoding_time")
PER_ITEM_KEY = "per_item"


def _to_builtin(value: Any) -> Any:
    """Converts numpy scalars/arrays (possibly nested in lists/dicts) to JSON-serialisable builtins."""
    if isinstance(value, dict):
        return {str(k): _to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_builtin(v) for v in value]
    if isinstance(value, np.ndarray):
        return _to_builtin(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def make_results(
    name: str,
    description: str,
    points: list[dict[str, Any]],
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Builds a results dict from per-quality-point metrics.

    Args:
        name: Codec name (the legend label in plots).
        description: Free-text description of the codec/setting.
        points: One dict per quality point mapping metric name to its value averaged over items
            (must include "bpp"; all points must have the same metrics). A point may also carry
            "per_item": a dict of per-file lists (e.g. {"file": [...], "bpp": [...]}).
        meta: Optional provenance (command, date, machine, ...).

    Returns:
        The results dict in the CompressAI schema, validated.

    Raises:
        ValueError: If there are no points, a point lacks "bpp", or points disagree on metrics.
    """
    if not points:
        raise ValueError("make_results: need at least one quality point")
    metric_sets = [tuple(k for k in p if k != PER_ITEM_KEY) for p in points]
    keys: list[str] = [k for k in STANDARD_METRICS if k in metric_sets[0]]
    keys += [k for k in metric_sets[0] if k not in keys]
    for i, ks in enumerate(metric_sets):
        if "bpp" not in ks:
            raise ValueError(f"make_results: quality point {i} has no 'bpp'")
        if set(ks) != set(keys):
            raise ValueError(
                f"make_results: quality point {i} has metrics {sorted(ks)}, "
                f"but point 0 has {sorted(keys)}"
            )
    out: dict[str, Any] = {
        "name": str(name),
        "description": str(description),
        "results": {k: [_to_builtin(p[k]) for p in points] for k in keys},
    }
    if any(PER_ITEM_KEY in p for p in points):
        out[PER_ITEM_KEY] = [_to_builtin(p.get(PER_ITEM_KEY, {})) for p in points]
    if meta is not None:
        out["meta"] = _to_builtin(dict(meta))
    validate_results(out)
    return out


def validate_results(results: Any) -> None:
    """Checks that a dict follows the results schema.

    Args:
        results: The decoded JSON object.

    Raises:
        ValueError: Describing the first problem found.
    """
    if not isinstance(results, dict):
        raise ValueError(f"results: top level must be an object, got {type(results).__name__}")
    if "name" not in results:
        raise ValueError("results: missing 'name'")
    if not isinstance(results["name"], str):
        raise ValueError("results: 'name' must be a string")
    if "description" in results and not isinstance(results["description"], str):
        raise ValueError("results: 'description' must be a string")
    if "results" not in results:
        raise ValueError("results: missing 'results'")
    metrics = results["results"]
    if not isinstance(metrics, dict):
        raise ValueError("results: 'results' must be an object of metric lists")
    if "bpp" not in metrics:
        raise ValueError("results: 'results' has no 'bpp' list")
    for key, values in metrics.items():
        if not isinstance(values, list):
            raise ValueError(f"results: 'results.{key}' must be a list, got {type(values).__name__}")
    n = len(metrics["bpp"])
    bad = {k: len(v) for k, v in metrics.items() if len(v) != n}
    if bad:
        raise ValueError(f"results: metric lists differ in length: 'bpp' has {n}, but {bad}")
    if PER_ITEM_KEY in results:
        per_item = results[PER_ITEM_KEY]
        if not isinstance(per_item, list) or not all(isinstance(d, dict) for d in per_item):
            raise ValueError("results: 'per_item' must be a list of objects")
        if len(per_item) != n:
            raise ValueError(f"results: 'per_item' has {len(per_item)} entries, expected {n} (one per point)")
    if "meta" in results and not isinstance(results["meta"], dict):
        raise ValueError("results: 'meta' must be an object")


def write_results(path: str | os.PathLike[str], results: dict[str, Any]) -> None:
    """Writes results as JSON atomically (temp file in the same directory + os.replace).

    Args:
        path: Destination file; its parent directories are created if needed.
        results: Results dict (validated before writing).
    """
    validate_results(results)
    text = json.dumps(_to_builtin(results), indent=1) + "\n"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text.encode("utf-8"))


def read_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads and validates a results JSON file.

    Args:
        path: File written by `write_results` (or by CompressAI / coinpp).

    Returns:
        The results dict.

    Raises:
        ValueError: If the file is not valid JSON or does not follow the schema.
    """
    with open(path, encoding="utf-8") as f:
        try:
            results = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON: {e}") from e
    try:
        validate_results(results)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return results
