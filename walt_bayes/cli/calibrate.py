"""The ``walt-bayes sbc`` command.

``walt-bayes sbc SPEC --reps N [--states --years --chains --draws --tune --ranks --seed
--scheduler serial|processes|tcp://HOST:PORT --workers N --out DIR]``

The API has no calibration verb: the command calls :func:`walt_bayes.calibrate.sbc.run_sbc`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from walt_bayes.cli._common import console
from walt_bayes.executor import SCHEDULER_HELP, parse_scheduler
from walt_bayes.paths import setup_pytensor_cache

Spec = Annotated[
    str, typer.Argument(help="Model spec TOML, or a variant name (e.g. balance_of_threat).")
]
Reps = Annotated[int, typer.Option(min=2, help="Replications (prior draw, simulated outcomes, fit).")]
States = Annotated[int, typer.Option(min=4, help="States of the simulated system.")]
Years = Annotated[int, typer.Option(min=1, help="Years of the simulated system.")]
Chains = Annotated[int, typer.Option(min=1, help="Chains per replication.")]
Draws = Annotated[int, typer.Option(min=1, help="Draws per chain per replication.")]
Tune = Annotated[int, typer.Option(min=1, help="Tuning steps per chain per replication.")]
Ranks = Annotated[int, typer.Option(min=1, help="L: thinned posterior draws each rank is taken among.")]
Seed = Annotated[int, typer.Option(min=0, help="Integer seed of the whole run.")]
FitSpec = Annotated[
    str | None,
    typer.Option(help="Fit with this spec instead (a deliberate mis-specification check)."),
]
Scheduler = Annotated[str, typer.Option(help=SCHEDULER_HELP)]
Workers = Annotated[int | None, typer.Option(min=1, help="Worker processes of the local cluster.")]
Out = Annotated[
    Path | None, typer.Option(help="Output directory (default runs/sbc-<spec>-r<N>-s<seed>).")
]


def sbc_command(
    spec: Spec,
    reps: Reps = 20,
    states: States = 10,
    years: Years = 8,
    chains: Chains = 2,
    draws: Draws = 300,
    tune: Tune = 400,
    ranks: Ranks = 99,
    seed: Seed = 0,
    fit_spec: FitSpec = None,
    scheduler: Scheduler = "processes",
    workers: Workers = None,
    out: Out = None,
) -> None:
    """Simulation-based calibration (Talts et al. 2018): ranks of true values, uniformity tests, plots."""
    setup_pytensor_cache()
    # lazy: CLI start-up (walt_bayes.api imports pandas and pandera, a second or more)
    from walt_bayes import api

    # lazy: walt_bayes.calibrate.sbc imports PyMC (through walt_bayes.spec) and xarray
    from walt_bayes.calibrate.sbc import SBCSettings, run_sbc

    scheduler = parse_scheduler(scheduler)
    model_spec = api.load_spec(spec)
    settings = SBCSettings(
        reps=reps,
        states=states,
        years=years,
        chains=chains,
        draws=draws,
        tune=tune,
        ranks=ranks,
        seed=seed,
    )
    settings.check()
    out = out or Path("runs") / f"sbc-{model_spec.name}-r{reps}-s{seed}"
    console.print(
        f"[bold]walt-bayes sbc[/] {model_spec.name}: {reps} replications of a {states}-state × {years}-year "
        f"system; {chains} chains × {draws} draws ({tune} tuning) each, ranks among L = {ranks} thinned draws"
    )
    t0 = time.perf_counter()
    result = run_sbc(
        model_spec,
        settings,
        out,
        scheduler=scheduler,
        workers=workers,
        fit_spec=fit_spec,
        console=console,
    )
    _print_uniformity(result)
    console.print(
        f"wall time {time.perf_counter() - t0:.1f} s; ranks [bold]{out / 'ranks.csv'}[/], tests "
        f"[bold]{out / 'uniformity.csv'}[/], plots [bold]{out / 'sbc_ranks.png'}[/] and [bold]{out / 'sbc_ecdf.png'}[/]"
    )


def _print_uniformity(result) -> None:
    """The rank-uniformity tests per parameter, their threshold, the notes and a warning for
    every parameter whose ranks are not uniform."""
    table = Table(title="Rank uniformity per parameter", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("parameter", "mean rank", "χ²", "df", "p χ²", "p ECDF", "uniform"):
        table.add_column(col, justify="left" if col == "parameter" else "right")
    for _, r in result.uniformity.iterrows():
        table.add_row(
            escape(r["parameter"]),
            f"{r['mean_rank']:.2f}",
            f"{r['chi2']:.1f}",
            str(r["df"]),
            f"{r['p_chi2']:.3f}",
            f"{r['p_ecdf']:.3f}",
            "yes" if r["uniform"] else "[bold red]NO[/]",
        )
    console.print(table)
    threshold = result.uniformity.attrs.get("threshold", float("nan"))
    console.print(
        f"[dim]flagged when a p-value < {threshold:.4f} (0.05 Bonferroni-corrected over 2 tests × "
        f"{len(result.uniformity)} parameters)[/]"
    )
    for note in result.notes:
        console.print(f"[dim]note: {escape(note)}[/]")
    bad = result.uniformity[~result.uniformity["uniform"]]
    if len(bad):
        console.print(
            f"[bold red]WARNING:[/] non-uniform ranks for {escape(', '.join(bad['parameter']))}"
        )
