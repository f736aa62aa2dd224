"""Run a study: its cells on the grid's executor, then evidence, comparisons, matrix and words.

:func:`run_study` is the entry point (and what ``walt-bayes study`` calls).  Steps:

1. parse the study file (:mod:`.studyfile`) and resolve every data set to its panel's
   sha256 and columns (named panels are built and cached once, here, before any worker
   reads them);
2. expand it into cells (:mod:`.plan`) and turn each into the grid's task with
   :func:`walt_bayes.grid.run.plan` (same folder layout, same content hashes: a finished
   cell is never refitted, a killed one is redone);
3. fit the cells that are not finished with :func:`walt_bayes.grid.cells.run_cell`, one
   task each on a :class:`walt_bayes.executor.Executor` (``serial``, a local Dask
   cluster or ``tcp://``); a failed cell is reported and the others go on;
4. on the same executor: every finished cell's evidence table (:func:`.matrix.evidence_task`),
   the k-fold refits when the study compares by k-fold, and one comparison per data set
   and alliance measure (:func:`.comparison.compare_task`);
5. assemble the matrix, prior sensitivity and the summary in words, write them
   (:mod:`.results`) and render ``findings.html`` (:func:`.findings.render_findings`).

Re-running the same study with the same ``out`` resumes: finished cells, evidence tables
and comparisons are read back, not recomputed.  Every number depends only on the cells'
integer seeds, not on the scheduler.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from walt_bayes.errors import WaltError
from walt_bayes.executor import Executor, one_line, parse_scheduler
from walt_bayes.grid.cells import finished_row, run_cell
from walt_bayes.grid.run import COLUMNS, _run
from walt_bayes.grid.run import plan as grid_plan
from walt_bayes.panel.datasets import load_dataset
from walt_bayes.spec import parse_spec
from walt_bayes.study.comparison import (
    compare_task,
    compare_tasks,
    comparison_table,
    fold_prefetch_tasks,
)
from walt_bayes.study.findings import render_findings
from walt_bayes.study.matrix import build_matrix, evidence_task, evidence_tasks, sensitivity_table
from walt_bayes.study.measures import measure_text
from walt_bayes.study.plan import StudyPlan, expand
from walt_bayes.study.results import StudyResult, write_results
from walt_bayes.study.studyfile import Study, load_study
from walt_bayes.study.summary import summarise

#: Modules the Dask workers import while this process prepares the data.
WARM = ["walt_bayes.grid.cells", "walt_bayes.fit.run", "walt_bayes.hypotheses.table", "nutpie"]


def default_out(study_path: str | Path) -> Path:
    """``runs/study-<study file name>``."""
    return Path("runs") / f"study-{Path(study_path).stem}"


def resolve_data(study: Study) -> dict[str, dict]:
    """Every data set's load reference, sha256, columns and shape (named panels built once).

    Returns
    -------
    dict
        ``name -> {"path", "sha256", "describe", "kind", "columns", "rows", "years", "states"}``.
    """
    out = {}
    for d in study.data:
        ds = load_dataset(d.ref)
        p = ds.panel
        out[d.name] = {
            "path": d.ref,
            "sha256": ds.sha256,
            "describe": d.label,
            "kind": d.kind,
            "columns": frozenset(map(str, p.columns)),
            "rows": len(p),
            "years": [int(p["year"].min()), int(p["year"].max())],
            "states": int(pd.unique(p[["ccode1", "ccode2"]].to_numpy().ravel()).size),
        }
    return out


def cell_tasks(plan: StudyPlan, out: Path, data: dict[str, dict], cores: int) -> dict[str, dict]:
    """The grid's task of every cell (:func:`walt_bayes.grid.run.plan`), keyed by cell id."""
    tasks: dict[str, dict] = {}
    for grid, cells in plan.grids():
        made = grid_plan(grid, out, data, cores)
        for c in cells:
            task = made[c.cell_id]
            task["row"] = task["row"] | c.labels()  # the study's columns in every row
            tasks[c.cell_id] = task
    return tasks


def _progress_map(ex, fn, tasks: dict, what: str, progress: bool, console) -> dict:
    # The grid's progress-bar wrapper around Executor.map (one bar per batch of tasks).
    return _run(ex, fn, tasks, what, progress, console)


def relative_cost(task: dict) -> float:
    """A rough cost of a cell: chain-iterations, times 2 with a threat block, 1.5 with every term.

    Only the order matters: Dask runs tasks in submission order, so the longest fits start
    first and none is left running alone at the end (for 2 workers and the default study,
    the ``full`` fits at 4 × 3500 iterations are the long pole).
    """
    spec = parse_spec(task["spec_toml"], source=task["spec_source"])
    s = task["sampler"]
    chains = s.get("chains") or spec.sampler.chains
    iters = (s.get("draws") or spec.sampler.draws) + (s.get("tune") or spec.sampler.tune)
    weight = 2.0 if spec.threat is not None else 1.0
    weight *= 1.5 if len(spec.alliance.terms) > 6 else 1.0
    return float(chains * iters * weight)


def run_cells(ex, tasks: dict[str, dict], progress: bool, console) -> dict[str, dict]:
    """Fit every unfinished cell, costliest first; the grid row of every cell (resumed, done or failed)."""
    rows: dict[str, dict] = {}
    todo = {}
    for cid, task in tasks.items():
        try:
            done = finished_row(Path(task["cell_dir"]), task["hash"])
        except WaltError as err:  # the folder holds this cell made with other settings
            rows[cid] = task["row"] | {"status": "failed", "error": one_line(err)}
            continue
        if done is not None:
            rows[cid] = done | task["row"] | {"status": "finished earlier"}
        else:
            todo[cid] = task
    todo = dict(sorted(todo.items(), key=lambda kv: -relative_cost(kv[1])))
    outcomes = _progress_map(ex, run_cell, todo, "cells", progress, console)
    for cid, o in outcomes.items():
        row = todo[cid]["row"]
        rows[cid] = (o.value | row) if o.ok else row | {"status": "failed", "error": o.error}
    return rows


def _note_failures(rows: dict[str, dict], outcomes: dict, what: str) -> None:
    """A failed evidence or comparison task: its cell keeps its fit, the error goes in the row."""
    for key, o in outcomes.items():
        if not o.ok and key in rows:
            rows[key]["error"] = f"{what}: {o.error}"


def cells_table(plan: StudyPlan, rows: dict[str, dict]) -> pd.DataFrame:
    """One row per cell in study order: the study's columns, then the grid table's."""
    front = ["cell", "variant", "data", "outcome", "seed", "prior_scale"]
    table = pd.DataFrame([rows[c.cell_id] for c in plan.cells])
    for c in COLUMNS:
        if c not in table.columns:
            table[c] = "" if c in ("status", "error", "BAL-1", "BW-1", "psense_flagged") else float("nan")
    if "fold" in table.columns:
        table = table.drop(columns="fold")  # the study runs no grid folds (k-fold is in compare/)
    ordered = front + [c for c in COLUMNS if c not in front and c in table.columns]
    rest = sorted(c for c in table.columns if c not in ordered)
    table = table[ordered + rest]
    table["error"] = table["error"].fillna("")
    return table


def run_study(
    path: str | Path,
    out: str | Path | None = None,
    *,
    scheduler: str = "processes",
    workers: int | None = None,
    render: bool = True,
    progress: bool = True,
    console=None,
) -> StudyResult:
    """Run every cell of a study file, then write its matrix, comparisons, words and report.

    Parameters
    ----------
    path : path
        The study file (TOML; :mod:`walt_bayes.study.studyfile`), e.g. ``studies/walt.toml``.
    out : path, optional
        Output folder (default ``runs/study-<file name>``); re-running with the same folder
        resumes.  With ``tcp://`` schedulers every worker must read and write it at the same
        path, and read the data (``WALT_BAYES_MIRROR`` or a shared ``WALT_BAYES_CACHE``).
    scheduler : str
        ``processes`` (default: a local Dask cluster, one worker per core), ``serial`` or
        ``tcp://HOST:PORT`` (:func:`walt_bayes.executor.parse_scheduler`).
    workers : int, optional
        Worker processes of the local cluster (default: the cores).
    render : bool
        Render ``findings.html`` (:func:`walt_bayes.study.findings.render_findings`).
    progress : bool
        Progress bars (cells, evidence, comparisons).
    console : rich.console.Console, optional
        Where progress and failed cells are printed.

    Returns
    -------
    StudyResult
        The tables (also written into ``out``; :mod:`walt_bayes.study.results`), and the
        report's path when rendered.  Cells that failed are rows with ``status`` ``failed``
        and their ``error``; they appear in the matrix as ``fit failed``.

    Raises
    ------
    StudyError
        A malformed study file (one line naming the key).
    WaltError
        A data set that cannot be loaded, an unreachable scheduler, a failing report cell.
    """
    study = load_study(path)
    scheduler = parse_scheduler(scheduler)
    out = Path(out) if out is not None else default_out(path)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    with Executor(scheduler, workers=workers) as ex:
        ex.warm(WARM)
        plan, data, rows, cmp_out = _run_stages(ex, study, out, progress, console, timings)
    matrix = build_matrix(plan, rows, out)
    meta = _meta(study, plan, data, scheduler, time.perf_counter() - t0, timings, cmp_out)
    result = _result(study, plan, rows, out, meta, matrix)
    write_results(result)
    if render:
        result.report = render_findings(out, out / "findings.html", progress=progress)
    return result


def _run_stages(ex, study: Study, out: Path, progress: bool, console,
                timings: dict[str, float]) -> tuple[StudyPlan, dict, dict[str, dict], dict]:
    """Steps 1–4 on the executor, each timed in ``timings``: data, cells, evidence, comparisons.

    Returns
    -------
    tuple
        ``(plan, data sets, grid row of every cell, outcome of every comparison task)``.
    """
    t = time.perf_counter()
    data = resolve_data(study)
    plan = expand(study, {k: v["columns"] for k, v in data.items()}, out)
    tasks = cell_tasks(plan, out, data, ex.cores_per_task)
    timings["data"] = time.perf_counter() - t
    t = time.perf_counter()
    rows = run_cells(ex, tasks, progress, console)
    timings["cells"] = time.perf_counter() - t
    hashes = {cid: task["hash"] for cid, task in tasks.items()}
    t = time.perf_counter()
    ev = evidence_tasks(plan, rows, out, hashes)
    _note_failures(rows, _progress_map(ex, evidence_task, ev, "evidence", progress, console),
                   "evidence table")
    timings["evidence"] = time.perf_counter() - t
    t = time.perf_counter()
    cmp_out = _comparisons(ex, study, plan, rows, out, hashes, progress, console)
    timings["comparison"] = time.perf_counter() - t
    return plan, data, rows, cmp_out


def _comparisons(ex, study: Study, plan: StudyPlan, rows: dict[str, dict], out: Path, hashes: dict[str, str],
                 progress: bool, console) -> dict:
    """One comparison per data set and alliance measure (after the k-fold refits, when by k-fold)."""
    cmp_tasks = compare_tasks(plan, rows, out, hashes)
    folds = fold_prefetch_tasks(cmp_tasks) if study.comparison == "kfold" else {}
    if folds:
        # lazy: walt_bayes.compare.kfold imports nutpie (through walt_bayes.fit.compiled)
        from walt_bayes.compare.kfold import compute_fold

        _progress_map(ex, compute_fold, folds, "fold refits", progress, console)
    return _progress_map(ex, compare_task, cmp_tasks, "comparisons", progress, console)


def _result(study: Study, plan: StudyPlan, rows: dict[str, dict], out: Path, meta: dict,
            matrix: pd.DataFrame) -> StudyResult:
    """Step 5: the cells table, the comparisons, prior sensitivity and the words, with the matrix."""
    return StudyResult(
        out=out,
        meta=meta,
        cells=cells_table(plan, rows),
        matrix=matrix,
        comparison=comparison_table(plan, rows, out),
        sensitivity=sensitivity_table(matrix),
        summary=summarise(matrix, study.hypotheses),
    )


def _meta(study: Study, plan: StudyPlan, data: dict, scheduler: str, wall: float,
          timings: dict, cmp_out: dict) -> dict:
    measures = {
        d.name: {o: measure_text(d, o) for o in study.outcomes_for(d)} for d in study.data
    }
    return {
        "study_file": str(Path(study.path).resolve()),
        "name": study.name,
        "description": study.description,
        "variants": study.variants,
        "hypotheses": list(study.hypotheses),
        "outcomes": list(study.outcomes),
        "seeds": list(study.seeds),
        "prior_scales": list(study.prior_scales),
        "sensitivity": [asdict(s) for s in study.sensitivity],
        "comparison": study.comparison,
        "folds": study.folds,
        "sampler": study.sampler,
        "data": {
            name: {k: v for k, v in d.items() if k != "columns"} | {"measures": measures[name]}
            for name, d in data.items()
        },
        "cells": [c.labels() | {"spec": c.spec_ref} for c in plan.cells],
        "skipped": plan.skipped,
        "comparison_failures": {k: o.error for k, o in cmp_out.items() if not o.ok},
        "scheduler": scheduler,
        "wall_s": round(wall, 1),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }


__all__ = ["cell_tasks", "cells_table", "default_out", "resolve_data", "run_cells", "run_study"]
