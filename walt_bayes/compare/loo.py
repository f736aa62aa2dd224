"""PSIS-LOO of the alliance log-likelihood, computed in chunks of observations.

Memory: the pointwise log-likelihood of a global-panel fit (draws × alliance
dyad-years) can be larger than the machine's memory.  PSIS smooths each
observation's importance weights on its own, so LOO is computed exactly, one
chunk of observations at a time, straight from the lazily opened fit file:
each chunk's log-likelihood (at most :data:`CHUNK_BYTES`) is read, passed to
``az.loo`` with the relative efficiency ``r_eff`` computed once from the whole
posterior (the same formula ``az.loo`` uses), and only the pointwise results
(elpd_i, p_i, Pareto k: three numbers per observation) are kept.  No
sub-sampling is involved, so the numbers equal ``az.loo`` on the full array.
``az.loo_subsample`` is not used: in arviz-stats 1.3 it needs the whole
pointwise log-likelihood in memory (it rejects dask-backed arrays).

Time: ArviZ fits each observation's Pareto tail in a Python loop (about 0.7 ms
per observation at 4,000 draws), so a global panel of ~1 M dyad-years takes
about 12 minutes.  Memory: the chunk and ArviZ's temporaries (several times the
chunk), plus a slow growth with the rows (~3.5 KB per row measured by
``benchmarks/bench_compare.py loo-memory``: 1.36 GB peak at 150,000 rows × 4,000
draws).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import logsumexp

from walt_bayes.compare.runs import VAR_NAME, Run

#: Largest slice of pointwise log-likelihood read at once (float64 bytes).  ``az.loo``'s
#: temporaries are many times a chunk: on 150,000 rows × 4,000 draws the peak resident
#: memory was 3.03 GB with 128 MB chunks and 1.26 GB with 32 MB, at the same speed.
CHUNK_BYTES = 32 * 2**20
#: Pareto k above which PSIS-LOO is unreliable (Vehtari et al. 2024).
K_THRESHOLD = 0.7
#: Share of observations with k > 0.7 above which we recommend k-fold.
MANY_BAD_K = 0.01


@dataclass
class Pointwise:
    """Per-row results for one fit, in the fit's alliance row order."""

    elpd_i: np.ndarray
    p_i: np.ndarray
    pareto_k: np.ndarray | None
    n_samples: int
    good_k: float | None
    scheme: str
    extra: dict


def relative_efficiency(posterior: xr.Dataset, n_samples: int) -> float:
    """Mean relative ESS over every posterior value (what ``az.loo`` uses by default)."""
    if posterior.sizes.get("chain", 1) == 1:
        return 1.0
    ess = az.ess(posterior, method="mean")
    values = np.hstack([np.asarray(ess[v].values).ravel() for v in ess.data_vars])
    return float(np.nanmean(values) / n_samples)


def loo_pointwise(run: Run, chunk_bytes: int = CHUNK_BYTES) -> Pointwise:
    """PSIS-LOO of ``run``'s alliance rows, chunk by chunk (see the module docstring)."""
    ll = run.tree["log_likelihood"][VAR_NAME]
    obs_dim = next(d for d in ll.dims if d not in ("chain", "draw"))
    n_obs = ll.sizes[obs_dim]
    n_samples = ll.sizes["chain"] * ll.sizes["draw"]
    reff = relative_efficiency(run.tree["posterior"].to_dataset(), n_samples)
    step = max(1, int(chunk_bytes // (8 * n_samples)))
    elpd_i = np.empty(n_obs)
    p_i = np.empty(n_obs)
    k = np.empty(n_obs)
    good_k = None
    for start in range(0, n_obs, step):
        part = ll.isel({obs_dim: slice(start, start + step)}).load().astype("float64")
        tree = xr.DataTree.from_dict({"log_likelihood": xr.Dataset({VAR_NAME: part})})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # high Pareto k is reported in the table instead
            res = az.loo(tree, pointwise=True, var_name=VAR_NAME, reff=reff)
        sl = slice(start, start + part.sizes[obs_dim])
        elpd_i[sl] = res.elpd_i.values
        k[sl] = res.pareto_k.values
        lpd = logsumexp(
            part.transpose(obs_dim, ...).values.reshape(part.sizes[obs_dim], -1), axis=1
        )
        p_i[sl] = lpd - math.log(n_samples) - res.elpd_i.values
        good_k = res.good_k
        del part, tree, res
    return Pointwise(
        elpd_i=elpd_i,
        p_i=p_i,
        pareto_k=k,
        n_samples=n_samples,
        good_k=good_k,
        scheme="PSIS-LOO (leave one dyad-year out)",
        extra={"chunks": math.ceil(n_obs / step), "r_eff": reff},
    )


def elpd_data(pw: Pointwise, rows: np.ndarray, index: pd.MultiIndex, n_folds: int | None = None):
    """An ArviZ ELPD object for the given rows (the rows every fit shares), for ``az.compare``.

    The totals follow ArviZ's own aggregation: elpd = Σ elpd_i, p = Σ p_i and
    se = √(n·Var(elpd_i)), with ``ddof=1`` as ``az.loo`` and ``ddof=0`` as ``az.loo_kfold``.
    """
    e = pw.elpd_i[rows]
    n = len(e)
    coords = {"obs": np.arange(n)}
    elpd_i = xr.DataArray(e, dims=["obs"], coords=coords, name="elpd_i")
    ddof = 1 if n_folds is None and n > 1 else 0
    common = {
        "elpd": float(e.sum()),
        "se": float(np.sqrt(n * np.var(e, ddof=ddof))),
        "p": float(pw.p_i[rows].sum()),
        "n_samples": pw.n_samples,
        "n_data_points": n,
        "scale": "log",
        "elpd_i": elpd_i,
    }
    if n_folds is None:
        kk = pw.pareto_k[rows]
        pareto_k = xr.DataArray(kk, dims=["obs"], coords=coords, name="pareto_k")
        return az.ELPDDataLOO(
            **common, warning=bool(np.any(kk > pw.good_k)), good_k=pw.good_k, pareto_k=pareto_k
        )
    p_i = xr.DataArray(pw.p_i[rows], dims=["obs"], coords=coords)
    return az.ELPDDataLOOKFold(**common, warning=False, good_k=None, n_folds=n_folds, p_kfold_i=p_i)
