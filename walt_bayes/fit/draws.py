"""Posterior draws as arrays: chain and draw stacked into one axis, thinned one way.

Every table that summarises fewer than all of a fit's draws (marginal effects, the report's
threat tables, scenario predictions) picks them with :func:`thin_index`, so two tables of one
fit asked for the same number of draws summarise the same draws.  The positions are evenly
spaced over the stacked (chain-major) draws and include the first and the last: deterministic,
with no seed, and spread over every chain.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def thin_index(n_total: int, max_draws: int | None) -> np.ndarray:
    """Positions of at most ``max_draws`` draws, evenly spaced over ``n_total`` stacked draws.

    Parameters
    ----------
    n_total : int
        Draws in all (chains × draws per chain).
    max_draws : int or None
        The most draws to keep; ``None`` (or 0) keeps every draw.

    Returns
    -------
    numpy.ndarray
        Increasing int64 positions; ``arange(n_total)`` when no thinning is needed.
    """
    if not max_draws or n_total <= max_draws:
        return np.arange(n_total)
    # linspace steps by at least 1 when max_draws < n_total, so rounding leaves no duplicate.
    return np.unique(np.linspace(0, n_total - 1, max_draws).round().astype(np.int64))


def stack_draws(da: xr.DataArray, index: np.ndarray | None = None) -> np.ndarray:
    """Values of ``da`` with ``chain`` and ``draw`` merged into axis 0 (chain-major).

    Parameters
    ----------
    da : xarray.DataArray
        A variable with ``chain`` and ``draw`` dimensions (posterior, predictive, log-likelihood).
    index : numpy.ndarray, optional
        Keep only these stacked draws (:func:`thin_index`).

    Returns
    -------
    numpy.ndarray
        Shape ``(draws, *other dims)``, in ``da``'s dtype.
    """
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    values = np.asarray(da.transpose("chain", "draw", *dims).values)
    values = values.reshape(-1, *values.shape[2:])
    return values if index is None else values[index]
