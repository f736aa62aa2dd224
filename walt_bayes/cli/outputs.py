"""Outputs for papers and for R: ``walt-bayes summary``, ``export`` and ``cite``.

Mounted by :mod:`walt_bayes.cli`:

* ``summary RUN [--format table|csv|json|markdown|latex]`` — the posterior summary of a
  saved fit (the table ``walt-bayes fit`` prints), e.g. as a booktabs table;
* ``export RUN --to draws-csv|rds [--out DIR] [--vars named|all|a,b]`` — the draws in the
  layout of R's ``posterior::draws_df``, or ``.rds`` files (:mod:`walt_bayes.export`);
* ``cite [--format bibtex|cff|text]`` — how to cite walt-bayes (:mod:`walt_bayes.citation`).

``summary`` reads the fit through the API (:func:`walt_bayes.api.load`, :meth:`~walt_bayes.api.Fit.summary`);
the API has no export or citation verbs, so ``export`` and ``cite`` call their modules.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from walt_bayes import citation
from walt_bayes.cli._common import Fmt, console
from walt_bayes.cli._fit_output import print_summary

RunArg = Annotated[Path, typer.Argument(help="A run directory (or its fit.nc).")]


def summary_command(
    run_dir: RunArg,
    format: Annotated[Fmt, typer.Option("--format", help="Output format.")] = Fmt.table,
) -> None:
    """The posterior summary of a saved fit (mean, sd, 94% HDI, ESS, R-hat), nothing refitted."""
    # lazy: CLI start-up (walt_bayes.api imports pandas and pandera, a second or more)
    from walt_bayes import api

    # lazy: walt_bayes.hypotheses.table imports ArviZ and xarray (seconds)
    from walt_bayes.hypotheses.table import markdown

    fitted = api.load(run_dir)
    summary = fitted.summary()
    if format is Fmt.table:
        print_summary(summary)
    elif format is Fmt.csv:
        print(summary.to_csv(), end="")
    elif format is Fmt.json:
        print(json.dumps(json.loads(summary.to_json(orient="index")), indent=2))
    elif format is Fmt.markdown:
        print(markdown(summary.rename_axis("parameter").reset_index()))
    else:
        # lazy: the walt_bayes.report package imports nbformat (walt_bayes.report.render)
        from walt_bayes.report.latex import summary_latex

        tree = fitted.tree
        post = tree["posterior"]
        print(
            summary_latex(
                summary,
                variant=str(tree.attrs.get("spec_name")),
                data=str(tree.attrs.get("data_name")),
                chains=int(post.sizes["chain"]),
                draws=int(post.sizes["draw"]),
            ),
            end="",
        )


class Target(StrEnum):
    draws_csv = "draws-csv"
    rds = "rds"


def export_command(
    run_dir: RunArg,
    to: Annotated[
        Target,
        typer.Option(
            "--to",
            help="draws-csv: draws.csv in the layout of R's posterior::draws_df; rds: draws.rds, "
            "summary.rds and hypotheses.rds (read with readRDS).",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default: the run directory).", file_okay=False),
    ] = None,
    variables: Annotated[
        str,
        typer.Option(
            "--vars",
            help="named (the summary's parameters), all (every posterior variable), or "
            "comma-separated variable names.",
        ),
    ] = "named",
) -> None:
    """Export a fit for R: posterior draws (posterior::draws_df layout) and tables as .rds."""
    # lazy: CLI start-up (walt_bayes.export.write imports pandas)
    from walt_bayes.export.write import export_run

    paths = export_run(run_dir, to.value, out, variables)
    console.print(f"written: {', '.join(str(p) for p in paths)}", highlight=False, soft_wrap=True)


class CiteFormat(StrEnum):
    bibtex = "bibtex"
    cff = "cff"
    text = "text"


def cite_command(
    format: Annotated[
        CiteFormat,
        typer.Option("--format", help="bibtex, cff (the CITATION.cff file) or text (one line)."),
    ] = CiteFormat.bibtex,
) -> None:
    """How to cite walt-bayes (for the data it uses: `walt-bayes data cite`)."""
    render = {
        CiteFormat.bibtex: citation.bibtex,
        CiteFormat.cff: citation.cff,
        CiteFormat.text: lambda: citation.text() + "\n",
    }[format]
    print(render(), end="")
