"""The pandera vocabulary of the embedded data's schemas, and their one-line errors.

Column builders (:func:`int_column`, :func:`text_column`, ...), checks
(:func:`row_check`, :func:`not_before`, :func:`known_codes`, ...) and
:func:`validate`, which turns pandera's table of failures into one
:class:`~walt_bayes.errors.DataError` line naming the file, the column and the CSV
line numbers.  The schemas of :mod:`walt_bayes.panel.me_schemas` and of the
wartime-joining file (:mod:`walt_bayes.model.joining`) are written in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors as pa_errors
import pandera.pandas as pa

from walt_bayes.errors import DataError, describe_rows
from walt_bayes.panel.me_codebook import LINE_NOTE

# --------------------------------------------------------------------------- errors


def row_check(column: str, message: str, fn: Callable[[pd.DataFrame], pd.Series]) -> pa.Check:
    """A DataFrame-level check that returns one boolean per row, reported on ``column``.

    Parameters
    ----------
    column : str
        The column an error is reported on.
    message : str
        What is wrong with a failing row.
    fn : callable
        Frame -> boolean Series, True where a row passes.

    Returns
    -------
    pandera.Check
        Its error text is ``"column|message"``, which :func:`validate` splits again.
    """
    return pa.Check(fn, error=f"{column}|{message}")


def _describe(context: str, column, check: str, schema: pa.DataFrameSchema) -> tuple[str, str, int]:
    """(column, message, priority) of one pandera failure; lower priority is reported first."""
    if "|" in check:  # our DataFrame-level row checks: "column|message"
        col, msg = check.split("|", 1)
        return col, msg, 4
    if context == "DataFrameSchema" and "uniqueness" in check:
        return "+".join(map(str, schema.unique)), "duplicate key", 3
    if check == "not_nullable":
        return str(column), "missing value", 0
    if check.startswith(("coerce_dtype(", "dtype(")):
        return str(column), f"value is not of type {check[check.index('(') + 1 : -1]}", 1
    if check == "field_uniqueness":
        return str(column), "duplicate value", 2
    return str(column), check, 2


def _condense(failures: pd.DataFrame, fname: str, schema: pa.DataFrameSchema) -> str:
    """Turn pandera's failure-case table into one line: file, column, problem, CSV lines.

    Column problems come before row-level (cross-column) ones, columns in schema
    order, and within a column missing values before type errors before checks.
    """
    col_order = {name: i for i, name in enumerate(schema.columns)}
    groups: dict[tuple[str, str], set[int]] = {}
    rank: dict[tuple[str, str], tuple[int, int, int, int]] = {}
    for context, column, check, index in zip(
        failures["schema_context"],
        failures["column"],
        failures["check"].astype(str),
        failures["index"],
        strict=True,
    ):
        col, msg, prio = _describe(context, column, check, schema)
        key = (col, msg)
        if key not in groups:
            groups[key] = set()
            first_col = col_order.get(col.split("+")[0], len(col_order))
            rank[key] = (int(prio >= 3), first_col, prio, len(rank))
        if index is not None and not pd.isna(index):
            groups[key].add(int(index) + 2)  # 0-based data row -> CSV line (header is line 1)
    col, msg = min(rank, key=rank.__getitem__)
    lines = sorted(groups[(col, msg)])
    where = f" at CSV {describe_rows(lines)} {LINE_NOTE}" if lines else ""
    more = len(groups) - 1
    extra = f"; {more} more problem{'s' if more != 1 else ''} in this file" if more else ""
    return f"{fname}: column {col!r}: {msg}{where}{extra}"


def validate(df: pd.DataFrame, schema: pa.DataFrameSchema, fname: str) -> pd.DataFrame:
    """Validate (and coerce) one file's table, every problem reported as one line.

    Parameters
    ----------
    df : pandas.DataFrame
        The file as read (strings).
    schema : pandera.DataFrameSchema
        Its schema.
    fname : str
        The file name the error names.

    Returns
    -------
    pandas.DataFrame
        The coerced table with a fresh 0-based index.

    Raises
    ------
    DataError
        ``"<file>: column '<c>': <problem> at CSV line(s) ..."``, the first problem in
        the order of :func:`_condense`, with a count of the others.
    """
    try:
        out = schema.validate(df, lazy=True)
    except pa_errors.SchemaErrors as err:
        raise DataError(_condense(err.failure_cases, fname, schema)) from None
    except pa_errors.SchemaError as err:  # non-lazy paths (e.g. a check that crashed)
        column = getattr(err, "column_name", None) or getattr(err, "column", None) or "?"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{fname}: column {column!r}: {first}") from None
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- columns


def int_column(checks=None, nullable: bool = False, **kw) -> pa.Column:
    """An integer column, coerced (nullable ``Int64`` when it may be empty)."""
    return pa.Column("Int64" if nullable else "int64", checks, coerce=True, nullable=nullable, **kw)


def float_column(checks=None, **kw) -> pa.Column:
    """A float64 column, coerced."""
    return pa.Column("float64", checks, coerce=True, **kw)


def text_column(checks=None, nullable: bool = False, **kw) -> pa.Column:
    """A text column, coerced."""
    return pa.Column(str, checks, coerce=True, nullable=nullable, **kw)


def binary_column() -> pa.Column:
    """A 0/1 integer column."""
    return int_column(pa.Check.isin([0, 1], error="must be 0 or 1"))


# --------------------------------------------------------------------------- checks


def years_check(lo: int, hi: int) -> pa.Check:
    """Years within ``lo..hi``."""
    return pa.Check.in_range(lo, hi, error=f"year outside {lo}-{hi}")


def not_before(later: str, earlier: str) -> pa.Check:
    """Row check: ``later >= earlier``, reported on ``later``."""
    return row_check(later, f"{later} before {earlier}", lambda d: d[later] >= d[earlier])


def ordered_pair(a: str, b: str) -> pa.Check:
    """Row check: an undirected pair written once, ``a < b``."""
    return row_check(b, f"pair must be ordered {a} < {b}", lambda d: d[a] < d[b])


def distinct(a: str, b: str) -> pa.Check:
    """Row check: ``a != b`` (a state acting on itself is a typo)."""
    return row_check(b, f"{a} and {b} must differ", lambda d: d[a] != d[b])


def known_codes(codes: set[int]) -> pa.Check:
    """COW codes listed in ``states.csv``."""
    return pa.Check.isin(sorted(codes), error="unknown COW code (not in states.csv)")


def parse_codes(text) -> tuple[int, ...] | None:
    """A ``;``-separated list of COW codes.

    Parameters
    ----------
    text : str or missing
        E.g. ``"651;666"``.

    Returns
    -------
    tuple of int or None
        ``(651, 666)``; ``()`` for an empty or missing value; ``None`` when malformed.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)) or text is pd.NA:
        return ()
    parts = [p.strip() for p in str(text).split(";")]
    if parts == [""]:
        return ()
    if not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def codes_wellformed(series: pd.Series, min_len: int) -> pd.Series:
    """';'-separated distinct integer codes, at least ``min_len`` of them."""

    def ok(text) -> bool:
        codes = parse_codes(text)
        return codes is not None and len(codes) >= min_len and len(set(codes)) == len(codes)

    return series.map(ok).astype(bool)


def codes_known(series: pd.Series, known: set[int]) -> pd.Series:
    """Every code in the ';'-separated list is in states.csv (malformed lists pass here)."""

    def ok(text) -> bool:
        codes = parse_codes(text)
        return codes is None or all(c in known for c in codes)

    return series.map(ok).astype(bool)


def no_overlap(d: pd.DataFrame, a: str, b: str) -> pd.Series:
    """True where a span does not overlap another span of the same (a, b) pair."""
    ok = pd.Series(True, index=d.index)
    for _, g in d.groupby([a, b]):
        if len(g) < 2:
            continue
        g = g.sort_values("start_year")
        prev_end = g["end_year"].shift()
        bad = g.index[(g["start_year"] <= prev_end).fillna(False).to_numpy()]
        ok[bad] = False
    return ok


def read_text_csv(path: Path, columns: Sequence[str], *, blank_is_na: bool = True) -> pd.DataFrame:
    """Read one CSV of the embedded data as strings (pandera coerces them later).

    The one reader of ``data/middle_east/`` files: the embedded tables, ``war_joining.csv``
    (model/joining.py) and ``atop_reference.csv``.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    columns : sequence of str
        Columns the file must have (more are allowed).
    blank_is_na : bool
        Read empty cells as missing (``NaN``) rather than as ``""``.

    Returns
    -------
    pandas.DataFrame
        Every column as read, header names stripped.

    Raises
    ------
    DataError
        One line naming the file: not found, not parseable, a missing column, or no rows.
    """
    fname = path.name
    if not path.is_file():
        raise DataError(f"{fname}: file not found in {path.parent}")
    na = {"na_values": [""]} if blank_is_na else {}
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8", **na)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{fname}: cannot parse CSV ({type(err).__name__}: {err})") from err
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{fname}: missing column(s) {', '.join(repr(c) for c in missing)}")
    if df.empty:
        raise DataError(f"{fname}: no data rows")
    return df
