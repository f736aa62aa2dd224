"""Benchmark the Dask scale-out (issue 9 target): 20 SBC replications, 2 local workers vs serial.

The small configuration of the parameter-recovery test (balance_of_threat on a
simulated 10-state × 8-year system, 2 chains × 300 draws after 400 tuning
steps, ranks among L = 99 thinned draws).  Each mode runs in a fresh child
process and is timed from the start of ``run_sbc`` to its return (simulating
the covariates, the prior draws, starting the cluster, compiling, sampling,
ranking); a warm-up run first fills the on-disk PyTensor/numba caches so that
neither mode pays for the other's compilation.

Modes:

``serial``
    ``--scheduler serial``: one process, replications one after another, nutpie
    running the 2 chains of a replication on 2 threads (the whole machine).
``serial-1core``
    The same with 1 core per replication (the per-task setting of the workers).
``processes``
    ``--scheduler processes --workers 2``: a LocalCluster of 2 worker processes,
    one thread each.

Prints every wall time, the ratio processes / serial (target ≤ 0.6) and whether
the ranks are identical across modes.

Usage::

    uv run python benchmarks/bench_grid.py [--reps 20] [--spec balance_of_threat] [--work DIR]
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


def child(args) -> None:
    from walt_bayes.calibrate.sbc import SBCSettings, run_sbc

    settings = SBCSettings(reps=args.reps, seed=args.seed)
    scheduler = "serial" if args.mode.startswith("serial") else "processes"
    cores = 1 if args.mode == "serial-1core" else None
    t0 = time.perf_counter()
    res = run_sbc(
        args.spec, settings, None, scheduler=scheduler, workers=2, cores=cores, progress=False
    )
    wall = time.perf_counter() - t0
    res.ranks.to_csv(Path(args.work) / f"ranks-{args.mode}.csv", index=False)
    ok = res.reps[res.reps["status"] == "ok"]
    print(
        json.dumps(
            {
                "mode": args.mode,
                "wall_s": round(wall, 1),
                "reps_ok": len(ok),
                "rep_wall_s_median": float(ok["wall_s"].median()),
                "flagged": res.uniformity.loc[~res.uniformity["uniform"], "parameter"].tolist(),
                "divergent_reps": int((ok["divergences"] > 0).sum()),
            }
        )
    )


def run_mode(mode: str, args, env) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--mode",
        mode,
        "--reps",
        str(args.reps),
        "--spec",
        args.spec,
        "--seed",
        str(args.seed),
        "--work",
        args.work,
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"{mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--spec", default="balance_of_threat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="serial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    args.work = args.work or tempfile.mkdtemp(prefix="bench-grid-")
    env = dict(os.environ)
    cache = Path(env.get("WALT_BAYES_CACHE", Path(args.work) / "cache"))
    env.setdefault("PYTENSOR_FLAGS", f"base_compiledir={cache / 'pytensor'}")
    print(
        f"SBC of {args.spec}: {args.reps} replications (10 states × 8 years, 2 chains × 300 draws, "
        f"400 tuning, L = 99); {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}"
    )
    warm = argparse.Namespace(**{**vars(args), "reps": 2})
    run_mode("serial", warm, env)  # fills the compile caches
    results = {}
    for mode in ("serial", "serial-1core", "processes"):
        results[mode] = r = run_mode(mode, args, env)
        print(
            f"{mode:>13}: {r['wall_s']:7.1f} s  (median replication {r['rep_wall_s_median']:.1f} s; "
            f"{r['reps_ok']} ok, {r['divergent_reps']} with divergences, flagged: {r['flagged'] or 'none'}); "
            f"load average {os.getloadavg()[0]:.2f}"
        )
    ranks = {m: (Path(args.work) / f"ranks-{m}.csv").read_text() for m in results}
    ratio = results["processes"]["wall_s"] / results["serial"]["wall_s"]
    ratio1 = results["processes"]["wall_s"] / results["serial-1core"]["wall_s"]
    print(f"ratio processes / serial       = {ratio:.2f} (target ≤ 0.6)")
    print(f"ratio processes / serial-1core = {ratio1:.2f}")
    print(f"ranks identical across modes: {len(set(ranks.values())) == 1}")


if __name__ == "__main__":
    main()
