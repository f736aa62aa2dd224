"""Block 3 in the PyMC model: the hazard's coefficients, ΔS as a tensor, the ``alliance_end`` likelihood.

The arrays come from :mod:`walt_bayes.model.duration`; the fused sampling kernel
(:mod:`walt_bayes.model.fused`) shares :func:`duration_parameters` with the graph form here.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from walt_bayes.errors import ModelError
from walt_bayes.model.threat_graph import grouped_linear, threat_offset
from walt_bayes.spec import ModelSpec


def _logit(p: float) -> float:
    # Clipped so that a block with no (or only) endings still gets a finite prior centre.
    p = min(max(p, 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


def duration_block(design, spec: ModelSpec, latent: dict | None, keep_latent: bool = False) -> None:
    """Add block 3 to the model in context: ``alliance_end ~ Bernoulli(logit h)``.

    Parameters
    ----------
    design : Design
        With ``design.duration`` (nothing is added when it is None).
    spec : ModelSpec
        Priors: family ``delta`` for the effects, ``delta_0`` for the intercept.
    latent : dict or None
        The alliance block's latent factors.  ``latent["tau"]`` (the threat
        probability of every threat row), when the model builder passes it, gives
        ΔS; otherwise tau is rebuilt from the threat block's variables in the model
        (the same expression, so the same draws).
    keep_latent : bool
        Record the standardised ΔS as the deterministic ``duration_dS``.
    """
    dur = design.duration
    if dur is None:
        return
    model = pm.modelcontext(None)
    model.add_coord("dur_obs", np.arange(dur.n))
    delta = duration_parameters(design, spec)
    eta = delta[0] + delta[1] * dur.log_duration
    for t in range(len(dur.terms)):
        eta = eta + delta[2 + t] * dur.X[:, t]
    if dur.threat_rise:
        dS = _delta_shared_tensor(design, (latent or {}).get("tau"))
        if keep_latent:
            dS = pm.Deterministic("duration_dS", dS, dims="dur_obs")
        eta = eta + delta[-1] * dS
    if dur.n:
        pm.Bernoulli("alliance_end", logit_p=eta, observed=dur.y, dims="dur_obs")


def duration_parameters(design, spec: ModelSpec) -> list:
    """Create block 3's coefficients in the model in context, in ``DurationArrays.coefficient_names`` order.

    ``delta_0`` (prior centred on the logit of the observed end rate), ``delta_log_duration``,
    one ``delta_<term>`` per indicator column and, with ``threat_rise``, ``delta_threat_rise``.
    Shared by the graph block (:func:`duration_block`) and the fused kernel
    (:mod:`walt_bayes.model.fused`), so both forms have the same parameters and priors.

    Parameters
    ----------
    design : Design
        With ``design.duration``.
    spec : ModelSpec
        Priors: family ``delta`` for the effects, ``delta_0`` for the intercept.

    Returns
    -------
    list
        The coefficients' random variables.
    """
    dur = design.duration
    rate = design.data_rates.get("alliance_end", float(dur.y.mean()) if dur.n else 0.1)
    out = []
    for name in dur.coefficient_names():
        prior = spec.prior("delta_0", mu=_logit(rate)) if name == "delta_0" else spec.prior(name, "delta")
        out.append(prior.create_variable(name))
    return out


def _model_tau(design, rows: np.ndarray | None = None):
    """tau of the threat ``rows`` (default: all) from the threat block's variables in the model in context."""
    model = pm.modelcontext(None)
    if "lambda_0" not in model.named_vars:
        raise ModelError("duration term 'threat_rise' needs the threat block (lambda_0, beta) in the model")
    if len(design.threat_groups) > 1:
        theta = grouped_linear(design, model["beta"], rows)
    else:
        beta = pt.stack([model[f"beta_{s}"] for s in design.sources])
        X = design.threat_X if rows is None else design.threat_X[rows]
        theta = pt.as_tensor_variable(X) @ beta
    source = model["source_effect"] if "source_effect" in model.named_vars else None
    return pm.math.sigmoid(model["lambda_0"] + theta + threat_offset(design, source, rows))


def _delta_shared_tensor(design, tau=None):
    """ΔS / sd(ΔS) per spell-year from the block's triads (PyTensor twin of ``DurationArrays.delta_shared``).

    Without ``tau`` (a model with no graph tau; the fused sampling model computes ΔS in
    its kernel, :mod:`walt_bayes.model.fused`), tau is built for the threat rows the
    block's triads use only (5,966 of the embedded panel's 10,960).
    """
    dur = design.duration
    ji, jk = dur.tri_ji, dur.tri_jk
    if tau is None:
        rows = dur.threat_rows()
        tau = _model_tau(design, rows)
        ji, jk = np.searchsorted(rows, ji), np.searchsorted(rows, jk)
    S = pt.zeros(len(dur.s_keys))[dur.tri_s].inc(tau[ji] * tau[jk])
    return (S[dur.s_now] - S[dur.s_prev]) / dur.dS_scale
