"""Case-control sampling of rare outcomes with the exact prior correction (King & Zeng 2001).

Why
---
In the global directed dyad-year panel (1816–2014, ~1.8 M rows) alliances are a
few percent of undirected dyad-years and dispute initiations a fraction of a
percent of directed ones.  Almost all of the likelihood's cost is spent on rows
with outcome 0 that carry little information.  Case-control sampling keeps
every row with the (rare) outcome 1 and a random fraction of the rows with
outcome 0 (MODEL.md, block 2 "Rare events").

The correction
--------------
A row is kept with probability 1 when ``y = 1`` and ``r`` when ``y = 0``, so by
Bayes' rule, for a kept row::

    P(y = 1 | x, kept) = p / (p + r (1 - p)),  i.e.  logit P(y = 1 | x, kept) = logit p - log r

with ``p = P(y = 1 | x)`` the population probability.  Adding the offset
``-log(r)`` to the logit of every kept row (ones and zeros alike) is King &
Zeng's (2001) *prior correction* with known sampling fractions.  It is exact
row by row, whatever the linear predictor contains (dyad and year varying
intercepts, latent threat terms), because selection depends on the outcome
only; the parameters keep their population meaning.

- Alliance block: all allied rows and a fraction ``r0`` of the others; the offset
  ``-log(r0)`` is :attr:`Design.ally_cc_offset`, kept apart from the substantive
  :attr:`Design.ally_offset`, so marginal effects
  (:mod:`walt_bayes.hypotheses.effects`) use population probabilities (and weight
  the kept zeros by ``1 / r0`` when they average over rows).
- Dispute block (the measurement equation of latent threat): all initiations
  (``init21 = 1``) and a fraction ``rd`` of the others; the offset ``-log(rd)``
  enters the dispute logit of the sampled rows only (:attr:`Design.dispute_idx`,
  :attr:`Design.dispute_offset`).  The threat probability ``tau`` that feeds shared
  threat S, partner threat B and total threat T stays the uncorrected population
  probability.

Which threat rows exist at all
------------------------------
A threat row is needed either in the dispute likelihood (the sample) or by a
latent term: the two rows of every shared-threat triad, the partner row of
every alliance row, and (when a spec uses T) every row of the threatened
state-years.  Rows needed by latent terms stay in the design even when their
dispute outcome is not sampled; rows needed by neither are dropped.

Politically relevant dyads
--------------------------
On a global-scale panel, sampling alone is not enough: every directed dyad-year
would still be a threat row.  When case control is on for a large panel
(more than :data:`AUTO_MIN_ALLIANCE_ROWS` alliance rows), the panel is first
restricted to politically relevant dyads by the spec's ``alliance.relevance``
(contiguous, a major power on either side, strategic rivals).  Selection on
these covariates (not on outcomes) needs no correction: both equations are then
models of relevant dyads, and shared threat sums over sources whose dyads with
both ``i`` and ``k`` are relevant.  On 1816–2014 this keeps 240,014 of 1,836,630
directed dyad-years, 2,401 of 2,695 dispute initiations (the initiation rate is
1.0 % in relevant dyads and 0.02 % in the others, so the left-out terms of S
are ~50 times smaller on average) and 41,406 of 122,492 allied directed
dyad-years.

Settings
--------
``--case-control`` (:func:`parse_setting`):

- ``auto`` (default): off for panels with at most :data:`AUTO_MIN_ALLIANCE_ROWS`
  alliance rows (the embedded Middle East panel); otherwise relevant dyads and
  rates that keep :data:`ALLIANCE_CONTROLS_PER_CASE` non-allied rows per allied
  row (:data:`ONSET_CONTROLS_PER_CASE` non-onset rows per onset when block 2 models
  formation; the spec's ``alliance.case_control_ratio`` overrides both) and
  :data:`DISPUTE_CONTROLS_PER_CASE` non-initiations per initiation.
- ``off``: the whole panel, no sampling.
- ``RATE`` or ``R0,RD``: fixed fractions in (0, 1] (large panels are still
  restricted to relevant dyads).

The sample is drawn from the fit's integer seed, so the same spec, data and
seed give the same sample and the same draws.  Each row's draw is a function of
its key (ccode1, ccode2, year) and the seed (:func:`keyed_uniforms`), not of its
position, and ``auto`` rates are rounded to two significant digits: variants
fitted with one seed to one panel keep the same rows wherever their eligible
rows agree, so their pointwise log-likelihoods can be compared (LOO).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from walt_bayes.errors import WaltError

#: What the fit's metadata calls the correction.
METHOD = "prior correction, King & Zeng 2001"
#: ``auto`` samples when the panel has more alliance rows than this (embedded panel: ~5,500).
AUTO_MIN_ALLIANCE_ROWS = 50_000
#: ``auto``: non-allied rows kept per allied row (spec ``alliance.case_control_ratio`` overrides).
ALLIANCE_CONTROLS_PER_CASE = 1.0
#: ``auto`` when block 2 models alliance *onset* (formation form): non-onset rows kept per onset.
#: Onsets are rare (730 on the relevant dyads of 1816–2014, against ~41,000 allied dyad-years):
#: one control per case left 708 non-onset rows for 179 year and 981 dyad intercepts, so the
#: year effects of the 82 years without an onset rested on the prior and the formation form
#: missed R-hat 1.01 (sigma_year) and bulk ESS 400 (sigma_dyad) there (issue 23).  Twenty keep
#: ~15,000 of the ~91,000 rows, still a small part of the likelihood next to the threat rows.
ONSET_CONTROLS_PER_CASE = 20.0
#: ``auto``: non-initiation threat rows kept in the dispute likelihood per initiation.
DISPUTE_CONTROLS_PER_CASE = 5.0
#: What the pointwise groups of a case-control fit hold.
POINTWISE_NOTE = (
    "log_likelihood, posterior_predictive, prior_predictive and observed_data hold the sampled rows only "
    "(alliance: every allied row and a fraction r0 of the others; dispute: every initiation and a fraction rd "
    "of the others), with the case-control offset in their probabilities; LOO compares fits on the same sample"
)
EFFECTS_NOTE = (
    "marginal effects use population probabilities (no case-control offset) and weight kept non-allied rows "
    "by 1/r0"
)


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Setting:
    """What ``--case-control`` asked for: ``auto``, ``off`` or fixed rates."""

    mode: str  # "auto" | "off" | "rate"
    r0: float | None = None
    rd: float | None = None

    def describe(self) -> str:
        if self.mode == "rate":
            return f"r0={self.r0:g}, rd={self.rd:g}"
        return self.mode


def parse_setting(value: str | float | Setting | None, option: str = "--case-control") -> Setting:
    """Parse ``auto``, ``off``, ``RATE`` or ``R0,RD`` (each rate in (0, 1]).

    Raises
    ------
    WaltError
        One line naming the option and the accepted forms.
    """
    if value is None:
        return Setting("auto")
    if isinstance(value, Setting):
        return value
    text = str(value).strip().lower()
    if text in ("auto", "off"):
        return Setting(text)
    parts = text.split(",")
    try:
        rates = [float(p) for p in parts]
    except ValueError:
        rates = []
    if len(rates) in (1, 2) and all(math.isfinite(r) and 0 < r <= 1 for r in rates):
        return Setting("rate", rates[0], rates[-1])
    raise WaltError(
        f"{option}: {value!r} is not 'auto', 'off', a rate in (0, 1] or two rates R0,RD "
        "(fractions of non-allied and of non-initiation rows kept)"
    )


@dataclass(frozen=True)
class Plan:
    """A resolved case-control plan for one design."""

    relevant: bool  # restrict to politically relevant dyads first
    seed: int
    alliance_rate: float | None = None  # fixed r0, or None: from alliance_ratio
    dispute_rate: float | None = None
    alliance_ratio: float | None = None  # controls kept per case
    dispute_ratio: float | None = None
    setting: str = "auto"

    def rate(self, block: str, n_ones: int, n_zeros: int) -> float:
        """Fraction of outcome-0 rows kept in ``block`` ("alliance" or "dispute").

        Fixed rates are used as given; ``auto`` rates (controls per case) are rounded to
        two significant digits, so near-identical panels get identical rates.
        """
        fixed = self.alliance_rate if block == "alliance" else self.dispute_rate
        if fixed is not None:
            return float(fixed)
        ratio = self.alliance_ratio if block == "alliance" else self.dispute_ratio
        if n_zeros == 0:
            return 1.0
        rate = ratio * max(n_ones, 1) / n_zeros
        return float(min(1.0, float(f"{rate:.2g}")))

    def uniforms(self, block: str, keys: pd.DataFrame) -> np.ndarray:
        """One uniform draw per row of ``keys`` (ccode1, ccode2, year) for ``block``, from the seed."""
        child = np.random.SeedSequence(int(self.seed)).spawn(2)[0 if block == "alliance" else 1]
        return keyed_uniforms(keys, int(child.generate_state(1, dtype=np.uint64)[0]))


def _mix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijective, well-mixed hash of 64-bit integers."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def keyed_uniforms(keys: pd.DataFrame, salt: int) -> np.ndarray:
    """Uniform [0, 1) numbers, one per dyad-year, that depend only on its key and ``salt``.

    A row gets the same number whatever other rows the panel has or in which order,
    so samples drawn with one seed agree on shared rows.
    """
    packed = (keys["year"].to_numpy(np.int64) * 1000 + keys["ccode1"].to_numpy(np.int64)) * 1000 + keys[
        "ccode2"
    ].to_numpy(np.int64)
    with np.errstate(over="ignore"):
        z = _mix64(packed.astype(np.uint64) ^ _mix64(np.array([salt], dtype=np.uint64))[0])
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def alliance_rows_in(panel: pd.DataFrame, spec) -> int:
    """Alliance rows a panel would give (undirected dyad-years when the outcome is symmetric)."""
    col = {"ally": "ally", "ally_formal": "ally_formal", "pledge": "pledge12"}[spec.alliance.outcome]
    n = int(panel[col].notna().sum()) if col in panel else len(panel)
    directed = spec.alliance.directed or spec.alliance.outcome == "pledge"
    return n if directed else n // 2


def plan_for(setting: str | float | Setting | None, panel: pd.DataFrame, spec, seed: int) -> Plan | None:
    """The plan for ``setting`` on ``panel`` (``None``: no case-control sampling).

    Parameters
    ----------
    setting : str, float, Setting or None
        ``auto`` (None), ``off``, a rate or ``"R0,RD"``.
    panel : pandas.DataFrame
        The directed dyad-year panel.
    spec : ModelSpec
        The variant (outcome, relevance, ``alliance.case_control_ratio``).
    seed : int
        Integer seed of the sample.
    """
    s = parse_setting(setting)
    if s.mode == "off":
        return None
    large = alliance_rows_in(panel, spec) > AUTO_MIN_ALLIANCE_ROWS
    if s.mode == "auto" and not large:
        return None
    if s.mode == "rate":
        return Plan(relevant=large, seed=int(seed), alliance_rate=s.r0, dispute_rate=s.rd, setting=s.describe())
    ratio = spec.alliance.case_control_ratio or (
        ONSET_CONTROLS_PER_CASE if models_onset(spec) else ALLIANCE_CONTROLS_PER_CASE)
    return Plan(
        relevant=True, seed=int(seed), alliance_ratio=float(ratio), dispute_ratio=DISPUTE_CONTROLS_PER_CASE,
        setting="auto",
    )


def models_onset(spec) -> bool:
    """Whether block 2's outcome is alliance onset (``alliance.onset``, or a duration block)."""
    return bool(spec.alliance.onset or spec.duration is not None)


# --------------------------------------------------------------------------- relevance
def relevant_mask(panel: pd.DataFrame, spec) -> np.ndarray:
    """Directed dyad-years of politically relevant dyads by ``spec.alliance.relevance``.

    A dyad is relevant when its states are contiguous, either is a major power, or they
    are rivals (each as the spec lists); the criterion is symmetric, so both directions
    of a dyad-year are kept or dropped together.
    """
    rel = np.zeros(len(panel), dtype=bool)
    r = spec.alliance.relevance
    if "contiguous" in r:
        rel |= panel["contiguous"].fillna(0).to_numpy() == 1
    if "major" in r:
        rel |= (panel["major1"].fillna(0).to_numpy() == 1) | (panel["major2"].fillna(0).to_numpy() == 1)
    if "rival" in r:
        rel |= panel["rivalry"].fillna(0).to_numpy() == 1
    return rel


def restrict_relevant(panel: pd.DataFrame, spec) -> tuple[pd.DataFrame, dict]:
    """Keep politically relevant dyads; returns the panel and counts for the metadata."""
    keep = relevant_mask(panel, spec)
    info = {
        "criteria": list(spec.alliance.relevance),
        "kept": int(keep.sum()),
        "total": len(panel),
    }
    if "init21" in panel:
        init = panel["init21"].fillna(0).to_numpy() == 1
        info["initiations_kept"], info["initiations_total"] = int((init & keep).sum()), int(init.sum())
    return panel.loc[keep].reset_index(drop=True), info


# --------------------------------------------------------------------------- sampling
def sample_zeros(y: np.ndarray, rate: float, uniforms: np.ndarray) -> np.ndarray:
    """Keep every ``y = 1`` and each ``y = 0`` with probability ``rate`` (boolean mask).

    ``uniforms`` holds one independent uniform [0, 1) number per row; a ``y = 0`` row is
    kept when its number is below ``rate``.
    """
    y = np.asarray(y)
    if rate >= 1:
        return np.ones(len(y), dtype=bool)
    return (y == 1) | (np.asarray(uniforms) < rate)


def offset_for(rate: float) -> float:
    """The prior-correction offset ``-log(rate)`` added to the logit of every kept row."""
    return float(-np.log(rate))


def _counts(y: np.ndarray, keep: np.ndarray, rate: float) -> dict:
    ones = np.asarray(y) == 1
    return {
        "rate": float(rate),
        "offset": offset_for(rate),
        "ones_kept": int((ones & keep).sum()),
        "ones_total": int(ones.sum()),
        "zeros_kept": int((~ones & keep).sum()),
        "zeros_total": int((~ones).sum()),
    }


def sample_alliance(
    y: np.ndarray, eligible: np.ndarray, plan: Plan, keys: pd.DataFrame
) -> tuple[np.ndarray, float, dict]:
    """Case-control sample of alliance rows among ``eligible`` ones.

    Parameters
    ----------
    y : numpy.ndarray
        Alliance outcome per row.
    eligible : numpy.ndarray of bool
        Rows of the population (complete covariates and threat links).
    plan : Plan
    keys : pandas.DataFrame
        ``ccode1, ccode2, year`` of each row (the sample is keyed on them).

    Returns
    -------
    keep : numpy.ndarray of bool
        Rows kept (a subset of ``eligible``).
    r0 : float
        Fraction of non-allied rows kept (1: no sampling).
    info : dict
        Counts for the fit's metadata.
    """
    y = np.asarray(y)
    eligible = np.asarray(eligible, dtype=bool)
    ye = y[eligible]
    r0 = plan.rate("alliance", int((ye == 1).sum()), int((ye != 1).sum()))
    keep = np.zeros(len(y), dtype=bool)
    keep[eligible] = sample_zeros(ye, r0, plan.uniforms("alliance", keys.loc[eligible]))
    return keep, r0, _counts(ye, keep[eligible], r0)


def threat_rows_needed(design) -> np.ndarray:
    """Boolean mask of threat rows whose tau a latent term uses (block 2's S, B, T; block 3's ΔS triads)."""
    n = len(design.threat_y)
    needed = np.zeros(n, dtype=bool)
    if "T" in design.term_latent:  # T sums every threat row of a state-year
        needed[:] = True
        return needed
    for name in ("partner_idx", "triad_ji", "triad_jk"):
        idx = getattr(design, name)
        if idx is not None:
            needed[idx] = True
    if design.duration is not None:  # block 3's own shared-threat triads (threat_rise)
        needed[design.duration.threat_rows()] = True
    return needed


def sample_disputes(design, plan: Plan) -> dict:
    """Case-control sample of the dispute likelihood; drops threat rows nothing uses.

    Sets ``design.dispute_idx`` and ``design.dispute_offset`` (when ``rd < 1``) and
    returns counts for the metadata.
    """
    y = np.asarray(design.threat_y)
    rd = plan.rate("dispute", int((y == 1).sum()), int((y != 1).sum()))
    in_lik = sample_zeros(y, rd, plan.uniforms("dispute", design.threat_keys))
    info = _counts(y, in_lik, rd)
    info["rows_population"] = len(y)
    if rd < 1:
        keep = in_lik | threat_rows_needed(design)
        design.dispute_idx = np.flatnonzero(in_lik).astype(np.int64)
        design.dispute_offset = np.full(len(design.dispute_idx), offset_for(rd))
        if not keep.all():
            design.keep_threat_rows(np.flatnonzero(keep), "case-control")
    info["rows_in_design"] = len(design.threat_y)
    info["rows_in_likelihood"] = int(in_lik.sum())
    return info


def describe(info: dict) -> list[str]:
    """Design notes (one line each) for a case-control record."""
    out = []
    rel = info.get("relevant_dyads")
    if rel:
        line = (
            f"politically relevant dyads only ({', '.join(rel['criteria'])}): "
            f"{rel['kept']:,} of {rel['total']:,} directed dyad-years"
        )
        if "initiations_kept" in rel:
            line += f", {rel['initiations_kept']:,} of {rel['initiations_total']:,} dispute initiations"
        out.append(line)
    for block, what in (("alliance", "non-allied rows"), ("dispute", "non-initiation threat rows")):
        c = info.get(block)
        if c and c["rate"] < 1:
            out.append(
                f"case-control ({METHOD}), {block} block: kept all {c['ones_kept']:,} ones and "
                f"{c['zeros_kept']:,} of {c['zeros_total']:,} {what} (rate {c['rate']:.4g}, logit offset "
                f"{c['offset']:+.3f} on sampled rows)"
            )
    d = info.get("dispute")
    if d and d["rate"] < 1:
        out.append(
            f"threat rows: {d['rows_in_design']:,} of {d['rows_population']:,} kept (in the dispute likelihood "
            "or needed by a latent term); tau is the population probability"
        )
    return out
