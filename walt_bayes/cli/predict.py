"""``walt-bayes predict RUN --scenario FILE.toml``: what-if scenarios from a fit's posterior draws.

Writes ``threat.csv``, ``alliance.csv`` (``survival.csv`` for fits with a duration block)
and the figures into ``--out`` (default ``RUN_DIR/predict-<scenario file name>``), and
prints the largest alliance changes.  Bad scenarios are one line naming the file and
the ``[[change]]`` (exit status 2).

Not through :func:`walt_bayes.api.predict`: the API names a missing or foreign panel by its
argument (``data=``), the command by its option (``--data``); the command calls
:func:`walt_bayes.scenario.predict` as the API does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from walt_bayes.cli._common import wide_console


def predict_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (or its fit.nc).")],
    scenario: Annotated[
        Path, typer.Option("--scenario", help="Scenario file (TOML: one change table per change).")
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default: RUN_DIR/predict-<scenario file name>)."),
    ] = None,
    top: Annotated[
        int, typer.Option(min=1, help="Print (and plot) the N largest alliance changes.")
    ] = 10,
    data: Annotated[
        str | None,
        typer.Option(
            help="The panel the fit was made on ('middle-east', a folder or a panel file); "
            "default: the embedded data for fits made on it."
        ),
    ] = None,
) -> None:
    """Predict how threat and alliances would change under a scenario (no refit).

    A scenario changes raw inputs of the fit's panel (power as log CINC, offense, disputes
    initiated, rivalry, contiguity) for some states and years; the change goes through the
    fit's standardisation and model, draw by draw: threat of every affected dyad-year,
    shared and partner threat of every affected alliance dyad (third parties included),
    the alliance probability and, with a duration block, 5-year alliance survival.
    """
    # lazy: walt_bayes.fit.fitfile imports xarray and PyMC (through walt_bayes.spec)
    from walt_bayes.fit.fitfile import load_fit

    # lazy: walt_bayes.scenario imports ArviZ, xarray and PyMC (through walt_bayes.fit.fitfile)
    from walt_bayes.scenario import fit_panel, load_scenario, predict

    console = Console(highlight=False, soft_wrap=True)
    tree = load_fit(run_dir)
    spec = load_scenario(scenario)
    result = predict(tree, spec, panel=fit_panel(tree, data))
    folder = run_dir if run_dir.is_dir() else run_dir.parent
    out = out if out is not None else folder / f"predict-{scenario.stem}"
    written = result.write(out, top=max(top, 20))
    title = spec.name or scenario.stem
    console.print(
        f"[bold]{escape(title)}[/] on {escape(result.label)}: {len(result.threat):,} threat rows and "
        f"{len(result.alliance):,} alliance rows affected"
        + (
            f", {len(result.survival):,} alliances alive in the scenario years"
            if result.survival is not None
            else ""
        )
    )
    _print_top(console, result, top)
    for note in result.notes:
        style = "bold red" if note.startswith("WARNING") else "dim"
        console.print(f"[{style}]note: {escape(note)}[/]")
    console.print(f"written to [bold]{escape(str(out))}[/]: {', '.join(p.name for p in written)}")


def _print_top(console: Console, result, top: int) -> None:
    """The ``top`` largest alliance changes with their HDIs and the channels they came through."""
    # lazy: walt_bayes.fit.diagnostics imports ArviZ (seconds)
    from walt_bayes.fit.diagnostics import CI_PROB

    table = Table(title=f"Largest alliance changes (scenario − baseline, {CI_PROB:.0%} HDI)")
    for col in ("dyad", "year", "baseline", "scenario", "change", "HDI", "P(increase)", "via"):
        table.add_column(
            col, no_wrap=col != "via", justify="left" if col in ("dyad", "via") else "right"
        )
    for r in result.top(top).itertuples():
        table.add_row(
            escape(f"{r.state_a_abb}–{r.state_b_abb}"),
            str(r.year),
            f"{r.baseline_mean:.3f}",
            f"{r.scenario_mean:.3f}",
            f"{r.diff_mean:+.4f}",
            f"[{r.diff_hdi_low:+.4f}, {r.diff_hdi_high:+.4f}]",
            f"{r.p_increase:.2f}",
            escape(r.channels),
        )
    wide_console(console, 150).print(table)
