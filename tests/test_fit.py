"""A fast fit end to end: groups stored, round trip, reproducibility, provenance."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from walt_bayes.errors import FitFileError
from walt_bayes.fit.fitfile import check_provenance, fit_design, fit_spec, load_fit
from walt_bayes.fit.run import fit_model
from walt_bayes.hypotheses.table import evidence_table


def test_fit_stores_every_group(small_fit):
    tree = small_fit.idata
    for group in ("posterior", "prior", "prior_predictive", "posterior_predictive", "log_likelihood",
                  "sample_stats", "observed_data", "constant_data"):
        assert group in tree.children, group
    assert set(tree["log_likelihood"].data_vars) == {"dispute", "alliance"}  # status form (conftest)
    attrs = tree.attrs
    assert isinstance(attrs["seed"], int) and attrs["seed"] == 7
    for key in ("spec_toml", "data_sha256", "versions", "sampler_settings", "wall_times", "convergence"):
        assert attrs[key], key
    assert json.loads(attrs["versions"])["pymc"]
    assert json.loads(attrs["sampler_settings"])["sampler"] == "nutpie"


def test_summary_and_convergence_figures(small_fit):
    s = small_fit.summary
    assert "gamma_shared" in s.index and "beta_power" in s.index
    assert not any(name.startswith("z_") for name in s.index)
    conv = small_fit.convergence
    assert conv.chains == 2 and conv.draws == 150
    assert conv.max_rhat == pytest.approx(float(s["r_hat"].max()))
    # 150 draws x 2 chains cannot reach 400 bulk ESS: the check must say so.
    assert not conv.ok and any("ESS" in p for p in conv.problems)


def test_fit_file_round_trip(small_fit, small_fit_file):
    tree = load_fit(small_fit_file)
    for var in ("gamma_shared", "beta_intent", "dyad_effect"):
        np.testing.assert_array_equal(tree["posterior"][var].values, small_fit.idata["posterior"][var].values)
    np.testing.assert_array_equal(
        tree["log_likelihood"]["alliance"].values, small_fit.idata["log_likelihood"]["alliance"].values
    )
    assert fit_spec(tree).name == "balance_of_threat"
    # The network checks are computed when the fit is made and stored with it.
    from walt_bayes.fit.network_checks import stored_network_checks

    stored = stored_network_checks(tree)
    assert stored is not None and "error" not in stored, stored
    names = {c["name"] for c in stored["checks"]}
    assert {"persistence", "triangle_closure", "hostile_share"} <= names, names
    design = fit_design(tree)
    assert design.terms == small_fit.design.terms
    np.testing.assert_array_equal(design.triad_ji, small_fit.design.triad_ji)
    t1 = evidence_table(tree)
    t2 = evidence_table(small_fit.idata)
    assert t1["verdict"].tolist() == t2["verdict"].tolist()
    np.testing.assert_allclose(t1["mean"].astype(float), t2["mean"].astype(float), equal_nan=True)


@pytest.mark.slow  # test_repro.py checks the same across processes in the default run
def test_same_seed_same_draws(sim_balancing, bot_spec, small_fit):
    again = fit_model(
        sim_balancing.panel, bot_spec, data_name="sim", data_sha256="0" * 64, seed=7,
        draws=150, tune=200, chains=2, cores=2, progressbar=False,
    )
    for var in ("gamma_shared", "beta_power", "year_effect"):
        np.testing.assert_array_equal(again.idata["posterior"][var].values, small_fit.idata["posterior"][var].values)


def test_provenance_differences_named(small_fit_file, bot_spec):
    tree = load_fit(small_fit_file)
    assert check_provenance(tree, data_sha256="0" * 64, spec=bot_spec) == []
    diffs = check_provenance(tree, data_sha256="f" * 64)
    assert len(diffs) == 1 and "data differ" in diffs[0]


def test_truncated_and_foreign_fit_files(small_fit_file, tmp_path):
    data = small_fit_file.read_bytes()
    cut = tmp_path / "cut.nc"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FitFileError, match="cannot read fit file"):
        load_fit(cut)
    other = tmp_path / "other.nc"
    xr.Dataset({"x": ("a", np.arange(3))}).to_netcdf(other, engine="h5netcdf")
    with pytest.raises(FitFileError, match="not a walt-bayes fit"):
        load_fit(other)
    with pytest.raises(FitFileError, match="no such fit file"):
        load_fit(tmp_path / "nothing.nc")
