"""Blocks 1 and 2 of the likelihood as one fused numba kernel (value and gradient).

The graph form in :mod:`walt_bayes.model.build` spends most of a gradient in
PyTensor's per-node overhead: for the embedded panel about 40 small array ops
(gathers, scatter-adds, a gemv, the dense shared-threat products) whose arithmetic
is ~10⁵ flops.  Here the whole data log-likelihood of the latent-threat and
alliance blocks, and its gradient, is one pass over the rows:

1. ``eta_r = lambda_0 + X_r · beta[g_r]`` and ``tau_r = logistic(eta_r)`` per threat row;
2. the dispute Bernoulli-logit terms (with the case-control offsets);
3. the latent factors per alliance row, from the sparse triads:
   ``S = Σ tau[j→i] tau[j→k]`` (and its persistent part), ``B = tau[k→i]``,
   ``T = Σ_j tau[j→i]``;
4. the alliance Bernoulli-logit terms;

then the reverse pass.  It is exactly the graph model's log-likelihood (a test
checks value and gradient against it), and it is used only to *sample*: the
pointwise log-likelihood, predictive draws and every check still come from the
graph model with its observed variables (:func:`walt_bayes.model.build.build_model`).

The parameters reach the kernel as one flat vector, in the order of
:class:`FusedLayout`; the design's arrays are constant inputs of the Op.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

#: Latent factor of a term, as the kernel codes it.
FACTOR_CODES = {"": -1, "S": 0, "S_persistent": 1, "B": 2, "T": 3}

#: Positions in the kernel's integer ``layout`` vector.
(N_GROUP, N_SOURCE, N_DYAD, N_YEAR, N_ALLY_GROUP, N_TERM, N_CONTROL, N_STATE_YEAR,
 DISPUTE_EVERY_ROW) = range(9)


@dataclass(frozen=True)
class FusedLayout:
    """Sizes of the segments of the flat parameter vector, in order.

    ``beta`` (groups × sources, row-major), ``lambda_0``, ``mu_alpha``, dyad
    effects, year effects, alliance-group effects, one gamma per term, one
    coefficient per control.  A segment of length 0 is a part the model lacks.
    """

    n_group: int
    n_source: int
    n_dyad: int
    n_year: int
    n_ally_group: int
    n_term: int
    n_control: int
    n_state_year: int
    dispute_every_row: bool = False  # every threat row in the dispute likelihood, in order, no offsets

    def vector(self) -> np.ndarray:
        return np.array([self.n_group, self.n_source, self.n_dyad, self.n_year, self.n_ally_group,
                         self.n_term, self.n_control, self.n_state_year, int(self.dispute_every_row)],
                        dtype=np.int64)

    @property
    def size(self) -> int:
        return self.n_group * self.n_source + 2 + self.n_dyad + self.n_year + self.n_ally_group \
            + self.n_term + self.n_control


@numba.njit(cache=True, inline="always")
def _bernoulli_logit(y, e):
    """``(log p(y | logit e), d/de)`` with one exp and one log1p (the kernel's bottleneck)."""
    t = np.exp(-abs(e))
    # log(1 + t) for t in (0, 1]: half the cost of log1p, and the absolute error
    # (what a sum of log-likelihood terms needs) stays below 1e-16.
    log1p_t = np.log(1.0 + t)
    if e >= 0:
        return y * e - e - log1p_t, y - 1.0 / (1.0 + t)
    return y * e - log1p_t, y - t / (1.0 + t)


@numba.njit(cache=True, inline="always")
def _sigmoid(x):
    t = np.exp(-abs(x))
    return 1.0 / (1.0 + t) if x >= 0 else t / (1.0 + t)


@numba.njit(cache=True)
def loglik_and_grad(params, layout, X, threat_group, threat_sy, disp_idx, disp_y, disp_off,
                    ally_y, ally_dyad, ally_year, ally_group, ally_off, controls,
                    term_obs, term_center, term_scale, term_factor,
                    partner_idx, ally_sy, triad_ptr, triad_ji, triad_jk, triad_persistent):
    """Log-likelihood of blocks 1–2 and its gradient with respect to ``params``.

    Returns
    -------
    (ndarray of shape (1,), ndarray like ``params``)
    """
    n_grp = layout[N_GROUP]
    n_src = layout[N_SOURCE]
    n_dyad = layout[N_DYAD]
    n_year = layout[N_YEAR]
    n_agrp = layout[N_ALLY_GROUP]
    n_term = layout[N_TERM]
    n_ctrl = layout[N_CONTROL]
    n_sy = layout[N_STATE_YEAR]
    o_lambda = n_grp * n_src
    o_mu = o_lambda + 1
    o_dyad = o_mu + 1
    o_year = o_dyad + n_dyad
    o_agrp = o_year + n_year
    o_gamma = o_agrp + n_agrp
    o_ctrl = o_gamma + n_term

    grad = np.zeros_like(params)
    ll = 0.0
    n_threat = X.shape[0] if n_src > 0 else 0
    n_ally = ally_y.shape[0]

    # ---- block 1: threat probabilities and the dispute likelihood
    lam = params[o_lambda]
    eta = np.empty(n_threat)
    tau = np.empty(n_threat)
    deta = np.zeros(n_threat)  # d loglik / d eta, the dispute part first
    every_row = layout[DISPUTE_EVERY_ROW] == 1
    for r in range(n_threat):
        base = threat_group[r] * n_src
        e = lam
        for s in range(n_src):
            e += X[r, s] * params[base + s]
        eta[r] = e
        if every_row:
            # Every row in the dispute likelihood, no offset: one exp serves tau and the term.
            lp, dlp = _bernoulli_logit(disp_y[r], e)
            ll += lp
            deta[r] = dlp
            tau[r] = disp_y[r] - dlp
        else:
            tau[r] = _sigmoid(e)
    if not every_row:
        for d in range(disp_idx.shape[0]):
            r = disp_idx[d]
            lp, dlp = _bernoulli_logit(disp_y[d], eta[r] + disp_off[d])
            ll += lp
            deta[r] += dlp

    # ---- latent factors per alliance row
    uses = np.zeros(4, dtype=np.bool_)
    for t in range(n_term):
        if term_factor[t] >= 0:
            uses[term_factor[t]] = True
    S = np.zeros(n_ally)
    Sp = np.zeros(n_ally)
    if uses[0] or uses[1]:
        # Triads are grouped by alliance row: rows ptr[a]:ptr[a+1] are those of row a.
        for a in range(n_ally):
            acc = 0.0
            acc_p = 0.0
            for q in range(triad_ptr[a], triad_ptr[a + 1]):
                p = tau[triad_ji[q]] * tau[triad_jk[q]]
                acc += p
                if uses[1] and triad_persistent[q]:
                    acc_p += p
            S[a] = acc
            Sp[a] = acc_p
    total = np.zeros(n_sy)
    if uses[3]:
        for r in range(n_threat):
            total[threat_sy[r]] += tau[r]

    # ---- block 2: alliance likelihood, column by column (branch-free inner loops)
    e_ally = np.empty(n_ally)
    mu = params[o_mu]
    for a in range(n_ally):
        e_ally[a] = mu + ally_off[a]
    if n_dyad > 0:
        for a in range(n_ally):
            e_ally[a] += params[o_dyad + ally_dyad[a]]
    if n_year > 0:
        for a in range(n_ally):
            e_ally[a] += params[o_year + ally_year[a]]
    if n_agrp > 0:
        for a in range(n_ally):
            e_ally[a] += params[o_agrp + ally_group[a]]
    for c in range(n_ctrl):
        coef = params[o_ctrl + c]
        for a in range(n_ally):
            e_ally[a] += controls[a, c] * coef
    value = np.empty((n_term, n_ally))  # the standardised terms
    for t in range(n_term):
        f = term_factor[t]
        inv = 1.0 / term_scale[t]
        for a in range(n_ally):
            if f == 0:
                lat = S[a]
            elif f == 1:
                lat = Sp[a]
            elif f == 2:
                lat = tau[partner_idx[a]]
            elif f == 3:
                lat = total[ally_sy[a]]
            else:
                lat = 1.0
            value[t, a] = (term_obs[a, t] * lat - term_center[t]) * inv
        g = params[o_gamma + t]
        for a in range(n_ally):
            e_ally[a] += g * value[t, a]
    res = np.empty(n_ally)  # d loglik / d eta per alliance row
    for a in range(n_ally):
        lp, res[a] = _bernoulli_logit(ally_y[a], e_ally[a])
        ll += lp
    # reverse: intercepts, effects, coefficients, and the adjoints of the latent factors
    for a in range(n_ally):
        grad[o_mu] += res[a]
    if n_dyad > 0:
        for a in range(n_ally):
            grad[o_dyad + ally_dyad[a]] += res[a]
    if n_year > 0:
        for a in range(n_ally):
            grad[o_year + ally_year[a]] += res[a]
    if n_agrp > 0:
        for a in range(n_ally):
            grad[o_agrp + ally_group[a]] += res[a]
    for c in range(n_ctrl):
        acc = 0.0
        for a in range(n_ally):
            acc += res[a] * controls[a, c]
        grad[o_ctrl + c] = acc
    dS = np.zeros(n_ally)
    dSp = np.zeros(n_ally)
    dtotal = np.zeros(n_sy)
    dtau = np.zeros(n_threat)
    for t in range(n_term):
        acc = 0.0
        for a in range(n_ally):
            acc += res[a] * value[t, a]
        grad[o_gamma + t] = acc
        f = term_factor[t]
        if f < 0:
            continue
        w = params[o_gamma + t] / term_scale[t]
        for a in range(n_ally):
            dlat = res[a] * w * term_obs[a, t]
            if f == 0:
                dS[a] += dlat
            elif f == 1:
                dSp[a] += dlat
            elif f == 2:
                dtau[partner_idx[a]] += dlat
            else:
                dtotal[ally_sy[a]] += dlat

    # ---- reverse through the latent factors to tau, then to eta and beta
    if uses[0] or uses[1]:
        for a in range(n_ally):
            for q in range(triad_ptr[a], triad_ptr[a + 1]):
                g = dS[a]
                if uses[1] and triad_persistent[q]:
                    g += dSp[a]
                i = triad_ji[q]
                k = triad_jk[q]
                dtau[i] += g * tau[k]
                dtau[k] += g * tau[i]
    if uses[3]:
        for r in range(n_threat):
            dtau[r] += dtotal[threat_sy[r]]
    for r in range(n_threat):
        de = deta[r] + dtau[r] * tau[r] * (1.0 - tau[r])
        grad[o_lambda] += de
        base = threat_group[r] * n_src
        for s in range(n_src):
            grad[base + s] += de * X[r, s]
    out = np.empty(1)
    out[0] = ll
    return out, grad


class FusedLogLik(Op):
    """PyTensor Op: ``(params, *design arrays) -> (loglik[1], d loglik / d params)``.

    Only ``params`` varies; the design arrays are constants.  The gradient output
    makes the reverse pass free wherever the value is also needed (NUTS needs both).
    """

    __props__ = ()

    def make_node(self, params, *constants):
        params = pt.as_tensor_variable(params)
        constants = [pt.as_tensor_variable(c) for c in constants]
        return Apply(self, [params, *constants], [pt.dvector(), params.type()])

    def perform(self, node, inputs, output_storage):
        value, grad = loglik_and_grad(*inputs)
        output_storage[0][0] = value
        output_storage[1][0] = grad

    def pullback(self, inputs, outputs, output_grads):
        from pytensor.gradient import disconnected_type

        g_value = output_grads[0]
        return [g_value[0] * outputs[1]] + [disconnected_type() for _ in inputs[1:]]

    def connection_pattern(self, node):
        return [[True, False]] + [[False, False] for _ in node.inputs[1:]]


@register_funcify_default_op_cache_key(FusedLogLik)
def _numba_funcify_fused(op, node=None, **kwargs):
    return loglik_and_grad


def design_constants(design, layout: FusedLayout) -> list[np.ndarray]:
    """The constant inputs of :class:`FusedLogLik` for ``design``, in the kernel's order."""
    n_ally = len(design.ally_y)
    i64 = np.int64

    def ints(a, n):
        return np.zeros(n, dtype=i64) if a is None else np.ascontiguousarray(a, dtype=i64)

    if design.has_threat:
        X = np.ascontiguousarray(design.threat_X, dtype=float)
        threat_group = ints(design.threat_group, len(X))
        threat_sy = ints(design.threat_sy, len(X))
        disp_idx = ints(design.dispute_rows(), 0)
        disp_y = np.asarray(design.threat_y, dtype=float)[disp_idx]
        disp_off = np.zeros(len(disp_idx)) if design.dispute_offset is None \
            else np.asarray(design.dispute_offset, dtype=float)
    else:
        X = np.zeros((0, 0))
        threat_group = threat_sy = disp_idx = np.zeros(0, dtype=i64)
        disp_y = disp_off = np.zeros(0)
    off = np.zeros(n_ally) if design.ally_offset is None else np.asarray(design.ally_offset, dtype=float)
    if design.ally_cc_offset is not None:
        off = off + np.asarray(design.ally_cc_offset, dtype=float)
    n_term = len(design.terms)
    if design.triad_ally is not None and len(design.triad_ally):
        # Group the triads by alliance row (stable, so the sums are always taken in one order).
        order = np.argsort(design.triad_ally, kind="stable")
        triad_ptr = np.searchsorted(design.triad_ally[order], np.arange(n_ally + 1)).astype(i64)
        triad_ji = np.ascontiguousarray(design.triad_ji[order], dtype=np.int32)
        triad_jk = np.ascontiguousarray(design.triad_jk[order], dtype=np.int32)
        triad_persistent = np.ascontiguousarray(design.triad_persistent[order], dtype=np.bool_)
    else:
        triad_ptr = np.zeros(n_ally + 1, dtype=i64)
        triad_ji = triad_jk = np.zeros(0, dtype=np.int32)
        triad_persistent = np.zeros(0, dtype=np.bool_)
    return [
        layout.vector(), X, threat_group, threat_sy, disp_idx, disp_y, disp_off,
        np.asarray(design.ally_y, dtype=float), ints(design.ally_dyad, n_ally), ints(design.ally_year, n_ally),
        ints(design.ally_group, n_ally), np.ascontiguousarray(off),
        np.ascontiguousarray(np.asarray(design.controls, dtype=float).reshape(n_ally, len(design.control_names))),
        np.ascontiguousarray(np.asarray(design.term_observed, dtype=float).reshape(n_ally, n_term)),
        np.asarray(design.term_center, dtype=float).reshape(n_term),
        np.asarray(design.term_scale, dtype=float).reshape(n_term),
        np.array([FACTOR_CODES[f] for f in design.term_latent], dtype=i64),
        ints(design.partner_idx, n_ally), ints(design.ally_sy, n_ally),
        triad_ptr, triad_ji, triad_jk, triad_persistent,
    ]
