"""Pointwise log-likelihood and posterior predictive draws of blocks 1–3, in numpy.

PyMC's ``compute_log_likelihood`` and ``sample_posterior_predictive`` evaluate the
model graph draw by draw; for the embedded panel's 6,000 draws × 16,440 observations
that took ~20 s of the main job.  Here the same quantities come from the posterior
draws with the model's numpy twin (:mod:`walt_bayes.model.twin`), in chunks
of draws: the Bernoulli-logit log-likelihood of every dispute, alliance and (with a
duration block) spell-year outcome (``alliance_end``, its ΔS from the same draws' tau),
with the case-control offsets the likelihood has (block 3 has none: spell-years are
not sampled), and one predictive draw of each.  The tests check the log-likelihood
against PyMC's on the graph model.

Used for models that :func:`walt_bayes.model.build.can_fuse` covers (no joining
block); the others keep PyMC's forward sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.special import expit

from walt_bayes.fit.twin_draws import Draws, model_draws, stacked
from walt_bayes.model.design import Design
from walt_bayes.model.duration import DurationArrays
from walt_bayes.model.twin import CHUNK, DurationEta, LatentOps, alliance_eta, log_expit, threat_eta


def duration_eta(dur: DurationArrays, posterior: xr.Dataset, index: np.ndarray) -> DurationEta:
    """Block 3's numpy twin with the posterior draws ``index`` of its coefficients.

    Raises
    ------
    KeyError
        The posterior lacks a coefficient of the block (fit and design disagree).
    """
    names = dur.coefficient_names()
    missing = [n for n in names if n not in posterior.data_vars]
    if missing:
        raise KeyError(f"the posterior has no '{missing[0]}' (fit and design disagree)")
    return DurationEta(dur, np.column_stack([stacked(posterior, n, index) for n in names]))


@dataclass
class _Outcome:
    """One observed variable of the model: its dimension, 0/1 outcomes and likelihood offset."""

    dim: str
    y: np.ndarray
    offset: np.ndarray


def _outcomes(design: Design) -> dict[str, _Outcome]:
    """The observed variables the PyMC model of ``design`` has, named as it names them."""
    out: dict[str, _Outcome] = {}
    if design.has_threat:
        rows = design.dispute_rows()
        off = np.zeros(len(rows)) if design.dispute_offset is None else np.asarray(design.dispute_offset)
        dim = "threat_obs" if design.dispute_idx is None else "dispute_obs"
        out["dispute"] = _Outcome(dim, np.asarray(design.threat_y)[rows], off)
    ally_off = np.zeros(len(design.ally_y)) if design.ally_cc_offset is None else np.asarray(design.ally_cc_offset)
    out["alliance"] = _Outcome("ally_obs", np.asarray(design.ally_y), ally_off)
    dur = design.duration
    if dur is not None and dur.n:  # the graph has no alliance_end without rows
        # Block 3 has no offset: spell-years are not sampled.
        out["alliance_end"] = _Outcome("dur_obs", np.asarray(dur.y), np.zeros(dur.n))
    return out


class _ChunkEta:
    """The linear predictor of every outcome for one chunk of draws."""

    def __init__(self, design: Design, posterior: xr.Dataset, draws: Draws, with_duration: bool):
        self.design = design
        self.ops = LatentOps(design) if design.has_threat and any(design.term_latent) else None
        self.factors = set(design.term_latent) - {""}
        self.duration = duration_eta(design.duration, posterior, draws.index) if with_duration else None
        # tau is needed for the latent factors and for block 3's change in shared threat.
        self.need_tau = self.ops is not None or (self.duration is not None and design.duration.threat_rise)

    def __call__(self, d: dict[str, np.ndarray], lo: int, hi: int) -> dict[str, np.ndarray]:
        design = self.design
        eta = {}
        latent = tau = None
        if design.has_threat:
            eta_t = threat_eta(design, d)
            eta["dispute"] = eta_t[:, design.dispute_rows()]
            if self.need_tau:
                tau = expit(eta_t)
            if self.ops is not None:
                latent = self.ops.factors(self.ops.prepare(tau), self.factors)
        eta["alliance"] = alliance_eta(design, d, latent)
        if self.duration is not None:
            eta["alliance_end"] = self.duration(lo, hi, tau)
        return eta


def _datasets(posterior: xr.Dataset, outcomes: dict[str, _Outcome], loglik: dict[str, np.ndarray],
              predicted: dict[str, np.ndarray]) -> dict[str, xr.Dataset]:
    """The three groups, dimensioned as the PyMC model's observed variables."""
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]

    def dataset(values: dict[str, np.ndarray], with_draws: bool = True) -> xr.Dataset:
        data = {}
        for name, arr in values.items():
            dim = outcomes[name].dim
            if with_draws:
                data[name] = (("chain", "draw", dim), arr.reshape(n_chain, n_draw, -1))
            else:
                data[name] = ((dim,), arr)
        coords = {outcomes[k].dim: np.arange(len(outcomes[k].y)) for k in values}
        if with_draws:
            coords |= {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
        return xr.Dataset(data, coords=coords)

    return {
        "log_likelihood": dataset(loglik),
        "posterior_predictive": dataset(predicted),
        "observed_data": dataset({k: v.y.astype(np.int8) for k, v in outcomes.items()}, with_draws=False),
    }


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
    draws = model_draws(posterior, design, max_draws=None)
    rng = np.random.default_rng(int(seed))
    outcomes = _outcomes(design)
    chunk_eta = _ChunkEta(design, posterior, draws, "alliance_end" in outcomes)
    n = draws.n
    loglik = {k: np.empty((n, len(v.y)), dtype=np.float32) for k, v in outcomes.items()}
    predicted = {k: np.empty((n, len(v.y)), dtype=np.int8) for k, v in outcomes.items()}
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        eta = chunk_eta(draws.chunk(lo, hi), lo, hi)
        # One uniform per outcome and draw, in this order: the seed fixes every predictive draw.
        for name, o in outcomes.items():
            e = eta[name] + o.offset[None, :]
            loglik[name][lo:hi] = np.where(o.y[None, :] == 1, log_expit(e), log_expit(-e))
            predicted[name][lo:hi] = rng.random(e.shape) < expit(e)
    return _datasets(posterior, outcomes, loglik, predicted)
