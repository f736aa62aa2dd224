"""Output helpers for report cells: escaped HTML tables and text, embedded PNG figures.

Every string that may come from a data file or a fit (state names, spec
text, citations, notes) goes through :func:`html.escape` here, so a data
file cannot inject markup or script into a report.  Figures are shown as PNG
bytes (``image/png`` outputs), which both the built-in exporter and Quarto
embed in the HTML.
"""

from __future__ import annotations

import html
import io
import math
import os
import warnings

import numpy as np
import pandas as pd

#: Resolution of report figures.
DPI = 96

VERDICT_CLASS = {
    "supported": "v-supported",
    "contradicted": "v-contradicted",
    "practically null": "v-null",
    "inconclusive": "v-inconclusive",
    "not testable": "v-untestable",
    # No verdict (the fit failed its convergence checks): styled like "not testable" until the
    # stylesheet has a rule of its own for v-unreliable.
    "unreliable": "v-untestable v-unreliable",
}


def setup() -> None:
    """Quiet, headless kernel settings for a report (called by the first cell)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib  # lazy: matplotlib (a second), after MPLBACKEND is set above

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    matplotlib.rcParams.update({"figure.dpi": DPI, "savefig.dpi": DPI, "font.size": 9})
    warnings.filterwarnings("ignore")
    pd.set_option("display.precision", 3)


def _display(obj) -> None:
    # lazy: IPython (seconds) is there in a report's kernel, not where study findings use esc()
    from IPython.display import display

    display(obj)


def raw(text: str) -> None:
    """Show trusted HTML built by these helpers."""
    # lazy: IPython (seconds) is there in a report's kernel, not where study findings use esc()
    from IPython.display import HTML

    _display(HTML(text))


def esc(value) -> str:
    """Escaped text of any value."""
    return html.escape(str(value), quote=True)


def fmt(value, digits: int = 2) -> str:
    """A number for a table cell (— for missing)."""
    if value is None:
        return "—"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "—"
        return f"{value:,.{digits}f}"
    return str(value)


def figure(fig, alt: str = "") -> None:
    """Show a matplotlib figure as an embedded PNG and close it."""
    import matplotlib.pyplot as plt  # lazy: matplotlib (a second), after setup() chose Agg

    # lazy: IPython (seconds) is there in a report's kernel, not where study findings use esc()
    from IPython.display import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    _display(Image(data=buf.getvalue(), format="png", metadata={"alt": alt} if alt else None))


def table(
    df: pd.DataFrame, digits: dict | int = 2, classes: dict | None = None, caption: str = ""
) -> None:
    """Show a DataFrame as an escaped HTML table.

    ``digits`` maps columns to decimals (or one number for all); ``classes`` maps a
    column to a function from cell value to a CSS class.
    """
    raw(table_html(df, digits, classes, caption))


def table_html(
    df: pd.DataFrame, digits: dict | int = 2, classes: dict | None = None, caption: str = ""
) -> str:
    """The HTML of :func:`table`."""
    classes = classes or {}
    out = ['<div class="wb-scroll"><table class="wb-table">']
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append(
        "<thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in df.columns) + "</tr></thead><tbody>"
    )
    for _, row in df.iterrows():
        cells = []
        for col in df.columns:
            d = digits.get(col, 2) if isinstance(digits, dict) else digits
            v = row[col]
            cls = classes[col](v) if col in classes else ""
            num = isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
            attr = f' class="{esc(cls)}{" num" if num else ""}"' if (cls or num) else ""
            cells.append(f"<td{attr}>{esc(fmt(v, d))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def facts(items: dict) -> None:
    """Show a two-column list of labelled facts."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(fmt(v))}</td></tr>" for k, v in items.items())
    raw(f'<table class="wb-facts"><tbody>{rows}</tbody></table>')


def text(*paragraphs: str) -> None:
    """Show plain-text paragraphs (escaped)."""
    raw("".join(f"<p>{esc(p)}</p>" for p in paragraphs))


def bullets(items, ordered: bool = False) -> None:
    """Show a list of plain-text items (escaped)."""
    tag = "ol" if ordered else "ul"
    raw(f"<{tag}>" + "".join(f"<li>{esc(i)}</li>" for i in items) + f"</{tag}>")


def callout(message: str, kind: str = "warning") -> None:
    """Show a highlighted note (``warning``, ``ok`` or ``note``)."""
    raw(f'<div class="wb-callout wb-{esc(kind)}">{esc(message)}</div>')


def code(source: str) -> None:
    """Show text verbatim (e.g. a spec's TOML), escaped."""
    raw(f'<pre class="wb-verbatim">{esc(source)}</pre>')


def verdict_class(value) -> str:
    return VERDICT_CLASS.get(str(value), "")


def evidence(table: pd.DataFrame, caption: str = "Evidence for Walt's hypotheses") -> None:
    """Show an evidence table (:func:`~walt_bayes.hypotheses.table.evidence_table`), coloured.

    A row's mean and HDI bounds share one fixed-point format with about three significant
    digits of the largest (quantities are on different scales: log-odds coefficients,
    probability-scale marginal effects, shares; :func:`~walt_bayes.hypotheses.table.row_numbers`,
    as in the CLI); P(direction) and BF10 keep three significant digits.  A fit that failed
    its convergence checks gets a warning above the table; the notes in
    ``table.attrs["notes"]`` (thresholds, how effects were computed) follow it.
    """
    # lazy: walt_bayes.hypotheses.table imports ArviZ and xarray (seconds)
    from walt_bayes.hypotheses.table import convergence_banner, row_numbers
    from walt_bayes.hypotheses.table import fmt as sig  # lazy: as above (ArviZ)

    banner = convergence_banner(table)
    if banner:
        callout("Warning: " + banner + ".")
    rows = []
    for _, r in table.iterrows():
        reason = str(r.get("reason", "") or "")
        if r["verdict"] == "unreliable":  # the failing checks are in the warning above the table
            reason = "no verdict: the fit failed its convergence checks"
        note = str(r.get("note", "") or "")
        words = (
            str(r["statement"])
            + (f" — {reason}" if reason else "")
            + (f" ({note})" if note else "")
        )
        mean, hdi = row_numbers(r["mean"], r["hdi_low"], r["hdi_high"])
        row = {
            "id": r["id"],
            "verdict": r["verdict"],
            "mean": mean,
            "94% HDI": hdi,
            "P(direction)": sig(r["p_direction"]),
            "BF10": sig(r["bayes_factor"]),
            "predicted": r.get("direction", ""),
        }
        if "scale" in table.columns:
            row["scale"] = r.get("scale", "") or ""
        row["statement / reason"] = words
        rows.append(row)
    raw(table_html(pd.DataFrame(rows), classes={"verdict": verdict_class}, caption=caption))
    notes = list(table.attrs.get("notes") or [])
    if not notes:
        # lazy: walt_bayes.hypotheses.verdicts imports ArviZ (seconds)
        from walt_bayes.hypotheses.verdicts import Thresholds

        notes = [Thresholds().describe()]
    notes.append(
        "BF10: Savage–Dickey Bayes factor of a single coefficient against zero "
        "(— where not defined)."
    )
    text(*notes)
