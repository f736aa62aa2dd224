"""The registry of real-data sources (peacesciencer's ``.rda`` files).

The registry is a small tab-separated table shipped inside the package
(``registry.tsv``, metadata written by us; never the data).  Each row pins one
file by upstream repository, commit and sha256 and says what it is, who made
it, which version, which years it covers and how to cite it.

``data_years`` are the years present in the file; ``coverage`` are the years
the source speaks for.  Outside ``coverage`` a panel value built from the
source is missing (NA), never 0 (e.g. COW inter-state wars: the file has wars
fought 1823-2003, the data set's domain is 1816-2007, so 2004-2007 are 0 and
2008 onward NA).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from importlib import resources

from walt_bayes.errors import SourceError

#: The citation peacesciencer's ``inst/CITATION`` asks for; printed with every source list.
PEACESCIENCER_CITATION = (
    'Miller, Steven V. 2022. "{peacesciencer}: An R Package for Quantitative Peace Science '
    'Research." Conflict Management and Peace Science 39(6): 755-779. '
    "doi:10.1177/07388942221077926"
)


@dataclass(frozen=True)
class Source:
    """One pinned source file and its metadata (one row of ``registry.tsv``)."""

    name: str
    file: str
    bytes: int
    sha256: str
    upstream_repo: str
    upstream_commit: str
    upstream_path: str
    rda_object: str
    nrows: int
    ncols: int
    data_years: str
    coverage: str
    unit: str
    version: str
    producer: str
    bibtexkey: str
    description: str
    citation: str

    @property
    def url(self) -> str:
        """Download address: ``{upstream_repo}/raw/{upstream_commit}/{upstream_path}``."""
        return f"{self.upstream_repo}/raw/{self.upstream_commit}/{self.upstream_path}"

    @property
    def years(self) -> tuple[int, int] | None:
        """First and last year the source covers, or None when it is not a time series."""
        return _parse_years(self.coverage)

    @property
    def citations(self) -> list[str]:
        """The works to cite for this source (one string each)."""
        return [c.strip() for c in self.citation.split(" | ") if c.strip()]


def _parse_years(text: str) -> tuple[int, int] | None:
    if text in ("", "n/a"):
        return None
    first, _, last = text.partition("-")
    return int(first), int(last)


@functools.cache
def load_registry() -> dict[str, Source]:
    """Read ``registry.tsv`` shipped with the package.

    Returns
    -------
    dict[str, Source]
        Sources by name (the file name without ``.rda``), in table order.
    """
    text = resources.files("walt_bayes.sources").joinpath("registry.tsv").read_text("utf-8")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    header = lines[0].split("\t")
    names = [f.name for f in fields(Source)]
    if header != names:
        raise SourceError(f"registry.tsv: header {header} does not match the Source fields {names}")
    out: dict[str, Source] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise SourceError(
                f"registry.tsv: data line {lineno} has {len(cells)} cells, expected {len(header)}"
            )
        row = dict(zip(header, cells, strict=True))
        for key in ("bytes", "nrows", "ncols"):
            row[key] = int(row[key])
        src = Source(**row)
        out[src.name] = src
    return out


def names() -> list[str]:
    """Names of every registered source."""
    return list(load_registry())


def get(name: str) -> Source:
    """Look a source up by name (``cow_nmc``) or file name (``cow_nmc.rda``).

    Raises
    ------
    SourceError
        If no such source is registered.
    """
    reg = load_registry()
    key = name.removesuffix(".rda")
    if key in reg:
        return reg[key]
    raise SourceError(f"unknown source {name!r}; known sources: {', '.join(reg)}")


def citations(source_names) -> list[str]:
    """Citations for the given sources, peacesciencer's first, without duplicates."""
    out = [PEACESCIENCER_CITATION]
    for n in source_names:
        for c in get(n).citations:
            if c not in out:
                out.append(c)
    return out
