"""Block 2 of the design: alliance rows, their observed factors, controls and standardised terms.

A term is a product of factors (:data:`walt_bayes.spec.ALLIANCE_TERMS`): observed ones come
from panel columns (:data:`OBSERVED_FACTOR_COLUMNS`), latent ones (shared, partner, total
threat) from block 1 through the threat links and triads (:mod:`walt_bayes.model.triads`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from walt_bayes.errors import ModelError
from walt_bayes.model.arrays import dyad_year_key, group_index, label_codes, zscore, zscore_nan
from walt_bayes.model.casecontrol import offset_for, sample_alliance
from walt_bayes.model.duration import block2_models_continuation
from walt_bayes.model.plugin import plugin_tau
from walt_bayes.model.triads import build_triads, support
from walt_bayes.spec import ALLIANCE_TERMS, LATENT_FACTORS, ModelSpec

if TYPE_CHECKING:
    from walt_bayes.model.design import Design

#: Years of the bipolar Cold-War system (IDEO-3).
BIPOLAR_YEARS = (1946, 1989)

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

#: Factors computed from the triads, not from panel columns.
_SUPPORT_FACTORS = frozenset({"support", "support_sq"})

#: Factors that are one panel column each, as floats.
_COLUMN_OF = {
    "strength_i": "power1", "strength_k": "power2", "major_i": "major1", "major_k": "major2",
    "ideo_sim": "ideo_sim", "illegit_i": "illegit1", "contig": "contiguous", "neighbour2": "neighbour2",
    "democracy_k": "democracy2",
}


# =============================================================================
# Rows and factors
# =============================================================================


def alliance_rows(panel: pd.DataFrame, spec: ModelSpec, design: Design) -> pd.DataFrame:
    """The panel rows block 2 models, with their outcome in ``_y``.

    Onset rows only when the spec asks for them or block 3 models the continuation years;
    one row per undirected dyad-year (i the weaker state) for a symmetric outcome; rows with
    a missing outcome left out.  Each step adds a note to ``design``.

    Raises
    ------
    ModelError
        The panel lacks the outcome column, or no row has the outcome.
    """
    a = spec.alliance
    outcome_col = {"ally": "ally", "ally_formal": "ally_formal", "pledge": "pledge12"}[a.outcome]
    if outcome_col not in panel.columns:
        raise ModelError(f"alliance outcome '{a.outcome}' needs panel column '{outcome_col}'")
    df = panel.copy()
    df["_y"] = df[outcome_col]
    # With block 3, allied dyads' next years are its outcomes: block 2 keeps onset rows only.
    if a.onset or block2_models_continuation(spec):
        df = _onset_rows(df, design)
    if not (a.directed or a.outcome == "pledge"):
        df = _weaker_first(df)
        design.notes.append("symmetric outcome: one row per undirected dyad-year, i = weaker state, k = stronger")
    n_before = len(df)
    df = df.loc[df["_y"].notna()]
    if len(df) < n_before:
        design.notes.append(f"alliance block: {n_before - len(df)} dyad-years with missing outcome left out")
    if df.empty:
        raise ModelError(f"alliance block: no dyad-year has the outcome '{outcome_col}'")
    return df.reset_index(drop=True)


def _onset_rows(df: pd.DataFrame, design: Design) -> pd.DataFrame:
    """Dyad-years whose dyad was observed not allied the year before."""
    prev = df[["ccode1", "ccode2", "year", "_y"]].copy()
    prev["year"] = prev["year"] + 1
    df = df.merge(prev.rename(columns={"_y": "_prev"}), on=["ccode1", "ccode2", "year"], how="left")
    keep = df["_prev"].eq(0).fillna(False).astype(bool)
    design.ally_onset = True
    design.notes.append(
        f"onset outcome: {int((~keep).sum())} dyad-years allied (or unobserved) the year before left out"
    )
    return df.loc[keep]


def _weaker_first(df: pd.DataFrame) -> pd.DataFrame:
    """The direction with the weaker state as i (lower COW code first on a tie or a missing power)."""
    p1 = df["power1"].astype("float64").to_numpy()
    p2 = df["power2"].astype("float64").to_numpy()
    by_power = np.where(np.isnan(p1) | np.isnan(p2) | (p1 == p2), np.nan, p1 < p2)
    weaker_first = np.where(np.isnan(by_power), df["ccode1"] < df["ccode2"], by_power == 1)
    return df.loc[weaker_first.astype(bool)]


def observed_factor(df: pd.DataFrame, factor: str, weak_median: pd.Series | None) -> np.ndarray:
    """An observed factor of the rows ``df``, as floats (NaN where an input is missing).

    Parameters
    ----------
    df : pandas.DataFrame
        Alliance rows (or any directed dyad-years with the factor's columns).
    factor : str
        A key of :data:`OBSERVED_FACTOR_COLUMNS`.
    weak_median : pandas.Series or None
        Median capability of the states per year (needed for ``weak_i`` only).

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    KeyError
        An unknown factor.
    """
    if factor in _COLUMN_OF:
        return df[_COLUMN_OF[factor]].astype("float64").to_numpy()
    if factor == "weak_i":
        median = df["year"].map(weak_median).astype("float64").to_numpy()
        power = df["power1"].astype("float64").to_numpy()
        weak = ((df["major1"].astype("float64").to_numpy() == 0) & (power < median)).astype(float)
        return np.where(np.isnan(power), np.nan, weak)
    if factor == "bipolar":
        y = df["year"].to_numpy()
        return ((y >= BIPOLAR_YEARS[0]) & (y <= BIPOLAR_YEARS[1])).astype(float)
    if factor == "aid":
        return np.fmax(df["aid21"].astype("float64").to_numpy(), df["aid12"].astype("float64").to_numpy())
    if factor == "penetration":
        parts = []
        if "igos" in df:
            parts.append(zscore_nan(np.log1p(df["igos"].astype("float64").to_numpy())))
        if "trade_dep" in df:
            parts.append(zscore_nan(df["trade_dep"].astype("float64").to_numpy()))
        return np.nanmean(np.column_stack(parts), axis=1) if len(parts) > 1 else parts[0]
    raise KeyError(factor)


def _missing_columns(factor: str, columns) -> list[str]:
    if factor == "penetration":
        return [] if ("igos" in columns or "trade_dep" in columns) else ["igos or trade_dep"]
    return [c for c in OBSERVED_FACTOR_COLUMNS.get(factor, ()) if c not in columns]


class _Factors:
    """Observed factors of the current alliance rows, each computed once.

    A factor is computed on the rows as they are when it is first asked for; :meth:`keep`
    narrows the rows and every factor already computed.
    """

    def __init__(self, df: pd.DataFrame, weak_median: pd.Series):
        self.df = df
        self.weak_median = weak_median
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, name: str) -> np.ndarray:
        if name not in self.cache:
            self.cache[name] = observed_factor(self.df, name, self.weak_median)
        return self.cache[name]

    def keep(self, ok: np.ndarray) -> None:
        self.df = self.df.loc[ok].reset_index(drop=True)
        self.cache = {k: v[ok] for k, v in self.cache.items()}


# =============================================================================
# The block
# =============================================================================


def build_alliance(
    panel: pd.DataFrame, spec: ModelSpec, design: Design, threat_rows: pd.DataFrame | None, plan=None
) -> None:
    """Fill block 2 of ``design``: alliance rows, controls, terms and (with block 1) threat links.

    Parameters
    ----------
    panel : pandas.DataFrame
        The panel blocks 1 and 2 are built from.
    spec : ModelSpec
    design : Design
        With block 1 built when ``threat_rows`` is given.
    threat_rows : pandas.DataFrame or None
        What :func:`walt_bayes.model.threat_rows.build_threat` returned (None: no threat block).
    plan : casecontrol.Plan or None
        Case-control sampling of the alliance rows (:mod:`walt_bayes.model.casecontrol`).

    Raises
    ------
    ModelError
        A term needs data the panel lacks or does not vary (and the spec does not drop
        it), or no row has every covariate the spec needs.
    """
    a = spec.alliance
    df = alliance_rows(panel, spec, design)
    terms = _buildable_terms(spec, df, design)
    # Median capability per year among states, for weak_i.
    states = panel.drop_duplicates(["ccode1", "year"])
    factors = _Factors(df, states.groupby("year")["power1"].median())
    ok = _complete_rows(terms, a.controls, factors, len(df))
    links = None
    if threat_rows is not None:
        links = _threat_links(threat_rows, df)
        if any(LATENT_FACTORS.intersection(ALLIANCE_TERMS[t]) for t in terms):
            ok &= (links["partner"] >= 0) & (links["ally_sy"] >= 0)
    n_drop = int((~ok).sum())
    if n_drop:
        design.notes.append(f"alliance block: {n_drop} dyad-years with missing covariates or threat left out")
    population_rate = float(df["_y"].to_numpy(np.int64)[ok].mean()) if ok.any() else 0.0
    ok, cc_offset = _case_control_sample(df, ok, plan, design)
    factors.keep(ok)
    df = factors.df
    if df.empty:
        raise ModelError("alliance block: no dyad-year has every covariate the spec needs")
    design.ally_keys = df[["ccode1", "ccode2", "year"]].astype("int64").reset_index(drop=True)
    design.ally_y = df["_y"].to_numpy(np.int64)
    design.data_rates["alliance"] = population_rate  # the population's rate (before any case-control sample)
    _index_rows(df, spec, design, cc_offset)
    _set_controls(a.controls, factors, design, len(df))
    triad_targets = None
    if links is not None:
        design.partner_idx = links["partner"][ok].astype(np.int64)
        design.ally_sy = links["ally_sy"][ok].astype(np.int64)
        triad_targets = build_triads(panel, df, spec, design, links["threat_index"])
    needs_support = any(_SUPPORT_FACTORS & set(ALLIANCE_TERMS[t]) for t in terms)
    row_support = support(design, triad_targets, len(df)) if needs_support else None
    columns = _term_columns(terms, factors, row_support, len(df))
    _standardise_terms(spec, design, terms, *columns, len(df))
    if design.dropped_terms:
        design.notes.append(
            "terms left out (no data): " + ", ".join(f"{t} ({r})" for t, r in design.dropped_terms.items())
        )


def _buildable_terms(spec: ModelSpec, df: pd.DataFrame, design: Design) -> list[str]:
    """The spec's terms whose observed factors have their panel columns (others dropped or an error)."""
    a = spec.alliance
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
    return terms


def _complete_rows(terms: list[str], controls, factors: _Factors, n: int) -> np.ndarray:
    """Rows with every observed factor of the terms and every control present."""
    needed = {f for t in terms for f in ALLIANCE_TERMS[t] if f not in LATENT_FACTORS | _SUPPORT_FACTORS}
    needed |= set(controls)
    ok = np.ones(n, dtype=bool)
    for f in sorted(needed):
        ok &= ~np.isnan(factors(f))
    return ok


def _threat_links(threat_rows: pd.DataFrame, df: pd.DataFrame) -> dict:
    """Each alliance row's partner threat row (k → i) and state-year of i (-1 where absent)."""
    threat_index = pd.Index(dyad_year_key(threat_rows["ccode1"], threat_rows["ccode2"], threat_rows["year"]))
    partner = threat_index.get_indexer(dyad_year_key(df["ccode1"], df["ccode2"], df["year"]))
    sy_index = pd.Index(np.unique(threat_rows["year"].to_numpy(np.int64) * 1000 + threat_rows["ccode1"]))
    ally_sy = sy_index.get_indexer(df["year"].to_numpy(np.int64) * 1000 + df["ccode1"].to_numpy(np.int64))
    return {"threat_index": threat_index, "partner": partner, "ally_sy": ally_sy}


def _case_control_sample(df: pd.DataFrame, ok: np.ndarray, plan, design: Design) -> tuple[np.ndarray, float]:
    """The rows kept by the case-control plan (all of ``ok`` without one) and their offset ``-log(r0)``."""
    if plan is None:
        return ok, 0.0
    ok, r0, design.case_control["alliance"] = sample_alliance(
        df["_y"].to_numpy(np.int64), ok, plan, df[["ccode1", "ccode2", "year"]]
    )
    return ok, offset_for(r0)


def _index_rows(df: pd.DataFrame, spec: ModelSpec, design: Design, cc_offset: float) -> None:
    """Group, dyad and year indices of the alliance rows, and their offsets."""
    a = spec.alliance
    design.ally_group, design.ally_groups = group_index(a.group, df["region1"].to_numpy(), df["year"].to_numpy())
    lo = np.minimum(df["ccode1"], df["ccode2"]).astype(int).astype(str)
    hi = np.maximum(df["ccode1"], df["ccode2"]).astype(int).astype(str)
    dyad_labels = (lo + "-" + hi) if not (a.directed or a.outcome == "pledge") else (
        df["ccode1"].astype(int).astype(str) + ">" + df["ccode2"].astype(int).astype(str)
    )
    design.dyads, design.ally_dyad = label_codes(dyad_labels.to_numpy())
    years, design.ally_year = np.unique(df["year"].to_numpy(np.int64), return_inverse=True)
    design.years = [int(y) for y in years]
    design.ally_offset = np.zeros(len(df))
    if cc_offset:
        design.ally_cc_offset = np.full(len(df), cc_offset)


def _set_controls(controls, factors: _Factors, design: Design, n: int) -> None:
    """The controls, z-scored; those that do not vary are left out with a note."""
    columns = []
    ctrans = {}
    for c in controls:
        z, mean, sd = zscore(factors(c))
        if sd == 0:
            design.notes.append(f"control '{c}' does not vary in this panel: left out")
            continue
        columns.append(z)
        design.control_names.append(c)
        ctrans[c] = {"mean": mean, "sd": sd}
    design.controls = np.column_stack(columns) if columns else np.zeros((n, 0))
    design.transform["controls"] = ctrans


def _term_columns(
    terms: list[str], factors: _Factors, row_support: np.ndarray | None, n: int
) -> tuple[list[np.ndarray], list[str], dict[str, str]]:
    """Observed part of each term (continuous factors z-scored, binary kept 0/1).

    Returns the columns, each term's latent factor (``''`` if none) and the terms with a
    factor that never varies (term → that factor).
    """
    observed_cols = []
    latent_of = []
    constant_factor: dict[str, str] = {}
    for term in terms:
        term_factors = ALLIANCE_TERMS[term]
        for f in term_factors:
            if len(term_factors) > 1 and f in OBSERVED_FACTOR_COLUMNS and f not in _SUPPORT_FACTORS:
                # An interaction with a factor that never varies (e.g. bipolar in a panel
                # of Cold-War years) duplicates its main term: not identified.
                if np.nanstd(factors(f)) == 0:
                    constant_factor[term] = f
        observed_cols.append(observed_term_column(term, factors, _zscored, row_support, n))
        latent_of.append(([f for f in term_factors if f in LATENT_FACTORS] or [""])[-1])
    return observed_cols, latent_of, constant_factor


def _zscored(name: str, raw: np.ndarray) -> np.ndarray:
    """``raw`` z-scored over the rows themselves (the fit's own standardisation)."""
    return zscore(raw)[0]


def observed_term_column(
    term: str,
    factor: Callable[[str], np.ndarray],
    standardise: Callable[[str, np.ndarray], np.ndarray],
    row_support: np.ndarray | None,
    n: int,
) -> np.ndarray:
    """The observed part of a term: the product of its observed factors over ``n`` alliance rows.

    The one place this product is written: :func:`build_alliance` forms it with the rows' own
    z-scores, :mod:`walt_bayes.scenario.rebuild` with the fit's frozen constants.  Latent
    factors (shared, partner, total threat) are left to the model; binary factors enter as
    0/1, continuous ones standardised.

    Parameters
    ----------
    term : str
        A key of :data:`walt_bayes.spec.ALLIANCE_TERMS`.
    factor : callable
        ``factor(name)``: an observed factor of the rows (:func:`observed_factor`).
    standardise : callable
        ``standardise(name, raw)``: a continuous factor's values standardised.
    row_support : numpy.ndarray or None
        Standardised expected support of each row (needed by ``support`` terms only).
    n : int
        Number of rows.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` floats.
    """
    col = np.ones(n)
    for f in ALLIANCE_TERMS[term]:
        if f in LATENT_FACTORS:
            continue
        if f == "support":
            col = col * row_support
        elif f == "support_sq":
            col = col * row_support**2
        elif f in BINARY_FACTORS:
            col = col * factor(f)
        else:
            col = col * standardise(f, factor(f))
    return col


def _standardise_terms(
    spec: ModelSpec, design: Design, terms: list[str], observed_cols: list[np.ndarray],
    latent_of: list[str], constant_factor: dict[str, str], n: int,
) -> None:
    """Centre and scale each term (a latent term at the plug-in threat); drop those that cannot vary."""
    design.terms = []
    design.term_latent = []
    keep_cols = []
    centers, scales = [], []
    tau_hat = plugin_tau(design) if design.has_threat else None
    latent_hat = design.latent_factors(tau_hat) if design.has_threat and design.ally_y is not None else {}
    for term, col, latent in zip(terms, observed_cols, latent_of, strict=True):
        raw = col * latent_hat[latent][0] if latent else col
        mean, sd = float(np.mean(raw)), float(np.std(raw))
        if not np.isfinite(sd) or sd == 0 or term in constant_factor:
            reason = (
                f"cannot be estimated: its factor '{constant_factor[term]}' does not vary in this panel"
                if term in constant_factor else "does not vary in this panel"
            )
            if not spec.alliance.drop_unavailable:
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
