"""The model's numpy twin: the linear predictors of blocks 1–3 from posterior draws.

PyMC evaluates the model graph draw by draw; the analyses of a fit need the same quantities
for hundreds or thousands of draws at once.  Here they are plain numpy functions of a design's
arrays and a dict of stacked draws (``name -> (draws, ...)``, as
:func:`walt_bayes.fit.twin_draws.model_draws` collects them), vectorised over the draws:

- block 1: the threat logits and probabilities ``tau`` (:func:`threat_eta`, :func:`threat_tau`);
- the latent threat factors ``S``, ``S_persistent``, ``B``, ``T`` and their directional
  derivatives (:class:`LatentOps`);
- block 2: the alliance linear predictor (:func:`alliance_eta`) and its Bernoulli
  log-likelihood (:func:`alliance_loglik`);
- block 3: the duration block's linear predictor (:class:`DurationEta`).

Each reproduces what the PyMC model (:mod:`walt_bayes.model.build`) computes: the Bernoulli
log-likelihood of :func:`alliance_eta` equals the fit's pointwise ``log_likelihood["alliance"]``
(the tests check this).  With a case-control sample (:mod:`walt_bayes.model.casecontrol`) the
alliance linear predictor stays on the population scale; :func:`alliance_loglik` adds the
case-control offset the likelihood has.

Users: the pointwise log-likelihood and predictive draws of a fit
(:mod:`walt_bayes.fit.pointwise`), marginal effects (:mod:`walt_bayes.hypotheses.effects`) and
scenario predictions (:mod:`walt_bayes.scenario.propagate`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

if TYPE_CHECKING:
    from walt_bayes.model.design import Design
    from walt_bayes.model.duration import DurationArrays

#: Draws per vectorised chunk (memory ~ chunk × rows).
CHUNK = 200


def log_expit(x: np.ndarray) -> np.ndarray:
    """``log(expit(x))`` without overflow, elementwise.

    Not :func:`scipy.special.log_expit`: fits store log-likelihoods computed this way, and
    another implementation may round the last bit differently.
    """
    return -np.logaddexp(0.0, -x)


# ---------------------------------------------------------------- latent factors
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
        """B: the threat the partner poses (linear in tau, so also its own derivative)."""
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


# ------------------------------------------------------------------- blocks 1 and 2
def source_weight(design: Design, d: dict[str, np.ndarray], s: int) -> np.ndarray:
    """Per-row threat weight ``beta[g(row), s]`` of source ``s`` for each draw.

    Parameters
    ----------
    design : Design
        The fit's design.
    d : dict
        Stacked draws (``beta`` by group and source, or one ``beta_<source>`` each).
    s : int
        Index of the source in ``design.sources``.

    Returns
    -------
    numpy.ndarray
        ``(draws, n_threat)``.
    """
    if "beta" in d and d["beta"].ndim == 3 and d["beta"].shape[1] == len(design.threat_groups):
        return d["beta"][:, :, s][:, design.threat_group]
    return np.repeat(d[f"beta_{design.sources[s]}"][:, None], len(design.threat_keys), axis=1)


def threat_eta(design: Design, d: dict[str, np.ndarray], X: np.ndarray | None = None) -> np.ndarray:
    """Threat logits ``lambda_0 + X · beta[g] (+ source intercept)`` from draws ``d`` (block 1).

    Parameters
    ----------
    design : Design
        The fit's design.
    d : dict
        Stacked draws (``lambda_0``, the threat weights and, with source intercepts,
        ``source_effect``).
    X : numpy.ndarray, optional
        Threat inputs ``(n_threat, sources)`` in place of the design's ``threat_X``.

    Returns
    -------
    numpy.ndarray
        ``(draws, n_threat)``.
    """
    X = design.threat_X if X is None else X
    theta = sum(source_weight(design, d, s) * X[:, s] for s in range(len(design.sources)))
    eta = d["lambda_0"][:, None] + theta
    if design.source_states:
        eta = eta + d["source_effect"][:, design.threat_src]
    return eta


def threat_tau(design: Design, d: dict[str, np.ndarray], X: np.ndarray | None = None) -> np.ndarray:
    """Threat probabilities ``tau = expit(threat_eta)``, ``(draws, n_threat)`` (block 1).

    Parameters are those of :func:`threat_eta`.
    """
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

    Returns
    -------
    numpy.ndarray
        ``(draws, n_ally)``, on the population scale (no case-control offset).
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
    if "z_year" in d:  # fits stored before build._year_effects recorded year_effect
        eta += (d["sigma_year"][:, None] * d["z_year"])[:, design.ally_year]
    elif "year_effect" in d:
        eta += d["year_effect"][:, design.ally_year]
    if design.ally_offset is not None and np.any(design.ally_offset != 0):
        eta += design.ally_offset[None, :]
    return eta


def alliance_loglik(design: Design, d: dict[str, np.ndarray], y: np.ndarray) -> np.ndarray:
    """Pointwise Bernoulli log-likelihood of the alliance outcomes.

    Includes the case-control correction (``design.ally_cc_offset``) that the model's
    likelihood has; :func:`alliance_eta` itself stays on the population scale.

    Parameters
    ----------
    design : Design
        The fit's design.
    d : dict
        Stacked draws, as for :func:`alliance_eta`.
    y : array_like
        The 0/1 alliance outcomes, ``(n_ally,)``.

    Returns
    -------
    numpy.ndarray
        ``(draws, n_ally)``.
    """
    eta = alliance_eta(design, d)
    if design.ally_cc_offset is not None:
        eta = eta + design.ally_cc_offset[None, :]
    return np.where(np.asarray(y) == 1, log_expit(eta), log_expit(-eta))


# ------------------------------------------------------------------------- block 3
class DurationEta:
    """Block 3's linear predictor for a chunk of draws (numpy twin of ``duration_block``).

    ``eta = delta_0 + delta_log_duration · log d + Σ delta_term · X + delta_threat_rise · ΔS``,
    ΔS = ``(S[s_now] − S[s_prev]) / dS_scale`` with ``S`` the sum of ``tau[ji] · tau[jk]``
    over the block's triads, as one sparse product per chunk of draws.

    Parameters
    ----------
    dur : DurationArrays
        The design's duration block.
    delta : numpy.ndarray
        Draws of its coefficients, ``(draws, coefficients)`` in
        ``dur.coefficient_names()`` order: intercept, log duration, X columns, ΔS.
    """

    def __init__(self, dur: DurationArrays, delta: np.ndarray):
        self.dur = dur
        self.delta = delta
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
