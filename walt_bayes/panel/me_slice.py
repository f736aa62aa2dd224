"""The Middle East slice of the global COW panel: the embedded panel's rows, measured from real data.

The embedded panel (:mod:`walt_bayes.panel.embedded`) and the global panel
(:mod:`walt_bayes.panel.build`) measure the same directed dyad-years with
different sources.  To compare alliance measures on the same states and years,
:func:`slice_panel` keeps the global panel's rows whose key
``(ccode1, ccode2, year)`` is also a row of the embedded panel: its 25 states
(21 of the Middle East and North Africa, with the USA, the UK, France and the
USSR) in 1955-1979.  Every covariate comes from the global sources
(:mod:`walt_bayes.panel.build` documents their derivations; regions are the COW
numbering blocks, not the embedded sub-regions).  The alliance columns are:

``atop`` (``middle-east-atop``)
    ATOP 5.1 as the global panel has them: ``ally`` = a defense or offense
    pledge in either direction, ``pledge12`` = i's defense or offense pledge to
    j, ``ally_onset`` from ATOP's own previous year; no ``ally_formal`` (ATOP
    codes written agreements only, so it would equal ``ally``).
``embedded`` (``middle-east-global-embedded``)
    The embedded coding's ``ally`` (any formal or informal alignment episode),
    ``ally_formal`` (treaty episodes), ``pledge12`` (= ``ally``, the coding is
    symmetric) and ``ally_onset``; the ATOP pledge columns are dropped, so the
    panel holds one alliance measure.
``atop-any`` (``middle-east-atop-any``)
    ``ally`` = any ATOP pledge (defense, offense, neutrality, non-aggression,
    consultation) in either direction, ``pledge12``/``pledge21`` likewise directed,
    ``ally_onset`` recomputed inside the slice (NA in 1955, as in the embedded panel).

Where the two universes differ the embedded panel wins: the global panel has Syria
in 1958 (system membership in any part of the year) where the embedded panel,
following COW's year-end rule, does not; those 34 rows are dropped.  The counts
are in ``attrs["slice"]``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from walt_bayes.errors import DataError
from walt_bayes.panel.build import order_columns
from walt_bayes.panel.columns import KEYS
from walt_bayes.panel.embedded import FIRST_YEAR, LAST_YEAR, load_middle_east, resolve_data_dir

#: The alliance measure of each named slice.
MEASURES = {
    "middle-east-atop": "atop",
    "middle-east-global-embedded": "embedded",
    "middle-east-atop-any": "atop-any",
}
#: ATOP's pledge columns of the global panel (directed, i's pledge to j).
ATOP_FLAGS = ("atop_defense", "atop_offense", "atop_neutral", "atop_nonagg", "atop_consul")
#: Alliance columns the embedded coding supplies.
EMBEDDED_ALLIANCE = ("ally", "ally_formal", "pledge12", "ally_onset")
#: Global alliance columns that describe ATOP and would contradict another measure.
ATOP_COLUMNS = ("ally", "pledge12", "pledge21", "ally_onset", *ATOP_FLAGS)


def embedded_attrs() -> dict:
    """Attrs that point the duration and joining blocks at the bundled embedded data folder."""
    return {"data_dir": str(resolve_data_dir(None).resolve())}


def _int8(values) -> pd.api.extensions.ExtensionArray:
    return pd.array(np.asarray(values, dtype=np.float64), dtype="Float64").astype("Int8")


def any_pledge(df: pd.DataFrame) -> pd.DataFrame:
    """Replace the ATOP alliance columns by 'any pledge' ones (see the module docstring)."""
    flags = df[list(ATOP_FLAGS)].astype("Float64")
    p12 = (flags == 1).any(axis=1).to_numpy(dtype=bool)
    observed = flags.notna().all(axis=1).to_numpy(dtype=bool)
    rev = df[list(KEYS)].rename(columns={"ccode1": "ccode2", "ccode2": "ccode1"})
    p21 = rev.merge(df[list(KEYS)].assign(_p=p12), on=list(KEYS), how="left")["_p"]
    p21 = p21.fillna(False).to_numpy(dtype=bool)
    ally = p12 | p21
    prev = df[list(KEYS)].assign(year=df["year"] + 1, _a=ally)
    before = df[list(KEYS)].merge(prev, on=list(KEYS), how="left")["_a"]
    onset = np.where(before.isna(), np.nan, ally & ~before.fillna(False).to_numpy(dtype=bool))
    out = df.copy()
    out["pledge12"] = _int8(np.where(observed, p12, np.nan))
    out["pledge21"] = _int8(np.where(observed, p21, np.nan))
    out["ally"] = _int8(np.where(observed, ally, np.nan))
    out["ally_onset"] = _int8(onset)
    return out


def slice_panel(name: str, global_panel: Callable[[tuple[int, int]], pd.DataFrame]) -> pd.DataFrame:
    """The named Middle East slice ``name`` (a key of :data:`MEASURES`), built from the sources.

    Parameters
    ----------
    name : str
        A key of :data:`MEASURES`.
    global_panel : callable
        ``(first, last) -> panel``: the global COW panel of those years
        (:func:`walt_bayes.panel.named.global_panel`, which caches it).

    Returns
    -------
    pandas.DataFrame
        The global panel's columns on the embedded panel's rows, sorted like it, with
        the alliance columns of the slice's measure; ``attrs`` as the global panel's,
        plus ``name``, ``alliance_measure`` and ``slice`` (row counts).

    Raises
    ------
    DataError
        Unknown name, or the two panels share no row.
    """
    if name not in MEASURES:
        raise DataError(f"'{name}' is not a Middle East slice ({', '.join(MEASURES)})")
    measure = MEASURES[name]
    embedded = load_middle_east()
    world = global_panel((FIRST_YEAR, LAST_YEAR))
    states = np.unique(embedded[["ccode1", "ccode2"]].to_numpy())
    inside = world.loc[world["ccode1"].isin(states) & world["ccode2"].isin(states)]
    keys = embedded[list(KEYS)]
    # The embedded panel's row order, and only its rows (its universe wins where they differ).
    out = keys.merge(inside, on=list(KEYS), how="inner", validate="one_to_one")
    if out.empty:
        raise DataError(f"{name}: the global panel shares no row with the embedded panel")
    counts = {
        "embedded_rows": len(keys),
        "global_rows_of_these_states": len(inside),
        "kept": len(out),
        "embedded_rows_missing_from_global": len(keys) - len(out),
        "global_rows_dropped": len(inside) - len(out),
    }
    if measure == "embedded":
        coded = embedded[list(KEYS) + list(EMBEDDED_ALLIANCE)]
        out = out.drop(columns=[c for c in ATOP_COLUMNS if c in out.columns])
        out = out.merge(coded, on=list(KEYS), how="left", validate="one_to_one")
    elif measure == "atop-any":
        out = any_pledge(out)
    out = order_columns(out.reset_index(drop=True))
    # The global panel's provenance (sources, their sha256), not its row count or writer.
    kept = {k: v for k, v in world.attrs.items() if k not in ("rows", "walt_bayes_version")}
    out.attrs = {
        **kept,
        "name": name,
        "years": [FIRST_YEAR, LAST_YEAR],
        "region": "middle_east (the embedded panel's 25 states)",
        "alliance_measure": measure,
        "slice": counts,
        "builder": "walt_bayes.panel.me_slice.slice_panel",
    }
    return out


__all__ = ["MEASURES", "any_pledge", "embedded_attrs", "slice_panel"]
