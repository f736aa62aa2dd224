"""Make a :class:`~walt_bayes.api.fitted.Fit`: sample one (:func:`fit`) or open a saved one
(:func:`load`); and :func:`predict`, a what-if scenario on a fit or a run folder."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from walt_bayes.api.arguments import folder_name, optional_count, whole
from walt_bayes.api.fitted import Fit
from walt_bayes.api.inputs import load_data, load_spec
from walt_bayes.defaults import DEFAULT_SEED
from walt_bayes.errors import FitFileError, WaltError
from walt_bayes.model.casecontrol import parse_setting

if TYPE_CHECKING:
    import pandas as pd

    from walt_bayes.model.simulate import Simulation
    from walt_bayes.panel.datasets import Dataset
    from walt_bayes.scenario import Scenario, ScenarioResult
    from walt_bayes.spec import ModelSpec

__all__ = ["DEFAULT_SEED", "fit", "load", "predict"]



def fit(
    spec: str | os.PathLike | ModelSpec,
    data: str | os.PathLike | Dataset | Simulation | pd.DataFrame = "middle-east",
    *,
    seed: int = DEFAULT_SEED,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    sampler: str | None = None,
    cores: int | None = None,
    case_control: str | float = "auto",
    progress: bool = True,
) -> Fit:
    """Fit a theory variant to a panel, as ``walt-bayes fit`` does, and keep it in memory.

    Nothing is written: :meth:`Fit.save` writes the run folder ``walt-bayes fit --out`` would.

    Parameters
    ----------
    spec : str, path or ModelSpec
        Variant name, spec TOML file or loaded spec (:func:`load_spec`).
    data : str, path, Dataset, Simulation or pandas.DataFrame
        The panel (:func:`load_data`); default the embedded Middle East data.
    seed : int
        The one integer seed (stored in the fit): same spec, data and seed give identical draws.
    draws, tune, chains : int, optional
        Posterior draws and tuning steps per chain, and chains (default: the spec's).
    sampler : {"nutpie", "pymc"}, optional
        Default: the spec's (nutpie).
    cores : int, optional
        Chains run in parallel (default: as many as the machine has, up to ``chains``).
    case_control : str or float
        ``"auto"`` (case-control sampling only on global-scale panels), ``"off"``, a rate in
        (0, 1] or ``"R0,RD"`` (:mod:`walt_bayes.model.casecontrol`).
    progress : bool
        Show the sampler's progress.

    Returns
    -------
    Fit

    Raises
    ------
    SpecError, DataError, ModelError, WaltError
        Bad spec, data or arguments (one line).
    """
    # lazy: walt_bayes.fit.run imports PyMC (seconds)
    from walt_bayes.fit.run import fit_model
    from walt_bayes.spec import SAMPLERS  # lazy: walt_bayes.spec imports PyMC (pymc_extras' Prior)

    if sampler is not None and sampler not in SAMPLERS:
        raise WaltError(f"sampler: '{sampler}' is not one of {', '.join(SAMPLERS)}")
    settings = {
        k: optional_count(v, k)
        for k, v in {"draws": draws, "tune": tune, "chains": chains, "cores": cores}.items()
    }
    setting = parse_setting(case_control, option="case_control")
    seed = whole(seed, "seed")
    model_spec, dataset = load_spec(spec), load_data(data)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = fit_model(
        dataset.panel,
        model_spec,
        data_name=dataset.name,
        data_sha256=dataset.sha256,
        seed=seed,
        sampler=sampler,
        progressbar=bool(progress),
        case_control=setting,
        companions=dataset.companions,
        **settings,
    )
    # The fit's design is read back from its tree, as for a loaded fit (not the one built for
    # sampling): a fit behaves the same before and after it is saved.
    return Fit(
        result.tree,
        summary=result.summary,
        name=folder_name(f"{model_spec.name}-{dataset.name}-{stamp}"),
    )


def load(
    path: str | os.PathLike,
    *,
    data: str | os.PathLike | Dataset | None = None,
    spec: str | os.PathLike | ModelSpec | None = None,
    strict: bool = False,
) -> Fit:
    """Load a saved fit (a run folder or its ``fit.nc``) with the loader's checks.

    Parameters
    ----------
    path : path
        A run folder written by ``walt-bayes fit`` or :meth:`Fit.save`, or its fit file.
    data, spec : optional
        Also check that the fit was made on this data (sha256) and with this spec (content),
        as ``walt-bayes check --data … --spec …`` does; :meth:`Fit.check` applies that
        command's defaults.
    strict : bool
        With ``data`` or ``spec``: count library-version differences too (``--strict``).

    Returns
    -------
    Fit

    Raises
    ------
    FitFileError
        Missing, truncated or foreign file, a temporary left by an interrupted run, or (with
        ``data``/``spec``) a fit that does not match them — one line naming every difference.
    """
    # lazy: walt_bayes.fit.loaded imports xarray, ArviZ and PyMC (through walt_bayes.spec)
    from walt_bayes.fit.loaded import open_fit

    found = Fit(open_fit(path))
    if data is not None or spec is not None:
        diffs = found.check(data=data, spec=spec, strict=strict, defaults=False)
        if diffs:
            raise FitFileError(f"{found.loaded.file}: " + "; ".join(diffs))
    return found



def predict(
    fit_or_path: Fit | str | os.PathLike,
    scenario: Scenario | str | os.PathLike,
    *,
    data: str | os.PathLike | Dataset | Simulation | pd.DataFrame | None = None,
    max_draws: int | None = None,
) -> ScenarioResult:
    """What a fit says would change under a what-if scenario, as ``walt-bayes predict`` does.

    ``predict(fit, scenario)`` is :meth:`Fit.predict` for a fit in memory or a run folder.

    Parameters
    ----------
    fit_or_path : Fit or path
        A fit (:func:`fit`, :func:`load`) or a run folder (or its ``fit.nc``).
    scenario : Scenario or path
        A scenario TOML file or a parsed scenario (:func:`walt_bayes.scenario.parse_scenario`).
    data : str, path, Dataset, Simulation or pandas.DataFrame, optional
        The panel the fit was made on; default the embedded data, for fits made on it.
    max_draws : int, optional
        Use at most this many posterior draws (evenly thinned); all by default.

    Returns
    -------
    walt_bayes.scenario.ScenarioResult
        The threat, alliance and survival tables, the difference draws and notes.

    Raises
    ------
    FitFileError, ScenarioError
        A run folder that holds no readable fit; a bad scenario or panel (see :meth:`Fit.predict`).
    """
    if isinstance(fit_or_path, str | os.PathLike):
        fit_or_path = load(fit_or_path)
    elif not isinstance(fit_or_path, Fit):
        raise WaltError(
            f"predict: expected a Fit or a run folder, got {type(fit_or_path).__name__}"
        )
    return fit_or_path.predict(scenario, data=data, max_draws=max_draws)

