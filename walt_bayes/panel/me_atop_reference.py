"""The ATOP reference list of the embedded data's ATOP audit (``atop_reference.csv``).

The peacesciencer mirror carries ATOP pledge flags per dyad-year but no alliance
identifiers, so the ATOP alliances behind the panel's dyad-years are listed in
``data/middle_east/atop_reference.csv`` (columns in CODEBOOK.md, *ATOP reference
list*).  This module reads that list into :class:`AtopAlliance` records
(:data:`ATOP_ALLIANCES`); :mod:`walt_bayes.panel.me_audit` checks it against the mirror
and compares it with the embedded coding.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import pandas as pd

from walt_bayes.errors import DataError, describe_rows
from walt_bayes.panel.embedded import FIRST_YEAR, LAST_YEAR, resolve_data_dir
from walt_bayes.panel.me_checks import read_text_csv

#: Exit year of members still in the alliance after the panel ends.
ONGOING = 9999

#: An undirected dyad-year ``(lo, hi, year)`` with ``lo < hi``.
Pair = tuple[int, int, int]


@dataclass(frozen=True)
class AtopAlliance:
    """One ATOP alliance as far as it concerns panel states.

    ``members`` are ``(ccode, entry year, exit year)`` spans of panel states
    (``ONGOING`` = still a member after 1979); a state may have several spans
    (ATOP phases).  ``pledges`` are ATOP's alliance-level pledge codes (D defense,
    O offense, N neutrality, A non-aggression, C consultation).
    """

    atopid: str
    name: str
    signed: int
    pledges: str
    members: tuple[tuple[int, int, int], ...]

    def pair_years(self, member_years: set[tuple[int, int]]) -> set[Pair]:
        """Undirected dyad-years in which two members are in force and system members."""
        out: set[Pair] = set()
        for (a, s1, e1), (b, s2, e2) in combinations(self.members, 2):
            if a == b:
                continue
            lo, hi = min(a, b), max(a, b)
            for year in range(max(s1, s2, FIRST_YEAR), min(e1, e2, LAST_YEAR) + 1):
                if (a, year) in member_years and (b, year) in member_years:
                    out.add((lo, hi, year))
        return out


#: The ATOP reference list, one row per member spell (documented in CODEBOOK.md,
#: *ATOP reference list*).
ATOP_REFERENCE_FILE = "atop_reference.csv"
#: Columns of :data:`ATOP_REFERENCE_FILE`: alliance-level fields repeated on every
#: member row, then the member's ``ccode`` and its entry and exit years.
ATOP_REFERENCE_COLUMNS = ("atopid", "name", "signed", "pledges", "ccode", "entry", "exit")


def _read_reference(path: Path) -> pd.DataFrame:
    """The reference file's columns as stripped strings (one-line DataError if unusable)."""
    df = read_text_csv(path, ATOP_REFERENCE_COLUMNS, blank_is_na=False)
    return df[list(ATOP_REFERENCE_COLUMNS)].apply(lambda col: col.str.strip())


def _check_values(df: pd.DataFrame, fname: str) -> pd.DataFrame:
    """Whole-number years and codes, entry not after exit, pledges among DONAC.

    Returns the frame with ``signed``, ``ccode``, ``entry`` and ``exit`` as integers.
    """
    rows = df.index + 2  # 0-based data row -> CSV line (header is line 1)

    def check(bad: pd.Series, what: str) -> None:
        if bad.any():
            lines = describe_rows(rows[bad.to_numpy()])
            raise DataError(f"{fname}: {what} at CSV {lines} (line numbers, header = line 1)")

    check((df == "").any(axis=1), "empty field(s)")
    for col in ("signed", "ccode", "entry", "exit"):
        check(~df[col].str.fullmatch(r"[0-9]+"), f"column {col!r} is not a whole number")
        df[col] = df[col].astype(int)
    check(df["entry"] > df["exit"], "entry year after exit year")
    check(~df["pledges"].str.fullmatch(r"[DONAC]+"), "pledges not letters of DONAC")
    return df


def _alliances(df: pd.DataFrame, fname: str) -> tuple[AtopAlliance, ...]:
    """One record per ``atopid`` (first-row order), members in row order."""
    out = []
    for atopid, g in df.groupby("atopid", sort=False):
        head = g[["name", "signed", "pledges"]].drop_duplicates()
        if len(head) > 1:
            raise DataError(f"{fname}: alliance {atopid}: rows differ in name, signed or pledges")
        name, signed, pledges = head.iloc[0]
        members = tuple(zip(g["ccode"], g["entry"], g["exit"], strict=True))
        out.append(AtopAlliance(atopid, name, int(signed), pledges, members))
    return tuple(out)


def load_atop_alliances(path: str | Path | None = None) -> tuple[AtopAlliance, ...]:
    """Read the ATOP reference list (``data/middle_east/atop_reference.csv`` by default).

    Parameters
    ----------
    path : path-like, optional
        The reference file; the one beside the bundled embedded data when ``None``.

    Returns
    -------
    tuple of AtopAlliance
        Alliances in the order of their first row, members in row order.

    Raises
    ------
    DataError
        A missing or malformed file (one line).
    """
    path = Path(path) if path is not None else resolve_data_dir(None) / ATOP_REFERENCE_FILE
    df = _check_values(_read_reference(path), path.name)
    return _alliances(df, path.name)


#: ATOP alliances with two or more panel states in force in some panel year
#: (ATOP v4 member file; names ours; ``signed`` is the year the alliance or, for 2535,
#: its 1942 treaty began), read from :data:`ATOP_REFERENCE_FILE`.
ATOP_ALLIANCES: tuple[AtopAlliance, ...] = load_atop_alliances()
