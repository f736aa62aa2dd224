"""Run a grid of fits as Dask tasks and assemble the combined table.

:func:`run_grid` plans the cells of a grid file (:mod:`walt_bayes.grid.gridfile`),
skips the finished ones (resume), runs the rest through
:class:`walt_bayes.executor.Executor` (every cell is one task; a failed
cell is reported with its error and the others go on), then, with ``[folds]``,
the k-fold refits of every finished cell, and writes ``grid.csv``: one row per
cell with its diagnostics, PSIS-LOO elpd of the alliance dyad-years (``full``:
its blocks 2 and 3 joined, as ``compare`` scores it; ``loo_rows`` counts them), the BAL-1 and
BW-1 verdicts and power-scaling prior sensitivity (``az.psense``) of the named
parameters.

Layout of ``--out``::

    data/<name>.parquet        simulated data sets (written once, read by every cell)
    cells/<cell-id>/fit.nc     one fit per cell (+ summary.csv, cell.json)
    folds/                     k-fold refits (held-out log-likelihood per fold)
    grid.csv, grid.json        the combined table and the grid's settings

Results do not depend on the scheduler: every cell's fit is seeded by the
cell's integer seed only (``fit_model``'s derived seeds), and the number of
threads a cell gets does not change its draws.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from walt_bayes.atomic import atomic_path
from walt_bayes.errors import WaltError
from walt_bayes.executor import Executor, one_line
from walt_bayes.grid.cells import finished_row, run_cell, run_fold_cell
from walt_bayes.grid.gridfile import Cell, DataSet, Grid, GridError, content_hash, load_grid
from walt_bayes.model.simulate import simulate
from walt_bayes.panel.datasets import load_dataset

#: Leading columns of grid.csv (the rest: psense per parameter, fold details).
COLUMNS = [
    "cell",
    "variant",
    "data",
    "seed",
    "prior_scale",
    "fold",
    "status",
    "error",
    "max_rhat",
    "min_ess_bulk",
    "min_ess_tail",
    "divergences",
    "converged",
    "elpd_loo",
    "elpd_loo_se",
    "p_loo",
    "loo_rows",
    "pareto_k_max",
    "n_pareto_k_gt_0.7",
    "elpd_kfold",
    "elpd_fold",
    "n_test",
    "BAL-1",
    "BW-1",
    "psense_prior_max",
    "psense_flagged",
    "wall_s",
]
#: Columns the console table shows.
SHOWN = [
    "cell",
    "status",
    "max_rhat",
    "min_ess_bulk",
    "divergences",
    "elpd_loo",
    "elpd_kfold",
    "BAL-1",
    "BW-1",
    "psense_prior_max",
]


def prepare_data(grid: Grid, out: Path) -> dict[str, dict]:
    """Resolve every data set to a readable path and its sha256 (simulated worlds written once).

    Returns
    -------
    dict
        ``name -> {"path", "sha256", "describe"}``.
    """
    resolved = {}
    for d in grid.data:
        if d.kind == "simulated":
            path = out / "data" / f"{d.name}.parquet"
            side = path.with_suffix(".truth.json")
            recipe = asdict(d)
            if path.exists() and side.exists():
                made = json.loads(side.read_text()).get("dataset")
                if made != recipe:
                    raise GridError(
                        f"{path}: data set '{d.name}' was simulated with other settings ({made}); "
                        "rename it in the grid file or use another --out"
                    )
            else:
                sim = simulate(d.world, n_states=d.states, n_years=d.years, seed=d.seed)
                # The true values beside the panel (as `walt-bayes simulate` writes them),
                # then the panel: a panel without its recipe is never reused.
                with atomic_path(side) as tmp:
                    tmp.write_text(
                        json.dumps(
                            {
                                "world": sim.world,
                                "seed": sim.seed,
                                "truth": sim.truth,
                                "dataset": recipe,
                            },
                            indent=2,
                        )
                    )
                with atomic_path(path, suffix=".parquet") as tmp:
                    sim.panel.to_parquet(tmp, index=False)
            ref = str(path.resolve())
        elif d.kind == "file":
            ref = d.path
        else:  # the embedded panel or a named real-data panel: load_dataset resolves the name
            ref = d.name
        dataset = load_dataset(ref)
        resolved[d.name] = {
            "path": ref,
            "sha256": dataset.sha256,
            "describe": d.describe(),
            "kind": d.kind,
        }
    return resolved


def _labels(cell: Cell) -> dict:
    return {
        "cell": cell.cell_id,
        "variant": cell.variant,
        "data": cell.data,
        "seed": cell.seed,
        "prior_scale": cell.prior_scale,
        "fold": cell.fold,
    }


def plan(grid: Grid, out: Path, data: dict[str, dict], cores: int) -> dict[str, dict]:
    """One task per base cell (see :func:`walt_bayes.grid.cells.run_cell`)."""
    tasks = {}
    for cell in grid.cells():
        spec = grid.spec(cell)
        d = data[cell.data]
        settings = {"sampler": grid.sampler, "seed": cell.seed}
        payload = {"spec": spec.source_text, "data": d["sha256"], **settings}
        tasks[cell.cell_id] = {
            "cell_dir": str((out / "cells" / cell.cell_id).resolve()),
            "hash": content_hash(payload),
            "spec_toml": spec.source_text,
            "spec_source": spec.source_path or spec.name,
            "data_path": d["path"],
            "data_name": cell.data,
            "data_sha256": d["sha256"],
            "seed": cell.seed,
            "sampler": dict(grid.sampler),
            "cores": cores,
            "row": _labels(cell),
        }
    return tasks


def run_grid(
    grid_path: str | Path,
    out: str | Path,
    *,
    scheduler: str = "processes",
    workers: int | None = None,
    progress: bool = True,
    console=None,
) -> pd.DataFrame:
    """Run every cell of a grid file and write the combined table.

    Parameters
    ----------
    grid_path : path
        The grid file (TOML; see :mod:`walt_bayes.grid.gridfile`).
    out : path
        Output directory (shared by every worker with ``tcp://`` schedulers).
    scheduler : str
        ``processes`` (default: a local Dask cluster), ``serial`` or ``tcp://HOST:PORT``.
    workers : int, optional
        Worker processes of the local cluster (default: the cores).
    progress : bool
        Show a progress bar.
    console : rich.console.Console, optional
        Where progress goes.

    Returns
    -------
    pandas.DataFrame
        One row per cell (columns :data:`COLUMNS`, then ``psense_prior:<param>``
        and ``psense_lik:<param>``); ``status`` is ``done``, ``finished earlier``
        (resumed) or ``failed`` (with ``error``).
    """
    grid = load_grid(grid_path)
    out = Path(out)
    t0 = time.perf_counter()
    rows: dict[str, dict] = {}
    with Executor(scheduler, workers=workers) as ex:
        # Workers import the fitting stack while this process prepares the data sets.
        ex.warm(
            ["walt_bayes.grid.cells", "walt_bayes.fit.run", "walt_bayes.hypotheses.table", "nutpie"]
        )
        data = prepare_data(grid, out)
        tasks = plan(grid, out, data, ex.cores_per_task)
        todo = {}
        for cid, task in tasks.items():
            try:
                done = finished_row(Path(task["cell_dir"]), task["hash"])
            except WaltError as err:
                rows[cid] = task["row"] | {"status": "failed", "error": one_line(err)}
                continue
            if done is not None:
                rows[cid] = done | {"status": "finished earlier"}
            else:
                todo[cid] = task
        outcomes = _run(ex, run_cell, todo, "cells", progress, console)
        for cid, o in outcomes.items():
            rows[cid] = (
                o.value if o.ok else todo[cid]["row"] | {"status": "failed", "error": o.error}
            )
        fold_rows = _run_folds(grid, out, ex, rows, tasks, progress, console) if grid.folds else {}
    table = assemble(grid, rows, fold_rows)
    write_table(table, grid, out, data, scheduler, time.perf_counter() - t0)
    return table


def _run(ex, fn, tasks: dict, what: str, progress: bool, console) -> dict:
    if not tasks:
        return {}
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, disable=not progress) as bar:
        ex.start(len(tasks))
        job = bar.add_task(f"{what} ({ex.describe()})", total=len(tasks))

        def done(o) -> None:
            bar.advance(job)
            if not o.ok and console is not None:
                console.print(f"[red]cell {o.key} failed:[/] {o.error}", highlight=False)

        return ex.map(fn, tasks, on_done=done)


def _run_folds(grid: Grid, out: Path, ex, rows: dict, tasks: dict, progress: bool, console) -> dict:
    """K-fold refits of every finished cell (grouped as the grid's ``[folds]`` says)."""
    # lazy: walt_bayes.compare.kfold imports nutpie (through fit.compiled): grids with [folds] only
    from walt_bayes.compare import kfold, runs

    f = grid.folds
    s = grid.sampler
    fold_rows: dict[str, dict] = {}
    todo = {}
    for cell in grid.cells():
        base = rows[cell.cell_id]
        fold_cells = grid.fold_cells(cell)
        if base.get("status") == "failed":
            for fc in fold_cells:
                fold_rows[fc.cell_id] = _labels(fc) | {
                    "status": "failed",
                    "error": "its cell failed",
                }
            continue
        run = runs.open_run(Path(tasks[cell.cell_id]["cell_dir"]) / "fit.nc")
        run.label = cell.cell_id
        settings = kfold.FoldSettings(
            chains=s.get("chains", 2),
            draws=s.get("draws", 300),
            tune=s.get("tune", 300),
            cores=ex.cores_per_task,
        )
        assignment = kfold.assign_folds([run], f["k"], f["group"], f["seed"])[run.label]
        by_fold = {
            t["fold"]: t
            for t in kfold.fold_tasks(
                run, assignment, f["k"], f["group"], settings, out / "folds", f["seed"]
            )
        }
        for fc in fold_cells:
            if fc.fold not in by_fold:
                fold_rows[fc.cell_id] = _labels(fc) | {
                    "status": "failed",
                    "error": "no rows in this fold",
                }
                continue
            todo[fc.cell_id] = {
                "fold_task": by_fold[fc.fold],
                "cores": ex.cores_per_task,
                "row": _labels(fc),
            }
    outcomes = _run(ex, run_fold_cell, todo, "fold refits", progress, console)
    for cid, o in outcomes.items():
        fold_rows[cid] = (
            o.value if o.ok else todo[cid]["row"] | {"status": "failed", "error": o.error}
        )
    return fold_rows


def assemble(grid: Grid, rows: dict[str, dict], fold_rows: dict[str, dict]) -> pd.DataFrame:
    """The combined table, one row per cell in grid order (folds after their cell)."""
    ordered = []
    for cell in grid.cells():
        row = dict(rows[cell.cell_id])
        folds = [fold_rows[fc.cell_id] for fc in grid.fold_cells(cell) if fc.cell_id in fold_rows]
        if folds:
            ok = all(r.get("status") in ("done", "finished earlier") for r in folds)
            row["elpd_kfold"] = (
                float(np.sum([r["elpd_fold"] for r in folds])) if ok else float("nan")
            )
        ordered.append(row)
        ordered.extend(folds)
    table = pd.DataFrame(ordered)
    for c in COLUMNS:
        if c not in table.columns:
            table[c] = (
                np.nan if c not in ("status", "error", "BAL-1", "BW-1", "psense_flagged") else ""
            )
    rest = sorted(c for c in table.columns if c not in COLUMNS)
    table = table[COLUMNS + rest]
    table["error"] = table["error"].fillna("")
    return table


def write_table(
    table: pd.DataFrame, grid: Grid, out: Path, data: dict, scheduler: str, wall: float
) -> None:
    """Write ``grid.csv`` and ``grid.json`` (settings, data sets, counts) atomically."""
    with atomic_path(out / "grid.csv") as tmp:
        table.to_csv(tmp, index=False)
    meta = {
        "grid_file": str(Path(grid.path).resolve()),
        "variants": grid.variants,
        "data": {d.name: asdict(d) | {"sha256": data[d.name]["sha256"]} for d in grid.data},
        "seeds": grid.seeds,
        "prior_scales": grid.prior_scales,
        "sampler": grid.sampler,
        "folds": grid.folds,
        "scheduler": scheduler,
        "wall_s": round(wall, 1),
        "counts": table["status"].value_counts().to_dict(),
    }
    with atomic_path(out / "grid.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2, default=str))


def load_cell_table(out: str | Path) -> pd.DataFrame:
    """Read ``grid.csv`` of a finished grid."""
    path = Path(out) / "grid.csv"
    if not path.exists():
        raise WaltError(f"{path}: no grid table (run walt-bayes grid first)")
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


__all__ = ["COLUMNS", "DataSet", "assemble", "load_cell_table", "plan", "prepare_data", "run_grid"]
