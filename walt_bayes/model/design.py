"""From a panel to model arrays: the design of blocks 1 and 2.

The design is everything the PyMC model needs, as plain numpy arrays with
named dimensions: standardised threat inputs, alliance rows and their
observed covariates, and the sparse index lists (triads) through which the
latent threat reaches the alliance equation.  It is stored in the fit file's
``constant_data`` group, so a saved fit can rebuild its model without the panel.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from walt_bayes.errors import DataError, ModelError
from walt_bayes.model.dense import DenseLayout, dense_layout
from walt_bayes.model.duration import DurationArrays, block2_models_continuation, build_duration
from walt_bayes.model.joining import JoiningArrays, build_joining
from walt_bayes.panel.columns import REQUIRED
from walt_bayes.spec import ALLIANCE_TERMS, LATENT_FACTORS, THREAT_SOURCES, ModelSpec

#: Years of the bipolar Cold-War system (IDEO-3).
BIPOLAR_YEARS = (1946, 1989)
#: Era boundaries for ``group = "era"`` (first year of each era).
ERAS = {"1816-1913": 1816, "1914-1945": 1914, "1946-1989": 1946, "1990-": 1990}
#: A threat source counts as persistently aggressive (COND-4) with a rivalry or this many past disputes.
PERSISTENT_DISPUTES = 3

#: Observed factors: which panel columns each needs.
OBSERVED_FACTOR_COLUMNS: dict[str, tuple[str, ...]] = {
    "strength_i": ("power1",),
    "strength_k": ("power2",),
    "major_i": ("major1",),
    "major_k": ("major2",),
    "weak_i": ("power1", "major1"),
    "ideo_sim": ("ideo_sim",),
    "bipolar": (),
    "illegit_i": ("illegit1",),
    "contig": ("contiguous",),
    "neighbour2": ("neighbour2",),
    "aid": ("aid21", "aid12"),
    "penetration": (),  # igos and/or trade_dep; checked separately
    "democracy_k": ("democracy2",),
    "support": (),
    "support_sq": (),
}
BINARY_FACTORS = frozenset({"major_i", "major_k", "weak_i", "bipolar", "illegit_i", "contig", "neighbour2", "aid"})


def _key(ccode1, ccode2, year) -> np.ndarray:
    """Pack a directed dyad-year into one int64 (COW codes < 1000)."""
    return (np.asarray(year, dtype=np.int64) * 1000 + np.asarray(ccode1, dtype=np.int64)) * 1000 + np.asarray(
        ccode2, dtype=np.int64
    )


def _zscore(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    mean = float(np.mean(values))
    sd = float(np.std(values))
    if not np.isfinite(sd) or sd == 0:
        return values - mean, mean, 0.0
    return (values - mean) / sd, mean, sd


def _era_of(years: np.ndarray) -> np.ndarray:
    starts = np.array(list(ERAS.values()))
    names = np.array(list(ERAS))
    return names[np.searchsorted(starts, years, side="right") - 1]


def _groups(kind: str, regions: np.ndarray, years: np.ndarray) -> tuple[np.ndarray, list[str]]:
    if kind == "region":
        labels = np.asarray(regions, dtype=object).astype(str)
    elif kind == "era":
        labels = _era_of(years)
    else:
        labels = np.full(len(years), "all", dtype=object)
    names = sorted(set(labels.tolist()))
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[v] for v in labels], dtype=np.int64), names


def _expit(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


def logistic_mle(
    X: np.ndarray, y: np.ndarray, iters: int = 100, ridge: float = 1e-3, offset: np.ndarray | float = 0.0
) -> np.ndarray:
    """Maximum-likelihood logit by damped Newton steps (a tiny ridge keeps it finite under separation).

    ``offset`` is added to the linear predictor of every row (e.g. the case-control
    correction ``-log(r)`` of :mod:`walt_bayes.model.casecontrol`).  Returns the
    coefficient vector for ``[1, X]``.
    """
    A = np.column_stack([np.ones(len(y)), X])
    w = np.zeros(A.shape[1])
    offset = np.broadcast_to(np.asarray(offset, dtype=float), (len(y),))
    rate = np.clip(y.mean(), 1e-4, 1 - 1e-4)
    w[0] = np.log(rate / (1 - rate)) - float(np.mean(offset))

    def objective(w):  # penalised log-likelihood
        eta = A @ w + offset
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)) - 0.5 * ridge * w @ w)

    current = objective(w)
    for _ in range(iters):
        p = _expit(A @ w + offset)
        grad = A.T @ (y - p) - ridge * w
        H = (A * (p * (1 - p))[:, None]).T @ A + ridge * np.eye(A.shape[1])
        step = np.linalg.solve(H, grad)
        # Backtracking: a full Newton step from far away overshoots into saturated
        # probabilities (rare events, strong predictors) and then diverges.
        t = 1.0
        while t > 1e-10:
            trial = objective(w + t * step)
            if trial >= current:
                break
            t *= 0.5
        w = w + t * step
        improvement, current = trial - current, trial
        if np.max(np.abs(t * step)) < 1e-8 or abs(improvement) < 1e-10:
            break
    return w


#: Allied rows per year (on average) from which the year intercepts are sampled centred
#: (:meth:`Design.set_dyad_parameterisation`).
YEAR_CENTRED_MIN_ALLIED = 50.0
#: Fewest groups whose threat weights are partially pooled (a scale needs several groups).
MIN_POOLED_GROUPS = 3


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
    year_centred: bool = False  # year intercepts sampled centred (build._year_effects)
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
        data: dict[str, tuple] = {}
        coords: dict[str, object] = {}
        if self.has_threat:
            coords["source"] = self.sources
            coords["threat_group"] = self.threat_groups
            for col in ("ccode1", "ccode2", "year"):
                data[f"threat_{col}"] = ("threat_obs", self.threat_keys[col].to_numpy(np.int64))
            data["threat_X"] = (("threat_obs", "source"), self.threat_X)
            data["threat_group_idx"] = ("threat_obs", self.threat_group)
            data["threat_sy"] = ("threat_obs", self.threat_sy)
            if self.source_states:
                coords["source_state"] = np.asarray(self.source_states, dtype=np.int64)
                data["threat_src"] = ("threat_obs", self.threat_src)
        coords["ally_group"] = self.ally_groups
        coords["dyad"] = self.dyads
        coords["year"] = np.asarray(self.years, dtype=np.int64)
        coords["control"] = self.control_names
        coords["term"] = self.terms
        for col in ("ccode1", "ccode2", "year"):
            data[f"ally_{col}"] = ("ally_obs", self.ally_keys[col].to_numpy(np.int64))
        data["ally_group_idx"] = ("ally_obs", self.ally_group)
        data["ally_dyad_idx"] = ("ally_obs", self.ally_dyad)
        data["ally_year_idx"] = ("ally_obs", self.ally_year)
        data["ally_offset"] = ("ally_obs", self.ally_offset)
        if self.ally_cc_offset is not None:
            data["ally_cc_offset"] = ("ally_obs", self.ally_cc_offset)
        if self.has_threat and self.dispute_idx is not None:
            data["dispute_idx"] = ("dispute_obs", self.dispute_idx)
            data["dispute_offset"] = ("dispute_obs", self.dispute_offset)
            if self.threat_y is not None and np.all(np.isin(self.threat_y, (0, 1))):
                # Case control: observed_data holds the sampled rows only; the outcomes of the
                # other threat rows (kept for latent terms) make the reloaded design the built one.
                data["threat_y"] = ("threat_obs", np.asarray(self.threat_y, dtype=np.int8))
        data["controls"] = (("ally_obs", "control"), self.controls)
        data["term_observed"] = (("ally_obs", "term"), self.term_observed)
        data["term_center"] = ("term", self.term_center)
        data["term_scale"] = ("term", self.term_scale)
        data["term_latent"] = ("term", np.asarray(self.term_latent, dtype=str))
        if self.has_threat:
            data["partner_idx"] = ("ally_obs", self.partner_idx)
            data["ally_sy"] = ("ally_obs", self.ally_sy)
            data["triad_ally"] = ("triad", self.triad_ally)
            data["triad_ji"] = ("triad", self.triad_ji)
            data["triad_jk"] = ("triad", self.triad_jk)
            data["triad_persistent"] = ("triad", self.triad_persistent.astype(np.int8))
        if self.dense is not None:
            lay = self.dense
            data["dense_not_relevant"] = (("dense_t", "dense_j", "dense_x"), lay.not_relevant.astype(np.int8))
            data["dense_not_persistent"] = (("dense_t", "dense_j", "dense_x"), lay.not_persistent.astype(np.int8))
            for name in ("threat_t", "threat_j", "threat_i"):
                data[f"dense_{name}"] = ("threat_obs", getattr(lay, name))
            for name in ("ally_t", "ally_i", "ally_k"):
                data[f"dense_{name}"] = ("ally_obs", getattr(lay, name))
        if self.dyad_centred is not None:
            data["dyad_centred"] = ("dyad", self.dyad_centred.astype(np.int8))
            data["dyad_means"] = (("dyad", "dyad_column"), self.dyad_means)
        ds = xr.Dataset(data, coords=coords)
        for block in (self.duration, self.joining):
            if block is not None:
                ds = block.add_to(ds)
        ds.attrs["design"] = json.dumps(
            {
                "transform": self.transform,
                "notes": self.notes,
                "dropped_terms": self.dropped_terms,
                "data_rates": self.data_rates,
                "n_state_years": self.n_state_years,
                "case_control": self.case_control,
                "year_centred": bool(self.year_centred),
                "ally_onset": bool(self.ally_onset),
            }
        )
        return ds

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> Design:
        """Rebuild a design stored by :meth:`to_dataset`."""
        meta = json.loads(ds.attrs["design"])
        d = cls()
        if "threat_X" in ds:
            d.threat_keys = pd.DataFrame(
                {c: ds[f"threat_{c}"].values for c in ("ccode1", "ccode2", "year")}
            )
            d.threat_X = ds["threat_X"].values
            d.threat_group = ds["threat_group_idx"].values
            d.threat_sy = ds["threat_sy"].values
            d.sources = [str(s) for s in ds["source"].values]
            d.threat_groups = [str(s) for s in ds["threat_group"].values]
            if "threat_src" in ds:  # fits before source intercepts have none
                d.source_states = [int(c) for c in ds["source_state"].values]
                d.threat_src = ds["threat_src"].values
            d.partner_idx = ds["partner_idx"].values
            d.ally_sy = ds["ally_sy"].values
            d.triad_ally = ds["triad_ally"].values
            d.triad_ji = ds["triad_ji"].values
            d.triad_jk = ds["triad_jk"].values
            d.triad_persistent = ds["triad_persistent"].values.astype(bool)
        if "dense_not_relevant" in ds:
            not_rel = ds["dense_not_relevant"].values.astype(float)
            d.dense = DenseLayout(
                n_years=not_rel.shape[0], n_states=not_rel.shape[1],
                not_relevant=not_rel, not_persistent=ds["dense_not_persistent"].values.astype(float),
                **{n: ds[f"dense_{n}"].values for n in
                   ("threat_t", "threat_j", "threat_i", "ally_t", "ally_i", "ally_k")},
            )
        d.ally_keys = pd.DataFrame({c: ds[f"ally_{c}"].values for c in ("ccode1", "ccode2", "year")})
        d.ally_group = ds["ally_group_idx"].values
        d.ally_groups = [str(s) for s in ds["ally_group"].values]
        d.ally_dyad = ds["ally_dyad_idx"].values
        d.dyads = [str(s) for s in ds["dyad"].values]
        d.ally_year = ds["ally_year_idx"].values
        d.years = [int(y) for y in ds["year"].values]
        d.ally_offset = ds["ally_offset"].values
        if "ally_cc_offset" in ds:
            d.ally_cc_offset = ds["ally_cc_offset"].values
        if "dispute_idx" in ds:
            d.dispute_idx = ds["dispute_idx"].values.astype(np.int64)
            d.dispute_offset = ds["dispute_offset"].values
            if "threat_y" in ds:
                d.threat_y = ds["threat_y"].values.astype(np.int64)
        d.controls = ds["controls"].values
        d.control_names = [str(s) for s in ds["control"].values]
        d.terms = [str(s) for s in ds["term"].values]
        d.term_observed = ds["term_observed"].values
        d.term_center = ds["term_center"].values
        d.term_scale = ds["term_scale"].values
        d.term_latent = [str(s) for s in ds["term_latent"].values]
        d.transform = meta["transform"]
        d.notes = meta["notes"]
        d.dropped_terms = meta["dropped_terms"]
        d.data_rates = meta["data_rates"]
        d.n_state_years = meta["n_state_years"]
        d.case_control = meta.get("case_control", {})
        d.duration = DurationArrays.from_dataset(ds)
        d.joining = JoiningArrays.from_dataset(ds)
        d.ally_onset = bool(meta.get("ally_onset", False))
        if "dyad_centred" in ds:
            d.dyad_centred = ds["dyad_centred"].values.astype(bool)
            d.dyad_means = ds["dyad_means"].values
            d.year_centred = bool(meta.get("year_centred", False))  # fits before it: non-centred
        else:
            d.set_dyad_parameterisation()
        return d

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
        self.year_centred = bool(len(self.years) > 1
                                 and float(np.sum(self.ally_y)) / len(self.years) >= YEAR_CENTRED_MIN_ALLIED)
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
                "S": _scatter_rows(prod, self.triad_ally, n),
                "S_persistent": _scatter_rows(prod * self.triad_persistent, self.triad_ally, n),
            }
        out["B"] = tau[:, self.partner_idx]
        total = _scatter_rows(tau, self.threat_sy, self.n_state_years)
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
        import copy

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


def _scatter_rows(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((values.shape[0], n))
    for row in range(values.shape[0]):
        out[row] = np.bincount(index, weights=values[row], minlength=n)
    return out


# =============================================================================
# Building a design from a panel
# =============================================================================


def check_panel(panel: pd.DataFrame, name: str = "panel") -> None:
    """Raise :class:`DataError` if the panel lacks a required column or has duplicate keys."""
    missing = [c for c in REQUIRED if c not in panel.columns]
    if missing:
        raise DataError(f"{name}: missing required column '{missing[0]}' ({REQUIRED[missing[0]]})")
    dup = panel.duplicated(["ccode1", "ccode2", "year"])
    if dup.any():
        rows = panel.index[dup][:5].tolist()
        raise DataError(f"{name}: duplicate (ccode1, ccode2, year) at rows {rows}")


def threat_features(panel: pd.DataFrame) -> pd.DataFrame:
    """Raw threat features (MODEL.md 'Units and inputs') derived from panel columns."""
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


def build_design(
    panel: pd.DataFrame, spec: ModelSpec, name: str = "panel", case_control=None, seed: int = 0
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
    from walt_bayes.model import casecontrol

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
        threat_rows = _build_threat(panel, spec, design)
    _build_alliance(panel, spec, design, threat_rows, plan)
    if spec.duration is not None:
        build_duration(whole_panel, spec, design, threat_panel=panel)
    if spec.joining is not None:
        build_joining(whole_panel, spec, design)
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
    return design


def _build_threat(panel: pd.DataFrame, spec: ModelSpec, design: Design) -> pd.DataFrame:
    feats = threat_features(panel)
    needed = [f for s in spec.threat.sources for f, _ in THREAT_SOURCES[s]]
    ok = feats[needed].notna().all(axis=1) & panel["init21"].notna()
    n_drop = int((~ok).sum())
    if n_drop:
        design.notes.append(f"threat block: {n_drop} dyad-years with missing threat inputs or init21 left out")
    rows = panel.loc[ok, ["ccode1", "ccode2", "year", "region1"]].reset_index(drop=True)
    if rows.empty:
        raise ModelError(f"threat block: no dyad-year has every input of sources {list(spec.threat.sources)}")
    feats = feats.loc[ok].reset_index(drop=True)
    composites = []
    transform: dict[str, dict] = {}
    for source in spec.threat.sources:
        parts = []
        for feature, sign in THREAT_SOURCES[source]:
            z, mean, sd = _zscore(feats[feature].to_numpy())
            if sd == 0:
                design.notes.append(f"threat input '{feature}' does not vary in this panel: left out")
                continue
            parts.append(sign * z)
            transform[feature] = {"mean": mean, "sd": sd, "sign": sign, "source": source}
        if not parts:
            raise ModelError(f"threat source '{source}': none of its inputs varies in this panel")
        comp, mean, sd = _zscore(np.mean(parts, axis=0))
        transform[f"source:{source}"] = {"mean": mean, "sd": sd}
        composites.append(comp)
    design.threat_X = np.column_stack(composites)
    design.threat_y = panel.loc[ok, "init21"].to_numpy(np.int64)
    design.threat_keys = rows[["ccode1", "ccode2", "year"]].astype("int64")
    design.sources = list(spec.threat.sources)
    design.threat_group, design.threat_groups = _groups(
        spec.threat.group, rows["region1"].to_numpy(), rows["year"].to_numpy()
    )
    if 1 < len(design.threat_groups) < MIN_POOLED_GROUPS:
        # A scale estimated from two groups is its prior: tau_beta and the offsets then trade
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
    sy = rows["year"].to_numpy(np.int64) * 1000 + rows["ccode1"].to_numpy(np.int64)
    uniq, design.threat_sy = np.unique(sy, return_inverse=True)
    design.n_state_years = len(uniq)
    if spec.threat.source_intercepts:
        src = rows["ccode2"].to_numpy(np.int64)
        states, design.threat_src = np.unique(src, return_inverse=True)
        design.source_states = [int(c) for c in states]
        if len(states) < 2:
            design.source_states, design.threat_src = [], None
            design.notes.append("threat block: one threatening state only, no source intercepts")
    design.transform["threat"] = transform
    design.data_rates["init21"] = float(design.threat_y.mean())
    if design.threat_y.sum() == 0:
        raise ModelError("threat block: no militarised dispute initiation (init21 = 1) in this panel")
    return rows


def _alliance_rows(panel: pd.DataFrame, spec: ModelSpec, design: Design) -> pd.DataFrame:
    a = spec.alliance
    outcome_col = {"ally": "ally", "ally_formal": "ally_formal", "pledge": "pledge12"}[a.outcome]
    if outcome_col not in panel.columns:
        raise ModelError(f"alliance outcome '{a.outcome}' needs panel column '{outcome_col}'")
    df = panel.copy()
    df["_y"] = df[outcome_col]
    directed = a.directed or a.outcome == "pledge"
    # With block 3, allied dyads' next years are its outcomes: block 2 keeps onset rows only.
    if a.onset or block2_models_continuation(spec):
        prev = df[["ccode1", "ccode2", "year", "_y"]].copy()
        prev["year"] = prev["year"] + 1
        df = df.merge(prev.rename(columns={"_y": "_prev"}), on=["ccode1", "ccode2", "year"], how="left")
        keep = df["_prev"].eq(0).fillna(False).astype(bool)
        design.ally_onset = True
        design.notes.append(
            f"onset outcome: {int((~keep).sum())} dyad-years allied (or unobserved) the year before left out"
        )
        df = df.loc[keep]
    if not directed:
        p1 = df["power1"].astype("float64").to_numpy()
        p2 = df["power2"].astype("float64").to_numpy()
        by_power = np.where(np.isnan(p1) | np.isnan(p2) | (p1 == p2), np.nan, p1 < p2)
        weaker_first = np.where(np.isnan(by_power), df["ccode1"] < df["ccode2"], by_power == 1)
        df = df.loc[weaker_first.astype(bool)]
        design.notes.append("symmetric outcome: one row per undirected dyad-year, i = weaker state, k = stronger")
    n_before = len(df)
    df = df.loc[df["_y"].notna()]
    if len(df) < n_before:
        design.notes.append(f"alliance block: {n_before - len(df)} dyad-years with missing outcome left out")
    if df.empty:
        raise ModelError(f"alliance block: no dyad-year has the outcome '{outcome_col}'")
    return df.reset_index(drop=True)


def _observed_factor(df: pd.DataFrame, factor: str, weak_median: pd.Series | None) -> np.ndarray:
    if factor == "strength_i":
        return df["power1"].astype("float64").to_numpy()
    if factor == "strength_k":
        return df["power2"].astype("float64").to_numpy()
    if factor == "major_i":
        return df["major1"].astype("float64").to_numpy()
    if factor == "major_k":
        return df["major2"].astype("float64").to_numpy()
    if factor == "weak_i":
        median = df["year"].map(weak_median).astype("float64").to_numpy()
        power = df["power1"].astype("float64").to_numpy()
        weak = ((df["major1"].astype("float64").to_numpy() == 0) & (power < median)).astype(float)
        return np.where(np.isnan(power), np.nan, weak)
    if factor == "ideo_sim":
        return df["ideo_sim"].astype("float64").to_numpy()
    if factor == "bipolar":
        y = df["year"].to_numpy()
        return ((y >= BIPOLAR_YEARS[0]) & (y <= BIPOLAR_YEARS[1])).astype(float)
    if factor == "illegit_i":
        return df["illegit1"].astype("float64").to_numpy()
    if factor == "contig":
        return df["contiguous"].astype("float64").to_numpy()
    if factor == "neighbour2":
        return df["neighbour2"].astype("float64").to_numpy()
    if factor == "aid":
        return np.fmax(df["aid21"].astype("float64").to_numpy(), df["aid12"].astype("float64").to_numpy())
    if factor == "democracy_k":
        return df["democracy2"].astype("float64").to_numpy()
    if factor == "penetration":
        parts = []
        if "igos" in df:
            parts.append(_zscore_nan(np.log1p(df["igos"].astype("float64").to_numpy())))
        if "trade_dep" in df:
            parts.append(_zscore_nan(df["trade_dep"].astype("float64").to_numpy()))
        return np.nanmean(np.column_stack(parts), axis=1) if len(parts) > 1 else parts[0]
    raise KeyError(factor)


def _zscore_nan(x: np.ndarray) -> np.ndarray:
    sd = np.nanstd(x)
    return (x - np.nanmean(x)) / (sd if sd > 0 else 1.0)


def _missing_columns(factor: str, columns) -> list[str]:
    if factor == "penetration":
        return [] if ("igos" in columns or "trade_dep" in columns) else ["igos or trade_dep"]
    return [c for c in OBSERVED_FACTOR_COLUMNS.get(factor, ()) if c not in columns]


def _build_alliance(
    panel: pd.DataFrame, spec: ModelSpec, design: Design, threat_rows: pd.DataFrame | None, plan=None
) -> None:
    a = spec.alliance
    df = _alliance_rows(panel, spec, design)
    # Which terms can be built from this panel?
    terms = []
    for term in a.terms:
        factors = [f for f in ALLIANCE_TERMS[term] if f not in LATENT_FACTORS]
        missing = [c for f in factors for c in _missing_columns(f, df.columns)]
        if missing:
            reason = f"panel has no column {missing[0]}"
            if not a.drop_unavailable:
                raise ModelError(f"term '{term}' needs data this panel lacks: {reason}")
            design.dropped_terms[term] = reason
            continue
        terms.append(term)
    # Median capability per year among states, for weak_i.
    states = panel.drop_duplicates(["ccode1", "year"])
    weak_median = states.groupby("year")["power1"].median()
    factor_cache: dict[str, np.ndarray] = {}

    def factor(name: str) -> np.ndarray:
        if name not in factor_cache:
            factor_cache[name] = _observed_factor(df, name, weak_median)
        return factor_cache[name]

    needed = {f for t in terms for f in ALLIANCE_TERMS[t] if f not in LATENT_FACTORS | {"support", "support_sq"}}
    needed |= set(a.controls)
    ok = np.ones(len(df), dtype=bool)
    for f in sorted(needed):
        ok &= ~np.isnan(factor(f))
    # Latent links: partner threat row and state-year of i.
    uses_latent = any(LATENT_FACTORS.intersection(ALLIANCE_TERMS[t]) for t in terms)
    if threat_rows is not None:
        threat_index = pd.Index(_key(threat_rows["ccode1"], threat_rows["ccode2"], threat_rows["year"]))
        partner = threat_index.get_indexer(_key(df["ccode1"], df["ccode2"], df["year"]))
        sy_index = pd.Index(np.unique(threat_rows["year"].to_numpy(np.int64) * 1000 + threat_rows["ccode1"]))
        ally_sy = sy_index.get_indexer(df["year"].to_numpy(np.int64) * 1000 + df["ccode1"].to_numpy(np.int64))
        if uses_latent:
            ok &= (partner >= 0) & (ally_sy >= 0)
    n_drop = int((~ok).sum())
    if n_drop:
        design.notes.append(f"alliance block: {n_drop} dyad-years with missing covariates or threat left out")
    population_rate = float(df["_y"].to_numpy(np.int64)[ok].mean()) if ok.any() else 0.0
    cc_offset = 0.0
    if plan is not None:
        from walt_bayes.model.casecontrol import offset_for, sample_alliance

        ok, r0, design.case_control["alliance"] = sample_alliance(
            df["_y"].to_numpy(np.int64), ok, plan, df[["ccode1", "ccode2", "year"]]
        )
        cc_offset = offset_for(r0)
    df = df.loc[ok].reset_index(drop=True)
    factor_cache = {k: v[ok] for k, v in factor_cache.items()}
    if df.empty:
        raise ModelError("alliance block: no dyad-year has every covariate the spec needs")
    design.ally_keys = df[["ccode1", "ccode2", "year"]].astype("int64").reset_index(drop=True)
    design.ally_y = df["_y"].to_numpy(np.int64)
    design.data_rates["alliance"] = population_rate  # the population's rate (before any case-control sample)
    n = len(df)
    # Grouping, dyads, years.
    design.ally_group, design.ally_groups = _groups(a.group, df["region1"].to_numpy(), df["year"].to_numpy())
    lo = np.minimum(df["ccode1"], df["ccode2"]).astype(int).astype(str)
    hi = np.maximum(df["ccode1"], df["ccode2"]).astype(int).astype(str)
    dyad_labels = (lo + "-" + hi) if not (a.directed or a.outcome == "pledge") else (
        df["ccode1"].astype(int).astype(str) + ">" + df["ccode2"].astype(int).astype(str)
    )
    design.dyads, design.ally_dyad = _codes(dyad_labels.to_numpy())
    years, design.ally_year = np.unique(df["year"].to_numpy(np.int64), return_inverse=True)
    design.years = [int(y) for y in years]
    design.ally_offset = np.zeros(n)
    if cc_offset:
        design.ally_cc_offset = np.full(n, cc_offset)
    # Controls, standardised.
    controls = []
    ctrans = {}
    for c in a.controls:
        z, mean, sd = _zscore(factor(c))
        if sd == 0:
            design.notes.append(f"control '{c}' does not vary in this panel: left out")
            continue
        controls.append(z)
        design.control_names.append(c)
        ctrans[c] = {"mean": mean, "sd": sd}
    design.controls = np.column_stack(controls) if controls else np.zeros((n, 0))
    design.transform["controls"] = ctrans
    # Threat links.
    if threat_rows is not None:
        design.partner_idx = partner[ok].astype(np.int64)
        design.ally_sy = ally_sy[ok].astype(np.int64)
        triad_targets = _build_triads(panel, df, spec, design, threat_index)
    # Observed parts of terms: continuous factors z-scored, binary kept 0/1.
    support = _support(design, triad_targets, n) if any(
        {"support", "support_sq"} & set(ALLIANCE_TERMS[t]) for t in terms
    ) else None
    observed_cols = []
    latent_of = []
    constant_factor: dict[str, str] = {}
    for term in terms:
        col = np.ones(n)
        latent = ""
        factors = ALLIANCE_TERMS[term]
        for f in factors:
            if len(factors) > 1 and f in OBSERVED_FACTOR_COLUMNS and f not in ("support", "support_sq"):
                # An interaction with a factor that never varies (e.g. bipolar in a panel
                # of Cold-War years) duplicates its main term: not identified.
                if np.nanstd(factor(f)) == 0:
                    constant_factor[term] = f
            if f in LATENT_FACTORS:
                latent = f
            elif f == "support":
                col = col * support
            elif f == "support_sq":
                col = col * support**2
            elif f in BINARY_FACTORS:
                col = col * factor(f)
            else:
                col = col * _zscore(factor(f))[0]
        observed_cols.append(col)
        latent_of.append(latent)
    design.terms = []
    design.term_latent = []
    keep_cols = []
    centers, scales = [], []
    tau_hat = _plugin_tau(design) if design.has_threat else None
    latent_hat = design.latent_factors(tau_hat) if design.has_threat and design.ally_y is not None else {}
    for term, col, latent in zip(terms, observed_cols, latent_of, strict=True):
        raw = col * latent_hat[latent][0] if latent else col
        mean, sd = float(np.mean(raw)), float(np.std(raw))
        if not np.isfinite(sd) or sd == 0 or term in constant_factor:
            reason = (
                f"cannot be estimated: its factor '{constant_factor[term]}' does not vary in this panel"
                if term in constant_factor else "does not vary in this panel"
            )
            if not a.drop_unavailable:
                raise ModelError(f"term '{term}' {reason}")
            design.dropped_terms[term] = reason
            continue
        design.terms.append(term)
        design.term_latent.append(latent)
        keep_cols.append(col)
        centers.append(mean)
        scales.append(sd)
    design.term_observed = np.column_stack(keep_cols) if keep_cols else np.zeros((n, 0))
    design.term_center = np.asarray(centers, dtype=float)
    design.term_scale = np.asarray(scales, dtype=float)
    design.transform["terms"] = {
        t: {"center": c, "scale": s, "latent": lat}
        for t, c, s, lat in zip(design.terms, centers, scales, design.term_latent, strict=True)
    }
    if design.dropped_terms:
        design.notes.append(
            "terms left out (no data): " + ", ".join(f"{t} ({r})" for t, r in design.dropped_terms.items())
        )


def _codes(labels: np.ndarray) -> tuple[list[str], np.ndarray]:
    uniq, inv = np.unique(labels.astype(str), return_inverse=True)
    return [str(u) for u in uniq], inv.astype(np.int64)


def _plugin_tau(design: Design) -> np.ndarray:
    """Threat probabilities from a pooled maximum-likelihood logit of block 1.

    Used only to fix constants that put latent terms on a standardised scale;
    the model itself estimates threat jointly.
    """
    w = logistic_mle(design.threat_X, design.threat_y.astype(float))
    return _expit(w[0] + design.threat_X @ w[1:])


def _relevant_pairs(panel: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """(x, j, year) such that threat source j is relevant to state x."""
    rel = np.zeros(len(panel), dtype=bool)
    r = spec.alliance.relevance
    if "contiguous" in r:
        rel |= panel["contiguous"].fillna(0).to_numpy() == 1
    if "major" in r:
        rel |= panel["major2"].fillna(0).to_numpy() == 1
    if "rival" in r:
        rel |= panel["rivalry"].fillna(0).to_numpy() == 1
    out = panel.loc[rel, ["ccode1", "ccode2", "year"]].rename(columns={"ccode1": "x", "ccode2": "j"})
    return out.astype("int64")


def _build_triads(
    panel: pd.DataFrame, df: pd.DataFrame, spec: ModelSpec, design: Design, threat_index: pd.Index
) -> np.ndarray:
    """Sparse triads (alliance row, j): the third states whose threat i and k may share."""
    rel = _relevant_pairs(panel, spec)
    rows = pd.DataFrame(
        {"row": np.arange(len(df)), "i": df["ccode1"].to_numpy(np.int64),
         "k": df["ccode2"].to_numpy(np.int64), "year": df["year"].to_numpy(np.int64)}
    )
    via_i = rows.merge(rel, left_on=["i", "year"], right_on=["x", "year"])
    via_k = rows.merge(rel, left_on=["k", "year"], right_on=["x", "year"])
    tri = pd.concat([via_i, via_k], ignore_index=True)[["row", "i", "k", "j", "year"]]
    tri = tri.loc[(tri["j"] != tri["i"]) & (tri["j"] != tri["k"])].drop_duplicates(["row", "j"])
    ji = threat_index.get_indexer(_key(tri["i"], tri["j"], tri["year"]))
    jk = threat_index.get_indexer(_key(tri["k"], tri["j"], tri["year"]))
    ok = (ji >= 0) & (jk >= 0)
    if (~ok).any():
        design.notes.append(f"shared threat: {int((~ok).sum())} triads with a missing threat row left out")
    tri = tri.loc[ok]
    design.triad_ally = tri["row"].to_numpy(np.int64)
    design.triad_ji = ji[ok].astype(np.int64)
    design.triad_jk = jk[ok].astype(np.int64)
    # Persistent aggression (COND-4): j is a rival of i or k, or initiated repeated disputes.
    riv = panel.loc[panel["rivalry"].fillna(0) == 1, ["ccode1", "ccode2", "year"]]
    riv_keys = pd.Index(_key(riv["ccode1"], riv["ccode2"], riv["year"]))
    rival_i = pd.Index(_key(tri["i"], tri["j"], tri["year"])).isin(riv_keys)
    rival_k = pd.Index(_key(tri["k"], tri["j"], tri["year"])).isin(riv_keys)
    past = panel.drop_duplicates(["ccode2", "year"]).set_index(["ccode2", "year"])["init2_past10"]
    j_past = past.reindex(pd.MultiIndex.from_arrays([tri["j"], tri["year"]])).to_numpy(dtype=float)
    repeated = np.nan_to_num(j_past) >= PERSISTENT_DISPUTES
    design.triad_persistent = np.asarray(rival_i | rival_k | repeated, dtype=bool)
    persistent = panel.loc[
        (panel["rivalry"].fillna(0) == 1) | (panel["init2_past10"].fillna(0) >= PERSISTENT_DISPUTES),
        ["ccode1", "ccode2", "year"],
    ].rename(columns={"ccode1": "x", "ccode2": "j"})
    design.dense = dense_layout(design.threat_keys, design.ally_keys, rel, persistent, len(tri))
    design.transform["triads"] = {
        "n": len(tri), "relevance": list(spec.alliance.relevance),
        "method": "dense per-year matrix products" if design.dense is not None else "sparse triads",
    }
    # Expected allied support (COND-3): how many states each source threatens.
    targets = rel.groupby(["j", "year"]).size()
    n_targets = targets.reindex(pd.MultiIndex.from_arrays([tri["j"], tri["year"]])).to_numpy(dtype=float)
    return np.nan_to_num(n_targets) - 2  # other states besides i and k


def _support(design: Design, triad_targets: np.ndarray, n: int) -> np.ndarray:
    """Mean number of other states threatened by the shared sources, z-scored (COND-3)."""
    if design.triad_ally is None or len(design.triad_ally) == 0:
        return np.zeros(n)
    total = np.bincount(design.triad_ally, weights=triad_targets, minlength=n)
    count = np.bincount(design.triad_ally, minlength=n)
    mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return _zscore(mean)[0]
