"""compress_dataset on a Dask cluster: fields per second with 1, 2, ... workers, their peak memory,
and whether the archive's bytes depend on the number of workers.

The fields are the first N of the given .npz stacks (SPEEDY 46 x 90), as a Dask-backed DataArray
that the workers read themselves (one delayed np.load per file). Each run starts a fresh
dask.distributed.LocalCluster: one process per worker, one thread each. The time is the whole call
as a user waits for it, with the workers' JAX compilation. XLA's flags do not keep a worker on one
core (unpinned, one used 1.75 cores), so each worker pins its threads to core (worker number mod
cores). Writes one JSON and prints a line per run:
    python benchmarks/dask_scaling.py ../shared/data/climate/speedy_46x90/speedy_t0_198[1-6].npz \
        --var temperature --fields 256 --chunk 32 --workers 1,2 --out results/dask_scaling/speedy_256.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ONE_THREAD = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
              "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def lazy_fields(files: list[str], var: str, fields: int):
    """The first `fields` 2-D fields of the files' `var` stacks (n, ny, nx), as a Dask-backed DataArray."""
    import dask
    import dask.array as da
    import xarray as xr

    parts, count = [], 0
    for f in files:
        with np.load(f) as z:  # Only the header is read here: shape and dtype.
            member = z.zip.open(var + ".npy")
            version = np.lib.format.read_magic(member)
            shape, _, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)(member)
        take = min(shape[0], fields - count)
        load = dask.delayed(lambda f=f, take=take: np.load(f)[var][:take])()
        parts.append(da.from_delayed(load, (take, *shape[1:]), dtype))
        count += take
        if count == fields:
            break
    return xr.DataArray(da.concatenate(parts), dims=("time", "lat", "lon"), name=var)


def pin(dask_worker) -> list[int]:
    """Pins every thread of this worker process to core (worker name mod cores): one core per worker."""
    import os

    core = int(dask_worker.name) % os.cpu_count()
    for tid in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(tid), {core})
    return sorted(os.sched_getaffinity(0))


def worker_cpu() -> float:
    """CPU seconds of this worker process so far (user + system)."""
    t = resource.getrusage(resource.RUSAGE_SELF)
    return t.ru_utime + t.ru_stime


def run(fields, workers: int, quality: int, chunk: int, out: Path) -> dict:
    from dask.distributed import Client, LocalCluster, get_task_stream

    import inrcodec

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, env=ONE_THREAD,
                      dashboard_address=None, memory_limit=0) as cluster, Client(cluster) as client:
        client.run(lambda: __import__("inrcodec.dataset"))  # Imports are start-up, not encoding.
        cores = client.run(pin)
        cpu = client.run(worker_cpu)
        own = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        with get_task_stream(client) as stream:
            archive = inrcodec.compress_dataset(fields, out, quality=quality, chunk=chunk, client=client, force=True)
        seconds = time.perf_counter() - started
        own_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = {w: round(c - cpu[w], 1) for w, c in client.run(worker_cpu).items()}
        tasks = {}
        for t in stream.data:
            if str(t["key"]).startswith("_chunk_task"):
                busy = sum(s["stop"] - s["start"] for s in t["startstops"] if s["action"] == "compute")
                n, total = tasks.get(t["worker"], (0, 0.0))
                tasks[t["worker"]] = (n + 1, total + busy)
        rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        rate = archive.rate()
        archive.close()
    data = out.read_bytes()
    return {"workers": workers, "fields": len(fields) if hasattr(fields, "__len__") else None, "chunk": chunk,
            "quality": quality, "seconds": round(seconds, 1), "fields_per_s": round(rate["items"] / seconds, 3),
            "file_bytes": len(data), "bits_per_field": round(8 * len(data) / rate["items"], 2),
            "sha256": hashlib.sha256(data).hexdigest(), "worker_peak_rss_mb": sorted(round(v) for v in rss.values()),
            "worker_cores": sorted(cores.values()),
            "worker_cpu_seconds": sorted(cpu.values()),
            "worker_chunk_tasks": sorted([n, round(busy, 1)] for n, busy in tasks.values()),
            "client_cpu_seconds": round(own_after.ru_utime + own_after.ru_stime - own.ru_utime - own.ru_stime, 1),
            "client_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--var", default="temperature")
    parser.add_argument("--fields", type=int, default=512)
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--quality", type=int, default=4)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    fields = lazy_fields(args.files, args.var, args.fields)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for w in (int(w) for w in args.workers.split(",")):
            row = run(fields, w, args.quality, args.chunk, Path(tmp) / f"w{w}.inrpack")
            rows.append(row)
            print(f"{w} worker(s): {row['fields']} fields in {row['seconds']} s = {row['fields_per_s']} fields/s, "
                  f"{row['bits_per_field']} bits/field, worker peak RSS {row['worker_peak_rss_mb']} MB, "
                  f"CPU s per worker {row['worker_cpu_seconds']}, client {row['client_cpu_seconds']}, "
                  f"chunks per worker [count, busy s] {row['worker_chunk_tasks']}, sha256 {row['sha256'][:16]}", flush=True)
    same = len({r["sha256"] for r in rows}) == 1
    speedup = rows[-1]["fields_per_s"] / rows[0]["fields_per_s"]
    print(f"bytes identical for every worker count: {same}; {rows[-1]['workers']} vs {rows[0]['workers']} "
          f"worker(s): {speedup:.2f}x")
    result = {"command": "python benchmarks/dask_scaling.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "results": rows, "identical_bytes": same, "speedup": round(speedup, 3)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
