"""``walt-bayes variants``: the bundled theory variants (``models/*.toml``).

The API loads one spec (:func:`walt_bayes.api.load_spec`) but has no listing: the names come
from :func:`walt_bayes.spec.list_variants`.
"""

from __future__ import annotations

from rich.table import Table

from walt_bayes.cli._common import console


def variants_command() -> None:
    """List the bundled theory variants (models/*.toml) with their blocks and terms."""
    # lazy: CLI start-up (walt_bayes.api imports pandas and pandera, a second or more)
    from walt_bayes import api

    # lazy: walt_bayes.spec imports PyMC (pymc_extras' Prior), seconds
    from walt_bayes.spec import list_variants

    table = Table(title="Theory variants")
    for col in ("variant", "threat sources", "alliance terms", "description"):
        table.add_column(col)
    for name in list_variants():
        s = api.load_spec(name)
        sources = ", ".join(s.threat.sources) if s.threat else "—"
        table.add_row(name, sources, ", ".join(s.alliance.terms) or "—", s.description)
    console.print(table)
