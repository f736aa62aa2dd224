"""The statistics of an alliance network, one value per draw (numpy, no fit needed).

The posterior predictive checks of :mod:`walt_bayes.fit.network_checks` compute these on the
observed alliances and on every replicated data set:

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
    Among allied undirected dyad-years, the share whose pair is hostile (as the caller
    defines it: :func:`walt_bayes.fit.network_checks.hostile_pairs`).

Rows are undirected dyad-years (either state order); statuses are 0/1 arrays of shape
``(draws, rows)`` or ``(rows,)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

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
