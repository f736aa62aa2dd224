"""Render reports from the API: :func:`report`, for fits in memory, saved fits or run folders."""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from pathlib import Path

from walt_bayes.api.fitted import Fit

__all__ = ["report"]


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
    # lazy: walt_bayes.report.render imports nbformat (seconds)
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
    # lazy: walt_bayes.fit.fitfile imports xarray and PyMC (through walt_bayes.spec)
    from walt_bayes.fit.fitfile import save_fit

    run_dir = folder / item.name
    run_dir.mkdir()
    save_fit(item.tree, run_dir / "fit.nc")
    return run_dir
