"""Rate-distortion benchmark over a folder of images, written in the CompressAI results schema.

For every quality level, each image is encoded, the file bytes counted (bpp = 8 * bytes / pixels)
and the file decoded from bytes; PSNR is computed per image on 8-bit RGB, then averaged. Each
classical baseline is then run per image at the bpp inrcodec reached on that image.
"""

from __future__ import annotations

import datetime
import platform
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from inrcodec import api, baselines, results
from inrcodec.config import FitConfig
from inrcodec.modalities import image as image_io
from inrcodec.formats import image as image_format
from inrcodec.training_data import IMAGE_SUFFIXES, find_files


def _mean_point(items: list[dict]) -> dict:
    keys = ["bpp", "psnr-rgb", "encoding_time", "decoding_time"]
    point = {k: float(np.mean([it[k] for it in items])) for k in keys}
    point["per_item"] = {k: [it[k] for it in items] for k in ["file", *keys]}
    return point


def run(
    data: str | Path,
    qualities: Sequence[int],
    out_dir: Path,
    baseline_names: Sequence[str] = ("jpeg", "webp"),
    limit: int | None = None,
    base: str | None = None,
    fit: FitConfig | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, dict]:
    """Benchmarks inrcodec (and baselines at matched bpp) on the images in `data`.

    Writes out_dir/inrcodec.json and out_dir/<baseline>.json; returns them by name.
    """
    files = find_files([Path(data)], IMAGE_SUFFIXES)[:limit]
    if not files:
        raise ValueError(f"no images found in {data}")
    out_dir.mkdir(parents=True, exist_ok=True)
    the_base = api.load_default_base(base)
    fit = fit or api.default_fit(the_base)
    meta = {
        "command": " ".join(["inrcodec", *sys.argv[1:]]) if sys.argv else "",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
        "base": {"name": the_base.name, "base_id": the_base.base_id.hex(), "params_bytes": the_base.nbytes},
        "images": [f.name for f in files],
        "psnr": "per image on 8-bit RGB, then averaged",
        "fit": {"noise_steps": fit.noise_steps, "ste_steps": fit.ste_steps, "lr": fit.lr, "sample_fraction": fit.sample_fraction},
    }
    arrays = [image_io.read_array(f) for f in files]
    points, matched = [], []
    for q in qualities:
        items = []
        for f, arr in zip(files, arrays):
            enc = image_format.encode(arr, the_base, q, fit)
            t = time.perf_counter()
            dec = image_format.decode(enc.data, the_base)
            dec_time = time.perf_counter() - t
            if not np.array_equal(dec.array, enc.reconstruction):
                raise RuntimeError(f"{f.name}: decoder output differs from the encoder's reconstruction")
            items.append({"file": f.name, "bpp": enc.bpp, "psnr-rgb": image_format.psnr(arr, dec.array),
                          "encoding_time": enc.seconds, "decoding_time": dec_time})
            log(f"q{q} {f.name}: {enc.bpp:.4f} bpp {items[-1]['psnr-rgb']:.2f} dB enc {enc.seconds:.1f}s dec {dec_time:.2f}s")
        points.append(_mean_point(items))
        matched.append([it["bpp"] for it in items])
        log(f"q{q} mean: {points[-1]['bpp']:.4f} bpp {points[-1]['psnr-rgb']:.2f} dB")
        out = results.make_results("inrcodec", f"inrcodec {the_base.name}, quality levels {list(qualities)}",
                                   points, meta={**meta, "quality": list(qualities)[: len(points)]})
        results.write_results(out_dir / "inrcodec.json", out)
    written = {"inrcodec": out}
    rgb = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in arrays]
    rgb = [(a >> 8).astype(np.uint8) if a.dtype == np.uint16 else a for a in rgb]
    for name in baseline_names:
        if name not in baselines.available_codecs():
            log(f"{name}: not available in this Pillow build, skipped")
            continue
        bpoints = []
        for targets in matched:
            items = []
            for f, a, target in zip(files, rgb, targets):
                r = baselines.match_bpp(a, name, target)
                items.append({"file": f.name, "bpp": r["bpp"], "psnr-rgb": r["psnr"],
                              "encoding_time": r["encoding_time"], "decoding_time": r["decoding_time"]})
            bpoints.append(_mean_point(items))
            log(f"{name} at inrcodec's rates: {bpoints[-1]['bpp']:.4f} bpp {bpoints[-1]['psnr-rgb']:.2f} dB")
        res = results.make_results(name, f"Pillow {name} at the per-image bpp of inrcodec", bpoints, meta=meta)
        results.write_results(out_dir / f"{name}.json", res)
        written[name] = res
    return written
