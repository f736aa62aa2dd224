"""The ``walt-bayes compare`` command.

``walt-bayes compare RUN_DIR… [--method loo|kfold] [--folds K]
[--group dyad|year-block|none] [--scheduler serial|processes|tcp://HOST:PORT] [--out DIR]
[--format table|latex]``

Parses the options, then calls :func:`walt_bayes.api.compare` (progress on stderr under
``--format latex``) and prints the ranked table, its notes and warnings.
"""

from __future__ import annotations

import math
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from walt_bayes.cli._common import console, err_console
from walt_bayes.executor import available_cores, parse_scheduler
from walt_bayes.paths import setup_pytensor_cache


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


RunDirs = Annotated[
    list[Path], typer.Argument(help="Two or more run directories (or fit.nc files).")
]
MethodOption = Annotated[
    Method, typer.Option(help="loo: PSIS-LOO, no refits; kfold: refit per fold.")
]
Folds = Annotated[int, typer.Option(min=2, help="Folds (kfold) or year blocks (year-block).")]
GroupOption = Annotated[
    Group,
    typer.Option(help="kfold grouping: whole dyads, leave-future-out year blocks, or none."),
]
Out = Annotated[
    Path | None,
    typer.Option(help="Output directory (default runs/compare-<method>[-<group>-k<K>])."),
]
FoldChains = Annotated[int, typer.Option(min=1, help="Chains per fold refit.")]
FoldDraws = Annotated[int, typer.Option(min=10, help="Draws per chain per fold refit.")]
FoldTune = Annotated[int, typer.Option(min=10, help="Tuning steps per chain per fold refit.")]
FoldStartOption = Annotated[
    FoldStart,
    typer.Option(help="Where each refit's chains start (nutpie): a draw of the fit itself, or "
                 "nutpie's default (jittered support point; a slower warm-up)."),
]
FoldSeed = Annotated[int, typer.Option(help="Seed of the assignment of dyads to folds.")]
Cores = Annotated[int | None, typer.Option(min=1, help="Parallel chains per refit (default: all).")]
Jobs = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Folds refitted at once in worker processes (kfold; default: one per core).",
    ),
]
Reference = Annotated[
    str | None,
    typer.Option(help="Variant to take elpd differences against (default: the best)."),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        help="Run the kfold refits as Dask tasks: serial, processes (a local cluster) or "
        "tcp://HOST:PORT (replaces --jobs; same numbers)."
    ),
]
Workers = Annotated[int | None, typer.Option(min=1, help="Worker processes of --scheduler processes.")]
FormatOption = Annotated[
    Format,
    typer.Option(
        "--format",
        help="table, or latex: a booktabs table on stdout (progress and notes on stderr).",
    ),
]


def compare_command(
    run_dirs: RunDirs,
    method: MethodOption = Method.loo,
    folds: Folds = 5,
    group: GroupOption = Group.dyad,
    out: Out = None,
    fold_chains: FoldChains = 2,
    fold_draws: FoldDraws = 300,
    fold_tune: FoldTune = 300,
    fold_start: FoldStartOption = FoldStart.posterior,
    fold_seed: FoldSeed = 0,
    cores: Cores = None,
    jobs: Jobs = None,
    reference: Reference = None,
    scheduler: Scheduler = None,
    workers: Workers = None,
    format: FormatOption = Format.table,
) -> None:
    """Rank theory variants by out-of-sample prediction of alliances (elpd, SE, weights)."""
    setup_pytensor_cache()
    # lazy: CLI start-up (walt_bayes.api imports pandas and pandera, a second or more)
    from walt_bayes import api

    con = err_console if format is Format.latex else console  # stdout carries the LaTeX alone
    if out is None:
        suffix = "" if method is Method.loo else f"-{group.value}-k{folds}"
        out = Path("runs") / f"compare-{method.value}{suffix}"
    if method is Method.kfold:
        con.print(
            f"[bold]walt-bayes compare[/]: {len(run_dirs)} fits, {folds} folds ({group.value}); "
            f"each fold refit with {fold_chains} chains × {fold_draws} draws ({fold_tune} tuning), "
            f"cached in {out / 'folds'}"
        )
    if jobs is None:
        jobs = _default_jobs(method)
    t0 = time.perf_counter()
    scheduler = _checked_scheduler(scheduler, method, con)
    table = api.compare(
        run_dirs, method.value, folds=folds, group=group.value, reference=reference, out=out,
        fold_chains=fold_chains, fold_draws=fold_draws, fold_tune=fold_tune,
        fold_start=fold_start.value, fold_seed=fold_seed, cores=cores, jobs=jobs,
        scheduler=scheduler, workers=workers, console=con,
    ).table
    wall = time.perf_counter() - t0
    if format is Format.latex:
        # lazy: the walt_bayes.report package imports nbformat (walt_bayes.report.render)
        from walt_bayes.report.latex import compare_latex

        print(compare_latex(table), end="")
    else:
        con.print(_ranked_table(table, method))
    _print_notes(table, con)
    con.print(
        f"wall time {wall:.1f} s; table [bold]{out / 'compare.csv'}[/], "
        f"plot [bold]{out / 'compare.png'}[/]"
    )


def _default_jobs(method: Method) -> int:
    """Folds refitted at once when ``--jobs`` is not given: one per core for k-fold."""
    if method is not Method.kfold:
        return 1
    # Compilation is single-threaded: folds side by side use both cores where one fold cannot.
    return available_cores()


def _checked_scheduler(scheduler: str | None, method: Method, con) -> str | None:
    """``--scheduler`` checked, with a note when it does nothing (LOO refits nothing)."""
    if scheduler is None:
        return None
    scheduler = parse_scheduler(scheduler)  # named as the option the user typed
    if method is not Method.kfold:
        con.print("[dim]note: --scheduler only applies to --method kfold (LOO refits nothing)[/]")
    return scheduler


def _ranked_table(table, method: Method):
    """The ranked variants as a Rich table, with the diagnostics of the method's scheme."""
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
    return view


def _print_notes(table, con) -> None:
    """Each variant's scheme where they differ, then the table's notes and warnings."""
    schemes = dict.fromkeys(f"{r['variant']}: {r['scheme']}" for _, r in table.iterrows())
    if len({s.split(": ", 1)[1] for s in schemes}) > 1:
        for s in schemes:
            con.print(f"[dim]scheme — {escape(s)}[/]")
    for note in table.attrs.get("notes", []):
        con.print(f"[dim]note: {escape(note)}[/]")
    for warning in table.attrs.get("warnings", []):
        con.print(f"[bold red]WARNING:[/] {escape(warning)}")


def _cell(value, column: str) -> str:
    """One number of the ranked table as printed (— where it is missing)."""
    if isinstance(value, float) and math.isnan(value):
        return "—"
    if column in ("variant", "n_pareto_k_gt_0.7", "fold_divergences"):
        return f"{value:.0f}" if isinstance(value, float) else str(value)
    digits = {"weight": 2, "pareto_k_max": 2, "fold_max_rhat": 3}.get(column, 1)
    return f"{value:.{digits}f}"
