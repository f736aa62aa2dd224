"""``predict``: what a fitted model says would change under a what-if scenario (no refit).

``predict(fit, scenario)`` applies the scenario's changes to the panel the fit was made
on (:mod:`~walt_bayes.scenario.apply`), rebuilds the design with the fit's constants
(:mod:`~walt_bayes.scenario.rebuild`), evaluates both designs at every posterior draw
(:mod:`~walt_bayes.scenario.propagate`) and summarises the differences
(:mod:`~walt_bayes.scenario.tables`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from walt_bayes.atomic import atomic_path
from walt_bayes.fit.fitfile import check_provenance, fit_meta
from walt_bayes.fit.loaded import LoadedFit, as_loaded, open_fit
from walt_bayes.model.design import Design
from walt_bayes.panel.datasets import EMBEDDED, load_dataset
from walt_bayes.panel.hashing import legacy_panel_sha256
from walt_bayes.scenario import tables
from walt_bayes.scenario.apply import apply_scenario
from walt_bayes.scenario.figures import save_figures
from walt_bayes.scenario.propagate import HORIZON, affected_rows, propagate
from walt_bayes.scenario.rebuild import Rebuilder
from walt_bayes.scenario.spec import Scenario, ScenarioError, load_scenario
from walt_bayes.scenario.states import StateNames, state_names


@dataclass
class ScenarioResult:
    """Tables and difference draws of one scenario on one fit.

    ``threat``, ``alliance`` and (fits with a duration block) ``survival`` have one row per
    affected row; ``draws[name]`` holds the difference draws (draws × rows, in the table's
    row order).  ``network`` holds the mean threat of every threat row of the scenario years.
    """

    scenario: Scenario
    threat: pd.DataFrame
    alliance: pd.DataFrame
    survival: pd.DataFrame | None
    draws: dict[str, np.ndarray]
    network: pd.DataFrame
    names: StateNames
    label: str = ""
    notes: list[str] = field(default_factory=list)
    changed_states: dict[int, set[int]] = field(
        default_factory=dict
    )  # year -> states the changes name

    def top(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` largest alliance changes (by absolute mean difference)."""
        return self.alliance.head(n)

    def write(self, out: str | Path, top: int = 20) -> list[Path]:
        """Write ``threat.csv``, ``alliance.csv`` (and ``survival.csv``) and the figures into ``out``."""
        out = Path(out)
        written = []
        for name, table in (
            ("threat", self.threat),
            ("alliance", self.alliance),
            ("survival", self.survival),
        ):
            if table is None:
                continue
            with atomic_path(out / f"{name}.csv") as tmp:
                table.to_csv(tmp, index=False)
            written.append(out / f"{name}.csv")
        return written + save_figures(self, out, top)


def fit_panel(tree: xr.DataTree, data: str | None = None, *, option: str = "data") -> pd.DataFrame:
    """The panel a fit was made on: ``data`` or, by default, the embedded data.

    Parameters
    ----------
    tree : xarray.DataTree
        The fit.
    data : str, optional
        ``middle-east``, a folder or a panel file (:func:`walt_bayes.panel.datasets.load_dataset`).
    option : str
        How the caller's user gives ``data``, for the message (a command passes its option,
        ``--data``).

    Raises
    ------
    ScenarioError
        No panel given for a fit not made on the embedded data, or the panel's sha256
        differs from the fit's.
    """
    name = str(tree.attrs.get("data_name"))
    if data is None:
        if name != EMBEDDED:
            raise ScenarioError(f"the fit was made on '{name}': give that panel ({option})")
        data = EMBEDDED
    dataset = load_dataset(data)
    diffs = check_provenance(tree, data_sha256=dataset.sha256, data_name=dataset.name)
    if diffs and str(tree.attrs.get("data_sha256")) != legacy_panel_sha256(dataset.panel):
        raise ScenarioError(diffs[0])
    return dataset.panel


def predict(
    fit: LoadedFit | xr.DataTree | str | Path,
    scenario: Scenario | str | Path,
    design: Design | None = None,
    panel: pd.DataFrame | None = None,
    max_draws: int | None = None,
) -> ScenarioResult:
    """Predict the effect of a what-if scenario from a fit's posterior draws.

    Parameters
    ----------
    fit : LoadedFit, xarray.DataTree or path
        A fit (:func:`walt_bayes.fit.loaded.open_fit`), its tree, or its file / run directory.
    scenario : Scenario or path
        A parsed scenario or a scenario TOML file (:mod:`walt_bayes.scenario.spec`).
    design : Design, optional
        The fit's design (default: rebuilt from the fit's ``constant_data``).
    panel : pandas.DataFrame, optional
        The panel the fit was made on (default: :func:`fit_panel`, the embedded data for
        fits made on it).  It must rebuild the fit's design.
    max_draws : int, optional
        Use at most this many posterior draws (evenly thinned:
        :func:`walt_bayes.fit.draws.thin_index`); all by default.

    Returns
    -------
    ScenarioResult

    Raises
    ------
    ScenarioError
        A bad scenario (named by file, ``[[change]]`` number and line), or a panel that is
        not the fit's.
    """
    fit = open_fit(fit) if isinstance(fit, str | Path) else as_loaded(fit)
    tree = fit.tree
    scenario = load_scenario(scenario) if isinstance(scenario, str | Path) else scenario
    design = fit.design if design is None else design
    spec = fit.spec
    panel = fit_panel(tree) if panel is None else panel
    names = state_names(panel)
    applied = apply_scenario(scenario, panel, design, spec, names)
    rebuilder = Rebuilder(design, spec, panel)
    base, scen = rebuilder.baseline, rebuilder.build(applied.panel)
    affected = affected_rows(base, scen, applied, scenario.years)
    drawn = propagate(
        base, scen, affected, fit.posterior, scenario.years, max_draws
    )
    result = _tables(base.design, scen.design, affected, drawn, names)
    label = f"{tree.attrs.get('spec_name', '?')} on {tree.attrs.get('data_name', '?')}"
    notes = _notes(base.design, scen.flipped) + _convergence(tree)
    return ScenarioResult(
        scenario=scenario,
        names=names,
        label=label,
        notes=notes,
        changed_states=applied.states,
        **result,
    )


def _tables(B: Design, S: Design, affected, drawn, names: StateNames) -> dict:
    """The three tables and their difference draws."""
    abb = names.abb
    out: dict = {
        "draws": {},
        "network": drawn.network.assign(
            source_abb=drawn.network["source"].map(abb), target_abb=drawn.network["target"].map(abb)
        ),
    }
    if B.has_threat:
        keys = tables.threat_keys(B.threat_keys.iloc[affected.threat], abb)
    else:
        keys = pd.DataFrame(columns=["source", "target", "year", "source_abb", "target_abb"])
    table, out["draws"]["threat"] = tables.summarise(
        keys, drawn.baseline["threat"], drawn.scenario["threat"]
    )
    out["threat"] = tables.ordered(table, ["source", "target", "year"])
    rows = B.ally_keys.iloc[affected.alliance]
    keys = tables.dyad_keys(
        rows["ccode1"], rows["ccode2"], rows["year"], abb, channels=affected.channels
    )
    table, out["draws"]["alliance"] = tables.summarise(
        keys, drawn.baseline["alliance"], drawn.scenario["alliance"]
    )
    out["alliance"] = tables.ordered(table, ["state_a", "state_b", "year"])
    out["survival"] = None
    if B.duration is not None:
        rows = B.duration.keys.iloc[affected.survival]
        keys = tables.dyad_keys(rows["lo"], rows["hi"], rows["year"], abb, horizon_years=HORIZON)
        table, out["draws"]["survival"] = tables.summarise(
            keys, drawn.baseline["survival"], drawn.scenario["survival"]
        )
        out["survival"] = tables.ordered(table, ["state_a", "state_b", "year"])
    return out


def _convergence(tree: xr.DataTree) -> list[str]:
    """A warning when the fit failed its convergence checks (its draws carry into every prediction)."""
    conv = fit_meta(tree, "convergence") or {}
    if conv.get("ok", True):
        return []
    problems = "; ".join(conv.get("problems", [])) or "see the fit's summary"
    return [
        f"WARNING — the fit failed its convergence checks ({problems}): these predictions are not reliable"
    ]


def _notes(design: Design, flipped: np.ndarray) -> list[str]:
    notes = []
    if design.ally_onset:
        notes.append(
            "the alliance block models onset: alliance.csv gives P(forming an alliance | not allied the "
            "year before)"
        )
    if flipped.any():
        notes.append(
            f"{int(flipped.sum())} alliance row(s) change which state is the weaker (i): their partner "
            "threat and i's covariates follow the model's rule (channel 'roles')"
        )
    if design.duration is not None:
        if not design.duration.threat_rise:
            notes.append(
                "the duration block has no threat_rise term: no scenario input moves alliance survival"
            )
        else:
            notes.append(
                f"survival: P(an alliance alive in the scenario year lasts {HORIZON} more years), inputs "
                "held at the scenario year (shared threat flat after it)"
            )
    return notes
