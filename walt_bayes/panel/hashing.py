"""A stable content hash of a panel (stored in fit files to tie a fit to its data)."""

from __future__ import annotations

import hashlib

import pandas as pd

from walt_bayes.panel.columns import KEYS


def _kind(series: pd.Series) -> str:
    """Coarse, pandas-version-independent type label of a column."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "str"


def panel_sha256(df: pd.DataFrame) -> str:
    """SHA-256 of a panel's content, independent of row and column order.

    The frame's columns are put in name order and its rows sorted by the panel
    keys (``ccode1, ccode2, year``, those present); the hash covers the column
    names, a coarse type label per column (int/float/bool/str/datetime, so that
    ``int64`` vs nullable ``Int64`` or ``object`` vs ``str`` storage does not
    matter) and the CSV text of the values, floats written with 17 significant
    digits (exact round trip) and missing values as ``<NA>``.  ``df.attrs`` and
    the index are not part of the content.  The result is the same across runs
    and processes.

    Parameters
    ----------
    df : pandas.DataFrame
        The panel.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    cols = sorted(map(str, df.columns))
    frame = df.set_axis([str(c) for c in df.columns], axis=1)[cols]
    keys = [k for k in KEYS if k in frame.columns]
    if keys:
        frame = frame.sort_values(keys, kind="mergesort")
    frame = frame.reset_index(drop=True)
    digest = hashlib.sha256()
    header = "\x1f".join(f"{c}:{_kind(frame[c])}" for c in cols)
    digest.update(header.encode("utf-8"))
    digest.update(b"\x1e")
    body = frame.to_csv(
        index=False, header=False, lineterminator="\n", float_format="%.17g", na_rep="<NA>"
    )
    digest.update(body.encode("utf-8"))
    return digest.hexdigest()
