"""The shared machinery of the dyad-year verbs (:mod:`walt_bayes.panel.verbs`).

Integer keys (``(ccode1*1000 + ccode2)*10000 + year`` for a directed dyad-year,
``ccode*10000 + year`` for a state-year) and lookups on them, the NA contract
(:func:`covered`: a year outside a source's coverage is NA, never 0), the checks every
verb makes of its input frame and the way it hands back a new one (:func:`finish`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from walt_bayes.errors import DataError
from walt_bayes.sources import registry
from walt_bayes.sources.read import read_source

UNIT_DIRECTED = "directed dyad-year"
UNIT_NONDIRECTED = "non-directed dyad-year"
DYAD_UNITS = (UNIT_DIRECTED, UNIT_NONDIRECTED)

#: Source frames replacing the cached files, by source name (tests pass small ones).
Sources = Mapping[str, pd.DataFrame] | None

#: Lagged dispute counts look at t-10..t-1.
PAST_WINDOW = 10


# --------------------------------------------------------------------------- sources


def source_frame(name: str, sources: Sources) -> pd.DataFrame:
    """The frame given for ``name`` in ``sources``, else the cached source file."""
    if sources is not None and name in sources:
        return sources[name]
    return read_source(name)


def coverage(name: str) -> tuple[int, int]:
    """First and last year a registered source covers (``registry.tsv``)."""
    years = registry.get(name).years
    assert years is not None, name
    return years


# --------------------------------------------------------------------------- keys and lookups


def dyad_key(c1, c2, year) -> np.ndarray:
    """Directed dyad-year keys ``(c1*1000 + c2)*10000 + year`` (COW codes are below 1000)."""
    return (np.asarray(c1, np.int64) * 1000 + np.asarray(c2, np.int64)) * 10000 + np.asarray(
        year, np.int64
    )


def both_ways_keys(a, b, year) -> np.ndarray:
    """Sorted unique keys of the dyad-years ``(a, b, year)`` and ``(b, a, year)``."""
    return np.unique(np.concatenate([dyad_key(a, b, year), dyad_key(b, a, year)]))


def state_key(c, year) -> np.ndarray:
    """State-year keys ``c*10000 + year``."""
    return np.asarray(c, np.int64) * 10000 + np.asarray(year, np.int64)


def ints(col) -> np.ndarray:
    """A key column as int64 (source codes come back from R as float64)."""
    return np.asarray(pd.to_numeric(col), dtype=np.float64).astype(np.int64)


def take(query: np.ndarray, keys: np.ndarray, values, fill=np.nan) -> np.ndarray:
    """``values`` at the position of each ``query`` key in ``keys`` (unique), else ``fill``."""
    idx = pd.Index(keys).get_indexer(query)
    vals = np.asarray(values, dtype=np.float64)
    if len(vals) == 0:
        return np.full(len(query), fill, dtype=np.float64)
    return np.where(idx >= 0, vals[np.maximum(idx, 0)], fill)


def year_of(col) -> np.ndarray:
    """Calendar year of a date column (``datetime.date`` objects or strings); NaN if missing."""
    return pd.to_datetime(pd.Series(col), errors="coerce").dt.year.to_numpy(dtype=np.float64)


def expand_spells(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index and year for every year of every spell ``first..last`` (inclusive)."""
    first = np.asarray(first, np.int64)
    last = np.asarray(last, np.int64)
    lens = np.maximum(last - first + 1, 0)
    rows = np.repeat(np.arange(len(first)), lens)
    starts = np.repeat(np.cumsum(lens) - lens, lens)
    years = first[rows] + (np.arange(lens.sum()) - starts)
    return rows, years


def lagged_counts(keys_c1, keys_c2, event_years, lag_max: int = PAST_WINDOW):
    """For events at (c1, c2, y): number of events in y-lag_max..y-1, keyed by (c1, c2, t)."""
    lags = np.arange(1, lag_max + 1)
    c1 = np.repeat(np.asarray(keys_c1, np.int64), lag_max)
    c2 = np.repeat(np.asarray(keys_c2, np.int64), lag_max)
    t = np.repeat(np.asarray(event_years, np.int64), lag_max) + np.tile(lags, len(event_years))
    keys, counts = np.unique(dyad_key(c1, c2, t), return_counts=True)
    return keys, counts


# --------------------------------------------------------------------------- the NA contract


def mask_years(values: np.ndarray, years: np.ndarray, first: int, last: int) -> np.ndarray:
    """``values`` as float64 with NaN in the years outside ``first..last``."""
    out = np.asarray(values, dtype=np.float64).copy()
    out[(years < first) | (years > last)] = np.nan
    return out


def covered(values: np.ndarray, years: np.ndarray, name: str) -> np.ndarray:
    """``values`` with NaN in the years the source ``name`` does not cover."""
    first, last = coverage(name)
    return mask_years(values, years, first, last)


def nullable(values: np.ndarray, dtype: str = "Int8") -> pd.api.extensions.ExtensionArray:
    """Float array with NaN -> pandas nullable integer array with NA."""
    values = np.asarray(values, dtype=np.float64)
    na = np.isnan(values)
    np_dtype = np.dtype(dtype.lower())
    return pd.arrays.IntegerArray(np.where(na, 0, values).astype(np_dtype), na)


# --------------------------------------------------------------------------- frames


def frame_arrays(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ccode1``, ``ccode2`` and ``year`` of a dyad-year frame as int64 arrays."""
    return (
        np.asarray(df["ccode1"], dtype=np.int64),
        np.asarray(df["ccode2"], dtype=np.int64),
        np.asarray(df["year"], dtype=np.int64),
    )


def check_frame(df: pd.DataFrame, verb: str, needs: Iterable[str] = ()) -> None:
    """DataError unless ``df`` is a dyad-year frame with its keys and the columns ``needs``."""
    unit = df.attrs.get("unit")
    if unit not in DYAD_UNITS:
        raise DataError(
            f"{verb}: expected a dyad-year frame (df.attrs['unit'] in {DYAD_UNITS}), "
            f"got {unit!r}; start the pipeline with create_dyad_years()"
        )
    missing = [c for c in ("ccode1", "ccode2", "year", *needs) if c not in df.columns]
    if missing:
        raise DataError(f"{verb}: the frame lacks column(s) {', '.join(missing)}")


def finish(df: pd.DataFrame, new: dict, used: Iterable[str]) -> pd.DataFrame:
    """``df`` with the columns ``new`` added and the sources ``used`` added to its attrs."""
    out = df.assign(**new)
    attrs = dict(df.attrs)
    srcs = list(attrs.get("sources", []))
    for n in used:
        if n not in srcs:
            srcs.append(n)
    attrs["sources"] = srcs
    out.attrs = attrs
    return out


def years_arg(years) -> tuple[int, int]:
    """First and last year of ``years``: an int, ``"A-B"`` or an iterable of ints."""
    if isinstance(years, int | np.integer):
        return int(years), int(years)
    if isinstance(years, str):
        a, _, b = years.partition("-")
        return int(a), int(b or a)
    ys = [int(y) for y in years]
    if not ys:
        raise DataError("years: empty")
    return min(ys), max(ys)
