"""Pointwise log-likelihood and posterior predictive draws of blocks 1–2, in numpy.

PyMC's ``compute_log_likelihood`` and ``sample_posterior_predictive`` evaluate the
model graph draw by draw; for the embedded panel's 6,000 draws × 16,440 observations
that took ~20 s of the main job.  Here the same quantities come from the posterior
draws with the vectorised formulas of :mod:`walt_bayes.hypotheses.effects`, in chunks
of draws: the Bernoulli-logit log-likelihood of every dispute and alliance outcome
(with the case-control offsets the likelihood has) and one predictive draw of each.
The tests check the log-likelihood against PyMC's on the graph model.

Used for models that :func:`walt_bayes.model.build.can_fuse` covers (no duration or
joining block); the others keep PyMC's forward sampling.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.special import expit

from walt_bayes.hypotheses.effects import CHUNK, LatentOps, alliance_eta, model_draws, source_weight
from walt_bayes.model.design import Design


def _log_expit(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _threat_eta(design: Design, d: dict[str, np.ndarray]) -> np.ndarray:
    theta = sum(source_weight(design, d, s) * design.threat_X[:, s] for s in range(len(design.sources)))
    return d["lambda_0"][:, None] + theta


def pointwise_groups(posterior: xr.Dataset, design: Design, seed: int, chunk: int = CHUNK) -> dict[str, xr.Dataset]:
    """``log_likelihood``, ``posterior_predictive`` and ``observed_data`` of a blocks-1–2 fit.

    Parameters
    ----------
    posterior : xarray.Dataset
        The fit's posterior (chain, draw, …).
    design : Design
        The design the model was built from.
    seed : int
        Integer seed of the predictive draws (the same seed gives the same draws).
    chunk : int
        Draws per vectorised chunk (memory ~ chunk × rows).

    Returns
    -------
    dict of xarray.Dataset
        Variables ``dispute`` (when the model has block 1) and ``alliance``, named and
        dimensioned as the PyMC model's observed variables.
    """
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    draws = model_draws(posterior, design, max_draws=None)
    rng = np.random.default_rng(int(seed))
    ops = LatentOps(design) if design.has_threat and any(design.term_latent) else None
    factors = set(design.term_latent) - {""}
    outcomes: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}  # name -> (dim, y, offset)
    if design.has_threat:
        rows = design.dispute_rows()
        off = np.zeros(len(rows)) if design.dispute_offset is None else np.asarray(design.dispute_offset)
        dim = "threat_obs" if design.dispute_idx is None else "dispute_obs"
        outcomes["dispute"] = (dim, np.asarray(design.threat_y)[rows], off)
    ally_off = np.zeros(len(design.ally_y)) if design.ally_cc_offset is None else np.asarray(design.ally_cc_offset)
    outcomes["alliance"] = ("ally_obs", np.asarray(design.ally_y), ally_off)

    n = draws.n
    loglik = {k: np.empty((n, len(v[1])), dtype=np.float32) for k, v in outcomes.items()}
    predicted = {k: np.empty((n, len(v[1])), dtype=np.int8) for k, v in outcomes.items()}
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        d = draws.chunk(lo, hi)
        eta = {}
        latent = None
        if design.has_threat:
            eta_t = _threat_eta(design, d)
            eta["dispute"] = eta_t[:, design.dispute_rows()]
            if ops is not None:
                latent = ops.factors(ops.prepare(expit(eta_t)), factors)
        eta["alliance"] = alliance_eta(design, d, latent)
        for name, (_, y, off) in outcomes.items():
            e = eta[name] + off[None, :]
            loglik[name][lo:hi] = np.where(y[None, :] == 1, _log_expit(e), _log_expit(-e))
            predicted[name][lo:hi] = rng.random(e.shape) < expit(e)

    def dataset(values: dict[str, np.ndarray], with_draws: bool = True) -> xr.Dataset:
        data = {}
        for name, arr in values.items():
            dim = outcomes[name][0]
            if with_draws:
                data[name] = (("chain", "draw", dim), arr.reshape(n_chain, n_draw, -1))
            else:
                data[name] = ((dim,), arr)
        coords = {outcomes[k][0]: np.arange(len(outcomes[k][1])) for k in values}
        if with_draws:
            coords |= {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
        return xr.Dataset(data, coords=coords)

    return {
        "log_likelihood": dataset(loglik),
        "posterior_predictive": dataset(predicted),
        "observed_data": dataset({k: v[1].astype(np.int8) for k, v in outcomes.items()}, with_draws=False),
    }
