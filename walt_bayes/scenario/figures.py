"""Scenario figures (PNG): the changed dyads with intervals, and the threat network before and after.

- ``changed_dyads.png``: forest-style plot of the largest changes in threat (left) and in
  alliance probability (right): posterior mean difference and 94% HDI per row;
- ``threat_network_<year>.png`` for each scenario year: the states on a circle, arrows from
  threat source to threatened state for the strongest threats, baseline on the left and the
  scenario on the right (arrows coloured by the change: red up, blue down).

Figures are built on ``matplotlib.figure.Figure`` (no pyplot state, no display needed)
and written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from walt_bayes.atomic import atomic_path
from walt_bayes.fit.diagnostics import CI_PROB

BLUE, GREY, RED = "#1f77b4", "#7f7f7f", "#d62728"
#: Strongest threats drawn per network panel (plus every arrow the scenario moves most).
NETWORK_EDGES = 20
#: Arrows of the largest scenario changes always drawn.
NETWORK_CHANGED = 10
#: Years drawn as networks at most (a scenario over many years gets the first ones).
MAX_NETWORK_YEARS = 6


def save_figures(result, out: Path, top: int = 20) -> list[Path]:
    """Write every figure of ``result`` (a ScenarioResult) into ``out``; return their paths."""
    figures = {"changed_dyads.png": changed_dyads(result, top)}
    if len(result.network):
        for year in result.scenario.years[:MAX_NETWORK_YEARS]:
            figures[f"threat_network_{year}.png"] = threat_network(result, year)
    paths = []
    for name, fig in figures.items():
        with atomic_path(out / name, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=120, format="png")
        paths.append(out / name)
    return paths


def _forest(ax, table: pd.DataFrame, labels: list[str], title: str, xlabel: str) -> None:
    y = np.arange(len(table))[::-1]
    mean = table["diff_mean"].to_numpy()
    lo, hi = table["diff_hdi_low"].to_numpy(), table["diff_hdi_high"].to_numpy()
    colours = [RED if m > 0 else BLUE if m < 0 else GREY for m in mean]
    ax.hlines(y, lo, hi, colors=colours, lw=2, alpha=0.6)
    ax.scatter(mean, y, color=colours, zorder=3, s=22)
    ax.axvline(0, color=GREY, ls="--", lw=1)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    if not len(table):
        ax.text(
            0.5,
            0.5,
            "no affected rows",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color=GREY,
        )


def changed_dyads(result, top: int = 20) -> Figure:
    """Forest plot of the ``top`` largest threat and alliance changes (mean difference, HDI)."""
    pct = f"{CI_PROB:.0%}"
    threat, ally = result.threat.head(top), result.alliance.head(top)
    rows = max(len(threat), len(ally), 3)
    fig = Figure(figsize=(12, 1.2 + 0.28 * rows), layout="constrained")
    left, right = fig.subplots(1, 2)
    _forest(
        left,
        threat,
        [f"{r.source_abb} → {r.target_abb} {r.year}" for r in threat.itertuples()],
        f"Threat τ (source → threatened), {len(threat)} of {len(result.threat)} rows",
        f"change in threat probability ({pct} HDI)",
    )
    _forest(
        right,
        ally,
        [f"{r.state_a_abb}–{r.state_b_abb} {r.year}" for r in ally.itertuples()],
        f"Alliance probability, {len(ally)} of {len(result.alliance)} rows",
        f"change in alliance probability ({pct} HDI)",
    )
    title = result.scenario.name or Path(result.scenario.source).stem
    fig.suptitle(f"{title} — {result.label}: largest changes (scenario − baseline)")
    return fig


def _edges(net: pd.DataFrame) -> pd.DataFrame:
    """The threats drawn: strongest in either panel, and the largest changes."""
    strongest = net.assign(top=np.maximum(net["baseline_mean"], net["scenario_mean"])).nlargest(
        NETWORK_EDGES, "top"
    )
    change = (net["scenario_mean"] - net["baseline_mean"]).abs()
    moved = net.loc[change > 0].assign(c=change[change > 0]).nlargest(NETWORK_CHANGED, "c")
    return pd.concat([strongest, moved]).drop_duplicates(["source", "target"])[list(net.columns)]


def threat_network(result, year: int) -> Figure:
    """Strongest threats in ``year``: baseline (left) and scenario (right)."""
    net = result.network.loc[result.network["year"] == year]
    states = sorted(set(net["source"]) | set(net["target"]))
    pos = {
        c: (np.cos(2 * np.pi * k / len(states)), np.sin(2 * np.pi * k / len(states)))
        for k, c in enumerate(states)
    }
    edges = _edges(net)
    vmax = float(edges[["baseline_mean", "scenario_mean"]].to_numpy().max()) if len(edges) else 1.0
    changed = result.changed_states.get(year, set())
    fig = Figure(figsize=(14, 7), layout="constrained")
    for ax, column, title in zip(
        fig.subplots(1, 2),
        ("baseline_mean", "scenario_mean"),
        ("baseline", "scenario"),
        strict=True,
    ):
        for e in edges.sort_values(column).itertuples():
            w = float(getattr(e, column)) / vmax if vmax > 0 else 0.0
            delta = float(e.scenario_mean - e.baseline_mean)
            colour = (
                GREY if column == "baseline_mean" or delta == 0 else (RED if delta > 0 else BLUE)
            )
            ax.add_patch(
                FancyArrowPatch(
                    pos[int(e.source)],
                    pos[int(e.target)],
                    arrowstyle="-|>",
                    mutation_scale=10 + 8 * w,
                    lw=0.5 + 4 * w,
                    color=colour,
                    alpha=0.35 + 0.6 * w,
                    connectionstyle="arc3,rad=0.12",
                    shrinkA=12,
                    shrinkB=12,
                    zorder=2,
                )
            )
        for c in states:
            x, y = pos[c]
            ax.scatter(
                [x],
                [y],
                s=320 if c in changed else 150,
                color=RED if c in changed else BLUE,
                zorder=3,
                edgecolor="white",
            )
            ax.annotate(
                result.names.abb(c), (x * 1.14, y * 1.14), ha="center", va="center", fontsize=9
            )
        ax.set(xlim=(-1.3, 1.3), ylim=(-1.3, 1.3), aspect="equal")
        ax.axis("off")
        ax.set_title(f"{title} {year}", fontsize=11)
    fig.suptitle(
        f"Threat network {year}: the {NETWORK_EDGES} strongest threats and the {NETWORK_CHANGED} largest "
        f"changes (arrow: source → threatened state; width: posterior mean τ, up to {vmax:.2f})\n"
        "right: red = more threat, blue = less than the baseline; red nodes: states the scenario changes"
    )
    return fig
