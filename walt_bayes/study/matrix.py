"""The findings matrix: hypothesis × setting, with verdict, estimate, interval and convergence.

Every finished cell's evidence table (:func:`walt_bayes.hypotheses.table.evidence_table`)
is computed once, as a task on the study's executor (:func:`evidence_task`), and kept in
``evidence/<cell-id>.csv`` beside ``evidence/<cell-id>.json`` (the cell's content hash and
the hypotheses asked for: a refitted cell is judged again).  The evidence table already
gives a fit that failed its convergence checks no verdict (every judged row
``unreliable``, the failing checks as its reason); :func:`build_matrix` keeps that, and
marks ``unreliable`` any judged verdict of a cell whose grid row says it did not converge,
so no path shows a verdict from an unconverged fit.  A cell whose fit failed outright
shows ``fit failed`` with its error; one whose evidence table failed, ``no evidence``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from walt_bayes.atomic import atomic_path
from walt_bayes.fit.loaded import open_fit
from walt_bayes.hypotheses.table import evidence_table
from walt_bayes.hypotheses.verdicts import JUDGED, UNRELIABLE
from walt_bayes.study.plan import StudyPlan

#: The verdict of every hypothesis of a cell whose fit raised an error.
FIT_FAILED = "fit failed"
#: The verdict of a finished cell whose evidence table could not be computed (its error is the reason).
NO_EVIDENCE = "no evidence"
#: Columns of the long matrix (one row per cell and hypothesis).
COLUMNS = [
    "id", "cell", "variant", "data", "outcome", "seed", "prior_scale", "verdict", "mean",
    "hdi_low", "hdi_high", "p_direction", "scale", "converged", "max_rhat", "min_ess_bulk",
    "min_ess_tail", "divergences", "status", "reason",
]
_EVIDENCE_KEEP = ["id", "verdict", "mean", "hdi_low", "hdi_high", "p_direction", "scale", "reason"]


def evidence_paths(out: Path, cell_id: str) -> tuple[Path, Path]:
    """``evidence/<cell>.csv`` and its stamp ``evidence/<cell>.json``."""
    folder = out / "evidence"
    return folder / f"{cell_id}.csv", folder / f"{cell_id}.json"


def evidence_task(task: dict) -> dict:
    """Write the evidence table of one finished cell (skipped when its stamp matches).

    Parameters
    ----------
    task : dict
        ``cell_dir``, ``csv``, ``stamp``, ``hash`` (the cell's content hash) and
        ``hypotheses`` (ids).

    Returns
    -------
    dict
        ``{"cached": bool, "rows": int}``.
    """
    csv, stamp = Path(task["csv"]), Path(task["stamp"])
    key = {"hash": task["hash"], "hypotheses": list(task["hypotheses"])}
    if csv.exists() and stamp.exists():
        try:
            if json.loads(stamp.read_text()) == key:
                return {"cached": True, "rows": -1}
        except ValueError:
            pass
    fit = open_fit(Path(task["cell_dir"]) / "fit.nc")
    table = evidence_table(fit, ids=list(task["hypotheses"]))
    with atomic_path(csv, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(stamp) as tmp:
        tmp.write_text(json.dumps(key))
    return {"cached": False, "rows": len(table)}


def evidence_tasks(plan: StudyPlan, rows: dict[str, dict], out: Path, hashes: dict[str, str]) -> dict:
    """One :func:`evidence_task` per finished cell."""
    tasks = {}
    for c in plan.cells:
        if rows.get(c.cell_id, {}).get("status") not in ("done", "finished earlier"):
            continue
        csv, stamp = evidence_paths(out, c.cell_id)
        tasks[c.cell_id] = {
            "cell_dir": str(out / "cells" / c.cell_id), "csv": str(csv), "stamp": str(stamp),
            "hash": hashes[c.cell_id], "hypotheses": list(plan.study.hypotheses),
        }
    return tasks


def read_evidence(out: Path, cell_id: str) -> pd.DataFrame | None:
    """A cell's stored evidence table (None if not written)."""
    csv, _ = evidence_paths(out, cell_id)
    if not csv.exists():
        return None
    # keep_default_na=False: a verdict or reason is never read as NaN.
    table = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    for c in ("verdict", "reason", "scale", "id"):
        if c in table.columns:
            table[c] = table[c].astype(object).where(table[c].notna(), "").astype(str)
    return table


def _converged(row: dict) -> bool:
    value = row.get("converged")
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value) if value is not None and value == value else False


def matrix_rows(
    labels: dict, row: dict, evidence: pd.DataFrame | None, hypotheses
) -> list[dict]:
    """The matrix rows of one cell (one per hypothesis), from its grid row and evidence table.

    Parameters
    ----------
    labels : dict
        The cell's study columns (:meth:`walt_bayes.study.plan.StudyCell.labels`).
    row : dict
        Its grid row (status, error, convergence figures).
    evidence : pandas.DataFrame or None
        Its evidence table (None when the fit failed or the table is missing).
    hypotheses : iterable of str
        The matrix's hypothesis ids.
    """
    conv = {
        "converged": _converged(row),
        **{k: row.get(k, np.nan) for k in ("max_rhat", "min_ess_bulk", "min_ess_tail", "divergences")},
        "status": row.get("status", ""),
    }
    by_id = evidence.set_index("id") if evidence is not None else None
    out = []
    for hid in hypotheses:
        base = dict.fromkeys(_EVIDENCE_KEEP[1:], np.nan) | {"verdict": "", "reason": "", "scale": ""}
        if row.get("status") == "failed":
            base |= {"verdict": FIT_FAILED, "reason": str(row.get("error", "") or "the fit failed")}
        elif by_id is None or hid not in by_id.index:
            why = str(row.get("error", "") or "no evidence table for this cell")
            base |= {"verdict": NO_EVIDENCE, "reason": why}
        else:
            e = by_id.loc[hid]
            base |= {k: e[k] for k in _EVIDENCE_KEEP[1:]}
            if not conv["converged"] and base["verdict"] in JUDGED:
                # The evidence table judges from the fit's own convergence record; the grid row
                # comes from the same checks.  Should they ever disagree, no verdict is shown.
                base["verdict"] = UNRELIABLE
                base["reason"] = "the fit failed its convergence checks"
        out.append({"id": hid, **labels, **base, **conv})
    return out


def build_matrix(plan: StudyPlan, rows: dict[str, dict], out: Path) -> pd.DataFrame:
    """The long matrix: one row per cell and hypothesis (columns :data:`COLUMNS`), in study order."""
    records = []
    for c in plan.cells:
        row = rows.get(c.cell_id, {"status": "failed", "error": "not run"})
        evidence = read_evidence(out, c.cell_id) if row.get("status") != "failed" else None
        records.extend(matrix_rows(c.labels(), row, evidence, plan.study.hypotheses))
    return pd.DataFrame(records, columns=COLUMNS)


def setting_label(r) -> str:
    """A short name of a cell's setting, for matrix columns."""
    seed = f" s{r['seed']}" if "seed" in r else ""
    return f"{r['variant']} · {r['data']} · {r['outcome']} · ×{float(r['prior_scale']):g}{seed}"


def wide(matrix: pd.DataFrame, value: str = "verdict") -> pd.DataFrame:
    """Hypotheses as rows, cells as columns (in the matrix's order), ``value`` in each."""
    cells = list(dict.fromkeys(matrix["cell"]))
    ids = list(dict.fromkeys(matrix["id"]))
    table = matrix.pivot(index="id", columns="cell", values=value)
    return table.reindex(index=ids, columns=cells)


def sensitivity_table(matrix: pd.DataFrame) -> pd.DataFrame:
    """Prior sensitivity: each hypothesis' verdict and estimate at every prior scale of a setting.

    Only settings fitted at two or more prior scales appear: one row per (hypothesis,
    variant, data, outcome, seed, scale), with ``shift`` the change of the posterior mean
    from the reference scale (1.0 when fitted, else the smallest) in units of that scale's
    HDI width, and ``verdict_changed`` against the reference's verdict.
    """
    keys = ["id", "variant", "data", "outcome", "seed"]
    frames = []
    for _, g in matrix.groupby(keys, sort=False):
        if g["prior_scale"].nunique() < 2:
            continue
        g = g.sort_values("prior_scale")
        at_one = g[g["prior_scale"] == 1.0]
        ref = at_one.iloc[0] if len(at_one) else g.iloc[0]
        width = float(ref["hdi_high"] - ref["hdi_low"]) if np.isfinite(ref["hdi_high"]) else np.nan
        g = g.assign(
            shift=(g["mean"] - ref["mean"]) / width if width and np.isfinite(width) else np.nan,
            verdict_changed=g["verdict"] != ref["verdict"],
        )
        frames.append(g)
    cols = [*keys, "prior_scale", "verdict", "mean", "hdi_low", "hdi_high", "converged", "shift",
            "verdict_changed"]
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


__all__ = [
    "COLUMNS",
    "FIT_FAILED",
    "NO_EVIDENCE",
    "build_matrix",
    "evidence_task",
    "evidence_tasks",
    "matrix_rows",
    "read_evidence",
    "sensitivity_table",
    "setting_label",
    "wide",
]
