"""Fit a variant in every world the model did not generate and print its headline verdicts.

For each world of :mod:`walt_bayes.model.worlds` and each seed: simulate the world (22 states ×
24 years), fit the variant through :func:`walt_bayes.fit.run.fit_model` with the given chains,
tuning and draws (the fit's seed is the world's seed), and print one row: the world's true
directions of BAL-1 (shared threat), BW-1 (partner threat) and COND-1 (balancing more common than
bandwagoning) as ``+``/``0``/``-``; each hypothesis' verdict with its posterior mean and
P(predicted direction); max R-hat, min bulk and tail ESS, divergences; wall time.  Verdicts are
shown *as computed* even where the fit failed its convergence checks (``conv`` says ``FAIL``;
``walt-bayes hypotheses`` would call them unreliable).  ``false+`` lists the hypotheses judged
``supported`` where the world's direction is 0 or opposite (MODEL.md: must never happen).

Usage::

    uv run python benchmarks/misspecified_worlds.py --seeds 1 2 --variant balance_of_threat \
        --draws 500 --tune 500 [--chains 4] [--worlds persistent mutual] [--out FILE.csv]
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd

from walt_bayes.model.worlds import (
    HEADLINE,
    WORLDS,
    expected_directions,
    false_supports,
    simulate_world,
)

SIGN = {1: "+", 0: "0", -1: "-"}
SHORT = {"supported": "supp", "contradicted": "contr", "practically null": "null",
         "inconclusive": "inconcl", "not testable": "n/t", "unreliable": "unrel"}


def headline_table(idata):
    """Evidence rows of BAL-1, BW-1 and COND-1, verdicts as computed whatever the convergence."""
    from walt_bayes.hypotheses.table import evidence_table

    kwargs = {}
    if "allow_unconverged" in inspect.signature(evidence_table).parameters:
        kwargs["allow_unconverged"] = True
    return evidence_table(idata, ids=list(HEADLINE), **kwargs).set_index("id")


def run_one(world: str, seed: int, variant: str, draws: int, tune: int, chains: int) -> dict:
    from walt_bayes.fit.run import fit_model
    from walt_bayes.spec import load_spec

    t0 = time.perf_counter()
    sim = simulate_world(world, seed=seed)
    want = expected_directions(sim.truth)
    row: dict = {"world": world, "seed": seed,
                 "truth": "/".join(SIGN[want[h]] for h in HEADLINE),
                 "ally_rate": round(sim.truth["alliance_rate_realised"], 3)}
    try:
        result = fit_model(
            sim.panel, load_spec(variant), data_name=f"world-{world}", data_sha256="0" * 64, seed=seed,
            draws=draws, tune=tune, chains=chains, cores=min(chains, os.cpu_count() or 1), progressbar=False,
        )
    except Exception as err:  # one failed fit must not cost the table
        row["error"] = f"{type(err).__name__}: {err}"
        row["wall_s"] = round(time.perf_counter() - t0, 1)
        return row
    table = headline_table(result.idata)
    verdicts = {}
    for h in HEADLINE:
        r = table.loc[h]
        verdicts[h] = r["verdict"]
        row[f"{h} verdict"] = r["verdict"]
        row[f"{h} mean"] = float(r["mean"])
        row[f"{h} P(dir)"] = float(r["p_direction"])
    conv = result.convergence
    row |= {"max_rhat": conv.max_rhat, "min_ess_bulk": conv.min_ess_bulk, "min_ess_tail": conv.min_ess_tail,
            "divergences": conv.divergences, "conv": "ok" if conv.ok else "FAIL",
            "conv_problems": "; ".join(conv.problems),
            "false+": ",".join(false_supports(sim.truth, verdicts)),
            "wall_s": round(time.perf_counter() - t0, 1)}
    return row


def printable(rows: list[dict]) -> pd.DataFrame:
    out = []
    for r in rows:
        shown = {"world": r["world"], "seed": r["seed"], "truth S/B/C": r["truth"], "ally": r["ally_rate"]}
        if "error" in r:
            shown["error"] = r["error"]
        else:
            for h in HEADLINE:
                shown[h] = f"{SHORT.get(r[f'{h} verdict'], r[f'{h} verdict'])} {r[f'{h} mean']:+.2f} " \
                           f"p={r[f'{h} P(dir)']:.2f}"
            shown |= {"Rhat": f"{r['max_rhat']:.3f}", "ESSb": f"{r['min_ess_bulk']:.0f}",
                      "ESSt": f"{r['min_ess_tail']:.0f}", "div": r["divergences"], "conv": r["conv"],
                      "false+": r["false+"] or "-"}
        shown["wall_s"] = r["wall_s"]
        out.append(shown)
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--variant", default="balance_of_threat")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--worlds", nargs="+", default=list(WORLDS), choices=list(WORLDS))
    parser.add_argument("--out", type=Path, help="also write the full table (CSV)")
    args = parser.parse_args()
    for name in ("pymc", "pymc.stats.convergence", "pytensor"):
        logging.getLogger(name).setLevel(logging.ERROR)
    print(f"{args.variant}: {args.chains} chains x ({args.tune} tune + {args.draws} draws); "
          f"worlds {len(args.worlds)} x seeds {args.seeds}", flush=True)
    rows = []
    t0 = time.perf_counter()
    for world in args.worlds:
        for seed in args.seeds:
            row = run_one(world, seed, args.variant, args.draws, args.tune, args.chains)
            rows.append(row)
            print(printable([row]).to_string(index=False, header=len(rows) == 1), flush=True)
    print("\n" + printable(rows).to_string(index=False))
    print("\ntruth S/B/C: the world's direction of BAL-1 (shared threat), BW-1 (partner threat), COND-1 "
          "(shared - partner); each verdict: verdict, posterior mean, P(predicted direction > 0). "
          "Verdicts as computed, also where conv = FAIL (R-hat > 1.01, ESS < 400 or divergences).")
    bad = [r for r in rows if r.get("false+")]
    failed = [r for r in rows if r.get("conv") == "FAIL" or "error" in r]
    print(f"false supports: {len(bad)} of {len(rows)} fits"
          + (": " + "; ".join(f"{r['world']}/{r['seed']}: {r['false+']}" for r in bad) if bad else ""))
    print(f"convergence problems: {len(failed)} of {len(rows)} fits"
          + (": " + "; ".join(f"{r['world']}/{r['seed']}: {r.get('conv_problems') or r.get('error')}"
                              for r in failed) if failed else ""))
    print(f"total wall time {time.perf_counter() - t0:.0f} s")
    for world in args.worlds:
        print(f"  {world}: {WORLDS[world].description}")
    if args.out:
        pd.DataFrame(rows).to_csv(args.out, index=False)
        print(f"table written to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
