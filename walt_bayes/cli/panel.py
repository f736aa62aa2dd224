"""``walt-bayes panel build``: the global COW directed dyad-year panel, written as Parquet.

``panel build [--years A-B] [--region R] [--relevant] --out FILE.parquet [--mirror DIR]``; errors
are :class:`~walt_bayes.errors.DataError` (one red line, exit status 2).  The API has no verb for
building a panel: the command calls :mod:`walt_bayes.panel.build`.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from walt_bayes.cli._common import LightHelpGroup
from walt_bayes.cli.data import MirrorOpt
from walt_bayes.errors import DataError

panel_app = typer.Typer(
    help="Build the global directed dyad-year panel.", no_args_is_help=True, cls=LightHelpGroup
)


def parse_years(text: str) -> tuple[int, int]:
    """``"1955-1979"`` or ``"1955"`` -> (first, last); DataError otherwise."""
    m = re.fullmatch(r"\s*(\d{4})\s*(?:[-:–]\s*(\d{4}))?\s*", text)
    if not m:
        raise DataError(f"--years {text!r}: expected A-B, e.g. 1955-1979")
    a, b = int(m.group(1)), int(m.group(2) or m.group(1))
    if a > b:
        raise DataError(f"--years {text!r}: first year after last year")
    return a, b


@panel_app.command("build")
def build(
    out: Annotated[Path, typer.Option("--out", help="Output Parquet file.", dir_okay=False)],
    years: Annotated[str, typer.Option("--years", help="Years A-B.")] = "1816-2014",
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            help="Keep dyads inside a region (americas, europe, africa, middle-east, asia), "
            "plus the region's dyads with major powers.",
        ),
    ] = None,
    relevant: Annotated[
        bool, typer.Option("--relevant", help="Keep only politically relevant dyads.")
    ] = False,
    mirror: MirrorOpt = None,
) -> None:
    """Build the global COW directed dyad-year panel and write it as Parquet."""
    yr = parse_years(years)
    if out.suffix != ".parquet":
        raise DataError(f"--out {out}: the panel is written as Parquet; name it *.parquet")
    # lazy: CLI start-up (walt_bayes.panel.build imports pandas and the panel verbs)
    from walt_bayes.panel.build import build_global_panel, missingness, write_panel

    con = Console()
    t0 = time.perf_counter()
    with con.status("building panel") as status:
        df = build_global_panel(
            yr,
            region=region,
            relevant=relevant,
            mirror=mirror,
            progress=lambda s: status.update(f"building panel: {s}"),
        )
        status.update(f"writing {out}")
        write_panel(df, out)
    wall = time.perf_counter() - t0
    ys = df["year"]
    con.print(
        f"{df.attrs['name']}: {len(df):,} rows, {df.shape[1]} columns, "
        f"years {ys.min()}-{ys.max()} ({ys.nunique()} years) -> {out} in {wall:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    miss = missingness(df)
    table = Table(title="missing values per column")
    table.add_column("column")
    table.add_column("missing", justify="right")
    for col, share in miss.items():
        table.add_row(col, f"{share:.1%}" if share else "0")
    con.print(table)
