"""Shared-threat links of block 2: relevant pairs, triads, persistent aggression and expected support.

A triad (alliance row, *j*) names a third state *j* whose threat the row's members *i* and *k*
may share: *j* is relevant to *i* or *k* (contiguity, major power, rivalry: the spec's
``relevance``) and both threat rows ``j → i`` and ``j → k`` exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from walt_bayes.model.arrays import dyad_year_key, zscore
from walt_bayes.model.dense import dense_layout
from walt_bayes.spec import ModelSpec

if TYPE_CHECKING:
    from walt_bayes.model.design import Design

#: A threat source counts as persistently aggressive (COND-4) with a rivalry or this many past disputes.
PERSISTENT_DISPUTES = 3


def relevant_pairs(panel: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """(x, j, year) such that threat source j is relevant to state x.

    Parameters
    ----------
    panel : pandas.DataFrame
        The directed dyad-year panel (``ccode2`` is *j*).
    spec : ModelSpec
        Its ``alliance.relevance`` names the criteria (``contiguous``, ``major``, ``rival``).

    Returns
    -------
    pandas.DataFrame
        int64 columns ``x, j, year``.
    """
    rel = np.zeros(len(panel), dtype=bool)
    r = spec.alliance.relevance
    if "contiguous" in r:
        rel |= panel["contiguous"].fillna(0).to_numpy() == 1
    if "major" in r:
        rel |= panel["major2"].fillna(0).to_numpy() == 1
    if "rival" in r:
        rel |= panel["rivalry"].fillna(0).to_numpy() == 1
    out = panel.loc[rel, ["ccode1", "ccode2", "year"]].rename(columns={"ccode1": "x", "ccode2": "j"})
    return out.astype("int64")


def build_triads(
    panel: pd.DataFrame, df: pd.DataFrame, spec: ModelSpec, design: Design, threat_index: pd.Index
) -> np.ndarray:
    """Sparse triads (alliance row, j): the third states whose threat i and k may share.

    Parameters
    ----------
    panel : pandas.DataFrame
        The panel blocks 1 and 2 are built from.
    df : pandas.DataFrame
        The alliance rows (``ccode1, ccode2, year``), in design order.
    spec : ModelSpec
    design : Design
        Receives ``triad_*``, the dense layout, the triads' transform entry and a note
        on triads left out.
    threat_index : pandas.Index
        :func:`~walt_bayes.model.arrays.dyad_year_key` of the threat rows.

    Returns
    -------
    numpy.ndarray
        Per triad, how many other states (besides i and k) its source threatens (COND-3).
    """
    rel = relevant_pairs(panel, spec)
    tri = _candidate_triads(df, rel)
    ji = threat_index.get_indexer(dyad_year_key(tri["i"], tri["j"], tri["year"]))
    jk = threat_index.get_indexer(dyad_year_key(tri["k"], tri["j"], tri["year"]))
    ok = (ji >= 0) & (jk >= 0)
    if (~ok).any():
        design.notes.append(f"shared threat: {int((~ok).sum())} triads with a missing threat row left out")
    tri = tri.loc[ok]
    design.triad_ally = tri["row"].to_numpy(np.int64)
    design.triad_ji = ji[ok].astype(np.int64)
    design.triad_jk = jk[ok].astype(np.int64)
    design.triad_persistent = _persistent(panel, tri)
    persistent = panel.loc[
        (panel["rivalry"].fillna(0) == 1) | (panel["init2_past10"].fillna(0) >= PERSISTENT_DISPUTES),
        ["ccode1", "ccode2", "year"],
    ].rename(columns={"ccode1": "x", "ccode2": "j"})
    design.dense = dense_layout(design.threat_keys, design.ally_keys, rel, persistent, len(tri))
    design.transform["triads"] = {
        "n": len(tri), "relevance": list(spec.alliance.relevance),
        "method": "dense per-year matrix products" if design.dense is not None else "sparse triads",
    }
    # Expected allied support (COND-3): how many states each source threatens.
    targets = rel.groupby(["j", "year"]).size()
    n_targets = targets.reindex(pd.MultiIndex.from_arrays([tri["j"], tri["year"]])).to_numpy(dtype=float)
    return np.nan_to_num(n_targets) - 2  # other states besides i and k


def _candidate_triads(df: pd.DataFrame, rel: pd.DataFrame) -> pd.DataFrame:
    """(row, i, k, j, year) for every source j relevant to i or k, once per row and j."""
    rows = pd.DataFrame(
        {"row": np.arange(len(df)), "i": df["ccode1"].to_numpy(np.int64),
         "k": df["ccode2"].to_numpy(np.int64), "year": df["year"].to_numpy(np.int64)}
    )
    via_i = rows.merge(rel, left_on=["i", "year"], right_on=["x", "year"])
    via_k = rows.merge(rel, left_on=["k", "year"], right_on=["x", "year"])
    tri = pd.concat([via_i, via_k], ignore_index=True)[["row", "i", "k", "j", "year"]]
    return tri.loc[(tri["j"] != tri["i"]) & (tri["j"] != tri["k"])].drop_duplicates(["row", "j"])


def _persistent(panel: pd.DataFrame, tri: pd.DataFrame) -> np.ndarray:
    """Persistent aggression (COND-4): j is a rival of i or k, or initiated repeated disputes."""
    riv = panel.loc[panel["rivalry"].fillna(0) == 1, ["ccode1", "ccode2", "year"]]
    riv_keys = pd.Index(dyad_year_key(riv["ccode1"], riv["ccode2"], riv["year"]))
    rival_i = pd.Index(dyad_year_key(tri["i"], tri["j"], tri["year"])).isin(riv_keys)
    rival_k = pd.Index(dyad_year_key(tri["k"], tri["j"], tri["year"])).isin(riv_keys)
    past = panel.drop_duplicates(["ccode2", "year"]).set_index(["ccode2", "year"])["init2_past10"]
    j_past = past.reindex(pd.MultiIndex.from_arrays([tri["j"], tri["year"]])).to_numpy(dtype=float)
    repeated = np.nan_to_num(j_past) >= PERSISTENT_DISPUTES
    return np.asarray(rival_i | rival_k | repeated, dtype=bool)


def support(design: Design, triad_targets: np.ndarray | None, n: int) -> np.ndarray:
    """Mean number of other states threatened by the shared sources, z-scored (COND-3).

    Parameters
    ----------
    design : Design
        With the triads built (none: every row gets 0).
    triad_targets : numpy.ndarray or None
        What :func:`build_triads` returned.
    n : int
        Number of alliance rows.

    Returns
    -------
    numpy.ndarray
        One value per alliance row.
    """
    if design.triad_ally is None or len(design.triad_ally) == 0:
        return np.zeros(n)
    total = np.bincount(design.triad_ally, weights=triad_targets, minlength=n)
    count = np.bincount(design.triad_ally, minlength=n)
    mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return zscore(mean)[0]
