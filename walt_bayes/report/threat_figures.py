"""The fit report's threat figures: weights, threat over time, the threat network of a year.

Plain matplotlib (and an ArviZ forest plot) on the threat quantities of
:mod:`walt_bayes.report.threat_quantities`; re-exported by :mod:`walt_bayes.report.figures`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from walt_bayes.report import threat_quantities as tq
from walt_bayes.report.figure_style import BLUE, GREY, PCT, forest
from walt_bayes.report.fit_view import ReportFit


def threat_weights(fit: ReportFit) -> Figure:
    """Forest plot of the four threat weights (population means) and their group-level values."""
    names = [
        f"beta_{s}" for s in fit.design.sources if f"beta_{s}" in fit.tree["posterior"].data_vars
    ]
    return forest(
        fit.tree,
        names,
        f"Threat weights (log-odds of dispute initiation per SD; {PCT} HDI)",
        0.5 * len(names) + 1.3,
    )


def threat_over_time(fit: ReportFit, dyads: list[tuple[int, int]], ax=None) -> Figure:
    """Threat of each chosen source to its target over time (posterior mean and HDI band; into
    ``ax`` when given, else a new figure)."""
    tab = tq.dyad_threat_series(fit, dyads)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.8), layout="constrained")
    fig = ax.figure
    colours = plt.get_cmap("tab10")
    for n, ((source, target), part) in enumerate(tab.groupby(["source", "target"], sort=False)):
        c = colours(n % 10)
        ax.fill_between(part["year"], part["hdi_low"], part["hdi_high"], color=c, alpha=0.2)
        ax.plot(
            part["year"],
            part["mean"],
            "o-",
            ms=3,
            color=c,
            label=f"{fit.abb(source)} → {fit.abb(target)}",
        )
    ax.set(
        title=f"Threat over time (probability scale, {PCT} HDI bands)",
        xlabel="year",
        ylabel="threat τ (P dispute initiation)",
        ylim=(0, None),
    )
    ax.legend(
        frameon=False,
        ncols=min(4, max(1, len(dyads))),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.15),
    )
    return fig


def threat_network(fit: ReportFit, year: int, top: int = 15) -> Figure:
    """The strongest directed threats in ``year``: states on a circle, arrows source → target."""
    edges = tq.threat_network(fit, year, top)
    keys = fit.design.threat_keys
    states = sorted(
        set(keys.loc[keys["year"] == year, "ccode1"])
        | set(keys.loc[keys["year"] == year, "ccode2"])
    )
    angle = {c: 2 * np.pi * k / len(states) for k, c in enumerate(states)}
    pos = {c: (np.cos(a), np.sin(a)) for c, a in angle.items()}
    involved = set(edges["source"]) | set(edges["target"])
    fig, ax = plt.subplots(figsize=(7.5, 7.5), layout="constrained")
    vmax = float(edges["mean"].max()) if len(edges) else 1.0
    cmap = plt.get_cmap("Reds")
    for _, e in edges.iloc[::-1].iterrows():
        w = float(e["mean"]) / vmax
        arrow = FancyArrowPatch(
            pos[int(e["source"])],
            pos[int(e["target"])],
            arrowstyle="-|>",
            mutation_scale=12 + 8 * w,
            lw=0.8 + 4 * w,
            color=cmap(0.35 + 0.65 * w),
            connectionstyle="arc3,rad=0.12",
            shrinkA=14,
            shrinkB=14,
            zorder=2,
        )
        ax.add_patch(arrow)
    for c in states:
        x, y = pos[c]
        strong = c in involved
        ax.scatter(
            [x],
            [y],
            s=380 if strong else 160,
            color=BLUE if strong else "#c7d7e8",
            zorder=3,
            edgecolor="white",
        )
        ax.annotate(
            fit.abb(c),
            (x * 1.13, y * 1.13),
            ha="center",
            va="center",
            fontsize=9,
            fontweight="bold" if strong else "normal",
            color="black" if strong else GREY,
        )
    ax.set(xlim=(-1.3, 1.3), ylim=(-1.3, 1.3), aspect="equal")
    ax.axis("off")
    lo, hi = (edges["mean"].min(), edges["mean"].max()) if len(edges) else (0, 0)
    ax.set_title(
        f"Strongest {len(edges)} threats in {year} (arrow: source → threatened state; "
        f"τ {lo:.2f}–{hi:.2f})",
        fontsize=10,
    )
    return fig
