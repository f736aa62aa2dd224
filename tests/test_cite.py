"""Citations: the package's own (``walt-bayes cite``, CITATION.cff) and the data's (``data cite --bibtex``)."""

from __future__ import annotations

import os
import re
import tomllib
import warnings
from pathlib import Path

import pytest
import yaml
from cli_runner import run_cli

import walt_bayes
from walt_bayes import citation
from walt_bayes.errors import SourceError

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("WALT_BAYES_MIRROR") or REPO.parent / "shared/data/peacesciencer")
needs_mirror = pytest.mark.skipif(
    not MIRROR.is_dir(), reason=f"peacesciencer mirror not found at {MIRROR}"
)




def entries(bib: str) -> dict[str, str]:
    """BibTeX entries by key; each must open with @type{key, and close with a lone '}'."""
    out = {}
    for chunk in re.split(r"\n(?=@)", bib.strip()):
        m = re.match(r"@([a-z]+)\{([^,\s]+),\n", chunk)
        assert m, chunk[:80]
        assert chunk.rstrip().endswith("\n}"), chunk[-80:]
        assert chunk.count("{") == chunk.count("}"), m.group(2)
        assert m.group(2) not in out, f"duplicate key {m.group(2)}"
        out[m.group(2)] = chunk
    return out


# ------------------------------------------------------------------ the package
def test_citation_cff_is_the_command_output_and_valid(monkeypatch, capsys):
    text = (REPO / "CITATION.cff").read_text(encoding="utf-8")
    code, out, _ = run_cli(monkeypatch, capsys, "cite", "--format", "cff")
    assert code == 0
    assert (
        out == text == citation.cff()
    )  # regenerate with `walt-bayes cite --format cff > CITATION.cff`
    cff = yaml.safe_load(text)
    # Citation File Format 1.2.0: the required keys and their types, and what we fill in.
    assert cff["cff-version"] == "1.2.0"
    assert isinstance(cff["message"], str) and cff["message"]
    assert cff["title"] == citation.TITLE
    assert cff["authors"] == [{"name": "walt-bayes developers"}]
    assert cff["version"] == walt_bayes.__version__
    assert cff["license"] == "MIT"
    assert cff["type"] == "software"
    assert set(cff) <= {"cff-version", "message", "type", "title", "version", "license", "authors"}


def test_facts_agree_with_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["version"] == walt_bayes.__version__
    assert project["license"]["text"] == citation.LICENSE
    assert [a["name"] for a in project["authors"]] == list(citation.AUTHORS)


def test_cite_prints_bibtex_with_the_same_facts(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "cite")
    assert code == 0
    entry = entries(out)["walt-bayes"]
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert f"version = {{{cff['version']}}}" in entry
    assert "author = {{walt-bayes developers}}" in entry
    assert f"license = {{{cff['license']}}}" in entry
    title = re.search(r"title = \{(.*)\},\n", entry).group(1)
    assert title.replace("{", "").replace("}", "") == cff["title"]
    code, out, _ = run_cli(monkeypatch, capsys, "cite", "--format", "text")
    assert out.strip() == citation.text() and cff["version"] in out


# ------------------------------------------------------------------ the data
@pytest.fixture
def mirror_env(monkeypatch, tmp_path):
    from walt_bayes.sources import fetch
    from walt_bayes.sources.read import clear_memo

    monkeypatch.setenv(fetch.MIRROR_ENV, str(MIRROR))
    monkeypatch.setenv(fetch.CACHE_ENV, str(tmp_path / "cache"))
    clear_memo()
    yield
    clear_memo()


def _ps_bib():
    import rdata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rdata.read_rda(MIRROR / "ps_bib.rda")["ps_bib"].set_index("BIBTEXKEY")


@needs_mirror
def test_data_cite_bibtex_has_an_entry_for_every_panel_source(monkeypatch, capsys, mirror_env):
    from walt_bayes.panel.build import PANEL_SOURCES
    from walt_bayes.sources.bibtex import EXTRA, source_keys

    code, out, err = run_cli(monkeypatch, capsys, "data", "cite", "--bibtex")
    assert code == 0, err
    found = entries(out)
    assert next(iter(found)) == "peacesciencer-package"
    assert "volume = {39}" in found["peacesciencer-package"]
    for name in PANEL_SOURCES:
        keys = source_keys(name) or [re.match(r"@\w+\{([^,]+),", EXTRA[name]).group(1)]
        assert all(k in found for k in keys), name
    # The entries are ps_bib's: ATOP's title and authors as peacesciencer has them.
    bib = _ps_bib()
    atop = found["leedsetal2002atop"]
    assert f"title = {{{bib.loc['leedsetal2002atop', 'TITLE']}}}" in atop
    assert "author = {" + " and ".join(bib.loc["leedsetal2002atop", "AUTHOR"]) + "}" in atop
    assert found["cowstates2016"].startswith("@misc{")  # ps_bib's OTHER is no BibTeX type
    assert "keywords" not in out and "owner" not in out


@needs_mirror
def test_data_cite_bibtex_out_file(monkeypatch, capsys, tmp_path, mirror_env):
    target = tmp_path / "refs" / "data.bib"
    code, out, err = run_cli(monkeypatch, capsys, "data", "cite", "--bibtex", "--out", str(target))
    assert code == 0, err
    code, printed, _ = run_cli(monkeypatch, capsys, "data", "cite", "--bibtex")
    assert target.read_text(encoding="utf-8") == printed
    assert f"{len(entries(printed))} BibTeX entries" in out
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]


@needs_mirror
def test_bibtex_of_sources_without_a_key(mirror_env):
    from walt_bayes.sources.bibtex import bibtex

    found = entries(bibtex(["tss_rivalries", "maoz_powers", "cow_nmc"]))
    assert list(found) == [
        "peacesciencer-package",
        "thompsonetal2022asr",
        "maoz2010nn",
        "singeretal1972cdu",
        "singer1987rcwd",
    ]
    assert "editor = {Russett, Bruce}" in found["singeretal1972cdu"]
    with pytest.raises(SourceError, match="unknown source"):
        bibtex(["no_such_source"])


def test_data_cite_out_needs_bibtex(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "data", "cite", "--out", str(tmp_path / "x.bib"))
    assert code == 2 and "--bibtex" in err
    assert not (tmp_path / "x.bib").exists()
