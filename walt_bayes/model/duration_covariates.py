"""Block 3's covariates: war won (BAL-6), regime pairs (IDEO-2) and alliance motives (IDEO-5).

Each function gives one value per spell-year (NaN where the data cannot tell, so that the row
is left out); the definitions are in :mod:`walt_bayes.model.duration`'s docstring.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from walt_bayes.model.arrays import dyad_year_key

#: A state counts as a democracy in the IDEO-2 baseline at this democracy score.
DEMOCRACY_CUT = 0.5


def war_won_embedded(spells: pd.DataFrame, episodes: pd.DataFrame) -> np.ndarray:
    """``war_won`` from the embedded episodes (BAL-6).

    Parameters
    ----------
    spells : pandas.DataFrame
        Spell-years (:func:`walt_bayes.model.spells.alliance_spells`).
    episodes : pandas.DataFrame
        The episodes' allied pair-years (``lo, hi, year, wartime, enemy_defeated_year``).

    Returns
    -------
    numpy.ndarray
        1.0 where a wartime episode joining the dyad is in force in t and its enemy was
        defeated by t, else 0.0.
    """
    won = episodes.loc[
        (episodes["wartime"] == 1)
        & episodes["enemy_defeated_year"].notna()
        & (episodes["enemy_defeated_year"].fillna(9999) <= episodes["year"])
    ]
    keys = dyad_year_key(won["lo"], won["hi"], won["year"])
    rows = pd.Index(dyad_year_key(spells["lo"], spells["hi"], spells["year"]))
    return np.asarray(rows.isin(keys), dtype=float)


def true_starts(spells: pd.DataFrame, episodes: pd.DataFrame) -> np.ndarray:
    """Start years of left-truncated spells, walked back through the episodes' earlier years.

    Parameters
    ----------
    spells : pandas.DataFrame
        Spell-years with ``start`` and ``left_truncated``.
    episodes : pandas.DataFrame
        The episodes' allied pair-years (``lo, hi, year``), reaching before the panel.

    Returns
    -------
    numpy.ndarray of int64
        Each spell-year's start (unchanged where the spell is not left-truncated).
    """
    allied = set(dyad_year_key(episodes["lo"], episodes["hi"], episodes["year"]).tolist())
    start = spells["start"].to_numpy(np.int64).copy()
    trunc = spells["left_truncated"].to_numpy() == 1
    for idx in np.flatnonzero(trunc):
        lo, hi, year = int(spells["lo"].iat[idx]), int(spells["hi"].iat[idx]), int(start[idx])
        while int(dyad_year_key(lo, hi, year - 1)) in allied:
            year -= 1
        start[idx] = year
    return start


def war_won_cow(spells: pd.DataFrame, wars: pd.DataFrame, panel: pd.DataFrame) -> np.ndarray:
    """``war_won`` from COW wars: common enemy in the spell's first year, both winners, t ≥ enemy's last war-year.

    Parameters
    ----------
    spells : pandas.DataFrame
        Spell-years (``spell, lo, hi, start, year``).
    wars : pandas.DataFrame
        What :meth:`walt_bayes.panel.companions.Companions.cow_wars` returned.
    panel : pandas.DataFrame
        The global panel; its ``war`` column says where the war data reach.

    Returns
    -------
    numpy.ndarray
        0/1 per spell-year; missing (NaN) where the panel's ``war`` column is missing in
        the spell's first year.
    """
    first = spells.drop_duplicates("spell")[["spell", "lo", "hi", "start"]]
    side = wars[["warnum", "x", "j", "year", "outcome"]]
    mi = first.merge(side, left_on=["lo", "start"], right_on=["x", "year"])[["spell", "warnum", "j", "outcome"]]
    mk = first.merge(side, left_on=["hi", "start"], right_on=["x", "year"])[["spell", "warnum", "j", "outcome"]]
    common = mi.merge(mk, on=["spell", "warnum", "j"], suffixes=("_lo", "_hi"))
    common = common.loc[(common["outcome_lo"] == 1) & (common["outcome_hi"] == 1)]
    enemy_end = wars.groupby(["warnum", "x"])["year"].max().rename("end").reset_index()
    common = common.merge(enemy_end, left_on=["warnum", "j"], right_on=["warnum", "x"])
    defeat = common.groupby("spell")["end"].min()
    when = spells["spell"].map(defeat).to_numpy(dtype=float)
    out = (spells["year"].to_numpy(float) >= when).astype(float)  # NaN (no such war) -> False
    # Coverage: the panel's war column in the spell's first year.
    war = pd.to_numeric(panel["war"], errors="coerce").astype("float64").to_numpy()
    lo = np.minimum(panel["ccode1"].to_numpy(np.int64), panel["ccode2"].to_numpy(np.int64))
    hi = np.maximum(panel["ccode1"].to_numpy(np.int64), panel["ccode2"].to_numpy(np.int64))
    covered = pd.Series(~np.isnan(war), index=dyad_year_key(lo, hi, panel["year"])).groupby(level=0).max()
    ok = covered.reindex(dyad_year_key(spells["lo"], spells["hi"], spells["start"])).fillna(False).to_numpy(bool)
    return np.where(ok, out, np.nan)


def _state_values(panel: pd.DataFrame, column: str) -> pd.Series:
    """State-year values of a ``<column>1`` / ``<column>2`` pair, indexed by ``year * 1000 + ccode``."""
    parts = []
    for side in ("1", "2"):
        name = f"{column}{side}"
        if name in panel.columns:
            codes = panel[f"ccode{side}"].to_numpy(np.int64)
            vals = pd.to_numeric(panel[name], errors="coerce").astype("float64").to_numpy()
            parts.append(pd.Series(vals, index=panel["year"].to_numpy(np.int64) * 1000 + codes))
    both = pd.concat(parts)
    return both.groupby(level=0).max()


def regime_pairs(spells: pd.DataFrame, panel: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, str]:
    """The IDEO-2 regime pairs of each spell-year.

    Parameters
    ----------
    spells : pandas.DataFrame
        Spell-years (``lo, hi, year``).
    panel : pandas.DataFrame
        With ``leninist1/2`` and ``democracy1/2`` (``monarchy1/2`` optional).

    Returns
    -------
    both_leninist, regime_other : numpy.ndarray
        0/1, NaN where a coding is missing; the baseline is a pair of democracies or
        monarchies.
    note : str
        A note when the panel has no monarchy coding, else ''.
    """
    y = spells["year"].to_numpy(np.int64)

    def of(column: str, who: str) -> np.ndarray:
        values = _state_values(panel, column)
        return values.reindex(y * 1000 + spells[who].to_numpy(np.int64)).to_numpy(dtype=float)

    len_lo, len_hi = of("leninist", "lo"), of("leninist", "hi")
    note = ""
    dem_lo, dem_hi = of("democracy", "lo"), of("democracy", "hi")
    if "monarchy1" in panel.columns:
        mon_lo, mon_hi = of("monarchy", "lo"), of("monarchy", "hi")
    else:
        mon_lo = mon_hi = np.zeros(len(spells))
        note = "no monarchy coding: the IDEO-2 baseline is pairs of democracies only"
    stable_lo = (dem_lo >= DEMOCRACY_CUT) | (mon_lo == 1)
    stable_hi = (dem_hi >= DEMOCRACY_CUT) | (mon_hi == 1)
    both_len = (len_lo == 1) & (len_hi == 1)
    other = ~both_len & ~(stable_lo & stable_hi)
    missing = np.isnan(len_lo) | np.isnan(len_hi) | (np.isnan(dem_lo) & (mon_lo != 1)) | (
        np.isnan(dem_hi) & (mon_hi != 1)
    )
    return (
        np.where(missing, np.nan, both_len.astype(float)),
        np.where(missing, np.nan, other.astype(float)),
        note,
    )


def _shared_source(first: pd.DataFrame, panel: pd.DataFrame) -> np.ndarray:
    """Per spell (rows of ``first``): 1 if a third state threatened both members at formation, else 0.

    A third state *j* threatens a member *x* in year *t* when they are strategic
    rivals (``rivalry``) or *j* initiated a militarised dispute against *x* in the
    previous ten years (``init21_past10`` > 0 on the row x, j).  NaN where either
    member has a missing value of either input in that year: an unknown threat is
    not evidence of no threat.
    """
    rivalry = pd.to_numeric(panel["rivalry"], errors="coerce").astype("float64").to_numpy()
    past = pd.to_numeric(panel["init21_past10"], errors="coerce").astype("float64").to_numpy()
    x = panel["ccode1"].to_numpy(np.int64)
    year = panel["year"].to_numpy(np.int64)
    frame = pd.DataFrame({"x": x, "j": panel["ccode2"].to_numpy(np.int64), "year": year})
    gap = pd.Series(np.isnan(rivalry) | np.isnan(past), index=year * 1000 + x).groupby(level=0).max()
    src = frame.loc[(rivalry == 1) | (past > 0)]
    ti = first.merge(src, left_on=["lo", "start"], right_on=["x", "year"])[["spell", "lo", "hi", "j"]]
    tk = first.merge(src, left_on=["hi", "start"], right_on=["x", "year"])[["spell", "j"]]
    both = ti.merge(tk, on=["spell", "j"])
    both = both.loc[(both["j"] != both["lo"]) & (both["j"] != both["hi"])]
    shared = first["spell"].isin(both["spell"]).to_numpy()
    start = first["start"].to_numpy(np.int64)
    unknown = np.zeros(len(first), dtype=bool)
    for who in ("lo", "hi"):
        unknown |= gap.reindex(start * 1000 + first[who].to_numpy(np.int64)).fillna(True).to_numpy(bool)
    return np.where(unknown & ~shared, np.nan, shared.astype(float))


def motives(spells: pd.DataFrame, panel: pd.DataFrame, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(ideological, other_motive) per spell-year, classified in the spell's first observed year.

    IDEO-5 contrasts *ideology-driven* alliances (similar regimes, ``ideo_sim`` ≥
    ``threshold``, and no shared threat source) with *threat-driven* ones (a shared
    threat source: the baseline); ``other_motive`` marks dissimilar regimes without
    a shared source.  A spell whose similarity or shared-source status is unknown is
    NaN (left out): it cannot be classified.  A shared source is known even when
    other inputs are missing (one observed common threat suffices).

    Parameters
    ----------
    spells : pandas.DataFrame
        Spell-years with ``spell, lo, hi, first_year``.
    panel : pandas.DataFrame
        With ``rivalry``, ``init21_past10`` and ``ideo_sim``.
    threshold : float
        Regimes at least this similar count as similar.

    Returns
    -------
    ideological, other_motive : numpy.ndarray
        0/1 per spell-year, NaN where the spell cannot be classified.
    """
    first = spells.drop_duplicates("spell")[["spell", "lo", "hi", "first_year"]].rename(
        columns={"first_year": "start"}
    )
    shared = _shared_source(first, panel)
    sim_all = pd.to_numeric(panel["ideo_sim"], errors="coerce").astype("float64").to_numpy()
    c1, c2 = panel["ccode1"].to_numpy(np.int64), panel["ccode2"].to_numpy(np.int64)
    sim = pd.Series(sim_all, index=dyad_year_key(np.minimum(c1, c2), np.maximum(c1, c2), panel["year"]))
    sim = sim.groupby(level=0).mean()
    sim0 = sim.reindex(dyad_year_key(first["lo"], first["hi"], first["start"])).to_numpy(dtype=float)
    similar = sim0 >= threshold
    ideo = np.where(shared == 1, 0.0, np.where(np.isnan(shared) | np.isnan(sim0), np.nan, similar.astype(float)))
    other = np.where(shared == 1, 0.0, np.where(np.isnan(shared) | np.isnan(sim0), np.nan, (~similar).astype(float)))
    per_spell = pd.DataFrame({"ideological": ideo, "other_motive": other}, index=first["spell"].to_numpy())
    expanded = per_spell.reindex(spells["spell"].to_numpy())
    return expanded["ideological"].to_numpy(float), expanded["other_motive"].to_numpy(float)
