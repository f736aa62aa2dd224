"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018).

For a small configuration of the model (a simulated state system of a few
states and years), each replication

1. draws every parameter from the prior and, given them, the outcomes
   (dispute initiation and alliances) from the model: one joint prior
   predictive draw of the *same* PyMC model that is then fitted;
2. fits the model to those outcomes with nutpie (a few chains and draws);
3. records, for every named parameter (``beta_*``, ``gamma_*``, ``lambda_0``,
   ``mu_alpha``, ``sigma_*``, ``tau_beta[...]``, ``control_*``), the rank of the
   true value among ``L`` posterior draws thinned evenly from all chains.

If the sampler and the model code are right, every rank is uniform on
``0..L``.  Each parameter gets a chi-square test on binned ranks and ArviZ's
PIT-ECDF uniformity test (``Dataset.azstats.uniformity_test``, method ``pot_c``,
on randomised PIT values ``(rank + U) / (L + 1)``), a rank histogram with its
99% binomial band and ArviZ's Δ-ECDF plot (``az.plot_ecdf_pit``).  Each
replication's convergence (max R-hat, min bulk ESS, divergences) is recorded.

What is held fixed.  The covariates of the state system (power, geography,
past disputes, regimes) are simulated once from ``--seed``; so are the
constants the design derives from a panel (standardisation of threat inputs
and latent terms, prior centres of the intercepts, which are the logit of the
pilot panel's rates).  Only parameters and outcomes change between
replications.  Re-deriving those constants from each replication's outcomes
would make the prior depend on the data, which SBC (rightly) flags as
miscalibration, so it is not done here.

Speed.  The model is compiled once per process with its observed outcomes as
shared data (``pm.observe`` with a shared variable) and every replication swaps
the outcomes in (``CompiledModel.with_data``); draws are identical to a fresh
compile with the same seed.  Replications run through
:class:`walt_bayes.executor.Executor` (serial, a local Dask cluster, or a
Dask scheduler): each replication has its own integer seed, so the results do
not depend on where or in which order it ran.

Where the fixed time goes (small configuration, 2 cores): importing PyMC,
nutpie and ArviZ (~6 s), simulating and drawing the prior (~2 s) and compiling
the model for nutpie (~6–14 s, mostly numba compiling nutpie's C callbacks,
which it cannot cache on disk) against ~2–3 s per replication.  Every process
that samples needs the imports and the compiled model, so for a local cluster
this process compiles first and then *forks* the workers
(``Executor(fork=True)``): they inherit both instead of paying for them again
side by side on the same cores.  Remote workers (``tcp://``) import while this
process draws from the prior and compile on their first replication.

Modules: this one prepares and runs; :mod:`.settings` (settings, the shared setup),
:mod:`.replicate` (one replication), :mod:`.uniformity` (tests and plots), :mod:`.results`
(tables and files).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from walt_bayes.calibrate.replicate import (
    _COMPILED,
    compile_model,
    named_labels,
    precompile,
    rank_of,
    run_rep,
    thin_index,
)
from walt_bayes.calibrate.results import SBCResult, assemble, write_sbc
from walt_bayes.calibrate.settings import SBCSettings, SBCSetup
from walt_bayes.calibrate.uniformity import ALPHA, pit_values, rank_bins, uniformity_table
from walt_bayes.errors import WaltError
from walt_bayes.executor import Executor
from walt_bayes.fit.draws import stack_draws
from walt_bayes.fit.run import QUICK_COMPILE
from walt_bayes.model.build import build_model
from walt_bayes.model.design import build_design
from walt_bayes.model.simulate import simulate
from walt_bayes.spec import ModelSpec, load_spec

#: Modules a replication needs: imported by remote workers while this process prepares.
REP_MODULES = ["walt_bayes.calibrate.replicate", "walt_bayes.model.build", "nutpie", "arviz"]


# ------------------------------------------------------------------------ prepare
def prepare(
    spec: str | ModelSpec, settings: SBCSettings, fit_spec: str | ModelSpec | None = None
) -> SBCSetup:
    """Simulate the covariates once and draw every replication's parameters and outcomes.

    Parameters
    ----------
    spec : str or ModelSpec
        The theory variant to calibrate (a name or a TOML path).
    settings : SBCSettings
        Configuration and sampler settings.
    fit_spec : str or ModelSpec, optional
        Fit with a different spec than the one that generated the data (a
        deliberately mis-specified fit must give non-uniform ranks).  Default: ``spec``.

    Returns
    -------
    SBCSetup
    """
    settings.check()
    gen = spec if isinstance(spec, ModelSpec) else load_spec(spec)
    fit = (
        gen
        if fit_spec is None
        else (fit_spec if isinstance(fit_spec, ModelSpec) else load_spec(fit_spec))
    )
    seeds = settings.seeds()
    design, prior, fit_model = _prior_draws(gen, fit, settings, seeds)
    prior_group = prior["prior"].to_dataset()
    labels = _labels(prior_group, fit_model)
    if not labels:
        raise WaltError(
            f"sbc: the fitted spec '{fit.name}' shares no named parameter with '{gen.name}'"
        )
    truth = pd.DataFrame(
        {
            label: stack_draws(prior_group[name])[(slice(None), *idx)]
            for label, (name, idx) in labels.items()
        }
    )
    truth.index.name = "rep"
    outcomes = {
        rv.name: stack_draws(prior["prior_predictive"][rv.name]) for rv in fit_model.observed_RVs
    }
    key = hashlib.sha256(
        json.dumps(
            [gen.source_text, fit.source_text, asdict(settings) | {"reps": 0}], sort_keys=True
        ).encode()
    ).hexdigest()[:16]
    notes = _setup_notes(settings, seeds, outcomes)
    if fit is not gen:
        notes.append(
            f"fitted with spec '{fit.name}', generated with '{gen.name}' (mis-specified on purpose)"
        )
    return SBCSetup(settings, gen, fit, design, list(labels), truth, outcomes, key, notes)


def _prior_draws(gen: ModelSpec, fit: ModelSpec, settings: SBCSettings, seeds: dict[str, int]):
    """The pilot panel's design, ``settings.reps`` joint prior draws of ``gen``, and ``fit``'s model.

    Returns
    -------
    tuple
        ``(design, prior draws as a DataTree, PyMC model of the fitted spec)``.
    """
    pilot = simulate(
        settings.covariates,
        n_states=settings.states,
        n_years=settings.years,
        seed=seeds["covariates"],
    )
    design = build_design(pilot.panel, gen, name=f"sbc-{settings.states}x{settings.years}")
    model = build_model(design, gen)
    fit_model = build_model(design, fit)
    prior = pm.sample_prior_predictive(
        draws=settings.reps, model=model, random_seed=seeds["prior"], compile_kwargs=QUICK_COMPILE
    )
    return design, prior, fit_model


def _labels(prior_group: xr.Dataset, fit_model) -> dict[str, tuple[str, tuple]]:
    """The named parameters both specs share, by label, in the fitted model's order."""
    # Model order (free variables as declared), not the order of a dict built from a set.
    order = {rv.name: i for i, rv in enumerate(fit_model.free_RVs)}
    found = [(k, v) for k, v in named_labels(prior_group).items() if v[0] in order]
    return dict(sorted(found, key=lambda kv: (order[kv[1][0]], kv[1][1])))


def _setup_notes(settings: SBCSettings, seeds: dict[str, int], outcomes: dict[str, np.ndarray]) -> list[str]:
    return [
        f"covariates of a {settings.states}-state × {settings.years}-year system simulated once "
        f"({settings.covariates} world, seed {seeds['covariates']}); design constants fixed from that panel",
        "alliance rate over replications: "
        + ", ".join(
            f"{q:.0%}" for q in np.quantile(outcomes["alliance"].mean(axis=1), [0.1, 0.5, 0.9])
        )
        + " (10/50/90% quantiles)",
    ]


def rep_tasks(setup: SBCSetup, cores: int = 1) -> dict[str, dict]:
    """One picklable task per replication (for :func:`walt_bayes.calibrate.replicate.run_rep`)."""
    s = setup.settings
    return {
        f"rep{r:04d}": {
            "key": setup.key,
            "rep": r,
            "seed": s.rep_seed(r),
            "design": setup.design,
            "fit_spec": setup.fit_spec.source_text,
            "fit_spec_source": setup.fit_spec.source_path or setup.fit_spec.name,
            "outcomes": {name: np.asarray(y[r]) for name, y in setup.outcomes.items()},
            "truth": setup.truth.iloc[r].to_dict(),
            "chains": s.chains,
            "draws": s.draws,
            "tune": s.tune,
            "ranks": s.ranks,
            "cores": int(cores),
        }
        for r in range(s.reps)
    }


# ---------------------------------------------------------------------- run + write
def run_sbc(
    spec: str | ModelSpec,
    settings: SBCSettings,
    out: str | Path | None = None,
    *,
    scheduler: str = "serial",
    workers: int | None = None,
    fit_spec: str | ModelSpec | None = None,
    cores: int | None = None,
    fork: bool = True,
    progress: bool = True,
    console=None,
) -> SBCResult:
    """Run simulation-based calibration and (with ``out``) write its tables and plots.

    Parameters
    ----------
    spec : str or ModelSpec
        Theory variant (name or TOML path).
    settings : SBCSettings
        Replications, configuration, sampler settings, ``L`` and the seed.
    out : path, optional
        Output directory: ``ranks.csv``, ``reps.csv``, ``uniformity.csv``,
        ``sbc.nc``, ``sbc.json``, ``sbc_ranks.png``, ``sbc_ecdf.png`` (each written atomically).
    scheduler : str
        ``serial``, ``processes`` or ``tcp://HOST:PORT`` (:mod:`walt_bayes.executor`).
    workers : int, optional
        Worker processes of a local cluster.
    fit_spec : str or ModelSpec, optional
        Fit with another spec than the generating one (a mis-specification check).
    cores : int, optional
        Cores per replication (nutpie threads; default: every core in serial mode, 1 on Dask).
    fork : bool
        Compile here and fork the workers of a local cluster from this process
        (default; see the module docstring).  ``False``: spawn bare workers that
        import and compile for themselves (the way remote workers must).
    progress : bool
        Show a progress bar.
    console : rich.console.Console, optional
        Where progress goes.

    Returns
    -------
    SBCResult
    """
    # Not ``with Executor(...)``: that starts a local cluster at once, before the
    # compile that its forked workers are to inherit (:meth:`Executor.start` below).
    with contextlib.closing(
        Executor(scheduler, workers=workers, cores_per_task=cores, fork=fork)
    ) as ex:
        remote = not ex.serial and not ex.fork
        if remote:
            # Workers that cannot be forked from here import PyMC/nutpie while this
            # process simulates and draws from the prior; they compile on their first task.
            ex.warm(REP_MODULES)
        t0 = time.perf_counter()
        setup = prepare(spec, settings, fit_spec)
        tasks = rep_tasks(setup, cores=ex.cores_per_task)
        times = {"prepare_s": round(time.perf_counter() - t0, 2)}
        if not remote:
            # Serially the first replication would compile anyway; for a local cluster
            # this is the one compile, inherited by the workers forked below.
            times["compile_s"] = precompile(tasks)
        outcomes = _run_reps(ex, tasks, times, progress, console)
    result = assemble(setup, outcomes)
    result.times = times
    if out is not None:
        result.files = write_sbc(result, setup, Path(out))
    return result


def _run_reps(ex, tasks: dict[str, dict], times: dict[str, float], progress: bool, console) -> dict:
    """Start the executor and run every replication on it (adds ``start_s``, ``reps_s`` to ``times``)."""
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, disable=not progress, transient=False) as bar:
        t0 = time.perf_counter()
        ex.start(len(tasks))
        times["start_s"] = round(time.perf_counter() - t0, 2)
        job = bar.add_task(f"SBC replications ({ex.describe()})", total=len(tasks))
        t0 = time.perf_counter()
        outcomes = ex.map(run_rep, tasks, on_done=lambda o: bar.advance(job))
        times["reps_s"] = round(time.perf_counter() - t0, 2)
    return outcomes


__all__ = [  # with the names of the modules it is made of, importable from here as before
    "ALPHA",
    "REP_MODULES",
    "_COMPILED",
    "SBCResult",
    "SBCSettings",
    "SBCSetup",
    "assemble",
    "compile_model",
    "named_labels",
    "pit_values",
    "precompile",
    "prepare",
    "rank_bins",
    "rank_of",
    "rep_tasks",
    "run_rep",
    "run_sbc",
    "thin_index",
    "uniformity_table",
    "write_sbc",
]
