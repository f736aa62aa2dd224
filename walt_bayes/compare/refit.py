"""One fold's refit: fit the model on a fold's training rows and score its held-out rows.

:class:`FoldWrapper` is the ``az.SamplingWrapper`` through which ``az.loo_kfold`` (and
:func:`walt_bayes.compare.kfold.compute_fold`, one fold in a worker process) drives a fold:
it builds the fold's training design (:func:`walt_bayes.compare.folds.training_design`,
:func:`~walt_bayes.compare.folds.restrict_to_years_before`), samples it with the fold's
settings and seed, scores the held-out rows (:func:`score_held_out`) and caches each
fold's pointwise log-likelihood in the output directory, so a re-run skips finished folds.
Which rows a fold holds out and the scheme's drivers are :mod:`walt_bayes.compare.folds`'s
and :mod:`walt_bayes.compare.kfold`'s.
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
    FoldSettings,
    blocks_sha,
    fold_seed_for,
    restrict_to_years_before,
    rows_sha,
    training_design,
)
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
