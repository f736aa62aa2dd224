"""The evidence table: one row per hypothesis, with verdict and posterior figures."""

from __future__ import annotations

import json
import warnings

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from walt_bayes.hypotheses.registry import REGISTRY, NotTestable
from walt_bayes.hypotheses.verdicts import NOT_TESTABLE, Thresholds, judge

COLUMNS = [
    "id", "family", "verdict", "mean", "hdi_low", "hdi_high", "p_direction", "bayes_factor",
    "direction", "statement", "quantity", "pair", "reason",
]


def savage_dickey(tree: xr.DataTree, name: str) -> float:
    """Savage–Dickey BF10 for ``name != 0`` (prior and posterior densities at 0), or NaN."""
    if "prior" not in tree.children or name not in tree["prior"].data_vars:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bf = az.bayes_factor(tree, var_names=[name], ref_vals=0)
    return float(bf[name].sel(bf_type="BF10"))


def evidence_table(
    tree: xr.DataTree, ids: list[str] | None = None, thresholds: Thresholds = Thresholds()
) -> pd.DataFrame:
    """Evidence for each hypothesis from one fit.

    Parameters
    ----------
    tree : xarray.DataTree
        A loaded fit.
    ids : list of str, optional
        Hypothesis ids (default: every registered one, in registry order).
    thresholds : Thresholds
        Verdict settings.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`; untestable hypotheses carry the reason.
    """
    rows = []
    for hid in ids or list(REGISTRY):
        h = REGISTRY[hid]
        row = {
            "id": h.id, "family": h.family, "statement": h.statement, "quantity": h.quantity,
            "direction": "> 0" if h.direction > 0 else "< 0", "pair": h.pair or "",
            "mean": np.nan, "hdi_low": np.nan, "hdi_high": np.nan, "p_direction": np.nan,
            "bayes_factor": np.nan, "reason": "",
        }
        try:
            draws = h.draws(tree)
        except NotTestable as why:
            row["verdict"] = NOT_TESTABLE
            row["reason"] = f"{why}; testable with {h.needs}"
            rows.append(row)
            continue
        ev = judge(draws, h.direction, thresholds)
        row.update(
            verdict=ev.verdict, mean=ev.mean, hdi_low=ev.hdi_low, hdi_high=ev.hdi_high,
            p_direction=ev.p_direction,
        )
        if h.coefficient:
            row["bayes_factor"] = savage_dickey(tree, h.coefficient)
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def table_records(table: pd.DataFrame) -> list[dict]:
    """JSON-ready row objects (NaN becomes null)."""
    return json.loads(table.to_json(orient="records"))
