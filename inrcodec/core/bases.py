"""Base networks on disk: params.npz + manifest.json, identified by a content hash.

The base id written into every .inr file is the first 8 bytes of the SHA-256 of params.npz (followed
by the bytes of context_tables.npz when the base ships context tables), so a file can only be
decoded with the exact weights and tables it was encoded with. Search order for bases:
the directories in $INRCODEC_BASES (os.pathsep-separated), the bases installed with the package
(inrcodec._bases), and meta/bases of a source checkout.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from inrcodec.bitstream import context_coder, weights
from inrcodec._io import atomic_write
from inrcodec.core.config import ModelConfig
from inrcodec.errors import FormatError, MissingBaseError

PARAMS_FILE = "params.npz"
MANIFEST_FILE = "manifest.json"
TABLES_FILE = "context_tables.npz"  # Optional: the entropy tables of bitstream.context_coder ("tables").
DEFAULT_BASES = {"image": "siren-image-v5", "audio": "siren-audio-p1", "climate": "siren-climate-v3"}


@dataclasses.dataclass(frozen=True)
class Base:
    """A loaded base network."""

    name: str
    modality: str  # "image", "audio" or "climate".
    cfg: ModelConfig
    params: dict  # Pytree from inrcodec.core.objective.init_base.
    base_id: bytes  # First 8 bytes of sha256(params.npz [+ context_tables.npz]).
    manifest: dict
    path: Path | None = None
    nbytes: int = 0  # Size of params.npz in bytes.
    context_tables: np.ndarray | None = None  # int (levels, contexts, ALPHABET): entropy model 4 (108) or 5 (672).


def leaves_with_paths(tree, prefix: str = "") -> list[tuple[str, np.ndarray]]:
    """(path, leaf) of a pytree of dicts and lists, in JAX's leaf order (dict keys sorted, lists in order)."""
    if isinstance(tree, dict):
        items = [(str(k), tree[k]) for k in sorted(tree)]
    elif isinstance(tree, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(tree)]
    else:
        return [(prefix, tree)]
    return [pair for key, value in items for pair in leaves_with_paths(value, f"{prefix}/{key}" if prefix else key)]


def flat_arrays(params: dict) -> dict[str, np.ndarray]:
    """The float32 leaves of a params pytree by pytree path (e.g. "net/hidden/0/w"), sorted by path."""
    return dict(sorted((k, np.asarray(v, np.float32)) for k, v in leaves_with_paths(params)))


def params_to_bytes(params: dict) -> bytes:
    """Serialises a params pytree to deterministic .npz bytes (keys are pytree paths)."""
    buf = io.BytesIO()
    np.savez(buf, **flat_arrays(params))
    return buf.getvalue()


def params_from_bytes(data: bytes, cfg: ModelConfig) -> dict:
    """The params pytree of an .npz (float32 numpy arrays; no pickle; keys and shapes checked against `cfg`)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        stored = {k: npz[k] for k in npz.files}
    return unflatten(stored, cfg.param_shapes())


def unflatten(stored: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]]) -> dict:
    """Arrays keyed by pytree path ("net/hidden/0/w") -> the nested pytree (numeric parts are list
    indices), as float32; the keys and shapes must be exactly `shapes`."""
    if set(stored) != set(shapes):
        raise ValueError(f"base parameters do not match the architecture: keys {sorted(set(stored) ^ set(shapes))}")
    tree: dict = {}
    for key in sorted(stored):
        if stored[key].shape != shapes[key]:
            raise ValueError(f"base parameters do not match the architecture at {key!r}")
        *parents, leaf = key.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = np.asarray(stored[key], np.float32)
    return _lists(tree)


def _lists(node):
    """Dicts whose keys are 0..n-1 -> lists, recursively."""
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists(node[str(i)]) for i in range(len(node))]
    return {k: _lists(v) for k, v in node.items()}


def net_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Shapes of the SIREN's arrays, keyed by their path inside "net"."""
    return {k[len("net/"):]: v for k, v in cfg.param_shapes().items() if k.startswith("net/")}


def base_id_of(params_bytes: bytes) -> bytes:
    return hashlib.sha256(params_bytes).digest()[:8]


def save_base(directory: Path, name: str, modality: str, cfg: ModelConfig, params: dict, extra: dict[str, Any]) -> Base:
    """Writes params.npz and manifest.json (with sha256 and base id) into `directory`.

    The manifest also records `compact_bytes`: the size of the SIREN weights in the compact
    format of `inrcodec.bitstream.weights` (nonzero mask + float16 values, entropy-coded).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = params_to_bytes(params)
    sha = hashlib.sha256(data).hexdigest()
    manifest = {
        "name": name,
        "modality": modality,
        "model": cfg.to_dict(),
        "params_sha256": sha,
        "base_id": sha[:16],
        "params_bytes": len(data),
        "compact_bytes": len(weights.encode(flat_arrays(params["net"]))),
        **extra,
    }
    atomic_write(directory / PARAMS_FILE, data)
    atomic_write(directory / MANIFEST_FILE, (json.dumps(manifest, indent=1) + "\n").encode())
    return Base(name, modality, cfg, params, bytes.fromhex(sha[:16]), manifest, directory, len(data))


def embeddable(base: Base) -> tuple[Base, bytes]:
    """The base as a dataset archive embeds it: its SIREN weights in `inrcodec.bitstream.weights`.

    Returns (the base with its weights rounded as they are stored, so that the encoder uses exactly
    what a decoder will read; its id is the SHA-256 prefix of the blob), the blob).
    """
    blob = weights.encode(flat_arrays(base.params["net"]))
    net = unflatten(weights.decode(blob), net_shapes(base.cfg))
    return dataclasses.replace(base, params={**base.params, "net": net}, base_id=base_id_of(blob), nbytes=len(blob)), blob


def base_from_embedded(blob: bytes, manifest: dict) -> Base:
    """The base of a dataset archive from its embedded blob (`embeddable`) and manifest; decoding only
    needs the SIREN weights (the encoder-only parts keep their initial values)."""
    import jax  # Here, not at the top: reading manifests (inrcodec info) needs no JAX.

    from inrcodec.core.objective import init_base

    try:
        cfg = ModelConfig.from_dict(manifest["model"])
        arrays = weights.decode(blob)  # Bounded by the blob's size.
        if cfg.depth > len(arrays):  # Before listing its shapes: a hostile depth would take minutes.
            raise ValueError(f"its model has {cfg.depth} layers and only {len(arrays)} arrays are stored")
        shapes = net_shapes(cfg)
        sizes = [math.prod(shape) for shape in shapes.values()]
        if cfg.levels > 64 or cfg.input_features > 64 or sum(sizes) != sum(int(a.size) for a in arrays.values()):
            raise ValueError(f"its model ({sum(sizes)} weights, {cfg.levels} levels) does not match its "
                             f"{sum(int(a.size) for a in arrays.values())} stored weights")
        params = init_base(jax.random.PRNGKey(0), cfg)  # Only now: XLA aborts on absurd sizes.
        params = {**params, "net": unflatten(arrays, shapes)}
        return Base(manifest["name"], manifest["modality"], cfg, params, base_id_of(blob), manifest, None, len(blob))
    except (KeyError, TypeError, ValueError) as e:
        raise FormatError(f"the embedded base network is invalid ({e})") from None


def load_base_dir(directory: Path) -> Base:
    """Loads and verifies one base directory (numpy arrays; no JAX needed)."""
    directory = Path(directory)
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    data = (directory / PARAMS_FILE).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if sha != manifest["params_sha256"]:
        raise ValueError(f"{directory / PARAMS_FILE}: sha256 does not match its manifest")
    cfg = ModelConfig.from_dict(manifest["model"])
    params = params_from_bytes(data, cfg)
    tables, base_id = None, bytes.fromhex(sha[:16])
    if manifest.get("context_tables"):
        blob = (directory / TABLES_FILE).read_bytes()
        if hashlib.sha256(blob).hexdigest() != manifest["context_tables"]["sha256"]:
            raise ValueError(f"{directory / TABLES_FILE}: sha256 does not match its manifest")
        tables, base_id = tables_from_bytes(blob, cfg.levels), base_id_of(data + blob)
    if base_id.hex() != manifest["base_id"]:
        raise ValueError(f"{directory}: base id does not match its manifest")
    return Base(manifest["name"], manifest["modality"], cfg, params, base_id, manifest, directory, len(data), tables)


def tables_to_bytes(tables: np.ndarray) -> bytes:
    """Context tables as deterministic .npz bytes (one uint16 array "tables": every entry is < 2**16)."""
    buf = io.BytesIO()
    np.savez(buf, tables=np.asarray(tables, np.uint16))
    return buf.getvalue()


def tables_from_bytes(blob: bytes, levels: int) -> np.ndarray:
    """The checked context tables of a TABLES_FILE (no pickle)."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return context_coder.check_tables(npz["tables"], levels)


def add_context_tables(base: Base, tables: np.ndarray, name: str, directory: Path, extra: dict[str, Any],
                       fit: dict[str, Any] | None = None) -> Base:
    """Writes `base`'s weights with context tables as a new base `name` in `directory` (a new base id);
    `fit` (FitConfig fields), if given, replaces the encoder schedule its manifest asks for."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data, blob = params_to_bytes(base.params), tables_to_bytes(tables)
    manifest = {**{k: v for k, v in base.manifest.items() if k not in ("training", "compact_bytes")},
                "name": name, "base_id": base_id_of(data + blob).hex(), "weights_from": base.name,
                "context_tables": {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob), **extra}}
    if fit is not None:
        manifest["fit"] = fit
    atomic_write(directory / PARAMS_FILE, data)
    atomic_write(directory / TABLES_FILE, blob)
    atomic_write(directory / MANIFEST_FILE, (json.dumps(manifest, indent=1) + "\n").encode())
    return load_base_dir(directory)


def search_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("INRCODEC_BASES", "").split(os.pathsep) if p]
    installed = importlib.util.find_spec("inrcodec._bases")  # Present when installed (wheel or editable).
    if installed is not None:
        dirs += [Path(p) for p in installed.submodule_search_locations or ()]
    dirs.append(Path(__file__).resolve().parents[2] / "meta" / "bases")  # A source checkout.
    seen, out = set(), []
    for d in dirs:
        if d.is_dir() and d.resolve() not in seen:
            seen.add(d.resolve())
            out.append(d)
    return out


def _manifests() -> Iterator[tuple[Path, dict]]:
    for root in search_dirs():
        for sub in sorted(root.iterdir()):
            if (sub / MANIFEST_FILE).is_file() and (sub / PARAMS_FILE).is_file():
                try:
                    yield sub, json.loads((sub / MANIFEST_FILE).read_text())
                except (OSError, ValueError):
                    continue


def list_bases() -> list[dict]:
    """Manifests of every base found (first occurrence of each base id wins)."""
    seen, out = set(), []
    for path, manifest in _manifests():
        if manifest.get("base_id") not in seen:
            seen.add(manifest.get("base_id"))
            out.append({**manifest, "path": str(path)})
    return out


def _installed(base_id: bytes) -> tuple[Path, dict] | None:
    """(directory, manifest) of the installed base whose id is `base_id` (8 bytes) or starts with it (the 4
    bytes of a compact file); None when there is none. Two installed bases sharing a prefix: an error."""
    if len(base_id) < 4:
        return None
    found = {m.get("base_id"): (path, m) for path, m in _manifests() if str(m.get("base_id", "")).startswith(base_id.hex())}
    if len(found) > 1:
        raise MissingBaseError(f"base id {base_id.hex()} names {len(found)} installed bases ({', '.join(sorted(found))})")
    return next(iter(found.values()), None)


def installed_manifest(base_id: bytes) -> dict | None:
    """The manifest of the installed base whose id is (or starts with) `base_id`, or None."""
    found = _installed(base_id)
    return None if found is None else found[1]


def installed_name(base_id: bytes) -> str | None:
    """The name of the installed base whose id is (or starts with) `base_id`, or None."""
    manifest = installed_manifest(base_id)
    return None if manifest is None else manifest.get("name")


def load_base(ref: str | bytes | Path) -> Base:
    """Loads a base by directory path, name (e.g. "siren-image-v1") or 8-byte base id."""
    if isinstance(ref, Path) or (isinstance(ref, str) and os.sep in ref):
        return load_base_dir(Path(ref))
    if isinstance(ref, bytes):
        found = _installed(ref)
        if found is not None:
            return load_base_dir(found[0])
    for path, manifest in _manifests():
        if isinstance(ref, str) and manifest.get("name") == ref:
            return load_base_dir(path)
    what = f"id {ref.hex()}" if isinstance(ref, bytes) else repr(ref)
    raise MissingBaseError(f"base network {what} is not installed (searched: {', '.join(map(str, search_dirs())) or 'nothing'})")
