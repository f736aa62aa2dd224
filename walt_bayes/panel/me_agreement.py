"""Agreement of two 0/1 codings of the same dyad-years: Cohen's kappa, recall, precision.

The measure of :mod:`walt_bayes.panel.me_audit`: the embedded alignment coding
("ours") against ATOP, both as sets of allied undirected dyad-years.
"""

from __future__ import annotations

from dataclasses import dataclass

from walt_bayes.panel.me_atop_reference import Pair


@dataclass(frozen=True)
class Agreement:
    """Agreement of two 0/1 codings of the same dyad-years."""

    n: int  # dyad-years compared
    both: int  # allied in both
    ours_only: int  # allied in the embedded coding only
    atop_only: int  # allied in ATOP only

    @property
    def neither(self) -> int:
        """Dyad-years allied in neither coding."""
        return self.n - self.both - self.ours_only - self.atop_only

    @property
    def recall(self) -> float:
        """Share of ATOP's allied dyad-years that the embedded coding has."""
        d = self.both + self.atop_only
        return self.both / d if d else float("nan")

    @property
    def precision(self) -> float:
        """Share of the embedded allied dyad-years that ATOP has."""
        d = self.both + self.ours_only
        return self.both / d if d else float("nan")

    @property
    def kappa(self) -> float:
        """Cohen's kappa."""
        n = self.n
        if not n:
            return float("nan")
        po = (self.both + self.neither) / n
        p_ours = (self.both + self.ours_only) / n
        p_atop = (self.both + self.atop_only) / n
        pe = p_ours * p_atop + (1 - p_ours) * (1 - p_atop)
        return (po - pe) / (1 - pe) if pe < 1 else float("nan")


def agreement(ours: set[Pair], atop: set[Pair], universe_: set[Pair]) -> Agreement:
    """Compare two sets of allied dyad-years inside ``universe_``."""
    ours, atop = ours & universe_, atop & universe_
    both = len(ours & atop)
    return Agreement(len(universe_), both, len(ours) - both, len(atop) - both)
