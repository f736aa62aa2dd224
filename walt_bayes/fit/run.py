"""Sample a model and assemble a complete fit (MODEL.md "What every fit stores")."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

import walt_bayes
from walt_bayes.atomic import interrupted
from walt_bayes.fit.diagnostics import check_convergence, summary_table
from walt_bayes.fit.fitfile import FORMAT, library_versions
from walt_bayes.fit.fresh import fresh_numba_compile
from walt_bayes.fit.loaded import LoadedFit
from walt_bayes.fit.network_checks import fit_network_checks
from walt_bayes.fit.pointwise import pointwise_groups
from walt_bayes.model.build import build_model, can_fuse
from walt_bayes.model.design import build_design
from walt_bayes.panel.companions import Companions
from walt_bayes.spec import ModelSpec

#: Forward sampling and pointwise log-likelihood run a few thousand times at most:
#: compiling them with PyTensor's C backend costs more (~10 s each) than it saves.
QUICK_COMPILE = {"mode": "FAST_COMPILE"}


def derived_seeds(seed: int) -> dict[str, int]:
    """Integer seeds for each random stage, derived from the user's one seed."""
    # Children are indexed: adding a stage at the end leaves the earlier stages' seeds as they were.
    children = np.random.SeedSequence(int(seed)).spawn(4)
    names = ("sample", "prior", "posterior_predictive", "case_control")
    return {n: int(c.generate_state(1)[0]) for n, c in zip(names, children, strict=True)}


def sample_posterior(model: pm.Model, settings: dict, seed: int, progressbar: bool = False) -> xr.DataTree:
    """Run NUTS on ``model`` with resolved sampler ``settings`` (as stored in a fit's ``sampler_settings``).

    Parameters
    ----------
    model : pymc.Model
    settings : dict
        ``sampler``, ``draws``, ``tune``, ``chains``, ``cores``, ``target_accept`` and, for nutpie, ``adaptation``.
    seed : int
        Integer seed of the sampling stage.
    progressbar : bool
        Show the sampler's progress.
    """
    nuts = {"target_accept": settings["target_accept"]}
    if settings["sampler"] == "nutpie":
        nuts["adaptation"] = settings["adaptation"]
    with fresh_numba_compile():
        return pm.sample(
            draws=settings["draws"],
            tune=settings["tune"],
            chains=settings["chains"],
            cores=settings["cores"],
            random_seed=int(seed),
            nuts_sampler=settings["sampler"],
            progressbar=progressbar,
            model=model,
            nuts=nuts,
        )


def fit_model(
    panel: pd.DataFrame,
    spec: ModelSpec,
    *,
    data_name: str,
    data_sha256: str,
    seed: int,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    sampler: str | None = None,
    cores: int | None = None,
    progressbar: bool = True,
    case_control: str | float | None = "auto",
    companions: Companions | None = None,
) -> LoadedFit:
    """Build the design and model, sample, and collect every group a fit stores.

    Parameters
    ----------
    panel : pandas.DataFrame
        Directed dyad-year panel (the column contract of :mod:`walt_bayes.panel.columns`).
    spec : ModelSpec
        Theory variant; sampler settings default to the spec's.
    data_name, data_sha256 : str
        Provenance of the panel, stored in the fit.
    seed : int
        The one integer seed; same spec, data and seed give identical draws.
    draws, tune, chains, sampler, cores : optional
        Overrides of the spec's sampler settings.
    progressbar : bool
        Show the sampler's progress.
    case_control : str, float or None
        Case-control sampling of rare outcomes (:mod:`walt_bayes.model.casecontrol`):
        ``"auto"`` (default: only for panels with more than
        ``casecontrol.AUTO_MIN_ALLIANCE_ROWS`` alliance rows), ``"off"``, a rate or
        ``"R0,RD"``.  The sample is drawn from ``seed``.
    companions : walt_bayes.panel.companions.Companions, optional
        The tables that go with the panel (the dataset's ``companions``); ``None``: those
        its ``attrs`` and columns name (:func:`walt_bayes.model.design.build_design`).

    Returns
    -------
    LoadedFit
        The fit (``.tree``, also ``.idata``) with its summary table, convergence figures
        and the design it was built from.
    """
    seed = int(seed)
    seeds = derived_seeds(seed)
    settings = sampler_settings(spec, draws=draws, tune=tune, chains=chains, sampler=sampler, cores=cores)
    walls: dict[str, float] = {}
    t0 = time.perf_counter()
    design = build_design(panel, spec, name=data_name, case_control=case_control, seed=seeds["case_control"],
                          companions=companions)
    model = build_model(design, spec)
    # NUTS samples the same posterior through the fused likelihood kernel (one pass for
    # value and gradient); the prior predictive draws (and, for a model pointwise_groups
    # does not cover, the log-likelihood and predictive draws) use ``model``.
    sampling_model = build_model(design, spec, fused=True)
    walls["build"] = time.perf_counter() - t0

    idata = _draw(design, model, sampling_model, settings, seeds, progressbar, walls)
    idata["constant_data"] = xr.DataTree(design.to_dataset())
    _drop_object_stats(idata)
    compact_groups(idata)

    summary = summary_table(idata)
    convergence = check_convergence(idata, summary)
    idata.attrs.update(_provenance(spec, design, settings, walls, convergence, data_name, data_sha256, seed))
    t0 = time.perf_counter()
    idata.attrs["network_checks"] = json.dumps(_network_checks(idata, panel, spec))
    walls["network_checks"] = time.perf_counter() - t0
    idata.attrs["wall_times"] = json.dumps(walls)
    return LoadedFit(idata, summary=summary, convergence=convergence, design=design)


def _draw(design, model: pm.Model, sampling_model: pm.Model, settings: dict, seeds: dict[str, int],
          progressbar: bool, walls: dict[str, float]) -> xr.DataTree:
    """Prior predictive, posterior, pointwise log-likelihood and predictive draws (timed in ``walls``)."""
    t0 = time.perf_counter()
    prior = pm.sample_prior_predictive(
        draws=settings["prior_draws"], model=model, random_seed=seeds["prior"], compile_kwargs=QUICK_COMPILE
    )
    walls["prior_predictive"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    idata = sample_posterior(sampling_model, settings, seeds["sample"], progressbar)
    if interrupted():
        # nutpie answers Ctrl-C by returning the draws so far; nothing after this may
        # be computed from (or saved as) a partial trace.
        raise KeyboardInterrupt(signal.Signals(interrupted()).name)
    walls["sampling"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    _add_pointwise_groups(idata, design, model, seeds["posterior_predictive"])
    walls["posterior_predictive"] = time.perf_counter() - t0

    for group in ("prior", "prior_predictive"):
        if group in prior.children:
            idata[group] = prior[group]
    return idata


def sampler_settings(spec: ModelSpec, *, draws: int | None = None, tune: int | None = None,
                     chains: int | None = None, sampler: str | None = None, cores: int | None = None) -> dict:
    """The resolved sampler settings of a fit: the spec's, with the given overrides.

    Parameters
    ----------
    spec : ModelSpec
        The theory variant (its ``[sampler]`` table).
    draws, tune, chains, sampler, cores : optional
        Overrides; ``cores`` defaults to one per chain, at most the machine's.

    Returns
    -------
    dict
        As stored in a fit's ``sampler_settings``: ``sampler``, ``draws``, ``tune``, ``chains``,
        ``target_accept``, ``cores``, ``prior_draws``, ``adaptation``.
    """
    s = spec.sampler
    return {
        "sampler": sampler or s.sampler,
        "draws": int(draws or s.draws),
        "tune": int(tune or s.tune),
        "chains": int(chains or s.chains),
        "target_accept": s.target_accept,
        "cores": int(cores or min(os.cpu_count() or 1, chains or s.chains)),
        "prior_draws": s.prior_draws,
        "adaptation": s.adaptation if (sampler or s.sampler) == "nutpie" else "pymc default",
    }


def _add_pointwise_groups(idata: xr.DataTree, design, model: pm.Model, seed: int) -> None:
    """Add ``log_likelihood``, ``posterior_predictive`` and ``observed_data`` to a sampled fit."""
    if can_fuse(design):
        # Blocks 1-3 without a joining block: vectorised numpy over draws (~4x faster than
        # PyMC's forward sampling).
        groups = pointwise_groups(idata["posterior"].to_dataset(), design, seed)
        for name, ds in groups.items():
            idata[name] = xr.DataTree(ds)
        return
    pm.compute_log_likelihood(idata, model=model, progressbar=False, compile_kwargs=QUICK_COMPILE)
    compact_groups(idata)  # float32 log-likelihood before the predictive draws: a lower memory peak
    pm.sample_posterior_predictive(
        idata, model=model, extend_inferencedata=True, random_seed=seed,
        progressbar=False, compile_kwargs=QUICK_COMPILE,
    )


def _provenance(spec: ModelSpec, design, settings: dict, walls: dict, convergence, data_name: str,
                data_sha256: str, seed: int) -> dict[str, object]:
    """The root attributes that say how a fit was made (MODEL.md "What every fit stores")."""
    return {
        "format": FORMAT,
        "spec_name": spec.name,
        "spec_toml": spec.source_text,
        "data_name": data_name,
        "data_sha256": data_sha256,
        "walt_bayes_version": walt_bayes.__version__,
        "versions": json.dumps(library_versions()),
        "seed": seed,
        "sampler": settings["sampler"],
        "sampler_settings": json.dumps(settings),
        "wall_times": json.dumps(walls),
        "convergence": json.dumps(convergence.to_dict()),
        "design_notes": json.dumps(design.notes),
        "dropped_terms": json.dumps(design.dropped_terms),
        "case_control": json.dumps(design.case_control or {"used": False}),
    }


#: Pointwise groups stored at reduced precision (see :func:`compact_groups`).
OUTCOME_GROUPS = ("posterior_predictive", "prior_predictive", "observed_data")


def compact_groups(idata: xr.DataTree) -> None:
    """Store 0/1 outcomes as int8 and pointwise log-likelihood as float32.

    These groups hold one value per observation and draw (≈ 66 M values for the
    embedded panel), and were 95 % of a 1.1 GB fit file at int64/float64.
    float32 keeps 7 significant digits, far below the Monte Carlo error of LOO.
    """
    for group in OUTCOME_GROUPS:
        if group in idata.children:
            ds = idata[group].to_dataset()
            ints = {v: ds[v].astype("int8") for v in ds.data_vars
                    if ds[v].dtype.kind in "iub" and ds[v].size and int(ds[v].max()) <= 1 and int(ds[v].min()) >= 0}
            if ints:
                idata[group] = xr.DataTree(ds.assign(ints))
    if "log_likelihood" in idata.children:
        ds = idata["log_likelihood"].to_dataset()
        idata["log_likelihood"] = xr.DataTree(ds.astype("float32"))


def _network_checks(idata: xr.DataTree, panel: pd.DataFrame, spec: ModelSpec) -> dict:
    """Posterior predictive checks on the alliance network (:mod:`walt_bayes.fit.network_checks`).

    A failure is recorded in the result (``error``), never lost, and never costs the fit.
    """
    try:
        return fit_network_checks(idata, panel=panel, spec=spec)
    except Exception as err:  # a check must not throw away a finished fit
        return {"error": f"{type(err).__name__}: {err}", "checks": [], "skipped": []}


def _drop_object_stats(idata: xr.DataTree) -> None:
    """Remove object-dtype sampler stats (free-text messages) that netCDF cannot store."""
    stats = idata["sample_stats"].to_dataset()
    obj = [v for v in stats.data_vars if stats[v].dtype == object]
    if obj:
        idata["sample_stats"] = xr.DataTree(stats.drop_vars(obj))
