"""The findings report of a study: ``reports/findings.qmd`` rendered to one self-contained HTML file.

:func:`render_findings` renders the template with the study's output folder as its only
parameter, through :func:`walt_bayes.report.render.render_qmd` (``quarto render`` when
Quarto is installed, else a Jupyter kernel and the package's own HTML export).  The
report reads the tables :func:`walt_bayes.study.run.run_study` wrote (and, for the
figure of balancing by state strength, a few of the cells' fit files); nothing is refitted.

The helpers below build the report's HTML tables, so that the template stays short.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from walt_bayes.study.results import StudyResult, load_results

TEMPLATE = "findings.qmd"
#: Variants whose fit draws the balancing-by-strength figure, in order of preference.
PROFILE_VARIANTS = ("balance_of_threat", "full", "balance_of_power")


def render_findings(
    study_out_dir: str | Path,
    out_html: str | Path | None = None,
    *,
    engine: str = "auto",
    progress: bool = True,
) -> Path:
    """Render the findings report of a finished study.

    Parameters
    ----------
    study_out_dir : path
        The study's output folder (``run_study(out=…)``; it holds ``study.json``).
    out_html : path, optional
        The HTML file (default ``<study_out_dir>/findings.html``), or ``.ipynb`` for the
        executed notebook.
    engine : {"auto", "jupyter", "quarto"}
        As :func:`walt_bayes.report.render.render_report`.
    progress : bool
        Show progress on stderr.

    Returns
    -------
    pathlib.Path
        The file written (atomically: a failing cell leaves none).

    Raises
    ------
    WaltError
        Not a study folder; ReportError for a failing report cell.
    """
    # lazy: walt_bayes.report.render imports nbformat (seconds)
    from walt_bayes.report.render import render_qmd, template_path

    folder = Path(study_out_dir).expanduser().resolve()
    load_results(folder)  # a clear error before a kernel starts
    out = Path(out_html) if out_html is not None else folder / "findings.html"
    return render_qmd(template_path(TEMPLATE), {"study_dir": str(folder)}, out, engine=engine,
                      progress=progress)


# ------------------------------------------------------------------ report helpers
def _fmt(x, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.{digits}f}"


def _estimate(r) -> str:
    # lazy: walt_bayes.hypotheses.table imports ArviZ and xarray (seconds)
    from walt_bayes.hypotheses.table import row_numbers

    if not isinstance(r["mean"], int | float) or not math.isfinite(float(r["mean"])):
        return ""
    mean, interval = row_numbers(r["mean"], r["hdi_low"], r["hdi_high"])
    return f"{mean} {interval}"


def setting_header(cell: pd.Series) -> str:
    """A column header of the matrix: the setting, and its convergence on a line of its own."""
    # lazy: the walt_bayes.report package imports nbformat (walt_bayes.report.render)
    from walt_bayes.report.show import esc

    status = str(cell.get("status", ""))
    if status == "failed":
        conv = '<span class="v-contradicted">fit failed</span>'
    elif _truthy(cell.get("converged")):
        conv = (f'<span class="v-supported">converged</span><br>R-hat {_fmt(cell["max_rhat"], 3)}, '
                f'ESS {_fmt(cell["min_ess_bulk"], 0)}')
    else:
        conv = (f'<span class="v-contradicted">not converged</span><br>R-hat {_fmt(cell["max_rhat"], 3)}, '
                f'ESS {_fmt(cell["min_ess_bulk"], 0)}, {_fmt(cell["divergences"], 0)} div.')
    scale = f"×{float(cell['prior_scale']):g}"
    return (f"<b>{esc(cell['variant'])}</b><br>{esc(cell['data'])}<br>{esc(cell['outcome'])} · "
            f"prior {scale} · seed {esc(cell['seed'])}<br>{conv}")


def _truthy(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() == "true"
    return bool(v) and v == v


def matrix_html(result: StudyResult, caption: str = "") -> str:
    """The hypothesis × setting matrix as an HTML table, each cell coloured by its verdict."""
    # lazy: the walt_bayes.report package imports nbformat (walt_bayes.report.render)
    from walt_bayes.report.show import esc, verdict_class

    m = result.matrix
    cells = result.cells.set_index("cell")
    order = list(dict.fromkeys(m["cell"]))
    out = ['<div class="wb-scroll"><table class="wb-table wb-matrix">']
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append("<thead><tr><th>hypothesis</th>")
    out.extend(f"<th>{setting_header(cells.loc[c])}</th>" for c in order)
    out.append("</tr></thead><tbody>")
    for hid, g in m.groupby("id", sort=False):
        by_cell = g.set_index("cell")
        out.append(f"<tr><th>{esc(hid)}</th>")
        for c in order:
            r = by_cell.loc[c]
            verdict = str(r["verdict"])
            title = f' title="{html.escape(str(r["reason"]), quote=True)}"' if r["reason"] else ""
            est = _estimate(r)
            out.append(f'<td class="{esc(verdict_class(verdict))}"{title}>{esc(verdict)}'
                       + (f"<br><small>{esc(est)}</small>" if est else "") + "</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def profile_fits(result: StudyResult) -> dict[str, tuple[Path, bool]]:
    """For each data set and measure, the fit that draws the strength figure: the preferred
    variant of :data:`PROFILE_VARIANTS` at the smallest prior scale and first seed."""
    cells = result.cells[result.cells["status"] != "failed"]
    chosen: dict[str, tuple[Path, bool]] = {}
    for (data, outcome), g in cells.groupby(["data", "outcome"], sort=False):
        for variant in PROFILE_VARIANTS:
            v = g[g["variant"] == variant]
            if v.empty:
                continue
            v = v.sort_values(["prior_scale", "seed"])
            row = v.iloc[0]
            title = f"{variant} · {data} · {outcome}"
            chosen[title] = (result.out / "cells" / row["cell"] / "fit.nc", _truthy(row["converged"]))
            break
    return chosen


def strength_profiles(result: StudyResult) -> dict[str, tuple[pd.DataFrame, bool]]:
    """:func:`walt_bayes.study.figures.strength_profile` of every :func:`profile_fits` fit."""
    # lazy: walt_bayes.fit.loaded imports ArviZ, xarray and PyMC (through walt_bayes.spec)
    from walt_bayes.fit.loaded import open_fit

    # lazy: walt_bayes.study.figures imports PyMC (through walt_bayes.study.plan)
    from walt_bayes.study.figures import strength_profile

    out = {}
    for title, (path, ok) in profile_fits(result).items():
        prof = strength_profile(open_fit(path))
        if prof is not None and len(prof):
            out[title] = (prof, ok)
    return out


__all__ = [
    "matrix_html",
    "profile_fits",
    "render_findings",
    "setting_header",
    "strength_profiles",
]
