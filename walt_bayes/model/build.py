"""Build the joint PyMC model (blocks 1 and 2 of MODEL.md) from a design.

Block 1 (latent threat): ``theta[j->i,t] = x[j->i,t] . beta[g(i)]`` with
non-centred partial pooling ``beta[g] = mu_beta + tau_beta * z[g]``; the
population means are the named weights ``beta_power`` … ``beta_intent``.
Threat is measured by dispute initiation: ``P(init21) = logistic(lambda_0 + theta)``.

Block 2 (alliance choice): ``logit P(a) = alpha[g] + sum_t gamma_t * term_t
+ controls + dyad + year (+ offset)``, where latent terms (shared threat S,
partner threat B, total threat faced T) are computed from the *same* threat
draws, so threat uncertainty flows into the alliance block.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc_extras.prior import Prior

from walt_bayes.model.dense import shared_tensor
from walt_bayes.model.design import Design
from walt_bayes.model.duration import duration_block
from walt_bayes.model.joining import joining_block
from walt_bayes.spec import ModelSpec


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


def _scalar(spec: ModelSpec, name: str, family: str | None = None, **data_driven: float):
    return spec.prior(name, family, **data_driven).create_variable(name)


def build_model(design: Design, spec: ModelSpec, keep_latent: bool = False) -> pm.Model:
    """The PyMC model for ``spec`` on ``design``.

    Parameters
    ----------
    design : Design
        Arrays from :func:`walt_bayes.model.design.build_design` (or a saved fit).
    spec : ModelSpec
        The theory variant: priors come from it (merged over defaults).
    keep_latent : bool
        Also record the latent factors (S, B, T, …) as deterministics (for checks
        and small panels; they cost one value per alliance row and draw).

    Returns
    -------
    pymc.Model
        With observed variables ``dispute`` (block 1, when present) and ``alliance``, and
        ``alliance_end`` (block 3, :mod:`walt_bayes.model.duration`) and ``joined_winner``
        (:mod:`walt_bayes.model.joining`) when the spec and data have them.
    """
    coords = {
        "ally_obs": np.arange(len(design.ally_y)),
        "ally_group": design.ally_groups,
        "dyad": design.dyads,
        "year": design.years,
        "control": design.control_names,
        "term": design.terms,
    }
    if design.has_threat:
        coords |= {
            "threat_obs": np.arange(len(design.threat_y)),
            "source": design.sources,
            "threat_group": design.threat_groups,
        }
    # Parameter checks cost a reduction per likelihood term and cannot fail here
    # (every probability is a logistic of a finite predictor).
    with pm.Model(coords=coords, check_bounds=False) as model:
        tau = _threat_block(design, spec) if design.has_threat else None
        latent = _alliance_block(design, spec, tau, keep_latent)
        duration_block(design, spec, latent, keep_latent)
        joining_block(design, spec)
    return model


def _threat_block(design: Design, spec: ModelSpec):
    weights = [_scalar(spec, f"beta_{s}", "beta") for s in design.sources]
    mu_beta = pt.stack(weights)
    X = pt.as_tensor_variable(design.threat_X)
    if len(design.threat_groups) > 1:
        tau_beta = _vector(spec, "tau_beta", "source")
        # Zero-sum offsets: the named weights are exactly the mean over groups,
        # which also removes the mean/offset trade-off that slows mixing.
        z = pm.ZeroSumNormal("z_beta", sigma=1.0, dims=("source", "threat_group"))
        beta = pm.Deterministic(
            "beta", (mu_beta[:, None] + tau_beta[:, None] * z).T, dims=("threat_group", "source")
        )
        theta = _grouped_linear(design, beta)
    else:
        theta = X @ mu_beta
    lambda_0 = _scalar(spec, "lambda_0", mu=_logit(design.data_rates["init21"]))
    eta = lambda_0 + theta
    if design.dispute_idx is None:
        pm.Bernoulli("dispute", logit_p=eta, observed=design.threat_y, dims="threat_obs")
    else:
        # Case-control sample (walt_bayes.model.casecontrol): the prior correction -log(rd)
        # enters the dispute likelihood only; tau below stays the population probability.
        pm.modelcontext(None).add_coord("dispute_obs", np.arange(len(design.dispute_idx)))
        pm.Bernoulli(
            "dispute", logit_p=eta[design.dispute_idx] + design.dispute_offset,
            observed=design.threat_y[design.dispute_idx], dims="dispute_obs",
        )
    return pm.math.sigmoid(eta)


#: Largest group-expanded threat design (rows × groups × sources) kept as a dense matrix.
MAX_EXPANDED_CELLS = 20_000_000


def _grouped_linear(design: Design, beta):
    """``theta[r] = X[r] . beta[group[r]]`` for group-specific threat weights.

    With few groups, the design is expanded once to ``X ⊗ onehot(group)`` so that
    theta and its gradient are two matrix-vector products; gathering beta rows per
    observation instead costs a scatter-add per source in the gradient (≈3× slower).
    """
    X = design.threat_X
    n, n_src = X.shape
    n_grp = len(design.threat_groups)
    if n * n_src * n_grp <= MAX_EXPANDED_CELLS:
        expanded = np.zeros((n, n_grp * n_src))
        for g in range(n_grp):
            rows = design.threat_group == g
            expanded[rows, g * n_src:(g + 1) * n_src] = X[rows]
        return pt.as_tensor_variable(expanded) @ beta.flatten()
    # One 1-D gather per source: its gradient is a 1-D scatter-add, where
    # gathering whole rows of beta would need a much slower N-D one.
    Xt = pt.as_tensor_variable(X)
    return sum(Xt[:, s] * beta[:, s][design.threat_group] for s in range(n_src))


def _vector(spec: ModelSpec, name: str, dim: str):
    resolved = dict(spec.resolved_prior(name))
    dist = resolved.pop("distribution")
    return Prior(dist, **resolved, dims=dim).create_variable(name)


def _alliance_block(design: Design, spec: ModelSpec, tau, keep_latent: bool) -> dict:
    a = spec.alliance
    n = len(design.ally_y)
    mu_alpha = _scalar(spec, "mu_alpha", mu=_logit(design.data_rates["alliance"]))
    dyads = a.dyad_intercepts and len(design.dyads) > 1
    eta = mu_alpha * pt.ones(n)
    if dyads:
        # Non-centred, zero-sum dyad offsets: mu_alpha is the mean dyad intercept.
        sigma_dyad = _scalar(spec, "sigma_dyad")
        z_dyad = pm.ZeroSumNormal("z_dyad", sigma=1.0, dims="dyad")
        eta = eta + (sigma_dyad * z_dyad)[design.ally_dyad]
    if len(design.ally_groups) > 1:
        sigma_alpha = _scalar(spec, "sigma_alpha")
        z_alpha = pm.ZeroSumNormal("z_alpha", sigma=1.0, dims="ally_group")
        eta = eta + (sigma_alpha * z_alpha)[design.ally_group]
    # Latent threat factors, from the same draws as block 1.
    latent = {}
    if tau is not None and any(design.term_latent):
        if design.dense is not None:
            latent["S"] = shared_tensor(design.dense, tau)
            if "S_persistent" in design.term_latent:
                latent["S_persistent"] = shared_tensor(design.dense, tau, persistent=True)
        else:
            prod = tau[design.triad_ji] * tau[design.triad_jk]
            latent["S"] = pt.zeros(n)[design.triad_ally].inc(prod)
            if "S_persistent" in design.term_latent:
                keep = np.flatnonzero(design.triad_persistent)
                latent["S_persistent"] = pt.zeros(n)[design.triad_ally[keep]].inc(prod[keep])
        latent["B"] = tau[design.partner_idx]
        if "T" in design.term_latent:
            total = pt.zeros(design.n_state_years)[design.threat_sy].inc(tau)
            latent["T"] = total[design.ally_sy]
        if keep_latent:
            latent = {k: pm.Deterministic(f"latent_{k}", v, dims="ally_obs") for k, v in latent.items()}
    for t, term in enumerate(design.terms):
        gamma = _scalar(spec, f"gamma_{term}", "gamma")
        col = design.term_observed[:, t]
        factor = design.term_latent[t]
        value = col * latent[factor] if factor else col
        eta = eta + gamma * (value - design.term_center[t]) / design.term_scale[t]
    if design.control_names:
        coefs = pt.stack([_scalar(spec, f"control_{c}", "control") for c in design.control_names])
        eta = eta + pt.as_tensor_variable(design.controls) @ coefs
    if a.year_intercepts and len(design.years) > 1:
        sigma_year = _scalar(spec, "sigma_year")
        z_year = pm.ZeroSumNormal("z_year", sigma=1.0, dims="year")
        eta = eta + (sigma_year * z_year)[design.ally_year]
    if np.any(design.ally_offset != 0):
        eta = eta + design.ally_offset
    if design.ally_cc_offset is not None and np.any(design.ally_cc_offset != 0):
        eta = eta + design.ally_cc_offset  # case-control correction (likelihood only; casecontrol)
    pm.Bernoulli("alliance", logit_p=eta, observed=design.ally_y, dims="ally_obs")
    return latent
