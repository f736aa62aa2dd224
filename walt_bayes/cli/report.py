"""The ``walt-bayes report`` command: render the HTML report of one or several fits.

``--out FILE.ipynb`` saves the executed notebook instead of the HTML page (the cells run in
a Jupyter kernel whatever ``--engine auto`` would pick; ``--engine quarto`` is refused).
Parses the options, then calls :func:`walt_bayes.api.report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from walt_bayes.cli._common import console
from walt_bayes.errors import WaltError


def report_command(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            help="Run directories (or fit.nc files): one gives the fit report, "
            "several the comparison."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="HTML file (default: RUN_DIR/report.html, or comparison_report.html); a name "
            "ending in .ipynb gets the executed notebook instead (run by the Jupyter kernel).",
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(help="auto (quarto when on PATH, else a Jupyter kernel), jupyter or quarto."),
    ] = "auto",
    network_year: Annotated[
        int | None,
        typer.Option(help="Fit report: year of the threat network (default: most disputes)."),
    ] = None,
    dyads: Annotated[
        str | None,
        typer.Option(
            help="Fit report: dyads for threat over time, 'SOURCE->TARGET,…' (COW codes)."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress output.")] = False,
) -> None:
    """Render a self-contained HTML report from saved fits (nothing is refitted), or with
    --out FILE.ipynb the executed notebook."""
    # lazy: CLI start-up (walt_bayes.api imports pandas and pandera, a second or more)
    from walt_bayes import api

    params = {}
    if network_year is not None:
        params["network_year"] = network_year
    if dyads is not None:
        params["dyads"] = dyads
    if params and len(run_dirs) > 1:
        raise WaltError(
            "--network-year and --dyads apply to the report of one fit, not to a comparison"
        )
    path = api.report(run_dirs, out, engine=engine, progress=not quiet, params=params)
    console.print(f"report written to [bold]{path}[/]")


def write_report(run_dirs: list[Path], out: Path | None) -> None:
    """Render the default report of ``run_dirs`` and say where (``walt-bayes fit --report``).

    Parameters
    ----------
    run_dirs : list of pathlib.Path
        Run folders just written.
    out : pathlib.Path or None
        The HTML file (default: beside the run, see :func:`walt_bayes.api.report`).

    Raises
    ------
    WaltError
        The report modules cannot be imported in this installation.
    """
    try:
        # Imported only to tell a missing install from a failing report.
        # lazy: walt_bayes.report.render imports nbformat and is optional here
        import walt_bayes.report.render  # noqa: F401
    except ImportError as err:
        raise WaltError("reports are not available in this installation") from err
    # lazy: CLI start-up (walt_bayes.api imports pandas and pandera, a second or more)
    from walt_bayes import api

    path = api.report(run_dirs, out, progress=True)
    console.print(f"report written to [bold]{path}[/]")
