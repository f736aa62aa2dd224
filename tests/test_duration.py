"""Block 3 (alliance duration): spells, covariates, ΔS links, storage, recovery and verdicts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from walt_bayes.errors import ModelError, SpecError
from walt_bayes.model.duration import DurationArrays, _war_won_cow, alliance_spells
from walt_bayes.spec import parse_spec

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO.parent / "shared" / "data" / "peacesciencer"

QUICK = {"mode": "FAST_COMPILE"}

SMALL = """
[model]
name = "small_duration"

[threat]
sources = ["power", "proximity", "intent"]
group = "none"

[alliance]
terms = ["shared", "ideology"]
controls = []
group = "none"
dyad_intercepts = false
year_intercepts = false
"""


def _panel(rows, extra=None):
    """A directed panel (both directions) from undirected (a, b, year, ally) rows."""
    out = []
    for a, b, year, ally in rows:
        for x, y in ((a, b), (b, a)):
            out.append({"ccode1": x, "ccode2": y, "year": year, "ally": ally, **(extra or {})})
    return pd.DataFrame(out)


# ------------------------------------------------------------------------------ spells
def test_spells_ends_censoring_gaps_and_truncation():
    rows = [
        # dyad 1-2: allied 2000-2002, not 2003: one spell of 3 ending after 2002.
        (1, 2, 2000, 1), (1, 2, 2001, 1), (1, 2, 2002, 1), (1, 2, 2003, 0),
        # dyad 1-3: allied 2001-2003, panel ends in 2003: censored at the end.
        (1, 3, 2000, 0), (1, 3, 2001, 1), (1, 3, 2002, 1), (1, 3, 2003, 1),
        # dyad 2-3: allied 2000, the dyad is absent in 2001 (a state left), allied again 2002,
        # then a missing outcome in 2003: two spells, both censored.
        (2, 3, 2000, 1), (2, 3, 2002, 1), (2, 3, 2003, np.nan),
        # dyad 3-4: allied 2001, not 2002, allied 2003: two spells, the first ends.
        (3, 4, 2001, 1), (3, 4, 2002, 0), (3, 4, 2003, 1),
    ]
    s = alliance_spells(_panel(rows)).set_index(["lo", "hi", "year"])
    assert len(s) == 10
    assert s.loc[(1, 2), "event"].tolist() == [0, 0, 1]
    assert s.loc[(1, 2), "duration"].tolist() == [1, 2, 3]
    assert s.loc[(1, 2), "left_truncated"].tolist() == [1, 1, 1]  # allied in the panel's first year
    assert s.loc[(1, 3), "event"].tolist() == [0, 0, 0]
    assert s.loc[(1, 3), "censored"].tolist() == [0, 0, 1]
    assert s.loc[(1, 3), "left_truncated"].tolist() == [0, 0, 0]
    assert s.loc[(2, 3), "censored"].tolist() == [1, 1] and s.loc[(2, 3), "event"].tolist() == [0, 0]
    assert s.loc[(2, 3), "duration"].tolist() == [1, 1]
    assert s.loc[(2, 3), "spell"].nunique() == 2
    assert s.loc[(3, 4), "event"].tolist() == [1, 0] and s.loc[(3, 4), "censored"].tolist() == [0, 1]
    assert s["spell"].nunique() == 6


def test_spells_read_either_direction_of_a_dyad():
    panel = pd.DataFrame({
        "ccode1": [5, 2, 2, 5], "ccode2": [2, 5, 5, 2], "year": [1990, 1990, 1991, 1991],
        "ally": [1, np.nan, 0, np.nan],  # one direction missing each year
    })
    s = alliance_spells(panel)
    assert s[["lo", "hi", "year", "event"]].values.tolist() == [[2, 5, 1990, 1]]


def test_war_won_from_cow_wars_needs_a_common_enemy_a_win_and_the_enemy_beaten():
    # Spells: 10-20 formed 1900 while both fought 30 (war 1, won; enemy fights until 1902);
    # 10-40 formed 1900, 40 fought 30 in another war; 20-40 formed 1905 (no war data: NA).
    spells = pd.DataFrame({
        "lo": [10, 10, 10, 10, 10, 20], "hi": [20, 20, 20, 20, 40, 40],
        "year": [1900, 1901, 1902, 1903, 1900, 1905], "spell": [0, 0, 0, 0, 1, 2],
        "start": [1900, 1900, 1900, 1900, 1900, 1905],
    })
    wars = pd.DataFrame([
        (1, 10, 30, 1900, 1), (1, 30, 10, 1900, 2), (1, 20, 30, 1900, 1), (1, 30, 20, 1900, 2),
        (1, 10, 30, 1901, 1), (1, 30, 10, 1901, 2), (1, 30, 20, 1902, 2), (1, 20, 30, 1902, 1),
        (2, 40, 30, 1900, 2), (2, 30, 40, 1900, 1),
    ], columns=["warnum", "x", "j", "year", "outcome"])
    panel = pd.DataFrame({
        "ccode1": [10, 10, 20], "ccode2": [20, 40, 40], "year": [1900, 1900, 1905],
        "war": pd.array([0, 0, pd.NA], dtype="Int8"),
    })
    got = _war_won_cow(spells, wars, panel)
    np.testing.assert_array_equal(got[:5], [0, 0, 1, 1, 0])
    assert np.isnan(got[5])


# ------------------------------------------------------------------- the embedded data
@pytest.fixture(scope="module")
def me_design():
    from walt_bayes.model.design import build_design
    from walt_bayes.panel.embedded import load_middle_east

    spec = parse_spec(SMALL + "\n[duration]\n\n[joining]\n", source="small")
    return build_design(load_middle_east(), spec, "middle-east"), spec


def test_embedded_war_won_rows_are_the_wartime_episodes_after_the_enemy_fell(me_design):
    design, _ = me_design
    d = design.duration
    keys = d.keys.assign(y=d.y, war_won=d.X[:, d.terms.index("war_won")])
    won = keys.loc[keys["war_won"] == 1, ["lo", "hi", "year"]].values.tolist()
    # Black September 1970 (enemy Syria withdrew in 1970); Dhofar war won Dec 1975 (UK-Oman to 1979,
    # Iran-Oman to 1978, Jordan-Oman in 1975).  1979 is the panel's last year: whether a spell goes
    # on into 1980 is unobserved, so no 1979 spell-year is at risk.
    expected = [[2, 663, 1970], [2, 666, 1970], [663, 666, 1970], [663, 698, 1975]]
    expected += [[200, 698, y] for y in range(1975, 1979)] + [[630, 698, y] for y in range(1975, 1979)]
    assert sorted(won) == sorted(expected)
    ends = keys.set_index(["lo", "hi", "year"])["y"]
    assert ends[(663, 666, 1970)] == 1 and ends[(630, 698, 1978)] == 1
    assert ends[(200, 698, 1978)] == 0 and (200, 698, 1979) not in ends.index
    assert (keys["year"] < 1979).all()
    # Leninist pairs: only the USSR and South Yemen, from 1969.
    len_rows = keys.loc[d.X[:, d.terms.index("leninist")] == 1, ["lo", "hi"]].drop_duplicates()
    assert len_rows.values.tolist() == [[365, 680]]


def test_embedded_spells_begun_before_1955_take_their_true_start(me_design):
    design, _ = me_design
    d = design.duration
    center = d.meta["log_duration_center"]
    dur = np.exp(d.log_duration + center)
    k = d.keys.assign(d=np.round(dur).astype(int)).set_index(["lo", "hi", "year"])["d"]
    # NATO: Turkey joined in 1952, so the US-Turkey spell is in its 5th year in 1956.
    assert k[(2, 640, 1956)] == 5
    # The Anglo-Jordanian treaty (1948) ends in 1957: in force 1948-1957, 10th year in 1957.
    assert k[(200, 663, 1957)] == 10


def test_delta_S_is_the_alliance_blocks_S_of_t_and_t_minus_1(me_design):
    """ΔS comes from block 3's own triads, built like block 2's: where the dyad-years t and t-1
    are alliance rows too (first years of spells), it equals the alliance block's S difference."""
    import pymc as pm

    from walt_bayes.model.build import build_model

    design, spec = me_design
    d = design.duration
    assert d.threat_rise
    model = build_model(design, spec, keep_latent=True)
    names = ["latent_S", "duration_dS", "lambda_0", *(f"beta_{s}" for s in design.sources)]
    prior = pm.sample_prior_predictive(draws=5, model=model, random_seed=3, var_names=names, compile_kwargs=QUICK)
    post = prior["prior"]
    S = post["latent_S"].values.reshape(5, -1)
    got = post["duration_dS"].values.reshape(5, -1)
    ak = design.ally_keys
    lookup = {}
    for row, (a, b, y) in enumerate(zip(ak["ccode1"], ak["ccode2"], ak["year"], strict=True)):
        lookup[(min(a, b), max(a, b), y)] = row
    compared = 0
    for r, (lo, hi, y) in enumerate(zip(d.keys["lo"], d.keys["hi"], d.keys["year"], strict=True)):
        now, prev = lookup.get((lo, hi, y)), lookup.get((lo, hi, y - 1))
        if now is None or prev is None:
            continue
        np.testing.assert_allclose(got[:, r], (S[:, now] - S[:, prev]) / d.dS_scale, rtol=1e-10, atol=1e-12)
        compared += 1
    assert compared >= 10 and np.std(got) > 0
    # The numpy twin, from tau of the same draws, agrees on every row.
    beta = np.stack([post[f"beta_{s}"].values.reshape(5) for s in design.sources], axis=1)
    eta = post["lambda_0"].values.reshape(5, 1) + beta @ design.threat_X.T
    np.testing.assert_allclose(d.delta_shared(1 / (1 + np.exp(-eta))), got, rtol=1e-9, atol=1e-12)


def test_design_round_trip_keeps_duration_and_joining(me_design, tmp_path):
    import xarray as xr

    from walt_bayes.model.design import Design

    design, _ = me_design
    path = tmp_path / "design.nc"
    design.to_dataset().to_netcdf(path, engine="h5netcdf")
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        back = Design.from_dataset(ds.load())
    a, b = design.duration, back.duration
    pd.testing.assert_frame_equal(a.keys, b.keys)
    for name in ("y", "log_duration", "X", "s_now", "s_prev", "tri_s", "tri_ji", "tri_jk"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    pd.testing.assert_frame_equal(a.s_keys, b.s_keys)
    assert a.terms == b.terms and a.dS_scale == b.dS_scale and a.threat_rise == b.threat_rise
    ja, jb = design.joining, back.joining
    pd.testing.assert_frame_equal(ja.keys, jb.keys)
    np.testing.assert_array_equal(ja.chance, jb.chance)
    np.testing.assert_array_equal(ja.y, jb.y)
    assert jb.meta["source"] == "war_joining.csv"


def test_subsets_keep_the_delta_S_of_the_rows_they_keep(me_design):
    """Subsets (cross-validation) compact the S links but give every kept row the same ΔS."""
    design, _ = me_design
    d = design.duration
    tau = np.random.default_rng(0).uniform(0.01, 0.5, size=(3, len(design.threat_y)))
    full = d.delta_shared(tau)
    keep = np.random.default_rng(1).random(d.n) < 0.5
    sub = d.subset(keep)
    assert sub.n == int(keep.sum()) and len(sub.s_keys) < len(d.s_keys)
    np.testing.assert_allclose(sub.delta_shared(tau), full[:, keep], rtol=1e-12)
    early = d.before(1970)
    assert (early.keys["year"] < 1969).all() and early.n == int((d.keys["year"] < 1969).sum())
    assert (early.s_keys["year"] < 1969).all()
    gone = d.without_dyads([2], [663])
    assert not ((gone.keys["lo"] == 2) & (gone.keys["hi"] == 663)).any()
    assert gone.n == d.n - int(((d.keys["lo"] == 2) & (d.keys["hi"] == 663)).sum()) < d.n


# ------------------------------------------------------------------- dropping terms
def test_terms_without_data_are_dropped_with_a_reason_or_refused(sim_balancing):
    from walt_bayes.model.design import build_design

    spec = parse_spec(SMALL + "\n[duration]\ndrop_unavailable = true\n", source="small")
    design = build_design(sim_balancing.panel, spec)
    dropped = design.dropped_terms
    assert "leninist1" in dropped["duration:leninist"]
    assert "war data" in dropped["duration:war_won"]
    assert design.duration.terms == ["ideological", "other_motive"] and design.duration.threat_rise
    strict = parse_spec(SMALL + "\n[duration]\n", source="small")
    with pytest.raises(ModelError) as err:
        build_design(sim_balancing.panel, strict)
    assert "\n" not in str(err.value) and "war_won" in str(err.value)
    no_threat = parse_spec(SMALL.replace('terms = ["shared", "ideology"]', 'terms = ["ideology"]')
                           + '\n[duration]\nterms = ["threat_rise", "ideological"]\ndrop_unavailable = true\n')
    design = build_design(sim_balancing.panel, no_threat)
    assert "shared threat" in design.dropped_terms["duration:threat_rise"]


@pytest.mark.parametrize(
    ("block", "needle"),
    [
        ('[duration]\nterm = ["war_won"]', "unknown key 'term'"),
        ('[duration]\nterms = ["war_lost"]', "unknown name 'war_lost'"),
        ("[duration]\nideological_similarity = 1.5", "ideological_similarity"),
        ("[joining]\nexclude_uncertain = 1", "exclude_uncertain"),
        ("[joining]\nchance = 0.5", "unknown key 'chance'"),
        ('[priors]\ndelta_war_lost = {sigma = 1}', "delta_war_lost"),
    ],
)
def test_spec_rejects_bad_duration_and_joining_tables(block, needle):
    with pytest.raises(SpecError) as err:
        parse_spec(SMALL + "\n" + block + "\n", source="bad.toml")
    assert needle in str(err.value) and "bad.toml" in str(err.value) and "\n" not in str(err.value)


def test_priors_are_exposed_and_merged():
    spec = parse_spec(SMALL + '\n[duration]\n[priors]\ndelta = {sigma = 0.5}\ndelta_war_won = {mu = 0.2}\n'
                      'delta_0 = {mu = -3}\njoin_winner = {sigma = 2}\n')
    assert spec.resolved_prior("delta_war_won", "delta") == {"distribution": "Normal", "mu": 0.2, "sigma": 0.5}
    assert spec.resolved_prior("delta_threat_rise", "delta")["sigma"] == 0.5
    assert spec.resolved_prior("delta_0", mu=-1.0) == {"distribution": "Normal", "sigma": 1.5, "mu": -3}
    assert spec.resolved_prior("join_winner")["sigma"] == 2
    default = parse_spec(SMALL)
    assert default.resolved_prior("delta_leninist", "delta") == {"distribution": "Normal", "mu": 0.0, "sigma": 1.0}
    assert default.resolved_prior("delta_0", mu=-2.0)["sigma"] == 1.5


def test_full_variant_switches_both_blocks_on():
    from walt_bayes.spec import DURATION_TERMS, load_spec

    spec = load_spec("full")
    assert spec.duration is not None and set(spec.duration.terms) == set(DURATION_TERMS)
    assert spec.joining is not None and spec.duration.drop_unavailable and spec.joining.drop_unavailable


def test_simulator_still_runs_with_the_full_variant():
    from walt_bayes.model.simulate import simulate
    from walt_bayes.spec import load_spec

    sim = simulate(load_spec("full"), n_states=6, n_years=4, seed=2)
    assert sim.panel["ally"].isin([0, 1]).all() and len(sim.panel) == 6 * 5 * 4
    assert not any(k.startswith(("delta_", "join_")) for k in sim.truth)


# ------------------------------------------------------------------ recovery (simulated)
RECOVERY_TRUTH = {
    "delta_0": -1.5, "delta_log_duration": -0.5, "delta_threat_rise": 0.8,
    "delta_leninist": 1.0, "delta_regime_other": 0.0, "delta_ideological": 0.8, "delta_other_motive": 0.0,
}


@pytest.mark.slow
def test_duration_effects_are_recovered_from_a_simulated_world():
    """Spell endings drawn from the block with known delta_* (pm.do), the rest of the world from the
    simulator; the joint fit covers every true value and is informative about the main ones."""
    import pymc as pm

    from walt_bayes.model.build import build_model
    from walt_bayes.model.design import build_design
    from walt_bayes.model.simulate import draw_duration_outcomes, simulate

    spec = parse_spec(SMALL.replace('"ideology"]', '"ideology", "partner"]')
                      + '\n[duration]\nterms = ["threat_rise", "leninist", "ideological"]\n')
    sim = simulate(spec, n_states=18, n_years=30, seed=4)
    panel = sim.panel
    regime = panel["regime1"].astype(int), panel["regime2"].astype(int)
    for side, r in zip(("1", "2"), regime, strict=True):
        panel[f"leninist{side}"] = (r == 2).astype(int)
        panel[f"democracy{side}"] = (r == 0).astype(float)
    design = build_design(panel, spec, "sim")
    assert design.duration.terms == ["leninist", "regime_other", "ideological", "other_motive"]
    truth = {k: v for k, v in sim.truth.items()} | RECOVERY_TRUTH
    design.duration.y = draw_duration_outcomes(design, spec, truth, seed=9)
    model = build_model(design, spec)
    idata = pm.sample(draws=300, tune=300, chains=2, cores=2, random_seed=5, progressbar=False, model=model,
                      nuts_sampler="nutpie")
    post = idata["posterior"]
    for name, value in RECOVERY_TRUTH.items():
        draws = post[name].values.ravel()
        lo, hi = np.quantile(draws, [0.005, 0.995])
        assert lo < value < hi, (name, value, lo, hi)
    # Informative where the world has the data: ~650 spell-years, ~130 of Leninist pairs.  (Simulated
    # states dispute so often that almost every alliance shares a threat source: ideology-driven
    # spells are a handful, so delta_ideological is only checked for coverage.)
    sds = {name: float(post[name].values.std()) for name in RECOVERY_TRUTH}
    for name in ("delta_0", "delta_threat_rise", "delta_leninist", "delta_regime_other"):
        assert sds[name] < 0.5, (name, sds)


# ----------------------------------------------------------- verdicts from a small fit
def _full_blocks() -> str:
    """The [duration] and [joining] tables of models/full.toml, verbatim."""
    text = (REPO / "models" / "full.toml").read_text()
    match = re.search(r"^\[duration\].*?(?=^\[sampler\])", text, flags=re.S | re.M)
    return match.group(0)


@pytest.fixture(scope="module")
def small_me_fit(tmp_path_factory):
    """A real (small) fit on the embedded data: full's duration and joining blocks, a lean alliance block."""
    from walt_bayes.fit.fitfile import save_fit
    from walt_bayes.fit.run import fit_model
    from walt_bayes.panel.embedded import load_middle_east

    spec = parse_spec(SMALL + "\n" + _full_blocks(), source="small+full-blocks")
    result = fit_model(load_middle_east(), spec, data_name="middle-east", data_sha256="0" * 64, seed=3,
                       draws=100, tune=150, chains=2, cores=2, progressbar=False)
    path = tmp_path_factory.mktemp("me") / "fit.nc"
    save_fit(result.idata, path)
    return result, path


def test_small_fit_tests_the_duration_and_joining_hypotheses(small_me_fit):
    from walt_bayes.fit.fitfile import fit_design, load_fit
    from walt_bayes.hypotheses.table import evidence_table

    result, path = small_me_fit
    tree = load_fit(path)
    # A short plumbing fit: it fails the ESS checks, so its verdicts are asked for as computed.
    t = evidence_table(tree, allow_unconverged=True).set_index("id")
    for hid in ("BAL-6", "BW-6", "IDEO-2", "IDEO-5", "COND-5"):
        assert t.loc[hid, "verdict"] in ("supported", "contradicted", "inconclusive", "practically null"), (
            hid, t.loc[hid, "reason"])
        assert np.isfinite(t.loc[hid, "mean"])
    assert t.loc["COND-5", "scale"] == "log-odds" and t.loc["BAL-6", "scale"] == "log-hazard"
    # Pointwise log-likelihood of the new blocks is stored; the fit file rebuilds the design.
    ll = tree["log_likelihood"]
    assert {"alliance", "alliance_end", "joined_winner"} <= set(ll.data_vars)
    design = fit_design(tree)
    assert design.duration.n == ll["alliance_end"].shape[-1] == result.design.duration.n
    assert design.joining.n == ll["joined_winner"].shape[-1] == 11


def test_compare_scores_every_dyad_year_by_block_2_or_3(small_me_fit):
    """compare joins block 3 to block 2: onset rows by one, continuing rows by the other."""
    from walt_bayes.compare.loo import loo_pointwise
    from walt_bayes.compare.runs import open_run

    result, path = small_me_fit
    run = open_run(path)
    pw = loo_pointwise(run)
    assert len(pw.elpd_i) == len(result.design.ally_y) + result.design.duration.n == len(run.y)
    assert np.isfinite(pw.elpd_i).all()


@pytest.mark.skipif(not (MIRROR / "cow_war_inter.rda").exists(), reason="no peacesciencer mirror")
def test_global_panel_builds_war_won_and_joining_from_cow_wars(monkeypatch, tmp_path):
    """A global-style panel (COW codes, the `war` column): war_won and joiners from cow_war_inter,
    leninist dropped.  Britain, France and Israel fought Egypt together in 1956 and won."""
    from walt_bayes.model.design import build_design
    from walt_bayes.model.simulate import simulate_covariates

    monkeypatch.setenv("WALT_BAYES_MIRROR", str(MIRROR))
    monkeypatch.setenv("WALT_BAYES_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(3)
    panel = simulate_covariates(6, 4, rng, first_year=1955)
    codes = {10: 200, 20: 220, 30: 666, 40: 651, 50: 2, 60: 365}
    panel["ccode1"] = panel["ccode1"].map(codes)
    panel["ccode2"] = panel["ccode2"].map(codes)
    panel["init21"] = (rng.random(len(panel)) < 0.2).astype(int)
    lo = np.minimum(panel["ccode1"], panel["ccode2"])
    hi = np.maximum(panel["ccode1"], panel["ccode2"])
    pairs = {(200, 666, 1956), (220, 666, 1956), (200, 220, 1955), (200, 220, 1956), (200, 220, 1957),
             (2, 200, 1956), (2, 200, 1957)}
    panel["ally"] = [int((a, b, y) in pairs) for a, b, y in zip(lo, hi, panel["year"], strict=True)]
    panel["war"] = 0
    spec = parse_spec(SMALL + "\n[duration]\ndrop_unavailable = true\n[joining]\ndrop_unavailable = true\n")
    design = build_design(panel, spec)
    assert "leninist1" in design.dropped_terms["duration:leninist"]
    d = design.duration
    assert "war_won" in d.terms
    keys = d.keys.assign(won=d.X[:, d.terms.index("war_won")], y=d.y).set_index(["lo", "hi", "year"])
    # Formed in 1956 during the Suez war, enemy beaten in 1956; the NATO-like UK-France spell began in 1955.
    assert keys.loc[(200, 666, 1956), "won"] == 1 and keys.loc[(220, 666, 1956), "won"] == 1
    assert keys.loc[(200, 666, 1956), "y"] == 1
    assert keys["won"].sum() == 2
    # Joiners: France entered the Ifni war (1957-58) in 1958 on the winning side, one state a side before it.
    j = design.joining
    assert j.keys[["war", "ccode", "year"]].values.tolist() == [["cow_158", 220, 1958]]
    assert j.y.tolist() == [1] and j.chance.tolist() == [0.5]
    assert isinstance(d, DurationArrays)


# ------------------------------------------- one likelihood per observation (block 2 vs block 3)
def test_each_alliance_status_is_evidence_once(me_design):
    """Block 3 models a[t+1] of dyads allied in t; block 2 must then model only dyads not allied in
    t - 1 (onset), or every continuation year would enter both likelihoods."""
    from walt_bayes.model.design import build_design
    from walt_bayes.panel.embedded import load_middle_east

    design, _ = me_design
    ak, d = design.ally_keys, design.duration
    lo, hi = np.minimum(ak["ccode1"], ak["ccode2"]), np.maximum(ak["ccode1"], ak["ccode2"])
    block2 = set(zip(lo, hi, ak["year"], strict=True))
    block3 = set(zip(d.keys["lo"], d.keys["hi"], d.keys["year"] + 1, strict=True))  # the status each predicts
    assert block2 and block3 and not block2 & block3
    panel = load_middle_east()
    status = alliance_spells(panel)  # allied undirected dyad-years
    allied = set(zip(status["lo"], status["hi"], status["year"], strict=True))
    assert not {(a, b, y - 1) for a, b, y in block2} & allied  # onset rows: not allied the year before
    # Without a duration block (the default variants) block 2 keeps every dyad-year.
    plain = build_design(panel, parse_spec(SMALL, source="small"), "middle-east")
    assert len(plain.ally_y) > len(design.ally_y) and int(plain.ally_y.sum()) > int(design.ally_y.sum())
    assert design.transform["duration"]["alliance_rows"] == "onset"


def test_shared_source_unknown_is_not_ideological():
    """IDEO-5: ideology-driven = similar regimes and no shared threat source; an unknown source
    (missing rivalry or dispute history) cannot be classified, and a known shared source is
    threat-driven whatever the similarity."""
    from walt_bayes.model.duration import _motives

    def rows(x, j, riv, past, sim):
        return [{"ccode1": x, "ccode2": j, "year": 2000, "rivalry": riv, "init21_past10": past, "ideo_sim": sim},
                {"ccode1": j, "ccode2": x, "year": 2000, "rivalry": riv, "init21_past10": past, "ideo_sim": sim}]

    panel = pd.DataFrame(
        rows(1, 2, 0, 0, 1.0) + rows(1, 9, 0, 0, 0.0) + rows(2, 9, 0, 0, 0.0)  # 1-2: similar, no threat
        + rows(4, 5, 0, 0, 1.0) + rows(4, 9, np.nan, 0, 0.0) + rows(5, 9, 0, 0, 0.0)  # 4: rivalry unknown
        + rows(6, 7, 0, 0, np.nan) + rows(6, 8, 1, 0, 0.0) + rows(7, 8, 0, 2, 0.0)  # 8 threatens both
        + rows(10, 11, 0, 0, 0.0) + rows(10, 9, 0, 0, 0.0) + rows(11, 9, 0, 0, 0.0)  # dissimilar
    )
    spells = pd.DataFrame({"spell": [0, 1, 2, 3], "lo": [1, 4, 6, 10], "hi": [2, 5, 7, 11],
                           "year": [2000] * 4, "first_year": [2000] * 4})
    ideo, other = _motives(spells, panel, 0.5)
    np.testing.assert_array_equal(ideo[[0, 2, 3]], [1, 0, 0])
    np.testing.assert_array_equal(other[[0, 2, 3]], [0, 0, 1])
    assert np.isnan(ideo[1]) and np.isnan(other[1])


def test_case_control_relevance_does_not_cut_spells(sim_balancing, monkeypatch):
    """Case control keeps politically relevant dyad-years for blocks 1-2; a spell whose dyad is not
    relevant for one year must not be cut there (a censored end and a new spell of duration 1)."""
    from walt_bayes.model import casecontrol
    from walt_bayes.model.design import build_design

    panel = sim_balancing.panel.copy()
    lo, hi = np.minimum(panel["ccode1"], panel["ccode2"]), np.maximum(panel["ccode1"], panel["ccode2"])
    spell = [(20, 120, y) for y in range(1955, 1959)]  # allied 1955-1958, not 1959
    here = pd.Series(list(zip(lo, hi, panel["year"], strict=True))).isin(spell).to_numpy()
    assert panel.loc[here, "ally"].eq(1).all() and here.sum() == 8
    gap = here & (panel["year"] == 1956).to_numpy()
    panel.loc[gap, ["contiguous", "major1", "major2", "rivalry"]] = 0  # not relevant in 1956
    monkeypatch.setattr(casecontrol, "AUTO_MIN_ALLIANCE_ROWS", 0)  # relevant dyads only, as on the global panel
    spec = parse_spec(SMALL + '\n[duration]\nterms = ["ideological"]\ndrop_unavailable = true\n', source="small")
    design = build_design(panel, spec, case_control="0.5", seed=1)
    assert design.case_control["relevant_dyads"]["kept"] < len(panel)
    d = design.duration
    mine = ((d.keys["lo"] == 20) & (d.keys["hi"] == 120) & (d.keys["year"] >= 1955)).to_numpy()
    dur = np.round(np.exp(d.log_duration[mine] + d.meta["log_duration_center"])).astype(int)
    assert d.keys.loc[mine, "year"].tolist() == [1955, 1956, 1957, 1958]
    assert dur.tolist() == [1, 2, 3, 4] and d.y[mine].tolist() == [0, 0, 0, 1]
