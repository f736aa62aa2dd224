"""Compare theory variants by out-of-sample prediction: the ranked table.

:func:`compare_runs` scores every fit's prediction of the alliance status of
dyad-years (the only outcome all variants share: null and ideology have no
dispute block), by PSIS-LOO or by refitting (grouped k-fold, leave-future-out),
on the dyad-years common to all fits, and ranks them with ``az.compare`` (elpd,
SE, difference to the best and its SE, stacking weights).  A status variant
scores them with its ``alliance`` log-likelihood; ``full`` (a duration block)
with block 2's where the dyad was not allied the year before and block 3's
(``alliance_end``) where it was (:mod:`walt_bayes.compare.runs`).  Each row names
the scheme that produced its numbers and the rows it was scored on.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from walt_bayes.atomic import atomic_path
from walt_bayes.compare.kfold import (
    GROUPS,
    FoldSettings,
    assign_folds,
    compute_fold,
    fold_tasks,
    kfold_pointwise,
)
from walt_bayes.compare.loo import K_THRESHOLD, MANY_BAD_K, elpd_data, loo_pointwise
from walt_bayes.compare.plot import comparison_plot
from walt_bayes.compare.runs import (
    CompareError,
    common_rows,
    open_runs,
    unscored_note,
)
from walt_bayes.errors import WaltError

METHODS = ("loo", "kfold")
#: Columns of the written table, in order (variant first).
COLUMNS = [
    "variant",
    "rank",
    "elpd",
    "se",
    "elpd_diff",
    "dse",
    "weight",
    "p",
    "n_obs",
    "scheme",
    "rows",
    "pareto_k_max",
    "n_pareto_k_gt_0.7",
    "fold_divergences",
    "fold_max_rhat",
    "run",
    "data",
]
ALLIANCE_ONLY = (
    "scores the alliance log-likelihood only (the alliance status of dyad-years): the dispute "
    "(threat-measurement) term exists only in variants with a threat block, so it is not common "
    "to all variants"
)

LOO_CAVEAT = (
    "PSIS-LOO leaves out one dyad-year at a time; dyad-years of the same dyad are not independent, "
    "so LOO flatters models with dyad intercepts: prefer --method kfold --group dyad for a verdict"
)


def compare_runs(
    run_dirs,
    method: str = "loo",
    folds: int = 5,
    group: str = "dyad",
    out: str | Path | None = None,
    *,
    fold_settings: FoldSettings | None = None,
    fold_seed: int = 0,
    reference: str | None = None,
    jobs: int = 1,
    progress: bool = True,
    console=None,
) -> pd.DataFrame:
    """Rank fits of theory variants on the same data by expected log predictive density.

    Parameters
    ----------
    run_dirs : iterable of path
        Run directories (or their ``fit.nc``); at least two, made on the same data.
    method : {"loo", "kfold"}
        PSIS-LOO from the stored pointwise log-likelihood (no refits), or
        cross-validation by refitting each fit's model once per fold.
    folds : int
        Number of folds (``kfold``) or of year blocks (``group="year-block"``).
    group : {"dyad", "year-block", "none"}
        ``kfold`` grouping: whole dyads per fold, leave-future-out by blocks of
        years, or single dyad-years.  Ignored by ``loo``.
    out : path, optional
        Directory for ``compare.csv``, ``compare.png``, ``compare.json`` and the
        fold cache (``folds/``); a re-run with the same ``out`` skips finished folds.
    fold_settings : FoldSettings, optional
        Sampler settings of the refits (default 2 chains × 300 draws, 300 tuning steps).
    fold_seed : int
        Seed of the (shared) random assignment of dyads to folds.
    reference : str, optional
        Variant that ``elpd_diff`` and ``dse`` are taken against (default: the best).
    jobs : int
        Folds refitted at once, in worker processes (``kfold``); the same numbers
        as ``jobs=1``.  Two pays on two cores: compilation is single-threaded.
    progress : bool
        Show a rich progress bar over the folds.
    console : rich.console.Console, optional
        Where progress goes.

    Returns
    -------
    pandas.DataFrame
        One row per fit, best first, columns :data:`COLUMNS`; ``attrs["notes"]``
        and ``attrs["warnings"]`` hold the sentences printed with the table.

    Raises
    ------
    CompareError
        Fewer than two fits, or fits made on different data / outcomes.
    """
    if method not in METHODS:
        raise WaltError(f"method: '{method}' is not one of {', '.join(METHODS)}")
    if group not in GROUPS:
        raise WaltError(f"group: '{group}' is not one of {', '.join(GROUPS)}")
    runs = open_runs(run_dirs)
    _check_reference(reference, runs)
    out = Path(out) if out is not None else None
    pointwise, notes = _pointwise(runs, method, folds, group, out, fold_settings or FoldSettings(), fold_seed,
                                  progress, console, jobs)
    common, positions = common_rows(runs)
    finite = _scored_everywhere(runs, pointwise, positions, len(common))
    notes += _rows_notes(runs, common, finite)
    if finite.sum() < 2:
        raise CompareError("cannot compare: fewer than two dyad-years are scored in every fit")
    table = _ranked(runs, pointwise, common[finite], {k: v[finite] for k, v in positions.items()},
                    method, reference)
    if reference is not None:
        notes.append(f"elpd_diff and dse are differences to {reference} (positive: better than it)")
    warns = _warnings(table, method)
    table.attrs["notes"] = notes
    table.attrs["warnings"] = warns
    if out is not None:
        _write(table, out, method, folds, group, fold_seed, pointwise, notes, warns)
    return table


def _check_reference(reference: str | None, runs) -> None:
    if reference is not None and reference not in {r.label for r in runs}:
        labels = ", ".join(r.label for r in runs)
        raise WaltError(f"reference '{reference}' is not one of the compared variants ({labels})")


def _pointwise(runs, method, folds, group, out, settings, fold_seed, progress, console, jobs):
    """Each fit's pointwise elpd by ``method``, and the first notes (what is scored, and how).

    Returns
    -------
    tuple
        ``({label: Pointwise}, notes)``.
    """
    if method == "loo":
        notes = [ALLIANCE_ONLY, LOO_CAVEAT]
        pointwise = {r.label: loo_pointwise(r) for r in runs}
    else:
        notes = [ALLIANCE_ONLY, _kfold_note(settings)]
        assignment = assign_folds(runs, folds, group, fold_seed)
        pointwise = _run_folds(
            runs, assignment, folds, group, settings, out, fold_seed, progress, console, jobs
        )
    for r in runs:
        pointwise[r.label].extra["log_likelihood"] = [seg.var for seg in r.segments]
    return pointwise, notes


def _scored_everywhere(runs, pointwise: dict, positions: dict[str, np.ndarray], n_common: int) -> np.ndarray:
    """Which of the dyad-years common to all fits every fit scores (all but an unscored first year block)."""
    finite = np.ones(n_common, dtype=bool)
    for r in runs:
        finite &= np.isfinite(pointwise[r.label].elpd_i[positions[r.label]])
    return finite


def _ranked(runs, pointwise: dict, common: pd.Index, positions: dict[str, np.ndarray], method: str,
            reference: str | None) -> pd.DataFrame:
    """The table of ``az.compare`` on the rows every fit scores (``common``, at ``positions``)."""
    elpds = {}
    for r in runs:
        n_folds = pointwise[r.label].extra.get("n_folds") if method == "kfold" else None
        elpds[r.label] = elpd_data(pointwise[r.label], positions[r.label], common, n_folds=n_folds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = az.compare(elpds, method="stacking", reference=reference, round_to="none")
    return _assemble(cmp, runs, pointwise, elpds)


def _kfold_note(settings: FoldSettings) -> str:
    return (
        f"each fold refitted with the fit's spec and sampler, {settings.chains} chains × "
        f"{settings.draws} draws ({settings.tune} tuning), seeded from the fit's seed and the "
        "fold number; SEs are ArviZ's (they treat held-out dyad-years as independent)"
    )


def _rows_notes(runs, common: pd.Index, finite: np.ndarray) -> list[str]:
    """What the table's rows are: how each fit scores them, which are common, which unscored."""
    notes = []
    n_all = {r.label: len(r.keys) for r in runs}
    joined = ", ".join(r.label for r in runs if r.joined)
    if joined:
        status = ", ".join(r.label for r in runs if not r.joined) or "none"
        notes.append(
            f"rows scored: all dyad-years; {status}: by the alliance block; {joined}: onset rows by "
            "block 2 (alliance), continuing rows by block 3 (alliance_end of the spell-year before: "
            "log(1 - h) if the alliance goes on, log h if it ends), so every variant predicts the "
            "same 0/1 outcomes"
        )
        notes.append(
            f"{joined} predicts each dyad-year given the dyad's status the year before (a Markov "
            "chain), the status variants without it: part of an elpd difference is that structure, "
            "not the theory's terms"
        )
        notes.extend(unscored_note(runs))
    if len(set(n_all.values())) > 1 or len(common) < max(n_all.values()):
        notes.append(
            f"compared on the {len(common):,} alliance dyad-years present in every fit "
            f"(fits have {', '.join(f'{k}: {v:,}' for k, v in n_all.items())})"
        )
    if not finite.all():
        notes.append(
            f"{int((~finite).sum()):,} dyad-years are not scored by this scheme (first year block)"
        )
    return notes


def _run_folds(runs, assignment, k, group, settings, out, fold_seed, progress, console, jobs):
    n_scored = {r.label: len(np.unique(assignment[r.label][assignment[r.label] > 0])) for r in runs}
    cache = out / "folds" if out is not None else None
    if jobs > 1:
        if settings.cores is None:
            settings = replace(settings, cores=max(1, (os.cpu_count() or 1) // jobs))
        if cache is None:
            tmp = tempfile.TemporaryDirectory(prefix="walt-bayes-folds-")
            cache = Path(tmp.name)
        _prefetch(runs, assignment, k, group, settings, cache, fold_seed, progress, console, jobs)
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    pointwise = {}
    with Progress(*columns, console=console, disable=not progress, transient=False) as bar:
        task = bar.add_task("cross-validation", total=sum(n_scored.values()))
        for r in runs:
            bar.update(task, description=f"{r.label}: fold 1/{n_scored[r.label]}")

            def done(fold, cached, label=r.label):
                bar.advance(task)
                bar.update(
                    task, description=f"{label}: fold {fold} {'(cached)' if cached else 'done'}"
                )

            pointwise[r.label] = kfold_pointwise(
                r,
                assignment[r.label],
                k,
                group,
                settings,
                cache,
                fold_seed=fold_seed,
                on_fold_done=done,
            )
    return pointwise


def _prefetch(runs, assignment, k, group, settings, cache, fold_seed, progress, console, jobs):
    """Compute folds in ``jobs`` worker processes; each writes its fold to the cache.

    Compilation is single-threaded, so two folds at a time (one chain thread
    each by default) keep two cores busy where one fold at a time leaves one
    idle while its model compiles.  Results are identical: every fold has its
    own seed, and the ArviZ pass that follows reads them from the cache.
    """
    # Longest folds first (a duration block, then a threat block: the costliest gradients and
    # compiles), so that no long fold is left running alone at the end.
    by_cost = sorted(
        runs, key=lambda r: (r.fit.spec.duration is not None, r.fit.spec.threat is not None), reverse=True
    )
    tasks = [
        t
        for r in by_cost
        for t in fold_tasks(r, assignment[r.label], k, group, settings, cache, fold_seed)
    ]
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with (
        Progress(*columns, console=console, disable=not progress) as bar,
        ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool,
    ):
        task = bar.add_task(f"cross-validation ({jobs} processes)", total=len(tasks))
        futures = [pool.submit(compute_fold, t) for t in tasks]
        for fut in as_completed(futures):
            done = fut.result()
            bar.advance(task)
            bar.update(task, description=f"{done['label']}: fold {done['fold']} done")


def _assemble(cmp: pd.DataFrame, runs, pointwise, elpds) -> pd.DataFrame:
    by_label = {r.label: r for r in runs}
    rows = []
    for label, row in cmp.iterrows():
        pw, run, e = pointwise[label], by_label[label], elpds[label]
        k = getattr(e, "pareto_k", None)
        rows.append(
            {
                "variant": label,
                "rank": int(row["rank"]),
                "elpd": float(row["elpd"]),
                "se": float(row["se"]),
                "elpd_diff": float(row["elpd_diff"]),
                "dse": float(row["dse"]),
                "weight": float(row["weight"]),
                "p": float(row["p"]),
                "n_obs": int(e.n_data_points),
                "scheme": pw.scheme,
                "rows": run.rows_description,
                # nanmax: PSIS gives no k (NaN) for a row whose log-likelihood hardly varies over
                # the draws (float32-stored values of a near-certain row); such a row has no tail.
                "pareto_k_max": float(np.nanmax(k.values)) if k is not None and np.isfinite(k.values).any()
                else np.nan,
                "n_pareto_k_gt_0.7": int(np.sum(k.values > K_THRESHOLD))
                if k is not None
                else np.nan,
                "fold_divergences": pw.extra.get("fold_divergences", np.nan),
                "fold_max_rhat": pw.extra.get("fold_max_rhat", np.nan),
                "run": str(run.path),
                "data": f"{run.fit.data_name} (sha256 {run.fit.data_sha256[:12]}…)",
            }
        )
    table = pd.DataFrame(rows, columns=COLUMNS).sort_values("rank").reset_index(drop=True)
    return table


def _warnings(table: pd.DataFrame, method: str) -> list[str]:
    out = []
    if method == "loo":
        for _, r in table.iterrows():
            bad = r["n_pareto_k_gt_0.7"]
            if bad > max(0, MANY_BAD_K * r["n_obs"]):
                out.append(
                    f"{r['variant']}: {int(bad):,} of {r['n_obs']:,} dyad-years have "
                    f"Pareto k > {K_THRESHOLD} "
                    "(PSIS-LOO unreliable) — use --method kfold (grouped by dyad)"
                )
    else:
        for _, r in table.iterrows():
            if r["fold_divergences"] > 0 or r["fold_max_rhat"] > 1.05:
                out.append(
                    f"{r['variant']}: fold refits had {int(r['fold_divergences'])} divergences, "
                    f"max R-hat {r['fold_max_rhat']:.3f} (short refits; see compare.json)"
                )
    return out


def _write(table, out: Path, method, folds, group, fold_seed, pointwise, notes, warns) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "compare.csv", suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    meta = {
        "method": method,
        "folds": folds if method == "kfold" else None,
        "group": group if method == "kfold" else None,
        "fold_seed": fold_seed if method == "kfold" else None,
        "var_name": "alliance",  # joined with alliance_end where per_variant lists both
        "rows": {r["variant"]: r["rows"] for _, r in table.iterrows()},
        "notes": notes,
        "warnings": warns,
        "per_variant": {
            label: {"scheme": pw.scheme, **_jsonable(pw.extra)} for label, pw in pointwise.items()
        },
    }
    with atomic_path(out / "compare.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2))
    comparison_plot(table, out / "compare.png")


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a written ``compare.csv`` (a directory or the file).

    Use this rather than a bare ``pd.read_csv``: pandas reads the variant name
    ``null`` as a missing value unless told otherwise.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "compare.csv"
    return pd.read_csv(path, keep_default_na=False, na_values=[""])
