"""Expand a study into grid cells: variant × data set × alliance measure × seed × prior scale.

A study is a union of small grids (:mod:`walt_bayes.grid`): for each variant, data set and
alliance measure, one in-memory :class:`~walt_bayes.grid.gridfile.Grid` over the study's
seeds and that variant's prior scales.  Their cells keep the grid's folder layout and
content hashes (``cells/<cell-id>/``), so a study resumes exactly as a grid does, and a
cell's id names everything that determines it::

    <variant>.<outcome>.<data>.s<seed>.p<prior scale>     e.g. balance_of_threat.ally.middle-east.s1.p1

A variant whose spec models another outcome than the cell's gets a derived spec, written to
``specs/<variant>.<outcome>.toml``: the variant's TOML with ``[alliance] outcome`` replaced
(the spec keeps its name, so fits of one data set and measure compare by variant).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from walt_bayes.atomic import atomic_path
from walt_bayes.grid.gridfile import Cell, DataSet, Grid, dumps_toml
from walt_bayes.spec import load_spec, parse_spec
from walt_bayes.study.studyfile import Study, StudyData

#: The panel column each spec outcome reads (walt_bayes.model.design's alliance rows).
OUTCOME_COLUMN = {"ally": "ally", "ally_formal": "ally_formal", "pledge": "pledge12"}
#: The dimensions of a study's settings, as the findings name them.
DIMENSIONS = {
    "variant": "theory variant",
    "data": "data set",
    "outcome": "alliance measure",
    "prior_scale": "prior scale",
    "seed": "seed",
}


@dataclass(frozen=True)
class StudyCell:
    """One fit of a study: a setting of every dimension."""

    variant: str
    spec_ref: str  # bundled name or path of the (possibly derived) spec
    data: str
    outcome: str
    seed: int
    prior_scale: float

    @property
    def grid_cell(self) -> Cell:
        """The grid's cell (its variant label carries the outcome, so ids never collide)."""
        return Cell(f"{self.variant}.{self.outcome}", self.spec_ref, self.data, self.seed,
                    self.prior_scale)

    @property
    def cell_id(self) -> str:
        return self.grid_cell.cell_id

    def labels(self) -> dict:
        """The study's columns of this cell's rows."""
        return {
            "cell": self.cell_id, "variant": self.variant, "data": self.data,
            "outcome": self.outcome, "seed": self.seed, "prior_scale": self.prior_scale,
        }


@dataclass
class StudyPlan:
    """Every cell of a study, and what was left out and why."""

    study: Study
    cells: list[StudyCell]
    skipped: list[dict] = field(default_factory=list)  # {"data", "outcome", "reason"}

    def grids(self) -> list[tuple[Grid, list[StudyCell]]]:
        """One in-memory grid per (variant, outcome, data set), with its cells in grid order."""
        groups: dict[tuple, list[StudyCell]] = {}
        for c in self.cells:
            groups.setdefault((c.variant, c.outcome, c.data, c.spec_ref), []).append(c)
        out = []
        for (variant, outcome, data, ref), cells in groups.items():
            d = next(x for x in self.study.data if x.name == data)
            grid = Grid(
                path=self.study.path,
                variants={f"{variant}.{outcome}": ref},
                data=[_grid_data(d)],
                seeds=list(self.study.seeds),
                prior_scales=list(self.study.scales_for(variant)),
                sampler=dict(self.study.sampler),
            )
            out.append((grid, cells))
        return out


def _grid_data(d: StudyData) -> DataSet:
    return DataSet(d.name, d.kind, path=d.ref if d.kind == "file" else "")


def spec_outcome(ref: str) -> str:
    """The alliance outcome a spec models."""
    return load_spec(ref).alliance.outcome


def derived_spec_text(ref: str, outcome: str) -> str:
    """The TOML of spec ``ref`` with ``[alliance] outcome = outcome`` (a comment says so)."""
    spec = load_spec(ref)
    raw = tomllib.loads(spec.source_text)
    raw.setdefault("alliance", {})["outcome"] = outcome
    text = (
        f"# {spec.name} with [alliance] outcome = \"{outcome}\" (walt-bayes study; from "
        f"{spec.source_path or spec.name})\n" + dumps_toml(raw)
    )
    parse_spec(text, source=f"{spec.name} (outcome {outcome})")  # a derived spec must be valid
    return text


def spec_for(variant: str, ref: str, outcome: str, out: Path | None) -> str:
    """The spec reference of ``variant`` with ``outcome``: ``ref`` itself, or a derived file.

    Parameters
    ----------
    out : path, optional
        The study's output folder; the derived spec goes to ``out/specs/`` (None: the
        reference it would have, nothing written).
    """
    if spec_outcome(ref) == outcome:
        return ref
    folder = (out if out is not None else Path(".")) / "specs"
    path = (folder / f"{variant}.{outcome}.toml").resolve()
    if out is not None:
        text = derived_spec_text(ref, outcome)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            with atomic_path(path) as tmp:
                tmp.write_text(text, encoding="utf-8")
    return str(path)


def expand(
    study: Study, columns: dict[str, frozenset[str]] | None = None, out: Path | None = None
) -> StudyPlan:
    """Every cell of ``study``, in study order (data set, outcome, variant, seed, prior scale).

    Parameters
    ----------
    study : Study
        The parsed study file.
    columns : dict, optional
        ``data name -> panel columns``; an outcome whose column a data set lacks is
        skipped there (listed in :attr:`StudyPlan.skipped`).  None: no check.
    out : path, optional
        The study's output folder, where derived specs are written.
    """
    cells: list[StudyCell] = []
    skipped: list[dict] = []
    for d in study.data:
        for outcome in study.outcomes_for(d):
            col = OUTCOME_COLUMN[outcome]
            if columns is not None and col not in columns[d.name]:
                skipped.append({"data": d.name, "outcome": outcome,
                                "reason": f"the panel has no column '{col}'"})
                continue
            for variant, ref in study.variants.items():
                spec_ref = spec_for(variant, ref, outcome, out)
                for seed in study.seeds:
                    for scale in study.scales_for(variant):
                        cells.append(StudyCell(variant, spec_ref, d.name, outcome, seed, scale))
    return StudyPlan(study, cells, skipped)


__all__ = [
    "DIMENSIONS",
    "OUTCOME_COLUMN",
    "StudyCell",
    "StudyPlan",
    "derived_spec_text",
    "expand",
    "spec_for",
]
