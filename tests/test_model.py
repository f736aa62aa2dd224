"""The design and the PyMC model: shapes, finite log-density, and latent threat computed right."""

from __future__ import annotations

import numpy as np
import pytest

from walt_bayes.errors import DataError, ModelError
from walt_bayes.model.build import build_model
from walt_bayes.model.design import Design, build_design
from walt_bayes.spec import load_spec, parse_spec

VARIANTS = ["null", "balance_of_power", "balance_of_threat", "ideology", "full"]


# Python implementations (no C compile): the point is the model's density, not its speed.
# full's logp is one Add of over 32 terms, which Python mode cannot evaluate: compiled, in
# the slow suite (35 s from a cold cache); the fast suite fits a duration model elsewhere.
@pytest.mark.parametrize("variant", [pytest.param(v, marks=pytest.mark.slow) if v == "full" else v
                                     for v in VARIANTS])
def test_logp_and_gradient_finite_at_initial_point(sim_balancing, variant):
    spec = load_spec(variant)
    design = build_design(sim_balancing.panel, spec)
    model = build_model(design, spec)
    point = model.initial_point()
    mode = {} if variant == "full" else {"mode": "FAST_COMPILE"}
    logp = model.compile_logp(**mode)(point)
    grad = model.compile_dlogp(**mode)(point)
    assert np.isfinite(logp)
    assert np.all(np.isfinite(grad))
    assert grad.size == sum(np.size(v) for v in point.values())


def test_undirected_rows_once_per_dyad_year(sim_balancing, bot_spec):
    design = build_design(sim_balancing.panel, bot_spec)
    keys = design.ally_keys
    pairs = set(zip(np.minimum(keys.ccode1, keys.ccode2), np.maximum(keys.ccode1, keys.ccode2), keys.year, strict=True))
    assert len(pairs) == len(keys)  # each symmetric alliance counted once
    n_years = sim_balancing.panel.year.nunique()
    assert len(keys) == 12 * 11 // 2 * n_years
    # i is the weaker state of the pair
    panel = sim_balancing.panel.set_index(["ccode1", "ccode2", "year"])
    p = panel.loc[list(zip(keys.ccode1, keys.ccode2, keys.year, strict=True))]
    assert (p["power1"].to_numpy() <= p["power2"].to_numpy()).all()


def test_shared_threat_matches_brute_force(sim_balancing, bot_spec):
    """S[i,k,t] = sum over relevant j of tau[j->i] * tau[j->k], checked against a plain loop."""
    design = build_design(sim_balancing.panel, bot_spec)
    rng = np.random.default_rng(0)
    tau = rng.uniform(0.01, 0.5, size=len(design.threat_y))
    S = design.latent_factors(tau)["S"][0]
    panel = sim_balancing.panel
    tkeys = {k: n for n, k in enumerate(zip(design.threat_keys.ccode1, design.threat_keys.ccode2,
                                             design.threat_keys.year, strict=True))}
    pan = panel.set_index(["ccode1", "ccode2", "year"])
    for row in rng.choice(len(design.ally_y), size=25, replace=False):
        i, k, t = (int(v) for v in design.ally_keys.iloc[row])
        states = panel.loc[panel.year == t, "ccode1"].unique()
        expected = 0.0
        for j in states:
            if j in (i, k):
                continue
            rel = any(
                pan.loc[(x, j, t), "contiguous"] == 1 or pan.loc[(x, j, t), "major2"] == 1
                or pan.loc[(x, j, t), "rivalry"] == 1
                for x in (i, k)
            )
            if rel:
                expected += tau[tkeys[(i, j, t)]] * tau[tkeys[(k, j, t)]]
        assert S[row] == pytest.approx(expected)


def test_model_latent_threat_equals_numpy_twin(sim_balancing, bot_spec):
    """S, B computed by PyTensor inside the model equal the numpy computation at a random point."""
    design = build_design(sim_balancing.panel, bot_spec)
    model = build_model(design, bot_spec, keep_latent=True)
    rng = np.random.default_rng(1)
    point = {k: v + rng.normal(0, 0.3, size=np.shape(v)) for k, v in model.initial_point().items()}
    outs = [model["latent_S"], model["latent_B"], model["dispute"].owner.inputs[-1]]
    f = model.compile_fn(outs, inputs=model.value_vars, point_fn=True, on_unused_input="ignore")
    S_model, B_model, p_dispute = f(point)
    tau = np.asarray(p_dispute).ravel()
    twin = design.latent_factors(tau)
    # atol: S sums products of probabilities, so a near-zero entry (~1e-10) differs in
    # its last bits between BLAS builds; 1e-12 is still far below any meaningful error.
    np.testing.assert_allclose(S_model, twin["S"][0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(B_model, twin["B"][0], rtol=1e-10, atol=1e-12)
    assert np.ptp(S_model) > 0


def test_design_round_trip(sim_balancing, bot_spec):
    design = build_design(sim_balancing.panel, bot_spec)
    again = Design.from_dataset(design.to_dataset())
    np.testing.assert_array_equal(again.threat_X, design.threat_X)
    np.testing.assert_array_equal(again.triad_ally, design.triad_ally)
    np.testing.assert_array_equal(again.term_observed, design.term_observed)
    assert again.terms == design.terms and again.dyads == design.dyads


def test_missing_column_is_a_one_line_data_error(sim_balancing, bot_spec):
    with pytest.raises(DataError, match="missing required column 'offense2'"):
        build_design(sim_balancing.panel.drop(columns=["offense2"]), bot_spec)


def test_term_without_data_stops_or_is_dropped(sim_balancing):
    panel = sim_balancing.panel.drop(columns=["aid21", "aid12"])
    strict = parse_spec('[model]\nname="a"\n[alliance]\nterms=["aid"]\n')
    with pytest.raises(ModelError, match="term 'aid' needs data"):
        build_design(panel, strict)
    lenient = parse_spec('[model]\nname="a"\n[alliance]\nterms=["aid", "ideology"]\ndrop_unavailable=true\n')
    design = build_design(panel, lenient)
    assert design.terms == ["ideology"] and "aid" in design.dropped_terms


def test_subset_alliance_keeps_latent_terms_aligned(sim_balancing, bot_spec):
    design = build_design(sim_balancing.panel, bot_spec)
    rows = np.arange(0, len(design.ally_y), 3)
    sub = design.subset_alliance(rows)
    tau = np.random.default_rng(2).uniform(0.01, 0.4, size=len(design.threat_y))
    full = design.term_matrix(tau)[0]
    np.testing.assert_allclose(sub.term_matrix(tau)[0], full[rows])
    assert sub.dyads == design.dyads and len(sub.ally_y) == len(rows)


def test_plugin_logit_matches_statsmodels_on_the_embedded_threat_block():
    """The pooled threat logit that fixes the latent terms' centre and scale is the real MLE.

    A plain Newton iteration diverged here (rare disputes, a near-separating
    intentions composite) and put the shared-threat term's centre ~90 posterior SDs
    away from its values, which made gamma_shared almost prior-bound.
    """
    import statsmodels.api as sm

    from walt_bayes.model.design import _plugin_tau, logistic_mle
    from walt_bayes.panel.datasets import load_dataset

    design = build_design(load_dataset("middle-east").panel, load_spec("balance_of_threat"))
    ours = logistic_mle(design.threat_X, design.threat_y.astype(float), ridge=0.0)
    ref = sm.Logit(design.threat_y, sm.add_constant(design.threat_X)).fit(disp=0).params
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    tau = _plugin_tau(design)
    assert abs(tau.mean() - design.threat_y.mean()) < 0.002  # logit MLE reproduces the base rate
    # The standardised latent terms are centred where the plug-in puts them.
    latent = design.latent_factors(tau)
    for t, factor in enumerate(design.term_latent):
        if factor:
            z = (design.term_observed[:, t] * latent[factor][0] - design.term_center[t]) / design.term_scale[t]
            assert abs(z.mean()) < 1e-6 and abs(z.std() - 1) < 1e-6


def test_dyad_intercepts_partially_centred_by_allied_years(sim_balancing, bot_spec):
    design = build_design(sim_balancing.panel, bot_spec)
    allied = np.zeros(len(design.dyads), dtype=bool)
    allied[design.ally_dyad[design.ally_y == 1]] = True
    assert 0 < allied.sum() < len(allied)
    np.testing.assert_array_equal(design.dyad_centred, allied)
    # dyad_means: each dyad's mean of the controls (then of the observed-only terms)
    d = design.ally_dyad[0]
    rows = design.ally_dyad == d
    np.testing.assert_allclose(design.dyad_means[d, : len(design.control_names)], design.controls[rows].mean(axis=0))
    # folds keep the full design's parameterisation, so their models share parameters
    sub = design.subset_alliance(np.flatnonzero(design.ally_dyad != d))
    np.testing.assert_array_equal(sub.dyad_centred, design.dyad_centred)


def test_centred_and_noncentred_dyad_intercepts_are_one_model(sim_balancing, bot_spec):
    """logp(centred alpha) = logp(non-centred z = effect / sigma) - n_centred * log(sigma).

    The change of variables z = (alpha - mean) / sigma has Jacobian sigma^-1 per centred
    dyad, so the two parameterisations are the same posterior only if the log-densities
    differ by exactly that constant.
    """
    import copy

    design = build_design(sim_balancing.panel, bot_spec)
    noncentred = copy.copy(design)
    noncentred.dyad_centred = np.zeros(len(design.dyads), dtype=bool)
    m1, m2 = build_model(design, bot_spec), build_model(noncentred, bot_spec)
    rng = np.random.default_rng(3)
    point = {k: v + rng.normal(scale=0.3, size=np.shape(v)) for k, v in m1.initial_point().items()}
    effect = m1.compile_fn(m1.replace_rvs_by_values([m1["dyad_effect"]])[0], inputs=m1.value_vars, on_unused_input="ignore")(point)
    sigma = np.exp(point["sigma_dyad_log__"])
    point2 = {k: v for k, v in point.items() if k not in ("alpha_dyad_allied", "z_dyad_other")}
    point2["z_dyad_other"] = effect / sigma
    n_centred = int(design.dyad_centred.sum())
    diff = m1.compile_logp()(point) - m2.compile_logp()(point2)
    np.testing.assert_allclose(diff, -n_centred * np.log(sigma), rtol=1e-9)
