"""An SBC run's results: the tables assembled from its replications, and the files written.

:func:`assemble` turns the replications' outcomes into the long table of ranks, one row per
replication and the uniformity tests (:mod:`walt_bayes.calibrate.uniformity`);
:func:`write_sbc` writes them with ``sbc.nc``, ``sbc.json`` and the two plots.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import xarray as xr

import walt_bayes
from walt_bayes.atomic import atomic_path
from walt_bayes.calibrate.settings import SBCSettings, SBCSetup
from walt_bayes.calibrate.uniformity import (
    pit_values,
    plot_ecdf_difference,
    plot_rank_histograms,
    uniformity_table,
)
from walt_bayes.errors import WaltError
from walt_bayes.fit.fitfile import library_versions


@dataclass
class SBCResult:
    """The rank statistics, uniformity tests and per-replication convergence of one SBC run."""

    ranks: pd.DataFrame  # long: rep, parameter, truth, rank, ...
    reps: pd.DataFrame  # one row per replication
    uniformity: pd.DataFrame
    settings: SBCSettings
    notes: list[str]
    files: dict[str, Path] = field(default_factory=dict)
    #: Wall seconds of the run's stages in this process: ``prepare_s``, ``compile_s``
    #: (absent when the workers compile), ``start_s`` (cluster start), ``reps_s``.
    times: dict[str, float] = field(default_factory=dict)


def assemble(setup: SBCSetup, outcomes: dict) -> SBCResult:
    """Tables of an SBC run from the replications' outcomes (failed ones are listed, not ranked)."""
    s = setup.settings
    rep_rows, long_rows = [], []
    for key, o in outcomes.items():
        r = int(key[3:])
        if not o.ok:
            rep_rows.append({"rep": r, "seed": s.rep_seed(r), "status": "failed", "error": o.error})
            continue
        v = o.value
        rep_rows.append(
            {
                "rep": r,
                "seed": v["seed"],
                "status": "ok",
                "error": "",
                "max_rhat": v["max_rhat"],
                "worst_rhat": v["worst_rhat"],
                "min_ess_bulk": v["min_ess_bulk"],
                "divergences": v["divergences"],
                "wall_s": v["wall_s"],
                **{k: v.get(k) for k in ("compile_s", "sample_s", "post_s", "pid")},
            }
        )
        for p in setup.parameters:
            long_rows.append(
                {
                    "rep": r,
                    "parameter": p,
                    "truth": float(setup.truth.loc[r, p]),
                    "rank": v["ranks"][p],
                    "n_ranks": s.ranks,
                    "post_mean": v["post_mean"][p],
                    "post_sd": v["post_sd"][p],
                }
            )
    reps = pd.DataFrame(rep_rows)
    ranks = pd.DataFrame(
        long_rows, columns=["rep", "parameter", "truth", "rank", "n_ranks", "post_mean", "post_sd"]
    )
    notes = list(setup.notes)
    n_ok = int((reps["status"] == "ok").sum())
    if n_ok < 2:
        errors = "; ".join(reps.loc[reps["status"] != "ok", "error"].unique()[:3])
        raise WaltError(f"sbc: {len(reps) - n_ok} of {len(reps)} replications failed ({errors})")
    wide = ranks.pivot(index="rep", columns="parameter", values="rank")[setup.parameters]
    uniformity = uniformity_table(wide, s.ranks, seed=s.seeds()["pit"])
    ok = reps[reps["status"] == "ok"]
    notes.append(
        f"{n_ok}/{len(reps)} replications fitted; {int((ok['divergences'] > 0).sum())} with divergences, "
        f"{int((ok['max_rhat'] > 1.01).sum())} with max R-hat > 1.01, "
        f"{int((ok['min_ess_bulk'] < s.ranks).sum())} with min bulk ESS < L = {s.ranks} "
        "(ranks of autocorrelated draws are not uniform even for a correct sampler)"
    )
    if n_ok < len(reps):
        notes.append(f"{len(reps) - n_ok} replications failed (see reps.csv); ranks use the others")
    return SBCResult(ranks, reps, uniformity, s, notes)


def write_sbc(result: SBCResult, setup: SBCSetup, out: Path) -> dict[str, Path]:
    """Write an SBC run's tables, netCDF and plots to ``out`` (each file atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        name: out / name
        for name in ("ranks.csv", "reps.csv", "uniformity.csv", "sbc.nc", "sbc.json")
    }
    for name, frame in (
        ("ranks.csv", result.ranks),
        ("reps.csv", result.reps),
        ("uniformity.csv", result.uniformity),
    ):
        with atomic_path(files[name]) as tmp:
            frame.to_csv(tmp, index=False)
    s = result.settings
    wide = result.ranks.pivot(index="rep", columns="parameter", values="rank")[setup.parameters]
    pit = pit_values(wide, s.ranks, seed=s.seeds()["pit"])
    reps = wide.index.to_numpy()
    tree = xr.DataTree.from_dict(
        {
            "prior_sbc": xr.Dataset(
                {c: (("chain", "draw"), wide[c].to_numpy()[None, :]) for c in wide.columns},
                coords={"chain": [0], "draw": reps},
            ),
            "pit": xr.Dataset(
                {c: (("chain", "draw"), pit[c].to_numpy()[None, :]) for c in pit.columns},
                coords={"chain": [0], "draw": reps},
            ),
            "truth": xr.Dataset(
                {c: ("rep", setup.truth[c].to_numpy()) for c in setup.parameters},
                coords={"rep": setup.truth.index.to_numpy()},
            ),
        }
    )
    meta = {
        "spec_name": setup.spec.name,
        "spec_toml": setup.spec.source_text,
        "fit_spec_name": setup.fit_spec.name,
        "settings": asdict(s),
        "seeds": s.seeds(),
        "walt_bayes_version": walt_bayes.__version__,
        "versions": library_versions(),
        "notes": result.notes,
    }
    tree.attrs.update({k: json.dumps(v) if not isinstance(v, str) else v for k, v in meta.items()})
    with atomic_path(files["sbc.nc"], suffix=".nc") as tmp:
        tree.to_netcdf(tmp, engine="h5netcdf")
    summary = meta | {
        "uniformity": result.uniformity.to_dict(orient="records"),
        "times": result.times,
    }
    with atomic_path(files["sbc.json"]) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=float))
    files["sbc_ranks.png"] = plot_rank_histograms(
        wide, s.ranks, out / "sbc_ranks.png", result.uniformity
    )
    files["sbc_ecdf.png"] = plot_ecdf_difference(tree, out / "sbc_ecdf.png")
    return files
