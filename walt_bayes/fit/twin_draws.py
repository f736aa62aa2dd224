"""The posterior draws the model's numpy twin (:mod:`walt_bayes.model.twin`) reads.

:func:`model_draws` collects every parameter of blocks 1–2 that a design uses, chain and draw
stacked into one axis and thinned with :func:`walt_bayes.fit.draws.thin_index` (so two
summaries of one fit asked for the same number of draws use the same draws), as the dict of
arrays that the twin's functions take.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from walt_bayes.fit.draws import stack_draws, thin_index
from walt_bayes.model.design import Design

#: Default number of posterior draws used for marginal effects (evenly thinned).
MAX_DRAWS = 1000
#: Random effects a fit may or may not have (and fits of older versions had in other forms).
_OPTIONAL = ("dyad_effect", "sigma_dyad", "z_dyad", "sigma_alpha", "z_alpha", "sigma_year", "z_year",
             "year_effect")


def stacked(post: xr.Dataset, name: str, index: np.ndarray | None = None) -> np.ndarray:
    """Draws of ``name`` as float, chain and draw stacked into the leading axis (optionally a subset).

    Parameters
    ----------
    post : xarray.Dataset
        A posterior (``chain``, ``draw``, …).
    name : str
        The variable.
    index : numpy.ndarray, optional
        Keep only these stacked draws (:func:`walt_bayes.fit.draws.thin_index`).

    Returns
    -------
    numpy.ndarray
        ``(draws, *other dims)``, float64.
    """
    return np.asarray(stack_draws(post[name], index), dtype=float)


def n_samples(post: xr.Dataset) -> int:
    """Draws in all: chains × draws per chain."""
    return int(post.sizes["chain"] * post.sizes["draw"])


@dataclass
class Draws:
    """The posterior draws the alliance and threat equations need, stacked and thinned."""

    n_total: int
    index: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Draws kept."""
        return len(self.index)

    def chunk(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        """The kept draws ``lo:hi`` of every variable."""
        return {k: v[lo:hi] for k, v in self.values.items()}


def _required(design: Design) -> list[str]:
    """The variables of blocks 1–2 that every posterior of ``design`` has."""
    names = ["mu_alpha"] + [f"gamma_{t}" for t in design.terms] + [f"control_{c}" for c in design.control_names]
    if design.has_threat:
        names += ["lambda_0"] + [f"beta_{s}" for s in design.sources]
        if design.source_states:
            names.append("source_effect")
    return names


def _beta_in_design_order(post: xr.Dataset, design: Design, beta: np.ndarray) -> np.ndarray:
    """Stacked ``beta`` draws as ``(draw, threat_group, source)`` in the design's source order."""
    da = post["beta"]
    if "source" not in da.dims:
        return beta
    order = [list(map(str, da["source"].values)).index(s) for s in design.sources]
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    beta = beta.take(order, axis=1 + dims.index("source"))
    return beta.transpose(0, 2, 1) if dims.index("source") == 0 else beta


def model_draws(post: xr.Dataset, design: Design, max_draws: int | None = MAX_DRAWS) -> Draws:
    """Collect the stacked, thinned draws of every parameter of blocks 1–2 that the design uses.

    Parameters
    ----------
    post : xarray.Dataset
        The fit's posterior.
    design : Design
        The design the fit was made from.
    max_draws : int or None
        Thin to at most this many draws (:func:`walt_bayes.fit.draws.thin_index`); None keeps all.

    Returns
    -------
    Draws

    Raises
    ------
    KeyError
        The posterior lacks a parameter the design needs (fit and design disagree).
    """
    n_total = n_samples(post)
    index = thin_index(n_total, max_draws)
    names = _required(design)
    optional = [*_OPTIONAL, "beta"] if design.has_threat else list(_OPTIONAL)
    missing = [n for n in names if n not in post.data_vars]
    if missing:
        raise KeyError(f"the posterior has no '{missing[0]}' (fit and design disagree)")
    values = {n: stacked(post, n, index) for n in names + [o for o in optional if o in post.data_vars]}
    if "beta" in values:
        values["beta"] = _beta_in_design_order(post, design, values["beta"])
    return Draws(n_total=n_total, index=index, values=values)
