"""State codes and labels for scenarios: resolve ``state = "EGY"`` or ``651`` and label output rows.

Abbreviations come from the data a fit was made on: ``states.csv`` of the embedded data
(or of a folder in its layout), else the COW state list (``cow_states``) when the panel's
codes are all COW codes and the source can be read (mirror or cache).  Otherwise
states are named by their codes only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from walt_bayes.errors import WaltError
from walt_bayes.panel.embedded import load_states
from walt_bayes.sources.read import read_source


@dataclass
class StateNames:
    """COW codes ↔ abbreviations for the states of one panel."""

    codes: set[int]
    abbs: dict[int, str] = field(default_factory=dict)

    def abb(self, code: int) -> str:
        """The abbreviation of ``code`` (its number when there is none)."""
        return self.abbs.get(int(code), str(int(code)))

    def resolve(self, value: int | str) -> int | None:
        """The panel's COW code for a code or abbreviation (case-insensitive), or None."""
        if isinstance(value, int):
            return value if value in self.codes else None
        text = value.strip()
        if text.isdigit():
            return self.resolve(int(text))
        wanted = text.upper()
        hits = [c for c, a in self.abbs.items() if a.upper() == wanted and c in self.codes]
        return hits[0] if hits else None


def state_names(panel: pd.DataFrame) -> StateNames:
    """Codes and abbreviations of the states in ``panel`` (see the module docstring)."""
    codes = {int(c) for c in np.unique(panel[["ccode1", "ccode2"]].to_numpy())}
    abbs = _embedded(panel) or _cow(codes)
    return StateNames(codes=codes, abbs={c: a for c, a in abbs.items() if c in codes})


def _embedded(panel: pd.DataFrame) -> dict[int, str]:
    data_dir = panel.attrs.get("data_dir")
    if data_dir is None and panel.attrs.get("name") != "middle-east":
        return {}
    try:
        states = load_states(data_dir)
    except WaltError:
        return {}
    return {int(c): str(a) for c, a in zip(states["ccode"], states["abb"], strict=True)}


def _cow(codes: set[int]) -> dict[int, str]:
    try:
        states = read_source("cow_states")
    except (WaltError, OSError):
        return {}
    table = dict(
        zip(pd.to_numeric(states["ccode"]).astype(int), states["stateabb"].astype(str), strict=True)
    )
    # A simulated panel numbers its states 10, 20, …: COW labels would be wrong there.
    return table if codes <= set(table) else {}
