"""Real-data sources: the registry, download/verify/cache, and reading ``.rda`` files.

Stage one of the data flow (sources -> panel -> spec -> model -> ...).  See
``registry.tsv`` for what each file is, its version, coverage and citation.
(The batch function ``fetch`` lives in :mod:`walt_bayes.sources.fetch`; it is not
re-exported here so that the submodule name stays importable.)
"""

from walt_bayes.sources.fetch import (
    CACHE_ENV,
    MIRROR_ENV,
    cache_dir,
    ensure,
    fetch_one,
    mirror_dir,
    status,
    verify,
)
from walt_bayes.sources.read import read_rda, read_source
from walt_bayes.sources.registry import PEACESCIENCER_CITATION, Source, get, load_registry, names

__all__ = [
    "CACHE_ENV",
    "MIRROR_ENV",
    "PEACESCIENCER_CITATION",
    "Source",
    "cache_dir",
    "ensure",
    "fetch_one",
    "get",
    "load_registry",
    "mirror_dir",
    "names",
    "read_rda",
    "read_source",
    "status",
    "verify",
]
