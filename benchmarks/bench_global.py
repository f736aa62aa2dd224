"""Benchmark balance_of_threat on the global 1816-2014 panel (issue 4).

Targets: the fit in <= 20 minutes and <= 6 GB peak memory on 2 cores, with
R-hat <= 1.01, bulk ESS >= 400 and no divergences.

Prints
- rows (threat rows in the design and in the dispute likelihood, alliance rows),
  shared-threat triads and the design's build time, with the case-control setting;
- milliseconds per log-density + gradient evaluation with nutpie's numba backend
  (what the sampler calls), and the sampling time that implies for the spec's
  draws, tune and chains at a few leapfrog-step counts;
- with ``--fit``: ``walt-bayes fit`` in a child process (wall, peak RSS, max R-hat,
  min bulk ESS, divergences, bulk ESS per second of sampling, mean leapfrog steps);
- with ``--pymc``: a short run of the same model with nutpie and with
  ``nuts_sampler="pymc"``, and the ratio of their min bulk ESS per second.

Usage::

    python benchmarks/bench_global.py [--data global.parquet] [--case-control auto]
        [--fit [--draws N --tune N --chains N]] [--pymc [--short-draws N]]

Without ``--data`` the panel is built from the sources (``WALT_BAYES_MIRROR``).
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

import numpy as np

TARGETS = {"wall_s": 1200.0, "peak_rss_gb": 6.0, "rhat": 1.01, "ess_bulk": 400}


def _pin_two_cores() -> None:
    if hasattr(os, "sched_getaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > 2:
            os.sched_setaffinity(0, cpus[:2])


def load_panel(path: str | None, years: str):
    import pandas as pd

    if path:
        return pd.read_parquet(path), Path(path)
    from walt_bayes.panel.build import build_global_panel, write_panel

    panel = build_global_panel(years=years, mirror=os.environ.get("WALT_BAYES_MIRROR"))
    out = Path(tempfile.gettempdir()) / f"walt-bayes-global-{years}.parquet"
    write_panel(panel, out)
    return panel, out


def gradient_ms(model, repeats: int = 20) -> tuple[float, float, int]:
    """(compile seconds, ms per logp+gradient, dimension) with nutpie's numba backend."""
    import nutpie

    t0 = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model, backend="numba")
    compile_s = time.perf_counter() - t0
    x = np.asarray(compiled.initial_point_func(1), dtype=float)
    compiled.logp_func(x)
    t0 = time.perf_counter()
    for _ in range(repeats):
        compiled.logp_func(x)
    return compile_s, (time.perf_counter() - t0) / repeats * 1000, int(compiled.n_dim)


def min_ess_per_s(idata, seconds: float) -> tuple[float, float]:
    from walt_bayes.fit.diagnostics import summary_table

    s = summary_table(idata)
    ess = float(s["ess_bulk"].min())
    return ess, ess / seconds


def _progress_printer(total: int, t0: float, every: int = 25):
    """A ``pm.sample`` callback printing each chain's iteration every ``every`` iterations.

    PyMC's NUTS on the global graph takes tens of minutes; without a progress bar
    (off: its output is not a terminal) this is the only sign of where it stands.
    """

    def callback(trace, draw) -> None:
        i = draw.draw_idx + 1
        if i % every == 0 or i == total:
            steps = draw.stats[0].get("tree_size", float("nan")) if draw.stats else float("nan")
            print(f"    pymc chain {draw.chain}: iteration {i}/{total} "
                  f"({'tune' if draw.tuning else 'draw'}), {time.perf_counter() - t0:.0f} s, "
                  f"last tree {steps:.0f} steps", flush=True)

    return callback


def short_runs(models: dict, draws: int, tune: int, chains: int, seed: int, samplers=("nutpie", "pymc"),
               target_accept: float = 0.9) -> None:
    """Min-ESS per second of each sampler on its model (``models[sampler]``)."""
    import pymc as pm

    out = {}
    for sampler in samplers:
        model = models[sampler]
        t0 = time.perf_counter()
        kw = {"nuts": {"target_accept": target_accept}}
        if sampler == "pymc":
            kw["callback"] = _progress_printer(tune + draws, t0)
        idata = pm.sample(
            draws=draws, tune=tune, chains=chains, cores=2, random_seed=seed, nuts_sampler=sampler,
            progressbar=False, model=model, **kw,
        )
        wall = time.perf_counter() - t0
        ess, rate = min_ess_per_s(idata, wall)
        steps = float(np.asarray(idata["sample_stats"]["n_steps"]).mean()) if "n_steps" in idata[
            "sample_stats"] else float("nan")
        out[sampler] = rate
        print(f"{sampler:>6}: {chains} chains x ({tune} tune + {draws} draws) in {wall:.1f} s (incl. compile); "
              f"min bulk ESS {ess:.0f}; {rate:.3f} ESS/s; mean leapfrog steps {steps:.1f}", flush=True)
    if {"nutpie", "pymc"} <= set(out):
        print(f"nutpie / pymc min-ESS-per-second ratio: {out['nutpie'] / out['pymc']:.2f}")


def run_fit(panel_path: Path, args) -> None:
    exe = str(Path(sys.executable).parent / "walt-bayes")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [exe, "fit", args.spec, "--data", str(panel_path), "--out", tmp, "--seed", str(args.seed),
               "--case-control", args.case_control, "--cores", "2"]
        for flag in ("draws", "tune", "chains"):
            if getattr(args, flag):
                cmd += [f"--{flag}", str(getattr(args, flag))]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
        from walt_bayes.fit.fitfile import load_fit

        tree = load_fit(next(Path(tmp).glob("*/fit.nc")))
        walls = json.loads(tree.attrs["wall_times"])
        conv = json.loads(tree.attrs["convergence"])
        stats = tree["sample_stats"]
        steps = float(np.asarray(stats["n_steps"]).mean()) if "n_steps" in stats else float("nan")
        print(f"fit wall {wall:.1f} s (target {TARGETS['wall_s']:.0f}); stages "
              f"{', '.join(f'{k} {v:.1f} s' for k, v in walls.items())}")
        print(f"peak RSS {peak_gb:.2f} GB (target {TARGETS['peak_rss_gb']:.0f})")
        print(f"max R-hat {conv['max_rhat']:.3f} ({conv['worst_rhat']}), min bulk ESS {conv['min_ess_bulk']:.0f} "
              f"({conv['worst_ess']}), divergences {conv['divergences']}; "
              f"{conv['min_ess_bulk'] / walls['sampling']:.3f} min bulk ESS per second of sampling; "
              f"mean leapfrog steps {steps:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="global panel (.parquet); built from the sources when omitted")
    parser.add_argument("--years", default="1816-2014")
    parser.add_argument("--spec", default="balance_of_threat")
    parser.add_argument("--case-control", default="auto")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--fit", action="store_true", help="also run walt-bayes fit and report its figures")
    parser.add_argument("--draws", type=int)
    parser.add_argument("--tune", type=int)
    parser.add_argument("--chains", type=int)
    parser.add_argument("--pymc", action="store_true", help="also compare ESS/s of nutpie and PyMC's NUTS")
    parser.add_argument("--short-draws", type=int, default=200, help="draws and tune of the --pymc runs")
    parser.add_argument("--samplers", default="nutpie,pymc", help="samplers of the --pymc runs")
    args = parser.parse_args()
    _pin_two_cores()

    from walt_bayes.fit.run import derived_seeds
    from walt_bayes.model.build import build_model
    from walt_bayes.model.design import build_design
    from walt_bayes.spec import load_spec

    spec = load_spec(args.spec)
    panel, panel_path = load_panel(args.data, args.years)
    t0 = time.perf_counter()
    design = build_design(panel, spec, name=str(panel_path), case_control=args.case_control,
                          seed=derived_seeds(args.seed)["case_control"])
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = build_model(design, spec)
    model_s = time.perf_counter() - t0
    cc = design.case_control
    n_lik = len(design.dispute_rows()) if design.has_threat else 0
    print(f"panel {panel_path.name}: {len(panel):,} directed dyad-years; case control {args.case_control} "
          f"(r0 {cc.get('r0', 1):.4g}, rd {cc.get('rd', 1):.4g})")
    if design.has_threat:
        print(f"threat rows {len(design.threat_y):,} (dispute likelihood {n_lik:,}), alliance rows "
              f"{len(design.ally_y):,} ({int(design.ally_y.sum()):,} allied), dyads {len(design.dyads):,}, "
              f"triads {len(design.triad_ally):,}")
    print(f"design build {build_s:.1f} s, PyMC model {model_s:.1f} s")
    graph_compile_s, graph_ms, dim = gradient_ms(model)
    print(f"graph form: numba compile {graph_compile_s:.1f} s; {dim:,} free parameters; "
          f"logp+gradient {graph_ms:.2f} ms")
    compile_s, ms, dim = gradient_ms(build_model(design, spec, fused=True))
    print(f"fused likelihood kernel (what fit samples): compile {compile_s:.1f} s; logp+gradient {ms:.2f} ms "
          f"(x{graph_ms / ms:.2f})")
    s = spec.sampler
    draws, tune, chains = args.draws or s.draws, args.tune or s.tune, args.chains or s.chains
    per_core = -(-chains // 2)
    for steps in (15, 31, 63):
        est = per_core * (draws + tune) * steps * ms / 1000
        print(f"  estimated sampling time at {steps} leapfrog steps per draw: {est / 60:.1f} min "
              f"({chains} chains on 2 cores, {tune} tune + {draws} draws)")
    del model
    if args.pymc:
        # What walt-bayes fit samples (nutpie on the fused likelihood kernel) against the
        # straightforward implementation: PyMC's NUTS on the plain graph of the same model.
        models = {"nutpie": build_model(design, spec, fused=True), "pymc": build_model(design, spec)}
        short_runs(models, args.short_draws, args.short_draws, 2, args.seed, tuple(args.samplers.split(",")),
                   spec.sampler.target_accept)
    if args.fit:
        run_fit(panel_path, args)


if __name__ == "__main__":
    main()
