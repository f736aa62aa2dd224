"""Blocks 1–3 of the likelihood as one fused numba kernel (value and gradient).

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
5. with a duration block (:mod:`walt_bayes.model.duration`), the hazard of each spell-year
   at risk: ``delta_0 + delta_log_duration · log d + Σ delta_term · X`` and, with
   ``threat_rise``, ``delta_threat_rise · (S_now − S_prev) / dS_scale``, its S summed over
   the block's own triads from the same tau as step 3;

then the reverse pass (block 3's adjoint of tau joins block 2's before the one pass
back to beta and lambda_0).  Block 3 as graph terms beside the kernel cost as much as
blocks 1–2 together on the embedded panel (its 670 rows, 8,132 triads and tau of 5,966
threat rows, rebuilt in the graph: 0.54 ms per logp + gradient against 0.30 ms
without it); in the kernel it adds ~20 µs to ~210 µs.

It is exactly the graph model's log-likelihood (tests check value and gradient
against it), and it is used only to *sample*: the pointwise log-likelihood and
predictive draws come from :mod:`walt_bayes.fit.pointwise` (numpy) or the graph
model with its observed variables (:func:`walt_bayes.model.build.build_model`).

The parameters reach the kernel as one flat vector, in the order of
:class:`FusedLayout`; the design's arrays are constant inputs of the Op.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pytensor.tensor as pt
from llvmlite import ir as llvm_ir
from numba.core import types
from numba.extending import intrinsic
from pytensor.gradient import disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

#: Latent factor of a term, as the kernel codes it.
FACTOR_CODES = {"": -1, "S": 0, "S_persistent": 1, "B": 2, "T": 3}  # -1: observed column only

#: Positions in the kernel's integer ``layout`` vector.
(N_GROUP, N_SOURCE, N_DYAD, N_YEAR, N_ALLY_GROUP, N_TERM, N_CONTROL, N_STATE_YEAR,
 DISPUTE_EVERY_ROW, N_DURATION, N_SOURCE_STATE) = range(11)


@dataclass(frozen=True)
class FusedLayout:
    """Sizes of the segments of the flat parameter vector, in order.

    ``beta`` (groups × sources, row-major), ``lambda_0``, ``mu_alpha``, dyad
    effects, year effects, alliance-group effects, one gamma per term, one
    coefficient per control, then block 3's coefficients
    (``DurationArrays.coefficient_names``: ``delta_0``, ``delta_log_duration``, one per
    indicator column, ``delta_threat_rise`` last when the block has it).  A segment
    of length 0 is a part the model lacks.
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
    n_duration: int = 0  # block 3's coefficients (0: no duration block)
    n_source_state: int = 0  # threatening states' intercepts (0: none), the last segment

    def vector(self) -> np.ndarray:
        return np.array([self.n_group, self.n_source, self.n_dyad, self.n_year, self.n_ally_group,
                         self.n_term, self.n_control, self.n_state_year, int(self.dispute_every_row),
                         self.n_duration, self.n_source_state], dtype=np.int64)

    @property
    def size(self) -> int:
        return self.n_group * self.n_source + 2 + self.n_dyad + self.n_year + self.n_ally_group \
            + self.n_term + self.n_control + self.n_duration + self.n_source_state


#: LLVM fast-math flags of the kernel: reassociation lets the row sums use SIMD lanes;
#: no "nnan"/"ninf", so a non-finite predictor still gives a non-finite log-likelihood.
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
# error_model="numpy": a float division does not branch to a ZeroDivisionError, which
# would keep LLVM from vectorising any loop that divides.
# No numba on-disk cache: a kernel loaded from it (reassociated in another compile context) gave
# other last bits of the gradient than a fresh compile, so the first fit after a change (cold
# cache) and later ones (warm) drew differently from one seed — measured as two logp/gradient
# digests (0979… cold, dcff… warm).  Compiling in every process costs a few seconds and keeps
# "same spec, data and seed, same draws" whatever the cache holds (walt_bayes/fit/fresh.py).
_KERNEL = {"cache": False, "fastmath": _FASTMATH, "error_model": "numpy"}
_INLINE = dict(_KERNEL, inline="always")
#: Rows per block of the kernel's row passes (a few arrays of it fit in L1 cache).
_BLOCK = 1024

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10


@intrinsic
def _pow2(typingctx, n):
    """``2.0 ** n`` for an integer ``n`` in [-1022, 1023], built from its bits (vectorisable)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        i64 = llvm_ir.IntType(64)
        biased = builder.add(args[0], llvm_ir.Constant(i64, 1023))
        return builder.bitcast(builder.shl(biased, llvm_ir.Constant(i64, 52)), llvm_ir.DoubleType())

    return sig, codegen


@numba.njit(**_INLINE)
def _exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0`` to ~1 ulp, branch-free so that loops over it vectorise.

    libm's ``exp`` is an opaque call that LLVM cannot vectorise, and without Intel's SVML
    numba has no vector version of it.  Range reduction ``x = n ln2 + r``, ``|r| <= ln2/2``,
    then the degree-13 Taylor polynomial of ``exp(r)`` (truncation error < 1e-17).  Below
    -708, where ``exp`` leaves the normal range, the result is ``exp(-708)`` ≈ 3e-308:
    an absolute error no sum of log-likelihood terms can see.
    """
    x = max(x, -708.0)
    n = np.floor(x * _LOG2E + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * _pow2(np.int64(n))


@numba.njit(**_INLINE)
def _log1p_unit(t):
    """``log(1 + t)`` for ``t`` in [0, 1], branch-free (relative error ~1 ulp).

    ``log(1 + t) = 2 atanh(s)`` with ``s = t / (2 + t)`` in [0, 1/3]; the odd series
    ``2 Σ s^(2k+1) / (2k+1)`` to k = 16 leaves a truncation error below 1e-17.
    """
    s = t / (2.0 + t)
    z = s * s
    p = 1.0 / 33.0
    p = p * z + 1.0 / 31.0
    p = p * z + 1.0 / 29.0
    p = p * z + 1.0 / 27.0
    p = p * z + 1.0 / 25.0
    p = p * z + 1.0 / 23.0
    p = p * z + 1.0 / 21.0
    p = p * z + 1.0 / 19.0
    p = p * z + 1.0 / 17.0
    p = p * z + 1.0 / 15.0
    p = p * z + 1.0 / 13.0
    p = p * z + 1.0 / 11.0
    p = p * z + 1.0 / 9.0
    p = p * z + 1.0 / 7.0
    p = p * z + 1.0 / 5.0
    p = p * z + 1.0 / 3.0
    p = p * z + 1.0
    return 2.0 * s * p


@numba.njit(**_INLINE)
def _bernoulli_logit(y, e):
    """``(log p(y | logit e), logistic(e))``: one exp, one log1p, branch-free."""
    t = _exp_nonpositive(-abs(e))
    inv = 1.0 / (1.0 + t)
    positive = e >= 0.0
    lp = y * e - (e if positive else 0.0) - _log1p_unit(t)
    return lp, (inv if positive else t * inv)


@numba.njit(**_INLINE)
def _sigmoid(x):
    t = _exp_nonpositive(-abs(x))
    return (1.0 if x >= 0.0 else t) / (1.0 + t)


@numba.njit(**_KERNEL)
def loglik_and_grad(params, layout, Xt, group_ptr, threat_sy, disp_idx, disp_y, disp_off,
                    ally_y, ally_dyad, ally_year, ally_group, ally_off, controls,
                    term_obs, term_center, term_scale, term_factor,
                    partner_idx, ally_sy, triad_ptr, triad_ji, triad_jk, triad_persistent,
                    dur_y, dur_log_d, dur_Xt, dur_s_now, dur_s_prev, dur_scale,
                    dur_tri_ptr, dur_tri_ji, dur_tri_jk, threat_src):
    """Log-likelihood of blocks 1–3 and its gradient with respect to ``params``.

    The arrays are those of :func:`design_constants`: threat rows sorted by group
    (``group_ptr``), column-major ``Xt``, ``controls``, ``term_obs`` and ``dur_Xt``,
    unsigned 32-bit indices (numba adds a negative-index check to every signed
    gather).  Each loop is either a gather/scatter over indices or a branch-free
    pass that LLVM vectorises.  Block 3 (:func:`_duration`) adds its share of
    d loglik / d tau before the pass back to the threat parameters.

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
    o_dur = o_ctrl + n_ctrl
    o_src = o_dur + layout[N_DURATION]  # threat source intercepts, by ``threat_src``
    n_ss = layout[N_SOURCE_STATE]

    grad = np.zeros_like(params)
    ll = 0.0
    n_threat = Xt.shape[1] if n_src > 0 else 0
    n_ally = ally_y.shape[0]

    # ---- block 1: threat probabilities and the dispute likelihood
    # Rows are taken in blocks that stay in L1 cache from the predictor to tau: at the
    # global panel's ~0.2 M rows a whole-array pass per step leaves L2 every time.
    eta = np.empty(n_threat)
    tau = np.empty(n_threat)
    deta = np.zeros(n_threat)  # d loglik / d eta, the dispute part first
    every_row = layout[DISPUTE_EVERY_ROW] == 1
    lam = params[o_lambda]
    for g in range(n_grp):
        beta = params[g * n_src:(g + 1) * n_src]
        for lo in range(group_ptr[g], group_ptr[g + 1], _BLOCK):
            # Zero-based loops over slices: a loop from a signed start would make numba
            # check every index for negative wraparound, which stops vectorisation.
            hi = min(lo + _BLOCK, group_ptr[g + 1])
            e = eta[lo:hi]
            for r in range(hi - lo):
                e[r] = lam
            if n_ss > 0:
                src = threat_src[lo:hi]
                for r in range(hi - lo):
                    e[r] += params[o_src + src[r]]
            for s in range(n_src):
                x = Xt[s, lo:hi]
                b = beta[s]
                for r in range(hi - lo):
                    e[r] += x[r] * b
            tb = tau[lo:hi]
            if every_row:
                # Every row in the dispute likelihood, in order, no offset: one exp serves both.
                y = disp_y[lo:hi]
                db = deta[lo:hi]
                for r in range(hi - lo):
                    lp, p = _bernoulli_logit(y[r], e[r])
                    ll += lp
                    db[r] = y[r] - p
                    tb[r] = p
            else:
                for r in range(hi - lo):
                    tb[r] = _sigmoid(e[r])
    if not every_row:
        n_disp = disp_idx.shape[0]
        e_disp = np.empty(n_disp)
        for d in range(n_disp):
            e_disp[d] = eta[disp_idx[d]] + disp_off[d]
        for d in range(n_disp):
            lp, p = _bernoulli_logit(disp_y[d], e_disp[d])
            ll += lp
            e_disp[d] = disp_y[d] - p
        for d in range(n_disp):
            deta[disp_idx[d]] += e_disp[d]

    # ---- latent factors per alliance row (an unused one stays empty)
    uses = np.zeros(5, dtype=np.bool_)  # S, S_persistent, B, T, none
    for t in range(n_term):
        uses[term_factor[t]] = True  # code -1 marks the last entry: an observed-only term
    S = np.zeros(n_ally if uses[0] else 0)
    Sp = np.zeros(n_ally if uses[1] else 0)
    if uses[0] or uses[1]:
        # Triads are grouped by alliance row: rows ptr[a]:ptr[a+1] are those of row a.
        for a in range(n_ally):
            lo = triad_ptr[a]
            hi = triad_ptr[a + 1]
            ji = triad_ji[lo:hi]
            jk = triad_jk[lo:hi]
            acc = 0.0
            acc_p = 0.0
            if uses[1]:
                persistent = triad_persistent[lo:hi]
                for q in range(hi - lo):
                    prod = tau[ji[q]] * tau[jk[q]]
                    acc += prod
                    acc_p += prod if persistent[q] else 0.0
                Sp[a] = acc_p
            else:
                for q in range(hi - lo):
                    acc += tau[ji[q]] * tau[jk[q]]
            if uses[0]:
                S[a] = acc
    B = np.empty(n_ally if uses[2] else 0)
    if uses[2]:
        for a in range(n_ally):
            B[a] = tau[partner_idx[a]]
    total = np.zeros(n_sy if uses[3] else 0)
    T = np.empty(n_ally if uses[3] else 0)
    if uses[3]:
        for r in range(n_threat):
            total[threat_sy[r]] += tau[r]
        for a in range(n_ally):
            T[a] = total[ally_sy[a]]
    ones = np.ones(n_ally if uses[4] else 0)

    # ---- block 2: alliance likelihood, in blocks of rows (as above), column by column
    dyad = params[o_dyad:o_year]
    year = params[o_year:o_agrp]
    agrp = params[o_agrp:o_gamma]
    gamma = params[o_gamma:o_ctrl]
    coef = params[o_ctrl:o_ctrl + n_ctrl]
    mu = params[o_mu]
    res = np.empty(n_ally)  # d loglik / d eta per alliance row
    e = np.empty(_BLOCK)
    for lo in range(0, n_ally, _BLOCK):
        hi = min(lo + _BLOCK, n_ally)
        m = hi - lo
        off = ally_off[lo:hi]
        for a in range(m):
            e[a] = mu + off[a]
        if n_dyad > 0:
            idx = ally_dyad[lo:hi]
            for a in range(m):
                e[a] += dyad[idx[a]]
        if n_year > 0:
            idx = ally_year[lo:hi]
            for a in range(m):
                e[a] += year[idx[a]]
        if n_agrp > 0:
            idx = ally_group[lo:hi]
            for a in range(m):
                e[a] += agrp[idx[a]]
        for c in range(n_ctrl):
            col = controls[c, lo:hi]
            k = coef[c]
            for a in range(m):
                e[a] += col[a] * k
        for t in range(n_term):
            f = term_factor[t]
            lat = S if f == 0 else Sp if f == 1 else B if f == 2 else T if f == 3 else ones
            lat = lat[lo:hi]
            obs = term_obs[t, lo:hi]
            center = term_center[t]
            k = gamma[t] / term_scale[t]
            for a in range(m):
                e[a] += (obs[a] * lat[a] - center) * k
        y = ally_y[lo:hi]
        rb = res[lo:hi]
        for a in range(m):
            lp, p = _bernoulli_logit(y[a], e[a])
            ll += lp
            rb[a] = y[a] - p

    # ---- reverse: intercepts, effects, coefficients, and the adjoints of the latent factors
    g_dyad = grad[o_dyad:o_year]
    g_year = grad[o_year:o_agrp]
    g_agrp = grad[o_agrp:o_gamma]
    dS = np.zeros(S.shape[0])
    dSp = np.zeros(Sp.shape[0])
    dB = np.zeros(B.shape[0])
    dT = np.zeros(T.shape[0])
    for lo in range(0, n_ally, _BLOCK):
        hi = min(lo + _BLOCK, n_ally)
        m = hi - lo
        rb = res[lo:hi]
        acc = 0.0
        for a in range(m):
            acc += rb[a]
        grad[o_mu] += acc
        if n_dyad > 0:
            idx = ally_dyad[lo:hi]
            for a in range(m):
                g_dyad[idx[a]] += rb[a]
        if n_year > 0:
            idx = ally_year[lo:hi]
            for a in range(m):
                g_year[idx[a]] += rb[a]
        if n_agrp > 0:
            idx = ally_group[lo:hi]
            for a in range(m):
                g_agrp[idx[a]] += rb[a]
        for c in range(n_ctrl):
            col = controls[c, lo:hi]
            acc = 0.0
            for a in range(m):
                acc += rb[a] * col[a]
            grad[o_ctrl + c] += acc
        for t in range(n_term):
            f = term_factor[t]
            obs = term_obs[t, lo:hi]
            center = term_center[t]
            inv = 1.0 / term_scale[t]
            acc = 0.0
            if f < 0:
                for a in range(m):
                    acc += rb[a] * (obs[a] - center)
                grad[o_gamma + t] += acc * inv
                continue
            lat = S if f == 0 else Sp if f == 1 else B if f == 2 else T
            lat = lat[lo:hi]
            dlat = dS if f == 0 else dSp if f == 1 else dB if f == 2 else dT
            dlat = dlat[lo:hi]
            w = gamma[t] * inv
            for a in range(m):
                acc += rb[a] * (obs[a] * lat[a] - center)
                dlat[a] += rb[a] * w * obs[a]
            grad[o_gamma + t] += acc * inv

    # ---- reverse through the latent factors to tau, then to eta and beta
    dtau = np.zeros(n_threat)
    if uses[0] or uses[1]:
        for a in range(n_ally):
            lo = triad_ptr[a]
            hi = triad_ptr[a + 1]
            ji = triad_ji[lo:hi]
            jk = triad_jk[lo:hi]
            g0 = dS[a] if uses[0] else 0.0
            if uses[1]:
                g1 = g0 + dSp[a]
                persistent = triad_persistent[lo:hi]
                for q in range(hi - lo):
                    g = g1 if persistent[q] else g0
                    dtau[ji[q]] += g * tau[jk[q]]
                    dtau[jk[q]] += g * tau[ji[q]]
            else:
                for q in range(hi - lo):
                    dtau[ji[q]] += g0 * tau[jk[q]]
                    dtau[jk[q]] += g0 * tau[ji[q]]
    if uses[2]:
        for a in range(n_ally):
            dtau[partner_idx[a]] += dB[a]
    if uses[3]:
        dtotal = np.zeros(n_sy)
        for a in range(n_ally):
            dtotal[ally_sy[a]] += dT[a]
        for r in range(n_threat):
            dtau[r] += dtotal[threat_sy[r]]
    if layout[N_DURATION] > 0:
        ll += _duration(params[o_dur:o_dur + layout[N_DURATION]], grad[o_dur:o_dur + layout[N_DURATION]],
                        tau, dtau, dur_y, dur_log_d, dur_Xt, dur_s_now, dur_s_prev, dur_scale[0],
                        dur_tri_ptr, dur_tri_ji, dur_tri_jk)
    de = np.empty(_BLOCK)  # d loglik / d eta of one block of rows
    for g in range(n_grp):
        for lo in range(group_ptr[g], group_ptr[g + 1], _BLOCK):
            hi = min(lo + _BLOCK, group_ptr[g + 1])
            db = deta[lo:hi]
            dt = dtau[lo:hi]
            tb = tau[lo:hi]
            acc = 0.0
            for r in range(hi - lo):
                de[r] = db[r] + dt[r] * tb[r] * (1.0 - tb[r])
                acc += de[r]
            grad[o_lambda] += acc
            if n_ss > 0:
                src = threat_src[lo:hi]
                for r in range(hi - lo):
                    grad[o_src + src[r]] += de[r]
            for s in range(n_src):
                x = Xt[s, lo:hi]
                acc = 0.0
                for r in range(hi - lo):
                    acc += de[r] * x[r]
                grad[g * n_src + s] += acc
    out = np.empty(1)
    out[0] = ll
    return out, grad


@numba.njit(**_KERNEL)
def _duration(delta, g_delta, tau, dtau, y, log_d, Xt, s_now, s_prev, scale, tri_ptr, tri_ji, tri_jk):
    """Block 3's log-likelihood; adds its gradient to ``g_delta`` (the delta segment) and ``dtau``.

    ``delta`` is ``delta_0, delta_log_duration``, one per row of ``Xt`` and, when the
    segment is one longer than that, ``delta_threat_rise``; the hazard's ΔS is then
    ``(S[s_now] − S[s_prev]) / scale`` with ``S[s] = Σ tau[ji] tau[jk]`` over the
    triads ``tri_ptr[s]:tri_ptr[s+1]`` (grouped by dyad-year ``s``, like block 2's).
    """
    n = y.shape[0]
    n_x = Xt.shape[0]
    rise = delta.shape[0] > 2 + n_x
    n_s = tri_ptr.shape[0] - 1 if rise else 0
    S = np.zeros(n_s)
    for s in range(n_s):
        lo = tri_ptr[s]
        hi = tri_ptr[s + 1]
        ji = tri_ji[lo:hi]
        jk = tri_jk[lo:hi]
        acc = 0.0
        for q in range(hi - lo):
            acc += tau[ji[q]] * tau[jk[q]]
        S[s] = acc
    dS = np.zeros(n if rise else 0)
    for r in range(dS.shape[0]):
        dS[r] = (S[s_now[r]] - S[s_prev[r]]) / scale
    eta = np.empty(n)
    for r in range(n):
        eta[r] = delta[0] + delta[1] * log_d[r]
    for t in range(n_x):
        x = Xt[t]
        k = delta[2 + t]
        for r in range(n):
            eta[r] += k * x[r]
    k_rise = delta[2 + n_x] if rise else 0.0
    for r in range(dS.shape[0]):
        eta[r] += k_rise * dS[r]
    ll = 0.0
    res = eta  # overwritten in place: d loglik / d eta per row
    for r in range(n):
        lp, p = _bernoulli_logit(y[r], eta[r])
        ll += lp
        res[r] = y[r] - p
    acc0 = 0.0
    acc1 = 0.0
    for r in range(n):
        acc0 += res[r]
        acc1 += res[r] * log_d[r]
    g_delta[0] += acc0
    g_delta[1] += acc1
    for t in range(n_x):
        x = Xt[t]
        acc = 0.0
        for r in range(n):
            acc += res[r] * x[r]
        g_delta[2 + t] += acc
    if rise:
        acc = 0.0
        dSs = np.zeros(n_s)  # d loglik / d S per dyad-year
        w = k_rise / scale
        for r in range(n):
            acc += res[r] * dS[r]
            dSs[s_now[r]] += res[r] * w
            dSs[s_prev[r]] -= res[r] * w
        g_delta[2 + n_x] += acc
        for s in range(n_s):
            g = dSs[s]
            lo = tri_ptr[s]
            hi = tri_ptr[s + 1]
            ji = tri_ji[lo:hi]
            jk = tri_jk[lo:hi]
            for q in range(hi - lo):
                dtau[ji[q]] += g * tau[jk[q]]
                dtau[jk[q]] += g * tau[ji[q]]
    return ll


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
        g_value = output_grads[0]
        return [g_value[0] * outputs[1]] + [disconnected_type() for _ in inputs[1:]]

    def connection_pattern(self, node):
        return [[True, False]] + [[False, False] for _ in node.inputs[1:]]


@register_funcify_default_op_cache_key(FusedLogLik)
def _numba_funcify_fused(op, node=None, **kwargs):
    return loglik_and_grad


def design_constants(design, layout: FusedLayout) -> list[np.ndarray]:
    """The constant inputs of :class:`FusedLogLik` for ``design``, in the kernel's order.

    The kernel sees the threat rows sorted by group (stable), so that each group's
    weights multiply a contiguous block of rows; every index into them is remapped.
    The order is internal: the kernel returns only the total and the gradient.
    """
    n_ally = len(design.ally_y)
    u32 = np.uint32

    def idx(a, n):
        return np.zeros(n, dtype=u32) if a is None else np.ascontiguousarray(a, dtype=u32)

    def columns(a, n_col):
        return np.ascontiguousarray(np.asarray(a, dtype=float).reshape(n_ally, n_col).T)

    if design.has_threat:
        n_threat = len(design.threat_X)
        group = np.zeros(n_threat, dtype=np.int64) if design.threat_group is None \
            else np.asarray(design.threat_group, dtype=np.int64)
        order = np.argsort(group, kind="stable")
        new_row = np.empty(n_threat, dtype=np.int64)
        new_row[order] = np.arange(n_threat)
        Xt = np.ascontiguousarray(np.asarray(design.threat_X, dtype=float)[order].T)
        group_ptr = np.searchsorted(group[order], np.arange(layout.n_group + 1)).astype(np.int64)
        threat_sy = idx(None if design.threat_sy is None else design.threat_sy[order], n_threat)
        threat_src = idx(None if design.threat_src is None else design.threat_src[order], 0)
        disp_rows = new_row[design.dispute_rows()]
        disp_order = np.argsort(disp_rows, kind="stable")
        disp_idx = idx(disp_rows[disp_order], 0)
        disp_y = np.asarray(design.threat_y, dtype=float)[design.dispute_rows()][disp_order]
        disp_off = np.zeros(len(disp_idx)) if design.dispute_offset is None \
            else np.asarray(design.dispute_offset, dtype=float)[disp_order]
    else:
        Xt = np.zeros((0, 0))
        new_row = np.zeros(0, dtype=np.int64)
        group_ptr = np.zeros(1, dtype=np.int64)
        threat_sy = disp_idx = threat_src = np.zeros(0, dtype=u32)
        disp_y = disp_off = np.zeros(0)

    def threat_rows(a):
        return idx(None if a is None else new_row[a], n_ally)

    off = np.zeros(n_ally) if design.ally_offset is None else np.asarray(design.ally_offset, dtype=float)
    if design.ally_cc_offset is not None:
        off = off + np.asarray(design.ally_cc_offset, dtype=float)
    n_term = len(design.terms)
    if design.triad_ally is not None and len(design.triad_ally):
        # Group the triads by alliance row (stable, so the sums are always taken in one order).
        t_order = np.argsort(design.triad_ally, kind="stable")
        triad_ptr = np.searchsorted(design.triad_ally[t_order], np.arange(n_ally + 1)).astype(np.int64)
        triad_ji = idx(new_row[design.triad_ji[t_order]], 0)
        triad_jk = idx(new_row[design.triad_jk[t_order]], 0)
        triad_persistent = np.ascontiguousarray(design.triad_persistent[t_order], dtype=np.bool_)
    else:
        triad_ptr = np.zeros(n_ally + 1, dtype=np.int64)
        triad_ji = triad_jk = np.zeros(0, dtype=u32)
        triad_persistent = np.zeros(0, dtype=np.bool_)
    return [
        layout.vector(), Xt, group_ptr, threat_sy, disp_idx, disp_y, disp_off,
        np.asarray(design.ally_y, dtype=float), idx(design.ally_dyad, n_ally), idx(design.ally_year, n_ally),
        idx(design.ally_group, n_ally), np.ascontiguousarray(off),
        columns(design.controls, len(design.control_names)),
        columns(design.term_observed, n_term),
        np.asarray(design.term_center, dtype=float).reshape(n_term),
        np.asarray(design.term_scale, dtype=float).reshape(n_term),
        np.array([FACTOR_CODES[f] for f in design.term_latent], dtype=np.int64),
        threat_rows(design.partner_idx), idx(design.ally_sy, n_ally),
        triad_ptr, triad_ji, triad_jk, triad_persistent,
        *_duration_constants(design, new_row), threat_src,
    ]


def _duration_constants(design, new_row: np.ndarray) -> list[np.ndarray]:
    """Block 3's arrays: ``y, log d, X`` (column-major), ``s_now, s_prev``, ``[dS_scale]`` and the
    ΔS triads grouped by dyad-year (``ptr``, then ``ji, jk`` as rows of the group-sorted threat rows).

    Empty (and ``ptr = [0]``) for the parts a design lacks, so the kernel's signature is one.
    """
    u32 = np.uint32
    dur = design.duration
    if dur is None:
        return [np.zeros(0), np.zeros(0), np.zeros((0, 0)), np.zeros(0, dtype=u32), np.zeros(0, dtype=u32),
                np.ones(1), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=u32), np.zeros(0, dtype=u32)]
    n = dur.n
    X = np.ascontiguousarray(np.asarray(dur.X, dtype=float).reshape(n, len(dur.terms)).T)
    if dur.threat_rise:
        n_s = len(dur.s_keys)
        order = np.argsort(dur.tri_s, kind="stable")  # stable: S is always summed in one order
        ptr = np.searchsorted(dur.tri_s[order], np.arange(n_s + 1)).astype(np.int64)
        ji = np.ascontiguousarray(new_row[dur.tri_ji[order]], dtype=u32)
        jk = np.ascontiguousarray(new_row[dur.tri_jk[order]], dtype=u32)
        now = np.ascontiguousarray(dur.s_now, dtype=u32)
        prev = np.ascontiguousarray(dur.s_prev, dtype=u32)
    else:
        ptr = np.zeros(1, dtype=np.int64)
        ji = jk = now = prev = np.zeros(0, dtype=u32)
    return [np.asarray(dur.y, dtype=float), np.ascontiguousarray(dur.log_duration, dtype=float), X, now, prev,
            np.array([float(dur.dS_scale)]), ptr, ji, jk]
