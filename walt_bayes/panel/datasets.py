"""Resolve a ``--data`` argument to a validated panel: the embedded data or a panel file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from walt_bayes.errors import DataError
from walt_bayes.model.design import check_panel
from walt_bayes.panel.hashing import panel_sha256

EMBEDDED = "middle-east"


@dataclass
class Dataset:
    """A panel with the name and content hash a fit records."""

    name: str
    panel: pd.DataFrame
    sha256: str


def read_panel_file(path: Path) -> pd.DataFrame:
    """Read a panel from Parquet or CSV, with one-line errors."""
    if not path.exists():
        raise DataError(f"{path}: no such panel file")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".csv":
            return pd.read_csv(path)
    except Exception as err:  # pyarrow/pandas raise many types for corrupt files
        raise DataError(f"{path}: cannot read panel ({type(err).__name__}: {err})") from err
    raise DataError(f"{path}: unknown panel format '{path.suffix}' (use .parquet or .csv)")


def load_dataset(data: str | Path) -> Dataset:
    """The panel named by ``data``: ``middle-east`` (embedded) or a panel file.

    Raises
    ------
    DataError
        Unreadable file, missing required column, duplicate keys.
    """
    if str(data) == EMBEDDED:
        from walt_bayes.panel.embedded import load_middle_east

        panel = load_middle_east()
        name = EMBEDDED
    else:
        path = Path(data)
        panel = read_panel_file(path)
        name = path.stem
        check_panel(panel, name=str(path))
    return Dataset(name=name, panel=panel, sha256=panel_sha256(panel))
