"""Build the joint PyMC model (blocks 1 and 2 of MODEL.md) from a design.

Block 1 (latent threat): ``theta[j->i,t] = x[j->i,t] . beta[g(i)]`` with
partial pooling ``beta[g] = mu_beta + offset[g]``, ``offset ~ ZeroSumNormal(tau_beta)``
(partially non-centred per source, ``Design.threat_centring``); the population means
are the named weights ``beta_power`` … ``beta_intent``.
Threat is measured by dispute initiation: ``P(init21) = logistic(lambda_0 + theta)``.

Block 2 (alliance choice): ``logit P(a) = alpha[g] + sum_t gamma_t * term_t
+ controls + dyad + year (+ offset)``, where latent terms (shared threat S,
partner threat B, total threat faced T) are computed from the *same* threat
draws, so threat uncertainty flows into the alliance block.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc_extras.prior import Prior

from walt_bayes.model.dense import shared_tensor
from walt_bayes.model.design import Design
from walt_bayes.model.duration import duration_block, duration_parameters
from walt_bayes.model.fused import FusedLayout, FusedLogLik, design_constants
from walt_bayes.model.joining import joining_block
from walt_bayes.model.threat_graph import grouped_linear, threat_offset
from walt_bayes.spec import ModelSpec


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


def _scalar(spec: ModelSpec, name: str, family: str | None = None, **data_driven: float):
    return spec.prior(name, family, **data_driven).create_variable(name)


def build_model(
    design: Design, spec: ModelSpec, keep_latent: bool = False, fused: bool = False,
    shared_data: bool = False,
) -> pm.Model:
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
    fused : bool
        For sampling: the same parameters and priors, with the likelihood of blocks 1–3
        (threat, alliance, duration) as one fused numba kernel
        (:mod:`walt_bayes.model.fused`, a ``pm.Potential``) instead of observed
        variables.  Ignored (the graph form is built) when ``keep_latent`` is true.  The
        joining block, when the design has it, stays observed variables of the graph
        beside the kernel's potential.  Predictive draws and pointwise log-likelihood
        need the graph form (or :mod:`walt_bayes.fit.pointwise`): build it again with
        ``fused=False`` for them.
    shared_data : bool
        With ``fused``: the kernel's data arrays (block 3's included) enter as shared
        variables named ``fused_data_<i>`` (:func:`fused_data`) instead of constants, so
        one compiled model can sample other rows of the same design (cross-validation
        folds swap theirs in with nutpie's ``with_data``; :mod:`walt_bayes.fit.compiled`).

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
    fused = fused and not keep_latent
    with pm.Model(coords=coords, check_bounds=False) as model:
        threat = _threat_parameters(design, spec) if design.has_threat else None
        alliance = _alliance_parameters(design, spec)
        if fused:
            # Block 3 is in the kernel too (its ΔS from the kernel's own tau); its
            # coefficients are created here, in the graph form's order.
            delta = duration_parameters(design, spec) if design.duration is not None else []
            _fused_likelihood(design, spec, threat, alliance, delta, shared_data)
            # The joining block is small and has no threat term: graph terms beside the kernel.
            joining_block(design, spec)
            return model
        tau = _threat_likelihood(design, threat) if design.has_threat else None
        latent = _alliance_likelihood(design, alliance, tau, keep_latent)
        duration_block(design, spec, latent, keep_latent)
        joining_block(design, spec)
    return model


def can_fuse(design: Design, keep_latent: bool = False) -> bool:
    """Whether the fused kernel covers the whole likelihood (blocks 1–3; no joining block).

    Then the kernel's data arrays are all the data the sampling model holds, so one
    compile serves every design of the same structure (:mod:`walt_bayes.fit.compiled`),
    and :mod:`walt_bayes.fit.pointwise` computes every pointwise log-likelihood and
    predictive draw.  Models with a joining block sample with the kernel too (joining
    is added as graph terms), but its data are constants of the graph: they are not
    reused across designs and their pointwise log-likelihood comes from PyMC.
    """
    return not keep_latent and design.joining is None


#: Name prefix of the fused kernel's data arrays when they are shared variables.
FUSED_DATA_PREFIX = "fused_data_"
#: Name of the kernel's potential, without and with a duration block.
FUSED_POTENTIAL = {False: "loglik_blocks_1_2", True: "loglik_blocks_1_3"}


def _fused_layout(design: Design, spec: ModelSpec):
    """Segment sizes of the kernel's parameter vector: the parameters :func:`build_model` creates."""
    a = spec.alliance
    threat = design.has_threat
    return FusedLayout(
        n_group=len(design.threat_groups) if threat else 0, n_source=len(design.sources) if threat else 0,
        n_dyad=len(design.dyads) if a.dyad_intercepts and len(design.dyads) > 1 else 0,
        n_year=len(design.years) if a.year_intercepts and len(design.years) > 1 else 0,
        n_ally_group=len(design.ally_groups) if len(design.ally_groups) > 1 else 0,
        n_term=len(design.terms), n_control=len(design.control_names),
        n_state_year=design.n_state_years if threat else 0,
        dispute_every_row=threat and design.dispute_idx is None,
        n_duration=len(design.duration.coefficient_names()) if design.duration is not None else 0,
        n_source_state=len(design.source_states) if threat else 0,
    )


def fused_data(design: Design, spec: ModelSpec) -> dict[str, np.ndarray]:
    """The fused kernel's data arrays for ``design``, by shared-variable name (``shared_data=True``)."""
    arrays = design_constants(design, _fused_layout(design, spec))
    return {f"{FUSED_DATA_PREFIX}{i}": a for i, a in enumerate(arrays)}


def _fused_likelihood(design: Design, spec: ModelSpec, threat: dict | None, alliance: dict,
                      delta: list, shared_data: bool = False) -> None:
    """The kernel's potential: ``delta`` are block 3's coefficients (empty without a duration block)."""
    def seg(x):
        return pt.zeros(0) if x is None else pt.as_tensor_variable(x).flatten()

    beta, lambda_0 = (threat["beta"], threat["lambda_0"]) if threat is not None else (None, pt.constant(0.0))
    params = pt.concatenate([
        seg(beta), seg(lambda_0), seg(alliance["mu_alpha"]), seg(alliance["dyad"]), seg(alliance["year"]),
        seg(alliance["group"]), seg(pt.stack(alliance["gamma"]) if alliance["gamma"] else None),
        seg(pt.stack(alliance["coefs"]) if alliance["coefs"] else None),
        seg(pt.stack(delta) if delta else None), seg(threat["source"] if threat is not None else None),
    ])
    layout = _fused_layout(design, spec)
    built = (alliance["dyad"] is not None, alliance["year"] is not None, alliance["group"] is not None,
             len(delta))
    if built != (layout.n_dyad > 0, layout.n_year > 0, layout.n_ally_group > 0, layout.n_duration):
        raise RuntimeError(f"fused kernel layout {layout} disagrees with the model's parameters {built}")
    data = fused_data(design, spec)
    if shared_data:
        inputs = [pytensor.shared(a, name=name) for name, a in data.items()]
    else:
        inputs = list(data.values())
    value, _ = FusedLogLik()(params, *inputs)
    pm.Potential(FUSED_POTENTIAL[design.duration is not None], value[0])


def _threat_parameters(design: Design, spec: ModelSpec) -> dict:
    """Block 1's parameters: threat weights per group (``beta``, groups × sources) and ``lambda_0``."""
    weights = [_scalar(spec, f"beta_{s}", "beta") for s in design.sources]
    mu_beta = pt.stack(weights)
    if len(design.threat_groups) > 1:
        tau_beta = _vector(spec, "tau_beta", "source")
        # Zero-sum offsets: the named weights are exactly the mean over groups, which also
        # removes the mean/offset trade-off that slows mixing.  Each source's offsets are
        # partially non-centred with the weight a the data support (Design.threat_centring):
        # z ~ ZeroSumNormal(tau**a), offset = tau**(1 - a) * z, the same prior for every a.
        a = np.asarray(design.threat_centring or [0.0] * len(design.sources), float)
        z = pm.ZeroSumNormal("z_beta", sigma=(tau_beta**a)[:, None], dims=("source", "threat_group"))
        offsets = (tau_beta ** (1.0 - a))[:, None] * z
        beta = pm.Deterministic("beta", (mu_beta[:, None] + offsets).T, dims=("threat_group", "source"))
    else:
        beta = mu_beta[None, :]
    lambda_0 = _scalar(spec, "lambda_0", mu=_logit(design.data_rates["init21"]))
    return {"beta": beta, "lambda_0": lambda_0, "source": _source_effects(design, spec)}


def _source_effects(design: Design, spec: ModelSpec):
    """Zero-sum intercepts of the threatening states, ``sigma_source · z_source`` (None without them).

    Non-centred: a state initiates a few disputes a decade, so its intercept is weakly
    informed next to the prior (centred, the scale and the intercepts would form a funnel).
    Zero-sum, so that ``lambda_0`` stays the mean threat logit and does not trade off
    against the intercepts' mean.
    """
    if not design.source_states:
        return None
    model = pm.modelcontext(None)
    model.add_coord("source_state", design.source_states)
    sigma = _scalar(spec, "sigma_source")
    z = pm.ZeroSumNormal("z_source", sigma=1.0, dims="source_state")
    return pm.Deterministic("source_effect", sigma * z, dims="source_state")


def _threat_likelihood(design: Design, threat: dict):
    """Block 1's dispute likelihood; returns tau, the threat probability of every threat row."""
    beta = threat["beta"]
    if len(design.threat_groups) > 1:
        theta = grouped_linear(design, beta)
    else:
        theta = pt.as_tensor_variable(design.threat_X) @ beta[0]
    eta = threat["lambda_0"] + theta + threat_offset(design, threat["source"])
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


def _vector(spec: ModelSpec, name: str, dim: str):
    resolved = dict(spec.resolved_prior(name))
    dist = resolved.pop("distribution")
    return Prior(dist, **resolved, dims=dim).create_variable(name)


def _alliance_parameters(design: Design, spec: ModelSpec) -> dict:
    """Block 2's parameters, created in one fixed order: intercepts, effects, gammas, controls."""
    a = spec.alliance
    p = {"mu_alpha": _scalar(spec, "mu_alpha", mu=_logit(design.data_rates["alliance"])),
         "dyad": None, "group": None, "year": None}
    if len(design.ally_groups) > 1:
        sigma_alpha = _scalar(spec, "sigma_alpha")
        p["group"] = sigma_alpha * pm.ZeroSumNormal("z_alpha", sigma=1.0, dims="ally_group")
    p["gamma"] = [_scalar(spec, f"gamma_{term}", "gamma") for term in design.terms]
    p["coefs"] = [_scalar(spec, f"control_{c}", "control") for c in design.control_names]
    if a.dyad_intercepts and len(design.dyads) > 1:
        p["dyad"] = _dyad_effects(design, spec, p)
    if a.year_intercepts and len(design.years) > 1:
        p["year"] = _year_effects(design, spec)
    return p


def _year_effects(design: Design, spec: ModelSpec):
    """Zero-sum year intercepts with scale ``sigma_year``, recorded as ``year_effect``.

    ``ZeroSumNormal(sigma_year)`` is the distribution of ``a - mean(a)`` for independent
    ``a_t ~ Normal(0, sigma_year)``; the ``a_t`` are sampled centred (``year_raw_centred``)
    in the years with allied rows and non-centred (``z_year_other``) in the others
    (``Design.year_centred``), so the same prior takes each year's better geometry.
    """
    sigma_year = _scalar(spec, "sigma_year")
    model = pm.modelcontext(None)
    mask = np.zeros(len(design.years), bool) if design.year_centred is None else design.year_centred
    centred, other = np.flatnonzero(mask), np.flatnonzero(~mask)
    raw = pt.zeros(len(design.years))
    if len(centred):
        model.add_coord("year_centred", [design.years[i] for i in centred])
        raw = raw[centred].set(pm.Normal("year_raw_centred", 0.0, sigma_year, dims="year_centred"))
    if len(other):
        model.add_coord("year_other", [design.years[i] for i in other])
        raw = raw[other].set(sigma_year * pm.Normal("z_year_other", 0.0, 1.0, dims="year_other"))
    return pm.Deterministic("year_effect", raw - raw.mean(), dims="year")


def _dyad_effects(design: Design, spec: ModelSpec, p: dict):
    """Dyad intercepts ``alpha_d ~ Normal(mu_alpha + m_d, sigma_dyad)``, as offsets of the row predictor.

    ``m_d`` is the dyad's mean of the observed-only columns times their coefficients
    (``Design.dyad_means``), so a row's predictor is ``alpha_d + coef · (x - x̄_d) + …``:
    the same model as ``mu_alpha + sigma_dyad · z_d + coef · x``, with dyad-constant
    covariates (major-power status, contiguity) no longer traded off against every dyad's
    intercept.  Dyads with allied years are sampled centred (``alpha_dyad_allied``), the
    never-allied non-centred (``z_dyad_other``); Papaspiliopoulos, Roberts & Sköld (2007).
    With ~75 % of dyads never allied, fully non-centred offsets made ``mu_alpha`` and
    ``sigma_dyad`` mix slowly (posterior correlation -0.84; bulk ESS 455 of 6000 draws).

    Returns the offset ``alpha_d - mu_alpha - m_d`` per dyad, recorded as ``dyad_effect``.
    """
    model = pm.modelcontext(None)
    sigma = _scalar(spec, "sigma_dyad")
    weights = p["coefs"] + p["gamma"]  # the columns of dyad_means, in order
    shift = pt.as_tensor_variable(design.dyad_means) @ pt.stack(weights) if weights else pt.zeros(len(design.dyads))
    mean = p["mu_alpha"] + shift
    centred = np.flatnonzero(design.dyad_centred)
    other = np.flatnonzero(~design.dyad_centred)
    effect = pt.zeros(len(design.dyads))
    if len(centred):
        model.add_coord("dyad_allied", [design.dyads[i] for i in centred])
        alpha = pm.Normal("alpha_dyad_allied", mu=mean[centred], sigma=sigma, dims="dyad_allied")
        effect = effect[centred].set(alpha - mean[centred])
    if len(other):
        model.add_coord("dyad_other", [design.dyads[i] for i in other])
        effect = effect[other].set(sigma * pm.Normal("z_dyad_other", 0.0, 1.0, dims="dyad_other"))
    return pm.Deterministic("dyad_effect", effect, dims="dyad")


def _alliance_likelihood(design: Design, p: dict, tau, keep_latent: bool) -> dict:
    """Block 2's alliance likelihood; returns the latent factors (S, B, T, …) it used."""
    n = len(design.ally_y)
    eta = p["mu_alpha"] * pt.ones(n)
    if p["dyad"] is not None:
        eta = eta + p["dyad"][design.ally_dyad]
    if p["group"] is not None:
        eta = eta + p["group"][design.ally_group]
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
    for t, gamma in enumerate(p["gamma"]):
        col = design.term_observed[:, t]
        factor = design.term_latent[t]
        value = col * latent[factor] if factor else col
        eta = eta + gamma * (value - design.term_center[t]) / design.term_scale[t]
    if p["coefs"]:
        eta = eta + pt.as_tensor_variable(design.controls) @ pt.stack(p["coefs"])
    if p["year"] is not None:
        eta = eta + p["year"][design.ally_year]
    if np.any(design.ally_offset != 0):
        eta = eta + design.ally_offset
    if design.ally_cc_offset is not None and np.any(design.ally_cc_offset != 0):
        eta = eta + design.ally_cc_offset  # case-control correction (likelihood only; casecontrol)
    pm.Bernoulli("alliance", logit_p=eta, observed=design.ally_y, dims="ally_obs")
    if tau is not None:
        latent["tau"] = tau  # block 3's ΔS reuses these threat probabilities
    return latent
