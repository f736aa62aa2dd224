"""Scenario files: parse and check a what-if scenario (TOML) before it meets a fit.

A scenario is a list of changes to the raw inputs of the panel a fit was made on::

    name = "Egypt's power x2 in 1967"          # optional
    description = "..."                         # optional

    [[change]]
    state = "EGY"          # COW code or abbreviation (the initiator for a dyadic input)
    years = [1967]
    input = "power"        # see walt_bayes.scenario.inputs
    op = "add"             # set | add | scale
    value = 0.693          # on the input's raw scale (power is log CINC: +0.693 doubles the share)

A dyadic input (``init21_past10``, ``rivalry``, ``contiguous``) also names a ``target``.
Everything that can be checked without the fit is checked here; states, years and
whether the variant uses the input are checked against the fit and its panel
(:mod:`walt_bayes.scenario.apply`).  Every error is one line naming the file and the
``[[change]]`` number and line.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from walt_bayes.errors import WaltError
from walt_bayes.scenario.inputs import INPUTS

OPS = ("set", "add", "scale")
TOP_KEYS = {"name", "description", "change"}
CHANGE_KEYS = {"state", "target", "years", "input", "op", "value"}
_HEADER = re.compile(r"^\s*\[\[\s*change\s*\]\]")


class ScenarioError(WaltError):
    """A scenario file is malformed, or does not fit the fit it is applied to."""


@dataclass(frozen=True)
class Change:
    """One ``[[change]]`` table."""

    number: int  # 1-based position in the file
    line: int | None  # line of its ``[[change]]`` header (None: written inline)
    state: int | str
    years: tuple[int, ...]
    input: str
    op: str
    value: float
    target: int | str | None = None

    @property
    def where(self) -> str:
        """``[[change]] #2 (line 9)``: how messages name this change."""
        at = f" (line {self.line})" if self.line else ""
        return f"[[change]] #{self.number}{at}"


@dataclass
class Scenario:
    """A parsed scenario: its changes, a name and where it came from."""

    changes: list[Change]
    name: str = ""
    description: str = ""
    source: str = "scenario"
    notes: list[str] = field(default_factory=list)

    def fail(self, change: Change, problem: str) -> ScenarioError:
        """An error naming the file and the change."""
        return ScenarioError(f"{self.source}: {change.where}: {problem}")

    @property
    def years(self) -> list[int]:
        """Every year some change touches, sorted."""
        return sorted({y for c in self.changes for y in c.years})


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file.

    Raises
    ------
    ScenarioError
        Unreadable file, bad TOML, unknown key, bad op, input or value.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ScenarioError(f"{path}: cannot read scenario ({err.strerror or err})") from err
    return parse_scenario(text, source=str(path))


def parse_scenario(text: str, source: str = "scenario") -> Scenario:
    """Parse scenario TOML ``text`` (``source`` names it in messages); see :func:`load_scenario`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{source}: not valid TOML ({err})") from err
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise ScenarioError(
            f"{source}: unknown top-level key '{unknown[0]}' (allowed: name, description, [[change]])"
        )
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise ScenarioError(f"{source}: '{key}' must be text")
    tables = data.get("change")
    if not tables:
        raise ScenarioError(
            f"{source}: no [[change]] table (a scenario changes at least one input)"
        )
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ScenarioError(f"{source}: 'change' must be an array of tables ([[change]])")
    lines = [n + 1 for n, line in enumerate(text.splitlines()) if _HEADER.match(line)]
    if len(lines) != len(tables):
        lines = [None] * len(tables)  # written inline: numbers only
    changes = [_change(t, k + 1, lines[k], source) for k, t in enumerate(tables)]
    return Scenario(
        changes=changes,
        name=data.get("name", ""),
        description=data.get("description", ""),
        source=source,
    )


def _change(table: dict, number: int, line: int | None, source: str) -> Change:
    where = f"{source}: [[change]] #{number}" + (f" (line {line})" if line else "")

    def fail(problem: str) -> ScenarioError:
        return ScenarioError(f"{where}: {problem}")

    unknown = sorted(set(table) - CHANGE_KEYS)
    if unknown:
        raise fail(f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(CHANGE_KEYS))})")
    missing = [k for k in ("state", "years", "input", "op", "value") if k not in table]
    if missing:
        raise fail(f"missing key '{missing[0]}'")
    name = table["input"]
    if name not in INPUTS:
        raise fail(f"unknown input {name!r} (one of {', '.join(INPUTS)})")
    inp = INPUTS[name]
    if inp.dyadic and "target" not in table:
        raise fail(f"input '{name}' is dyadic: name the other state with 'target'")
    if not inp.dyadic and "target" in table:
        raise fail(f"input '{name}' is a property of one state: it takes no 'target'")
    op = table["op"]
    if op not in OPS:
        raise fail(f"bad op {op!r} (one of {', '.join(OPS)})")
    value = table["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(f"'value' must be a finite number, got {value!r}")
    years = table["years"]
    if (
        not isinstance(years, list)
        or not years
        or not all(isinstance(y, int) and not isinstance(y, bool) for y in years)
    ):
        raise fail(f"'years' must be a non-empty list of whole years, got {years!r}")
    if len(set(years)) != len(years):
        raise fail("'years' lists a year twice")
    for key in ("state", "target"):
        code = table.get(key)
        if key in table and (
            isinstance(code, bool) or not isinstance(code, int | str) or code == ""
        ):
            raise fail(f"'{key}' must be a COW code or a state abbreviation, got {code!r}")
    return Change(
        number=number,
        line=line,
        state=table["state"],
        years=tuple(years),
        input=name,
        op=op,
        value=float(value),
        target=table.get("target"),
    )
