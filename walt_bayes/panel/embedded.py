"""The embedded Middle East case data (1955-1979) and its directed dyad-year panel.

The CSV files in ``data/middle_east/`` were written by the package's authors from
the diplomatic history of the period (see ``data/middle_east/CODEBOOK.md``).
This module reads them and validates them with pandera (one ``DataFrameSchema`` per
file, plus cross-file checks built into those schemas: :mod:`walt_bayes.panel.me_schemas`),
then derives the panel with exactly the columns of :mod:`walt_bayes.panel.columns`
(:mod:`walt_bayes.panel.me_derive`).  The codebook's constants live in
:mod:`walt_bayes.panel.me_codebook` and are re-exported here.

Every problem in the files raises :class:`walt_bayes.errors.DataError` with a
single line naming the file, the column and the CSV line numbers (the header is
line 1).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from walt_bayes.errors import DataError
from walt_bayes.panel.me_checks import (
    parse_codes,
    read_text_csv,
    validate,
)
from walt_bayes.panel.me_codebook import (
    AID_KINDS,
    CONTIGUITY_TYPES,
    COW_GAPS,
    FILE_COLUMNS,
    FILES,
    FIRST_YEAR,
    HISTORY_FIRST_YEAR,
    HOSTILE_FIRST_YEAR,
    HOSTILE_LEVELS,
    IDEO_SIM,
    LAG_YEARS,
    LAST_YEAR,
    MONARCHIES,
    PANEL_OPTIONAL,
    REGIMES,
    SUBREGIONS,
    MiddleEastTables,
)
from walt_bayes.panel.me_derive import build_panel, member_pairs
from walt_bayes.panel.me_schemas import (
    Membership,
    aid_schema,
    check_complete,
    contiguity_schema,
    episodes_schema,
    hostile_schema,
    rivalry_schema,
    state_years_schema,
    states_schema,
)
from walt_bayes.paths import bundled_path

__all__ = [
    "AID_KINDS",
    "CONTIGUITY_TYPES",
    "COW_GAPS",
    "FILES",
    "FILE_COLUMNS",
    "FIRST_YEAR",
    "HISTORY_FIRST_YEAR",
    "HOSTILE_FIRST_YEAR",
    "HOSTILE_LEVELS",
    "IDEO_SIM",
    "LAG_YEARS",
    "LAST_YEAR",
    "MONARCHIES",
    "PANEL_OPTIONAL",
    "REGIMES",
    "SUBREGIONS",
    "MiddleEastTables",
    "build_panel",
    "episode_pair_years",
    "load_episodes",
    "load_middle_east",
    "load_states",
    "load_tables",
    "resolve_data_dir",
]



# --------------------------------------------------------------------------- reading
def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The folder with the Middle East CSV files (the bundled one when ``None``)."""
    path = bundled_path("data", "middle_east") if data_dir is None else Path(data_dir)
    if not path.is_dir():
        raise DataError(f"{path}: Middle East data folder not found")
    return path


def _read(data_dir: Path, key: str) -> pd.DataFrame:
    """Read one CSV as strings (pandera coerces), checking the file and its columns."""
    fname = FILES[key]
    df = read_text_csv(data_dir / fname, FILE_COLUMNS[key])
    dup_cols = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dup_cols:
        raise DataError(f"{fname}: duplicate column(s) {', '.join(repr(c) for c in dup_cols)}")
    return df


# --------------------------------------------------------------------------- loading


def _load_states(data_dir: Path) -> pd.DataFrame:
    """The validated ``states.csv`` of ``data_dir``."""
    return validate(_read(data_dir, "states"), states_schema(), FILES["states"])


def _load_state_years(data_dir: Path, states: pd.DataFrame) -> pd.DataFrame:
    """The validated ``state_years.csv``, complete for every member year of ``states``."""
    sy = validate(_read(data_dir, "state_years"), state_years_schema(states), FILES["state_years"])
    check_complete(sy, states)
    return sy


def _load_episodes(data_dir: Path, states: pd.DataFrame, members: Membership) -> pd.DataFrame:
    """The validated ``episodes.csv`` with ``members``/``aimed_against`` parsed into tuples."""
    episodes = validate(
        _read(data_dir, "episodes"), episodes_schema(states, members), FILES["episodes"]
    )
    out = episodes.copy()
    out["members"] = out["members"].map(parse_codes)
    out["aimed_against"] = out["aimed_against"].map(parse_codes)
    return out


def load_tables(data_dir: str | Path | None = None) -> MiddleEastTables:
    """Read and validate every file of the embedded data.

    Parameters
    ----------
    data_dir : path-like, optional
        Folder with the CSV files; the bundled data when ``None``.

    Returns
    -------
    MiddleEastTables
        Validated tables; ``episodes.members`` and ``episodes.aimed_against`` are
        tuples of COW codes.

    Raises
    ------
    DataError
        A missing file or column, or a bad value (one line: file, column, rows).
    """
    path = resolve_data_dir(data_dir)
    states = _load_states(path)
    state_years = _load_state_years(path, states)
    members = Membership(states, state_years)
    contiguity = validate(_read(path, "contiguity"), contiguity_schema(states), FILES["contiguity"])
    hostile = validate(
        _read(path, "hostile_acts"), hostile_schema(states, members), FILES["hostile_acts"]
    )
    episodes = _load_episodes(path, states, members)
    aid = validate(_read(path, "arms_aid"), aid_schema(states), FILES["arms_aid"])
    rivalries = validate(_read(path, "rivalries"), rivalry_schema(states), FILES["rivalries"])
    return MiddleEastTables(states, state_years, contiguity, hostile, episodes, aid, rivalries)


def load_states(data_dir: str | Path | None = None) -> pd.DataFrame:
    """The validated ``states.csv`` (one row per state).

    Parameters
    ----------
    data_dir : path-like, optional
        Folder with the CSV files; the bundled data when ``None``.

    Returns
    -------
    pandas.DataFrame
        ``ccode, abb, name, subregion, first_year, last_year, capital, cap_lat, cap_lon,
        source_note`` (and any extra columns of the file).
    """
    return _load_states(resolve_data_dir(data_dir))


def load_episodes(data_dir: str | Path | None = None) -> pd.DataFrame:
    """The validated ``episodes.csv``; ``members``/``aimed_against`` parsed into tuples of ints.

    Membership of each episode's states is checked against ``states.csv`` and
    ``state_years.csv``, which are validated too.

    Parameters
    ----------
    data_dir : path-like, optional
        Folder with the CSV files; the bundled data when ``None``.

    Returns
    -------
    pandas.DataFrame
        One row per episode.
    """
    path = resolve_data_dir(data_dir)
    states = _load_states(path)
    return _load_episodes(path, states, Membership(states, _load_state_years(path, states)))


def episode_pair_years(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Undirected dyad-years of episode co-membership, from each episode's real start year.

    For the alliance-duration block (:mod:`walt_bayes.model.duration`): unlike the
    panel's ``ally`` column, years before 1955 are kept (episodes start in 1945 or
    later), so spells in progress in 1955 get their true start, and each row says
    whether its episode was formed in wartime and when the common enemy was defeated.

    Parameters
    ----------
    data_dir : path-like, optional
        Folder with the CSV files; the bundled data when ``None``.

    Returns
    -------
    pandas.DataFrame
        ``lo, hi, year, episode_id, wartime, enemy_defeated_year`` (``lo < hi``;
        ``enemy_defeated_year`` is a nullable ``Int64``).
    """
    episodes = load_episodes(data_dir)
    rows = [
        (lo, hi, year, eid, int(war), won)
        for eid, mem, s, e, war, won in zip(
            episodes["episode_id"],
            episodes["members"],
            episodes["start_year"],
            episodes["end_year"],
            episodes["wartime"],
            episodes["enemy_defeated_year"],
            strict=True,
        )
        for lo, hi in member_pairs(mem)
        for year in range(int(s), int(e) + 1)
    ]
    out = pd.DataFrame(
        rows, columns=["lo", "hi", "year", "episode_id", "wartime", "enemy_defeated_year"]
    )
    out = out.astype({"lo": "int64", "hi": "int64", "year": "int64", "wartime": "int64"})
    out["enemy_defeated_year"] = out["enemy_defeated_year"].astype("Int64")
    return out


# --------------------------------------------------------------------------- panel


def load_middle_east(data_dir: str | Path | None = None) -> pd.DataFrame:
    """The embedded Middle East directed dyad-year panel, 1955-1979.

    One row per ordered pair ``(i, j)``, ``i != j``, of states that are system
    members in year ``t`` (n(n-1) rows per year), sorted by
    ``(year, ccode1, ccode2)``, with the columns of
    :data:`walt_bayes.panel.columns.REQUIRED` followed by :data:`PANEL_OPTIONAL`.
    Derivations are documented in ``data/middle_east/CODEBOOK.md``; in short:
    ``power*`` is the log of the coded capability share as a fraction,
    ``contiguous`` is land or sea (400 miles) contiguity, ``log_capdist`` the log
    great-circle distance of capitals in km, ``init21`` a hostile act of j
    against i, ``ally`` co-membership of any episode in force (any part of the
    year), ``ally_onset`` is NA in 1955.

    Parameters
    ----------
    data_dir : path-like, optional
        Folder with the CSV files; the bundled data when ``None``.

    Returns
    -------
    pandas.DataFrame
        With ``attrs["unit"] == "directed dyad-year"`` and ``attrs["name"] == "middle-east"``.

    Raises
    ------
    DataError
        A missing file or column, or a bad value in the data files.
    """
    panel = build_panel(load_tables(data_dir))
    if data_dir is not None:
        # Where this panel's episodes and war_joining.csv live (the duration and
        # wartime-joining blocks read them; without it they use the bundled files).
        panel.attrs["data_dir"] = str(resolve_data_dir(data_dir).resolve())
    return panel
