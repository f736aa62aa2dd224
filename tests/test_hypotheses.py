"""The hypothesis registry, marginal effects and the evidence table (fast: no sampling).

A "prior fit" stands in for a posterior: draws from the prior of the ``full`` variant on a small
simulated world, with the model's own pointwise log-likelihood, design and observed data, so the
numpy alliance predictor and the marginal effects can be checked against the PyMC model.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import arviz as az
import numpy as np
import pytest
import xarray as xr

from walt_bayes.hypotheses.effects import (
    PATHS,
    Effects,
    LatentOps,
    alliance_eta,
    alliance_loglik,
    model_draws,
    threat_tau,
)
from walt_bayes.hypotheses.registry import REGISTRY, WALT_IDS, FitContext
from walt_bayes.hypotheses.table import evidence_table, markdown, pairs_table, table_records

REPO = Path(__file__).resolve().parents[1]
#: The ids of WALT_HYPOTHESES.md (the contract).
CONTRACT_IDS = (
    [f"BAL-{k}" for k in range(1, 7)] + [f"BW-{k}" for k in range(1, 7)]
    + [f"COND-{k}" for k in range(1, 6)] + [f"IDEO-{k}" for k in range(1, 6)]
    + [f"AID-{k}" for k in range(1, 7)] + [f"PEN-{k}" for k in range(1, 5)]
)


def _expit(x):
    return 1 / (1 + np.exp(-x))


@pytest.fixture(scope="module")
def prior_fit(sim_balancing):
    """(tree, design, panel): 40 prior draws of the full variant, stored like a fit."""
    import pymc as pm

    from walt_bayes.fit.fitfile import FORMAT
    from walt_bayes.model.build import build_model
    from walt_bayes.model.design import build_design
    from walt_bayes.spec import load_spec

    spec = load_spec("full")
    design = build_design(sim_balancing.panel, spec)
    model = build_model(design, spec)
    quick = {"mode": "FAST_COMPILE"}
    prior = pm.sample_prior_predictive(draws=40, model=model, random_seed=5, compile_kwargs=quick)
    tree = xr.DataTree.from_dict({
        "posterior": prior["prior"].to_dataset(),
        "prior": prior["prior"].to_dataset(),
        "observed_data": prior["observed_data"].to_dataset(),
        "constant_data": design.to_dataset(),
        "sample_stats": xr.Dataset({"diverging": (("chain", "draw"), np.zeros((1, 40), dtype=bool))}),
    })
    pm.compute_log_likelihood(tree, model=model, progressbar=False, compile_kwargs=quick)
    tree.attrs.update({
        "format": FORMAT, "spec_name": "full", "spec_toml": spec.source_text, "data_name": "sim",
        "data_sha256": "0" * 64, "seed": 5, "versions": json.dumps({}),
        "dropped_terms": json.dumps(design.dropped_terms), "convergence": json.dumps({"ok": True}),
    })
    return tree, design, sim_balancing.panel


@pytest.fixture(scope="module")
def prior_table(prior_fit):
    return evidence_table(prior_fit[0]).set_index("id")


# ------------------------------------------------------------------- the registry
def test_registry_has_every_contract_id():
    assert list(WALT_IDS) == CONTRACT_IDS
    contract = REPO.parent / "shared" / "WALT_HYPOTHESES.md"
    if contract.exists():
        ids = re.findall(r"^\| ([A-Z]+-\d+) \|", contract.read_text(), flags=re.M)
        assert ids == CONTRACT_IDS
    for hid in CONTRACT_IDS:
        h = REGISTRY[hid]
        assert h.statement and h.quantity and h.needs and h.family == hid.split("-")[0]
        assert all(p.direction in (1, -1) for p in h.parts)


def test_pairs_are_mutual_and_bal5_bw5_share_one_quantity():
    for k in range(1, 7):
        assert REGISTRY[f"BAL-{k}"].pair == f"BW-{k}" and REGISTRY[f"BW-{k}"].pair == f"BAL-{k}"
    assert REGISTRY["BAL-5"].same_quantity_as_pair and REGISTRY["BW-5"].same_quantity_as_pair
    assert REGISTRY["BAL-5"].direction == -REGISTRY["BW-5"].direction


# ------------------------------------------------------- the numpy alliance predictor
def test_alliance_eta_reproduces_the_models_log_likelihood(prior_fit):
    tree, design, _ = prior_fit
    post = tree["posterior"].to_dataset()
    draws = model_draws(post, design, max_draws=None)
    y = tree["observed_data"]["alliance"].values
    mine = alliance_loglik(design, draws.values, y)
    theirs = tree["log_likelihood"]["alliance"].values.reshape(mine.shape)
    # Prior draws reach extreme predictors, where PyMC's log(sigmoid) loses precision (and
    # underflows to -inf); compare exactly where it is accurate.
    accurate = theirs > -15
    assert accurate.mean() > 0.95
    np.testing.assert_allclose(mine[accurate], theirs[accurate], rtol=1e-8, atol=1e-10)
    assert np.all(mine[~accurate] < -14)


def test_thinning_keeps_draws_evenly_spaced(prior_fit):
    tree, design, _ = prior_fit
    draws = model_draws(tree["posterior"].to_dataset(), design, max_draws=10)
    assert draws.n == 10 and draws.n_total == 40
    assert draws.index[0] == 0 and draws.index[-1] == 39


@pytest.mark.parametrize("dense", [True, False])
def test_latent_ops_equal_the_designs_numpy_twin(prior_fit, dense):
    tree, design, _ = prior_fit
    d = copy.copy(design)
    if not dense:
        d.dense = None
    draws = model_draws(tree["posterior"].to_dataset(), d, max_draws=8).values
    tau = threat_tau(d, draws)
    ops = LatentOps(d)
    mine = ops.factors(ops.prepare(tau), {"S", "S_persistent", "B", "T"})
    twin = design.latent_factors(tau)
    for f in ("S", "S_persistent", "B", "T"):
        np.testing.assert_allclose(mine[f], twin[f], rtol=1e-10, atol=1e-14)


def _fd_threat_ame(design, draws, source, path, h=1e-4):
    """Central finite differences of P(alliance) in the threat input of ``source`` through ``path``,
    using the design's own latent factors (the numpy twin of the PyMC model)."""
    s = design.sources.index(source)
    base = design.latent_factors(threat_tau(design, draws))
    probs = []
    for sign in (+1, -1):
        X = design.threat_X.copy()
        X[:, s] += sign * h
        moved = design.latent_factors(threat_tau(design, draws, X))
        latent = {f: (moved[f] if f in PATHS[path] else base[f]) for f in base}
        probs.append(_expit(alliance_eta(design, draws, latent)))
    return ((probs[0] - probs[1]) / (2 * h)).mean(axis=1)


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize(("source", "path"), [("intent", "S"), ("power", "B"), ("offense", "T")])
def test_threat_ame_matches_finite_differences(prior_fit, source, path, dense):
    tree, design, _ = prior_fit
    d = copy.copy(design)
    if not dense:
        d.dense = None
    eff = Effects(d, tree["posterior"].to_dataset(), max_draws=12)
    fd = _fd_threat_ame(d, eff.draws.values, source, path)
    got = eff.get(("threat", source, path, "all")).draws
    np.testing.assert_allclose(got, fd, rtol=2e-3, atol=1e-7)


def test_paths_add_up_to_the_total_effect(prior_fit):
    tree, design, _ = prior_fit
    eff = Effects(design, tree["posterior"].to_dataset(), max_draws=12)
    total = sum(eff.get(("threat", "intent", p, "all")).draws for p in PATHS)
    s = design.sources.index("intent")
    h = 1e-4
    probs = []
    for sign in (+1, -1):
        X = design.threat_X.copy()
        X[:, s] += sign * h
        latent = design.latent_factors(threat_tau(design, eff.draws.values, X))
        probs.append(_expit(alliance_eta(design, eff.draws.values, latent)))
    fd = ((probs[0] - probs[1]) / (2 * h)).mean(axis=1)
    np.testing.assert_allclose(total, fd, rtol=2e-3, atol=1e-7)


def test_powerful_proximity_effect_only_moves_powerful_sources(prior_fit):
    tree, design, _ = prior_fit
    eff = Effects(design, tree["posterior"].to_dataset(), max_draws=12)
    mask = eff.powerful_mask()
    assert 0 < mask.sum() < len(mask)
    b = eff.get(("threat", "proximity", "B", "powerful"))
    assert b.rows == int(mask[design.partner_idx].sum())
    assert np.all(np.isfinite(eff.get(("threat", "proximity", "S", "powerful")).draws))


def _with_input(design, panel, factor, value=None, h=0.0):
    """A copy of the design with observed input ``factor`` set to ``value`` (binary) or moved by
    ``h`` (continuous z-score), rebuilt from the panel independently of the code under test."""
    from walt_bayes.spec import ALLIANCE_TERMS

    keys = design.ally_keys
    rows = panel.set_index(["ccode1", "ccode2", "year"]).loc[
        list(zip(keys.ccode1, keys.ccode2, keys.year, strict=True))
    ]
    others = {
        "bipolar": ((rows.index.get_level_values("year") >= 1946) & (rows.index.get_level_values("year") <= 1989))
        .astype(float),
        "illegit_i": rows["illegit1"].to_numpy(float),
    }
    d = copy.copy(design)
    d.term_observed = design.term_observed.copy()
    main = design.term_observed[:, design.terms.index({"ideo_sim": "ideology", "aid": "aid"}[factor])]
    for t, term in enumerate(design.terms):
        factors = ALLIANCE_TERMS[term]
        if factor not in factors:
            continue
        other = np.ones(len(main))
        for f in factors:
            if f in others:
                other = other * others[f]
        new = (main + h) if value is None else np.full(len(main), float(value))
        d.term_observed[:, t] = new * other
    return d


def test_observed_input_effects_match_direct_computation(prior_fit):
    tree, design, panel = prior_fit
    eff = Effects(design, tree["posterior"].to_dataset(), max_draws=12)
    draws = eff.draws.values
    tau = threat_tau(design, draws)
    latent = design.latent_factors(tau)
    # Continuous (regime similarity): derivative per SD, every ideology term.
    h = 1e-5
    up = _expit(alliance_eta(_with_input(design, panel, "ideo_sim", h=h), draws, latent))
    down = _expit(alliance_eta(_with_input(design, panel, "ideo_sim", h=-h), draws, latent))
    np.testing.assert_allclose(eff.get(("input", "ideo_sim")).draws, ((up - down) / (2 * h)).mean(axis=1),
                               rtol=1e-4, atol=1e-9)
    # Binary (aid): average discrete change P(aid = 1) - P(aid = 0).
    on = _expit(alliance_eta(_with_input(design, panel, "aid", value=1), draws, latent))
    off = _expit(alliance_eta(_with_input(design, panel, "aid", value=0), draws, latent))
    np.testing.assert_allclose(eff.get(("input", "aid")).draws, (on - off).mean(axis=1), rtol=1e-8, atol=1e-12)


def test_attribution_share_is_a_difference_of_shares(prior_fit):
    tree, design, _ = prior_fit
    share = Effects(design, tree["posterior"].to_dataset()).get(("share",)).draws
    assert share.shape == (40,)
    assert np.all((share >= -1) & (share <= 1))


# ------------------------------------------------------------------------ the table
def test_full_variant_table_lists_all_32_and_tests_the_marginal_effects(prior_table):
    t = prior_table
    assert set(CONTRACT_IDS) <= set(t.index)
    assert list(t.index[: len(t)]).index("BAL-1") == 0
    for hid in ["BAL-2", "BAL-4", "BAL-5", "BW-2", "BW-3", "BW-4", "BW-5", "BAL-3a", "IDEO-1", "AID-1"]:
        assert t.loc[hid, "verdict"] != "not testable", (hid, t.loc[hid, "reason"])
        assert t.loc[hid, "scale"] == "probability"
        assert t.loc[hid, "rope_low"] < 0 < t.loc[hid, "rope_high"] < np.log(1.1)
    # BAL-5 and BW-5: one quantity, opposite predictions.
    assert t.loc["BAL-5", "mean"] == t.loc["BW-5", "mean"]
    mirror = {"supported": "contradicted", "contradicted": "supported"}
    assert t.loc["BW-5", "verdict"] == mirror.get(t.loc["BAL-5", "verdict"], t.loc["BAL-5", "verdict"])
    # Parts and their combination.
    assert t.loc["BAL-3b", "part_of"] == "BAL-3" and "BAL-3a" in t.loc["BAL-3", "note"]
    assert np.isnan(t.loc["BAL-3", "mean"])
    assert t.loc["COND-1b", "scale"] == "share" and "not part of it" in t.loc["COND-1b", "note"]
    assert t.loc["COND-1", "verdict"] != "not testable"


@pytest.mark.parametrize(
    ("hid", "needles"),
    [
        ("BAL-6", ["alliance-duration block", "delta_war_won", "COW inter-state wars"]),
        ("IDEO-2", ["delta_leninist", "Leninist"]),
        ("COND-5", ["wartime-joining", "join_winner"]),
        ("IDEO-3b", ["ideology_x_bipolar", "does not vary", "non-bipolar years"]),
        ("AID-3", ["supplier-concentration"]),
        ("AID-4", ["dependence data"]),
        ("AID-5", ["motivation"]),
        ("AID-6", ["state-capacity"]),
        ("PEN-1", ["left out of this fit", "igos or trade_dep", "global panel"]),
        ("PEN-3", ["intrusive"]),
        ("VAR-1", ["walt-bayes compare", "balance_of_power"]),
    ],
)
def test_not_testable_says_why_and_what_would_make_it_testable(prior_table, hid, needles):
    row = prior_table.loc[hid]
    assert row["verdict"] == "not testable"
    for needle in needles:
        assert needle in row["reason"], (needle, row["reason"])
    assert "testable with" in row["reason"]


def test_duration_and_joining_blocks_are_tested_once_a_fit_has_them():
    rng = np.random.default_rng(0)
    values = {"delta_war_won": (0.8, 0.1), "delta_threat_rise": (-0.8, 0.1), "delta_leninist": (0.0, 0.01),
              "delta_ideological": (0.3, 0.5), "join_winner": (1.0, 0.2)}
    post = {k: rng.normal(m, s, size=(2, 500)) for k, (m, s) in values.items()}
    prior = {k: rng.normal(0, 1, size=(1, 2000)) for k in values}
    t = evidence_table(az.from_dict({"posterior": post, "prior": prior})).set_index("id")
    assert t.loc["BAL-6", "verdict"] == "supported" and t.loc["BAL-6", "scale"] == "log-hazard"
    assert t.loc["BW-6", "verdict"] == "contradicted"
    assert t.loc["IDEO-2", "verdict"] == "practically null"
    assert t.loc["IDEO-5", "verdict"] == "inconclusive"
    assert t.loc["COND-5", "verdict"] == "supported"
    assert t.loc["BAL-6", "bayes_factor"] > 3


def _fake(**params):
    rng = np.random.default_rng(3)
    post = {k: rng.normal(m, s, size=(2, 500)) for k, (m, s) in params.items()}
    prior = {k: rng.normal(0, 1, size=(1, 2000)) for k in params}
    return az.from_dict({"posterior": post, "prior": prior})


@pytest.mark.parametrize(
    ("linear", "quadratic", "expected"),
    [
        ((0.6, 0.1), (-0.6, 0.1), "supported"),
        ((0.6, 0.1), (0.6, 0.1), "contradicted"),
        ((0.0, 0.01), (0.0, 0.01), "practically null"),
        ((0.6, 0.1), (0.0, 0.5), "inconclusive"),
        ((0.6, 0.1), None, "not testable"),
    ],
)
def test_multi_part_hypotheses_combine_their_parts(linear, quadratic, expected):
    params = {"gamma_shared_x_support": linear}
    if quadratic:
        params["gamma_shared_x_support_sq"] = quadratic
    t = evidence_table(_fake(**params), ids=["COND-3"]).set_index("id")
    assert list(t.index) == ["COND-3", "COND-3a", "COND-3b"]
    assert t.loc["COND-3", "verdict"] == expected
    if quadratic is None:
        assert "COND-3b" in t.loc["COND-3", "reason"] and "shared_x_support_sq" in t.loc["COND-3", "reason"]


def test_fake_posterior_without_design_falls_back_to_coefficients():
    t = evidence_table(_fake(gamma_ideology=(0.5, 0.1), gamma_shared=(1.0, 0.1))).set_index("id")
    assert t.loc["IDEO-1", "verdict"] == "supported" and t.loc["IDEO-1", "scale"] == "log-odds"
    assert t.loc["BAL-2", "verdict"] == "not testable" and "constant_data" in t.loc["BAL-2", "reason"]


def test_pairs_side_by_side(prior_table):
    pairs = pairs_table(prior_table.reset_index())
    assert list(pairs["pair"]) == [f"BAL-{k} / BW-{k}" for k in range(1, 7)]
    assert pairs.set_index("pair").loc["BAL-5 / BW-5", "same quantity"]
    assert "|" in markdown(pairs).splitlines()[1]


def test_records_have_the_json_keys(prior_table):
    rows = table_records(prior_table.reset_index())
    for key in ("id", "verdict", "statement", "mean", "hdi_low", "hdi_high", "p_direction", "reason"):
        assert key in rows[0]


def test_context_reads_outcomes_from_the_observed_data(prior_fit):
    tree, design, _ = prior_fit
    ctx = FitContext(tree)
    np.testing.assert_array_equal(ctx.design.ally_y, design.ally_y)


def test_cli_formats(prior_fit, tmp_path, monkeypatch, capsys):
    from walt_bayes.cli import main
    from walt_bayes.fit.fitfile import save_fit

    run = tmp_path / "run"
    run.mkdir()
    save_fit(prior_fit[0], run / "fit.nc")

    def cli(*args):
        monkeypatch.setattr(sys, "argv", ["walt-bayes", "hypotheses", str(run), *args])
        try:
            main()
        except SystemExit as exc:
            assert exc.code in (0, None)
        return capsys.readouterr().out

    rows = json.loads(cli("--format", "json"))
    assert set(CONTRACT_IDS) <= {r["id"] for r in rows}
    assert (run / "hypotheses.csv").exists()
    md = cli("--format", "markdown", "--rope", "0.8,1.25", "--prob", "0.9")
    assert "| BAL-5 |" in md and "side by side" in md and "P(direction) ≥ 0.9" in md
    assert "marginal effects from 40 of 40 posterior draws" in md
    table = cli()
    assert "BAL-1" in table and "Balancing vs bandwagoning" in table


@pytest.mark.parametrize("variant", ["null", "balance_of_power", "ideology"])
def test_every_variant_gets_a_complete_table(sim_balancing, variant):
    """Each bundled variant's prior draws, stored like a fit, give all 32 rows without error."""
    import pymc as pm

    from walt_bayes.model.build import build_model
    from walt_bayes.model.design import build_design
    from walt_bayes.spec import load_spec

    spec = load_spec(variant)
    design = build_design(sim_balancing.panel, spec)
    model = build_model(design, spec)
    prior = pm.sample_prior_predictive(draws=10, model=model, random_seed=1,
                                       compile_kwargs={"mode": "FAST_COMPILE"})
    tree = xr.DataTree.from_dict({
        "posterior": prior["prior"].to_dataset(), "prior": prior["prior"].to_dataset(),
        "observed_data": prior["observed_data"].to_dataset(), "constant_data": design.to_dataset(),
    })
    tree.attrs.update({"spec_name": variant, "spec_toml": spec.source_text})
    t = evidence_table(tree).set_index("id")
    assert set(CONTRACT_IDS) <= set(t.index)
    testable = set(t.index[t["verdict"] != "not testable"])
    if variant in ("null", "ideology"):
        assert not testable & {"BAL-1", "BAL-2", "BW-2"}
        assert "no threat block" in t.loc["BAL-2", "reason"] or "has no term" in t.loc["BAL-2", "reason"]
    if variant == "balance_of_power":
        assert {"BAL-1", "BAL-2", "BW-2"} <= testable
        assert "no 'intent' source" in t.loc["BAL-5", "reason"]
    if variant == "ideology":
        assert "variant 'ideology' has no term 'shared'" in t.loc["BAL-1", "reason"]
    if variant == "ideology":
        assert "IDEO-1" in testable
