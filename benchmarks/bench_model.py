"""Benchmark the model's log-density gradient and the main job.

Prints, for the embedded Middle East panel and the default variant:
- milliseconds per log-density + gradient evaluation, for the dense per-year
  shared-threat kernel, the sparse-triad formulation of the same model, and the
  fused numba likelihood kernel that sampling uses (walt_bayes.model.fused; blocks 1-3,
  with block 3's share: the kernel timed again without the duration block);
- (with --main-job) ``walt-bayes fit balance_of_threat`` with 4 chains x ``--draws``
  (default 1000, issue 4's target): wall time, stage times, the sampler's own sampling
  time, convergence figures and bulk ESS per second of sampling;
- (with --pymc) min bulk ESS per second of nutpie on the fused kernel and of PyMC's own
  NUTS on the graph form, same data, draws and seed, and their ratio.

Usage: ``uv run python benchmarks/bench_model.py [--main-job [--draws N]] [--pymc [--pymc-draws N]]``
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytensor

from walt_bayes.model.build import build_model
from walt_bayes.model.design import build_design
from walt_bayes.panel.datasets import load_dataset
from walt_bayes.spec import load_spec


def gradient_ms(design, spec, repeats: int = 300, fused: bool = False) -> float:
    model = build_model(design, spec, fused=fused)
    point = model.initial_point()
    logp = model.logp()
    fn = pytensor.function(model.value_vars, [logp, *pytensor.grad(logp, model.value_vars)])
    args = [point[v.name] for v in model.value_vars]
    fn(*args)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn(*args)
    return (time.perf_counter() - t0) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--main-job", action="store_true", help="also time the README's main job")
    parser.add_argument("--pymc", action="store_true",
                        help="also compare min-ESS per second: nutpie on the fused kernel vs PyMC's NUTS on the graph")
    parser.add_argument("--pymc-draws", type=int, default=700, help="draws (and tuning steps) of the --pymc runs")
    parser.add_argument("--draws", type=int, default=1000,
                        help="posterior draws per chain of the --main-job fit (issue 4's target: 4 chains x 1000)")
    args = parser.parse_args()
    spec = load_spec("balance_of_threat")
    data = load_dataset("middle-east")
    design = build_design(data.panel, spec)
    print(f"embedded panel: {len(design.threat_y)} threat rows, {len(design.ally_y)} alliance rows, "
          f"{len(design.triad_ally)} triads")
    dense = gradient_ms(design, spec)
    sparse_design = build_design(data.panel, spec)
    sparse_design.dense = None
    sparse = gradient_ms(sparse_design, spec)
    print(f"logp+gradient: dense per-year kernel {dense:.3f} ms, sparse triads {sparse:.3f} ms "
          f"(x{sparse / dense:.2f})")
    fused = gradient_ms(design, spec, fused=True)
    print(f"logp+gradient with the fused numba likelihood kernel (what NUTS samples): {fused:.3f} ms "
          f"(x{dense / fused:.2f} faster than the graph)")
    if design.duration is not None:
        # Block 3 (the duration hazard, its ΔS from the kernel's tau) is in the kernel too.
        without = copy.copy(design)
        without.duration = None
        rest = gradient_ms(without, spec, fused=True)
        n_tri = 0 if design.duration.tri_s is None else len(design.duration.tri_s)
        print(f"  of which block 3 ({design.duration.n} spell-years, {n_tri} ΔS triads): {fused - rest:.3f} ms "
              f"(the kernel without it: {rest:.3f} ms)")
    if args.pymc:
        # The same model, data and run for both: what walt-bayes fit samples against the
        # straightforward implementation (PyMC's NUTS on the plain graph form).
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_global import short_runs

        models = {"nutpie": build_model(design, spec, fused=True), "pymc": build_model(design, spec)}
        short_runs(models, args.pymc_draws, args.pymc_draws, 4, 20260101)
    if not args.main_job:
        return
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "walt-bayes"), "fit", "balance_of_threat", "--data", "middle-east",
             "--out", tmp, "--draws", str(args.draws)],
            check=True,
        )
        wall = time.perf_counter() - t0
        fit = next(Path(tmp).glob("*/fit.nc"))
        from walt_bayes.fit.fitfile import load_fit

        tree = load_fit(fit)
        walls = json.loads(tree.attrs["wall_times"])
        conv = json.loads(tree.attrs["convergence"])
        ess = np.inf if not conv else conv["min_ess_bulk"]
        settings = json.loads(tree.attrs["sampler_settings"])
        sampler_s = float(tree["posterior"].attrs.get("sampling_time", np.nan))
        steps = float(np.asarray(tree["sample_stats"]["n_steps"]).mean())
        print(f"main job wall {wall:.1f} s; stages {', '.join(f'{k} {v:.1f} s' for k, v in walls.items())}")
        print(f"{settings['chains']} chains x ({settings['tune']} tune + {settings['draws']} draws): sampling "
              f"{sampler_s:.1f} s by the sampler's clock (target <= 60 s), {walls['sampling']:.1f} s with the "
              f"model's compile; mean leapfrog steps per draw {steps:.1f}")
        print(f"max R-hat {conv['max_rhat']:.3f}, min bulk ESS {conv['min_ess_bulk']:.0f}, "
              f"divergences {conv['divergences']}; min bulk ESS per second of sampling "
              f"{ess / walls['sampling']:.1f}")


if __name__ == "__main__":
    main()
