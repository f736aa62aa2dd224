"""The embedded Middle East panel derived from its validated tables.

:func:`build_panel` turns :class:`~walt_bayes.panel.me_codebook.MiddleEastTables` into
the directed dyad-year panel of :func:`walt_bayes.panel.embedded.load_middle_east`, one
family of columns at a time (identity and power, geography, hostility, alignment,
regimes, aid).  Each derivation is documented in ``data/middle_east/CODEBOOK.md``.

Lookups merge the panel's key columns against the expanded spans of a table; a merge
keeps the left frame's row order, so every column comes back aligned with the panel.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from walt_bayes.panel import columns
from walt_bayes.panel.me_codebook import (
    FIRST_YEAR,
    IDEO_SIM,
    LAG_YEARS,
    LAST_YEAR,
    PANEL_OPTIONAL,
    MiddleEastTables,
)
from walt_bayes.panel.portable_math import apply

#: Mean Earth radius (IUGG), the codebook's haversine distance.  The global COW panel
#: uses peacesciencer's sphere instead (:func:`walt_bayes.panel.verbs.great_circle_km`):
#: each panel keeps the distance its own documentation states.
_EARTH_RADIUS_KM = 6371.0088

#: State-year attributes each dyad carries for both of its states (suffixes 1 and 2).
_STATE_ATTRS = (
    "ccode",
    "year",
    "subregion",
    "power",
    "major",
    "offense",
    "regime",
    "democracy",
    "leninist",
    "monarchy",
    "illegit",
    "cap_lat",
    "cap_lon",
)

#: Optional per-state columns copied through, with their dtype in the panel.
_REGIME_DTYPES = {
    "regime": str,
    "democracy": "float64",
    "leninist": "int64",
    "monarchy": "int64",
    "illegit": "int64",
}

#: Keys of an undirected pair in a year (the order-free ``lo < hi`` of the dyad).
_PAIR = ["lo", "hi", "year"]
#: Keys of an act of j (``ccode2``) towards i (``ccode1``) in a year.
_J_TO_I = ["ccode2", "ccode1", "year"]


# --------------------------------------------------------------------------- lookups


def _expand_years(
    df: pd.DataFrame, start: str, end: str, lo: int = FIRST_YEAR, hi: int = LAST_YEAR
) -> pd.DataFrame:
    """One row per year of each span, clipped to ``lo..hi``; adds column ``year``."""
    s = df[start].clip(lower=lo).to_numpy()
    e = df[end].clip(upper=hi).to_numpy()
    n = np.maximum(e - s + 1, 0)
    out = df.loc[df.index.repeat(n)].reset_index(drop=True)
    offsets = np.concatenate([np.arange(k) for k in n]) if n.sum() else np.zeros(0, dtype=np.int64)
    out["year"] = np.repeat(s, n) + offsets
    return out


def _flag(panel: pd.DataFrame, keys: pd.DataFrame, on: list[str]) -> np.ndarray:
    """1 where the panel's ``on`` columns match a row of ``keys[on]``, else 0 (row order kept)."""
    keys = keys[on].drop_duplicates().assign(_hit=1)
    merged = panel[on].merge(keys, how="left", on=on)
    return merged["_hit"].fillna(0).to_numpy(dtype=np.int64)


def _count(
    panel: pd.DataFrame, counts: pd.DataFrame, left_on: list[str], right_on: list[str]
) -> np.ndarray:
    """The ``n`` of ``counts`` matching each panel row, 0 where none matches."""
    merged = panel[left_on].merge(counts, how="left", left_on=left_on, right_on=right_on)
    return merged["n"].fillna(0).to_numpy(dtype=np.int64)


def _haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km (haversine on :data:`_EARTH_RADIUS_KM`).

    The sines, cosines and arcsine are :func:`~walt_bayes.panel.portable_math.apply`'s,
    the same bits on every CPU (NumPy's AVX-512 loops differ in the last bit).
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2) - np.radians(lon1)
    a = (
        apply("sin", dphi / 2) ** 2
        + apply("cos", p1) * apply("cos", p2) * apply("sin", dlmb / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_KM * apply("arcsin", np.sqrt(a))


def member_pairs(members: Sequence[int]) -> Iterator[tuple[int, int]]:
    """Every unordered pair of an episode's members as ``(lower code, higher code)``.

    Parameters
    ----------
    members : sequence of int
        The episode's COW codes, in file order.

    Yields
    ------
    tuple of (int, int)
        Each pair once, in the order of ``members``.
    """
    for a_i, a in enumerate(members):
        for b in members[a_i + 1 :]:
            yield min(a, b), max(a, b)


def _pair_years(episodes: pd.DataFrame) -> pd.DataFrame:
    """Undirected ``(lo, hi, year, formal)`` rows of episode co-membership, 1955-1979."""
    rows = [
        (lo, hi, s, e, formal)
        for mem, s, e, formal in zip(
            episodes["members"],
            episodes["start_year"],
            episodes["end_year"],
            episodes["formal"],
            strict=True,
        )
        for lo, hi in member_pairs(mem)
    ]
    pairs = pd.DataFrame(rows, columns=["lo", "hi", "start_year", "end_year", "formal"]).astype(
        "int64"
    )
    return _expand_years(pairs, "start_year", "end_year")


# --------------------------------------------------------------------------- columns


def _dyads(tables: MiddleEastTables) -> pd.DataFrame:
    """Every ordered pair of distinct member states in each year, with both states' attributes.

    Sorted by ``(year, ccode1, ccode2)`` with a fresh 0-based index (the panel's rows);
    ``lo``/``hi`` are the lower and higher code of the pair.
    """
    sy = tables.state_years.merge(
        tables.states[["ccode", "subregion", "cap_lat", "cap_lon"]], on="ccode", how="left"
    )
    keep = list(_STATE_ATTRS)
    left = sy[keep].add_suffix("1").rename(columns={"year1": "year"})
    right = sy[keep].add_suffix("2").rename(columns={"year2": "year"})
    d = left.merge(right, on="year")
    d = d[d["ccode1"] != d["ccode2"]].sort_values(["year", "ccode1", "ccode2"], kind="mergesort")
    d = d.reset_index(drop=True)
    d["lo"] = np.minimum(d["ccode1"], d["ccode2"])
    d["hi"] = np.maximum(d["ccode1"], d["ccode2"])
    return d


def _identity_and_power(d: pd.DataFrame) -> pd.DataFrame:
    """Keys, regions, capabilities and major-power status of both states."""
    return pd.DataFrame(
        {
            "ccode1": d["ccode1"].astype("int64"),
            "ccode2": d["ccode2"].astype("int64"),
            "year": d["year"].astype("int64"),
            "region1": d["subregion1"].astype(str),
            "region2": d["subregion2"].astype(str),
            # Coded share of world capability in percent -> log of the fraction (CINC scale);
            # the log is portable_math's, the same bits on every CPU.
            "power1": apply("log", d["power1"].to_numpy(dtype=np.float64) / 100.0),
            "power2": apply("log", d["power2"].to_numpy(dtype=np.float64) / 100.0),
            "major1": d["major1"].astype("int64"),
            "major2": d["major2"].astype("int64"),
            "offense1": d["offense1"].astype("float64"),
            "offense2": d["offense2"].astype("float64"),
        }
    )


def _geography(d: pd.DataFrame, contiguity: pd.DataFrame) -> dict[str, np.ndarray]:
    """``contiguous`` (land or sea) and ``log_capdist`` (log km between capitals)."""
    contig = _expand_years(
        contiguity.rename(columns={"ccode1": "lo", "ccode2": "hi"}), "first_year", "last_year"
    )
    km = _haversine_km(
        d["cap_lat1"].to_numpy(np.float64),
        d["cap_lon1"].to_numpy(np.float64),
        d["cap_lat2"].to_numpy(np.float64),
        d["cap_lon2"].to_numpy(np.float64),
    )
    return {"contiguous": _flag(d, contig, _PAIR), "log_capdist": apply("log", km)}


def _neighbour2(panel: pd.DataFrame) -> np.ndarray:
    """1 if i and j share a contiguous neighbour (that year's members) but are not contiguous."""
    out = np.zeros(len(panel), dtype=np.int64)
    for _, idx in panel.groupby("year").indices.items():
        sub = panel.iloc[idx]
        codes = np.unique(np.concatenate([sub["ccode1"].to_numpy(), sub["ccode2"].to_numpy()]))
        pos = {c: k for k, c in enumerate(codes)}
        i = sub["ccode1"].map(pos).to_numpy()
        j = sub["ccode2"].map(pos).to_numpy()
        adj = np.zeros((len(codes), len(codes)), dtype=np.int64)
        adj[i, j] = sub["contiguous"].to_numpy()
        shared = (adj @ adj) > 0
        out[idx] = (shared[i, j] & (adj[i, j] == 0)).astype(np.int64)
    return out


def _lagged_acts(acts: pd.DataFrame) -> pd.DataFrame:
    """Each hostile act repeated once for every year t whose lag window t-10..t-1 holds it."""
    lagged = acts.loc[acts.index.repeat(LAG_YEARS), ["actor", "target", "year"]].reset_index(
        drop=True
    )
    lagged["year"] = lagged["year"] + np.tile(np.arange(1, LAG_YEARS + 1), len(acts))
    return lagged


def _hostility(d: pd.DataFrame, acts: pd.DataFrame) -> dict[str, np.ndarray]:
    """``init21`` (an act of j against i in t) and its counts over t-10..t-1."""
    lagged = _lagged_acts(acts)
    dyad_counts = lagged.groupby(["actor", "target", "year"]).size().rename("n").reset_index()
    actor_counts = lagged.groupby(["actor", "year"]).size().rename("n").reset_index()
    return {
        "init21": _flag(d, acts.rename(columns={"actor": "ccode2", "target": "ccode1"}), _J_TO_I),
        "init21_past10": _count(d, dyad_counts, _J_TO_I, ["actor", "target", "year"]),
        "init2_past10": _count(d, actor_counts, ["ccode2", "year"], ["actor", "year"]),
    }


def _rivalry(d: pd.DataFrame, rivalries: pd.DataFrame) -> np.ndarray:
    """``rivalry``: 1 in the years of a coded rivalry of the pair."""
    riv = _expand_years(
        rivalries.rename(columns={"ccode1": "lo", "ccode2": "hi"}), "start_year", "end_year"
    )
    return _flag(d, riv, _PAIR)


def _alignment(d: pd.DataFrame, episodes: pd.DataFrame) -> dict:
    """``ally``, ``pledge12``, ``ally_formal`` and ``ally_onset`` from episode co-membership."""
    pairs = _pair_years(episodes)
    ally = _flag(d, pairs, _PAIR)
    prev = pairs[["lo", "hi", "year"]].assign(year=pairs["year"] + 1)
    ally_prev = _flag(d, prev, _PAIR)
    onset = pd.array((ally == 1) & (ally_prev == 0), dtype="Int64")
    onset[d["year"].to_numpy() == FIRST_YEAR] = pd.NA  # no t-1 in the data: NA, never 0
    return {
        "ally": ally,
        "pledge12": ally,  # the embedded coding is symmetric
        "ally_formal": _flag(d, pairs[pairs["formal"] == 1], _PAIR),
        "ally_onset": onset,
    }


def _ideo_sim(r1: pd.Series, r2: pd.Series) -> np.ndarray:
    """1 for equal regime categories, :data:`IDEO_SIM` for related ones, else 0."""
    return np.array(
        [
            1.0 if a == b else IDEO_SIM.get(frozenset((a, b)), 0.0)
            for a, b in zip(r1, r2, strict=True)
        ],
        dtype=np.float64,
    )


def _regimes(d: pd.DataFrame) -> dict:
    """``ideo_sim`` and both states' regime columns (category, democracy, flags)."""
    out: dict = {"ideo_sim": _ideo_sim(d["regime1"], d["regime2"])}
    for col, dtype in _REGIME_DTYPES.items():
        for k in ("1", "2"):
            out[col + k] = d[col + k].astype(dtype)
    return out


def _aid(d: pd.DataFrame, arms_aid: pd.DataFrame) -> dict[str, np.ndarray]:
    """``aid21`` (j gives i aid in t) and ``aid12`` (i gives j)."""
    aid = _expand_years(arms_aid, "start_year", "end_year")
    to_i = aid.rename(columns={"donor": "ccode2", "recipient": "ccode1"})
    to_j = aid.rename(columns={"donor": "ccode1", "recipient": "ccode2"})
    return {
        "aid21": _flag(d, to_i, _J_TO_I),
        "aid12": _flag(d, to_j, ["ccode1", "ccode2", "year"]),
    }


def _put(panel: pd.DataFrame, new: dict) -> None:
    """Add columns to the panel in place (in the order given)."""
    for name, values in new.items():
        panel[name] = values


def build_panel(tables: MiddleEastTables) -> pd.DataFrame:
    """The directed dyad-year panel from validated tables.

    Parameters
    ----------
    tables : MiddleEastTables
        The validated files (:func:`walt_bayes.panel.embedded.load_tables`).

    Returns
    -------
    pandas.DataFrame
        The panel of :func:`walt_bayes.panel.embedded.load_middle_east` (columns
        :data:`columns.REQUIRED` then :data:`PANEL_OPTIONAL`), without ``attrs["data_dir"]``.
    """
    d = _dyads(tables)
    panel = _identity_and_power(d)
    _put(panel, _geography(d, tables.contiguity))
    panel["neighbour2"] = _neighbour2(panel)  # needs the frame's contiguity
    _put(panel, _hostility(d, tables.hostile_acts))
    panel["rivalry"] = _rivalry(d, tables.rivalries)
    _put(panel, _alignment(d, tables.episodes))
    _put(panel, _regimes(d))
    _put(panel, _aid(d, tables.arms_aid))

    panel = panel[list(columns.REQUIRED) + list(PANEL_OPTIONAL)]
    panel.attrs["unit"] = "directed dyad-year"
    panel.attrs["name"] = "middle-east"
    return panel
