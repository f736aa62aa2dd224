"""Dyad-year panel verbs: the Python counterpart of peacesciencer's pipeline.

``create_dyad_years()`` makes the frame; each ``add_*`` verb adds named columns
for one concern; ``filter_relevant()`` / ``filter_region()`` drop rows::

    df = create_dyad_years(years=(1950, 1980))
    df = add_contiguity(add_major_powers(df))
    df = filter_relevant(df)

Conventions
-----------
* Frames carry their unit in ``df.attrs["unit"]`` (``"directed dyad-year"`` or
  ``"non-directed dyad-year"``) and the sources used in ``df.attrs["sources"]``.
* Columns ending in ``1`` describe ``ccode1`` (state *i*), ending in ``2``
  describe ``ccode2`` (*j*); ``*21`` is what *j* does to *i*, ``*12`` what *i*
  does to *j*.
* A year outside a source's coverage (``registry.tsv``) is NA, never 0.  Within
  coverage, a dyad absent from an *event* source (alliances, disputes,
  rivalries, wars, contiguity) is 0; a dyad absent from a *measurement* source
  (distances, IGOs, trade, capabilities, democracy) is NA.
* Verbs never change the rows: same length, same keys, same order.  Values
  that depend on states outside the frame (second-order neighbours, the
  reverse direction of a pledge, trade totals) are computed from the source,
  so a filtered frame gets the same values as the full one.
* Every verb takes ``sources``: an optional mapping from source name to a data
  frame that replaces the cached file (tests pass small synthetic frames).

Implementation: lookups on integer keys (``(ccode1*1000 + ccode2)*10000 +
year``) with ``pandas.Index.get_indexer`` / ``numpy.isin``, no row loops.
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
_DYAD_UNITS = (UNIT_DIRECTED, UNIT_NONDIRECTED)

Sources = Mapping[str, pd.DataFrame] | None

#: Irregular Archigos entry counts toward ``illegit`` if it happened in t-4..t.
ILLEGIT_WINDOW = 5
#: Lagged dispute counts look at t-10..t-1.
PAST_WINDOW = 10


# --------------------------------------------------------------------------- helpers


def _src(name: str, sources: Sources) -> pd.DataFrame:
    if sources is not None and name in sources:
        return sources[name]
    return read_source(name)


def _coverage(name: str) -> tuple[int, int]:
    years = registry.get(name).years
    assert years is not None, name
    return years


def _dyad_key(c1, c2, year) -> np.ndarray:
    return (np.asarray(c1, np.int64) * 1000 + np.asarray(c2, np.int64)) * 10000 + np.asarray(
        year, np.int64
    )


def _state_key(c, year) -> np.ndarray:
    return np.asarray(c, np.int64) * 10000 + np.asarray(year, np.int64)


def _ints(col) -> np.ndarray:
    """A key column as int64 (source codes come back from R as float64)."""
    return np.asarray(pd.to_numeric(col), dtype=np.float64).astype(np.int64)


def _take(query: np.ndarray, keys: np.ndarray, values, fill=np.nan) -> np.ndarray:
    """``values`` at the position of each ``query`` key in ``keys`` (unique), else ``fill``."""
    idx = pd.Index(keys).get_indexer(query)
    vals = np.asarray(values, dtype=np.float64)
    if len(vals) == 0:
        return np.full(len(query), fill, dtype=np.float64)
    return np.where(idx >= 0, vals[np.maximum(idx, 0)], fill)


def _mask_years(values: np.ndarray, years: np.ndarray, first: int, last: int) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64).copy()
    out[(years < first) | (years > last)] = np.nan
    return out


def _covered(values: np.ndarray, years: np.ndarray, name: str) -> np.ndarray:
    first, last = _coverage(name)
    return _mask_years(values, years, first, last)


def _nullable(values: np.ndarray, dtype: str = "Int8") -> pd.api.extensions.ExtensionArray:
    """Float array with NaN -> pandas nullable integer array with NA."""
    values = np.asarray(values, dtype=np.float64)
    na = np.isnan(values)
    np_dtype = np.dtype(dtype.lower())
    return pd.arrays.IntegerArray(np.where(na, 0, values).astype(np_dtype), na)


def _year_of(col) -> np.ndarray:
    """Calendar year of a date column (``datetime.date`` objects or strings); NaN if missing."""
    return pd.to_datetime(pd.Series(col), errors="coerce").dt.year.to_numpy(dtype=np.float64)


def _expand_spells(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index and year for every year of every spell ``first..last`` (inclusive)."""
    first = np.asarray(first, np.int64)
    last = np.asarray(last, np.int64)
    lens = np.maximum(last - first + 1, 0)
    rows = np.repeat(np.arange(len(first)), lens)
    starts = np.repeat(np.cumsum(lens) - lens, lens)
    years = first[rows] + (np.arange(lens.sum()) - starts)
    return rows, years


def _lagged_counts(keys_c1, keys_c2, event_years, lag_max: int = PAST_WINDOW):
    """For events at (c1, c2, y): number of events in y-lag_max..y-1, keyed by (c1, c2, t)."""
    lags = np.arange(1, lag_max + 1)
    c1 = np.repeat(np.asarray(keys_c1, np.int64), lag_max)
    c2 = np.repeat(np.asarray(keys_c2, np.int64), lag_max)
    t = np.repeat(np.asarray(event_years, np.int64), lag_max) + np.tile(lags, len(event_years))
    keys, counts = np.unique(_dyad_key(c1, c2, t), return_counts=True)
    return keys, counts


def _frame_arrays(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.asarray(df["ccode1"], dtype=np.int64),
        np.asarray(df["ccode2"], dtype=np.int64),
        np.asarray(df["year"], dtype=np.int64),
    )


def _check(df: pd.DataFrame, verb: str, needs: Iterable[str] = ()) -> None:
    unit = df.attrs.get("unit")
    if unit not in _DYAD_UNITS:
        raise DataError(
            f"{verb}: expected a dyad-year frame (df.attrs['unit'] in {_DYAD_UNITS}), "
            f"got {unit!r}; start the pipeline with create_dyad_years()"
        )
    missing = [c for c in ("ccode1", "ccode2", "year", *needs) if c not in df.columns]
    if missing:
        raise DataError(f"{verb}: the frame lacks column(s) {', '.join(missing)}")


def _finish(df: pd.DataFrame, new: dict, used: Iterable[str]) -> pd.DataFrame:
    out = df.assign(**new)
    attrs = dict(df.attrs)
    srcs = list(attrs.get("sources", []))
    for n in used:
        if n not in srcs:
            srcs.append(n)
    attrs["sources"] = srcs
    out.attrs = attrs
    return out


def _years_arg(years) -> tuple[int, int]:
    if isinstance(years, int | np.integer):
        return int(years), int(years)
    if isinstance(years, str):
        a, _, b = years.partition("-")
        return int(a), int(b or a)
    ys = [int(y) for y in years]
    if not ys:
        raise DataError("years: empty")
    return min(ys), max(ys)


# --------------------------------------------------------------------------- create


def create_dyad_years(
    system: str = "cow",
    years=(1816, 2014),
    directed: bool = True,
    *,
    sources: Sources = None,
) -> pd.DataFrame:
    """Every dyad-year of state-system members (peacesciencer's ``cow_ddy``).

    Parameters
    ----------
    system : {"cow"}
        State system.  Only Correlates of War codes are available.
    years : (int, int), int, "A-B" or iterable of int
        First and last year (inclusive).
    directed : bool
        Both (i, j) and (j, i) rows (default), else only ``ccode1 < ccode2``.

    Returns
    -------
    pandas.DataFrame
        ``ccode1, ccode2, year`` (int64), sorted by year, ccode1, ccode2.  A
        pair of states is in year t if their memberships overlap within t, so
        a year has n(n-1) rows less the pairs of members that never coexisted
        in it (e.g. 1860: the Italian states that left and China that entered).
    """
    if system != "cow":
        raise DataError(f"create_dyad_years: system {system!r} is not available (only 'cow')")
    y0, y1 = _years_arg(years)
    first, last = _coverage("cow_ddy")
    if y0 > y1 or y0 < first or y1 > last:
        raise DataError(
            f"create_dyad_years: years {y0}-{y1} outside the COW system data {first}-{last}"
        )
    ddy = _src("cow_ddy", sources)
    yr = np.asarray(ddy["year"], dtype=np.int64)
    keep = (yr >= y0) & (yr <= y1)
    c1 = _ints(ddy["ccode1"])[keep]
    c2 = _ints(ddy["ccode2"])[keep]
    yr = yr[keep]
    if not directed:
        nd = c1 < c2
        c1, c2, yr = c1[nd], c2[nd], yr[nd]
    order = np.lexsort((c2, c1, yr))
    out = pd.DataFrame({"ccode1": c1[order], "ccode2": c2[order], "year": yr[order]})
    out.attrs = {
        "unit": UNIT_DIRECTED if directed else UNIT_NONDIRECTED,
        "system": "cow",
        "years": [y0, y1],
        "sources": ["cow_ddy"],
    }
    return out


# --------------------------------------------------------------------------- state attributes


def _state_table(frame: pd.DataFrame, cols: Iterable[str]) -> tuple[np.ndarray, dict]:
    keys = _state_key(_ints(frame["ccode"]), _ints(frame["year"]))
    data = pd.DataFrame({c: pd.to_numeric(frame[c]) for c in cols})
    data["_k"] = keys
    data = data.groupby("_k", sort=False).first()
    return data.index.to_numpy(), {c: data[c].to_numpy(dtype=np.float64) for c in cols}


def _add_state_cols(df, name, mapping: dict[str, str], sources, verb) -> pd.DataFrame:
    """Look up state-year columns (``source_col -> panel_stem``) for both states."""
    _check(df, verb)
    c1, c2, yr = _frame_arrays(df)
    keys, vals = _state_table(_src(name, sources), mapping)
    k1, k2 = _state_key(c1, yr), _state_key(c2, yr)
    new = {}
    for col, stem in mapping.items():
        new[f"{stem}1"] = _covered(_take(k1, keys, vals[col]), yr, name)
        new[f"{stem}2"] = _covered(_take(k2, keys, vals[col]), yr, name)
    return _finish(df, new, [name])


def add_capabilities(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """COW NMC v7.0: ``cinc1/2``, ``milex1/2`` (thousands; GBP before 1914, USD after),
    ``milper1/2`` (thousands), ``tpop1/2`` (thousands).  NA where NMC has no value."""
    mapping = {"cinc": "cinc", "milex": "milex", "milper": "milper", "tpop": "tpop"}
    return _add_state_cols(df, "cow_nmc", mapping, sources, "add_capabilities")


def add_territorial_threat(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """Latent external territorial threat (Miller 2022, capital-distance weighting):
    ``terrthreat1/2``; NA outside 1816-2010."""
    return _add_state_cols(
        df, "terrthreat", {"lterrthreat": "terrthreat"}, sources, "add_territorial_threat"
    )


def add_democracy(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """Democracy scores: ``polyarchy1/2`` (V-Dem v2x_polyarchy, 0-1), ``polity1/2``
    (Polity polity2, -10..10) and ``uds1/2`` (extended UDS).  NA where not coded."""
    mapping = {"v2x_polyarchy": "polyarchy", "polity2": "polity", "xm_qudsest": "uds"}
    return _add_state_cols(df, "ccode_democracy", mapping, sources, "add_democracy")


def _spell_state_years(frame: pd.DataFrame, first_col: str, last_col: str) -> np.ndarray:
    first = np.asarray(pd.to_numeric(frame[first_col]), np.float64)
    last = np.asarray(pd.to_numeric(frame[last_col]), np.float64)
    ok = ~(np.isnan(first) | np.isnan(last))
    rows, years = _expand_spells(first[ok], last[ok])
    return np.unique(_state_key(_ints(frame["ccode"])[ok][rows], years))


def add_major_powers(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """COW major powers: ``major1/2`` = 1 if a major power at any time in year t."""
    _check(df, "add_major_powers")
    c1, c2, yr = _frame_arrays(df)
    keys = _spell_state_years(_src("cow_majors", sources), "styear", "endyear")
    new = {
        "major1": _nullable(_covered(np.isin(_state_key(c1, yr), keys), yr, "cow_majors")),
        "major2": _nullable(_covered(np.isin(_state_key(c2, yr), keys), yr, "cow_majors")),
    }
    return _finish(df, new, ["cow_majors"])


# --------------------------------------------------------------------------- geography


def _contiguity_table(contdir: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Directed dyad-year keys and the closest conttype (1-5; 0 = none) that year."""
    first, last = _year_of(contdir["stdate"]), _year_of(contdir["enddate"])
    ok = ~(np.isnan(first) | np.isnan(last))
    ct = np.asarray(pd.to_numeric(contdir["conttype"]), np.float64)[ok]
    ct = np.where(ct == 0, 6, ct)  # 0 = "not contiguous": rank it after every real type
    rows, years = _expand_spells(first[ok], last[ok])
    c1, c2 = _ints(contdir["ccode1"])[ok][rows], _ints(contdir["ccode2"])[ok][rows]
    # contdir is directed; add the reverse so a one-sided spell still counts both ways
    keys = np.concatenate([_dyad_key(c1, c2, years), _dyad_key(c2, c1, years)])
    vals = np.concatenate([ct[rows], ct[rows]])
    s = pd.Series(vals).groupby(keys).min()
    out_vals = s.to_numpy()
    return s.index.to_numpy(), np.where(out_vals == 6, 0, out_vals)


def add_contiguity(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """COW direct contiguity v3.2: ``conttype`` (1 land, 2-5 water within 12/24/150/400
    miles, 0 none; the closest type when it changed within the year).  NA outside 1816-2016."""
    _check(df, "add_contiguity")
    c1, c2, yr = _frame_arrays(df)
    keys, vals = _contiguity_table(_src("cow_contdir", sources))
    ct = _covered(_take(_dyad_key(c1, c2, yr), keys, vals, fill=0.0), yr, "cow_contdir")
    return _finish(df, {"conttype": _nullable(ct)}, ["cow_contdir"])


def _capital_years(caps: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """State-year keys with the latitude and longitude of the 1 January capital."""
    first, last = _year_of(caps["stdate"]), _year_of(caps["enddate"])
    ok = ~(np.isnan(first) | np.isnan(last))
    rows, years = _expand_spells(first[ok], last[ok])
    start = pd.to_datetime(pd.Series(caps["stdate"]), errors="coerce").to_numpy()[ok][rows]
    t = pd.DataFrame(
        {
            "k": _state_key(_ints(caps["ccode"])[ok][rows], years),
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
    """Great-circle distance in km (Vincenty's formula on a sphere)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lng2) - np.asarray(lng1))
    num = np.hypot(
        np.cos(p2) * np.sin(dl), np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    )
    den = np.sin(p1) * np.sin(p2) + np.cos(p1) * np.cos(p2) * np.cos(dl)
    return EARTH_RADIUS_KM * np.arctan2(num, den)


def add_distance(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """Distances in km: ``capdist`` between the 1 January capitals (1816-2024) and
    ``mindist`` minimum distance from CShapes 2.0 (1886-2019; NA before)."""
    _check(df, "add_distance")
    c1, c2, yr = _frame_arrays(df)
    keys, lat, lng = _capital_years(_src("cow_capitals", sources))
    # lower code first, so that (i, j) and (j, i) get bit-identical distances
    k1, k2 = _state_key(np.minimum(c1, c2), yr), _state_key(np.maximum(c1, c2), yr)
    capdist = great_circle_km(
        _take(k1, keys, lat), _take(k1, keys, lng), _take(k2, keys, lat), _take(k2, keys, lng)
    )
    md = _src("cow_mindist", sources)
    a, b = _ints(md["ccode1"]), _ints(md["ccode2"])
    mkeys = _dyad_key(np.minimum(a, b), np.maximum(a, b), _ints(md["year"]))
    s = pd.Series(np.asarray(md["mindist"], np.float64)).groupby(mkeys).min()
    mindist = _take(
        _dyad_key(np.minimum(c1, c2), np.maximum(c1, c2), yr), s.index.to_numpy(), s.to_numpy()
    )
    new = {
        "capdist": _covered(capdist, yr, "cow_capitals"),
        "mindist": _covered(mindist, yr, "cow_mindist"),
    }
    return _finish(df, new, ["cow_capitals", "cow_mindist"])


def second_order_neighbour_keys(contdir: pd.DataFrame, years: Iterable[int]) -> np.ndarray:
    """Directed dyad-year keys of states that share a contiguous neighbour (conttype 1-5)
    but are not contiguous themselves, for the given years (sparse A @ A per year)."""
    from scipy import sparse

    keys, vals = _contiguity_table(contdir)
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
        out.append(_dyad_key(r, c, np.full(len(r), t)))
    return np.concatenate(out) if out else np.empty(0, np.int64)


def add_second_order_neighbours(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """``neighbour2`` = 1 if i and j share a directly contiguous neighbour (conttype 1-5)
    but are not contiguous themselves.  Neighbours outside the frame count; NA outside
    1816-2016."""
    _check(df, "add_second_order_neighbours")
    c1, c2, yr = _frame_arrays(df)
    first, last = _coverage("cow_contdir")
    span = np.unique(yr[(yr >= first) & (yr <= last)])
    keys = second_order_neighbour_keys(_src("cow_contdir", sources), span)
    n2 = _covered(np.isin(_dyad_key(c1, c2, yr), keys), yr, "cow_contdir")
    return _finish(df, {"neighbour2": _nullable(n2)}, ["cow_contdir"])


# --------------------------------------------------------------------------- conflict


def _gml_parts(gml: pd.DataFrame) -> dict[str, np.ndarray]:
    g = {
        c: np.asarray(pd.to_numeric(gml[c]), np.float64)
        for c in ("midonset", "sidea1", "sidea2", "orig1", "revstate1")
    }
    return {
        "c1": _ints(gml["ccode1"]),
        "c2": _ints(gml["ccode2"]),
        "year": _ints(gml["year"]),
        "disp": _ints(gml["dispnum"]),
        **g,
    }


def add_disputes(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """GML militarised interstate disputes v2.2.1 (directed dispute-years, 1816-2010).

    Adds
    ----
    gml_dispute : 1 if i and j are on opposite sides of a dispute ongoing in t.
    gml_onset : 1 if such a dispute began, or one of them entered it, in t.
    init21 / init12 : 1 if j (resp. i) *initiated* a dispute against i (resp. j) in t:
        j is an originator on Side A, i is on Side B, and the dyadic dispute-year is an
        onset (the dispute began, or i entered it, in t).  Joiners on Side A do not
        initiate; an ongoing dispute is not a new initiation.
    revinit21 : init21 where j is coded a revisionist state in that dispute.
    init21_past10 : years in t-10..t-1 in which init21 was 1 (0..10).
    init1_past10 / init2_past10 : disputes i / j initiated (originator on Side A) against
        anyone, with their onset in t-10..t-1 (each dispute counted once).
    rev2_past10 : the part of init2_past10 in which j was a revisionist state.

    Coverage: every column is NA for t after 2010 (GML ends).  Before 1826 the lagged
    counts use the available part of the window (1816..t-1).
    """
    _check(df, "add_disputes")
    c1, c2, yr = _frame_arrays(df)
    g = _gml_parts(_src("gml_dirdisp", sources))
    any_keys = np.unique(
        np.concatenate(
            [_dyad_key(g["c1"], g["c2"], g["year"]), _dyad_key(g["c2"], g["c1"], g["year"])]
        )
    )
    on = g["midonset"] == 1
    onset_keys = np.unique(
        np.concatenate(
            [
                _dyad_key(g["c1"][on], g["c2"][on], g["year"][on]),
                _dyad_key(g["c2"][on], g["c1"][on], g["year"][on]),
            ]
        )
    )
    init = on & (g["sidea1"] == 1) & (g["sidea2"] == 0) & (g["orig1"] == 1)
    ev = pd.DataFrame(
        {
            "a": g["c1"][init],
            "b": g["c2"][init],
            "year": g["year"][init],
            "disp": g["disp"][init],
            "rev": g["revstate1"][init] == 1,
        }
    )
    init_keys = np.unique(_dyad_key(ev["a"], ev["b"], ev["year"]))
    rev_keys = np.unique(_dyad_key(ev["a"][ev["rev"]], ev["b"][ev["rev"]], ev["year"][ev["rev"]]))

    # dyadic lag: years with an initiation by a against b
    dy = ev.drop_duplicates(["a", "b", "year"])
    lag_keys, lag_counts = _lagged_counts(dy["a"], dy["b"], dy["year"].to_numpy())

    # state lag: disputes a initiated (onset = a's first initiation year in the dispute)
    st = ev.groupby(["a", "disp"], as_index=False).agg(year=("year", "min"), rev=("rev", "max"))

    def state_lag(frame):
        k, n = _lagged_counts(frame["a"], np.zeros(len(frame), np.int64), frame["year"].to_numpy())
        return k, n

    s_keys, s_counts = state_lag(st)
    r_keys, r_counts = state_lag(st[st["rev"]])

    k12, k21 = _dyad_key(c1, c2, yr), _dyad_key(c2, c1, yr)
    zero = np.zeros(len(yr), np.int64)

    def cov(x):
        return _covered(x, yr, "gml_dirdisp")

    new = {
        "gml_dispute": _nullable(cov(np.isin(k12, any_keys))),
        "gml_onset": _nullable(cov(np.isin(k12, onset_keys))),
        "init21": _nullable(cov(np.isin(k21, init_keys))),
        "init12": _nullable(cov(np.isin(k12, init_keys))),
        "revinit21": _nullable(cov(np.isin(k21, rev_keys))),
        "init21_past10": _nullable(cov(_take(k21, lag_keys, lag_counts, fill=0)), "Int16"),
        "init1_past10": _nullable(
            cov(_take(_dyad_key(c1, zero, yr), s_keys, s_counts, fill=0)), "Int16"
        ),
        "init2_past10": _nullable(
            cov(_take(_dyad_key(c2, zero, yr), s_keys, s_counts, fill=0)), "Int16"
        ),
        "rev2_past10": _nullable(
            cov(_take(_dyad_key(c2, zero, yr), r_keys, r_counts, fill=0)), "Int16"
        ),
    }
    return _finish(df, new, ["gml_dirdisp"])


def _rivalry_keys(riv: pd.DataFrame, first_col: str, last_col: str) -> np.ndarray:
    first = np.asarray(pd.to_numeric(riv[first_col]), np.float64)
    last = np.asarray(pd.to_numeric(riv[last_col]), np.float64)
    ok = ~(np.isnan(first) | np.isnan(last))
    rows, years = _expand_spells(first[ok], last[ok])
    a, b = _ints(riv["ccode1"])[ok][rows], _ints(riv["ccode2"])[ok][rows]
    return np.unique(np.concatenate([_dyad_key(a, b, years), _dyad_key(b, a, years)]))


def add_rivalries(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """Thompson-Dreyer strategic rivalries: ``rivalry`` = 1 if i and j are in an ongoing
    rivalry in t (symmetric; rivalries ongoing at the end of the data stop at 2010, so
    NA after 2010)."""
    _check(df, "add_rivalries")
    c1, c2, yr = _frame_arrays(df)
    keys = _rivalry_keys(_src("td_rivalries", sources), "styear", "endyear")
    riv = _covered(np.isin(_dyad_key(c1, c2, yr), keys), yr, "td_rivalries")
    return _finish(df, {"rivalry": _nullable(riv)}, ["td_rivalries"])


def add_war_participation(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """COW inter-state wars v4.0: ``war`` = 1 if i and j fight on opposite sides of an
    inter-state war in t; ``war_onset`` = 1 if that war (for this dyad) began in t;
    ``war1/2`` = 1 if i / j takes part in any inter-state war in t.  NA after 2007."""
    _check(df, "add_war_participation")
    c1, c2, yr = _frame_arrays(df)
    w = _src("cow_war_inter", sources)
    a, b, y = _ints(w["ccode1"]), _ints(w["ccode2"]), _ints(w["year"])
    onset = np.asarray(pd.to_numeric(w["cowinteronset"]), np.float64) == 1
    war_keys = np.unique(np.concatenate([_dyad_key(a, b, y), _dyad_key(b, a, y)]))
    on_keys = np.unique(
        np.concatenate(
            [_dyad_key(a[onset], b[onset], y[onset]), _dyad_key(b[onset], a[onset], y[onset])]
        )
    )
    part = np.unique(np.concatenate([_state_key(a, y), _state_key(b, y)]))

    def cov(x):
        return _nullable(_covered(x, yr, "cow_war_inter"))

    k12 = _dyad_key(c1, c2, yr)
    new = {
        "war": cov(np.isin(k12, war_keys)),
        "war_onset": cov(np.isin(k12, on_keys)),
        "war1": cov(np.isin(_state_key(c1, yr), part)),
        "war2": cov(np.isin(_state_key(c2, yr), part)),
    }
    return _finish(df, new, ["cow_war_inter"])


# --------------------------------------------------------------------------- alliances


_ATOP_FLAGS = ("atop_defense", "atop_offense", "atop_neutral", "atop_nonagg", "atop_consul")


def add_atop_alliances(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """ATOP v5.1 alliance pledges, respecting direction (what i promised j).

    Adds
    ----
    atop_defense, atop_offense, atop_neutral, atop_nonagg, atop_consul :
        1 if i has that kind of pledge to j in t (directed; may be one-way).
    pledge12 / pledge21 : 1 if i has a defense or offense pledge to j / j to i.
    ally : 1 if a defense or offense pledge exists in either direction (symmetric).
    ally_onset : 1 if ``ally`` in t but not in t-1 (from the source, so a dyad
        whose states were not both members in t-1 counts as new).

    Coverage 1815-2018: dyads absent from ATOP within it are 0, years outside NA
    (``ally_onset`` is also NA in 1815, the first ATOP year).
    """
    _check(df, "add_atop_alliances")
    c1, c2, yr = _frame_arrays(df)
    a = _src("atop_alliance", sources)
    keys = _dyad_key(_ints(a["ccode1"]), _ints(a["ccode2"]), _ints(a["year"]))
    flags = pd.DataFrame({f: np.asarray(pd.to_numeric(a[f]), np.float64) for f in _ATOP_FLAGS})
    flags = flags.groupby(keys).max()
    index = pd.Index(flags.index.to_numpy())  # one hash table for every lookup below
    # a trailing sentinel (no pledge, flags 0) is what position -1 (not found) picks
    pledge = (flags["atop_defense"].to_numpy() == 1) | (flags["atop_offense"].to_numpy() == 1)
    pledge = np.append(pledge, False)

    def pledged(query: np.ndarray) -> np.ndarray:
        return pledge[index.get_indexer(query)]

    k12 = _dyad_key(c1, c2, yr)
    pos12 = index.get_indexer(k12)
    p12, p21 = pledged(k12), pledged(_dyad_key(c2, c1, yr))
    prev = pledged(_dyad_key(c1, c2, yr - 1)) | pledged(_dyad_key(c2, c1, yr - 1))
    ally = p12 | p21
    first, last = _coverage("atop_alliance")

    def cov(x):
        return _nullable(_covered(x, yr, "atop_alliance"))

    new = {f: cov(np.append(flags[f].to_numpy(), 0.0)[pos12]) for f in _ATOP_FLAGS}
    new.update(
        pledge12=cov(p12),
        pledge21=cov(p21),
        ally=cov(ally),
        ally_onset=_nullable(_mask_years(ally & ~prev, yr, first + 1, last)),
    )
    return _finish(df, new, ["atop_alliance"])


# --------------------------------------------------------------------------- penetration proxies


def add_igos(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """COW IGO v3.0: ``igos`` = number of IGOs in which both i and j are full members
    (symmetric; NA outside 1816-2014 and for dyad-years absent from the source)."""
    _check(df, "add_igos")
    c1, c2, yr = _frame_arrays(df)
    ig = _src("cow_igo_ndy", sources)
    a, b = _ints(ig["ccode1"]), _ints(ig["ccode2"])
    keys = _dyad_key(np.minimum(a, b), np.maximum(a, b), _ints(ig["year"]))
    vals = np.asarray(pd.to_numeric(ig["dyadigos"]), np.float64)
    vals = np.where(vals < 0, np.nan, vals)
    s = pd.Series(vals).groupby(keys).max()
    q = _dyad_key(np.minimum(c1, c2), np.maximum(c1, c2), yr)
    igos = _covered(_take(q, s.index.to_numpy(), s.to_numpy()), yr, "cow_igo_ndy")
    return _finish(df, {"igos": _nullable(igos, "Int16")}, ["cow_igo_ndy"])


def add_trade(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """COW dyadic trade v4.0 (current million USD, 1870-2014).

    Adds ``imports1`` (i's imports from j), ``imports2`` (j's imports from i) and
    ``trade_dep`` = log1p(1000 * imports1 / total recorded imports of i that year),
    the total summed over every partner in the source.  NA where the flow is missing
    or outside 1870-2014.
    """
    _check(df, "add_trade")
    c1, c2, yr = _frame_arrays(df)
    tr = _src("cow_trade_ndy", sources)
    a, b, y = _ints(tr["ccode1"]), _ints(tr["ccode2"]), _ints(tr["year"])
    f1 = np.asarray(pd.to_numeric(tr["flow1"]), np.float64)  # imports of ccode1 from ccode2
    f2 = np.asarray(pd.to_numeric(tr["flow2"]), np.float64)
    f1, f2 = np.where(f1 < 0, np.nan, f1), np.where(f2 < 0, np.nan, f2)
    # directed: imports of x from z, keyed (x, z, year)
    imp = (
        pd.Series(np.concatenate([f1, f2]))
        .groupby(np.concatenate([_dyad_key(a, b, y), _dyad_key(b, a, y)]))
        .max()
    )
    tot = (
        pd.Series(np.concatenate([f1, f2]))
        .groupby(np.concatenate([_state_key(a, y), _state_key(b, y)]))
        .sum(min_count=1)
    )
    imports1 = _covered(
        _take(_dyad_key(c1, c2, yr), imp.index.to_numpy(), imp.to_numpy()), yr, "cow_trade_ndy"
    )
    imports2 = _covered(
        _take(_dyad_key(c2, c1, yr), imp.index.to_numpy(), imp.to_numpy()), yr, "cow_trade_ndy"
    )
    total1 = _take(_state_key(c1, yr), tot.index.to_numpy(), tot.to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        dep = np.where(total1 > 0, np.log1p(1000.0 * imports1 / total1), np.nan)
    new = {"imports1": imports1, "imports2": imports2, "trade_dep": dep}
    return _finish(df, new, ["cow_trade_ndy"])


# --------------------------------------------------------------------------- leaders


def irregular_entry_state_years(archigos: pd.DataFrame, gw_cow: pd.DataFrame) -> pd.Series:
    """``illegit`` by COW state-year (index ``ccode*10000 + year``): 1 if a leader in
    office during t entered irregularly in t-4..t, 0 if the state had Archigos leaders
    in t but none such."""
    start = _year_of(archigos["startdate"])
    end = _year_of(archigos["enddate"])
    ok = ~(np.isnan(start) | np.isnan(end))
    rows, years = _expand_spells(start[ok], end[ok])
    irregular = (archigos["entry"].astype("str").to_numpy() == "Irregular")[ok][rows]
    recent = start[ok][rows] >= years - (ILLEGIT_WINDOW - 1)
    gw = _ints(archigos["gwcode"])[ok][rows]
    by_gw = pd.Series((irregular & recent).astype(np.float64)).groupby(_state_key(gw, years)).max()
    cw = gw_cow[["gwcode", "ccode", "year"]].dropna()
    cw_keys = _state_key(_ints(cw["gwcode"]), _ints(cw["year"]))
    cw_cow = _state_key(_ints(cw["ccode"]), _ints(cw["year"]))
    idx = pd.Index(cw_keys).get_indexer(by_gw.index.to_numpy())
    m = idx >= 0
    return pd.Series(by_gw.to_numpy()[m]).groupby(cw_cow[idx[m]]).max()


def add_irregular_entry(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """Archigos 4.1 via the Gleditsch-Ward -> COW crosswalk: ``illegit1/2`` = 1 if a ruler
    of i / j in office during t seized power irregularly in t-4..t.  NA outside
    1875-2015 (Archigos' full coverage) and for state-years without Archigos leaders.
    "Foreign imposition" and "Unknown" entries are not counted as irregular."""
    _check(df, "add_irregular_entry")
    c1, c2, yr = _frame_arrays(df)
    s = irregular_entry_state_years(_src("archigos", sources), _src("gw_cow_years", sources))
    keys, vals = s.index.to_numpy(), s.to_numpy()
    new = {
        "illegit1": _nullable(_covered(_take(_state_key(c1, yr), keys, vals), yr, "archigos")),
        "illegit2": _nullable(_covered(_take(_state_key(c2, yr), keys, vals), yr, "archigos")),
    }
    return _finish(df, new, ["archigos", "gw_cow_years"])


# --------------------------------------------------------------------------- filters


def filter_relevant(df: pd.DataFrame) -> pd.DataFrame:
    """Keep politically relevant dyads (Weede 1976; Lemke & Reed 2001), as peacesciencer's
    ``filter_prd()``: contiguous (conttype 1-5) or at least one major power.  Rows whose
    relevance is unknown (NA contiguity and no known major power) are dropped."""
    _check(df, "filter_relevant", needs=("conttype", "major1", "major2"))
    ct = df["conttype"].fillna(0).to_numpy(dtype=np.int64)
    m1 = df["major1"].fillna(0).to_numpy(dtype=np.int64) == 1
    m2 = df["major2"].fillna(0).to_numpy(dtype=np.int64) == 1
    keep = ((ct >= 1) & (ct <= 5)) | m1 | m2
    out = df.loc[keep].reset_index(drop=True)
    out.attrs = {**df.attrs, "relevant": True}
    return out


def normalise_region(region: str) -> str:
    """``"middle-east"`` / ``"Middle East"`` -> ``"middle_east"``; DataError if unknown."""
    from walt_bayes.panel.columns import REGIONS

    key = region.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in REGIONS:
        names = ", ".join(r.replace("_", "-") for r in REGIONS)
        raise DataError(f"unknown region {region!r}; choose one of {names}")
    return key


def filter_region(df: pd.DataFrame, region: str, *, with_major_powers: bool = True) -> pd.DataFrame:
    """Keep dyads inside a region (COW numbering blocks, :func:`columns.region_of`).

    A dyad is kept if both states are in ``region``, or (``with_major_powers``) one is
    in ``region`` and the other is a major power that year, the way the embedded Middle
    East panel includes the USA, USSR, UK and France.  Needs ``major1/2`` for that.
    """
    from walt_bayes.panel.columns import region_of

    key = normalise_region(region)
    _check(df, "filter_region", needs=("major1", "major2") if with_major_powers else ())
    c1, c2, _ = _frame_arrays(df)
    codes = np.unique(np.concatenate([c1, c2]))
    inside = np.array([region_of(int(c)) == key for c in codes])
    in1 = inside[np.searchsorted(codes, c1)]
    in2 = inside[np.searchsorted(codes, c2)]
    keep = in1 & in2
    if with_major_powers:
        m1 = df["major1"].fillna(0).to_numpy(dtype=np.int64) == 1
        m2 = df["major2"].fillna(0).to_numpy(dtype=np.int64) == 1
        keep |= (in1 & m2) | (in2 & m1)
    out = df.loc[keep].reset_index(drop=True)
    out.attrs = {**df.attrs, "region": key}
    return out


VERBS = (
    add_capabilities,
    add_major_powers,
    add_contiguity,
    add_distance,
    add_second_order_neighbours,
    add_disputes,
    add_rivalries,
    add_territorial_threat,
    add_democracy,
    add_atop_alliances,
    add_igos,
    add_trade,
    add_irregular_entry,
    add_war_participation,
)
