"""Resolve a ``--data`` argument to a validated panel: the embedded data or a panel file.

``--data`` is ``middle-east`` (the embedded data), the name of a panel built
from the real-data sources and cached (:mod:`walt_bayes.panel.named`:
``middle-east-atop``, ``middle-east-global-embedded``, ``middle-east-atop-any``,
``global-A-B``), a folder with the embedded CSV layout (``states.csv``,
``state_years.csv``, … as in ``data/middle_east/``; validated like the bundled files), or a panel file (``.parquet`` or ``.csv``)
with the columns of :mod:`walt_bayes.panel.columns`.  A panel file is checked
before any model is built: key columns are whole numbers without gaps, numeric
columns hold numbers (missing values allowed, infinities not), 0/1 columns hold
0 or 1, counts are not negative; every problem raises :class:`DataError` with
one line naming the file, the column and the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from walt_bayes.errors import DataError, describe_rows
from walt_bayes.panel import columns, named
from walt_bayes.panel.companions import Companions, companions_for
from walt_bayes.panel.embedded import FILES, load_middle_east
from walt_bayes.panel.hashing import panel_sha256

EMBEDDED = "middle-east"

#: Columns holding text (region and regime labels); every other contract column is numeric.
TEXT_COLUMNS = frozenset({"region1", "region2", "regime1", "regime2"})
#: Columns that count events and cannot be negative.
COUNT_COLUMNS = ("init21_past10", "init2_past10", "igos")
#: Columns that are shares or similarities in [0, 1].
UNIT_COLUMNS = ("ideo_sim", "democracy1", "democracy2")


@dataclass
class Dataset:
    """A panel with the name and content hash a fit records, and the tables that go with it.

    ``companions`` (:class:`~walt_bayes.panel.companions.Companions`: the embedded episodes,
    COW wars, war joiners, each read when the model asks) defaults to those the panel's
    ``attrs`` and columns name (:func:`~walt_bayes.panel.companions.companions_for`).
    """

    name: str
    panel: pd.DataFrame
    sha256: str
    companions: Companions | None = None

    def __post_init__(self) -> None:
        if self.companions is None:
            self.companions = companions_for(self.panel)


def read_panel_file(path: Path) -> pd.DataFrame:
    """Read a panel from Parquet or CSV, with one-line errors."""
    if not path.exists():
        raise DataError(f"{path}: no such panel file")
    if not path.is_file():
        raise DataError(f"{path}: not a panel file")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".csv":
            return pd.read_csv(path)
    except Exception as err:  # pyarrow/pandas raise many types for corrupt files
        raise DataError(f"{path}: cannot read panel ({type(err).__name__}: {err})") from err
    raise DataError(f"{path}: unknown panel format '{path.suffix}' (use .parquet or .csv)")


def check_panel(panel: pd.DataFrame, name: str = "panel") -> None:
    """Check that a panel can become a model design: required columns, unique keys.

    :func:`walt_bayes.model.design.build_design` checks every panel it is given with it;
    :func:`validate_panel` checks a panel file with it when it is read, so the problem is
    reported before any model is built.

    Parameters
    ----------
    panel : pandas.DataFrame
        A directed dyad-year panel.
    name : str
        The panel's name, for messages.

    Raises
    ------
    DataError
        A required column is missing or a (ccode1, ccode2, year) occurs twice.
    """
    missing = [c for c in columns.REQUIRED if c not in panel.columns]
    if missing:
        raise DataError(f"{name}: missing required column '{missing[0]}' ({columns.REQUIRED[missing[0]]})")
    dup = panel.duplicated(["ccode1", "ccode2", "year"])
    if dup.any():
        rows = panel.index[dup][:5].tolist()
        raise DataError(f"{name}: duplicate (ccode1, ccode2, year) at rows {rows}")


def _where(rows: np.ndarray, csv: bool) -> str:
    """Row labels for a message: CSV line numbers (header = line 1) or 1-based data rows."""
    if csv:  # the wording of the embedded loader's messages
        return f"CSV {describe_rows([int(r) + 2 for r in rows])} (line numbers, header = line 1)"
    return f"data {describe_rows([int(r) + 1 for r in rows])} (first row = 1)"


def validate_panel(panel: pd.DataFrame, name: str, csv: bool = False) -> pd.DataFrame:
    """Check a panel read from a file against the column contract.

    Parameters
    ----------
    panel : pandas.DataFrame
        The panel as read.
    name : str
        The file, for messages.
    csv : bool
        Report CSV line numbers instead of data rows.

    Returns
    -------
    pandas.DataFrame
        The panel with a fresh index and integer key columns.

    Raises
    ------
    DataError
        One line: file, column, problem and rows.
    """
    panel = panel.reset_index(drop=True)
    if not all(isinstance(c, str) for c in panel.columns):
        raise DataError(f"{name}: column names must be text")
    dup_cols = sorted({c for c in panel.columns if list(panel.columns).count(c) > 1})
    if dup_cols:
        raise DataError(f"{name}: duplicate column(s) {', '.join(map(repr, dup_cols))}")
    missing = [c for c in columns.REQUIRED if c not in panel.columns]
    if missing:
        raise DataError(
            f"{name}: missing required column '{missing[0]}' ({columns.REQUIRED[missing[0]]})"
        )
    if panel.empty:
        raise DataError(f"{name}: no rows")

    known = set(columns.REQUIRED) | set(columns.OPTIONAL)
    for col in [c for c in panel.columns if c in known]:
        problem = _column_problem(col, panel[col])
        if problem is not None:
            raise _row_error(name, col, *problem, csv)
    same = panel["ccode1"].to_numpy() == panel["ccode2"].to_numpy()
    if same.any():
        raise _row_error(name, "ccode2", "a state paired with itself (ccode1 == ccode2)", same, csv)
    panel = panel.astype({k: "int64" for k in columns.KEYS})
    check_panel(panel, name=name)
    return panel


def _row_error(name: str, col: str, problem: str, bad, csv: bool) -> DataError:
    rows = np.flatnonzero(np.asarray(bad, dtype=bool))
    return DataError(f"{name}: column '{col}': {problem} at {_where(rows, csv)}")


def _column_problem(col: str, values: pd.Series) -> tuple[str, np.ndarray] | None:
    """The first problem of one known column, as (what, bad rows), or None."""
    if col in TEXT_COLUMNS:
        if col in ("region1", "region2") and values.isna().any():
            return "missing region", values.isna().to_numpy()
        return None
    if pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype("Int64")
    if not pd.api.types.is_numeric_dtype(values.dtype):
        numeric = pd.to_numeric(values, errors="coerce")
        return "not a number", (numeric.isna() & values.notna()).to_numpy()
    x = values.astype("float64").to_numpy(na_value=np.nan)
    present = ~np.isnan(x)
    checks = [("infinite value", np.isinf(x))]
    if col in columns.KEYS:
        lo, hi = (1, 999) if col != "year" else (1000, 2999)
        checks += [("missing value", np.isnan(x)), ("not a whole number", present & (x != np.round(x))),
                   ("COW code outside 1-999" if col != "year" else "year outside 1000-2999",
                    present & ((x < lo) | (x > hi)))]
    if col in columns.BINARY:
        checks.append(("must be 0 or 1 (or missing)", present & (x != 0) & (x != 1)))
    if col in COUNT_COLUMNS:
        checks.append(("negative count", present & (x < 0)))
    if col in UNIT_COLUMNS:
        checks.append(("must be in [0, 1] (or missing)", present & ((x < 0) | (x > 1))))
    return next(((what, bad) for what, bad in checks if bad.any()), None)


def _embedded_dir(path: Path) -> bool:
    return path.is_dir() and any((path / f).exists() for f in FILES.values())


def load_dataset(data: str | Path) -> Dataset:
    """The panel named by ``data``: ``middle-east``, a named real-data panel, embedded CSVs or a file.

    A named panel (:func:`walt_bayes.panel.named.is_named`) is read from the cache, or
    built from the sources and cached the first time; a file or folder of that name
    in the working directory does not shadow it.

    Raises
    ------
    DataError
        Unreadable file, missing required column, bad value, duplicate keys.
    """
    if str(data) == EMBEDDED:
        panel = load_middle_east()
        name = EMBEDDED
    elif named.is_named(str(data)):
        name = str(data)
        panel = validate_panel(named.load_named(name), name=name)
    elif Path(data).is_dir():
        path = Path(data)
        if not _embedded_dir(path):
            raise DataError(
                f"{path}: a folder given as --data must hold the embedded CSV files "
                "(states.csv, state_years.csv, …; see data/middle_east/CODEBOOK.md)"
            )
        panel = load_middle_east(path)
        name = path.resolve().name.replace("_", "-")
    else:
        path = Path(data)
        panel = validate_panel(read_panel_file(path), name=str(path), csv=path.suffix == ".csv")
        name = path.stem
    return Dataset(name=name, panel=panel, sha256=panel_sha256(panel))
