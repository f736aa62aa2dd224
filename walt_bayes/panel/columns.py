"""The column contract of a walt-bayes panel.

A panel is a table of **directed dyad-years** ``(ccode1, ccode2, year)`` of
states that coexist in the state system that year.  ``ccode1`` is the focal
state *i* (the one that is threatened and chooses allies), ``ccode2`` the other
state *j*.  Columns ending in ``1`` describe *i*, ending in ``2`` describe *j*;
dyadic columns named ``*21`` describe what *j* does to *i*.

Both the embedded Middle East panel and the global panel built from real data
use these names, so every model spec runs on either.  Values a source does not
cover are missing (NA), never 0.
"""

from __future__ import annotations

KEYS = ("ccode1", "ccode2", "year")

#: Columns every panel must have, with their meaning.
REQUIRED: dict[str, str] = {
    "ccode1": "COW code of the focal state i",
    "ccode2": "COW code of the other state j",
    "year": "calendar year t",
    "region1": "region of i (grouping for partial pooling)",
    "region2": "region of j",
    "power1": "aggregate power of i: natural log of its capability share (log CINC)",
    "power2": "aggregate power of j: natural log of its capability share (log CINC)",
    "major1": "1 if i is a major power in year t",
    "major2": "1 if j is a major power in year t",
    "offense1": "offensive military capability of i (index; higher = more offensive capability)",
    "offense2": "offensive military capability of j",
    "contiguous": "1 if i and j are directly contiguous (land, or by sea within 400 miles)",
    "log_capdist": "natural log of capital-to-capital distance in km",
    "neighbour2": "1 if i and j share a contiguous neighbour but are not contiguous themselves",
    "init21": "1 if j initiated (used or threatened force in) a militarised dispute against i in year t",
    "init21_past10": "years in t-10..t-1 in which j initiated a militarised dispute against i",
    "init2_past10": "militarised disputes j initiated against anyone in t-10..t-1",
    "rivalry": "1 if i and j are in an ongoing strategic rivalry in year t",
    "ally": "1 if i and j share an alliance in year t (symmetric)",
    "pledge12": "1 if i has an alliance pledge to j in year t (directed; may be one-way)",
    "ideo_sim": "ideological (regime) similarity of i and j, in [0, 1]",
}

#: Columns a panel may have; terms that need them are not testable without them.
OPTIONAL: dict[str, str] = {
    "regime1": "regime type of i (category)",
    "regime2": "regime type of j (category)",
    "democracy1": "democracy score of i in [0, 1]",
    "democracy2": "democracy score of j in [0, 1]",
    "leninist1": "1 if i is a Marxist-Leninist one-party state",
    "leninist2": "1 if j is a Marxist-Leninist one-party state",
    "monarchy1": "1 if i is a monarchy",
    "monarchy2": "1 if j is a monarchy",
    "illegit1": "1 if i's ruler seized power irregularly in t-4..t (weak domestic legitimacy)",
    "illegit2": "1 if j's ruler seized power irregularly in t-4..t",
    "terrthreat1": "latent territorial threat faced by i",
    "aid21": "1 if j supplies arms or economic aid to i in year t",
    "aid12": "1 if i supplies arms or economic aid to j in year t",
    "igos": "number of IGOs in which both i and j are full members",
    "trade_dep": "trade dependence of i on j: log1p of i's imports from j over i's total recorded imports (x1000)",
    "ally_formal": "1 if i and j share a formal (treaty) alliance in year t",
    "ally_onset": "1 if i and j share an alliance in t but did not in t-1",
    "atop_defense": "1 if i has an ATOP defense pledge to j in year t",
    "atop_offense": "1 if i has an ATOP offense pledge to j in year t",
}

#: Columns that must be 0/1 where present.
BINARY = (
    "major1", "major2", "contiguous", "neighbour2", "init21", "rivalry", "ally", "pledge12",
    "leninist1", "leninist2", "monarchy1", "monarchy2", "illegit1", "illegit2",
    "aid21", "aid12", "ally_formal", "ally_onset", "atop_defense", "atop_offense",
)

#: Regions used for partial pooling (COW code ranges for the global panel).
REGIONS = ("americas", "europe", "africa", "middle_east", "asia")


def region_of(ccode: int) -> str:
    """Region of a COW state code, by the COW numbering blocks.

    Parameters
    ----------
    ccode : int
        Correlates of War state code.

    Returns
    -------
    str
        One of :data:`REGIONS`.
    """
    # COW numbering blocks; 600-699 is the Middle East and North Africa,
    # which matches Walt's regional universe (Libya, Sudan, Algeria included).
    if ccode < 200:
        return "americas"
    if ccode < 400:
        return "europe"
    if ccode < 600:
        return "africa"
    if ccode < 700:
        return "middle_east"
    return "asia"
