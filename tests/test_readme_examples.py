"""The README's "Use with zarr, xarray and Dask" example runs as written, on a real netCDF file (the
shared 12 x 96 x 192 monthly near-surface air temperature, copied as tas.nc into a temporary folder)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "climate" / "archives" / "tas_rectilinear_grid_2D.nc"
EXAMPLE = re.compile(r"<!-- example: zarr-xarray-dask .*?-->\s*```python\n(.*?)```", re.S)


def test_the_readme_has_the_example():
    assert EXAMPLE.search((ROOT / "README.md").read_text())


@pytest.mark.slow  # Two Dask worker processes fit 12 fields with the shipped climate base.
def test_the_zarr_xarray_dask_example_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("distributed")
    if not SAMPLE.exists():
        pytest.skip(f"shared data not found: {SAMPLE}")
    shutil.copy(SAMPLE, tmp_path / "tas.nc")
    monkeypatch.chdir(tmp_path)
    code = EXAMPLE.search((ROOT / "README.md").read_text()).group(1)
    exec(compile(code, "README.md (zarr-xarray-dask example)", "exec"), {"__name__": "readme_example"})
    assert (tmp_path / "tas.zarr").is_dir() and (tmp_path / "tas.inrpack").is_file()
    assert "bits per field" in capsys.readouterr().out
