"""Pointwise log-likelihood and posterior predictive draws of blocks 1–3, in numpy.

PyMC's ``compute_log_likelihood`` and ``sample_posterior_predictive`` evaluate the
model graph draw by draw; for the embedded panel's 6,000 draws × 16,440 observations
that took ~20 s of the main job.  Here the same quantities come from the posterior
draws with the vectorised formulas of :mod:`walt_bayes.hypotheses.effects`, in chunks
of draws: the Bernoulli-logit log-likelihood of every dispute, alliance and (with a
duration block) spell-year outcome (``alliance_end``, its ΔS from the same draws' tau),
with the case-control offsets the likelihood has (block 3 has none: spell-years are
not sampled), and one predictive draw of each.  The tests check the log-likelihood
against PyMC's on the graph model.

Used for models that :func:`walt_bayes.model.build.can_fuse` covers (no joining
block); the others keep PyMC's forward sampling.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import xarray as xr
from scipy.special import expit

from walt_bayes.hypotheses.effects import (
    CHUNK,
    LatentOps,
    alliance_eta,
    model_draws,
    stacked,
    threat_eta,
)
from walt_bayes.model.design import Design
from walt_bayes.model.duration import DurationArrays


def _log_expit(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


class DurationEta:
    """Block 3's linear predictor for a chunk of draws (numpy twin of ``duration_block``).

    ``eta = delta_0 + delta_log_duration · log d + Σ delta_term · X + delta_threat_rise · ΔS``,
    ΔS = ``(S[s_now] − S[s_prev]) / dS_scale`` with ``S`` the sum of ``tau[ji] · tau[jk]``
    over the block's triads, as one sparse product per chunk of draws.
    """

    def __init__(self, dur: DurationArrays, posterior: xr.Dataset, index: np.ndarray):
        self.dur = dur
        names = dur.coefficient_names()
        missing = [n for n in names if n not in posterior.data_vars]
        if missing:
            raise KeyError(f"the posterior has no '{missing[0]}' (fit and design disagree)")
        # (draws, coefficients) in coefficient_names order: intercept, log duration, X columns, ΔS.
        self.delta = np.column_stack([stacked(posterior, n, index) for n in names])
        self.fixed = np.column_stack([np.ones(dur.n), dur.log_duration, dur.X.reshape(dur.n, len(dur.terms))])
        if dur.threat_rise:
            n_tri = len(dur.tri_s)
            self.tri = sp.csr_matrix((np.ones(n_tri), (np.arange(n_tri), dur.tri_s)), shape=(n_tri, len(dur.s_keys)))

    def __call__(self, lo: int, hi: int, tau: np.ndarray | None) -> np.ndarray:
        """eta (draws ``lo:hi``, spell-years) given those draws' ``tau`` of every threat row."""
        dur = self.dur
        k = self.fixed.shape[1]
        eta = self.delta[lo:hi, :k] @ self.fixed.T
        if dur.threat_rise:
            S = np.asarray(self.tri.T @ (tau[:, dur.tri_ji] * tau[:, dur.tri_jk]).T).T  # (draws, s_keys)
            eta += self.delta[lo:hi, k:k + 1] * ((S[:, dur.s_now] - S[:, dur.s_prev]) / dur.dS_scale)
        return eta


def pointwise_groups(posterior: xr.Dataset, design: Design, seed: int, chunk: int = CHUNK) -> dict[str, xr.Dataset]:
    """``log_likelihood``, ``posterior_predictive`` and ``observed_data`` of a blocks-1–3 fit.

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
        Variables ``dispute`` (when the model has block 1), ``alliance`` and
        ``alliance_end`` (when the design has spell-years at risk), named and
        dimensioned as the PyMC model's observed variables.

    Raises
    ------
    ValueError
        The design has a joining block (its outcomes come from PyMC).
    """
    if design.joining is not None:
        raise ValueError("pointwise_groups covers blocks 1-3: a design with a joining block needs PyMC's")
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
    dur = design.duration
    duration_eta = None
    if dur is not None and dur.n:  # the graph has no alliance_end without rows
        outcomes["alliance_end"] = ("dur_obs", np.asarray(dur.y), np.zeros(dur.n))
        duration_eta = DurationEta(dur, posterior, draws.index)

    n = draws.n
    loglik = {k: np.empty((n, len(v[1])), dtype=np.float32) for k, v in outcomes.items()}
    predicted = {k: np.empty((n, len(v[1])), dtype=np.int8) for k, v in outcomes.items()}
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        d = draws.chunk(lo, hi)
        eta = {}
        latent = tau = None
        if design.has_threat:
            eta_t = threat_eta(design, d)
            eta["dispute"] = eta_t[:, design.dispute_rows()]
            if ops is not None or (duration_eta is not None and dur.threat_rise):
                tau = expit(eta_t)
            if ops is not None:
                latent = ops.factors(ops.prepare(tau), factors)
        eta["alliance"] = alliance_eta(design, d, latent)
        if duration_eta is not None:
            eta["alliance_end"] = duration_eta(lo, hi, tau)
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
