"""LaTeX output: escaping, booktabs structure, captions, the three commands, and (with pdflatex) a compile."""

from __future__ import annotations

import math
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from cli_runner import run_cli

from walt_bayes.hypotheses.table import COLUMNS as EVIDENCE_COLUMNS
from walt_bayes.hypotheses.verdicts import Thresholds, rope_from_odds_ratio
from walt_bayes.report.latex import (
    Caption,
    compare_latex,
    escape,
    evidence_latex,
    inline,
    latex_table,
    summary_latex,
)

NASTY = r"50% & $x_1$ {a} ~b ^c \d #e <f> |g --h"




def body_rows(tex: str) -> list[list[str]]:
    """The cells of each row between \\midrule and \\bottomrule (first table of ``tex``)."""
    lines = tex.splitlines()
    if r"\endfoot" in lines:  # longtable: the body follows the foot's definition
        start, end = lines.index(r"\endfoot"), lines.index(r"\end{longtable}")
    else:
        start, end = lines.index(r"\midrule"), lines.index(r"\bottomrule")
    rows = [ln for ln in lines[start + 1 : end] if ln.endswith(r"\\")]
    return [re.split(r"(?<!\\)&", ln.removesuffix(r"\\")) for ln in rows]


# ------------------------------------------------------------------ escaping
def test_escape_every_special_character():
    assert escape(NASTY) == (
        r"50\% \& \$x\_1\$ \{a\} \textasciitilde{}b \textasciicircum{}c \textbackslash{}d \#e "
        r"\textless{}f\textgreater{} \textbar{}g -{}-h"
    )
    # No special character is left bare: each is a command or follows a backslash.
    assert not re.search(
        r"(?<!\\)[&%$#_{}]",
        escape(NASTY)
        .replace("{}", "")
        .replace(r"\textasciitilde", "")
        .replace(r"\textasciicircum", "")
        .replace(r"\textbackslash", "")
        .replace(r"\textless", "")
        .replace(r"\textgreater", "")
        .replace(r"\textbar", ""),
    )


def test_escape_unicode_to_ascii_and_code_spans():
    assert escape("P ≥ 0.95 × 2 − 1, Δelpd ≤ 3 — done") == (
        r"P $\geq$ 0.95 $\times$ 2 $-$ 1, $\Delta$elpd $\leq$ 3 --- done"
    )
    assert inline("run `walt-bayes compare A_1 B` now_") == (
        r"run \texttt{walt-bayes compare A\_1 B} now\_"
    )


def test_caption_names_variant_data_thresholds_and_is_escaped():
    text = Caption(
        "Evidence", "balance_of_threat", "my_panel#1", "ROPE 0.90–1.10", "R-hat > 1.01"
    ).text()
    assert text == (
        r"Evidence. Variant \texttt{balance\_of\_threat}, data \texttt{my\_panel\#1}. ROPE 0.90--1.10. "
        r"\textbf{Warning:} R-hat \textgreater{} 1.01."
    )


def test_table_structure_and_leading_bracket():
    tex = latex_table([["[1, 2]", "x"], ["a", "b"]], ["h_1", "h2"], "lr", Caption("T"), "tab:t")
    lines = tex.splitlines()
    assert lines[0].startswith("% walt-bayes table; needs \\usepackage{booktabs}")
    order = [lines.index(k) for k in (r"\toprule", r"\midrule", r"\bottomrule", r"\end{tabular}")]
    assert order == sorted(order)
    assert r"h\_1 & h2 \\" in lines
    assert r"{}[1, 2] & x \\" in lines  # '\\' would read '[1, 2]' as its optional argument
    assert r"\begin{tabular}{lr}" in lines and r"\label{tab:t}" in lines


# ------------------------------------------------------------------ the three tables
def _summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mean": [0.123, -1.5, np.nan],
            "sd": [0.1, 0.2, 0.3],
            "hdi94_lb": [-0.05, -1.9, 0.0],
            "hdi94_ub": [0.3, -1.1, 1.0],
            "ess_bulk": [812.4, 90.0, 400],
            "ess_tail": [700, 95, 401],
            "r_hat": [1.0012, 1.03, 1.0],
        },
        index=["gamma_shared", "tau_beta[power]", "x&y%"],
    )


def test_summary_latex_values_and_caption():
    tex = summary_latex(
        _summary(), variant="balance_of_threat", data="middle-east", chains=4, draws=1000
    )
    rows = body_rows(tex)
    assert [c.strip() for c in rows[0]] == [
        "gamma\\_shared",
        "0.12",
        "0.10",
        "-0.05",
        "0.30",
        "812",
        "700",
        "1.001",
    ]
    assert [c.strip() for c in rows[1]][:2] == ["tau\\_beta[power]", "-1.50"]
    assert [c.strip() for c in rows[2]][:2] == [r"x\&y\%", "---"]
    assert "4 chains $\\times$ 1000 draws; 94\\% highest-density interval" in tex
    assert r"Variant \texttt{balance\_of\_threat}, data \texttt{middle-east}" in tex


def _compare(method: str) -> pd.DataFrame:
    loo = method == "loo"
    return pd.DataFrame(
        {
            "variant": ["balance_of_threat", "null"],
            "rank": [0, 1],
            "elpd": [-812.34, -830.0],
            "se": [20.1, 21.0],
            "elpd_diff": [0.0, 17.66],
            "dse": [0.0, 5.2],
            "weight": [0.91, 0.09],
            "p": [30.0, 10.0],
            "n_obs": [5138, 5138],
            "scheme": ["PSIS-LOO" if loo else "5-fold by dyad"] * 2,
            "rows": ["all", "all"],
            "pareto_k_max": [0.41, 0.8] if loo else [np.nan] * 2,
            "n_pareto_k_gt_0.7": [0, 3] if loo else [np.nan] * 2,
            "fold_divergences": [np.nan] * 2 if loo else [0, 2],
            "fold_max_rhat": [np.nan] * 2 if loo else [1.002, 1.011],
            "run": ["a", "b"],
            "data": ["middle-east", "middle-east"],
        }
    )


@pytest.mark.parametrize("method", ["loo", "kfold"])
def test_compare_latex_columns_follow_the_method(method):
    tex = compare_latex(_compare(method))
    head = next(ln for ln in tex.splitlines() if ln.startswith("variant &"))
    if method == "loo":
        assert (
            head
            == r"variant & elpd & SE & $\Delta$elpd & $\Delta$SE & weight & max k & k \textgreater{} 0.7 \\"
        )
        assert [c.strip() for c in body_rows(tex)[1]] == [
            "null",
            "-830.0",
            "21.0",
            "17.7",
            "5.2",
            "0.09",
            "0.80",
            "3",
        ]
    else:
        assert head.endswith(r"weight & divergences & max R-hat \\")
        assert [c.strip() for c in body_rows(tex)[0]][-2:] == ["0", "1.002"]
    assert "5,138 alliance dyad-years" in tex
    assert r"Variants \texttt{balance\_of\_threat, null}" in tex


def _evidence() -> pd.DataFrame:
    row = dict.fromkeys(EVIDENCE_COLUMNS, "")
    rows = [
        {
            **row,
            "id": "BAL-1",
            "family": "BAL",
            "verdict": "supported",
            "mean": 0.25,
            "hdi_low": 0.1,
            "hdi_high": 0.4,
            "p_direction": 0.999,
            "bayes_factor": 12.345,
            "direction": "> 0",
            "statement": NASTY,
            "pair": "BW-1",
        },
        {
            **row,
            "id": "BW-1",
            "family": "BW",
            "verdict": "contradicted",
            "mean": 0.25,
            "hdi_low": 0.1,
            "hdi_high": 0.4,
            "p_direction": 0.001,
            "bayes_factor": 12.345,
            "direction": "< 0",
            "statement": "Bandwagoning",
            "pair": "BAL-1",
            "reason": "see `walt-bayes compare A B`",
        },
        {
            **row,
            "id": "BAL-3a",
            "family": "BAL",
            "verdict": "not testable",
            "mean": math.nan,
            "hdi_low": math.nan,
            "hdi_high": math.nan,
            "p_direction": math.nan,
            "bayes_factor": math.nan,
            "direction": "> 0",
            "quantity": "AME ≈ p(1−p)",
            "part_of": "BAL-3",
        },
    ]
    table = pd.DataFrame(rows, columns=EVIDENCE_COLUMNS)
    table.attrs.update(convergence_problems=[], verdicts_as_computed=False)
    return table


def test_evidence_latex_rows_caption_and_pairs():
    thresholds = Thresholds(prob=0.9, rope=rope_from_odds_ratio(0.8, 1.25))
    tex = evidence_latex(
        _evidence(), variant="balance_of_threat", data="sim_1", thresholds=thresholds
    )
    first, pairs = tex.split(r"\end{longtable}")
    assert r"\begin{longtable}{lllrrrrp{0.27\linewidth}}" in first
    rows = body_rows(first + "\n\\end{longtable}")
    assert len(rows) == 3 and all(len(r) == 8 for r in rows)
    assert [c.strip() for c in rows[0]][:7] == [
        "BAL-1",
        "supported",
        r"\textgreater{} 0",
        "0.250",
        "[0.100, 0.400]",
        "0.999",
        "12.35",
    ]
    assert escape(NASTY) in rows[0][7]
    assert r"\texttt{walt-bayes compare A B}" in rows[1][7]
    assert [c.strip() for c in rows[2]][3:7] == ["---"] * 4
    assert r"$\hookrightarrow$ AME $\approx$ p(1$-$p)" in rows[2][7]
    caption = re.search(r"\\caption\{(.*)\}\\label", first).group(1)
    assert r"\texttt{balance\_of\_threat}" in caption and r"\texttt{sim\_1}" in caption
    assert r"P(direction) $\geq$ 0.9" in caption and "odds ratio 0.80--1.25 per SD" in caption
    assert "94\\% HDI" in caption
    assert "BAL-1 / BW-1 & supported & 0.250" in pairs


def test_every_table_is_ascii():
    tex = evidence_latex(_evidence(), variant="v", data="d", thresholds=Thresholds())
    tex += summary_latex(_summary(), variant="v", data="d") + compare_latex(_compare("loo"))
    assert tex.isascii()


# ------------------------------------------------------------------ the commands
def test_hypotheses_format_latex(monkeypatch, capsys, small_fit_file):
    from walt_bayes.fit.fitfile import load_fit
    from walt_bayes.hypotheses.table import evidence_table, format_row

    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "hypotheses",
        str(small_fit_file),
        "--format",
        "latex",
        "--allow-unconverged",
        "--rope",
        "0.85,1.15",
        "--prob",
        "0.9",
    )
    assert code == 0, err
    assert out.startswith("% walt-bayes table") and out.isascii()
    table = evidence_table(
        load_fit(small_fit_file),
        thresholds=Thresholds(prob=0.9, rope=rope_from_odds_ratio(0.85, 1.15)),
        allow_unconverged=True,
    )
    rows = body_rows(out.split(r"\end{longtable}")[0] + "\n\\end{longtable}")
    assert [r[0].strip() for r in rows] == [escape(i) for i in table["id"]]
    first = table.iloc[0]
    assert rows[0][3].strip() == format_row([first["mean"], first["hdi_low"], first["hdi_high"]])[0]
    assert "odds ratio 0.85--1.15 per SD" in out and r"P(direction) $\geq$ 0.9" in out
    assert r"Variant \texttt{balance\_of\_threat}, data \texttt{sim}" in out
    assert "Warning:" in out  # the small fit fails its ESS check


def test_summary_command_latex_matches_the_fit(monkeypatch, capsys, small_fit_file):
    from walt_bayes.fit.diagnostics import summary_table
    from walt_bayes.fit.fitfile import load_fit

    code, out, err = run_cli(
        monkeypatch, capsys, "summary", str(small_fit_file), "--format", "latex"
    )
    assert code == 0, err
    summary = summary_table(load_fit(small_fit_file))
    rows = body_rows(out)
    assert [r[0].strip() for r in rows] == [escape(n) for n in summary.index]
    assert [float(r[1]) for r in rows] == pytest.approx(summary["mean"].round(2).tolist(), abs=1e-9)
    assert "2 chains $\\times$ 150 draws" in out


def test_compare_format_latex_keeps_stdout_for_latex(monkeypatch, capsys, tmp_path):
    import walt_bayes.compare.table as compare_table

    table = _compare("loo")
    table.attrs["notes"] = ["a note"]
    monkeypatch.setattr(compare_table, "compare_runs", lambda *a, **k: table)
    code, out, err = run_cli(
        monkeypatch, capsys, "compare", "a", "b", "--format", "latex", "--out", str(tmp_path)
    )
    assert code == 0, err
    assert out == compare_latex(table)
    assert "a note" in err and "wall time" in err


# ------------------------------------------------------------------ pdflatex, where installed
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_tables_compile_with_pdflatex(tmp_path, small_fit_file):
    from walt_bayes.fit.fitfile import load_fit
    from walt_bayes.hypotheses.table import evidence_table

    real = evidence_table(load_fit(small_fit_file))  # real rows: reasons, notes, Unicode
    tex = (
        evidence_latex(real, variant="balance_of_threat", data="sim", thresholds=Thresholds())
        + evidence_latex(
            _evidence(), variant="balance_of_threat", data="sim_1#2", thresholds=Thresholds()
        )
        + summary_latex(_summary(), variant="v_1", data="d&d", chains=2, draws=3)
        + compare_latex(_compare("kfold"))
    )
    doc = tmp_path / "tables.tex"
    doc.write_text(
        "\\documentclass{article}\n\\usepackage[margin=1in]{geometry}\n"
        "\\usepackage{booktabs,longtable}\n\\begin{document}\n" + tex + "\\end{document}\n"
    )
    for _ in range(2):  # longtable settles its column widths on the second run
        proc = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "tables.pdf").stat().st_size > 1000
    log = (tmp_path / "tables.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log
