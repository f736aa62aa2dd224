"""The pandera schemas of the embedded Middle East files, with their cross-file checks.

One schema per file of ``data/middle_east/`` (see :data:`~walt_bayes.panel.me_codebook.FILES`);
those of the files that name states take the validated ``states.csv`` (codes must be
known) and, where years matter, :class:`Membership` (each state-year must be a system
member).  :func:`walt_bayes.panel.embedded.load_tables` validates the files in the order
these dependencies need.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from walt_bayes.errors import DataError
from walt_bayes.panel.me_checks import (
    binary_column,
    codes_known,
    codes_wellformed,
    distinct,
    float_column,
    int_column,
    known_codes,
    no_overlap,
    not_before,
    ordered_pair,
    parse_codes,
    row_check,
    text_column,
    years_check,
)
from walt_bayes.panel.me_codebook import (
    AID_KINDS,
    CONTIGUITY_TYPES,
    COW_GAPS,
    FIRST_YEAR,
    HISTORY_FIRST_YEAR,
    HOSTILE_FIRST_YEAR,
    HOSTILE_LEVELS,
    LAST_YEAR,
    MONARCHIES,
    REGIMES,
    SLUG,
    SUBREGIONS,
)


class Membership:
    """System membership: state-years present in state_years.csv, entry years before 1955.

    Before the panel's first year ``state_years.csv`` has no rows, so the span of
    ``states.csv`` decides (episodes and hostile acts reach back to 1945).
    """

    def __init__(self, states: pd.DataFrame, state_years: pd.DataFrame):
        self.first = dict(zip(states["ccode"], states["first_year"], strict=True))
        self.last = dict(zip(states["ccode"], states["last_year"], strict=True))
        self.member = set(zip(state_years["ccode"], state_years["year"], strict=True))

    def is_member(self, ccode: int, year: int) -> bool:
        """Whether ``ccode`` is a system member at the end of ``year``."""
        if year >= FIRST_YEAR:
            return (ccode, year) in self.member
        return self.first.get(ccode, 10**6) <= year <= self.last.get(ccode, -1)


def states_schema() -> pa.DataFrameSchema:
    """``states.csv``: one row per state, its subregion, years in the system and capital."""
    return pa.DataFrameSchema(
        {
            "ccode": int_column(
                pa.Check.in_range(1, 999, error="COW code outside 1-999"), unique=True
            ),
            "abb": text_column(
                pa.Check.str_matches(r"^[A-Z]{3}$", error="must be 3 capital letters")
            ),
            "name": text_column(),
            "subregion": text_column(
                pa.Check.isin(SUBREGIONS, error=f"unknown subregion (use {', '.join(SUBREGIONS)})")
            ),
            "first_year": int_column(years_check(1816, LAST_YEAR)),
            "last_year": int_column(years_check(FIRST_YEAR, 2100)),
            "capital": text_column(),
            "cap_lat": float_column(pa.Check.in_range(-90, 90, error="latitude outside -90..90")),
            "cap_lon": float_column(
                pa.Check.in_range(-180, 180, error="longitude outside -180..180")
            ),
            "source_note": text_column(),
        },
        checks=[not_before("last_year", "first_year")],
    )


def state_years_schema(states: pd.DataFrame) -> pa.DataFrameSchema:
    """``state_years.csv``: one row per member state-year (COW gaps respected)."""
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
            "ccode": int_column(known_codes(known)),
            "year": int_column(years_check(FIRST_YEAR, LAST_YEAR)),
            "power": float_column(pa.Check.gt(0, error="power share must be > 0")),
            "offense": float_column(pa.Check.in_range(0, 4, error="offense outside 0-4")),
            "regime": text_column(pa.Check.isin(REGIMES, error="unknown regime category")),
            "major": binary_column(),
            "leninist": binary_column(),
            "monarchy": binary_column(),
            "democracy": float_column(pa.Check.in_range(0, 1, error="democracy outside 0-1")),
            "illegit": binary_column(),
            "uncertain": binary_column(),
            "source_note": text_column(),
        },
        unique=["ccode", "year"],
        checks=[
            row_check(
                "year",
                "not a system member that year (states.csv first/last year, COW gaps)",
                in_system,
            ),
            row_check(
                "monarchy", "monarchy must be 1 exactly for monarchy regimes", monarchy_matches
            ),
        ],
    )


def check_complete(state_years: pd.DataFrame, states: pd.DataFrame) -> None:
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


def contiguity_schema(states: pd.DataFrame) -> pa.DataFrameSchema:
    """``contiguity.csv``: undirected contiguous pairs and their years."""
    known = set(states["ccode"])
    return pa.DataFrameSchema(
        {
            "ccode1": int_column(known_codes(known)),
            "ccode2": int_column(known_codes(known)),
            "type": text_column(pa.Check.isin(CONTIGUITY_TYPES, error="type must be land or sea")),
            "first_year": int_column(years_check(FIRST_YEAR, LAST_YEAR)),
            "last_year": int_column(years_check(FIRST_YEAR, LAST_YEAR)),
            "source_note": text_column(),
        },
        unique=["ccode1", "ccode2"],
        checks=[
            ordered_pair("ccode1", "ccode2"),
            not_before("last_year", "first_year"),
        ],
    )


def hostile_schema(states: pd.DataFrame, members: Membership) -> pa.DataFrameSchema:
    """``hostile_acts.csv``: directed acts between states that are members that year."""
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
            "actor": int_column(known_codes(known)),
            "target": int_column(known_codes(known)),
            "year": int_column(years_check(HOSTILE_FIRST_YEAR, LAST_YEAR)),
            "level": text_column(
                pa.Check.isin(
                    HOSTILE_LEVELS, error=f"unknown level (use {', '.join(HOSTILE_LEVELS)})"
                )
            ),
            "event": text_column(),
            "source_note": text_column(),
        },
        unique=["actor", "target", "year"],
        checks=[
            distinct("actor", "target"),
            row_check("year", "actor or target not a system member that year", both_members),
        ],
    )


def _code_list(
    known: set[int], min_len: int, shape_error: str, nullable: bool = False
) -> pa.Column:
    """A ';'-separated list of distinct, known COW codes (episode members, aimed_against)."""
    return text_column(
        [
            pa.Check(lambda s: codes_wellformed(s, min_len), error=shape_error),
            pa.Check(lambda s: codes_known(s, known), error="unknown COW code (not in states.csv)"),
        ],
        nullable=nullable,
    )


def episodes_schema(states: pd.DataFrame, members: Membership) -> pa.DataFrameSchema:
    """``episodes.csv``: alignment episodes, their members, years and wartime coding."""
    known = set(states["ccode"])

    def members_in_system(d: pd.DataFrame) -> pd.Series:
        out = []
        for text, s, e in zip(d["members"], d["start_year"], d["end_year"], strict=True):
            codes = parse_codes(text)
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
            "episode_id": text_column(
                pa.Check.str_matches(SLUG.pattern, error="must be a lowercase slug"), unique=True
            ),
            "name": text_column(),
            "members": _code_list(known, 2, "must be at least 2 distinct ';'-separated COW codes"),
            "start_year": int_column(years_check(HISTORY_FIRST_YEAR, LAST_YEAR)),
            "end_year": int_column(years_check(FIRST_YEAR, LAST_YEAR)),
            "ongoing_1979": binary_column(),
            "formal": binary_column(),
            "aimed_against": _code_list(
                known, 0, "must be distinct ';'-separated COW codes or empty", nullable=True
            ),
            "wartime": binary_column(),
            "enemy_defeated_year": int_column(
                years_check(HISTORY_FIRST_YEAR, LAST_YEAR), nullable=True
            ),
            "source_note": text_column(),
        },
        checks=[
            not_before("end_year", "start_year"),
            row_check(
                "ongoing_1979",
                "ongoing_1979 = 1 needs end_year 1979",
                lambda d: (d["ongoing_1979"] == 0) | (d["end_year"] == LAST_YEAR),
            ),
            row_check(
                "enemy_defeated_year",
                "only for wartime episodes, not before start_year",
                defeated_ok,
            ),
            row_check(
                "members",
                "member not a system member in some year of the episode",
                members_in_system,
            ),
        ],
    )


def aid_schema(states: pd.DataFrame) -> pa.DataFrameSchema:
    """``arms_aid.csv``: directed aid spans, no two overlapping for one donor and recipient."""
    known = set(states["ccode"])
    return pa.DataFrameSchema(
        {
            "donor": int_column(known_codes(known)),
            "recipient": int_column(known_codes(known)),
            "start_year": int_column(years_check(FIRST_YEAR, LAST_YEAR)),
            "end_year": int_column(years_check(FIRST_YEAR, LAST_YEAR)),
            "kind": text_column(
                pa.Check.isin(AID_KINDS, error="kind must be arms, economic or both")
            ),
            "source_note": text_column(),
        },
        unique=["donor", "recipient", "start_year"],
        checks=[
            distinct("donor", "recipient"),
            not_before("end_year", "start_year"),
            row_check(
                "start_year",
                "span overlaps another span of the same donor and recipient",
                lambda d: no_overlap(d, "donor", "recipient"),
            ),
        ],
    )


def rivalry_schema(states: pd.DataFrame) -> pa.DataFrameSchema:
    """``rivalries.csv``: undirected rivalry spans, no two overlapping for one pair."""
    known = set(states["ccode"])
    return pa.DataFrameSchema(
        {
            "ccode1": int_column(known_codes(known)),
            "ccode2": int_column(known_codes(known)),
            "start_year": int_column(years_check(HISTORY_FIRST_YEAR, LAST_YEAR)),
            "end_year": int_column(years_check(FIRST_YEAR, LAST_YEAR)),
            "source_note": text_column(),
        },
        unique=["ccode1", "ccode2", "start_year"],
        checks=[
            ordered_pair("ccode1", "ccode2"),
            not_before("end_year", "start_year"),
            row_check(
                "start_year",
                "span overlaps another span of the same pair",
                lambda d: no_overlap(d, "ccode1", "ccode2"),
            ),
        ],
    )
