"""What every command shares: the consoles, the output formats, and how errors end a run.

A user error (:class:`~walt_bayes.errors.WaltError`, a bad option) is one red line on stderr and
exit status 2; ``--debug`` shows the traceback instead.  SIGINT/SIGTERM end a run with 130/143
after every atomic writer has cleaned up (:mod:`walt_bayes.atomic`).
"""

from __future__ import annotations

import os
import signal
import sys
from enum import StrEnum

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup, TyperOption

from walt_bayes.atomic import install_signal_handlers, interrupted
from walt_bayes.errors import WaltError

#: Results (tables, lines the user reads) go to stdout ...
console = Console()
#: ... errors and warnings that must not spoil machine-readable stdout go to stderr.
err_console = Console(stderr=True)


class Fmt(StrEnum):
    """Output formats of the tables a fit gives (``hypotheses``, ``summary``)."""

    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"
    latex = "latex"


class LightHelpGroup(TyperGroup):
    """A Typer command group whose ``--help``, when not given, costs nothing.

    Typer coerces each option's value through a pydantic validator, and builds it even for the
    value ``None`` of a ``--help`` that was not given, which it then returns unchanged.  On
    ``walt-bayes data list --help`` that is the ``--help`` of ``walt-bayes`` and of ``data``: pydantic
    imported, a third of a second, for nothing.  The groups' ``--help`` skips that; what it does
    is the same (``None``: no help shown).  Set on the app and its sub-apps (``typer.Typer(cls=...)``).
    """

    def get_help_option(self, ctx):
        """Typer's ``--help`` option, as :class:`_HelpOption`."""
        option = super().get_help_option(ctx)
        if type(option) is TyperOption:
            option.__class__ = _HelpOption
        return option


class _HelpOption(TyperOption):
    """``--help``: its value ``None`` (not given) is not coerced (see :class:`LightHelpGroup`)."""

    def process_value(self, ctx, value):
        # Typer's own would coerce None to None, then call the help callback, which shows
        # nothing for it: the same, without building the validator.
        if value is None:
            return None
        return super().process_value(ctx, value)


def wide_console(base: Console, width: int) -> Console:
    """``base``, or for a pipe or log file one at least ``width`` columns wide.

    A pipe has no width to respect, and Rich would assume 80 columns and fold or elide a wide
    table's numbers.
    """
    if base.is_terminal:
        return base
    return Console(width=max(base.width, width), file=base.file)


def run(app: typer.Typer) -> None:
    """Run ``app`` as the ``walt-bayes`` command, turning every way it can end into an exit status.

    Parameters
    ----------
    app : typer.Typer
        The command-line app (:data:`walt_bayes.cli.app`).

    Notes
    -----
    WaltError: one red line, its ``exit_code`` (2).  Usage errors (bad option, missing
    argument): one line, exit 2.  SIGINT/SIGTERM: nothing is committed (see
    :mod:`walt_bayes.atomic`), one line, exit 130/143.  Any other exception is a bug: one line,
    exit 1.  ``--debug`` re-raises WaltError and bugs with their traceback.
    """
    install_signal_handlers()
    # Read from argv, not from the parsed option: the error is raised after Typer has returned.
    debug = "--debug" in sys.argv

    try:
        code = app(standalone_mode=False, prog_name="walt-bayes")
    except (typer.Exit, *_click_errors("Exit")) as err:
        if interrupted():
            _stop()
        sys.exit(err.exit_code)
    except (typer.Abort, *_click_errors("Abort"), KeyboardInterrupt):
        _stop()
    except WaltError as err:
        if interrupted():
            _stop()
        if debug:
            raise
        _say(str(err), err.exit_code)
    except (typer.TyperException, *_click_errors("ClickException")) as err:
        if type(err).__name__ == "NoArgsIsHelpError":
            err.show()
            sys.exit(err.exit_code)
        ctx = getattr(err, "ctx", None)
        where = ctx.command_path if ctx is not None else "walt-bayes"
        _say(f"{where}: {err.format_message()} (see `{where} --help`)", getattr(err, "exit_code", 2) or 2)
    except Exception as err:
        if interrupted():  # a sampler swallowed the interrupt and something failed on the partial trace
            _stop()
        if debug:
            raise
        _say(
            f"internal error: {type(err).__name__}: {err} — this is a bug in walt-bayes; "
            "run `walt-bayes --debug …` for the traceback",
            1,
        )
    if interrupted() or code == 130:  # Typer turns KeyboardInterrupt into exit code 130
        _stop()
    if isinstance(code, int) and code:
        sys.exit(code)


def _click_errors(name: str) -> tuple[type[BaseException], ...]:
    """Click's own exception ``name`` (``Exit``, ``Abort``, ``ClickException``), if click is loaded.

    Typer raises its own exceptions; click's are caught as well, for code that raises them.  Code
    can raise a click exception only once click has been imported, so until then there is nothing
    to catch, and click (a tenth of a second) stays off every command's start-up.
    """
    click = sys.modules.get("click")
    return (getattr(click.exceptions, name),) if click is not None else ()


def _say(message: str, code: int) -> None:
    """One red line on stderr (whitespace folded), then exit ``code``."""
    text = " ".join(str(message).split())
    err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def _stop() -> None:
    """Leave after an interrupt with 128 + the signal's number."""
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
