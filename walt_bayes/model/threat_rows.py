"""Block 1 of the design: threat rows, their standardised source composites, groups and state-years.

One row per directed dyad-year with every input of the spec's threat sources and an observed
``init21`` (threat of ``ccode2`` to ``ccode1``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import expit

from walt_bayes.errors import ModelError
from walt_bayes.model.arrays import group_index, zscore
from walt_bayes.model.plugin import logistic_mle
from walt_bayes.spec import THREAT_SOURCES, ModelSpec

if TYPE_CHECKING:
    from walt_bayes.model.design import Design

#: Fewest groups whose threat weights are partially pooled (a scale needs several groups).  Three
#: were too few: on the Middle East slice of the global panel (ATOP alliances; threatened states in
#: the Americas, Europe and the Middle East) `balance_of_threat` had 4 divergent transitions at
#: seed 1 and, with the prior scales doubled, 48 at the largest tau_beta[intent]; with one set of
#: weights, 0 (seed 1: R-hat 1.007, bulk / tail ESS 1112 / 1421).
MIN_POOLED_GROUPS = 4
#: A source's group weights are sampled centred when the data pin each group's weight down
#: (median standard error over groups below this) and the groups' own estimates spread more than
#: that noise allows (:func:`threat_parameterisation`); else non-centred.  Measured (ESS of
#: tau_beta): global panel, standard errors 0.03-0.08 for every source: all non-centred, seed 3 had
#: 1 divergence at the largest tau_beta[intent]; all centred, 6 (seed 3) and 227 (seed 20260101) at
#: the smallest tau_beta[power], whose regions differ by less than their noise, and bulk ESS 5659 /
#: 3767 / 2625 for proximity / offense / intent against ~2300 / 2400 / 1600-2000; power
#: non-centred and the others centred, seed 3: 0 divergences.  Embedded data, standard errors
#: 0.19 (intent) and 0.40-0.53: centring every source made tau_beta[power] a funnel (`full` on
#: `ally_formal`, 108 divergences); centring intent alone mixed that fit's tau_beta[intent] better
#: (bulk ESS 3621 against 650) but left 2 divergences at the smallest tau_beta[intent] (`full`,
#: seed 2), as intent's regions differ by less than its standard error (moments: tau 0.12).
CENTRED_WEIGHT_SE = 0.3


def threat_features(panel: pd.DataFrame) -> pd.DataFrame:
    """Raw threat features (MODEL.md 'Units and inputs') derived from panel columns.

    Parameters
    ----------
    panel : pandas.DataFrame
        A directed dyad-year panel.

    Returns
    -------
    pandas.DataFrame
        One float column per feature, on the panel's index.
    """
    feats = pd.DataFrame(index=panel.index)
    feats["power2"] = panel["power2"].astype("float64")
    feats["power_ratio"] = (panel["power2"] - panel["power1"]).astype("float64")
    feats["contiguous"] = panel["contiguous"].astype("float64")
    feats["log_capdist"] = panel["log_capdist"].astype("float64")
    feats["neighbour2"] = panel["neighbour2"].astype("float64")
    feats["offense2"] = panel["offense2"].astype("float64")
    feats["log_init2_past10"] = np.log1p(panel["init2_past10"].astype("float64"))
    feats["log_init21_past10"] = np.log1p(panel["init21_past10"].astype("float64"))
    feats["rivalry"] = panel["rivalry"].astype("float64")
    return feats


def build_threat(panel: pd.DataFrame, spec: ModelSpec, design: Design) -> pd.DataFrame:
    """Fill block 1 of ``design`` from ``panel``.

    Parameters
    ----------
    panel : pandas.DataFrame
        The panel blocks 1 and 2 are built from.
    spec : ModelSpec
        With a ``[threat]`` table.
    design : Design
        Receives ``threat_*``, ``sources``, groups, state-years, source intercepts,
        the transform constants, notes and the dispute rate.

    Returns
    -------
    pandas.DataFrame
        ``ccode1, ccode2, year, region1`` of the threat rows, in design order.

    Raises
    ------
    ModelError
        No complete row, a source none of whose inputs varies, or no dispute initiation.
    """
    feats = threat_features(panel)
    needed = [f for s in spec.threat.sources for f, _ in THREAT_SOURCES[s]]
    ok = feats[needed].notna().all(axis=1) & panel["init21"].notna()
    n_drop = int((~ok).sum())
    if n_drop:
        design.notes.append(f"threat block: {n_drop} dyad-years with missing threat inputs or init21 left out")
    rows = panel.loc[ok, ["ccode1", "ccode2", "year", "region1"]].reset_index(drop=True)
    if rows.empty:
        raise ModelError(f"threat block: no dyad-year has every input of sources {list(spec.threat.sources)}")
    design.threat_X, transform = _source_composites(feats.loc[ok].reset_index(drop=True), spec, design)
    design.threat_y = panel.loc[ok, "init21"].to_numpy(np.int64)
    design.threat_keys = rows[["ccode1", "ccode2", "year"]].astype("int64")
    design.sources = list(spec.threat.sources)
    _set_threat_groups(design, spec, rows)
    sy = rows["year"].to_numpy(np.int64) * 1000 + rows["ccode1"].to_numpy(np.int64)
    uniq, design.threat_sy = np.unique(sy, return_inverse=True)
    design.n_state_years = len(uniq)
    if spec.threat.source_intercepts:
        _set_source_states(design, rows)
    design.transform["threat"] = transform
    design.data_rates["init21"] = float(design.threat_y.mean())
    if design.threat_y.sum() == 0:
        raise ModelError("threat block: no militarised dispute initiation (init21 = 1) in this panel")
    return rows


def _source_composites(feats: pd.DataFrame, spec: ModelSpec, design: Design) -> tuple[np.ndarray, dict]:
    """Each source's composite: the mean of its signed, z-scored features, z-scored again.

    Returns the (n_threat, n_source) matrix and the constants of every standardisation
    (``design.transform["threat"]``); features that do not vary are left out with a note.
    """
    composites = []
    transform: dict[str, dict] = {}
    for source in spec.threat.sources:
        parts = []
        for feature, sign in THREAT_SOURCES[source]:
            z, mean, sd = zscore(feats[feature].to_numpy())
            if sd == 0:
                design.notes.append(f"threat input '{feature}' does not vary in this panel: left out")
                continue
            parts.append(sign * z)
            transform[feature] = {"mean": mean, "sd": sd, "sign": sign, "source": source}
        if not parts:
            raise ModelError(f"threat source '{source}': none of its inputs varies in this panel")
        comp, mean, sd = zscore(np.mean(parts, axis=0))
        transform[f"source:{source}"] = {"mean": mean, "sd": sd}
        composites.append(comp)
    return np.column_stack(composites), transform


def _set_threat_groups(design: Design, spec: ModelSpec, rows: pd.DataFrame) -> None:
    """The groups of the threat weights, pooled into one when there are too few to pool."""
    design.threat_group, design.threat_groups = group_index(
        spec.threat.group, rows["region1"].to_numpy(), rows["year"].to_numpy()
    )
    if 1 < len(design.threat_groups) < MIN_POOLED_GROUPS:
        # A scale estimated from two or three groups is mostly its prior: tau_beta and the offsets then trade
        # off along a ridge that NUTS crosses with divergences (a 22-state world with two
        # regions, 4 x 500 draws: 21 divergent transitions at target_accept 0.92, 1 at 0.97,
        # all at large tau_beta).  The weights are then those of one group.
        design.notes.append(
            f"threat block: {len(design.threat_groups)} groups ({', '.join(design.threat_groups)}) are too few "
            f"to estimate how threat weights vary between them (at least {MIN_POOLED_GROUPS}): one set of weights"
        )
        design.threat_group = np.zeros(len(design.threat_group), dtype=design.threat_group.dtype)
        design.threat_groups = ["all"]
    elif len(design.threat_groups) == 1:
        design.notes.append("threat block: one group only, weights are not partially pooled")


def _set_source_states(design: Design, rows: pd.DataFrame) -> None:
    """Source intercepts: one per threatening state, none when there is only one."""
    src = rows["ccode2"].to_numpy(np.int64)
    states, design.threat_src = np.unique(src, return_inverse=True)
    design.source_states = [int(c) for c in states]
    if len(states) < 2:
        design.source_states, design.threat_src = [], None
        design.notes.append("threat block: one threatening state only, no source intercepts")


def _dispute_rows(design: Design, every_row: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Composites, disputes, groups and offsets of the dispute likelihood's rows (``every_row``:
    of every threat row, without the case-control sample and its offsets)."""
    sampled = design.dispute_idx is not None and not every_row
    rows = np.asarray(design.dispute_idx) if sampled else np.arange(len(design.threat_y))
    offset = np.asarray(design.dispute_offset, float) if sampled and design.dispute_offset is not None else 0.0
    return (np.asarray(design.threat_X, float)[rows], np.asarray(design.threat_y, float)[rows],
            np.asarray(design.threat_group)[rows], np.broadcast_to(offset, rows.shape))


def threat_weight_se(design: Design, every_row: bool = False) -> np.ndarray:
    """Standard errors of each group's threat weights from the data alone, (groups, sources).

    The inverse Fisher information, group by group, of the logistic regression of the
    disputes in the likelihood (the case-control sample with its offsets, where there is
    one; every threat row with ``every_row``) on the source composites, at the pooled
    maximum-likelihood fit: how tightly the data pin a group's weights down without the
    pooling prior.
    """
    X, y, group, offset = _dispute_rows(design, every_row)
    w = logistic_mle(X, y, offset=offset)
    A = np.column_stack([np.ones(len(y)), X])
    weight = expit(A @ w + offset)
    weight = weight * (1.0 - weight)
    se = np.full((len(design.threat_groups), X.shape[1]), np.inf)
    for g in range(len(design.threat_groups)):
        info = A[group == g].T @ (A[group == g] * weight[group == g, None])
        se[g] = np.sqrt(np.diag(np.linalg.pinv(info)))[1:]
    return se


def threat_parameterisation(design: Design) -> list[bool]:
    """Per source: are the groups' threat weights sampled centred (True) or non-centred?

    Centred where the likelihood dominates the pooling prior: each group's weight is pinned
    down by its data (median standard error, :func:`threat_weight_se`, below
    :data:`CENTRED_WEIGHT_SE`) and the method-of-moments estimate of tau_beta from the groups'
    separate maximum-likelihood weights exceeds that standard error.  Where the groups differ
    by little more than their noise, tau_beta's posterior reaches down to zero, where centred
    weights form a funnel.  Decided on every threat row, not the case-control
    sample: the sample is drawn with the fit's seed, and on the global panel the ratio of spread
    to noise for power went from 0.2 to 1.3 between samples (0.5 on every row), so the choice
    flipped with the seed.  Sampler geometry only: either way it is the same model.
    """
    if not design.has_threat or len(design.threat_groups) < 2:
        return []
    se = threat_weight_se(design, every_row=True)
    X, y, group, offset = _dispute_rows(design, every_row=True)
    separate = np.array([logistic_mle(X[group == g], y[group == g], offset=offset[group == g])[1:]
                         for g in range(len(design.threat_groups))])
    spread = separate.var(axis=0, ddof=1)
    noise = np.mean(se**2, axis=0)
    # tau_beta² ≈ spread − noise (method of moments); centred where that tau exceeds the weights'
    # own standard error, the classic condition for a centred hierarchy: spread > 2 × noise.
    return [bool(s < CENTRED_WEIGHT_SE and v > 2.0 * n)
            for s, v, n in zip(np.median(se, axis=0), spread, noise, strict=True)]
