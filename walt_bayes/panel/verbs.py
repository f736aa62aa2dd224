"""Dyad-year panel verbs: the Python counterpart of peacesciencer's pipeline.

``create_dyad_years()`` makes the frame; each ``add_*`` verb adds named columns
for one concern; ``filter_relevant()`` / ``filter_region()`` drop rows::

    df = create_dyad_years(years=(1950, 1980))
    df = add_contiguity(add_major_powers(df))
    df = filter_relevant(df)

Conventions
-----------
* Frames carry their unit in ``df.attrs["unit"]`` (``"directed dyad-year"`` or
  ``"non-directed dyad-year"``) and the sources used in ``df.attrs["sources"]``.
* Columns ending in ``1`` describe ``ccode1`` (state *i*), ending in ``2``
  describe ``ccode2`` (*j*); ``*21`` is what *j* does to *i*, ``*12`` what *i*
  does to *j*.
* A year outside a source's coverage (``registry.tsv``) is NA, never 0.  Within
  coverage, a dyad absent from an *event* source (alliances, disputes,
  rivalries, wars, contiguity) is 0; a dyad absent from a *measurement* source
  (distances, IGOs, trade, capabilities, democracy) is NA.
* Verbs never change the rows: same length, same keys, same order.  Values
  that depend on states outside the frame (second-order neighbours, the
  reverse direction of a pledge, trade totals) are computed from the source,
  so a filtered frame gets the same values as the full one.
* Every verb takes ``sources``: an optional mapping from source name to a data
  frame that replaces the cached file (tests pass small synthetic frames).

Implementation: lookups on integer keys (``(ccode1*1000 + ccode2)*10000 +
year``) with ``pandas.Index.get_indexer`` / ``numpy.isin``, no row loops
(:mod:`walt_bayes.panel.verb_tools`).  The verbs live in one module per family
and are all importable from here:

* :mod:`~walt_bayes.panel.verbs_states` — the frame, state attributes, leaders;
* :mod:`~walt_bayes.panel.verbs_geography` — contiguity, distances, neighbours;
* :mod:`~walt_bayes.panel.verbs_conflict` — disputes, rivalries, wars;
* :mod:`~walt_bayes.panel.verbs_ties` — alliances, IGOs, trade;
* :mod:`~walt_bayes.panel.verbs_filters` — the verbs that drop rows.
"""

from __future__ import annotations

from walt_bayes.panel.verb_tools import (
    PAST_WINDOW,
    UNIT_DIRECTED,
    UNIT_NONDIRECTED,
    Sources,
)
from walt_bayes.panel.verbs_conflict import add_disputes, add_rivalries, add_war_participation
from walt_bayes.panel.verbs_filters import filter_region, filter_relevant, normalise_region
from walt_bayes.panel.verbs_geography import (
    EARTH_RADIUS_KM,
    add_contiguity,
    add_distance,
    add_second_order_neighbours,
    contiguity_table,
    great_circle_km,
    second_order_neighbour_keys,
)
from walt_bayes.panel.verbs_states import (
    ILLEGIT_WINDOW,
    add_capabilities,
    add_democracy,
    add_irregular_entry,
    add_major_powers,
    add_territorial_threat,
    create_dyad_years,
    irregular_entry_state_years,
)
from walt_bayes.panel.verbs_ties import ATOP_FLAGS, add_atop_alliances, add_igos, add_trade

__all__ = [
    "ATOP_FLAGS",
    "EARTH_RADIUS_KM",
    "ILLEGIT_WINDOW",
    "PAST_WINDOW",
    "UNIT_DIRECTED",
    "UNIT_NONDIRECTED",
    "VERBS",
    "Sources",
    "add_atop_alliances",
    "add_capabilities",
    "add_contiguity",
    "add_democracy",
    "add_disputes",
    "add_distance",
    "add_igos",
    "add_irregular_entry",
    "add_major_powers",
    "add_rivalries",
    "add_second_order_neighbours",
    "add_territorial_threat",
    "add_trade",
    "add_war_participation",
    "contiguity_table",
    "create_dyad_years",
    "filter_region",
    "filter_relevant",
    "great_circle_km",
    "irregular_entry_state_years",
    "normalise_region",
    "second_order_neighbour_keys",
]

# The names tests used before the verbs were split by family (then private here).
_ATOP_FLAGS = ATOP_FLAGS
_contiguity_table = contiguity_table

#: Every ``add_*`` verb: those that add columns and keep the rows.
VERBS = (
    add_capabilities,
    add_major_powers,
    add_contiguity,
    add_distance,
    add_second_order_neighbours,
    add_disputes,
    add_rivalries,
    add_territorial_threat,
    add_democracy,
    add_atop_alliances,
    add_igos,
    add_trade,
    add_irregular_entry,
    add_war_participation,
)
