"""Benchmark the real-data pipeline against the targets of issue 3.

1. Cold start: copy every registered source from the mirror into an empty cache,
   verify its sha256, and read it into pandas (target <= 20 s).
2. Full panel: build the 1816-2014 directed dyad-year panel with every verb from
   the cached sources (target <= 60 s wall and <= 4 GB peak memory on 2 cores).

Each stage runs in a fresh Python process pinned to at most 2 CPUs, so imports
count and the peak RSS (``resource.getrusage(...).ru_maxrss``) is that stage's own.

Usage::

    uv run python benchmarks/bench_panel.py [--mirror DIR] [--years 1816-2014] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_MIRROR = Path(__file__).resolve().parents[2] / "shared/data/peacesciencer"
TARGETS = {"cold_start_s": 20.0, "build_wall_s": 60.0, "build_peak_rss_gb": 4.0}


def _pin_two_cores() -> None:
    if hasattr(os, "sched_getaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > 2:
            os.sched_setaffinity(0, cpus[:2])


def _peak_rss_gb() -> float:
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kb / 1024**2


def stage_cold(mirror: str) -> dict:
    t0 = time.perf_counter()
    from walt_bayes.sources import fetch as fetch_mod
    from walt_bayes.sources import read as read_mod
    from walt_bayes.sources import registry

    t_import = time.perf_counter()
    results = fetch_mod.fetch(mirror=mirror)
    assert {r.action for r in results} == {"copied"}, "cache was not empty"
    t_fetch = time.perf_counter()
    rows = sum(len(read_mod.read_source(n)) for n in registry.names())
    t_read = time.perf_counter()
    return {
        "cold_start_s": t_read - t0,
        "import_s": t_import - t0,
        "copy_verify_s": t_fetch - t_import,
        "read_s": t_read - t_fetch,
        "files": len(results),
        "source_rows": rows,
        "peak_rss_gb": _peak_rss_gb(),
    }


def stage_build(years: str, write: bool) -> dict:
    t0 = time.perf_counter()
    from walt_bayes.panel.build import build_global_panel, write_panel

    t_import = time.perf_counter()
    a, b = (int(y) for y in years.split("-"))
    df = build_global_panel((a, b))
    t_build = time.perf_counter()
    out = {
        "build_wall_s": t_build - t_import,
        "process_wall_s": t_build - t0,
        "rows": len(df),
        "columns": df.shape[1],
        "years": f"{int(df.year.min())}-{int(df.year.max())}",
        "frame_gb": df.memory_usage(deep=True).sum() / 1024**3,
    }
    if write:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "panel.parquet"
            write_panel(df, path)
            out["write_s"] = time.perf_counter() - t_build
            out["parquet_mb"] = path.stat().st_size / 1024**2
    out["build_peak_rss_gb"] = _peak_rss_gb()
    return out


def _child(stage: str, env: dict, *args: str) -> dict:
    cmd = [sys.executable, __file__, "--stage", stage, *args]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        sys.stderr.write(res.stdout + res.stderr)
        raise SystemExit(f"stage {stage} failed (exit {res.returncode})")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", default=os.environ.get("WALT_BAYES_MIRROR", str(DEFAULT_MIRROR)))
    ap.add_argument("--years", default="1816-2014")
    ap.add_argument("--write", action="store_true", help="also time writing the Parquet file")
    ap.add_argument("--stage", choices=("cold", "build"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.stage:
        _pin_two_cores()
        result = (
            stage_cold(args.mirror) if args.stage == "cold" else stage_build(args.years, args.write)
        )
        print(json.dumps(result))
        return

    if not Path(args.mirror).is_dir():
        raise SystemExit(f"mirror {args.mirror} not found; pass --mirror DIR")
    with tempfile.TemporaryDirectory(prefix="walt-bayes-bench-") as cache:
        env = {
            **os.environ,
            "WALT_BAYES_CACHE": cache,
            "OMP_NUM_THREADS": "2",
            "OPENBLAS_NUM_THREADS": "2",
            "MKL_NUM_THREADS": "2",
        }
        env.pop("WALT_BAYES_MIRROR", None)
        cold = _child("cold", env, "--mirror", args.mirror)
        build = _child("build", env, "--years", args.years, *(["--write"] if args.write else []))

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"walt-bayes panel benchmark ({min(cpus or 2, 2)} cores, mirror {args.mirror})")
    print(
        f"cold start (copy + verify + read {cold['files']} sources): {cold['cold_start_s']:.2f} s "
        f"[imports {cold['import_s']:.2f}, copy+verify {cold['copy_verify_s']:.2f}, "
        f"read {cold['read_s']:.2f}]  target <= {TARGETS['cold_start_s']:.0f} s"
    )
    print(
        f"full panel {build['years']}: build {build['build_wall_s']:.2f} s "
        f"(process incl. imports {build['process_wall_s']:.2f} s), "
        f"peak RSS {build['build_peak_rss_gb']:.2f} GB  "
        f"target <= {TARGETS['build_wall_s']:.0f} s, <= {TARGETS['build_peak_rss_gb']:.0f} GB"
    )
    print(f"rows {build['rows']:,}, columns {build['columns']}, frame {build['frame_gb']:.2f} GB")
    if "write_s" in build:
        print(f"parquet write {build['write_s']:.2f} s, {build['parquet_mb']:.1f} MB")
    ok = (
        cold["cold_start_s"] <= TARGETS["cold_start_s"]
        and build["process_wall_s"] <= TARGETS["build_wall_s"]
        and build["build_peak_rss_gb"] <= TARGETS["build_peak_rss_gb"]
    )
    print("targets met" if ok else "TARGETS MISSED")


if __name__ == "__main__":
    main()
