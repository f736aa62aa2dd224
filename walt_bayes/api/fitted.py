"""The :class:`Fit` of the Python API: one fit of a theory variant, in memory or saved.

Made by :func:`walt_bayes.api.fit` (sampling) or :func:`walt_bayes.api.load` (a run folder);
its methods are the ``walt-bayes`` commands that read a fit (``summary``, ``hypotheses``,
``predict``, ``check``) and :meth:`Fit.save` writes the run folder ``walt-bayes fit`` writes.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from walt_bayes.api.arguments import folder_name, optional_count, verdict_thresholds
from walt_bayes.api.inputs import load_data, load_spec
from walt_bayes.api.results import Evidence
from walt_bayes.atomic import atomic_dir
from walt_bayes.errors import WaltError
from walt_bayes.panel.datasets import EMBEDDED
from walt_bayes.panel.hashing import legacy_panel_sha256
from walt_bayes.plotting import FitPlots

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from walt_bayes.fit.diagnostics import Convergence
    from walt_bayes.fit.loaded import LoadedFit
    from walt_bayes.model.simulate import Simulation
    from walt_bayes.panel.datasets import Dataset
    from walt_bayes.scenario import Scenario, ScenarioResult
    from walt_bayes.spec import ModelSpec

__all__ = ["Fit"]


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
        # lazy: walt_bayes.fit.loaded and .fitfile import xarray, ArviZ and PyMC (via walt_bayes.spec)
        from walt_bayes.fit import fitfile, loaded

        fit = tree
        if not isinstance(tree, loaded.LoadedFit):
            fit = loaded.LoadedFit(tree, path=path, summary=summary)
        fitfile.check_fit_tree(fit.tree, path or fit.file or "<fit>")
        self._fit = fit
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self._name = name or folder_name(f"{self.spec_name}-{self.data_name}-{stamp}")

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
        # lazy: walt_bayes.fit.diagnostics imports ArviZ (seconds)
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
        # lazy: walt_bayes.report.quantities imports ArviZ and xarray (seconds)
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
        # lazy: walt_bayes.hypotheses.registry and .table import ArviZ and xarray (seconds)
        from walt_bayes.hypotheses import registry, table

        unknown = [i for i in ids or [] if i not in registry.REGISTRY]
        if unknown:
            known = ", ".join(registry.REGISTRY)
            raise WaltError(f"ids: no hypothesis '{unknown[0]}' (known: {known})")
        evidence = table.evidence_table(
            self._fit,
            ids=list(ids) if ids else None,
            thresholds=verdict_thresholds(rope, prob),
            allow_unconverged=allow_unconverged,
        )
        return Evidence(evidence)

    @cached_property
    def plot(self) -> FitPlots:
        """Figures of the fit report: ``fit.plot.trace()``, ``.forest()``, ``.threat_over_time()``, …"""
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
        # lazy: walt_bayes.scenario imports ArviZ, xarray and PyMC (through walt_bayes.fit.fitfile)
        from walt_bayes import scenario as scenarios

        if isinstance(scenario, str | os.PathLike):
            scenario = scenarios.load_scenario(scenario)
        elif not isinstance(scenario, scenarios.Scenario):
            raise scenarios.ScenarioError(
                "predict: expected a scenario file or a Scenario (walt_bayes.scenario."
                f"parse_scenario), got {type(scenario).__name__}"
            )
        max_draws = optional_count(max_draws, "max_draws")
        return scenarios.predict(
            self._fit, scenario, design=self.design, panel=self._panel(data), max_draws=max_draws
        )

    def _panel(self, data) -> pd.DataFrame:
        """The panel the fit was made on, checked by its content hash (:meth:`predict`)."""
        # lazy: walt_bayes.scenario imports ArviZ, xarray and PyMC (through walt_bayes.fit.fitfile)
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
        # lazy: walt_bayes.fit.fitfile imports xarray and PyMC (through walt_bayes.spec)
        from walt_bayes.fit.fitfile import save_fit

        name = self._name if name is None else str(name)
        if not name or name != folder_name(name) or name.startswith("."):
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
        return self.provenance(data, spec, strict=strict, defaults=defaults)[1]

    def provenance(
        self,
        data: str | os.PathLike | Dataset | None = None,
        spec: str | os.PathLike | ModelSpec | None = None,
        *,
        strict: bool = False,
        defaults: bool = True,
    ) -> tuple[list[str], list[str], list[str]]:
        """What :meth:`check` compared, what differs and the notes, as ``walt-bayes check`` prints.

        Returns
        -------
        (checked, differences, notes) : tuple of lists of str
            What was compared (``data NAME (sha256 …)``, ``spec PATH``), one line per
            difference, and library versions that differ from the installed ones
            (differences under ``strict``, notes otherwise).
        """
        # lazy: walt_bayes.fit.fitfile imports xarray and PyMC (through walt_bayes.spec)
        from walt_bayes.fit.fitfile import check_provenance, version_differences

        # lazy: walt_bayes.spec imports PyMC (pymc_extras' Prior)
        from walt_bayes.spec import list_variants

        if defaults and data is None and self.data_name == EMBEDDED:
            data = EMBEDDED
        if defaults and spec is None and self.spec_name in list_variants():
            spec = self.spec_name
        checked, diffs = [], []
        if data is not None:
            dataset = load_data(data)
            found = check_provenance(self.tree, data_sha256=dataset.sha256, data_name=dataset.name)
            if found and self.data_sha256 == legacy_panel_sha256(dataset.panel):
                found = []  # a fit from before the binary content hash, on the same data
            diffs += found
            checked.append(f"data {dataset.name} (sha256 {dataset.sha256[:12]}…)")
        if spec is not None:
            model_spec = load_spec(spec)
            diffs += check_provenance(self.tree, spec=model_spec)
            checked.append(f"spec {model_spec.source_path or model_spec.name}")
        versions = version_differences(self.tree)
        if strict:
            return checked, diffs + [f"versions differ: {v}" for v in versions], []
        return checked, diffs, versions

    def __repr__(self) -> str:
        post = self.tree["posterior"]
        state = "converged" if self.convergence.ok else "FAILED its convergence checks"
        where = f", saved at {self.path}" if self.path is not None else ", not saved"
        return (
            f"<Fit {self.spec_name} on {self.data_name}: seed {self.seed}, {post.sizes['chain']} chains "
            f"× {post.sizes['draw']} draws, {state}{where}>"
        )

