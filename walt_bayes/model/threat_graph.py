"""Block 1's linear predictor in the PyTensor graph: group-specific threat weights, source intercepts.

Shared by the joint model (:mod:`walt_bayes.model.build`, the dispute likelihood) and block 3
(:mod:`walt_bayes.model.hazard`, which rebuilds tau for the threat rows its ΔS uses): both build
the same expression, and block 3 reaches it without importing the model builder above it.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

#: Largest group-expanded threat design (rows × groups × sources) kept as a dense matrix.
MAX_EXPANDED_CELLS = 20_000_000


def threat_offset(design, source, rows: np.ndarray | None = None):
    """The source intercept of each threat row (``rows``: a subset, in order), or 0 without them.

    Parameters
    ----------
    design : Design
        Its ``threat_src`` codes the threatening state of each threat row.
    source : TensorVariable or None
        The source intercepts (``source_effect``), None when the model has none.
    rows : numpy.ndarray, optional
        Threat rows to take, in order (default: all).

    Returns
    -------
    TensorVariable or float
        One intercept per row, or ``0.0``.
    """
    if source is None:
        return 0.0
    src = design.threat_src if rows is None else design.threat_src[rows]
    return source[src]


def grouped_linear(design, beta, rows: np.ndarray | None = None):
    """``theta[r] = X[r] . beta[group[r]]`` for group-specific threat weights (``rows``: a subset, in order).

    With few groups, the design is expanded once to ``X ⊗ onehot(group)`` so that
    theta and its gradient are two matrix-vector products; gathering beta rows per
    observation instead costs a scatter-add per source in the gradient (≈3× slower).

    Parameters
    ----------
    design : Design
        Its ``threat_X``, ``threat_group`` and ``threat_groups``.
    beta : TensorVariable
        Threat weights, groups × sources.
    rows : numpy.ndarray, optional
        Threat rows to take, in order (default: all).

    Returns
    -------
    TensorVariable
        theta, one value per row.
    """
    X = design.threat_X if rows is None else design.threat_X[rows]
    group = design.threat_group if rows is None else design.threat_group[rows]
    n, n_src = X.shape
    n_grp = len(design.threat_groups)
    if n * n_src * n_grp <= MAX_EXPANDED_CELLS:
        expanded = np.zeros((n, n_grp * n_src))
        for g in range(n_grp):
            in_group = group == g
            expanded[in_group, g * n_src:(g + 1) * n_src] = X[in_group]
        return pt.as_tensor_variable(expanded) @ beta.flatten()
    # One 1-D gather per source: its gradient is a 1-D scatter-add, where
    # gathering whole rows of beta would need a much slower N-D one.
    Xt = pt.as_tensor_variable(X)
    return sum(Xt[:, s] * beta[:, s][group] for s in range(n_src))


__all__ = ["MAX_EXPANDED_CELLS", "grouped_linear", "threat_offset"]
