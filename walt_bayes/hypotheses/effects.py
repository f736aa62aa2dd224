"""Average marginal effects (AMEs) over the observed alliance rows, from posterior draws.

Everything here is numpy, vectorised over posterior draws in chunks, on the model's numpy twin
(:mod:`walt_bayes.model.twin`: threat probabilities, latent factors, the alliance linear
predictor), with the draws of :func:`walt_bayes.fit.twin_draws.model_draws`.  With a case-control
sample (:mod:`walt_bayes.model.casecontrol`) the linear predictor stays on the population scale and
averages over rows weight the kept non-allied rows by ``1 / r0``.  The twin's names
(:func:`alliance_eta`, :class:`LatentOps`, :func:`model_draws`, …) are re-exported here for the
callers that still import them from this module.

Marginal effects of the threat inputs
-------------------------------------
Threat reaches the alliance equation through the threat probabilities ``tau`` in three latent
factors: shared threat ``S`` (and its persistent part), partner threat ``B`` and total threat faced
``T``.  Raising the standardised threat input of source ``s`` (power, proximity, offense or intent)
moves ``tau`` by ``dtau/dx = tau (1 - tau) beta[g, s]`` and so moves each factor.  The *path*
through one factor holds the others at their values:

- ``S`` path (balancing: more threat from third states ``j`` → more alliances among the states ``j``
  threatens): ``dS = sum_j M (dtau_ji tau_jk + tau_ji dtau_jk)``, exact (``S`` is bilinear in ``tau``);
- ``B`` path (bandwagoning: more threat from ``k`` → more alliances with ``k``): ``dB = dtau[k→i]``;
- ``T`` path (total threat faced, through the ideology/aid interactions).

The derivatives are analytic (no step size): per draw and row,
``d eta / dx = sum_t gamma_t * observed_t * dL_t / scale_t`` over the terms ``t`` whose latent factor
``L_t`` lies on the path, and the AME is ``mean_rows p (1 - p) d eta / dx`` — the change in the
probability of alliance per standard deviation of the input, averaged over the observed rows.  The
tests check it against central finite differences of :meth:`Design.latent_factors`.

Marginal effects of observed inputs
-----------------------------------
For an observed input ``F`` (regime similarity, aid, penetration) the effect sums every term that
contains ``F`` (its main term and interactions), so it is the identified effect even when an
interaction is constant in the panel.  Continuous inputs (standardised): derivative per SD.  Binary
inputs: the average discrete change ``P(F = 1) - P(F = 0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.special import expit

from walt_bayes.fit.twin_draws import MAX_DRAWS, Draws, model_draws, n_samples, stacked
from walt_bayes.model.design import BINARY_FACTORS, Design
from walt_bayes.model.twin import (
    CHUNK,
    LatentOps,
    alliance_eta,
    alliance_loglik,
    source_weight,
    threat_eta,
    threat_tau,
)
from walt_bayes.spec import ALLIANCE_TERMS, LATENT_FACTORS

#: Paths by which threat reaches the alliance equation, and the latent factors on each.
PATHS: dict[str, tuple[str, ...]] = {"S": ("S", "S_persistent"), "B": ("B",), "T": ("T",)}
#: Observed inputs with an average marginal effect: factor -> its main term.
OBSERVED_INPUTS: dict[str, str] = {"ideo_sim": "ideology", "aid": "aid", "penetration": "penetration"}

__all__ = [
    "CHUNK",
    "MAX_DRAWS",
    "OBSERVED_INPUTS",
    "PATHS",
    "Draws",
    "Effect",
    "Effects",
    "LatentOps",
    "alliance_eta",
    "alliance_loglik",
    "model_draws",
    "n_samples",
    "source_weight",
    "stacked",
    "threat_eta",
    "threat_tau",
]


# ------------------------------------------------------------------------- effects
@dataclass
class Effect:
    """Per-draw average marginal effect and the mean of ``p (1 - p)`` over the rows it averages."""

    draws: np.ndarray
    weight: float  # posterior mean of mean_rows p(1-p): scales a log-odds ROPE to probability
    rows: int


def _observed_factors(term: str) -> list[str]:
    return [f for f in ALLIANCE_TERMS[term] if f not in LATENT_FACTORS]


def _input_slopes(design: Design, factor: str) -> dict[int, np.ndarray] | None:
    """For each term containing observed input ``factor``: d(observed column)/d(factor), per row.

    Terms are products of factors, linear in each, so the slope is the product of the term's other
    observed factors: 1 when ``factor`` is its only observed factor, else its column divided by the
    main term's column (rows where the main column is 0 take the mean of the other rows).
    """
    main = OBSERVED_INPUTS[factor]
    if main not in design.terms:
        return None
    base = design.term_observed[:, design.terms.index(main)]
    slopes = {}
    for t, term in enumerate(design.terms):
        obs = _observed_factors(term)
        if factor not in obs:
            continue
        if obs == [factor]:
            slopes[t] = np.ones(len(base))
            continue
        col = design.term_observed[:, t]
        ok = np.abs(base) > 1e-12
        other = np.where(ok, col / np.where(ok, base, 1.0), np.nan)
        slopes[t] = np.where(ok, other, np.nanmean(other) if ok.any() else 0.0)
    return slopes


class Effects:
    """Average marginal effects and attribution shares for one fit, computed in one vectorised pass.

    Parameters
    ----------
    design : Design
        The fit's design (with ``ally_y`` from the observed data).
    post : xarray.Dataset
        The posterior.
    max_draws : int, optional
        Thin to at most this many draws (evenly spaced over chains and draws).
    """

    def __init__(self, design: Design, post: xr.Dataset, max_draws: int | None = MAX_DRAWS):
        self.design = design
        self.draws = model_draws(post, design, max_draws)
        self._results: dict[tuple, Effect] | None = None
        # Case-control samples: average rows as the population would (kept zeros count 1/r0).
        self._weights = design.population_weights()

    def _average(self, values: np.ndarray, rows=slice(None)) -> np.ndarray:
        """Mean over alliance rows (axis 1), weighted by population weights when rows were sampled."""
        if self._weights is None:
            return values[:, rows].mean(axis=1)
        w = self._weights[rows]
        return values[:, rows] @ (w / w.sum())

    def get(self, key: tuple) -> Effect | None:
        """The effect ``key`` (None where the fit has none), computing every effect on first use.

        Keys: ``("threat", source, path, "all" | "powerful")``, ``("input", factor)``,
        ``("share",)``.
        """
        if self._results is None:
            self._results = self._compute()
        return self._results.get(key)

    @property
    def note(self) -> str:
        """How the effects were computed (draws used, rows averaged), for the table's notes."""
        text = (
            f"marginal effects from {self.draws.n} of {self.draws.n_total} posterior draws "
            f"(evenly thinned), averaged over {len(self.design.ally_keys):,} alliance rows"
        )
        if self._weights is not None:
            text += " (a case-control sample: population probabilities, non-allied rows weighted by 1/r0)"
        return text

    def powerful_mask(self) -> np.ndarray | None:
        """Threat rows whose source is in the top half of the power composite (BAL-3/BW-3)."""
        d = self.design
        if not d.has_threat or "power" not in d.sources:
            return None
        x = d.threat_X[:, d.sources.index("power")]
        return x > np.median(x)

    def _compute(self) -> dict[tuple, Effect]:
        """Every effect of the fit, one vectorised pass per chunk of draws."""
        plan = _plan(self.design, self.powerful_mask())
        acc: dict[tuple, list] = {}  # key -> per-chunk AME draws
        wsum: dict[tuple, list] = {}  # key -> per-chunk mean p(1 - p) over the key's rows
        for lo in range(0, self.draws.n, CHUNK):
            chunk = _evaluate(self.design, plan, self.draws.chunk(lo, min(lo + CHUNK, self.draws.n)))
            for key, ame, weight in self._chunk_effects(plan, chunk):
                acc.setdefault(key, []).append(ame)
                wsum.setdefault(key, []).append(weight)
        return {
            key: Effect(draws=np.concatenate(parts), weight=float(np.mean(np.concatenate(wsum[key]))),
                        rows=plan.rows_used(key, len(self.design.ally_keys)))
            for key, parts in acc.items()
        }

    def _chunk_effects(self, plan: _Plan, chunk: _Chunk):
        """``(key, AME draws, mean p(1 - p) draws)`` of every effect for one chunk of draws."""
        for req in plan.threat:
            yield self._threat_effect(plan, chunk, req)
        for key, factor, slopes in plan.inputs:
            yield key, self._input_effect(chunk, factor, slopes), self._average(chunk.pq)
        if plan.do_share:
            share = _attribution_share(self.design, plan, chunk)
            yield ("share",), share, np.zeros(len(share))

    def _threat_effect(self, plan: _Plan, chunk: _Chunk, req: _ThreatRequest):
        """AME of raising one threat source (on some threat rows) through the factors of one path."""
        d = self.design
        key, s, tmask, rmask, path = req
        if s not in chunk.weights:
            chunk.weights[s] = chunk.slope * source_weight(d, chunk.draws, s)
        dtau = chunk.weights[s] if tmask is None else chunk.weights[s] * tmask
        facs = plan.needed & set(PATHS[path])
        deriv = plan.ops.derivatives(chunk.base, dtau, facs)
        deta = np.zeros_like(chunk.eta)
        for t, f in plan.latent_terms:
            if f in facs:
                deta += chunk.gam[t] * d.term_observed[:, t] * deriv[f]
        sel = slice(None) if rmask is None else rmask
        return key, self._average(chunk.pq * deta, sel), self._average(chunk.pq, sel)

    def _input_effect(self, chunk: _Chunk, factor: str, slopes: dict[int, np.ndarray]) -> np.ndarray:
        """AME of an observed input: a derivative per SD, or a binary input's switch-on change."""
        d = self.design
        change = np.zeros_like(chunk.eta)  # d eta / d factor (per unit), or the switch-on change
        current = np.zeros_like(chunk.eta)
        for t, rate in slopes.items():
            f = d.term_latent[t]
            lat = chunk.latent[f] if f else 1.0
            change += chunk.gam[t] * rate * lat
            current += chunk.gam[t] * d.term_observed[:, t] * lat
        if factor in BINARY_FACTORS:
            eta_off = chunk.eta - current
            return self._average(expit(eta_off + change) - expit(eta_off))
        return self._average(chunk.pq * change)


#: (key, source index, threat-row mask or None, alliance-row mask or None, path)
_ThreatRequest = tuple[tuple, int, np.ndarray | None, np.ndarray | None, str]


@dataclass
class _Plan:
    """What :meth:`Effects._compute` computes for a design, decided once before the draws."""

    latent_terms: list[tuple[int, str]]  # (term index, latent factor) of the latent terms
    needed: set[str]  # latent factors the alliance equation uses
    ops: LatentOps | None  # None without a threat block or latent terms
    y1: np.ndarray  # observed alliances (the attribution share averages over them)
    threat: list[_ThreatRequest]
    inputs: list[tuple[tuple, str, dict[int, np.ndarray]]]  # (key, factor, slopes)
    share_terms: dict[str, list[tuple[int, str]]]  # "S"/"B" -> its latent terms
    do_share: bool

    def rows_used(self, key: tuple, n_rows: int) -> int:
        """The alliance rows the effect ``key`` averages over."""
        n_used = n_rows
        for k, _s, _tm, rmask, _p in self.threat:
            if k == key and rmask is not None:
                n_used = int(np.sum(rmask))
        if key == ("share",):
            n_used = int(self.y1.sum())
        return n_used


def _threat_requests(d: Design, needed: set[str], powerful: np.ndarray | None) -> list[_ThreatRequest]:
    """Every source through every path the equation has, and BAL-3/BW-3's powerful proximity."""
    partner_powerful = powerful[d.partner_idx] if powerful is not None and d.partner_idx is not None else None
    out = []
    for s, source in enumerate(d.sources):
        for path in PATHS:
            if needed & set(PATHS[path]):
                out.append((("threat", source, path, "all"), s, None, None, path))
    if powerful is not None and "proximity" in d.sources:
        s = d.sources.index("proximity")
        for path in PATHS:
            if needed & set(PATHS[path]):
                rows = partner_powerful if path == "B" else None
                out.append((("threat", "proximity", path, "powerful"), s, powerful, rows, path))
    return out


def _plan(d: Design, powerful: np.ndarray | None) -> _Plan:
    """The effects a design has: threat sources × paths, observed inputs, the attribution share."""
    latent_terms = [(t, f) for t, f in enumerate(d.term_latent) if f]
    needed = {f for _, f in latent_terms}
    ops = LatentOps(d) if d.has_threat and needed else None
    y1 = np.asarray(d.ally_y) == 1
    threat = _threat_requests(d, needed, powerful) if ops is not None else []
    inputs = []
    for factor in OBSERVED_INPUTS:
        slopes = _input_slopes(d, factor)
        if slopes:
            inputs.append((("input", factor), factor, slopes))
    share_terms = {p: [(t, f) for t, f in latent_terms if f in PATHS[p]] for p in ("S", "B")}
    do_share = ops is not None and share_terms["S"] and share_terms["B"] and y1.any()
    return _Plan(latent_terms, needed, ops, y1, threat, inputs, share_terms, do_share)


@dataclass
class _Chunk:
    """The model evaluated at one chunk of draws: what every effect of the chunk reads."""

    draws: dict[str, np.ndarray]
    latent: dict[str, np.ndarray]
    base: dict | None  # LatentOps.prepare of the chunk's tau
    slope: np.ndarray | None  # dtau/dx per unit of threat weight: tau (1 - tau)
    eta: np.ndarray
    pq: np.ndarray  # p (1 - p)
    gam: dict[int, np.ndarray]  # gamma of each term per SD of its standardised column
    weights: dict[int, np.ndarray]  # source -> slope * beta[g, s], filled on first use


def _evaluate(d: Design, plan: _Plan, c: dict[str, np.ndarray]) -> _Chunk:
    """Threat, latent factors and the alliance equation at the draws ``c``."""
    latent, base, slope = {}, None, None
    if plan.ops is not None:
        tau = threat_tau(d, c)
        base = plan.ops.prepare(tau)
        latent = plan.ops.factors(base, plan.needed)
        slope = tau * (1 - tau)
    eta = alliance_eta(d, c, latent)
    p = expit(eta)
    gam = {t: c[f"gamma_{d.terms[t]}"][:, None] / d.term_scale[t] for t in range(len(d.terms))}
    return _Chunk(c, latent, base, slope, eta, p * (1 - p), gam, {})


def _attribution_share(d: Design, plan: _Plan, chunk: _Chunk) -> np.ndarray:
    """COND-1's share per draw: (S − B) / (S + B) of the positive threat contributions to the
    log-odds of the observed alliances."""
    y1 = plan.y1
    contrib = {}
    for path, terms in plan.share_terms.items():
        total = np.zeros((chunk.eta.shape[0], int(y1.sum())))
        for t, f in terms:
            total += chunk.gam[t] * d.term_observed[y1, t] * chunk.latent[f][:, y1]
        contrib[path] = np.clip(total, 0, None).sum(axis=1)
    denom = contrib["S"] + contrib["B"]
    return np.where(denom > 0, (contrib["S"] - contrib["B"]) / np.where(denom > 0, denom, 1), 0.0)
