"""Verbs of ties between states: ATOP alliance pledges, shared IGOs and trade.

Alliances are an event source (absent within coverage = 0); IGOs and trade are
measurements (absent = NA).  See :mod:`walt_bayes.panel.verbs` for the conventions
they keep.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from walt_bayes.panel.portable_math import apply
from walt_bayes.panel.verb_tools import (
    Sources,
    check_frame,
    coverage,
    covered,
    dyad_key,
    finish,
    frame_arrays,
    ints,
    mask_years,
    nullable,
    source_frame,
    state_key,
    take,
)

# --------------------------------------------------------------------------- alliances


ATOP_FLAGS = ("atop_defense", "atop_offense", "atop_neutral", "atop_nonagg", "atop_consul")


def add_atop_alliances(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """ATOP v5.1 alliance pledges, respecting direction (what i promised j).

    Adds
    ----
    atop_defense, atop_offense, atop_neutral, atop_nonagg, atop_consul :
        1 if i has that kind of pledge to j in t (directed; may be one-way).
    pledge12 / pledge21 : 1 if i has a defense or offense pledge to j / j to i.
    ally : 1 if a defense or offense pledge exists in either direction (symmetric).
    ally_onset : 1 if ``ally`` in t but not in t-1 (from the source, so a dyad
        whose states were not both members in t-1 counts as new).

    Coverage 1815-2018: dyads absent from ATOP within it are 0, years outside NA
    (``ally_onset`` is also NA in 1815, the first ATOP year).
    """
    check_frame(df, "add_atop_alliances")
    c1, c2, yr = frame_arrays(df)
    a = source_frame("atop_alliance", sources)
    keys = dyad_key(ints(a["ccode1"]), ints(a["ccode2"]), ints(a["year"]))
    flags = pd.DataFrame({f: np.asarray(pd.to_numeric(a[f]), np.float64) for f in ATOP_FLAGS})
    flags = flags.groupby(keys).max()
    index = pd.Index(flags.index.to_numpy())  # one hash table for every lookup below
    # a trailing sentinel (no pledge, flags 0) is what position -1 (not found) picks
    pledge = (flags["atop_defense"].to_numpy() == 1) | (flags["atop_offense"].to_numpy() == 1)
    pledge = np.append(pledge, False)

    def pledged(query: np.ndarray) -> np.ndarray:
        return pledge[index.get_indexer(query)]

    k12 = dyad_key(c1, c2, yr)
    pos12 = index.get_indexer(k12)
    p12, p21 = pledged(k12), pledged(dyad_key(c2, c1, yr))
    prev = pledged(dyad_key(c1, c2, yr - 1)) | pledged(dyad_key(c2, c1, yr - 1))
    ally = p12 | p21
    first, last = coverage("atop_alliance")

    def cov(x):
        return nullable(covered(x, yr, "atop_alliance"))

    new = {f: cov(np.append(flags[f].to_numpy(), 0.0)[pos12]) for f in ATOP_FLAGS}
    new.update(
        pledge12=cov(p12),
        pledge21=cov(p21),
        ally=cov(ally),
        ally_onset=nullable(mask_years(ally & ~prev, yr, first + 1, last)),
    )
    return finish(df, new, ["atop_alliance"])


# --------------------------------------------------------------------------- penetration proxies


def add_igos(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """COW IGO v3.0: ``igos`` = number of IGOs in which both i and j are full members
    (symmetric; NA outside 1816-2014 and for dyad-years absent from the source)."""
    check_frame(df, "add_igos")
    c1, c2, yr = frame_arrays(df)
    ig = source_frame("cow_igo_ndy", sources)
    a, b = ints(ig["ccode1"]), ints(ig["ccode2"])
    keys = dyad_key(np.minimum(a, b), np.maximum(a, b), ints(ig["year"]))
    vals = np.asarray(pd.to_numeric(ig["dyadigos"]), np.float64)
    vals = np.where(vals < 0, np.nan, vals)
    s = pd.Series(vals).groupby(keys).max()
    q = dyad_key(np.minimum(c1, c2), np.maximum(c1, c2), yr)
    igos = covered(take(q, s.index.to_numpy(), s.to_numpy()), yr, "cow_igo_ndy")
    return finish(df, {"igos": nullable(igos, "Int16")}, ["cow_igo_ndy"])


def add_trade(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """COW dyadic trade v4.0 (current million USD, 1870-2014).

    Adds ``imports1`` (i's imports from j), ``imports2`` (j's imports from i) and
    ``trade_dep`` = log1p(1000 * imports1 / total recorded imports of i that year),
    the total summed over every partner in the source.  NA where the flow is missing
    or outside 1870-2014.
    """
    check_frame(df, "add_trade")
    c1, c2, yr = frame_arrays(df)
    tr = source_frame("cow_trade_ndy", sources)
    a, b, y = ints(tr["ccode1"]), ints(tr["ccode2"]), ints(tr["year"])
    f1 = np.asarray(pd.to_numeric(tr["flow1"]), np.float64)  # imports of ccode1 from ccode2
    f2 = np.asarray(pd.to_numeric(tr["flow2"]), np.float64)
    f1, f2 = np.where(f1 < 0, np.nan, f1), np.where(f2 < 0, np.nan, f2)
    # directed: imports of x from z, keyed (x, z, year)
    imp = (
        pd.Series(np.concatenate([f1, f2]))
        .groupby(np.concatenate([dyad_key(a, b, y), dyad_key(b, a, y)]))
        .max()
    )
    tot = (
        pd.Series(np.concatenate([f1, f2]))
        .groupby(np.concatenate([state_key(a, y), state_key(b, y)]))
        .sum(min_count=1)
    )
    imports1 = covered(
        take(dyad_key(c1, c2, yr), imp.index.to_numpy(), imp.to_numpy()), yr, "cow_trade_ndy"
    )
    imports2 = covered(
        take(dyad_key(c2, c1, yr), imp.index.to_numpy(), imp.to_numpy()), yr, "cow_trade_ndy"
    )
    total1 = take(state_key(c1, yr), tot.index.to_numpy(), tot.to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        # portable_math's log1p: the same bits on every CPU (not NumPy's AVX-512 loop)
        dep = np.where(total1 > 0, apply("log1p", 1000.0 * imports1 / total1), np.nan)
    new = {"imports1": imports1, "imports2": imports2, "trade_dep": dep}
    return finish(df, new, ["cow_trade_ndy"])
