"""Verbs of the frame and its states: the dyad-years, then attributes of each state.

:func:`create_dyad_years` makes the frame; the other verbs add state-year columns for
both states (suffixes 1 and 2) from COW NMC, the territorial-threat and democracy
data, COW major powers and Archigos (see :mod:`walt_bayes.panel.verbs` for the
conventions they keep).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from walt_bayes.errors import DataError
from walt_bayes.panel.verb_tools import (
    UNIT_DIRECTED,
    UNIT_NONDIRECTED,
    Sources,
    check_frame,
    coverage,
    covered,
    expand_spells,
    finish,
    frame_arrays,
    ints,
    nullable,
    source_frame,
    state_key,
    take,
    year_of,
    years_arg,
)

#: Irregular Archigos entry counts toward ``illegit`` if it happened in t-4..t.
ILLEGIT_WINDOW = 5


# --------------------------------------------------------------------------- create


def create_dyad_years(
    system: str = "cow",
    years=(1816, 2014),
    directed: bool = True,
    *,
    sources: Sources = None,
) -> pd.DataFrame:
    """Every dyad-year of state-system members (peacesciencer's ``cow_ddy``).

    Parameters
    ----------
    system : {"cow"}
        State system.  Only Correlates of War codes are available.
    years : (int, int), int, "A-B" or iterable of int
        First and last year (inclusive).
    directed : bool
        Both (i, j) and (j, i) rows (default), else only ``ccode1 < ccode2``.

    Returns
    -------
    pandas.DataFrame
        ``ccode1, ccode2, year`` (int64), sorted by year, ccode1, ccode2.  A
        pair of states is in year t if their memberships overlap within t, so
        a year has n(n-1) rows less the pairs of members that never coexisted
        in it (e.g. 1860: the Italian states that left and China that entered).
    """
    if system != "cow":
        raise DataError(f"create_dyad_years: system {system!r} is not available (only 'cow')")
    y0, y1 = years_arg(years)
    first, last = coverage("cow_ddy")
    if y0 > y1 or y0 < first or y1 > last:
        raise DataError(
            f"create_dyad_years: years {y0}-{y1} outside the COW system data {first}-{last}"
        )
    ddy = source_frame("cow_ddy", sources)
    yr = np.asarray(ddy["year"], dtype=np.int64)
    keep = (yr >= y0) & (yr <= y1)
    c1 = ints(ddy["ccode1"])[keep]
    c2 = ints(ddy["ccode2"])[keep]
    yr = yr[keep]
    if not directed:
        nd = c1 < c2
        c1, c2, yr = c1[nd], c2[nd], yr[nd]
    order = np.lexsort((c2, c1, yr))
    out = pd.DataFrame({"ccode1": c1[order], "ccode2": c2[order], "year": yr[order]})
    out.attrs = {
        "unit": UNIT_DIRECTED if directed else UNIT_NONDIRECTED,
        "system": "cow",
        "years": [y0, y1],
        "sources": ["cow_ddy"],
    }
    return out


# --------------------------------------------------------------------------- state attributes


def _state_table(frame: pd.DataFrame, cols: Iterable[str]) -> tuple[np.ndarray, dict]:
    """State-year keys of a source and its ``cols`` as float arrays (first row per key)."""
    keys = state_key(ints(frame["ccode"]), ints(frame["year"]))
    data = pd.DataFrame({c: pd.to_numeric(frame[c]) for c in cols})
    data["_k"] = keys
    data = data.groupby("_k", sort=False).first()
    return data.index.to_numpy(), {c: data[c].to_numpy(dtype=np.float64) for c in cols}


def _add_state_cols(df, name, mapping: dict[str, str], sources, verb) -> pd.DataFrame:
    """Look up state-year columns (``source_col -> panel_stem``) for both states."""
    check_frame(df, verb)
    c1, c2, yr = frame_arrays(df)
    keys, vals = _state_table(source_frame(name, sources), mapping)
    k1, k2 = state_key(c1, yr), state_key(c2, yr)
    new = {}
    for col, stem in mapping.items():
        new[f"{stem}1"] = covered(take(k1, keys, vals[col]), yr, name)
        new[f"{stem}2"] = covered(take(k2, keys, vals[col]), yr, name)
    return finish(df, new, [name])


def add_capabilities(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """COW NMC v7.0: ``cinc1/2``, ``milex1/2`` (thousands; GBP before 1914, USD after),
    ``milper1/2`` (thousands), ``tpop1/2`` (thousands).  NA where NMC has no value."""
    mapping = {"cinc": "cinc", "milex": "milex", "milper": "milper", "tpop": "tpop"}
    return _add_state_cols(df, "cow_nmc", mapping, sources, "add_capabilities")


def add_territorial_threat(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """Latent external territorial threat (Miller 2022, capital-distance weighting):
    ``terrthreat1/2``; NA outside 1816-2010."""
    return _add_state_cols(
        df, "terrthreat", {"lterrthreat": "terrthreat"}, sources, "add_territorial_threat"
    )


def add_democracy(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """Democracy scores: ``polyarchy1/2`` (V-Dem v2x_polyarchy, 0-1), ``polity1/2``
    (Polity polity2, -10..10) and ``uds1/2`` (extended UDS).  NA where not coded."""
    mapping = {"v2x_polyarchy": "polyarchy", "polity2": "polity", "xm_qudsest": "uds"}
    return _add_state_cols(df, "ccode_democracy", mapping, sources, "add_democracy")


def _spell_state_years(frame: pd.DataFrame, first_col: str, last_col: str) -> np.ndarray:
    """Sorted state-year keys of every year of every ``first_col..last_col`` spell."""
    first = np.asarray(pd.to_numeric(frame[first_col]), np.float64)
    last = np.asarray(pd.to_numeric(frame[last_col]), np.float64)
    ok = ~(np.isnan(first) | np.isnan(last))
    rows, years = expand_spells(first[ok], last[ok])
    return np.unique(state_key(ints(frame["ccode"])[ok][rows], years))


def add_major_powers(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """COW major powers: ``major1/2`` = 1 if a major power at any time in year t."""
    check_frame(df, "add_major_powers")
    c1, c2, yr = frame_arrays(df)
    keys = _spell_state_years(source_frame("cow_majors", sources), "styear", "endyear")
    new = {
        "major1": nullable(covered(np.isin(state_key(c1, yr), keys), yr, "cow_majors")),
        "major2": nullable(covered(np.isin(state_key(c2, yr), keys), yr, "cow_majors")),
    }
    return finish(df, new, ["cow_majors"])


# --------------------------------------------------------------------------- leaders


def irregular_entry_state_years(archigos: pd.DataFrame, gw_cow: pd.DataFrame) -> pd.Series:
    """``illegit`` by COW state-year (index ``ccode*10000 + year``): 1 if a leader in
    office during t entered irregularly in t-4..t, 0 if the state had Archigos leaders
    in t but none such."""
    start = year_of(archigos["startdate"])
    end = year_of(archigos["enddate"])
    ok = ~(np.isnan(start) | np.isnan(end))
    rows, years = expand_spells(start[ok], end[ok])
    irregular = (archigos["entry"].astype("str").to_numpy() == "Irregular")[ok][rows]
    recent = start[ok][rows] >= years - (ILLEGIT_WINDOW - 1)
    gw = ints(archigos["gwcode"])[ok][rows]
    by_gw = pd.Series((irregular & recent).astype(np.float64)).groupby(state_key(gw, years)).max()
    cw = gw_cow[["gwcode", "ccode", "year"]].dropna()
    cw_keys = state_key(ints(cw["gwcode"]), ints(cw["year"]))
    cw_cow = state_key(ints(cw["ccode"]), ints(cw["year"]))
    idx = pd.Index(cw_keys).get_indexer(by_gw.index.to_numpy())
    m = idx >= 0
    return pd.Series(by_gw.to_numpy()[m]).groupby(cw_cow[idx[m]]).max()


def add_irregular_entry(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """Archigos 4.1 via the Gleditsch-Ward -> COW crosswalk: ``illegit1/2`` = 1 if a ruler
    of i / j in office during t seized power irregularly in t-4..t.  NA outside
    1875-2015 (Archigos' full coverage) and for state-years without Archigos leaders.
    "Foreign imposition" and "Unknown" entries are not counted as irregular."""
    check_frame(df, "add_irregular_entry")
    c1, c2, yr = frame_arrays(df)
    s = irregular_entry_state_years(
        source_frame("archigos", sources), source_frame("gw_cow_years", sources)
    )
    keys, vals = s.index.to_numpy(), s.to_numpy()
    new = {
        "illegit1": nullable(covered(take(state_key(c1, yr), keys, vals), yr, "archigos")),
        "illegit2": nullable(covered(take(state_key(c2, yr), keys, vals), yr, "archigos")),
    }
    return finish(df, new, ["archigos", "gw_cow_years"])
