"""Verbs that drop rows: politically relevant dyads and regions.

The only verbs that change the rows; every other verb keeps them (see
:mod:`walt_bayes.panel.verbs`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from walt_bayes.errors import DataError
from walt_bayes.panel.columns import REGIONS, region_of
from walt_bayes.panel.verb_tools import check_frame, frame_arrays


def _is_major(df: pd.DataFrame, side: str) -> np.ndarray:
    """``major<side> == 1``, an unknown status counting as not a major power."""
    return df[f"major{side}"].fillna(0).to_numpy(dtype=np.int64) == 1


def filter_relevant(df: pd.DataFrame) -> pd.DataFrame:
    """Keep politically relevant dyads (Weede 1976; Lemke & Reed 2001), as peacesciencer's
    ``filter_prd()``: contiguous (conttype 1-5) or at least one major power.  Rows whose
    relevance is unknown (NA contiguity and no known major power) are dropped."""
    check_frame(df, "filter_relevant", needs=("conttype", "major1", "major2"))
    ct = df["conttype"].fillna(0).to_numpy(dtype=np.int64)
    keep = ((ct >= 1) & (ct <= 5)) | _is_major(df, "1") | _is_major(df, "2")
    out = df.loc[keep].reset_index(drop=True)
    out.attrs = {**df.attrs, "relevant": True}
    return out


def normalise_region(region: str) -> str:
    """``"middle-east"`` / ``"Middle East"`` -> ``"middle_east"``; DataError if unknown."""
    key = region.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in REGIONS:
        names = ", ".join(r.replace("_", "-") for r in REGIONS)
        raise DataError(f"unknown region {region!r}; choose one of {names}")
    return key


def filter_region(df: pd.DataFrame, region: str, *, with_major_powers: bool = True) -> pd.DataFrame:
    """Keep dyads inside a region (COW numbering blocks, :func:`columns.region_of`).

    A dyad is kept if both states are in ``region``, or (``with_major_powers``) one is
    in ``region`` and the other is a major power that year, the way the embedded Middle
    East panel includes the USA, USSR, UK and France.  Needs ``major1/2`` for that.
    """
    key = normalise_region(region)
    check_frame(df, "filter_region", needs=("major1", "major2") if with_major_powers else ())
    c1, c2, _ = frame_arrays(df)
    codes = np.unique(np.concatenate([c1, c2]))
    inside = np.array([region_of(int(c)) == key for c in codes])
    in1 = inside[np.searchsorted(codes, c1)]
    in2 = inside[np.searchsorted(codes, c2)]
    keep = in1 & in2
    if with_major_powers:
        keep |= (in1 & _is_major(df, "2")) | (in2 & _is_major(df, "1"))
    out = df.loc[keep].reset_index(drop=True)
    out.attrs = {**df.attrs, "region": key}
    return out
