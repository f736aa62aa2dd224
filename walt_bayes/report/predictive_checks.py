"""Predictive checks of a fit for the reports: alliance rates, calibration, network checks.

Alliance rates in the posterior (and prior) predictive draws, overall, by year and by
region, against the observed rate; calibration bins of the posterior mean alliance
probability; the Brier score; and the table of the alliance network checks
(:func:`walt_bayes.report.fit_view.network_checks`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from walt_bayes.fit.diagnostics import CI_PROB
from walt_bayes.fit.network_checks import CHECKS
from walt_bayes.panel.columns import region_of
from walt_bayes.report.fit_view import ReportFit, hdi, stacked


def _groups_of(fit: ReportFit, by: str | None) -> np.ndarray:
    """The group of each alliance row: ``"all"``, its year, or the region of state i."""
    keys = fit.design.ally_keys
    if by is None:
        return np.full(len(keys), "all", dtype=object)
    if by == "year":
        return keys["year"].to_numpy()
    if by == "region":
        return (
            keys["ccode1"]
            .map(lambda c: fit.regions.get(int(c), region_of(int(c))))
            .to_numpy(dtype=object)
        )
    raise ValueError(f"group by 'year', 'region' or None, not {by!r}")


def predictive_rates(
    fit: ReportFit,
    by: str | None = None,
    group: str = "posterior_predictive",
    prob: float = CI_PROB,
) -> pd.DataFrame:
    """Alliance rate in predictive draws against the observed rate, overall or by year or region.

    Columns: ``group``, ``n`` (rows), ``observed``, ``mean``, ``hdi_low``, ``hdi_high`` and
    ``p_above`` (share of replicated rates above the observed one; near 0 or 1 flags misfit).
    Regions are those of the weaker state ``i`` of each dyad.
    """
    rep = stacked(fit.tree[group]["alliance"]).astype(float)  # (D, N)
    labels = _groups_of(fit, by)
    y = fit.ally_y
    rows = []
    for label in pd.unique(labels):
        mask = labels == label
        rates = rep[:, mask].mean(axis=1)
        lo, hi = hdi(rates, prob)
        obs = float(y[mask].mean())
        rows.append(
            {
                "group": label,
                "n": int(mask.sum()),
                "observed": obs,
                "mean": float(rates.mean()),
                "hdi_low": float(lo),
                "hdi_high": float(hi),
                "p_above": float((rates > obs).mean()),
            }
        )
    out = pd.DataFrame(rows)
    return out.sort_values("group").reset_index(drop=True) if by else out


def rate_draws(fit: ReportFit, group: str = "posterior_predictive") -> np.ndarray:
    """Overall alliance rate in each predictive draw."""
    return stacked(fit.tree[group]["alliance"]).astype(float).mean(axis=1)


def calibration_bins(fit: ReportFit, n_bins: int = 10, prob: float = CI_PROB) -> pd.DataFrame:
    """Calibration: rows binned by posterior mean alliance probability (equal-width bins on [0, 1]).

    Empty bins are left out.  Columns: ``bin``, ``lower``/``upper`` (bin edges), ``n``,
    ``predicted`` (mean probability), ``observed`` (rate), ``rep_low``/``rep_high``
    (HDI of the bin's rate in posterior predictive draws).
    """
    p = fit.ally_p_mean
    y = fit.ally_y
    rep = stacked(fit.tree["posterior_predictive"]["alliance"]).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        idx = np.flatnonzero(which == b)
        if len(idx) == 0:
            continue
        lo, hi = hdi(rep[:, idx].mean(axis=1), prob)
        rows.append(
            {
                "bin": b,
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "n": len(idx),
                "predicted": float(p[idx].mean()),
                "observed": float(y[idx].mean()),
                "rep_low": float(lo),
                "rep_high": float(hi),
            }
        )
    return pd.DataFrame(
        rows, columns=["bin", "lower", "upper", "n", "predicted", "observed", "rep_low", "rep_high"]
    )


def brier_score(fit: ReportFit) -> float:
    """Mean squared error of the posterior mean probability against the outcome."""
    return float(np.mean((fit.ally_p_mean - fit.ally_y) ** 2))


def network_checks_table(result: dict) -> pd.DataFrame:
    """One row per network check: observed value, replicated mean, central interval, flag.

    Columns ``check``, ``observed``, ``replicated mean``, ``interval low``/``high``,
    ``P(rep > obs)``, ``flag`` (``outside`` or ``inside``) and ``what it means``.
    """
    rows = []
    for row in result.get("checks", []):
        _, above, below = CHECKS[row["name"]]
        outside = bool(row["outside"])
        meaning = ""
        if outside and row["observed"] is not None:
            meaning = above if row["observed"] > row["high"] else below
        rows.append(
            {
                "check": row["label"],
                "observed": row["observed"],
                "replicated mean": row["mean"],
                "interval low": row["low"],
                "interval high": row["high"],
                "P(rep > obs)": row["p_above"],
                "flag": "outside"
                if outside
                else ("inside" if row["low"] is not None else "undefined"),
                "what it means": meaning,
            }
        )
    cols = [
        "check",
        "observed",
        "replicated mean",
        "interval low",
        "interval high",
        "P(rep > obs)",
        "flag",
        "what it means",
    ]
    return pd.DataFrame(rows, columns=cols)
