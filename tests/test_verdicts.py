"""Verdict rules at their boundaries, on fake posteriors (no sampling)."""

from __future__ import annotations

import math

import arviz as az
import numpy as np
import pytest

from walt_bayes.hypotheses.registry import REGISTRY
from walt_bayes.hypotheses.table import evidence_table
from walt_bayes.hypotheses.verdicts import Thresholds, combine, judge, rope_from_odds_ratio

ROPE = (math.log(0.9), math.log(1.1))


def draws(mean, sd, n=8000, seed=0):
    return np.random.default_rng(seed).normal(mean, sd, size=n)


@pytest.mark.parametrize(
    ("mean", "sd", "direction", "expected"),
    [
        (0.8, 0.1, +1, "supported"),
        (-0.8, 0.1, +1, "contradicted"),
        (-0.8, 0.1, -1, "supported"),
        (0.0, 0.02, +1, "practically null"),
        (0.0, 0.5, +1, "inconclusive"),
        # P(direction) > 0.95 but the HDI reaches into the ROPE: not supported.
        (0.25, 0.1, +1, "inconclusive"),
        # Outside the ROPE but only ~84% in the predicted direction.
        (0.2, 0.2, +1, "inconclusive"),
    ],
)
def test_verdicts(mean, sd, direction, expected):
    assert judge(draws(mean, sd), direction).verdict == expected


def test_boundary_of_probability_threshold():
    # Exactly 95.0% positive draws, all far from the ROPE: supported at prob=0.95, not at 0.96.
    x = np.concatenate([np.full(950, 2.0) + np.linspace(0, 0.1, 950), np.full(50, -2.0)])
    wide = Thresholds(ci_prob=0.90)
    assert judge(x, +1, wide).p_direction == pytest.approx(0.95)
    assert judge(x, +1, wide).verdict == "supported"
    assert judge(x, +1, Thresholds(prob=0.96, ci_prob=0.90)).verdict == "inconclusive"


def test_rope_boundary():
    inside = np.linspace(ROPE[0] + 1e-3, ROPE[1] - 1e-3, 4001)
    assert judge(inside, +1).verdict == "practically null"
    straddle = np.linspace(ROPE[1] - 0.05, ROPE[1] + 1.0, 4001)
    assert judge(straddle, +1).verdict == "inconclusive"
    just_outside = np.linspace(ROPE[1] + 0.01, ROPE[1] + 1.0, 4001)
    assert judge(just_outside, +1).verdict == "supported"


def test_rope_from_odds_ratio_validates():
    assert rope_from_odds_ratio(0.9, 1.1) == pytest.approx(ROPE)
    with pytest.raises(ValueError):
        rope_from_odds_ratio(1.2, 1.1)


def _fake_fit(**params):
    rng = np.random.default_rng(3)
    post = {k: rng.normal(m, s, size=(2, 500)) for k, (m, s) in params.items()}
    prior = {k: rng.normal(0, 1, size=(1, 2000)) for k in params}
    return az.from_dict({"posterior": post, "prior": prior})


def test_table_on_fake_posterior_balancing():
    tree = _fake_fit(gamma_shared=(1.0, 0.2), gamma_partner=(-0.7, 0.2))
    table = evidence_table(tree).set_index("id")
    assert table.loc["BAL-1", "verdict"] == "supported"
    assert table.loc["BW-1", "verdict"] == "contradicted"
    assert table.loc["COND-1", "verdict"] == "supported"
    assert table.loc["IDEO-1", "verdict"] == "not testable"
    assert "gamma_ideology" in table.loc["IDEO-1", "reason"]
    assert table.loc["BAL-1", "pair"] == "BW-1"
    # Savage-Dickey (ArviZ, KDE of the draws at 0): far from 0 -> evidence for an effect.
    assert table.loc["BAL-1", "bayes_factor"] > 3


def test_savage_dickey_favours_null_when_posterior_concentrates_at_zero():
    tree = _fake_fit(gamma_shared=(0.0, 0.1), gamma_partner=(0.0, 0.1))
    table = evidence_table(tree).set_index("id")
    # posterior density at 0 (~4) over prior density at 0 (~0.4): BF10 ~ 0.1
    assert table.loc["BAL-1", "bayes_factor"] < 0.3


def test_registry_pairs_are_mutual():
    for h in REGISTRY.values():
        if h.pair:
            assert REGISTRY[h.pair].pair == h.id


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (["supported", "supported"], "supported"),
        (["supported", "contradicted"], "contradicted"),
        (["contradicted", "not testable"], "contradicted"),
        (["supported", "not testable"], "not testable"),
        (["practically null", "practically null"], "practically null"),
        (["practically null", "supported"], "inconclusive"),
        (["supported", "inconclusive"], "inconclusive"),
        ([], "not testable"),
    ],
)
def test_combine_multi_part_verdicts(parts, expected):
    assert combine(parts) == expected


def test_marginal_effect_rope_scales_with_mean_p_one_minus_p():
    t = Thresholds()
    weight = 0.05  # mean p(1-p) over the rows
    lo, hi = t.rope_for("probability", weight)
    assert (lo, hi) == pytest.approx((ROPE[0] * weight, ROPE[1] * weight))
    # An AME just beyond what an odds ratio of 1.1 per SD would give is supported; just inside is null.
    assert judge(np.linspace(hi * 1.01, hi * 3, 4001), +1, t, rope=(lo, hi)).verdict == "supported"
    assert judge(np.linspace(lo * 0.99, hi * 0.99, 4001), +1, t, rope=(lo, hi)).verdict == "practically null"
    # The same draws judged against the unscaled log-odds ROPE would be null.
    assert judge(np.linspace(hi * 1.01, hi * 3, 4001), +1, t).verdict == "practically null"


def test_share_rope_boundary():
    t = Thresholds(share_rope=0.1)
    assert t.rope_for("share") == (-0.1, 0.1)
    assert judge(np.linspace(0.11, 0.9, 4001), +1, t, rope=t.rope_for("share")).verdict == "supported"
    assert judge(np.linspace(-0.09, 0.09, 4001), +1, t, rope=t.rope_for("share")).verdict == "practically null"
    assert "share" in t.describe() and "every part must hold" in t.describe()
