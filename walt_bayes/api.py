"""The analyst's Python API: ``import walt_bayes as wb``.

Load data and specs, fit a theory variant in memory, save and load fits, read the verdicts on
Walt's hypotheses, compare variants, render reports, ask what-if scenarios and simulate worlds
with known truth — the same steps as the ``walt-bayes`` commands, on the same code::

    import walt_bayes as wb

    bot = wb.fit("balance_of_threat", data="middle-east", seed=1, draws=200, tune=200, chains=2)
    bot.convergence.ok, bot.summary().loc["gamma_shared", "mean"]
    bot.hypotheses().table        # verdicts; `unreliable` when the fit failed its checks
    wb.compare([bot, wb.fit("null", seed=1, draws=200, tune=200, chains=2)]).table
    run_dir = bot.save("runs")    # a run folder `walt-bayes hypotheses|compare|report` accept

Nothing is written unless asked (:meth:`Fit.save`, ``out=`` of :func:`compare` and
:func:`report`), and every write is atomic.  Bad input raises the package's own exceptions
(:mod:`walt_bayes.errors`) with one-line messages.  PyMC, ArviZ and the rest are imported when a
function needs them, not when this module is.
"""

from __future__ import annotations

import numbers
import os
import re
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from walt_bayes.errors import DataError, FitFileError, WaltError

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr
    from matplotlib.figure import Figure

    from walt_bayes.fit.diagnostics import Convergence
    from walt_bayes.fit.loaded import LoadedFit
    from walt_bayes.model.simulate import Simulation
    from walt_bayes.panel.datasets import Dataset
    from walt_bayes.plotting import FitPlots
    from walt_bayes.scenario import Scenario, ScenarioResult
    from walt_bayes.spec import ModelSpec

__all__ = [
    "DEFAULT_SEED",
    "Comparison",
    "Dataset",
    "Evidence",
    "Fit",
    "compare",
    "fit",
    "load",
    "load_data",
    "load_spec",
    "predict",
    "report",
    "simulate",
]

#: The seed ``walt-bayes fit`` uses when none is given.
DEFAULT_SEED = 20260101
#: What a run folder's name may hold (``<variant>-<data>-<UTC time>``).
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _setup_caches() -> None:
    """Keep PyTensor's compile cache in the user cache directory, as the CLI does."""
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "base_compiledir" in flags:
        return
    from platformdirs import user_cache_dir

    cache = Path(os.environ.get("WALT_BAYES_CACHE", user_cache_dir("walt-bayes"))) / "pytensor"
    os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, f"base_compiledir={cache}"]))


_setup_caches()  # before anything imports PyTensor


def __getattr__(name: str):
    # Dataset's module imports PyMC: this module stays cheap to import until a function runs.
    if name == "Dataset":
        from walt_bayes.panel.datasets import Dataset

        return Dataset
    raise AttributeError(f"module 'walt_bayes.api' has no attribute '{name}'")


# ------------------------------------------------------------------ arguments
def _whole(value, what: str, minimum: int = 0) -> int:
    """``value`` as a Python int ≥ ``minimum`` (what fit files store), else a one-line WaltError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise WaltError(f"{what}: expected a whole number ≥ {minimum}, got {value!r}")
    return int(value)


def _optional(value, what: str) -> int | None:
    """A positive count, or None (the spec's default)."""
    return None if value is None else _whole(value, what, minimum=1)


def _thresholds(rope, prob):
    """Verdict thresholds from a ROPE as odds ratios (low, high) and a probability."""
    from walt_bayes.hypotheses.verdicts import Thresholds, rope_from_odds_ratio

    try:
        low, high = (float(v) for v in rope)
        bounds = rope_from_odds_ratio(low, high)
    except (TypeError, ValueError) as err:
        raise WaltError(
            f"rope: expected two odds ratios (low, high), 0 < low < 1 < high ({err})"
        ) from err
    if isinstance(prob, bool) or not isinstance(prob, numbers.Real) or not 0.5 <= prob <= 0.999:
        raise WaltError(f"prob: expected a probability in [0.5, 0.999], got {prob!r}")
    return Thresholds(prob=float(prob), rope=bounds)


def _folder_name(text: str) -> str:
    """``text`` made safe as one path component."""
    return _UNSAFE.sub("-", str(text)).strip(".-") or "fit"


# ------------------------------------------------------------------ data and specs
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
    from walt_bayes.panel.datasets import Dataset, load_dataset

    if isinstance(data, Dataset):
        return data
    if isinstance(data, str | os.PathLike):
        return load_dataset(data)
    if hasattr(data, "panel") and hasattr(data, "truth"):  # a Simulation (no PyMC import here)
        return _frame_dataset(data.panel, data.panel.attrs.get("name") or f"simulated-{data.world}")
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return _frame_dataset(data, data.attrs.get("name") or "panel")
    raise DataError(
        "data: expected 'middle-east', a folder, a panel file, a Simulation, a DataFrame or a "
        f"Dataset, got {type(data).__name__}"
    )


def _frame_dataset(frame: pd.DataFrame, name: str) -> Dataset:
    from walt_bayes.panel.datasets import Dataset, validate_panel
    from walt_bayes.panel.hashing import panel_sha256

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
    from walt_bayes.spec import ModelSpec
    from walt_bayes.spec import load_spec as _load

    return spec if isinstance(spec, ModelSpec) else _load(spec)


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
    from walt_bayes.model.worlds import simulate_any

    states = None if states is None else _whole(states, "states", minimum=4)
    years = None if years is None else _whole(years, "years", minimum=1)
    return simulate_any(str(world), states, years, _whole(seed, "seed"))


# ------------------------------------------------------------------ fitting
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
    from walt_bayes.fit.run import fit_model
    from walt_bayes.model.casecontrol import parse_setting
    from walt_bayes.spec import SAMPLERS

    if sampler is not None and sampler not in SAMPLERS:
        raise WaltError(f"sampler: '{sampler}' is not one of {', '.join(SAMPLERS)}")
    settings = {
        k: _optional(v, k)
        for k, v in {"draws": draws, "tune": tune, "chains": chains, "cores": cores}.items()
    }
    setting = parse_setting(case_control, option="case_control")
    seed = _whole(seed, "seed")
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
        **settings,
    )
    # The fit's design is read back from its tree, as for a loaded fit (not the one built for
    # sampling): a fit behaves the same before and after it is saved.
    return Fit(
        result.tree,
        summary=result.summary,
        name=_folder_name(f"{model_spec.name}-{dataset.name}-{stamp}"),
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
    from walt_bayes.fit.loaded import open_fit

    found = Fit(open_fit(path))
    if data is not None or spec is not None:
        diffs = found.check(data=data, spec=spec, strict=strict, defaults=False)
        if diffs:
            raise FitFileError(f"{found.loaded.file}: " + "; ".join(diffs))
    return found


class Fit:
    """One fit of a theory variant: the posterior and everything a fit file stores.

    Made by :func:`fit` (in memory) or :func:`load` (from a run folder); :meth:`save` writes it
    as ``walt-bayes fit`` does.

    Parameters
    ----------
    tree : xarray.DataTree or LoadedFit
        The fit, as stored (posterior, prior, predictive draws, log-likelihood, sample stats,
        observed and constant data; provenance in ``attrs``), or a
        :class:`walt_bayes.fit.loaded.LoadedFit` of it (:func:`walt_bayes.fit.loaded.open_fit`).
    path : path, optional
        The fit file it was loaded from (with a tree).
    summary : pandas.DataFrame, optional
        Its summary table, when already computed.
    name : str, optional
        The run folder :meth:`save` creates (default ``<variant>-<data>-<UTC time>``).

    Raises
    ------
    FitFileError
        ``tree`` lacks a fit's format tag, groups or provenance attributes.
    """

    def __init__(
        self,
        tree: xr.DataTree | LoadedFit,
        *,
        path: str | os.PathLike | None = None,
        summary: pd.DataFrame | None = None,
        name: str | None = None,
    ):
        from walt_bayes.fit.fitfile import check_fit_tree
        from walt_bayes.fit.loaded import LoadedFit

        loaded = tree if isinstance(tree, LoadedFit) else LoadedFit(tree, path=path, summary=summary)
        check_fit_tree(loaded.tree, path or loaded.file or "<fit>")
        self._fit = loaded
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self._name = name or _folder_name(f"{self.spec_name}-{self.data_name}-{stamp}")

    # -------------------------------------------------------------- what it is
    @property
    def tree(self) -> xr.DataTree:
        """The fit as stored (an ``xarray.DataTree``; ArviZ functions take it as it is)."""
        return self._fit.tree

    @property
    def loaded(self) -> LoadedFit:
        """The fit as the analyses take it (:class:`walt_bayes.fit.loaded.LoadedFit`): the tree with
        its spec, design, summary and convergence, each read once and shared by every method here."""
        return self._fit

    @property
    def spec(self) -> ModelSpec:
        """The spec the fit was made with (parsed from the TOML text it stores)."""
        return self._fit.spec

    @property
    def spec_name(self) -> str:
        """The variant's name (``balance_of_threat``)."""
        return self._fit.spec_name

    @property
    def data_name(self) -> str:
        """The data set's name (``middle-east``, a panel file's stem, ``simulated-balancing``)."""
        return self._fit.data_name

    @property
    def data_sha256(self) -> str:
        """Content hash of the panel the fit was made on."""
        return self._fit.data_sha256

    @property
    def seed(self) -> int:
        """The integer seed of the fit."""
        return self._fit.seed

    @property
    def path(self) -> Path | None:
        """The run folder (or fit file) it was saved to or loaded from; None while unsaved."""
        return self._fit.path

    @property
    def name(self) -> str:
        """The run folder's name: where it was saved, else the one :meth:`save` would create."""
        return self.path.name if self.path is not None else self._name

    def meta(self, key: str) -> Any:
        """A root attribute of the fit, decoded where stored as JSON (``sampler_settings``, …)."""
        if key not in self.tree.attrs:
            known = ", ".join(sorted(self.tree.attrs))
            raise WaltError(f"meta: the fit has no attribute '{key}' (it has {known})")
        return self._fit.meta(key)

    @property
    def design(self):
        """The model design stored with the fit (:class:`walt_bayes.model.design.Design`)."""
        return self._fit.design

    # -------------------------------------------------------------- results
    def summary(self, var_names: list[str] | None = None) -> pd.DataFrame:
        """Posterior summary: mean, sd, 94% HDI, MCSE, bulk/tail ESS and R-hat per parameter.

        Parameters
        ----------
        var_names : list of str, optional
            Parameters to summarise (default: every named parameter, as ``walt-bayes fit`` prints).

        Returns
        -------
        pandas.DataFrame
            A copy: one row per parameter (``gamma_shared``, ``beta[...]``, …).
        """
        from walt_bayes.fit.diagnostics import summary_table

        if var_names is not None:
            missing = [v for v in var_names if v not in self.tree["posterior"].data_vars]
            if missing:
                raise WaltError(f"summary: the posterior has no variable '{missing[0]}'")
            return summary_table(self.tree, var_names=list(var_names))
        return self._fit.summary.copy()

    @property
    def convergence(self) -> Convergence:
        """Convergence checks as the fit stored them (``ok``, ``max_rhat``, ``min_ess_bulk``,
        ``min_ess_tail``, ``divergences``, ``bfmi`` per chain, ``max_depth_share``, ``problems``)."""
        return self._fit.convergence

    @property
    def network_checks(self) -> pd.DataFrame:
        """Posterior predictive checks of the alliance network, one row per check.

        ``attrs`` of the frame hold the checks' ``notes``, ``skipped`` checks and any ``error``.
        """
        from walt_bayes.report import quantities as q

        result = q.network_checks(self.plot.report_fit)
        table = q.network_checks_table(result)
        table.attrs.update({k: result.get(k, []) for k in ("notes", "skipped")})
        if result.get("error"):
            table.attrs["error"] = result["error"]
        return table

    def hypotheses(
        self,
        rope: tuple[float, float] = (0.9, 1.1),
        prob: float = 0.95,
        allow_unconverged: bool = False,
        ids: list[str] | None = None,
    ) -> Evidence:
        """Verdicts on Walt's hypotheses, as ``walt-bayes hypotheses`` gives them.

        Parameters
        ----------
        rope : (float, float)
            Region of practical equivalence as odds ratios per SD, 0 < low < 1 < high.
        prob : float
            Posterior probability of the predicted direction needed for a verdict.
        allow_unconverged : bool
            For a fit that failed its convergence checks, keep the verdicts as computed
            (default: every judged row is ``unreliable``, with the failing checks as its reason).
        ids : list of str, optional
            Hypothesis ids (default: all, in the order of WALT_HYPOTHESES.md).

        Returns
        -------
        Evidence
        """
        from walt_bayes.hypotheses.registry import REGISTRY
        from walt_bayes.hypotheses.table import evidence_table

        unknown = [i for i in ids or [] if i not in REGISTRY]
        if unknown:
            raise WaltError(f"ids: no hypothesis '{unknown[0]}' (known: {', '.join(REGISTRY)})")
        table = evidence_table(
            self._fit,
            ids=list(ids) if ids else None,
            thresholds=_thresholds(rope, prob),
            allow_unconverged=allow_unconverged,
        )
        return Evidence(table)

    @cached_property
    def plot(self) -> FitPlots:
        """Figures of the fit report: ``fit.plot.trace()``, ``.forest()``, ``.threat_over_time()``, …"""
        from walt_bayes.plotting import FitPlots

        return FitPlots(self)

    # -------------------------------------------------------------- what-if scenarios
    def predict(
        self,
        scenario: Scenario | str | os.PathLike,
        *,
        data: str | os.PathLike | Dataset | Simulation | pd.DataFrame | None = None,
        max_draws: int | None = None,
    ) -> ScenarioResult:
        """What the fit says would change under a what-if scenario, as ``walt-bayes predict`` does.

        The scenario's changes to raw inputs go through the fit's own standardisation and the
        model, draw by draw with the same parameters as the baseline; nothing is refitted
        (:func:`walt_bayes.scenario.predict`).

        Parameters
        ----------
        scenario : Scenario or path
            A scenario TOML file (``examples/egypt_power_1967.toml``) or a parsed scenario
            (:func:`walt_bayes.scenario.parse_scenario` reads one from TOML text).
        data : str, path, Dataset, Simulation or pandas.DataFrame, optional
            The panel the fit was made on (:func:`load_data`), needed unless the fit was made on
            the embedded data (the default then).  Its content hash must be the fit's.
        max_draws : int, optional
            Use at most this many posterior draws (evenly thinned); all by default.

        Returns
        -------
        walt_bayes.scenario.ScenarioResult
            ``threat``, ``alliance`` and (with a duration block) ``survival`` tables, one row per
            affected row with ``baseline_mean``, ``scenario_mean``, ``diff_mean``, the 94% HDI of
            the difference and ``p_increase``; ``draws`` (the difference draws), ``notes``;
            ``.write(out)`` writes the CSVs and figures the command writes.

        Raises
        ------
        ScenarioError
            A bad scenario (one line naming the file, the ``[[change]]`` and its line), no panel
            for a fit not made on the embedded data, or a panel that is not the fit's.
        """
        from walt_bayes.scenario import Scenario, ScenarioError, load_scenario
        from walt_bayes.scenario import predict as predict_scenario

        if isinstance(scenario, str | os.PathLike):
            scenario = load_scenario(scenario)
        elif not isinstance(scenario, Scenario):
            raise ScenarioError(
                "predict: expected a scenario file or a Scenario (walt_bayes.scenario."
                f"parse_scenario), got {type(scenario).__name__}"
            )
        max_draws = _optional(max_draws, "max_draws")
        return predict_scenario(
            self._fit, scenario, design=self.design, panel=self._panel(data), max_draws=max_draws
        )

    def _panel(self, data) -> pd.DataFrame:
        """The panel the fit was made on, checked by its content hash (:meth:`predict`)."""
        from walt_bayes.panel.datasets import EMBEDDED
        from walt_bayes.scenario import ScenarioError

        if data is None:
            if self.data_name != EMBEDDED:
                raise ScenarioError(
                    f"predict: the fit was made on '{self.data_name}': give that panel as data= "
                    "(a panel file, a folder, a Simulation or a DataFrame)"
                )
            data = EMBEDDED
        dataset = load_data(data)
        diffs = self.check(data=dataset, defaults=False)
        if diffs:
            raise ScenarioError(f"predict: {diffs[0]}")
        return dataset.panel

    # -------------------------------------------------------------- files
    def save(self, directory: str | os.PathLike = "runs", name: str | None = None) -> Path:
        """Write the run folder ``walt-bayes fit --out DIRECTORY`` writes (``fit.nc``, ``summary.csv``).

        Parameters
        ----------
        directory : path
            Where the run folder is created.
        name : str, optional
            The run folder's name (default :attr:`name`: ``<variant>-<data>-<UTC time>``).

        Returns
        -------
        pathlib.Path
            The run folder: ``walt-bayes hypotheses``, ``compare``, ``report`` and ``check`` take it.

        Raises
        ------
        WaltError
            The folder exists already, or cannot be written (nothing is left half-written).
        """
        from walt_bayes.atomic import atomic_dir
        from walt_bayes.fit.fitfile import save_fit

        name = self._name if name is None else str(name)
        if not name or name != _folder_name(name) or name.startswith("."):
            raise WaltError(f"save: '{name}' is not a plain folder name (letters, digits, . _ -)")
        run_dir = Path(directory) / name
        with atomic_dir(run_dir) as tmp:
            save_fit(self.tree, tmp / "fit.nc")
            self.summary().to_csv(tmp / "summary.csv")
        self._fit.file = run_dir / "fit.nc"
        return run_dir

    def check(
        self,
        data: str | os.PathLike | Dataset | None = None,
        spec: str | os.PathLike | ModelSpec | None = None,
        *,
        strict: bool = False,
        defaults: bool = True,
    ) -> list[str]:
        """What differs between this fit and a data set and spec, as ``walt-bayes check`` says.

        Parameters
        ----------
        data, spec : optional
            The data and spec to check against.  With ``defaults``, as the command: the embedded
            data when the fit was made on them, and the bundled variant of the same name.
        strict : bool
            Count library versions that differ from the installed ones.
        defaults : bool
            Apply the command's defaults for ``data`` and ``spec``.

        Returns
        -------
        list of str
            One line per difference; empty when the fit matches.
        """
        from walt_bayes.fit.fitfile import check_provenance, version_differences
        from walt_bayes.panel.datasets import EMBEDDED
        from walt_bayes.panel.hashing import legacy_panel_sha256
        from walt_bayes.spec import list_variants

        if defaults and data is None and self.data_name == EMBEDDED:
            data = EMBEDDED
        if defaults and spec is None and self.spec_name in list_variants():
            spec = self.spec_name
        diffs = []
        if data is not None:
            dataset = load_data(data)
            found = check_provenance(self.tree, data_sha256=dataset.sha256, data_name=dataset.name)
            if found and self.data_sha256 == legacy_panel_sha256(dataset.panel):
                found = []  # a fit from before the binary content hash, on the same data
            diffs += found
        if spec is not None:
            diffs += check_provenance(self.tree, spec=load_spec(spec))
        if strict:
            diffs += [f"versions differ: {v}" for v in version_differences(self.tree)]
        return diffs

    def __repr__(self) -> str:
        post = self.tree["posterior"]
        state = "converged" if self.convergence.ok else "FAILED its convergence checks"
        where = f", saved at {self.path}" if self.path is not None else ", not saved"
        return (
            f"<Fit {self.spec_name} on {self.data_name}: seed {self.seed}, {post.sizes['chain']} chains "
            f"× {post.sizes['draw']} draws, {state}{where}>"
        )


# ------------------------------------------------------------------ verdicts
@dataclass(frozen=True, eq=False)
class Evidence:
    """Verdicts on Walt's hypotheses from one fit (:meth:`Fit.hypotheses`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per hypothesis and part: ``id``, ``verdict``, ``statement``, ``mean``,
        ``hdi_low``, ``hdi_high``, ``p_direction``, ``bayes_factor``, ``reason``, … (the columns of
        ``walt-bayes hypotheses --format csv``).
    """

    table: pd.DataFrame

    @property
    def notes(self) -> list[str]:
        """The sentences printed under the table (thresholds, how marginal effects are computed)."""
        return list(self.table.attrs.get("notes", []))

    @property
    def problems(self) -> list[str]:
        """The convergence checks the fit failed (empty for a converged fit)."""
        return list(self.table.attrs.get("convergence_problems", []))

    @property
    def banner(self) -> str:
        """The warning printed above the table of a fit that failed its checks ('' otherwise)."""
        from walt_bayes.hypotheses.table import convergence_banner

        return convergence_banner(self.table)

    @property
    def pairs(self) -> pd.DataFrame:
        """Balancing and bandwagoning hypotheses side by side."""
        from walt_bayes.hypotheses.table import pairs_table

        return pairs_table(self.table)

    def verdicts(self) -> dict[str, str]:
        """``{hypothesis id: verdict}``."""
        return dict(zip(self.table["id"], self.table["verdict"], strict=True))

    def __repr__(self) -> str:
        counts = self.table["verdict"].value_counts()
        shown = ", ".join(f"{n} {v}" for v, n in counts.items())
        return f"<Evidence: {len(self.table)} rows ({shown}){' — ' + self.banner if self.banner else ''}>"


# ------------------------------------------------------------------ comparison
@dataclass(frozen=True, eq=False)
class Comparison:
    """Theory variants ranked by out-of-sample prediction of alliances (:func:`compare`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per fit, best first: ``variant``, ``rank``, ``elpd``, ``se``, ``elpd_diff``,
        ``dse``, ``weight`` (stacking), ``n_obs``, ``scheme``, ``rows``, Pareto k or fold
        diagnostics, ``run``, ``data`` (the columns of ``compare.csv``).
    method : str
        ``loo`` or ``kfold``.
    """

    table: pd.DataFrame
    method: str

    @property
    def notes(self) -> list[str]:
        """What the numbers mean (rows scored, caveats of the scheme)."""
        return list(self.table.attrs.get("notes", []))

    @property
    def warnings(self) -> list[str]:
        """Where the numbers are unreliable (many high Pareto k, fold refits that did not converge)."""
        return list(self.table.attrs.get("warnings", []))

    def plot(self) -> Figure:
        """elpd ± SE per variant (ArviZ ``plot_compare``), best first.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from walt_bayes.report.figures import compare_elpd

        cols = ["rank", "elpd", "se", "elpd_diff", "dse", "weight"]
        fig = compare_elpd(self.table.set_index("variant")[cols].sort_values("rank"))
        scheme = "; ".join(dict.fromkeys(self.table["scheme"]))
        fig.suptitle(f"elpd ± 1 SE of the alliance log-likelihood, higher is better\n{scheme}")
        return fig

    def __repr__(self) -> str:
        ranked = ", ".join(f"{r.variant} {r.elpd:.1f}" for r in self.table.itertuples())
        return f"<Comparison ({self.method}) by elpd: {ranked}>"


def _runs(fits_or_paths, method: str, jobs: int) -> list:
    """Open runs for :func:`compare`: paths as the command opens them, fits from memory."""
    from walt_bayes.compare.runs import scored_run

    runs = []
    for item in fits_or_paths:
        if not isinstance(item, Fit):
            runs.append(item)
            continue
        file = item.loaded.file
        if file is None and method == "kfold" and jobs > 1:
            raise WaltError(
                f"compare: k-fold with jobs > 1 reopens each fit from its file; save {item.name} "
                "first (Fit.save) or use jobs=1"
            )
        runs.append(scored_run(item.loaded, file or Path(item.name) / "fit.nc"))
    return runs


def compare(
    fits_or_paths,
    method: str = "loo",
    *,
    folds: int = 5,
    group: str = "dyad",
    reference: str | None = None,
    out: str | os.PathLike | None = None,
    fold_chains: int = 2,
    fold_draws: int = 300,
    fold_tune: int = 300,
    fold_seed: int = 0,
    jobs: int = 1,
    progress: bool = True,
) -> Comparison:
    """Rank fits of theory variants on the same data, as ``walt-bayes compare`` does.

    Parameters
    ----------
    fits_or_paths : iterable of Fit or path
        Two or more fits (in memory or saved) or run folders, made on the same data.
    method : {"loo", "kfold"}
        PSIS-LOO from the stored log-likelihood, or refits per fold.
    folds : int
        Folds (``kfold``) or year blocks (``group="year-block"``).
    group : {"dyad", "year-block", "none"}
        k-fold grouping: whole dyads, leave-future-out year blocks, or single dyad-years.
    reference : str, optional
        Variant to take ``elpd_diff`` against (default: the best).
    out : path, optional
        Also write ``compare.csv``, ``compare.json``, ``compare.png`` and the fold cache there.
    fold_chains, fold_draws, fold_tune : int
        Sampler settings of the k-fold refits.
    fold_seed : int
        Seed of the assignment of dyads to folds.
    jobs : int
        Folds refitted at once in worker processes (the fits must be saved when > 1).
    progress : bool
        Show the k-fold progress.

    Returns
    -------
    Comparison

    Raises
    ------
    CompareError
        Fewer than two fits, or fits on different data or of different outcomes.
    """
    from walt_bayes.compare.kfold import FoldSettings
    from walt_bayes.compare.table import compare_runs

    if isinstance(fits_or_paths, Fit | str | os.PathLike):
        fits_or_paths = [fits_or_paths]
    items = list(fits_or_paths)
    jobs = _whole(jobs, "jobs", minimum=1)
    settings = FoldSettings(
        chains=_whole(fold_chains, "fold_chains", 1),
        draws=_whole(fold_draws, "fold_draws", 1),
        tune=_whole(fold_tune, "fold_tune", 1),
    )
    table = compare_runs(
        _runs(items, method, jobs),
        method=method,
        folds=_whole(folds, "folds", 2),
        group=group,
        out=out,
        fold_settings=settings,
        fold_seed=_whole(fold_seed, "fold_seed"),
        reference=reference,
        jobs=jobs,
        progress=progress,
    )
    unsaved = {str(Path(i.name) / "fit.nc") for i in items if isinstance(i, Fit) and i.path is None}
    table["run"] = ["(not saved)" if r in unsaved else r for r in table["run"]]
    return Comparison(table=table, method=method)


# ------------------------------------------------------------------ what-if scenarios
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


# ------------------------------------------------------------------ reports
def report(
    fits_or_paths,
    out: str | os.PathLike | None = None,
    *,
    engine: str = "auto",
    params: dict | None = None,
    progress: bool = False,
) -> Path:
    """Render the fit report (one fit) or the comparison report (several) to one HTML file.

    Parameters
    ----------
    fits_or_paths : Fit, path or iterable of them
        Fits (saved or not) or run folders.
    out : path, optional
        The HTML file.  Default, as ``walt-bayes report``: ``<run>/report.html`` for one run,
        ``comparison_report.html`` beside the first for several; required when a fit is not saved.
    engine : {"auto", "jupyter", "quarto"}
        ``auto``: ``quarto render`` when on PATH, else a Jupyter kernel.
    params : dict, optional
        Extra report parameters (e.g. ``{"network_year": 1967}``).
    progress : bool
        Show progress on stderr.

    Returns
    -------
    pathlib.Path
        The HTML file written (atomically).

    Raises
    ------
    ReportError, FitFileError
        Bad run folder, failing cell, an unsaved fit without ``out``.
    """
    from walt_bayes.report.render import ReportError, render_report

    if isinstance(fits_or_paths, Fit | str | os.PathLike):
        fits_or_paths = [fits_or_paths]
    items = list(fits_or_paths)
    unsaved = [i for i in items if isinstance(i, Fit) and i.path is None]
    if unsaved and out is None:
        raise ReportError(f"report: {unsaved[0].name} is not saved; give out= (an .html file)")
    with ExitStack() as stack:
        dirs = []
        for item in items:
            if isinstance(item, Fit) and item.path is None:
                # The report's cells run in a Jupyter kernel that reads fit files: a temporary copy.
                tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="walt-bayes-report-"))
                dirs.append(_temporary_copy(item, Path(tmp)))
            else:
                dirs.append(item.path if isinstance(item, Fit) else item)
        return render_report(dirs, out, engine=engine, progress=progress, params=params)


def _temporary_copy(item: Fit, folder: Path) -> Path:
    """Write an unsaved fit into ``folder`` without marking it saved."""
    from walt_bayes.fit.fitfile import save_fit

    run_dir = folder / item.name
    run_dir.mkdir()
    save_fit(item.tree, run_dir / "fit.nc")
    return run_dir
