"""Write a fit's results for R: ``draws.csv``, or ``draws.rds``, ``summary.rds`` and ``hypotheses.rds``.

Every file is written atomically, and the ``.rds`` files as a set: each goes to a
temporary name first and none is renamed into place unless all were written.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd

from walt_bayes.atomic import atomic_path
from walt_bayes.export import ExportError
from walt_bayes.export.draws import draws_frame, select_variables

FORMATS = ("draws-csv", "rds")
DRAWS_CSV = "draws.csv"
RDS_FILES = ("draws.rds", "summary.rds", "hypotheses.rds")


def write_draws_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """``frame`` as CSV (no index; floats at full precision, so they read back exactly)."""
    path = Path(path)
    with atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False)
    return path


def write_rds_set(frames: dict[str, pd.DataFrame], folder: str | Path) -> list[Path]:
    """Each frame as ``folder/<name>`` with :func:`pyreadr.write_rds`, all or none.

    pyreadr writes the index as R row names; pass frames with a plain ``RangeIndex``.
    """
    import pyreadr  # lazy: pyreadr (with its R-file readers) only when writing .rds

    folder = Path(folder)
    with contextlib.ExitStack() as stack:
        # Every file is written before any temporary name is renamed (the stack exits last).
        for name, frame in frames.items():
            tmp = stack.enter_context(atomic_path(folder / name, suffix=".rds"))
            pyreadr.write_rds(tmp, frame)
    return [folder / name for name in frames]


def summary_frame(fit, var_names: list[str]) -> pd.DataFrame:
    """The posterior summary of ``var_names`` (of a fit or its tree), the parameter names as a first column."""
    # lazy: walt_bayes.fit.diagnostics and .loaded import ArviZ and xarray (seconds)
    from walt_bayes.fit import diagnostics, loaded

    summary = diagnostics.summary_table(loaded.as_loaded(fit).tree, var_names)
    return summary.rename_axis("parameter").reset_index()


def evidence_frame(fit) -> pd.DataFrame:
    """The evidence table of a fit (or its tree) with the default thresholds, as
    ``walt-bayes hypotheses`` gives it."""
    # lazy: walt_bayes.hypotheses.table imports ArviZ and xarray (seconds)
    from walt_bayes.hypotheses.table import evidence_table

    return evidence_table(fit).reset_index(drop=True)


def export_run(
    run: str | Path, to: str, out: str | Path | None = None, variables: str = "named"
) -> list[Path]:
    """Export a saved fit for R.

    Parameters
    ----------
    run : path
        A run directory or its ``fit.nc``.
    to : {"draws-csv", "rds"}
        ``draws-csv``: ``draws.csv``; ``rds``: ``draws.rds``, ``summary.rds`` and
        ``hypotheses.rds`` (the evidence table, default thresholds).
    out : path, optional
        Output folder (default: the run directory).
    variables : str
        ``named`` (the summary's parameters), ``all``, or comma-separated variable names.

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    ExportError, FitFileError
        An unknown format or variable; a missing or unreadable fit.
    """
    # lazy: walt_bayes.fit.fitfile and .loaded import xarray and PyMC (through walt_bayes.spec)
    from walt_bayes.fit import fitfile, loaded

    if to not in FORMATS:
        raise ExportError(f"to: '{to}' is not one of {', '.join(FORMATS)}")
    file = fitfile.fit_file_path(run)
    folder = Path(out) if out is not None else file.parent
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"out: {folder} is a file, not a folder")
    fit = loaded.open_fit(file)
    names = select_variables(fit.posterior, variables)
    draws = draws_frame(fit.posterior, names)
    if to == "draws-csv":
        return [write_draws_csv(draws, folder / DRAWS_CSV)]
    frames = dict(
        zip(RDS_FILES, (draws, summary_frame(fit, names), evidence_frame(fit)), strict=True)
    )
    return write_rds_set(frames, folder)
