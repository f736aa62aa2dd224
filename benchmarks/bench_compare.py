"""Benchmark ``walt-bayes compare`` (issue 6 targets).

``kfold`` (default): the comparison of the five variants on the embedded Middle East data
with 5-fold cross-validation grouped by dyad.  The five fits are made first
(reduced settings, cached under ``--work``; not part of the timing: k-fold
only needs their design, spec and seed), then ``compare_runs`` is timed from a
fresh output directory, so every fold is refitted.  Prints wall and CPU time
(CPU time counts nutpie's sampler threads and compilation, all in-process),
the load average (other processes share the cores) and the fold settings.

``loo-memory``: PSIS-LOO of a fit whose pointwise log-likelihood is larger
than the 4 GB target.  Writes a synthetic fit file with ``--rows`` alliance
dyad-years × ``--chains`` × ``--draws`` (default 150,000 × 4 × 1,000 = 4.8 GB
of float64), then runs the chunked LOO in a child process and reports its
peak resident memory.  One chunk is read at a time, but the peak still grows
slowly with the rows (measured with 32 MB chunks: 1.01 GB at 50,000 rows,
1.36 GB at 150,000, i.e. ~3.5 KB per row): a case-control global fit
(~38,000 alliance rows) stays near 1 GB; the whole 1816-2014 panel without case
control (~1 M undirected dyad-years) would reach ~4 GB by that slope (not
measured).  The run time grows too: ArviZ's PSIS fits each observation's tail
in a Python loop (~0.7 ms per observation here).

Usage::

    uv run python benchmarks/bench_compare.py kfold [--folds 5] [--fold-draws 300] [--fold-start posterior|default] [--work DIR]
    uv run python benchmarks/bench_compare.py loo-memory [--rows 150000] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Every variant: ``full`` is scored on the status variants' dyad-years by its alliance block (onset
#: rows) and its duration block (continuing rows), less the dyads' first observed years.
VARIANTS = ("null", "balance_of_power", "balance_of_threat", "ideology", "full")


def _caches(work: Path) -> None:
    os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={work / 'pytensor'}")


def bench_kfold(args) -> None:
    work = Path(args.work)
    _caches(work)
    from walt_bayes.compare import FoldSettings, compare_runs
    from walt_bayes.fit.fitfile import save_fit
    from walt_bayes.fit.run import fit_model
    from walt_bayes.panel.datasets import load_dataset
    from walt_bayes.spec import load_spec

    data = load_dataset("middle-east")
    runs = []
    for v in VARIANTS:
        path = work / "fits" / v / "fit.nc"
        if not path.exists():
            t0 = time.perf_counter()
            result = fit_model(
                data.panel,
                load_spec(v),
                data_name=data.name,
                data_sha256=data.sha256,
                seed=1,
                draws=args.fit_draws,
                tune=args.fit_draws,
                chains=2,
                cores=2,
                progressbar=False,
            )
            save_fit(result.idata, path)
            print(f"fit {v}: {time.perf_counter() - t0:.0f} s (2 chains × {args.fit_draws} draws)")
        runs.append(path.parent)
    out = Path(tempfile.mkdtemp(prefix="cmp-", dir=work))
    settings = FoldSettings(chains=args.fold_chains, draws=args.fold_draws, tune=args.fold_tune,
                            start=args.fold_start)
    load0 = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    table = compare_runs(
        runs,
        method="kfold",
        folds=args.folds,
        group=args.group,
        out=out,
        fold_settings=settings,
        jobs=args.jobs,
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    load1 = os.getloadavg()
    print(
        table[
            [
                "variant",
                "elpd",
                "se",
                "elpd_diff",
                "dse",
                "weight",
                "fold_divergences",
                "fold_max_rhat",
            ]
        ].to_string(index=False)
    )
    meta = json.loads((out / "compare.json").read_text())
    for label, m in meta["per_variant"].items():
        print(f"  {label}: fold sampling {m['fold_sampling_wall_s']:.0f} s wall")
    print(
        f"{len(runs)} variants × {args.folds} folds ({args.group}), each refit "
        f"{args.fold_chains} chains × {args.fold_draws} draws + {args.fold_tune} tuning "
        f"from {args.fold_start} starts, "
        f"{args.jobs} process(es): "
        f"wall {wall:.0f} s, CPU {cpu:.0f} s on {os.cpu_count()} cores "
        f"(load average {load0[0]:.1f} at start, {load1[0]:.1f} at end); output {out}"
    )


def _write_synthetic_fit(path: Path, rows: int, chains: int, draws: int) -> None:
    """A walt-bayes fit file with a large alliance log-likelihood, written in chunks."""
    import dask.array as da
    import numpy as np
    import xarray as xr

    from walt_bayes.fit.fitfile import FORMAT
    from walt_bayes.spec import load_spec

    n_dyads = max(1, rows // 50)
    rng = np.random.default_rng(0)
    eta = rng.normal(-3.0, 1.2, size=rows)
    y = (rng.random(rows) < 1 / (1 + np.exp(-eta))).astype(np.int64)
    step = max(1, (64 * 2**20) // (8 * chains * draws))

    def block(block_id=None):
        lo = block_id[2] * step
        hi = min(rows, lo + step)
        r = np.random.default_rng(lo)
        e = eta[lo:hi] + r.normal(0, 0.3, size=(chains, draws, hi - lo))
        p = 1 / (1 + np.exp(-e))
        return np.where(y[lo:hi] == 1, np.log(p), np.log1p(-p))

    chunks = (chains, draws, tuple(min(step, rows - s) for s in range(0, rows, step)))
    ll = da.map_blocks(block, chunks=chunks, dtype=np.float64)
    post = xr.Dataset(
        {
            "mu_alpha": (("chain", "draw"), rng.normal(-3, 0.1, (chains, draws))),
            "z_dyad": (("chain", "draw", "dyad"), rng.normal(size=(chains, draws, n_dyads))),
        }
    )
    keys = {
        "ally_ccode1": ("ally_obs", np.arange(rows) % 1000),
        "ally_ccode2": ("ally_obs", (np.arange(rows) // 1000) % 1000),
        "ally_year": ("ally_obs", 1816 + np.arange(rows) // 1_000_000),
    }
    tree = xr.DataTree.from_dict(
        {
            "posterior": post,
            "sample_stats": xr.Dataset(
                {"diverging": (("chain", "draw"), np.zeros((chains, draws), bool))}
            ),
            "log_likelihood": xr.Dataset({"alliance": (("chain", "draw", "ally_obs"), ll)}),
            "observed_data": xr.Dataset({"alliance": ("ally_obs", y)}),
            "constant_data": xr.Dataset(keys),
        }
    )
    spec = load_spec("null")
    tree.attrs.update(
        {
            "format": FORMAT,
            "spec_name": "null",
            "spec_toml": spec.source_text,
            "data_name": "synthetic-global",
            "data_sha256": "9" * 64,
            "seed": 1,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.to_netcdf(path, engine="h5netcdf")


CHILD = """
import json, resource, sys, time
from walt_bayes.compare.loo import loo_pointwise
from walt_bayes.compare.runs import open_run
t0 = time.perf_counter()
pw = loo_pointwise(open_run(sys.argv[1]))
print(json.dumps({"wall_s": time.perf_counter() - t0, "elpd": float(pw.elpd_i.sum()),
                  "chunks": pw.extra["chunks"], "max_k": float(pw.pareto_k.max()),
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def bench_loo_memory(args) -> None:
    work = Path(args.work)
    _caches(work)
    path = work / f"synthetic-{args.rows}x{args.chains}x{args.draws}" / "fit.nc"
    gb = args.rows * args.chains * args.draws * 8 / 2**30
    if not path.exists():
        t0 = time.perf_counter()
        _write_synthetic_fit(path, args.rows, args.chains, args.draws)
        print(
            f"wrote {path} ({path.stat().st_size / 2**30:.1f} GB) "
            f"in {time.perf_counter() - t0:.0f} s"
        )
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
    )
    out = json.loads(res.stdout.strip().splitlines()[-1])
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(
        f"PSIS-LOO of {args.rows:,} alliance dyad-years × {args.chains * args.draws} draws "
        f"({gb:.1f} GB of pointwise log-likelihood): {out['chunks']} chunks, "
        f"wall {out['wall_s']:.0f} s, peak resident memory "
        f"{max(out['peak_rss_gb'], child_peak):.2f} GB (max Pareto k {out['max_k']:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what")
    k = sub.add_parser("kfold")
    k.add_argument("--folds", type=int, default=5)
    k.add_argument("--group", default="dyad")
    k.add_argument("--fold-chains", type=int, default=2)
    k.add_argument("--fold-draws", type=int, default=300)
    k.add_argument("--fold-tune", type=int, default=300)
    k.add_argument("--fold-start", choices=("posterior", "default"), default="posterior")
    k.add_argument("--fit-draws", type=int, default=300)
    k.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="fold processes (default: one per core, as `walt-bayes compare --method kfold`)")
    k.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "walt-bayes-bench-compare"))
    m = sub.add_parser("loo-memory")
    m.add_argument("--rows", type=int, default=150_000)
    m.add_argument("--chains", type=int, default=4)
    m.add_argument("--draws", type=int, default=1000)
    m.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "walt-bayes-bench-compare"))
    args = parser.parse_args()
    if args.what == "loo-memory":
        bench_loo_memory(args)
    else:
        if args.what is None:
            args = k.parse_args([])
        bench_kfold(args)


if __name__ == "__main__":
    main()
