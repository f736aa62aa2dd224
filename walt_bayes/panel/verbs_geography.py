"""Verbs of geography: contiguity, distances and second-order neighbours.

COW direct contiguity (``cow_contdir``), capitals (``cow_capitals``) and CShapes
minimum distances (``cow_mindist``); see :mod:`walt_bayes.panel.verbs` for the
conventions they keep.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from walt_bayes.panel.portable_math import apply
from walt_bayes.panel.verb_tools import (
    Sources,
    check_frame,
    coverage,
    covered,
    dyad_key,
    expand_spells,
    finish,
    frame_arrays,
    ints,
    nullable,
    source_frame,
    state_key,
    take,
    year_of,
)


def contiguity_table(contdir: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Directed dyad-year keys and the closest conttype (1-5; 0 = none) that year."""
    first, last = year_of(contdir["stdate"]), year_of(contdir["enddate"])
    ok = ~(np.isnan(first) | np.isnan(last))
    ct = np.asarray(pd.to_numeric(contdir["conttype"]), np.float64)[ok]
    ct = np.where(ct == 0, 6, ct)  # 0 = "not contiguous": rank it after every real type
    rows, years = expand_spells(first[ok], last[ok])
    c1, c2 = ints(contdir["ccode1"])[ok][rows], ints(contdir["ccode2"])[ok][rows]
    # contdir is directed; add the reverse so a one-sided spell still counts both ways
    keys = np.concatenate([dyad_key(c1, c2, years), dyad_key(c2, c1, years)])
    vals = np.concatenate([ct[rows], ct[rows]])
    s = pd.Series(vals).groupby(keys).min()
    out_vals = s.to_numpy()
    return s.index.to_numpy(), np.where(out_vals == 6, 0, out_vals)


def add_contiguity(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """COW direct contiguity v3.2: ``conttype`` (1 land, 2-5 water within 12/24/150/400
    miles, 0 none; the closest type when it changed within the year).  NA outside 1816-2016."""
    check_frame(df, "add_contiguity")
    c1, c2, yr = frame_arrays(df)
    keys, vals = contiguity_table(source_frame("cow_contdir", sources))
    ct = covered(take(dyad_key(c1, c2, yr), keys, vals, fill=0.0), yr, "cow_contdir")
    return finish(df, {"conttype": nullable(ct)}, ["cow_contdir"])


def _capital_years(caps: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """State-year keys with the latitude and longitude of the 1 January capital."""
    first, last = year_of(caps["stdate"]), year_of(caps["enddate"])
    ok = ~(np.isnan(first) | np.isnan(last))
    rows, years = expand_spells(first[ok], last[ok])
    start = pd.to_datetime(pd.Series(caps["stdate"]), errors="coerce").to_numpy()[ok][rows]
    t = pd.DataFrame(
        {
            "k": state_key(ints(caps["ccode"])[ok][rows], years),
            "start": start,
            "lat": np.asarray(caps["lat"], np.float64)[ok][rows],
            "lng": np.asarray(caps["lng"], np.float64)[ok][rows],
        }
    )
    # A move during the year: the capital held on 1 January is the earliest spell of the year.
    t = t.sort_values(["k", "start"]).drop_duplicates("k", keep="first")
    return t["k"].to_numpy(), t["lat"].to_numpy(), t["lng"].to_numpy()


#: Earth radius (km) of the sphere peacesciencer uses (geosphere::distVincentySphere).
EARTH_RADIUS_KM = 6378.137


def great_circle_km(lat1, lng1, lat2, lng2) -> np.ndarray:
    """Great-circle distance in km (Vincenty's formula on a sphere).

    The sines, cosines and arctangent are :func:`~walt_bayes.panel.portable_math.apply`'s,
    the same bits on every CPU (NumPy's AVX-512 loops differ in the last bit).
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lng2) - np.asarray(lng1))
    sin1, cos1, sin2, cos2 = apply("sin", p1), apply("cos", p1), apply("sin", p2), apply("cos", p2)
    sin_dl, cos_dl = apply("sin", dl), apply("cos", dl)
    num = np.hypot(cos2 * sin_dl, cos1 * sin2 - sin1 * cos2 * cos_dl)
    den = sin1 * sin2 + cos1 * cos2 * cos_dl
    return EARTH_RADIUS_KM * apply("arctan2", num, den)


def add_distance(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """Distances in km: ``capdist`` between the 1 January capitals (1816-2024) and
    ``mindist`` minimum distance from CShapes 2.0 (1886-2019; NA before)."""
    check_frame(df, "add_distance")
    c1, c2, yr = frame_arrays(df)
    keys, lat, lng = _capital_years(source_frame("cow_capitals", sources))
    # lower code first, so that (i, j) and (j, i) get bit-identical distances
    k1, k2 = state_key(np.minimum(c1, c2), yr), state_key(np.maximum(c1, c2), yr)
    capdist = great_circle_km(
        take(k1, keys, lat), take(k1, keys, lng), take(k2, keys, lat), take(k2, keys, lng)
    )
    md = source_frame("cow_mindist", sources)
    a, b = ints(md["ccode1"]), ints(md["ccode2"])
    mkeys = dyad_key(np.minimum(a, b), np.maximum(a, b), ints(md["year"]))
    s = pd.Series(np.asarray(md["mindist"], np.float64)).groupby(mkeys).min()
    mindist = take(
        dyad_key(np.minimum(c1, c2), np.maximum(c1, c2), yr), s.index.to_numpy(), s.to_numpy()
    )
    new = {
        "capdist": covered(capdist, yr, "cow_capitals"),
        "mindist": covered(mindist, yr, "cow_mindist"),
    }
    return finish(df, new, ["cow_capitals", "cow_mindist"])


def second_order_neighbour_keys(contdir: pd.DataFrame, years: Iterable[int]) -> np.ndarray:
    """Directed dyad-year keys of states that share a contiguous neighbour (conttype 1-5)
    but are not contiguous themselves, for the given years (sparse A @ A per year)."""
    # lazy: scipy.sparse (~0.5 s) stays off `import walt_bayes.panel.build` (and the panel verbs)
    from scipy import sparse

    keys, vals = contiguity_table(contdir)
    keys = keys[vals > 0]
    y = keys % 10000
    c2 = (keys // 10000) % 1000
    c1 = keys // 10000 // 1000
    out = []
    for t in np.unique(np.asarray(list(years), np.int64)):
        m = y == t
        if not m.any():
            continue
        a = sparse.csr_matrix((np.ones(m.sum(), np.int32), (c1[m], c2[m])), shape=(1000, 1000))
        a = ((a + a.T) > 0).astype(np.int32)
        two = (a @ a).tocsr()
        two.setdiag(0)
        two.eliminate_zeros()
        two = two - two.multiply(a)  # drop pairs that are contiguous themselves
        two.eliminate_zeros()
        r, c = two.nonzero()
        out.append(dyad_key(r, c, np.full(len(r), t)))
    return np.concatenate(out) if out else np.empty(0, np.int64)


def add_second_order_neighbours(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """``neighbour2`` = 1 if i and j share a directly contiguous neighbour (conttype 1-5)
    but are not contiguous themselves.  Neighbours outside the frame count; NA outside
    1816-2016."""
    check_frame(df, "add_second_order_neighbours")
    c1, c2, yr = frame_arrays(df)
    first, last = coverage("cow_contdir")
    span = np.unique(yr[(yr >= first) & (yr <= last)])
    keys = second_order_neighbour_keys(source_frame("cow_contdir", sources), span)
    n2 = covered(np.isin(dyad_key(c1, c2, yr), keys), yr, "cow_contdir")
    return finish(df, {"neighbour2": nullable(n2)}, ["cow_contdir"])
