"""Shared fixtures: simulated panels and small fits with fixed seeds (session-scoped)."""

from __future__ import annotations

import os
from pathlib import Path

# Keep PyTensor's compile cache out of the repository (before pytensor is imported).
_cache = Path(os.environ.get("WALT_BAYES_TEST_CACHE", Path.home() / ".cache" / "walt-bayes-tests"))
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={_cache / 'pytensor'}")
import pytest  # noqa: E402


def pytest_configure(config):
    """The fast suite's fits may reuse compiled sampling functions (walt_bayes.fit.fresh).

    Not a run that selects the slow tests: they compare draws made in other processes
    (Dask workers, k-fold refits) with serial ones, and a function loaded from the
    compile cache can differ from a fresh compile in the last bits, hence in the draws.
    test_repro turns the reuse off itself.
    """
    if "not slow" in (config.option.markexpr or ""):
        os.environ.setdefault("WALT_BAYES_COMPILE_CACHE", "1")

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO.parent / "shared" / "data" / "peacesciencer"


@pytest.fixture(scope="session")
def sim_balancing():
    """A small simulated balancing world (12 states x 10 years)."""
    from walt_bayes.model.simulate import simulate

    return simulate("balancing", n_states=12, n_years=10, seed=11)


@pytest.fixture(scope="session")
def bot_spec():
    """balance_of_threat in its status form (blocks 1-2 only).

    The bundled variant models formation with a duration block (issue 23); the fixtures
    that check blocks 1-2 (the fused kernel, the numpy twin, status compare) use its status
    form, and `duration_run_dir` / the CLI tests fit the formation form.
    """
    from walt_bayes.spec import load_spec, status_form

    return status_form(load_spec("balance_of_threat"))


@pytest.fixture(scope="session")
def small_fit(sim_balancing, bot_spec):
    """A quick fit of balance_of_threat on the simulated balancing world."""
    from walt_bayes.fit.run import fit_model

    return fit_model(
        sim_balancing.panel, bot_spec, data_name="sim", data_sha256="0" * 64, seed=7,
        draws=150, tune=200, chains=2, cores=2, progressbar=False,
    )


@pytest.fixture(scope="session")
def small_fit_file(small_fit, tmp_path_factory):
    from walt_bayes.fit.fitfile import save_fit

    path = tmp_path_factory.mktemp("fit") / "fit.nc"
    save_fit(small_fit.idata, path)
    return path
