"""Simulation-based calibration (issue 4): rank statistic, uniformity tests, outputs, a test that can fail."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from walt_bayes.calibrate.sbc import (
    SBCSettings,
    prepare,
    rank_of,
    run_sbc,
    thin_index,
    uniformity_table,
)
from walt_bayes.errors import WaltError
from walt_bayes.grid.gridfile import dumps_toml
from walt_bayes.spec import load_spec, parse_spec

TINY = {"states": 5, "years": 3, "chains": 2, "draws": 60, "tune": 60, "ranks": 19}


# --------------------------------------------------------------- the rank statistic
def test_thinning_and_rank():
    assert thin_index(10, 5).tolist() == [0, 2, 4, 6, 8]
    assert thin_index(7, 7).tolist() == list(range(7))
    draws = np.arange(200.0).reshape(2, 100)  # chain-major: 0..99, 100..199
    assert rank_of(draws, -1.0, 20) == 0
    assert rank_of(draws, 1e9, 20) == 20
    assert rank_of(draws, 100.0, 20) == 10  # half of the thinned draws lie below
    with pytest.raises(WaltError):
        thin_index(5, 6)


def test_uniformity_tests_accept_calibrated_and_reject_biased_ranks():
    """Truth drawn like the posterior gives uniform ranks; a shifted or too narrow posterior does not."""
    rng = np.random.default_rng(0)
    n, L = 300, 49
    truth = rng.normal(size=n)
    calibrated = [rank_of(rng.normal(size=L), t, L) for t in truth]  # posterior = prior here
    shifted = [rank_of(rng.normal(0.7, 1.0, size=L), t, L) for t in truth]
    narrow = [rank_of(rng.normal(0.0, 0.4, size=L), t, L) for t in truth]  # overconfident
    ranks = pd.DataFrame({"ok": calibrated, "shifted": shifted, "narrow": narrow})
    table = uniformity_table(ranks, L, seed=3).set_index("parameter")
    assert (
        table.loc["ok", "uniform"]
        and table.loc["ok", "p_chi2"] > 0.01
        and table.loc["ok", "p_ecdf"] > 0.01
    )
    assert not table.loc["shifted", "uniform"] and table.loc["shifted", "mean_rank"] < 0.4
    assert not table.loc["narrow", "uniform"]  # ∪-shaped histogram
    assert table.loc["narrow", "p_chi2"] < 1e-6
    assert (table["df"] == 19).all()  # 300 reps: 20 bins of 2–3 ranks each


def test_bad_settings_are_refused():
    with pytest.raises(WaltError, match="--ranks"):
        SBCSettings(reps=5, chains=1, draws=10, ranks=11).check()
    with pytest.raises(WaltError, match="--reps"):
        SBCSettings(reps=1).check()


# --------------------------------------------------------------------- a tiny run
def test_prior_draws_follow_the_prior():
    """Each replication's true values are prior draws: a HalfNormal(s) scale is positive with SD s·0.60."""
    scale = load_spec("null").priors["sigma_year"]["sigma"]
    assert scale == 2.5  # the spec's own prior (onset year effects are large; models/null.toml)
    setup = prepare("null", SBCSettings(reps=200, seed=2, **TINY))
    sigma = setup.truth["sigma_year"]
    assert (sigma > 0).all()
    assert sigma.std() == pytest.approx(scale * np.sqrt(1 - 2 / np.pi), rel=0.15)
    assert setup.outcomes["alliance"].shape[0] == 200
    assert set(np.unique(setup.outcomes["alliance"])) <= {0, 1}
    # Replications differ (the prior draws are not all the same).
    assert setup.outcomes["alliance"].mean(axis=1).std() > 0.05


def test_sbc_tiny_writes_ranks_tests_and_plots(tmp_path):
    settings = SBCSettings(reps=4, seed=1, **TINY)
    res = run_sbc("null", settings, tmp_path / "sbc", scheduler="serial", progress=False)
    params = list(res.uniformity["parameter"])
    assert {"mu_alpha", "sigma_dyad", "sigma_year", "control_strength_i"} <= set(params)
    assert len(res.ranks) == 4 * len(params)
    assert res.ranks["rank"].between(0, settings.ranks).all()
    assert res.uniformity[["p_chi2", "p_ecdf"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (res.reps["status"] == "ok").all()
    assert {"max_rhat", "min_ess_bulk", "divergences"} <= set(res.reps.columns)
    files = {p.name for p in (tmp_path / "sbc").iterdir()}
    assert {
        "ranks.csv",
        "reps.csv",
        "uniformity.csv",
        "sbc.nc",
        "sbc.json",
        "sbc_ranks.png",
        "sbc_ecdf.png",
    } <= files
    assert not [f for f in files if f.startswith(".")]
    tree = xr.open_datatree(tmp_path / "sbc" / "sbc.nc", engine="h5netcdf")
    np.testing.assert_array_equal(
        tree["prior_sbc"]["mu_alpha"].values.ravel(),
        res.ranks[res.ranks["parameter"] == "mu_alpha"].sort_values("rep")["rank"].to_numpy(),
    )
    assert json.loads((tmp_path / "sbc" / "sbc.json").read_text())["settings"]["reps"] == 4
    np.testing.assert_array_equal(
        tree["truth"]["mu_alpha"].values,
        res.ranks[res.ranks["parameter"] == "mu_alpha"].sort_values("rep")["truth"].to_numpy(),
    )
    # Same seed, same true values and ranks.
    again = run_sbc("null", settings, None, scheduler="serial", progress=False)
    pd.testing.assert_frame_equal(again.ranks, res.ranks)


@pytest.mark.slow  # two compiles (21 s from a cold cache); the fast SBC test runs the reuse path
def test_reused_compiled_model_gives_the_draws_of_a_fresh_compile():
    """A replication sampled on a model compiled for another one's outcomes (swapped in) = compiled for its own."""
    import nutpie

    from walt_bayes.calibrate import sbc

    setup = prepare("null", SBCSettings(reps=3, seed=4, **TINY))
    tasks = list(sbc.rep_tasks(setup).values())
    assert not np.array_equal(tasks[0]["outcomes"]["alliance"], tasks[2]["outcomes"]["alliance"])
    reused, _ = sbc.compile_model(tasks[0])
    fresh, _ = sbc.compile_model(tasks[2])
    data = {f"sbc_obs_{n}": y for n, y in tasks[2]["outcomes"].items()}
    kwargs = {"draws": 40, "tune": 40, "chains": 2, "cores": 1, "seed": tasks[2]["seed"]}
    a = nutpie.sample(reused.with_data(**data), progress_bar=False, **kwargs)["posterior"]
    b = nutpie.sample(fresh, progress_bar=False, **kwargs)["posterior"]
    c = nutpie.sample(reused, progress_bar=False, **kwargs)["posterior"]  # replication 0's data
    for var in ("mu_alpha", "sigma_dyad"):
        np.testing.assert_array_equal(a[var].values, b[var].values)
    assert not np.array_equal(a["mu_alpha"].values, c["mu_alpha"].values)
    # run_rep compiles once per process and records where its time went.
    sbc._COMPILED.clear()
    first, second = sbc.run_rep(tasks[0]), sbc.run_rep(tasks[1])
    assert first["compile_s"] > 0 and second["compile_s"] == 0
    assert second["sample_s"] > 0 and second["wall_s"] >= second["sample_s"]


def _misspecified_null():
    """The null variant fitted with an intercept prior far from the one that generated the data."""
    raw = tomllib.loads(load_spec("null").source_text)
    raw["model"]["name"] = "null_wrong_prior"
    raw["priors"] = {"mu_alpha": {"distribution": "Normal", "mu": 4.0, "sigma": 0.2}}
    return parse_spec(dumps_toml(raw))


def test_sbc_flags_a_misspecified_fit():
    """Data from the null variant's prior, fitted with a wrong intercept prior: SBC must say so."""
    settings = SBCSettings(reps=12, seed=5, **TINY)
    wrong = run_sbc(
        "null", settings, None, scheduler="serial", fit_spec=_misspecified_null(), progress=False
    )
    w = wrong.uniformity.set_index("parameter")
    assert not w.loc["mu_alpha", "uniform"]
    assert w.loc["mu_alpha", "mean_rank"] < 0.1  # the posterior sits above every true value
    assert any("mis-specified on purpose" in n for n in wrong.notes)


@pytest.mark.slow
@pytest.mark.timeout(900)  # a forked worker that deadlocked would hang: fail instead
@pytest.mark.parametrize("fork", [True, False], ids=["forked", "spawned"])
def test_sbc_on_a_local_cluster_matches_serial(fork):
    from walt_bayes.calibrate import sbc

    settings = SBCSettings(reps=6, seed=8, **TINY)
    serial = run_sbc("null", settings, None, scheduler="serial", progress=False)
    sbc._COMPILED.clear()  # forked workers must get the model compiled by run_sbc itself
    dask = run_sbc(
        "null", settings, None, scheduler="processes", workers=2, fork=fork, progress=False
    )
    pd.testing.assert_frame_equal(dask.ranks, serial.ranks)
    pd.testing.assert_frame_equal(dask.uniformity, serial.uniformity)
    assert dask.reps["pid"].nunique() == 2
    if fork:  # the workers inherited the compiled model: none compiled it again
        assert dask.times["compile_s"] > 0 and (dask.reps["compile_s"] == 0).all()
    else:  # spawned workers compile once each, on their first replication
        assert "compile_s" not in dask.times and (dask.reps["compile_s"] > 0).sum() == 2


@pytest.mark.slow
def test_sbc_balance_of_threat_small_configuration_is_calibrated(tmp_path):
    """40 replications of the small configuration: ranks of every named parameter look uniform."""
    settings = SBCSettings(reps=40, seed=0, ranks=49)
    res = run_sbc(
        "balance_of_threat", settings, tmp_path, scheduler="processes", workers=2, progress=False
    )
    assert (res.reps["status"] == "ok").all()
    flagged = res.uniformity[~res.uniformity["uniform"]]
    assert len(flagged) == 0, flagged
    assert res.uniformity["mean_rank"].between(0.3, 0.7).all(), res.uniformity
