"""From a panel to model arrays: the design of blocks 1 and 2.

The design is everything the PyMC model needs, as plain numpy arrays with
named dimensions: standardised threat inputs, alliance rows and their
observed covariates, and the sparse index lists (triads) through which the
latent threat reaches the alliance equation.  It is stored in the fit file's
``constant_data`` group (:mod:`walt_bayes.model.design_store`), so a saved fit can
rebuild its model without the panel.

This module holds the :class:`Design` and :func:`build_design`; the blocks are built by
:mod:`walt_bayes.model.threat_rows` (1), :mod:`walt_bayes.model.alliance_rows` and
:mod:`walt_bayes.model.triads` (2), :mod:`walt_bayes.model.duration` (3) and
:mod:`walt_bayes.model.joining`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from walt_bayes.errors import ModelError
from walt_bayes.model import casecontrol
from walt_bayes.model.alliance_rows import BINARY_FACTORS as BINARY_FACTORS
from walt_bayes.model.alliance_rows import BIPOLAR_YEARS as BIPOLAR_YEARS
from walt_bayes.model.alliance_rows import OBSERVED_FACTOR_COLUMNS as OBSERVED_FACTOR_COLUMNS
from walt_bayes.model.alliance_rows import build_alliance, observed_factor
from walt_bayes.model.arrays import ERAS as ERAS
from walt_bayes.model.arrays import dyad_year_key, scatter_rows
from walt_bayes.model.dense import DenseLayout
from walt_bayes.model.design_store import design_from_dataset, design_to_dataset
from walt_bayes.model.duration import build_duration
from walt_bayes.model.duration_arrays import DurationArrays
from walt_bayes.model.joining import JoiningArrays, build_joining
from walt_bayes.model.plugin import logistic_mle as logistic_mle
from walt_bayes.model.plugin import plugin_tau
from walt_bayes.model.threat_rows import MIN_POOLED_GROUPS as MIN_POOLED_GROUPS
from walt_bayes.model.threat_rows import build_threat, scale_prior_centre, threat_centring
from walt_bayes.model.threat_rows import threat_features as threat_features
from walt_bayes.model.triads import PERSISTENT_DISPUTES as PERSISTENT_DISPUTES
from walt_bayes.model.triads import build_triads
from walt_bayes.panel.companions import Companions, companions_for
from walt_bayes.panel.datasets import check_panel as check_panel
from walt_bayes.spec import ModelSpec

# Old names of helpers that moved to the module of their job: the scenarios
# (walt_bayes.scenario.apply, .rebuild) and the tests import them from here.
_key = dyad_year_key
_observed_factor = observed_factor
_plugin_tau = plugin_tau
_build_triads = build_triads

#: Allied rows (alliances, or onsets in the formation form) from which a year's intercept is
#: sampled centred (:meth:`Design.set_dyad_parameterisation`).
YEAR_CENTRED_MIN_ALLIED = 1


@dataclass
class Design:
    """Arrays for the PyMC model, with the metadata to interpret them."""

    # Block 1: latent threat, one row per directed dyad-year (threat of ccode2 to ccode1).
    threat_keys: pd.DataFrame | None = None
    threat_X: np.ndarray | None = None  # (n_threat, n_source), standardised composites
    threat_y: np.ndarray | None = None  # init21
    threat_group: np.ndarray | None = None
    threat_sy: np.ndarray | None = None  # state-year index of the threatened state
    # Case-control sample of the dispute likelihood (walt_bayes.model.casecontrol): the threat
    # rows whose init21 enters it and their prior-correction offset; None: every row, no offset.
    dispute_idx: np.ndarray | None = None
    dispute_offset: np.ndarray | None = None
    sources: list[str] = field(default_factory=list)
    threat_groups: list[str] = field(default_factory=list)
    n_state_years: int = 0
    # Threatening states with their own intercept (spec ``threat.source_intercepts``), as COW
    # codes in index order; empty: none.  ``threat_src`` maps each threat row to its source.
    source_states: list[int] = field(default_factory=list)
    threat_src: np.ndarray | None = None
    # Block 2: alliance rows.
    ally_keys: pd.DataFrame | None = None
    ally_y: np.ndarray | None = None
    ally_group: np.ndarray | None = None
    ally_groups: list[str] = field(default_factory=list)
    ally_dyad: np.ndarray | None = None
    dyads: list[str] = field(default_factory=list)
    ally_year: np.ndarray | None = None
    years: list[int] = field(default_factory=list)
    ally_offset: np.ndarray | None = None  # substantive offset (part of the population model)
    ally_cc_offset: np.ndarray | None = None  # case-control correction -log(r0), likelihood only
    controls: np.ndarray | None = None  # (n_ally, n_control)
    control_names: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    term_observed: np.ndarray | None = None  # (n_ally, n_term): observed part of each term
    term_center: np.ndarray | None = None  # (n_term,) constants standardising each term
    term_scale: np.ndarray | None = None
    term_latent: list[str] = field(default_factory=list)  # latent factor of each term ('' if none)
    partner_idx: np.ndarray | None = None  # threat row of tau[k->i] per alliance row
    ally_sy: np.ndarray | None = None  # state-year index of i (for T_i)
    triad_ally: np.ndarray | None = None
    triad_ji: np.ndarray | None = None
    triad_jk: np.ndarray | None = None
    triad_persistent: np.ndarray | None = None
    dense: DenseLayout | None = None  # shared threat as per-year matrix products (small panels)
    # Dyad intercepts (see build._dyad_effects): which are sampled centred, and each dyad's
    # mean of the observed-only columns (controls, then terms; 0 for latent terms).
    dyad_centred: np.ndarray | None = None  # (n_dyad,) bool
    dyad_means: np.ndarray | None = None  # (n_dyad, n_control + n_term)
    year_centred: np.ndarray | None = None  # per year: its intercept sampled centred (build._year_effects)
    # Per source: how far its group weights are centred, 0 (non-centred) to 1 (threat_rows.threat_centring).
    threat_centring: list[float] = field(default_factory=list)
    ally_onset: bool = False  # alliance rows are onset rows (dyads not allied the year before)
    duration: DurationArrays | None = None  # block 3: spell-years at risk (walt_bayes.model.duration)
    joining: JoiningArrays | None = None  # wartime joining, COND-5 (walt_bayes.model.joining)
    # Bookkeeping.
    transform: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    dropped_terms: dict[str, str] = field(default_factory=dict)
    data_rates: dict[str, float] = field(default_factory=dict)
    case_control: dict = field(default_factory=dict)  # what was sampled (casecontrol), for the metadata

    @property
    def has_threat(self) -> bool:
        return self.threat_X is not None

    # ------------------------------------------------------------ case control
    def dispute_rows(self) -> np.ndarray:
        """Threat rows whose dispute outcome enters the likelihood (all without case control)."""
        if self.dispute_idx is None:
            return np.arange(len(self.threat_keys))
        return self.dispute_idx

    def dispute_keys(self) -> pd.DataFrame:
        """``ccode1, ccode2, year`` of the rows of the dispute likelihood (aligned with its outcome)."""
        if self.dispute_idx is None:
            return self.threat_keys
        return self.threat_keys.iloc[self.dispute_idx].reset_index(drop=True)

    def set_dispute_observed(self, values: np.ndarray) -> None:
        """Set ``threat_y`` from the stored dispute outcomes (``observed_data["dispute"]``).

        With a case-control sample ``observed_data`` holds the sampled rows only.  A
        design that stored every threat row's outcome (:meth:`to_dataset`) keeps it
        (it must agree with ``values`` on the sample).  An older fit's design did not:
        the rows outside the sample get NaN, an unknown that no sum or mean can take
        for an outcome (they never enter a likelihood: only ``dispute_rows()`` do).

        Raises
        ------
        ModelError
            The stored outcomes disagree with ``values`` (a design from another fit).
        """
        values = np.asarray(values).astype(np.int64)
        if self.dispute_idx is None:
            self.threat_y = values
            return
        if self.threat_y is not None and len(self.threat_y) == len(self.threat_keys):
            if not np.array_equal(np.asarray(self.threat_y)[self.dispute_idx], values):
                raise ModelError("the dispute outcomes stored with the design disagree with the fit's observed data")
            return
        self.threat_y = np.full(len(self.threat_keys), np.nan)
        self.threat_y[self.dispute_idx] = values

    def population_weights(self) -> np.ndarray | None:
        """Weights that average alliance rows as the population would (1 / P(row kept)).

        ``None`` without case-control sampling; otherwise 1 for allied rows and
        ``exp(ally_cc_offset) = 1 / r0`` for the others.
        """
        if self.ally_cc_offset is None or not np.any(self.ally_cc_offset != 0):
            return None
        return np.where(np.asarray(self.ally_y) == 1, 1.0, np.exp(self.ally_cc_offset))

    # ------------------------------------------------------------------ storage
    def to_dataset(self) -> xr.Dataset:
        """The design as an xarray Dataset (the fit's ``constant_data``)."""
        return design_to_dataset(self)

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> Design:
        """Rebuild a design stored by :meth:`to_dataset`."""
        return design_from_dataset(cls, ds)


    def set_dyad_parameterisation(self) -> None:
        """Choose, from the alliance rows, how the dyad intercepts are sampled.

        A dyad with allied years has an intercept its data pin down: it is sampled centred.
        A never-allied dyad's intercept is bounded only from above by its data (prior-
        dominated): it is sampled non-centred.  Onset rows (``ally_onset``) pin down no
        dyad's intercept: a dyad forms an alliance once or twice in a panel (embedded data:
        40 of the 50 dyads with an onset have exactly one), so every dyad is sampled
        non-centred there.  Centred onset dyads left a chain stuck in the funnel's neck
        (``full``, seed 1, 4 × 300 + 300: one chain at sigma_dyad 0.02 against 1.07 in the
        others, 290 divergences, R-hat 1.62); non-centred: every chain at 1.05–1.10.
        Year intercepts likewise, year by year: a year with allied rows (onsets in the
        formation form) has an intercept its data bound from both sides, sampled centred; a
        year without is bounded only from above, sampled non-centred.  On the global panel
        (198 years, 100 without an onset; posterior SD of a year's intercept 0.35-0.99 where
        it has onsets, against sigma_year 2.2) every year non-centred left ``null`` at seed 1
        with sigma_year at bulk ESS 399, R-hat 1.010; the split gave 1280 and 1.001 at the
        same cost per draw.
        ``dyad_means`` holds each dyad's mean of the observed-only columns (controls, standardised observed terms), which moves
        dyad-constant covariates into the dyads' prior means.  Both are sampler geometry
        only: any partition and any constant means give the same model.  Subsets for
        cross-validation keep the full design's choice, so every fold has the same
        parameters.
        """
        n_dyad = len(self.dyads)
        count = np.bincount(self.ally_dyad, minlength=n_dyad).astype(float)
        allied = np.bincount(self.ally_dyad, weights=np.asarray(self.ally_y, float), minlength=n_dyad)
        self.dyad_centred = (allied > 0) & (not self.ally_onset)
        allied_in_year = np.bincount(self.ally_year, weights=np.asarray(self.ally_y, float), minlength=len(self.years))
        self.year_centred = (allied_in_year >= YEAR_CENTRED_MIN_ALLIED) & (len(self.years) > 1)
        n_term = len(self.terms)
        observed = np.asarray(self.term_observed, float).reshape(len(self.ally_y), n_term)
        standardised = (observed - self.term_center) / self.term_scale
        standardised[:, [bool(f) for f in self.term_latent]] = 0.0
        columns = np.hstack([np.asarray(self.controls, float).reshape(len(self.ally_y), -1), standardised])
        sums = np.stack([np.bincount(self.ally_dyad, weights=c, minlength=n_dyad) for c in columns.T], axis=1) \
            if columns.shape[1] else np.zeros((n_dyad, 0))
        self.dyad_means = sums / np.maximum(count, 1.0)[:, None]

    # ----------------------------------------------------------- latent (numpy)
    def latent_factors(self, tau: np.ndarray) -> dict[str, np.ndarray]:
        """Shared (S), partner (B), total (T) and persistent shared threat for given ``tau``.

        ``tau`` may be a vector (one value per threat row) or a matrix with draws
        in the leading axis; the numpy twin of what the PyMC model computes.
        """
        tau = np.atleast_2d(tau)
        n = len(self.ally_y)
        if self.dense is not None:
            out = {"S": self.dense.shared(tau), "S_persistent": self.dense.shared(tau, persistent=True)}
        else:
            prod = tau[:, self.triad_ji] * tau[:, self.triad_jk]
            out = {
                "S": scatter_rows(prod, self.triad_ally, n),
                "S_persistent": scatter_rows(prod * self.triad_persistent, self.triad_ally, n),
            }
        out["B"] = tau[:, self.partner_idx]
        total = scatter_rows(tau, self.threat_sy, self.n_state_years)
        out["T"] = total[:, self.ally_sy]
        return out

    def keep_threat_rows(self, rows: np.ndarray, why: str) -> None:
        """Keep only threat rows ``rows`` (sorted indices), in place, remapping every link to them.

        Dispute-likelihood rows outside ``rows`` leave the sample; a latent-term link
        (partner row, triad) to a dropped row is a bug of the caller (``why`` names it).
        """
        rows = np.asarray(rows, dtype=np.int64)
        new = np.full(len(self.threat_y), -1, dtype=np.int64)
        new[rows] = np.arange(len(rows))
        self.threat_keys = self.threat_keys.iloc[rows].reset_index(drop=True)
        for name in ("threat_X", "threat_y", "threat_group", "threat_sy", "threat_src"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name)[rows])
        if self.dispute_idx is not None:
            in_sample = new[self.dispute_idx] >= 0
            self.dispute_idx = new[self.dispute_idx[in_sample]]
            if self.dispute_offset is not None:
                self.dispute_offset = self.dispute_offset[in_sample]
        for name in ("partner_idx", "triad_ji", "triad_jk"):
            value = getattr(self, name)
            if value is None:
                continue
            mapped = new[value]
            if np.any(mapped < 0):  # pragma: no cover - guards the callers' invariants
                raise ModelError(f"{why}: {name} links to a threat row that was left out")
            setattr(self, name, mapped)
        if self.dense is not None:
            self.dense = copy.copy(self.dense)
            for name in ("threat_t", "threat_j", "threat_i"):
                setattr(self.dense, name, getattr(self.dense, name)[rows])
        if self.duration is not None:
            self.duration = self.duration.remap_threat(new, why)

    def subset_alliance(self, rows: np.ndarray) -> Design:
        """A design with only the given alliance rows (for cross-validation).

        The threat block, the coordinates (dyads, years, groups) and every
        standardisation constant stay as they are, so a model fitted on one
        subset and a model scoring another share their parameters exactly.
        The duration and joining blocks are not alliance rows and stay whole:
        a caller that holds data out restricts them too
        (:mod:`walt_bayes.compare.kfold`, ``DurationArrays.before`` /
        ``without_dyads``).
        """
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        sub = copy.copy(self)
        sub.ally_keys = self.ally_keys.iloc[rows].reset_index(drop=True)
        for name in ("ally_y", "ally_group", "ally_dyad", "ally_year", "ally_offset", "ally_cc_offset", "controls",
                     "term_observed", "partner_idx", "ally_sy"):
            value = getattr(self, name)
            if value is not None:
                setattr(sub, name, value[rows])
        if self.triad_ally is not None:
            new_index = np.full(len(self.ally_y), -1, dtype=np.int64)
            new_index[rows] = np.arange(len(rows))
            keep = new_index[self.triad_ally] >= 0
            sub.triad_ally = new_index[self.triad_ally[keep]]
            sub.triad_ji = self.triad_ji[keep]
            sub.triad_jk = self.triad_jk[keep]
            sub.triad_persistent = self.triad_persistent[keep]
        if self.dense is not None:
            sub.dense = copy.copy(self.dense)
            for name in ("ally_t", "ally_i", "ally_k"):
                setattr(sub.dense, name, getattr(self.dense, name)[rows])
        return sub

    def term_matrix(self, tau: np.ndarray | None = None) -> np.ndarray:
        """Standardised term columns, shape (draws, n_ally, n_term)."""
        draws = 1 if tau is None else np.atleast_2d(tau).shape[0]
        cols = np.repeat(self.term_observed[None, :, :], draws, axis=0).astype(float)
        if any(self.term_latent):
            latent = self.latent_factors(tau)
            for t, factor in enumerate(self.term_latent):
                if factor:
                    cols[:, :, t] = cols[:, :, t] * latent[factor]
        return (cols - self.term_center) / self.term_scale



def build_design(
    panel: pd.DataFrame, spec: ModelSpec, name: str = "panel", case_control=None, seed: int = 0,
    *, companions: Companions | None = None,
) -> Design:
    """Build the model design for ``spec`` from a directed dyad-year panel.

    Parameters
    ----------
    panel : pandas.DataFrame
        A panel with the columns of :mod:`walt_bayes.panel.columns`.
    spec : ModelSpec
        The theory variant.
    name : str
        The panel's name, for error messages.
    case_control : str, float, casecontrol.Setting or None
        Case-control sampling of rare outcomes (:mod:`walt_bayes.model.casecontrol`):
        ``"auto"``, ``"off"``, a rate or ``"R0,RD"``.  ``None`` (the default) is off.
    seed : int
        Integer seed of the case-control sample.
    companions : walt_bayes.panel.companions.Companions, optional
        The tables that go with the panel (episodes, COW wars, war joiners) for blocks 3
        and 4, read by ``panel/`` when a block asks; a :class:`~walt_bayes.panel.datasets.Dataset`
        carries them.  ``None``: those ``panel/`` names from the panel's own ``attrs`` and
        columns (:func:`~walt_bayes.panel.companions.companions_for`).

    Returns
    -------
    Design

    Raises
    ------
    DataError
        A required column is missing or keys are duplicated.
    ModelError
        A term needs data the panel lacks (and the spec does not drop it).
    """
    check_panel(panel, name)
    panel = panel.reset_index(drop=True)
    whole_panel = panel
    design = Design()
    plan = casecontrol.plan_for(case_control if case_control is not None else "off", panel, spec, seed)
    if plan is not None:
        design.case_control = {"used": True, "method": casecontrol.METHOD, "setting": plan.setting}
        if plan.relevant:
            panel, design.case_control["relevant_dyads"] = casecontrol.restrict_relevant(panel, spec)
    threat_rows = None
    if spec.threat is not None:
        threat_rows = build_threat(panel, spec, design)
    build_alliance(panel, spec, design, threat_rows, plan)
    if companions is None:
        companions = companions_for(whole_panel)
    if spec.duration is not None:
        build_duration(whole_panel, spec, design, companions, threat_panel=panel)
    if spec.joining is not None:
        build_joining(whole_panel, spec, design, companions)
    if plan is not None:
        if design.has_threat:
            design.case_control["dispute"] = casecontrol.sample_disputes(design, plan)
        cc = design.case_control
        cc["r0"] = cc.get("alliance", {}).get("rate", 1.0)
        cc["rd"] = cc.get("dispute", {}).get("rate", 1.0)
        cc["pointwise"] = casecontrol.POINTWISE_NOTE
        cc["effects"] = casecontrol.EFFECTS_NOTE
        design.notes.extend(casecontrol.describe(cc))
    design.set_dyad_parameterisation()
    design.threat_centring = threat_centring(design, scale_prior_centre(spec.resolved_prior("tau_beta")))
    return design

