"""The fit report's plain-language summary: what the evidence says on balancing.

:func:`plain_summary` turns the evidence table (:func:`walt_bayes.hypotheses.table.evidence_table`)
into sentences on BAL-1, BW-1 and COND-1, an overall reading and a tally of verdicts.
"""

from __future__ import annotations

import pandas as pd

#: Each verdict in words.
_PHRASE = {
    "supported": "the evidence supports it",
    "contradicted": "the evidence contradicts it",
    "practically null": "the effect is practically zero",
    "inconclusive": "the evidence is inconclusive",
    "not testable": "this fit cannot test it",
    "unreliable": "no verdict, as the fit failed its convergence checks",
}

#: The hypotheses the summary reads out, each with the words that introduce it.
_LEADS = (
    ("BAL-1", "Balancing (BAL-1: states ally against a threat they share)"),
    ("BW-1", "Bandwagoning (BW-1: states ally with the state that threatens them)"),
    (
        "COND-1",
        "Balancing more common than bandwagoning (COND-1, shared minus partner threat effect)",
    ),
)

#: Verdicts in the order the tally lists them.
_TALLY_ORDER = (
    "supported",
    "contradicted",
    "practically null",
    "inconclusive",
    "unreliable",
    "not testable",
)


def _figures(r) -> str:
    """Mean, HDI and probability of direction of one evidence row, in words."""
    # lazy: walt_bayes.hypotheses.table imports ArviZ and xarray (seconds)
    from walt_bayes.hypotheses.table import format_row

    scale = str(r.get("scale", "") or "")
    unit = f" ({scale})" if scale else ""
    # One fixed-point format for the mean and its bounds (no 2.3e-05 beside 0.0003).
    mean, lo, hi = format_row([r["mean"], r["hdi_low"], r["hdi_high"]], sign=True)
    return (
        f"posterior mean {mean}{unit}, "
        f"94% HDI {lo} to {hi}, "
        f"P(predicted direction) = {r['p_direction']:.2f}"
    )


def _overall(bal, bw) -> str | None:
    """The overall reading of BAL-1 against BW-1; None when BAL-1 stands without a testable BW-1."""
    if bal is not None and bw is not None and "not testable" not in (bal["verdict"], bw["verdict"]):
        verdicts = (bal["verdict"], bw["verdict"])
        if "unreliable" in verdicts:
            return (
                "Overall: the fit failed its convergence checks, so it gives no verdict on balancing "
                "against bandwagoning; refit with more draws or tuning."
            )
        if verdicts[0] == "supported" and verdicts[1] != "supported":
            return (
                "Overall: in this fit states balance against shared threats rather than "
                "bandwagon — the pattern Walt predicts."
            )
        if verdicts[1] == "supported" and verdicts[0] != "supported":
            return (
                "Overall: in this fit states bandwagon with threatening partners rather than "
                "balance — contrary to Walt's prediction."
            )
        if verdicts == ("supported", "supported"):
            return (
                "Overall: both balancing and bandwagoning find support; "
                "compare their sizes (COND-1)."
            )
        return "Overall: the data do not settle whether states balance or bandwagon in this fit."
    if bal is None or bal["verdict"] == "not testable":
        return (
            "This fit has no threat terms, so it cannot weigh balancing against bandwagoning; "
            "fit balance_of_threat or full for that."
        )
    return None


def _tally(evidence: pd.DataFrame) -> str:
    """How many hypotheses got each verdict."""
    counts = evidence["verdict"].value_counts()
    tally = ", ".join(f"{int(counts[v])} {v}" for v in _TALLY_ORDER if v in counts)
    return f"Across all {len(evidence)} hypotheses in the table: {tally}."


def plain_summary(evidence: pd.DataFrame, convergence: dict | None = None) -> list[str]:
    """Plain-text sentences on what the evidence says about balancing vs bandwagoning.

    Parameters
    ----------
    evidence : pandas.DataFrame
        The evidence table (:func:`walt_bayes.hypotheses.table.evidence_table`).
    convergence : dict, optional
        The fit's convergence summary (``ok``, ``problems``); a failed one adds a caution.

    Returns
    -------
    list of str
        One sentence per testable BAL-1, BW-1 and COND-1, the overall reading, the tally
        of verdicts and, for a fit that failed its checks, the caution.
    """
    rows = {r["id"]: r for _, r in evidence.iterrows()}
    out = [
        f"{lead}: {_PHRASE[r['verdict']]} — {_figures(r)}."
        for key, lead in _LEADS
        if (r := rows.get(key)) is not None and r["verdict"] != "not testable"
    ]
    overall = _overall(rows.get("BAL-1"), rows.get("BW-1"))
    if overall:
        out.append(overall)
    out.append(_tally(evidence))
    if convergence and not convergence.get("ok", True):
        out.append(
            "Caution: the sampler failed convergence checks ("
            + "; ".join(convergence.get("problems", []))
            + "); treat every number above as provisional."
        )
    return out
