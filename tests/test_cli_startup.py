"""The command line starts light: help and option parsing import none of the scientific stack.

Every ``walt-bayes`` command imports :mod:`walt_bayes.cli`, which builds the whole Typer app; the
commands import the API, pandas, PyMC and the rest only when they run.  Each check runs in a fresh
interpreter (the test session has long imported everything) and reads ``sys.modules`` afterwards.
Nothing here is timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Modules no help text needs (seconds of imports between them).
HEAVY = (
    "arviz",
    "dask",
    "distributed",
    "matplotlib",
    "nbformat",
    "numba",
    "numpy",
    "nutpie",
    "pandas",
    "pandera",
    "pyarrow",
    "pymc",
    "pytensor",
    "scipy",
    "xarray",
)

#: Runs ``walt-bayes ARGS`` in this interpreter; prints the exit status, the loaded top-level
#: packages and PYTENSOR_FLAGS as JSON on stderr (stdout carries the help).
PROBE = r"""
import json, os, sys
args = json.loads(sys.argv[1])
sys.argv = ["walt-bayes", *args]
from walt_bayes.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
loaded = sorted({name.partition(".")[0] for name in sys.modules})
print(json.dumps({"code": code, "loaded": loaded, "flags": os.environ.get("PYTENSOR_FLAGS")}),
      file=sys.stderr)
"""


def probe(args: list[str], cache: Path) -> dict:
    """Exit status, loaded packages, PYTENSOR_FLAGS and help text of ``walt-bayes ARGS``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}
    env["WALT_BAYES_CACHE"] = str(cache)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stderr.strip().splitlines()[-1])
    result["stdout"] = done.stdout
    return result


@pytest.mark.parametrize(
    "args",
    [["--help"], ["data", "list", "--help"], ["fit", "--help"], ["panel", "build", "--help"]],
    ids=" ".join,
)
def test_help_imports_no_heavy_module(args, tmp_path):
    result = probe(args, tmp_path)
    assert result["code"] == 0
    assert "Usage: walt-bayes" in result["stdout"]
    heavy = sorted(set(HEAVY) & set(result["loaded"]))
    assert not heavy, (
        f"`walt-bayes {' '.join(args)}` imported {heavy}: import them inside the command function "
        "that needs them (with a `# lazy: CLI start-up` reason), not at the top of a CLI module"
    )


def test_subcommand_help_does_not_import_pydantic(tmp_path):
    # Typer would build the pydantic validator of every group's `--help` on the way to a
    # subcommand's; walt_bayes.cli._common.LightHelpGroup keeps that off.
    result = probe(["data", "list", "--help"], tmp_path)
    assert "pydantic" not in result["loaded"]


def test_the_cli_still_sets_the_pytensor_compile_cache(tmp_path):
    # Every command, before any of them can import PyTensor (PyTensor reads the flags once).
    result = probe(["--help"], tmp_path)
    assert result["flags"] == f"base_compiledir={tmp_path / 'pytensor'}"
