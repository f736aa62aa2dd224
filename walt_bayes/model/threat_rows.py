"""Block 1 of the design: threat rows, their standardised source composites, groups and state-years.

One row per directed dyad-year with every input of the spec's threat sources and an observed
``init21`` (threat of ``ccode2`` to ``ccode1``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import special
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
#: Decimals kept of each source's centring weight (:func:`threat_centring`): the weight is
#: sampler geometry, so two machines whose maximum-likelihood fits differ in the last bits
#: must still build (and compile) the same model.
CENTRING_DECIMALS = 2


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


def threat_centring(design: Design, tau_cap: float | None = None) -> list[float]:
    """Per source: how far the groups' threat weights are centred, a weight ``a`` in [0, 1].

    The weights are sampled partially non-centred (Papaspiliopoulos, Roberts & Sköld 2007):
    ``z ~ ZeroSumNormal(tau_beta**a)``, ``offset = tau_beta**(1 - a) * z`` -- centred at
    ``a = 1``, non-centred at ``a = 0``, the same prior ``offset ~ ZeroSumNormal(tau_beta)``
    for every ``a``.  For a normal hierarchy the posterior is closest to independent at
    ``a = tau² / (tau² + se²)``: the share of a group's estimate that is signal.  ``se²`` is
    the groups' mean squared standard error (:func:`threat_weight_se`); ``tau²`` the
    method-of-moments estimate from the groups' separate maximum-likelihood weights (their
    variance less ``se²``, floored at 0), capped at ``tau_cap`` (the centre of tau_beta's prior
    on the log scale, :func:`scale_prior_centre`: 0.26 for HalfNormal(0.5)).  With six groups,
    and without the joint model's source intercepts, the separate estimates overstate tau
    (embedded data, offense: moments 1.02, posterior median 0.35; proximity 0.91 and 0.25), and
    too centred a weight puts a funnel at the small-tau end: uncapped (offense 0.77), seed 3 had
    153 divergences at the smallest tau_beta[offense]; capped at the prior median (0.34;
    proximity 0.42), seed 1 had 1 at the smallest tau_beta[proximity]; capped at 0.25, none.

    Why not all or nothing (measured, ``balance_of_threat``): a source whose groups differ by
    about their noise has tau_beta's posterior reaching from ~0, where centred weights form a
    funnel, to values where the data pin the weights down and non-centred ones form the
    inverted funnel.  Global panel (standard errors 0.03-0.08): every source non-centred, seed
    3 had 1 divergence at the largest tau_beta[intent]; every source centred, 6 (seed 3) and
    227 (seed 20260101) at the smallest tau_beta[power].  Embedded data (standard errors
    0.19-0.53): centring every source made tau_beta[power] a funnel (`full` on `ally_formal`,
    108 divergences); every source non-centred, seed 3 had 1 divergence at the largest
    tau_beta[offense] and took 60 leapfrog steps per draw (partially non-centred: 33-42).

    Decided on every threat row, not the case-control sample: the sample is drawn with the
    fit's seed, and on the global panel the ratio of spread to noise for power went from 0.2
    to 1.3 between samples (0.5 on every row).  Sampler geometry only: it is the same model
    for every weight.
    """
    if not design.has_threat or len(design.threat_groups) < 2:
        return []
    se = threat_weight_se(design, every_row=True)
    X, y, group, offset = _dispute_rows(design, every_row=True)
    separate = np.array([logistic_mle(X[group == g], y[group == g], offset=offset[group == g])[1:]
                         for g in range(len(design.threat_groups))])
    noise = np.mean(se**2, axis=0)
    signal = np.maximum(separate.var(axis=0, ddof=1) - noise, 0.0)
    if tau_cap is not None:
        signal = np.minimum(signal, tau_cap**2)
    return [round(float(s / (s + n)), CENTRING_DECIMALS) for s, n in zip(signal, noise, strict=True)]


def scale_prior_centre(prior: dict) -> float | None:
    """Geometric mean ``exp(E[log tau])`` of a scale prior (``ModelSpec.resolved_prior``).

    The centre of the prior on the log scale, where the sampler moves a scale and where
    its funnels live.  None for a family without a closed form here.

    Parameters
    ----------
    prior : dict
        ``{"distribution": name, **parameters}``, PyMC's parameterisation.

    Returns
    -------
    float or None
        ``exp(E[log tau])`` under the prior.
    """
    family = prior["distribution"]
    # E[log |X|] for X ~ Normal(0, 1) is -(gamma + log 2) / 2; for a Student-t with nu degrees of
    # freedom (digamma(1/2) - digamma(nu/2) + log nu) / 2; for Exponential(lam) -gamma - log lam.
    if family == "HalfNormal":
        return float(prior.get("sigma", 1.0) * np.exp(-(np.euler_gamma + np.log(2.0)) / 2))
    if family == "HalfStudentT":
        nu = float(prior["nu"])
        log_t = (special.digamma(0.5) - special.digamma(nu / 2) + np.log(nu)) / 2
        return float(prior.get("sigma", 1.0) * np.exp(log_t))
    if family == "Exponential":
        return float(np.exp(-np.euler_gamma) / prior["lam"])
    return None
