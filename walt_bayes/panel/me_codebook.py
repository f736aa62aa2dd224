"""The codebook of the embedded Middle East data: its years, categories, files and tables.

Constants shared by the validation (:mod:`walt_bayes.panel.me_schemas`), the panel
derivation (:mod:`walt_bayes.panel.me_derive`) and the loaders
(:mod:`walt_bayes.panel.embedded`, which re-exports them); their meaning is documented
in ``data/middle_east/CODEBOOK.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

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

#: An episode id: a lowercase slug.
SLUG = re.compile(r"^[a-z0-9_]+$")
#: How the one-line errors read their line numbers.
LINE_NOTE = "(line numbers, header = line 1)"


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
