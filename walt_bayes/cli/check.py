"""``walt-bayes check RUN_DIR [--data D] [--spec S]``: does a fit still match its data and spec?

A fit file records the sha256 of the panel it was made on, the spec's TOML
text and the library versions.  ``check`` loads the fit (refusing truncated,
foreign or unfinished files), rebuilds the given data and spec, and prints
``fit matches …`` or one line per difference (exit status 1).  Library
versions that differ from the installed ones are printed as notes: the numbers
in the fit are still what they are, but a refit may not reproduce them bit for
bit.  ``--strict`` counts them as differences too.

Without ``--data`` the fit is checked against the embedded data when it was
made on them; without ``--spec`` against the bundled variant of the same name,
when there is one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape


def check_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (or its fit.nc).")],
    data: Annotated[
        str | None,
        typer.Option(
            help="'middle-east', a folder of embedded-layout CSVs, or a panel file (.parquet/.csv)."
        ),
    ] = None,
    spec: Annotated[str | None, typer.Option(help="Model spec TOML or variant name.")] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Count library-version differences too.")
    ] = False,
) -> None:
    """Check that a fit matches its data and spec (sha256, spec content, library versions)."""
    # lazy: CLI start-up (walt_bayes.api imports pandas and pandera, a second or more)
    from walt_bayes.api import load

    console = Console(highlight=False, soft_wrap=True)
    checked, diffs, notes = load(run_dir).provenance(data, spec, strict=strict)
    for line in diffs:
        console.print(f"[red]differs:[/] {escape(line)}")
    for v in notes:
        console.print(f"[yellow]note:[/] {escape(v)} (a refit may not reproduce the draws bit for bit)")
    if diffs:
        raise typer.Exit(1)
    what = " and ".join(checked) if checked else "nothing to compare (give --data and/or --spec)"
    console.print(f"[green]fit matches[/] {escape(what)}")
