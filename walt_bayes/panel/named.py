"""Named real-data panels built from the peacesciencer sources, cached after the first build.

``--data NAME`` (and a grid's or study's ``[[data]] name = NAME``) resolves these
names through :func:`walt_bayes.panel.datasets.load_dataset`:

``middle-east-atop``
    The embedded panel's states and years (1955-1979) cut from the global COW
    panel (:mod:`walt_bayes.panel.me_slice`): covariates from the global sources,
    alliances from ATOP 5.1 (``ally``: a defense or offense pledge in either
    direction; ``pledge12``: i's defense or offense pledge to j).
``middle-east-global-embedded``
    The same rows and covariates, with the embedded coding's alliance columns
    (``ally``: any formal or informal alignment episode; ``ally_formal``: treaty
    episodes only; ``pledge12`` = ``ally``).  Against ``middle-east-atop`` only
    the alliance measure differs.
``middle-east-atop-any``
    The same rows, ``ally`` = *any* ATOP pledge (defense, offense, neutrality,
    non-aggression or consultation) in either direction; ``pledge12`` likewise
    directed.
``global-A-B``
    The global COW directed dyad-year panel of years A to B
    (:func:`walt_bayes.panel.build.build_global_panel`, every dyad), e.g.
    ``global-1816-2014`` or ``global-1946-2014``.

Building the global panel takes about a minute (1816-2014; ~15 s for 1955-1979),
so every named panel is written once to ``<cache root>/panels/`` (:func:`walt_bayes.paths.cache_root`,
``$WALT_BAYES_CACHE``) as Parquet, under a key that changes with the sources'
sha256, the code that builds it and the embedded data files; a stale file is
never read, only superseded.  Sources come from the cache or the mirror
(``$WALT_BAYES_MIRROR``) as for ``walt-bayes panel build``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from walt_bayes.errors import DataError
from walt_bayes.panel.build import PANEL_SOURCES, build_global_panel, read_panel, write_panel
from walt_bayes.paths import cache_root
from walt_bayes.sources import registry

#: The named Middle East slices and what they are (see the module docstring).
SLICES: dict[str, str] = {
    "middle-east-atop": "embedded states and years 1955-1979 of the global COW panel; alliances from ATOP "
    "(defense/offense)",
    "middle-east-global-embedded": "the same rows and covariates; alliances from the embedded coding",
    "middle-east-atop-any": "the same rows; alliances = any ATOP pledge (adds neutrality, non-aggression, "
    "consultation)",
}
#: ``global-A-B``: the global COW panel of years A-B.
GLOBAL_NAME = re.compile(r"^global-(\d{4})-(\d{4})$")
#: Bump when the derivation changes in a way the hashed code files would not show.
CACHE_VERSION = 1
#: The modules whose text keys the cache (a change to any of them rebuilds): the verb
#: families and portable_math.py compute the values too (verbs.py only re-exports them).
_CODE = (
    "build.py", "verbs.py", "verb_tools.py", "verbs_states.py", "verbs_geography.py",
    "verbs_conflict.py", "verbs_ties.py", "verbs_filters.py", "portable_math.py",
    "columns.py", "me_slice.py", "named.py",
)


def is_named(name: str) -> bool:
    """Whether ``name`` is one of the named panels of this module."""
    return name in SLICES or GLOBAL_NAME.match(name) is not None


def describe(name: str) -> str:
    """One phrase saying what the named panel ``name`` holds."""
    if name in SLICES:
        return SLICES[name]
    m = GLOBAL_NAME.match(name)
    if m:
        return f"global COW directed dyad-years {m.group(1)}-{m.group(2)}, ATOP alliances"
    raise DataError(f"'{name}' is not a named panel ({known_names()})")


def known_names() -> str:
    """The names, for messages."""
    return ", ".join([*SLICES, "global-A-B (e.g. global-1816-2014)"])


def global_years(name: str) -> tuple[int, int]:
    """The years of ``global-A-B``.

    Raises
    ------
    DataError
        Not a ``global-A-B`` name, or A after B.
    """
    m = GLOBAL_NAME.match(name)
    if not m:
        raise DataError(f"'{name}' is not a global panel name (global-A-B, e.g. global-1816-2014)")
    first, last = int(m.group(1)), int(m.group(2))
    if first > last:
        raise DataError(f"'{name}': first year {first} is after last year {last}")
    return first, last


def cache_key(extra: str = "") -> str:
    """16 hex digits of the sources' sha256, the building code and ``extra``."""
    h = hashlib.sha256(f"v{CACHE_VERSION}|{extra}".encode())
    for n in PANEL_SOURCES:
        h.update(f"{n}:{registry.get(n).sha256}".encode())
    here = Path(__file__).parent
    for f in _CODE:
        h.update((here / f).read_bytes())
    return h.hexdigest()[:16]


def embedded_files_hash() -> str:
    """sha256 (16 hex digits) of the bundled embedded CSV files (the slices depend on them)."""
    # lazy: walt_bayes.panel.embedded imports pandera (~1.3 s); the CLI's start-up imports named
    from walt_bayes.panel.embedded import FILES, resolve_data_dir

    folder = resolve_data_dir(None)
    h = hashlib.sha256()
    for f in sorted(FILES.values()):
        path = folder / f
        h.update(f.encode() + (path.read_bytes() if path.exists() else b""))
    return h.hexdigest()[:16]


def cache_path(name: str, key: str) -> Path:
    """Where the named panel ``name`` with cache key ``key`` is stored."""
    return cache_root() / "panels" / f"{name}-{key}.parquet"


def cached(name: str, key: str, build: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """The panel stored under ``(name, key)``, built by ``build()`` and written first if absent.

    Older files of the same name (other keys) are removed once the new one is written,
    so the cache holds one version of each panel.
    """
    path = cache_path(name, key)
    if path.exists():
        try:
            return read_panel(path)
        except (DataError, OSError, ValueError):
            pass  # unreadable (e.g. from another pyarrow): rebuild over it
    panel = build()
    write_panel(panel, path)
    for old in path.parent.glob(f"{name}-*.parquet"):
        if old != path and re.fullmatch(rf"{re.escape(name)}-[0-9a-f]{{16}}\.parquet", old.name):
            old.unlink(missing_ok=True)
    return read_panel(path)  # what every later call reads: the same dtypes, the same sha256


def global_panel(years: tuple[int, int]) -> pd.DataFrame:
    """The global COW panel of ``years`` (every dyad), from the cache or built and cached."""
    name = f"global-{years[0]}-{years[1]}"
    return cached(name, cache_key(), lambda: build_global_panel(years=years))


def load_named(name: str) -> pd.DataFrame:
    """The named panel ``name`` (see the module docstring), with ``attrs["name"] = name``.

    Raises
    ------
    DataError
        Unknown name; SourceError when a source is neither cached nor in the mirror.
    """
    if name in SLICES:
        # lazy: me_slice imports walt_bayes.panel.embedded, hence pandera (see embedded_files_hash)
        from walt_bayes.panel.me_slice import embedded_attrs, slice_panel

        key = cache_key(embedded_files_hash())
        panel = cached(name, key, lambda: slice_panel(name, global_panel))
    elif GLOBAL_NAME.match(name):
        panel = global_panel(global_years(name))
    else:
        raise DataError(f"'{name}' is not a named panel ({known_names()})")
    panel.attrs["name"] = name
    if name == "middle-east-global-embedded":
        # The embedded coding's alliances: the duration and wartime-joining blocks read its
        # episodes and war_joining.csv (the bundled data folder), as on the embedded panel.
        panel.attrs.update(embedded_attrs())
    return panel


__all__ = [
    "GLOBAL_NAME",
    "SLICES",
    "cache_key",
    "cache_path",
    "cached",
    "describe",
    "global_panel",
    "global_years",
    "is_named",
    "known_names",
    "load_named",
]
