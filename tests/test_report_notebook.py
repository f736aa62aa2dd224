"""``walt-bayes report --out X.ipynb``: the executed notebook is saved instead of the HTML."""

from __future__ import annotations

import nbformat
import pytest

from walt_bayes.report.render import ReportError, render_qmd, render_report

QMD = (
    "---\ntitle: tiny\n---\n\n```{python}\n#| tags: [parameters]\nn = 1\n```\n\n"
    "## Numbers\n\n```{python}\n#| label: square\nprint(n * n)\n```\n"
)


def test_notebook_is_saved_executed_with_its_outputs(tmp_path):
    qmd = tmp_path / "tiny.qmd"
    qmd.write_text(QMD, encoding="utf-8")
    out = tmp_path / "out" / "tiny.ipynb"
    # engine auto: even where quarto is installed, a notebook comes from the Jupyter kernel.
    assert render_qmd(qmd, {"n": 7}, out, engine="auto", progress=False) == out
    nb = nbformat.read(out, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    injected = next(c for c in code if "injected-parameters" in c.metadata.get("tags", []))
    assert "n = 7" in injected.source
    square = next(c for c in code if "print(n * n)" in c.source)
    assert [o.get("text") for o in square.outputs] == ["49\n"]
    assert not (tmp_path / "out" / "tiny.html").exists()
    assert [p.name for p in out.parent.iterdir()] == ["tiny.ipynb"]  # no temporary left


def test_notebook_output_rules(tmp_path):
    qmd = tmp_path / "tiny.qmd"
    qmd.write_text(QMD, encoding="utf-8")
    with pytest.raises(ReportError, match="Jupyter engine, not quarto"):
        render_qmd(qmd, {}, tmp_path / "x.ipynb", engine="quarto", progress=False)
    import h5py

    from walt_bayes.fit.fitfile import FORMAT

    (tmp_path / "run").mkdir()
    with h5py.File(tmp_path / "run" / "fit.nc", "w") as fh:  # all check_run_dir reads
        fh.attrs["format"] = FORMAT
    with pytest.raises(ReportError, match=r"\.html \(or \.ipynb"):
        render_report([tmp_path / "run"], tmp_path / "x.pdf")
    assert not list(tmp_path.glob("x.*"))
