"""The registry of Walt's hypotheses and the posterior quantities that test them.

Each entry has the id of WALT_HYPOTHESES.md, a one-line statement, its
family, the quantity, the predicted direction, the data it needs and a
function from a fit to posterior draws.  A hypothesis the fit cannot test is
reported ``not testable`` with the reason and the data that would make it
testable — never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xarray as xr


class NotTestable(Exception):
    """Raised by a quantity function when the fit cannot test the hypothesis."""


@dataclass(frozen=True)
class Hypothesis:
    """One of Walt's hypotheses and how walt-bayes tests it."""

    id: str
    family: str
    statement: str
    quantity: str
    direction: int  # +1: predicted > 0; -1: predicted < 0
    needs: str
    draws: Callable[[xr.DataTree], np.ndarray]
    pair: str | None = None  # the hypothesis making the opposite prediction on the same quantity
    coefficient: str | None = None  # a single coefficient with a proper prior: Savage-Dickey applies


def coefficient(name: str, needs: str) -> Callable[[xr.DataTree], np.ndarray]:
    """Quantity function: the posterior draws of one model coefficient."""

    def draws(tree: xr.DataTree) -> np.ndarray:
        post = tree["posterior"]
        if name not in post.data_vars:
            raise NotTestable(f"the fit has no '{name}'")
        return np.asarray(post[name].values).ravel()

    return draws


def difference(first: str, second: str, needs: str) -> Callable[[xr.DataTree], np.ndarray]:
    """Quantity function: draws of ``first - second``."""

    def draws(tree: xr.DataTree) -> np.ndarray:
        post = tree["posterior"]
        for name in (first, second):
            if name not in post.data_vars:
                raise NotTestable(f"the fit has no '{name}'")
        return np.asarray((post[first] - post[second]).values).ravel()

    return draws


SECURITY = "a variant with the threat block and shared/partner terms (balance_of_threat or full)"

REGISTRY: dict[str, Hypothesis] = {}


def register(h: Hypothesis) -> Hypothesis:
    """Add a hypothesis to the registry (ids are unique)."""
    if h.id in REGISTRY:
        raise ValueError(f"duplicate hypothesis id {h.id}")
    REGISTRY[h.id] = h
    return h


register(Hypothesis(
    id="BAL-1", family="BAL",
    statement="States facing an external threat align with others to oppose the threatening state.",
    quantity="gamma_shared: effect of a threat shared by i and k on an i–k alliance",
    direction=+1, needs=SECURITY, draws=coefficient("gamma_shared", SECURITY), pair="BW-1",
    coefficient="gamma_shared",
))
register(Hypothesis(
    id="BW-1", family="BW",
    statement="States facing an external threat ally with the most threatening power.",
    quantity="gamma_partner: effect of the threat k poses to i on an i–k alliance",
    direction=+1, needs=SECURITY, draws=coefficient("gamma_partner", SECURITY), pair="BAL-1",
    coefficient="gamma_partner",
))
register(Hypothesis(
    id="COND-1", family="COND",
    statement="Balancing is more common than bandwagoning.",
    quantity="gamma_shared − gamma_partner (per SD of each threat term)",
    direction=+1, needs=SECURITY, draws=difference("gamma_shared", "gamma_partner", SECURITY),
))
register(Hypothesis(
    id="IDEO-1", family="IDEO",
    statement="The more similar two states' domestic ideologies, the likelier they ally.",
    quantity="gamma_ideology: effect of regime similarity",
    direction=+1, needs="a variant with the ideology term (ideology or full) and regime data",
    draws=coefficient("gamma_ideology", "a variant with the ideology term (ideology or full)"),
    coefficient="gamma_ideology",
))
