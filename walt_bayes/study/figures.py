"""The findings report's figures (matplotlib), from the study's tables and its cells' fits.

:func:`strength_profile` computes, from one fit, what Walt's COND-2 is about: how much a
state's alliance log-odds rise with a shared threat (balancing) and with the threat the
partner itself poses (bandwagoning), for states of different strength.  In the alliance
equation a latent factor L (shared threat S, partner threat B) enters through its terms
``gamma_t (x_t L - c_t) / s_t``, so its slope in row r is ``sum_t gamma_t x_t[r] / s_t``;
multiplied by the scale of L's main term (``s`` of ``shared``/``partner``, the SD of the
plug-in factor) it is the change in log-odds per SD of that threat, for that row's state.
Rows are grouped by quintile of the choosing state's strength (i, the weaker state of the
dyad: control ``strength_i``, its standardised log capability share); a bin's slope is the
mean over its rows, per posterior draw.  With no interaction terms the lines are flat.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from walt_bayes.fit.draws import stack_draws, thin_index
from walt_bayes.study.summary import RELIABLE

#: Colours of the verdicts (the report's palette).
VERDICT_COLOURS = {
    "supported": "#2e7d32",
    "contradicted": "#c62828",
    "practically null": "#607d8b",
    "inconclusive": "#f9a825",
    "not testable": "#e0e0e0",
    "unreliable": "#9e9e9e",
    "fit failed": "#424242",
    "no evidence": "#424242",
}
PATHS = {"S": ("shared", "balancing: shared threat"), "B": ("partner", "bandwagoning: partner threat")}


def strength_profile(fit, bins: int = 5, max_draws: int = 1000) -> pd.DataFrame | None:
    """Balancing and bandwagoning slopes by strength quintile of the choosing state.

    Parameters
    ----------
    fit : LoadedFit
        A fit with ``shared`` and ``partner`` terms and a ``strength_i`` control.
    bins : int
        Strength bins (quantiles of ``strength_i`` over the alliance rows).
    max_draws : int
        Posterior draws used (evenly thinned).

    Returns
    -------
    pandas.DataFrame or None
        Columns ``bin``, ``strength`` (the bin's median, standardised), ``path`` (S or B),
        ``label``, ``mean``, ``hdi_low``, ``hdi_high``, ``rows``; None when the fit lacks
        either term or the control.
    """
    # lazy: the walt_bayes.report package imports nbformat (walt_bayes.report.render)
    from walt_bayes.report.quantities import hdi

    d = fit.design
    if "strength_i" not in d.control_names or not {"shared", "partner"} <= set(d.terms):
        return None
    post = fit.posterior
    index = thin_index(int(post.sizes["chain"] * post.sizes["draw"]), max_draws)
    strength = np.asarray(d.controls[:, d.control_names.index("strength_i")], dtype=float)
    edges = np.nanquantile(strength, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, strength, side="right") - 1, 0, bins - 1)
    records = []
    for path, (main, label) in PATHS.items():
        terms = [t for t, f in enumerate(d.term_latent) if f == path]
        scale = float(d.term_scale[d.terms.index(main)])
        gam = np.stack(
            [stack_draws(post[f"gamma_{d.terms[t]}"])[index] / d.term_scale[t] for t in terms]
        )
        for b in range(bins):
            rows = which == b
            if not rows.any():
                continue
            x = d.term_observed[rows][:, terms].mean(axis=0)  # (n_terms,)
            slope = scale * (x @ gam)  # (draws,)
            lo, hi = hdi(slope)
            records.append({
                "bin": b + 1, "strength": float(np.median(strength[rows])), "path": path,
                "label": label, "mean": float(slope.mean()), "hdi_low": float(lo),
                "hdi_high": float(hi), "rows": int(rows.sum()),
            })
    return pd.DataFrame(records)


def balancing_by_strength(profiles: dict[str, tuple[pd.DataFrame, bool]]):
    """One panel per setting: balancing and bandwagoning slopes by strength quintile.

    Parameters
    ----------
    profiles : dict
        ``title -> (strength_profile(...), converged)``; an unconverged fit is drawn dashed
        and its title says it is unreliable.
    """
    n = max(1, len(profiles))
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False, sharey=True)
    colours = {"S": "#1565c0", "B": "#ef6c00"}
    for ax, (title, (prof, ok)) in zip(axes.ravel(), profiles.items(), strict=False):
        for path, g in prof.groupby("path", sort=False):
            ax.plot(g["bin"], g["mean"], marker="o", color=colours[path], label=g["label"].iloc[0],
                    linestyle="-" if ok else "--")
            ax.fill_between(g["bin"], g["hdi_low"], g["hdi_high"], color=colours[path], alpha=0.18)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_title(title + ("" if ok else "\n(unreliable: convergence checks failed)"), fontsize=8)
        ax.set_xlabel("strength of the choosing state (quintile, weakest = 1)")
        ax.set_xticks(range(1, int(prof["bin"].max()) + 1))
    for ax in axes.ravel()[len(profiles):]:
        ax.set_visible(False)
    axes[0, 0].set_ylabel("alliance log-odds per SD of threat\n(posterior mean, 94% HDI)")
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def verdict_counts(matrix: pd.DataFrame, hypotheses) -> pd.DataFrame:
    """Verdicts per hypothesis: counts over the settings (columns in the verdict palette's order)."""
    counts = pd.crosstab(matrix["id"], matrix["verdict"]).reindex(index=list(hypotheses))
    order = [v for v in VERDICT_COLOURS if v in counts.columns]
    return counts[order].fillna(0).astype(int)


def verdict_bars(matrix: pd.DataFrame, hypotheses):
    """A stacked bar per hypothesis: how many settings gave each verdict."""
    counts = verdict_counts(matrix, hypotheses)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(counts) + 1.2))
    left = np.zeros(len(counts))
    for verdict in counts.columns:
        ax.barh(counts.index, counts[verdict], left=left, color=VERDICT_COLOURS[verdict],
                label=verdict, edgecolor="white")
        left += counts[verdict].to_numpy()
    ax.invert_yaxis()
    ax.set_xlabel("settings")
    ax.legend(fontsize=7, ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def reliable_share(matrix: pd.DataFrame) -> float:
    """Share of the matrix's testable entries that carry a reliable verdict."""
    testable = matrix[matrix["verdict"] != "not testable"]
    return float(testable["verdict"].isin(RELIABLE).mean()) if len(testable) else float("nan")


__all__ = [
    "VERDICT_COLOURS",
    "balancing_by_strength",
    "reliable_share",
    "strength_profile",
    "verdict_bars",
    "verdict_counts",
]
