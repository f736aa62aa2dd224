"""The fit as the report reads it: :class:`ReportFit`, and the per-fit numbers it keeps.

A :class:`walt_bayes.fit.loaded.LoadedFit` with the names, short labels and regions of
its states, its observed alliances, the posterior mean alliance probability and the
alliance network checks, each computed once.  :func:`hdi` and :func:`stacked` are the
reports' interval and draw helpers; intervals are
:data:`walt_bayes.fit.diagnostics.CI_PROB` highest-density intervals.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats.base import array_stats

from walt_bayes.fit.diagnostics import CI_PROB
from walt_bayes.fit.draws import stack_draws
from walt_bayes.fit.loaded import LoadedFit, open_fit
from walt_bayes.fit.network_checks import fit_network_checks, stored_network_checks
from walt_bayes.model.design import Design
from walt_bayes.panel.columns import region_of
from walt_bayes.panel.datasets import load_dataset
from walt_bayes.panel.embedded import load_states
from walt_bayes.spec import ModelSpec


def hdi(draws: np.ndarray, prob: float = CI_PROB) -> np.ndarray:
    """HDI of each column of ``draws`` (draws in axis 0): array of shape ``(..., 2)``."""
    draws = np.asarray(draws, dtype=float)
    return np.asarray(array_stats.hdi(np.moveaxis(draws, 0, -1), prob, axis=-1))


def stacked(da: xr.DataArray) -> np.ndarray:
    """Draws of a variable with ``chain`` and ``draw`` merged into axis 0 (in its own dtype)."""
    return stack_draws(da)


class ReportFit(LoadedFit):
    """A fit as the report reads it: a :class:`~walt_bayes.fit.loaded.LoadedFit` with the names,
    short labels and regions of its states and the report's per-fit quantities, each computed once.

    Made as a :class:`LoadedFit` is (``ReportFit(tree, path=…)``), by :func:`load_report_fit`, or
    from a fit loaded already by :meth:`of`.
    """

    @classmethod
    def of(cls, fit: LoadedFit) -> ReportFit:
        """``fit`` as the report reads it: a view of the same fit, not a copy."""
        if isinstance(fit, cls):
            return fit
        view = cls.__new__(cls)
        # One attribute dict for both: what either reads from the tree (design, spec, …), the
        # other has, and a fit saved later has its file in both.
        view.__dict__ = fit.__dict__
        return view

    @property
    def label(self) -> str:
        """``<variant> on <data>``."""
        return f"{self.spec_name} on {self.data_name}"

    @cached_property
    def _codes(self) -> list[int]:
        """Every state in the fit's alliance and threat rows."""
        d = self.design
        codes = set(d.ally_keys["ccode1"]) | set(d.ally_keys["ccode2"])
        if d.has_threat:
            codes |= set(d.threat_keys["ccode1"]) | set(d.threat_keys["ccode2"])
        return sorted(codes)

    @cached_property
    def _labels(self) -> tuple[dict[int, str], dict[int, str]]:
        """(names, short labels) of the fit's states."""
        return state_labels(self.tree.attrs.get("data_name", ""), self._codes)

    @property
    def names(self) -> dict[int, str]:
        """ccode → full name (:func:`state_labels`)."""
        return self._labels[0]

    @property
    def abbs(self) -> dict[int, str]:
        """ccode → short label (:func:`state_labels`)."""
        return self._labels[1]

    @cached_property
    def regions(self) -> dict[int, str]:
        """ccode → region (:func:`state_regions`)."""
        return state_regions(
            self.tree.attrs.get("data_name", ""), self.design, self.spec, self._codes
        )

    def name(self, ccode: int) -> str:
        """Full name of a state (``COW <code>`` for one the data do not name)."""
        return self.names.get(int(ccode), f"COW {int(ccode)}")

    def abb(self, ccode: int) -> str:
        """Short label of a state (its code for one the data do not label)."""
        return self.abbs.get(int(ccode), str(int(ccode)))

    @cached_property
    def ally_y(self) -> np.ndarray:
        """Observed alliance (0/1) per alliance row."""
        return np.asarray(self.tree["observed_data"]["alliance"].values, dtype=float)

    @cached_property
    def ally_p_mean(self) -> np.ndarray:
        """Posterior mean alliance probability per alliance row (exact, from the log-likelihood)."""
        return alliance_probability(self.tree).mean(axis=0)

    @cached_property
    def network_checks(self) -> dict:
        """Posterior predictive checks of the alliance network (:func:`network_checks`)."""
        return network_checks(self)


def load_report_fit(run_dir: str | Path) -> ReportFit:
    """A run directory (or fit file) as the report reads it, with the fit file's checks
    (:func:`walt_bayes.fit.loaded.open_fit`)."""
    return ReportFit.of(open_fit(run_dir))


def state_labels(data_name: str, codes) -> tuple[dict[int, str], dict[int, str]]:
    """Full names and short labels of COW codes (embedded data: ``states.csv``; else the codes)."""
    names: dict[int, str] = {}
    abbs: dict[int, str] = {}
    if data_name == "middle-east":
        states = load_states()
        names = {int(c): str(n) for c, n in zip(states["ccode"], states["name"], strict=True)}
        abbs = {int(c): str(a) for c, a in zip(states["ccode"], states["abb"], strict=True)}
    for c in codes:
        names.setdefault(int(c), f"COW {int(c)}")
        abbs.setdefault(int(c), str(int(c)))
    return names, abbs


def state_regions(data_name: str, design: Design, spec: ModelSpec, codes) -> dict[int, str]:
    """Region of each state: embedded subregions, else the fit's groups, else COW blocks."""
    if data_name == "middle-east":
        states = load_states()
        return {int(c): str(r) for c, r in zip(states["ccode"], states["subregion"], strict=True)}
    out: dict[int, str] = {}
    if design.has_threat and spec.threat is not None and spec.threat.group == "region":
        labels = np.asarray(design.threat_groups, dtype=object)[design.threat_group]
        out = dict(zip(design.threat_keys["ccode1"].astype(int), labels, strict=True))
    elif spec.alliance.group == "region":
        labels = np.asarray(design.ally_groups, dtype=object)[design.ally_group]
        out = dict(zip(design.ally_keys["ccode1"].astype(int), labels, strict=True))
    for c in codes:
        out.setdefault(int(c), region_of(int(c)))
    return {int(k): str(v) for k, v in out.items()}


# ------------------------------------------------------------------ per-fit checks
def alliance_probability(tree: xr.DataTree) -> np.ndarray:
    """Draws of the alliance probability per row, exact from the Bernoulli log-likelihood.

    Shape ``(draws, rows)``.

    ``log_lik = log p`` where ``y = 1`` and ``log(1 - p)`` where ``y = 0``.
    """
    ll = stacked(tree["log_likelihood"]["alliance"])
    y = np.asarray(tree["observed_data"]["alliance"].values, dtype=bool)
    lik = np.exp(ll)
    return np.where(y[None, :], lik, 1.0 - lik)


def fit_panel(fit: ReportFit) -> pd.DataFrame | None:
    """The panel a fit was made on, where it can be rebuilt unchanged: the embedded data, same sha256."""
    if str(fit.tree.attrs.get("data_name", "")) != "middle-east":
        return None
    dataset = load_dataset("middle-east")
    return dataset.panel if dataset.sha256 == str(fit.tree.attrs.get("data_sha256", "")) else None


def network_checks(fit: ReportFit) -> dict:
    """Posterior predictive checks of the alliance network (:mod:`walt_bayes.fit.network_checks`).

    Use ``fit.network_checks`` (computed once per loaded fit).  The fit's stored
    ``network_checks`` attribute; a fit made before it gets them computed here from its
    posterior predictive draws (the hostile-pair check needs the panel: the embedded data
    are rebuilt, other panels skip that check).
    """
    result = stored_network_checks(fit.tree)
    if result is None:
        try:
            panel = fit_panel(fit)
            result = fit_network_checks(fit.tree, panel=panel, spec=fit.spec)
        except Exception as err:  # one failed section must not cost the whole report
            return {
                "error": f"{type(err).__name__}: {err}",
                "checks": [],
                "skipped": [],
                "notes": [],
            }
        result["notes"].insert(
            0, "computed when the report loaded this fit (made before the fit stored them)"
        )
        if panel is None:
            for row in result["skipped"]:
                if row["name"] == "hostile_share" and "panel" in row["reason"]:
                    row["reason"] += " (and the report can rebuild only the embedded panel)"
    return result
