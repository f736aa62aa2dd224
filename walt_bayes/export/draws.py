"""A fit's posterior draws as one data frame in the layout of R's ``posterior::draws_df``.

Columns: ``.chain``, ``.iteration``, ``.draw`` (1-based integers; ``.draw`` counts
through the chains, ``(.chain - 1) * iterations + .iteration``), then one column per
scalar element of each variable.  A scalar keeps its name (``beta_power``); an element of
an array is named ``name[index]`` as in posterior, with one index per dimension separated
by commas (``z_beta[power,arabia]``).  An index is the coordinate label where the
dimension's labels are text (``tau_beta[power]``, ``alpha_dyad_allied[2-200]``) and the
1-based position otherwise (``year_effect[1]`` is the first year of the fit, whatever its
label), so numeric indices mean what they mean in R.  Characters that would break the
``name[i,j]`` syntax (``[``, ``]``, ``,``, white space) in a label become ``_``.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from walt_bayes.export import ExportError

if TYPE_CHECKING:
    import xarray as xr

META = (".chain", ".iteration", ".draw")
SAMPLE_DIMS = ("chain", "draw")
_UNSAFE = re.compile(r"[\[\],\s]")


def index_labels(da: xr.DataArray, dim: str) -> list[str]:
    """The index of each position along ``dim``: its text label, or its 1-based position."""
    n = da.sizes[dim]
    if dim in da.coords:
        values = np.asarray(da.coords[dim].values)
        if values.dtype.kind in "OUS":
            return [_UNSAFE.sub("_", str(v)) for v in values]
    return [str(i) for i in range(1, n + 1)]


def element_names(name: str, da: xr.DataArray) -> list[str]:
    """Column names of a variable's elements, in C order (the last dimension varies fastest)."""
    dims = [d for d in da.dims if d not in SAMPLE_DIMS]
    if not dims:
        return [name]
    labels = [index_labels(da, d) for d in dims]
    return [f"{name}[{','.join(idx)}]" for idx in itertools.product(*labels)]


def select_variables(posterior: xr.Dataset, which: str) -> list[str]:
    """The variables ``which`` names: ``named`` (the summary's), ``all``, or ``a,b,…``.

    Raises
    ------
    ExportError
        A name that is not a posterior variable.
    """
    # lazy: walt_bayes.fit.diagnostics imports ArviZ (seconds)
    from walt_bayes.fit.diagnostics import named_parameters

    if which == "named":
        return named_parameters(posterior)
    if which == "all":
        return [str(v) for v in posterior.data_vars]
    names = [n.strip() for n in which.split(",") if n.strip()]
    unknown = [n for n in names if n not in posterior.data_vars]
    if unknown or not names:
        known = ", ".join(str(v) for v in posterior.data_vars)
        raise ExportError(
            f"variables: '{unknown[0] if unknown else which}' is not a posterior "
            f"variable (named, all, or some of: {known})"
        )
    return names


def draws_frame(posterior: xr.Dataset, var_names: list[str] | None = None) -> pd.DataFrame:
    """The draws of ``var_names`` (default: all) as a ``posterior::draws_df``-style frame.

    Parameters
    ----------
    posterior : xarray.Dataset
        A fit's posterior group (dimensions ``chain``, ``draw``, then the variable's own).
    var_names : list of str, optional
        Variables to include, in this order.

    Returns
    -------
    pandas.DataFrame
        One row per draw (chain by chain), the columns described in the module docstring;
        the meta columns are int32 (R integers once written as ``.rds``).
    """
    names = var_names if var_names is not None else [str(v) for v in posterior.data_vars]
    chains, iterations = posterior.sizes["chain"], posterior.sizes["draw"]
    columns: dict[str, np.ndarray] = {
        ".chain": np.repeat(np.arange(1, chains + 1, dtype=np.int32), iterations),
        ".iteration": np.tile(np.arange(1, iterations + 1, dtype=np.int32), chains),
        ".draw": np.arange(1, chains * iterations + 1, dtype=np.int32),
    }
    for name in names:
        da = posterior[name]
        own = [d for d in da.dims if d not in SAMPLE_DIMS]
        values = np.asarray(da.transpose(*SAMPLE_DIMS, *own).values)
        flat = values.reshape(chains * iterations, -1)
        for j, column in enumerate(element_names(name, da)):
            if column in columns:
                raise ExportError(f"two elements would both be named '{column}'")
            columns[column] = flat[:, j]
    return pd.DataFrame(columns)
