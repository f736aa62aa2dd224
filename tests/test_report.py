"""Reports: .qmd parsing, posterior-derived quantities, HTML export and rendering of a small fit.

The browser check runs when Debian's ``chromium`` is installed (``apt-get install chromium``);
by hand::

    uv run walt-bayes report RUN_DIR --out /tmp/report.html
    chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 \
        --dump-dom file:///tmp/report.html 2>&1 >/dev/null | grep -i "CONSOLE"   # prints nothing
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from walt_bayes.errors import WaltError
from walt_bayes.report import quantities as q
from walt_bayes.report.qmd import QmdError, parse_qmd, read_qmd, to_notebook
from walt_bayes.report.render import ReportError, render_qmd, render_report, template_path

#: Section headings of the fit report (ids of the rendered headings).
FIT_SECTIONS = [
    "data",
    "sources-and-citations",
    "model",
    "specification",
    "priors",
    "prior-predictive-check",
    "diagnostics",
    "trace-plots",
    "rank-plots",
    "posterior-predictive-checks",
    "alliance-rate-overall",
    "by-year",
    "by-region",
    "calibration",
    "threat",
    "threat-over-time",
    "threat-network",
    "alliance-effects",
    "hypothesis-evidence",
    "what-the-evidence-says",
]

QMD = """---
title: "A test"
format:
  html:
    toc: true
execute:
  echo: false
---

```{python}
#| tags: [parameters]
name = "default"
count = 1
```

# Heading

Some *text*, and a fenced block that is not a cell:

```
```{python}
not a cell
```

```{python}
#| label: shout
#| fig-cap: "A caption"
print(name.upper() * count)
```
"""


# ------------------------------------------------------------------ qmd
def test_parse_qmd_front_matter_cells_and_options():
    doc = parse_qmd(QMD, "t.qmd")
    assert doc.front["title"] == "A test"
    assert doc.option("echo") is False and doc.html_option("toc") is True
    kinds = [c.kind for c in doc.cells]
    assert kinds == ["code", "markdown", "code"]
    assert doc.cells[0].options == {"tags": ["parameters"]}
    assert "not a cell" in doc.cells[1].source  # a plain fence stays Markdown
    assert doc.cells[2].label == "shout" and doc.cells[2].options["fig-cap"] == "A caption"
    assert doc.cells[2].source == "print(name.upper() * count)"
    assert doc.cells[2].line == QMD.splitlines().index(
        "#| label: shout"
    )  # 1-based line of its opener


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("---\ntitle: x\n", "never closed"),
        ("---\n[unbalanced\n---\n", "bad YAML front matter"),
        ("text\n```{python}\nx = 1\n", "never closed"),
        ("```{python}\n#| label: [\nx = 1\n```\n", "bad '#|' options"),
    ],
)
def test_parse_qmd_errors_are_one_line(text, needle):
    with pytest.raises(QmdError, match=re.escape(needle)) as err:
        parse_qmd(text, "bad.qmd")
    assert "\n" not in str(err.value)


def test_parameters_are_injected_as_literals_only():
    doc = parse_qmd(QMD, "t.qmd")
    evil = 'x"\nimport os; os.system("echo pwned")  # \'\n'
    nb = to_notebook(doc, {"name": evil, "count": 2})
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert nb.cells.index(injected[0]) == 1  # right after the parameters cell
    scope: dict = {}
    exec(
        compile(injected[0].source, "<injected>", "exec"), {"__builtins__": {}}, scope
    )  # no builtins needed
    assert scope == {"name": evil, "count": 2}


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"nope": 1}, "unknown report parameter 'nope'"),
        ({"name": {"a": 1}}, "not a plain value"),
        ({"count": float("nan")}, "not a finite number"),
    ],
)
def test_bad_parameters_are_refused(params, needle):
    with pytest.raises(QmdError, match=re.escape(needle)):
        to_notebook(parse_qmd(QMD, "t.qmd"), params)


@pytest.mark.parametrize(
    ("name", "param"), [("fit_report.qmd", "run_dir"), ("comparison_report.qmd", "run_dirs")]
)
def test_bundled_templates_parse(name, param):
    doc = read_qmd(template_path(name))
    assert doc.front["format"]["html"]["embed-resources"] is True
    nb = to_notebook(doc, {param: "x" if param == "run_dir" else ["x", "y"]})
    for cell in nb.cells:
        if cell.cell_type == "code":
            compile(cell.source, f"{name}:{cell.metadata['walt_bayes']['line']}", "exec")


# ------------------------------------------------------------------ quantities
@pytest.fixture(scope="module")
def report_fit(small_fit_file):
    return q.load_report_fit(small_fit_file)


def test_threat_draws_match_hand_computation(report_fit):
    fit = report_fit
    d = fit.design
    post = fit.tree["posterior"]
    tau = q.threat_draws(fit)
    assert tau.shape == (fit.n_draws, len(d.threat_X))
    assert np.all((tau > 0) & (tau < 1))
    row = len(d.threat_X) // 2
    lam = float(post["lambda_0"].isel(chain=1, draw=5))
    if "beta" in post.data_vars:
        beta = post["beta"].isel(chain=1, draw=5).sel(source=d.sources).values[d.threat_group[row]]
    else:
        beta = np.array([float(post[f"beta_{s}"].isel(chain=1, draw=5)) for s in d.sources])
    if d.source_states:  # the threatening state's own intercept
        lam += float(post["source_effect"].isel(chain=1, draw=5).values[d.threat_src[row]])
    expected = 1 / (1 + np.exp(-(lam + d.threat_X[row] @ beta)))
    assert tau[post.sizes["draw"] + 5, row] == pytest.approx(expected, rel=1e-10)


def test_threat_table_dyads_and_network(report_fit):
    fit = report_fit
    tab = q.threat_table(fit, max_draws=100)
    assert len(tab) == len(fit.design.threat_X)
    assert np.all(tab["hdi_low"] <= tab["mean"] + 1e-12) and np.all(
        tab["mean"] <= tab["hdi_high"] + 1e-12
    )
    dyads = q.strongest_dyads(fit, 3, max_draws=100)
    assert len(dyads) == 3
    series = q.dyad_threat_series(fit, dyads, max_draws=100)
    assert set(zip(series["source"], series["target"], strict=True)) == set(dyads)
    assert (
        series.groupby(["source", "target"])["year"]
        .apply(lambda y: y.is_monotonic_increasing)
        .all()
    )
    year = q.busiest_year(fit)
    net = q.threat_network(fit, year, top=5, max_draws=100)
    assert len(net) == 5 and (net["year"] == year).all()
    assert net["mean"].is_monotonic_decreasing
    with pytest.raises(ValueError, match="no threat rows"):
        q.threat_network(fit, 1066)


def test_parse_dyads():
    assert q.parse_dyads("651->666, 365 > 2;2→365") == [(651, 666), (365, 2), (2, 365)]
    assert q.parse_dyads("") == []
    with pytest.raises(ValueError, match="not 'SOURCE->TARGET'"):
        q.parse_dyads("Egypt->Israel")


def test_alliance_probability_matches_log_likelihood(report_fit):
    tree = report_fit.tree
    p = q.alliance_probability(tree)
    y = tree["observed_data"]["alliance"].values
    ll = q.stacked(tree["log_likelihood"]["alliance"])
    assert np.all((p >= 0) & (p <= 1))
    # The stored log-likelihood is float32 (7 significant digits).
    np.testing.assert_allclose(np.where(y == 1, np.log(p), np.log1p(-p)), ll, rtol=1e-5, atol=1e-6)


def test_predictive_rates_overall_by_year_and_region(report_fit):
    fit = report_fit
    overall = q.predictive_rates(fit)
    assert len(overall) == 1
    assert overall.loc[0, "observed"] == pytest.approx(fit.ally_y.mean())
    assert overall.loc[0, "hdi_low"] <= overall.loc[0, "mean"] <= overall.loc[0, "hdi_high"]
    by_year = q.predictive_rates(fit, by="year")
    assert list(by_year["group"]) == sorted(set(fit.design.ally_keys["year"]))
    assert by_year["n"].sum() == len(fit.ally_y)
    by_region = q.predictive_rates(fit, by="region")
    assert by_region["n"].sum() == len(fit.ally_y)
    assert set(by_region["group"]) <= set(fit.regions.values())
    prior = q.predictive_rates(fit, group="prior_predictive")
    assert prior.loc[0, "hdi_high"] > prior.loc[0, "hdi_low"]


def test_calibration_bins_cover_every_row(report_fit):
    tab = q.calibration_bins(report_fit, n_bins=10)
    assert tab["n"].sum() == len(report_fit.ally_y)
    assert np.all((tab["predicted"] >= tab["lower"]) & (tab["predicted"] <= tab["upper"]))
    assert 0 <= q.brier_score(report_fit) <= 0.25


def test_effects_weights_priors(report_fit):
    eff = q.effects_table(report_fit)
    assert "gamma_shared" in set(eff["parameter"]) and "gamma_partner" in set(eff["parameter"])
    np.testing.assert_allclose(eff["odds_ratio"], np.exp(eff["mean"]))
    weights = q.threat_weights(report_fit)
    assert list(weights["source"]) == report_fit.design.sources
    priors = q.priors_table(report_fit)
    assert (
        "mu=logit(observed alliance rate)" in priors.set_index("parameter").loc["mu_alpha", "prior"]
    )


def test_state_labels_embedded_and_fallback():
    names, abbs = q.state_labels("middle-east", [666, 999])
    assert names[666] == "Israel" and abbs[666] == "ISR"
    assert names[999] == "COW 999" and abbs[999] == "999"
    names, _ = q.state_labels("some-panel", [2])
    assert names[2] == "COW 2"


def _evidence(bal: str, bw: str) -> pd.DataFrame:
    rows = []
    for hid, verdict, mean in (
        ("BAL-1", bal, 0.8),
        ("BW-1", bw, -0.1),
        ("IDEO-1", "not testable", np.nan),
    ):
        rows.append(
            {
                "id": hid,
                "verdict": verdict,
                "mean": mean,
                "hdi_low": mean - 0.3,
                "hdi_high": mean + 0.3,
                "p_direction": 0.99,
                "statement": "s",
                "reason": "",
            }
        )
    return pd.DataFrame(rows)


def test_plain_summary_says_who_wins():
    text = " ".join(q.plain_summary(_evidence("supported", "contradicted")))
    assert (
        "balance against shared threats" in text
        and "1 supported, 1 contradicted, 1 not testable" in text
    )
    text = " ".join(q.plain_summary(_evidence("inconclusive", "supported")))
    assert "bandwagon with threatening partners" in text
    text = " ".join(
        q.plain_summary(
            _evidence("inconclusive", "inconclusive"), {"ok": False, "problems": ["R-hat"]}
        )
    )
    assert "do not settle" in text and "Caution" in text


# ------------------------------------------------------------------ HTML
def test_tables_and_text_are_escaped():
    from walt_bayes.report.show import table_html

    html = table_html(
        pd.DataFrame({"name": ["<script>alert(1)</script>"], "x": [1.23456]}), digits=2
    )
    assert "<script>" not in html and "&lt;script&gt;" in html and "1.23" in html


def test_export_embeds_images_and_escapes_markdown():
    from walt_bayes.report.export import notebook_to_html

    doc = parse_qmd(
        "---\ntitle: 'T <b>'\nexecute:\n  warning: false\n---\n\n"
        "## Part\n\n<script>alert(1)</script>\n",
        "t.qmd",
    )
    nb = to_notebook(doc)
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    code = nbformat.v4.new_code_cell("x", metadata={"walt_bayes": {"options": {"fig-cap": "cap"}}})
    code.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": png}),
        nbformat.v4.new_output("stream", name="stderr", text="a warning"),
        nbformat.v4.new_output("stream", name="stdout", text="<b>out</b>"),
    ]
    nb.cells.append(code)
    html = notebook_to_html(nb, doc)
    assert "<script" not in html and "&lt;script&gt;" in html
    assert f'src="data:image/png;base64,{png}"' in html and "<figcaption>cap</figcaption>" in html
    assert "a warning" not in html and "&lt;b&gt;out&lt;/b&gt;" in html
    assert "<title>T &lt;b&gt;</title>" in html and 'id="part"' in html


# ------------------------------------------------------------------ rendering
@pytest.fixture(scope="module")
def run_dir(small_fit_file, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "balance_of_threat-sim-test"
    run.mkdir()
    shutil.copyfile(small_fit_file, run / "fit.nc")
    return run


@pytest.fixture(scope="module")
def fit_report(run_dir):
    t0 = time.perf_counter()
    path = render_report([run_dir], progress=False)
    return path, time.perf_counter() - t0


def _images(html: str) -> list[str]:
    return re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", html)


def test_fit_report_is_self_contained_with_every_section(fit_report, run_dir):
    path, seconds = fit_report
    assert path == run_dir / "report.html" and path.exists()
    html = path.read_text(encoding="utf-8")
    for section in FIT_SECTIONS:
        assert f'id="{section}"' in html, section
    assert "Evidence for Walt&#x27;s hypotheses" in html and ">BAL-1<" in html and ">BW-1<" in html
    from walt_bayes.fit.diagnostics import check_convergence, summary_table
    from walt_bayes.fit.fitfile import load_fit

    tree = load_fit(run_dir)
    bfmi = check_convergence(tree, summary_table(tree)).bfmi
    assert len(bfmi) == 2 and "E-BFMI per chain (ArviZ): " + ", ".join(f"{b:.2f}" for b in bfmi) in html
    images = _images(html)
    assert len(images) >= 6
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # Nothing to fetch: no scripts, stylesheets, frames or remote URLs in attributes.
    assert not re.search(r"<(script|link|iframe|object|embed)\b", html)
    assert not re.search(r"\b(src|href)=\"(?!data:|#)", html)
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]  # no temporary files left
    assert seconds < 120


def test_failing_cell_is_named_and_leaves_no_html(tmp_path):
    qmd = tmp_path / "broken.qmd"
    qmd.write_text(
        "---\ntitle: broken\n---\n\n```{python}\n#| tags: [parameters]\nrun_dir = ''\n```\n\n"
        "## One\n\n"
        "```{python}\n#| label: fine\nx = 1\n```\n\n```{python}\n#| label: load-fit\n"
        "from walt_bayes.errors import FitFileError\n"
        "raise FitFileError(f'{run_dir}: no such fit file')\n```\n",
        encoding="utf-8",
    )
    out = tmp_path / "out" / "broken.html"
    with pytest.raises(ReportError) as err:
        render_qmd(
            qmd, {"run_dir": str(tmp_path / "missing")}, out, engine="jupyter", progress=False
        )
    message = str(err.value)
    assert (
        "'load-fit' (line 17)" in message
        and "FitFileError" in message
        and "no such fit file" in message
    )
    assert "\n" not in message
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))


def test_report_errors_for_bad_inputs(tmp_path, run_dir):
    with pytest.raises(WaltError, match="no such fit file"):
        render_report([tmp_path / "nothing"])
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "fit.nc").write_bytes(b"not hdf5")
    with pytest.raises(WaltError, match="cannot read fit file"):
        render_report([tmp_path / "fake"])
    with pytest.raises(ReportError, match=r"written as \.html"):
        render_report([run_dir], tmp_path / "r.pdf")
    with pytest.raises(QmdError, match="unknown report parameter 'colour'"):
        render_report([run_dir], tmp_path / "r.html", params={"colour": "red"})


def test_cli_report_one_line_error(monkeypatch, capsys, tmp_path):
    from walt_bayes.cli import main

    monkeypatch.setattr(sys, "argv", ["walt-bayes", "report", str(tmp_path / "no-run")])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "no such fit file" in err and len(err.strip().splitlines()) == 1


def test_quarto_is_used_when_on_path(tmp_path, run_dir, monkeypatch):
    """With ``quarto`` on PATH the report goes to ``quarto render`` (a stand-in records it)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "call.json"
    fake = bindir / "quarto"
    fake.write_text(
        f"#!{sys.executable}\nimport json, os, sys, pathlib\n"
        "args = sys.argv[1:]\n"
        "params = json.loads(pathlib.Path(args[args.index('--execute-params') + 1]).read_text())\n"
        "first = os.environ['JUPYTER_PATH'].split(os.pathsep)[0]\n"
        "spec = pathlib.Path(first, 'kernels', 'python3')\n"
        "kernel = json.loads((spec / 'kernel.json').read_text())\n"
        f"pathlib.Path({str(record)!r}).write_text(json.dumps({{'args': args, 'params': params, "
        "'kernel': kernel, 'python': os.environ['QUARTO_PYTHON']}))\n"
        "pathlib.Path(args[args.index('--output') + 1]).write_text('<html>quarto</html>')\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    out = render_report([run_dir], tmp_path / "q.html", progress=False)
    assert out.read_text() == "<html>quarto</html>"
    call = json.loads(record.read_text())
    assert call["args"][0] == "render" and call["args"][1].endswith("fit_report.qmd")
    assert "--output" in call["args"] and "embed-resources:true" in call["args"]
    assert call["params"] == {"run_dir": str(run_dir.resolve())}
    assert call["python"] == sys.executable
    kernel = call["kernel"]
    assert kernel["argv"][0] == sys.executable


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_report_opens_in_headless_chromium_without_js_errors(fit_report, tmp_path):
    def console(page: Path) -> list[str]:
        proc = subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--enable-logging=stderr",
                "--v=0",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-500:]
        assert "</html>" in proc.stdout or "</body>" in proc.stdout
        return [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]

    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>throw new Error('boom')</script></body></html>")
    assert any("boom" in line for line in console(broken))  # the check does see JavaScript errors
    assert console(fit_report[0]) == []


def test_comparison_report(run_dir, tmp_path):
    other = tmp_path / "balance_of_threat-sim-copy"
    other.mkdir()
    shutil.copyfile(run_dir / "fit.nc", other / "fit.nc")
    out = render_report([run_dir, other], tmp_path / "comparison.html", progress=False)
    html = out.read_text(encoding="utf-8")
    for section in (
        "the-fits",
        "predictive-accuracy",
        "hypothesis-verdicts-side-by-side",
        "shared-parameters",
        "posterior-predictive-checks",
        "what-the-comparison-says",
    ):
        assert f'id="{section}"' in html, section
    assert "balance_of_threat (balance_of_threat-sim-copy)" in html
    assert len(_images(html)) >= 2
    assert not re.search(r"<(script|link)\b", html)
