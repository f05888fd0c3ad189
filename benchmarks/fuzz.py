"""Fuzz harness (issue 17): mutated .inr files, .inrpack archives and input signals (PNG, WAV, FLAC,
netCDF, .npz, .npy) through decode, the header parsers and every reader; counts the outcome of each case.

Outcomes: "ok" (read / decoded), "rejected" (inrcodec.errors.InputError or FormatError: a clean one-line
error), "traceback" (any other exception: a bug), "crash" (the worker process died, e.g. a segfault),
"hang" (over --time-limit, 10 s, plus SECONDS_PER_DECLARED_SAMPLE for every sample an .inr header
declares: a valid 64-Mpixel file is legitimate work, not a hang), "over-limit" (the worker's peak resident memory, ru_maxrss, over
--mem-cap-mb, 1.5 GB as SPEC.md section 2.3 promises; or a MemoryError, e.g. at the hard address-space limit
RLIMIT_AS of the warmed-up worker + 3 GB). Only the first two are clean. After a run, over-limit cases
that raised MemoryError run again alone with an 8 GB address-space margin ("recheck"), which tells a real
allocation from a large request that is never touched.

Every case is reproducible from (seed, index): `numpy.random.default_rng([seed, index])` picks a seed file
and a mutation of it. The seed files are the golden .inr files of tests/assets plus files made by
`make_seeds` (kept in --seeds, default results/fuzz/seeds, so that reproducers stay valid). Cases run in
persistent worker processes (restarted when one dies, hangs or goes over the memory cap) with the tiny
test bases on the base search path.

Usage:
    python benchmarks/fuzz.py --cases 100000 --seed 0 --out results/fuzz/fuzz.json [--jobs 2]
    python benchmarks/fuzz.py --replay 0:1234 [--dump case.bin]   # one case in this process, with its traceback
    python benchmarks/fuzz.py --cases 0 --bombs --out results/fuzz/bombs.json  # largest valid file per modality
tests/test_fuzz.py runs a brief fuzz with this module (`run`).
"""

from __future__ import annotations

import argparse
import binascii
import collections
import contextlib
import copy
import hashlib
import io
import json
import math
import multiprocessing
import os
import shutil
import struct
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "tests" / "assets"
SHIPPED_BASES = REPO / "meta" / "bases"
DEFAULT_SEEDS = REPO / "results" / "fuzz" / "seeds"

CLEAN = ("ok", "rejected")
BAD = ("traceback", "crash", "hang", "over-limit")
OUTCOMES = CLEAN + BAD
TIME_LIMIT = 10.0  # seconds per case
# Extra seconds per sample an .inr header declares: 3x what decoding and writing a valid file of the
# format's largest size takes here with the tiny test bases (case 8:18841, 8192 x 8192 x 3 samples:
# 16.9 s in all, ~8.4e-8 s a sample); 64 Mpixel gets 10 + 50 s.
SECONDS_PER_DECLARED_SAMPLE = 2.5e-7
MEM_CAP = 1536 << 20  # bytes of peak resident memory (SPEC.md section 2.3: 1.5 GB)
AS_EXTRA = 3 << 30  # hard address-space limit: the warmed-up worker's size + this

# Worker environment: the tiny test bases; one thread per worker (2 cores, --jobs workers).
WORKER_ENV = {
    "INRCODEC_BASES": str(ASSETS),
    "INRCODEC_CACHE": "off",
    "JAX_PLATFORMS": "cpu",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "MALLOC_ARENA_MAX": "2",
    "HDF5_USE_FILE_LOCKING": "FALSE",
}

READER_SUFFIXES = (".png", ".wav", ".flac", ".nc", ".npz", ".npy")


# --- seeds ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix.lower()

    @property
    def kind(self) -> str:
        """"inr", "archive" or "reader"."""
        return {".inr": "inr", ".inrpack": "archive"}.get(self.suffix, "reader")


@contextlib.contextmanager
def environment(**env: str):
    """Sets environment variables for the duration (restored afterwards)."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _synthetic_field(times: int = 2, ny: int = 9, nx: int = 16):
    import xarray as xr

    lat = np.linspace(80.0, -80.0, ny)
    lon = np.arange(nx) * (360.0 / nx)
    base = 288.0 - 40.0 * np.sin(np.deg2rad(lat))[:, None] ** 2 + 3.0 * np.cos(np.deg2rad(lon))[None, :]
    values = np.stack([base + 2.0 * k for k in range(times)])
    values[:, 2:4, 3:6] = np.nan
    return xr.DataArray(values, dims=("time", "lat", "lon"),
                        coords={"time": np.arange(times, dtype=np.int64), "lat": lat, "lon": lon},
                        name="t2m", attrs={"units": "K", "long_name": "2 metre temperature"})


def _reader_seeds(folder: Path) -> None:
    """Small valid inputs of every signal reader."""
    import soundfile as sf
    from PIL import Image

    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:16, 0:16]
    rgb = np.stack([y * 16, x * 16, (x + y) * 8], axis=-1).astype(np.uint8)
    Image.fromarray(rgb, "RGB").save(folder / "rgb8.png")
    Image.fromarray((y * 4096 + x * 17).astype(np.uint16)).save(folder / "grey16.png")
    pal = Image.fromarray((x // 4 + 4 * (y // 4)).astype(np.uint8), "P")
    pal.putpalette([v for i in range(16) for v in (i * 16, 255 - i * 16, 128)])
    pal.save(folder / "palette.png", transparency=0)
    t = np.arange(256) / 16000
    stereo = 0.5 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], axis=1)
    sf.write(str(folder / "pcm16.wav"), stereo, 16000, subtype="PCM_16")
    sf.write(str(folder / "float.wav"), stereo[:128, :1].astype(np.float32), 8000, subtype="FLOAT")
    sf.write(str(folder / "mono.flac"), stereo[:, 0], 16000, subtype="PCM_16")
    field = _synthetic_field()
    field.to_dataset().to_netcdf(folder / "field4.nc", engine="netcdf4")
    field.to_dataset().to_netcdf(folder / "field3.nc", format="NETCDF3_CLASSIC", engine="netcdf4")
    np.savez(folder / "field.npz", t2m=field.values[0].astype(np.float32))
    np.save(folder / "field.npy", (field.values + rng.normal(0, 0.1, field.shape)).astype(np.float32))


def _archive_seeds(folder: Path) -> None:
    """Small valid .inrpack archives built with the bitstream writers (random latents, no fitting):
    images and audio with an installed base, climate fields with a mask and grid coordinates, with an
    installed and with an embedded base."""
    from inrcodec.bitstream import archive
    from inrcodec.bitstream.dataset_settings import Settings, pack_block
    from inrcodec.core import bases
    from inrcodec.core.config import grid_shapes
    from inrcodec.bitstream import climate_template
    from inrcodec.modalities import climate as climate_format

    rng = np.random.default_rng(2)

    def write(name, modality, code, base, settings, n, embed=False):
        blob = b""
        if embed:
            base, blob = bases.embeddable(base)
        grids = grid_shapes(settings.shape[:2] if modality == "image" else settings.shape, base.cfg)
        path = folder / name
        path.unlink(missing_ok=True)
        with archive.create(path, archive.ArchiveHeader(code, base.base_id, settings.to_bytes(), blob)) as w:
            for start in range(0, n, settings.block):
                m = min(settings.block, n - start)
                ints = [rng.integers(-3, 4, (m, *g)).astype(np.int32) * (s != 0)
                        for g, s in zip(grids, settings.scale_indices)]
                w.append(pack_block(ints, settings.scale_indices))

    image = bases.load_base("tiny-test-base")
    write("images.inrpack", "image", 1, image,
          Settings("image", (16, 16, 3), 4, 2, (80, 70, 0, 60), 2), 5)
    audio = bases.load_base("tiny-audio-test-base")
    write("audio.inrpack", "audio", 2, audio, Settings("audio", (256,), 4, 2, (80, 70, 60, 0, 50), 3), 4)
    climate = bases.load_base("tiny-climate-test-base")
    valid = np.ones((9, 16), bool)
    valid[2:4, 3:6] = False
    lat, lon = np.meshgrid(np.linspace(80, -80, 9), np.arange(16) * 22.5, indexing="ij")
    layout = dict(lo=200.0, hi=320.0, mask=climate_template.pack_mask(valid).hex(),
                  latlon=climate_format._pack_latlon(np.stack([lat, lon], axis=-1)))
    write("fields.inrpack", "climate", 3, climate, Settings("climate", (9, 16), 4, 2, (70, 60, 50), 2, **layout), 5)
    write("fields-embedded.inrpack", "climate", 3, climate,
          Settings("climate", (9, 16), 4, 2, (70, 0, 50), 2, lo=200.0, hi=320.0, base_manifest=climate.manifest), 3,
          embed=True)
    import inrcodec  # An error-bounded archive (settings version 3, residual sections): no fit, no JAX.

    bounded = np.where(valid, 280.0 + rng.normal(0, 3, (5, 9, 16)), np.nan)
    inrcodec.compress_dataset(bounded, folder / "fields-bounded.inrpack", base=climate, max_error=0.3, block=2,
                              force=True).close()


def _encoded_seeds(folder: Path, dataset: bool) -> None:
    """Freshly encoded files: climate with an error bound (format 1.5; no fit), and with `dataset` an
    archive written by compress_dataset (a short fit, ~20 s of JAX compiling)."""
    from inrcodec import api
    from inrcodec.core.config import FitConfig

    field = _synthetic_field()
    for name, bound in (("bounded-0.5.inr", 0.5), ("bounded-0.02.inr", 0.02)):
        (folder / name).write_bytes(api.encode(field, base="tiny-climate-test-base", max_error=bound).data)
    if dataset:
        api.compress_dataset(_synthetic_field(times=5), folder / "dataset.inrpack", base="tiny-climate-test-base",
                             fit=FitConfig(noise_steps=1, ste_steps=1), chunk=5, block=2, force=True).close()


def make_seeds(folder: str | Path, dataset: bool = True) -> list[Seed]:
    """Writes the seed files into `folder` (the golden files are copied) and returns them all."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for p in sorted(ASSETS.glob("*.inr")):
        shutil.copyfile(p, folder / p.name)
    with environment(**{k: WORKER_ENV[k] for k in ("INRCODEC_BASES", "INRCODEC_CACHE")}):
        _reader_seeds(folder)
        _archive_seeds(folder)
        _encoded_seeds(folder, dataset)
    return load_seeds(folder)


def load_seeds(folder: str | Path) -> list[Seed]:
    """The seed files of a folder, sorted by name (the order cases are drawn from)."""
    paths = sorted(p for p in Path(folder).iterdir()
                   if p.is_file() and p.suffix.lower() in (".inr", ".inrpack", *READER_SUFFIXES))
    return [Seed(p.name, p.read_bytes()) for p in paths]


def base_ids() -> list[bytes]:
    """The ids of the installed bases (tiny test bases and shipped ones), sorted."""
    ids = set()
    for root in (ASSETS, SHIPPED_BASES):
        for m in root.glob("*/manifest.json"):
            with contextlib.suppress(ValueError, KeyError, OSError):
                ids.add(bytes.fromhex(json.loads(m.read_text())["base_id"]))
    return sorted(ids)


# --- generic byte mutations ------------------------------------------------------------------------

U8 = [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 31, 32, 33, 63, 64, 127, 128, 129, 200, 254, 255]
U16 = [0, 1, 2, 3, 255, 256, 1023, 1024, 4095, 4096, 4097, 8191, 8192, 8193, 32767, 32768, 65534, 65535]
U32 = [0, 1, 2, 3, 255, 256, 4096, 65535, 65536, 1 << 20, 1 << 24, (1 << 25) - 1, 1 << 25, (1 << 25) + 1,
       1 << 26, (1 << 26) + 1, 1 << 28, 1 << 30, (1 << 30) + 1, (1 << 31) - 1, 1 << 31, (1 << 32) - 2, (1 << 32) - 1]
U64 = [0, 1, 2, 255, 1 << 21, 1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1]
F32 = [0.0, -0.0, 1.0, -1.0, 0.5, math.nan, math.inf, -math.inf, 1e-45, 1e-38, 3.4028235e38, -3.4028235e38, 1e30]
F64 = F32 + [5e-324, 1e308, -1e308, 1e-300]
SPECIAL_BYTES = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE]
_INTS = {1: U8, 2: U16, 4: U32, 8: U64}


def _count(rng, mean: float = 1.5, cap: int = 64) -> int:
    return int(min(cap, 1 + rng.geometric(1 / mean) - 1)) or 1


def _pos(rng, n: int) -> int:
    return int(rng.integers(0, n)) if n > 0 else 0


def bitflip(d: bytes, rng) -> bytes:
    b = bytearray(d)
    for _ in range(_count(rng, 2.0)):
        if b:
            b[_pos(rng, len(b))] ^= 1 << int(rng.integers(8))
    return bytes(b)


def overwrite(d: bytes, rng) -> bytes:
    b = bytearray(d)
    for _ in range(_count(rng, 2.0)):
        if not b:
            break
        p = _pos(rng, len(b))
        if rng.random() < 0.5:
            b[p] = SPECIAL_BYTES[int(rng.integers(len(SPECIAL_BYTES)))]
        else:
            n = min(len(b) - p, _count(rng, 3.0, 16))
            b[p : p + n] = rng.bytes(n)
    return bytes(b)


def truncate(d: bytes, rng) -> bytes:
    if rng.random() < 0.8:
        return d[: _pos(rng, len(d))]
    return d[_pos(rng, len(d)) :]


def insert(d: bytes, rng) -> bytes:
    p = _pos(rng, len(d) + 1)
    r = rng.random()
    if r < 0.5:
        chunk = rng.bytes(_count(rng, 4.0, 256))
    elif r < 0.8 and d:  # a repeated slice of the input
        a = _pos(rng, len(d))
        chunk = d[a : a + _count(rng, 16.0, 4096)]
    else:
        chunk = bytes([SPECIAL_BYTES[int(rng.integers(len(SPECIAL_BYTES)))]]) * int(rng.choice([1, 4, 64, 4096, 70000]))
    return d[:p] + chunk + d[p:]


def delete(d: bytes, rng) -> bytes:
    p = _pos(rng, len(d))
    return d[:p] + d[p + _count(rng, 8.0, 4096) :]


def junk(d: bytes, rng) -> bytes:
    n = int(rng.integers(0, 2 * len(d) + 64))
    head = d[: int(rng.choice([0, 4, 8, 16, 32]))] if rng.random() < 0.6 else b""
    return head + rng.bytes(n)


def int_field(d: bytes, rng, limit: int | None = None, big_endian: bool | None = None) -> bytes:
    """An integer of 1, 2, 4 or 8 bytes at a random (often aligned) offset set to a boundary value."""
    size = int(rng.choice([1, 2, 4, 4, 8]))
    span = min(len(d), limit or len(d)) - size
    if span < 0:
        return overwrite(d, rng)
    p = _pos(rng, span + 1)
    if rng.random() < 0.6:
        p -= p % size
    be = bool(rng.random() < 0.5) if big_endian is None else big_endian
    old = int.from_bytes(d[p : p + size], "big" if be else "little")
    v = _interesting_int(rng, size, old)
    return d[:p] + v.to_bytes(size, "big" if be else "little") + d[p + size :]


def _interesting_int(rng, size: int, old: int) -> int:
    top = (1 << (8 * size)) - 1
    r = rng.random()
    if r < 0.6:
        v = int(rng.choice(_INTS[size]))
    elif r < 0.85:
        v = old + int(rng.choice([-2, -1, 1, 2, old, -old // 2]))
    else:
        v = int(rng.integers(0, top, endpoint=True, dtype=np.uint64))
    return min(max(v, 0), top)


RAW_KINDS = {"bitflip": bitflip, "overwrite": overwrite, "truncate": truncate, "insert": insert, "delete": delete,
             "junk": junk, "int-field": int_field}


def raw_mutation(d: bytes, rng) -> bytes:
    return list(RAW_KINDS.values())[int(rng.integers(len(RAW_KINDS)))](d, rng)


def _choose(rng, weighted: dict):
    names = list(weighted)
    w = np.array([weighted[n] for n in names], float)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


# --- JSON mutations (archive settings, climate templates) ------------------------------------------

JSON_VALUES = [0, 1, -1, 2, 255, 256, 65535, 65536, 1 << 25, 1 << 31, 1 << 32, 1 << 63, 10**30, -(10**30), 0.5, -0.0,
               1e308, math.nan, math.inf, "", "x" * 1000, "<f4", "|O", "<U0", "V8", ">i8", "<M8[ns]", "<m8[s]",
               "S0", "<c16", None, True, False, [], {}, [0], [1, 2, 3], [[1]], {"s": 1}, {"a": {}}, "time", "lat",
               "lon", "dim_0"]


def _json_paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _json_paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _json_paths(v, path + (i,))


def _json_get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def mutate_json(doc, rng):
    """A copy of a JSON document with one node replaced, removed, duplicated or retyped."""
    doc = copy.deepcopy(doc)
    paths = list(_json_paths(doc))[1:]
    if not paths:
        return JSON_VALUES[int(rng.integers(len(JSON_VALUES)))]
    path = paths[int(rng.integers(len(paths)))]
    parent, key = _json_get(doc, path[:-1]), path[-1]
    value = parent[key]
    r = rng.random()
    if r < 0.15:  # remove
        del parent[key]
    elif r < 0.25 and isinstance(parent, list):  # duplicate an element
        parent.insert(key, copy.deepcopy(value))
    elif r < 0.35 and isinstance(value, (int, float)) and not isinstance(value, bool):
        parent[key] = value * int(rng.choice([-1, 2, 1000, 10**6, 10**12])) + int(rng.choice([0, 1, -1]))
    elif r < 0.45 and isinstance(value, str):
        parent[key] = value[: _pos(rng, len(value) + 1)] + str(rng.choice(["", "\x00", "é", "/", "..", "0", "%s"]))
    elif r < 0.5 and isinstance(parent, dict):  # a new key
        parent[str(rng.choice(["v", "name", "dims", "shape", "at", "dtype", "start", "step", "n", "x"]))] = value
    else:
        parent[key] = copy.deepcopy(JSON_VALUES[int(rng.integers(len(JSON_VALUES)))])
    return doc


# --- .inr structure -------------------------------------------------------------------------------

@dataclass
class Inr:
    head: bytes  # the 16 bytes before meta_len: magic, major, minor, flags, modality, base_id
    meta: bytes
    payload: bytes

    @classmethod
    def parse(cls, d: bytes) -> "Inr":
        (meta_len,) = struct.unpack_from("<H", d, 16)
        meta = d[18 : 18 + meta_len]
        (payload_len,) = struct.unpack_from("<I", d, 18 + meta_len)
        return cls(d[:16], meta, d[22 + meta_len : 22 + meta_len + payload_len])

    def pack(self) -> bytes:
        body = self.head + struct.pack("<H", len(self.meta) & 0xFFFF) + self.meta + struct.pack("<I", len(self.payload)) + self.payload
        return body + struct.pack("<I", zlib.crc32(body))

    @property
    def modality(self) -> int:
        return self.head[7]


def fix_crc(d: bytes) -> bytes:
    """The bytes with their last 4 replaced by the CRC-32 of the others (SPEC.md 2.2)."""
    if len(d) < 4:
        return d
    return d[:-4] + struct.pack("<I", zlib.crc32(d[:-4]))


def _coding_fields(meta: bytes, off: int, prefix: str) -> tuple[list, int]:
    """(name, offset, struct format) of the coding fields at `off` (SPEC.md 3.0), and the offset after them."""
    fields = [(prefix + n, off + i, "B") for i, n in enumerate(("entropy_model", "t", "u", "L"))]
    em, _, u, levels = meta[off : off + 4]
    pos = off + 4
    fields += [(f"{prefix}s{k}", pos + k, "B") for k in range(levels)]
    pos += levels
    if em == 3:
        fields += [(f"{prefix}g{k}", pos + k, "B") for k in range(levels)]
        pos += levels
    if em == 2:
        n = max(1, (levels + 7) // 8)
        fields += [(f"{prefix}bitmap{k}", pos + k, "B") for k in range(n)]
        pos += n
    if u:
        tensors = meta[pos]
        fields += [(prefix + "T", pos, "B")] + [(f"{prefix}r{j}", pos + 1 + j, "B") for j in range(tensors)]
        pos += 1 + tensors
    return fields, pos


def meta_fields(modality: int, meta: bytes) -> list[tuple[str, int, str]]:
    """The fields of a modality's meta (SPEC.md section 3) as (name, offset, struct format)."""
    fields: list = []
    try:
        if modality == 1:
            fields = [("H", 0, "<H"), ("W", 2, "<H"), ("channels", 4, "B"), ("bit_depth", 5, "B")]
            fields += _coding_fields(meta, 6, "")[0]
        elif modality == 2:
            fields = [("sample_rate", 0, "<I"), ("frames", 4, "<I"), ("K", 8, "B"), ("sample_format", 9, "B"),
                      ("container", 10, "B")]
            pos = 11
            for k in range(meta[8]):
                more, pos = _coding_fields(meta, pos, f"ch{k}.")
                fields += more + [(f"ch{k}.P", pos, "<I")]
                pos += 4
        elif modality == 3:
            fields = [("ny", 0, "<H"), ("nx", 2, "<H"), ("F", 4, "<I"), ("flags", 8, "B"), ("reserved", 9, "B"),
                      ("lo", 10, "<f"), ("hi", 14, "<f"), ("G", 18, "<I")]
            flags = meta[8]
            pos = 22 + struct.unpack_from("<I", meta, 18)[0]
            if flags & 1:
                fields.append(("mask_len", pos, "<I"))
                pos += 4 + struct.unpack_from("<I", meta, pos)[0]
            more, pos = _coding_fields(meta, pos, "")
            fields += more
            if flags & 4:
                fields += [("E", pos, "<d"), ("step_r", pos + 8, "<d"), ("predictor", pos + 16, "B"),
                           ("shift", pos + 17, "B"), ("s_r", pos + 18, "B"), ("g_r", pos + 19, "B"),
                           ("R", pos + 20, "<I"), ("groups", pos + 24, "B")]
                fields += [(f"group{j}", pos + 25 + j, "B") for j in range(meta[pos + 24])]
    except (IndexError, ValueError, struct.error):  # a mutated meta: the fields found so far
        pass
    return [f for f in fields if f[1] + struct.calcsize(f[2]) <= len(meta)]


def _set_field(meta: bytes, offset: int, fmt: str, rng) -> bytes:
    size = struct.calcsize(fmt)
    (old,) = struct.unpack_from(fmt, meta, offset)
    if fmt[-1] in "fd":
        pool = F32 if fmt[-1] == "f" else F64
        v = pool[int(rng.integers(len(pool)))] if rng.random() < 0.8 else old * float(rng.choice([-1, 2, 0.5, 1 + 1e-7]))
        return meta[:offset] + struct.pack(fmt, v) + meta[offset + size :]
    return meta[:offset] + struct.pack(fmt, _interesting_int(rng, size, old)) + meta[offset + size :]


DIMS = {  # Dimension tuples at and around the decoder limits (SPEC.md section 3).
    1: [(8192, 8192), (65535, 1024), (65535, 1025), (1024, 65535), (1, 65535), (65535, 1), (65535, 65535), (0, 40),
        (24, 0), (1, 1), (2, 2), (4096, 8192), (8193, 8192), (48, 80), (12, 20), (23, 41)],
    2: [(1 << 25, 1), (1 << 24, 2), ((1 << 24) + 1, 2), ((1 << 25) + 1, 1), ((1 << 32) - 1, 1), ((1 << 32) - 1, 8),
        (1 << 22, 8), (1, 1), (0, 2), (6000, 9), (6000, 0), (3000, 2), (12000, 2), (1, 2), (2, 8)],
    3: [(1, 4096, 8192), (2, 4096, 4096), (512, 256, 256), ((1 << 25) // 144 + 1, 9, 16), (1 << 25, 1, 1),
        ((1 << 25) + 1, 1, 1), ((1 << 32) - 1, 1, 1), (1, 65535, 65535), (0, 9, 16), (2, 0, 16), (1, 9, 16),
        (4, 9, 16), (2, 18, 32), (2, 16, 9), (1, 1, 1)],
}


def set_dims(modality: int, meta: bytes, rng) -> bytes:
    dims = DIMS[modality][int(rng.integers(len(DIMS[modality])))]
    if modality == 1:
        return struct.pack("<HH", *dims) + meta[4:]
    if modality == 2:
        return struct.pack("<I", dims[0]) + meta[4:8] + bytes([dims[1]]) + meta[9:]
    return struct.pack("<HHI", dims[1], dims[2], dims[0]) + meta[8:]


def _inflate(blob: bytes) -> tuple[bytes, bool]:
    from inrcodec.bitstream.climate_template import TEMPLATE_DICTIONARY

    fdict = len(blob) > 1 and bool(blob[1] & 0x20)
    z = zlib.decompressobj(15, zdict=TEMPLATE_DICTIONARY) if fdict else zlib.decompressobj()
    return z.decompress(blob) + z.flush(), fdict


def _deflate(raw: bytes, fdict: bool) -> bytes:
    from inrcodec.bitstream.climate_template import TEMPLATE_DICTIONARY

    z = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, *((TEMPLATE_DICTIONARY,) if fdict else ()))
    return z.compress(raw) + z.flush()


def mutate_template(meta: bytes, rng) -> bytes:
    """Climate meta with its template (zlib of u32 length + JSON + raw array bytes) changed and recompressed."""
    (g,) = struct.unpack_from("<I", meta, 18)
    template = meta[22 : 22 + g]
    raw, fdict = _inflate(template)
    (n,) = struct.unpack_from("<I", raw)
    doc, blob = json.loads(raw[4 : 4 + n]), raw[4 + n :]
    r = rng.random()
    if r < 0.6:
        doc = mutate_json(doc, rng)
        if rng.random() < 0.3:
            doc = mutate_json(doc, rng)
    elif r < 0.8:
        blob = raw_mutation(blob, rng)
    text = json.dumps(doc, separators=(",", ":")).encode()
    if r >= 0.8:  # the inflated bytes, length prefix included
        new = raw_mutation(struct.pack("<I", len(text)) + text + blob, rng)
    else:
        new = struct.pack("<I", len(text)) + text + blob
    if rng.random() < 0.1:
        fdict = not fdict
    template = _deflate(new, fdict)
    return meta[:18] + struct.pack("<I", len(template)) + template + meta[22 + g :]


def mutate_mask(meta: bytes, rng) -> bytes:
    if not meta[8] & 1:
        return set_dims(3, meta, rng)
    (g,) = struct.unpack_from("<I", meta, 18)
    pos = 22 + g
    (m,) = struct.unpack_from("<I", meta, pos)
    raw = zlib.decompress(meta[pos + 4 : pos + 4 + m])
    r = rng.random()
    if r < 0.7:
        mask = zlib.compress(raw_mutation(raw, rng), 9)
    elif r < 0.85:  # a zlib bomb
        mask = zlib.compress(bytes(int(rng.choice([1 << 10, 1 << 20, 1 << 26]))), 9)
    else:
        mask = raw_mutation(meta[pos + 4 : pos + 4 + m], rng)
    return meta[:pos] + struct.pack("<I", len(mask)) + mask + meta[pos + 4 + m :]


INR_KINDS = {  # weights
    **{k: 1.0 for k in RAW_KINDS},
    "splice": 0.5,
    "crc-bitflip": 2.0, "crc-overwrite": 2.0, "crc-int-field": 1.5, "crc-truncate": 0.5, "crc-insert": 0.5,
    "meta-insdel": 1.0, "payload-mutation": 1.5, "payload-insdel": 1.0, "length-field": 1.5, "header-byte": 1.0,
    "meta-field": 4.0, "dims": 1.5, "base-swap": 0.5, "template": 1.5, "mask": 0.5,
}
LEN_VALUES = [0, 1, 2, 3, 4, 18, 26, 4095, 4096, 4097, 65535, 1 << 16, 1 << 30, (1 << 30) + 1, (1 << 31), (1 << 32) - 1]


COMPACT_KINDS = {  # weights, for compact files (SPEC.md 2.4): no meta_len to find the header by
    **{k: 1.0 for k in RAW_KINDS},
    "splice": 0.5, "crc-bitflip": 2.0, "crc-overwrite": 2.0, "crc-truncate": 0.5, "crc-insert": 0.5,
    "compact-header": 4.0, "compact-version": 1.0,
}
COMPACT_HEADER = 7  # Bytes of a compact file before its meta: magic, version and modality, base id prefix.
LEB_VALUES = [b"\x00", b"\x01", b"\x7f", b"\x80\x01", b"\x80\x00", b"\xff\xff\x03", b"\xff\xff\x7f",
              b"\xff\xff\xff\x01", b"\x80\x80\x80\x80"]


def generic_mutation(kind: str, d: bytes, seeds: list[Seed], rng) -> bytes:
    """A raw mutation (RAW_KINDS) of `d`, or a splice of `d`'s start with another seed's end."""
    if kind == "splice":
        other = seeds[int(rng.integers(len(seeds)))].data
        return d[: _pos(rng, len(d) + 1)] + other[_pos(rng, len(other)) :]
    return RAW_KINDS[kind](d, rng)


def mutate_compact(seed: Seed, seeds: list[Seed], rng) -> tuple[str, bytes]:
    """A mutation of a compact file: its header bytes (grid sizes, name code, step, L, scales) or
    version byte with the CRC fixed, or the generic ones."""
    kind = _choose(rng, COMPACT_KINDS)
    d = seed.data
    if kind in RAW_KINDS or kind == "splice":
        return kind, generic_mutation(kind, d, seeds, rng)
    body = d[:-4]
    if kind == "compact-version":
        return kind, fix_crc(body[:2] + bytes([int(rng.choice(U8))]) + body[3:] + b"\0\0\0\0")
    if kind == "compact-header":  # Most of the header lies in the first 16 bytes after the prefix.
        pos = COMPACT_HEADER + _pos(rng, min(16, len(body) - COMPACT_HEADER) or 1)
        if rng.random() < 0.3:
            new = LEB_VALUES[int(rng.integers(len(LEB_VALUES)))]
            out = body[:pos] + new + body[pos + 1 :]
        else:
            out = body[:pos] + bytes([int(rng.choice(U8))]) + body[pos + 1 :]
        return kind, fix_crc(out + b"\0\0\0\0")
    op = {"crc-bitflip": bitflip, "crc-overwrite": overwrite, "crc-truncate": truncate, "crc-insert": insert}[kind]
    return kind, fix_crc(op(body, rng) + b"\0\0\0\0")


def mutate_inr(seed: Seed, seeds: list[Seed], ids: list[bytes], rng) -> tuple[str, bytes]:
    if seed.data[:2] == b"\x89i":
        return mutate_compact(seed, seeds, rng)
    kinds = dict(INR_KINDS)
    if seed.data[7] != 3:
        kinds.pop("template"), kinds.pop("mask")
    kind = _choose(rng, kinds)
    d = seed.data
    if kind in RAW_KINDS or kind == "splice":
        return kind, generic_mutation(kind, d, seeds, rng)
    if kind.startswith("crc-"):
        body = d[:-4]
        r = rng.random()  # aim at the meta most of the time
        inr = Inr.parse(d)
        lo, hi = (18, 18 + len(inr.meta)) if r < 0.6 else (0, 18) if r < 0.7 else (0, len(body))
        part = body[lo:hi] or body
        lo = lo if body[lo:hi] else 0
        op = {"crc-bitflip": bitflip, "crc-overwrite": overwrite, "crc-int-field": int_field, "crc-truncate": truncate,
              "crc-insert": insert}[kind]
        return kind, fix_crc(body[:lo] + op(part, rng) + body[lo + len(part) :] + b"\0\0\0\0")
    inr = Inr.parse(d)
    for _ in range(1 + int(rng.random() < 0.25)):  # sometimes two structured mutations
        if kind == "meta-insdel":
            inr.meta = (insert if rng.random() < 0.5 else delete)(inr.meta, rng)
        elif kind == "payload-mutation":
            inr.payload = raw_mutation(inr.payload, rng)
        elif kind == "payload-insdel":
            r = rng.random()
            inr.payload = (insert if r < 0.4 else delete if r < 0.8 else truncate)(inr.payload, rng)
        elif kind == "meta-field":
            fields = meta_fields(inr.modality, inr.meta)
            if fields:
                _, off, fmt = fields[int(rng.integers(len(fields)))]
                inr.meta = _set_field(inr.meta, off, fmt, rng)
        elif kind == "dims":
            inr.meta = set_dims(inr.modality, inr.meta, rng)
            if rng.random() < 0.3:  # with all-zero latents (scale indices 0): nothing to decode but the size
                for name, off, fmt in meta_fields(inr.modality, inr.meta):
                    if name.split(".")[-1][:1] == "s" and name.split(".")[-1][1:].isdigit():
                        inr.meta = inr.meta[:off] + b"\0" + inr.meta[off + 1 :]
        elif kind == "base-swap":
            inr.head = inr.head[:8] + ids[int(rng.integers(len(ids)))]
        elif kind == "header-byte":
            which = int(rng.integers(4, 8))
            inr.head = inr.head[:which] + bytes([int(rng.choice(U8))]) + inr.head[which + 1 :]
        elif kind == "template":
            try:
                inr.meta = mutate_template(inr.meta, rng)
            except (ValueError, zlib.error, struct.error, IndexError):
                inr.meta = raw_mutation(inr.meta, rng)
        elif kind == "mask":
            try:
                inr.meta = mutate_mask(inr.meta, rng)
            except (ValueError, zlib.error, struct.error, IndexError):
                inr.meta = raw_mutation(inr.meta, rng)
    out = inr.pack()
    if kind == "length-field":  # meta_len or payload_len off by a little or a lot, CRC fixed
        meta_len = len(inr.meta)
        if rng.random() < 0.5:
            v = min(0xFFFF, int(rng.choice(LEN_VALUES + [meta_len - 1, meta_len + 1, meta_len + 4])))
            out = out[:16] + struct.pack("<H", max(v, 0)) + out[18:]
        else:
            p = len(inr.payload)
            v = int(rng.choice(LEN_VALUES + [p - 1, p + 1, p + 4, p - 4, len(out)]))
            out = out[: 18 + meta_len] + struct.pack("<I", min(max(v, 0), (1 << 32) - 1)) + out[22 + meta_len :]
        out = fix_crc(out)
    return kind, out


# --- .inrpack structure ---------------------------------------------------------------------------

@dataclass
class Pack:
    head: bytes  # 16 bytes: magic, major, minor, flags, modality, base_id
    settings: bytes
    blob: bytes
    items: list

    @classmethod
    def parse(cls, d: bytes) -> "Pack":
        (s,) = struct.unpack_from("<I", d, 16)
        settings = d[20 : 20 + s]
        (b,) = struct.unpack_from("<I", d, 20 + s)
        blob = d[24 + s : 24 + s + b]
        h = 28 + s + b
        n, x = struct.unpack_from("<QQ", d, len(d) - 24)
        items, pos = [], h
        for _ in range(n):
            b0 = d[pos]
            if b0 < 0x80:
                k, length = 1, b0
            elif d[pos + 1] < 0x80:
                k, length = 2, b0 & 0x7F | d[pos + 1] << 7
            else:
                k, length = 3, b0 & 0x7F | (d[pos + 1] & 0x7F) << 7 | d[pos + 2] << 14
            items.append(d[pos + k : pos + k + length])
            pos += k + length
        assert pos == x, "seed archive does not parse"
        return cls(d[:16], settings, blob, items)

    def pack(self, fix_base_id: bool = True) -> bytes:
        head = self.head
        if fix_base_id and self.blob:
            head = head[:8] + hashlib.sha256(self.blob).digest()[:8]
        body = head + struct.pack("<I", len(self.settings)) + self.settings + struct.pack("<I", len(self.blob)) + self.blob
        out = bytearray(body + struct.pack("<I", zlib.crc32(body)))
        h = len(out)
        crcs, checkpoints = [], []
        for i, item in enumerate(self.items):
            if i % 256 == 0:
                checkpoints.append(len(out))
            n = len(item)
            frame = bytes([n]) if n < 0x80 else bytes([n & 0x7F | 0x80, n >> 7]) if n < 0x4000 else \
                bytes([n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14])
            out += frame + item
            crcs.append(binascii.crc_hqx(frame + item, 0xFFFF))
        x = len(out)
        if not self.items:
            checkpoints = []
        index = b"\x80\x00" + b"".join(struct.pack("<H", c) for c in crcs) + b"".join(struct.pack("<Q", c) for c in checkpoints)
        index += struct.pack("<QQ", len(self.items), x)
        out += index + struct.pack("<I", zlib.crc32(index)) + b"\x89INX"
        assert not self.items or checkpoints[0] == h
        return bytes(out)


def fix_archive_crcs(d: bytes) -> bytes:
    """The archive bytes with the header CRC, the item CRC-16s and the index CRC recomputed where the
    (possibly mutated) lengths and offsets still locate them."""
    b = bytearray(d)
    try:
        (s,) = struct.unpack_from("<I", b, 16)
        (bl,) = struct.unpack_from("<I", b, 20 + s)
        h = 28 + s + bl
        if h <= len(b):
            struct.pack_into("<I", b, 24 + s + bl, zlib.crc32(bytes(b[: 24 + s + bl])))
        n, x = struct.unpack_from("<QQ", b, len(b) - 24)
        if h <= x < len(b) and n < 1 << 20 and x + 2 + 2 * n <= len(b) - 24:
            pos = h
            for i in range(n):
                if pos >= x:
                    break
                b0 = b[pos]
                k, length = (1, b0) if b0 < 0x80 else (2, b0 & 0x7F | b[pos + 1] << 7) if b[pos + 1] < 0x80 else \
                    (3, b0 & 0x7F | (b[pos + 1] & 0x7F) << 7 | b[pos + 2] << 14)
                struct.pack_into("<H", b, x + 2 + 2 * i, binascii.crc_hqx(bytes(b[pos : pos + k + length]), 0xFFFF))
                pos += k + length
            struct.pack_into("<I", b, len(b) - 8, zlib.crc32(bytes(b[x : len(b) - 8])))
    except (struct.error, IndexError):
        pass
    return bytes(b)


ARCHIVE_KINDS = {
    **{k: 1.0 for k in RAW_KINDS},
    "crc-fixed": 3.0, "settings-json": 4.0, "settings-raw": 1.0, "item": 3.0, "item-count": 1.5, "items": 1.0,
    "blob": 1.0, "header-field": 2.0, "index-field": 1.5,
}


def mutate_archive(seed: Seed, seeds: list[Seed], ids: list[bytes], rng) -> tuple[str, bytes]:
    kinds = dict(ARCHIVE_KINDS)
    p = Pack.parse(seed.data)
    if not p.blob:
        kinds.pop("blob")
    kind = _choose(rng, kinds)
    if kind in RAW_KINDS:
        return kind, RAW_KINDS[kind](seed.data, rng)
    if kind == "crc-fixed":
        return kind, fix_archive_crcs(raw_mutation(seed.data, rng))
    if kind == "settings-json":
        doc = json.loads(p.settings)
        for _ in range(1 + int(rng.random() < 0.3)):
            doc = mutate_json(doc, rng)
        p.settings = json.dumps(doc, separators=(",", ":")).encode()
    elif kind == "settings-raw":
        p.settings = raw_mutation(p.settings, rng)
    elif kind == "item":
        i = _pos(rng, len(p.items))
        p.items[i] = raw_mutation(p.items[i], rng)
    elif kind == "item-count":
        i = _pos(rng, len(p.items))
        p.items[i] = bytes([int(rng.choice(U8))]) + p.items[i][1:]
    elif kind == "items":
        r = rng.random()
        if r < 0.3:
            p.items = p.items[: _pos(rng, len(p.items) + 1)]
        elif r < 0.6:
            p.items = p.items + p.items[: _count(rng, 2.0)] * int(rng.choice([1, 1, 100]))
        elif r < 0.8:
            p.items = list(reversed(p.items))
        else:
            p.items = p.items + [b"", rng.bytes(int(rng.integers(1, 300)))][: int(rng.integers(1, 3))]
    elif kind == "blob":
        p.blob = raw_mutation(p.blob, rng)
    elif kind == "header-field":
        r = rng.random()
        if r < 0.6:
            which = int(rng.integers(4, 8))
            p.head = p.head[:which] + bytes([int(rng.choice(U8))]) + p.head[which + 1 :]
        else:
            p.head = p.head[:8] + ids[int(rng.integers(len(ids)))]
            return kind, p.pack(fix_base_id=False)
    out = p.pack()
    if kind == "index-field":  # item count, index offset, a checkpoint or settings_len/base_len; CRCs fixed
        b = bytearray(out)
        r = rng.random()
        if r < 0.3:
            struct.pack_into("<Q", b, len(b) - 24, _interesting_int(rng, 8, len(p.items)))
        elif r < 0.6:
            struct.pack_into("<Q", b, len(b) - 16, _interesting_int(rng, 8, struct.unpack_from("<Q", b, len(b) - 16)[0]))
        elif r < 0.8:
            pos = len(b) - 24 - 8
            struct.pack_into("<Q", b, pos, _interesting_int(rng, 8, struct.unpack_from("<Q", b, pos)[0]))
        elif r < 0.9:
            struct.pack_into("<I", b, 16, _interesting_int(rng, 4, len(p.settings)))
        else:
            struct.pack_into("<I", b, 20 + len(p.settings), _interesting_int(rng, 4, len(p.blob)))
        out = fix_archive_crcs(bytes(b))
    return kind, out


# --- input signal structure -----------------------------------------------------------------------


def _png_chunks(d: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos + 12 <= len(d):
        (n,) = struct.unpack_from(">I", d, pos)
        chunks.append((d[pos + 4 : pos + 8], d[pos + 8 : pos + 8 + n]))
        pos += 12 + n
    return chunks


def _png_pack(chunks) -> bytes:
    out = b"\x89PNG\r\n\x1a\n"
    for kind, data in chunks:
        out += struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return out


def mutate_png(d: bytes, rng) -> tuple[str, bytes]:
    chunks = _png_chunks(d)
    kind = _choose(rng, {"png-ihdr": 2, "png-chunk": 2, "png-idat": 2, "png-chunks": 1, "png-bomb": 0.3})
    if kind == "png-ihdr":
        ihdr = chunks[0][1]
        r = rng.random()
        if r < 0.5:
            off = int(rng.choice([0, 4]))
            ihdr = ihdr[:off] + struct.pack(">I", _interesting_int(rng, 4, struct.unpack_from(">I", ihdr, off)[0])) + ihdr[off + 4 :]
        else:
            off = int(rng.integers(8, 13))
            ihdr = ihdr[:off] + bytes([int(rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 255]))]) + ihdr[off + 1 :]
        chunks[0] = (b"IHDR", ihdr)
    elif kind == "png-chunk":
        i = _pos(rng, len(chunks))
        chunks[i] = (chunks[i][0], raw_mutation(chunks[i][1], rng))
    elif kind == "png-idat":
        i = next(j for j, c in enumerate(chunks) if c[0] == b"IDAT")
        raw = zlib.decompress(chunks[i][1])
        chunks[i] = (b"IDAT", zlib.compress(raw_mutation(raw, rng)))
    elif kind == "png-chunks":
        r = rng.random()
        i = _pos(rng, len(chunks))
        if r < 0.3:
            del chunks[i]
        elif r < 0.6:
            chunks.insert(i, chunks[_pos(rng, len(chunks))])
        else:
            extra = [(b"tEXt", b"k\0" + b"v" * 100), (b"zTXt", b"k\0\0" + zlib.compress(bytes(1 << 20))),
                     (b"iCCP", b"p\0\0" + zlib.compress(bytes(1 << 20))), (b"PLTE", bytes(range(256)) * 3),
                     (b"tRNS", bytes(300)), (b"sBIT", b"\x08\x08\x08"), (b"acTL", struct.pack(">II", 1 << 30, 0)),
                     (b"eXIf", b"MM\0*" + rng.bytes(40)), (b"IEND", b""), (b"abcd", rng.bytes(20))]
            chunks.insert(i, extra[int(rng.integers(len(extra)))])
    else:  # a small file that inflates to a large image within MAX_PIXELS
        w, h = int(rng.choice([4096, 8000, 16384])), int(rng.choice([1024, 4096, 8000]))
        chunks = [(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)),
                  (b"IDAT", zlib.compress(bytes((w + 1) * h // int(rng.choice([1, 2]))), 9)), (b"IEND", b"")]
    return kind, _png_pack(chunks)


def _riff_chunks(d: bytes) -> list[tuple[int, bytes]]:
    """(offset, id) of the chunks of a RIFF/WAVE file."""
    out, pos = [], 12
    while pos + 8 <= len(d):
        (n,) = struct.unpack_from("<I", d, pos + 4)
        out.append((pos, d[pos : pos + 4]))
        pos += 8 + n + (n & 1)
    return out


def mutate_wav(d: bytes, rng) -> tuple[str, bytes]:
    chunks = _riff_chunks(d)
    kind = _choose(rng, {"wav-fmt": 3, "wav-size": 2})
    b = bytearray(d)
    if kind == "wav-fmt":
        fmt = next(off for off, cid in chunks if cid == b"fmt ")
        off, size = [(8, 2), (10, 2), (12, 4), (16, 4), (20, 2), (22, 2)][int(rng.integers(6))]
        old = int.from_bytes(b[fmt + off : fmt + off + size], "little")
        b[fmt + off : fmt + off + size] = _interesting_int(rng, size, old).to_bytes(size, "little")
    else:
        off = 4 if rng.random() < 0.2 else chunks[_pos(rng, len(chunks))][0] + 4
        b[off : off + 4] = _interesting_int(rng, 4, struct.unpack_from("<I", b, off)[0]).to_bytes(4, "little")
    return kind, bytes(b)


NPY_DTYPES = ["<f4", "<f8", ">f4", "<f2", "|u1", "<i8", "|b1", "<c8", "|O", "<U4", "|S3", "|V8", "<M8[ns]", "<m8[s]",
              "[('a', '<f4')]", "('<f4', (2,))", "<f16", "x", ""]
NPY_SHAPES = ["()", "(0,)", "(9, 16)", "(2, 9, 16)", "(1, 1)", "(1 << 20,)", "(65536, 65536)", "(1, 2, 3, 4, 5, 6)",
              "(-1, 16)", "(2**62, 4)", "(9,)", "(16, 9)", "(3, 9, 16)", "(1, 9, 16)", "(9, 16, 0)", "None", "'x'"]


def mutate_npy(d: bytes, rng) -> tuple[str, bytes]:
    """.npy bytes with a rewritten header dict (descr, fortran_order, shape) or header length."""
    major = d[6]
    hl_size = 2 if major == 1 else 4
    (hl,) = struct.unpack_from("<H" if hl_size == 2 else "<I", d, 8)
    start = 8 + hl_size
    data = d[start + hl :]
    if rng.random() < 0.2:
        size = hl_size
        v = _interesting_int(rng, size, hl)
        return "npy-header-len", d[:8] + v.to_bytes(size, "little") + d[start:]
    descr = NPY_DTYPES[int(rng.integers(len(NPY_DTYPES)))] if rng.random() < 0.5 else "<f4"
    shape = NPY_SHAPES[int(rng.integers(len(NPY_SHAPES)))] if rng.random() < 0.7 else "(2, 9, 16)"
    fortran = str(bool(rng.random() < 0.2))
    descr_text = descr if descr.startswith(("[", "(")) else repr(descr)
    header = f"{{'descr': {descr_text}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    header = header.encode("latin1")
    header += b" " * (63 - (start + len(header)) % 64) + b"\n"
    if rng.random() < 0.3:
        data = raw_mutation(data, rng)
    return "npy-header", d[:8] + len(header).to_bytes(hl_size, "little") + header + data


def mutate_npz(d: bytes, rng) -> tuple[str, bytes]:
    """An .npz rebuilt (valid zip CRCs) around a mutated .npy member, or with other members."""
    with zipfile.ZipFile(io.BytesIO(d)) as z:
        members = [(n, z.read(n)) for n in z.namelist()]
    name, npy = members[0]
    r = rng.random()
    if r < 0.5:
        kind, npy = mutate_npy(npy, rng)
        kind = "npz-" + kind
    elif r < 0.7:
        kind, npy = "npz-member-raw", raw_mutation(npy, rng)
    else:
        kind = "npz-members"
        choice = int(rng.integers(4))
        if choice == 0:
            members.append(("other.npy", npy))
        elif choice == 1:
            name = str(rng.choice(["t2m", "../t2m.npy", "t2m.npy/", "a" * 300 + ".npy", "x.txt"]))
        elif choice == 2:
            members = []
        else:
            members.append((name, npy))  # a duplicate name
    out = io.BytesIO()
    compression = zipfile.ZIP_DEFLATED if rng.random() < 0.3 else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", compression) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names on purpose
        def put(n: str, m: bytes) -> None:  # a fixed timestamp: the same bytes on every run
            z.writestr(zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0)), m, compress_type=compression)

        if members:
            put(name, npy)
            for n, m in members[1:]:
                with contextlib.suppress(ValueError):
                    put(n, m)
    return kind, out.getvalue()


def mutate_reader(seed: Seed, seeds: list[Seed], ids: list[bytes], rng) -> tuple[str, bytes]:
    d = seed.data
    structured = {".png": mutate_png, ".wav": mutate_wav, ".npy": mutate_npy, ".npz": mutate_npz}.get(seed.suffix)
    kinds = {**{k: 1.0 for k in RAW_KINDS}, "splice": 0.5, "other-format": 0.3}
    if structured:
        kinds["structured"] = 5.0
    if seed.suffix == ".nc":  # netCDF-3 headers are big-endian u32s; netCDF-4 (HDF5) little-endian
        kinds["header-int"] = 3.0
    kind = _choose(rng, kinds)
    if kind == "structured":
        return structured(d, rng)
    if kind in RAW_KINDS:
        return kind, RAW_KINDS[kind](d, rng)
    if kind == "splice":
        other = seeds[int(rng.integers(len(seeds)))].data
        return kind, d[: _pos(rng, len(d) + 1)] + other[_pos(rng, len(other)) :]
    if kind == "header-int":
        return kind, int_field(d, rng, limit=1024 if d[:3] == b"CDF" else 4096, big_endian=d[:3] == b"CDF")
    other = seeds[int(rng.integers(len(seeds)))].data  # another format's bytes under this suffix
    return kind, other


# --- cases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    index: int
    seed_file: str
    suffix: str
    kind: str
    data: bytes


def make_case(seeds: list[Seed], ids: list[bytes], seed: int, index: int) -> Case:
    """Case `index` of run `seed`: a seed file and one mutation of it (numpy Generator of [seed, index])."""
    rng = np.random.default_rng([seed, index])
    s = seeds[int(rng.integers(len(seeds)))]
    mutate = {"inr": mutate_inr, "archive": mutate_archive, "reader": mutate_reader}[s.kind]
    kind, data = mutate(s, seeds, ids, rng)
    return Case(index, s.name, s.suffix, f"{s.kind}:{kind}", data)


# --- running one case (in a worker) ---------------------------------------------------------------


def _classify(e: BaseException) -> str:
    from inrcodec.errors import FormatError, InputError

    if isinstance(e, (InputError, FormatError)):
        return "rejected"
    if isinstance(e, MemoryError):
        return "over-limit"
    return "traceback"


def _where(e: BaseException) -> str:
    """"Type: message @ innermost frames" (file:line function, innermost first; this harness's frames left out)."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if Path(f.filename).name != "fuzz.py"]
    inner = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames[-4:]]
    return f"{type(e).__name__}: {' '.join(str(e).split())[:300]} @ " + " < ".join(reversed(inner))


def signature(outcome: str, target: str, detail: str) -> str:
    """What tells bugs apart: the outcome, entry point, exception type and innermost frames (no message)."""
    if " @ " not in detail:
        return f"{outcome} {target}: {detail[:100]}"
    head, frames = detail.split(" @ ", 1)
    return f"{outcome} {target}: {head.split(':', 1)[0]} @ {frames}"


def _declared(suffix: str, data: bytes) -> int:
    """Samples the header of .inr bytes declares (0 if it does not parse)."""
    from inrcodec.bitstream import files

    try:
        box, h = files.read_header(data)
    except Exception:  # noqa: BLE001 - reported by the header target itself
        return 0
    if box.modality == 1:
        return h.height * h.width * h.channels
    if box.modality == 2:
        return h.frames * h.channels
    return h.fields * h.ny * h.nx


def targets(suffix: str) -> list[str]:
    """The entry points a case of this suffix goes through ("write" only after a successful "decode")."""
    if suffix == ".inr":
        return ["read_header", "info", "decode", "write"]
    if suffix == ".inrpack":
        return ["open_archive", "read_archive", "open_for_append"]
    return ["read"]


def run_target(target: str, suffix: str, data: bytes, folder: Path, state: dict) -> None:
    """Calls one public entry point on the case's bytes (raises what it raises)."""
    from inrcodec import api, modalities
    from inrcodec.bitstream import archive, files

    if target == "read_header":
        files.read_header(data)
    elif target == "info":
        path = folder / "case.inr"
        path.write_bytes(data)
        json.dumps(api.info(path))
    elif target == "decode":
        state["decoded"] = api.decode(data)
    elif target == "write":  # what `inrcodec decode` writes: PNG, WAV or netCDF bytes (api.decode_file)
        decoded = state["decoded"]
        fmt = modalities.by_name(decoded.base.modality)
        fmt.write(decoded, fmt.OUTPUT_SUFFIX)
        api.summary(decoded)
    elif target == "open_archive":
        import inrcodec

        path = folder / "case.inrpack"
        path.write_bytes(data)
        with inrcodec.open_archive(path) as a:
            n = len(a)
            a.verify()
            a.rate()
            if n:
                a.modulations(0)
                a[n - 1]
            for _ in a:
                pass
    elif target == "read_archive":
        path = folder / "case.inrpack"
        path.write_bytes(data)
        with archive.read_archive(path) as r:
            for i in range(len(r)):
                with contextlib.suppress(Exception):
                    r.peek(i, 1)
            r.verify()
            list(r)
    elif target == "open_for_append":
        path = folder / "append.inrpack"
        path.write_bytes(data)
        archive.open_for_append(path).close()
        with archive.read_archive(path) as r:
            list(r)
    else:
        path = folder / f"case{suffix}"
        path.write_bytes(data)
        fmt = modalities.for_path(path)
        fmt.read(path)


def run_case(suffix: str, data: bytes, folder: Path) -> list[tuple[str, str, str, float]]:
    """(target, outcome, detail, seconds) of each entry point for the case."""
    out, state = [], {}
    for target in targets(suffix):
        if target == "write" and "decoded" not in state:
            continue
        started = time.perf_counter()
        try:
            run_target(target, suffix, data, folder, state)
            outcome, detail = "ok", ""
        except BaseException as e:  # noqa: BLE001 - every exception is an outcome
            if isinstance(e, KeyboardInterrupt):
                raise
            outcome, detail = _classify(e), _where(e)
        out.append((target, outcome, detail, time.perf_counter() - started))
    return out


def _rss_peak() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def worker_main(conn, seeds_folder: str, mem_cap: int, as_extra: int) -> None:
    """Runs cases sent over `conn` until told to stop: ("case", index, suffix, data) ->
    ("declared", index, samples) for .inr files, then ("done", index, results, peak_rss)."""
    import resource

    warnings.simplefilter("ignore")  # Readers warn about odd inputs; outcomes are what count.
    folder = Path(tempfile.mkdtemp(prefix="inrcodec-fuzz-"))
    try:
        # Warm up on every seed: imports, lazy thread pools, JAX; each must come out "ok".
        problems = []
        for s in load_seeds(seeds_folder):
            for target, outcome, detail, _ in run_case(s.suffix, s.data, folder):
                if outcome != "ok":
                    problems.append(f"{s.name} {target}: {outcome} {detail}")
        if as_extra:
            limit = _vm_size() + as_extra
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        conn.send(("ready", problems, _rss_peak()))
        while True:
            msg = conn.recv()
            if msg[0] == "stop":
                break
            _, index, suffix, data = msg
            if suffix == ".inr":
                conn.send(("declared", index, _declared(suffix, data)))
            results = run_case(suffix, data, folder)
            peak = _rss_peak()
            conn.send(("done", index, results, peak))
            if peak > mem_cap:  # its high-water mark would taint the next cases: start afresh
                break
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- the runner (parent side) ---------------------------------------------------------------------


class Worker:
    def __init__(self, seeds_folder: str, mem_cap: int, as_extra: int):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        with environment(**WORKER_ENV):
            self.proc = ctx.Process(target=worker_main, args=(child, seeds_folder, mem_cap, as_extra), daemon=True)
            self.proc.start()
        child.close()
        self.case: Case | None = None
        self.deadline = 0.0
        self.declared = 0

    def ready(self, timeout: float = 300.0) -> tuple[list, int]:
        if not self.conn.poll(timeout):
            self.kill()
            raise RuntimeError("fuzz worker did not start")
        msg = self.conn.recv()
        return msg[1], msg[2]

    def send(self, case: Case, limit: float) -> None:
        self.case, self.declared = case, 0
        self.conn.send(("case", case.index, case.suffix, case.data))
        self.deadline = time.monotonic() + limit

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()  # our own child, by its pid
        self.proc.join(10)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(("stop",))
        self.proc.join(10)
        if self.proc.is_alive():
            self.kill()


@dataclass
class Stats:
    seed: int
    cases: int = 0
    seconds: float = 0.0
    peak_rss: int = 0
    restarts: int = 0
    examples_per_signature: int = 3  # bad cases per signature whose bytes are kept (hex)

    def __post_init__(self):
        self.outcomes = collections.Counter()
        self.by_seed = collections.defaultdict(collections.Counter)
        self.by_kind = collections.defaultdict(collections.Counter)
        self.by_target = collections.defaultdict(collections.Counter)
        self.target_seconds = collections.Counter()
        self.signatures = collections.Counter()
        self.bad: list[dict] = []
        self.warmup_problems: list[str] = []

    def add(self, case: Case, outcome: str, results: list, extra: dict | None = None) -> None:
        self.cases += 1
        self.outcomes[outcome] += 1
        self.by_seed[case.seed_file][outcome] += 1
        self.by_kind[case.kind][outcome] += 1
        for target, o, _, seconds in results:
            self.by_target[target][o] += 1
            self.target_seconds[target] += seconds
        if outcome in BAD:
            bad = [(t, o, d) for t, o, d, _ in results if o in BAD] or [("?", outcome, "")]
            sigs = [signature(o, t, d) for t, o, d in bad]
            keep = any(self.signatures[sig] < self.examples_per_signature for sig in sigs)
            self.signatures.update(sigs)
            self.bad.append({"seed": self.seed, "index": case.index, "seed_file": case.seed_file, "kind": case.kind,
                             "outcome": outcome, "bytes": len(case.data), "signatures": sigs,
                             "targets": [{"target": t, "outcome": o, "detail": d} for t, o, d in bad],
                             **(extra or {}), "hex": case.data.hex() if keep and len(case.data) <= 8192 else None})

    def summary(self) -> dict:
        return {
            "seed": self.seed, "cases": self.cases, "seconds": round(self.seconds, 1),
            "cases_per_second": round(self.cases / self.seconds, 1) if self.seconds else None,
            "outcomes": {o: self.outcomes.get(o, 0) for o in OUTCOMES},
            "peak_rss_mb": round(self.peak_rss / 2**20, 1), "worker_restarts": self.restarts,
            "by_target": {k: dict(v) for k, v in sorted(self.by_target.items())},
            "seconds_by_target": {k: round(v, 1) for k, v in sorted(self.target_seconds.items())},
            "by_seed_file": {k: dict(v) for k, v in sorted(self.by_seed.items())},
            "by_kind": {k: dict(v) for k, v in sorted(self.by_kind.items())},
            "bad_signatures": dict(self.signatures.most_common()),
            "bad_cases": self.bad,
            "warmup_problems": self.warmup_problems,
        }


def run(seeds_folder: str | Path, cases: int, seed: int = 0, start: int = 0, jobs: int = 1,
        time_limit: float = TIME_LIMIT, mem_cap: int = MEM_CAP, as_extra: int = AS_EXTRA,
        progress_every: float = 0.0) -> Stats:
    """Runs cases start .. start + cases - 1 of run `seed` on the seed files of `seeds_folder`."""
    seeds_folder = str(seeds_folder)
    seeds, ids = load_seeds(seeds_folder), base_ids()
    stats = Stats(seed)
    started = time.perf_counter()
    next_index, end = start, start + cases
    workers: list[Worker] = []

    def spawn() -> Worker:
        w = Worker(seeds_folder, mem_cap, as_extra)
        problems, peak = w.ready()
        stats.peak_rss = max(stats.peak_rss, peak)
        for p in problems:
            if p not in stats.warmup_problems:
                stats.warmup_problems.append(p)
        return w

    def finish(w: Worker, outcome: str, results: list, extra: dict | None = None) -> None:
        stats.add(w.case, outcome, results, extra)
        w.case = None

    last_report = time.perf_counter()
    try:
        workers = [spawn() for _ in range(max(1, jobs))]
        while True:
            for w in workers:
                if w.case is None and next_index < end:
                    w.send(make_case(seeds, ids, seed, next_index), time_limit)
                    next_index += 1
            busy = [w for w in workers if w.case is not None]
            if not busy:
                break
            timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout)
            for i, w in enumerate(workers):
                if w.case is None:
                    continue
                restart = False
                try:
                    while w.case is not None and w.conn.poll():
                        msg = w.conn.recv()
                        if msg[0] == "declared":
                            w.declared = msg[2]
                            w.deadline += w.declared * SECONDS_PER_DECLARED_SAMPLE
                        elif msg[0] == "done":
                            results, peak = msg[2], msg[3]
                            stats.peak_rss = max(stats.peak_rss, peak)
                            outcome = _worst([r[1] for r in results])
                            if peak > mem_cap:
                                outcome, restart = "over-limit", True
                            finish(w, outcome, results, {"peak_rss_mb": round(peak / 2**20)} if restart else None)
                except (EOFError, OSError):
                    pass
                if w.case is not None and not w.proc.is_alive():
                    code = w.proc.exitcode
                    finish(w, "crash", [("?", "crash", f"worker exit code {code}", 0.0)],
                           {"exit_code": code, "declared_samples": w.declared})
                    restart = True
                elif w.case is not None and time.monotonic() > w.deadline:
                    finish(w, "hang", [("?", "hang", f"over {time_limit} s + declared samples", time_limit)],
                           {"declared_samples": w.declared})
                    restart = True
                elif w.case is None and not w.proc.is_alive():
                    restart = True
                if restart:
                    w.kill()
                    stats.restarts += 1
                    workers[i] = spawn()
            if progress_every and time.perf_counter() - last_report > progress_every:
                last_report = time.perf_counter()
                elapsed = last_report - started
                print(f"  {stats.cases} cases, {stats.cases / elapsed:.1f}/s, "
                      + ", ".join(f"{o} {stats.outcomes[o]}" for o in OUTCOMES if stats.outcomes[o]), flush=True)
    finally:
        for w in workers:
            w.stop()
        stats.seconds = time.perf_counter() - started
    return stats


def _worst(outcomes: list[str]) -> str:
    order = ["over-limit", "crash", "hang", "traceback", "rejected", "ok"]
    return min(outcomes, key=order.index) if outcomes else "ok"


# --- replay and decompression bombs ---------------------------------------------------------------


def replay(seeds_folder: Path, seed: int, index: int, dump: Path | None) -> None:
    """Rebuilds one case and runs its entry points in this process, printing full tracebacks."""
    case = make_case(load_seeds(seeds_folder), base_ids(), seed, index)
    print(f"case {seed}:{index}: {case.kind} of {case.seed_file}, {len(case.data)} bytes")
    if dump:
        dump.write_bytes(case.data)
        print(f"wrote {dump}")
    os.environ.update(INRCODEC_BASES=WORKER_ENV["INRCODEC_BASES"])
    with tempfile.TemporaryDirectory() as tmp:
        state: dict = {}
        for target in targets(case.suffix):
            if target == "write" and "decoded" not in state:
                continue
            try:
                run_target(target, case.suffix, case.data, Path(tmp), state)
                print(f"{target}: ok")
            except Exception as e:  # noqa: BLE001
                print(f"{target}: {_classify(e)}")
                if _classify(e) != "rejected":
                    traceback.print_exc()
                else:
                    print("   ", e)


def bomb_files() -> dict[str, bytes]:
    """The largest valid file of each modality in under a kilobyte: a golden file's header with its
    dims at the decoder limit (SPEC.md section 3), every latent scale index 0 and no weight deltas, so
    the payload is empty and decoding costs only the size."""
    import dataclasses

    from inrcodec.bitstream import climate_template, files
    from inrcodec.bitstream.audio import AudioHeader
    from inrcodec.bitstream.climate import ClimateHeader
    from inrcodec.bitstream.image import ImageHeader

    def zero(coding):
        return dataclasses.replace(coding, weight_step_index=0, weight_scale_indices=(), predicted=(), contexts=(),
                                   context_model=0, scale_indices=(0,) * len(coding.scale_indices))

    out = {}
    box, h = files.read_header((ASSETS / "golden.inr").read_bytes())
    meta = ImageHeader(8192, 8192, 3, 8, zero(h.coding)).pack()
    out["image-8192x8192.inr"] = Inr(_head(box, 0), meta, b"").pack()
    box, h = files.read_header((ASSETS / "golden-audio.inr").read_bytes())
    meta = AudioHeader(h.sample_rate, 1 << 24, 2, h.subtype, h.container, tuple(zero(c) for c in h.codings), (0, 0)).pack()
    out["audio-2^24x2.inr"] = Inr(_head(box, 0), meta, b"").pack()
    box, h = files.read_header((ASSETS / "golden-climate.inr").read_bytes())
    template = climate_template.pack(climate_template.Description(
        "values", ("dim_0", "dim_1"), (4096, 8192), ("dim_0", "dim_1"), {}, {}, {}, {"dtype": np.dtype("<f4")}))
    meta = ClimateHeader(4096, 8192, 1, h.lo, h.hi, template, b"", zero(h.coding)).pack()
    out["climate-1x4096x8192.inr"] = Inr(_head(box, 1), meta, b"").pack()
    return out


def _head(box, minor: int) -> bytes:
    """magic, major 1, `minor`, flags 0, the modality and base id of a container."""
    return b"\x89INR" + bytes([1, minor, 0, box.modality]) + box.base_id


def run_alone(seeds_folder: Path, case: Case, time_limit: float, mem_cap: int, as_extra: int) -> dict:
    """One case in a fresh worker: its outcome, results, seconds and the worker's peak resident memory."""
    w = Worker(str(seeds_folder), mem_cap, as_extra)
    _, warm_peak = w.ready()
    started = time.perf_counter()
    w.send(case, time_limit)
    row: dict = {"warm_worker_peak_rss_mb": round(warm_peak / 2**20)}
    while True:
        if not w.conn.poll(max(0.0, w.deadline - time.monotonic())):
            row.update(outcome="hang")
            break
        try:
            msg = w.conn.recv()
        except EOFError:
            w.proc.join(5)
            row.update(outcome="crash", exit_code=w.proc.exitcode)
            break
        if msg[0] == "declared":
            row["declared_samples"] = msg[2]
            w.deadline += msg[2] * SECONDS_PER_DECLARED_SAMPLE
        else:
            results, peak = msg[2], msg[3]
            row.update(outcome="over-limit" if peak > mem_cap else _worst([r[1] for r in results]),
                       peak_rss_mb=round(peak / 2**20), results=[list(r[:3]) for r in results])
            break
    row["seconds"] = round(time.perf_counter() - started, 1)
    w.kill()
    return row


def run_bombs(seeds_folder: Path, time_limit: float, mem_cap: int, as_extra: int) -> list[dict]:
    """Decodes each bomb file in a fresh worker; its time and the worker's peak resident memory."""
    rows = []
    for i, (name, data) in enumerate(bomb_files().items()):
        row = {"file": name, "bytes": len(data), "hex": data.hex(),
               **run_alone(seeds_folder, Case(i, name, ".inr", "bomb", data), time_limit, mem_cap, as_extra)}
        rows.append(row)
        print(f"  {name}: {row['outcome']}, {row['seconds']} s, peak RSS {row.get('peak_rss_mb', '?')} MB", flush=True)
    return rows


RECHECK_AS_EXTRA = 8 << 30


def recheck_over_limit(summary: dict, seeds_folder: Path, time_limit: float, mem_cap: int) -> None:
    """Runs each over-limit case that raised MemoryError again, alone, with a larger address-space limit
    (RECHECK_AS_EXTRA): "recheck" tells a real allocation (MemoryError again, or peak RSS over the cap)
    from a large request that is never touched (e.g. a read buffer sized from a length field)."""
    seeds, ids = load_seeds(seeds_folder), base_ids()
    counts = collections.Counter()
    for b in summary["bad_cases"]:
        if b["outcome"] != "over-limit" or not any("MemoryError" in t["detail"] for t in b["targets"]):
            continue
        row = run_alone(seeds_folder, make_case(seeds, ids, b["seed"], b["index"]), time_limit, mem_cap,
                        RECHECK_AS_EXTRA)
        b["recheck"] = {k: row.get(k) for k in ("outcome", "peak_rss_mb", "seconds")}
        b["recheck"]["address_space_limit_gb"] = RECHECK_AS_EXTRA >> 30
        verdict = "MemoryError or over the RSS cap again" if row["outcome"] in BAD else \
            f"address space only (clean at +{RECHECK_AS_EXTRA >> 30} GB: {row['outcome']})"
        counts[verdict] += 1
    summary["over_limit_recheck"] = dict(counts)


# --- command line ---------------------------------------------------------------------------------


def _print_summary(summary: dict) -> None:
    print(f"cases: {summary['cases']} in {summary['seconds']} s ({summary['cases_per_second']} cases/s), "
          f"worker restarts: {summary['worker_restarts']}, peak RSS of a worker: {summary['peak_rss_mb']} MB")
    print("outcomes: " + ", ".join(f"{o} {n}" for o, n in summary["outcomes"].items()))
    for title, key in (("per entry point", "by_target"), ("per seed file", "by_seed_file"),
                       ("per mutation kind", "by_kind")):
        print(f"{title}:")
        for name, counts in summary[key].items():
            seconds = summary["seconds_by_target"].get(name) if key == "by_target" else None
            print(f"  {name:32s} " + " ".join(f"{o}={counts[o]}" for o in OUTCOMES if counts.get(o))
                  + (f"  ({seconds} s)" if seconds is not None else ""))
    if summary["warmup_problems"]:
        print("seed files that do not read cleanly:", *summary["warmup_problems"], sep="\n  ")
    if summary.get("over_limit_recheck"):
        print("over-limit MemoryError cases rechecked alone:", summary["over_limit_recheck"])
    print(f"non-clean cases: {len(summary['bad_cases'])}, {len(summary['bad_signatures'])} signatures:")
    for sig, n in summary["bad_signatures"].items():
        first = next(b for b in summary["bad_cases"] if sig in b["signatures"])
        detail = next(t["detail"] for t in first["targets"] if signature(t["outcome"], t["target"], t["detail"]) == sig)
        print(f"  {n:6d} x {sig}\n           e.g. --replay {first['seed']}:{first['index']} ({first['kind']} of "
              f"{first['seed_file']}): {detail.split(' @ ')[0][:160]}")


def _revision() -> dict:
    """The commit of the code under test, and whether inrcodec/ differs from it (read-only git)."""
    import subprocess

    def git(*a):
        r = subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None

    return {"commit": git("rev-parse", "HEAD"), "inrcodec_modified": bool(git("status", "--porcelain", "inrcodec"))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", type=int, default=0, help="first case index")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--time-limit", type=float, default=TIME_LIMIT, help="seconds per case (hang above)")
    p.add_argument("--mem-cap-mb", type=float, default=MEM_CAP / 2**20, help="peak resident memory per worker")
    p.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS, help="seed folder (made when missing)")
    p.add_argument("--remake-seeds", action="store_true")
    p.add_argument("--out", type=Path, help="JSON results")
    p.add_argument("--replay", help="SEED:INDEX: run one case here with full tracebacks")
    p.add_argument("--dump", type=Path, help="with --replay: write the case's bytes here")
    p.add_argument("--bombs", action="store_true", help="also decode the largest valid file of each modality")
    p.add_argument("--bomb-time-limit", type=float, default=600.0)
    args = p.parse_args(argv)
    if args.remake_seeds or not args.seeds.is_dir():
        print(f"making seed files in {args.seeds} ...", flush=True)
        make_seeds(args.seeds)
    if args.replay:
        seed, index = (int(v) for v in args.replay.split(":"))
        replay(args.seeds, seed, index, args.dump)
        return 0
    seeds = load_seeds(args.seeds)
    print(f"{len(seeds)} seed files in {args.seeds}; cases {args.start}..{args.start + args.cases - 1} of seed "
          f"{args.seed}; {args.jobs} worker(s), {args.time_limit} s and {args.mem_cap_mb:.0f} MB per case", flush=True)
    mem_cap = int(args.mem_cap_mb * 2**20)
    revision = _revision()  # before the run: the code it starts with
    stats = run(args.seeds, args.cases, args.seed, args.start, args.jobs, args.time_limit, mem_cap,
                progress_every=60.0)
    summary = stats.summary()
    summary.update(start=args.start, jobs=args.jobs, time_limit_s=args.time_limit,
                   seconds_per_declared_sample=SECONDS_PER_DECLARED_SAMPLE, mem_cap_mb=args.mem_cap_mb,
                   address_space_limit="warmed-up worker + %d MB" % (AS_EXTRA >> 20),
                   seed_files={s.name: hashlib.sha256(s.data).hexdigest() for s in seeds},
                   base_ids=[b.hex() for b in base_ids()], command=" ".join(sys.argv), **revision)
    if summary["outcomes"]["over-limit"]:
        print("rechecking the over-limit cases with a larger address-space limit ...", flush=True)
        recheck_over_limit(summary, args.seeds, args.time_limit, mem_cap)
    if args.bombs:
        print("decompression bombs (largest valid files):", flush=True)
        summary["bombs"] = run_bombs(args.seeds, args.bomb_time_limit, mem_cap, AS_EXTRA)
    _print_summary(summary)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 1 if any(summary["outcomes"][o] for o in BAD) else 0


if __name__ == "__main__":
    sys.exit(main())
