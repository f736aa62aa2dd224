"""BibTeX entries for the sources a panel used (``walt-bayes data cite --bibtex``).

The entries come from peacesciencer's own bibliography, the ``ps_bib`` source (one row
per entry, ``AUTHOR``/``EDITOR`` as lists), looked up by each source's ``bibtexkey`` in
the registry (several keys are separated by ``;``).  Three things are filled in here:

* peacesciencer's entry in ``ps_bib`` has lost the opening brace of its title and lacks
  volume, pages and DOI: it is replaced by the citation its ``inst/CITATION`` asks for;
* sources with no key in the registry get the entries in :data:`EXTRA` (written from the
  registry's citation text);
* a key that ``ps_bib`` lacks (or a source in neither) gets an ``@misc`` entry whose
  ``note`` is the registry's citation text, so every source used is cited.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd

from walt_bayes.sources import registry
from walt_bayes.sources.read import read_source

PEACESCIENCER_KEY = "peacesciencer-package"
PEACESCIENCER = """@article{peacesciencer-package,
  author = {Steven V. Miller},
  title = {{peacesciencer}: An {R} Package for Quantitative Peace Science Research},
  journal = {Conflict Management and Peace Science},
  year = {2022},
  volume = {39},
  number = {6},
  pages = {755--779},
  doi = {10.1177/07388942221077926},
}
"""
#: Entries for registered sources that have no ``bibtexkey`` (by source name).
EXTRA = {
    "terrthreat": """@article{miller2022rirm,
  author = {Steven V. Miller},
  title = {A Random Item Response Model of External Territorial Threat, 1816--2010},
  journal = {Journal of Global Security Studies},
  year = {2022},
  volume = {7},
  number = {4},
  pages = {ogac012},
}
""",
    "maoz_powers": """@book{maoz2010nn,
  author = {Zeev Maoz},
  title = {Networks of Nations: The Evolution, Structure, and Impact of International
    Networks, 1816--2001},
  publisher = {Cambridge University Press},
  address = {Cambridge},
  year = {2010},
}
""",
    "tss_rivalries": """@book{thompsonetal2022asr,
  author = {William R. Thompson and Kentaro Sakuwa and Prashant Hosur Suhas},
  title = {Analyzing Strategic Rivalries in World Politics: Types of Rivalry, Regional
    Variation, and Escalation/De-escalation},
  publisher = {Springer},
  address = {Singapore},
  year = {2022},
}
""",
}
#: ps_bib columns that are bookkeeping, not bibliography.
_SKIP = {
    "CATEGORY",
    "BIBTEXKEY",
    "KEYWORDS",
    "OWNER",
    "TIMESTAMP",
    "DATE.ADDED",
    "DATE.MODIFIED",
    "ABSTRACT",
    "ANNOTE",
}
_TYPES = {
    "article",
    "book",
    "booklet",
    "inbook",
    "incollection",
    "inproceedings",
    "manual",
    "mastersthesis",
    "misc",
    "phdthesis",
    "proceedings",
    "techreport",
    "unpublished",
}
#: LaTeX specials that must be escaped inside a field (unless escaped already).
_BARE = re.compile(r"(?<!\\)([&%#])")


def source_keys(name: str) -> list[str]:
    """The BibTeX keys the registry gives for a source ([] when it gives none)."""
    return [k.strip() for k in registry.get(name).bibtexkey.split(";") if k.strip()]


def _value(v) -> str | None:
    """A ps_bib cell as BibTeX field text, or None when empty (names joined with ``and``)."""
    if isinstance(v, (list, tuple, np.ndarray)):
        names = [str(x) for x in v if x is not None and not pd.isna(x)]
        return " and ".join(names) or None
    if v is None or pd.isna(v) or not str(v).strip():
        return None
    text = str(v).strip()
    if text.count("{") != text.count(
        "}"
    ):  # a brace R lost: drop the rest rather than break the file
        text = text.replace("{", "").replace("}", "")
    return _BARE.sub(r"\\\1", text)


def entry_from_row(row: pd.Series) -> str:
    """One ``ps_bib`` row as a BibTeX entry (unknown types such as ``OTHER`` become ``misc``)."""
    kind = str(row["CATEGORY"]).lower()
    fields = []
    for col, v in row.items():
        text = None if col in _SKIP else _value(v)
        if text is not None:
            fields.append(f"  {str(col).lower()} = {{{text}}},")
    head = f"@{kind if kind in _TYPES else 'misc'}{{{row['BIBTEXKEY']},"
    return "\n".join([head, *fields, "}"]) + "\n"


def misc_entry(key: str, citation: str) -> str:
    """An ``@misc`` entry holding a plain-text citation in its ``note``."""
    return f"@misc{{{key},\n  note = {{{_value(citation)}}},\n}}\n"


def read_bibliography(mirror: str | os.PathLike | None = None) -> dict[str, pd.Series]:
    """peacesciencer's bibliography (``ps_bib``) by key, fetched and verified like any source."""
    bib = read_source("ps_bib", mirror=mirror)
    return {str(row["BIBTEXKEY"]): row for _, row in bib.iterrows()}


def bibtex(source_names, *, mirror: str | os.PathLike | None = None) -> str:
    """BibTeX for peacesciencer and every work the given sources ask to be cited.

    Parameters
    ----------
    source_names : iterable of str
        Registered source names (e.g. a panel's ``sources`` attribute).
    mirror : path-like, optional
        Mirror directory for fetching ``ps_bib`` if it is not cached.

    Returns
    -------
    str
        Entries separated by blank lines, peacesciencer's first, each key once.

    Raises
    ------
    SourceError
        An unknown source name, or ``ps_bib`` cannot be fetched or read.
    """
    names = [registry.get(n).name for n in source_names]  # unknown names fail before any fetch
    bib = read_bibliography(mirror)
    entries = {PEACESCIENCER_KEY: PEACESCIENCER}
    for name in names:
        keys = source_keys(name)
        if not keys:
            entries.setdefault(
                name, EXTRA.get(name) or misc_entry(name, registry.get(name).citation)
            )
            continue
        for key in keys:
            if key in entries:
                continue
            row = bib.get(key)
            entries[key] = (
                entry_from_row(row)
                if row is not None
                else misc_entry(key, registry.get(name).citation)
            )
    return "\n".join(entries.values())
