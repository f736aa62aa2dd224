"""The command line: verbs listed, one-line errors with exit 2, outputs written where promised."""

from __future__ import annotations

import json
import sys

import pytest
from cli_runner import run_cli


def test_help_lists_every_verb(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "--help")
    assert code == 0
    for verb in ("fit", "hypotheses", "simulate", "variants", "data", "panel"):
        assert f" {verb} " in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("fit", "no_such_variant"), "no such model spec"),
        (("fit", "balance_of_threat", "--data", "missing.parquet"), "no such panel file"),
        (("fit", "balance_of_threat", "--sampler", "gibbs"), "--sampler"),
        (("hypotheses", "no/such/run"), "no such fit file"),
        (("simulate", "--out", "x.csv"), "written as .parquet"),
    ],
)
def test_user_errors_are_one_line_exit_2(monkeypatch, capsys, tmp_path, args, needle):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2
    assert needle in err
    assert err.strip().count("\n") == 0
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_hypotheses_json(monkeypatch, capsys, small_fit_file):
    # The small fit fails its ESS check (test_fit): no verdicts, exit 1, the JSON still printed.
    code, out, err = run_cli(monkeypatch, capsys, "hypotheses", str(small_fit_file), "--format", "json")
    assert code == 1 and "ESS" in err
    assert {r["verdict"] for r in json.loads(out)} <= {"unreliable", "not testable"}
    code, out, _ = run_cli(
        monkeypatch, capsys, "hypotheses", str(small_fit_file), "--format", "json", "--allow-unconverged"
    )
    assert code == 0
    rows = json.loads(out)
    ids = [r["id"] for r in rows]
    assert {"BAL-1", "BW-1", "COND-1", "IDEO-1"} <= set(ids)
    for key in ("id", "verdict", "statement", "mean", "hdi_low", "hdi_high", "p_direction", "reason"):
        assert key in rows[0]
    assert (small_fit_file.parent / "hypotheses.csv").exists()


def test_bad_rope_is_rejected(monkeypatch, capsys, small_fit_file):
    code, _, err = run_cli(monkeypatch, capsys, "hypotheses", str(small_fit_file), "--rope", "1.2,1.1")
    assert code == 2 and "--rope" in err


def test_simulate_then_fit_via_cli(monkeypatch, capsys, tmp_path):
    panel = tmp_path / "world.parquet"
    code, out, _ = run_cli(monkeypatch, capsys, "simulate", "--world", "null", "--states", "8", "--years", "5",
                           "--seed", "3", "--out", str(panel))
    assert code == 0 and panel.exists()
    truth = json.loads(panel.with_suffix(".truth.json").read_text())
    assert truth["world"] == "null"
    assert all(v == 0.0 for k, v in truth["truth"].items() if k.startswith("gamma_")), truth["truth"]
    code, out, err = run_cli(monkeypatch, capsys, "fit", "balance_of_power", "--data", str(panel),
                             "--draws", "60", "--tune", "60", "--chains", "2", "--out", str(tmp_path / "runs"))
    assert code == 0, err
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("balance_of_power-world-")
    assert (runs[0] / "fit.nc").exists() and (runs[0] / "summary.csv").exists()
    assert "R-hat" in out and "fit written to" in out
    # 60 draws cannot pass the ESS threshold: the warning must be loud.
    assert "convergence checks failed" in out


def test_summary_and_convergence_print_whole_bracketed_labels(monkeypatch, capsys):
    """Labels like tau_beta[intent] are text, not Rich markup, and long names are not cut."""
    import pandas as pd
    from rich.console import Console

    from walt_bayes.cli import _fit_output as cli
    from walt_bayes.fit.diagnostics import Convergence

    monkeypatch.setattr(cli, "console", Console(file=sys.stdout, width=80))
    row = {"mean": 0.2, "sd": 0.1, "hdi94_lb": 0.0, "hdi94_ub": 0.4, "ess_bulk": 900.0, "ess_tail": 800.0, "r_hat": 1.02}
    summary = pd.DataFrame([row, row], index=["tau_beta[intent]", "gamma_partner_x_weak_x_major"])
    cli.print_summary(summary)
    conv = Convergence(max_rhat=1.02, min_ess_bulk=900, min_ess_tail=800, divergences=0, draws=10, chains=2,
                       worst_rhat="tau_beta[intent]", worst_ess="tau_beta[intent]",
                       problems=["R-hat 1.020 > 1.01 (tau_beta[intent])"])
    cli.print_convergence(conv)
    out = capsys.readouterr().out
    assert out.count("tau_beta[intent]") == 4  # table row, problem line, worst R-hat and worst ESS
    assert "gamma_partner_x_weak_x_major" in out  # one line: the log file is not 80 columns wide
