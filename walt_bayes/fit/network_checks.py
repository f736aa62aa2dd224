"""Posterior predictive checks on the alliance network (checks a wrong model misses).

The alliance rate overall, by year and by region (:mod:`walt_bayes.report.quantities`)
says little about *which* states ally.  These checks compute four statistics of the
alliance network on the observed data and on every replicated data set (the fit's
``posterior_predictive`` draws, thinned to at most :data:`MAX_DRAWS`), and flag an
observed value outside the central :data:`~walt_bayes.fit.diagnostics.CI_PROB`
predictive interval:

persistence, triangle closure, degree distribution
    as :mod:`walt_bayes.fit.network_stats` defines them;
alliances among hostile pairs
    Among allied undirected dyad-years, the share whose pair is hostile: an ongoing
    strategic rivalry (``rivalry == 1``) or a militarised dispute initiated by either state
    against the other in the previous ten years (``init21_past10 > 0`` in either directed
    row).  Needs the panel: the fit's design does not keep these columns.

Rows and fits
-------------
Alliance rows are undirected dyad-years (weaker state *i*, stronger *k*); the network of
year *t* joins the two states of every modelled row of *t*.  A status fit (alliance rows
are every dyad-year) replicates the whole network in each draw.  A fit whose alliance
block models onset only and whose duration block models continuation (``full``) is
checked **one step ahead**: a row whose dyad was not allied in *t* − 1 takes the replicated
``alliance``, a continuing row (the spell-year *t* − 1 of block 3) takes
``1 − alliance_end``; persistence is then conditioned on the *observed* status in *t* − 1.
Dyad-years modelled by neither block (a dyad's first observed year, continuing rows the
duration block left out) are left out of both the observed and the replicated networks.
An onset fit without a duration block gets only the hostile-pair check (on new
alliances); a case-control sample or a directed outcome gets none (each skipped check
says why).

The numpy core (:func:`walt_bayes.fit.network_stats.network_statistics`,
:func:`network_checks`) works on arrays of 0/1 outcomes; :func:`fit_network_checks` reads them
from a loaded fit.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from walt_bayes.fit.diagnostics import CI_PROB
from walt_bayes.fit.draws import stack_draws, thin_index
from walt_bayes.fit.fitfile import fit_meta, fit_spec
from walt_bayes.fit.network_stats import (
    CHECKS,
    degree_histogram,
    degrees,
    hostile_share,
    network_statistics,
    pair_keys,
    persistence,
    previous_rows,
    transitivity,
)
from walt_bayes.model.duration import block2_models_continuation

#: Replicated data sets used at most (evenly spaced draws).
MAX_DRAWS = 1000
#: Budget of the triangle count (draws × Σ_t n_t³) above which fewer draws are used.
TRIANGLE_BUDGET = 2.5e10
#: Fewest draws the budget leaves.
MIN_DRAWS = 100
#: Largest degree shown on its own in the degree distribution (higher ones pooled).
MAX_DEGREE_BIN = 20
#: Bins of the stored histogram of each check's replicated values.
HIST_BINS = 24
#: Version of the stored ``network_checks`` attribute.
VERSION = 1

HOSTILE_DEFINITION = (
    "hostile pair: an ongoing strategic rivalry (rivalry == 1) or a militarised dispute initiated by either "
    "state against the other in the previous ten years (init21_past10 > 0 in either directed row)"
)

def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _fmt(name: str, x: float | None, digits: int = 2) -> str:
    if x is None:
        return "n/a"
    return f"{x:.0f}" if name == "degree_max" else f"{x:.{digits}f}"


def _digits(name: str, observed: float, lo: float, hi: float) -> int:
    """Decimals that tell the observed value from the interval's ends (2, or more where 2 would tie)."""
    for digits in (2, 3, 4):
        if all(_fmt(name, observed, digits) != _fmt(name, end, digits) for end in (lo, hi) if end != observed):
            return digits
    return 4


def summarise(name: str, observed: float, replicated: np.ndarray, prob: float = CI_PROB,
              n: int | None = None) -> dict:
    """One check: observed value, replicated mean, central ``prob`` interval, flag and message.

    ``outside`` is True when the observed value lies outside the interval (ties at its
    ends are inside).  NaN replicates (a draw without any allied pair to condition on) are
    left out and counted in ``n_undefined``.
    """
    rep = np.asarray(replicated, dtype=float)
    ok = rep[np.isfinite(rep)]
    label, above, below = CHECKS[name]
    row: dict = {"name": name, "label": label, "observed": _num(observed), "n": n,
                 "draws": len(rep), "n_undefined": len(rep) - len(ok), "prob": prob}
    if len(ok) == 0 or not np.isfinite(observed):
        row |= {"mean": _num(ok.mean()) if len(ok) else None, "low": None, "high": None,
                "p_above": None, "outside": False, "hist": None}
        row["message"] = f"{name}: not defined (no allied pair to compute it on)"
        return row
    lo, hi = np.quantile(ok, [(1 - prob) / 2, (1 + prob) / 2])
    outside = bool(observed < lo or observed > hi)
    span = (float(ok.min()), float(ok.max()))
    if np.all(ok == np.round(ok)) and span[1] - span[0] < 4 * HIST_BINS:  # counts (largest degree): one bin each
        span = (span[0] - 0.5, span[1] + 0.5)
        bins = round(span[1] - span[0])
    else:
        bins = HIST_BINS
        span = span if span[1] > span[0] else (span[0] - 0.5, span[0] + 0.5)
    counts, _ = np.histogram(ok, bins=bins, range=span)
    row |= {"mean": float(ok.mean()), "low": float(lo), "high": float(hi),
            "p_above": float((ok > observed).mean()), "outside": outside,
            "hist": {"range": list(span), "counts": counts.astype(int).tolist()}}
    digits = _digits(name, observed, lo, hi)
    where = f"[{_fmt(name, lo, digits)}, {_fmt(name, hi, digits)}]"
    seen = _fmt(name, observed, digits)
    if outside:
        row["message"] = (f"{name}: observed {seen} outside the {prob:.0%} predictive interval {where} — "
                          f"{above if observed > hi else below}")
    else:
        row["message"] = f"{name}: observed {seen} inside the {prob:.0%} predictive interval {where}"
    return row


def network_checks(replicated, observed, lo, hi, year, *, lag=None, hostile=None, prob: float = CI_PROB,
                   only: tuple[str, ...] | None = None) -> dict:
    """Every network check of replicated against observed alliance statuses.

    Parameters
    ----------
    replicated : array_like
        ``(draws, rows)`` 0/1 replicated statuses.
    observed : array_like
        ``(rows,)`` observed statuses.
    lo, hi, year, lag, hostile, only
        As in :func:`network_statistics`.
    prob : float
        Probability of the central predictive interval.

    Returns
    -------
    dict
        ``checks`` (a list of :func:`summarise` rows, in :data:`CHECKS` order) and
        ``degree_distribution`` (share of state-years at each degree: observed, replicated
        mean and central interval; the last bin pools every higher degree), JSON-ready.
    """
    rep = network_statistics(replicated, lo, hi, year, lag=lag, hostile=hostile, only=only)
    obs = network_statistics(observed, lo, hi, year, lag=lag, hostile=hostile, only=only)
    observed = np.asarray(observed)
    counts = {"persistence": None, "triangle_closure": None, "hostile_share": None}
    if "persistence" in obs:
        if lag is None:
            prev = previous_rows(lo, hi, year)
            counts["persistence"] = int(observed[prev[prev >= 0]].sum())
        else:
            counts["persistence"] = int((np.asarray(lag, dtype=float) == 1).sum())
    if "hostile_share" in obs:
        known = ~np.isnan(np.asarray(hostile, dtype=float))
        counts["hostile_share"] = int(observed[known].sum())
    checks = []
    for name in CHECKS:
        if name in rep:
            n = counts.get(name, int(obs["degrees"].shape[1]) if name.startswith("degree") else None)
            checks.append(summarise(name, float(obs[name][0]), rep[name], prob, n=n))
    out: dict = {"checks": checks}
    if "degrees" in rep:
        top = int(min(MAX_DEGREE_BIN, max(1, obs["degrees"].max(initial=0), np.median(rep["degrees"].max(axis=1)))))
        o = degree_histogram(obs["degrees"], top)[0]
        r = degree_histogram(rep["degrees"], top)
        lo_q, hi_q = np.quantile(r, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        out["degree_distribution"] = {
            "degree": list(range(top + 1)), "last_pools_higher": True, "state_years": int(obs["degrees"].shape[1]),
            "observed": o.tolist(), "mean": r.mean(axis=0).tolist(), "low": lo_q.tolist(), "high": hi_q.tolist(),
        }
    return out


def check_lines(result: dict) -> list[tuple[str, bool]]:
    """One ``(line, flagged)`` per check, then one per skipped check (never flagged)."""
    if result.get("error"):
        return [(f"network checks failed: {result['error']}", True)]
    lines = [(row["message"], bool(row["outside"])) for row in result.get("checks", [])]
    lines += [(f"{s['name']}: skipped — {s['reason']}", False) for s in result.get("skipped", [])]
    return lines


# ============================================================================ from a fit
def hostile_pairs(panel: pd.DataFrame, lo, hi, year) -> np.ndarray:
    """1 / 0 / NaN (unknown) per undirected dyad-year: is the pair hostile (:data:`HOSTILE_DEFINITION`)?

    Parameters
    ----------
    panel : pandas.DataFrame
        The directed dyad-year panel (columns ``ccode1, ccode2, year, rivalry, init21_past10``).
    lo, hi, year : array_like
        The dyad-years to look up (either state order).

    A pair is hostile when either directed row shows a rivalry or past initiations; not
    hostile when no row does and every value is known; unknown otherwise (missing values
    or no row in the panel).
    """
    missing = [c for c in ("rivalry", "init21_past10") if c not in panel.columns]
    if missing:
        raise ValueError(f"the panel has no column '{missing[0]}'")
    riv = pd.to_numeric(panel["rivalry"], errors="coerce").to_numpy(float)
    past = pd.to_numeric(panel["init21_past10"], errors="coerce").to_numpy(float)
    frame = pd.DataFrame({
        "key": pair_keys(panel["ccode1"], panel["ccode2"], panel["year"]),
        "pos": (riv == 1) | (past > 0),
        "unknown": np.isnan(riv) | np.isnan(past),
    })
    by = frame.groupby("key").agg(pos=("pos", "any"), unknown=("unknown", "any"))
    value = np.where(by["pos"], 1.0, np.where(by["unknown"], np.nan, 0.0))
    return pd.Series(value, index=by.index).reindex(pair_keys(lo, hi, year)).to_numpy(float)


def _skip_all(out: dict, reason: str, names=None) -> dict:
    out["skipped"] += [{"name": n, "reason": reason} for n in (names or CHECKS)]
    return out


@dataclass
class _Network:
    """The dyad-years a fit's checks cover, with their replicated and observed statuses."""

    lo: np.ndarray
    hi: np.ndarray
    year: np.ndarray
    rep: np.ndarray  # (draws, rows) int8
    obs: np.ndarray  # (rows,) int8
    lag: np.ndarray | None = None  # observed status the year before (one step ahead)
    only: tuple[str, ...] | None = None  # the checks the rows allow (None: every one)


def fit_network_checks(tree: xr.DataTree, panel: pd.DataFrame | None = None, spec=None,
                       max_draws: int = MAX_DRAWS, prob: float = CI_PROB) -> dict:
    """The network checks of a fit, from its posterior predictive alliance draws.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit (loaded, or being assembled by :func:`walt_bayes.fit.run.fit_model`):
        ``constant_data`` (the design's ``ally_*`` keys and, with a duration block,
        ``dur_*``), ``observed_data`` and ``posterior_predictive``; root attrs
        ``spec_toml`` (unless ``spec`` is given) and ``case_control``.
    panel : pandas.DataFrame, optional
        The panel the fit was made on, for the hostile-pair check (skipped without it).
    spec : ModelSpec, optional
        The fit's spec (default: parsed from the tree).
    max_draws : int
        Replicated data sets used at most (evenly spaced; fewer on large panels, see
        :data:`TRIANGLE_BUDGET`).
    prob : float
        Probability of the central predictive interval.

    Returns
    -------
    dict
        JSON-ready: ``version``, ``mode`` (``status``, ``one-step-ahead``, ``onset`` or
        ``none``), ``rows`` (what was checked), ``notes``, ``draws``, ``prob``,
        ``hostile_definition``, ``checks``, ``degree_distribution`` (when computed) and
        ``skipped`` (``name``, ``reason``).
    """
    if spec is None:
        spec = fit_spec(tree)
    out: dict = {"version": VERSION, "mode": "none", "rows": "", "notes": [], "draws": 0, "prob": prob,
                 "hostile_definition": HOSTILE_DEFINITION, "checks": [], "skipped": []}
    reason = _skip_reason(tree, spec)
    if reason is not None:
        return _skip_all(out, reason)
    pp = tree["posterior_predictive"]
    n_total = int(pp.sizes["chain"] * pp.sizes["draw"])
    take = _draws_used(*_ally_keys(tree["constant_data"]), n_total, max_draws)
    net = _network(tree, spec, take, out)
    if net is None:
        return out
    hostile = _hostile(panel, net, out)
    out["draws"] = len(take)
    if len(take) < min(n_total, max_draws):
        out["notes"].append(f"{len(take)} of {n_total} draws used (large networks)")
    out |= network_checks(net.rep, net.obs, net.lo, net.hi, net.year, lag=net.lag, hostile=hostile, prob=prob,
                          only=net.only)
    return out


def _skip_reason(tree: xr.DataTree, spec) -> str | None:
    """Why no check applies to this fit (None when some do)."""
    cc = tree.attrs.get("case_control")
    cc = json.loads(cc) if isinstance(cc, str) else (cc or {})
    if cc.get("used"):
        return ("the alliance rows are a case-control sample: the observed and replicated networks "
                "lack most non-allied dyad-years")
    if spec.alliance.directed or spec.alliance.outcome == "pledge":
        return "directed alliance outcome: the network checks are for undirected alliances"
    if "posterior_predictive" not in tree.children or "alliance" not in tree["posterior_predictive"].data_vars:
        return "the fit stores no posterior predictive alliance draws"
    return None


def _ally_keys(const: xr.DataTree) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two states and the year of every alliance row."""
    return (np.asarray(const["ally_ccode1"].values, np.int64), np.asarray(const["ally_ccode2"].values, np.int64),
            np.asarray(const["ally_year"].values, np.int64))


def _draws_used(lo, hi, year, n_total: int, max_draws: int) -> np.ndarray:
    """Evenly spaced draws: at most ``max_draws``, fewer where the triangle count would pass its budget."""
    cube = sum(len(np.unique(np.concatenate([lo[year == t], hi[year == t]]))) ** 3 for t in np.unique(year))
    budget = max(MIN_DRAWS, int(TRIANGLE_BUDGET // max(cube, 1)))
    return thin_index(n_total, min(max_draws, budget))


def _network(tree: xr.DataTree, spec, take: np.ndarray, out: dict) -> _Network | None:
    """The rows to check and how (``out``'s mode, rows and notes); None when none can be."""
    net = _Network(*_ally_keys(tree["constant_data"]),
                   rep=stack_draws(tree["posterior_predictive"]["alliance"], take).astype(np.int8),
                   obs=np.asarray(tree["observed_data"]["alliance"].values).astype(np.int8))
    continuation = block2_models_continuation(spec)
    if not (spec.alliance.onset or continuation):
        out["mode"] = "status"
        out["rows"] = f"{len(net.obs):,} undirected dyad-years (every alliance row), each draw a whole replicated panel"
        return net
    if continuation and _has_duration_draws(tree):
        return _one_step_ahead(tree, take, net, out)
    out["mode"] = "onset"
    out["rows"] = f"{len(net.obs):,} onset rows (dyads not allied the year before): new alliances only"
    why = ("the alliance rows are onsets only and no duration block replicates the continuing alliances, so "
           "no replicated network holds every alliance")
    out["skipped"] += [{"name": n, "reason": why} for n in CHECKS if n != "hostile_share"]
    net.only = ("hostile_share",)
    return net


def _has_duration_draws(tree: xr.DataTree) -> bool:
    return ("alliance_end" in tree["posterior_predictive"].data_vars and "dur_lo" in tree["constant_data"]
            and "alliance_end" in tree["observed_data"].data_vars)


def _one_step_ahead(tree: xr.DataTree, take: np.ndarray, onset: _Network, out: dict) -> _Network | None:
    """Onset rows (block 2) joined with the continuing rows of block 3: every alliance of each year."""
    const = tree["constant_data"]
    end_rep = stack_draws(tree["posterior_predictive"]["alliance_end"], take).astype(np.int8)
    end_obs = np.asarray(tree["observed_data"]["alliance_end"].values).astype(np.int8)
    dlo = np.asarray(const["dur_lo"].values, np.int64)
    dhi = np.asarray(const["dur_hi"].values, np.int64)
    dyear = np.asarray(const["dur_year"].values, np.int64) + 1  # spell-year t predicts a[t + 1]
    n_onset = len(onset.obs)
    lo, hi = np.concatenate([onset.lo, dlo]), np.concatenate([onset.hi, dhi])
    year = np.concatenate([onset.year, dyear])
    if not pd.Index(pair_keys(lo, hi, year)).is_unique:
        _skip_all(out, "blocks 2 and 3 both model some dyad-year: cannot join them into one network")
        return None
    net = _Network(lo, hi, year, rep=np.concatenate([onset.rep, 1 - end_rep], axis=1),
                   obs=np.concatenate([onset.obs, 1 - end_obs]),
                   lag=np.concatenate([np.zeros(n_onset), np.ones(len(end_obs))]))
    out["mode"] = "one-step-ahead"
    out["rows"] = (f"{len(net.obs):,} undirected dyad-years one step ahead: {n_onset:,} not allied the year before "
                   f"(replicated alliance) and {len(end_obs):,} continuing an alliance (replicated 1 − "
                   "alliance_end)")
    out["notes"].append(
        "one step ahead: each replicated status is drawn given the dyad's observed status the year before, "
        "so persistence is conditioned on the observed alliances of t − 1; dyad-years modelled by neither "
        "block (a dyad's first observed year, continuing rows the duration block left out) are not in the "
        "networks")
    return net


def _hostile(panel: pd.DataFrame | None, net: _Network, out: dict) -> np.ndarray | None:
    """The rows' hostile-pair flags from the panel (None, with the check skipped, without one)."""
    if panel is None:
        out["skipped"].append({"name": "hostile_share", "reason": "needs the panel's rivalry and init21_past10 "
                                                                  "columns, which the fit does not store"})
        return None
    try:
        hostile = hostile_pairs(panel, net.lo, net.hi, net.year)
    except ValueError as err:
        out["skipped"].append({"name": "hostile_share", "reason": str(err)})
        return None
    unknown = int(np.isnan(hostile).sum())
    if unknown:
        out["notes"].append(f"hostile pairs: {unknown:,} dyad-years with unknown rivalry or past "
                            "initiations left out of that check")
    return hostile


def stored_network_checks(tree: xr.DataTree) -> dict | None:
    """The ``network_checks`` root attribute of a fit, decoded (None for a fit made before it)."""
    if tree.attrs.get("network_checks") is None:
        return None
    return dict(fit_meta(tree, "network_checks"))


__all__ = [  # with the statistics of walt_bayes.fit.network_stats, importable from here as before
    "CHECKS",
    "HOSTILE_DEFINITION",
    "check_lines",
    "degree_histogram",
    "degrees",
    "fit_network_checks",
    "hostile_pairs",
    "hostile_share",
    "network_checks",
    "network_statistics",
    "pair_keys",
    "persistence",
    "previous_rows",
    "stored_network_checks",
    "summarise",
    "thin_index",
    "transitivity",
]
