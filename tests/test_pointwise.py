"""The numpy pointwise log-likelihood and predictive draws reproduce the PyMC model's."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from walt_bayes.fit.pointwise import pointwise_groups
from walt_bayes.model.build import build_model
from walt_bayes.model.design import build_design
from walt_bayes.spec import load_spec, status_form


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
    spec = status_form(load_spec(variant))  # the numpy twin covers blocks 1-2 (fit_model uses it when fused)
    design = build_design(sim_balancing.panel, spec, case_control=case_control, seed=5)
    design.year_centred = year_centred  # both parameterisations of the year intercepts
    post = _prior_as_posterior(design, spec)
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
        np.testing.assert_array_equal(mine["observed_data"][name].values, design.ally_y if name == "alliance"
                                      else np.asarray(design.threat_y)[design.dispute_rows()])


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
