"""The variant comparison of a study: per data set and alliance measure, the variants ranked.

Fits compare only on the same data and outcome (:func:`walt_bayes.compare.runs.check_comparable`),
so a study has one comparison per *group* of cells that differ only in their variant:
same data set, alliance measure, seed and prior scale, at least two finished fits.  Each
group is one task (:func:`compare_task`) that calls :func:`walt_bayes.compare.compare_runs`
and writes ``compare/<group>/compare.csv`` (with ``compare.png`` and ``compare.json``).

``comparison = "loo"``: PSIS-LOO from the stored pointwise log-likelihood, no refits (its
caveat: dyad-years of one dyad are not independent, so LOO flatters dyad intercepts).
``comparison = "kfold"``: grouped k-fold refits.  The refits are first run as tasks on the
study's executor (:func:`fold_prefetch_tasks`, :func:`walt_bayes.compare.kfold.compute_fold`:
the Dask workers of the cells), each writing its fold to ``compare/<group>/folds/``; the
comparison task then finds every fold in that cache, as ``walt-bayes compare --method kfold
--out`` does on a re-run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from walt_bayes.atomic import atomic_path
from walt_bayes.compare.runs import open_runs
from walt_bayes.study.plan import StudyCell, StudyPlan

#: Columns of the study's comparison table before compare's own.
GROUP_COLUMNS = ["group", "data_set", "outcome", "seed", "prior_scale", "cell", "converged"]


def group_key(cell: StudyCell) -> str:
    """The comparison group of ``cell``: everything but the variant."""
    return f"{cell.outcome}.{cell.data}.s{cell.seed}.p{cell.prior_scale:g}"


def comparison_groups(plan: StudyPlan, finished: set[str]) -> dict[str, list[StudyCell]]:
    """Groups of at least two finished cells differing only in their variant, in study order."""
    groups: dict[str, list[StudyCell]] = {}
    for c in plan.cells:
        if c.cell_id in finished:
            groups.setdefault(group_key(c), []).append(c)
    return {k: v for k, v in groups.items() if len(v) >= 2}


def _fold_settings(folds: dict):
    # lazy: walt_bayes.compare.kfold imports nutpie (through walt_bayes.fit.compiled)
    from walt_bayes.compare.kfold import FoldSettings

    # One core per refit task: the cells' executor pins one per task (grid.executor).
    return FoldSettings(
        chains=folds.get("chains", 2), draws=folds.get("draws", 300), tune=folds.get("tune", 300),
        cores=1,
    )


def compare_task(task: dict) -> dict:
    """Run one group's comparison and write ``compare.csv``; skipped when its inputs are unchanged.

    Parameters
    ----------
    task : dict
        ``dirs`` (the cells' folders), ``out`` (the group's folder), ``method``, ``folds``
        (the study's ``[folds]`` or None) and ``key`` (the cells' content hashes, so a
        refitted cell makes the comparison run again).

    Returns
    -------
    dict
        ``{"cached": bool}``.
    """
    # lazy: walt_bayes.compare.table imports nutpie (through compare.kfold, fit.compiled)
    from walt_bayes.compare import compare_runs

    out = Path(task["out"])
    stamp = out / "inputs.json"
    key = {"method": task["method"], "folds": task["folds"], "cells": task["key"]}
    if (out / "compare.csv").exists() and stamp.exists():
        try:
            if json.loads(stamp.read_text()) == key:
                return {"cached": True}
        except ValueError:
            pass
    kwargs: dict = {"method": task["method"], "out": out, "progress": False}
    if task["method"] == "kfold":
        f = task["folds"]
        kwargs.update(folds=f["k"], group=f["group"], fold_seed=f["seed"],
                      fold_settings=_fold_settings(f))
    compare_runs(task["dirs"], **kwargs)
    with atomic_path(stamp) as tmp:
        tmp.write_text(json.dumps(key, indent=2))
    return {"cached": False}


def compare_tasks(plan: StudyPlan, rows: dict[str, dict], out: Path, hashes: dict[str, str]) -> dict:
    """One :func:`compare_task` per comparison group (keys: group names)."""
    study = plan.study
    finished = {cid for cid, r in rows.items() if r.get("status") in ("done", "finished earlier")}
    tasks = {}
    for key, cells in comparison_groups(plan, finished).items():
        tasks[key] = {
            "dirs": [str(out / "cells" / c.cell_id) for c in cells],
            "out": str(out / "compare" / key),
            "method": study.comparison,
            "folds": study.folds,
            "key": {c.cell_id: hashes[c.cell_id] for c in cells},
        }
    return tasks


def fold_prefetch_tasks(tasks: dict[str, dict]) -> dict[str, dict]:
    """The k-fold refits behind every comparison task, one task per fold (``compute_fold``).

    The runs are opened as :func:`walt_bayes.compare.compare_runs` opens them (same labels,
    same fold assignment over the group's union of rows), so the comparison that follows
    reads every fold from the cache.
    """
    # lazy: walt_bayes.compare.kfold imports nutpie (through walt_bayes.fit.compiled)
    from walt_bayes.compare.kfold import assign_folds, fold_tasks

    out: dict[str, dict] = {}
    for key, t in tasks.items():
        if t["method"] != "kfold":
            continue
        f = t["folds"]
        runs = open_runs(t["dirs"])
        assignment = assign_folds(runs, f["k"], f["group"], f["seed"])
        settings = _fold_settings(f)
        cache = Path(t["out"]) / "folds"
        for r in runs:
            for ft in fold_tasks(r, assignment[r.label], f["k"], f["group"], settings, cache, f["seed"]):
                out[f"{key}.{r.label}.fold{ft['fold']}"] = ft
    return out


def comparison_table(plan: StudyPlan, rows: dict[str, dict], out: Path) -> pd.DataFrame:
    """Every group's ``compare.csv``, one row per fit, with the group's settings in front."""
    # lazy: walt_bayes.compare.table imports nutpie (through compare.kfold, fit.compiled)
    from walt_bayes.compare import read_table

    by_dir = {str((out / "cells" / c.cell_id / "fit.nc").resolve()): c for c in plan.cells}
    frames = []
    finished = {cid for cid, r in rows.items() if r.get("status") in ("done", "finished earlier")}
    for key, _cells in comparison_groups(plan, finished).items():
        path = out / "compare" / key / "compare.csv"
        if not path.exists():
            continue
        t = read_table(path)
        cells = [by_dir.get(str(Path(p).resolve())) for p in t["run"]]
        t.insert(0, "group", key)
        for col in ("data", "outcome", "seed", "prior_scale"):
            t[col if col != "data" else "data_set"] = [getattr(c, col) if c else None for c in cells]
        t["cell"] = [c.cell_id if c else "" for c in cells]
        t["converged"] = [bool(rows.get(c.cell_id, {}).get("converged")) if c else False for c in cells]
        frames.append(t)
    if not frames:
        return pd.DataFrame(columns=[*GROUP_COLUMNS, "variant", "rank", "elpd", "se", "elpd_diff", "dse"])
    table = pd.concat(frames, ignore_index=True)
    # compare's own "data" column (name and sha256) stays; the study's data set is "data_set".
    return table[GROUP_COLUMNS + [c for c in table.columns if c not in GROUP_COLUMNS]]


__all__ = [
    "compare_task",
    "compare_tasks",
    "comparison_groups",
    "comparison_table",
    "fold_prefetch_tasks",
    "group_key",
]
