"""Apply a scenario's changes to the panel a fit was made on, checking each against the fit.

Each ``[[change]]`` is checked against the panel and the fit's variant (known state,
year inside the panel, state in the system that year, input used by the variant, a
value the input can take) and applied in file order to a copy of the panel: a later
change to the same cell starts from the earlier one's result.  What was touched is
recorded per column (even where the new value equals the old one, so an identity
change still names the rows it concerns).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from walt_bayes.model.design import Design, _key
from walt_bayes.scenario.inputs import INPUTS, Input, used_inputs, uses
from walt_bayes.scenario.spec import Change, Scenario
from walt_bayes.scenario.states import StateNames
from walt_bayes.spec import ModelSpec


@dataclass
class Applied:
    """The scenario panel and the cells the changes touched."""

    panel: pd.DataFrame
    touched: dict[str, np.ndarray] = field(
        default_factory=dict
    )  # column -> rows touched (bool mask)
    states: dict[int, set[int]] = field(default_factory=dict)  # year -> states a change names

    def touched_rows(self, columns) -> np.ndarray:
        """Panel rows touched in any of ``columns``."""
        mask = np.zeros(len(self.panel), dtype=bool)
        for col in columns:
            if col in self.touched:
                mask |= self.touched[col]
        return mask


def apply_scenario(
    scenario: Scenario, panel: pd.DataFrame, design: Design, spec: ModelSpec, names: StateNames
) -> Applied:
    """Check every change of ``scenario`` and apply it to a copy of ``panel``.

    Raises
    ------
    ScenarioError
        One line naming the file and the change: unknown state, year outside the panel,
        state (or pair) absent that year, input the variant does not use, missing value,
        a value the input cannot take.
    """
    out = panel.reset_index(drop=True).copy()
    out.attrs = dict(panel.attrs)
    applied = Applied(panel=out)
    index = pd.Index(_key(out["ccode1"], out["ccode2"], out["year"]))
    years = np.unique(out["year"].to_numpy())
    for change in scenario.changes:
        inp = INPUTS[change.input]
        _check_used(scenario, change, inp, design, spec)
        state = _state(scenario, change, change.state, names)
        target = _state(scenario, change, change.target, names) if inp.dyadic else None
        if target is not None and target == state:
            raise scenario.fail(change, f"state and target are the same state ({names.abb(state)})")
        if inp.relevance and design.case_control.get("relevant_dyads"):
            raise scenario.fail(
                change,
                f"'{inp.name}' decides which dyads this case-control fit sampled "
                "(politically relevant dyads); such a change needs a refit",
            )
        for year in change.years:
            if year not in years:
                raise scenario.fail(
                    change, f"year {year} is outside the panel ({years.min()}–{years.max()})"
                )
            applied.states.setdefault(year, set()).update(
                {state} | ({target} if target is not None else set())
            )
            for column, rows in _cells(
                out, index, inp, state, target, year, scenario, change, names
            ):
                _change_cells(applied, column, rows, change, inp, scenario, names, state, year)
    return applied


def _check_used(
    scenario: Scenario, change: Change, inp: Input, design: Design, spec: ModelSpec
) -> None:
    if not uses(inp, design, spec):
        used = used_inputs(design, spec)
        raise scenario.fail(
            change,
            f"input '{inp.name}' is not used by variant '{spec.name}' "
            f"(it uses: {', '.join(used) if used else 'none of the scenario inputs'})",
        )


def _state(scenario: Scenario, change: Change, value, names: StateNames) -> int:
    code = names.resolve(value)
    if code is None:
        raise scenario.fail(
            change, f"unknown state {value!r} (not a COW code or abbreviation of the fit's panel)"
        )
    return code


def _cells(
    panel: pd.DataFrame,
    index: pd.Index,
    inp: Input,
    state: int,
    target: int | None,
    year: int,
    scenario: Scenario,
    change: Change,
    names: StateNames,
) -> list[tuple[str, np.ndarray]]:
    """(column, panel rows) that the change sets in ``year``."""
    if not inp.dyadic:
        at_year = panel["year"].to_numpy() == year
        rows1 = np.flatnonzero(at_year & (panel["ccode1"].to_numpy() == state))
        rows2 = np.flatnonzero(at_year & (panel["ccode2"].to_numpy() == state))
        if len(rows1) + len(rows2) == 0:
            raise scenario.fail(change, f"{names.abb(state)} is not in the panel in {year}")
        if inp.name == "init2_past10":  # a column about ccode2 only
            return [("init2_past10", rows2)]
        return [(f"{inp.name}1", rows1), (f"{inp.name}2", rows2)]
    pairs = [(target, state)] + ([(state, target)] if inp.symmetric else [])
    rows = index.get_indexer(
        _key([p[0] for p in pairs], [p[1] for p in pairs], [year] * len(pairs))
    )
    if np.any(rows < 0):
        raise scenario.fail(
            change, f"the pair {names.abb(state)}–{names.abb(target)} is not in the panel in {year}"
        )
    return [(inp.name, rows)]


def _change_cells(
    applied: Applied,
    column: str,
    rows: np.ndarray,
    change: Change,
    inp: Input,
    scenario: Scenario,
    names: StateNames,
    state: int,
    year: int,
) -> None:
    panel = applied.panel
    if column not in panel.columns:
        raise scenario.fail(change, f"the panel has no column '{column}'")
    values = pd.to_numeric(panel[column], errors="coerce").astype("float64").to_numpy(copy=True)
    old = values[rows]
    if np.isnan(old).any():
        raise scenario.fail(
            change,
            f"{column} of {names.abb(state)} in {year} is missing in the panel: nothing to change",
        )
    new = {
        "set": np.full(len(old), change.value),
        "add": old + change.value,
        "scale": old * change.value,
    }[change.op]
    _check_values(new, inp, scenario, change, f"{column} of {names.abb(state)} in {year}")
    values[rows] = new
    panel[column] = values  # float64: a count or 0/1 column may now hold the new values exactly
    mask = applied.touched.setdefault(column, np.zeros(len(panel), dtype=bool))
    mask[rows] = True


def _check_values(
    new: np.ndarray, inp: Input, scenario: Scenario, change: Change, what: str
) -> None:
    bad = None
    if inp.binary and not np.all(np.isin(new, (0.0, 1.0))):
        bad = "must stay 0 or 1"
    elif inp.lower is not None and np.any(new < inp.lower):
        bad = f"cannot go below {inp.lower:g} ({inp.meaning})"
    elif inp.upper is not None and np.any(new > inp.upper):
        bad = f"cannot go above {inp.upper:g} ({inp.meaning})"
    if bad:
        shown = ", ".join(f"{v:g}" for v in np.unique(new)[:3])
        raise scenario.fail(change, f"{what} {bad}: op {change.op} {change.value:g} gives {shown}")
