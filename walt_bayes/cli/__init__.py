"""The ``walt-bayes`` command line: a thin layer over :mod:`walt_bayes.api` and the analyses.

Each command lives in its own module and parses its options, then calls the API where the API
does that work (``fit``, ``hypotheses``, ``simulate``, ``summary``, ``compare``, ``report``) and the
analysis modules where it does not; this module only puts them together as one Typer app.
Every user error is one red line on stderr and exit status 2 (``--debug`` shows the
traceback); outputs are written atomically, so an interrupted command leaves nothing
half-written (:mod:`walt_bayes.cli._common`).

Nothing outside this package imports it, except ``python -m walt_bayes`` (:mod:`walt_bayes.__main__`)
and the console script ``walt-bayes = "walt_bayes.cli:main"``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from walt_bayes.cli import _common
from walt_bayes.cli.calibrate import sbc_command
from walt_bayes.cli.check import check_command
from walt_bayes.cli.compare import compare_command
from walt_bayes.cli.data import data_app
from walt_bayes.cli.fit import fit_command
from walt_bayes.cli.grid import grid_command
from walt_bayes.cli.hypotheses import hypotheses_command
from walt_bayes.cli.outputs import cite_command, export_command, summary_command
from walt_bayes.cli.panel import panel_app
from walt_bayes.cli.predict import predict_command
from walt_bayes.cli.report import report_command
from walt_bayes.cli.simulate import simulate_command
from walt_bayes.cli.study import study_command
from walt_bayes.cli.variants import variants_command
from walt_bayes.paths import setup_pytensor_cache

__all__ = ["app", "main"]

# PyTensor reads PYTENSOR_FLAGS once, when first imported: set the compile cache (under the cache
# root) before any command can import it.  Importing walt_bayes.api would set it too, but the
# commands import the API only when they run, so that `walt-bayes --help` starts fast.
setup_pytensor_cache()

app = typer.Typer(
    name="walt-bayes",
    help="Bayesian tests of Walt's balance-of-threat theory of alliances.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_common.LightHelpGroup,
)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    """Bayesian tests of Walt's balance-of-threat theory of alliances."""
    # --debug is read from argv by _common.run: errors surface after Typer has returned.


# `walt-bayes --help` lists the commands in this order.
for _name, _command in (
    ("fit", fit_command),
    ("hypotheses", hypotheses_command),
    ("simulate", simulate_command),
    ("variants", variants_command),
    ("check", check_command),
    ("compare", compare_command),
    ("report", report_command),
    ("sbc", sbc_command),
    ("grid", grid_command),
    ("study", study_command),
    ("predict", predict_command),
    ("summary", summary_command),
    ("export", export_command),
    ("cite", cite_command),
):
    app.command(name=_name)(_command)
del _name, _command
app.add_typer(data_app, name="data", help="List, fetch, verify and cite the real-data sources.")
app.add_typer(panel_app, name="panel", help="Build the global directed dyad-year panel from real data.")


def main() -> None:
    """Console-script entry point (``walt-bayes``): run the app, each way it can end an exit status.

    A user error is one red line and exit status 2, an interrupt 130/143, a bug exit 1
    (:func:`walt_bayes.cli._common.run`).
    """
    _common.run(app)
