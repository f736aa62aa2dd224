"""One SBC replication: compile the model once per process, fit the replication, rank its truths.

:func:`run_rep` is what each worker runs (:func:`walt_bayes.calibrate.sbc.run_sbc` sends it the
tasks of :func:`walt_bayes.calibrate.sbc.rep_tasks`).  The nutpie model is compiled once per
process with the outcomes as shared data (:func:`compile_model`) and each replication swaps its
own outcomes in; :func:`precompile` does that compile in the process that forks local workers.
"""

from __future__ import annotations

import os
import threading
import time

import arviz as az
import numpy as np
import pymc as pm
import pytensor
import xarray as xr

from walt_bayes.errors import WaltError
from walt_bayes.executor import one_line, pin_threads
from walt_bayes.fit.diagnostics import named_parameters
from walt_bayes.fit.fresh import fresh_numba_compile
from walt_bayes.spec import parse_spec

#: Compiled models kept per process (one per SBC configuration).
_COMPILED: dict[str, tuple] = {}
#: Held while compiling, so that two threads of one process never compile the same model twice.
_COMPILE_LOCK = threading.Lock()


def named_labels(dataset: xr.Dataset | xr.DataTree) -> dict[str, tuple[str, tuple]]:
    """``label -> (variable, index)`` for every element of every named parameter."""
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


def thin_index(n_total: int, n_ranks: int) -> np.ndarray:
    """Indices of ``n_ranks`` draws spread evenly over ``n_total`` (chain-major) draws.

    Not :func:`walt_bayes.fit.draws.thin_index`: SBC needs exactly ``L`` draws (never fewer,
    nor the last draw forced in), and the recorded ranks were taken with these positions.
    """
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
        A task of :func:`walt_bayes.calibrate.sbc.rep_tasks`; its outcomes are only the shared variables'
        first values (every replication swaps its own in with ``with_data``).

    Returns
    -------
    tuple
        ``(nutpie CompiledPyMCModel, ModelSpec)``.
    """
    import nutpie  # lazy: nutpie imports numba (seconds); see run_rep for the order

    # lazy: walt_bayes.model.build imports numba (walt_bayes.model.fused); see run_rep
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
    t0 = time.perf_counter()
    try:
        _compiled(next(iter(tasks.values())))
    except Exception as err:  # every replication would fail the same way
        raise WaltError(f"sbc: cannot compile the fitted model ({one_line(err)})") from err
    return round(time.perf_counter() - t0, 2)


def run_rep(task: dict) -> dict:
    """Fit one replication and rank its true values (runs in a worker process).

    Parameters
    ----------
    task : dict
        A task of :func:`walt_bayes.calibrate.sbc.rep_tasks`.

    Returns
    -------
    dict
        ``rep``, ``seed``, ``ranks`` / ``post_mean`` / ``post_sd`` (by parameter label)
        and the replication's convergence: ``max_rhat``, ``worst_rhat``,
        ``min_ess_bulk``, ``divergences``, ``wall_s`` and where that time went:
        ``compile_s`` (0 unless this process had to compile the model),
        ``sample_s``, ``post_s`` (ranks and diagnostics), and the process ``pid``.
    """
    # nutpie loads numba: imported first, numba's pool is then limited by pin_threads directly.
    import nutpie  # lazy: nutpie imports numba (seconds), in the worker that samples

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
    result = {"rep": task["rep"], "seed": task["seed"], **_ranks(post, labels, task)}
    result |= _convergence(post, sorted({labels[label][0] for label in task["truth"]}))
    stats = trace["sample_stats"]
    return result | {
        "divergences": int(np.asarray(stats["diverging"]).sum()) if "diverging" in stats else 0,
        "wall_s": round(time.perf_counter() - t0, 2),
        # Where the replication's time went (compile_s > 0: this process compiled the model first).
        "compile_s": round(t_compiled - t0, 2),
        "sample_s": round(t_sampled - t_compiled, 2),
        "post_s": round(time.perf_counter() - t_sampled, 2),
        "pid": os.getpid(),
    }


def _ranks(post: xr.Dataset, labels: dict[str, tuple[str, tuple]], task: dict) -> dict[str, dict]:
    """Rank, posterior mean and SD of every true value, by parameter label."""
    ranks, mean, sd = {}, {}, {}
    for label, truth in task["truth"].items():
        name, idx = labels[label]
        draws = post[name].values[(slice(None), slice(None), *idx)]
        ranks[label] = rank_of(draws, truth, task["ranks"])
        mean[label] = float(draws.mean())
        sd[label] = float(draws.std())
    return {"ranks": ranks, "post_mean": mean, "post_sd": sd}


def _convergence(post: xr.Dataset, names: list[str]) -> dict:
    """The worst R-hat (and its variable) and the smallest bulk ESS over ``names``."""
    rhat = az.rhat(post[names])
    ess = az.ess(post[names], method="bulk")
    rhat_by = {v: float(np.nanmax(rhat[v].values)) for v in names}
    ess_by = {v: float(np.nanmin(ess[v].values)) for v in names}
    worst = max(rhat_by, key=lambda v: -np.inf if np.isnan(rhat_by[v]) else rhat_by[v])
    return {"max_rhat": rhat_by[worst], "worst_rhat": worst, "min_ess_bulk": min(ess_by.values())}
