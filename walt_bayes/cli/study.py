"""The ``walt-bayes study`` command.

``walt-bayes study STUDY.toml [--scheduler processes|serial|tcp://HOST:PORT] [--workers N] [--out DIR] [--no-report]``

Parses the options and calls :func:`walt_bayes.study.run_study` (the grid's Dask tasks,
resumable), then prints the study's summary in words and where the findings report is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from walt_bayes.cli._common import console
from walt_bayes.executor import SCHEDULER_HELP, parse_scheduler
from walt_bayes.paths import setup_pytensor_cache


def study_command(
    study_file: Annotated[
        Path, typer.Argument(help="Study file (TOML), e.g. studies/walt.toml: variants × data × measures × priors."),
    ],
    scheduler: Annotated[str, typer.Option(help=SCHEDULER_HELP)] = "processes",
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes of the local cluster.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default runs/study-<study file name>).")
    ] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip the findings report (HTML).")] = False,
) -> None:
    """Run a robustness study (every cell a fit on the grid), then its verdict matrix, comparisons and report.

    Re-running with the same --out resumes; a failed cell is reported and the others go on
    (exit status 1 when any cell failed).
    """
    setup_pytensor_cache()
    # lazy: walt_bayes.study.run imports PyMC (through walt_bayes.grid.gridfile)
    from walt_bayes.study.run import default_out, run_study

    scheduler = parse_scheduler(scheduler)
    out = out or default_out(study_file)
    result = run_study(study_file, out=out, scheduler=scheduler, workers=workers, render=not no_report,
                       progress=True, console=console)
    for line in result.summary:
        console.print(escape(str(line)), highlight=False)
    if result.report:
        console.print(f"findings report: {escape(str(result.report))}", highlight=False)
    if len(result.failed):
        raise typer.Exit(1)
