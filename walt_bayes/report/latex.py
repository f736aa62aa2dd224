"""LaTeX tables for papers: booktabs tables of the evidence, the posterior summary and the comparison.

Each function takes the DataFrame the package already builds (:func:`evidence_table`,
:func:`summary_table`, :func:`compare_runs`) and what the caption needs, and returns a
LaTeX fragment to ``\\input`` into a document that loads ``booktabs`` (and ``longtable``
for the evidence table, which runs over a page).  Nothing is printed or written here,
so a Python API can offer the same output as ``.to_latex()``.

Text is escaped here rather than by pandas' ``to_latex``: pandas escapes the ten special
characters but leaves ``<``, ``>`` and ``|`` (which the default OT1 font encoding prints
as ``¡``, ``¿`` and an em dash), ``--`` (an en-dash ligature), and the Unicode symbols our
tables use (``≥``, ``×``, ``−``, ``Δ`` …) that pdflatex cannot typeset without extra
packages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

#: LaTeX's special characters in text mode and how to typeset them literally.
_SPECIAL = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
    # OT1 (LaTeX's default font encoding) prints these as other glyphs.
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "`": r"\textasciigrave{}",
}
#: Unicode our tables use that pdflatex's default UTF-8 input cannot typeset, or typesets only
#: with a package: the commands of the LaTeX kernel instead.
_UNICODE = {
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "≠": r"$\neq$",
    "≈": r"$\approx$",
    "±": r"$\pm$",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "−": r"$-$",
    "→": r"$\rightarrow$",
    "↳": r"$\hookrightarrow$",
    "…": r"\ldots{}",
    "—": "---",
    "–": "--",
    "‘": "`",
    "’": "'",
    "“": "``",
    "”": "''",
    "α": r"$\alpha$",
    "β": r"$\beta$",
    "γ": r"$\gamma$",
    "δ": r"$\delta$",
    "Δ": r"$\Delta$",
    "λ": r"$\lambda$",
    "μ": r"$\mu$",
    "σ": r"$\sigma$",
    "τ": r"$\tau$",
}
MISSING = "---"
_CODE_SPAN = re.compile(r"`([^`]+)`")


def escape(text: object) -> str:
    """``text`` as LaTeX that typesets it literally (special characters, ``--``, Unicode symbols).

    Parameters
    ----------
    text : object
        Any value; it is converted with ``str``.

    Returns
    -------
    str
        Escaped text, e.g. ``50% of a_b & c`` gives ``50\\% of a\\_b \\& c``.
    """
    s = str(text)
    out = []
    for i, ch in enumerate(s):
        if ch == "-" and s[i + 1 : i + 2] == "-":
            out.append("-{}")  # break the en/em-dash ligature: '--rope' stays two hyphens
        else:
            out.append(_SPECIAL.get(ch) or _UNICODE.get(ch) or ch)
    return "".join(out)


def inline(text: object) -> str:
    """Like :func:`escape`, with Markdown code spans (```cmd```) set in ``\\texttt``."""
    parts = _CODE_SPAN.split(str(text))
    # split() alternates text and the code spans' contents.
    return "".join(rf"\texttt{{{escape(p)}}}" if i % 2 else escape(p) for i, p in enumerate(parts))


def number(x, digits: int = 2) -> str:
    """``x`` with ``digits`` decimals, or :data:`MISSING` for NaN/None."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return MISSING
    return f"{float(x):.{digits}f}"


def label_for(*parts: str) -> str:
    """A ``\\label`` key from ``parts``: ``tab:`` and only letters, digits, ``-`` and ``:``."""
    return "tab:" + "-".join(re.sub(r"[^A-Za-z0-9:-]+", "-", p).strip("-") for p in parts if p)


@dataclass(frozen=True)
class Caption:
    """What a table's caption says: a title, the variant(s), the data, and the thresholds.

    ``text()`` gives escaped LaTeX; every part but the title is optional.
    """

    title: str
    variant: str | None = None
    data: str | None = None
    thresholds: str | None = None
    warning: str | None = None

    def text(self) -> str:
        """The caption as escaped LaTeX: title, variant and data, thresholds, warning."""
        parts = [escape(self.title.rstrip("."))]
        if self.variant:
            noun = "Variants" if "," in self.variant else "Variant"
            parts.append(rf"{noun} \texttt{{{escape(self.variant)}}}")
        if self.data:
            parts.append(rf"data \texttt{{{escape(self.data)}}}")
        body = parts[0] + ". " + (", ".join(parts[1:]) + ". " if len(parts) > 1 else "")
        if self.thresholds:
            body += escape(self.thresholds.rstrip(".")) + ". "
        if self.warning:
            body += r"\textbf{Warning:} " + escape(self.warning.rstrip(".")) + ". "
        return body.strip()


def _row(cells: Sequence[str]) -> str:
    """One tabular row of LaTeX cells."""
    line = " & ".join(cells) + r" \\"
    # '\\' and '\midrule' read a following '[' as their optional argument.
    return "{}" + line if line.startswith("[") else line


def latex_table(
    rows: Iterable[Sequence[str]],
    headers: Sequence[str],
    align: str,
    caption: Caption,
    label: str,
    *,
    long: bool = False,
    size: str = "",
) -> str:
    """A booktabs table of cells that are LaTeX already (escape them with :func:`escape`).

    Parameters
    ----------
    rows : iterable of sequences of str
        The body, one sequence of LaTeX cells per row.
    headers : sequence of str
        Column headings (plain text; escaped here).
    align : str
        The tabular column specification, e.g. ``"lrr"`` or ``"llp{5cm}"``.
    caption : Caption
        The caption.
    label : str
        The ``\\label`` key.
    long : bool
        A ``longtable`` (breaks across pages, repeats the heading) instead of a floating
        ``table``.
    size : str
        A font size command for the table (``"footnotesize"``), with narrower column gaps.

    Returns
    -------
    str
        The LaTeX fragment, ending in a newline.
    """
    head = _row([escape(h) for h in headers])
    body = [_row(list(r)) for r in rows]
    packages = "booktabs, longtable" if long else "booktabs"
    lines = [f"% walt-bayes table; needs \\usepackage{{{packages}}}"]
    # A size change inside a group, so the text after the table keeps its own.
    fit = [rf"\{size}", r"\setlength{\tabcolsep}{3pt}"] if size else []
    if long:
        lines += [
            r"\begingroup",
            *fit,
            rf"\begin{{longtable}}{{{align}}}",
            rf"\caption{{{caption.text()}}}\label{{{label}}} \\",
            r"\toprule",
            head,
            r"\midrule",
            r"\endfirsthead",
            r"\toprule",
            head,
            r"\midrule",
            r"\endhead",
            r"\bottomrule",
            r"\endfoot",
            *body,
            r"\end{longtable}",
            r"\endgroup",
        ]
    else:
        lines += [
            r"\begin{table}[htbp]",
            r"\centering",
            *fit,
            rf"\caption{{{caption.text()}}}",
            rf"\label{{{label}}}",
            rf"\begin{{tabular}}{{{align}}}",
            r"\toprule",
            head,
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
        ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the evidence table
def thresholds_text(thresholds) -> str:
    """The verdict rule of a :class:`~walt_bayes.hypotheses.verdicts.Thresholds`, for a caption."""
    lo, hi = thresholds.rope
    return (
        f"Supported or contradicted: P(direction) ≥ {thresholds.prob:g} and the "
        f"{thresholds.ci_prob:.0%} HDI outside the ROPE (odds ratio {math.exp(lo):.2f}–"
        f"{math.exp(hi):.2f} per SD; share differences ±{thresholds.share_rope:g}); practically "
        "null: the HDI inside the ROPE; otherwise inconclusive"
    )


def _fixed(x) -> str:
    """About 3 significant digits in fixed point (as the CLI shows them), or :data:`MISSING`."""
    # lazy: walt_bayes.hypotheses.table imports ArviZ and xarray (seconds)
    from walt_bayes.hypotheses.table import fmt_fixed

    text = fmt_fixed(x)
    return MISSING if text == "—" else escape(text)


def _evidence_text(row) -> str:
    """The last column: the statement (or the part's quantity), the reason and the note."""
    # lazy: walt_bayes.hypotheses.verdicts imports ArviZ (seconds)
    from walt_bayes.hypotheses.verdicts import UNRELIABLE

    head = f"↳ {row['quantity']}" if row["part_of"] else row["statement"]
    # An unreliable row's reason (the failing checks) is in the caption: not repeated per row.
    reason = "" if row["verdict"] == UNRELIABLE else row["reason"]
    return " — ".join(t for t in (head, reason or "", row["note"] or "") if t)


def _evidence_row(r) -> list[str]:
    """One row of the evidence table as LaTeX cells."""
    # lazy: walt_bayes.hypotheses.table imports ArviZ and xarray (seconds)
    from walt_bayes.hypotheses.table import format_row

    # format_row: one fixed-point format for the mean and its bounds, '—' for NaN.
    mean, lo, hi = format_row([r["mean"], r["hdi_low"], r["hdi_high"]])
    hdi = MISSING if "—" in (lo, hi) else escape(f"[{lo}, {hi}]")
    return [
        escape(r["id"]),
        escape(r["verdict"]),
        escape(r["direction"]),
        MISSING if mean == "—" else escape(mean),
        hdi,
        number(r["p_direction"], 3),
        number(r["bayes_factor"], 2),
        inline(_evidence_text(r)),
    ]


def _pairs_latex(pairs: pd.DataFrame, variant: str, data: str) -> str:
    """The balancing/bandwagoning pairs (from ``pairs_table``) as a booktabs ``table``."""
    rows = [
        [
            escape(r["pair"]),
            escape(r["BAL verdict"]),
            _fixed(r["BAL mean"]),
            escape(r["BAL predicts"]),
            escape(r["BW verdict"]),
            _fixed(r["BW mean"]),
            escape(r["BW predicts"]),
            "yes" if r["same quantity"] else "no",
        ]
        for _, r in pairs.iterrows()
    ]
    return latex_table(
        rows,
        [
            "pair",
            "BAL verdict",
            "BAL mean",
            "BAL predicts",
            "BW verdict",
            "BW mean",
            "BW predicts",
            "same quantity",
        ],
        r"llrllrp{0.18\linewidth}l",
        Caption("Balancing versus bandwagoning, side by side", variant, data),
        label_for("pairs", variant, data),
        size="footnotesize",
    )


def evidence_latex(table: pd.DataFrame, *, variant: str, data: str, thresholds) -> str:
    """The evidence table (and the balancing/bandwagoning pairs) as booktabs LaTeX.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`walt_bayes.hypotheses.table.evidence_table`.
    variant, data : str
        The fit's variant and data set, named in the caption.
    thresholds : Thresholds
        The verdict settings the table was made with (ROPE, probability), in the caption.

    Returns
    -------
    str
        A ``longtable`` of every row, then (when the table has them) a ``table`` of the pairs.
    """
    # lazy: walt_bayes.hypotheses.table imports ArviZ and xarray (seconds)
    from walt_bayes.hypotheses.table import convergence_banner, pairs_table

    rows = [_evidence_row(r) for _, r in table.iterrows()]
    caption = Caption(
        "Evidence for Walt's hypotheses",
        variant,
        data,
        thresholds_text(thresholds),
        convergence_banner(table) or None,
    )
    ci = f"{thresholds.ci_prob:.0%} HDI"
    out = latex_table(
        rows,
        ["id", "verdict", "predicts", "mean", ci, "P(dir.)", "BF10", "statement / quantity"],
        r"lllrrrrp{0.27\linewidth}",
        caption,
        label_for("hypotheses", variant, data),
        long=True,
        size="footnotesize",
    )
    pairs = pairs_table(table)
    if pairs.empty:
        return out
    return out + "\n" + _pairs_latex(pairs, variant, data)


# ---------------------------------------------------------------- the posterior summary
def summary_latex(
    summary: pd.DataFrame,
    *,
    variant: str,
    data: str,
    chains: int | None = None,
    draws: int | None = None,
) -> str:
    """The posterior summary (mean, sd, HDI, ESS, R-hat per parameter) as a booktabs table.

    Parameters
    ----------
    summary : pandas.DataFrame
        From :func:`walt_bayes.fit.diagnostics.summary_table` (parameters as the index,
        ``hdi<P>_lb``/``hdi<P>_ub`` bound columns).
    variant, data : str
        Named in the caption.
    chains, draws : int, optional
        Chains and draws per chain, named in the caption when given.
    """
    # lazy: walt_bayes.fit.diagnostics imports ArviZ (seconds)
    from walt_bayes.fit.diagnostics import ESS_MIN, RHAT_MAX

    lb = next(c for c in summary.columns if str(c).endswith("_lb"))
    ub = next(c for c in summary.columns if str(c).endswith("_ub"))
    ci = re.sub(r"\D", "", str(lb)) or "94"
    rows = [
        [
            escape(name),
            number(r["mean"]),
            number(r["sd"]),
            number(r[lb]),
            number(r[ub]),
            number(r["ess_bulk"], 0),
            number(r["ess_tail"], 0),
            number(r["r_hat"], 3),
        ]
        for name, r in summary.iterrows()
    ]
    size = f"{chains} chains × {draws} draws; " if chains and draws else ""
    rule = (
        f"{size}{ci}% highest-density interval; convergence needs R-hat ≤ {RHAT_MAX} and "
        f"bulk and tail ESS ≥ {ESS_MIN}"
    )
    return latex_table(
        rows,
        ["parameter", "mean", "sd", "HDI low", "HDI high", "ESS bulk", "ESS tail", "R-hat"],
        "lrrrrrrr",
        Caption("Posterior summary", variant, data, rule),
        label_for("summary", variant, data),
        size="small",
    )


# ---------------------------------------------------------------- the comparison
_COMPARE_COLUMNS = {
    "elpd": ("elpd", 1),
    "se": ("SE", 1),
    "elpd_diff": ("Δelpd", 1),
    "dse": ("ΔSE", 1),
    "weight": ("weight", 2),
}
_LOO_COLUMNS = {"pareto_k_max": ("max k", 2), "n_pareto_k_gt_0.7": ("k > 0.7", 0)}
_KFOLD_COLUMNS = {"fold_divergences": ("divergences", 0), "fold_max_rhat": ("max R-hat", 3)}


def compare_latex(table: pd.DataFrame) -> str:
    """The ranked comparison of variants (elpd, SE, differences, weights) as a booktabs table.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`walt_bayes.compare.table.compare_runs`: one row per variant with its
        ``scheme``, ``n_obs`` and ``data``.  PSIS-LOO tables show the Pareto k columns,
        k-fold tables the refits' divergences and R-hat.
    """
    loo = "pareto_k_max" in table and table["pareto_k_max"].notna().any()
    columns = _COMPARE_COLUMNS | (_LOO_COLUMNS if loo else _KFOLD_COLUMNS)
    columns = {c: v for c, v in columns.items() if c in table}
    rows = [
        [escape(r["variant"]), *(number(r[c], d) for c, (_, d) in columns.items())]
        for _, r in table.iterrows()
    ]
    variants = ", ".join(str(v) for v in table["variant"])
    data = ", ".join(dict.fromkeys(str(d) for d in table["data"])) if "data" in table else None
    schemes = list(dict.fromkeys(str(s) for s in table["scheme"])) if "scheme" in table else []
    n_obs = f"{int(table['n_obs'].iloc[0]):,} alliance dyad-years" if "n_obs" in table else ""
    caption = Caption(
        f"Theory variants ranked by expected log predictive density ({n_obs})"
        if n_obs
        else "Theory variants ranked by expected log predictive density",
        variants,
        data,
        "; ".join(schemes) or None,
    )
    return latex_table(
        rows,
        ["variant", *(h for h, _ in columns.values())],
        "l" + "r" * len(columns),
        caption,
        label_for("compare", *(str(v) for v in table["variant"])),
    )
