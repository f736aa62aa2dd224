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
``SamplingWrapper``; each fold's held-out pointwise log-likelihood is cached
in the output directory, so a re-run skips finished folds.

A fit with a duration block (``full``) is cross-validated on the same
dyad-years as the status variants (:mod:`walt_bayes.compare.runs`): a held-out
dyad-year whose dyad was not allied the year before is scored by the refit's
block 2, one continuing an alliance by the refit's block 3 (the spell-year of
the year before), and the refit is fitted without the held-out rows of either
block (:func:`walt_bayes.compare.folds.training_design`).  Which rows each fold holds out,
the designs of its refit and the refits' settings are :mod:`walt_bayes.compare.folds`'s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from walt_bayes.atomic import atomic_path
from walt_bayes.compare.folds import (
    GROUPS,
    FoldSettings,
    _dyad_labels,
    assign_folds,
    blocks_sha,
    fold_seed_for,
    restrict_to_years_before,
    rows_sha,
    scheme_description,
    training_design,
)
from walt_bayes.compare.loo import Pointwise, joined_log_likelihood
from walt_bayes.compare.runs import END_NAME, VAR_NAME, Run
from walt_bayes.errors import WaltError
from walt_bayes.fit.compiled import sample_fused
from walt_bayes.fit.run import QUICK_COMPILE, sample_posterior
from walt_bayes.model.build import build_model
from walt_bayes.model.design import Design


def score_held_out(
    design: Design, spec, idata, test: np.ndarray, test_dur: np.ndarray | None = None
) -> np.ndarray:
    """Pointwise log-likelihood of held-out rows under a refit's posterior: (chain, draw, rows).

    Parameters
    ----------
    design : Design
        The fit's (whole) design: coordinates and constants are those of the refit.
    spec : ModelSpec
        The fit's spec.
    idata : xarray.DataTree
        The refit (its ``posterior`` group).
    test : array of int
        Held-out alliance rows, scored by block 2 (``alliance``).
    test_dur : array of int, optional
        Held-out spell-years, scored by block 3 (``alliance_end``).

    Returns
    -------
    numpy.ndarray
        The ``test`` rows' columns, then the ``test_dur`` rows', each in the order given.
    """
    test = np.asarray(test, dtype=np.int64)
    test_dur = np.zeros(0, dtype=np.int64) if test_dur is None else np.asarray(test_dur, dtype=np.int64)
    # The model needs at least one alliance row: a fold of continuing rows scores row 0 and drops it.
    score = design.subset_alliance(test if len(test) else np.zeros(1, dtype=np.int64))
    names = [VAR_NAME]
    if design.duration is not None:
        mask = np.zeros(design.duration.n, dtype=bool)
        mask[test_dur if len(test_dur) else 0] = True
        score.duration = design.duration.subset(mask)  # keeps the block's order
        if len(test_dur):
            names.append(END_NAME)
    elif len(test_dur):
        raise WaltError("held-out spell-years given for a design without a duration block")
    ll = pm.compute_log_likelihood(
        idata,
        var_names=names,
        model=build_model(score, spec),
        extend_inferencedata=False,
        progressbar=False,
        compile_kwargs=QUICK_COMPILE,
    )
    parts = []
    if len(test):
        parts.append(_values(ll[VAR_NAME]))
    if len(test_dur):
        order = np.searchsorted(np.flatnonzero(mask), test_dur)
        parts.append(_values(ll[END_NAME])[:, :, order])
    return np.concatenate(parts, axis=2)


def _values(da: xr.DataArray) -> np.ndarray:
    return da.transpose("chain", "draw", ...).values.reshape(da.sizes["chain"], da.sizes["draw"], -1)


# --------------------------------------------------------------------------- wrapper
class FoldWrapper(az.SamplingWrapper):
    """Refit a walt-bayes model on the training rows of a fold and score the held-out rows."""

    def __init__(
        self,
        run: Run,
        scored_rows: np.ndarray,
        fold_of_scored: np.ndarray,
        year_block: bool,
        scheme_key: str,
        settings: FoldSettings,
        cache_dir: Path | None,
        on_fold_done: Callable[[int, bool], None] | None = None,
        group: str = "dyad",
    ):
        super().__init__(model=None)
        self.run = run
        self.spec = run.fit.spec
        self.design = run.fit.design
        self.rows = np.asarray(scored_rows)
        self.fold_of = np.asarray(fold_of_scored)
        # Which block scores each of the run's rows (block 3: continuing rows of a duration fit).
        self.ally_pos = run.positions(VAR_NAME)
        self.dur_pos = run.positions(END_NAME)
        self.year_block = year_block
        self.group = "year-block" if year_block else group
        self.scheme_key = scheme_key
        self.settings = settings.resolved(self.spec)
        self.cache_dir = cache_dir
        self.on_fold_done = on_fold_done
        self.diagnostics: dict[int, dict] = {}

    # --- cache
    def _cache_path(self, fold: int) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{self.scheme_key}-fold{fold}.nc"

    def _split(self, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The held-out rows' alliance rows (block 2) and spell-years (block 3)."""
        a, e = self.ally_pos[test], self.dur_pos[test]
        return a[a >= 0], e[a < 0]

    def _train_design(self, test: np.ndarray, cutoff: int | None) -> Design:
        if self.year_block:
            return restrict_to_years_before(self.design, cutoff)
        test_ally, test_dur = self._split(test)
        return training_design(self.design, test_ally, self.group, test_dur)

    def _cache_attrs(self, fold: int, train: np.ndarray, test: np.ndarray, cutoff: int | None) -> dict:
        attrs = {
            "fit": self.run.fit.identity(),
            "train_rows": rows_sha(self.run.keys.iloc[train]),
            "test_rows": rows_sha(self.run.keys.iloc[test]),
            # Threads per fold do not change the draws (one seed per chain).
            "settings": json.dumps(
                {k: v for k, v in self.settings.items() if k != "cores"}, sort_keys=True
            ),
            "seed": fold_seed_for(self.run.fit.seed, self.scheme_key, fold),
        }
        if self.design.duration is not None or self.design.joining is not None:
            # The refit's duration/joining rows: a cached refit that saw held-out spells is stale.
            attrs["train_blocks"] = blocks_sha(self._train_design(test, cutoff))
        return attrs

    def _load_cache(self, fold: int, attrs: dict) -> xr.Dataset | None:
        path = self._cache_path(fold)
        if path is None or not path.exists():
            return None
        try:
            ds = xr.load_dataset(path, engine="h5netcdf")
        except Exception:  # a stale or foreign file: refit
            return None
        if any(str(ds.attrs.get(k)) != str(v) for k, v in attrs.items()):
            return None
        return ds

    # --- SamplingWrapper protocol
    def sel_observations(self, idx):
        idx = np.asarray(idx)
        test = self.rows[idx]
        fold = int(self.fold_of[idx[0]])
        years = self.run.keys["year"].to_numpy()
        if self.year_block:
            cutoff = int(years[test].min())
            train = np.flatnonzero(years < cutoff)
        else:
            cutoff = None
            mask = np.ones(len(years), dtype=bool)
            mask[test] = False
            train = np.flatnonzero(mask)
        attrs = self._cache_attrs(fold, train, test, cutoff)
        return (
            {"fold": fold, "rows": train, "test": test, "cutoff": cutoff, "attrs": attrs},
            {"fold": fold, "rows": test, "attrs": attrs},
        )

    def sample(self, modified_observed_data):
        d = modified_observed_data
        cached = self._load_cache(d["fold"], d["attrs"])
        if cached is not None:
            return {"cached": cached, "fold": d["fold"]}
        train_design = self._train_design(d["test"], d["cutoff"])
        t0 = time.perf_counter()
        if self.settings["sampler"] == "nutpie":
            # One compile per process for every fold of a blocks-1-2 fit (walt_bayes.fit.compiled);
            # chains start at draws of the fit itself (FoldSettings.start).
            start = self.run.fit.posterior if self.settings["start"] == "posterior" else None
            idata = sample_fused(train_design, self.spec, self.settings, d["attrs"]["seed"], start=start)
        else:
            idata = sample_posterior(
                build_model(train_design, self.spec, fused=True), self.settings, d["attrs"]["seed"]
            )
        return {"idata": idata, "fold": d["fold"], "wall": time.perf_counter() - t0}

    def get_inference_data(self, fitted_model):
        return fitted_model

    def log_likelihood__i(self, excluded_obs, idata__i):
        fold = excluded_obs["fold"]
        if "cached" in idata__i:
            ds = idata__i["cached"]
            self.diagnostics[fold] = json.loads(ds.attrs["diagnostics"])
            if self.on_fold_done:
                self.on_fold_done(fold, True)
            return ds["log_lik"]
        idata = idata__i["idata"]
        ll = self._held_out_log_lik(idata, np.asarray(excluded_obs["rows"]))
        diag = _fold_diagnostics(idata, idata__i["wall"], len(excluded_obs["rows"]))
        self.diagnostics[fold] = diag
        ds = xr.Dataset({"log_lik": ll})
        ds.attrs.update({k: str(v) for k, v in excluded_obs["attrs"].items()})
        ds.attrs["diagnostics"] = json.dumps(diag)
        path = self._cache_path(fold)
        if path is not None:
            with atomic_path(path, suffix=".nc") as tmp:
                ds.to_netcdf(tmp, engine="h5netcdf")
        if self.on_fold_done:
            self.on_fold_done(fold, False)
        return ds["log_lik"]

    def _held_out_log_lik(self, idata: xr.DataTree, test: np.ndarray) -> xr.DataArray:
        """(chain, draw, test_obs) log-likelihood of the held-out rows, in the order of ``test``."""
        test_ally, test_dur = self._split(test)
        values = score_held_out(self.design, self.spec, idata, test_ally, test_dur)
        # score_held_out puts block 2's rows first; put each back where the run has it.
        by_block2 = self.ally_pos[test] >= 0
        ordered = np.empty_like(values)
        ordered[:, :, by_block2] = values[:, :, : len(test_ally)]
        ordered[:, :, ~by_block2] = values[:, :, len(test_ally) :]
        post = idata["posterior"]
        return xr.DataArray(
            ordered,
            dims=("chain", "draw", "test_obs"),
            coords={"chain": post["chain"].values, "draw": post["draw"].values},
        )


def _fold_diagnostics(idata: xr.DataTree, wall: float, n_test: int) -> dict:
    stats = idata["sample_stats"]
    divergences = int(np.asarray(stats["diverging"].values).sum()) if "diverging" in stats else 0
    post = idata["posterior"].to_dataset()
    rhat = az.rhat(post)
    values = np.hstack([np.asarray(rhat[v].values, dtype=float).ravel() for v in rhat.data_vars])
    return {
        "divergences": divergences,
        "max_rhat": float(np.nanmax(values)) if values.size else float("nan"),
        "sampling_wall_s": round(float(wall), 2),
        "n_test": int(n_test),
    }


# ----------------------------------------------------------------------------- driver
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
    from walt_bayes.compare.runs import open_run

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
    from scipy.special import logsumexp

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
    from dataclasses import replace

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from walt_bayes.compare.runs import open_runs
    from walt_bayes.executor import Executor

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


__all__ = [  # with the folds' names of walt_bayes.compare.folds, importable from here as before
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
