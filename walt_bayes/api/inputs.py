"""What the API fits: data sets (:func:`load_data`), theory variants (:func:`load_spec`) and
simulated worlds with known truth (:func:`simulate`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pandas as pd

from walt_bayes.api.arguments import whole
from walt_bayes.errors import DataError
from walt_bayes.panel.datasets import Dataset, load_dataset, validate_panel
from walt_bayes.panel.hashing import panel_sha256

if TYPE_CHECKING:
    from walt_bayes.model.simulate import Simulation
    from walt_bayes.spec import ModelSpec

__all__ = ["load_data", "load_spec", "simulate"]


def load_data(
    data: str | os.PathLike | Dataset | Simulation | pd.DataFrame = "middle-east",
) -> Dataset:
    """Load a dyad-year panel, validated as ``walt-bayes fit --data`` validates it.

    Parameters
    ----------
    data : str, path, Dataset, Simulation or pandas.DataFrame
        ``"middle-east"`` (the embedded data), a folder with the embedded CSV layout, a panel
        file (``.parquet``/``.csv``), a simulation (:func:`simulate`) or a panel frame.  A
        :class:`Dataset` is returned as it is.

    Returns
    -------
    Dataset
        ``name``, ``panel`` (pandas.DataFrame) and ``sha256`` (the content hash a fit records).

    Raises
    ------
    DataError
        Unreadable file, missing required column, bad value (one line: file, column, rows).
    """
    if isinstance(data, Dataset):
        return data
    if isinstance(data, str | os.PathLike):
        return load_dataset(data)
    if hasattr(data, "panel") and hasattr(data, "truth"):  # a Simulation (no PyMC import here)
        return _frame_dataset(data.panel, data.panel.attrs.get("name") or f"simulated-{data.world}")
    if isinstance(data, pd.DataFrame):
        return _frame_dataset(data, data.attrs.get("name") or "panel")
    raise DataError(
        "data: expected 'middle-east', a folder, a panel file, a Simulation, a DataFrame or a "
        f"Dataset, got {type(data).__name__}"
    )


def _frame_dataset(frame: pd.DataFrame, name: str) -> Dataset:
    """A panel frame validated and hashed as a file's panel is (:func:`load_data`)."""
    panel = validate_panel(frame, name=str(name))
    return Dataset(name=str(name), panel=panel, sha256=panel_sha256(panel))


def load_spec(spec: str | os.PathLike | ModelSpec) -> ModelSpec:
    """Load and validate a theory variant.

    Parameters
    ----------
    spec : str, path or ModelSpec
        A bundled variant's name (``"balance_of_threat"``; ``walt-bayes variants`` lists them),
        a spec TOML file, or a loaded spec (returned as it is).

    Returns
    -------
    ModelSpec

    Raises
    ------
    SpecError
        No such variant or file, or a malformed spec (one line naming the file and key).
    """
    # lazy: walt_bayes.spec imports PyMC (pymc_extras' Prior), seconds
    from walt_bayes import spec as specs

    return spec if isinstance(spec, specs.ModelSpec) else specs.load_spec(spec)


def simulate(
    world: str = "balancing", *, states: int | None = None, years: int | None = None, seed: int = 0
) -> Simulation:
    """Simulate a panel with known truth, as ``walt-bayes simulate`` does.

    Parameters
    ----------
    world : str
        ``balancing``, ``bandwagoning``, ``null`` or a spec (drawn from the model itself,
        :mod:`walt_bayes.model.simulate`), or a world the model did not generate
        (:data:`walt_bayes.model.worlds.WORLDS`: ``persistent``, ``trend``, ``mutual``,
        ``confounder``, ``reviewer``, …).
    states, years : int, optional
        Size of the state system (default 12 × 10; 22 × 24 in the misspecified worlds).
    seed : int
        Integer seed: the same seed gives the same panel.

    Returns
    -------
    walt_bayes.model.simulate.Simulation
        ``panel`` (pass it, or the simulation itself, to :func:`fit`), ``truth`` (true values
        and, for misspecified worlds, the true direction of BAL-1, BW-1 and COND-1), ``world``
        and ``seed``.

    Raises
    ------
    WaltError
        Unknown world, fewer than 4 states or 1 year, a seed that is not a whole number.
    """
    # lazy: walt_bayes.model.worlds imports PyMC (through walt_bayes.model.simulate)
    from walt_bayes.model.worlds import simulate_any

    states = None if states is None else whole(states, "states", minimum=4)
    years = None if years is None else whole(years, "years", minimum=1)
    return simulate_any(str(world), states, years, whole(seed, "seed"))

