"""Posterior quantities that need the model's design: the alliance linear predictor from posterior
draws, and average marginal effects (AMEs) over the observed alliance rows.

Everything here is numpy, vectorised over posterior draws in chunks, and reproduces what the PyMC
model (:mod:`walt_bayes.model.build`) computes: :func:`alliance_eta` gives the alliance equation's
linear predictor for given draws (its Bernoulli log-likelihood equals the fit's pointwise
``log_likelihood["alliance"]``; the tests check this).  With a case-control sample
(:mod:`walt_bayes.model.casecontrol`) the linear predictor stays on the population scale (no
case-control offset; :func:`alliance_loglik` adds it) and averages over rows weight the kept
non-allied rows by ``1 / r0``.

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

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import xarray as xr
from scipy.special import expit

from walt_bayes.fit.draws import stack_draws, thin_index
from walt_bayes.model.design import BINARY_FACTORS, Design
from walt_bayes.spec import ALLIANCE_TERMS, LATENT_FACTORS

#: Default number of posterior draws used for marginal effects (evenly thinned).
MAX_DRAWS = 1000
#: Draws per vectorised chunk.
CHUNK = 200
#: Paths by which threat reaches the alliance equation, and the latent factors on each.
PATHS: dict[str, tuple[str, ...]] = {"S": ("S", "S_persistent"), "B": ("B",), "T": ("T",)}
#: Observed inputs with an average marginal effect: factor -> its main term.
OBSERVED_INPUTS: dict[str, str] = {"ideo_sim": "ideology", "aid": "aid", "penetration": "penetration"}


def _log_expit(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


# ----------------------------------------------------------------------------- draws
def stacked(post: xr.Dataset, name: str, index: np.ndarray | None = None) -> np.ndarray:
    """Draws of ``name`` as float, chain and draw stacked into the leading axis (optionally a subset)."""
    return np.asarray(stack_draws(post[name], index), dtype=float)


def n_samples(post: xr.Dataset) -> int:
    return int(post.sizes["chain"] * post.sizes["draw"])


# ---------------------------------------------------------------------- latent (numpy)
class LatentOps:
    """Latent threat factors and their directional derivatives, vectorised over draws.

    Numerically the same as :meth:`Design.latent_factors` (tested), but with batched matrix
    products for the dense layout and sparse matrices for the triads, only the factors asked for,
    and the pieces shared between factors and derivatives computed once per batch of draws
    (:meth:`prepare`).
    """

    def __init__(self, design: Design):
        self.design = design
        n = len(design.ally_keys)
        self.n = n
        self.dense = design.dense
        if self.dense is not None:
            lay = self.dense
            shape = (lay.n_years, lay.n_states, lay.n_states)
            self._shape = shape
            self._threat_flat = np.ravel_multi_index((lay.threat_t, lay.threat_j, lay.threat_i), shape)
            self._ally_flat = np.ravel_multi_index((lay.ally_t, lay.ally_i, lay.ally_k), shape)
            self._ally_flat_t = np.ravel_multi_index((lay.ally_t, lay.ally_k, lay.ally_i), shape)
            nr = np.asarray(lay.not_relevant, dtype=float)
            npers = np.asarray(lay.not_persistent, dtype=float)
            # S = G(1) - G(NR);  S_persistent = S - G(NP) + G(NR * NP)   (see walt_bayes.model.dense)
            self._masks = {"NR": nr, "NP": npers, "NRNP": nr * npers}
            # Derivatives (marginal effects) use single precision: ~1e-7 relative error, half the
            # memory traffic; the factors themselves stay in double precision.
            self._masks32 = {k: m.astype(np.float32) for k, m in self._masks.items()}
        else:
            n_tri = len(design.triad_ally)
            ones = np.ones(n_tri)
            self._tri = sp.csr_matrix((ones, (design.triad_ally, np.arange(n_tri))), shape=(n, n_tri))
            pers = np.asarray(design.triad_persistent, dtype=float)
            self._tri_pers = sp.csr_matrix((pers, (design.triad_ally, np.arange(n_tri))), shape=(n, n_tri))
        n_threat = len(design.threat_keys)
        self._sy = sp.csr_matrix(
            (np.ones(n_threat), (design.threat_sy, np.arange(n_threat))), shape=(design.n_state_years, n_threat)
        )

    # ------------------------------------------------------------------ dense helpers
    def _tau_matrix(self, tau: np.ndarray, dtype=float) -> np.ndarray:
        out = np.zeros((tau.shape[0], int(np.prod(self._shape))), dtype=dtype)
        out[:, self._threat_flat] = tau
        return out.reshape(tau.shape[0], *self._shape)

    def prepare(self, tau: np.ndarray) -> dict:
        """Per-batch pieces reused by :meth:`factors` and :meth:`derivatives`."""
        tau = np.atleast_2d(tau)
        base = {"tau": tau}
        if self.dense is not None:
            X = self._tau_matrix(tau)
            base["X"] = {None: X, **{k: X * m for k, m in self._masks.items()}}
        return base

    def _single(self, base: dict) -> dict:
        if "X32" not in base:
            base["X32"] = {k: v.astype(np.float32) for k, v in base["X"].items()}
        return base["X32"]

    def _rows(self, gram: np.ndarray, symmetric: bool) -> np.ndarray:
        flat = gram.reshape(gram.shape[0], -1)
        out = flat[:, self._ally_flat].astype(float)
        return out + flat[:, self._ally_flat_t] if symmetric else out

    def _dense_shared(self, X: dict, Y: dict, needed: set[str], symmetric: bool) -> dict[str, np.ndarray]:
        def gram(key):
            return np.matmul(X[key].transpose(0, 1, 3, 2), Y[key])

        out = {}
        g = gram(None) - gram("NR")
        if "S" in needed:
            out["S"] = self._rows(g, symmetric)
        if "S_persistent" in needed:
            out["S_persistent"] = self._rows(g - gram("NP") + gram("NRNP"), symmetric)
        return out

    # ------------------------------------------------------------------ public
    def shared(self, tau: np.ndarray, factor: str = "S") -> np.ndarray:
        """S (or S_persistent) for each draw (rows of ``tau``) and alliance row."""
        return self.factors(self.prepare(tau), {factor})[factor]

    def shared_derivative(self, tau: np.ndarray, dtau: np.ndarray, factor: str = "S") -> np.ndarray:
        """Directional derivative of S (or S_persistent) along ``dtau`` (exact: S is bilinear)."""
        return self.derivatives(self.prepare(tau), dtau, {factor})[factor]

    def partner(self, tau: np.ndarray) -> np.ndarray:
        return np.atleast_2d(tau)[:, self.design.partner_idx]

    def total(self, tau: np.ndarray) -> np.ndarray:
        """T: total threat faced by i (linear in tau, so also its own derivative)."""
        per_sy = np.asarray((self._sy @ np.atleast_2d(tau).T).T)
        return per_sy[:, self.design.ally_sy]

    def _sparse_shared(self, prod: np.ndarray, needed: set[str]) -> dict[str, np.ndarray]:
        out = {}
        if "S" in needed:
            out["S"] = np.asarray((self._tri @ prod.T).T)
        if "S_persistent" in needed:
            out["S_persistent"] = np.asarray((self._tri_pers @ prod.T).T)
        return out

    def factors(self, base: dict, needed: set[str]) -> dict[str, np.ndarray]:
        """The latent factors in ``needed`` at the prepared threat probabilities."""
        tau = base["tau"]
        out = {}
        shared = needed & {"S", "S_persistent"}
        if shared:
            if self.dense is not None:
                out.update(self._dense_shared(base["X"], base["X"], shared, symmetric=False))
            else:
                d = self.design
                out.update(self._sparse_shared(tau[:, d.triad_ji] * tau[:, d.triad_jk], shared))
        if "B" in needed:
            out["B"] = self.partner(tau)
        if "T" in needed:
            out["T"] = self.total(tau)
        return out

    def derivatives(self, base: dict, dtau: np.ndarray, needed: set[str]) -> dict[str, np.ndarray]:
        """Directional derivatives of the factors in ``needed`` along ``dtau``."""
        tau = base["tau"]
        dtau = np.atleast_2d(dtau)
        out = {}
        shared = needed & {"S", "S_persistent"}
        if shared:
            if self.dense is not None:
                Y = self._tau_matrix(dtau, np.float32)
                Ym = {None: Y, **{k: Y * m for k, m in self._masks32.items()}}
                out.update(self._dense_shared(self._single(base), Ym, shared, symmetric=True))
            else:
                d = self.design
                prod = dtau[:, d.triad_ji] * tau[:, d.triad_jk] + tau[:, d.triad_ji] * dtau[:, d.triad_jk]
                out.update(self._sparse_shared(prod, shared))
        if "B" in needed:
            out["B"] = self.partner(dtau)
        if "T" in needed:
            out["T"] = self.total(dtau)
        return out


# ------------------------------------------------------------------- posterior pieces
@dataclass
class Draws:
    """The posterior draws the alliance and threat equations need, stacked and thinned."""

    n_total: int
    index: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.index)

    def chunk(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        return {k: v[lo:hi] for k, v in self.values.items()}


def model_draws(post: xr.Dataset, design: Design, max_draws: int | None = MAX_DRAWS) -> Draws:
    """Collect the stacked, thinned draws of every parameter of blocks 1–2 that the design uses."""
    n_total = n_samples(post)
    index = thin_index(n_total, max_draws)
    names = ["mu_alpha"] + [f"gamma_{t}" for t in design.terms] + [f"control_{c}" for c in design.control_names]
    optional = ["dyad_effect", "sigma_dyad", "z_dyad", "sigma_alpha", "z_alpha", "sigma_year", "z_year",
                "year_effect"]
    if design.has_threat:
        names += ["lambda_0"] + [f"beta_{s}" for s in design.sources]
        if design.source_states:
            names.append("source_effect")
        optional += ["beta"]
    missing = [n for n in names if n not in post.data_vars]
    if missing:
        raise KeyError(f"the posterior has no '{missing[0]}' (fit and design disagree)")
    values = {n: stacked(post, n, index) for n in names + [o for o in optional if o in post.data_vars]}
    if "beta" in values:
        # (draw, threat_group, source) in the design's source order.
        da = post["beta"]
        if "source" in da.dims:
            order = [list(map(str, da["source"].values)).index(s) for s in design.sources]
            dims = [d for d in da.dims if d not in ("chain", "draw")]
            values["beta"] = values["beta"].take(order, axis=1 + dims.index("source"))
            if dims.index("source") == 0:
                values["beta"] = values["beta"].transpose(0, 2, 1)
    return Draws(n_total=n_total, index=index, values=values)


def source_weight(design: Design, d: dict[str, np.ndarray], s: int) -> np.ndarray:
    """Per-row threat weight ``beta[g(row), s]`` of source ``s`` for each draw: (draws, n_threat)."""
    if "beta" in d and d["beta"].ndim == 3 and d["beta"].shape[1] == len(design.threat_groups):
        return d["beta"][:, :, s][:, design.threat_group]
    return np.repeat(d[f"beta_{design.sources[s]}"][:, None], len(design.threat_keys), axis=1)


def threat_eta(design: Design, d: dict[str, np.ndarray], X: np.ndarray | None = None) -> np.ndarray:
    """Threat logits ``lambda_0 + X · beta[g] (+ source intercept)`` (draws, n_threat) from draws ``d``."""
    X = design.threat_X if X is None else X
    theta = sum(source_weight(design, d, s) * X[:, s] for s in range(len(design.sources)))
    eta = d["lambda_0"][:, None] + theta
    if design.source_states:
        eta = eta + d["source_effect"][:, design.threat_src]
    return eta


def threat_tau(design: Design, d: dict[str, np.ndarray], X: np.ndarray | None = None) -> np.ndarray:
    """Threat probabilities ``tau`` (draws, n_threat) from posterior draws (block 1)."""
    return expit(threat_eta(design, d, X))


def alliance_eta(design: Design, d: dict[str, np.ndarray], latent: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Linear predictor of the alliance equation (draws, n_ally) for posterior draws ``d``.

    Parameters
    ----------
    design : Design
        The fit's design.
    d : dict
        Stacked draws (``model_draws(...).values`` or a chunk of it).
    latent : dict, optional
        Latent factors per draw and row (``S``, ``B``, ``T``, ``S_persistent``); computed from the
        draws' threat probabilities when omitted.
    """
    n_draws = len(d["mu_alpha"])
    eta = np.repeat(d["mu_alpha"][:, None], len(design.ally_keys), axis=1)
    if "dyad_effect" in d:
        eta += d["dyad_effect"][:, design.ally_dyad]
    elif "z_dyad" in d:  # fits made before dyad_effect (zero-sum non-centred offsets)
        eta += (d["sigma_dyad"][:, None] * d["z_dyad"])[:, design.ally_dyad]
    if "z_alpha" in d:
        eta += (d["sigma_alpha"][:, None] * d["z_alpha"])[:, design.ally_group]
    if latent is None and any(design.term_latent):
        tau = threat_tau(design, d)
        ops = LatentOps(design)
        latent = ops.factors(ops.prepare(tau), set(design.term_latent) - {""})
    for t, term in enumerate(design.terms):
        col = design.term_observed[:, t]
        factor = design.term_latent[t]
        value = col[None, :] * latent[factor] if factor else np.broadcast_to(col, (n_draws, len(col)))
        eta += d[f"gamma_{term}"][:, None] * (value - design.term_center[t]) / design.term_scale[t]
    if design.control_names:
        coefs = np.stack([d[f"control_{c}"] for c in design.control_names], axis=-1)
        eta += coefs @ design.controls.T
    if "z_year" in d:
        eta += (d["sigma_year"][:, None] * d["z_year"])[:, design.ally_year]
    elif "year_effect" in d:  # centred year intercepts (Design.year_centred)
        eta += d["year_effect"][:, design.ally_year]
    if design.ally_offset is not None and np.any(design.ally_offset != 0):
        eta += design.ally_offset[None, :]
    return eta


def alliance_loglik(design: Design, d: dict[str, np.ndarray], y: np.ndarray) -> np.ndarray:
    """Pointwise Bernoulli log-likelihood of the alliance outcomes (draws, n_ally).

    Includes the case-control correction (``design.ally_cc_offset``) that the model's
    likelihood has; :func:`alliance_eta` itself stays on the population scale.
    """
    eta = alliance_eta(design, d)
    if design.ally_cc_offset is not None:
        eta = eta + design.ally_cc_offset[None, :]
    return np.where(np.asarray(y) == 1, _log_expit(eta), _log_expit(-eta))


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

    # keys: ("threat", source, path, mask) | ("input", factor) | ("share",)
    def get(self, key: tuple) -> Effect | None:
        if self._results is None:
            self._results = self._compute()
        return self._results.get(key)

    @property
    def note(self) -> str:
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
        d = self.design
        n_rows = len(d.ally_keys)
        latent_terms = [(t, f) for t, f in enumerate(d.term_latent) if f]
        needed = {f for _, f in latent_terms}
        ops = LatentOps(d) if d.has_threat and needed else None
        y1 = np.asarray(d.ally_y) == 1
        powerful = self.powerful_mask()
        partner_powerful = powerful[d.partner_idx] if powerful is not None and d.partner_idx is not None else None
        # Requests: (key, source index, threat-row mask or None, alliance-row mask or None, path)
        threat_req = []
        if ops is not None:
            for s, source in enumerate(d.sources):
                for path in PATHS:
                    if needed & set(PATHS[path]):
                        threat_req.append((("threat", source, path, "all"), s, None, None, path))
            if powerful is not None and "proximity" in d.sources:
                s = d.sources.index("proximity")
                for path in PATHS:
                    if needed & set(PATHS[path]):
                        rows = partner_powerful if path == "B" else None
                        threat_req.append((("threat", "proximity", path, "powerful"), s, powerful, rows, path))
        input_req = []
        for factor in OBSERVED_INPUTS:
            slopes = _input_slopes(d, factor)
            if slopes:
                input_req.append((("input", factor), factor, slopes))
        share_terms = {
            p: [(t, f) for t, f in latent_terms if f in PATHS[p]] for p in ("S", "B")
        }
        do_share = ops is not None and share_terms["S"] and share_terms["B"] and y1.any()
        acc: dict[tuple, list] = {}
        wsum: dict[tuple, list] = {}
        for lo in range(0, self.draws.n, CHUNK):
            c = self.draws.chunk(lo, min(lo + CHUNK, self.draws.n))
            latent, tau, base, slope, w = {}, None, None, None, {}
            if ops is not None:
                tau = threat_tau(d, c)
                base = ops.prepare(tau)
                latent = ops.factors(base, needed)
                slope = tau * (1 - tau)
            eta = alliance_eta(d, c, latent)
            p = expit(eta)
            pq = p * (1 - p)
            gam = {t: c[f"gamma_{d.terms[t]}"][:, None] / d.term_scale[t] for t in range(len(d.terms))}
            for key, s, tmask, rmask, path in threat_req:
                if s not in w:
                    w[s] = slope * source_weight(d, c, s)
                dtau = w[s] if tmask is None else w[s] * tmask
                facs = needed & set(PATHS[path])
                deriv = ops.derivatives(base, dtau, facs)
                deta = np.zeros_like(eta)
                for t, f in latent_terms:
                    if f in facs:
                        deta += gam[t] * d.term_observed[:, t] * deriv[f]
                sel = slice(None) if rmask is None else rmask
                acc.setdefault(key, []).append(self._average(pq * deta, sel))
                wsum.setdefault(key, []).append(self._average(pq, sel))
            for key, factor, slopes in input_req:
                change = np.zeros_like(eta)  # d eta / d factor (per unit), or the switch-on change
                current = np.zeros_like(eta)
                for t, rate in slopes.items():
                    f = d.term_latent[t]
                    lat = latent[f] if f else 1.0
                    change += gam[t] * rate * lat
                    current += gam[t] * d.term_observed[:, t] * lat
                if factor in BINARY_FACTORS:
                    eta_off = eta - current
                    ame = self._average(expit(eta_off + change) - expit(eta_off))
                else:
                    ame = self._average(pq * change)
                acc.setdefault(key, []).append(ame)
                wsum.setdefault(key, []).append(self._average(pq))
            if do_share:
                contrib = {}
                for path, terms in share_terms.items():
                    total = np.zeros((eta.shape[0], int(y1.sum())))
                    for t, f in terms:
                        total += gam[t] * d.term_observed[y1, t] * latent[f][:, y1]
                    contrib[path] = np.clip(total, 0, None).sum(axis=1)
                denom = contrib["S"] + contrib["B"]
                share = np.where(denom > 0, (contrib["S"] - contrib["B"]) / np.where(denom > 0, denom, 1), 0.0)
                acc.setdefault(("share",), []).append(share)
                wsum.setdefault(("share",), []).append(np.zeros(len(share)))
        out = {}
        for key, parts in acc.items():
            n_used = n_rows
            for k, _s, _tm, rmask, _p in threat_req:
                if k == key and rmask is not None:
                    n_used = int(np.sum(rmask))
            if key == ("share",):
                n_used = int(y1.sum())
            out[key] = Effect(
                draws=np.concatenate(parts), weight=float(np.mean(np.concatenate(wsum[key]))), rows=n_used
            )
        return out
