"""Verbs of conflict: militarised disputes (GML), strategic rivalries and wars.

Event sources: a dyad absent from a source within its coverage is 0 (see
:mod:`walt_bayes.panel.verbs` for the conventions they keep).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from walt_bayes.panel.verb_tools import (
    Sources,
    both_ways_keys,
    check_frame,
    covered,
    dyad_key,
    expand_spells,
    finish,
    frame_arrays,
    ints,
    lagged_counts,
    nullable,
    source_frame,
    state_key,
    take,
)


def _gml_parts(gml: pd.DataFrame) -> dict[str, np.ndarray]:
    """The GML columns the verb reads, as arrays (codes and years as int64)."""
    g = {
        c: np.asarray(pd.to_numeric(gml[c]), np.float64)
        for c in ("midonset", "sidea1", "sidea2", "orig1", "revstate1")
    }
    return {
        "c1": ints(gml["ccode1"]),
        "c2": ints(gml["ccode2"]),
        "year": ints(gml["year"]),
        "disp": ints(gml["dispnum"]),
        **g,
    }


def _dispute_keys(g: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Keys, both ways, of the dyad-years in a dispute and of those at a dyadic onset."""
    on = g["midonset"] == 1
    return (
        both_ways_keys(g["c1"], g["c2"], g["year"]),
        both_ways_keys(g["c1"][on], g["c2"][on], g["year"][on]),
    )


def _initiations(g: dict[str, np.ndarray]) -> pd.DataFrame:
    """Initiations: ``a``, an originator on Side A, against ``b`` on Side B at an onset.

    One row per dyadic dispute-year: ``a, b, year, disp`` and ``rev`` (``a`` is coded
    a revisionist state in the dispute).
    """
    init = (g["midonset"] == 1) & (g["sidea1"] == 1) & (g["sidea2"] == 0) & (g["orig1"] == 1)
    return pd.DataFrame(
        {
            "a": g["c1"][init],
            "b": g["c2"][init],
            "year": g["year"][init],
            "disp": g["disp"][init],
            "rev": g["revstate1"][init] == 1,
        }
    )


def _state_lag(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Initiations by each state ``a`` in t-10..t-1, keyed ``dyad_key(a, 0, t)``."""
    return lagged_counts(frame["a"], np.zeros(len(frame), np.int64), frame["year"].to_numpy())


def _initiation_lags(ev: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Lagged counts (keys, counts) of :func:`_initiations` over t-10..t-1.

    ``dyad``: years with an initiation by a against b; ``state``: disputes a initiated,
    each counted once in a's first initiation year in it; ``revisionist``: the part of
    ``state`` in which a was a revisionist state.
    """
    dy = ev.drop_duplicates(["a", "b", "year"])
    st = ev.groupby(["a", "disp"], as_index=False).agg(year=("year", "min"), rev=("rev", "max"))
    return {
        "dyad": lagged_counts(dy["a"], dy["b"], dy["year"].to_numpy()),
        "state": _state_lag(st),
        "revisionist": _state_lag(st[st["rev"]]),
    }


def add_disputes(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """GML militarised interstate disputes v2.2.1 (directed dispute-years, 1816-2010).

    Adds
    ----
    gml_dispute : 1 if i and j are on opposite sides of a dispute ongoing in t.
    gml_onset : 1 if such a dispute began, or one of them entered it, in t.
    init21 / init12 : 1 if j (resp. i) *initiated* a dispute against i (resp. j) in t:
        j is an originator on Side A, i is on Side B, and the dyadic dispute-year is an
        onset (the dispute began, or i entered it, in t).  Joiners on Side A do not
        initiate; an ongoing dispute is not a new initiation.
    revinit21 : init21 where j is coded a revisionist state in that dispute.
    init21_past10 : years in t-10..t-1 in which init21 was 1 (0..10).
    init1_past10 / init2_past10 : disputes i / j initiated (originator on Side A) against
        anyone, with their onset in t-10..t-1 (each dispute counted once).
    rev2_past10 : the part of init2_past10 in which j was a revisionist state.

    Coverage: every column is NA for t after 2010 (GML ends).  Before 1826 the lagged
    counts use the available part of the window (1816..t-1).
    """
    check_frame(df, "add_disputes")
    c1, c2, yr = frame_arrays(df)
    g = _gml_parts(source_frame("gml_dirdisp", sources))
    any_keys, onset_keys = _dispute_keys(g)
    ev = _initiations(g)
    rev = ev["rev"]
    init_keys = np.unique(dyad_key(ev["a"], ev["b"], ev["year"]))
    rev_keys = np.unique(dyad_key(ev["a"][rev], ev["b"][rev], ev["year"][rev]))
    lags = _initiation_lags(ev)

    k12, k21 = dyad_key(c1, c2, yr), dyad_key(c2, c1, yr)
    zero = np.zeros(len(yr), np.int64)
    s1, s2 = dyad_key(c1, zero, yr), dyad_key(c2, zero, yr)  # state lags are keyed (c, 0, t)

    def flag(hit: np.ndarray):
        return nullable(covered(hit, yr, "gml_dirdisp"))

    def count(query: np.ndarray, lag: tuple[np.ndarray, np.ndarray]):
        return nullable(covered(take(query, *lag, fill=0), yr, "gml_dirdisp"), "Int16")

    new = {
        "gml_dispute": flag(np.isin(k12, any_keys)),
        "gml_onset": flag(np.isin(k12, onset_keys)),
        "init21": flag(np.isin(k21, init_keys)),
        "init12": flag(np.isin(k12, init_keys)),
        "revinit21": flag(np.isin(k21, rev_keys)),
        "init21_past10": count(k21, lags["dyad"]),
        "init1_past10": count(s1, lags["state"]),
        "init2_past10": count(s2, lags["state"]),
        "rev2_past10": count(s2, lags["revisionist"]),
    }
    return finish(df, new, ["gml_dirdisp"])


def _rivalry_keys(riv: pd.DataFrame, first_col: str, last_col: str) -> np.ndarray:
    """Keys, both ways, of every year of every rivalry spell."""
    first = np.asarray(pd.to_numeric(riv[first_col]), np.float64)
    last = np.asarray(pd.to_numeric(riv[last_col]), np.float64)
    ok = ~(np.isnan(first) | np.isnan(last))
    rows, years = expand_spells(first[ok], last[ok])
    a, b = ints(riv["ccode1"])[ok][rows], ints(riv["ccode2"])[ok][rows]
    return both_ways_keys(a, b, years)


def add_rivalries(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """Thompson-Dreyer strategic rivalries: ``rivalry`` = 1 if i and j are in an ongoing
    rivalry in t (symmetric; rivalries ongoing at the end of the data stop at 2010, so
    NA after 2010)."""
    check_frame(df, "add_rivalries")
    c1, c2, yr = frame_arrays(df)
    keys = _rivalry_keys(source_frame("td_rivalries", sources), "styear", "endyear")
    riv = covered(np.isin(dyad_key(c1, c2, yr), keys), yr, "td_rivalries")
    return finish(df, {"rivalry": nullable(riv)}, ["td_rivalries"])


def add_war_participation(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """COW inter-state wars v4.0: ``war`` = 1 if i and j fight on opposite sides of an
    inter-state war in t; ``war_onset`` = 1 if that war (for this dyad) began in t;
    ``war1/2`` = 1 if i / j takes part in any inter-state war in t.  NA after 2007."""
    check_frame(df, "add_war_participation")
    c1, c2, yr = frame_arrays(df)
    w = source_frame("cow_war_inter", sources)
    a, b, y = ints(w["ccode1"]), ints(w["ccode2"]), ints(w["year"])
    onset = np.asarray(pd.to_numeric(w["cowinteronset"]), np.float64) == 1
    war_keys = both_ways_keys(a, b, y)
    on_keys = both_ways_keys(a[onset], b[onset], y[onset])
    part = np.unique(np.concatenate([state_key(a, y), state_key(b, y)]))

    def cov(x):
        return nullable(covered(x, yr, "cow_war_inter"))

    k12 = dyad_key(c1, c2, yr)
    new = {
        "war": cov(np.isin(k12, war_keys)),
        "war_onset": cov(np.isin(k12, on_keys)),
        "war1": cov(np.isin(state_key(c1, yr), part)),
        "war2": cov(np.isin(state_key(c2, yr), part)),
    }
    return finish(df, new, ["cow_war_inter"])
