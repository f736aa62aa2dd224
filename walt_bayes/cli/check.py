"""``walt-bayes check RUN_DIR [--data D] [--spec S]``: does a fit still match its data and spec?

A fit file records the sha256 of the panel it was made on, the spec's TOML
text and the library versions.  ``check`` loads the fit (refusing truncated,
foreign or unfinished files), rebuilds the given data and spec, and prints
``fit matches …`` or one line per difference (exit status 1).  Library
versions that differ from the installed ones are printed as notes: the numbers
in the fit are still what they are, but a refit may not reproduce them bit for
bit.  ``--strict`` counts them as differences too.

Without ``--data`` the fit is checked against the embedded data when it was
made on them; without ``--spec`` against the bundled variant of the same name,
when there is one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape


def check_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (or its fit.nc).")],
    data: Annotated[
        str | None,
        typer.Option(
            help="'middle-east', a folder of embedded-layout CSVs, or a panel file (.parquet/.csv)."
        ),
    ] = None,
    spec: Annotated[str | None, typer.Option(help="Model spec TOML or variant name.")] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Count library-version differences too.")
    ] = False,
) -> None:
    """Check that a fit matches its data and spec (sha256, spec content, library versions)."""
    from walt_bayes.fit.fitfile import check_provenance, load_fit, version_differences
    from walt_bayes.panel.datasets import EMBEDDED, load_dataset
    from walt_bayes.panel.hashing import legacy_panel_sha256
    from walt_bayes.spec import list_variants, load_spec

    console = Console(highlight=False, soft_wrap=True)
    tree = load_fit(run_dir)
    fit_data = str(tree.attrs.get("data_name"))
    fit_spec_name = str(tree.attrs.get("spec_name"))
    if data is None and fit_data == EMBEDDED:
        data = EMBEDDED
    if spec is None and fit_spec_name in list_variants():
        spec = fit_spec_name

    checked, diffs = [], []
    if data is not None:
        dataset = load_dataset(data)
        data_diffs = check_provenance(tree, data_sha256=dataset.sha256, data_name=dataset.name)
        if data_diffs and str(tree.attrs.get("data_sha256")) == legacy_panel_sha256(dataset.panel):
            data_diffs = []  # a fit from before the binary content hash, on the same data
        diffs += data_diffs
        checked.append(f"data {dataset.name} (sha256 {dataset.sha256[:12]}…)")
    if spec is not None:
        model_spec = load_spec(spec)
        diffs += check_provenance(tree, spec=model_spec)
        checked.append(f"spec {model_spec.source_path or model_spec.name}")
    versions = version_differences(tree)
    if strict:
        diffs += [f"versions differ: {v}" for v in versions]
    for line in diffs:
        console.print(f"[red]differs:[/] {escape(line)}")
    if not strict:
        for v in versions:
            console.print(
                f"[yellow]note:[/] {escape(v)} (a refit may not reproduce the draws bit for bit)"
            )
    if diffs:
        raise typer.Exit(1)
    what = " and ".join(checked) if checked else "nothing to compare (give --data and/or --spec)"
    console.print(f"[green]fit matches[/] {escape(what)}")
