"""Misspecified worlds (walt_bayes.model.worlds): reproducible, fit-ready, and generated as documented.

Fast: no MCMC.  Each check compares the panel with what its world's generator says it does, with
margins that a generator doing something else (a wrong sign, a threat effect where there is none,
no persistence) would fail.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from walt_bayes.errors import WaltError
from walt_bayes.model.design import build_design
from walt_bayes.model.worlds import ALL_WORLDS, WORLDS, false_supports, simulate_any, simulate_world
from walt_bayes.panel.columns import REQUIRED
from walt_bayes.spec import load_spec

SEEDS = (1, 2)


@pytest.fixture(scope="module")
def sims():
    return {(w, s): simulate_world(w, seed=s) for w in WORLDS for s in SEEDS}


def dyad_years(panel: pd.DataFrame) -> pd.DataFrame:
    """Undirected dyad-years (i < k) with the true shared threat and partner threats."""
    codes = np.unique(panel["ccode1"])
    years = np.unique(panel["year"])
    ti = np.searchsorted(years, panel["year"])
    ii = np.searchsorted(codes, panel["ccode1"])
    jj = np.searchsorted(codes, panel["ccode2"])
    tau = np.zeros((len(years), len(codes), len(codes)))
    tau[ti, ii, jj] = panel["true_threat21"]
    contig = np.zeros((len(codes), len(codes)))
    contig[ii, jj] = panel["contiguous"]
    shared = np.einsum("tij,tkj->tik", tau, tau)
    common = contig @ contig  # third states contiguous to both
    out = panel.assign(
        shared=shared[ti, ii, jj], mutual=tau[ti, ii, jj] + tau[ti, jj, ii], common=common[ii, jj],
        i=ii, k=jj,
    )
    return out.loc[out["ccode1"] < out["ccode2"]].reset_index(drop=True)


def rate_ratio(d: pd.DataFrame, col: str, outcome: str = "ally") -> float:
    """Outcome rate in the top third of ``col`` over that in the bottom third."""
    lo, hi = d[col].quantile([1 / 3, 2 / 3])
    return d.loc[d[col] >= hi, outcome].mean() / d.loc[d[col] <= lo, outcome].mean()


def onsets(d: pd.DataFrame) -> pd.DataFrame:
    """Dyad-years not allied the year before, with ``ally`` = onset."""
    prev = d[["ccode1", "ccode2", "year", "ally"]].assign(year=d["year"] + 1).rename(columns={"ally": "prev"})
    m = d.merge(prev, on=["ccode1", "ccode2", "year"])
    return m.loc[m["prev"] == 0]


@pytest.mark.parametrize("world", list(WORLDS))
def test_reproducible_by_seed(world, sims):
    again = simulate_world(world, seed=1)
    pd.testing.assert_frame_equal(again.panel, sims[(world, 1)].panel)
    assert json.dumps(again.truth, sort_keys=True) == json.dumps(sims[(world, 1)].truth, sort_keys=True)
    other = sims[(world, 2)].panel
    assert not np.array_equal(other["ally"].to_numpy(), again.panel["ally"].to_numpy())


def test_same_seed_same_covariates_in_every_world(sims):
    base = sims[("persistent", 1)].panel
    for w in ("mutual", "confounder", "ideology_only"):
        p = sims[(w, 1)].panel
        for col in ("power1", "contiguous", "log_capdist", "ideo_sim", "offense2"):
            np.testing.assert_array_equal(p[col].to_numpy(), base[col].to_numpy())


@pytest.mark.parametrize("world", list(WORLDS))
def test_panel_fits_and_rates_are_plausible(world, sims):
    bot = load_spec("balance_of_threat")
    for s in SEEDS:
        sim = sims[(world, s)]
        p = sim.panel
        assert set(REQUIRED) <= set(p.columns)
        assert 20 <= p["ccode1"].nunique() <= 25 and p["year"].nunique() == 24
        design = build_design(p, bot, name=world)
        assert design.has_threat and len(design.terms) == 4, design.dropped_terms
        rate = sim.truth["alliance_rate_realised"]
        assert 0.03 <= rate <= 0.30, (world, s, rate)
        assert 0.01 <= p["init21"].mean() <= 0.10
        # symmetric alliances, pledges mirror them
        rev = p.set_index(["ccode2", "ccode1", "year"])["ally"]
        back = rev.reindex(pd.MultiIndex.from_frame(p[["ccode1", "ccode2", "year"]])).to_numpy()
        np.testing.assert_array_equal(back, p["ally"].to_numpy())
        assert (p["pledge12"] == p["ally"]).all()
        for key in ("direction_shared", "direction_partner", "direction_cond1"):
            assert sim.truth[key] in (-1, 0, 1)


@pytest.mark.parametrize("world", list(WORLDS))
def test_disputes_come_from_the_true_threat(world, sims):
    """init21 is drawn from true_threat21, and the intent inputs count that dispute history."""
    for s in SEEDS:
        p = sims[(world, s)].panel
        assert abs(p["init21"].mean() - p["true_threat21"].mean()) < 4 * np.sqrt(p["true_threat21"].mean() / len(p))
        hi = p["true_threat21"] >= p["true_threat21"].quantile(0.9)
        assert p.loc[hi, "init21"].mean() > 5 * p.loc[~hi, "init21"].mean()
        # init21_past10 of a year = disputes of the dyad in the ten years before (within the panel)
        d = p.sort_values(["ccode1", "ccode2", "year"])
        later = d.loc[d["year"] >= d["year"].min() + 10]
        for _, r in later.sample(30, random_state=0).iterrows():
            window = d.loc[(d["ccode1"] == r["ccode1"]) & (d["ccode2"] == r["ccode2"])
                           & d["year"].between(r["year"] - 10, r["year"] - 1), "init21"].sum()
            assert r["init21_past10"] == window
        any_j = p.groupby(["ccode2", "year"])["init21_past10"].sum()
        got = p.drop_duplicates(["ccode2", "year"]).set_index(["ccode2", "year"])["init2_past10"]
        np.testing.assert_array_equal(got.sort_index().to_numpy(), any_j.sort_index().to_numpy())


@pytest.mark.parametrize("world", ["persistent", "persistent_null", "persistent_negative", "trend", "reviewer"])
def test_persistent_worlds_persist(world, sims):
    for s in SEEDS:
        sim = sims[(world, s)]
        d = dyad_years(sim.panel)
        prev = d[["ccode1", "ccode2", "year", "ally"]].assign(year=d["year"] + 1).rename(columns={"ally": "prev"})
        m = d.merge(prev, on=["ccode1", "ccode2", "year"])
        stay = m.loc[m["prev"] == 1, "ally"].mean()
        assert abs(stay - sim.truth["persistence"]) < 0.05, (world, s, stay)
        assert m.loc[m["prev"] == 0, "ally"].mean() < 0.1  # onsets are rare


def test_persistent_onset_follows_the_set_sign(sims):
    for s in SEEDS:
        ratios = {w: rate_ratio(onsets(dyad_years(sims[(w, s)].panel)), "shared")
                  for w in ("persistent", "persistent_null", "persistent_negative")}
        assert ratios["persistent"] > 1.8, ratios
        assert ratios["persistent_negative"] < 0.6, ratios
        assert 0.6 < ratios["persistent_null"] < 1.6, ratios


def test_iid_worlds_do_not_persist_like_markov(sims):
    for w in ("mutual", "other_threat", "confounder", "ideology_only"):
        assert sims[(w, 1)].truth["persistence"] is None
        assert sims[(w, 1)].truth["persistence_realised"] < 0.5


@pytest.mark.parametrize("world", ["trend", "trend_jump", "trend_negative", "reviewer", "reviewer_negative"])
def test_trend_worlds_build_up_from_none(world, sims):
    for s in SEEDS:
        d = dyad_years(sims[(world, s)].panel)
        years = np.sort(d["year"].unique())
        first = d.loc[d["year"].isin(years[:3]), "ally"].mean()
        last = d.loc[d["year"].isin(years[-3:]), "ally"].mean()
        assert last > 0.05 and first < 0.2 * last, (world, s, first, last)
        # the dispute history starts with the panel: measured intent builds up too
        p = sims[(world, s)].panel
        assert p.loc[p["year"] == years[0], "init21_past10"].sum() == 0
    if world == "trend_jump":
        sim = sims[(world, 1)]
        d = dyad_years(sim.panel)
        jump = years[0] + len(years) // 3
        assert jump == 1946
        assert d.loc[d["year"] < jump, "ally"].mean() < 0.01


@pytest.mark.parametrize(("negative", "null"), [("trend_negative", "trend"), ("reviewer_negative", "reviewer")])
def test_trend_negative_onset_falls_with_shared_threat(negative, null, sims):
    for s in SEEDS:
        assert rate_ratio(onsets(dyad_years(sims[(negative, s)].panel)), "shared") < 0.6
        assert 0.6 < rate_ratio(onsets(dyad_years(sims[(null, s)].panel)), "shared") < 1.6


def test_reviewer_world_combines_trend_persistence_and_step_threat(sims):
    truth = sims[("reviewer", 1)].truth
    assert (truth["threat_function"], truth["persistence"], truth["trend"], truth["burn_in"]) == (
        "step", 0.85, "ramp", 0)
    assert len(truth["revisionist_states"]) == 3


def test_ideology_only_alliances_ignore_threat(sims):
    for s in SEEDS:
        sim = sims[("ideology_only", s)]
        d = dyad_years(sim.panel)
        for col in ("shared", "common", "mutual"):
            r = rate_ratio(d, col)
            assert 0.7 < r < 1.45, (s, col, r)
        by_contig = d.groupby("contiguous")["ally"].mean()
        assert 0.7 < by_contig[1] / by_contig[0] < 1.4, by_contig
        same = d.loc[d["ideo_sim"] == 1, "ally"].mean()
        other = d.loc[d["ideo_sim"] == 0, "ally"].mean()
        assert same > 3 * other, (same, other)
        assert sim.truth["direction_shared"] == sim.truth["direction_partner"] == 0


def test_mutual_world_partner_threat_in_both_directions_lowers_alliance(sims):
    for s in SEEDS:
        sim = sims[("mutual", s)]
        d = dyad_years(sim.panel)
        # hold shared threat fixed-ish: within the bottom half of shared threat
        low_s = d.loc[d["shared"] <= d["shared"].median()]
        assert rate_ratio(low_s, "mutual") < 0.7
        assert rate_ratio(d, "shared") > 1.3
        assert (sim.truth["direction_shared"], sim.truth["direction_partner"], sim.truth["direction_cond1"]) == (1, -1, 1)
        assert sim.truth["partner_both"] is True


def test_other_threat_world_uses_steps_and_revisionists(sims):
    for s in SEEDS:
        sim = sims[("other_threat", s)]
        p = sim.panel
        rev = sim.truth["revisionist_states"]
        assert len(rev) == 3
        by_rev = p.groupby(p["ccode2"].isin(rev))["init21"].mean()
        assert by_rev[True] > 4 * by_rev[False]
        non = p.loc[~p["ccode2"].isin(rev)]
        ratio = non["power2"] - non["power1"]
        step = (ratio > np.log(1.5)) & (non["contiguous"] == 1)
        assert non.loc[step, "init21"].mean() > 4 * non.loc[~step, "init21"].mean()
        # the true threat is a step function: few distinct values
        assert non["true_threat21"].round(6).nunique() <= 4
        assert rate_ratio(dyad_years(p), "shared") > 1.3
        assert rate_ratio(dyad_years(sims[("other_threat_negative", s)].panel), "shared") < 0.8


def test_confounder_world_links_disputes_and_alliances_among_neighbours(sims):
    for s in SEEDS:
        sim = sims[("confounder", s)]
        field = pd.Series({int(k): v for k, v in sim.truth["confounder_field"].items()})
        p = sim.panel.assign(u=(sim.panel["ccode1"].map(field) + sim.panel["ccode2"].map(field)).to_numpy() / 2)
        nb = p.loc[p["contiguous"] == 1]
        assert nb["u"].notna().all()
        assert rate_ratio(nb, "u", "init21") > 1.5
        assert rate_ratio(nb.loc[nb["ccode1"] < nb["ccode2"]], "u") > 1.5
        far = p.loc[(p["contiguous"] == 0) & (p["ccode1"] < p["ccode2"])]
        assert 0.7 < rate_ratio(far, "u") < 1.4  # the field acts among neighbours only
        assert sim.truth["direction_shared"] == sim.truth["direction_partner"] == 0


def test_field_is_smooth_over_space(sims):
    """Nearby states have similar field values (the MDS positions are the real ones)."""
    sim = sims[("confounder", 1)]
    field = {int(k): v for k, v in sim.truth["confounder_field"].items()}
    p = sim.panel.loc[(sim.panel["year"] == sim.panel["year"].min()) & (sim.panel["ccode1"] < sim.panel["ccode2"])]
    diff = (p["ccode1"].map(field) - p["ccode2"].map(field)).abs()
    near = p["log_capdist"] <= p["log_capdist"].quantile(0.2)
    assert diff[near].mean() < 0.7 * diff[~near].mean()


def test_overrides_and_false_supports():
    sim = simulate_world("persistent", n_states=10, n_years=8, seed=3, shared_effect=-0.5, persistence=0.9)
    assert sim.truth["direction_shared"] == -1 and sim.truth["persistence"] == 0.9
    assert sim.panel["year"].nunique() == 8
    truth = {"direction_shared": -1, "direction_partner": 0, "direction_cond1": 1}
    verdicts = {"BAL-1": "supported", "BW-1": "inconclusive", "COND-1": "supported"}
    assert false_supports(truth, verdicts) == ["BAL-1"]


def test_dispatcher_accepts_every_world_and_refuses_others():
    assert set(WORLDS) < set(ALL_WORLDS) and {"balancing", "null"} < set(ALL_WORLDS)
    assert simulate_any("ideology_only", seed=1).world == "ideology_only"
    null = simulate_any("null", n_states=6, n_years=3, seed=1)
    assert null.world == "null" and null.panel["ccode1"].nunique() == 6
    with pytest.raises(WaltError, match=r"unknown world 'nonsense'.*persistent.*ideology_only"):
        simulate_any("nonsense")


def _run_cli(monkeypatch, capsys, *args) -> tuple[int, str]:
    from walt_bayes.cli import main

    monkeypatch.setattr("sys.argv", ["walt-bayes", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, capsys.readouterr().err


def test_cli_simulate_world(tmp_path, monkeypatch, capsys):
    out = tmp_path / "w.parquet"
    code, err = _run_cli(monkeypatch, capsys, "simulate", "--world", "mutual", "--seed", "4", "--out", str(out))
    assert code == 0, err
    panel = pd.read_parquet(out)
    truth = json.loads(out.with_suffix(".truth.json").read_text())
    assert truth["world"] == "mutual" and truth["truth"]["direction_partner"] == -1
    assert panel["ccode1"].nunique() == 22
    pd.testing.assert_frame_equal(panel, simulate_world("mutual", seed=4).panel, check_dtype=False)
    code, err = _run_cli(monkeypatch, capsys, "simulate", "--world", "nonsense", "--out", str(out))
    assert code == 2
    assert "unknown world 'nonsense'" in err and "ideology_only" in err and len(err.strip().splitlines()) == 1
