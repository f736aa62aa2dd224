"""The raw panel inputs a scenario may change, and which parts of a fitted model each one reaches.

Names are the panel's column names (:mod:`walt_bayes.panel.columns`); a scenario
value is on the raw scale the panel holds, and the fit's own standardisation turns
it into the model's inputs (:mod:`walt_bayes.scenario.rebuild`).

==================  =======  ===============================================================
input               kind     panel column(s) changed
==================  =======  ===============================================================
``power``           state    ``power1`` / ``power2`` (log capability share, log CINC: an
                             ``add`` of 0.693 doubles the share)
``offense``         state    ``offense1`` / ``offense2`` (offensive capability index)
``init2_past10``    state    ``init2_past10`` where the state is ``ccode2`` (disputes it
                             initiated against anyone in t-10..t-1)
``init21_past10``   dyad     ``init21_past10`` of the row (``ccode1`` = target,
                             ``ccode2`` = state): years in t-10..t-1 the state initiated a
                             dispute against the target
``rivalry``         dyad     ``rivalry`` of both rows of the pair (symmetric, 0/1)
``contiguous``      dyad     ``contiguous`` of both rows of the pair (symmetric, 0/1)
==================  =======  ===============================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from walt_bayes.model.design import Design
from walt_bayes.spec import ALLIANCE_TERMS, ModelSpec


@dataclass(frozen=True)
class Input:
    """One changeable input: how it sits in the panel and what it feeds."""

    name: str
    dyadic: bool  # needs ``target``
    symmetric: bool  # a dyadic input changed in both rows of the pair
    features: tuple[str, ...]  # threat features (design.threat_features) built from it
    factors: tuple[str, ...] = ()  # observed alliance factors built from it
    relevance: str = ""  # the alliance.relevance criterion it decides (shared-threat triads)
    persistence: bool = False  # decides which threat sources count as persistent (S_persistent)
    binary: bool = False
    lower: float | None = None  # smallest allowed value after the change
    upper: float | None = None  # largest allowed value after the change
    meaning: str = ""


INPUTS: dict[str, Input] = {
    i.name: i
    for i in (
        Input(
            "power",
            False,
            False,
            ("power2", "power_ratio"),
            ("strength_i", "strength_k", "weak_i"),
            upper=0.0,
            meaning="log capability share (log CINC); a share cannot exceed 1",
        ),
        Input("offense", False, False, ("offense2",), meaning="offensive capability index"),
        Input(
            "init2_past10",
            False,
            False,
            ("log_init2_past10",),
            persistence=True,
            lower=0.0,
            meaning="disputes the state initiated against anyone in t-10..t-1",
        ),
        Input(
            "init21_past10",
            True,
            False,
            ("log_init21_past10",),
            lower=0.0,
            meaning="years in t-10..t-1 the state initiated a dispute against the target",
        ),
        Input(
            "rivalry",
            True,
            True,
            ("rivalry",),
            relevance="rival",
            persistence=True,
            binary=True,
            meaning="ongoing strategic rivalry (0/1)",
        ),
        Input(
            "contiguous",
            True,
            True,
            ("contiguous",),
            ("contig",),
            relevance="contiguous",
            binary=True,
            meaning="direct contiguity (0/1)",
        ),
    )
}

#: Inputs that decide which threat sources enter shared threat (the triads), not only values.
STRUCTURAL = frozenset(n for n, i in INPUTS.items() if i.relevance or i.persistence)


def uses(inp: Input, design: Design, spec: ModelSpec) -> bool:
    """Whether changing ``inp`` can move any quantity of the fitted model."""
    threat = design.transform.get("threat", {})
    if any(f in threat for f in inp.features):
        return True
    if set(inp.factors) & set(design.control_names):
        return True
    if any(set(inp.factors) & set(ALLIANCE_TERMS[t]) for t in design.terms):
        return True
    latent = {f for f in design.term_latent if f}
    if inp.relevance and inp.relevance in spec.alliance.relevance and latent:
        return True
    return inp.persistence and "S_persistent" in latent


def used_inputs(design: Design, spec: ModelSpec) -> list[str]:
    """The inputs a fit's variant uses, in registry order."""
    return [name for name, inp in INPUTS.items() if uses(inp, design, spec)]
