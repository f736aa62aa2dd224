"""The embedded Middle East case data (1955-1979) and its directed dyad-year panel.

The CSV files in ``data/middle_east/`` were written by the package's authors from
the diplomatic history of the period (see ``data/middle_east/CODEBOOK.md``).
This module validates them with pandera (one ``DataFrameSchema`` per file, plus
cross-file checks built into those schemas) and derives the panel with exactly
the columns of :mod:`walt_bayes.panel.columns`.

Every problem in the files raises :class:`walt_bayes.errors.DataError` with a
single line naming the file, the column and the CSV line numbers (the header is
line 1).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors as pa_errors
import pandera.pandas as pa

from walt_bayes.errors import DataError, describe_rows
from walt_bayes.panel import columns
from walt_bayes.paths import bundled_path

#: Years of the panel.
FIRST_YEAR, LAST_YEAR = 1955, 1979
#: Hostile acts start ten years earlier so that the 10-year lags of 1955 are covered.
HOSTILE_FIRST_YEAR = 1945
#: Earliest start year of an episode or rivalry formed before the panel (left-truncated).
HISTORY_FIRST_YEAR = 1945
#: Years of the lag window for past hostile acts (t-10..t-1).
LAG_YEARS = 10

#: COW system-membership gaps inside the window (year-end rule): Syria was part of
#: the United Arab Republic from 22 Feb 1958 to 28 Sep 1961, so it is not a member
#: on 31 Dec 1958, 1959 or 1960.  Egypt keeps code 651 throughout.
COW_GAPS: dict[int, frozenset[int]] = {652: frozenset(range(1958, 1961))}

SUBREGIONS = ("levant", "gulf", "north_africa", "northern_tier", "arabia", "great_power")
REGIMES = (
    "traditional_monarchy",
    "constitutional_monarchy",
    "arab_nationalist_republic",
    "parliamentary_democracy",
    "marxist_leninist",
    "military_authoritarian",
    "islamic_republic",
    "liberal_democracy",
)
MONARCHIES = frozenset({"traditional_monarchy", "constitutional_monarchy"})
HOSTILE_LEVELS = ("threat", "display", "use_of_force", "war")
CONTIGUITY_TYPES = ("land", "sea")
AID_KINDS = ("arms", "economic", "both")

#: Ideological similarity of two regime categories: 1 if equal, the value here for
#: related pairs, 0 otherwise (documented in CODEBOOK.md).
IDEO_SIM: dict[frozenset[str], float] = {
    frozenset({"traditional_monarchy", "constitutional_monarchy"}): 0.5,
    frozenset({"parliamentary_democracy", "liberal_democracy"}): 0.5,
    frozenset({"arab_nationalist_republic", "military_authoritarian"}): 0.25,
    frozenset({"arab_nationalist_republic", "marxist_leninist"}): 0.25,
}

FILES = {
    "states": "states.csv",
    "state_years": "state_years.csv",
    "contiguity": "contiguity.csv",
    "hostile_acts": "hostile_acts.csv",
    "episodes": "episodes.csv",
    "arms_aid": "arms_aid.csv",
    "rivalries": "rivalries.csv",
}

#: Columns each file must have (extra columns are allowed and ignored).
FILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "states": (
        "ccode",
        "abb",
        "name",
        "subregion",
        "first_year",
        "last_year",
        "capital",
        "cap_lat",
        "cap_lon",
        "source_note",
    ),
    "state_years": (
        "ccode",
        "year",
        "power",
        "offense",
        "regime",
        "major",
        "leninist",
        "monarchy",
        "democracy",
        "illegit",
        "uncertain",
        "source_note",
    ),
    "contiguity": ("ccode1", "ccode2", "type", "first_year", "last_year", "source_note"),
    "hostile_acts": ("actor", "target", "year", "level", "event", "source_note"),
    "episodes": (
        "episode_id",
        "name",
        "members",
        "start_year",
        "end_year",
        "ongoing_1979",
        "formal",
        "aimed_against",
        "wartime",
        "enemy_defeated_year",
        "source_note",
    ),
    "arms_aid": ("donor", "recipient", "start_year", "end_year", "kind", "source_note"),
    "rivalries": ("ccode1", "ccode2", "start_year", "end_year", "source_note"),
}

#: Optional panel columns this loader provides.
PANEL_OPTIONAL = (
    "regime1",
    "regime2",
    "democracy1",
    "democracy2",
    "leninist1",
    "leninist2",
    "monarchy1",
    "monarchy2",
    "illegit1",
    "illegit2",
    "aid21",
    "aid12",
    "ally_formal",
    "ally_onset",
)

_EARTH_RADIUS_KM = 6371.0088
_SLUG = re.compile(r"^[a-z0-9_]+$")
_LINE_NOTE = "(line numbers, header = line 1)"


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
    path = data_dir / fname
    if not path.is_file():
        raise DataError(f"{fname}: file not found in {data_dir}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{fname}: cannot parse CSV ({type(err).__name__}: {err})") from err
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in FILE_COLUMNS[key] if c not in df.columns]
    if missing:
        raise DataError(f"{fname}: missing column(s) {', '.join(repr(c) for c in missing)}")
    if df.empty:
        raise DataError(f"{fname}: no data rows")
    dup_cols = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dup_cols:
        raise DataError(f"{fname}: duplicate column(s) {', '.join(repr(c) for c in dup_cols)}")
    return df


# --------------------------------------------------------------------------- validation


def _row_check(column: str, message: str, fn: Callable[[pd.DataFrame], pd.Series]) -> pa.Check:
    """A DataFrame-level check that returns one boolean per row, reported on ``column``."""
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
    where = f" at CSV {describe_rows(lines)} {_LINE_NOTE}" if lines else ""
    more = len(groups) - 1
    extra = f"; {more} more problem{'s' if more != 1 else ''} in this file" if more else ""
    return f"{fname}: column {col!r}: {msg}{where}{extra}"


def _validate(df: pd.DataFrame, schema: pa.DataFrameSchema, fname: str) -> pd.DataFrame:
    try:
        out = schema.validate(df, lazy=True)
    except pa_errors.SchemaErrors as err:
        raise DataError(_condense(err.failure_cases, fname, schema)) from None
    except pa_errors.SchemaError as err:  # non-lazy paths (e.g. a check that crashed)
        column = getattr(err, "column_name", None) or getattr(err, "column", None) or "?"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{fname}: column {column!r}: {first}") from None
    return out.reset_index(drop=True)


def _int(checks=None, nullable: bool = False, **kw) -> pa.Column:
    return pa.Column("Int64" if nullable else "int64", checks, coerce=True, nullable=nullable, **kw)


def _float(checks=None, **kw) -> pa.Column:
    return pa.Column("float64", checks, coerce=True, **kw)


def _text(checks=None, nullable: bool = False, **kw) -> pa.Column:
    return pa.Column(str, checks, coerce=True, nullable=nullable, **kw)


def _binary() -> pa.Column:
    return _int(pa.Check.isin([0, 1], error="must be 0 or 1"))


def _years(lo: int, hi: int) -> pa.Check:
    return pa.Check.in_range(lo, hi, error=f"year outside {lo}-{hi}")


def _not_before(later: str, earlier: str) -> pa.Check:
    return _row_check(later, f"{later} before {earlier}", lambda d: d[later] >= d[earlier])


def _ordered_pair(a: str, b: str) -> pa.Check:
    return _row_check(b, f"pair must be ordered {a} < {b}", lambda d: d[a] < d[b])


def _distinct(a: str, b: str) -> pa.Check:
    return _row_check(b, f"{a} and {b} must differ", lambda d: d[a] != d[b])


def _known(codes: set[int]) -> pa.Check:
    return pa.Check.isin(sorted(codes), error="unknown COW code (not in states.csv)")


def _parse_codes(text) -> tuple[int, ...] | None:
    """``'651;666'`` -> ``(651, 666)``; empty -> ``()``; malformed -> ``None``."""
    if text is None or (isinstance(text, float) and np.isnan(text)) or text is pd.NA:
        return ()
    parts = [p.strip() for p in str(text).split(";")]
    if parts == [""]:
        return ()
    if not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _codes_wellformed(series: pd.Series, min_len: int) -> pd.Series:
    """';'-separated distinct integer codes, at least ``min_len`` of them."""

    def ok(text) -> bool:
        codes = _parse_codes(text)
        return codes is not None and len(codes) >= min_len and len(set(codes)) == len(codes)

    return series.map(ok).astype(bool)


def _codes_known(series: pd.Series, known: set[int]) -> pd.Series:
    """Every code in the ';'-separated list is in states.csv (malformed lists pass here)."""

    def ok(text) -> bool:
        codes = _parse_codes(text)
        return codes is None or all(c in known for c in codes)

    return series.map(ok).astype(bool)


class _Membership:
    """System membership: state-years present in state_years.csv, entry years before 1955."""

    def __init__(self, states: pd.DataFrame, state_years: pd.DataFrame):
        self.first = dict(zip(states["ccode"], states["first_year"], strict=True))
        self.last = dict(zip(states["ccode"], states["last_year"], strict=True))
        self.member = set(zip(state_years["ccode"], state_years["year"], strict=True))

    def is_member(self, ccode: int, year: int) -> bool:
        if year >= FIRST_YEAR:
            return (ccode, year) in self.member
        return self.first.get(ccode, 10**6) <= year <= self.last.get(ccode, -1)


def _states_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "ccode": _int(pa.Check.in_range(1, 999, error="COW code outside 1-999"), unique=True),
            "abb": _text(pa.Check.str_matches(r"^[A-Z]{3}$", error="must be 3 capital letters")),
            "name": _text(),
            "subregion": _text(
                pa.Check.isin(SUBREGIONS, error=f"unknown subregion (use {', '.join(SUBREGIONS)})")
            ),
            "first_year": _int(_years(1816, LAST_YEAR)),
            "last_year": _int(_years(FIRST_YEAR, 2100)),
            "capital": _text(),
            "cap_lat": _float(pa.Check.in_range(-90, 90, error="latitude outside -90..90")),
            "cap_lon": _float(pa.Check.in_range(-180, 180, error="longitude outside -180..180")),
            "source_note": _text(),
        },
        checks=[_not_before("last_year", "first_year")],
    )


def _state_years_schema(states: pd.DataFrame) -> pa.DataFrameSchema:
    known = set(states["ccode"])
    first = dict(zip(states["ccode"], states["first_year"], strict=True))
    last = dict(zip(states["ccode"], states["last_year"], strict=True))

    def in_system(d: pd.DataFrame) -> pd.Series:
        return pd.Series(
            [
                c not in first or (first[c] <= y <= last[c] and y not in COW_GAPS.get(c, ()))
                for c, y in zip(d["ccode"], d["year"], strict=True)
            ],
            index=d.index,
        )

    def monarchy_matches(d: pd.DataFrame) -> pd.Series:
        return d["monarchy"] == d["regime"].isin(MONARCHIES).astype("int64")

    return pa.DataFrameSchema(
        {
            "ccode": _int(_known(known)),
            "year": _int(_years(FIRST_YEAR, LAST_YEAR)),
            "power": _float(pa.Check.gt(0, error="power share must be > 0")),
            "offense": _float(pa.Check.in_range(0, 4, error="offense outside 0-4")),
            "regime": _text(pa.Check.isin(REGIMES, error="unknown regime category")),
            "major": _binary(),
            "leninist": _binary(),
            "monarchy": _binary(),
            "democracy": _float(pa.Check.in_range(0, 1, error="democracy outside 0-1")),
            "illegit": _binary(),
            "uncertain": _binary(),
            "source_note": _text(),
        },
        unique=["ccode", "year"],
        checks=[
            _row_check(
                "year",
                "not a system member that year (states.csv first/last year, COW gaps)",
                in_system,
            ),
            _row_check(
                "monarchy", "monarchy must be 1 exactly for monarchy regimes", monarchy_matches
            ),
        ],
    )


def _check_complete(state_years: pd.DataFrame, states: pd.DataFrame) -> None:
    """Every state has a row for every year it is a system member in 1955-1979."""
    have = state_years.groupby("ccode")["year"].agg(set).to_dict()
    for c, f, la in zip(states["ccode"], states["first_year"], states["last_year"], strict=True):
        want = set(range(max(f, FIRST_YEAR), min(la, LAST_YEAR) + 1)) - COW_GAPS.get(c, frozenset())
        lacking = sorted(want - have.get(c, set()))
        if lacking:
            shown = ", ".join(map(str, lacking[:5])) + (
                f" (+{len(lacking) - 5} more)" if len(lacking) > 5 else ""
            )
            raise DataError(
                f"state_years.csv: column 'year': no row for ccode {c} in member year(s) {shown}"
            )


def _contiguity_schema(states: pd.DataFrame) -> pa.DataFrameSchema:
    known = set(states["ccode"])
    return pa.DataFrameSchema(
        {
            "ccode1": _int(_known(known)),
            "ccode2": _int(_known(known)),
            "type": _text(pa.Check.isin(CONTIGUITY_TYPES, error="type must be land or sea")),
            "first_year": _int(_years(FIRST_YEAR, LAST_YEAR)),
            "last_year": _int(_years(FIRST_YEAR, LAST_YEAR)),
            "source_note": _text(),
        },
        unique=["ccode1", "ccode2"],
        checks=[
            _ordered_pair("ccode1", "ccode2"),
            _not_before("last_year", "first_year"),
        ],
    )


def _hostile_schema(states: pd.DataFrame, members: _Membership) -> pa.DataFrameSchema:
    known = set(states["ccode"])

    def both_members(d: pd.DataFrame) -> pd.Series:
        return pd.Series(
            [
                a not in known
                or t not in known
                or (members.is_member(a, y) and members.is_member(t, y))
                for a, t, y in zip(d["actor"], d["target"], d["year"], strict=True)
            ],
            index=d.index,
        )

    return pa.DataFrameSchema(
        {
            "actor": _int(_known(known)),
            "target": _int(_known(known)),
            "year": _int(_years(HOSTILE_FIRST_YEAR, LAST_YEAR)),
            "level": _text(
                pa.Check.isin(
                    HOSTILE_LEVELS, error=f"unknown level (use {', '.join(HOSTILE_LEVELS)})"
                )
            ),
            "event": _text(),
            "source_note": _text(),
        },
        unique=["actor", "target", "year"],
        checks=[
            _distinct("actor", "target"),
            _row_check("year", "actor or target not a system member that year", both_members),
        ],
    )


def _episodes_schema(states: pd.DataFrame, members: _Membership) -> pa.DataFrameSchema:
    known = set(states["ccode"])

    def members_in_system(d: pd.DataFrame) -> pd.Series:
        out = []
        for text, s, e in zip(d["members"], d["start_year"], d["end_year"], strict=True):
            codes = _parse_codes(text)
            if not codes or any(c not in known for c in codes):
                out.append(True)  # reported by the column check
                continue
            years = range(max(s, FIRST_YEAR), e + 1)
            out.append(all(members.is_member(c, y) for c in codes for y in years))
        return pd.Series(out, index=d.index)

    def defeated_ok(d: pd.DataFrame) -> pd.Series:
        ey = d["enemy_defeated_year"]
        return ey.isna() | ((d["wartime"] == 1) & (ey >= d["start_year"])).fillna(False)

    return pa.DataFrameSchema(
        {
            "episode_id": _text(
                pa.Check.str_matches(_SLUG.pattern, error="must be a lowercase slug"), unique=True
            ),
            "name": _text(),
            "members": _text(
                [
                    pa.Check(
                        lambda s: _codes_wellformed(s, 2),
                        error="must be at least 2 distinct ';'-separated COW codes",
                    ),
                    pa.Check(
                        lambda s: _codes_known(s, known),
                        error="unknown COW code (not in states.csv)",
                    ),
                ]
            ),
            "start_year": _int(_years(HISTORY_FIRST_YEAR, LAST_YEAR)),
            "end_year": _int(_years(FIRST_YEAR, LAST_YEAR)),
            "ongoing_1979": _binary(),
            "formal": _binary(),
            "aimed_against": _text(
                [
                    pa.Check(
                        lambda s: _codes_wellformed(s, 0),
                        error="must be distinct ';'-separated COW codes or empty",
                    ),
                    pa.Check(
                        lambda s: _codes_known(s, known),
                        error="unknown COW code (not in states.csv)",
                    ),
                ],
                nullable=True,
            ),
            "wartime": _binary(),
            "enemy_defeated_year": _int(_years(HISTORY_FIRST_YEAR, LAST_YEAR), nullable=True),
            "source_note": _text(),
        },
        checks=[
            _not_before("end_year", "start_year"),
            _row_check(
                "ongoing_1979",
                "ongoing_1979 = 1 needs end_year 1979",
                lambda d: (d["ongoing_1979"] == 0) | (d["end_year"] == LAST_YEAR),
            ),
            _row_check(
                "enemy_defeated_year",
                "only for wartime episodes, not before start_year",
                defeated_ok,
            ),
            _row_check(
                "members",
                "member not a system member in some year of the episode",
                members_in_system,
            ),
        ],
    )


def _no_overlap(d: pd.DataFrame, a: str, b: str) -> pd.Series:
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


def _aid_schema(states: pd.DataFrame) -> pa.DataFrameSchema:
    known = set(states["ccode"])
    return pa.DataFrameSchema(
        {
            "donor": _int(_known(known)),
            "recipient": _int(_known(known)),
            "start_year": _int(_years(FIRST_YEAR, LAST_YEAR)),
            "end_year": _int(_years(FIRST_YEAR, LAST_YEAR)),
            "kind": _text(pa.Check.isin(AID_KINDS, error="kind must be arms, economic or both")),
            "source_note": _text(),
        },
        unique=["donor", "recipient", "start_year"],
        checks=[
            _distinct("donor", "recipient"),
            _not_before("end_year", "start_year"),
            _row_check(
                "start_year",
                "span overlaps another span of the same donor and recipient",
                lambda d: _no_overlap(d, "donor", "recipient"),
            ),
        ],
    )


def _rivalry_schema(states: pd.DataFrame) -> pa.DataFrameSchema:
    known = set(states["ccode"])
    return pa.DataFrameSchema(
        {
            "ccode1": _int(_known(known)),
            "ccode2": _int(_known(known)),
            "start_year": _int(_years(HISTORY_FIRST_YEAR, LAST_YEAR)),
            "end_year": _int(_years(FIRST_YEAR, LAST_YEAR)),
            "source_note": _text(),
        },
        unique=["ccode1", "ccode2", "start_year"],
        checks=[
            _ordered_pair("ccode1", "ccode2"),
            _not_before("end_year", "start_year"),
            _row_check(
                "start_year",
                "span overlaps another span of the same pair",
                lambda d: _no_overlap(d, "ccode1", "ccode2"),
            ),
        ],
    )


@dataclass(frozen=True)
class MiddleEastTables:
    """The validated raw tables of the embedded data."""

    states: pd.DataFrame
    state_years: pd.DataFrame
    contiguity: pd.DataFrame
    hostile_acts: pd.DataFrame
    episodes: pd.DataFrame
    arms_aid: pd.DataFrame
    rivalries: pd.DataFrame


def _load_states(data_dir: Path) -> pd.DataFrame:
    return _validate(_read(data_dir, "states"), _states_schema(), FILES["states"])


def _load_state_years(data_dir: Path, states: pd.DataFrame) -> pd.DataFrame:
    sy = _validate(
        _read(data_dir, "state_years"), _state_years_schema(states), FILES["state_years"]
    )
    _check_complete(sy, states)
    return sy


def _parse_episodes(episodes: pd.DataFrame) -> pd.DataFrame:
    out = episodes.copy()
    out["members"] = out["members"].map(_parse_codes)
    out["aimed_against"] = out["aimed_against"].map(_parse_codes)
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
    members = _Membership(states, state_years)
    contiguity = _validate(
        _read(path, "contiguity"), _contiguity_schema(states), FILES["contiguity"]
    )
    hostile = _validate(
        _read(path, "hostile_acts"), _hostile_schema(states, members), FILES["hostile_acts"]
    )
    episodes = _validate(
        _read(path, "episodes"), _episodes_schema(states, members), FILES["episodes"]
    )
    aid = _validate(_read(path, "arms_aid"), _aid_schema(states), FILES["arms_aid"])
    rivalries = _validate(_read(path, "rivalries"), _rivalry_schema(states), FILES["rivalries"])
    return MiddleEastTables(
        states, state_years, contiguity, hostile, _parse_episodes(episodes), aid, rivalries
    )


def load_states(data_dir: str | Path | None = None) -> pd.DataFrame:
    """The validated ``states.csv`` (one row per state)."""
    return _load_states(resolve_data_dir(data_dir))


def load_episodes(data_dir: str | Path | None = None) -> pd.DataFrame:
    """The validated ``episodes.csv``; ``members``/``aimed_against`` parsed into tuples of ints.

    Membership of each episode's states is checked against ``states.csv`` and
    ``state_years.csv``, which are validated too.
    """
    path = resolve_data_dir(data_dir)
    states = _load_states(path)
    members = _Membership(states, _load_state_years(path, states))
    episodes = _validate(
        _read(path, "episodes"), _episodes_schema(states, members), FILES["episodes"]
    )
    return _parse_episodes(episodes)


def episode_pair_years(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Undirected dyad-years of episode co-membership, from each episode's real start year.

    For the alliance-duration block (:mod:`walt_bayes.model.duration`): unlike the
    panel's ``ally`` column, years before 1955 are kept (episodes start in 1945 or
    later), so spells in progress in 1955 get their true start, and each row says
    whether its episode was formed in wartime and when the common enemy was defeated.

    Returns
    -------
    pandas.DataFrame
        ``lo, hi, year, episode_id, wartime, enemy_defeated_year`` (``lo < hi``;
        ``enemy_defeated_year`` is a nullable ``Int64``).
    """
    episodes = load_episodes(data_dir)
    rows = []
    for eid, mem, s, e, war, won in zip(
        episodes["episode_id"], episodes["members"], episodes["start_year"], episodes["end_year"],
        episodes["wartime"], episodes["enemy_defeated_year"], strict=True,
    ):
        for a_i, a in enumerate(mem):
            for b in mem[a_i + 1 :]:
                for year in range(int(s), int(e) + 1):
                    rows.append((min(a, b), max(a, b), year, eid, int(war), won))
    out = pd.DataFrame(rows, columns=["lo", "hi", "year", "episode_id", "wartime", "enemy_defeated_year"])
    out = out.astype({"lo": "int64", "hi": "int64", "year": "int64", "wartime": "int64"})
    out["enemy_defeated_year"] = out["enemy_defeated_year"].astype("Int64")
    return out


# --------------------------------------------------------------------------- panel


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
    merged = panel[left_on].merge(counts, how="left", left_on=left_on, right_on=right_on)
    return merged["n"].fillna(0).to_numpy(dtype=np.int64)


def _haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def _pair_years(episodes: pd.DataFrame) -> pd.DataFrame:
    """Undirected ``(lo, hi, year, formal)`` rows of episode co-membership, 1955-1979."""
    rows = []
    for mem, s, e, formal in zip(
        episodes["members"],
        episodes["start_year"],
        episodes["end_year"],
        episodes["formal"],
        strict=True,
    ):
        for a_i, a in enumerate(mem):
            for b in mem[a_i + 1 :]:
                rows.append((min(a, b), max(a, b), s, e, formal))
    pairs = pd.DataFrame(rows, columns=["lo", "hi", "start_year", "end_year", "formal"]).astype(
        "int64"
    )
    return _expand_years(pairs, "start_year", "end_year")


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


def _ideo_sim(r1: pd.Series, r2: pd.Series) -> np.ndarray:
    return np.array(
        [
            1.0 if a == b else IDEO_SIM.get(frozenset((a, b)), 0.0)
            for a, b in zip(r1, r2, strict=True)
        ],
        dtype=np.float64,
    )


def build_panel(tables: MiddleEastTables) -> pd.DataFrame:
    """The directed dyad-year panel from validated tables (see :func:`load_middle_east`)."""
    sy = tables.state_years.merge(
        tables.states[["ccode", "subregion", "cap_lat", "cap_lon"]], on="ccode", how="left"
    )
    keep = [
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
    ]
    left = sy[keep].add_suffix("1").rename(columns={"year1": "year"})
    right = sy[keep].add_suffix("2").rename(columns={"year2": "year"})
    d = left.merge(right, on="year")
    d = d[d["ccode1"] != d["ccode2"]].sort_values(["year", "ccode1", "ccode2"], kind="mergesort")
    d = d.reset_index(drop=True)
    d["lo"] = np.minimum(d["ccode1"], d["ccode2"])
    d["hi"] = np.maximum(d["ccode1"], d["ccode2"])

    panel = pd.DataFrame(
        {
            "ccode1": d["ccode1"].astype("int64"),
            "ccode2": d["ccode2"].astype("int64"),
            "year": d["year"].astype("int64"),
            "region1": d["subregion1"].astype(str),
            "region2": d["subregion2"].astype(str),
            # Coded share of world capability in percent -> log of the fraction (CINC scale).
            "power1": np.log(d["power1"].to_numpy(dtype=np.float64) / 100.0),
            "power2": np.log(d["power2"].to_numpy(dtype=np.float64) / 100.0),
            "major1": d["major1"].astype("int64"),
            "major2": d["major2"].astype("int64"),
            "offense1": d["offense1"].astype("float64"),
            "offense2": d["offense2"].astype("float64"),
        }
    )

    contig = _expand_years(
        tables.contiguity.rename(columns={"ccode1": "lo", "ccode2": "hi"}),
        "first_year",
        "last_year",
    )
    panel["contiguous"] = _flag(d, contig, ["lo", "hi", "year"])
    km = _haversine_km(
        d["cap_lat1"].to_numpy(np.float64),
        d["cap_lon1"].to_numpy(np.float64),
        d["cap_lat2"].to_numpy(np.float64),
        d["cap_lon2"].to_numpy(np.float64),
    )
    panel["log_capdist"] = np.log(km)
    panel["neighbour2"] = _neighbour2(panel)

    acts = tables.hostile_acts
    panel["init21"] = _flag(
        d,
        acts.rename(columns={"actor": "ccode2", "target": "ccode1"}),
        ["ccode2", "ccode1", "year"],
    )
    lagged = acts.loc[acts.index.repeat(LAG_YEARS), ["actor", "target", "year"]].reset_index(
        drop=True
    )
    lagged["year"] = lagged["year"] + np.tile(np.arange(1, LAG_YEARS + 1), len(acts))
    dyad_counts = lagged.groupby(["actor", "target", "year"]).size().rename("n").reset_index()
    actor_counts = lagged.groupby(["actor", "year"]).size().rename("n").reset_index()
    panel["init21_past10"] = _count(
        d, dyad_counts, ["ccode2", "ccode1", "year"], ["actor", "target", "year"]
    )
    panel["init2_past10"] = _count(d, actor_counts, ["ccode2", "year"], ["actor", "year"])

    riv = _expand_years(
        tables.rivalries.rename(columns={"ccode1": "lo", "ccode2": "hi"}), "start_year", "end_year"
    )
    panel["rivalry"] = _flag(d, riv, ["lo", "hi", "year"])

    pairs = _pair_years(tables.episodes)
    ally = _flag(d, pairs, ["lo", "hi", "year"])
    panel["ally"] = ally
    panel["pledge12"] = ally  # the embedded coding is symmetric
    panel["ideo_sim"] = _ideo_sim(d["regime1"], d["regime2"])

    for col in ("regime", "democracy", "leninist", "monarchy", "illegit"):
        for k in ("1", "2"):
            panel[col + k] = d[col + k].astype(
                str if col == "regime" else "float64" if col == "democracy" else "int64"
            )
    aid = _expand_years(tables.arms_aid, "start_year", "end_year")
    panel["aid21"] = _flag(
        d,
        aid.rename(columns={"donor": "ccode2", "recipient": "ccode1"}),
        ["ccode2", "ccode1", "year"],
    )
    panel["aid12"] = _flag(
        d,
        aid.rename(columns={"donor": "ccode1", "recipient": "ccode2"}),
        ["ccode1", "ccode2", "year"],
    )
    panel["ally_formal"] = _flag(d, pairs[pairs["formal"] == 1], ["lo", "hi", "year"])
    prev = pairs[["lo", "hi", "year"]].assign(year=pairs["year"] + 1)
    ally_prev = _flag(d, prev, ["lo", "hi", "year"])
    onset = pd.array((ally == 1) & (ally_prev == 0), dtype="Int64")
    onset[panel["year"].to_numpy() == FIRST_YEAR] = pd.NA  # no t-1 in the data: NA, never 0
    panel["ally_onset"] = onset

    panel = panel[list(columns.REQUIRED) + list(PANEL_OPTIONAL)]
    panel.attrs["unit"] = "directed dyad-year"
    panel.attrs["name"] = "middle-east"
    return panel


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
