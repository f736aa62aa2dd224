"""Run the `walt-bayes` command in-process, as the tests of the commands do."""

from __future__ import annotations

import sys

from walt_bayes.cli import main


def run_cli(monkeypatch, capsys, *args):
    """Exit status, stdout and stderr of ``walt-bayes ARGS`` (pytest's monkeypatch and capsys)."""
    monkeypatch.setattr(sys, "argv", ["walt-bayes", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err
