"""PSIS-LOO of the alliance outcomes' log-likelihood, computed in chunks of observations.

The rows are those of :class:`walt_bayes.compare.runs.Run`: every dyad-year of a
status fit (``alliance``), and for a fit with a duration block the same
dyad-years scored by ``alliance`` (onset rows) or ``alliance_end`` (continuing
rows).  PSIS works one observation at a time, so the joined result is the two
variables' results put side by side, computed from each variable's columns.

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

from walt_bayes.compare.runs import Run

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


def _chunks(obs: np.ndarray, step: int):
    """Consecutive pieces of ``obs`` (increasing positions); a slice where a piece is contiguous."""
    for start in range(0, len(obs), step):
        piece = obs[start : start + step]
        contiguous = piece[-1] - piece[0] + 1 == len(piece)
        yield start, (slice(int(piece[0]), int(piece[-1]) + 1) if contiguous else piece)


def loo_pointwise(run: Run, chunk_bytes: int = CHUNK_BYTES) -> Pointwise:
    """PSIS-LOO of every row ``run`` is scored on, chunk by chunk (see the module docstring).

    Parameters
    ----------
    run : Run
        An opened fit; its segments say which log-likelihood scores each row.
    chunk_bytes : int
        Largest slice of pointwise log-likelihood read at once.

    Returns
    -------
    Pointwise
        elpd_i, p_i and Pareto k of each row of ``run.keys``.
    """
    post = run.fit.posterior
    n_samples = post.sizes["chain"] * post.sizes["draw"]
    reff = relative_efficiency(post, n_samples)
    step = max(1, int(chunk_bytes // (8 * n_samples)))
    n = len(run.y)
    elpd_i, p_i, k = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    good_k, chunks = None, 0
    for seg in run.segments:
        ll = run.fit.tree["log_likelihood"][seg.var]
        obs_dim = next(d for d in ll.dims if d not in ("chain", "draw"))
        for start, sel in _chunks(seg.obs, step):
            part = ll.isel({obs_dim: sel}).load().astype("float64")
            m = part.sizes[obs_dim]
            tree = xr.DataTree.from_dict({"log_likelihood": xr.Dataset({seg.var: part})})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # high Pareto k is reported in the table instead
                res = az.loo(tree, pointwise=True, var_name=seg.var, reff=reff)
            rows = seg.rows[start : start + m]
            elpd_i[rows] = res.elpd_i.values
            k[rows] = res.pareto_k.values
            lpd = logsumexp(part.transpose(obs_dim, ...).values.reshape(m, -1), axis=1)
            p_i[rows] = lpd - math.log(n_samples) - res.elpd_i.values
            good_k = res.good_k
            chunks += 1
            del part, tree, res
    return Pointwise(
        elpd_i=elpd_i,
        p_i=p_i,
        pareto_k=k,
        n_samples=n_samples,
        good_k=good_k,
        scheme="PSIS-LOO (leave one dyad-year out)",
        extra={"chunks": chunks, "r_eff": reff},
    )


def joined_log_likelihood(run: Run, rows: np.ndarray | None = None) -> xr.DataArray:
    """Pointwise log-likelihood of ``run``'s rows (all, or ``rows``), in memory: (chain, draw, obs).

    Each row's column comes from the variable that scores it (``alliance`` or
    ``alliance_end``), so for a fit with a duration block this is the Markov
    model's log predictive density of each dyad-year's alliance status.  Loads the
    selected columns (k-fold needs them whole; LOO reads chunks instead).
    """
    n = len(run.y)
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    where = np.full(n, -1, dtype=np.int64)
    where[rows] = np.arange(len(rows))
    post = run.fit.tree["posterior"]
    out = np.full((post.sizes["chain"], post.sizes["draw"], len(rows)), np.nan)
    for seg in run.segments:
        pick = where[seg.rows] >= 0
        if not pick.any():
            continue
        ll = run.fit.tree["log_likelihood"][seg.var]
        obs_dim = next(d for d in ll.dims if d not in ("chain", "draw"))
        part = ll.isel({obs_dim: seg.obs[pick]}).transpose("chain", "draw", obs_dim)
        out[:, :, where[seg.rows[pick]]] = part.values
    coords = {"chain": post["chain"].values, "draw": post["draw"].values, "obs": np.arange(len(rows))}
    return xr.DataArray(out, dims=("chain", "draw", "obs"), coords=coords, name="log_lik")


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
