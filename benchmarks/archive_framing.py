"""Bytes per field that an .inrpack archive spends on framing, measured on a real archive.

Compresses the first N fields of a stack with inrcodec.compress_dataset, then splits the archive's
bytes (ARCHIVE.md): the settings and embedded base (stored once), the range-coded latent streams,
and the framing: fixed header and trailer, per item a length prefix, a count byte and a CRC-16,
the end marker and the block checkpoints. Writes one JSON and prints the split. Usage:
    python benchmarks/archive_framing.py ../shared/data/climate/speedy_46x90/speedy_t0_1982.npz \
        --var temperature --fields 1460 --quality 4 --out results/archive_framing/speedy_1982.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import inrcodec
from inrcodec.bitstream.archive import read_archive
from inrcodec.signals import climate as climate_io


def split(path: Path) -> dict:
    """The archive's bytes by role (ARCHIVE.md §2)."""
    with read_archive(path) as reader:
        items, size = list(reader), reader.file_bytes
        settings, base = len(reader.header.settings), len(reader.header.base_blob)
    streams = sum(len(p) - 1 for p in items)  # Each item: a count byte, then its range-coded stream.
    framing = size - settings - base - streams
    return {"file_bytes": size, "settings_bytes": settings, "base_bytes": base, "items": len(items),
            "stream_bytes": streams, "framing_bytes": framing}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--var", default=None)
    parser.add_argument("--fields", type=int, default=256)
    parser.add_argument("--quality", type=int, default=4)
    parser.add_argument("--out", required=True)
    parser.add_argument("--keep", default=None, help="also keep the archive here")
    args = parser.parse_args(argv)
    field = climate_io.read_field(args.file, args.var)
    stack = field.values.reshape(-1, *field.values.shape[-2:])[: args.fields].astype("float32")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fields.inrpack"
        started = time.perf_counter()
        inrcodec.compress_dataset(stack, path, quality=args.quality)
        seconds = time.perf_counter() - started
        row = split(path)
        if args.keep:
            Path(args.keep).write_bytes(path.read_bytes())
    n = len(stack)
    row |= {"fields": n, "quality": args.quality, "encode_seconds": round(seconds, 1),
            "framing_bytes_per_field": row["framing_bytes"] / n, "stream_bytes_per_field": row["stream_bytes"] / n,
            "bits_per_field": 8 * row["file_bytes"] / n}
    print(f"{n} fields at q{args.quality}: {row['file_bytes']} bytes = settings {row['settings_bytes']} + base "
          f"{row['base_bytes']} + streams {row['stream_bytes']} ({row['stream_bytes_per_field']:.1f} per field) + "
          f"framing {row['framing_bytes']} ({row['framing_bytes_per_field']:.3f} per field)")
    out = {"name": "inrpack framing", "command": " ".join(["python", "benchmarks/archive_framing.py", *sys.argv[1:]]),
           "results": row}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
