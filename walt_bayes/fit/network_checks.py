"""Posterior predictive checks on the alliance network (checks a wrong model misses).

The alliance rate overall, by year and by region (:mod:`walt_bayes.report.quantities`)
says little about *which* states ally.  These checks compute four statistics of the
alliance network on the observed data and on every replicated data set (the fit's
``posterior_predictive`` draws, thinned to at most :data:`MAX_DRAWS`), and flag an
observed value outside the central :data:`~walt_bayes.fit.diagnostics.CI_PROB`
predictive interval:

persistence
    P(allied in *t* | allied in *t* − 1): among the dyads allied in *t* − 1 (both years
    modelled), the share still allied in *t*.
triangle closure
    Transitivity of each year's alliance network, pooled over years: closed allied
    two-paths (``i–k`` and ``k–m`` allied, ``i–m`` allied too) over all allied two-paths,
    ``Σ_t trace(A_t³) / Σ_t Σ_k d_k (d_k − 1)``.
degree distribution
    Over the state-years of the network (each state that appears in a modelled alliance
    row that year, with its number of allies): the mean degree, the largest degree and the
    share of state-years without any ally; and the share of state-years at each degree.
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

The numpy core (:func:`network_statistics`, :func:`network_checks`) works on arrays of
0/1 outcomes; :func:`fit_network_checks` reads them from a loaded fit.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import xarray as xr
from scipy import sparse

from walt_bayes.fit.diagnostics import CI_PROB
from walt_bayes.fit.fitfile import fit_meta

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

#: name -> (label, what an observed value above / below the interval means).
CHECKS: dict[str, tuple[str, str, str]] = {
    "persistence": (
        "persistence P(allied in t | allied in t-1)",
        "the model misses how alliances persist",
        "the model makes alliances more persistent than they are",
    ),
    "triangle_closure": (
        "triangle closure (transitivity of allied two-paths)",
        "allies of allies ally more often than the model predicts (alliance blocs)",
        "the model closes more alliance triangles than the data",
    ),
    "degree_mean": (
        "mean degree (allies per state-year)",
        "states have more allies than the model predicts",
        "states have fewer allies than the model predicts",
    ),
    "degree_max": (
        "largest degree (allies of the best-allied state-year)",
        "the model misses the hub states with many allies",
        "the model gives some state more allies than any has",
    ),
    "degree_zero": (
        "share of state-years without an ally",
        "more states stand without allies than the model predicts",
        "fewer states stand without allies than the model predicts",
    ),
    "hostile_share": (
        "share of alliances among hostile pairs",
        "allied pairs are hostile pairs more often than the model predicts",
        "allied pairs are hostile pairs less often than the model predicts",
    ),
}


# ============================================================================ numpy core
def pair_keys(lo, hi, year) -> np.ndarray:
    """One int64 per undirected dyad-year (COW codes < 1000; order of ``lo``/``hi`` does not matter)."""
    lo, hi = np.asarray(lo, np.int64), np.asarray(hi, np.int64)
    a, b = np.minimum(lo, hi), np.maximum(lo, hi)
    return (np.asarray(year, np.int64) * 1000 + a) * 1000 + b


def previous_rows(lo, hi, year) -> np.ndarray:
    """For each row, the row of the same dyad in the year before (-1 where there is none)."""
    keys = pair_keys(lo, hi, year)
    index = pd.Index(keys)
    if not index.is_unique:
        raise ValueError("network checks: the same undirected dyad-year appears twice")
    return index.get_indexer(keys - 1_000_000).astype(np.int64)


def _as_draws(status) -> np.ndarray:
    status = np.asarray(status)
    return status[None, :] if status.ndim == 1 else status


def persistence(now, before) -> np.ndarray:
    """Share of pairs allied ``before`` that are allied ``now`` (per draw; NaN where none was allied).

    Parameters
    ----------
    now, before : array_like
        0/1 statuses of the same dyads in *t* and *t* − 1, shape ``(draws, pairs)`` or
        ``(pairs,)`` (broadcast against each other).
    """
    now, before = np.broadcast_arrays(_as_draws(now) == 1, _as_draws(before) == 1)
    allied = before.sum(axis=-1, dtype=np.float64)
    kept = (now & before).sum(axis=-1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(allied > 0, kept / np.where(allied > 0, allied, 1.0), np.nan)


def _nodes(lo, hi, year) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """State-year node of each row's two ends, and each node's year."""
    year = np.asarray(year, np.int64)
    ends = np.concatenate([year * 1000 + np.asarray(lo, np.int64), year * 1000 + np.asarray(hi, np.int64)])
    uniq, inv = np.unique(ends, return_inverse=True)
    n = len(year)
    return inv[:n], inv[n:], uniq // 1000


def degrees(status, lo, hi, year) -> np.ndarray:
    """Allies of each state-year (node) in each draw: shape ``(draws, state-years)``.

    Nodes are the states that appear in a row of that year, in the order of
    ``year * 1000 + ccode``.
    """
    status = _as_draws(status)
    a, b, _ = _nodes(lo, hi, year)
    n_rows, n_nodes = len(a), int(max(a.max(initial=-1), b.max(initial=-1)) + 1)
    rows = np.concatenate([np.arange(n_rows), np.arange(n_rows)])
    inc = sparse.csr_matrix((np.ones(2 * n_rows), (rows, np.concatenate([a, b]))), shape=(n_rows, n_nodes))
    return np.asarray((inc.T @ status.T.astype(np.float32)).T).round().astype(np.int64)


def transitivity(status, lo, hi, year, budget_chunk: int = 4_000_000) -> np.ndarray:
    """Closed allied two-paths over allied two-paths, pooled over years (per draw; NaN without two-paths).

    ``Σ_t trace(A_t³) / Σ_t Σ_k d_k (d_k − 1)`` with ``A_t`` the symmetric 0/1 alliance
    matrix of year *t* over the states of its rows and ``d_k`` their degrees.
    """
    status = _as_draws(status)
    n_draws = status.shape[0]
    year = np.asarray(year, np.int64)
    lo, hi = np.asarray(lo, np.int64), np.asarray(hi, np.int64)
    closed = np.zeros(n_draws)
    paths = np.zeros(n_draws)
    for t in np.unique(year):
        rows = np.flatnonzero(year == t)
        codes, ends = np.unique(np.concatenate([lo[rows], hi[rows]]), return_inverse=True)
        i, k = ends[: len(rows)], ends[len(rows):]
        n = len(codes)
        s = status[:, rows].astype(np.float32)
        step = max(1, budget_chunk // max(n * n, 1))
        for d0 in range(0, n_draws, step):
            d1 = min(d0 + step, n_draws)
            adj = np.zeros((d1 - d0, n, n), dtype=np.float32)
            adj[:, i, k] = s[d0:d1]
            adj[:, k, i] = s[d0:d1]
            deg = adj.sum(axis=2, dtype=np.float64)
            paths[d0:d1] += (deg * (deg - 1)).sum(axis=1)
            closed[d0:d1] += np.einsum("dij,dij->d", adj @ adj, adj, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(paths > 0, closed / np.where(paths > 0, paths, 1.0), np.nan)


def hostile_share(status, hostile) -> np.ndarray:
    """Share of allied rows whose pair is hostile (rows with unknown ``hostile``, NaN, left out)."""
    status = _as_draws(status) == 1
    hostile = np.asarray(hostile, dtype=float)
    known = ~np.isnan(hostile)
    allied = status[:, known].sum(axis=1, dtype=np.float64)
    among = status[:, known & (hostile == 1)].sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(allied > 0, among / np.where(allied > 0, allied, 1.0), np.nan)


def degree_histogram(deg: np.ndarray, top: int) -> np.ndarray:
    """Share of state-years with degree 0, 1, …, ``top`` − 1 and ≥ ``top``: shape ``(draws, top + 1)``."""
    deg = np.minimum(np.atleast_2d(deg), top)
    counts = np.stack([np.bincount(row, minlength=top + 1) for row in deg])
    return counts / max(deg.shape[1], 1)


def network_statistics(status, lo, hi, year, *, lag=None, hostile=None,
                       only: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The network statistics of 0/1 alliance statuses, one value per draw.

    Parameters
    ----------
    status : array_like
        ``(draws, rows)`` or ``(rows,)``: 1 where the undirected dyad-year is allied.
    lo, hi, year : array_like
        The rows' two states (either order) and year; each undirected dyad-year once.
    lag : array_like, optional
        Observed status of each row's dyad in *t* − 1 (0/1; negative or NaN: unknown).
        Given, persistence is conditioned on it (one step ahead); otherwise it is
        conditioned on the same draw's status of the dyad's row in *t* − 1.
    hostile : array_like, optional
        1 where the pair is hostile, 0 where not, NaN unknown; without it there is no
        ``hostile_share``.
    only : tuple of str, optional
        Statistics to compute (default: every one that the inputs allow).

    Returns
    -------
    dict of numpy.ndarray
        ``persistence``, ``triangle_closure``, ``degree_mean``, ``degree_max``,
        ``degree_zero``, ``hostile_share`` (each ``(draws,)``) and ``degrees``
        (``(draws, state-years)``).
    """
    status = _as_draws(status)
    want = set(only) if only is not None else set(CHECKS)
    out: dict[str, np.ndarray] = {}
    if "persistence" in want:
        if lag is None:
            prev = previous_rows(lo, hi, year)
            has = prev >= 0
            out["persistence"] = persistence(status[:, has], status[:, prev[has]])
        else:
            lag = np.asarray(lag, dtype=float)
            cont = lag == 1
            out["persistence"] = persistence(status[:, cont], np.ones(int(cont.sum())))
    if "triangle_closure" in want:
        out["triangle_closure"] = transitivity(status, lo, hi, year)
    if want & {"degree_mean", "degree_max", "degree_zero"}:
        deg = degrees(status, lo, hi, year)
        out["degrees"] = deg
        out["degree_mean"] = deg.mean(axis=1)
        out["degree_max"] = deg.max(axis=1, initial=0).astype(float)
        out["degree_zero"] = (deg == 0).mean(axis=1)
    if "hostile_share" in want and hostile is not None:
        out["hostile_share"] = hostile_share(status, hostile)
    return out


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
def _draws(da: xr.DataArray, take: np.ndarray | None) -> np.ndarray:
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    values = da.transpose("chain", "draw", *dims).values.reshape(-1, *[da.sizes[d] for d in dims])
    return values if take is None else values[take]


def thin_index(n: int, max_draws: int) -> np.ndarray:
    """Evenly spaced draws, at most ``max_draws`` of ``n`` (all of them when fewer)."""
    if n <= max_draws:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_draws).round().astype(np.int64))


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
    from walt_bayes.model.duration import block2_models_continuation

    if spec is None:
        from walt_bayes.fit.fitfile import fit_spec

        spec = fit_spec(tree)
    out: dict = {"version": VERSION, "mode": "none", "rows": "", "notes": [], "draws": 0, "prob": prob,
                 "hostile_definition": HOSTILE_DEFINITION, "checks": [], "skipped": []}
    cc = tree.attrs.get("case_control")
    cc = json.loads(cc) if isinstance(cc, str) else (cc or {})
    if cc.get("used"):
        return _skip_all(out, "the alliance rows are a case-control sample: the observed and replicated networks "
                              "lack most non-allied dyad-years")
    if spec.alliance.directed or spec.alliance.outcome == "pledge":
        return _skip_all(out, "directed alliance outcome: the network checks are for undirected alliances")
    if "posterior_predictive" not in tree.children or "alliance" not in tree["posterior_predictive"].data_vars:
        return _skip_all(out, "the fit stores no posterior predictive alliance draws")
    const = tree["constant_data"]
    pp = tree["posterior_predictive"]
    n_total = int(pp.sizes["chain"] * pp.sizes["draw"])
    lo = np.asarray(const["ally_ccode1"].values, np.int64)
    hi = np.asarray(const["ally_ccode2"].values, np.int64)
    year = np.asarray(const["ally_year"].values, np.int64)
    cube = sum(len(np.unique(np.concatenate([lo[year == t], hi[year == t]]))) ** 3 for t in np.unique(year))
    budget = max(MIN_DRAWS, int(TRIANGLE_BUDGET // max(cube, 1)))
    take = thin_index(n_total, min(max_draws, budget))
    rep = _draws(pp["alliance"], take).astype(np.int8)
    obs = np.asarray(tree["observed_data"]["alliance"].values).astype(np.int8)
    lag = None
    only: tuple[str, ...] | None = None
    onset = bool(spec.alliance.onset or block2_models_continuation(spec))
    if not onset:
        out["mode"] = "status"
        out["rows"] = f"{len(obs):,} undirected dyad-years (every alliance row), each draw a whole replicated panel"
    elif (block2_models_continuation(spec) and "alliance_end" in pp.data_vars and "dur_lo" in const
          and "alliance_end" in tree["observed_data"].data_vars):
        end_rep = _draws(pp["alliance_end"], take).astype(np.int8)
        end_obs = np.asarray(tree["observed_data"]["alliance_end"].values).astype(np.int8)
        dlo = np.asarray(const["dur_lo"].values, np.int64)
        dhi = np.asarray(const["dur_hi"].values, np.int64)
        dyear = np.asarray(const["dur_year"].values, np.int64) + 1  # spell-year t predicts a[t + 1]
        n_onset = len(obs)
        lo, hi, year = np.concatenate([lo, dlo]), np.concatenate([hi, dhi]), np.concatenate([year, dyear])
        if not pd.Index(pair_keys(lo, hi, year)).is_unique:
            return _skip_all(out, "blocks 2 and 3 both model some dyad-year: cannot join them into one network")
        rep = np.concatenate([rep, 1 - end_rep], axis=1)
        obs = np.concatenate([obs, 1 - end_obs])
        lag = np.concatenate([np.zeros(n_onset), np.ones(len(end_obs))])
        out["mode"] = "one-step-ahead"
        out["rows"] = (f"{len(obs):,} undirected dyad-years one step ahead: {n_onset:,} not allied the year before "
                       f"(replicated alliance) and {len(end_obs):,} continuing an alliance (replicated 1 − "
                       "alliance_end)")
        out["notes"].append(
            "one step ahead: each replicated status is drawn given the dyad's observed status the year before, "
            "so persistence is conditioned on the observed alliances of t − 1; dyad-years modelled by neither "
            "block (a dyad's first observed year, continuing rows the duration block left out) are not in the "
            "networks")
    else:
        only = ("hostile_share",)
        out["mode"] = "onset"
        out["rows"] = f"{len(obs):,} onset rows (dyads not allied the year before): new alliances only"
        why = ("the alliance rows are onsets only and no duration block replicates the continuing alliances, so "
               "no replicated network holds every alliance")
        out["skipped"] += [{"name": n, "reason": why} for n in CHECKS if n != "hostile_share"]
    hostile = None
    if panel is not None:
        try:
            hostile = hostile_pairs(panel, lo, hi, year)
        except ValueError as err:
            out["skipped"].append({"name": "hostile_share", "reason": str(err)})
        else:
            unknown = int(np.isnan(hostile).sum())
            if unknown:
                out["notes"].append(f"hostile pairs: {unknown:,} dyad-years with unknown rivalry or past "
                                    "initiations left out of that check")
    else:
        out["skipped"].append({"name": "hostile_share", "reason": "needs the panel's rivalry and init21_past10 "
                                                                  "columns, which the fit does not store"})
    out["draws"] = len(take)
    if len(take) < min(n_total, max_draws):
        out["notes"].append(f"{len(take)} of {n_total} draws used (large networks)")
    out |= network_checks(rep, obs, lo, hi, year, lag=lag, hostile=hostile, prob=prob, only=only)
    return out


def stored_network_checks(tree: xr.DataTree) -> dict | None:
    """The ``network_checks`` root attribute of a fit, decoded (None for a fit made before it)."""
    if tree.attrs.get("network_checks") is None:
        return None
    return dict(fit_meta(tree, "network_checks"))
