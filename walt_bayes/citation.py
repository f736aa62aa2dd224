"""How to cite walt-bayes itself: one set of facts for ``walt-bayes cite`` and ``CITATION.cff``.

The title, authors and licence are written once here and the version is
``walt_bayes.__version__``; :func:`bibtex` and :func:`cff` render them.  The repository's
``CITATION.cff`` is the output of ``walt-bayes cite --format cff`` (a test checks the two are
identical, so the file cannot drift from the package).
"""

from __future__ import annotations

import json

from walt_bayes import __version__

NAME = "walt-bayes"
TITLE = "walt-bayes: Bayesian tests of Stephen Walt's balance-of-threat theory of alliances"
#: An entity (a group, not a person) in CFF terms.
AUTHORS = ("walt-bayes developers",)
LICENSE = "MIT"  # an SPDX identifier, as CFF asks
MESSAGE = "If you use walt-bayes, please cite it using the metadata from this file."
CFF_VERSION = "1.2.0"


def facts() -> dict[str, object]:
    """The citation facts: name, title, version, authors and licence."""
    return {
        "name": NAME,
        "title": TITLE,
        "version": __version__,
        "authors": list(AUTHORS),
        "license": LICENSE,
    }


def bibtex() -> str:
    """The package's BibTeX entry (``@misc``: every BibTeX style knows it).

    Authors are wrapped in an extra pair of braces: they are a group's name, which BibTeX
    must not split into first and last names.
    """
    f = facts()
    authors = " and ".join(f"{{{a}}}" for a in f["authors"])
    title = f["title"].replace(NAME, f"{{{NAME}}}", 1)  # keep the name's lower case
    return (
        f"@misc{{{NAME},\n"
        f"  author = {{{authors}}},\n"
        f"  title = {{{title}}},\n"
        f"  note = {{Python package, version {f['version']}, {f['license']} license}},\n"
        f"  version = {{{f['version']}}},\n"
        f"  license = {{{f['license']}}},\n"
        "}\n"
    )


def text() -> str:
    """The citation as one line of plain text."""
    f = facts()
    return (
        f"{', '.join(f['authors'])}. {f['title']}. Version {f['version']}. {f['license']} license."
    )


def cff() -> str:
    """The ``CITATION.cff`` text (Citation File Format 1.2.0).

    Strings are written as JSON strings, which are valid YAML double-quoted scalars.
    """
    f = facts()
    q = json.dumps
    lines = [
        f"cff-version: {CFF_VERSION}",
        f"message: {q(MESSAGE)}",
        "type: software",
        f"title: {q(f['title'])}",
        f"version: {q(f['version'])}",
        f"license: {q(f['license'])}",
        "authors:",
        *(f"  - name: {q(a)}" for a in f["authors"]),
    ]
    return "\n".join(lines) + "\n"
