"""The Python API (``import walt_bayes as wb``): fit, save, load, hypotheses, compare, plots.

Two short fits of a simulated balancing world (2 chains × 150 draws, 200 tuning steps) are shared
by the module: ``balance_of_threat`` and ``null``, both seed 7.  At that length neither passes the
convergence checks, which the verdict tests rely on (asserted, not assumed).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import walt_bayes as wb
from walt_bayes.errors import DataError, FitFileError, ModelError, SpecError, WaltError
from walt_bayes.hypotheses.verdicts import JUDGED, UNRELIABLE

REPO = Path(__file__).resolve().parents[1]
SHORT = {"chains": 2, "draws": 150, "tune": 200, "progress": False}
EVIDENCE_COLUMNS = [
    "id",
    "verdict",
    "statement",
    "mean",
    "hdi_low",
    "hdi_high",
    "p_direction",
    "reason",
]


@pytest.fixture(scope="module")
def sim():
    return wb.simulate("balancing", states=12, years=10, seed=11)


@pytest.fixture(scope="module")
def bot(sim):
    return wb.fit("balance_of_threat", sim, seed=7, **SHORT)


@pytest.fixture(scope="module")
def null(sim):
    return wb.fit("null", sim, seed=7, **SHORT)


@pytest.fixture(scope="module")
def saved(bot, tmp_path_factory):
    """``bot`` saved through a second Fit of the same tree (``bot`` itself stays unsaved)."""
    copy = wb.Fit(bot.tree, summary=bot.summary(), name=bot.name)
    return copy.save(tmp_path_factory.mktemp("runs"))


def _posterior_equal(a, b) -> None:
    pa, pb = a["posterior"].to_dataset(), b["posterior"].to_dataset()
    assert sorted(pa.data_vars) == sorted(pb.data_vars)
    for name in pa.data_vars:
        assert pa[name].dtype == pb[name].dtype, name
        assert np.array_equal(pa[name].values, pb[name].values), name


# ------------------------------------------------------------------ the package
def test_import_is_cheap_and_verbs_are_callable_whatever_was_imported_first():
    code = (
        "import sys, inspect; import walt_bayes as wb; "
        "print('pymc' in sys.modules, 'walt_bayes.api' in sys.modules); "
        # Subpackages imported before the API (light modules: the order is what matters).
        "import walt_bayes.fit.fresh, walt_bayes.compare.plot as plot, walt_bayes.report.qmd; "
        "from walt_bayes import api; "
        "print(all(callable(getattr(wb, v)) for v in ('fit', 'compare', 'report')), "
        "inspect.signature(wb.fit) == inspect.signature(api.fit), wb.fit.fresh.__name__, plot.__name__, "
        "'pymc' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [
        "False",
        "False",
        "True",
        "True",
        "walt_bayes.fit.fresh",
        "walt_bayes.compare.plot",
        "False",
    ]
    assert set(wb.__all__) >= {
        "fit",
        "load",
        "load_data",
        "load_spec",
        "compare",
        "report",
        "simulate",
        "Fit",
        "Evidence",
        "Comparison",
        "Dataset",
    }
    assert all(getattr(wb, n) is not None for n in wb.__all__)


def test_load_data_and_spec(sim):
    me = wb.load_data("middle-east")
    assert me.name == "middle-east" and len(me.sha256) == 64 and len(me.panel) > 1000
    assert wb.load_data(me) is me
    ds = wb.load_data(sim)
    from walt_bayes.panel.hashing import panel_sha256

    assert ds.name == "simulated-balancing" and ds.sha256 == panel_sha256(sim.panel)
    assert wb.load_data(sim.panel).sha256 == ds.sha256
    spec = wb.load_spec("null")
    assert spec.name == "null" and wb.load_spec(spec) is spec
    assert wb.load_spec(REPO / "models" / "null.toml").name == "null"


def test_simulate_matches_the_simulator():
    from walt_bayes.model.simulate import simulate

    a = wb.simulate("balancing", states=6, years=3, seed=2)
    pd.testing.assert_frame_equal(
        a.panel, simulate("balancing", n_states=6, n_years=3, seed=2).panel
    )
    world = wb.simulate("persistent", states=6, years=4, seed=1)
    assert world.world == "persistent" and world.truth["direction_shared"] in (-1, 0, 1)


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda s: wb.fit("no_such_variant", s), SpecError, "no such model spec"),
        (lambda s: wb.fit("null", "middle-eest"), DataError, "middle-eest"),
        (lambda s: wb.fit("null", 42), DataError, "got int"),
        (lambda s: wb.fit("null", s, seed=-1), WaltError, "seed"),
        (lambda s: wb.fit("null", s, seed=1.5), WaltError, "seed"),
        (lambda s: wb.fit("null", s, seed=np.random.default_rng(1)), WaltError, "seed"),
        (lambda s: wb.fit("null", s, draws=0), WaltError, "draws"),
        (lambda s: wb.fit("null", s, sampler="stan"), WaltError, "sampler"),
        (lambda s: wb.fit("null", s, case_control="sometimes"), WaltError, "case_control"),
        (lambda s: wb.simulate("atlantis"), WaltError, "unknown world"),
        (lambda s: wb.simulate("balancing", states=2), WaltError, "states"),
        (lambda s: wb.load_spec("no_such_variant"), SpecError, "no such model spec"),
    ],
)
def test_bad_input_raises_the_package_errors_in_one_line(sim, call, error, needle):
    with pytest.raises(error, match=needle) as info:
        call(sim)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ a fit
def test_fit_records_what_the_cli_fit_records(bot, sim):
    from walt_bayes.panel.hashing import panel_sha256

    assert isinstance(bot, wb.Fit) and bot.path is None
    assert bot.spec_name == bot.spec.name == "balance_of_threat"
    assert bot.data_name == "simulated-balancing" and bot.data_sha256 == panel_sha256(sim.panel)
    assert bot.seed == 7 and type(bot.tree.attrs["seed"]) is int
    assert json.loads(bot.tree.attrs["sampler_settings"])["draws"] == 150
    assert bot.meta("sampler_settings")["chains"] == 2
    assert bot.name.startswith("balance_of_threat-simulated-balancing-")
    assert "not saved" in repr(bot)
    with pytest.raises(WaltError, match="no attribute 'nope'"):
        bot.meta("nope")


def test_summary_matches_the_posterior(bot):
    summary = bot.summary()
    post = bot.tree["posterior"]
    for name in ("gamma_shared", "gamma_partner", "beta_power", "lambda_0"):
        draws = post[name].values.ravel()
        assert summary.loc[name, "mean"] == pytest.approx(draws.mean(), rel=1e-12)
        assert summary.loc[name, "sd"] == pytest.approx(draws.std(ddof=1), rel=1e-6)
        assert (
            draws.min() <= summary.loc[name].filter(like="lb").iloc[0] < summary.loc[name, "mean"]
        )
    summary.loc["gamma_shared", "mean"] = 99.0  # a copy: the fit's own table is untouched
    assert bot.summary().loc["gamma_shared", "mean"] != 99.0
    assert list(bot.summary(["gamma_shared"]).index) == ["gamma_shared"]
    with pytest.raises(WaltError, match="no variable 'gamma_nope'"):
        bot.summary(["gamma_nope"])


def test_convergence_is_the_stored_record(bot):
    from walt_bayes.fit.diagnostics import check_convergence

    conv = bot.convergence
    stored = json.loads(bot.tree.attrs["convergence"])
    assert conv.ok is stored["ok"] is False  # 2 × 150 draws cannot reach a bulk/tail ESS of 400
    assert conv.problems == stored["problems"] and conv.max_rhat == stored["max_rhat"]
    again = check_convergence(bot.tree)
    assert (conv.max_rhat, conv.min_ess_bulk, conv.divergences) == (
        again.max_rhat,
        again.min_ess_bulk,
        again.divergences,
    )
    assert len(conv.bfmi) == 2


def test_network_checks_table(bot):
    table = bot.network_checks
    stored = json.loads(bot.tree.attrs["network_checks"])
    assert list(table["check"]) == [c["label"] for c in stored["checks"]]
    assert {"observed", "interval low", "interval high", "flag"} <= set(table.columns)


# ------------------------------------------------------------------ verdicts
def test_unconverged_fit_gives_unreliable_verdicts_unless_allowed(bot):
    from walt_bayes.hypotheses.table import evidence_table

    assert not bot.convergence.ok
    ev = bot.hypotheses()
    assert set(EVIDENCE_COLUMNS) <= set(ev.table.columns)
    pd.testing.assert_frame_equal(ev.table, evidence_table(bot.tree))  # the CLI's table
    assert (ev.table["verdict"] == UNRELIABLE).any() and not ev.table["verdict"].isin(JUDGED).any()
    assert ev.problems == bot.convergence.problems and "no verdicts given" in ev.banner
    assert ev.notes and ev.verdicts()["BAL-1"] == UNRELIABLE and "unreliable" in repr(ev)
    allowed = bot.hypotheses(allow_unconverged=True)
    assert allowed.verdicts()["BAL-1"] in JUDGED and UNRELIABLE not in set(allowed.table["verdict"])
    assert "shown as computed" in allowed.banner
    assert not allowed.pairs.empty


def test_hypotheses_thresholds_and_ids(bot):
    ev = bot.hypotheses(rope=(0.5, 2.0), prob=0.9, ids=["BAL-1", "BW-1"], allow_unconverged=True)
    assert list(ev.table["id"]) == ["BAL-1", "BW-1"]
    assert ev.table["rope_low"].iloc[0] == pytest.approx(np.log(0.5))
    for kwargs, needle in [
        ({"rope": (1.2, 0.8)}, "rope"),
        ({"rope": 1.1}, "rope"),
        ({"prob": 2}, "prob"),
        ({"ids": ["XX-9"]}, "no hypothesis 'XX-9'"),
    ]:
        with pytest.raises(WaltError, match=needle):
            bot.hypotheses(**kwargs)


# ------------------------------------------------------------------ files
def test_save_writes_the_cli_run_folder_and_load_round_trips(bot, saved):
    assert saved.name == bot.name and sorted(p.name for p in saved.iterdir()) == [
        "fit.nc",
        "summary.csv",
    ]
    loaded = wb.load(saved)
    assert loaded.path == saved and loaded.name == saved.name and loaded.seed == 7
    _posterior_equal(loaded.tree, bot.tree)
    for group in ("log_likelihood", "sample_stats", "constant_data"):
        for name, var in bot.tree[group].to_dataset().data_vars.items():
            assert np.array_equal(
                loaded.tree[group][name].values, var.values, equal_nan=var.dtype.kind == "f"
            ), (
                group,
                name,
            )
    pd.testing.assert_frame_equal(loaded.summary(), bot.summary())
    assert loaded.convergence.problems == bot.convergence.problems
    assert wb.load(saved / "fit.nc").path == saved
    with pytest.raises(WaltError, match="already exists"):
        wb.Fit(bot.tree, name=saved.name).save(saved.parent)
    with pytest.raises(WaltError, match="plain folder name"):
        bot.save(saved.parent, name="../elsewhere")


def test_the_cli_accepts_a_saved_fit(saved, bot):
    from walt_bayes.cli.check import check_command
    from walt_bayes.cli.hypotheses import hypotheses_command as hypotheses

    app = typer.Typer()
    app.command("check")(check_command)
    app.command("hypotheses")(hypotheses)
    res = CliRunner().invoke(app, ["check", str(saved)])
    assert res.exit_code == 0 and "fit matches" in res.output, res.output
    res = CliRunner().invoke(
        app, ["hypotheses", str(saved), "--format", "csv", "--allow-unconverged"]
    )
    assert res.exit_code == 0, res.output
    cli = pd.read_csv(saved / "hypotheses.csv", keep_default_na=False, na_values=[""])
    api = bot.hypotheses(allow_unconverged=True).table
    assert list(cli["id"]) == list(api["id"]) and list(cli["verdict"]) == list(api["verdict"])
    (saved / "hypotheses.csv").unlink()


def test_load_checks_data_and_spec_when_given(saved, sim):
    assert wb.load(saved, data=sim, spec="balance_of_threat").seed == 7
    with pytest.raises(FitFileError, match="spec differs"):
        wb.load(saved, spec="null")
    with pytest.raises(FitFileError, match="data differ"):
        wb.load(saved, data=wb.simulate("balancing", states=6, years=3, seed=1))
    assert wb.load(saved).check() == []  # the bundled variant of the same name


def test_load_refuses_temporaries_and_corrupt_files(saved, tmp_path):
    leftover = tmp_path / ".balance_of_threat-x.k3j9x.part"
    shutil.copytree(saved, leftover)
    for bad in (leftover, leftover / "fit.nc"):
        with pytest.raises(FitFileError, match="temporary name left by an interrupted run"):
            wb.load(bad)
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    data = (saved / "fit.nc").read_bytes()
    (truncated / "fit.nc").write_bytes(data[: len(data) // 2])
    with pytest.raises(FitFileError, match="cannot read fit file"):
        wb.load(truncated)
    with pytest.raises(FitFileError, match="no such fit file"):
        wb.load(tmp_path / "nowhere")
    with pytest.raises(FitFileError, match="not a walt-bayes fit"):
        wb.Fit(_foreign_tree())


def _foreign_tree():
    import xarray as xr

    return xr.DataTree.from_dict(
        {"posterior": xr.Dataset({"x": (("chain", "draw"), np.zeros((1, 2)))})}
    )


def test_same_seed_gives_identical_draws(sim, null):
    again = wb.fit("null", wb.load_data(sim), seed=7, **SHORT)
    _posterior_equal(again.tree, null.tree)


# ------------------------------------------------------------------ comparison
def test_compare_two_fits_in_memory_and_saved(bot, null, saved, tmp_path):
    from walt_bayes.compare.table import compare_runs

    cmp = wb.compare([bot, null])
    table = cmp.table
    assert set(table["variant"]) == {"balance_of_threat", "null"} and cmp.method == "loo"
    assert {"elpd", "se", "elpd_diff", "dse", "weight", "rank", "n_obs"} <= set(table.columns)
    assert table["weight"].sum() == pytest.approx(1.0) and list(table["rank"]) == [0, 1]
    assert set(table["run"]) == {"(not saved)"} and cmp.notes
    null_dir = wb.Fit(null.tree, name=null.name).save(tmp_path)
    on_disk = compare_runs([saved, null_dir], progress=False)  # what `walt-bayes compare` computes
    mixed = wb.compare([saved, null]).table
    for other in (on_disk, mixed):
        pd.testing.assert_series_equal(
            other.set_index("variant")["elpd"], table.set_index("variant")["elpd"], check_like=True
        )
    assert set(mixed["run"]) == {str(saved / "fit.nc"), "(not saved)"}
    fig = cmp.plot()
    assert isinstance(fig, matplotlib.figure.Figure)
    plt.close("all")
    from walt_bayes.compare.runs import CompareError

    with pytest.raises(CompareError, match="at least two"):
        wb.compare([bot])
    with pytest.raises(WaltError, match="not one of loo, kfold"):
        wb.compare([bot, null], method="waic")
    with pytest.raises(WaltError, match=r"save .* first"):
        wb.compare([bot, null], method="kfold", jobs=2)
    with pytest.raises(WaltError, match=r"save .* first"):
        wb.compare([bot, null], method="kfold", scheduler="serial", out=tmp_path / "cmp")


def test_compare_passes_cores_fold_start_and_scheduler_through(tmp_path, monkeypatch):
    """What `walt-bayes compare --cores --fold-start --scheduler --workers` passes on (no refits)."""
    import walt_bayes.compare.kfold as kfold
    import walt_bayes.compare.table as table

    seen = {}

    def prefetch_folds(runs, k, group, settings, cache_dir, fold_seed, **kwargs):
        seen["prefetch"] = {"runs": runs, "k": k, "settings": settings, "cache_dir": cache_dir,
                            "fold_seed": fold_seed, **kwargs}

    def compare_runs(runs, **kwargs):
        seen["compare"] = {"runs": runs, **kwargs}
        return pd.DataFrame({"variant": ["a", "b"], "run": [str(r) for r in runs]})

    monkeypatch.setattr(kfold, "prefetch_folds", prefetch_folds)
    monkeypatch.setattr(table, "compare_runs", compare_runs)
    runs, out = [tmp_path / "a", tmp_path / "b"], tmp_path / "cmp"
    cmp = wb.compare(runs, method="kfold", folds=3, fold_seed=4, cores=3, fold_start="default",
                     jobs=2, scheduler="processes", workers=2, out=out, progress=False)
    assert cmp.method == "kfold" and list(cmp.table["run"]) == [str(r) for r in runs]
    pre, done = seen["prefetch"], seen["compare"]
    assert pre["runs"] == runs and pre["cache_dir"] == out / "folds"
    assert (pre["k"], pre["fold_seed"], pre["scheduler"], pre["workers"]) == (3, 4, "processes", 2)
    assert (pre["settings"].cores, pre["settings"].start) == (3, "default")
    assert done["fold_settings"] == pre["settings"] and done["jobs"] == 1  # folds all cached
    seen.clear()
    wb.compare(runs, method="loo", cores=1, jobs=2, scheduler="serial", progress=False)
    assert "prefetch" not in seen and seen["compare"]["jobs"] == 2  # LOO refits nothing
    assert seen["compare"]["fold_settings"].cores == 1
    with pytest.raises(WaltError, match=r"scheduler.*'bogus'"):
        wb.compare(runs, method="kfold", scheduler="bogus", out=out)
    with pytest.raises(WaltError, match="give out="):
        wb.compare(runs, method="kfold", scheduler="serial")
    with pytest.raises(WaltError, match="cores"):
        wb.compare(runs, cores=0)


def test_report_of_an_unsaved_fit_needs_out(bot):
    from walt_bayes.report.render import ReportError

    with pytest.raises(ReportError, match="not saved; give out="):
        wb.report(bot)


@pytest.mark.slow
def test_report_of_an_unsaved_fit(bot, tmp_path):
    out = wb.report(bot, out=tmp_path / "bot.html")
    assert out == tmp_path / "bot.html" and "balance_of_threat" in out.read_text()
    assert bot.path is None and sorted(p.name for p in tmp_path.iterdir()) == ["bot.html"]


# ------------------------------------------------------------------ what-if scenarios
#: A state of the simulated world and a year inside it (years 1950..1959), as in test_scenario.py.
_J, _YEAR = 120, 1955


def _scenario(change: str):
    from walt_bayes.scenario import parse_scenario

    return parse_scenario(f'name = "api"\n\n[[change]]\n{change}\n')


def test_predict_identity_is_zero_and_matches_the_scenario_module(bot, saved, sim, tmp_path):
    from walt_bayes.scenario import ScenarioError, ScenarioResult
    from walt_bayes.scenario import predict as predict_scenario

    identity = _scenario(f'state = {_J}\nyears = [{_YEAR}]\ninput = "power"\nop = "add"\nvalue = 0')
    result = bot.predict(identity, data=sim)
    assert isinstance(result, ScenarioResult) and bot.path is None
    assert len(result.threat) > 0 and len(result.alliance) > 0
    for name in result.draws:  # threat, alliance and (with a duration block) survival
        assert np.all(result.draws[name] == 0.0), name
        assert (getattr(result, name)["diff_mean"] == 0).all(), name

    change = f'state = {_J}\nyears = [{_YEAR}]\ninput = "power"\nop = "add"\nvalue = 0.693'
    path = tmp_path / "power.toml"
    path.write_text(f'name = "api"\n\n[[change]]\n{change}\n')
    direct = predict_scenario(saved, _scenario(change), panel=wb.load_data(sim).panel)
    for got in (bot.predict(path, data=sim), wb.predict(saved, _scenario(change), data=sim)):
        assert (got.alliance["diff_mean"] != 0).any()
        assert sorted(got.draws) == sorted(direct.draws)
        for name in direct.draws:
            pd.testing.assert_frame_equal(getattr(got, name), getattr(direct, name))
            np.testing.assert_array_equal(got.draws[name], direct.draws[name])

    with pytest.raises(ScenarioError, match=r"made on '.*': give that panel as data="):
        bot.predict(identity)
    other = wb.simulate("balancing", states=12, years=10, seed=12)
    with pytest.raises(ScenarioError, match=r"^predict: data differ"):
        bot.predict(identity, data=other)
    with pytest.raises(WaltError, match="expected a Fit or a run folder"):
        wb.predict(bot.tree, identity)


# ------------------------------------------------------------------ plots
def test_plots_return_figures_and_draw_into_given_axes(bot, null):
    from matplotlib.figure import Figure

    assert isinstance(bot.plot.trace(), Figure)
    assert isinstance(bot.plot.trace(["gamma_shared"]), Figure)
    forest = bot.plot.forest()
    assert isinstance(forest, Figure)
    assert isinstance(bot.plot.threat_weights(), Figure)
    assert isinstance(bot.plot.network_checks(), Figure)
    fig, axes = plt.subplots(1, 2)
    keys = bot.design.threat_keys.iloc[0]
    dyad = (int(keys["ccode2"]), int(keys["ccode1"]))
    assert bot.plot.threat_over_time(dyad, ax=axes[0]) is fig and axes[0].lines
    assert bot.plot.ppc_by_year(ax=axes[1]) is fig and axes[1].lines
    assert isinstance(bot.plot.threat_over_time(f"{dyad[0]}->{dyad[1]}"), Figure)
    assert isinstance(bot.plot.threat_over_time(), Figure)  # the strongest dyads
    with pytest.raises(WaltError, match="no threat rows for 999->998"):
        bot.plot.threat_over_time((999, 998))
    with pytest.raises(WaltError, match="not 'SOURCE->TARGET'"):
        bot.plot.threat_over_time("Iraq to Israel")
    with pytest.raises(WaltError, match="no variable 'gamma_nope'"):
        bot.plot.trace(["gamma_nope"])
    with pytest.raises(ModelError, match="null has no threat block"):
        null.plot.threat_over_time((10, 20))
    plt.close("all")


# ------------------------------------------------------------------ documentation that runs
EXAMPLE = REPO / "examples" / "middle_east.qmd"


def _example_code() -> list[tuple[int, str]]:
    from walt_bayes.report.qmd import read_qmd

    return [(c.line, c.source) for c in read_qmd(EXAMPLE).cells if c.kind == "code"]


def _readme_code() -> str:
    section = (REPO / "README.md").read_text().split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_the_example_uses_the_public_api_only():
    code = "\n".join(source for _, source in _example_code())
    imports = re.findall(r"^\s*(?:import|from)\s+(\S+)", code, re.M)
    assert imports == ["walt_bayes"] and "import walt_bayes as wb" in code
    assert not re.search(r"walt_bayes\.", code) and not re.search(r"walt_bayes\.", _readme_code())


@pytest.mark.slow
def test_the_example_analysis_runs():
    """Every code cell of examples/middle_east.qmd, in order, in one namespace."""
    ns: dict = {}
    for line, source in _example_code():
        exec(compile(source, f"{EXAMPLE}:{line}", "exec"), ns)
    assert isinstance(ns["bot"], wb.Fit) and isinstance(ns["null"], wb.Fit)
    assert set(ns["comparison"].table["variant"]) == {"balance_of_threat", "null"}
    assert set(ns["headline"]) <= set(ns["evidence"].table["id"])
    assert ns["fig"].axes[0].lines
    plt.close("all")


@pytest.mark.slow
def test_the_readme_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(_readme_code(), "README.md (Python API)", "exec"), ns)
    assert ns["run_dir"].parent == Path("runs") and (ns["run_dir"] / "fit.nc").is_file()
    assert wb.load(ns["run_dir"]).seed == 1
    plt.close("all")
