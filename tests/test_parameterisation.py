"""How the model is parameterised for sampling (issue 23's convergence fixes), and the sampler checks.

- Onset rows (``full``: the alliance block models onset, block 3 continuation) pin no dyad's
  intercept down: every dyad is sampled non-centred.
- Threat weights are partially pooled only over four groups or more; a source's group weights
  are sampled partially non-centred, as far centred as the data pin them down, with the same prior.
- Year intercepts are sampled centred in the years with allied rows, non-centred in the
  others, with the same zero-sum prior.
- E-BFMI (ArviZ) below 0.3 in a chain fails the convergence checks.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import xarray as xr

from walt_bayes.fit.diagnostics import BFMI_MIN, check_convergence
from walt_bayes.model.design import MIN_POOLED_GROUPS, Design, build_design
from walt_bayes.panel.datasets import load_dataset
from walt_bayes.spec import load_spec, status_form


@pytest.fixture(scope="module")
def embedded():
    return load_dataset("middle-east").panel


def test_onset_rows_sample_every_dyad_non_centred(embedded):
    full = build_design(embedded, load_spec("full"))
    status = build_design(embedded, status_form(load_spec("balance_of_threat")))
    assert full.ally_onset and not status.ally_onset
    # Onset dyads with allied rows exist, yet none is centred; status dyads with allied years are.
    allied_onset = np.zeros(len(full.dyads), bool)
    allied_onset[full.ally_dyad[full.ally_y == 1]] = True
    assert allied_onset.sum() > 20 and not full.dyad_centred.any()
    allied_status = np.zeros(len(status.dyads), bool)
    allied_status[status.ally_dyad[status.ally_y == 1]] = True
    np.testing.assert_array_equal(status.dyad_centred, allied_status)
    # The choice travels with the fit file's design.
    again = Design.from_dataset(full.to_dataset())
    assert again.ally_onset and not again.dyad_centred.any()


def test_two_threat_groups_are_not_pooled(sim_balancing, bot_spec, embedded):
    regions = set(sim_balancing.panel["region1"])
    assert len(regions) == 2 < MIN_POOLED_GROUPS
    design = build_design(sim_balancing.panel, bot_spec)
    assert design.threat_groups == ["all"] and not design.threat_group.any()
    assert any("too few" in n for n in design.notes)
    # The embedded panel's six regions are pooled as before.
    me = build_design(embedded, bot_spec)
    assert len(me.threat_groups) == 6 and len(set(me.threat_group)) == 6


def _repeated(design: Design, times: int) -> Design:
    """The same threat rows ``times`` over: ``times`` as much information about every weight."""
    big = copy.copy(design)
    big.threat_X = np.tile(design.threat_X, (times, 1))
    big.threat_y = np.tile(design.threat_y, times)
    big.threat_group = np.tile(design.threat_group, times)
    return big


def test_threat_weights_centred_as_far_as_the_data_pin_them_down(embedded):
    from walt_bayes.model.threat_rows import scale_prior_centre, threat_centring, threat_weight_se

    design = build_design(embedded, load_spec("balance_of_threat"))
    assert design.sources == ["power", "proximity", "offense", "intent"]
    a = np.asarray(design.threat_centring)
    assert ((0.0 <= a) & (a <= 1.0)).all()
    # On the embedded data (standard errors 0.19 for intent, 0.4-0.55 for the others) the weights
    # are mostly non-centred: proximity's and offense's regions differ well beyond their noise
    # (moments: tau 0.91 / 1.02), but the cap at the centre of tau_beta's prior on the log scale
    # (0.26) keeps them below one third, as their posterior medians (0.25 / 0.35) do.
    cap = scale_prior_centre({"distribution": "HalfNormal", "sigma": 0.5})
    noise = np.mean(threat_weight_se(design, every_row=True) ** 2, axis=0)
    np.testing.assert_allclose(a[1:3], cap**2 / (cap**2 + noise[1:3]), atol=0.006)
    assert (a < 1 / 3).all() and (np.asarray(threat_centring(design))[1:3] > 0.6).all()
    # Stored rounded: the weight is geometry, and must not differ between machines in the last bits.
    np.testing.assert_array_equal(a, np.round(a, 2))
    # The standard errors are those of the Fisher information: twice the rows, 1/sqrt(2) of them.
    twice = _repeated(design, 2)
    np.testing.assert_allclose(threat_weight_se(twice), threat_weight_se(design) / np.sqrt(2), rtol=1e-3)
    # Four times the same data (the same estimates, a quarter of the noise): every source more centred
    # (about half or more).
    big = _repeated(design, 4)
    more = np.asarray(threat_centring(big, cap))
    assert (more > a).all() and more.min() > 0.45
    # The choice is made on every threat row, so no case-control sample (drawn with the fit's
    # seed) changes it, though the sample's standard errors are those of its own rows.
    y = np.asarray(big.threat_y)
    rng = np.random.default_rng(3)
    for _ in range(3):
        sampled = copy.copy(big)
        keep = np.sort(np.concatenate([np.flatnonzero(y == 1), rng.choice(np.flatnonzero(y == 0), 2000, replace=False)]))
        sampled.dispute_idx, sampled.dispute_offset = keep, np.full(len(keep), 2.5)
        assert threat_centring(sampled, cap) == list(more)
        assert (np.median(threat_weight_se(sampled), axis=0) > np.median(threat_weight_se(big), axis=0)).all()
    # The choice travels with the fit file's design; a fit stored with one bool per source loads as 0 / 1.
    design.threat_centring = [1.0, 0.25, 0.5, 0.0]
    stored = design.to_dataset()
    assert Design.from_dataset(stored).threat_centring == [1.0, 0.25, 0.5, 0.0]
    meta = json.loads(stored.attrs["design"])
    meta["threat_centred"] = [True, False, True, False]
    del meta["threat_centring"]
    stored.attrs["design"] = json.dumps(meta)
    assert Design.from_dataset(stored).threat_centring == [1.0, 0.0, 1.0, 0.0]


def test_scale_prior_centre_is_the_geometric_mean_of_prior_draws():
    import pymc as pm

    from walt_bayes.model.threat_rows import scale_prior_centre

    for prior, dist in (
        ({"distribution": "HalfNormal", "sigma": 0.5}, pm.HalfNormal.dist(sigma=0.5)),
        ({"distribution": "HalfStudentT", "nu": 3, "sigma": 0.5}, pm.HalfStudentT.dist(nu=3, sigma=0.5)),
        ({"distribution": "Exponential", "lam": 2.0}, pm.Exponential.dist(lam=2.0)),
    ):
        draws = pm.draw(dist, draws=400_000, random_seed=1)
        assert abs(scale_prior_centre(prior) - np.exp(np.log(draws).mean())) < 0.005, prior
    assert scale_prior_centre({"distribution": "Laplace", "mu": 0.0, "b": 1.0}) is None


def test_centring_leaves_the_prior_of_the_threat_weights_as_it_was(embedded):
    """Sampler geometry only: the prior of each group's weights is the same for every weight a."""
    import pymc as pm

    from walt_bayes.model.build import build_model

    spec = load_spec("balance_of_threat")
    design = build_design(embedded, spec)
    spread = {}
    for a in ((0.0,) * 4, (1.0,) * 4, (0.3, 0.5, 0.7, 0.9)):
        design.threat_centring = list(a)
        beta = pm.draw(build_model(design, spec)["beta"], draws=4000, random_seed=1)
        spread[a] = (beta - beta.mean(axis=1, keepdims=True)).std(axis=(0, 1))
    # Offsets from the group mean: HalfNormal(0.5) scale times a zero-sum normal over 6 groups.
    for a in ((1.0,) * 4, (0.3, 0.5, 0.7, 0.9)):
        np.testing.assert_allclose(spread[(0.0,) * 4], spread[a], rtol=0.05)
    assert 0.25 < spread[(1.0,) * 4].min()


def test_year_intercepts_centred_where_the_year_has_allied_rows(embedded):
    spec = load_spec("balance_of_threat")
    design = build_design(embedded, spec)
    allied = np.bincount(design.ally_year, weights=design.ally_y, minlength=len(design.years))
    assert np.array_equal(design.year_centred, allied >= 1)
    assert design.year_centred.any() and not design.year_centred.all()  # onsets: some years have none


def test_year_centring_leaves_the_prior_of_the_year_intercepts_as_it_was(embedded):
    """Each year's intercept has the zero-sum normal prior whichever way it is sampled."""
    import pymc as pm

    from walt_bayes.model.build import build_model

    spec = load_spec("balance_of_threat")
    design = build_design(embedded, spec)
    n = len(design.years)
    chosen = design.year_centred.copy()
    draws = {}
    for name, mask in {"none": np.zeros(n, bool), "all": np.ones(n, bool), "chosen": chosen}.items():
        design.year_centred = mask
        model = build_model(design, spec)
        draws[name] = pm.draw([model["year_effect"], model["sigma_year"]], draws=4000, random_seed=2)
    for effect, sigma in draws.values():
        np.testing.assert_allclose(effect.sum(axis=1), 0.0, atol=1e-9)  # zero-sum
        # Var(a_t - mean(a)) = sigma^2 (1 - 1/n) for independent a_t ~ Normal(0, sigma).
        scaled = effect / sigma[:, None]
        np.testing.assert_allclose(scaled.var(axis=0).mean(), 1 - 1 / n, rtol=0.05)
    sd = {name: effect.std(axis=0) for name, (effect, _) in draws.items()}
    np.testing.assert_allclose(sd["none"], sd["all"], rtol=0.1)
    np.testing.assert_allclose(sd["none"], sd["chosen"], rtol=0.1)


def _fake_fit(energy: np.ndarray) -> xr.DataTree:
    chains, draws = energy.shape
    rng = np.random.default_rng(0)
    post = xr.Dataset({"gamma_shared": (("chain", "draw"), rng.normal(size=(chains, draws)))})
    stats = xr.Dataset({
        "energy": (("chain", "draw"), energy),
        "diverging": (("chain", "draw"), np.zeros((chains, draws), bool)),
        "maxdepth_reached": (("chain", "draw"), np.arange(chains * draws).reshape(chains, draws) % 10 == 0),
    })
    return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})


def test_low_e_bfmi_fails_the_checks_and_depth_is_counted():
    rng = np.random.default_rng(1)
    good = rng.normal(size=(4, 1000))
    # A random walk in energy: consecutive energies barely change, so E-BFMI is near 0.
    bad = good.copy()
    bad[2] = np.cumsum(rng.normal(size=1000))
    ok = check_convergence(_fake_fit(good))
    assert len(ok.bfmi) == 4 and min(ok.bfmi) > 1.5 and ok.ok, ok.problems
    assert ok.max_depth_share == pytest.approx(0.1)
    failed = check_convergence(_fake_fit(bad))
    assert failed.bfmi[2] < BFMI_MIN and not failed.ok
    assert any("E-BFMI" in p and "1 of 4 chains" in p for p in failed.problems), failed.problems
