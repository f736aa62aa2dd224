"""Array helpers of the design builders: row keys, z-scores, group and label codes, row sums.

Shared by the threat, alliance and duration blocks (:mod:`walt_bayes.model.threat_rows`,
:mod:`walt_bayes.model.alliance_rows`, :mod:`walt_bayes.model.duration`) and by the
design's numpy twin of the latent factors (:class:`walt_bayes.model.design.Design`).
"""

from __future__ import annotations

import numpy as np

#: The difference of :func:`dyad_year_key` between a dyad-year and the same dyad a year later.
YEAR_STEP = 1_000_000
#: Era boundaries for ``group = "era"`` (first year of each era).
ERAS = {"1816-1913": 1816, "1914-1945": 1914, "1946-1989": 1946, "1990-": 1990}


def dyad_year_key(ccode1, ccode2, year) -> np.ndarray:
    """Pack dyad-years into one int64 each: ``(year * 1000 + ccode1) * 1000 + ccode2``.

    Parameters
    ----------
    ccode1, ccode2 : array_like of int
        COW codes (below 1000, so the packing is one-to-one).
    year : array_like of int

    Returns
    -------
    numpy.ndarray of int64
        One key per row; ``key ± YEAR_STEP`` is the same dyad a year later or earlier.
    """
    return (np.asarray(year, dtype=np.int64) * 1000 + np.asarray(ccode1, dtype=np.int64)) * 1000 + np.asarray(
        ccode2, dtype=np.int64
    )


def zscore(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Standardise ``values`` by their mean and (population) SD.

    Parameters
    ----------
    values : numpy.ndarray

    Returns
    -------
    z : numpy.ndarray
        ``(values - mean) / sd``; only centred when the SD is 0 or not finite.
    mean, sd : float
        The constants used (``sd`` is 0.0 when the values do not vary, which callers
        read as "leave this input out").
    """
    mean = float(np.mean(values))
    sd = float(np.std(values))
    if not np.isfinite(sd) or sd == 0:
        return values - mean, mean, 0.0
    return (values - mean) / sd, mean, sd


def zscore_nan(x: np.ndarray) -> np.ndarray:
    """``x`` standardised by its mean and SD over the values present (NaN stays NaN)."""
    sd = np.nanstd(x)
    return (x - np.nanmean(x)) / (sd if sd > 0 else 1.0)


def _era_of(years: np.ndarray) -> np.ndarray:
    starts = np.array(list(ERAS.values()))
    names = np.array(list(ERAS))
    return names[np.searchsorted(starts, years, side="right") - 1]


def group_index(kind: str, regions: np.ndarray, years: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Rows' group for partially pooled weights: by region, by era, or one group.

    Parameters
    ----------
    kind : {"region", "era", ...}
        The spec's ``group``; any other value puts every row in the group ``"all"``.
    regions, years : numpy.ndarray
        Region label and year of each row.

    Returns
    -------
    index : numpy.ndarray of int64
        Each row's position in ``names``.
    names : list of str
        The groups, sorted.
    """
    if kind == "region":
        labels = np.asarray(regions, dtype=object).astype(str)
    elif kind == "era":
        labels = _era_of(years)
    else:
        labels = np.full(len(years), "all", dtype=object)
    names = sorted(set(labels.tolist()))
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[v] for v in labels], dtype=np.int64), names


def label_codes(labels: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The sorted distinct labels and each row's position among them (int64)."""
    uniq, inv = np.unique(labels.astype(str), return_inverse=True)
    return [str(u) for u in uniq], inv.astype(np.int64)


def scatter_rows(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """Sum the columns of each row of ``values`` into ``n`` bins: ``out[r, b] = Σ_{index = b} values[r]``.

    Parameters
    ----------
    values : numpy.ndarray
        Shape (draws, m).
    index : numpy.ndarray of int
        Shape (m,): the bin of each column.
    n : int
        Number of bins.

    Returns
    -------
    numpy.ndarray
        Shape (draws, n).
    """
    out = np.zeros((values.shape[0], n))
    # np.bincount takes one weight vector, so one call per draw.
    for row in range(values.shape[0]):
        out[row] = np.bincount(index, weights=values[row], minlength=n)
    return out
