"""A study's results on disk, and read back (the findings report reads only these files).

Layout of a study's output folder (``run_study(out=…)``)::

    study.json          settings, data sets (sha256, measures), cells, skipped settings, wall time
    cells.csv           one row per cell: the grid table's columns (diagnostics, LOO, psense)
                        with the study's (variant, data, outcome, seed, prior_scale) in front
    matrix.csv          one row per cell × hypothesis: verdict, mean, HDI, convergence
    comparison.csv      per comparison group, the variants ranked (compare's columns)
    sensitivity.csv     estimates and verdicts at each prior scale of a setting
    summary.md          the findings in words
    cells/<id>/         each fit (fit.nc, summary.csv, cell.json), as a grid writes them
    evidence/<id>.csv   each fit's evidence table
    compare/<group>/    each comparison (compare.csv, compare.png, compare.json)
    specs/              derived specs (a variant with another alliance outcome)
    findings.html       the findings report
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from walt_bayes.atomic import atomic_path
from walt_bayes.errors import WaltError

#: Columns read back as text ("" where empty), whatever pandas would guess.
TEXT_COLUMNS = (
    "variant", "verdict", "reason", "error", "status", "outcome", "data", "data_set", "cell", "id",
    "scale", "psense_flagged", "group", "BAL-1", "BW-1",
)
FILES = {
    "meta": "study.json",
    "cells": "cells.csv",
    "matrix": "matrix.csv",
    "comparison": "comparison.csv",
    "sensitivity": "sensitivity.csv",
    "summary": "summary.md",
}


@dataclass
class StudyResult:
    """What :func:`walt_bayes.study.run.run_study` returns and :func:`load_results` reads back."""

    out: Path
    meta: dict
    cells: pd.DataFrame
    matrix: pd.DataFrame
    comparison: pd.DataFrame
    sensitivity: pd.DataFrame
    summary: list[str] = field(default_factory=list)
    report: Path | None = None

    @property
    def failed(self) -> pd.DataFrame:
        """Cells whose fit raised an error."""
        return self.cells[self.cells["status"] == "failed"]


def write_results(result: StudyResult) -> None:
    """Write every table of ``result`` atomically into ``result.out``."""
    out = result.out
    for key, frame in (("cells", result.cells), ("matrix", result.matrix),
                       ("comparison", result.comparison), ("sensitivity", result.sensitivity)):
        with atomic_path(out / FILES[key], suffix=".csv") as tmp:
            frame.to_csv(tmp, index=False)
    with atomic_path(out / FILES["summary"]) as tmp:
        tmp.write_text("\n".join(f"- {s}" for s in result.summary) + "\n", encoding="utf-8")
    with atomic_path(out / FILES["meta"]) as tmp:
        tmp.write_text(json.dumps(result.meta, indent=2, default=str), encoding="utf-8")


def _csv(path: Path) -> pd.DataFrame:
    # keep_default_na=False: the variant "null" and verdict strings stay text.
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    for col in TEXT_COLUMNS:
        if col in frame.columns:
            frame[col] = frame[col].astype(object).where(frame[col].notna(), "").astype(str)
    return frame


def load_results(out: str | Path) -> StudyResult:
    """Read a finished study's tables.

    Raises
    ------
    WaltError
        ``out`` is not a study folder (no ``study.json``) or a table is missing.
    """
    out = Path(out)
    meta_path = out / FILES["meta"]
    if not meta_path.exists():
        raise WaltError(f"{out}: not a study folder (no {FILES['meta']}; run the study first)")
    missing = [f for k, f in FILES.items() if not (out / f).exists()]
    if missing:
        raise WaltError(f"{out}: the study's {missing[0]} is missing (run the study again)")
    summary = [
        line[2:] for line in (out / FILES["summary"]).read_text(encoding="utf-8").splitlines()
        if line.startswith("- ")
    ]
    return StudyResult(
        out=out,
        meta=json.loads(meta_path.read_text(encoding="utf-8")),
        cells=_csv(out / FILES["cells"]),
        matrix=_csv(out / FILES["matrix"]),
        comparison=_csv(out / FILES["comparison"]),
        sensitivity=_csv(out / FILES["sensitivity"]),
        summary=summary,
    )


__all__ = ["FILES", "StudyResult", "load_results", "write_results"]
