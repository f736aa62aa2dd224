"""Rank fits from the API: :func:`compare`, for fits in memory, saved fits or run folders.

It is the whole of ``walt-bayes compare`` but the printing: the command parses its options and
calls it.  Run folders pass straight to :func:`walt_bayes.compare.table.compare_runs`, which
opens them as the command always has; fits in memory are scored where they are, unless the
k-fold refits run in other processes (``jobs > 1``, a ``scheduler``), which reopen each fit from
its file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from walt_bayes.api.arguments import optional_count, whole
from walt_bayes.api.fitted import Fit
from walt_bayes.api.results import Comparison
from walt_bayes.errors import WaltError
from walt_bayes.executor import parse_scheduler

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from walt_bayes.compare.kfold import FoldSettings

__all__ = ["compare"]


def compare(
    fits_or_paths,
    method: str = "loo",
    *,
    folds: int = 5,
    group: str = "dyad",
    reference: str | None = None,
    out: str | os.PathLike | None = None,
    fold_chains: int = 2,
    fold_draws: int = 300,
    fold_tune: int = 300,
    fold_start: str = "posterior",
    fold_seed: int = 0,
    cores: int | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    console: Console | None = None,
) -> Comparison:
    """Rank fits of theory variants on the same data, as ``walt-bayes compare`` does.

    Parameters
    ----------
    fits_or_paths : iterable of Fit or path
        Two or more fits (in memory or saved) or run folders, made on the same data.
    method : {"loo", "kfold"}
        PSIS-LOO from the stored log-likelihood, or refits per fold.
    folds : int
        Folds (``kfold``) or year blocks (``group="year-block"``).
    group : {"dyad", "year-block", "none"}
        k-fold grouping: whole dyads, leave-future-out year blocks, or single dyad-years.
    reference : str, optional
        Variant to take ``elpd_diff`` against (default: the best).
    out : path, optional
        Also write ``compare.csv``, ``compare.json``, ``compare.png`` and the fold cache there.
    fold_chains, fold_draws, fold_tune : int
        Sampler settings of the k-fold refits.
    fold_start : {"posterior", "default"}
        Where each refit's chains start (nutpie): a draw of the fit, or nutpie's default.
    fold_seed : int
        Seed of the assignment of dyads to folds.
    cores : int, optional
        Chains of one fold refit run in parallel (default: all).
    jobs : int
        Folds refitted at once in worker processes (the fits must be saved when > 1).
    scheduler : str, optional
        Dask scheduler of the k-fold refits, instead of ``jobs`` (the same numbers; saved fits and
        ``out`` needed): ``"serial"``, ``"processes"`` or ``"tcp://HOST:PORT"``.  Ignored by ``loo``.
    workers : int, optional
        Worker processes of ``scheduler="processes"``.
    progress : bool
        Show the k-fold progress.
    console : rich.console.Console, optional
        Where the k-fold progress goes (default: stdout).

    Returns
    -------
    Comparison

    Raises
    ------
    CompareError, WaltError
        Fewer than two fits, fits on different data or of different outcomes; a bad argument.
    """
    # lazy: walt_bayes.compare.table imports ArviZ and PyMC (seconds)
    from walt_bayes.compare.table import compare_runs

    items = [fits_or_paths] if isinstance(fits_or_paths, Fit | str | os.PathLike) else list(fits_or_paths)
    jobs, scheduler = whole(jobs, "jobs", minimum=1), _scheduler(scheduler, method, out)
    settings = _fold_settings(fold_chains, fold_draws, fold_tune, cores, fold_start)
    runs = _runs(items, method, jobs, scheduler)
    folds, fold_seed = whole(folds, "folds", 2), whole(fold_seed, "fold_seed")
    if scheduler is not None:
        _prefetch(runs, folds, group, settings, Path(out), fold_seed, scheduler, workers, progress, console)
        jobs = 1  # every fold is cached now: the comparison only reads them
    table = compare_runs(
        runs, method=method, folds=folds, group=group, out=out, fold_settings=settings,
        fold_seed=fold_seed, reference=reference, jobs=jobs, progress=progress, console=console,
    )
    return Comparison(table=_mark_unsaved(table, items), method=method)


def _scheduler(scheduler: str | None, method: str, out) -> str | None:
    """The checked scheduler of the k-fold refits; None when they run in this process or
    in ``jobs`` workers, or when nothing is refitted (LOO)."""
    if scheduler is None:
        return None
    scheduler = parse_scheduler(scheduler)  # a bad value is an error whatever the method
    if method != "kfold":
        return None
    if out is None:
        raise WaltError("compare: scheduler= runs the fold refits through the fold cache; give out=")
    return scheduler


def _fold_settings(chains, draws, tune, cores, start: str) -> FoldSettings:
    """Sampler settings of the k-fold refits, each count checked (the start is checked when
    the refits resolve it)."""
    # lazy: walt_bayes.compare.kfold imports ArviZ and PyMC (seconds)
    from walt_bayes.compare.kfold import FoldSettings

    return FoldSettings(
        chains=whole(chains, "fold_chains", 1),
        draws=whole(draws, "fold_draws", 1),
        tune=whole(tune, "fold_tune", 1),
        cores=optional_count(cores, "cores"),
        start=str(start),
    )


def _runs(items: list, method: str, jobs: int, scheduler: str | None) -> list:
    """Open runs for :func:`compare`: paths as the command opens them, fits from memory."""
    # lazy: walt_bayes.compare.runs imports xarray and PyMC (through walt_bayes.fit.loaded)
    from walt_bayes.compare.runs import scored_run

    runs = []
    for item in items:
        if not isinstance(item, Fit):
            runs.append(item)
            continue
        file = item.loaded.file
        if file is None and method == "kfold" and (jobs > 1 or scheduler is not None):
            how = "jobs > 1" if scheduler is None else "a scheduler"
            instead = "use jobs=1" if scheduler is None else "leave scheduler out"
            raise WaltError(
                f"compare: k-fold with {how} reopens each fit from its file; save {item.name} "
                f"first (Fit.save) or {instead}"
            )
        runs.append(scored_run(item.loaded, file or Path(item.name) / "fit.nc"))
    return runs


def _prefetch(
    runs, folds, group, settings, out: Path, fold_seed, scheduler, workers, progress, console
) -> None:
    """Refit every fold through ``scheduler`` into ``out``'s fold cache."""
    # lazy: walt_bayes.compare.kfold imports ArviZ and PyMC (seconds)
    from walt_bayes.compare.kfold import prefetch_folds

    prefetch_folds(
        runs, folds, group, settings, out / "folds", fold_seed,
        scheduler=scheduler, workers=workers, progress=progress, console=console,
    )


def _mark_unsaved(table: pd.DataFrame, items: list) -> pd.DataFrame:
    """``table`` with the ``run`` of each fit that was never saved shown as ``(not saved)``
    (its placeholder path names no file)."""
    unsaved = {str(Path(i.name) / "fit.nc") for i in items if isinstance(i, Fit) and i.path is None}
    table["run"] = ["(not saved)" if r in unsaved else r for r in table["run"]]
    return table
