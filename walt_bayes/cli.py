"""The ``walt-bayes`` command line: fit, hypotheses, simulate, data, panel, …

Every user error is one red line on stderr and exit status 2 (``--debug``
shows the traceback); outputs are written atomically, so an interrupted
command leaves nothing half-written.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from walt_bayes.errors import WaltError

app = typer.Typer(
    name="walt-bayes",
    help="Bayesian tests of Walt's balance-of-threat theory of alliances.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
_STATE = {"debug": False}


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    """Bayesian tests of Walt's balance-of-threat theory of alliances."""
    _STATE["debug"] = debug


def _mount_subcommands() -> None:
    from walt_bayes.cli_data import data_app, panel_app

    app.add_typer(data_app, name="data", help="List, fetch, verify and cite the real-data sources.")
    app.add_typer(panel_app, name="panel", help="Build the global directed dyad-year panel from real data.")
    from walt_bayes.check import check_command

    app.command(name="check")(check_command)
    from walt_bayes.compare.cli import compare_command

    app.command(name="compare")(compare_command)
    from walt_bayes.report.cli import report_command

    app.command(name="report")(report_command)
    from walt_bayes.calibrate.cli import sbc_command
    from walt_bayes.grid.cli import grid_command

    app.command(name="sbc")(sbc_command)
    app.command(name="grid")(grid_command)
    from walt_bayes.cli_predict import predict_command

    app.command(name="predict")(predict_command)
    from walt_bayes.cli_outputs import cite_command, export_command, summary_command

    app.command(name="summary")(summary_command)
    app.command(name="export")(export_command)
    app.command(name="cite")(cite_command)


def _setup_caches() -> None:
    """Keep PyTensor's compile cache out of the working tree."""
    if "PYTENSOR_FLAGS" not in os.environ or "base_compiledir" not in os.environ["PYTENSOR_FLAGS"]:
        from platformdirs import user_cache_dir

        cache = Path(os.environ.get("WALT_BAYES_CACHE", user_cache_dir("walt-bayes"))) / "pytensor"
        flags = os.environ.get("PYTENSOR_FLAGS", "")
        os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, f"base_compiledir={cache}"]))


class Fmt(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"
    latex = "latex"


# --------------------------------------------------------------------------- fit
@app.command()
def fit(
    spec: Annotated[str, typer.Argument(help="Model spec TOML, or a variant name (e.g. balance_of_threat).")],
    data: Annotated[str, typer.Option(help="'middle-east' (embedded) or a panel file (.parquet/.csv).")] = (
        "middle-east"
    ),
    seed: Annotated[
        int, typer.Option(min=0, help="Integer seed: same spec, data and seed give identical draws.")
    ] = 20260101,
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
    _setup_caches()
    from walt_bayes.atomic import atomic_dir
    from walt_bayes.fit.fitfile import save_fit
    from walt_bayes.fit.run import fit_model
    from walt_bayes.panel.datasets import load_dataset
    from walt_bayes.spec import SAMPLERS, load_spec

    if sampler is not None and sampler not in SAMPLERS:
        raise WaltError(f"--sampler: '{sampler}' is not one of {', '.join(SAMPLERS)}")
    from walt_bayes.model.casecontrol import parse_setting

    cc_setting = parse_setting(case_control)
    model_spec = load_spec(spec)
    dataset = load_dataset(data)
    console.print(
        f"[bold]walt-bayes fit[/] {model_spec.name} on [bold]{dataset.name}[/] "
        f"({len(dataset.panel):,} directed dyad-years, sha256 {dataset.sha256[:12]}…), seed {seed}"
    )
    _print_priors(model_spec)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = out / f"{model_spec.name}-{dataset.name}-{stamp}"
    t0 = time.perf_counter()
    result = fit_model(
        dataset.panel, model_spec, data_name=dataset.name, data_sha256=dataset.sha256, seed=seed,
        draws=draws, tune=tune, chains=chains, sampler=sampler, cores=cores, progressbar=sys.stderr.isatty(),
        case_control=cc_setting,
    )
    with atomic_dir(run_dir) as tmp:
        save_fit(result.idata, tmp / "fit.nc")
        result.summary.to_csv(tmp / "summary.csv")
    wall = time.perf_counter() - t0
    for note in result.design.notes:
        console.print(f"[dim]note: {escape(note)}[/]")
    cc = result.design.case_control
    if cc.get("used"):
        console.print(
            f"case-control sample ({cc['method']}): r0 {cc['r0']:.4g}, rd {cc['rd']:.4g}; "
            "log-likelihood and predictive draws are on the sampled rows"
        )
    _print_summary(result.summary)
    _print_convergence(result.convergence)
    _print_network_checks(result.idata)
    console.print(f"wall time {wall:.1f} s; fit written to [bold]{run_dir / 'fit.nc'}[/]")
    if report:
        _render_report([run_dir], None)


def _print_priors(spec) -> None:
    from walt_bayes.spec import DEFAULT_PRIORS

    table = Table(title="Priors (standardised scale; intercept means default to the logit of the observed rate)")
    table.add_column("parameter")
    table.add_column("prior")
    names = sorted(set(DEFAULT_PRIORS) | set(spec.priors))
    for name in names:
        resolved = spec.resolved_prior(name, None) if name in DEFAULT_PRIORS else spec.priors[name]
        params = [f"{k}={v}" for k, v in resolved.items() if k != "distribution"]
        if name in ("lambda_0", "mu_alpha", "delta_0") and "mu" not in resolved:
            params.insert(0, "mu=logit(observed rate)")
        table.add_row(name, f"{resolved['distribution']}({', '.join(params)})")
    console.print(table)


def _fmt(x: float, digits: int = 2) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _print_summary(summary) -> None:
    table = Table(title="Posterior summary (94% HDI)")
    # Names fold rather than truncate (gamma_shared vs gamma_shared_x_strength); numbers stay whole.
    table.add_column("parameter", justify="left", overflow="fold")
    for col in ("mean", "sd", "hdi low", "hdi high", "ess bulk", "ess tail", "r_hat"):
        table.add_column(col, justify="right", no_wrap=True)
    for name, row in summary.iterrows():
        lo = row.filter(like="lb").iloc[0]
        hi = row.filter(like="ub").iloc[0]
        rhat = float(row["r_hat"])
        style = "red" if rhat > 1.01 or float(row["ess_bulk"]) < 400 else ""
        table.add_row(
            escape(str(name)), _fmt(row["mean"]), _fmt(row["sd"]), _fmt(lo), _fmt(hi),
            f"{float(row['ess_bulk']):.0f}", f"{float(row['ess_tail']):.0f}", f"{rhat:.3f}", style=style,
        )
    longest = max((len(str(n)) for n in summary.index), default=10)
    _wide_console(longest + 76).print(table)


def _wide_console(width: int) -> Console:
    """``console``, or for a pipe or log file (no width to respect; Rich assumes 80 columns) one ``width`` wide."""
    if console.is_terminal:
        return console
    return Console(width=max(console.width, width), file=console.file)


def _print_convergence(conv) -> None:
    line = (
        f"max R-hat {conv.max_rhat:.3f} ({conv.worst_rhat}), min bulk ESS {conv.min_ess_bulk:.0f} "
        f"({conv.worst_ess}), min tail ESS {conv.min_ess_tail:.0f}, divergences {conv.divergences}"
    )
    if conv.bfmi:
        line += f", E-BFMI {min(conv.bfmi):.2f} (lowest of {len(conv.bfmi)} chains)"
    line += f", max tree depth in {conv.max_depth_share:.1%} of draws ({conv.chains} chains × {conv.draws} draws)"
    line = escape(line)  # parameter labels such as tau_beta[intent] are not markup
    if conv.ok:
        console.print(f"[green]converged:[/] {line}")
    else:
        console.print(f"[bold red]WARNING — convergence checks failed:[/] {escape('; '.join(conv.problems))}")
        console.print(f"[red]{line}[/]")


def _print_network_checks(idata) -> None:
    """One line per posterior predictive check of the alliance network; flags in red."""
    from walt_bayes.fit.network_checks import check_lines, stored_network_checks

    result = stored_network_checks(idata)
    if result is None:
        return
    if result.get("mode") == "one-step-ahead":
        console.print("[dim]network checks one step ahead (onset rows: alliance; continuing rows: 1 − alliance_end)[/]")
    for line, flagged in check_lines(result):
        console.print(f"[bold red]network check flag:[/] [red]{escape(line)}[/]" if flagged
                      else f"network check: {escape(line)}")


# -------------------------------------------------------------------- hypotheses
@app.command()
def hypotheses(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (or its fit.nc).")],
    format: Annotated[Fmt, typer.Option("--format", help="Output format.")] = Fmt.table,
    rope: Annotated[
        str, typer.Option(help="ROPE as odds ratios per SD, LOW,HIGH (default 0.9,1.1).")
    ] = "0.9,1.1",
    prob: Annotated[float, typer.Option(min=0.5, max=0.999, help="Posterior probability needed.")] = 0.95,
    allow_unconverged: Annotated[
        bool,
        typer.Option(
            "--allow-unconverged",
            help="For a fit that failed its convergence checks, show the verdicts as computed under a "
            "warning banner and exit 0 (default: mark them unreliable and exit 1).",
        ),
    ] = False,
) -> None:
    """Verdicts on Walt's hypotheses from a fit (supported, contradicted, …).

    One row per hypothesis of WALT_HYPOTHESES.md (multi-part ones also get a row per part, e.g.
    BAL-3a, BAL-3b), then the variant-level claims with the comparison that answers them; the
    balancing/bandwagoning pairs side by side; the thresholds underneath.  Also written to
    RUN_DIR/hypotheses.csv.

    A fit that failed its convergence checks gives no verdicts: every row that would be judged is
    `unreliable` (with the failing checks as its reason), the table and hypotheses.csv are still
    written, and the command ends with a one-line error and exit status 1; --allow-unconverged
    shows the verdicts as computed under a banner and exits 0.  Exit status 2: bad input.
    """
    from walt_bayes.atomic import atomic_path
    from walt_bayes.fit.fitfile import load_fit
    from walt_bayes.hypotheses.table import (
        convergence_banner,
        evidence_table,
        fmt,
        fmt_fixed,
        format_row,
        markdown,
        pairs_table,
        row_numbers,
        table_records,
    )
    from walt_bayes.hypotheses.verdicts import UNRELIABLE, Thresholds, rope_from_odds_ratio

    try:
        low, high = (float(v) for v in rope.split(","))
        rope_bounds = rope_from_odds_ratio(low, high)
    except ValueError as err:
        raise WaltError(f"--rope: expected two odds ratios LOW,HIGH with 0 < LOW < 1 < HIGH ({err})") from err
    thresholds = Thresholds(prob=prob, rope=rope_bounds)
    tree = load_fit(run_dir)
    table = evidence_table(tree, thresholds=thresholds, allow_unconverged=allow_unconverged)
    banner = convergence_banner(table)  # '' for a converged fit
    folder = run_dir if run_dir.is_dir() else run_dir.parent
    with atomic_path(folder / "hypotheses.csv") as tmp:
        table.to_csv(tmp, index=False)

    def finish() -> None:
        """Exit 1 after the output when the fit failed its checks (unless --allow-unconverged)."""
        if banner and not allow_unconverged:
            err_console.print(
                f"[bold red]error:[/] {escape(banner)} — refit with more draws/tuning, or pass "
                "--allow-unconverged to see the verdicts as computed",
                highlight=False, soft_wrap=True,
            )
            raise typer.Exit(1)

    if format in (Fmt.json, Fmt.csv, Fmt.latex):
        if banner and allow_unconverged:  # stdout stays machine-readable
            err_console.print(f"[bold red]WARNING — {escape(banner)}[/]", highlight=False, soft_wrap=True)
        if format is Fmt.json:
            print(json.dumps(table_records(table), indent=2))
        elif format is Fmt.latex:  # booktabs tables; the caption names variant, data and thresholds
            from walt_bayes.report.latex import evidence_latex

            print(evidence_latex(table, variant=str(tree.attrs.get("spec_name")),
                                 data=str(tree.attrs.get("data_name")), thresholds=thresholds), end="")
        else:
            print(table.to_csv(index=False), end="")
        finish()
        return
    pairs = pairs_table(table)
    title = f"Evidence for Walt's hypotheses — {tree.attrs.get('spec_name')} on {tree.attrs.get('data_name')}"

    def described(r) -> str:
        head = f"↳ {r['quantity']}" if r["part_of"] else r["statement"]
        # An unreliable row's reason (the failing checks) is the banner's: not repeated on every row.
        reason = "no verdict: the fit failed its convergence checks" if r["verdict"] == UNRELIABLE else r["reason"]
        extra = [reason or "", r["note"], f"compare: {r['comparison']}" if (
            r["comparison"] and r["family"] != "VARIANT") else ""]
        return " — ".join([head, *[e for e in extra if e]])

    if format is Fmt.markdown:
        # A row's mean and HDI bounds share one fixed-point format (format_row), no exponents.
        shown = [format_row([r["mean"], r["hdi_low"], r["hdi_high"]]) for _, r in table.iterrows()]
        md = table.assign(
            **{"predicts": table["direction"],
               "mean": [m for m, _, _ in shown], "hdi_low": [lo for _, lo, _ in shown],
               "hdi_high": [hi for _, _, hi in shown],
               "p_direction": table["p_direction"].map(lambda x: fmt(x, 3)),
               "bayes_factor": table["bayes_factor"].map(lambda x: fmt(x, 2)),
               "statement / quantity / reason": table.apply(described, axis=1)}
        )
        cols = ["id", "verdict", "predicts", "mean", "hdi_low", "hdi_high", "p_direction", "bayes_factor",
                "statement / quantity / reason"]
        print(f"## {title}\n")
        if banner:
            print(f"> **WARNING** — {banner}\n")
        print(markdown(md[cols]))
        if not pairs.empty:
            print("\n### Balancing vs bandwagoning, side by side\n")
            print(markdown(pairs))
        print()
        for note in table.attrs.get("notes", []):
            print(f"- {note}")
        if banner:
            print(f"- WARNING — {banner}")
        finish()
        return
    out = Table(title=title)
    for col in ("id", "verdict", "pred.", "mean", "94% HDI", "P(dir)", "BF10"):
        out.add_column(col, no_wrap=True)
    out.add_column("statement / quantity / reason", ratio=1, min_width=30)
    colours = {"supported": "green", "contradicted": "red", "practically null": "yellow", UNRELIABLE: "magenta"}
    for _, r in table.iterrows():
        mean, hdi = row_numbers(r["mean"], r["hdi_low"], r["hdi_high"])
        verdict = f"[{colours.get(r['verdict'], 'white')}]{r['verdict']}[/]"
        out.add_row(
            r["id"], verdict, r["direction"], mean, hdi, fmt(r["p_direction"], 3),
            fmt(r["bayes_factor"], 2), escape(described(r)),
        )
    wide = _wide_console(150)
    if banner and allow_unconverged:
        wide.print(f"[bold red]WARNING — {escape(banner)}[/]", soft_wrap=True)
    wide.print(out)
    if not pairs.empty:
        side = Table(title="Balancing vs bandwagoning, side by side")
        for col in pairs.columns:
            side.add_column(col)
        for _, r in pairs.iterrows():
            side.add_row(*[fmt_fixed(v) if isinstance(v, float) else escape(str(v)) for v in r.tolist()])
        wide.print(side)
    for note in table.attrs.get("notes", []):
        console.print(f"[dim]{escape(note)}[/]")
    if banner and allow_unconverged:
        console.print(f"[bold red]WARNING — {escape(banner)}[/]", soft_wrap=True)
    finish()


# ---------------------------------------------------------------------- simulate
@app.command()
def simulate(
    world: Annotated[str, typer.Option(help=(
        "balancing, bandwagoning, null or a spec TOML (drawn from the model); or a world the model did not "
        "generate: persistent, persistent_null, persistent_negative, trend, trend_jump, trend_negative, "
        "mutual, other_threat, other_threat_negative, confounder, ideology_only, reviewer, reviewer_negative "
        "(walt_bayes/model/worlds.py)."
    ))] = "balancing",
    states: Annotated[
        int | None, typer.Option(min=4, help="Number of states (default 12; 22 in the misspecified worlds).")
    ] = None,
    years: Annotated[
        int | None, typer.Option(min=1, help="Number of years (default 10; 24 in the misspecified worlds).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Integer seed.")] = 0,
    out: Annotated[Path, typer.Option(help="Output panel (.parquet); true values go beside it (.truth.json).")] = (
        Path("simulated.parquet")
    ),
) -> None:
    """Simulate a panel with known truth: from the generative model with known parameters, or from a
    world the model did not generate (true directions of BAL-1, BW-1 and COND-1 in the truth file)."""
    _setup_caches()
    from walt_bayes.atomic import atomic_path
    from walt_bayes.model.worlds import simulate_any

    if out.suffix != ".parquet":
        raise WaltError(f"--out {out}: the simulated panel is written as .parquet")
    sim = simulate_any(world, states, years, seed)
    truth_path = out.with_suffix(".truth.json")
    with atomic_path(out, suffix=".parquet") as tmp:
        sim.panel.to_parquet(tmp, index=False)
    with atomic_path(truth_path) as tmp:
        tmp.write_text(json.dumps({"world": sim.world, "seed": sim.seed, "truth": sim.truth}, indent=2))
    console.print(
        f"simulated {sim.world} world: {len(sim.panel):,} directed dyad-years, alliance rate "
        f"{sim.panel['ally'].mean():.3f}, dispute-initiation rate {sim.panel['init21'].mean():.3f}"
    )
    console.print(f"panel: [bold]{out}[/]; true values: [bold]{truth_path}[/]")


# ---------------------------------------------------------------------- variants
@app.command()
def variants() -> None:
    """List the bundled theory variants (models/*.toml) with their blocks and terms."""
    from walt_bayes.spec import list_variants, load_spec

    table = Table(title="Theory variants")
    for col in ("variant", "threat sources", "alliance terms", "description"):
        table.add_column(col)
    for name in list_variants():
        s = load_spec(name)
        sources = ", ".join(s.threat.sources) if s.threat else "—"
        table.add_row(name, sources, ", ".join(s.alliance.terms) or "—", s.description)
    console.print(table)


def _render_report(run_dirs: list[Path], out: Path | None) -> None:
    try:
        from walt_bayes.report.render import render_report
    except ImportError as err:
        raise WaltError("reports are not available in this installation") from err
    path = render_report(run_dirs, out)
    console.print(f"report written to [bold]{path}[/]")


def main() -> None:
    """Console-script entry point: run the app, turning user errors into one line.

    WaltError: one red line, exit 2.  Usage errors (bad option, missing argument):
    one line, exit 2.  SIGINT/SIGTERM: nothing is committed (see
    :mod:`walt_bayes.atomic`), one line, exit 130/143.  Any other exception is a
    bug: one line, exit 1 (``--debug`` shows the traceback).
    """
    import signal

    from rich.markup import escape

    from walt_bayes.atomic import install_signal_handlers, interrupted

    install_signal_handlers()
    _mount_subcommands()
    debug = "--debug" in sys.argv

    def say(message: str, code: int) -> None:
        text = " ".join(str(message).split())
        err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
        sys.exit(code)

    def stop() -> None:
        signum = interrupted() or signal.SIGINT
        err_console.print(
            f"[bold red]interrupted[/] ({signal.Signals(signum).name}) — nothing half-written was left behind",
            highlight=False, soft_wrap=True,
        )
        # Every cleanup (the atomic writers' finally blocks) has run by now.  Python's own
        # shutdown was seen (rarely, after SIGTERM during PyMC's prior predictive) to end
        # the process by SIGINT instead of this exit status: leave without it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + signum)

    try:
        code = app(standalone_mode=False, prog_name="walt-bayes")
    except (typer.Exit, click.exceptions.Exit) as err:
        if interrupted():
            stop()
        sys.exit(err.exit_code)
    except (typer.Abort, click.exceptions.Abort, KeyboardInterrupt):
        stop()
    except WaltError as err:
        if interrupted():
            stop()
        if debug:
            raise
        say(str(err), err.exit_code)
    except (typer.TyperException, click.ClickException) as err:
        if type(err).__name__ == "NoArgsIsHelpError":
            err.show()
            sys.exit(err.exit_code)
        ctx = getattr(err, "ctx", None)
        where = ctx.command_path if ctx is not None else "walt-bayes"
        say(f"{where}: {err.format_message()} (see `{where} --help`)", getattr(err, "exit_code", 2) or 2)
    except Exception as err:
        if interrupted():  # a sampler swallowed the interrupt and something failed on the partial trace
            stop()
        if debug:
            raise
        say(
            f"internal error: {type(err).__name__}: {err} — this is a bug in walt-bayes; "
            "run `walt-bayes --debug …` for the traceback",
            1,
        )
    if interrupted() or code == 130:  # Typer turns KeyboardInterrupt into exit code 130
        stop()
    if isinstance(code, int) and code:
        sys.exit(code)
