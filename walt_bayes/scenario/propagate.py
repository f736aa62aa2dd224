"""Propagate a scenario through the posterior draws: threat, alliance probability, alliance survival.

Nothing is refitted.  For every posterior draw the numpy twin of the model
(:mod:`walt_bayes.model.twin`) evaluates the baseline design and the scenario
design (:mod:`walt_bayes.scenario.rebuild`) with the *same* parameters:

- threat ``tau[j→i,t] = logistic(lambda_0 + x[j→i,t] · beta[g(i)])`` of every threat row
  whose inputs a change touched;
- the alliance probability of every alliance row the change reaches: through shared threat
  ``S`` (any triad of the row uses a touched threat row, so third parties are included),
  partner threat ``B``, total threat ``T``, or its own observed covariates (controls,
  observed parts of terms, which state is the weaker);
- with a duration block, the probability that an alliance alive in a scenario year ``t``
  survives the next :data:`HORIZON` years: ``prod_{u=0}^{4} (1 - h_u)`` with
  ``logit h_u = delta_0 + delta_log_duration·(log(d + u) − c) + delta·X + delta_threat_rise·ΔS_u``.
  Inputs are held at year ``t``: ``X`` keeps its year-``t`` values, the duration grows by
  one each year, and shared threat stays at its year-``t`` level, so ``ΔS_0`` is the
  change from ``t − 1`` to ``t`` (which the scenario moves) and ``ΔS_u = 0`` afterwards.

Both designs go through the same code (sparse triads), so rows a scenario leaves alone,
and every row of an identity scenario, differ by exactly zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from walt_bayes.fit.twin_draws import model_draws, stacked
from walt_bayes.model.design import Design
from walt_bayes.model.twin import CHUNK, LatentOps, alliance_eta, threat_tau
from walt_bayes.scenario.apply import Applied
from walt_bayes.scenario.rebuild import FACTOR_COLUMNS, FEATURE_COLUMNS, Rebuilt
from walt_bayes.spec import ALLIANCE_TERMS

#: Years of alliance survival reported for alliances alive in a scenario year.
HORIZON = 5
#: Draws × threat rows per chunk of draws (memory bound: ~40 MB per array).
CHUNK_CELLS = 5_000_000
#: Channels through which a change reaches an alliance row (the ``channels`` column).
CHANNELS = ("shared", "partner", "total", "covariates", "roles")


@dataclass
class Affected:
    """Rows a scenario reaches: threat rows, alliance rows (with channels), duration spell-years."""

    threat: np.ndarray
    alliance: np.ndarray
    channels: list[str]
    survival: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass
class Propagated:
    """Baseline and scenario draws (draws × rows) of each quantity, for the affected rows."""

    baseline: dict[str, np.ndarray]
    scenario: dict[str, np.ndarray]
    network: pd.DataFrame  # mean tau of every threat row of the scenario years, both designs


def affected_rows(base: Rebuilt, scen: Rebuilt, applied: Applied, years: list[int]) -> Affected:
    """Which threat, alliance and spell-year rows the scenario reaches (see the module docstring)."""
    B, S = base.design, scen.design
    threat = np.zeros(0, dtype=bool)
    if B.has_threat:
        cols = {
            c for f in B.transform["threat"] if f in FEATURE_COLUMNS for c in FEATURE_COLUMNS[f]
        }
        threat = applied.touched_rows(cols)[base.threat_pos] | np.any(
            B.threat_X != S.threat_X, axis=1
        )
    flags = {name: np.zeros(len(B.ally_keys), dtype=bool) for name in CHANNELS}
    flags["roles"] = scen.flipped.copy()
    factors = set(B.control_names) | {f for t in B.terms for f in ALLIANCE_TERMS[t]}
    cols = {c for f in factors & set(FACTOR_COLUMNS) for c in FACTOR_COLUMNS[f]}
    touched = applied.touched_rows(cols)
    flags["covariates"] = (
        touched[base.ally_pos]
        | touched[scen.ally_pos]
        | _differ(B.controls, S.controls)
        | _differ(B.term_observed, S.term_observed)
        | (B.ally_group != S.ally_group)
    )
    latent = {f for f in B.term_latent if f}
    if B.has_threat and latent:
        if "B" in latent:
            flags["partner"] = threat[B.partner_idx] | threat[S.partner_idx]
        if latent & {"S", "S_persistent"}:
            flags["shared"] = _triad_rows(B, S, threat, len(B.ally_keys))
        if "T" in latent:
            sy = (
                np.bincount(B.threat_sy, weights=threat.astype(float), minlength=B.n_state_years)
                > 0
            )
            flags["total"] = sy[B.ally_sy] | sy[S.ally_sy]
    hit = np.logical_or.reduce(list(flags.values()))
    rows = np.flatnonzero(hit)
    channels = [";".join(c for c in CHANNELS if flags[c][r]) for r in rows]
    return Affected(
        threat=np.flatnonzero(threat),
        alliance=rows,
        channels=channels,
        survival=_survival_rows(B, S, threat, years),
    )


def _differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return (
        np.any((a != b) & ~(np.isnan(a) & np.isnan(b)), axis=1)
        if a.shape[1]
        else np.zeros(len(a), bool)
    )


def _triad_frame(
    rows: np.ndarray, ji: np.ndarray, jk: np.ndarray, extra: np.ndarray | None
) -> pd.DataFrame:
    frame = pd.DataFrame({"row": rows, "ji": ji, "jk": jk})
    if extra is not None:
        frame["p"] = np.asarray(extra, dtype=np.int8)
    return frame


def _changed_sets(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """Rows (``row`` values) whose triads differ between two builds."""
    both = a.merge(b, how="outer", indicator=True)
    return np.unique(both.loc[both["_merge"] != "both", "row"].to_numpy(np.int64))


def _triad_rows(B: Design, S: Design, threat: np.ndarray, n: int) -> np.ndarray:
    """Alliance rows whose shared threat a touched threat row or a change of relevance reaches."""
    out = np.zeros(n, dtype=bool)
    for d in (B, S):
        out[d.triad_ally[threat[d.triad_ji] | threat[d.triad_jk]]] = True
    out[
        _changed_sets(
            _triad_frame(B.triad_ally, B.triad_ji, B.triad_jk, B.triad_persistent),
            _triad_frame(S.triad_ally, S.triad_ji, S.triad_jk, S.triad_persistent),
        )
    ] = True
    return out


def _survival_rows(B: Design, S: Design, threat: np.ndarray, years: list[int]) -> np.ndarray:
    """Spell-years alive in a scenario year whose change in shared threat the scenario reaches."""
    dur = B.duration
    if dur is None or not dur.threat_rise:
        return np.zeros(0, dtype=np.int64)
    moved = np.zeros(len(dur.s_keys), dtype=bool)
    for d in (dur, S.duration):
        moved[d.tri_s[threat[d.tri_ji] | threat[d.tri_jk]]] = True
    moved[
        _changed_sets(
            _triad_frame(dur.tri_s, dur.tri_ji, dur.tri_jk, None),
            _triad_frame(S.duration.tri_s, S.duration.tri_ji, S.duration.tri_jk, None),
        )
    ] = True
    at_year = np.isin(dur.keys["year"].to_numpy(), years)
    return np.flatnonzero(at_year & (moved[dur.s_now] | moved[dur.s_prev]))


# ----------------------------------------------------------------------------- draws
def propagate(
    base: Rebuilt,
    scen: Rebuilt,
    affected: Affected,
    posterior: xr.Dataset,
    years: list[int],
    max_draws: int | None = None,
) -> Propagated:
    """Baseline and scenario draws of threat, alliance probability and survival for the affected rows.

    Parameters
    ----------
    base, scen : Rebuilt
        The fit's design rebuilt from the baseline and the scenario panel.
    affected : Affected
        The rows to report (:func:`affected_rows`).
    posterior : xarray.Dataset
        The fit's posterior.
    years : list of int
        The scenario's years (the threat network is summarised for them).
    max_draws : int, optional
        Thin to at most this many draws (:func:`walt_bayes.fit.draws.thin_index`); all by default.
    """
    B, S = base.design, scen.design
    draws = model_draws(posterior, B, max_draws)
    designs = {"baseline": B, "scenario": S}
    subsets = {k: d.subset_alliance(affected.alliance) for k, d in designs.items()}
    needed = {f for f in B.term_latent if f}
    ops = {k: LatentOps(d) for k, d in subsets.items()} if (B.has_threat and needed) else {}
    dur = _duration_draws(posterior, B, draws.index) if len(affected.survival) else None
    in_years = (
        np.flatnonzero(np.isin(B.threat_keys["year"].to_numpy(), years)) if B.has_threat else []
    )
    parts: dict[str, dict[str, list]] = {
        k: {"threat": [], "alliance": [], "survival": []} for k in designs
    }
    sums = {k: np.zeros(len(in_years)) for k in designs}
    # Each chunk holds a few (draws x threat rows) arrays: fewer draws per chunk on large panels.
    chunk = max(
        10, min(CHUNK, int(CHUNK_CELLS // max(len(B.threat_keys) if B.has_threat else 1, 1)))
    )
    for lo in range(0, draws.n, chunk):
        hi = min(lo + chunk, draws.n)
        c = draws.chunk(lo, hi)
        for key, d in designs.items():
            latent, tau = {}, None
            if d.has_threat:
                tau = threat_tau(d, c)
                parts[key]["threat"].append(tau[:, affected.threat])
                sums[key] += tau[:, in_years].sum(axis=0)
                if ops:
                    latent = ops[key].factors(ops[key].prepare(tau), needed)
            parts[key]["alliance"].append(expit(alliance_eta(subsets[key], c, latent)))
            if dur is not None:
                delta = {name: v[lo:hi] for name, v in dur.items()}
                parts[key]["survival"].append(survival(d, delta, tau, affected.survival))
    out = {
        k: {q: np.concatenate(v, axis=0) if v else np.zeros((draws.n, 0)) for q, v in p.items()}
        for k, p in parts.items()
    }
    network = _network(B, in_years, {k: s / max(draws.n, 1) for k, s in sums.items()})
    return Propagated(baseline=out["baseline"], scenario=out["scenario"], network=network)


def _duration_draws(
    posterior: xr.Dataset, design: Design, index: np.ndarray
) -> dict[str, np.ndarray]:
    return {n: stacked(posterior, n, index) for n in design.duration.coefficient_names()}


def survival(
    design: Design, d: dict[str, np.ndarray], tau: np.ndarray | None, rows: np.ndarray
) -> np.ndarray:
    """P(an alliance alive in year t survives the next HORIZON years) for spell-years ``rows`` (draws × rows).

    Inputs held at year ``t`` (module docstring): covariates fixed, duration growing,
    the change in shared threat only in the first year.
    """
    dur = design.duration
    log_d = dur.log_duration[rows]
    center = float(dur.meta.get("log_duration_center", 0.0))
    years_old = np.exp(log_d + center)
    fixed = d["delta_0"][:, None] + np.zeros((1, len(rows)))
    for t, term in enumerate(dur.terms):
        fixed = fixed + d[f"delta_{term}"][:, None] * dur.X[rows, t]
    first = np.zeros_like(fixed)
    if dur.threat_rise:
        first = d["delta_threat_rise"][:, None] * dur.delta_shared(tau)[:, rows]
    alive = np.ones_like(fixed)
    for u in range(HORIZON):
        log_term = log_d if u == 0 else np.log(years_old + u) - center
        eta = fixed + d["delta_log_duration"][:, None] * log_term + (first if u == 0 else 0.0)
        alive = alive * (1.0 - expit(eta))
    return alive


def _network(design: Design, rows, means: dict[str, np.ndarray]) -> pd.DataFrame:
    """Posterior mean threat of every threat row of the scenario years, baseline and scenario."""
    if not design.has_threat:
        return pd.DataFrame(columns=["source", "target", "year", "baseline_mean", "scenario_mean"])
    keys = design.threat_keys.iloc[rows]
    return pd.DataFrame(
        {
            "source": keys["ccode2"].to_numpy(np.int64),
            "target": keys["ccode1"].to_numpy(np.int64),
            "year": keys["year"].to_numpy(np.int64),
            "baseline_mean": means["baseline"],
            "scenario_mean": means["scenario"],
        }
    )
