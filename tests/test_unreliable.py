"""No verdict from a fit that failed its convergence checks (``unreliable``), and evidence-table
numbers that read right (a row's mean and HDI bounds in one fixed-point format).

Fast: fake posteriors stored like fits, no sampling.
"""

from __future__ import annotations

import io
import json
import re
import sys

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from walt_bayes.hypotheses.table import (
    convergence_problems,
    evidence_table,
    format_row,
    row_numbers,
)
from walt_bayes.hypotheses.verdicts import (
    CONTRADICTED,
    JUDGED,
    NOT_TESTABLE,
    SUPPORTED,
    UNRELIABLE,
    VERDICTS,
    combine,
)

PROBLEMS = ["bulk ESS 250 < 400 (gamma_shared)", "3 divergent transitions"]
FAILED = {"ok": False, "problems": PROBLEMS, "max_rhat": 1.004, "divergences": 3}
PASSED = {"ok": True, "problems": [], "max_rhat": 1.002, "divergences": 0}
#: BAL-1 supported, BW-1 contradicted, COND-1 supported (COND-1b, reported beside it, not
#: testable), IDEO-1, BAL-2 and COND-4 not testable; COND-3 has two judged parts (both supported).
PARAMS = {
    "gamma_shared": (1.0, 0.2),
    "gamma_partner": (-0.7, 0.2),
    "gamma_shared_x_support": (0.6, 0.1),
    "gamma_shared_x_support_sq": (-0.6, 0.1),
}


def fake_fit(convergence: dict | None, posterior: dict | None = None) -> xr.DataTree:
    """A fake posterior (and prior) with the ``convergence`` attribute a fit stores (none: old/fake)."""
    rng = np.random.default_rng(3)
    post = posterior or {k: rng.normal(m, s, size=(2, 500)) for k, (m, s) in PARAMS.items()}
    prior = {k: rng.normal(0, 1, size=(1, 2000)) for k in post}
    tree = az.from_dict({"posterior": post, "prior": prior})
    if convergence is not None:
        tree.attrs["convergence"] = json.dumps(convergence)
    return tree


def saved_fit(folder, convergence: dict | None, posterior: dict | None = None):
    """A fake fit with every group and attribute :func:`load_fit` checks, saved as ``folder/fit.nc``."""
    from walt_bayes.fit.fitfile import FORMAT, save_fit

    fake = fake_fit(convergence, posterior)
    n = fake["posterior"].sizes["draw"]
    tree = xr.DataTree.from_dict({
        "posterior": fake["posterior"].to_dataset(),
        "prior": fake["prior"].to_dataset(),
        "sample_stats": xr.Dataset({"diverging": (("chain", "draw"), np.zeros((2, n), dtype=bool))}),
        "log_likelihood": xr.Dataset({"alliance": (("chain", "draw", "obs"), np.zeros((2, n, 3)))}),
        "observed_data": xr.Dataset({"alliance": ("obs", np.array([0, 1, 0]))}),
        "constant_data": xr.Dataset(),
    })
    tree.attrs.update({
        "format": FORMAT, "spec_name": "fake", "spec_toml": "", "data_name": "none",
        "data_sha256": "0" * 64, "seed": 1, "versions": json.dumps({}),
    })
    if convergence is not None:
        tree.attrs["convergence"] = json.dumps(convergence)
    folder.mkdir(parents=True, exist_ok=True)
    save_fit(tree, folder / "fit.nc")
    return folder


IDS = ["BAL-1", "BW-1", "COND-1", "IDEO-1", "BAL-2", "COND-3", "COND-4"]  # rows COND-1b, COND-3a/b too


@pytest.fixture(scope="module")
def converged_table():
    return evidence_table(fake_fit(PASSED), ids=IDS).set_index("id")


# ------------------------------------------------------------------ (a) the library
def test_unconverged_fit_gives_unreliable_for_every_judged_row(converged_table):
    table = evidence_table(fake_fit(FAILED), ids=IDS)
    t = table.set_index("id")
    assert list(t.index) == list(converged_table.index)
    judged = converged_table["verdict"].isin(JUDGED)
    # The fake fit has judged rows of each kind and untestable ones, single- and multi-part.
    assert {SUPPORTED, CONTRADICTED} <= set(converged_table["verdict"]) and (~judged).any()
    assert converged_table.loc["COND-3", "verdict"] == SUPPORTED  # combined from two judged parts
    for hid in t.index:
        if judged[hid]:
            assert t.loc[hid, "verdict"] == UNRELIABLE, hid
            assert all(p in t.loc[hid, "reason"] for p in PROBLEMS), hid
            assert "convergence" in t.loc[hid, "reason"]
        else:  # not testable rows are kept as they are, reason and all
            assert t.loc[hid, "verdict"] == NOT_TESTABLE, hid
            assert t.loc[hid, "reason"] == converged_table.loc[hid, "reason"], hid
    # The posterior figures are still there; only the verdict is withheld.
    np.testing.assert_allclose(t["mean"].astype(float), converged_table["mean"].astype(float), equal_nan=True)
    assert "COND-3a unreliable" in t.loc["COND-3", "note"]
    assert table.attrs["convergence_problems"] == PROBLEMS and not table.attrs["verdicts_as_computed"]


def test_multi_part_hypothesis_that_is_not_testable_stays_so():
    """COND-3 without its quadratic term: not testable as a whole, its linear part unreliable."""
    rng = np.random.default_rng(1)
    tree = fake_fit(FAILED, {"gamma_shared_x_support": rng.normal(0.6, 0.1, size=(2, 500))})
    t = evidence_table(tree, ids=["COND-3"]).set_index("id")
    assert t.loc["COND-3", "verdict"] == NOT_TESTABLE and "COND-3b" in t.loc["COND-3", "reason"]
    assert t.loc["COND-3a", "verdict"] == UNRELIABLE and PROBLEMS[0] in t.loc["COND-3a", "reason"]
    assert t.loc["COND-3b", "verdict"] == NOT_TESTABLE


def test_allow_unconverged_keeps_the_verdicts_as_computed_and_flags_the_table(converged_table):
    table = evidence_table(fake_fit(FAILED), ids=IDS, allow_unconverged=True)
    t = table.set_index("id")
    assert t["verdict"].tolist() == converged_table["verdict"].tolist()
    assert UNRELIABLE not in set(t["verdict"])
    assert table.attrs["convergence_problems"] == PROBLEMS and table.attrs["verdicts_as_computed"]


def test_unreadable_or_bare_failure_counts_as_failed():
    assert convergence_problems(fake_fit({"ok": False})) == ["convergence checks failed"]
    tree = fake_fit(None)
    tree.attrs["convergence"] = "{not json"
    assert convergence_problems(tree)
    assert evidence_table(tree, ids=["BAL-1"]).loc[0, "verdict"] == UNRELIABLE


def test_unreliable_is_a_verdict_and_wins_a_conjunction():
    assert UNRELIABLE == "unreliable" and UNRELIABLE in VERDICTS
    assert combine([SUPPORTED, UNRELIABLE]) == UNRELIABLE
    assert combine([CONTRADICTED, UNRELIABLE]) == UNRELIABLE
    assert combine([UNRELIABLE, UNRELIABLE]) == UNRELIABLE


def test_report_shows_unreliable_with_a_warning(monkeypatch):
    from walt_bayes.report import quantities as q
    from walt_bayes.report import show

    shown = []
    monkeypatch.setattr(show, "_display", lambda obj: shown.append(obj))
    table = evidence_table(fake_fit(FAILED), ids=IDS)
    show.evidence(table)
    html = "".join(getattr(obj, "data", "") or "" for obj in shown)
    assert "v-unreliable" in html and ">unreliable<" in html and "bulk ESS 250 &lt; 400" in html
    assert ">supported<" not in html and ">contradicted<" not in html
    text = " ".join(q.plain_summary(table, FAILED))
    assert "no verdict" in text and "evidence supports" not in text and "unreliable" in text


# ------------------------------------------------------------------ (c) converged fits
@pytest.mark.parametrize("convergence", [PASSED, None], ids=["ok", "no-attribute"])
def test_converged_or_unrecorded_fit_keeps_its_verdicts(converged_table, convergence):
    table = evidence_table(fake_fit(convergence), ids=IDS)
    t = table.set_index("id")
    assert t.loc["BAL-1", "verdict"] == SUPPORTED and t.loc["BW-1", "verdict"] == CONTRADICTED
    assert t["verdict"].tolist() == converged_table["verdict"].tolist()
    assert table.attrs["convergence_problems"] == [] and not table.attrs["verdicts_as_computed"]
    again = evidence_table(fake_fit(convergence), ids=IDS, allow_unconverged=True)
    assert again["verdict"].tolist() == table["verdict"].tolist()


# ------------------------------------------------------------------ (b) the command line
def cli(monkeypatch, capsys, *args):
    from walt_bayes.cli import main

    monkeypatch.setattr(sys, "argv", ["walt-bayes", "hypotheses", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory):
    return saved_fit(tmp_path_factory.mktemp("failed") / "run", FAILED)


def _csv_verdicts(run) -> dict:
    frame = pd.read_csv(run / "hypotheses.csv", keep_default_na=False)
    return dict(zip(frame["id"], frame["verdict"], strict=True))


def test_cli_unconverged_fit_exits_1_naming_the_failing_checks(monkeypatch, capsys, failed_run):
    code, out, err = cli(monkeypatch, capsys, failed_run)
    assert code == 1
    assert err.strip().count("\n") == 0 and err.startswith("error:") and "Traceback" not in err
    assert all(p in err for p in PROBLEMS) and "--allow-unconverged" in err
    bal1 = next(line for line in out.splitlines() if " BAL-1 " in line)
    assert "unreliable" in bal1 and "supported" not in bal1
    csv = _csv_verdicts(failed_run)
    assert csv["BAL-1"] == csv["BW-1"] == UNRELIABLE and csv["IDEO-1"] == NOT_TESTABLE

    code, out, err = cli(monkeypatch, capsys, failed_run, "--format", "json")
    assert code == 1 and all(p in err for p in PROBLEMS)
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows["BAL-1"]["verdict"] == UNRELIABLE and PROBLEMS[0] in rows["BAL-1"]["reason"]
    assert rows["IDEO-1"]["verdict"] == NOT_TESTABLE

    code, out, err = cli(monkeypatch, capsys, failed_run, "--format", "csv")
    assert code == 1
    frame = pd.read_csv(io.StringIO(out), keep_default_na=False).set_index("id")
    assert frame.loc["BW-1", "verdict"] == UNRELIABLE

    code, out, err = cli(monkeypatch, capsys, failed_run, "--format", "markdown")
    assert code == 1
    assert re.search(r"^\| BAL-1 \| unreliable \|", out, flags=re.M)
    assert "WARNING" in out and PROBLEMS[0] in out

    # Bad input is still exit 2, before any verdict.
    code, _, err = cli(monkeypatch, capsys, failed_run, "--rope", "1.2,1.1")
    assert code == 2 and "--rope" in err and "convergence" not in err


def test_cli_allow_unconverged_shows_verdicts_under_a_banner(monkeypatch, capsys, failed_run):
    code, out, err = cli(monkeypatch, capsys, failed_run, "--allow-unconverged")
    assert code == 0, err
    assert "verdicts shown as computed, not reliable" in " ".join(out.split())
    assert PROBLEMS[0] in out
    bal1 = next(line for line in out.splitlines() if " BAL-1 " in line)
    assert "supported" in bal1
    assert out.index("verdicts shown as computed") < out.index(" BAL-1 ")  # the banner comes first
    assert _csv_verdicts(failed_run)["BAL-1"] == SUPPORTED  # the csv holds the verdicts as shown

    code, out, err = cli(monkeypatch, capsys, failed_run, "--allow-unconverged", "--format", "json")
    assert code == 0 and "verdicts shown as computed" in err
    assert {r["id"]: r["verdict"] for r in json.loads(out)}["BW-1"] == CONTRADICTED

    code, out, _ = cli(monkeypatch, capsys, failed_run, "--allow-unconverged", "--format", "markdown")
    assert code == 0 and re.search(r"^\| BAL-1 \| supported \|", out, flags=re.M)
    assert "verdicts shown as computed, not reliable" in out


def test_cli_converged_fit_exits_0_without_a_banner(monkeypatch, capsys, tmp_path):
    run = saved_fit(tmp_path / "run", PASSED)
    code, out, err = cli(monkeypatch, capsys, run, "--format", "markdown")
    assert code == 0 and not err
    assert re.search(r"^\| BAL-1 \| supported \|", out, flags=re.M)
    assert "WARNING" not in out and UNRELIABLE not in out
    # --allow-unconverged changes nothing for a fit that passed its checks.
    assert cli(monkeypatch, capsys, run, "--format", "markdown", "--allow-unconverged") == (0, out, "")


# ------------------------------------------------------------------ (d) numbers that read right
def test_row_format_is_fixed_point_from_the_rows_largest_magnitude():
    assert format_row([1e-4, -2.3e-05, 3e-04]) == ["0.000100", "-0.000023", "0.000300"]
    mean, hdi = row_numbers(1e-4, -2.3e-05, 3e-04)
    assert (mean, hdi) == ("0.000100", "[-0.000023, 0.000300]")
    assert row_numbers(0.003, -4.86e-05, 0.006) == ("0.00300", "[-0.00005, 0.00600]")
    assert row_numbers(1.234, 0.5, 2.0) == ("1.23", "[0.50, 2.00]")
    assert row_numbers(float("nan"), float("nan"), float("nan")) == ("—", "—")
    assert format_row([1.5e-4, -2e-5], sign=True) == ["+0.000150", "-0.000020"]


def _skewed_near_zero() -> dict:
    """Positive-skewed draws just above zero: an HDI from a tiny negative bound to 3e-4."""
    rng = np.random.default_rng(0)
    return {
        "gamma_shared": rng.gamma(1.2, 1e-4, size=(2, 4000)) - 2e-5,
        "gamma_partner": rng.normal(-0.7, 0.2, size=(2, 4000)),
    }


def test_cli_tables_show_tiny_bounds_without_exponents(monkeypatch, capsys, tmp_path):
    run = saved_fit(tmp_path / "run", PASSED, _skewed_near_zero())
    code, out, _ = cli(monkeypatch, capsys, run, "--format", "markdown")
    assert code == 0
    bal1 = next(line for line in out.splitlines() if line.startswith("| BAL-1 |"))
    mean, low, high = [c.strip() for c in bal1.split("|")[4:7]]  # (BF10 may use an exponent)
    assert re.fullmatch(r"0\.000\d\d\d", mean) and re.fullmatch(r"0\.000\d\d\d", high), bal1
    assert re.fullmatch(r"-0\.0000\d\d", low), bal1  # the lower bound's minus sign is visible
    code, out, _ = cli(monkeypatch, capsys, run)
    bal1 = next(line for line in out.splitlines() if " BAL-1 " in line)
    assert re.search(r" 0\.000\d\d\d\W+\[-0\.0000\d\d, 0\.000\d\d\d\] ", bal1), bal1


def test_report_evidence_and_summary_show_tiny_bounds_without_exponents(monkeypatch):
    from walt_bayes.report import quantities as q
    from walt_bayes.report import show

    shown = []
    monkeypatch.setattr(show, "_display", lambda obj: shown.append(obj))
    table = pd.DataFrame([{
        "id": "BAL-1", "verdict": "practically null", "statement": "s", "reason": "", "note": "",
        "mean": 1e-4, "hdi_low": -2.3e-05, "hdi_high": 3e-04, "p_direction": 0.9, "bayes_factor": 0.05,
        "direction": "> 0", "scale": "probability",
    }])
    show.evidence(table)
    html = "".join(getattr(obj, "data", "") or "" for obj in shown)
    assert "[-0.000023, 0.000300]" in html and ">0.000100<" in html
    assert not re.search(r"\de[-+]\d", html.replace(">0.05<", ""))
    text = " ".join(q.plain_summary(table))
    assert "+0.000100" in text and "-0.000023 to +0.000300" in text and not re.search(r"\de[-+]\d", text)
