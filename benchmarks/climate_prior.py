"""How far a climate base's own field (all latents zero: its "climatology") is from real fields.

For each base and each field: RMSE (K) and COIN++ PSNR (range 202.66-320.93 K) of the zero-latent
output, with each field's own zonal mean (one value per latitude row) as a reference that needs
22-46 numbers per field. No fitting; numpy only. Writes one JSON and prints a table. Usage:
    python benchmarks/climate_prior.py ../shared/data/climate/era5_46x90/era5_t2m_test_0000.npz \
        ../shared/data/climate/era5_46x90/era5_t2m_test_0500.npz --var temperature \
        --bases siren-climate-v2,siren-climate-v3 --out results/climate_prior/era5_46x90.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from inrcodec import decoder
from inrcodec.core import bases
from inrcodec.core.config import grid_shapes
from inrcodec.modalities import climate as climate_format
from inrcodec.signals import climate as climate_io
from inrcodec.signals.metrics import psnr_range, rmse

COINPP_RANGE = (202.66, 320.93)  # K: COIN++'s ERA5 PSNR range.


def zero_latent_field(base: bases.Base, field: climate_io.Field) -> np.ndarray:
    """The base's output with every latent zero on the field's grid, in the field's units: (ny, nx)."""
    ny, nx = field.values.shape[-2:]
    lo, hi = climate_format.value_range(field, base)
    inputs = climate_format.grid_inputs(field.latlon, ny, nx, base)[None]
    zeros = [np.zeros((1, *s), np.int32) for s in grid_shapes((ny, nx), base.cfg)]
    unit = decoder.reconstruct_batch(base, zeros, (ny, nx), 1.0, inputs)[0, ..., 0]
    return climate_format.physical(unit, lo, hi)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--var", default=None)
    parser.add_argument("--bases", required=True, help="comma-separated base names or directories")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    rows = []
    for path in args.files:
        field = climate_io.read_field(path, args.var)
        values = field.values.reshape(-1, *field.values.shape[-2:])[0]
        valid = field.valid.reshape(values.shape)
        zonal = np.broadcast_to(np.nanmean(np.where(valid, values, np.nan), axis=1, keepdims=True), values.shape)
        row = {"file": Path(path).name, "zonal_mean": {"rmse": rmse(values, zonal, valid),
                                                        "psnr": psnr_range(values, zonal, *COINPP_RANGE, valid)}}
        for name in args.bases.split(","):
            base = bases.load_base(Path(name) if "/" in name else name)
            prior = zero_latent_field(base, field)
            row[base.name] = {"rmse": rmse(values, prior, valid), "psnr": psnr_range(values, prior, *COINPP_RANGE, valid)}
        rows.append(row)
        print(f"{row['file']}: " + ", ".join(f"{k} {v['rmse']:.2f} K ({v['psnr']:.2f} dB)"
                                            for k, v in row.items() if k != "file"))
    out = {"name": "climate zero-latent prior", "command": " ".join(["python", "benchmarks/climate_prior.py", *sys.argv[1:]]),
           "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
