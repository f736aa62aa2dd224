"""``walt-bayes fit SPEC``: fit a theory variant and write ``runs/<variant>-<data>-<time>/``.

Parses the options, then calls the API (:func:`walt_bayes.api.load_spec`, :func:`~walt_bayes.api.load_data`,
:func:`~walt_bayes.api.fit`) and prints what the fit stored: priors, notes, summary, convergence
checks and the network checks.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from walt_bayes.atomic import atomic_dir
from walt_bayes.cli._common import console
from walt_bayes.cli._fit_output import (
    print_convergence,
    print_network_checks,
    print_priors,
    print_summary,
)
from walt_bayes.cli.report import write_report
from walt_bayes.defaults import DEFAULT_SEED
from walt_bayes.errors import WaltError
from walt_bayes.paths import setup_pytensor_cache


def fit_command(
    spec: Annotated[str, typer.Argument(help="Model spec TOML, or a variant name (e.g. balance_of_threat).")],
    data: Annotated[str, typer.Option(help="'middle-east' (embedded) or a panel file (.parquet/.csv).")] = (
        "middle-east"
    ),
    seed: Annotated[
        int, typer.Option(min=0, help="Integer seed: same spec, data and seed give identical draws.")
    ] = DEFAULT_SEED,
    draws: Annotated[int | None, typer.Option(min=1, help="Posterior draws per chain (default: spec).")] = None,
    tune: Annotated[int | None, typer.Option(min=1, help="Tuning steps per chain (default: spec).")] = None,
    chains: Annotated[int | None, typer.Option(min=1, help="Number of chains (default: spec).")] = None,
    sampler: Annotated[str | None, typer.Option(help="nutpie (default) or pymc.")] = None,
    cores: Annotated[int | None, typer.Option(min=1, help="Parallel chains (default: all cores).")] = None,
    out: Annotated[Path, typer.Option(help="Directory under which the run directory is created.")] = Path("runs"),
    report: Annotated[bool, typer.Option(help="Also render the HTML fit report.")] = False,
    case_control: Annotated[
        str,
        typer.Option(
            "--case-control",
            help="Case-control sampling of rare outcomes with the exact prior correction (King & Zeng 2001): "
            "'auto' (only for global-scale panels: politically relevant dyads, all ones and a few zeros per one), "
            "'off', a fraction RATE in (0, 1] of zeros kept, or R0,RD (alliance, dispute).",
        ),
    ] = "auto",
) -> None:
    """Fit a theory variant to a panel and write runs/<variant>-<data>-<time>/fit.nc."""
    setup_pytensor_cache()
    # lazy: CLI start-up (walt_bayes.api imports pandas and pandera, a second or more)
    from walt_bayes import api

    # lazy: walt_bayes.fit.fitfile imports xarray and PyMC (through walt_bayes.spec)
    from walt_bayes.fit.fitfile import save_fit

    # lazy: CLI start-up (walt_bayes.model.casecontrol imports pandas)
    from walt_bayes.model.casecontrol import parse_setting

    # lazy: walt_bayes.spec imports PyMC (pymc_extras' Prior), seconds
    from walt_bayes.spec import SAMPLERS

    # Checked here too, so that a bad option is named as the user typed it (--sampler, --case-control).
    if sampler is not None and sampler not in SAMPLERS:
        raise WaltError(f"--sampler: '{sampler}' is not one of {', '.join(SAMPLERS)}")
    parse_setting(case_control)
    model_spec = api.load_spec(spec)
    dataset = api.load_data(data)
    console.print(
        f"[bold]walt-bayes fit[/] {model_spec.name} on [bold]{dataset.name}[/] "
        f"({len(dataset.panel):,} directed dyad-years, sha256 {dataset.sha256[:12]}…), seed {seed}"
    )
    print_priors(model_spec)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = out / f"{model_spec.name}-{dataset.name}-{stamp}"
    t0 = time.perf_counter()
    fitted = api.fit(
        model_spec, dataset, seed=seed, draws=draws, tune=tune, chains=chains, sampler=sampler,
        cores=cores, case_control=case_control, progress=sys.stderr.isatty(),
    )
    # Written here rather than by Fit.save, which refuses a folder name that is not plain
    # (a panel file's stem may hold spaces): the command keeps the data set's own name.
    with atomic_dir(run_dir) as tmp:
        save_fit(fitted.tree, tmp / "fit.nc")
        fitted.summary().to_csv(tmp / "summary.csv")
    wall = time.perf_counter() - t0
    for note in fitted.meta("design_notes"):
        console.print(f"[dim]note: {escape(note)}[/]")
    cc = fitted.meta("case_control")
    if cc.get("used"):
        console.print(
            f"case-control sample ({cc['method']}): r0 {cc['r0']:.4g}, rd {cc['rd']:.4g}; "
            "log-likelihood and predictive draws are on the sampled rows"
        )
    print_summary(fitted.summary())
    print_convergence(fitted.convergence)
    print_network_checks(fitted.tree)
    console.print(f"wall time {wall:.1f} s; fit written to [bold]{run_dir / 'fit.nc'}[/]")
    if report:
        write_report([run_dir], None)
