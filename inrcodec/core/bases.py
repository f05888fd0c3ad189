"""Base networks on disk: params.npz + manifest.json, identified by a content hash.

The base id written into every .inr file is the first 8 bytes of the SHA-256 of params.npz, so a
file can only be decoded with the exact weights it was encoded with. Search order for bases:
the directories in $INRCODEC_BASES (os.pathsep-separated), the bases installed with the package
(inrcodec._bases), and meta/bases of a source checkout.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import json
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from inrcodec.bitstream import weights
from inrcodec._io import atomic_write
from inrcodec.core.config import ModelConfig
from inrcodec.errors import FormatError, MissingBaseError

PARAMS_FILE = "params.npz"
MANIFEST_FILE = "manifest.json"
DEFAULT_BASES = {"image": "siren-image-v1", "audio": "siren-audio-v2", "climate": "siren-climate-v2"}


@dataclasses.dataclass(frozen=True)
class Base:
    """A loaded base network."""

    name: str
    modality: str  # "image", "audio" or "climate".
    cfg: ModelConfig
    params: dict  # Pytree from inrcodec.core.objective.init_base.
    base_id: bytes  # First 8 bytes of sha256(params.npz).
    manifest: dict
    path: Path | None = None
    nbytes: int = 0  # Size of params.npz in bytes.


def _path_key(path) -> str:
    parts = []
    for p in path:
        parts.append(str(p.key) if hasattr(p, "key") else str(p.idx))
    return "/".join(parts)


def flat_arrays(params: dict) -> dict[str, np.ndarray]:
    """The float32 leaves of a params pytree by pytree path (e.g. "net/hidden/0/w"), sorted by path."""
    import jax  # Here, not at the top: reading manifests (inrcodec info) needs no JAX.

    flat = {_path_key(p): np.asarray(v, np.float32) for p, v in jax.tree_util.tree_leaves_with_path(params)}
    return dict(sorted(flat.items()))


def params_to_bytes(params: dict) -> bytes:
    """Serialises a params pytree to deterministic .npz bytes (keys are pytree paths)."""
    buf = io.BytesIO()
    np.savez(buf, **flat_arrays(params))
    return buf.getvalue()


def params_from_bytes(data: bytes, template: dict) -> dict:
    """Fills `template`'s structure with the arrays of an .npz (no pickle; shapes checked)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        stored = {k: npz[k] for k in npz.files}
    return _fill(template, stored)


def _fill(template: dict, stored: dict[str, np.ndarray]) -> dict:
    """`template`'s pytree with its leaves taken from `stored` (keyed by pytree path; shapes checked)."""
    import jax  # Here, not at the top: reading manifests (inrcodec info) needs no JAX.
    import jax.numpy as jnp
    leaves = []
    for p, v in jax.tree_util.tree_leaves_with_path(template):
        key = _path_key(p)
        if key not in stored or stored[key].shape != v.shape:
            raise ValueError(f"base parameters do not match the architecture at {key!r}")
        leaves.append(jnp.asarray(stored[key], jnp.float32))
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), leaves)


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
    net = _fill(base.params["net"], weights.decode(blob))
    return dataclasses.replace(base, params={**base.params, "net": net}, base_id=base_id_of(blob), nbytes=len(blob)), blob


def base_from_embedded(blob: bytes, manifest: dict) -> Base:
    """The base of a dataset archive from its embedded blob (`embeddable`) and manifest; decoding only
    needs the SIREN weights (the encoder-only parts keep their initial values)."""
    import jax  # Here, not at the top: reading manifests (inrcodec info) needs no JAX.

    from inrcodec.core.objective import init_base

    try:
        cfg = ModelConfig.from_dict(manifest["model"])
        params = init_base(jax.random.PRNGKey(0), cfg)
        params = {**params, "net": _fill(params["net"], weights.decode(blob))}
        return Base(manifest["name"], manifest["modality"], cfg, params, base_id_of(blob), manifest, None, len(blob))
    except (KeyError, TypeError, ValueError) as e:
        raise FormatError(f"the embedded base network is invalid ({e})") from None


def load_base_dir(directory: Path) -> Base:
    """Loads and verifies one base directory."""
    import jax  # Here, not at the top: reading manifests (inrcodec info) needs no JAX.

    from inrcodec.core.objective import init_base

    directory = Path(directory)
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    data = (directory / PARAMS_FILE).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if sha != manifest["params_sha256"]:
        raise ValueError(f"{directory / PARAMS_FILE}: sha256 does not match its manifest")
    cfg = ModelConfig.from_dict(manifest["model"])
    template = init_base(jax.random.PRNGKey(0), cfg)
    params = params_from_bytes(data, template)
    return Base(manifest["name"], manifest["modality"], cfg, params, bytes.fromhex(sha[:16]), manifest, directory, len(data))


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


def installed_name(base_id: bytes) -> str | None:
    """The name of the installed base with this 8-byte id, or None (reads manifests only)."""
    return next((m.get("name") for _, m in _manifests() if m.get("base_id") == base_id.hex()), None)


def load_base(ref: str | bytes | Path) -> Base:
    """Loads a base by directory path, name (e.g. "siren-image-v1") or 8-byte base id."""
    if isinstance(ref, Path) or (isinstance(ref, str) and os.sep in ref):
        return load_base_dir(Path(ref))
    for path, manifest in _manifests():
        if isinstance(ref, bytes) and manifest.get("base_id") == ref.hex():
            return load_base_dir(path)
        if isinstance(ref, str) and manifest.get("name") == ref:
            return load_base_dir(path)
    what = f"id {ref.hex()}" if isinstance(ref, bytes) else repr(ref)
    raise MissingBaseError(f"base network {what} is not installed (searched: {', '.join(map(str, search_dirs())) or 'nothing'})")
