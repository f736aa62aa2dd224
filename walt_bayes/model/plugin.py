"""The pooled plug-in logit of block 1: fixes the constants that standardise latent terms.

The model estimates threat jointly; these maximum-likelihood threat probabilities only set
fixed scales (the alliance terms' centres and SDs, the SD of the duration block's ΔS), so
that every parameter has a prior on a standardised scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from walt_bayes.model.design import Design


def _expit(x: np.ndarray) -> np.ndarray:
    # Not scipy.special.expit: it differs in the last bit for most inputs, which moves the
    # standardising constants and so every draw of a fixed-seed fit.
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


def logistic_mle(
    X: np.ndarray, y: np.ndarray, iters: int = 100, ridge: float = 1e-3, offset: np.ndarray | float = 0.0
) -> np.ndarray:
    """Maximum-likelihood logit by damped Newton steps (a tiny ridge keeps it finite under separation).

    Parameters
    ----------
    X : numpy.ndarray
        Shape (n, p): the predictors (an intercept column is added).
    y : numpy.ndarray
        Shape (n,): 0/1 outcomes.
    iters : int
        Most Newton steps.
    ridge : float
        Penalty ``ridge / 2 · |w|²`` on every coefficient.
    offset : numpy.ndarray or float
        Added to the linear predictor of every row (e.g. the case-control correction
        ``-log(r)`` of :mod:`walt_bayes.model.casecontrol`).

    Returns
    -------
    numpy.ndarray
        The coefficient vector for ``[1, X]``.
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


def plugin_tau(design: Design) -> np.ndarray:
    """Threat probabilities from a pooled maximum-likelihood logit of block 1.

    Parameters
    ----------
    design : Design
        With the threat block built (``threat_X``, ``threat_y``).

    Returns
    -------
    numpy.ndarray
        One probability per threat row.
    """
    w = logistic_mle(design.threat_X, design.threat_y.astype(float))
    return _expit(w[0] + design.threat_X @ w[1:])
