"""The findings in words: "BAL-1 is supported in x of y settings; the verdict turns on …".

For each hypothesis of the matrix (:mod:`walt_bayes.study.matrix`):

- *settings* are the cells where the hypothesis is testable (every verdict but
  ``not testable``); ``x`` counts those where it is ``supported``, and the other
  verdicts follow in brackets — ``unreliable`` (the fit failed its convergence checks)
  and ``fit failed`` are counted, never read as evidence;
- *what the verdict turns on*: among the reliable verdicts (a fit that converged),
  a dimension (variant, data set, alliance measure, prior scale, seed) moves the
  verdict when two settings that differ in that dimension alone have different
  verdicts.  Each such dimension is named with the verdicts at each of its values;
  when no matched pair disagrees although the verdicts differ, the sentence says so.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from walt_bayes.study.plan import DIMENSIONS

#: Verdict order in sentences (most informative first).
ORDER = (
    "supported", "contradicted", "practically null", "inconclusive", "unreliable", "fit failed",
    "no evidence",
)
#: Verdicts a converged fit gives.
RELIABLE = ("supported", "contradicted", "practically null", "inconclusive")


def tally(verdicts) -> str:
    """``"2 contradicted, 1 inconclusive"`` in :data:`ORDER`."""
    counts = Counter(verdicts)
    keys = [v for v in ORDER if counts.get(v)] + sorted(k for k in counts if k not in ORDER)
    return ", ".join(f"{counts[k]} {k}" for k in keys)


def _value(dim: str, v) -> str:
    return f"×{float(v):g}" if dim == "prior_scale" else str(v)


def turning_dimensions(rows: pd.DataFrame) -> list[tuple[str, int, int]]:
    """Dimensions that move the verdict: ``(dimension, disagreeing groups, comparable groups)``.

    A *group* holds reliable settings equal in every other dimension and taking at least two
    values of this one; it disagrees when its verdicts differ.  Sorted by the share of
    disagreeing groups, then by their number.
    """
    dims = [d for d in DIMENSIONS if d in rows.columns]
    out = []
    for dim in dims:
        others = [d for d in dims if d != dim]
        comparable = disagree = 0
        groups = rows.groupby(others, sort=False, dropna=False) if others else [((), rows)]
        for _, g in groups:
            if g[dim].nunique() < 2:
                continue
            comparable += 1
            disagree += int(g["verdict"].nunique() > 1)
        if disagree:
            out.append((dim, disagree, comparable))
    return sorted(out, key=lambda t: (-t[1] / t[2], -t[1]))


def _by_value(rows: pd.DataFrame, dim: str) -> str:
    parts = []
    for v, g in rows.groupby(dim, sort=False):
        parts.append(f"{_value(dim, v)}: {tally(g['verdict'])}")
    return "; ".join(parts)


def turns_on(rows: pd.DataFrame) -> str:
    """The clause after the semicolon: what the hypothesis' verdict depends on."""
    reliable = rows[rows["verdict"].isin(RELIABLE)]
    if reliable.empty:
        return "no setting gives a reliable verdict"
    if reliable["verdict"].nunique() == 1:
        n = len(reliable)
        return (f"the verdict is the same ({reliable['verdict'].iloc[0]}) in every one of the {n} "
                f"reliable setting{'s' if n != 1 else ''}")
    dims = turning_dimensions(reliable)
    if not dims:
        return ("the verdicts differ, but no two reliable settings that differ in one choice only "
                "disagree (" + tally(reliable["verdict"]) + ")")
    clauses = [f"the {DIMENSIONS[d]} ({_by_value(reliable, d)})" for d, _, _ in dims]
    return "the verdict turns on " + " and on ".join(clauses)


def sentence(hid: str, rows: pd.DataFrame) -> str:
    """One sentence for hypothesis ``hid`` from its rows of the long matrix."""
    testable = rows[rows["verdict"] != "not testable"]
    if testable.empty:
        reasons = [r for r in rows["reason"].astype(str) if r]
        why = f" ({reasons[0]})" if reasons else ""
        return f"{hid} is not testable in any setting of this study{why}."
    x = int((testable["verdict"] == "supported").sum())
    y = len(testable)
    rest = tally(v for v in testable["verdict"] if v != "supported")
    text = f"{hid} is supported in {x} of {y} setting{'s' if y != 1 else ''}"
    if rest:
        text += f" ({rest})"
    untestable = len(rows) - y
    tail = f"; not testable in {untestable} more" if untestable else ""
    return f"{text}; {turns_on(testable)}{tail}."


def summarise(matrix: pd.DataFrame, hypotheses=None) -> list[str]:
    """One sentence per hypothesis, in the order given (default: the matrix's)."""
    ids = list(hypotheses) if hypotheses is not None else list(dict.fromkeys(matrix["id"]))
    return [sentence(h, matrix[matrix["id"] == h]) for h in ids]


__all__ = ["RELIABLE", "sentence", "summarise", "tally", "turning_dimensions", "turns_on"]
