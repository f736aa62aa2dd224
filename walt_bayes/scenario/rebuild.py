"""Rebuild a fit's design arrays from a panel, with the fit's own standardisation constants.

A scenario changes raw panel values; the model sees them only through the design
(:mod:`walt_bayes.model.design`).  This module recomputes, from any panel with the
fit's rows, every design array a scenario input can reach, exactly as
:func:`~walt_bayes.model.design.build_design` computed it but with the constants of
the fit frozen (a scenario moves one state; it does not re-standardise the world):

- threat inputs: each feature ``(raw - mean) / sd`` with the fit's ``transform``, each
  source the mean of its signed features, standardised by the fit's composite constants;
- alliance rows: which state of an undirected dyad-year is ``i`` (the weaker one:
  a change of power can swap the roles, and with them partner threat ``B = tau[k→i]``),
  controls (``transform["controls"]``), the observed part of every term (continuous
  factors standardised with their mean and SD over the fit's alliance rows, recovered
  from the baseline panel, since the design does not store them), the partner and
  state-year links, and the shared-threat triads (sources relevant to either member;
  rivalry, contiguity and repeated disputes decide relevance and persistence);
- the duration block's shared-threat triads (its ``threat_rise`` term).

The baseline panel must rebuild the stored design (checked), so the scenario's
differences come from the scenario's changes only.  Penetration (global panels only),
which the design standardises within the alliance rows, keeps each row's fitted value.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from walt_bayes.model.alliance_rows import observed_factor, observed_term_column
from walt_bayes.model.casecontrol import restrict_relevant
from walt_bayes.model.design import Design, _build_triads, _key, threat_features
from walt_bayes.model.duration import _shared_links
from walt_bayes.scenario.spec import ScenarioError
from walt_bayes.spec import THREAT_SOURCES, ModelSpec

#: Panel columns behind each threat feature (what a touched cell can move).
FEATURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "power2": ("power2",),
    "power_ratio": ("power1", "power2"),
    "contiguous": ("contiguous",),
    "log_capdist": ("log_capdist",),
    "neighbour2": ("neighbour2",),
    "offense2": ("offense2",),
    "log_init2_past10": ("init2_past10",),
    "log_init21_past10": ("init21_past10",),
    "rivalry": ("rivalry",),
}
#: Panel columns behind each observed alliance factor that a scenario input can move.
FACTOR_COLUMNS: dict[str, tuple[str, ...]] = {
    "strength_i": ("power1",),
    "strength_k": ("power2",),
    "weak_i": ("power1",),
    "contig": ("contiguous",),
}
#: Factors whose values the design standardises within the panel and that no input moves.
HELD_FACTORS = frozenset({"penetration"})
#: Tolerance of the check that the baseline panel rebuilds the stored design.
TOLERANCE = 1e-8


@dataclass
class Rebuilt:
    """A copy of the fit's design with its arrays rebuilt from one panel (sparse triads, no dense layout)."""

    design: Design
    threat_pos: np.ndarray  # panel row of each threat row
    ally_pos: np.ndarray  # panel row of each alliance row (in its orientation here)
    flipped: np.ndarray  # alliance rows whose i and k swapped against the fit
    notes: list[str] = field(default_factory=list)


def panel_rows(panel: pd.DataFrame, keys: pd.DataFrame, what: str) -> np.ndarray:
    """Positions in ``panel`` of the directed dyad-years ``keys`` (``ccode1, ccode2, year``)."""
    index = pd.Index(_key(panel["ccode1"], panel["ccode2"], panel["year"]))
    pos = index.get_indexer(_key(keys["ccode1"], keys["ccode2"], keys["year"]))
    if np.any(pos < 0):
        bad = keys.loc[pos < 0].iloc[0]
        raise ScenarioError(
            f"the panel has no row {int(bad['ccode1'])}-{int(bad['ccode2'])} {int(bad['year'])} of the fit's {what}: "
            "is it the data the fit was made on?"
        )
    return pos


def threat_matrix(rows: pd.DataFrame, design: Design) -> np.ndarray:
    """The standardised source composites of threat rows ``rows`` (panel columns) with the fit's constants."""
    feats = threat_features(rows)
    transform = design.transform["threat"]
    out = []
    for source in design.sources:
        parts = []
        for feature, _ in THREAT_SOURCES[source]:
            if feature in transform:  # inputs constant in the fit's panel were left out
                t = transform[feature]
                parts.append(t["sign"] * ((feats[feature].to_numpy() - t["mean"]) / t["sd"]))
        comp = transform[f"source:{source}"]
        out.append((np.mean(parts, axis=0) - comp["mean"]) / (comp["sd"] or 1.0))
    return np.column_stack(out)


class Rebuilder:
    """Rebuilds the fit's design from panels; constants come from the baseline panel.

    Parameters
    ----------
    design : Design
        The fit's design.
    spec : ModelSpec
        The fit's spec.
    baseline : pandas.DataFrame
        The panel the fit was made on.

    Raises
    ------
    ScenarioError
        The baseline panel does not rebuild the stored design (another panel).
    """

    def __init__(self, design: Design, spec: ModelSpec, baseline: pd.DataFrame):
        self.fit, self.spec = design, spec
        self.symmetric = not (spec.alliance.directed or spec.alliance.outcome == "pledge")
        self.threat_index = (
            pd.Index(
                _key(
                    design.threat_keys["ccode1"],
                    design.threat_keys["ccode2"],
                    design.threat_keys["year"],
                )
            )
            if design.has_threat
            else None
        )
        # Standardisation constants the design does not store, and held factors: from the baseline.
        self.constants: dict[str, tuple[float, float]] = {}
        self.held: dict[str, np.ndarray] = {}
        self.frozen = False
        self.baseline = self.build(baseline)
        self.frozen = True
        self._check(self.baseline)

    def _relevant(self, panel: pd.DataFrame) -> pd.DataFrame:
        """The panel blocks 1–2 were built from (politically relevant dyads under case control)."""
        if not self.fit.case_control.get("relevant_dyads"):
            return panel
        return restrict_relevant(panel, self.spec)[0]

    def build(self, panel: pd.DataFrame) -> Rebuilt:
        """The fit's design with every array a scenario input reaches recomputed from ``panel``."""
        panel = panel.reset_index(drop=True)
        rel = self._relevant(panel)
        d = copy.copy(self.fit)
        d.dense = (
            None  # shared threat over the sparse triads, the same code for baseline and scenario
        )
        threat_pos = np.zeros(0, dtype=np.int64)
        if d.has_threat:
            threat_pos = panel_rows(panel, d.threat_keys, "threat rows")
            d.threat_X = threat_matrix(panel.iloc[threat_pos].reset_index(drop=True), d)
        keys, flipped = self._orient(panel)
        d.ally_keys = keys
        ally_pos = panel_rows(panel, keys, "alliance rows")
        df = rel.iloc[panel_rows(rel, keys, "alliance rows")].reset_index(drop=True)
        self._alliance(d, df, rel)
        if d.duration is not None and d.duration.threat_rise:
            d.duration = self._duration(d.duration, panel, rel)
        return Rebuilt(design=d, threat_pos=threat_pos, ally_pos=ally_pos, flipped=flipped)

    def _orient(self, panel: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """Alliance keys with ``i`` the weaker state of each undirected dyad-year (the design's rule)."""
        keys = self.fit.ally_keys.reset_index(drop=True)
        if not self.symmetric:
            return keys, np.zeros(len(keys), dtype=bool)
        rows = panel.iloc[panel_rows(panel, keys, "alliance rows")]
        p1 = rows["power1"].astype("float64").to_numpy()
        p2 = rows["power2"].astype("float64").to_numpy()
        by_power = np.where(np.isnan(p1) | np.isnan(p2) | (p1 == p2), np.nan, p1 < p2)
        weaker_first = np.where(
            np.isnan(by_power), keys["ccode1"] < keys["ccode2"], by_power == 1
        ).astype(bool)
        flipped = ~weaker_first
        out = keys.copy()
        out.loc[flipped, "ccode1"] = keys.loc[flipped, "ccode2"].to_numpy()
        out.loc[flipped, "ccode2"] = keys.loc[flipped, "ccode1"].to_numpy()
        return out, flipped

    # ------------------------------------------------------------------ alliance rows
    def _z(self, name: str, raw: np.ndarray) -> np.ndarray:
        """``raw`` standardised with the baseline's mean and SD over the alliance rows (as ``arrays.zscore``)."""
        if name not in self.constants:
            if self.frozen:  # pragma: no cover - baseline and scenario have the same terms
                raise ScenarioError(f"internal: no standardisation constant for '{name}'")
            sd = float(np.std(raw))
            self.constants[name] = (float(np.mean(raw)), sd if np.isfinite(sd) else 0.0)
        mean, sd = self.constants[name]
        return (raw - mean) / sd if sd else raw - mean

    def _alliance(self, d: Design, df: pd.DataFrame, rel: pd.DataFrame) -> None:
        """Controls, groups, threat links, triads and observed term columns of the alliance rows ``df``."""
        states = rel.drop_duplicates(["ccode1", "year"])
        weak_median = states.groupby("year")["power1"].median()
        cache: dict[str, np.ndarray] = {}

        def factor(name: str) -> np.ndarray:
            if name in HELD_FACTORS and self.frozen:
                return self.held[name]
            if name not in cache:
                cache[name] = observed_factor(df, name, weak_median)
                if name in HELD_FACTORS:
                    self.held[name] = cache[name]
            return cache[name]

        n = len(df)
        controls = d.transform.get("controls", {})
        d.controls = (
            np.column_stack(
                [(factor(c) - controls[c]["mean"]) / controls[c]["sd"] for c in d.control_names]
            )
            if d.control_names
            else np.zeros((n, 0))
        )
        if self.spec.alliance.group == "region":
            where = {g: k for k, g in enumerate(d.ally_groups)}
            d.ally_group = np.array([where.get(str(r), -1) for r in df["region1"]], dtype=np.int64)
            if np.any(d.ally_group < 0):
                raise ScenarioError(
                    "a state changed roles in an alliance row and its region is not one of the fit's"
                )
        support = self._links(d, df, rel) if d.has_threat else np.zeros(n)
        # The observed part of each term as block 2 forms it, standardised with the baseline's constants.
        cols = [observed_term_column(term, factor, self._z, support, n) for term in d.terms]
        d.term_observed = np.column_stack(cols) if cols else np.zeros((n, 0))

    def _links(self, d: Design, df: pd.DataFrame, rel: pd.DataFrame) -> np.ndarray:
        """Partner and state-year links and triads of the alliance rows; returns standardised support."""
        c1, c2 = df["ccode1"].to_numpy(np.int64), df["ccode2"].to_numpy(np.int64)
        year = df["year"].to_numpy(np.int64)
        d.partner_idx = self.threat_index.get_indexer(_key(c1, c2, year)).astype(np.int64)
        sy = d.threat_keys["year"].to_numpy(np.int64) * 1000 + d.threat_keys["ccode1"].to_numpy(
            np.int64
        )
        d.ally_sy = pd.Index(np.unique(sy)).get_indexer(year * 1000 + c1).astype(np.int64)
        if any(d.term_latent) and (np.any(d.partner_idx < 0) or np.any(d.ally_sy < 0)):
            raise ScenarioError(
                "an alliance row whose states changed roles has no threat row for its new "
                "direction (partner threat is undefined there)"
            )
        scratch = Design(threat_keys=d.threat_keys, ally_keys=d.ally_keys)
        targets = _build_triads(rel, df, self.spec, scratch, self.threat_index)
        for name in ("triad_ally", "triad_ji", "triad_jk", "triad_persistent"):
            setattr(d, name, getattr(scratch, name))
        # triads.support before its z-score: mean number of other states the row's shared sources threaten.
        n = len(df)
        total = np.bincount(d.triad_ally, weights=targets, minlength=n)
        count = np.bincount(d.triad_ally, minlength=n)
        raw = (
            np.where(count > 0, total / np.maximum(count, 1), 0.0)
            if len(d.triad_ally)
            else np.zeros(n)
        )
        return self._z("support", raw)

    # ------------------------------------------------------------------ duration block
    def _duration(self, dur, panel: pd.DataFrame, rel: pd.DataFrame):
        """The duration block with its shared-threat triads rebuilt from ``panel``."""
        links, reason = _shared_links(dur.keys, panel, rel, self.spec, self.fit)
        if (
            links is None
            or not links["linked"].all()
            or not np.array_equal(links["s_keys"].to_numpy(), dur.s_keys.to_numpy())
        ):
            raise ScenarioError(
                "the panel does not rebuild the fit's duration block (its change-in-threat "
                f"links){': ' + reason if reason else ''}: is it the data the fit was made on?"
            )
        out = copy.copy(dur)
        out.tri_s, out.tri_ji, out.tri_jk = links["tri_s"], links["tri_ji"], links["tri_jk"]
        return out

    # ------------------------------------------------------------------ check
    def _check(self, base: Rebuilt) -> None:
        """The baseline panel must rebuild the stored design."""
        fit, d = self.fit, base.design
        problems = []
        if fit.has_threat and not np.allclose(d.threat_X, fit.threat_X, rtol=0, atol=TOLERANCE):
            problems.append("threat inputs")
        if base.flipped.any():
            problems.append("which state of a dyad is the weaker")
        for name in ("controls", "term_observed"):
            if not np.allclose(
                getattr(d, name), getattr(fit, name), rtol=0, atol=TOLERANCE, equal_nan=True
            ):
                problems.append(name.replace("_", " "))
        if fit.has_threat:
            if not (
                np.array_equal(d.partner_idx, fit.partner_idx)
                and np.array_equal(d.ally_sy, fit.ally_sy)
            ):
                problems.append("threat links")
            if _triads(d) != _triads(fit):
                problems.append("shared-threat triads")
        if (
            fit.duration is not None
            and fit.duration.threat_rise
            and _triads(d.duration) != _triads(fit.duration)
        ):
            problems.append("duration triads")
        if problems:
            raise ScenarioError(
                f"the panel does not rebuild the fit's design ({', '.join(problems)} differ): "
                "is it the data the fit was made on?"
            )


def _triads(d) -> set[tuple]:
    """A design's (or duration block's) triads as a set, for comparing two builds."""
    if isinstance(d, Design):
        return set(
            zip(
                d.triad_ally.tolist(),
                d.triad_ji.tolist(),
                d.triad_jk.tolist(),
                np.asarray(d.triad_persistent, bool).tolist(),
                strict=True,
            )
        )
    return set(zip(d.tri_s.tolist(), d.tri_ji.tolist(), d.tri_jk.tolist(), strict=True))
