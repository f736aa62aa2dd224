"""One grid cell = one fit, run as a task (in this process or on a Dask worker).

:func:`run_cell` fits a variant to a data set with a seed (and scaled priors),
adds the log-prior group (for power-scaling sensitivity), computes the cell's
row of the grid table and writes ``cells/<cell-id>/`` atomically: ``fit.nc``,
``summary.csv`` and ``cell.json`` (the row, the settings and a content hash).
A cell whose ``cell.json`` carries the same hash is finished and is not refitted
(resume); leftovers of a run killed mid-write (hidden ``.part`` folders) are
removed before the cell is fitted again.

:func:`run_fold_cell` refits a finished cell on the training rows of one fold
and scores the held-out rows (``walt_bayes.compare.kfold``; the fold cache
makes re-runs skip finished folds).
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from walt_bayes.atomic import atomic_dir
from walt_bayes.errors import WaltError
from walt_bayes.executor import pin_threads
from walt_bayes.panel.datasets import load_dataset

#: The hypotheses whose verdicts the grid table shows.
KEY_HYPOTHESES = ("BAL-1", "BW-1")
#: Power-scaling sensitivity above this flags a parameter (Kallioinen et al. 2024).
PSENSE_THRESHOLD = 0.05
QUICK_COMPILE = {"mode": "FAST_COMPILE"}


def finished_row(cell_dir: Path, content_hash: str) -> dict | None:
    """The stored row of a finished cell with this content hash, else None.

    Raises
    ------
    WaltError
        The folder holds a finished cell made with *other* settings (never overwritten).
    """
    meta = cell_dir / "cell.json"
    if not (cell_dir / "fit.nc").exists() or not meta.exists():
        return None
    try:
        stored = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    if stored.get("hash") != content_hash:
        raise WaltError(
            f"{cell_dir}: holds this cell fitted with other settings (hash {stored.get('hash')} ≠ {content_hash}); "
            "remove it or use another --out"
        )
    return stored["row"]


def remove_leftovers(cell_dir: Path) -> list[Path]:
    """Delete temporary folders a killed attempt at this cell left behind (``.<id>.*.part``)."""
    gone = []
    for p in cell_dir.parent.glob(f".{cell_dir.name}.*.part"):
        shutil.rmtree(p, ignore_errors=True)
        gone.append(p)
    return gone


def run_cell(task: dict) -> dict:
    """Fit one cell and write its folder atomically; returns the cell's table row.

    Parameters
    ----------
    task : dict
        Built by :func:`walt_bayes.grid.run.plan`: ``cell_dir``, ``hash``,
        ``spec_toml``/``spec_source``, ``data_path``/``data_name``/``data_sha256``,
        ``seed``, ``sampler`` (chains/draws/tune overrides), ``cores`` and the
        cell's labels (``row``).
    """
    # Heavy modules load after pin_threads: its variables reach only pools started later.
    # lazy: walt_bayes.fit.run and .fitfile import PyMC and numba (seconds)
    from walt_bayes.fit import fitfile, run

    # lazy: walt_bayes.spec imports PyMC (pymc_extras' Prior)
    from walt_bayes.spec import parse_spec

    pin_threads(task["cores"])
    cell_dir = Path(task["cell_dir"])
    done = finished_row(cell_dir, task["hash"])
    if done is not None:
        return done | {"status": "finished earlier"}
    remove_leftovers(cell_dir)
    t0 = time.perf_counter()
    dataset = load_dataset(task["data_path"])
    if dataset.sha256 != task["data_sha256"]:
        raise WaltError(
            f"{task['data_path']}: the panel changed since the grid was planned "
            f"(sha256 {dataset.sha256[:12]}… ≠ {task['data_sha256'][:12]}…)"
        )
    spec = parse_spec(task["spec_toml"], source=task["spec_source"])
    s = task["sampler"]
    chains = s.get("chains") or spec.sampler.chains
    result = run.fit_model(
        dataset.panel,
        spec,
        data_name=task["data_name"],
        data_sha256=dataset.sha256,
        seed=task["seed"],
        draws=s.get("draws"),
        tune=s.get("tune"),
        chains=chains,
        cores=max(1, min(task["cores"], chains)),
        progressbar=False,
        companions=dataset.companions,
    )
    idata = result.idata
    add_log_prior(idata, result.design, spec)
    row = dict(task["row"]) | cell_row(idata, result.convergence)
    row["wall_s"] = round(time.perf_counter() - t0, 1)
    meta = {
        "hash": task["hash"],
        "task": {k: v for k, v in task.items() if k not in ("row",)},
        "row": row,
    }
    with atomic_dir(cell_dir) as tmp:
        fitfile.save_fit(idata, tmp / "fit.nc")
        result.summary.to_csv(tmp / "summary.csv")
        (tmp / "cell.json").write_text(json.dumps(meta, indent=2, default=str))
    return row | {"status": "done"}


def add_log_prior(idata, design, spec) -> None:
    """Add the ``log_prior`` group (pointwise log prior density of every free variable)."""
    # This module stays light, so that run_cell pins threads before PyMC and numba load.
    import pymc as pm  # lazy: PyMC (seconds)

    # lazy: walt_bayes.model.build imports PyMC and numba (seconds)
    from walt_bayes.model.build import build_model

    model = build_model(design, spec)
    pm.stats.compute_log_prior(idata, model=model, progressbar=False, compile_kwargs=QUICK_COMPILE)


def cell_row(idata, convergence) -> dict:
    """Diagnostics, PSIS-LOO elpd of the alliance dyad-years (as ``compare`` scores them), key verdicts and prior sensitivity."""
    # This module stays light, so that run_cell pins threads before PyMC and numba load.
    import arviz as az  # lazy: ArviZ (seconds)

    # lazy: walt_bayes.compare.loo and .runs import ArviZ and PyMC (seconds)
    from walt_bayes.compare import loo, runs

    # lazy: walt_bayes.fit.diagnostics imports ArviZ (seconds)
    from walt_bayes.fit.diagnostics import named_parameters

    # lazy: walt_bayes.hypotheses.table imports ArviZ and PyMC (seconds)
    from walt_bayes.hypotheses.table import evidence_table

    row: dict = {
        "max_rhat": convergence.max_rhat,
        "min_ess_bulk": convergence.min_ess_bulk,
        "min_ess_tail": convergence.min_ess_tail,
        "divergences": convergence.divergences,
        "converged": convergence.ok,
    }
    # The dyad-years compare scores: a fit with a duration block (full) is scored on its
    # joined blocks 2 and 3 (the Markov model's density of alliance status), not on its
    # onset rows alone, which no status variant's elpd could sit beside.
    pw = loo.loo_pointwise(runs.run_from_tree(idata, Path("<grid cell>")))
    scored = np.isfinite(pw.elpd_i)
    elpd_i, k = pw.elpd_i[scored], pw.pareto_k[scored]
    row |= {
        "elpd_loo": float(elpd_i.sum()),
        "elpd_loo_se": float(np.sqrt(len(elpd_i) * np.var(elpd_i))),
        "p_loo": float(np.sum(pw.p_i[scored])),
        "loo_rows": int(scored.sum()),
        "pareto_k_max": float(np.nanmax(k)),
        "n_pareto_k_gt_0.7": int(np.sum(k > 0.7)),
    }
    table = evidence_table(idata, ids=list(KEY_HYPOTHESES)).set_index("id")
    for hid in KEY_HYPOTHESES:
        row[hid] = str(table.loc[hid, "verdict"]) if hid in table.index else "not testable"
    names = named_parameters(idata["posterior"])
    # Power-scale the top-level priors only (the named parameters' own priors), not the
    # population distributions of group offsets: Kallioinen et al.'s advice for hierarchical models.
    top = [v for v in idata["log_prior"].data_vars if v in names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sens = az.psense_summary(
            idata, var_names=names, prior_var_names=top, threshold=PSENSE_THRESHOLD, round_to=6
        )
    prior = sens["prior"].astype(float)
    row["psense_prior_max"] = float(prior.max())
    row["psense_flagged"] = " ".join(
        f"{p}({d})" for p, d in sens["diagnosis"].items() if str(d).strip() not in ("✓", "")
    )
    for p, v in prior.items():
        row[f"psense_prior:{p}"] = float(v)
    for p, v in sens["likelihood"].astype(float).items():
        row[f"psense_lik:{p}"] = float(v)
    return row


def run_fold_cell(task: dict) -> dict:
    """Refit one fold of a finished cell and score its held-out rows (``compare.kfold``).

    Returns
    -------
    dict
        The fold cell's row: sampler diagnostics of the refit and ``elpd_fold``,
        the summed log predictive density of the held-out alliance dyad-years.
    """
    # After pin_threads: its variables reach only pools started later.
    # lazy: walt_bayes.compare.kfold imports nutpie, numba and PyMC (seconds)
    from walt_bayes.compare.kfold import compute_fold

    pin_threads(task["cores"])
    t0 = time.perf_counter()
    res = compute_fold(task["fold_task"])
    return dict(task["row"]) | {
        "max_rhat": res["max_rhat"],
        "divergences": res["divergences"],
        "elpd_fold": res["elpd"],
        "n_test": res["n_test"],
        "wall_s": round(time.perf_counter() - t0, 1),
        "status": "finished earlier" if res.get("cached") else "done",
    }


__all__ = [
    "KEY_HYPOTHESES",
    "cell_row",
    "finished_row",
    "remove_leftovers",
    "run_cell",
    "run_fold_cell",
]
