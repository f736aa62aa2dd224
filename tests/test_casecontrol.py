"""Case-control sampling of rare outcomes with the exact prior correction (King & Zeng 2001)."""

from __future__ import annotations

import copy
import json
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from walt_bayes.errors import WaltError
from walt_bayes.model import casecontrol as cc
from walt_bayes.model.design import Design, build_design, logistic_mle


def _expit(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@pytest.fixture(scope="module")
def cc_design(sim_balancing, bot_spec):
    return build_design(sim_balancing.panel, bot_spec, case_control="0.3", seed=5)


# ------------------------------------------------------------------------ settings
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, cc.Setting("auto")),
        ("auto", cc.Setting("auto")),
        (" OFF ", cc.Setting("off")),
        ("0.25", cc.Setting("rate", 0.25, 0.25)),
        ("1", cc.Setting("rate", 1.0, 1.0)),
        ("0.2,0.05", cc.Setting("rate", 0.2, 0.05)),
        (0.5, cc.Setting("rate", 0.5, 0.5)),
    ],
)
def test_settings_parse(value, expected):
    assert cc.parse_setting(value) == expected


@pytest.mark.parametrize("value", ["0", "-0.1", "1.5", "nan", "inf", "often", "0.1,0.2,0.3", "", "0.1,"])
def test_bad_settings_are_one_line_errors(value):
    with pytest.raises(WaltError, match="--case-control") as err:
        cc.parse_setting(value)
    assert "\n" not in str(err.value)


def test_auto_is_off_for_small_panels_and_on_for_global_scale(sim_balancing, bot_spec):
    assert cc.plan_for("auto", sim_balancing.panel, bot_spec, seed=1) is None
    assert cc.plan_for("off", sim_balancing.panel, bot_spec, seed=1) is None
    plan = cc.plan_for("0.4", sim_balancing.panel, bot_spec, seed=1)
    assert plan is not None and not plan.relevant and plan.rate("alliance", 10, 1000) == 0.4
    big = pd.DataFrame({"ally": np.zeros(2 * cc.AUTO_MIN_ALLIANCE_ROWS + 2)})
    plan = cc.plan_for("auto", big, bot_spec, seed=1)
    assert plan.relevant and plan.alliance_ratio == cc.ALLIANCE_CONTROLS_PER_CASE
    assert plan.rate("alliance", 100, 1000) == pytest.approx(100 * cc.ALLIANCE_CONTROLS_PER_CASE / 1000)
    assert plan.rate("dispute", 10, 1000) == pytest.approx(10 * cc.DISPUTE_CONTROLS_PER_CASE / 1000)
    assert plan.rate("dispute", 10, 20) == 1.0  # never more than every row


def test_auto_keeps_more_controls_per_case_when_block_2_models_onset(bot_spec):
    from walt_bayes.spec import load_spec

    big = pd.DataFrame({"ally": np.zeros(2 * cc.AUTO_MIN_ALLIANCE_ROWS + 2)})
    formation = load_spec("balance_of_threat")  # onset in block 2, continuation in block 3
    assert formation.duration is not None and bot_spec.duration is None
    plan = cc.plan_for("auto", big, formation, seed=1)
    assert plan.alliance_ratio == cc.ONSET_CONTROLS_PER_CASE > cc.ALLIANCE_CONTROLS_PER_CASE
    assert plan.rate("alliance", 100, 100_000) == pytest.approx(100 * cc.ONSET_CONTROLS_PER_CASE / 100_000)


def test_embedded_panel_stays_off():
    from walt_bayes.panel.datasets import load_dataset

    data = load_dataset("middle-east")
    from walt_bayes.spec import load_spec

    assert cc.plan_for("auto", data.panel, load_spec("balance_of_threat"), seed=1) is None


# ------------------------------------------------------------------------ sampling
def _keys(n: int, seed: int = 0) -> pd.DataFrame:
    """Distinct (ccode1, ccode2, year) keys."""
    flat = np.random.default_rng(seed).choice(999 * 999 * 200, size=n, replace=False)
    return pd.DataFrame({"ccode1": flat % 999 + 1, "ccode2": flat // 999 % 999 + 1, "year": 1816 + flat // 999**2})


def test_sample_keeps_every_one_and_the_expected_share_of_zeros():
    rng = np.random.default_rng(0)
    y = (rng.random(200_000) < 0.02).astype(int)
    keys = _keys(len(y))
    plan = cc.Plan(relevant=False, seed=3, alliance_rate=0.1)
    keep, r0, info = cc.sample_alliance(y, np.ones(len(y), dtype=bool), plan, keys)
    assert r0 == 0.1
    assert keep[y == 1].all()
    n0 = int((y == 0).sum())
    kept0 = int(keep[y == 0].sum())
    assert abs(kept0 - 0.1 * n0) < 4 * np.sqrt(n0 * 0.1 * 0.9)
    assert info["ones_kept"] == info["ones_total"] == int(y.sum())
    assert info["zeros_kept"] == kept0 and info["zeros_total"] == n0
    assert info["offset"] == pytest.approx(-np.log(0.1))
    # Ineligible rows are never kept.
    eligible = rng.random(len(y)) < 0.5
    keep2, _, _ = cc.sample_alliance(y, eligible, plan, keys)
    assert not keep2[~eligible].any() and keep2[eligible & (y == 1)].all()


def test_sample_is_reproducible_from_the_seed_and_keyed_on_rows():
    y = (np.random.default_rng(1).random(50_000) < 0.05).astype(int)
    keys = _keys(len(y), seed=1)
    ok = np.ones(len(y), dtype=bool)
    plan = cc.Plan(relevant=False, seed=11, alliance_rate=0.2)
    a = cc.sample_alliance(y, ok, plan, keys)[0]
    b = cc.sample_alliance(y, ok, cc.Plan(relevant=False, seed=11, alliance_rate=0.2), keys)[0]
    c = cc.sample_alliance(y, ok, cc.Plan(relevant=False, seed=12, alliance_rate=0.2), keys)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # A row's fate depends on its key, not on its position or on the other rows.
    order = np.random.default_rng(2).permutation(len(y))[: len(y) // 2]
    part = cc.sample_alliance(y[order], ok[order], plan, keys.iloc[order].reset_index(drop=True))[0]
    np.testing.assert_array_equal(part, a[order])
    u = plan.uniforms("alliance", keys)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01 and len(np.unique(u)) == len(u)
    assert abs(np.corrcoef(u, plan.uniforms("dispute", keys))[0, 1]) < 0.02  # independent streams


def test_design_sample_is_reproducible_and_keeps_every_one(sim_balancing, bot_spec, cc_design):
    again = build_design(sim_balancing.panel, bot_spec, case_control="0.3", seed=5)
    other = build_design(sim_balancing.panel, bot_spec, case_control="0.3", seed=6)
    full = build_design(sim_balancing.panel, bot_spec)
    pd.testing.assert_frame_equal(again.ally_keys, cc_design.ally_keys)
    np.testing.assert_array_equal(again.dispute_idx, cc_design.dispute_idx)
    assert not cc_design.ally_keys.equals(other.ally_keys)
    d = cc_design
    assert int(d.ally_y.sum()) == int(full.ally_y.sum())  # every allied row
    assert len(d.ally_y) < len(full.ally_y)
    np.testing.assert_allclose(d.ally_cc_offset, -np.log(0.3))
    assert not np.any(d.ally_offset)  # the substantive offset is untouched
    # Every initiation is in the dispute likelihood, with the offset; the rows tau is needed
    # for (triads, partners) are in the design even when their outcome is not sampled.
    assert int(d.threat_y[d.dispute_idx].sum()) == int(full.threat_y.sum())
    np.testing.assert_allclose(d.dispute_offset, -np.log(0.3))
    assert d.partner_idx.max() < len(d.threat_y) and d.triad_jk.max() < len(d.threat_y)
    full_keys = pd.Index(list(zip(*[full.threat_keys[c] for c in ("ccode1", "ccode2", "year")], strict=True)))
    mine = pd.Index(list(zip(*[d.threat_keys[c] for c in ("ccode1", "ccode2", "year")], strict=True)))
    np.testing.assert_allclose(d.threat_X, full.threat_X[full_keys.get_indexer(mine)])  # population z-scores
    info = d.case_control
    assert info["used"] and info["method"] == cc.METHOD and info["r0"] == 0.3 and info["rd"] == 0.3
    assert info["alliance"]["ones_kept"] == info["alliance"]["ones_total"]
    # Priors are centred on population rates, not on the sample's.
    assert d.data_rates["alliance"] == pytest.approx(full.data_rates["alliance"])
    assert d.data_rates["init21"] == pytest.approx(full.data_rates["init21"])
    assert any("King & Zeng" in n for n in d.notes)


def test_design_round_trip_and_subset(cc_design):
    d = cc_design
    back = Design.from_dataset(d.to_dataset())
    np.testing.assert_array_equal(back.dispute_idx, d.dispute_idx)
    np.testing.assert_array_equal(back.dispute_offset, d.dispute_offset)
    np.testing.assert_array_equal(back.ally_cc_offset, d.ally_cc_offset)
    assert back.case_control == d.case_control
    back.set_dispute_observed(d.threat_y[d.dispute_idx])
    np.testing.assert_array_equal(back.threat_y[d.dispute_idx], d.threat_y[d.dispute_idx])
    rows = np.arange(0, len(d.ally_y), 3)
    sub = d.subset_alliance(rows)
    np.testing.assert_array_equal(sub.ally_cc_offset, d.ally_cc_offset[rows])
    w = d.population_weights()
    np.testing.assert_allclose(w, np.where(d.ally_y == 1, 1.0, 1 / 0.3))


def test_a_reloaded_design_is_the_built_one_and_never_reads_minus_one(cc_design, cc_prior_fit):
    """Outside the dispute sample a reloaded design has the built design's outcomes (stored with
    it), an older fit's design NaN: no -1 that a sum, a mean or a refit could take for data."""
    from walt_bayes.compare.kfold import restrict_to_years_before
    from walt_bayes.fit.fitfile import fit_design

    d = cc_design
    assert len(d.dispute_idx) < len(d.threat_y)  # rows outside the sample exist
    design = fit_design(cc_prior_fit)  # what hypotheses, report and compare read
    np.testing.assert_array_equal(design.threat_y, d.threat_y)
    np.testing.assert_array_equal(design.ally_y, cc_prior_fit["observed_data"]["alliance"].values)
    assert design.threat_y.min() >= 0
    cutoff = int(np.median(d.ally_keys["year"]))
    np.testing.assert_array_equal(restrict_to_years_before(design, cutoff).threat_y,
                                  restrict_to_years_before(d, cutoff).threat_y)
    # A fit written before the design stored the outcomes: only the sample is known.
    old = Design.from_dataset(d.to_dataset().drop_vars("threat_y"))
    old.set_dispute_observed(d.threat_y[d.dispute_idx])
    outside = np.setdiff1d(np.arange(len(d.threat_y)), d.dispute_idx)
    assert np.isnan(old.threat_y[outside]).all() and not np.any(old.threat_y == -1)
    np.testing.assert_array_equal(old.threat_y[d.dispute_idx], d.threat_y[d.dispute_idx])
    assert np.isnan(np.mean(old.threat_y))
    # Outcomes from another fit are refused, not mixed in.
    with pytest.raises(Exception, match="disagree"):
        fit_design(cc_prior_fit).set_dispute_observed(1 - d.threat_y[d.dispute_idx])


def test_leave_future_out_remaps_the_dispute_sample(cc_design):
    from walt_bayes.compare.kfold import restrict_to_years_before

    d = cc_design
    cutoff = int(np.median(d.ally_keys["year"]))
    sub = restrict_to_years_before(d, cutoff)
    assert (sub.threat_keys["year"] < cutoff).all()
    expected = d.dispute_keys().loc[d.dispute_keys()["year"] < cutoff].reset_index(drop=True)
    pd.testing.assert_frame_equal(sub.dispute_keys(), expected)
    assert len(sub.dispute_offset) == len(sub.dispute_idx)


# -------------------------------------------------------------------- exactness
def test_prior_correction_recovers_the_full_data_logit():
    """King & Zeng's prior correction: the case-control MLE with offset -log(r) estimates
    the population intercept, slope and group effects (as random intercepts would be)."""
    rng = np.random.default_rng(2026)
    n, groups = 400_000, 6
    x = rng.normal(size=n)
    g = rng.integers(0, groups, size=n)
    effect = np.linspace(-0.6, 0.6, groups)
    y = (rng.random(n) < _expit(-4.0 + 0.8 * x + effect[g])).astype(float)
    X = np.column_stack([x, *(g == k for k in range(1, groups))]).astype(float)
    full = logistic_mle(X, y, ridge=0.0)
    rate = 0.05
    keep = cc.sample_zeros(y, rate, np.random.default_rng(7).random(n))
    assert keep[y == 1].all() and keep.mean() < 0.1
    corrected = logistic_mle(X[keep], y[keep], ridge=0.0, offset=cc.offset_for(rate))
    naive = logistic_mle(X[keep], y[keep], ridge=0.0)
    # Within sampling error of the case-control estimate (4 standard errors from its Hessian).
    A = np.column_stack([np.ones(int(keep.sum())), X[keep]])
    p = _expit(A @ corrected + cc.offset_for(rate))
    se = np.sqrt(np.diag(np.linalg.inv((A * (p * (1 - p))[:, None]).T @ A)))
    assert np.all(np.abs(corrected - full) < 4 * se), (corrected - full) / se
    assert se[0] < 0.05 and se[1] < 0.03
    # Slope and group effects: the same with or without correction; intercept: only with it.
    np.testing.assert_allclose(corrected[1:], naive[1:], atol=1e-8)
    assert naive[0] - corrected[0] == pytest.approx(-np.log(rate), abs=1e-8)
    assert abs(naive[0] - full[0]) > 2.5
    assert full[0] == pytest.approx(-4.0 + effect[0], abs=0.1) and full[1] == pytest.approx(0.8, abs=0.03)


def test_latent_tau_is_unaffected_by_the_dispute_offset(cc_design, bot_spec):
    from walt_bayes.model.build import build_model

    d = cc_design
    shifted = copy.copy(d)
    shifted.dispute_offset = d.dispute_offset + 3.0
    none = copy.copy(d)
    none.dispute_offset = np.zeros_like(d.dispute_offset)
    values = {}
    for name, design in (("cc", d), ("shifted", shifted), ("none", none)):
        model = build_model(design, bot_spec, keep_latent=True)
        point = model.initial_point()
        point["lambda_0"] = np.array(-1.0)
        outs = model.replace_rvs_by_values([model["latent_B"], model["latent_S"]])
        fn = model.compile_fn(
            [*outs, model.logp(vars=[model["dispute"]])],
            inputs=model.value_vars, on_unused_input="ignore", point_fn=True, mode="FAST_COMPILE",
        )
        values[name] = fn(point)
        assert model["dispute"].shape.eval()[0] == len(d.dispute_idx)
    for other in ("shifted", "none"):
        np.testing.assert_array_equal(values["cc"][0], values[other][0])  # B
        np.testing.assert_array_equal(values["cc"][1], values[other][1])  # S
        assert values["cc"][2] != values[other][2]  # the dispute likelihood does move
    # B is the population probability expit(lambda_0 + theta) at the point (theta = 0 here).
    np.testing.assert_allclose(values["cc"][0], _expit(-1.0 + 0 * d.partner_idx))


@pytest.fixture(scope="module")
def cc_prior_fit(cc_design, bot_spec):
    """20 prior draws of balance_of_threat on a case-control design, stored like a fit."""
    import pymc as pm

    from walt_bayes.fit.fitfile import FORMAT
    from walt_bayes.model.build import build_model

    model = build_model(cc_design, bot_spec)
    quick = {"mode": "FAST_COMPILE"}
    prior = pm.sample_prior_predictive(draws=20, model=model, random_seed=5, compile_kwargs=quick)
    tree = xr.DataTree.from_dict({
        "posterior": prior["prior"].to_dataset(),
        "observed_data": prior["observed_data"].to_dataset(),
        "constant_data": cc_design.to_dataset(),
    })
    pm.compute_log_likelihood(tree, model=model, progressbar=False, compile_kwargs=quick)
    tree.attrs.update({"format": FORMAT, "case_control": json.dumps(cc_design.case_control)})
    return tree


def test_effects_use_population_probabilities_and_loglik_the_sample(cc_prior_fit, cc_design):
    from walt_bayes.fit.fitfile import fit_design
    from walt_bayes.hypotheses.effects import alliance_eta, alliance_loglik, model_draws

    tree = cc_prior_fit
    design = fit_design(tree)
    design.ally_y = tree["observed_data"]["alliance"].values.astype(np.int64)
    assert tree["log_likelihood"]["dispute"].sizes["dispute_obs"] == len(cc_design.dispute_idx)
    draws = model_draws(tree["posterior"].to_dataset(), design, max_draws=None)
    mine = alliance_loglik(design, draws.values, design.ally_y)
    theirs = tree["log_likelihood"]["alliance"].values.reshape(mine.shape)
    accurate = theirs > -15
    np.testing.assert_allclose(mine[accurate], theirs[accurate], rtol=1e-8, atol=1e-10)
    plain = copy.copy(design)
    plain.ally_cc_offset = None
    np.testing.assert_array_equal(alliance_eta(design, draws.values), alliance_eta(plain, draws.values))


# --------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("value", ["2", "sometimes", "0", "0.5,0.2,0.1"])
def test_cli_rejects_bad_case_control(monkeypatch, capsys, tmp_path, value):
    from walt_bayes.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["walt-bayes", "fit", "balance_of_threat", "--case-control", value])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert "--case-control" in err and err.strip().count("\n") == 0 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------- a small fit
@pytest.mark.slow
def test_case_control_fit_records_its_sample(sim_balancing, bot_spec, tmp_path):
    from walt_bayes.fit.fitfile import fit_meta, load_fit, save_fit
    from walt_bayes.fit.run import fit_model
    from walt_bayes.hypotheses.table import evidence_table
    from walt_bayes.report.quantities import (
        busiest_year,
        data_overview,
        load_report_fit,
        observed_by_year,
    )

    kw = {"data_name": "sim", "data_sha256": "0" * 64, "seed": 9, "draws": 60, "tune": 60, "chains": 2,
          "cores": 2, "progressbar": False, "case_control": "0.4,0.3"}
    result = fit_model(sim_balancing.panel, bot_spec, **kw)
    path = save_fit(result.idata, tmp_path / "fit.nc")
    tree = load_fit(path)
    info = fit_meta(tree, "case_control")
    assert info["used"] and info["method"] == cc.METHOD and (info["r0"], info["rd"]) == (0.4, 0.3)
    assert "sampled rows" in info["pointwise"]
    n_lik = len(result.design.dispute_idx)
    assert tree["log_likelihood"]["dispute"].sizes["dispute_obs"] == n_lik
    assert tree["observed_data"]["dispute"].sizes["dispute_obs"] == n_lik
    table = evidence_table(tree)
    assert "BAL-1" in set(table["id"])
    again = fit_model(sim_balancing.panel, bot_spec, **kw)
    np.testing.assert_array_equal(
        again.idata["posterior"]["gamma_shared"].values, result.idata["posterior"]["gamma_shared"].values
    )
    fit = load_report_fit(path)
    assert data_overview(fit)["n_disputes"] == int(result.design.threat_y[result.design.dispute_idx].sum())
    assert len(observed_by_year(fit)) and busiest_year(fit)
