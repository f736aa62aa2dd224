"""One fit in memory, as every analysis after ``fit`` takes it: :class:`LoadedFit`.

A fit is a tree (``xarray.DataTree``: posterior, prior and predictive draws, pointwise
log-likelihood, sample stats, observed data and the stored design; provenance in ``attrs``).
:class:`LoadedFit` carries the tree with what the analyses read from it — the spec, the stored
design, the summary table, the convergence figures, the data's name and hash, the seed and the
file — each decoded on first use and then kept, so the hypotheses, the report's tables and
figures, a comparison and a scenario of one fit share one design and one spec.

:func:`open_fit` is the one way to read a fit from disk: the checks of
:mod:`walt_bayes.fit.fitfile` (a temporary left by an interrupted run, a missing, truncated or
foreign file, a missing group or provenance attribute: one-line :class:`FitFileError`), eagerly
or leaving the arrays on disk.  :func:`walt_bayes.fit.run.fit_model` returns a :class:`LoadedFit`
of the fit it has just made.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from walt_bayes.fit.diagnostics import Convergence, check_convergence, summary_table
from walt_bayes.fit.draws import stack_draws, thin_index
from walt_bayes.fit.fitfile import (
    check_fit_tree,
    fit_design,
    fit_file_path,
    fit_meta,
    fit_spec,
    load_fit,
)

if TYPE_CHECKING:
    import pandas as pd

    from walt_bayes.model.design import Design
    from walt_bayes.spec import ModelSpec

__all__ = ["LoadedFit", "as_loaded", "open_fit"]


class LoadedFit:
    """A fit tree and what the analyses read from it, each read once.

    Parameters
    ----------
    tree : xarray.DataTree
        The fit (or, for tests of the analyses, any tree with a ``posterior``).  Nothing is
        checked here: :func:`open_fit` and :meth:`checked` check.
    path : path, optional
        Where it is stored: a run directory or its fit file.
    summary, convergence, design, spec : optional
        Values already at hand (a fit just made has its design, summary and convergence);
        the others are read from the tree when first used.
    """

    def __init__(
        self,
        tree: xr.DataTree,
        *,
        path: str | Path | None = None,
        summary: pd.DataFrame | None = None,
        convergence: Convergence | None = None,
        design: Design | None = None,
        spec: ModelSpec | None = None,
    ):
        self.tree = tree
        self.file = _fit_file(path)
        given = {"summary": summary, "convergence": convergence, "design": design, "spec": spec}
        # Seeding the cached properties' slots: a value given is never recomputed.
        self.__dict__.update({k: v for k, v in given.items() if v is not None})

    @classmethod
    def checked(cls, tree: xr.DataTree, path: str | Path | None = None, **given) -> LoadedFit:
        """A :class:`LoadedFit` of ``tree`` once it passes the fit file's checks.

        Raises
        ------
        FitFileError
            ``tree`` lacks a fit's format tag, groups or provenance attributes (``path``, or
            ``<fit>``, names it in the message).
        """
        check_fit_tree(tree, path or "<fit>")
        return cls(tree, path=path, **given)

    # ------------------------------------------------------------------ where and what
    @property
    def idata(self) -> xr.DataTree:
        """The tree, under the name ArviZ and :func:`walt_bayes.fit.run.fit_model`'s callers use."""
        return self.tree

    @property
    def path(self) -> Path | None:
        """The run directory (for a ``fit.nc``) or the fit file; None for a fit not on disk."""
        if self.file is None:
            return None
        return self.file.parent if self.file.name == "fit.nc" else self.file

    @property
    def spec_name(self) -> str:
        """The theory variant's name (``?`` where the tree does not say)."""
        return str(self.tree.attrs.get("spec_name", "?"))

    @property
    def data_name(self) -> str:
        """The data set's name (``?`` where the tree does not say)."""
        return str(self.tree.attrs.get("data_name", "?"))

    @property
    def data_sha256(self) -> str:
        """Content hash of the panel the fit was made on ('' where the tree does not say)."""
        return str(self.tree.attrs.get("data_sha256", ""))

    @property
    def seed(self) -> int:
        """The fit's integer seed (0 where the tree does not say)."""
        return int(self.tree.attrs.get("seed", 0))

    def meta(self, key: str) -> Any:
        """A root attribute, decoded where it was stored as JSON (``sampler_settings``, …)."""
        return fit_meta(self.tree, key)

    def identity(self) -> str:
        """A short content id of what this fit is (spec text, data, seed, case-control sample)."""
        attrs = self.tree.attrs
        parts = [attrs.get("spec_toml", ""), self.data_sha256, str(self.seed)]
        if '"used": true' in str(attrs.get("case_control", "")):
            parts.append(str(attrs["case_control"]))  # another sample is another fit
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ decoded once
    @cached_property
    def spec(self) -> ModelSpec:
        """The spec the fit was made with (parsed from the TOML text it stores)."""
        return fit_spec(self.tree)

    @cached_property
    def design(self) -> Design:
        """The stored design with its observed outcomes (:func:`walt_bayes.fit.fitfile.fit_design`)."""
        return fit_design(self.tree)

    @cached_property
    def posterior(self) -> xr.Dataset:
        """The posterior group as a Dataset."""
        return self.tree["posterior"].to_dataset()

    @cached_property
    def summary(self) -> pd.DataFrame:
        """The summary table of the named parameters (:func:`walt_bayes.fit.diagnostics.summary_table`)."""
        return summary_table(self.tree)

    @cached_property
    def convergence(self) -> Convergence:
        """The convergence checks as the fit stored them; computed from the draws for a fit without."""
        stored = self.tree.attrs.get("convergence")
        if not stored:  # an older fit
            return check_convergence(self.tree, self.summary)
        record = json.loads(stored)
        return Convergence(**{f.name: record[f.name] for f in fields(Convergence) if f.name in record})

    # ------------------------------------------------------------------ draws
    @property
    def n_draws(self) -> int:
        """Posterior draws in all (chains × draws per chain)."""
        post = self.tree["posterior"]
        return int(post.sizes["chain"] * post.sizes["draw"])

    def thin(self, max_draws: int | None) -> np.ndarray:
        """Positions of the stacked draws a table of at most ``max_draws`` draws uses
        (:func:`walt_bayes.fit.draws.thin_index`)."""
        return thin_index(self.n_draws, max_draws)

    def draws(self, name: str, max_draws: int | None = None, group: str = "posterior") -> np.ndarray:
        """Draws of ``group``'s variable ``name``, chain and draw stacked, thinned to ``max_draws``."""
        index = None if max_draws is None else self.thin(max_draws)
        return stack_draws(self.tree[group][name], index)

    def __repr__(self) -> str:
        where = f" at {self.file}" if self.file is not None else ""
        return f"<LoadedFit {self.spec_name} on {self.data_name}, seed {self.seed}{where}>"


def _fit_file(path: str | Path | None) -> Path | None:
    """The fit file of a run directory, or the path as given."""
    if path is None:
        return None
    path = Path(path)
    return path / "fit.nc" if path.is_dir() else path


def open_fit(path: str | Path, *, lazy: bool = False) -> LoadedFit:
    """Read a fit from a run directory (or its fit file), with the fit file's checks.

    Parameters
    ----------
    path : path
        A run directory written by ``walt-bayes fit`` (or ``Fit.save``) or its ``fit.nc``.
    lazy : bool
        Leave the arrays on disk until used (:func:`walt_bayes.fit.fitfile.load_fit`).

    Returns
    -------
    LoadedFit

    Raises
    ------
    FitFileError
        A temporary left by an interrupted run, a missing, truncated or unreadable file, a
        netCDF that is not a walt-bayes fit, or one lacking a group or provenance attribute.
    """
    file = fit_file_path(path)
    return LoadedFit(load_fit(file, lazy=lazy), path=file)


def as_loaded(fit: LoadedFit | xr.DataTree) -> LoadedFit:
    """``fit`` as a :class:`LoadedFit` (a tree is wrapped as it is, unchecked)."""
    return fit if isinstance(fit, LoadedFit) else LoadedFit(fit)
