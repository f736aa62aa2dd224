"""The war joiners of the wartime-joining block (COND-5): the embedded file and COW's wars.

- Embedded panel: ``data/middle_east/war_joining.csv`` (our coding from the histories, see
  CODEBOOK.md), validated by :func:`load_war_joining`.
- Global COW panel: :func:`joiners_from_cow` derives joiners from ``cow_war_inter``.

:meth:`walt_bayes.panel.companions.Companions.joiners` picks the table that goes with a panel;
the model's block (:mod:`walt_bayes.model.joining`) is given it and reads no file itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from walt_bayes.panel.embedded import _load_state_years, _load_states, resolve_data_dir
from walt_bayes.panel.me_checks import binary_column as _binary
from walt_bayes.panel.me_checks import int_column as _int
from walt_bayes.panel.me_checks import known_codes as _known
from walt_bayes.panel.me_checks import not_before as _not_before
from walt_bayes.panel.me_checks import read_text_csv
from walt_bayes.panel.me_checks import row_check as _row_check
from walt_bayes.panel.me_checks import text_column as _text
from walt_bayes.panel.me_checks import validate as _validate
from walt_bayes.panel.me_checks import years_check as _years
from walt_bayes.panel.me_codebook import FIRST_YEAR, LAST_YEAR
from walt_bayes.panel.me_codebook import SLUG as _SLUG
from walt_bayes.panel.me_schemas import Membership as _Membership

FILE = "war_joining.csv"
COLUMNS = (
    "war_id", "war_name", "war_start_year", "war_end_year", "joiner", "join_year", "side", "side_won",
    "winner_side_before", "loser_side_before", "uncertain", "source_note",
)
#: Wars of the embedded file may start before the panel (as episodes do) but joiners join in 1955-1979.
WAR_FIRST_YEAR = 1945


# =============================================================================
# The embedded file
# =============================================================================


def _schema(states: pd.DataFrame, members) -> pa.DataFrameSchema:
    def counts_match(d: pd.DataFrame) -> pd.Series:
        decided = d["side_won"].notna()
        counts = d["winner_side_before"].notna() & d["loser_side_before"].notna()
        none = d["winner_side_before"].isna() & d["loser_side_before"].isna()
        return (decided & counts) | (~decided & none)

    def joined_during(d: pd.DataFrame) -> pd.Series:
        return ((d["join_year"] >= d["war_start_year"]) & (d["join_year"] <= d["war_end_year"])).fillna(False)

    def member(d: pd.DataFrame) -> pd.Series:
        return pd.Series(
            [members.is_member(int(c), int(y)) for c, y in zip(d["joiner"], d["join_year"], strict=True)],
            index=d.index,
        )

    def same_war(d: pd.DataFrame) -> pd.Series:
        cols = ["war_name", "war_start_year", "war_end_year"]
        n = d.groupby("war_id")[cols].transform("nunique").max(axis=1)
        return n <= 1

    count = _int(pa.Check.ge(1, error="must be at least 1 (a side of an ongoing war)"), nullable=True)
    return pa.DataFrameSchema(
        {
            "war_id": _text(pa.Check.str_matches(_SLUG.pattern, error="must be a lowercase slug")),
            "war_name": _text(),
            "war_start_year": _int(_years(WAR_FIRST_YEAR, LAST_YEAR)),
            "war_end_year": _int(_years(WAR_FIRST_YEAR, LAST_YEAR)),
            "joiner": _int(_known(set(states["ccode"]))),
            "join_year": _int(_years(FIRST_YEAR, LAST_YEAR)),
            "side": _text(),
            "side_won": _int(pa.Check.isin([0, 1], error="must be 0, 1 or empty (no winner)"), nullable=True),
            "winner_side_before": count,
            "loser_side_before": count,
            "uncertain": _binary(),
            "source_note": _text(),
        },
        unique=["war_id", "joiner"],
        checks=[
            _not_before("war_end_year", "war_start_year"),
            _row_check("join_year", "join_year outside the war's years", joined_during),
            _row_check("joiner", "joiner not a system member in join_year", member),
            _row_check(
                "winner_side_before",
                "side sizes must be given exactly when side_won is (empty for wars without a winner)",
                counts_match,
            ),
            _row_check("war_name", "rows of one war_id disagree on war_name or years", same_war),
        ],
    )


def load_war_joining(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Read and validate ``war_joining.csv`` of the embedded data.

    Parameters
    ----------
    data_dir : path-like, optional
        Folder with the embedded CSV files (the bundled data when ``None``).

    Returns
    -------
    pandas.DataFrame
        The validated rows (``side_won``, ``winner_side_before``, ``loser_side_before``
        are nullable ``Int64``: empty for wars without an eventual winner).

    Raises
    ------
    DataError
        A missing file or column, or a bad value: one line naming the file, the
        column and the CSV line numbers (header = line 1).
    """
    path = resolve_data_dir(data_dir)
    file = path / FILE
    df = read_text_csv(file, COLUMNS)
    states = _load_states(path)
    members = _Membership(states, _load_state_years(path, states))
    return _validate(df, _schema(states, members), FILE)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes (a fit records the joiners' file by it)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


# =============================================================================
# The global panel: joiners from COW inter-state wars
# =============================================================================


def joiners_from_cow(wars: pd.DataFrame) -> pd.DataFrame:
    """Joiners of COW inter-state wars, in the layout of ``war_joining.csv``.

    Parameters
    ----------
    wars : pandas.DataFrame
        ``cow_war_inter`` (directed dyadic war-years: ``warnum, ccode1, ccode2, year,
        outcome1``).

    Returns
    -------
    pandas.DataFrame
        One row per joiner (first war-year after the war's first year) with an
        outcome of 1 (win) or 2 (loss) in a war that has both; side sizes count the
        winners and losers whose first war-year is before the joiner's.
    """
    w = pd.DataFrame({
        "warnum": pd.to_numeric(wars["warnum"]).astype("int64"),
        "ccode": pd.to_numeric(wars["ccode1"]).astype("int64"),
        "year": pd.to_numeric(wars["year"]).astype("int64"),
        "outcome": pd.to_numeric(wars["outcome1"]),
    })
    part = w.groupby(["warnum", "ccode"]).agg(first=("year", "min"), last=("year", "max"),
                                              outcome=("outcome", "first")).reset_index()
    span = part.groupby("warnum").agg(start=("first", "min"), end=("last", "max"))
    part = part.join(span, on="warnum")
    rows = []
    for warnum, g in part.groupby("warnum"):
        won = g["outcome"] == 1
        lost = g["outcome"] == 2
        if not won.any() or not lost.any():
            continue
        for _, r in g.loc[(g["first"] > g["start"]) & (won | lost)].iterrows():
            before = g["first"] < r["first"]
            rows.append({
                "war_id": f"cow_{int(warnum)}", "war_name": f"COW inter-state war {int(warnum)}",
                "war_start_year": int(r["start"]), "war_end_year": int(r["end"]),
                "joiner": int(r["ccode"]), "join_year": int(r["first"]),
                "side": "winners" if r["outcome"] == 1 else "losers",
                "side_won": int(r["outcome"] == 1),
                "winner_side_before": int((before & won).sum()), "loser_side_before": int((before & lost).sum()),
                "uncertain": 0,
                "source_note": f"cow_war_inter warnum {int(warnum)} (year-level entry)",
            })
    return pd.DataFrame(rows, columns=list(COLUMNS))
