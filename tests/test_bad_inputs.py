"""Bad inputs through the real command line: one line (what, where), exit 2, nothing written.

Every case runs the ``walt-bayes`` entry point (:func:`walt_bayes.cli.main`) in a
separate process, in its own workspace, with ``WALT_BAYES_MIRROR`` and
``WALT_BAYES_CACHE`` pointed inside it.  Each must exit with status 2, print
exactly one non-empty line on stderr that starts with ``error:`` and names the
problem (``needle``), print no traceback, and leave the workspace's files exactly
as they were (no output, no temporary file, no half-filled cache).

Starting Python and importing PyMC/ArviZ costs seconds of CPU per process, so
most cases run in processes forked from one "zygote" subprocess that has
imported the package once (a fresh, single-threaded ``python`` started by this
test; each case is still its own process with its own cwd, environment, stdout,
stderr and exit status).  Cases marked ``direct`` run as
``python -m walt_bayes …`` from scratch, to cover the real entry point too.
All cases run concurrently (one module-scoped pool); the parametrised tests
read their results.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(__file__).resolve().parents[2] / "shared/data/peacesciencer"
EMBEDDED = REPO / "data" / "middle_east"
TIMEOUT_S = 300


# --------------------------------------------------------------------- running


def cli_env(ws: Path, **extra: str) -> dict[str, str]:
    """Environment for a CLI subprocess: mirror and cache inside the workspace."""
    env = dict(os.environ)
    env.update(
        WALT_BAYES_MIRROR=str(ws / "mirror"),
        WALT_BAYES_CACHE=str(ws / "cache"),
        PYTHONPATH=str(REPO),
        COLUMNS="200",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def run_cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "walt_bayes", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


#: Modules the zygote imports once before forking the cases.
PRELOAD = (
    "walt_bayes.cli",
    "walt_bayes.cli.check",
    "walt_bayes.fit.run",
    "walt_bayes.fit.fitfile",
    "walt_bayes.panel.embedded",
    "walt_bayes.panel.datasets",
    "walt_bayes.panel.build",
    "walt_bayes.sources.read",
    "walt_bayes.model.simulate",
)

ZYGOTE = r"""
import importlib, json, os, sys, threading
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
assert threading.active_count() == 1, "the zygote must be single-threaded to fork safely"
import walt_bayes.cli
jobs = json.load(sys.stdin)
limit = int(sys.argv[1])
running, results = {}, {}

def start(job):
    pid = os.fork()
    if pid:
        running[pid] = job["id"]
        return
    code = 1
    try:
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        for fd, path in ((1, job["out"]), (2, job["err"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
        sys.argv = ["walt-bayes", *job["args"]]
        try:
            walt_bayes.cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)

def reap():
    pid, status = os.wait()
    results[running.pop(pid)] = os.waitstatus_to_exitcode(status)

for job in jobs:
    while len(running) >= limit:
        reap()
    start(job)
while running:
    reap()
json.dump(results, sys.stdout)
"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_forked(jobs: list[dict], limit: int) -> dict[str, Result]:
    """Run CLI invocations (id, args, cwd, env) in processes forked from a fresh zygote."""
    if not jobs:
        return {}
    scratch = Path(jobs[0]["cwd"]).parent / ".zygote"
    scratch.mkdir(exist_ok=True)
    for job in jobs:
        job["out"] = str(scratch / f"{job['id']}.out")
        job["err"] = str(scratch / f"{job['id']}.err")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", ZYGOTE, str(limit), *PRELOAD],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT_S * 2,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    codes = json.loads(proc.stdout)
    return {
        job["id"]: Result(
            codes[job["id"]], Path(job["out"]).read_text(), Path(job["err"]).read_text()
        )
        for job in jobs
    }


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and mtime."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


# --------------------------------------------------------------------- fixtures of inputs


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


GOOD_SPEC = """\
[model]
name = "t"
[threat]
sources = ["power"]
[alliance]
terms = ["shared"]
"""


def spec_file(text: str | bytes) -> Callable[[Path], None]:
    return lambda ws: write(ws / "spec.toml", text)


def embedded_copy(ws: Path) -> Path:
    dest = ws / "me"
    shutil.copytree(EMBEDDED, dest)
    return dest


def edit_csv(name: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    """Copy the embedded data and apply ``edit`` to one of its CSV files (read as strings)."""

    def setup(ws: Path) -> None:
        dest = embedded_copy(ws)
        frame = pd.read_csv(dest / name, dtype=str, keep_default_na=False)
        edit(frame).to_csv(dest / name, index=False)

    return setup


def set_cell(row: int, col: str, value: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[row, col] = value
        return frame

    return edit


def damage_bytes(name: str, damage: Callable[[bytes], bytes | None]) -> Callable[[Path], None]:
    """Copy the embedded data and replace one file's bytes (None: delete the file)."""

    def setup(ws: Path) -> None:
        path = embedded_copy(ws) / name
        out = damage(path.read_bytes())
        if out is None:
            path.unlink()
        else:
            path.write_bytes(out)

    return setup


@pytest.fixture(scope="module")
def base_panel() -> pd.DataFrame:
    """A valid panel: the embedded data, 1955-1957."""
    from walt_bayes.panel.embedded import load_middle_east

    panel = load_middle_east()
    return panel[panel["year"] <= 1957].reset_index(drop=True)


def panel_file(
    name: str, edit: Callable[[pd.DataFrame], pd.DataFrame] | None = None, raw: bytes | None = None
):
    """Write ``edit(base_panel)`` (or raw bytes) to ``ws/name`` (the panel is passed at setup)."""

    def setup(ws: Path, base: pd.DataFrame) -> None:
        path = ws / name
        if raw is not None:
            write(path, raw)
            return
        frame = edit(base.copy()) if edit else base
        if name.endswith(".csv"):
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)

    setup.wants_panel = True
    return setup


def mirror_with(name: str, damage: Callable[[bytes], bytes | None]) -> Callable[[Path], None]:
    """A mirror in the workspace holding a damaged copy of one file (None: file absent)."""

    def setup(ws: Path) -> None:
        (ws / "mirror").mkdir(parents=True, exist_ok=True)
        out = damage((MIRROR / name).read_bytes())
        if out is not None:
            write(ws / "mirror" / name, out)

    return setup


def cache_with(name: str, damage: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        write(ws / "cache" / "peacesciencer" / name, damage((MIRROR / name).read_bytes()))

    return setup


def flip_byte(data: bytes) -> bytes:
    buf = bytearray(data)
    buf[len(buf) // 2] ^= 0xFF
    return bytes(buf)


def fake_fit(path: Path, *, groups=None, **attrs) -> Path:
    """A small netCDF shaped like a fit (no sampling): the groups and provenance attrs."""
    import xarray as xr

    from walt_bayes.fit.fitfile import FORMAT, REQUIRED_GROUPS, library_versions

    names = REQUIRED_GROUPS if groups is None else groups
    children = {
        g: xr.DataTree(xr.Dataset({"x": (("chain", "draw"), np.arange(6.0).reshape(2, 3))}))
        for g in names
    }
    tree = xr.DataTree(children=children)
    tree.attrs.update(
        {
            "format": FORMAT,
            "spec_name": "balance_of_threat",
            "spec_toml": (REPO / "models" / "balance_of_threat.toml").read_text("utf-8"),
            "data_name": "middle-east",
            "data_sha256": "0" * 64,
            "seed": 1,
            "versions": json.dumps(library_versions()),
            **attrs,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.to_netcdf(path, engine="h5netcdf")
    return path


def fit_dir(kind: str) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        run = ws / "run"
        if kind == "truncated":
            data = fake_fit(ws / "whole.nc").read_bytes()
            (ws / "whole.nc").unlink()
            write(run / "fit.nc", data[: len(data) // 2])
        elif kind == "foreign":
            import xarray as xr

            run.mkdir(parents=True)
            xr.Dataset({"t": ("x", np.arange(4.0))}).to_netcdf(run / "fit.nc", engine="h5netcdf")
        elif kind == "empty":
            write(run / "fit.nc", b"")
        elif kind == "text":
            write(run / "fit.nc", "posterior = 1\n")
        elif kind == "no_fit":
            write(run / "summary.csv", "parameter,mean\n")
        elif kind == "lacks_group":
            fake_fit(run / "fit.nc", groups=("posterior", "sample_stats"))
        elif kind == "lacks_attr":
            path = fake_fit(run / "fit.nc")
            import xarray as xr

            with xr.open_datatree(path, engine="h5netcdf") as t:
                tree = t.load()
            del tree.attrs["data_sha256"]
            path.unlink()
            tree.to_netcdf(path, engine="h5netcdf")
        elif kind == "leftover":  # what a SIGKILL between writing and renaming leaves
            fake_fit(ws / ".run.k3j9x2ab.part" / "fit.nc")

    return setup


# --------------------------------------------------------------------- the table


@dataclass
class Case:
    id: str
    args: list[str]
    needle: str
    setup: Callable | None = None
    absent: list[str] = field(default_factory=list)  # outputs that must not exist afterwards
    env: dict[str, str] = field(default_factory=dict)
    direct: bool = False  # run as `python -m walt_bayes` from scratch (not forked)


FIT = ["fit", "--draws", "20", "--tune", "20", "--chains", "1", "--out", "runs"]

CASES = [
    # --- model specs
    Case(
        "spec-not-toml",
        [*FIT[:1], "spec.toml", *FIT[1:]],
        "spec.toml: not valid TOML",
        spec_file("[model\nname = 't'\n"),
        ["runs"],
    ),
    Case(
        "spec-unknown-block",
        ["fit", "spec.toml", "--out", "runs"],
        "[modle] unknown block",
        spec_file(GOOD_SPEC.replace("[model]", "[modle]")),
        ["runs"],
    ),
    Case(
        "spec-missing-alliance",
        ["fit", "spec.toml", "--out", "runs"],
        "[alliance] missing block",
        spec_file('[model]\nname = "t"\n'),
        ["runs"],
    ),
    Case(
        "spec-unknown-term",
        ["fit", "spec.toml", "--out", "runs"],
        "unknown name 'sharred'",
        spec_file(GOOD_SPEC.replace('"shared"', '"sharred"')),
        ["runs"],
    ),
    Case(
        "spec-negative-scale",
        ["fit", "spec.toml", "--out", "runs"],
        "[priors.sigma_dyad.sigma] must be positive",
        spec_file(
            GOOD_SPEC + '[priors]\nsigma_dyad = {distribution = "HalfNormal", sigma = -0.5}\n'
        ),
        ["runs"],
        direct=True,
    ),
    Case(
        "spec-prior-lacks-param",
        ["fit", "spec.toml", "--out", "runs"],
        "'StudentT' needs parameter(s) nu",
        spec_file(GOOD_SPEC + '[priors]\ngamma = {distribution = "StudentT", sigma = 1.0}\n'),
        ["runs"],
    ),
    Case(
        "spec-distribution-not-a-name",
        ["fit", "spec.toml", "--out", "runs"],
        "[priors.beta] distribution",
        spec_file(GOOD_SPEC + '[priors]\nbeta = {distribution = ["Normal"]}\n'),
        ["runs"],
    ),
    Case(
        "spec-threat-block-missing",
        ["fit", "spec.toml", "--out", "runs"],
        "needs the [threat] block",
        spec_file(GOOD_SPEC.replace('[threat]\nsources = ["power"]\n', "")),
        ["runs"],
    ),
    Case(
        "spec-draws-absurd",
        ["fit", "spec.toml", "--out", "runs"],
        "[sampler.draws] must be an integer in",
        spec_file(GOOD_SPEC + "[sampler]\ndraws = 100000000000000000000\n"),
        ["runs"],
    ),
    Case(
        "spec-not-utf8",
        ["fit", "spec.toml", "--out", "runs"],
        "spec.toml: cannot read spec",
        spec_file(b"[model]\nname = '\xff\xfe'\n"),
        ["runs"],
    ),
    Case(
        "spec-no-such-variant",
        ["fit", "balance_of_treat", "--out", "runs"],
        "balance_of_treat: no such model spec",
        None,
        ["runs"],
    ),
    # --- command-line arguments
    Case(
        "arg-unknown-sampler",
        ["fit", "null", "--sampler", "gibbs", "--out", "runs"],
        "--sampler: 'gibbs'",
        None,
        ["runs"],
    ),
    Case(
        "arg-draws-zero",
        ["fit", "null", "--draws", "0", "--out", "runs"],
        "Invalid value for '--draws'",
        None,
        ["runs"],
    ),
    Case(
        "arg-draws-not-int",
        ["fit", "null", "--draws", "many", "--out", "runs"],
        "Invalid value for '--draws'",
        None,
        ["runs"],
    ),
    Case("arg-unknown-verb", ["fitt", "null"], "No such command 'fitt'"),
    Case("arg-unknown-option", ["fit", "null", "--seeds", "3"], "No such option: --seeds"),
    Case("arg-missing-spec", ["fit"], "Missing argument 'spec'"),
    Case(
        "arg-bad-rope",
        ["hypotheses", "run", "--rope", "1.2,1.1"],
        "--rope",
        fit_dir("no_fit"),
        ["run/hypotheses.csv"],
    ),
    Case(
        "arg-simulate-csv",
        ["simulate", "--out", "world.csv"],
        "written as .parquet",
        None,
        ["world.csv"],
    ),
    Case(
        "arg-years-reversed",
        ["panel", "build", "--years", "2000-1990", "--out", "p.parquet"],
        "--years '2000-1990': first year after last year",
        None,
        ["p.parquet"],
    ),
    Case(
        "arg-data-unknown-format",
        ["fit", "null", "--data", "panel.txt", "--out", "runs"],
        "unknown panel format '.txt'",
        lambda ws: write(ws / "panel.txt", "ccode1\n"),
        ["runs"],
    ),
    # --- embedded data files (a corrupted copy passed as --data DIR)
    Case(
        "embedded-missing-column",
        ["fit", "null", "--data", "me", "--out", "runs"],
        "states.csv: missing column(s) 'subregion'",
        edit_csv("states.csv", lambda f: f.drop(columns="subregion")),
        ["runs"],
    ),
    Case(
        "embedded-bad-value",
        ["fit", "null", "--data", "me", "--out", "runs"],
        "state_years.csv: column 'power': power share must be > 0 at CSV row 5 (line numbers",
        edit_csv("state_years.csv", set_cell(3, "power", "-1")),
        ["runs"],
    ),
    Case(
        "embedded-not-a-number",
        ["fit", "null", "--data", "me", "--out", "runs"],
        "state_years.csv: column 'offense': value is not of type 'float64' at CSV row 3",
        edit_csv("state_years.csv", set_cell(1, "offense", "lots")),
        ["runs"],
    ),
    Case(
        "embedded-unknown-code",
        ["fit", "null", "--data", "me", "--out", "runs"],
        "episodes.csv: column 'members': unknown COW code (not in states.csv) at CSV row 2",
        edit_csv("episodes.csv", set_cell(0, "members", "200;999")),
        ["runs"],
    ),
    Case(
        "embedded-duplicate-row",
        ["fit", "null", "--data", "me", "--out", "runs"],
        "hostile_acts.csv: column 'actor+target+year': duplicate key",
        edit_csv("hostile_acts.csv", lambda f: pd.concat([f, f.iloc[[5]]], ignore_index=True)),
        ["runs"],
    ),
    Case(
        "embedded-unordered-pair",
        ["fit", "null", "--data", "me", "--out", "runs"],
        "rivalries.csv: column 'ccode2': pair must be ordered ccode1 < ccode2 at CSV row 2",
        edit_csv("rivalries.csv", set_cell(0, "ccode1", "620")),
        ["runs"],
    ),
    Case(
        "embedded-missing-file",
        ["fit", "null", "--data", "me", "--out", "runs"],
        "contiguity.csv: file not found",
        damage_bytes("contiguity.csv", lambda b: None),
        ["runs"],
    ),
    Case(
        "embedded-not-utf8",
        ["fit", "null", "--data", "me", "--out", "runs"],
        "arms_aid.csv: cannot parse CSV (UnicodeDecodeError",
        damage_bytes("arms_aid.csv", lambda b: b.replace(b"Soviet", b"Sovi\xe9t", 1)),
        ["runs"],
    ),
    Case(
        "embedded-truncated",
        ["fit", "null", "--data", "me", "--out", "runs"],
        "episodes.csv: column",
        damage_bytes("episodes.csv", lambda b: b[: len(b) // 2]),
        ["runs"],
    ),
    Case(
        "embedded-empty-folder",
        ["fit", "null", "--data", "nothing", "--out", "runs"],
        "nothing: a folder given as --data must hold the embedded CSV files",
        lambda ws: (ws / "nothing").mkdir(),
        ["runs"],
    ),
    # --- panel files
    Case(
        "panel-truncated-parquet",
        ["fit", "null", "--data", "p.parquet", "--out", "runs"],
        "p.parquet: cannot read panel",
        panel_file("p.parquet", raw=b"PAR1\x00\x00garbage"),
        ["runs"],
    ),
    Case(
        "panel-text-in-number",
        ["fit", "null", "--data", "p.csv", "--out", "runs"],
        "p.csv: column 'power1': not a number at CSV row 4 (line numbers",
        panel_file(
            "p.csv",
            lambda f: f.assign(power1=f["power1"].astype(object).where(f.index != 2, "big")),
        ),
        ["runs"],
    ),
    Case(
        "panel-missing-column",
        ["fit", "null", "--data", "p.parquet", "--out", "runs"],
        "p.parquet: missing required column 'ally'",
        panel_file("p.parquet", lambda f: f.drop(columns="ally")),
        ["runs"],
    ),
    Case(
        "panel-duplicate-keys",
        ["fit", "null", "--data", "p.parquet", "--out", "runs"],
        "duplicate (ccode1, ccode2, year)",
        panel_file("p.parquet", lambda f: pd.concat([f, f.iloc[[7]]], ignore_index=True)),
        ["runs"],
    ),
    Case(
        "panel-not-binary",
        ["fit", "null", "--data", "p.parquet", "--out", "runs"],
        "p.parquet: column 'ally': must be 0 or 1 (or missing) at data row 10",
        panel_file("p.parquet", lambda f: f.assign(ally=f["ally"].where(f.index != 9, 2))),
        ["runs"],
    ),
    Case(
        "panel-missing-key",
        ["fit", "null", "--data", "p.parquet", "--out", "runs"],
        "p.parquet: column 'year': missing value at data row 1",
        panel_file(
            "p.parquet", lambda f: f.assign(year=f["year"].astype(float).where(f.index != 0))
        ),
        ["runs"],
    ),
    Case(
        "panel-empty-csv",
        ["fit", "null", "--data", "p.csv", "--out", "runs"],
        "p.csv: cannot read panel (EmptyDataError",
        panel_file("p.csv", raw=b""),
        ["runs"],
    ),
    Case(
        "panel-missing-file",
        ["fit", "null", "--data", "nope.parquet", "--out", "runs"],
        "nope.parquet: no such panel file",
        None,
        ["runs"],
    ),
    # --- mirror and cache files
    Case(
        "mirror-wrong-sha256",
        ["data", "fetch", "cow_majors"],
        "cow_majors.rda from mirror",
        mirror_with("cow_majors.rda", flip_byte),
        ["cache/peacesciencer/cow_majors.rda"],
    ),
    Case(
        "mirror-truncated-rda",
        ["data", "fetch", "cow_nmc"],
        "expected 347751 (truncated",
        mirror_with("cow_nmc.rda", lambda b: b[:5000]),
        ["cache/peacesciencer/cow_nmc.rda"],
    ),
    Case(
        "mirror-missing-file",
        ["data", "fetch", "cow_states"],
        "cow_states.rda: not found in the mirror",
        mirror_with("cow_states.rda", lambda b: None),
        ["cache/peacesciencer/cow_states.rda"],
    ),
    Case(
        "mirror-no-such-dir",
        ["data", "fetch", "cow_states", "--mirror", "elsewhere"],
        "mirror elsewhere: no such directory",
        None,
        ["cache/peacesciencer/cow_states.rda"],
    ),
    Case(
        "cache-truncated-rda",
        ["panel", "build", "--years", "1990", "--out", "p.parquet"],
        "cow_ddy.rda in the cache",
        cache_with("cow_ddy.rda", lambda b: b[:1000]),
        ["p.parquet"],
        env={"WALT_BAYES_MIRROR": str(MIRROR)},
    ),
    Case(
        "cache-wrong-sha256",
        ["data", "verify"],
        "cow_majors.rda in the cache",
        cache_with("cow_majors.rda", flip_byte),
    ),
    Case(
        "source-unknown",
        ["data", "fetch", "cow_nmcc"],
        "unknown source 'cow_nmcc'",
        None,
        ["cache/peacesciencer/cow_nmcc.rda"],
    ),
    Case(
        "cache-not-a-folder",
        ["data", "fetch", "cow_states"],
        "cachefile is a file, not a folder",
        lambda ws: write(ws / "cachefile", "not a folder"),
        env={"WALT_BAYES_CACHE": "cachefile", "WALT_BAYES_MIRROR": str(MIRROR)},
    ),
    # --- fit files
    Case(
        "fit-truncated-nc",
        ["hypotheses", "run"],
        "run/fit.nc: cannot read fit file",
        fit_dir("truncated"),
        ["run/hypotheses.csv"],
        direct=True,
    ),
    Case(
        "fit-netcdf-not-a-fit",
        ["hypotheses", "run"],
        "run/fit.nc: not a walt-bayes fit file",
        fit_dir("foreign"),
        ["run/hypotheses.csv"],
    ),
    Case(
        "fit-empty-file",
        ["hypotheses", "run"],
        "run/fit.nc: cannot read fit file",
        fit_dir("empty"),
        ["run/hypotheses.csv"],
    ),
    Case("fit-text-file", ["check", "run"], "run/fit.nc: cannot read fit file", fit_dir("text")),
    Case(
        "fit-missing",
        ["hypotheses", "run"],
        "run/fit.nc: no such fit file",
        fit_dir("no_fit"),
        ["run/hypotheses.csv"],
    ),
    Case(
        "fit-lacks-group",
        ["hypotheses", "run"],
        "fit file lacks the 'log_likelihood' group",
        fit_dir("lacks_group"),
        ["run/hypotheses.csv"],
    ),
    Case(
        "fit-lacks-provenance",
        ["check", "run"],
        "lacks the provenance attribute 'data_sha256'",
        fit_dir("lacks_attr"),
    ),
    Case(
        "fit-interrupted-leftover",
        ["hypotheses", ".run.k3j9x2ab.part"],
        "left by an interrupted run",
        fit_dir("leftover"),
        [".run.k3j9x2ab.part/hypotheses.csv"],
    ),
]
assert len({c.id for c in CASES}) == len(CASES)


# ------------------------------------------------------------- provenance probes (walt-bayes check)


def embedded_sha() -> str:
    from walt_bayes.panel.embedded import load_middle_east
    from walt_bayes.panel.hashing import panel_sha256

    return panel_sha256(load_middle_east())


def check_fit(**attrs) -> Callable[[Path], None]:
    """A fit-shaped file made on the embedded data with the bundled balance_of_threat spec."""

    def setup(ws: Path) -> None:
        fake_fit(ws / "run" / "fit.nc", **{"data_sha256": PROBE_STATE["sha"], **attrs})

    return setup


def with_changed_power(setup: Callable[[Path], None]) -> Callable[[Path], None]:
    def both(ws: Path) -> None:
        setup(ws)
        edit_csv("state_years.csv", set_cell(0, "power", "24.5"))(ws)

    return both


def legacy_embedded_sha() -> str:
    from walt_bayes.panel.embedded import load_middle_east
    from walt_bayes.panel.hashing import legacy_panel_sha256

    return legacy_panel_sha256(load_middle_east())


PROBE_STATE: dict[str, str] = {}
BOT_TOML = (REPO / "models" / "balance_of_threat.toml").read_text("utf-8")
PROBES = [
    Case("matches", ["check", "run"], "fit matches", check_fit()),
    Case(
        "matches-copy",
        ["check", "run", "--data", "me", "--spec", "models/balance_of_threat.toml"],
        "fit matches",
        lambda ws: (
            check_fit()(ws),
            embedded_copy(ws),
            shutil.copytree(REPO / "models", ws / "models"),
        ),
    ),
    Case(
        "data-differ",
        ["check", "run", "--data", "me"],
        "data differ",
        with_changed_power(check_fit()),
    ),
    # Fits written before the binary content hash store the CSV-text hash of the same data.
    Case("matches-legacy-hash", ["check", "run"], "fit matches",
         lambda ws: fake_fit(ws / "run" / "fit.nc", data_sha256=PROBE_STATE["legacy_sha"])),
    Case("legacy-hash-data-differ", ["check", "run", "--data", "me"], "data differ",
         with_changed_power(lambda ws: fake_fit(ws / "run" / "fit.nc", data_sha256=PROBE_STATE["legacy_sha"]))),
    Case(
        "spec-differs",
        ["check", "run", "--spec", "balance_of_threat"],
        "[alliance] terms",
        check_fit(spec_toml=BOT_TOML.replace('"partner_x_weak_x_major"', '"ideology"')),
    ),
    Case(
        "comments-only",
        ["check", "run", "--spec", "balance_of_threat"],
        "fit matches",
        check_fit(spec_toml="# an edited comment\n" + BOT_TOML),
    ),
    Case(
        "both-differ",
        ["check", "run", "--data", "me", "--spec", "balance_of_threat"],
        "differs",
        with_changed_power(
            check_fit(spec_toml=BOT_TOML.replace("sigma = 0.5 }", "sigma = 0.25 }", 1))
        ),
    ),
    Case(
        "versions",
        ["check", "run"],
        "pymc 0.0.1 made the fit",
        check_fit(versions=json.dumps({"pymc": "0.0.1"})),
    ),
    Case(
        "versions-strict",
        ["check", "run", "--strict"],
        "versions differ: pymc 0.0.1",
        check_fit(versions=json.dumps({"pymc": "0.0.1"})),
    ),
    Case("debug", ["--debug", "fit", "spec.toml"], "SpecError", spec_file("[model\n")),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory, base_panel):
    """Run every case (concurrently); map id -> (workspace, before, after, result)."""
    root = tmp_path_factory.mktemp("bad-inputs")
    PROBE_STATE["sha"] = embedded_sha()
    PROBE_STATE["legacy_sha"] = legacy_embedded_sha()
    prepared = {}
    for case in CASES + PROBES:
        ws = root / case.id
        ws.mkdir()
        if case.setup is not None:
            if getattr(case.setup, "wants_panel", False):
                case.setup(ws, base_panel)
            else:
                case.setup(ws)
        prepared[case.id] = (ws, snapshot(ws))

    def direct(case: Case) -> Result:
        ws = prepared[case.id][0]
        proc = run_cli(case.args, ws, cli_env(ws, **case.env))
        return Result(proc.returncode, proc.stdout, proc.stderr)

    jobs = [
        {
            "id": c.id,
            "args": c.args,
            "cwd": str(prepared[c.id][0]),
            "env": cli_env(prepared[c.id][0], **c.env),
        }
        for c in CASES + PROBES
        if not c.direct
    ]
    limit = max(2, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=4) as pool:
        direct_runs = {c.id: pool.submit(direct, c) for c in CASES if c.direct}
        forked = run_forked(jobs, limit)
        outcome = {**forked, **{k: f.result() for k, f in direct_runs.items()}}
    return {cid: (ws, before, snapshot(ws), outcome[cid]) for cid, (ws, before) in prepared.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clean_line(results, case):
    ws, before, after, proc = results[case.id]
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, f"exit {proc.returncode}: {proc.stderr}"
    assert len(err.splitlines()) == 1, f"not one line:\n{proc.stderr}"
    assert err.startswith("error: "), err
    assert case.needle in err, f"{case.needle!r} not in {err!r}"
    assert after == before, f"files changed: {set(after.items()) ^ set(before.items())}"
    for rel in case.absent:
        assert not (ws / rel).exists(), f"{rel} was written"


def test_table_is_large_enough():
    kinds = {c.id.split("-")[0] for c in CASES}
    assert len(CASES) >= 25
    assert {"spec", "arg", "embedded", "panel", "mirror", "cache", "fit"} <= kinds


def test_debug_shows_the_traceback(results):
    res = results["debug"][3]
    assert res.returncode == 1  # the exception escapes: Python's own exit status for it
    assert "Traceback" in res.stderr and "SpecError" in res.stderr


@pytest.mark.parametrize(
    ("probe", "code", "lines"),
    [
        ("matches", 0, 1),
        ("matches-copy", 0, 1),
        ("comments-only", 0, 1),
        ("versions", 0, 2),
        ("data-differ", 1, 1),
        ("spec-differs", 1, 1),
        ("both-differ", 1, 2),
        ("versions-strict", 1, 1),
    ],
)
def test_check_names_what_differs(results, probe, code, lines):
    """`walt-bayes check`: "fit matches", or one line per difference and exit 1.

    Library-version differences are notes unless --strict."""
    case = next(c for c in PROBES if c.id == probe)
    res = results[probe][3]
    out = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert res.returncode == code, res.stdout + res.stderr
    assert res.stderr.strip() == ""
    assert len(out) == lines, out
    assert case.needle in res.stdout
