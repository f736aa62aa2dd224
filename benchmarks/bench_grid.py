"""Benchmark the Dask scale-out (issue 9 target): 20 SBC replications, 2 local workers vs serial.

The small configuration of the parameter-recovery test (balance_of_threat on a
simulated 10-state × 8-year system, 2 chains × 300 draws after 400 tuning
steps, ranks among L = 99 thinned draws).  Each mode runs in a fresh child
process and is timed from the start of ``run_sbc`` to its return (simulating
the covariates, the prior draws, starting the cluster, compiling, sampling,
ranking); a warm-up run first fills the on-disk PyTensor/numba caches so that
neither mode pays for the other's compilation.  The child's imports (PyMC,
nutpie, ArviZ: several seconds, the same in every mode) are part of the wall time
and shown separately.

Modes:

``serial``
    ``--scheduler serial``: one process, replications one after another, nutpie
    running the 2 chains of a replication on every core this process may use
    (``available_cores()``: 2 on the 2-core machine of the issue).
``serial-1core``
    The same with 1 core per replication (the per-task setting of the workers).
``processes``
    ``--scheduler processes --workers 2``: a LocalCluster of 2 worker processes,
    one thread each, forked after this process compiled the model (the default).
``processes-spawn``
    The same with spawned workers that import and compile for themselves (as
    before the fork; and as remote ``tcp://`` workers must).

Prints, per mode, the wall time, its stages (prepare, compile, cluster start,
replications), the median seconds of a replication's sampling and
post-processing, and the 1-minute load average after it; then the ratios to
serial (target ≤ 0.6) and whether the ranks are identical across modes.  The
machine may be shared: read the ratios with the load averages.

Usage::

    uv run python benchmarks/bench_grid.py [--reps 20] [--spec balance_of_threat] [--work DIR]
        [--modes serial,serial-1core,processes,processes-spawn]
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

MODES = ("serial", "serial-1core", "processes", "processes-spawn")


def child(args) -> None:
    t0 = time.perf_counter()
    import arviz  # noqa: F401
    import nutpie  # noqa: F401
    import pymc  # noqa: F401

    from walt_bayes.calibrate.sbc import SBCSettings, run_sbc
    from walt_bayes.executor import available_cores

    imports = time.perf_counter() - t0
    settings = SBCSettings(reps=args.reps, seed=args.seed)
    scheduler = "serial" if args.mode.startswith("serial") else "processes"
    cores = 1 if args.mode == "serial-1core" else None
    res = run_sbc(
        args.spec,
        settings,
        None,
        scheduler=scheduler,
        workers=2,
        cores=cores,
        fork=args.mode != "processes-spawn",
        progress=False,
    )
    wall = time.perf_counter() - t0  # imports included: a user of the command pays them too
    res.ranks.to_csv(Path(args.work) / f"ranks-{args.mode}.csv", index=False)
    ok = res.reps[res.reps["status"] == "ok"]
    print(
        json.dumps(
            {
                "mode": args.mode,
                "cores": available_cores() if args.mode == "serial" else 1,
                "imports_s": round(imports, 1),
                "wall_s": round(wall, 1),
                "times": res.times,
                "reps_ok": len(ok),
                "rep_wall_s_median": float(ok["wall_s"].median()),
                "rep_sample_s_median": float(ok["sample_s"].median()),
                "rep_post_s_median": float(ok["post_s"].median()),
                "worker_compile_s": float(ok["compile_s"].sum()),
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


def describe(r: dict) -> str:
    t = r["times"]
    stages = ", ".join(f"{k[:-2]} {v:.1f}" for k, v in t.items())
    return (
        f"{r['wall_s']:7.1f} s on {r['cores']} core(s) per replication [{stages}] "
        f"(imports {r['imports_s']:.1f} s included); median replication {r['rep_wall_s_median']:.2f} s "
        f"(sampling {r['rep_sample_s_median']:.2f}, post {r['rep_post_s_median']:.2f}); "
        f"compiling in workers {r['worker_compile_s']:.1f} s in all; "
        f"{r['reps_ok']} ok, {r['divergent_reps']} with divergences, flagged: {r['flagged'] or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--spec", default="balance_of_threat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=None)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="serial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    modes = [m for m in args.modes.split(",") if m]
    if unknown := set(modes) - set(MODES):
        sys.exit(f"--modes: unknown {sorted(unknown)}; choose from {', '.join(MODES)}")
    if "serial" not in modes:
        modes.insert(0, "serial")  # the reference of every ratio
    args.work = args.work or tempfile.mkdtemp(prefix="bench-grid-")
    env = dict(os.environ)
    cache = Path(env.get("WALT_BAYES_CACHE", Path(args.work) / "cache"))
    env.setdefault("PYTENSOR_FLAGS", f"base_compiledir={cache / 'pytensor'}")
    print(
        f"SBC of {args.spec}: {args.reps} replications (10 states × 8 years, 2 chains × 300 draws, "
        f"400 tuning, L = 99); {os.cpu_count()} cores; load average "
        f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min)"
    )
    warm = argparse.Namespace(**{**vars(args), "reps": 2})
    run_mode("serial", warm, env)  # fills the compile caches
    results = {}
    for mode in modes:
        before = os.getloadavg()[0]
        results[mode] = r = run_mode(mode, args, env)
        print(
            f"{mode:>15}: {describe(r)}; load average {before:.2f} before, "
            f"{os.getloadavg()[0]:.2f} after"
        )
    ranks = {m: (Path(args.work) / f"ranks-{m}.csv").read_text() for m in results}
    serial = results["serial"]["wall_s"]
    for mode in modes[1:]:
        print(f"ratio {mode} / serial = {results[mode]['wall_s'] / serial:.2f}", end="")
        print(" (target ≤ 0.6)" if mode == "processes" else "")
    if "processes" in results and "serial-1core" in results:
        one = results["processes"]["wall_s"] / results["serial-1core"]["wall_s"]
        print(f"ratio processes / serial-1core = {one:.2f}")
    print(f"ranks identical across modes: {len(set(ranks.values())) == 1}")


if __name__ == "__main__":
    main()
