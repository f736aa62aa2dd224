"""``walt-bayes hypotheses RUN_DIR``: the verdicts on Walt's hypotheses from a saved fit.

Parses the options, then calls the API (:func:`walt_bayes.api.load`,
:meth:`walt_bayes.api.Fit.hypotheses`) and prints the evidence table as a table, CSV, JSON,
Markdown or LaTeX; also writes ``RUN_DIR/hypotheses.csv``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from walt_bayes.atomic import atomic_path
from walt_bayes.cli._common import Fmt, console, err_console, wide_console
from walt_bayes.errors import WaltError

RunDir = Annotated[Path, typer.Argument(help="A run directory (or its fit.nc).")]
FormatOption = Annotated[Fmt, typer.Option("--format", help="Output format.")]
Rope = Annotated[
    str, typer.Option(help="ROPE as odds ratios per SD, LOW,HIGH (default 0.9,1.1).")
]
Prob = Annotated[float, typer.Option(min=0.5, max=0.999, help="Posterior probability needed.")]
AllowUnconverged = Annotated[
    bool,
    typer.Option(
        "--allow-unconverged",
        help="For a fit that failed its convergence checks, show the verdicts as computed under a "
        "warning banner and exit 0 (default: mark them unreliable and exit 1).",
    ),
]

def hypotheses_command(
    run_dir: RunDir,
    format: FormatOption = Fmt.table,
    rope: Rope = "0.9,1.1",
    prob: Prob = 0.95,
    allow_unconverged: AllowUnconverged = False,
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
    # lazy: CLI start-up (walt_bayes.api imports pandas and pandera, a second or more)
    from walt_bayes import api

    # lazy: walt_bayes.hypotheses.verdicts imports ArviZ (seconds)
    from walt_bayes.hypotheses.verdicts import Thresholds

    low, high, rope_bounds = _parse_rope(rope)
    thresholds = Thresholds(prob=prob, rope=rope_bounds)  # for the LaTeX caption
    fitted = api.load(run_dir)
    evidence = fitted.hypotheses(rope=(low, high), prob=prob, allow_unconverged=allow_unconverged)
    table = evidence.table
    banner = evidence.banner  # '' for a converged fit
    folder = run_dir if run_dir.is_dir() else run_dir.parent
    with atomic_path(folder / "hypotheses.csv") as tmp:
        table.to_csv(tmp, index=False)
    if format in (Fmt.json, Fmt.csv, Fmt.latex):
        _print_machine_readable(format, table, fitted.tree, thresholds, banner, allow_unconverged)
    else:
        attrs = fitted.tree.attrs
        title = f"Evidence for Walt's hypotheses — {attrs.get('spec_name')} on {attrs.get('data_name')}"
        if format is Fmt.markdown:
            _print_markdown(table, evidence.pairs, title, banner)
        else:
            _print_tables(table, evidence.pairs, title, banner, allow_unconverged)
    _finish(banner, allow_unconverged)


def _parse_rope(rope: str) -> tuple[float, float, tuple[float, float]]:
    """``--rope LOW,HIGH`` as odds ratios and as the ROPE's bounds.

    Parsed here, not by the API, so that a bad ROPE is named as the option the user typed.
    """
    # lazy: walt_bayes.hypotheses.verdicts imports ArviZ (seconds)
    from walt_bayes.hypotheses.verdicts import rope_from_odds_ratio

    try:
        low, high = (float(v) for v in rope.split(","))
        return low, high, rope_from_odds_ratio(low, high)
    except ValueError as err:
        raise WaltError(f"--rope: expected two odds ratios LOW,HIGH with 0 < LOW < 1 < HIGH ({err})") from err


def _finish(banner: str, allow_unconverged: bool) -> None:
    """Exit 1 after the output when the fit failed its checks (unless --allow-unconverged)."""
    if banner and not allow_unconverged:
        err_console.print(
            f"[bold red]error:[/] {escape(banner)} — refit with more draws/tuning, or pass "
            "--allow-unconverged to see the verdicts as computed",
            highlight=False, soft_wrap=True,
        )
        raise typer.Exit(1)


def _print_machine_readable(format: Fmt, table, tree, thresholds, banner: str, allow_unconverged: bool) -> None:
    """JSON, CSV or LaTeX on stdout; a warning banner goes to stderr."""
    # lazy: walt_bayes.hypotheses.table imports ArviZ and xarray (seconds)
    from walt_bayes.hypotheses.table import table_records

    if banner and allow_unconverged:  # stdout stays machine-readable
        err_console.print(f"[bold red]WARNING — {escape(banner)}[/]", highlight=False, soft_wrap=True)
    if format is Fmt.json:
        print(json.dumps(table_records(table), indent=2))
    elif format is Fmt.latex:  # booktabs tables; the caption names variant, data and thresholds
        # lazy: the walt_bayes.report package imports nbformat (walt_bayes.report.render)
        from walt_bayes.report.latex import evidence_latex

        print(evidence_latex(table, variant=str(tree.attrs.get("spec_name")),
                             data=str(tree.attrs.get("data_name")), thresholds=thresholds), end="")
    else:
        print(table.to_csv(index=False), end="")


def _described(r) -> str:
    """A row's statement (or, for a part, its quantity), reason, note and comparison."""
    # lazy: walt_bayes.hypotheses.verdicts imports ArviZ (seconds)
    from walt_bayes.hypotheses.verdicts import UNRELIABLE

    head = f"↳ {r['quantity']}" if r["part_of"] else r["statement"]
    # An unreliable row's reason (the failing checks) is the banner's: not repeated on every row.
    reason = "no verdict: the fit failed its convergence checks" if r["verdict"] == UNRELIABLE else r["reason"]
    extra = [reason or "", r["note"], f"compare: {r['comparison']}" if (
        r["comparison"] and r["family"] != "VARIANT") else ""]
    return " — ".join([head, *[e for e in extra if e]])


def _print_markdown(table, pairs, title: str, banner: str) -> None:
    """The evidence table, the pairs and the notes as Markdown on stdout."""
    # lazy: walt_bayes.hypotheses.table imports ArviZ and xarray (seconds)
    from walt_bayes.hypotheses.table import fmt, format_row, markdown

    # A row's mean and HDI bounds share one fixed-point format (format_row), no exponents.
    shown = [format_row([r["mean"], r["hdi_low"], r["hdi_high"]]) for _, r in table.iterrows()]
    md = table.assign(
        **{"predicts": table["direction"],
           "mean": [m for m, _, _ in shown], "hdi_low": [lo for _, lo, _ in shown],
           "hdi_high": [hi for _, _, hi in shown],
           "p_direction": table["p_direction"].map(lambda x: fmt(x, 3)),
           "bayes_factor": table["bayes_factor"].map(lambda x: fmt(x, 2)),
           "statement / quantity / reason": table.apply(_described, axis=1)}
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


def _print_tables(table, pairs, title: str, banner: str, allow_unconverged: bool) -> None:
    """The evidence table and the pairs as Rich tables, the notes dimmed underneath."""
    wide = wide_console(console, 150)
    if banner and allow_unconverged:
        wide.print(f"[bold red]WARNING — {escape(banner)}[/]", soft_wrap=True)
    wide.print(_evidence_view(table, title))
    if not pairs.empty:
        wide.print(_pairs_view(pairs))
    for note in table.attrs.get("notes", []):
        console.print(f"[dim]{escape(note)}[/]")
    if banner and allow_unconverged:
        console.print(f"[bold red]WARNING — {escape(banner)}[/]", soft_wrap=True)


def _evidence_view(table, title: str) -> Table:
    """One row per hypothesis (and part): verdict in colour, mean, HDI, P(dir), BF10, reason."""
    # lazy: walt_bayes.hypotheses.table imports ArviZ and xarray (seconds)
    from walt_bayes.hypotheses.table import fmt, row_numbers

    # lazy: walt_bayes.hypotheses.verdicts imports ArviZ (seconds)
    from walt_bayes.hypotheses.verdicts import UNRELIABLE

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
            fmt(r["bayes_factor"], 2), escape(_described(r)),
        )
    return out


def _pairs_view(pairs) -> Table:
    """Balancing and bandwagoning hypotheses side by side."""
    # lazy: walt_bayes.hypotheses.table imports ArviZ and xarray (seconds)
    from walt_bayes.hypotheses.table import fmt_fixed

    side = Table(title="Balancing vs bandwagoning, side by side")
    for col in pairs.columns:
        side.add_column(col)
    for _, r in pairs.iterrows():
        side.add_row(*[fmt_fixed(v) if isinstance(v, float) else escape(str(v)) for v in r.tolist()])
    return side
