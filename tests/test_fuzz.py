"""A brief fuzz run (issue 17): mutated .inr files, .inrpack archives and input signals (PNG, WAV, FLAC,
netCDF, .npz, .npy) through decode, the header parsers and every reader. Every case must come out read
or cleanly rejected (InputError / FormatError): no traceback, crash, hang or over-limit allocation.

The harness is benchmarks/fuzz.py (one implementation; run at length there:
`python benchmarks/fuzz.py --cases 100000 --out results/fuzz/fuzz.json`). The seed files are its corpus
results/fuzz/seeds (made by `fuzz.make_seeds` when missing), so a failing case replays with
`python benchmarks/fuzz.py --replay SEED:INDEX`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fuzz  # noqa: E402

CASES = 400  # ~10 s on 2 cores (two workers, each ~4 s to start)
SEED = 17


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if fuzz.DEFAULT_SEEDS.is_dir():
        return fuzz.DEFAULT_SEEDS
    folder = tmp_path_factory.mktemp("fuzz-seeds")
    fuzz.make_seeds(folder, dataset=False)  # no compress_dataset archive: that one costs ~20 s of JAX compiling
    return folder


def test_cases_are_reproducible_from_seed_and_index(seeds):
    files, ids = fuzz.load_seeds(seeds), fuzz.base_ids()
    assert {s.kind for s in files} == {"inr", "archive", "reader"}
    cases = [fuzz.make_case(files, ids, SEED, i) for i in range(200)]
    assert cases == [fuzz.make_case(files, ids, SEED, i) for i in range(200)]
    assert len({c.data for c in cases}) > 190
    kinds = {c.kind.split(":")[0] for c in cases}
    assert kinds == {"inr", "archive", "reader"}


def test_crc_fixed_mutations_reach_the_modality_parsers():
    """A container whose CRC is recomputed passes the container checks (SPEC.md 2.3)."""
    from inrcodec.bitstream import container

    data = (fuzz.ASSETS / "golden.inr").read_bytes()
    inr = fuzz.Inr.parse(data)
    assert inr.pack() == data
    inr.meta = inr.meta[:4] + b"\x07" + inr.meta[5:]  # 7 channels
    box = container.unpack(inr.pack())
    assert box.meta[4] == 7


def test_brief_fuzz_run_has_no_traceback_hang_or_over_limit_allocation(seeds, tmp_path):
    # In a process of its own, as the benchmark runs: inside the whole fast tier's session the spawned
    # workers kept dying at start (not understood yet), while the same cases pass in 13 s on their own.
    out = tmp_path / "fuzz.json"
    run = subprocess.run([sys.executable, str(Path(fuzz.__file__)), "--cases", str(CASES), "--seed", str(SEED),
                          "--jobs", "2", "--time-limit", "60", "--seeds", str(seeds), "--out", str(out)],
                         capture_output=True, text=True, timeout=1800)  # 60 s a case: slow only under load.
    assert out.is_file(), run.stdout[-2000:] + run.stderr[-2000:]
    summary = json.loads(out.read_text())
    assert summary["cases"] == CASES
    assert not summary["warmup_problems"], summary["warmup_problems"]
    assert summary["outcomes"]["ok"] > 0 and summary["outcomes"]["rejected"] > 0
    bad = {o: summary["outcomes"][o] for o in fuzz.BAD}
    if any(bad.values()):
        lines = [f"{n} x {sig}" for sig, n in summary["bad_signatures"].items()]
        for b in summary["bad_cases"][:20]:
            lines.append(f"python benchmarks/fuzz.py --seeds {seeds} --replay {b['seed']}:{b['index']}  "
                         f"# {b['outcome']}, {b['kind']} of {b['seed_file']}: {b['targets'][0]['detail'][:200]}")
        pytest.fail(f"non-clean fuzz outcomes {bad} in {CASES} cases:\n" + "\n".join(lines))


def test_netcdf4_file_the_library_hangs_on_is_refused_in_time(tmp_path, monkeypatch):
    """Fuzz case 0:82545 (2 bytes of a netCDF-4 file changed) makes netCDF-C/HDF5 loop forever on opening:
    the reader's child process runs out of time and the read fails with a one-line InputError."""
    import time

    from inrcodec.errors import InputError
    from inrcodec.signals import climate

    # The case's bytes as made from the corpus of that run (later seeds change which file a case index draws).
    path = tmp_path / "case.nc"
    path.write_bytes((fuzz.ASSETS / "fuzz-case-0-82545.nc").read_bytes())
    monkeypatch.setattr(climate, "CHILD_READ_SECONDS", 1.0)
    started = time.perf_counter()
    # netCDF-C 4.10.1 with HDF5 2.2.0 (netCDF4 1.7.5.1) loops: "did not finish reading it in 1 s"; a later library may
    # refuse the file instead. Either way it is refused, in seconds.
    with pytest.raises(InputError):
        climate.read_field(path)
    assert time.perf_counter() - started < 5
