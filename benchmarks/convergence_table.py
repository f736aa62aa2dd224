"""Convergence of theory variants across seeds, at each spec's default sampler settings.

Fits every variant × seed on one data set, one after the other (time them alone: two fits
sampling at once on this project's 2 cores make every wall time meaningless), and prints one
row per fit: max R-hat, min bulk and tail ESS over the named parameters, divergences, the
lowest E-BFMI of the chains, the share of draws at the maximum tree depth, whether the fit
passed every check, and wall time.  ``--out FILE.csv`` also writes the table.

Usage::

    uv run python benchmarks/convergence_table.py --variants full balance_of_threat \
        --seeds 1 2 3 20260101 [--data middle-east|PANEL.parquet] [--out table.csv]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from walt_bayes.defaults import DEFAULT_SEED
from walt_bayes.fit.run import fit_model
from walt_bayes.panel.datasets import load_dataset
from walt_bayes.spec import load_spec

VARIANTS = ("null", "balance_of_power", "balance_of_threat", "ideology", "full")


def fit_row(dataset, variant: str, seed: int) -> dict:
    """Fit ``variant`` at its default settings with ``seed`` and return its convergence row."""
    spec = load_spec(variant)
    t0 = time.perf_counter()
    result = fit_model(dataset.panel, spec, data_name=dataset.name, data_sha256=dataset.sha256,
                       seed=seed, progressbar=False)
    wall = time.perf_counter() - t0
    c = result.convergence
    return {
        "variant": variant, "data": dataset.name, "seed": seed, "max_rhat": round(c.max_rhat, 4),
        "worst_rhat": c.worst_rhat, "min_ess_bulk": round(c.min_ess_bulk), "min_ess_tail": round(c.min_ess_tail),
        "divergences": c.divergences, "min_bfmi": round(min(c.bfmi), 3) if c.bfmi else float("nan"),
        "max_depth_share": round(c.max_depth_share, 4), "ok": c.ok, "wall_s": round(wall, 1),
        "draws": f"{c.chains}x{c.draws}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, DEFAULT_SEED])
    parser.add_argument("--data", default="middle-east")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    dataset = load_dataset(args.data)
    rows = []
    for variant in args.variants:
        for seed in args.seeds:
            row = fit_row(dataset, variant, seed)
            rows.append(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False))
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
