"""What each alliance measure (spec ``alliance.outcome``) means on each data set of a study.

The spec's outcome names a panel column (``ally``, ``ally_formal``, ``pledge12``); what that
column records depends on who coded the panel.  The findings report prints these sentences
beside every setting, so a verdict is never read without its measure.
"""

from __future__ import annotations

from walt_bayes.panel import named
from walt_bayes.panel.me_slice import MEASURES as SLICE_MEASURES
from walt_bayes.study.studyfile import StudyData

_EMBEDDED = {
    "ally": "both states members of an episode of the embedded coding in force in the year, formal "
    "(a treaty or signed agreement) or informal (an alignment without one)",
    "ally_formal": "embedded episodes coded formal only (a treaty or signed agreement)",
    "pledge": "the embedded coding's alignment as a directed pledge (the coding is symmetric, so the "
    "same dyad-years as ally, modelled in both directions)",
}
_ATOP = {
    "ally": "an ATOP 5.1 defense or offense pledge in either direction",
    "pledge": "i's own ATOP defense or offense pledge to j (directed)",
}
_ATOP_ANY = {
    "ally": "any ATOP 5.1 pledge in either direction: defense, offense, neutrality, non-aggression "
    "or consultation",
    "pledge": "any ATOP pledge of i to j (directed)",
}
#: Measure sentences per (data set kind or slice measure, outcome).
MEASURES = {
    "embedded": _EMBEDDED,
    "atop": _ATOP,
    "atop-any": _ATOP_ANY,
}


def measure_kind(data: StudyData) -> str:
    """``embedded``, ``atop``, ``atop-any`` or ``file`` (a panel file: its own columns)."""
    if data.kind == "middle-east":
        return "embedded"
    if data.kind == "named":
        if data.name in SLICE_MEASURES:
            return SLICE_MEASURES[data.name]
        if named.GLOBAL_NAME.match(data.name):
            return "atop"
    return "file"


def measure_text(data: StudyData, outcome: str) -> str:
    """One phrase: what the outcome ``outcome`` records on ``data``."""
    # lazy: walt_bayes.study.plan imports PyMC (through walt_bayes.grid.gridfile)
    from walt_bayes.study.plan import OUTCOME_COLUMN

    kind = measure_kind(data)
    text = MEASURES.get(kind, {}).get(outcome)
    if text is None:
        return f"the panel's column '{OUTCOME_COLUMN[outcome]}'"
    return text


__all__ = ["MEASURES", "measure_kind", "measure_text"]
