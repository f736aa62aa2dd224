"""Figures of a fit for the Python API: ``fit.plot.trace()``, ``fit.plot.forest()``, …

Each method draws one of the fit report's figures (:mod:`walt_bayes.report.figures`) and returns
the matplotlib Figure.  Figures that ArviZ lays out as a grid of panels (trace, forest, threat
weights) make their own figure; single-panel figures (threat over time, alliance rate by year)
also draw into axes you give (``ax=``).  Every interval is a 94% HDI.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from walt_bayes.errors import ModelError, WaltError

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from walt_bayes.fit.loaded import LoadedFit
    from walt_bayes.model.design import Design
    from walt_bayes.report.quantities import ReportFit

__all__ = ["FitPlots", "PlottableFit", "report_fit"]


class PlottableFit(Protocol):
    """What the figures read of a fit: :class:`walt_bayes.Fit` has all of it.

    Named here, not imported from :mod:`walt_bayes.api`: the API comes after the analyses and
    imports this module (``Fit.plot``).
    """

    @property
    def loaded(self) -> LoadedFit: ...

    @property
    def tree(self) -> xr.DataTree: ...

    @property
    def design(self) -> Design: ...

    @property
    def spec_name(self) -> str: ...

    def summary(self, var_names: list[str] | None = None) -> pd.DataFrame: ...


def report_fit(fit: PlottableFit) -> ReportFit:
    """The report's view of a fit (its state names and regions besides), saved or not.

    Parameters
    ----------
    fit : walt_bayes.Fit
        Or anything else with its attributes (:class:`PlottableFit`).

    Returns
    -------
    walt_bayes.report.quantities.ReportFit
        A view of the fit's :class:`~walt_bayes.fit.loaded.LoadedFit`: one design, one spec.
    """
    # lazy: walt_bayes.report.quantities imports ArviZ and xarray, and the API imports this module
    from walt_bayes.report import quantities as q

    return q.ReportFit.of(fit.loaded)


def _dyads(value) -> list[tuple[int, int]]:
    """``"645->666, 651->666"``, one ``(source, target)`` pair, or a list of pairs."""
    # lazy: walt_bayes.report.quantities imports ArviZ and xarray
    from walt_bayes.report.quantities import parse_dyads

    if isinstance(value, str):
        try:
            return parse_dyads(value)
        except ValueError as err:
            raise WaltError(f"dyads: {err}") from err
    pairs = [value] if len(value) == 2 and all(isinstance(v, int) for v in value) else list(value)
    try:
        return [(int(s), int(t)) for s, t in pairs]
    except (TypeError, ValueError) as err:
        raise WaltError(
            f"dyads: expected (source, target) pairs of COW codes, got {value!r}"
        ) from err


class FitPlots:
    """The figures of one fit (``fit.plot``).

    Parameters
    ----------
    fit : walt_bayes.Fit
        Or anything else with its attributes (:class:`PlottableFit`).
    """

    def __init__(self, fit: PlottableFit):
        self._fit = fit

    @cached_property
    def report_fit(self) -> ReportFit:
        """What the report's figure functions take (:func:`report_fit`)."""
        return report_fit(self._fit)

    def trace(self, var_names: list[str] | None = None) -> Figure:
        """Trace and rank-density plots (ArviZ ``plot_trace_dist``).

        Parameters
        ----------
        var_names : list of str, optional
            Default, as in the report: the balancing and bandwagoning coefficients, the threat
            weights and the parameters with the worst R-hat.

        Returns
        -------
        matplotlib.figure.Figure
        """
        # lazy: walt_bayes.report.figures imports matplotlib and ArviZ
        from walt_bayes.report import figures

        post = self._fit.tree["posterior"]
        missing = [v for v in var_names or [] if v not in post.data_vars]
        if missing:
            raise WaltError(f"trace: the posterior has no variable '{missing[0]}'")
        names = var_names or figures.key_parameters(self.report_fit, self._fit.summary())
        return figures.trace(self.report_fit, list(names))

    def forest(self) -> Figure:
        """Forest plot of the alliance coefficients (``gamma_*`` terms, then ``control_*``).

        Returns
        -------
        matplotlib.figure.Figure
        """
        # lazy: walt_bayes.report.figures imports matplotlib and ArviZ
        from walt_bayes.report import figures

        return figures.alliance_effects(self.report_fit)

    def threat_weights(self) -> Figure:
        """Forest plot of the threat weights (``beta_*``; log-odds of dispute initiation per SD).

        Returns
        -------
        matplotlib.figure.Figure
        """
        # lazy: walt_bayes.report.figures imports matplotlib and ArviZ
        from walt_bayes.report import figures

        self._need_threat("threat_weights")
        return figures.threat_weights(self.report_fit)

    def threat_over_time(self, dyads=None, ax: Axes | None = None) -> Figure:
        """Threat of a source state to a target state over time (posterior mean, HDI band).

        Parameters
        ----------
        dyads : str, (int, int) or list of (int, int), optional
            ``(source, target)`` COW codes, e.g. ``(645, 666)`` or ``"645->666, 652->666"``
            (Iraq and Syria to Israel).  Default: the four dyads with the highest mean threat.
        ax : matplotlib.axes.Axes, optional
            Draw here (default: a new figure).

        Returns
        -------
        matplotlib.figure.Figure
        """
        # lazy: walt_bayes.report.figures and .quantities import matplotlib and ArviZ
        from walt_bayes.report import figures, quantities

        self._need_threat("threat_over_time")
        rf = self.report_fit
        chosen = quantities.strongest_dyads(rf, 4) if dyads is None else _dyads(dyads)
        keys = self._fit.design.threat_keys
        present = set(
            zip(keys["ccode2"].to_numpy().tolist(), keys["ccode1"].to_numpy().tolist(), strict=True)
        )
        absent = [f"{s}->{t}" for s, t in chosen if (s, t) not in present]
        if absent or not chosen:
            raise WaltError(
                f"threat_over_time: no threat rows for {', '.join(absent) or 'any dyad'} "
                "(source->target COW codes)"
            )
        return figures.threat_over_time(rf, chosen, ax=ax)

    def ppc_by_year(self, ax: Axes | None = None) -> Figure:
        """Alliance rate by year: posterior predictive mean and HDI against the observed rate.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Draw here (default: a new figure).

        Returns
        -------
        matplotlib.figure.Figure
        """
        # lazy: walt_bayes.report.figures imports matplotlib and ArviZ
        from walt_bayes.report import figures

        return figures.ppc_by_year(self.report_fit, ax=ax)

    def network_checks(self) -> Figure | None:
        """Posterior predictive checks of the alliance network (None when the fit has none).

        Returns
        -------
        matplotlib.figure.Figure or None
        """
        # lazy: walt_bayes.report.figures imports matplotlib and ArviZ
        from walt_bayes.report import figures

        return figures.network_checks(self.report_fit)

    def _need_threat(self, what: str) -> None:
        if not self._fit.design.has_threat:
            raise ModelError(f"{what}: {self._fit.spec_name} has no threat block")
