"""The ``walt-bayes grid`` command.

``walt-bayes grid GRID.toml [--scheduler processes|serial|tcp://HOST:PORT] [--workers N] [--out DIR]``

The API has no grid verb: the command calls :func:`walt_bayes.grid.run.run_grid`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from walt_bayes.cli._common import console
from walt_bayes.executor import SCHEDULER_HELP, parse_scheduler
from walt_bayes.paths import setup_pytensor_cache


def grid_command(
    grid_file: Annotated[
        Path,
        typer.Argument(help="Grid file (TOML): variants, data sets, seeds, prior scales, folds."),
    ],
    scheduler: Annotated[str, typer.Option(help=SCHEDULER_HELP)] = "processes",
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes of the local cluster.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default runs/grid-<grid file name>).")
    ] = None,
) -> None:
    """Run every cell of a grid of fits as a Dask task; write cells/<id>/fit.nc and grid.csv.

    Re-running skips finished cells; a failed cell is reported with its error and the others go on
    (exit status 1 when any cell failed).
    """
    setup_pytensor_cache()
    # lazy: walt_bayes.grid.gridfile and .run import PyMC (through walt_bayes.model.simulate)
    from walt_bayes.grid import gridfile, run

    scheduler = parse_scheduler(scheduler)
    grid = gridfile.load_grid(grid_file)
    out = out or Path("runs") / f"grid-{grid_file.stem}"
    n = len(grid.cells())
    n_folds = sum(len(grid.fold_cells(c)) for c in grid.cells())
    console.print(
        f"[bold]walt-bayes grid[/] {grid_file}: {len(grid.variants)} variants × {len(grid.data)} data sets × "
        f"{len(grid.seeds)} seeds × {len(grid.prior_scales)} prior scales = {n} cells"
        + (f" (+{n_folds} fold refits)" if n_folds else "")
        + f"; output in {out}"
    )
    t0 = time.perf_counter()
    table = run.run_grid(grid_file, out, scheduler=scheduler, workers=workers, console=console)
    view = Table(title="Grid of fits", box=box.SIMPLE_HEAD, pad_edge=False)
    for c in run.SHOWN:
        view.add_column(
            c,
            justify="left" if c in ("cell", "status", "BAL-1", "BW-1") else "right",
            overflow="fold",
            no_wrap=c != "cell",
        )
    for _, r in table.iterrows():
        style = "red" if r["status"] == "failed" else ""
        view.add_row(*(_cell(r[c], c) for c in run.SHOWN), style=style)
    if console.is_terminal:
        console.print(view)
    else:  # piped or redirected output has no width of its own: do not squeeze into 80 columns
        Console(width=170, file=console.file).print(view)
    failed = table[table["status"] == "failed"]
    for _, r in failed.iterrows():
        console.print(f"[bold red]failed:[/] {escape(str(r['cell']))}: {escape(str(r['error']))}", highlight=False)
    flagged = table[table["psense_flagged"].fillna("").astype(str) != ""]
    for _, r in flagged.iterrows():
        n_flag = len(str(r["psense_flagged"]).split(") ")) if r["psense_flagged"] else 0
        n_named = sum(1 for c in table.columns if c.startswith("psense_prior:") and r[c] == r[c])
        console.print(
            f"[dim]power-scaling sensitivity — {r['cell']}: {n_flag} of {n_named} named parameters flagged "
            "(psense_flagged in grid.csv)[/]",
            highlight=False,
        )
    console.print(f"wall time {time.perf_counter() - t0:.1f} s; table [bold]{out / 'grid.csv'}[/]")
    if len(failed):
        console.print(f"[bold red]{len(failed)} of {len(table)} cells failed[/]")
        raise typer.Exit(1)


def _cell(value, column: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        digits = {"max_rhat": 3, "psense_prior_max": 3, "min_ess_bulk": 0}.get(column, 1)
        return f"{value:.{digits}f}"
    return str(value)
