"""The reports' figure conventions: colours, the interval label, percent axes, forest plots.

Shared by :mod:`walt_bayes.report.figures` and :mod:`walt_bayes.report.threat_figures`.
"""

from __future__ import annotations

import arviz as az
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from walt_bayes.fit.diagnostics import CI_PROB

BLUE, ORANGE, GREY, RED = "#1f77b4", "#ff7f0e", "#7f7f7f", "#d62728"
#: The interval every figure shows, as its legends name it (``94%``).
PCT = f"{CI_PROB:.0%}"


def figure_of(pc) -> Figure:
    """The matplotlib Figure behind an arviz-plots PlotCollection."""
    return pc.viz["figure"].item()


def percent_axis(ax, axis: str = "y") -> None:
    """Label the ``axis`` of ``ax`` in percent (its values are shares)."""
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(
        PercentFormatter(1.0, decimals=None)
    )


def forest(trees, names: list[str], title: str, height: float) -> Figure:
    """ArviZ forest plot of ``names`` (one fit, or a dict of fits with a legend), a line at 0."""
    longest = max((len(n) for n in names), default=10)
    pc = az.plot_forest(
        trees,
        var_names=names,
        combined=True,
        backend="matplotlib",
        figure_kwargs={"figsize": (9, height), "width_ratios": [max(1.0, longest / 14), 2.5]},
    )
    if isinstance(trees, dict):
        pc.add_legend("model", title="fit")
    fig = figure_of(pc)
    # The label column needs no axis of its own ("variable" under the names says nothing).
    fig.axes[0].set_xlabel("")
    fig.axes[0].axis("off")
    for ax in fig.axes[1:]:
        ax.axvline(0, color=GREY, ls="--", lw=1)
    fig.suptitle(title)
    return fig
