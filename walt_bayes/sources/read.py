"""Read a registered source into pandas.

``read_source(name)`` makes sure the file is cached and verified
(:func:`walt_bayes.sources.fetch.ensure`), reads its R object with pyreadr
(``rdata`` for the one file with list columns, ``ps_bib``) and memoises the
frame per process.  Callers get a shallow copy (pandas copy-on-write keeps the
memoised frame intact).  A truncated or unreadable file raises
:class:`~walt_bayes.errors.SourceError` naming the file.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import pandas as pd

from walt_bayes.errors import SourceError
from walt_bayes.sources import registry
from walt_bayes.sources.fetch import ensure

#: Sources whose R object has list columns that pyreadr cannot read.
_RDATA_ONLY = frozenset({"ps_bib"})


def read_rda(path: str | os.PathLike, rda_object: str, *, use_rdata: bool = False) -> pd.DataFrame:
    """Read one data frame from an ``.rda`` file.

    Parameters
    ----------
    path : path-like
        The ``.rda`` file.
    rda_object : str
        Name of the R object inside it.
    use_rdata : bool
        Use the ``rdata`` package instead of pyreadr (needed for list columns).

    Raises
    ------
    SourceError
        The file is truncated, not an R data file, or lacks the object.
    """
    path = Path(path)
    try:
        if use_rdata:
            # lazy: rdata (~1 s) stays off `import walt_bayes.panel.build`; only list columns need it
            import rdata

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Missing constructor for R class tbl_df"
                objects = rdata.read_rda(path)
        else:
            # lazy: pyreadr (~1.5 s) stays off `import walt_bayes.panel.build` and `import walt_bayes.sources`
            import pyreadr

            with warnings.catch_warnings():
                # pyreadr's date parser trips a NumPy deprecation warning; not ours to fix
                warnings.simplefilter("ignore", DeprecationWarning)
                objects = pyreadr.read_r(path)
    except Exception as err:  # pyreadr/librdata and rdata raise assorted types
        msg = " ".join(str(err).split()) or type(err).__name__
        raise SourceError(
            f"{path.name}: cannot be read as an R data file holding {rda_object!r} ({msg}); "
            f"it may be truncated — fetch it again with `walt-bayes data fetch --force "
            f"{path.stem}` (add --mirror DIR to copy it from a local mirror)"
        ) from err
    if rda_object not in objects:
        raise SourceError(
            f"{path.name}: has no R object {rda_object!r} (found: {', '.join(objects) or 'none'})"
        )
    frame = objects[rda_object]
    if not isinstance(frame, pd.DataFrame):
        raise SourceError(f"{path.name}: object {rda_object!r} is not a data frame")
    return frame


@functools.cache
def _read_memo(name: str, path: str, size: int, mtime_ns: int) -> pd.DataFrame:
    src = registry.get(name)
    return read_rda(path, src.rda_object, use_rdata=src.name in _RDATA_ONLY)


def read_source(name: str, *, mirror: str | os.PathLike | None = None) -> pd.DataFrame:
    """The source's data frame, fetched into the cache if needed (memoised per process).

    Parameters
    ----------
    name : str
        Registered source name, e.g. ``"cow_nmc"``.
    mirror : path-like, optional
        Mirror directory used if the file is not cached yet.

    Returns
    -------
    pandas.DataFrame
        As pyreadr returns it (numbers are float64; R dates are ``datetime.date``).
    """
    src = registry.get(name)
    path = ensure(src.name, mirror=mirror)
    st = path.stat()
    frame = _read_memo(src.name, str(path), st.st_size, st.st_mtime_ns)
    return frame.copy(deep=False)


def clear_memo() -> None:
    """Forget memoised frames (tests use it between cache directories)."""
    _read_memo.cache_clear()
