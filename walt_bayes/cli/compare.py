"""The ``walt-bayes compare`` command.

``walt-bayes compare RUN_DIR… [--method loo|kfold] [--folds K]
[--group dyad|year-block|none] [--scheduler serial|processes|tcp://HOST:PORT] [--out DIR]
[--format table|latex]``

Not through :func:`walt_bayes.api.compare`, which has no equivalent of ``--cores``,
``--fold-start``, ``--scheduler``/``--workers`` or of printing progress to a given console
(stderr under ``--format latex``): the command calls :func:`walt_bayes.compare.table.compare_runs`.
"""

from __future__ import annotations

import math
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from walt_bayes.cli._common import console, err_console, setup_caches


class Method(StrEnum):
    loo = "loo"
    kfold = "kfold"


class FoldStart(StrEnum):
    posterior = "posterior"
    default = "default"


class Format(StrEnum):
    table = "table"
    latex = "latex"


class Group(StrEnum):
    dyad = "dyad"
    year_block = "year-block"
    none = "none"


def compare_command(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="Two or more run directories (or fit.nc files).")
    ],
    method: Annotated[
        Method, typer.Option(help="loo: PSIS-LOO, no refits; kfold: refit per fold.")
    ] = Method.loo,
    folds: Annotated[
        int, typer.Option(min=2, help="Folds (kfold) or year blocks (year-block).")
    ] = 5,
    group: Annotated[
        Group,
        typer.Option(help="kfold grouping: whole dyads, leave-future-out year blocks, or none."),
    ] = Group.dyad,
    out: Annotated[
        Path | None,
        typer.Option(help="Output directory (default runs/compare-<method>[-<group>-k<K>])."),
    ] = None,
    fold_chains: Annotated[int, typer.Option(min=1, help="Chains per fold refit.")] = 2,
    fold_draws: Annotated[int, typer.Option(min=10, help="Draws per chain per fold refit.")] = 300,
    fold_tune: Annotated[
        int, typer.Option(min=10, help="Tuning steps per chain per fold refit.")
    ] = 300,
    fold_start: Annotated[
        FoldStart,
        typer.Option(help="Where each refit's chains start (nutpie): a draw of the fit itself, or "
                     "nutpie's default (jittered support point; a slower warm-up)."),
    ] = FoldStart.posterior,
    fold_seed: Annotated[int, typer.Option(help="Seed of the assignment of dyads to folds.")] = 0,
    cores: Annotated[
        int | None, typer.Option(min=1, help="Parallel chains per refit (default: all).")
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Folds refitted at once in worker processes (kfold; default: one per core).",
        ),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(help="Variant to take elpd differences against (default: the best)."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Run the kfold refits as Dask tasks: serial, processes (a local cluster) or "
            "tcp://HOST:PORT (replaces --jobs; same numbers)."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes of --scheduler processes.")
    ] = None,
    format: Annotated[
        Format,
        typer.Option(
            "--format",
            help="table, or latex: a booktabs table on stdout (progress and notes on stderr).",
        ),
    ] = Format.table,
) -> None:
    """Rank theory variants by out-of-sample prediction of alliances (elpd, SE, weights)."""
    setup_caches()
    con = err_console if format is Format.latex else console  # stdout carries the LaTeX alone
    from rich import box
    from rich.table import Table

    from walt_bayes.compare.kfold import FoldSettings
    from walt_bayes.compare.table import compare_runs

    if out is None:
        suffix = "" if method is Method.loo else f"-{group.value}-k{folds}"
        out = Path("runs") / f"compare-{method.value}{suffix}"
    settings = FoldSettings(chains=fold_chains, draws=fold_draws, tune=fold_tune, cores=cores,
                            start=fold_start.value)
    if method is Method.kfold:
        con.print(
            f"[bold]walt-bayes compare[/]: {len(run_dirs)} fits, {folds} folds ({group.value}); "
            f"each fold refit with {fold_chains} chains × {fold_draws} draws ({fold_tune} tuning), "
            f"cached in {out / 'folds'}"
        )
    if jobs is None:
        from walt_bayes.grid.executor import available_cores

        # Compilation is single-threaded: folds side by side use both cores where one fold cannot.
        jobs = available_cores() if method is Method.kfold else 1
    t0 = time.perf_counter()
    if scheduler is not None:
        from walt_bayes.grid.executor import parse_scheduler

        scheduler = parse_scheduler(scheduler)
        if method is Method.kfold:
            from walt_bayes.compare.kfold import prefetch_folds

            prefetch_folds(
                run_dirs, folds, group.value, settings, out / "folds", fold_seed,
                scheduler=scheduler, workers=workers, console=con,
            )
            jobs = 1  # every fold is now cached: the pass below only reads them
        else:
            con.print("[dim]note: --scheduler only applies to --method kfold (LOO refits nothing)[/]")
    table = compare_runs(
        run_dirs,
        method=method.value,
        folds=folds,
        group=group.value,
        out=out,
        fold_settings=settings,
        fold_seed=fold_seed,
        reference=reference,
        jobs=jobs,
        console=con,
    )
    wall = time.perf_counter() - t0
    if format is Format.latex:
        from walt_bayes.report.latex import compare_latex

        print(compare_latex(table), end="")
    view = Table(
        title=f"Theory variants ranked by elpd ({table['n_obs'].iloc[0]:,} alliance dyad-years) — "
        f"{table['scheme'].iloc[0]}",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    headers = {"variant": "variant", "elpd": "elpd", "se": "SE", "elpd_diff": "Δelpd", "dse": "ΔSE"}
    headers["weight"] = "weight"
    if method is Method.loo:
        headers |= {"pareto_k_max": "max k", "n_pareto_k_gt_0.7": "k>0.7"}
    else:
        headers |= {"fold_divergences": "div.", "fold_max_rhat": "R-hat"}
    for c, header in headers.items():
        view.add_column(header, justify="left" if c == "variant" else "right", no_wrap=True)
    for _, r in table.iterrows():
        view.add_row(*(_cell(r[c], c) for c in headers))
    if format is Format.table:
        con.print(view)
    schemes = dict.fromkeys(f"{r['variant']}: {r['scheme']}" for _, r in table.iterrows())
    if len({s.split(": ", 1)[1] for s in schemes}) > 1:
        for s in schemes:
            con.print(f"[dim]scheme — {escape(s)}[/]")
    for note in table.attrs.get("notes", []):
        con.print(f"[dim]note: {escape(note)}[/]")
    for warning in table.attrs.get("warnings", []):
        con.print(f"[bold red]WARNING:[/] {escape(warning)}")
    con.print(
        f"wall time {wall:.1f} s; table [bold]{out / 'compare.csv'}[/], "
        f"plot [bold]{out / 'compare.png'}[/]"
    )


def _cell(value, column: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "—"
    if column in ("variant", "n_pareto_k_gt_0.7", "fold_divergences"):
        return f"{value:.0f}" if isinstance(value, float) else str(value)
    digits = {"weight": 2, "pareto_k_max": 2, "fold_max_rhat": 3}.get(column, 1)
    return f"{value:.{digits}f}"
