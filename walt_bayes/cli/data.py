"""``walt-bayes data ...``: the real-data sources (peacesciencer files).

A Typer app, mounted by :mod:`walt_bayes.cli` as ``data``:

* ``data list`` — the registered sources, their version, coverage and cache status;
* ``data fetch [NAME...] [--mirror DIR] [--force]`` — download (or copy from a
  mirror), verify and cache;
* ``data verify [--mirror DIR]`` — check the cache (or a mirror) against the registry;
* ``data cite [--panel FILE] [--bibtex [--out FILE.bib]]`` — citations (text or BibTeX)
  of every source a panel used.

``walt-bayes panel build`` is :mod:`walt_bayes.cli.panel`.  The API has no verbs for sources:
the commands call :mod:`walt_bayes.sources` directly.

Errors are raised as :class:`~walt_bayes.errors.SourceError` /
:class:`~walt_bayes.errors.DataError`; the main CLI prints them as one red line
and exits 2.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from walt_bayes.atomic import atomic_path
from walt_bayes.cli._common import LightHelpGroup
from walt_bayes.errors import DataError, SourceError

data_app = typer.Typer(
    help="Real-data sources (peacesciencer files): list, fetch, verify, cite.",
    no_args_is_help=True,
    cls=LightHelpGroup,
)

#: ``--mirror DIR`` of the commands that read source files (``data fetch``, ``data cite``, ``panel build``).
MirrorOpt = Annotated[
    Path | None,
    typer.Option(
        "--mirror",
        help="Directory holding the source files; replaces the network "
        "(default: $WALT_BAYES_MIRROR).",
        file_okay=False,
    ),
]


def _console() -> Console:
    """A console made when the command runs (these commands print with their own settings)."""
    return Console()


def _kb(n: int) -> str:
    return f"{n / 1000:,.0f} kB"


@data_app.command("list")
def list_sources() -> None:
    """List the registered sources with version, coverage and cache status."""
    # lazy: CLI start-up (the walt_bayes.sources package imports pandas)
    from walt_bayes.sources import fetch, registry

    table = Table(title=f"Sources (cache: {fetch.cache_dir()})")
    for col in ("name", "version", "coverage", "unit", "size", "cached"):
        table.add_column(col)
    for src in registry.load_registry().values():
        st = fetch.status(src.name)
        mark = {"ok": "[green]ok[/]", "missing": "-", "corrupt": "[red]corrupt[/]"}[st]
        table.add_row(src.name, src.version, src.coverage, src.unit, _kb(src.bytes), mark)
    _console().print(table)


@data_app.command("fetch")
def fetch_sources(
    names: Annotated[
        list[str] | None, typer.Argument(help="Sources to fetch (default: all).")
    ] = None,
    mirror: MirrorOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if cached.")] = False,
) -> None:
    """Download (or copy from a mirror), verify the sha256 and cache source files."""
    # lazy: CLI start-up (the walt_bayes.sources package imports pandas)
    from walt_bayes.sources import fetch

    t0 = time.perf_counter()
    # A progress bar only on a terminal: in logs and pipes stderr carries errors alone.
    results = fetch.fetch(names or None, mirror=mirror, force=force, progress=sys.stderr.isatty())
    counts: dict[str, int] = {}
    for r in results:
        counts[r.action] = counts.get(r.action, 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
    _console().print(
        f"{len(results)} source(s) verified in {fetch.cache_dir()} ({summary}) "
        f"in {time.perf_counter() - t0:.1f} s",
        soft_wrap=True,
        highlight=False,
    )


@data_app.command("verify")
def verify_sources(
    mirror: Annotated[
        Path | None,
        typer.Option(
            "--mirror", help="Check this mirror directory instead of the cache.", file_okay=False
        ),
    ] = None,
) -> None:
    """Check cached files (or a mirror's) against the registry's sha256; change nothing."""
    # lazy: CLI start-up (the walt_bayes.sources package imports pandas)
    from walt_bayes.sources import fetch

    problems = fetch.verify(mirror=mirror)
    where = f"mirror {mirror}" if mirror is not None else f"cache {fetch.cache_dir()}"
    ok = [n for n, p in problems.items() if p is None]
    missing = [n for n, p in problems.items() if p is not None and ": not in the" in p]
    bad = [p for p in problems.values() if p is not None and ": not in the" not in p]
    con = _console()
    con.print(
        f"{where}: {len(ok)} verified, {len(missing)} missing, {len(bad)} corrupt",
        soft_wrap=True,
        highlight=False,
    )
    if missing:
        con.print("missing: " + ", ".join(missing), soft_wrap=True, highlight=False)
    if bad:
        raise SourceError(
            f"{len(bad)} corrupt file(s): {bad[0]}" + (" (and more)" if len(bad) > 1 else "")
        )
    if missing and mirror is not None:
        raise SourceError(f"{where} lacks {', '.join(missing)}")


@data_app.command("cite")
def cite(
    panel: Annotated[
        Path | None,
        typer.Option(
            "--panel", help="A panel written by `walt-bayes panel build`.", dir_okay=False
        ),
    ] = None,
    bibtex: Annotated[
        bool,
        typer.Option(
            "--bibtex",
            help="BibTeX entries (peacesciencer's and every source's, from peacesciencer's "
            "ps_bib) instead of text.",
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the BibTeX to this .bib file (default: stdout).",
                     dir_okay=False),
    ] = None,
    mirror: MirrorOpt = None,
) -> None:
    """Print the citations of every source a panel used (default: the global panel's)."""
    # lazy: CLI start-up (walt_bayes.panel.build imports pandas and the panel verbs)
    from walt_bayes.panel.build import PANEL_SOURCES, read_panel_attrs

    # lazy: CLI start-up (the walt_bayes.sources package imports pandas)
    from walt_bayes.sources import registry

    used = list(PANEL_SOURCES)
    if panel is not None:
        if not panel.exists():
            raise DataError(f"{panel}: no such file")
        used = list(read_panel_attrs(panel).get("sources", []))
    if out is not None and not bibtex:
        raise DataError("--out writes BibTeX: add --bibtex")
    if bibtex:
        _write_bibtex(used, out, mirror)
        return
    con = _console()
    con.print("Please cite peacesciencer, which packaged these data:", highlight=False)
    con.print(f"  {registry.PEACESCIENCER_CITATION}", highlight=False, soft_wrap=True)
    con.print("and the original sources:", highlight=False)
    for name in used:
        src = registry.get(name)
        label = f"{src.name} ({src.description.split(':')[0]}; version {src.version})"
        con.print(f"- {label}", highlight=False, soft_wrap=True)
        for c in src.citations:
            con.print(f"    {c}", highlight=False, soft_wrap=True)


def _write_bibtex(used: list[str], out: Path | None, mirror: Path | None) -> None:
    """The BibTeX of ``used`` on stdout, or atomically in ``out``."""
    # lazy: CLI start-up (the walt_bayes.sources package imports pandas)
    from walt_bayes.sources.bibtex import bibtex as bibtex_entries

    text = bibtex_entries(used, mirror=mirror)
    if out is None:
        sys.stdout.write(text)
        return
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    _console().print(f"{text.count(chr(10) + '@') + 1} BibTeX entries written to {out}",
                     highlight=False, soft_wrap=True)
