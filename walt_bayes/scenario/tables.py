"""Scenario tables: one row per affected row with baseline, scenario and difference summaries.

Differences are scenario minus baseline, draw by draw (the same parameters in both),
summarised by their posterior mean, :data:`~walt_bayes.fit.diagnostics.CI_PROB` highest-density
interval (ArviZ, as in the reports) and ``p_increase = P(difference > 0)``.
Rows are sorted by the size of the mean difference, largest first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from walt_bayes.report.quantities import hdi

SUMMARY = [
    "baseline_mean",
    "scenario_mean",
    "diff_mean",
    "diff_hdi_low",
    "diff_hdi_high",
    "p_increase",
]


def summarise(
    keys: pd.DataFrame, baseline: np.ndarray, scenario: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """Summary columns beside ``keys`` (one row per column of the draws), sorted; and the sorted differences.

    Parameters
    ----------
    keys : pandas.DataFrame
        Row labels (one per column of the draw matrices).
    baseline, scenario : numpy.ndarray
        Draws × rows on the probability scale.

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray)
        The table, and the difference draws with columns in the table's row order.
    """
    diff = scenario - baseline
    interval = hdi(diff) if diff.shape[1] else np.zeros((0, 2))
    table = keys.reset_index(drop=True).assign(
        baseline_mean=baseline.mean(axis=0),
        scenario_mean=scenario.mean(axis=0),
        diff_mean=diff.mean(axis=0),
        diff_hdi_low=interval[:, 0],
        diff_hdi_high=interval[:, 1],
        p_increase=(diff > 0).mean(axis=0),
    )
    order = np.argsort(-np.abs(table["diff_mean"].to_numpy()), kind="stable")
    return table.iloc[order].reset_index(drop=True), diff[:, order]


def threat_keys(keys: pd.DataFrame, abb) -> pd.DataFrame:
    """``source`` (j), ``target`` (i), ``year`` of threat rows (threat of ccode2 to ccode1), with labels."""
    out = pd.DataFrame(
        {
            "source": keys["ccode2"].to_numpy(np.int64),
            "target": keys["ccode1"].to_numpy(np.int64),
            "year": keys["year"].to_numpy(np.int64),
        }
    )
    return out.assign(source_abb=out["source"].map(abb), target_abb=out["target"].map(abb))


def dyad_keys(a, b, year, abb, **extra) -> pd.DataFrame:
    """``state_a``, ``state_b``, ``year`` of alliance rows or spell-years, with labels and extra columns."""
    out = pd.DataFrame(
        {
            "state_a": np.asarray(a, np.int64),
            "state_b": np.asarray(b, np.int64),
            "year": np.asarray(year, np.int64),
        }
    )
    return out.assign(
        state_a_abb=out["state_a"].map(abb), state_b_abb=out["state_b"].map(abb), **extra
    )


def ordered(table: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    """Key columns, then the summaries, then the labels and anything else."""
    rest = [c for c in table.columns if c not in first and c not in SUMMARY]
    return table[first + SUMMARY + rest]
