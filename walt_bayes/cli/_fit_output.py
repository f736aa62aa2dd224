"""How a fit is shown on the console: priors, posterior summary, convergence, network checks.

Shared by ``walt-bayes fit`` (all four) and ``walt-bayes summary`` (the summary table).
"""

from __future__ import annotations

import math

from rich.markup import escape
from rich.table import Table

from walt_bayes.cli._common import console, wide_console


def print_priors(spec) -> None:
    """The table of priors a fit of ``spec`` uses (the spec's, else the defaults)."""
    # lazy: walt_bayes.spec imports PyMC (pymc_extras' Prior), seconds
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


def print_summary(summary) -> None:
    """The posterior summary table (94% HDI); rows that fail R-hat or bulk ESS in red."""
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
    wide_console(console, longest + 76).print(table)


def print_convergence(conv) -> None:
    """One line of convergence checks: green when they pass, a loud warning when not."""
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


def print_network_checks(tree) -> None:
    """One line per posterior predictive check of the alliance network; flags in red."""
    # lazy: walt_bayes.fit.network_checks imports xarray and ArviZ (seconds)
    from walt_bayes.fit.network_checks import check_lines, stored_network_checks

    result = stored_network_checks(tree)
    if result is None:
        return
    if result.get("mode") == "one-step-ahead":
        console.print("[dim]network checks one step ahead (onset rows: alliance; continuing rows: 1 − alliance_end)[/]")
    for line, flagged in check_lines(result):
        console.print(f"[bold red]network check flag:[/] [red]{escape(line)}[/]" if flagged
                      else f"network check: {escape(line)}")
