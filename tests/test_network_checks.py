"""Posterior predictive checks on the alliance network (walt_bayes.fit.network_checks)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from walt_bayes.fit import network_checks as nc
from walt_bayes.spec import load_spec, status_form

# A hand-made network over two years (undirected rows, either state order).
#   2000: states 1, 2, 3, 4; allied 1-2, 1-3, 2-3 (a triangle) and 3-4; not 1-4, 2-4.
#   2001: states 1, 2, 3, 4; allied 1-2, 2-3 (an open two-path); not 1-3, 3-4, 1-4, 2-4.
ROWS = pd.DataFrame(
    [
        (1, 2, 2000, 1), (3, 1, 2000, 1), (2, 3, 2000, 1), (3, 4, 2000, 1), (1, 4, 2000, 0), (4, 2, 2000, 0),
        (1, 2, 2001, 1), (1, 3, 2001, 0), (3, 2, 2001, 1), (3, 4, 2001, 0), (1, 4, 2001, 0), (2, 4, 2001, 0),
    ],
    columns=["lo", "hi", "year", "y"],
)
LO, HI, YEAR, Y = (ROWS[c].to_numpy() for c in ("lo", "hi", "year", "y"))


def test_persistence_of_the_hand_made_network():
    # Allied in 2000: 1-2 (still in 2001), 1-3 (not), 2-3 (still), 3-4 (not): 2 of 4.
    prev = nc.previous_rows(LO, HI, YEAR)
    assert list(prev[:6]) == [-1] * 6
    assert list(prev[6:]) == [0, 1, 2, 3, 4, 5]  # the same pairs, whatever the state order
    assert nc.network_statistics(Y, LO, HI, YEAR)["persistence"][0] == pytest.approx(0.5)
    # Persistence is conditional on the year before: an extra alliance in 2001 among pairs not allied in 2000
    # leaves it unchanged, a lost one lowers it.
    more = Y.copy()
    more[10] = 1  # 1-4 in 2001, not allied in 2000
    assert nc.network_statistics(more, LO, HI, YEAR)["persistence"][0] == pytest.approx(0.5)
    less = Y.copy()
    less[6] = 0  # 1-2 ends
    assert nc.network_statistics(less, LO, HI, YEAR)["persistence"][0] == pytest.approx(0.25)


def test_persistence_one_step_ahead_uses_the_observed_lag():
    now = np.array([[1, 0, 1, 1], [0, 0, 0, 1]])
    lag = np.array([1, 1, 0, 1])  # the third row was not allied the year before: not counted
    stats = nc.network_statistics(now, [1, 1, 2, 3], [2, 3, 3, 4], [2001] * 4, lag=lag, only=("persistence",))
    np.testing.assert_allclose(stats["persistence"], [2 / 3, 1 / 3])


def test_triangle_closure_counts_closed_two_paths_pooled_over_years():
    # 2000: trace(A^3) = 6 (one triangle), sum d(d-1) = 2 + 2 + 6 + 0 = 10 -> 0.6 on its own.
    # 2001: no triangle, node 2 has degree 2 -> 2 two-paths.  Pooled: 6 / 12 = 0.5 (not the mean of 0.6 and 0).
    stats = nc.network_statistics(Y, LO, HI, YEAR)
    assert stats["triangle_closure"][0] == pytest.approx(0.5)
    first = YEAR == 2000
    one_year = nc.network_statistics(Y[first], LO[first], HI[first], YEAR[first])
    assert one_year["triangle_closure"][0] == pytest.approx(0.6)
    # Closing the 2001 two-path (1-3) makes a second triangle: (6 + 6) / (10 + 6).
    closed = Y.copy()
    closed[7] = 1
    assert nc.network_statistics(closed, LO, HI, YEAR)["triangle_closure"][0] == pytest.approx(12 / 16)


def test_degrees_of_the_hand_made_network():
    stats = nc.network_statistics(Y, LO, HI, YEAR)
    # nodes in the order year*1000 + code: 2000: 1, 2, 3, 4; 2001: 1, 2, 3, 4.
    assert stats["degrees"].tolist() == [[2, 2, 3, 1, 1, 2, 1, 0]]
    assert stats["degree_mean"][0] == pytest.approx(12 / 8)
    assert stats["degree_max"][0] == 3
    assert stats["degree_zero"][0] == pytest.approx(1 / 8)
    np.testing.assert_allclose(nc.degree_histogram(stats["degrees"], 2)[0], [1 / 8, 3 / 8, 4 / 8])


def test_hostile_share_leaves_unknown_pairs_out():
    status = np.array([[1, 1, 1, 0], [0, 1, 0, 1]])
    hostile = np.array([1.0, 0.0, np.nan, 1.0])
    np.testing.assert_allclose(nc.hostile_share(status, hostile), [1 / 2, 1 / 2])
    assert np.isnan(nc.hostile_share(np.zeros((1, 4)), hostile))[0]  # no allied pair: undefined


def test_statistics_are_computed_per_draw():
    draws = np.stack([Y, np.zeros_like(Y), np.ones_like(Y)])
    stats = nc.network_statistics(draws, LO, HI, YEAR)
    assert stats["persistence"][0] == pytest.approx(0.5) and np.isnan(stats["persistence"][1])
    assert stats["persistence"][2] == 1.0
    assert stats["triangle_closure"][2] == 1.0  # complete graphs are fully closed
    assert stats["degree_mean"].tolist() == [1.5, 0.0, 3.0]


def test_flag_when_replicates_exclude_the_observed_value():
    rng = np.random.default_rng(0)
    low = rng.uniform(0.40, 0.55, size=500)
    row = nc.summarise("persistence", 0.97, low)
    assert row["outside"] is True
    assert row["high"] < 0.97 and row["p_above"] == 0.0
    assert row["message"].startswith("persistence: observed 0.97 outside the 94% predictive interval")
    assert "the model misses how alliances persist" in row["message"]
    below = nc.summarise("persistence", 0.2, low)
    assert below["outside"] and "more persistent than they are" in below["message"]
    inside = nc.summarise("persistence", 0.47, low)
    assert inside["outside"] is False and "inside" in inside["message"]
    assert inside["low"] < 0.47 < inside["high"]
    lo, hi = np.quantile(low, [0.03, 0.97])
    assert inside["low"] == pytest.approx(lo) and inside["high"] == pytest.approx(hi)


def test_network_checks_flag_a_model_that_misses_persistence():
    # Replicates that scatter the observed alliances at random each year (same rate per year) keep the
    # degree total but not persistence or closure; exact copies of the data are never flagged.
    rng = np.random.default_rng(1)
    copies = np.repeat(Y[None, :], 50, axis=0)
    same = nc.network_checks(copies, Y, LO, HI, YEAR)
    assert not any(c["outside"] for c in same["checks"])
    assert [c["name"] for c in same["checks"]] == ["persistence", "triangle_closure", "degree_mean",
                                                   "degree_max", "degree_zero"]
    scattered = np.stack([
        np.concatenate([rng.permutation(Y[YEAR == t]) for t in (2000, 2001)]) for _ in range(400)
    ])
    res = nc.network_checks(scattered, Y, LO, HI, YEAR)
    by = {c["name"]: c for c in res["checks"]}
    assert by["degree_mean"]["low"] == by["degree_mean"]["high"] == by["degree_mean"]["observed"]
    assert not by["degree_mean"]["outside"]
    assert by["persistence"]["mean"] < 0.5
    dist = res["degree_distribution"]
    assert dist["degree"] == [0, 1, 2, 3] and dist["observed"] == pytest.approx([1 / 8, 3 / 8, 3 / 8, 1 / 8])
    json.dumps(res)  # stored as a JSON attribute


def test_hostile_pairs_from_the_directed_panel():
    panel = pd.DataFrame({
        "ccode1": [1, 2, 1, 3, 2, 3],
        "ccode2": [2, 1, 3, 1, 3, 2],
        "year": [2000] * 6,
        "rivalry": [0, 0, 0, 1, 0, np.nan],
        "init21_past10": [0, 2, 0, 0, 0, 0],
    })
    # 1-2: 1 initiated against 2 in the past (row 2->1); 1-3: rivalry; 2-3: no evidence but a missing value.
    out = nc.hostile_pairs(panel, [2, 3, 2, 4], [1, 1, 3, 1], [2000] * 4)
    assert out[:2].tolist() == [1.0, 1.0]
    assert np.isnan(out[2]) and np.isnan(out[3])  # unknown; not in the panel
    panel.loc[5, "rivalry"] = 0
    assert nc.hostile_pairs(panel, [2], [3], [2000])[0] == 0.0


# ------------------------------------------------------------------ the fit wrapper
def _fake_fit(spec_name: str, rows: pd.DataFrame, rep: np.ndarray, *, dur=None, end_obs=None, end_rep=None,
              case_control: bool = False) -> xr.DataTree:
    """A fit tree with just what the network checks read: keys, outcomes, predictive draws (2 chains), spec."""
    const = {f"ally_{k}": ("ally_obs", rows[c].to_numpy()) for k, c in
             (("ccode1", "lo"), ("ccode2", "hi"), ("year", "year"))}
    pp = {"alliance": (("chain", "draw", "ally_obs"), rep.reshape(2, -1, rep.shape[-1]).astype(np.int8))}
    obs = {"alliance": ("ally_obs", rows["y"].to_numpy().astype(np.int8))}
    if dur is not None:
        const |= {f"dur_{k}": ("dur_obs", np.asarray(v)) for k, v in dur.items()}
        pp["alliance_end"] = (("chain", "draw", "dur_obs"), end_rep.reshape(2, -1, end_rep.shape[-1]))
        obs["alliance_end"] = ("dur_obs", end_obs)
    tree = xr.DataTree.from_dict({
        "/constant_data": xr.Dataset(const),
        "/posterior_predictive": xr.Dataset(pp),
        "/observed_data": xr.Dataset(obs),
    })
    spec = load_spec(spec_name)
    if dur is None and spec_name != "full":
        spec = status_form(spec)  # a status fit ("full" without dur: block 3 left out, onset rows)
    tree.attrs |= {"spec_toml": spec.source_text, "spec_name": spec_name,
                   "case_control": json.dumps({"used": case_control})}
    return tree


def test_fit_wrapper_on_a_status_fit():
    rng = np.random.default_rng(2)
    rep = (rng.random((6, len(Y))) < 0.5).astype(np.int8)
    rep[0] = Y
    res = nc.fit_network_checks(_fake_fit("balance_of_threat", ROWS, rep))
    assert res["mode"] == "status" and res["draws"] == 6
    by = {c["name"]: c for c in res["checks"]}
    assert by["persistence"]["observed"] == pytest.approx(0.5)
    assert by["triangle_closure"]["observed"] == pytest.approx(0.5)
    expected = nc.network_statistics(rep, LO, HI, YEAR)
    assert by["degree_mean"]["mean"] == pytest.approx(expected["degree_mean"].mean())
    assert by["triangle_closure"]["mean"] == pytest.approx(np.nanmean(expected["triangle_closure"]))
    assert [s["name"] for s in res["skipped"]] == ["hostile_share"]  # no panel given
    thinned = nc.fit_network_checks(_fake_fit("balance_of_threat", ROWS, rep), max_draws=3)
    assert thinned["draws"] == 3
    assert nc.thin_index(6, 3).tolist() == [0, 2, 5]


def test_fit_wrapper_one_step_ahead_for_a_duration_block():
    # Onset rows (block 2): every 2000 row and the 2001 rows of pairs not allied in 2000 (1-4, 2-4);
    # continuing rows (block 3): the spell-years of 2000 of 1-2, 1-3, 2-3, 3-4, predicting 2001.
    onset = ROWS[(ROWS["year"] == 2000) | (ROWS.index.isin([10, 11]))].reset_index(drop=True)
    dur = {"lo": [1, 1, 2, 3], "hi": [2, 3, 3, 4], "year": [2000] * 4}
    end_obs = np.array([0, 1, 0, 1], dtype=np.int8)  # 1-2 and 2-3 go on, 1-3 and 3-4 end
    end_rep = np.array([[0, 1, 0, 1], [1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 1, 0]], dtype=np.int8)
    rep = np.repeat(onset["y"].to_numpy()[None, :], 4, axis=0)
    res = nc.fit_network_checks(_fake_fit("full", onset, rep, dur=dur, end_obs=end_obs, end_rep=end_rep))
    assert res["mode"] == "one-step-ahead" and "1 − alliance_end" in res["rows"]
    by = {c["name"]: c for c in res["checks"]}
    # Persistence conditions on the observed alliances of 2000: 1 - mean(alliance_end) per draw.
    assert by["persistence"]["observed"] == pytest.approx(0.5)
    assert by["persistence"]["mean"] == pytest.approx(np.mean([0.5, 0.0, 1.0, 0.5]))
    # The joined observed network is the hand-made one; the draws' 2001 networks: as observed; empty;
    # as in 2000 (a second triangle); 1-3 and 3-4 only (one open two-path).
    assert by["triangle_closure"]["observed"] == pytest.approx(0.5)
    assert by["triangle_closure"]["mean"] == pytest.approx(np.mean([0.5, 0.6, 0.6, 0.5]))
    assert by["degree_zero"]["observed"] == pytest.approx(1 / 8)
    assert by["degree_zero"]["mean"] == pytest.approx(np.mean([1 / 8, 4 / 8, 0.0, 1 / 8]))
    assert by["degree_max"]["observed"] == 3


def test_fit_wrapper_skips_what_an_onset_only_or_case_control_fit_cannot_show():
    rep = np.repeat(Y[None, :], 4, axis=0)
    skipped = nc.fit_network_checks(_fake_fit("balance_of_threat", ROWS, rep, case_control=True))
    assert skipped["checks"] == [] and len(skipped["skipped"]) == len(nc.CHECKS)
    assert "case-control" in skipped["skipped"][0]["reason"]
    full = nc.fit_network_checks(_fake_fit("full", ROWS, rep))  # duration block left out: onset rows only
    assert full["mode"] == "onset" and full["checks"] == []
    assert {s["name"] for s in full["skipped"]} == set(nc.CHECKS)


def test_fit_wrapper_uses_the_panel_for_hostile_pairs():
    rep = np.repeat(Y[None, :], 4, axis=0)
    rep[1, 0] = 0  # a draw without the hostile 1-2 alliance of 2000
    panel = pd.DataFrame({"ccode1": LO, "ccode2": HI, "year": YEAR,
                          "rivalry": (ROWS.index == 0).astype(int), "init21_past10": (ROWS.index == 3) * 2})
    res = nc.fit_network_checks(_fake_fit("balance_of_threat", ROWS, rep), panel=panel)
    hostile = {c["name"]: c for c in res["checks"]}["hostile_share"]
    # allied rows: 6; hostile among them: 1-2 in 2000 (rivalry) and 3-4 in 2000 (past initiations).
    assert hostile["observed"] == pytest.approx(2 / 6)
    assert hostile["mean"] == pytest.approx(np.mean([2 / 6, 1 / 5, 2 / 6, 2 / 6]))
    lines = nc.check_lines(res)
    assert len(lines) == len(nc.CHECKS)
    stored = xr.DataTree()
    stored.attrs["network_checks"] = json.dumps(res)
    assert nc.stored_network_checks(stored) == json.loads(json.dumps(res))
    assert nc.stored_network_checks(xr.DataTree()) is None


def test_report_computes_the_checks_of_an_older_fit_on_load():
    from pathlib import Path

    from walt_bayes.report import quantities as q

    rep = np.repeat(Y[None, :], 4, axis=0)
    rep[1] = 0  # one replicated panel without any alliance
    tree = _fake_fit("balance_of_threat", ROWS, rep)
    assert "network_checks" not in tree.attrs  # made before the fit stored them
    fit = q.ReportFit(path=Path("."), tree=tree, design=None, spec=status_form(load_spec("balance_of_threat")))
    net = fit.network_checks
    assert net["notes"][0].startswith("computed when the report loaded this fit")
    assert fit.network_checks is net  # computed once
    table = q.network_checks_table(net).set_index("check")
    row = table.loc[nc.CHECKS["degree_mean"][0]]
    assert row["observed"] == pytest.approx(1.5) and row["replicated mean"] == pytest.approx(1.5 * 3 / 4)
    assert row["flag"] == "inside"  # 1.5 is the top of the interval: inside
    persist = table.loc[nc.CHECKS["persistence"][0]]
    assert persist["flag"] == "inside" and persist["observed"] == pytest.approx(0.5)
    hostile = [s for s in net["skipped"] if s["name"] == "hostile_share"]
    assert "only the embedded panel" in hostile[0]["reason"]
    tree.attrs["network_checks"] = json.dumps({**net, "notes": ["stored"]})
    fresh = q.ReportFit(path=Path("."), tree=tree, design=None, spec=status_form(load_spec("balance_of_threat")))
    assert fresh.network_checks["notes"] == ["stored"]  # a stored result is read, not recomputed
