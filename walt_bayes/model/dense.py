"""Shared threat as batched matrix products, for panels with few states per year.

``S[i,k,t] = sum_j tau[j->i,t] tau[j->k,t] [j relevant to i or k]``.  With
``Tau[t, j, i] = tau[j->i,t]`` (zero where no row) and a relevance mask
``M[t, j, x]``, inclusion–exclusion gives an exact, loop-free form::

    G(A) = (A * Tau)^T (A * Tau)              # per year, over j
    S    = G(1) - G(1 - M)
    S_persistent = G(1) - G(1 - M) - G(1 - P) + G((1 - M)(1 - P))

where ``P[t, j, x]`` marks a persistently aggressive source (rival of x, or
repeated disputes).  The diagonal of ``Tau`` is zero, so ``j = i`` and
``j = k`` drop out by themselves.  For the embedded Middle East panel
(≤ 25 states, 25 years) this is a few hundred thousand flops per gradient
instead of gathering and scattering ~60,000 triads; the global panel, with
~190 states a year, keeps the sparse triads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytensor.tensor as pt

#: Use the dense form when years × states³ is at most this many times the triad count.
DENSE_FLOP_RATIO = 20


@dataclass
class DenseLayout:
    """Positions of threat and alliance rows in per-year state × state matrices."""

    n_years: int
    n_states: int
    threat_t: np.ndarray
    threat_j: np.ndarray  # row of Tau: the threatening state
    threat_i: np.ndarray  # column of Tau: the threatened state
    ally_t: np.ndarray
    ally_i: np.ndarray
    ally_k: np.ndarray
    not_relevant: np.ndarray  # (T, N, N) float: 1 - M
    not_persistent: np.ndarray  # (T, N, N) float: 1 - P

    def tau_matrix(self, tau: np.ndarray) -> np.ndarray:
        """Tau[draw, t, j, i] from per-row threat probabilities (numpy)."""
        tau = np.atleast_2d(tau)
        out = np.zeros((tau.shape[0], self.n_years, self.n_states, self.n_states))
        out[:, self.threat_t, self.threat_j, self.threat_i] = tau
        return out

    def shared(self, tau: np.ndarray, persistent: bool = False) -> np.ndarray:
        """Numpy twin of :func:`shared_tensor`: S (or S_persistent) per alliance row and draw."""
        Tau = self.tau_matrix(tau)

        def gram(mask):
            X = Tau if mask is None else Tau * mask
            return np.einsum("dtji,dtjk->dtik", X, X)

        full = gram(None) - gram(self.not_relevant)
        if persistent:
            both = self.not_relevant * self.not_persistent
            full = full - gram(self.not_persistent) + gram(both)
        return full[:, self.ally_t, self.ally_i, self.ally_k]


def shared_tensor(layout: DenseLayout, tau, persistent: bool = False):
    """PyTensor graph of S (or S_persistent) for a vector ``tau`` of threat probabilities."""
    shape = (layout.n_years, layout.n_states, layout.n_states)
    # Flat 1-D indices: 1-D set/gather ops (and their gradients) are the fast ones.
    threat_flat = np.ravel_multi_index((layout.threat_t, layout.threat_j, layout.threat_i), shape)
    ally_flat = np.ravel_multi_index((layout.ally_t, layout.ally_i, layout.ally_k), shape)
    Tau = pt.zeros(int(np.prod(shape)))[threat_flat].set(tau).reshape(shape)

    def gram(mask):
        X = Tau if mask is None else Tau * mask
        return pt.matmul(X.transpose(0, 2, 1), X)

    full = gram(None) - gram(layout.not_relevant)
    if persistent:
        full = full - gram(layout.not_persistent) + gram(layout.not_relevant * layout.not_persistent)
    return full.reshape((-1,))[ally_flat]


def dense_layout(
    threat_keys: pd.DataFrame,
    ally_keys: pd.DataFrame,
    relevant: pd.DataFrame,
    persistent: pd.DataFrame,
    n_triads: int,
) -> DenseLayout | None:
    """Build the dense layout, or ``None`` when the sparse triads are cheaper.

    Parameters
    ----------
    threat_keys, ally_keys : DataFrame
        ``ccode1, ccode2, year`` of threat rows (threat of ccode2 to ccode1) and alliance rows.
    relevant : DataFrame
        ``x, j, year``: threat source j is relevant to x.
    persistent : DataFrame
        ``x, j, year``: j is persistently aggressive as seen from x.
    n_triads : int
        Number of sparse triads (for the cost comparison).
    """
    years = np.unique(threat_keys["year"].to_numpy())
    states = np.unique(np.concatenate([threat_keys["ccode1"].to_numpy(), threat_keys["ccode2"].to_numpy()]))
    T, N = len(years), len(states)
    if T * N**3 > DENSE_FLOP_RATIO * max(n_triads, 1) or T * N * N > 5_000_000:
        return None
    t_of = {y: n for n, y in enumerate(years)}
    s_of = {c: n for n, c in enumerate(states)}

    def pos(series):
        return np.array([s_of[c] for c in series.to_numpy()], dtype=np.int64)

    def years_of(series):
        return np.array([t_of[y] for y in series.to_numpy()], dtype=np.int64)

    def mask(frame: pd.DataFrame) -> np.ndarray:
        out = np.ones((T, N, N))
        frame = frame.loc[frame["year"].isin(t_of) & frame["x"].isin(s_of) & frame["j"].isin(s_of)]
        out[years_of(frame["year"]), pos(frame["j"]), pos(frame["x"])] = 0.0
        return out

    ally_ok = ally_keys["year"].isin(t_of)
    if not ally_ok.all():
        return None
    return DenseLayout(
        n_years=T,
        n_states=N,
        threat_t=years_of(threat_keys["year"]),
        threat_j=pos(threat_keys["ccode2"]),
        threat_i=pos(threat_keys["ccode1"]),
        ally_t=years_of(ally_keys["year"]),
        ally_i=pos(ally_keys["ccode1"]),
        ally_k=pos(ally_keys["ccode2"]),
        not_relevant=mask(relevant),
        not_persistent=mask(persistent),
    )
