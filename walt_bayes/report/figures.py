"""Figures of the reports: each function takes a loaded fit and returns a matplotlib Figure.

Posterior plots go through ArviZ (``az.plot_*`` from arviz-plots, matplotlib
backend); the rest are plain matplotlib on the quantities of
:mod:`walt_bayes.report.quantities`.  Every interval is a 94% HDI.  The threat figures
live in :mod:`walt_bayes.report.threat_figures` and the shared conventions (colours,
forest plots) in :mod:`walt_bayes.report.figure_style`; both are importable from here.
"""

from __future__ import annotations

import math

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from walt_bayes.fit.diagnostics import CI_PROB, named_parameters
from walt_bayes.report import quantities as q
from walt_bayes.report.figure_style import (
    BLUE,
    GREY,
    ORANGE,
    PCT,
    RED,
    figure_of,
    forest,
    percent_axis,
)
from walt_bayes.report.threat_figures import threat_network, threat_over_time, threat_weights

__all__ = [
    "BLUE",
    "GREY",
    "ORANGE",
    "RED",
    "alliance_effects",
    "calibration",
    "calibration_pava",
    "compare_elpd",
    "compare_forest",
    "compare_ppc_by_year",
    "data_by_year",
    "key_parameters",
    "network_checks",
    "network_degrees",
    "ppc_by_region",
    "ppc_by_year",
    "ppc_overall",
    "prior_predictive",
    "rank",
    "threat_network",
    "threat_over_time",
    "threat_weights",
    "trace",
]


# ------------------------------------------------------------------ data
def data_by_year(fit: q.ReportFit) -> Figure:
    """States in the panel, and the observed alliance (and dispute) rates, per year."""
    tab = q.observed_by_year(fit)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    ax1.bar(tab["year"], tab["states"], color=GREY)
    ax1.set(title="States in the panel", xlabel="year", ylabel="states")
    ax2.plot(tab["year"], tab["alliance_rate"], "o-", color=BLUE, label="allied dyad-years")
    if "dispute_rate" in tab:
        ax2.plot(
            tab["year"], tab["dispute_rate"], "s--", color=RED, label="directed dispute initiations"
        )
    percent_axis(ax2)
    ax2.set(title="Observed rates", xlabel="year", ylabel="share of dyad-years", ylim=(0, None))
    ax2.legend(frameon=False)
    return fig


def _rate_hist(ax, rates: np.ndarray, observed: float, title: str, colour: str) -> None:
    """Histogram of replicated rates with the observed rate marked."""
    ax.hist(rates, bins=40, color=colour, alpha=0.7)
    ax.axvline(observed, color="black", lw=2, label=f"observed {observed:.1%}")
    percent_axis(ax, "x")
    ax.set(title=title, xlabel="alliance rate", ylabel="draws")
    ax.legend(frameon=False)


def prior_predictive(fit: q.ReportFit) -> Figure:
    """Alliance (and dispute) rate in prior predictive draws against the observed rate."""
    tree = fit.tree
    has_dispute = (
        "prior_predictive" in tree.children and "dispute" in tree["prior_predictive"].data_vars
    )
    fig, axes = plt.subplots(
        1,
        2 if has_dispute else 1,
        figsize=(10 if has_dispute else 5.5, 3.4),
        layout="constrained",
        squeeze=False,
    )
    _rate_hist(
        axes[0, 0],
        q.rate_draws(fit, "prior_predictive"),
        float(fit.ally_y.mean()),
        "Prior predictive: alliance rate",
        GREY,
    )
    if has_dispute:
        rep = q.stacked(tree["prior_predictive"]["dispute"]).astype(float).mean(axis=1)
        obs = float(np.asarray(tree["observed_data"]["dispute"].values, dtype=float).mean())
        _rate_hist(axes[0, 1], rep, obs, "Prior predictive: dispute-initiation rate", GREY)
        axes[0, 1].set_xlabel("dispute-initiation rate")
    return fig


# ------------------------------------------------------------------ diagnostics
def key_parameters(
    fit: q.ReportFit, summary: pd.DataFrame | None = None, n_worst: int = 2
) -> list[str]:
    """For the trace plot: hypothesis coefficients, threat weights and the worst R-hats."""
    post = fit.tree["posterior"]
    names = [n for n in ("gamma_shared", "gamma_partner") if n in post.data_vars]
    names += [f"beta_{s}" for s in fit.design.sources if f"beta_{s}" in post.data_vars]
    if summary is not None and len(summary):
        worst = summary["r_hat"].astype(float).sort_values(ascending=False).index
        for label in worst:
            base = str(label).split("[")[0]
            if base not in names and base in post.data_vars and post[base].ndim == 2:
                names.append(base)
            if len(names) >= 6 + n_worst:
                break
    if not names:
        names = [n for n in named_parameters(post) if post[n].ndim == 2][:6]
    return names


def trace(fit: q.ReportFit, var_names: list[str]) -> Figure:
    """Trace and rank-density plots of ``var_names`` (ArviZ ``plot_trace_dist``)."""
    pc = az.plot_trace_dist(
        fit.tree,
        var_names=var_names,
        backend="matplotlib",
        figure_kwargs={"figsize": (10, 1.5 * len(var_names) + 0.6), "layout": "constrained"},
    )
    return figure_of(pc)


def rank(fit: q.ReportFit, var_names: list[str] | None = None, cols: int = 3) -> Figure:
    """Rank ECDF plots (chains should overlap within the envelope) of the named parameters."""
    post = fit.tree["posterior"]
    names = var_names or named_parameters(post)
    panels = sum(
        int(np.prod([post[n].sizes[d] for d in post[n].dims if d not in ("chain", "draw")]))
        for n in names
    )
    rows = max(1, math.ceil(panels / cols))
    pc = az.plot_rank(
        fit.tree,
        var_names=names,
        # Thin by the autocorrelation (ArviZ's ESS-based thinning): the multi-chain test assumes
        # independent draws, and unthinned NUTS draws flag chains that R-hat and ESS pass.
        thin=True,
        backend="matplotlib",
        col_wrap=cols,
        figure_kwargs={"figsize": (11, 2.2 * rows + 0.5), "layout": "constrained"},
    )
    return figure_of(pc)


# ------------------------------------------------------------------ posterior predictive checks
def ppc_overall(fit: q.ReportFit) -> Figure:
    """Overall alliance rate in posterior predictive draws against the observed rate."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4), layout="constrained")
    _rate_hist(
        ax, q.rate_draws(fit), float(fit.ally_y.mean()), "Posterior predictive: alliance rate", BLUE
    )
    return fig


def ppc_by_year(fit: q.ReportFit, ax=None) -> Figure:
    """Alliance rate by year: posterior predictive mean and HDI band, observed points (into ``ax``
    when given, else a new figure)."""
    tab = q.predictive_rates(fit, by="year")
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.4), layout="constrained")
    fig = ax.figure
    years = tab["group"].astype(int)
    ax.fill_between(
        years,
        tab["hdi_low"],
        tab["hdi_high"],
        color=BLUE,
        alpha=0.25,
        label=f"posterior predictive {PCT} HDI",
    )
    ax.plot(years, tab["mean"], color=BLUE, label="posterior predictive mean")
    ax.plot(years, tab["observed"], "o", color="black", label="observed")
    percent_axis(ax)
    ax.set(title="Alliance rate by year", xlabel="year", ylabel="alliance rate")
    ax.legend(frameon=False, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    return fig


def ppc_by_region(fit: q.ReportFit) -> Figure:
    """Alliance rate by region of the weaker state: predictive HDI against the observed rate."""
    tab = q.predictive_rates(fit, by="region")
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(tab) + 1.4), layout="constrained")
    y = np.arange(len(tab))
    ax.hlines(
        y,
        tab["hdi_low"],
        tab["hdi_high"],
        color=BLUE,
        lw=4,
        alpha=0.5,
        label=f"posterior predictive {PCT} HDI",
    )
    ax.plot(tab["mean"], y, "|", color=BLUE, ms=12)
    ax.plot(tab["observed"], y, "o", color="black", label="observed")
    ax.set_yticks(y, [f"{g} (n={n:,})" for g, n in zip(tab["group"], tab["n"], strict=True)])
    percent_axis(ax, "x")
    ax.set(title="Alliance rate by region", xlabel="alliance rate")
    ax.invert_yaxis()
    ax.legend(frameon=False, loc="lower right")
    return fig


def network_checks(fit: q.ReportFit, cols: int = 3) -> Figure | None:
    """Network checks: each statistic's replicated values (histogram, central interval) and the observed one.

    ``None`` when the fit has no check to show (every one skipped).
    """
    checks = [c for c in fit.network_checks.get("checks", []) if c.get("hist")]
    if not checks:
        return None
    rows = math.ceil(len(checks) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(11, 2.7 * rows + 0.3), layout="constrained", squeeze=False
    )
    for ax, row in zip(axes.flat, checks, strict=False):
        lo, hi = row["hist"]["range"]
        counts = np.asarray(row["hist"]["counts"])
        edges = np.linspace(lo, hi, len(counts) + 1)
        ax.stairs(counts, edges, fill=True, color=BLUE, alpha=0.6, label="replicated")
        ax.axvspan(row["low"], row["high"], color=BLUE, alpha=0.12, label=f"central {PCT}")
        colour = RED if row["outside"] else "black"
        ax.axvline(row["observed"], color=colour, lw=2, label="observed")
        ax.set_title(
            row["label"] + ("  (outside)" if row["outside"] else ""), fontsize=9, color=colour
        )
        ax.set_yticks([])
    for ax in list(axes.flat)[len(checks) :]:
        ax.set_visible(False)
    axes.flat[0].legend(frameon=False, fontsize=8)
    return fig


def network_degrees(fit: q.ReportFit) -> Figure | None:
    """Degree distribution: share of state-years with each number of allies, observed and replicated."""
    dist = fit.network_checks.get("degree_distribution")
    if not dist:
        return None
    degree = np.asarray(dist["degree"])
    mean, low, high = (np.asarray(dist[k]) for k in ("mean", "low", "high"))
    fig, ax = plt.subplots(figsize=(8, 3.4), layout="constrained")
    ax.bar(degree, mean, color=BLUE, alpha=0.35, label="replicated mean")
    ax.vlines(degree, low, high, color=BLUE, lw=3, label=f"replicated central {PCT}")
    ax.plot(degree, dist["observed"], "o", color="black", label="observed")
    labels = [str(d) for d in degree]
    if dist.get("last_pools_higher"):
        labels[-1] = f"≥{degree[-1]}"
    ax.set_xticks(degree, labels)
    percent_axis(ax)
    ax.set(
        title=f"Allies per state-year ({dist['state_years']:,} state-years)",
        xlabel="allies (degree)",
        ylabel="share of state-years",
    )
    ax.legend(frameon=False)
    return fig


def calibration(fit: q.ReportFit, n_bins: int = 10) -> Figure:
    """Calibration: observed alliance rate against the posterior mean probability, in bins."""
    tab = q.calibration_bins(fit, n_bins)
    fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
    ax.plot([0, 1], [0, 1], color=GREY, ls="--", lw=1, label="perfect calibration")
    ax.vlines(
        tab["predicted"],
        tab["rep_low"],
        tab["rep_high"],
        color=BLUE,
        lw=3,
        alpha=0.5,
        label=f"replicated {PCT} HDI",
    )
    ax.scatter(
        tab["predicted"],
        tab["observed"],
        s=12 + 120 * np.sqrt(tab["n"] / tab["n"].max()),
        color="black",
        zorder=3,
        label="observed rate in bin (size: rows)",
    )
    hi = float(max(tab["predicted"].max(), tab["observed"].max(), tab["rep_high"].max()))
    lim = min(1.0, hi * 1.08 + 0.01)
    ax.set(
        xlim=(0, lim),
        ylim=(0, lim),
        xlabel="posterior mean probability (bin mean)",
        ylabel="alliance rate",
        title=f"Calibration ({len(tab)} non-empty probability bins)",
    )
    ax.legend(frameon=False, loc="upper left")
    return fig


def calibration_pava(fit: q.ReportFit, ci_prob: float = CI_PROB) -> Figure:
    """PAV-adjusted calibration of the alliance outcome: ArviZ's ``plot_ppc_pava``.

    The alliance block alone (``alliance`` in ``posterior_predictive`` and
    ``observed_data``; with a duration block these are the formation rows, and
    ``alliance_end`` is left out).  The x axis is each row's predicted probability
    as ArviZ takes it, the mean of its replicated outcomes; the curve is the isotonic
    (pool-adjacent-violators) regression of the observed outcome on it, the
    conditional event probability (Dimitriadis, Gneiting & Jordan 2021); the band is
    the central ``ci_prob`` interval of the same regression fitted to each replicated
    outcome draw (the consistency band).  Ticks at the bottom mark the rows' predictions.
    """
    tree = fit.tree
    dt = xr.DataTree.from_dict(
        {
            "posterior_predictive": tree["posterior_predictive"].to_dataset()[["alliance"]],
            "observed_data": tree["observed_data"].to_dataset()[["alliance"]],
        }
    )
    pc = az.plot_ppc_pava(
        dt,
        var_names="alliance",
        ci_prob=ci_prob,
        backend="matplotlib",
        visuals={
            "lines": {"color": BLUE, "label": "observed (PAV fit)"},
            "credible_interval": {
                "color": BLUE,
                "alpha": 0.2,
                "label": f"consistency band ({ci_prob:.0%} of replicated data)",
            },
            "reference_line": {"color": GREY, "linestyle": "--", "label": "perfect calibration"},
            "xlabel": {"text": "predicted probability (mean of replicated outcomes)"},
            "ylabel": {"text": "conditional event probability (PAV)"},
            "title": False,
        },
        figure_kwargs={"figsize": (5.5, 5), "layout": "constrained"},
    )
    fig = figure_of(pc)
    ax = pc.viz["plot"]["alliance"].item()
    line = pc.viz["lines"]["alliance"].item()
    x, cep = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    ax.plot(
        x,
        np.zeros_like(x),
        "|",
        color="black",
        alpha=0.15,
        ms=8,
        transform=ax.get_xaxis_transform(),
        label=f"predictions ({len(x):,} rows)",
    )
    band = pc.viz["credible_interval"]["alliance"].item()
    band_top = float(np.max(band.get_paths()[0].vertices[:, 1]))
    ax.set(
        xlim=(0, min(1.0, float(x.max()) * 1.05 + 0.01)),
        ylim=(0, min(1.0, max(float(cep.max()), band_top)) * 1.04 + 0.01),
        title="PAV-adjusted calibration (alliance block)",
    )
    ax.legend(frameon=False, loc="upper left")
    return fig


# ------------------------------------------------------------------ alliance effects
def alliance_effects(fit: q.ReportFit) -> Figure:
    """Forest plot of the alliance-block coefficients (terms and controls, log-odds per SD)."""
    names = q.effect_names(fit)
    return forest(
        fit.tree,
        names,
        f"Alliance effects (log-odds of an alliance per SD; {PCT} HDI)",
        0.45 * len(names) + 1.3,
    )


# ------------------------------------------------------------------ comparison
def compare_forest(fits: dict[str, q.ReportFit], var_names: list[str]) -> Figure:
    """Forest plot of parameters shared by several fits, one colour per fit."""
    trees = {label: f.tree for label, f in fits.items()}
    names = [v for v in var_names if all(v in t["posterior"].data_vars for t in trees.values())]
    return forest(
        trees, names, f"Shared parameters by fit ({PCT} HDI)", 0.3 * len(names) * len(trees) + 1.5
    )


def compare_elpd(cmp: pd.DataFrame) -> Figure:
    """ArviZ comparison plot of expected log predictive density (higher is better)."""
    pc = az.plot_compare(
        cmp, backend="matplotlib", figure_kwargs={"figsize": (8, 0.6 * len(cmp) + 1.5)}
    )
    return figure_of(pc)


def compare_ppc_by_year(fits: dict[str, q.ReportFit]) -> Figure:
    """Alliance rate by year in each fit's posterior predictive draws, with the observed rates."""
    fig, ax = plt.subplots(figsize=(10, 3.6), layout="constrained")
    colours = plt.get_cmap("tab10")
    observed = None
    for n, (label, fit) in enumerate(fits.items()):
        tab = q.predictive_rates(fit, by="year")
        years = tab["group"].astype(int)
        ax.fill_between(years, tab["hdi_low"], tab["hdi_high"], color=colours(n % 10), alpha=0.15)
        ax.plot(years, tab["mean"], color=colours(n % 10), label=label)
        observed = tab
    if observed is not None:
        ax.plot(
            observed["group"].astype(int),
            observed["observed"],
            "o",
            color="black",
            label="observed",
        )
    percent_axis(ax)
    ax.set(
        title=f"Alliance rate by year: posterior predictive mean and {PCT} HDI per fit",
        xlabel="year",
        ylabel="alliance rate",
    )
    ax.legend(
        frameon=False, ncols=min(4, len(fits) + 1), loc="upper center", bbox_to_anchor=(0.5, -0.18)
    )
    return fig
