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
:class:`walt_bayes.grid.executor.Executor` (serial, a local Dask cluster, or a
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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from walt_bayes.errors import WaltError
from walt_bayes.spec import ModelSpec, load_spec, parse_spec

#: Significance level of the uniformity tests (Bonferroni-corrected over parameters).
ALPHA = 0.05
#: Compile mode for the one prior predictive draw (a few hundred values: C compile costs more).
QUICK_COMPILE = {"mode": "FAST_COMPILE"}
#: Compiled models kept per process (one per SBC configuration).
_COMPILED: dict[str, tuple] = {}
#: Held while compiling, so that two threads of one process never compile the same model twice.
_COMPILE_LOCK = threading.Lock()
#: Modules a replication needs: imported by remote workers while this process prepares.
REP_MODULES = ["walt_bayes.calibrate.sbc", "walt_bayes.model.build", "nutpie", "arviz"]


@dataclass(frozen=True)
class SBCSettings:
    """One SBC run: the small configuration and the sampler settings of each replication.

    The defaults are the configuration of the parameter-recovery test
    (``tests/test_validation_slow.py``): 10 states × 8 years, 2 chains ×
    300 draws after 400 tuning steps.
    """

    reps: int = 20
    states: int = 10
    years: int = 8
    chains: int = 2
    draws: int = 300
    tune: int = 400
    ranks: int = 99
    seed: int = 0
    covariates: str = "balancing"

    def check(self) -> None:
        """Raise WaltError for settings that cannot run."""
        if self.reps < 2:
            raise WaltError(f"--reps {self.reps}: SBC needs at least 2 replications")
        if self.states < 4 or self.years < 1:
            raise WaltError("--states/--years: need at least 4 states and 1 year")
        if min(self.chains, self.draws, self.tune) < 1:
            raise WaltError("--chains, --draws and --tune must be at least 1")
        if self.seed < 0:
            raise WaltError(f"--seed {self.seed}: seeds must be non-negative integers")
        if not 1 <= self.ranks <= self.chains * self.draws:
            raise WaltError(
                f"--ranks {self.ranks}: must lie in 1..{self.chains * self.draws} "
                f"(the posterior draws per replication, {self.chains} chains × {self.draws})"
            )

    def seeds(self) -> dict[str, int]:
        """Integer seeds of each stage, derived from :attr:`seed`."""
        children = np.random.SeedSequence(int(self.seed)).spawn(3)
        names = ("covariates", "prior", "pit")
        out = {n: int(c.generate_state(1)[0]) for n, c in zip(names, children, strict=True)}
        out["covariates"] = out["covariates"] % 2**31
        return out

    def rep_seed(self, rep: int) -> int:
        """The sampler seed of replication ``rep`` (independent of how many reps run)."""
        return int(np.random.SeedSequence([int(self.seed), 7919, int(rep)]).generate_state(1)[0])


@dataclass
class SBCSetup:
    """Everything the replications share: design, specs, true values and outcomes."""

    settings: SBCSettings
    spec: ModelSpec
    fit_spec: ModelSpec
    design: object
    parameters: list[str]
    truth: pd.DataFrame  # reps × parameters
    outcomes: dict[str, np.ndarray]  # observed variable -> (reps, n)
    key: str = ""
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------ prepare
def named_labels(dataset: xr.Dataset | xr.DataTree) -> dict[str, tuple[str, tuple]]:
    """``label -> (variable, index)`` for every element of every named parameter."""
    from walt_bayes.fit.diagnostics import named_parameters

    out = {}
    for name in named_parameters(dataset):
        da = dataset[name]
        other = [d for d in da.dims if d not in ("chain", "draw")]
        if not other:
            out[name] = (name, ())
            continue
        shape = [da.sizes[d] for d in other]
        for idx in np.ndindex(*shape):
            coord = ",".join(str(da[d].values[i]) for d, i in zip(other, idx, strict=True))
            out[f"{name}[{coord}]"] = (name, idx)
    return out


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
    import pymc as pm

    from walt_bayes.model.build import build_model
    from walt_bayes.model.design import build_design
    from walt_bayes.model.simulate import simulate

    settings.check()
    gen = spec if isinstance(spec, ModelSpec) else load_spec(spec)
    fit = (
        gen
        if fit_spec is None
        else (fit_spec if isinstance(fit_spec, ModelSpec) else load_spec(fit_spec))
    )
    seeds = settings.seeds()
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
    prior_group = prior["prior"].to_dataset()
    # Model order (free variables as declared), not the order of a dict built from a set.
    order = {rv.name: i for i, rv in enumerate(fit_model.free_RVs)}
    found = [(k, v) for k, v in named_labels(prior_group).items() if v[0] in order]
    labels = dict(sorted(found, key=lambda kv: (order[kv[1][0]], kv[1][1])))
    if not labels:
        raise WaltError(
            f"sbc: the fitted spec '{fit.name}' shares no named parameter with '{gen.name}'"
        )
    truth = pd.DataFrame(
        {
            label: prior_group[name]
            .stack(__s__=("chain", "draw"))
            .transpose("__s__", ...)
            .values[(slice(None), *idx)]
            for label, (name, idx) in labels.items()
        }
    )
    truth.index.name = "rep"
    observed = [rv.name for rv in fit_model.observed_RVs]
    outcomes = {
        name: prior["prior_predictive"][name]
        .stack(__s__=("chain", "draw"))
        .transpose("__s__", ...)
        .values
        for name in observed
    }
    key = hashlib.sha256(
        json.dumps(
            [gen.source_text, fit.source_text, asdict(settings) | {"reps": 0}], sort_keys=True
        ).encode()
    ).hexdigest()[:16]
    notes = [
        f"covariates of a {settings.states}-state × {settings.years}-year system simulated once "
        f"({settings.covariates} world, seed {seeds['covariates']}); design constants fixed from that panel",
        "alliance rate over replications: "
        + ", ".join(
            f"{q:.0%}" for q in np.quantile(outcomes["alliance"].mean(axis=1), [0.1, 0.5, 0.9])
        )
        + " (10/50/90% quantiles)",
    ]
    if fit is not gen:
        notes.append(
            f"fitted with spec '{fit.name}', generated with '{gen.name}' (mis-specified on purpose)"
        )
    return SBCSetup(settings, gen, fit, design, list(labels), truth, outcomes, key, notes)


def rep_tasks(setup: SBCSetup, cores: int = 1) -> dict[str, dict]:
    """One picklable task per replication (for :func:`run_rep`)."""
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


# ---------------------------------------------------------------------- replicate
def thin_index(n_total: int, n_ranks: int) -> np.ndarray:
    """Indices of ``n_ranks`` draws spread evenly over ``n_total`` (chain-major) draws."""
    if not 1 <= n_ranks <= n_total:
        raise WaltError(f"cannot thin {n_total} draws to {n_ranks}")
    return np.floor(np.arange(n_ranks) * (n_total / n_ranks)).astype(np.int64)


def rank_of(draws: np.ndarray, truth: float, n_ranks: int) -> int:
    """Rank of ``truth`` among ``n_ranks`` thinned draws: how many draws lie below it (0..L)."""
    flat = np.asarray(draws, dtype=float).reshape(-1)
    return int(np.sum(flat[thin_index(flat.size, n_ranks)] < truth))


def compile_model(task: dict):
    """Compile the nutpie model of a replication's configuration, with the outcomes as shared data.

    Parameters
    ----------
    task : dict
        A task of :func:`rep_tasks`; its outcomes are only the shared variables'
        first values (every replication swaps its own in with ``with_data``).

    Returns
    -------
    tuple
        ``(nutpie CompiledPyMCModel, ModelSpec)``.
    """
    import nutpie
    import pymc as pm
    import pytensor

    from walt_bayes.fit.fresh import fresh_numba_compile
    from walt_bayes.model.build import build_model

    spec = parse_spec(task["fit_spec"], source=task["fit_spec_source"])
    model = build_model(task["design"], spec)
    shared = {
        name: pytensor.shared(np.asarray(y), name=f"sbc_obs_{name}")
        for name, y in task["outcomes"].items()
    }
    model = pm.observe(model, shared)
    with fresh_numba_compile():
        return nutpie.compile_pymc_model(model), spec


def _compiled(task: dict):
    """The nutpie model of this configuration, compiled once per process (see :func:`compile_model`)."""
    with _COMPILE_LOCK:
        if task["key"] not in _COMPILED:
            compiled = compile_model(task)
            _COMPILED.clear()  # one configuration at a time
            _COMPILED[task["key"]] = compiled
        return _COMPILED[task["key"]]


def precompile(tasks: dict[str, dict]) -> float:
    """Compile the replications' model in this process (before local workers are forked from it).

    Returns
    -------
    float
        Seconds spent compiling (0 when this process had the model already).
    """
    from walt_bayes.grid.executor import one_line

    t0 = time.perf_counter()
    try:
        _compiled(next(iter(tasks.values())))
    except Exception as err:  # every replication would fail the same way
        raise WaltError(f"sbc: cannot compile the fitted model ({one_line(err)})") from err
    return round(time.perf_counter() - t0, 2)


def run_rep(task: dict) -> dict:
    """Fit one replication and rank its true values (runs in a worker process).

    Returns
    -------
    dict
        ``rep``, ``seed``, ``ranks`` / ``post_mean`` / ``post_sd`` (by parameter label)
        and the replication's convergence: ``max_rhat``, ``worst_rhat``,
        ``min_ess_bulk``, ``divergences``, ``wall_s`` and where that time went:
        ``compile_s`` (0 unless this process had to compile the model),
        ``sample_s``, ``post_s`` (ranks and diagnostics), and the process ``pid``.
    """
    import arviz as az
    import nutpie

    from walt_bayes.grid.executor import pin_threads

    pin_threads(task["cores"])
    t0 = time.perf_counter()
    compiled, spec = _compiled(task)
    t_compiled = time.perf_counter()
    data = {f"sbc_obs_{name}": np.asarray(y) for name, y in task["outcomes"].items()}
    adaptation = (
        spec.sampler.adaptation if spec.sampler.adaptation in ("diag", "low_rank") else "diag"
    )
    trace = nutpie.sample(
        compiled.with_data(**data),
        draws=task["draws"],
        tune=task["tune"],
        chains=task["chains"],
        cores=min(task["cores"], task["chains"]),
        seed=task["seed"],
        progress_bar=False,
        target_accept=spec.sampler.target_accept,
        adaptation=adaptation,
    )
    t_sampled = time.perf_counter()
    post = trace["posterior"].to_dataset()
    labels = named_labels(post)
    ranks, mean, sd = {}, {}, {}
    for label, truth in task["truth"].items():
        name, idx = labels[label]
        draws = post[name].values[(slice(None), slice(None), *idx)]
        ranks[label] = rank_of(draws, truth, task["ranks"])
        mean[label] = float(draws.mean())
        sd[label] = float(draws.std())
    names = sorted({labels[label][0] for label in task["truth"]})
    rhat = az.rhat(post[names])
    ess = az.ess(post[names], method="bulk")
    rhat_by = {v: float(np.nanmax(rhat[v].values)) for v in names}
    ess_by = {v: float(np.nanmin(ess[v].values)) for v in names}
    stats = trace["sample_stats"]
    worst = max(rhat_by, key=lambda v: -np.inf if np.isnan(rhat_by[v]) else rhat_by[v])
    return {
        "rep": task["rep"],
        "seed": task["seed"],
        "ranks": ranks,
        "post_mean": mean,
        "post_sd": sd,
        "max_rhat": rhat_by[worst],
        "worst_rhat": worst,
        "min_ess_bulk": min(ess_by.values()),
        "divergences": int(np.asarray(stats["diverging"]).sum()) if "diverging" in stats else 0,
        "wall_s": round(time.perf_counter() - t0, 2),
        # Where the replication's time went (compile_s > 0: this process compiled the model first).
        "compile_s": round(t_compiled - t0, 2),
        "sample_s": round(t_sampled - t_compiled, 2),
        "post_s": round(time.perf_counter() - t_sampled, 2),
        "pid": os.getpid(),
    }


# ----------------------------------------------------------------------- analyse
def rank_bins(n_ranks: int, n_reps: int) -> list[np.ndarray]:
    """Bins of the possible ranks ``0..L`` for the chi-square test: about 5+ expected per bin."""
    n_bins = int(max(2, min(n_ranks + 1, n_reps // 5, 20)))
    return np.array_split(np.arange(n_ranks + 1), n_bins)


def uniformity_table(
    ranks: pd.DataFrame, n_ranks: int, seed: int = 0, alpha: float = ALPHA
) -> pd.DataFrame:
    """Uniformity tests of each parameter's ranks.

    Parameters
    ----------
    ranks : pandas.DataFrame
        Replications × parameters, integer ranks in ``0..n_ranks``.
    n_ranks : int
        ``L``, the number of thinned posterior draws each rank was taken among.
    seed : int
        Seed of the randomisation that turns ranks into continuous PIT values.
    alpha : float
        Family-wise level: a parameter is flagged when either test's p-value is
        below ``alpha / (2 × number of parameters)`` (Bonferroni).

    Returns
    -------
    pandas.DataFrame
        One row per parameter: ``n``, ``mean_rank`` (scaled to [0, 1]; 0.5
        expected), ``chi2``, ``df``, ``p_chi2``, ``p_ecdf`` (ArviZ ``pot_c``) and
        ``uniform`` (False when flagged).
    """
    from scipy import stats

    pit = pit_values(ranks, n_ranks, seed)
    ds = xr.Dataset({c: (("chain", "draw"), pit[c].to_numpy()[None, :]) for c in pit.columns})
    p_ecdf = ds.azstats.uniformity_test(dim=["chain", "draw"], method="pot_c")[0]
    bins = rank_bins(n_ranks, len(ranks))
    edges = [b[0] for b in bins] + [n_ranks + 1]
    widths = np.array([len(b) for b in bins], dtype=float) / (n_ranks + 1)
    threshold = alpha / (2 * max(1, ranks.shape[1]))
    rows = []
    for c in ranks.columns:
        r = ranks[c].to_numpy()
        observed = np.histogram(r, bins=edges)[0]
        chi2, p = stats.chisquare(observed, widths * len(r))
        pe = float(p_ecdf[c].values)
        rows.append(
            {
                "parameter": c,
                "n": len(r),
                "mean_rank": float(r.mean() / n_ranks),
                "chi2": float(chi2),
                "df": len(bins) - 1,
                "p_chi2": float(p),
                "p_ecdf": pe,
                "uniform": bool(p >= threshold and pe >= threshold),
            }
        )
    table = pd.DataFrame(rows)
    table.attrs["threshold"] = threshold
    return table


def pit_values(ranks: pd.DataFrame, n_ranks: int, seed: int = 0) -> pd.DataFrame:
    """Randomised PIT values ``(rank + U) / (L + 1)``: exactly uniform on (0, 1) under calibration."""
    rng = np.random.default_rng(int(seed))
    jitter = rng.random(ranks.shape)
    return (ranks + jitter) / (n_ranks + 1)


# ---------------------------------------------------------------------- run + write
@dataclass
class SBCResult:
    """The rank statistics, uniformity tests and per-replication convergence of one SBC run."""

    ranks: pd.DataFrame  # long: rep, parameter, truth, rank, ...
    reps: pd.DataFrame  # one row per replication
    uniformity: pd.DataFrame
    settings: SBCSettings
    notes: list[str]
    files: dict[str, Path] = field(default_factory=dict)
    #: Wall seconds of the run's stages in this process: ``prepare_s``, ``compile_s``
    #: (absent when the workers compile), ``start_s`` (cluster start), ``reps_s``.
    times: dict[str, float] = field(default_factory=dict)


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
        ``serial``, ``processes`` or ``tcp://HOST:PORT`` (:mod:`walt_bayes.grid.executor`).
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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from walt_bayes.grid.executor import Executor

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
    result = assemble(setup, outcomes)
    result.times = times
    if out is not None:
        result.files = write_sbc(result, setup, Path(out))
    return result


def assemble(setup: SBCSetup, outcomes: dict) -> SBCResult:
    """Tables of an SBC run from the replications' outcomes (failed ones are listed, not ranked)."""
    s = setup.settings
    rep_rows, long_rows = [], []
    for key, o in outcomes.items():
        r = int(key[3:])
        if not o.ok:
            rep_rows.append({"rep": r, "seed": s.rep_seed(r), "status": "failed", "error": o.error})
            continue
        v = o.value
        rep_rows.append(
            {
                "rep": r,
                "seed": v["seed"],
                "status": "ok",
                "error": "",
                "max_rhat": v["max_rhat"],
                "worst_rhat": v["worst_rhat"],
                "min_ess_bulk": v["min_ess_bulk"],
                "divergences": v["divergences"],
                "wall_s": v["wall_s"],
                **{k: v.get(k) for k in ("compile_s", "sample_s", "post_s", "pid")},
            }
        )
        for p in setup.parameters:
            long_rows.append(
                {
                    "rep": r,
                    "parameter": p,
                    "truth": float(setup.truth.loc[r, p]),
                    "rank": v["ranks"][p],
                    "n_ranks": s.ranks,
                    "post_mean": v["post_mean"][p],
                    "post_sd": v["post_sd"][p],
                }
            )
    reps = pd.DataFrame(rep_rows)
    ranks = pd.DataFrame(
        long_rows, columns=["rep", "parameter", "truth", "rank", "n_ranks", "post_mean", "post_sd"]
    )
    notes = list(setup.notes)
    n_ok = int((reps["status"] == "ok").sum())
    if n_ok < 2:
        errors = "; ".join(reps.loc[reps["status"] != "ok", "error"].unique()[:3])
        raise WaltError(f"sbc: {len(reps) - n_ok} of {len(reps)} replications failed ({errors})")
    wide = ranks.pivot(index="rep", columns="parameter", values="rank")[setup.parameters]
    uniformity = uniformity_table(wide, s.ranks, seed=s.seeds()["pit"])
    ok = reps[reps["status"] == "ok"]
    notes.append(
        f"{n_ok}/{len(reps)} replications fitted; {int((ok['divergences'] > 0).sum())} with divergences, "
        f"{int((ok['max_rhat'] > 1.01).sum())} with max R-hat > 1.01, "
        f"{int((ok['min_ess_bulk'] < s.ranks).sum())} with min bulk ESS < L = {s.ranks} "
        "(ranks of autocorrelated draws are not uniform even for a correct sampler)"
    )
    if n_ok < len(reps):
        notes.append(f"{len(reps) - n_ok} replications failed (see reps.csv); ranks use the others")
    return SBCResult(ranks, reps, uniformity, s, notes)


def write_sbc(result: SBCResult, setup: SBCSetup, out: Path) -> dict[str, Path]:
    """Write an SBC run's tables, netCDF and plots to ``out`` (each file atomically)."""
    import walt_bayes
    from walt_bayes.atomic import atomic_path
    from walt_bayes.fit.fitfile import library_versions

    out.mkdir(parents=True, exist_ok=True)
    files = {
        name: out / name
        for name in ("ranks.csv", "reps.csv", "uniformity.csv", "sbc.nc", "sbc.json")
    }
    for name, frame in (
        ("ranks.csv", result.ranks),
        ("reps.csv", result.reps),
        ("uniformity.csv", result.uniformity),
    ):
        with atomic_path(files[name]) as tmp:
            frame.to_csv(tmp, index=False)
    s = result.settings
    wide = result.ranks.pivot(index="rep", columns="parameter", values="rank")[setup.parameters]
    pit = pit_values(wide, s.ranks, seed=s.seeds()["pit"])
    reps = wide.index.to_numpy()
    tree = xr.DataTree.from_dict(
        {
            "prior_sbc": xr.Dataset(
                {c: (("chain", "draw"), wide[c].to_numpy()[None, :]) for c in wide.columns},
                coords={"chain": [0], "draw": reps},
            ),
            "pit": xr.Dataset(
                {c: (("chain", "draw"), pit[c].to_numpy()[None, :]) for c in pit.columns},
                coords={"chain": [0], "draw": reps},
            ),
            "truth": xr.Dataset(
                {c: ("rep", setup.truth[c].to_numpy()) for c in setup.parameters},
                coords={"rep": setup.truth.index.to_numpy()},
            ),
        }
    )
    meta = {
        "spec_name": setup.spec.name,
        "spec_toml": setup.spec.source_text,
        "fit_spec_name": setup.fit_spec.name,
        "settings": asdict(s),
        "seeds": s.seeds(),
        "walt_bayes_version": walt_bayes.__version__,
        "versions": library_versions(),
        "notes": result.notes,
    }
    tree.attrs.update({k: json.dumps(v) if not isinstance(v, str) else v for k, v in meta.items()})
    with atomic_path(files["sbc.nc"], suffix=".nc") as tmp:
        tree.to_netcdf(tmp, engine="h5netcdf")
    summary = meta | {
        "uniformity": result.uniformity.to_dict(orient="records"),
        "times": result.times,
    }
    with atomic_path(files["sbc.json"]) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=float))
    files["sbc_ranks.png"] = plot_rank_histograms(
        wide, s.ranks, out / "sbc_ranks.png", result.uniformity
    )
    files["sbc_ecdf.png"] = plot_ecdf_difference(tree, out / "sbc_ecdf.png")
    return files


def plot_rank_histograms(
    wide: pd.DataFrame, n_ranks: int, path: Path, uniformity: pd.DataFrame
) -> Path:
    """Rank histograms (Talts et al. fig. 1 style) with the 99% band of a uniform histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    from walt_bayes.atomic import atomic_path

    bins = rank_bins(n_ranks, len(wide))
    edges = [b[0] for b in bins] + [n_ranks + 1]
    n = len(wide)
    ncols = 4
    nrows = int(np.ceil(wide.shape[1] / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
    p_by = uniformity.set_index("parameter")
    for ax, c in zip(axes.flat, wide.columns, strict=False):
        widths = np.diff(edges)
        expected = n * widths / (n_ranks + 1)
        lo = stats.binom.ppf(0.005, n, widths / (n_ranks + 1))
        hi = stats.binom.ppf(0.995, n, widths / (n_ranks + 1))
        ax.fill_between(
            np.repeat(edges, 2)[1:-1], np.repeat(lo, 2), np.repeat(hi, 2), color="0.85", lw=0
        )
        ax.stairs(np.histogram(wide[c], bins=edges)[0], edges, color="C0", lw=1.5)
        ax.stairs(expected, edges, color="0.4", ls="--", lw=0.8)
        flag = "" if bool(p_by.loc[c, "uniform"]) else "  NON-UNIFORM"
        ax.set_title(f"{c}{flag}", fontsize=8, color="C3" if flag else "black")
        ax.text(
            0.02,
            0.95,
            f"p χ²={p_by.loc[c, 'p_chi2']:.2f}\np ECDF={p_by.loc[c, 'p_ecdf']:.2f}",
            transform=ax.transAxes,
            fontsize=7,
            va="top",
        )
        ax.set_xlim(0, n_ranks + 1)
    for ax in list(axes.flat)[wide.shape[1] :]:
        ax.axis("off")
    fig.suptitle(
        f"SBC rank histograms ({n} replications, L = {n_ranks}); grey: 99% band under uniformity",
        fontsize=10,
    )
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def plot_ecdf_difference(tree: xr.DataTree, path: Path) -> Path | None:
    """ArviZ's Δ-ECDF plot of the randomised PIT values (``az.plot_ecdf_pit``)."""
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from walt_bayes.atomic import atomic_path

    n = len(tree["pit"].data_vars)
    rows = int(np.ceil(n / 4))
    pc = az.plot_ecdf_pit(
        tree,
        group="pit",
        backend="matplotlib",
        figure_kwargs={"figsize": (13, 2.6 * rows), "sharex": True, "sharey": True},
    )
    with atomic_path(path, suffix=".png") as tmp:
        pc.savefig(tmp, dpi=90)
    plt.close("all")
    return path


__all__ = [
    "SBCResult",
    "SBCSettings",
    "SBCSetup",
    "assemble",
    "prepare",
    "rank_of",
    "rep_tasks",
    "run_rep",
    "run_sbc",
    "thin_index",
    "uniformity_table",
    "write_sbc",
]
