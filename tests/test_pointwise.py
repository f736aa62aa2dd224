"""The numpy pointwise log-likelihood and predictive draws reproduce the PyMC model's."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from walt_bayes.fit.pointwise import pointwise_groups
from walt_bayes.model.build import build_model, can_fuse
from walt_bayes.model.design import build_design
from walt_bayes.panel.datasets import load_dataset
from walt_bayes.spec import load_spec, parse_spec, status_form


def _prior_as_posterior(design, spec, draws=60, seed=1):
    """Parameter draws from the prior, shaped as a 2-chain posterior (no sampling needed)."""
    prior = pm.sample_prior_predictive(draws=draws, model=build_model(design, spec), random_seed=seed,
                                       compile_kwargs={"mode": "FAST_COMPILE"})
    ds = prior["prior"].to_dataset()
    ds = ds.isel(draw=slice(0, draws)).stack(s=("chain", "draw")).drop_vars(["s", "chain", "draw"])
    ds = ds.assign_coords(s=np.arange(draws)).rename(s="flat")
    ds = ds.assign_coords(chain=("flat", np.repeat([0, 1], draws // 2)), draw=("flat", np.tile(np.arange(draws // 2), 2)))
    return ds.set_index(flat=["chain", "draw"]).unstack("flat").transpose("chain", "draw", ...)


@pytest.mark.parametrize("variant,case_control,year_centred", [
    ("balance_of_threat", "off", False), ("balance_of_threat", "0.3", False), ("balance_of_threat", "off", True),
    ("ideology", "off", False), ("null", "off", False)])
def test_numpy_loglik_equals_pymc(sim_balancing, variant, case_control, year_centred):
    spec = status_form(load_spec(variant))  # blocks 1-2 (the formation form: the tests below)
    design = build_design(sim_balancing.panel, spec, case_control=case_control, seed=5)
    design.year_centred = np.full(len(design.years), year_centred)  # both parameterisations of the year intercepts
    _assert_equals_pymc(design, spec)


def _without_joining(spec):
    """``spec`` without its joining block (the numpy twin covers blocks 1-3; joining stays PyMC's)."""
    text = spec.source_text
    head, tail = text.split("[joining]", 1)
    return parse_spec(head + tail[tail.index("\n["):], source=f"{spec.name}_no_joining.toml")


@pytest.mark.parametrize("variant,case_control", [
    ("balance_of_threat", "off"), ("balance_of_threat", "0.3"), ("full", "off"), ("null", "off")])
def test_numpy_loglik_with_the_duration_block_equals_pymc(sim_balancing, variant, case_control):
    """The formation form: block 3's ``alliance_end`` (its ΔS from each draw's tau) too."""
    spec = load_spec(variant)
    design = build_design(sim_balancing.panel, spec, case_control=case_control, seed=5)
    assert design.duration is not None and design.duration.n and can_fuse(design)
    assert design.duration.threat_rise == (variant != "null")
    _assert_equals_pymc(design, spec)


def test_numpy_loglik_of_full_on_the_embedded_panel_equals_pymc():
    """Every duration term the embedded data support (war_won, leninist, ideological, threat_rise)."""
    spec = _without_joining(load_spec("full"))
    design = build_design(load_dataset("middle-east").panel, spec)
    assert design.joining is None and len(design.duration.terms) >= 3 and design.duration.threat_rise
    _assert_equals_pymc(design, spec, draws=20)


def test_a_joining_block_is_left_to_pymc(sim_balancing):
    spec = load_spec("balance_of_threat")
    design = build_design(sim_balancing.panel, spec)
    design.joining = object()  # any joining block
    with pytest.raises(ValueError, match="joining"):
        pointwise_groups(_prior_as_posterior(build_design(sim_balancing.panel, spec), spec, draws=4), design, seed=1)


def _assert_equals_pymc(design, spec, draws=60):
    post = _prior_as_posterior(design, spec, draws=draws)
    mine = pointwise_groups(post, design, seed=3)
    pymc_ll = pm.compute_log_likelihood(
        xr.DataTree.from_dict({"posterior": post}), model=build_model(design, spec), extend_inferencedata=False,
        progressbar=False, compile_kwargs={"mode": "FAST_COMPILE"},
    )
    pymc_ll = pymc_ll["log_likelihood"].to_dataset() if hasattr(pymc_ll, "children") else pymc_ll
    assert set(mine["log_likelihood"].data_vars) == set(pymc_ll.data_vars)
    for name in pymc_ll.data_vars:
        a = mine["log_likelihood"][name]
        b = pymc_ll[name]
        assert a.dims == b.dims and a.shape == b.shape
        # float32 storage: ~1e-7.  Beyond |loglik| 20 the graph's Python implementation of
        # log(1 - p) loses digits: 1 - p is a multiple of the float epsilon (its values pile up
        # at -36.04 = log(2.2e-16)) and -inf past ~-37, where ours stays finite.  Compare
        # 20-30 loosely; beyond 30 only check that ours is finite and as extreme.
        ordinary = np.abs(b.values) < 20
        np.testing.assert_allclose(a.values[ordinary], b.values[ordinary], rtol=2e-6, atol=1e-6)
        extreme = ~ordinary & (np.abs(b.values) < 30)
        np.testing.assert_allclose(a.values[extreme], b.values[extreme], rtol=2e-3)
        beyond = np.abs(b.values) >= 30
        assert np.all(np.isfinite(a.values)) and np.all(a.values[beyond] < -29)
        observed = {"alliance": design.ally_y, "alliance_end": design.duration.y if design.duration else None,
                    "dispute": np.asarray(design.threat_y)[design.dispute_rows()] if design.has_threat else None}
        np.testing.assert_array_equal(mine["observed_data"][name].values, observed[name])
        assert a.dims == mine["posterior_predictive"][name].dims


def test_predictive_draws_are_seeded_and_follow_the_model(sim_balancing, bot_spec):
    design = build_design(sim_balancing.panel, bot_spec)
    post = _prior_as_posterior(design, bot_spec, draws=200)
    a = pointwise_groups(post, design, seed=3)["posterior_predictive"]
    b = pointwise_groups(post, design, seed=3)["posterior_predictive"]
    c = pointwise_groups(post, design, seed=4)["posterior_predictive"]
    np.testing.assert_array_equal(a["alliance"].values, b["alliance"].values)
    assert not np.array_equal(a["alliance"].values, c["alliance"].values)
    # Each draw's alliance rate matches its expected rate exp(loglik of y=1) within binomial error.
    ll = pointwise_groups(post, design, seed=3)["log_likelihood"]["alliance"].values
    y = design.ally_y
    p1 = np.where(y == 1, np.exp(ll), 1 - np.exp(ll))  # P(alliance) per draw and row
    got = a["alliance"].values.reshape(-1, len(y)).mean(axis=0)
    want = p1.reshape(-1, len(y)).mean(axis=0)
    n_draws = got.size and a["alliance"].values.reshape(-1, len(y)).shape[0]
    z = (got.mean() - want.mean()) / np.sqrt(want.mean() * (1 - want.mean()) / (n_draws * len(y)))
    assert abs(z) < 4


def test_predictive_spell_ends_follow_the_model(sim_balancing):
    """Block 3's predictive draws: seeded, and each row's end rate is its modelled hazard."""
    spec = load_spec("balance_of_threat")
    design = build_design(sim_balancing.panel, spec)
    post = _prior_as_posterior(design, spec, draws=200)
    a = pointwise_groups(post, design, seed=3)
    b = pointwise_groups(post, design, seed=3)["posterior_predictive"]["alliance_end"].values
    rep = a["posterior_predictive"]["alliance_end"].values
    np.testing.assert_array_equal(rep, b)
    y = design.duration.y
    ll = a["log_likelihood"]["alliance_end"].values.reshape(-1, len(y))
    hazard = np.where(y == 1, np.exp(ll), 1 - np.exp(ll))  # P(end) per draw and row
    got = rep.reshape(-1, len(y)).mean()
    want = hazard.mean()
    assert abs(got - want) / np.sqrt(want * (1 - want) / hazard.size) < 4
