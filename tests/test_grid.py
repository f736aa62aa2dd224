"""Grids of fits on Dask (issue 9): grid files, prior scaling, executor, resume, failures, cluster = serial."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from walt_bayes.errors import WaltError
from walt_bayes.executor import Executor, available_cores, can_fork, parse_scheduler
from walt_bayes.grid.gridfile import GridError, dumps_toml, load_grid, scaled_spec
from walt_bayes.spec import load_spec, parse_spec

REPO = Path(__file__).resolve().parents[1]
TINY_DATA = '[[data]]\nname = "tiny"\nworld = "balancing"\nstates = 5\nyears = 3\nseed = 3\n'
TINY_SAMPLER = "[sampler]\nchains = 2\ndraws = 60\ntune = 60\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def needs_penetration_spec(folder: Path) -> Path:
    """A variant whose term needs IGO/trade data: a simulated panel lacks it, so its cell fails."""
    raw = tomllib.loads(load_spec("null").source_text)
    raw["model"]["name"] = "needs_penetration"
    raw["alliance"]["terms"] = ["penetration"]
    return write(folder / "needs_penetration.toml", dumps_toml(raw))


# ------------------------------------------------------------------------- grid files
def test_example_grid_parses():
    grid = load_grid(REPO / "examples" / "small_grid.toml")
    cells = grid.cells()
    assert len(cells) == 6  # 3 variants × 2 seeds
    assert {c.variant for c in cells} == {"null", "balance_of_power", "balance_of_threat"}
    assert len({c.cell_id for c in cells}) == 6


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[grid]\nvariants = []\n" + TINY_DATA, "grid.variants"),
        ('[grid]\nvariants = ["no_such_variant"]\n' + TINY_DATA, "no such model spec"),
        ('[grid]\nvariants = ["null"]\nseeds = [-1]\n' + TINY_DATA, "grid.seeds"),
        ('[grid]\nvariants = ["null"]\nprior_scales = [0]\n' + TINY_DATA, "grid.prior_scales"),
        ('[grid]\nvariants = ["null"]\n', "at least one data set"),
        ('[grid]\nvariants = ["null"]\n[[data]]\npath = "missing.parquet"\n', "no such panel file"),
        ('[grid]\nvariants = ["null"]\n[[data]]\nworld = "chaotic"\n', "data[0].world"),
        ('[grid]\nvariants = ["null"]\n' + TINY_DATA + "[folds]\nk = 1\n", "folds.k"),
        ('[grid]\nvariants = ["null"]\n' + TINY_DATA + "[sampler]\ndraws = 0\n", "sampler.draws"),
        ('[grid]\nvariants = ["null"]\n[surprise]\n' + TINY_DATA, "unknown section"),
        ("[grid\n", "not valid TOML"),
    ],
)
def test_bad_grid_files_name_file_and_key(tmp_path, text, needle):
    path = write(tmp_path / "g.toml", text)
    with pytest.raises(GridError, match=r"g\.toml") as err:
        load_grid(path)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_grid_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    from walt_bayes.cli import main

    path = write(tmp_path / "g.toml", '[grid]\nvariants = ["null"]\nseeds = [1.5]\n' + TINY_DATA)
    for args in (
        ["grid", str(path), "--out", str(tmp_path / "o")],
        ["grid", str(path), "--scheduler", "threads"],
        ["sbc", "null", "--scheduler", "udp://x:1"],
    ):
        monkeypatch.setattr(sys, "argv", ["walt-bayes", *args])
        with pytest.raises(SystemExit) as exit_:
            main()
        assert exit_.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_prior_scale_multiplies_every_prior_scale():
    spec = load_spec("balance_of_threat")
    assert scaled_spec(spec, 1.0) is spec
    doubled = scaled_spec(spec, 2.0)
    assert doubled.resolved_prior("gamma")["sigma"] == pytest.approx(
        2 * spec.resolved_prior("gamma")["sigma"]
    )
    assert doubled.resolved_prior("tau_beta")["sigma"] == pytest.approx(
        2 * spec.resolved_prior("tau_beta")["sigma"]
    )
    assert doubled.resolved_prior("beta")["mu"] == spec.resolved_prior("beta")["mu"]
    # Intercept centres stay data-driven; their spread is scaled.
    assert doubled.resolved_prior("lambda_0", mu=-2.0) == {
        "distribution": "Normal",
        "sigma": 3.0,
        "mu": -2.0,
    }
    # Blocks and terms are untouched, and the text round-trips through the spec parser.
    assert doubled.alliance == spec.alliance and doubled.threat == spec.threat
    assert parse_spec(doubled.source_text).priors == doubled.priors


# -------------------------------------------------------------------------- executor
def test_parse_scheduler():
    assert parse_scheduler("processes") == "processes"
    assert parse_scheduler(None) == "serial"
    assert parse_scheduler("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    for bad in ("threads", "tcp://nohost", "tcp://:8786", "http://x:1"):
        with pytest.raises(WaltError, match="--scheduler"):
            parse_scheduler(bad)


def test_serial_executor_reports_failures_and_goes_on():
    seen = []
    with Executor("serial") as ex:
        out = ex.map(
            parse_scheduler, {"a": "serial", "b": "bogus", "c": "processes"}, on_done=seen.append
        )
    assert list(out) == ["a", "b", "c"]
    assert out["a"].ok and out["a"].value == "serial" and out["c"].value == "processes"
    assert not out["b"].ok and out["b"].error.startswith("WaltError:") and "bogus" in out["b"].error
    assert [o.key for o in seen] == ["a", "b", "c"]
    assert ex.cores_per_task == available_cores()


def test_local_cluster_executor_pins_threads_and_reports_failures():
    with Executor("processes", workers=2) as ex:
        assert ex.cores_per_task == 1
        out = ex.map(parse_scheduler, {"a": "serial", "b": "bogus"})
        env = ex.client.run(
            lambda: {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}
        )
        assert "2 workers" in ex.describe()
    assert out["a"].ok and out["a"].value == "serial"
    assert not out["b"].ok and "bogus" in out["b"].error
    assert len(env) == 2 and all(
        v == {"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"} for v in env.values()
    )


#: Set by the test below after this module was imported: only a forked worker can see the new value.
_PROBE = "as imported"


def _read_probe(_task) -> tuple[str, int]:
    return _PROBE, os.getpid()


def _numba_dot(_task) -> float:
    """Compile and run numba code in the worker (a numba loaded before the fork must keep working)."""
    import numba

    return float(numba.njit(lambda a: np.dot(a, a))(np.ones(3)))


@pytest.mark.skipif(not can_fork(), reason="local workers are forked on Linux only")
@pytest.mark.timeout(300)  # a fork that deadlocked would hang: fail instead
def test_forked_local_workers_inherit_this_process_and_stay_pinned(monkeypatch):
    """fork=True: workers start as copies of this process (what SBC's compile-once relies on)."""
    import numba  # noqa: F401  (loaded here before the fork, as in SBC)

    monkeypatch.setattr(sys.modules[__name__], "_PROBE", "set in the parent")
    # The CLI's handlers (SIGTERM -> KeyboardInterrupt) are this process's, not the workers'.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        with Executor("processes", workers=2, fork=True) as ex:
            assert ex.fork and ex.cores_per_task == 1
            out = ex.map(_read_probe, {"a": 0, "b": 1})
            dots = ex.map(_numba_dot, {"a": 0, "b": 1})
            env = ex.client.run(lambda: os.environ.get("OMP_NUM_THREADS"))
            term = ex.client.run(lambda: signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert all(o.ok and o.value[0] == "set in the parent" for o in out.values())
    assert all(o.value[1] != os.getpid() for o in out.values())
    assert set(env.values()) == {"1"}  # the nanny's environment still reaches forked workers
    assert set(term.values()) == {True}
    # A NUMBA_NUM_THREADS in the workers' environment other than the inherited pool's made numba raise.
    assert all(o.ok and o.value == 3.0 for o in dots.values()), dots
    # Never for other schedulers: a remote worker cannot be a copy of this process.
    assert not Executor("serial", fork=True).fork
    assert not Executor("tcp://127.0.0.1:8786", fork=True).fork


# --------------------------------------------------------------- a grid, serially
def test_grid_failed_cell_reported_others_finish_and_resume_skips(tmp_path):
    from walt_bayes.fit.fitfile import load_fit
    from walt_bayes.grid.run import run_grid

    needs_penetration_spec(tmp_path)
    grid = write(
        tmp_path / "g.toml",
        '[grid]\nvariants = ["null", "needs_penetration.toml"]\nseeds = [4]\n'
        + TINY_DATA
        + TINY_SAMPLER,
    )
    out = tmp_path / "out"
    table = run_grid(grid, out, scheduler="serial", progress=False).set_index("cell")
    ok, bad = "null.tiny.s4.p1", "needs_penetration.tiny.s4.p1"
    assert table.loc[ok, "status"] == "done"
    assert table.loc[bad, "status"] == "failed"
    assert "penetration" in table.loc[bad, "error"] and "igos" in table.loc[bad, "error"]
    assert not (out / "cells" / bad).exists()
    # The finished cell: a complete fit with the log prior, and a full row.
    fit = load_fit(out / "cells" / ok / "fit.nc")
    assert "log_prior" in fit.children and int(fit.attrs["seed"]) == 4
    row = table.loc[ok]
    assert np.isfinite(row["elpd_loo"]) and row["elpd_loo"] < 0 and np.isfinite(row["max_rhat"])
    assert row["BAL-1"] == "not testable"  # the null variant has no shared-threat term
    assert (
        np.isfinite(row["psense_prior:mu_alpha"])
        and row["psense_prior_max"] >= row["psense_prior:mu_alpha"]
    )
    written = (out / "grid.csv").read_text()
    assert ok in written and bad in written
    assert json.loads((out / "grid.json").read_text())["counts"] == {"done": 1, "failed": 1}
    # Resume: the finished cell is not refitted; the failed one is tried again (and fails again).
    mtime = (out / "cells" / ok / "fit.nc").stat().st_mtime_ns
    again = run_grid(grid, out, scheduler="serial", progress=False).set_index("cell")
    assert again.loc[ok, "status"] == "finished earlier"
    assert again.loc[bad, "status"] == "failed"
    assert (out / "cells" / ok / "fit.nc").stat().st_mtime_ns == mtime
    assert again.loc[ok, "elpd_loo"] == pytest.approx(row["elpd_loo"], rel=0, abs=0)
    # A finished cell made with other settings is never overwritten.
    write(grid, grid.read_text().replace("draws = 60", "draws = 70"))
    changed = run_grid(grid, out, scheduler="serial", progress=False).set_index("cell")
    assert changed.loc[ok, "status"] == "failed" and "other settings" in changed.loc[ok, "error"]
    assert (out / "cells" / ok / "fit.nc").stat().st_mtime_ns == mtime


# ----------------------------------------------------------- on a Dask cluster (slow)
def _posteriors(out: Path) -> dict[str, xr.Dataset]:
    cells = sorted(p for p in (out / "cells").iterdir() if not p.name.startswith("."))
    return {
        p.name: xr.open_datatree(p / "fit.nc", engine="h5netcdf")["posterior"].to_dataset().load()
        for p in cells
    }


@pytest.mark.slow
def test_cluster_grid_matches_serial_and_survives_a_killed_worker(tmp_path):
    """3 variants × 2 seeds on a LocalCluster (2 workers, loopback); one worker is SIGKILLed mid-fit."""
    from distributed import Client, LocalCluster

    from walt_bayes.executor import worker_env
    from walt_bayes.grid.run import run_grid

    grid = write(
        tmp_path / "g.toml",
        '[grid]\nvariants = ["null", "ideology", "balance_of_power"]\nseeds = [1, 2]\n'
        + TINY_DATA
        + TINY_SAMPLER,
    )
    serial = run_grid(grid, tmp_path / "serial", scheduler="serial", progress=False)
    assert (serial["status"] == "done").all(), serial[["cell", "error"]]

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        env=worker_env(),
    )
    result: dict = {}
    try:
        client = Client(cluster)
        runner = threading.Thread(
            target=lambda: result.setdefault(
                "table",
                run_grid(
                    grid, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False
                ),
            ),
        )
        runner.start()
        killed = None
        deadline = time.time() + 300
        while killed is None and time.time() < deadline and runner.is_alive():
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if busy:
                time.sleep(4)  # well inside the fit (compile + sampling take longer)
                worker = next(iter(busy))
                pid = client.run(os.getpid, workers=[worker])[worker]
                os.kill(pid, signal.SIGKILL)
                killed = (worker, busy[worker])
            time.sleep(0.2)
        runner.join(timeout=900)
        assert killed is not None, "no task was ever seen running"
    finally:
        client.close()
        cluster.close()
    table = result["table"]
    assert (table["status"] == "done").all(), table[["cell", "status", "error"]]
    # No partial fit files: every cell folder is complete, no temporary leftovers.
    assert not [p for p in (tmp_path / "dask" / "cells").iterdir() if p.name.startswith(".")]
    a, b = _posteriors(tmp_path / "serial"), _posteriors(tmp_path / "dask")
    assert list(a) == list(b) and len(a) == 6
    for cell in a:
        for var in a[cell].data_vars:
            np.testing.assert_array_equal(
                a[cell][var].values, b[cell][var].values, err_msg=f"{cell} {var}"
            )
    numeric = ["max_rhat", "min_ess_bulk", "divergences", "elpd_loo", "p_loo", "psense_prior_max"]
    for col in [*numeric, "BAL-1", "BW-1"]:
        assert serial[col].tolist() == table[col].tolist(), col


@pytest.mark.slow
def test_grid_folds_and_compare_scheduler_agree_with_compare_kfold(tmp_path):
    """Fold cells of a grid (on a local cluster) and `compare --scheduler` give compare's k-fold elpd."""
    from walt_bayes.compare.kfold import FoldSettings, prefetch_folds
    from walt_bayes.compare.table import compare_runs
    from walt_bayes.grid.run import run_grid

    grid = write(
        tmp_path / "g.toml",
        '[grid]\nvariants = ["null", "ideology"]\nseeds = [3]\n'
        + TINY_DATA
        + TINY_SAMPLER
        + '[folds]\nk = 2\ngroup = "dyad"\nseed = 0\n',
    )
    table = run_grid(grid, tmp_path / "grid", scheduler="processes", workers=2, progress=False)
    assert (table["status"] == "done").all(), table[["cell", "status", "error"]]
    base = table[table["fold"] == 0].set_index("variant")
    folds = table[table["fold"] > 0]
    assert len(folds) == 4 and np.isfinite(folds["elpd_fold"]).all()
    cells = [tmp_path / "grid" / "cells" / c for c in base["cell"]]
    settings = FoldSettings(chains=2, draws=60, tune=60)
    plain = compare_runs(
        cells, "kfold", 2, "dyad", tmp_path / "plain", fold_settings=settings, progress=False
    ).set_index("variant")
    for variant in ("null", "ideology"):
        assert base.loc[variant, "elpd_kfold"] == pytest.approx(
            plain.loc[variant, "elpd"], rel=1e-12
        )
    # compare --scheduler: folds refitted on the cluster, then read from the cache.
    done = prefetch_folds(
        cells,
        2,
        "dyad",
        settings,
        tmp_path / "dask" / "folds",
        scheduler="processes",
        workers=2,
        progress=False,
    )
    assert len(done) == 4 and not any(d["cached"] for d in done.values())
    viadask = compare_runs(
        cells, "kfold", 2, "dyad", tmp_path / "dask", fold_settings=settings, progress=False
    ).set_index("variant")
    assert viadask["elpd"].to_dict() == plain["elpd"].to_dict()
