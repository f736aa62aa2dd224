"""Comparing theory variants (issue 6): ranked table, weights, refusals, chunked LOO, k-fold path.

Fast: small fits on a tiny simulated balancing world are made once per session;
the k-fold test refits two cheap null-model fits with a handful of draws.
"""

from __future__ import annotations

import shutil
import sys
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from test_duration import SMALL  # tests/ is on sys.path (rootdir-relative imports)

from walt_bayes.compare import COLUMNS, CompareError, FoldSettings, compare_runs, read_table
from walt_bayes.compare.kfold import assign_folds, restrict_to_years_before
from walt_bayes.compare.loo import loo_pointwise
from walt_bayes.compare.runs import open_run, open_runs
from walt_bayes.errors import WaltError
from walt_bayes.fit.fitfile import load_fit, save_fit


def _fit_run(world, variant, root, seed=5, name=None):
    from walt_bayes.fit.run import fit_model
    from walt_bayes.spec import load_spec, status_form

    spec = load_spec(variant)
    result = fit_model(
        world.panel,
        status_form(spec) if spec.duration is not None else spec,  # the status fits compared
        data_name="sim",
        data_sha256="0" * 64,
        seed=seed,
        draws=100,
        tune=100,
        chains=2,
        cores=2,
        progressbar=False,
    )
    path = root / (name or variant) / "fit.nc"
    save_fit(result.idata, path)
    return path.parent


@pytest.fixture(scope="session")
def compare_runs_dir(sim_balancing, small_fit_file, tmp_path_factory):
    """Run directories of balance_of_threat (the shared small fit) and null on the same world."""
    root = tmp_path_factory.mktemp("compare")
    return {
        "balance_of_threat": small_fit_file.parent,
        "null": _fit_run(sim_balancing, "null", root),
    }


@pytest.fixture(scope="session")
def null_pair(compare_runs_dir, tmp_path_factory):
    """The null fit twice (two run directories): the cheapest pair to refit per fold."""
    root = tmp_path_factory.mktemp("nullpair")
    for name in ("null-a", "null-b"):
        (root / name).mkdir()
        shutil.copy(compare_runs_dir["null"] / "fit.nc", root / name / "fit.nc")
    return [root / "null-a", root / "null-b"]


def _tamper(run_dir, tmp_path, name, edit):
    tree = load_fit(run_dir)
    edit(tree)
    path = tmp_path / name / "fit.nc"
    save_fit(tree, path)
    return path.parent


def test_loo_table_ranked_with_weights(compare_runs_dir, tmp_path):
    runs = [compare_runs_dir["null"], compare_runs_dir["balance_of_threat"]]
    table = compare_runs(runs, method="loo", out=tmp_path / "out", progress=False)
    assert list(table.columns) == COLUMNS and table.columns[0] == "variant"
    assert set(table["variant"]) == {"null", "balance_of_threat"}
    # Ranked: best first, differences to the best, non-negative SE of differences.
    assert list(table["rank"]) == [0, 1]
    assert table["elpd"].iloc[0] == table["elpd"].max()
    np.testing.assert_allclose(table["elpd_diff"], table["elpd"] - table["elpd"].iloc[0], atol=1e-9)
    assert table["dse"].iloc[0] == 0 and table["dse"].iloc[1] > 0
    assert (table["se"] > 0).all()
    # Stacking weights.
    assert table["weight"].between(0, 1).all()
    assert table["weight"].sum() == pytest.approx(1.0, abs=1e-6)
    assert (table["n_obs"] == table["n_obs"].iloc[0]).all()
    assert table["scheme"].str.contains("PSIS-LOO").all()
    assert (table["pareto_k_max"] > 0).all()
    assert any("alliance log-likelihood only" in n for n in table.attrs["notes"])
    # Written: CSV (variant first, 'null' survives reading), plot and metadata.
    written = read_table(tmp_path / "out")
    assert list(written.columns) == COLUMNS
    assert list(written["variant"]) == list(table["variant"])
    assert (tmp_path / "out" / "compare.png").stat().st_size > 0
    assert (tmp_path / "out" / "compare.json").exists()


def test_chunked_loo_equals_arviz(compare_runs_dir):
    run_dir = compare_runs_dir["balance_of_threat"]
    tree = load_fit(run_dir)
    # Fits store log-likelihood as float32; the chunked path computes in float64 from those values.
    tree["log_likelihood"] = xr.DataTree(tree["log_likelihood"].to_dataset().astype("float64"))
    ref = az.loo(tree, var_name="alliance", pointwise=True)
    run = open_run(run_dir)
    ll = run.tree["log_likelihood"]["alliance"]
    n_samples = ll.sizes["chain"] * ll.sizes["draw"]
    pw = loo_pointwise(run, chunk_bytes=8 * n_samples * 25)  # 25 observations per chunk
    assert pw.extra["chunks"] > 1
    np.testing.assert_allclose(pw.elpd_i, ref.elpd_i.values, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pw.pareto_k, ref.pareto_k.values, rtol=1e-10, atol=1e-12)
    assert pw.p_i.sum() == pytest.approx(ref.p, rel=1e-9)
    table = compare_runs([run_dir, compare_runs_dir["null"]], progress=False)
    row = table.set_index("variant").loc["balance_of_threat"]
    assert row["elpd"] == pytest.approx(ref.elpd, rel=1e-10)
    assert row["se"] == pytest.approx(ref.se, rel=1e-10)


def test_refuses_fits_on_different_data(compare_runs_dir, tmp_path):
    other = _tamper(
        compare_runs_dir["balance_of_threat"],
        tmp_path,
        "bot-other",
        lambda t: t.attrs.update({"data_sha256": "2" * 64, "data_name": "other-panel"}),
    )
    with pytest.raises(CompareError) as err:
        compare_runs([compare_runs_dir["null"], other], progress=False)
    msg = str(err.value)
    assert "different data" in msg and "\n" not in msg
    assert "null on sim" in msg and "balance_of_threat on other-panel" in msg


def test_refuses_different_observed_alliances(compare_runs_dir, tmp_path):
    def flip(tree):
        obs = tree["observed_data"].to_dataset()
        obs["alliance"].values[0] = 1 - obs["alliance"].values[0]
        tree["observed_data"] = obs

    other = _tamper(compare_runs_dir["balance_of_threat"], tmp_path, "bot-flipped", flip)
    with pytest.raises(
        CompareError, match="observed alliances of null and balance_of_threat differ"
    ):
        open_runs([compare_runs_dir["null"], other])


def test_needs_two_runs_and_known_options(compare_runs_dir):
    with pytest.raises(CompareError, match="at least two"):
        compare_runs([compare_runs_dir["null"]], progress=False)
    with pytest.raises(Exception, match=r"^method: 'waic' is not one of"):
        compare_runs([compare_runs_dir["null"]] * 2, method="waic", progress=False)


@pytest.mark.parametrize("where", ["run folder", "fit file"])
def test_refuses_a_leftover_of_an_interrupted_run_as_load_does(compare_runs_dir, tmp_path, where):
    import walt_bayes as wb
    from walt_bayes.errors import FitFileError

    # What a kill between writing and renaming leaves: a finished-looking fit under a temporary name.
    if where == "run folder":
        leftover = tmp_path / ".null.k3j9x2ab.part"
        leftover.mkdir()
        shutil.copy(compare_runs_dir["null"] / "fit.nc", leftover / "fit.nc")
    else:
        (tmp_path / "run").mkdir()
        leftover = tmp_path / "run" / ".fit.nc.k3j9x2ab.part"
        shutil.copy(compare_runs_dir["null"] / "fit.nc", leftover)
    with pytest.raises(FitFileError) as loading:
        wb.load(leftover)
    message = str(loading.value)
    assert "left by an interrupted run" in message and "\n" not in message
    with pytest.raises(FitFileError) as opening:
        open_run(leftover)
    assert str(opening.value) == message
    with pytest.raises(FitFileError) as comparing:
        compare_runs([compare_runs_dir["balance_of_threat"], leftover], progress=False)
    assert str(comparing.value) == message


def test_cli_refusal_is_one_line_exit_2(monkeypatch, capsys, compare_runs_dir, tmp_path):
    from walt_bayes.cli import main

    other = _tamper(
        compare_runs_dir["null"],
        tmp_path,
        "null-other",
        lambda t: t.attrs.update({"data_sha256": "3" * 64}),
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        sys,
        "argv",
        ["walt-bayes", "compare", str(compare_runs_dir["balance_of_threat"]), str(other)],
    )
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert "different data" in err and err.strip().count("\n") == 0
    assert not (tmp_path / "runs").exists()


def test_cli_prints_and_writes_table(monkeypatch, capsys, compare_runs_dir, tmp_path):
    from walt_bayes.cli import main

    out = tmp_path / "cmp"
    args = [
        "walt-bayes",
        "compare",
        str(compare_runs_dir["null"]),
        str(compare_runs_dir["balance_of_threat"]),
        "--out",
        str(out),
    ]
    monkeypatch.setattr(sys, "argv", args)
    main()
    printed = capsys.readouterr().out
    assert "balance_of_threat" in printed and "elpd" in printed and "PSIS-LOO" in printed
    assert (out / "compare.csv").exists() and (out / "compare.png").exists()


def test_fold_assignment_groups_dyads_and_year_blocks(compare_runs_dir):
    runs = open_runs([compare_runs_dir["null"], compare_runs_dir["balance_of_threat"]])
    folds = assign_folds(runs, 3, "dyad", fold_seed=1)
    for run in runs:
        f = folds[run.label]
        assert set(f) == {1, 2, 3}
        lo = np.minimum(run.keys["ccode1"], run.keys["ccode2"])
        hi = np.maximum(run.keys["ccode1"], run.keys["ccode2"])
        folds_per_dyad = (
            pd.DataFrame({"lo": lo, "hi": hi, "f": f}).groupby(["lo", "hi"])["f"].nunique()
        )
        assert folds_per_dyad.max() == 1  # a dyad never straddles folds
    # Same split for every variant (keys are identical here).
    np.testing.assert_array_equal(folds[runs[0].label], folds[runs[1].label])
    blocks = assign_folds(runs, 3, "year-block")
    years = runs[0].keys["year"].to_numpy()
    b = blocks[runs[0].label]
    assert set(b) == {0, 1, 2}  # first block trained on only
    assert years[b == 0].max() < years[b == 1].min() <= years[b == 1].max() < years[b == 2].min()
    with pytest.raises(Exception, match="3 to"):
        assign_folds(runs, 2, "year-block")


def test_leave_future_out_design_keeps_the_parameters(compare_runs_dir):
    """Training on earlier years only: earlier rows, links intact, the same free variables."""
    from walt_bayes.model.build import build_model

    run = open_run(compare_runs_dir["balance_of_threat"])
    design, spec = run.design(), run.spec
    cutoff = sorted(set(design.ally_keys["year"]))[3]
    sub = restrict_to_years_before(design, cutoff)
    assert (sub.ally_keys["year"] < cutoff).all() and (sub.threat_keys["year"] < cutoff).all()
    assert len(sub.ally_y) < len(design.ally_y) and len(sub.threat_y) == len(sub.threat_keys)
    # Partner threat tau[k->i,t] is the threat row (i, k, t); triads link rows of year t.
    keys = ["ccode1", "ccode2", "year"]
    partner = sub.threat_keys.iloc[sub.partner_idx][keys].reset_index(drop=True)
    assert partner.equals(sub.ally_keys[keys])
    ji = sub.threat_keys.iloc[sub.triad_ji].reset_index(drop=True)
    ally = sub.ally_keys.iloc[sub.triad_ally].reset_index(drop=True)
    assert (ji["ccode1"] == ally["ccode1"]).all() and (ji["year"] == ally["year"]).all()
    if sub.dense is not None:
        assert len(sub.dense.threat_t) == len(sub.threat_y)
        earlier = design.threat_keys["year"].to_numpy() < cutoff
        np.testing.assert_array_equal(sub.dense.threat_t, design.dense.threat_t[earlier])
    # The model's free variables (names and dims) are those of the full model.
    full, part = build_model(design, spec), build_model(sub, spec)

    def dims(m):
        return {v.name: m.named_vars_to_dims.get(v.name) for v in m.free_RVs}

    assert dims(part) == dims(full)
    assert {d: len(v) for d, v in part.coords.items() if d not in ("ally_obs", "threat_obs")} == {
        d: len(v) for d, v in full.coords.items() if d not in ("ally_obs", "threat_obs")
    }


def test_kfold_grouped_by_dyad_and_cache(null_pair, tmp_path, monkeypatch):
    settings = FoldSettings(chains=2, draws=30, tune=30, cores=1, sampler="pymc")
    out = tmp_path / "kfold"

    def run(jobs=1):
        return compare_runs(
            null_pair,
            method="kfold",
            folds=2,
            group="dyad",
            out=out,
            fold_settings=settings,
            jobs=jobs,
            progress=False,
        )

    table = run(jobs=2)  # folds refitted in two worker processes, written to the cache
    assert list(table.columns) == COLUMNS
    assert table["scheme"].str.contains("2-fold CV grouped by dyad").all()
    assert table["weight"].sum() == pytest.approx(1.0, abs=1e-6)
    assert np.isfinite(table["elpd"]).all() and (table["fold_divergences"] >= 0).all()
    assert len(list((out / "folds").rglob("*.nc"))) == 4
    meta = (out / "compare.json").read_text()
    assert '"draws": 30' in meta and "fold_seeds" in meta
    # A re-run (in this process) finds every fold in the cache and refits nothing.
    import walt_bayes.compare.refit as refit

    monkeypatch.setattr(refit.pm, "sample", lambda *a, **k: pytest.fail("refit despite cache"))
    again = run()
    np.testing.assert_allclose(again["elpd"], table["elpd"])
    # Without the cache it refits (here: reaches the sampler).
    shutil.rmtree(out / "folds")
    with pytest.raises(pytest.fail.Exception):
        run()


def test_fold_settings_short_warm_ups_avoid_low_rank_adaptation():
    """Folds warm up briefly: the status variants' low_rank becomes draw_diag, full keeps it."""
    from walt_bayes.spec import load_spec, status_form

    full, null, bot = (load_spec(v) for v in ("full", "null", "balance_of_threat"))
    null, bot = status_form(null), status_form(bot)
    assert null.sampler.adaptation == full.sampler.adaptation == "low_rank"
    assert FoldSettings().resolved(null)["adaptation"] == "draw_diag"
    assert FoldSettings().resolved(full)["adaptation"] == "low_rank"
    assert FoldSettings().resolved(bot)["adaptation"] == bot.sampler.adaptation
    assert FoldSettings(adaptation="diag").resolved(full)["adaptation"] == "diag"
    assert FoldSettings().resolved(null)["start"] == "posterior"
    assert FoldSettings(sampler="pymc").resolved(null)["start"] == "default"
    with pytest.raises(WaltError, match="fold adaptation 'dense'"):
        FoldSettings(adaptation="dense").resolved(null)
    with pytest.raises(WaltError, match="fold start 'mean'"):
        FoldSettings(start="mean").resolved(null)


# --------------------------------------------- held-out data and the duration/joining blocks
# The small duration spec of test_duration.py, with both extra blocks.
BLOCKS_SPEC = SMALL + "\n[duration]\n\n[joining]\n"


@pytest.fixture(scope="module")
def me_blocks():
    """A design of the embedded panel with the duration (ΔS included) and joining blocks."""
    from walt_bayes.model.design import build_design
    from walt_bayes.panel.embedded import load_middle_east
    from walt_bayes.spec import parse_spec

    spec = parse_spec(BLOCKS_SPEC, source="blocks")
    return build_design(load_middle_east(), spec, "middle-east"), spec


def test_leave_future_out_leaves_out_future_spell_years_and_joiners(me_blocks):
    """A spell-year's outcome is the dyad's status in t + 1: trained on only when t + 1 < cutoff."""
    from walt_bayes.model.build import build_model

    design, spec = me_blocks
    cutoff = 1970
    full, sub = design.duration, restrict_to_years_before(design, cutoff).duration
    early = full.keys["year"].to_numpy() + 1 < cutoff
    assert 0 < sub.n == int(early.sum()) < full.n
    assert (sub.keys["year"] + 1 < cutoff).all() and (sub.s_keys["year"] < cutoff).all()
    part = restrict_to_years_before(design, cutoff)
    assert (part.joining.keys["year"] < cutoff).all() and 0 < part.joining.n < design.joining.n
    # The triads point at the training design's threat rows of the same dyad-year ...
    tk = part.threat_keys.iloc[sub.tri_ji].reset_index(drop=True)
    np.testing.assert_array_equal(tk["ccode1"], sub.s_keys["lo"].to_numpy()[sub.tri_s])
    np.testing.assert_array_equal(tk["year"], sub.s_keys["year"].to_numpy()[sub.tri_s])
    # ... so a kept row's ΔS is unchanged.
    tau = np.random.default_rng(4).uniform(0.01, 0.5, size=(2, len(design.threat_y)))
    kept = design.threat_keys["year"].to_numpy() < cutoff
    np.testing.assert_allclose(sub.delta_shared(tau[:, kept]), full.delta_shared(tau)[:, early], rtol=1e-12)
    assert "alliance_end" in build_model(part, spec).named_vars


def test_kfold_refits_do_not_see_the_held_out_dyads_spells(me_blocks):
    from walt_bayes.compare.kfold import training_design

    design, _ = me_blocks
    keys = design.ally_keys
    lo = np.minimum(keys["ccode1"], keys["ccode2"]).to_numpy()
    hi = np.maximum(keys["ccode1"], keys["ccode2"]).to_numpy()
    dur = design.duration
    # Held out: every row of some dyads with spells, by both blocks (a dyad allied throughout has
    # continuing rows only: with the duration block joined it is held out too).
    spell_dyads = sorted(set(zip(dur.keys["lo"], dur.keys["hi"], strict=True)))
    held = set(spell_dyads[::2])
    test = np.flatnonzero([(a, b) in held for a, b in zip(lo, hi, strict=True)])
    test_dur = np.flatnonzero([(a, b) in held for a, b in zip(dur.keys["lo"], dur.keys["hi"], strict=True)])
    sub = training_design(design, test, "dyad", test_dur)
    left = set(zip(sub.duration.keys["lo"], sub.duration.keys["hi"], strict=True))
    assert len(held) >= 5 and left and not left & held
    assert sub.duration.n == dur.n - len(test_dur)
    assert len(sub.ally_y) == len(keys) - len(test)
    trained = set(zip(np.minimum(sub.ally_keys["ccode1"], sub.ally_keys["ccode2"]),
                      np.maximum(sub.ally_keys["ccode1"], sub.ally_keys["ccode2"]), strict=True))
    assert not trained & held
    # A dyad with continuing rows only (no alliance row at all) is held out through block 3 alone.
    only3 = sorted(set(spell_dyads) - set(zip(lo, hi, strict=True)))
    if only3:
        a, b = only3[0]
        rows = np.flatnonzero((dur.keys["lo"] == a).to_numpy() & (dur.keys["hi"] == b).to_numpy())
        sub = training_design(design, np.zeros(0, dtype=np.int64), "dyad", rows).duration
        assert (a, b) not in set(zip(sub.keys["lo"], sub.keys["hi"], strict=True))
    # Dyad-year folds: no spell-year of a held-out dyad-year (or of the year before it) is trained on,
    # whichever block scores the held-out dyad-year.
    rows = np.arange(0, len(keys), 4)
    rows_dur = np.arange(1, dur.n, 4)
    sub = training_design(design, rows, "none", rows_dur).duration
    trained = set(zip(sub.keys["lo"], sub.keys["hi"], sub.keys["year"], strict=True))
    nxt = dur.outcome_keys()
    outcomes = [(lo[r], hi[r], keys["year"].iat[r]) for r in rows]
    outcomes += [(nxt["lo"].iat[r], nxt["hi"].iat[r], nxt["year"].iat[r]) for r in rows_dur]
    for a, b, t in outcomes:
        assert (a, b, t) not in trained and (a, b, t - 1) not in trained
    assert 0 < sub.n < dur.n - len(rows_dur)


# ------------------------------------------------ full (block 2 + block 3) beside status variants
#: The small spec of test_duration.py with a duration block: full's structure (onset rows by block 2,
#: continuing rows by block 3) on the simulated world the status fits above use.
DURATION_SPEC = SMALL + "\n[duration]\ndrop_unavailable = true\n"


@pytest.fixture(scope="module")
def duration_run_dir(sim_balancing, tmp_path_factory):
    from walt_bayes.fit.run import fit_model
    from walt_bayes.spec import parse_spec

    result = fit_model(
        sim_balancing.panel,
        parse_spec(DURATION_SPEC, source="small+duration"),
        data_name="sim",
        data_sha256="0" * 64,
        seed=5,
        draws=100,
        tune=100,
        chains=2,
        cores=2,
        progressbar=False,
    )
    path = tmp_path_factory.mktemp("duration") / "small_duration" / "fit.nc"
    save_fit(result.idata, path)
    return path.parent


def _bernoulli(eta, y):
    """log p(y | logit eta), by hand."""
    p = 1 / (1 + np.exp(-eta))
    return np.log(p) if y == 1 else np.log1p(-p)


def test_full_scores_every_dyad_year_by_block_2_or_block_3(duration_run_dir, compare_runs_dir, sim_balancing):
    """Onset rows by block 2, continuing rows by block 3's spell-year of t - 1: hand-computed."""
    from walt_bayes.compare.loo import joined_log_likelihood
    from walt_bayes.hypotheses.effects import (
        LatentOps,
        alliance_eta,
        model_draws,
        stacked,
        threat_tau,
    )
    from walt_bayes.model.duration import alliance_spells

    run = open_run(duration_run_dir)
    design = run.design()
    dur = design.duration
    n2 = len(design.ally_y)
    assert run.joined and run.rows_kind == "all" and len(run.y) == n2 + dur.n
    assert [s.var for s in run.segments] == ["alliance", "alliance_end"]
    np.testing.assert_array_equal(run.y[n2:], 1 - dur.y)
    # The status fit's rows: the joined keys are its dyad-years, with the same outcomes.
    status = open_run(compare_runs_dir["null"])
    y_status = pd.Series(status.y, index=status.index)
    np.testing.assert_array_equal(y_status.reindex(run.index).to_numpy(), run.y)
    allied = alliance_spells(sim_balancing.panel)
    allied = set(zip(allied["lo"], allied["hi"], allied["year"], strict=True))
    for (a, b, t), by3 in zip(run.index, np.arange(len(run.y)) >= n2, strict=True):
        assert ((a, b, t - 1) in allied) == by3  # block 3 exactly where allied the year before

    post = run.tree["posterior"].to_dataset()
    d = model_draws(post, design, max_draws=None).values
    tau = threat_tau(design, d)
    ops = LatentOps(design)
    eta2 = alliance_eta(design, d, ops.factors(ops.prepare(tau), set(design.term_latent) - {""}))
    eta3 = stacked(post, "delta_0")[:, None] + stacked(post, "delta_log_duration")[:, None] * dur.log_duration
    for t, term in enumerate(dur.terms):
        eta3 = eta3 + stacked(post, f"delta_{term}")[:, None] * dur.X[:, t]
    assert dur.threat_rise
    eta3 = eta3 + stacked(post, "delta_threat_rise")[:, None] * dur.delta_shared(tau)
    ll = joined_log_likelihood(run).stack(s=("chain", "draw")).transpose("s", "obs").values
    y2 = design.ally_y
    chosen = {
        "onset (formed)": int(np.flatnonzero(y2 == 1)[0]),
        "onset (not formed)": int(np.flatnonzero(y2 == 0)[0]),
        "continuing (goes on)": n2 + int(np.flatnonzero(dur.y == 0)[0]),
        "continuing (ends)": n2 + int(np.flatnonzero(dur.y == 1)[0]),
    }
    for what, row in chosen.items():
        if row < n2:
            expected = _bernoulli(eta2[:, row], run.y[row])
        else:
            expected = _bernoulli(eta3[:, row - n2], 1 - run.y[row])  # the event: ended = 1 - a[t]
        np.testing.assert_allclose(ll[:, row], expected, rtol=2e-4, atol=1e-5, err_msg=what)
    assert run.y[chosen["continuing (goes on)"]] == 1 and run.y[chosen["continuing (ends)"]] == 0


def test_loo_ranks_full_beside_a_status_variant_on_the_same_rows(duration_run_dir, compare_runs_dir, tmp_path):
    full_dir, null_dir = duration_run_dir, compare_runs_dir["null"]
    table = compare_runs([null_dir, full_dir], method="loo", out=tmp_path / "out", progress=False)
    assert set(table["variant"]) == {"null", "small_duration"}
    assert table["weight"].sum() == pytest.approx(1.0, abs=1e-6)
    full, status = open_run(full_dir), open_run(null_dir)
    common = status.index.intersection(full.index)
    assert (table["n_obs"] == len(common)).all() and 0 < len(common) < len(status.y)
    rows = table.set_index("variant")["rows"]
    assert rows["null"] == "all dyad-years (alliance)"
    assert "continuing rows by block 3 (alliance_end)" in rows["small_duration"]
    notes = table.attrs["notes"]
    dropped = len(status.y) - len(common)
    # Here: the first year of every dyad (66) and allied dyad-years of the second year, whose
    # spell-year has no threat change (no t - 1): block 3 left it out.
    assert any(n.startswith(f"{dropped} of the {len(status.y)} dyad-years of null are not scored by "
                            "small_duration") and "first observed years" in n and "block 3 left out" in n
               for n in notes), notes
    assert any(n.startswith("rows scored: all dyad-years; null: by the alliance block; small_duration: "
                            "onset rows by block 2") for n in notes), notes
    assert any("Markov chain" in n for n in notes)
    # full's elpd: PSIS-LOO of alliance and of alliance_end (ArviZ on each), summed over the rows kept.
    tree = load_fit(full_dir)
    ll = tree["log_likelihood"].to_dataset().astype("float64")
    pieces = []
    for var in ("alliance", "alliance_end"):
        one = xr.DataTree.from_dict(
            {"posterior": tree["posterior"].to_dataset(), "log_likelihood": xr.Dataset({var: ll[var]})}
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # high Pareto k: the same rows in both computations
            pieces.append(az.loo(one, var_name=var, pointwise=True).elpd_i.values)
    kept = full.index.isin(common)
    expected = np.concatenate(pieces)[kept].sum()
    assert table.set_index("variant").loc["small_duration", "elpd"] == pytest.approx(expected, rel=1e-9)
    written = read_table(tmp_path / "out")
    assert list(written["rows"]) == list(table["rows"])


def test_refuses_onset_only_fits_beside_status_fits(duration_run_dir, compare_runs_dir, tmp_path):
    """Without a block 3 to join, a fit of onset rows predicts formation, not status: refused."""
    from walt_bayes.compare.runs import alliance_rows
    from walt_bayes.spec import load_spec, status_form

    assert alliance_rows(load_spec("full")) == "onset (duration block)"
    assert alliance_rows(load_spec("balance_of_threat")) == "onset (duration block)"
    assert alliance_rows(status_form(load_spec("balance_of_threat"))) == "all"

    def drop_block3(tree):
        tree["log_likelihood"] = xr.DataTree(tree["log_likelihood"].to_dataset().drop_vars("alliance_end"))

    no_end = _tamper(duration_run_dir, tmp_path, "no-end", drop_block3)
    with pytest.raises(CompareError) as err:
        open_runs([compare_runs_dir["null"], no_end])
    msg = str(err.value)
    assert "\n" not in msg and "different alliance outcomes" in msg
    assert "small_duration (outcome=ally, directed=False, rows=onset (duration block left out of the fit))" in msg

    def onset_spec(tree):
        tree.attrs["spec_toml"] = tree.attrs["spec_toml"].replace("[alliance]", "[alliance]\nonset = true")

    onset = _tamper(compare_runs_dir["null"], tmp_path, "null-onset", onset_spec)
    with pytest.raises(CompareError, match=r"rows=onset\)"):
        open_runs([compare_runs_dir["balance_of_threat"], onset])

    # A case-control status fit scores P(a | x, sampled); block 3 of full the population's P(a | x).
    def sampled(tree):
        tree.attrs["case_control"] = '{"used": true, "r0": 0.5, "alliance": {"rate": 0.5}}'

    cc = _tamper(compare_runs_dir["null"], tmp_path, "null-cc", sampled)
    open_runs([compare_runs_dir["balance_of_threat"], cc])  # status fits: compared on the same sample
    with pytest.raises(CompareError, match=r"^cannot rank small_duration \(alliance and alliance_end "
                       r"joined\) beside case-control fits \(null: .*case_control='off'$"):
        open_runs([cc, duration_run_dir])
    # Every fit joined and sampled: each row is scored alike by all of them, so they rank.
    dur_cc = _tamper(duration_run_dir, tmp_path, "dur-cc", sampled)
    dur_cc2 = _tamper(duration_run_dir, tmp_path, "dur-cc2", sampled)
    assert len(open_runs([dur_cc, dur_cc2])) == 2
    with pytest.raises(CompareError, match="beside case-control fits"):
        open_runs([dur_cc, duration_run_dir, cc])


def test_held_out_continuing_rows_are_scored_by_block_3(duration_run_dir):
    """k-fold for full: a held-out dyad's onset rows by block 2, its continuing rows by block 3.

    The refit's posterior is stood in by the fit's own: the held-out log-likelihood must then be
    the fit's stored joined log-likelihood of those rows, in the fold's order.
    """
    from walt_bayes.compare.kfold import FoldWrapper, _dyad_labels
    from walt_bayes.compare.loo import joined_log_likelihood

    run = open_run(duration_run_dir)
    n2 = int((run.positions("alliance") >= 0).sum())
    dyads = _dyad_labels(run.keys)
    # Dyads with both kinds of rows, in a scrambled order (rows of both blocks interleaved).
    both = sorted(set(dyads[:n2]) & set(dyads[n2:]))[:4]
    test = np.flatnonzero(np.isin(dyads, both))
    test = np.random.default_rng(0).permutation(test)
    assert (test >= n2).any() and (test < n2).any()
    wrapper = FoldWrapper(run, test, np.ones(len(test), dtype=int), False, "t", FoldSettings(), None)
    got = wrapper.log_likelihood__i(
        {"fold": 1, "rows": test, "attrs": {}}, {"idata": run.tree, "fold": 1, "wall": 0.0}
    )
    expected = joined_log_likelihood(run, test)
    np.testing.assert_allclose(got.values, expected.values, rtol=2e-4, atol=1e-5)
    # ... and the refit was fitted without any row of those dyads, in either block.
    train = wrapper._train_design(test, None)
    spells = train.duration.keys.rename(columns={"lo": "ccode1", "hi": "ccode2"})
    assert not set(both) & set(_dyad_labels(train.ally_keys))
    assert not set(both) & set(_dyad_labels(spells))
    assert train.duration.n == run.design().duration.n - int((test >= n2).sum())


def test_grid_cells_score_full_on_the_dyad_years_compare_scores(duration_run_dir):
    """A grid cell's elpd_loo of a duration fit covers its joined blocks 2 and 3, not onset rows alone."""
    from types import SimpleNamespace

    from walt_bayes.grid.cells import add_log_prior, cell_row

    run = open_run(duration_run_dir)
    idata = load_fit(duration_run_dir / "fit.nc")
    add_log_prior(idata, run.design(), run.spec)
    convergence = SimpleNamespace(max_rhat=1.0, min_ess_bulk=400.0, min_ess_tail=400.0, divergences=0, ok=True)
    row = cell_row(idata, convergence)
    pw = loo_pointwise(run)
    scored = np.isfinite(pw.elpd_i)
    n_onset = idata["log_likelihood"]["alliance"].shape[-1]
    assert row["loo_rows"] == scored.sum() > n_onset  # continuing dyad-years too
    assert row["elpd_loo"] == pytest.approx(pw.elpd_i[scored].sum())
