"""Alliance spells: a dyad's consecutive allied years, and the spell-years at risk of ending.

The rows of block 3 (:mod:`walt_bayes.model.duration`, whose docstring gives the rules for
censoring and left truncation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from walt_bayes.errors import ModelError
from walt_bayes.model.arrays import YEAR_STEP, dyad_year_key
from walt_bayes.spec import ModelSpec


def outcome_column(spec: ModelSpec) -> str:
    """The symmetric alliance column spells are built from (``ally`` for the directed pledge)."""
    return {"ally": "ally", "ally_formal": "ally_formal"}.get(spec.alliance.outcome, "ally")



def alliance_spells(panel: pd.DataFrame, outcome: str = "ally") -> pd.DataFrame:
    """Spell-years at risk of ending, from a directed dyad-year panel.

    Parameters
    ----------
    panel : pandas.DataFrame
        ``ccode1, ccode2, year`` and the 0/1 column ``outcome`` (missing allowed).
        Both directions of a dyad may be present; the dyad is allied in *t* if either
        row says so, missing if both are missing.
    outcome : str
        The alliance column.

    Returns
    -------
    pandas.DataFrame
        One row per allied undirected dyad-year, sorted by ``lo, hi, year``:
        ``lo, hi, year`` (``lo < hi``), ``spell`` (0, 1, … in that order), ``start``
        (first observed year of the spell), ``duration`` (year − start + 1),
        ``event`` (1 if the dyad is observed not allied in year + 1),
        ``censored`` (1 if year + 1 is unobserved: panel end, a state left, a
        missing outcome) and ``left_truncated`` (1 if the spell is allied in the
        panel's first year).
    """
    if outcome not in panel.columns:
        raise ModelError(f"alliance duration: the panel has no column '{outcome}'")
    c1 = panel["ccode1"].to_numpy(np.int64)
    c2 = panel["ccode2"].to_numpy(np.int64)
    years = panel["year"].to_numpy(np.int64)
    values = pd.to_numeric(panel[outcome], errors="coerce").astype("float64").to_numpy()
    frame = pd.DataFrame({"lo": np.minimum(c1, c2), "hi": np.maximum(c1, c2), "year": years, "a": values})
    und = frame.groupby(["lo", "hi", "year"], sort=True)["a"].max().reset_index()
    key = dyad_year_key(und["lo"], und["hi"], und["year"])
    status = pd.Series(und["a"].to_numpy(), index=key)
    allied = und["a"].to_numpy() == 1
    rows = und.loc[allied, ["lo", "hi", "year"]].reset_index(drop=True)
    key = key[allied]
    nxt = status.reindex(key + YEAR_STEP).to_numpy()
    prv = status.reindex(key - YEAR_STEP).to_numpy()
    rows["event"] = (nxt == 0).astype(np.int64)
    rows["censored"] = ((nxt != 0) & (nxt != 1)).astype(np.int64)  # NaN compares unequal
    rows["spell"] = np.cumsum(prv != 1) - 1
    rows["start"] = rows.groupby("spell")["year"].transform("min").astype(np.int64)
    rows["duration"] = rows["year"] - rows["start"] + 1
    first = int(years.min()) if len(years) else 0
    rows["left_truncated"] = (rows["start"] == first).astype(np.int64)
    return rows[["lo", "hi", "year", "spell", "start", "duration", "event", "censored", "left_truncated"]]
