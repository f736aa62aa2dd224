"""Cross-validation by refitting: k-fold grouped by dyad, and leave-future-out by year blocks.

Dyad-years are not independent (the same dyad allies year after year), so
leaving one dyad-year out flatters models with dyad intercepts.  Two schemes
hold out whole groups instead, refitting the model once per fold:

``group="dyad"``
    K-fold CV: every undirected dyad's rows go to the same fold; each fold is
    fitted on the other K-1 folds and scores its held-out dyads (whose dyad
    intercepts are then drawn from the fitted population: prediction for new dyads).
``group="none"``
    Plain K-fold CV over dyad-years (for reference; flatters like LOO).
``group="year-block"``
    Leave-future-out (strict): the years are cut into K contiguous blocks;
    block b (b = 2..K) is scored by a model fitted only on the years before
    it, both blocks of the model (alliances *and* the dispute-initiation
    measurements of threat) restricted to those years.  The first block is
    never scored (nothing precedes it), so the elpd covers blocks 2..K.

What stays fixed across folds: the standardisation constants, coordinates
(dyads, years, groups) and the prior centres stored in the fit's design, so a
fold's posterior plugs straight into a model that scores the held-out rows
(:meth:`walt_bayes.model.design.Design.subset_alliance`).  Each fold is sampled
with the fit's spec and sampler, reduced settings (``FoldSettings``, stored in
the output) and an integer seed derived from the fit's seed, the scheme and
the fold number.  With nutpie, each chain starts at a posterior draw of the fit
being cross-validated (picked by the chain's seed; ``FoldSettings.start``): the
fold's posterior is close to the fit's, so warm-up skips its costly first
phase.  ArviZ's ``az.loo_kfold`` drives the folds through a
``SamplingWrapper`` (:class:`walt_bayes.compare.refit.FoldWrapper`: one fold's
refit and scoring); each fold's held-out pointwise log-likelihood is cached
in the output directory, so a re-run skips finished folds.  This module holds
the drivers: :func:`kfold_pointwise` (every fold in this process) and
:func:`prefetch_folds` (each fold a task of an executor, :func:`compute_fold`).

A fit with a duration block (``full``) is cross-validated on the same
dyad-years as the status variants (:mod:`walt_bayes.compare.runs`): a held-out
dyad-year whose dyad was not allied the year before is scored by the refit's
block 2, one continuing an alliance by the refit's block 3 (the spell-year of
the year before), and the refit is fitted without the held-out rows of either
block (:func:`walt_bayes.compare.folds.training_design`).  Which rows each fold holds out,
the designs of its refit and the refits' settings are :mod:`walt_bayes.compare.folds`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import arviz as az
import numpy as np
import xarray as xr
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from scipy.special import logsumexp

from walt_bayes.compare.folds import (
    GROUPS,
    FoldSettings,
    _dyad_labels,
    assign_folds,
    fold_seed_for,
    restrict_to_years_before,
    scheme_description,
    training_design,
)
from walt_bayes.compare.loo import Pointwise, joined_log_likelihood
from walt_bayes.compare.refit import FoldWrapper, score_held_out
from walt_bayes.compare.runs import VAR_NAME, Run, open_run, open_runs
from walt_bayes.errors import WaltError
from walt_bayes.executor import Executor


def _wrapper(run, fold_of_row, k, group, settings, cache_dir, fold_seed, on_fold_done=None):
    year_block = group == "year-block"
    scheme_key = f"{'lfo-yearblock' if year_block else 'kfold-' + group}-K{k}" + (
        "" if year_block else f"-s{fold_seed}"
    )
    scored = np.flatnonzero(fold_of_row > 0)
    if cache_dir is not None:
        cache_dir = Path(cache_dir) / f"{_safe(run.label)}-{run.fit.identity()}"
    return FoldWrapper(
        run, scored, fold_of_row[scored], year_block, scheme_key, settings, cache_dir, on_fold_done, group=group
    )


def fold_tasks(run, fold_of_row, k, group, settings, cache_dir, fold_seed=0) -> list[dict]:
    """One picklable task per fold (for :func:`compute_fold` in a worker process)."""
    folds = np.unique(fold_of_row[fold_of_row > 0])
    return [
        {
            "path": str(run.path),
            "label": run.label,
            "fold_of_row": fold_of_row,
            "k": k,
            "group": group,
            "settings": settings,
            "cache_dir": str(cache_dir),
            "fold_seed": fold_seed,
            "fold": int(f),
        }
        for f in folds
    ]


def compute_fold(task: dict) -> dict:
    """Refit and score one fold, writing it to the cache (run in a worker process)."""
    run = open_run(task["path"])
    run.label = task["label"]
    cached: list[bool] = []
    w = _wrapper(run, task["fold_of_row"], task["k"], task["group"], task["settings"], task["cache_dir"],
                 task["fold_seed"], on_fold_done=lambda fold, was_cached: cached.append(was_cached))
    idx = np.flatnonzero(w.fold_of == task["fold"])
    train, test = w.sel_observations(idx)
    ll = w.log_likelihood__i(test, w.sample(train))
    return {
        "label": task["label"],
        "fold": task["fold"],
        "elpd": held_out_elpd(ll),
        "cached": bool(cached and cached[0]),
        **w.diagnostics[task["fold"]],
    }


def held_out_elpd(log_lik: xr.DataArray) -> float:
    """Summed log predictive density of held-out rows: sum_i log mean_s p(y_i | theta_s)."""
    ll = log_lik.stack(__sample__=("chain", "draw")).transpose("__sample__", ...).values
    return float(np.sum(logsumexp(ll, axis=0) - np.log(ll.shape[0])))


def prefetch_folds(
    run_dirs,
    k: int,
    group: str,
    settings: FoldSettings,
    cache_dir: str | Path,
    fold_seed: int = 0,
    *,
    scheduler: str = "serial",
    workers: int | None = None,
    progress: bool = True,
    console=None,
) -> dict[str, dict]:
    """Refit every fold of every run through an executor, writing each to the fold cache.

    The k-fold comparison that follows (:func:`walt_bayes.compare.table.compare_runs`
    with the same ``cache_dir``'s parent as ``out``) then reads every fold from
    the cache.  Results equal a serial run: every fold has its own seed (from
    the fit's seed, the scheme and the fold) and the number of threads a fold
    gets does not change its draws.

    Parameters
    ----------
    run_dirs : iterable of path
        The fits to cross-validate (as given to ``compare``).
    k, group, settings, fold_seed
        As for :func:`kfold_pointwise`.
    cache_dir : path
        The fold cache (``<out>/folds``).
    scheduler : str
        ``serial``, ``processes`` or ``tcp://HOST:PORT`` (:mod:`walt_bayes.executor`).
    workers : int, optional
        Worker processes of a local cluster.
    progress : bool
        Show a progress bar.
    console : rich.console.Console, optional
        Where progress goes.

    Returns
    -------
    dict
        ``"<label>-fold<f>" -> {label, fold, elpd, divergences, max_rhat, ...}``.

    Raises
    ------
    WaltError
        A fold refit failed (the others still ran and are cached).
    """
    runs = open_runs(run_dirs)
    assignment = assign_folds(runs, k, group, fold_seed)
    with Executor(scheduler, workers=workers) as ex:
        if settings.cores is None:
            settings = replace(settings, cores=ex.cores_per_task)
        tasks = {
            f"{t['label']}-fold{t['fold']}": t
            for r in runs
            for t in fold_tasks(r, assignment[r.label], k, group, settings, Path(cache_dir), fold_seed)
        }
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
        with Progress(*columns, console=console, disable=not progress) as bar:
            ex.start(len(tasks))
            job = bar.add_task(f"fold refits ({ex.describe()})", total=len(tasks))
            outcomes = ex.map(compute_fold, tasks, on_done=lambda o: bar.advance(job))
    failed = [o for o in outcomes.values() if not o.ok]
    if failed:
        raise WaltError(
            f"k-fold: {len(failed)} of {len(outcomes)} fold refits failed "
            f"(first: {failed[0].key}: {failed[0].error}); the finished folds are cached"
        )
    return {key: o.value for key, o in outcomes.items()}


def kfold_pointwise(
    run: Run,
    fold_of_row: np.ndarray,
    k: int,
    group: str,
    settings: FoldSettings,
    cache_dir: Path | None,
    fold_seed: int = 0,
    on_fold_done: Callable[[int, bool], None] | None = None,
) -> Pointwise:
    """Exact cross-validated elpd_i of ``run``'s rows (NaN where a row is never scored).

    A fit with a duration block is scored on every dyad-year it models: by the
    refit's block 2 where the dyad was not allied the year before, by its block 3
    where it was (see :func:`training_design` and :func:`score_held_out`).
    """
    wrapper = _wrapper(run, fold_of_row, k, group, settings, cache_dir, fold_seed, on_fold_done)
    scheme_key, scored = wrapper.scheme_key, wrapper.rows
    sub = joined_log_likelihood(run, scored)
    data = xr.DataTree.from_dict({"log_likelihood": xr.Dataset({VAR_NAME: sub})})
    res = az.loo_kfold(data, wrapper, pointwise=True, var_name=VAR_NAME, folds=fold_of_row[scored])
    n = len(fold_of_row)
    elpd_i = np.full(n, np.nan)
    p_i = np.full(n, np.nan)
    elpd_i[scored] = res.elpd_i.values
    p_i[scored] = res.p_kfold_i.values
    diags = wrapper.diagnostics
    return Pointwise(
        elpd_i=elpd_i,
        p_i=p_i,
        pareto_k=None,
        n_samples=settings.resolved(run.fit.spec)["chains"] * settings.draws,
        good_k=None,
        scheme=scheme_description(group, k),
        extra={
            "n_folds": int(res.n_folds),
            "fold_divergences": int(sum(d["divergences"] for d in diags.values())),
            "fold_max_rhat": float(max(d["max_rhat"] for d in diags.values())),
            "fold_settings": wrapper.settings,
            "fold_seeds": {f: fold_seed_for(run.fit.seed, scheme_key, f) for f in sorted(diags)},
            "fold_sampling_wall_s": round(sum(d["sampling_wall_s"] for d in diags.values()), 1),
        },
    )


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


__all__ = [  # with the names of walt_bayes.compare.folds and .refit, importable from here as before
    "GROUPS",
    "FoldSettings",
    "FoldWrapper",
    "_dyad_labels",
    "assign_folds",
    "compute_fold",
    "fold_seed_for",
    "fold_tasks",
    "held_out_elpd",
    "kfold_pointwise",
    "prefetch_folds",
    "restrict_to_years_before",
    "scheme_description",
    "score_held_out",
    "training_design",
]
