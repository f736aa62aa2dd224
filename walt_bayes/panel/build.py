"""Build the global COW directed dyad-year panel with every threat input.

:func:`build_global_panel` runs every verb of :mod:`walt_bayes.panel.verbs` and
derives the contract columns of :mod:`walt_bayes.panel.columns`; the raw source
columns stay beside them for transparency.  :func:`write_panel` saves it as
Parquet (atomically) with its attrs (unit, name, years, sources and their
sha256) in the file metadata; :func:`read_panel_attrs` reads them back.

Derivations (documented choices)
--------------------------------
power1/2
    log CINC; NA where CINC is missing or 0.
offense1/2
    mean of two within-year z-scores over all NMC states of that year:
    log1p(milex) and log((milper + 1) / (tpop + 1)).  Within-year because milex
    is in GBP before 1914 and USD after.  If one component is missing the other
    is used alone; NA if both are.
contiguous
    conttype 1-5 (land, or water up to 400 miles).
log_capdist
    log of capital-to-capital km (NA if 0 or missing).
init21, init21_past10, init2_past10
    from :func:`verbs.add_disputes` (GML; Side-A originator, onset year; NA after 2010;
    before 1826 the lag window is the available part, 1816..t-1).
rivalry
    Thompson-Dreyer, NA after 2010.
ally, pledge12, ally_onset, atop_defense, atop_offense
    ATOP defense or offense pledges (directed for ``pledge12``/``atop_*``).
democracy1/2
    V-Dem polyarchy, else (polity2 + 10) / 20; NA if neither.
ideo_sim
    1 - |polyarchy1 - polyarchy2| when both have polyarchy; else the same with
    rescaled polity2 when both have it; else with ``democracy1/2`` (one of each);
    NA if either state has neither score.
illegit1/2, terrthreat1, igos, trade_dep
    from the verbs of the same concern.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from walt_bayes import __version__
from walt_bayes.atomic import atomic_path
from walt_bayes.errors import DataError
from walt_bayes.panel import columns, verbs
from walt_bayes.panel.portable_math import apply
from walt_bayes.panel.verb_tools import (
    UNIT_DIRECTED,
    Sources,
    covered,
    frame_arrays,
    nullable,
    state_key,
    take,
    years_arg,
)
from walt_bayes.sources import registry
from walt_bayes.sources.fetch import ensure
from walt_bayes.sources.read import read_source

#: Sources a full global panel reads, in pipeline order.
PANEL_SOURCES = (
    "cow_ddy",
    "cow_majors",
    "cow_nmc",
    "cow_contdir",
    "cow_capitals",
    "cow_mindist",
    "gml_dirdisp",
    "td_rivalries",
    "terrthreat",
    "ccode_democracy",
    "atop_alliance",
    "cow_igo_ndy",
    "cow_trade_ndy",
    "archigos",
    "gw_cow_years",
    "cow_war_inter",
)

#: Parquet schema-metadata key holding the panel attrs (JSON).
META_KEY = b"walt_bayes.attrs"


def offense_by_state_year(nmc: pd.DataFrame) -> pd.Series:
    """Offense index by state-year (index ``ccode*10000 + year``); see module notes."""
    ccode = np.asarray(nmc["ccode"], np.float64).astype(np.int64)
    year = np.asarray(nmc["year"], np.float64).astype(np.int64)
    milex = np.asarray(pd.to_numeric(nmc["milex"]), np.float64)
    milper = np.asarray(pd.to_numeric(nmc["milper"]), np.float64)
    tpop = np.asarray(pd.to_numeric(nmc["tpop"]), np.float64)
    milex = np.where(milex < 0, np.nan, milex)
    milper = np.where(milper < 0, np.nan, milper)
    tpop = np.where(tpop < 0, np.nan, tpop)
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN inputs stay NaN
        comp = pd.DataFrame(
            {
                "year": year,
                # portable_math's logs: the same bits on every CPU (not NumPy's AVX-512 loops)
                "a": apply("log1p", milex),
                "b": apply("log", (milper + 1.0) / (tpop + 1.0)),
            }
        )
    g = comp.groupby("year")
    z = pd.DataFrame(index=comp.index)
    for c in ("a", "b"):
        mean = g[c].transform("mean")
        sd = g[c].transform("std")
        z[c] = (comp[c] - mean) / sd.where(sd > 0)
    index = ccode * 10000 + year
    return pd.Series(z.mean(axis=1, skipna=True).to_numpy(), index=index).groupby(level=0).first()


def _float(col) -> np.ndarray:
    return pd.array(col, dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan)


def _binary(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    return nullable(values, "Int8")


def derive_contract(df: pd.DataFrame, *, sources: Sources = None) -> pd.DataFrame:
    """Add the contract columns (:data:`columns.REQUIRED` and derivable
    :data:`columns.OPTIONAL`) to a frame that went through every verb."""
    need = (
        "cinc1",
        "conttype",
        "capdist",
        "neighbour2",
        "init21",
        "rivalry",
        "ally",
        "polyarchy1",
        "illegit1",
        "terrthreat1",
        "igos",
        "trade_dep",
    )
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DataError(f"derive_contract: run the verbs that add {', '.join(missing)} first")
    c1, c2, yr = frame_arrays(df)
    codes = np.unique(np.concatenate([c1, c2]))
    regions = np.array([columns.region_of(int(c)) for c in codes], dtype=object)
    new: dict = {
        "region1": pd.array(regions[np.searchsorted(codes, c1)], dtype="str"),
        "region2": pd.array(regions[np.searchsorted(codes, c2)], dtype="str"),
    }
    for side in ("1", "2"):
        cinc = _float(df[f"cinc{side}"])
        with np.errstate(divide="ignore", invalid="ignore"):
            new[f"power{side}"] = np.where(cinc > 0, apply("log", cinc), np.nan)
    nmc = sources["cow_nmc"] if sources and "cow_nmc" in sources else read_source("cow_nmc")
    off = offense_by_state_year(nmc)
    okeys, ovals = off.index.to_numpy(), off.to_numpy()
    new["offense1"] = covered(take(state_key(c1, yr), okeys, ovals), yr, "cow_nmc")
    new["offense2"] = covered(take(state_key(c2, yr), okeys, ovals), yr, "cow_nmc")
    ct = _float(df["conttype"])
    new["contiguous"] = _binary(np.where(np.isnan(ct), np.nan, (ct >= 1) & (ct <= 5)))
    cap = _float(df["capdist"])
    with np.errstate(divide="ignore", invalid="ignore"):
        new["log_capdist"] = np.where(cap > 0, apply("log", cap), np.nan)

    poly = {s: _float(df[f"polyarchy{s}"]) for s in ("1", "2")}
    pol = {s: (_float(df[f"polity{s}"]) + 10.0) / 20.0 for s in ("1", "2")}
    dem = {s: np.where(np.isnan(poly[s]), pol[s], poly[s]) for s in ("1", "2")}
    sim = 1.0 - np.abs(poly["1"] - poly["2"])
    sim = np.where(np.isnan(sim), 1.0 - np.abs(pol["1"] - pol["2"]), sim)
    sim = np.where(np.isnan(sim), 1.0 - np.abs(dem["1"] - dem["2"]), sim)
    new["ideo_sim"] = sim
    new["democracy1"], new["democracy2"] = dem["1"], dem["2"]

    out = df.assign(**new)
    out.attrs = dict(df.attrs)
    return out


def order_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Keys, then REQUIRED, then OPTIONAL present, then the raw source columns."""
    first = list(columns.REQUIRED) + [c for c in columns.OPTIONAL if c in df.columns]
    rest = [c for c in df.columns if c not in first]
    out = df[first + rest]
    out.attrs = dict(df.attrs)
    return out


def _years(years) -> tuple[int, int]:
    return years_arg(years)


def panel_name(years: tuple[int, int], region: str | None, relevant: bool) -> str:
    """``global-cow_<first>-<last>[_<region>][_relevant]``, e.g. ``global-cow_1990-2000``."""
    parts = ["global-cow", f"{years[0]}-{years[1]}"]
    if region:
        parts.append(region.replace("_", "-"))
    if relevant:
        parts.append("relevant")
    return "_".join(parts)


#: The verbs that run after the frame is cut (:func:`_frame`), with their progress labels.
_STEPS = (
    ("capabilities", verbs.add_capabilities),
    ("distance", verbs.add_distance),
    ("second-order neighbours", verbs.add_second_order_neighbours),
    ("disputes", verbs.add_disputes),
    ("rivalries", verbs.add_rivalries),
    ("territorial threat", verbs.add_territorial_threat),
    ("democracy", verbs.add_democracy),
    ("alliances", verbs.add_atop_alliances),
    ("IGOs", verbs.add_igos),
    ("trade", verbs.add_trade),
    ("irregular entry", verbs.add_irregular_entry),
    ("wars", verbs.add_war_participation),
)


def build_global_panel(
    years=(1816, 2014),
    region: str | None = None,
    relevant: bool = False,
    progress: Callable[[str], None] | None = None,
    *,
    mirror: str | os.PathLike | None = None,
    sources: Sources = None,
) -> pd.DataFrame:
    """The global COW directed dyad-year panel with every threat input.

    Parameters
    ----------
    years : (int, int) or "A-B"
        First and last year, inclusive (default 1816-2014).
    region : str, optional
        Keep dyads with both states in this region, or one in it and the other a
        major power (see :func:`verbs.filter_region`), e.g. ``"middle-east"``.
    relevant : bool
        Keep only politically relevant dyads (:func:`verbs.filter_relevant`).
    progress : callable, optional
        Called with a short label before each step.
    mirror : path-like, optional
        Mirror directory for sources that are not cached yet.
    sources : mapping, optional
        Source frames replacing the cached files (tests).

    Returns
    -------
    pandas.DataFrame
        One row per directed dyad-year; columns ordered as in :func:`order_columns`;
        ``attrs`` hold unit, name, years, region, relevant, sources and sha256.
    """
    y = _years(years)
    key = verbs.normalise_region(region) if region else None
    say = progress or (lambda _label: None)
    if sources is None:
        say("checking sources")
        for n in PANEL_SOURCES:
            ensure(n, mirror=mirror)
    df = _frame(y, key, relevant, say, sources)
    for label, verb in _STEPS:
        say(label)
        df = verb(df, sources=sources)
    say("contract columns")
    df = order_columns(derive_contract(df, sources=sources))
    df.attrs = _panel_attrs(df.attrs, y, key, relevant)
    return df


def _frame(
    years: tuple[int, int],
    region: str | None,
    relevant: bool,
    say: Callable[[str], None],
    sources: Sources,
) -> pd.DataFrame:
    """The dyad-years with major powers and contiguity, cut to ``region`` and ``relevant``.

    The filters run as soon as their inputs exist, so that the later verbs see only
    the rows that are kept.
    """
    say("dyad-years")
    df = verbs.create_dyad_years("cow", years, directed=True, sources=sources)
    say("major powers")
    df = verbs.add_major_powers(df, sources=sources)
    if region:
        df = verbs.filter_region(df, region)
    say("contiguity")
    df = verbs.add_contiguity(df, sources=sources)
    if relevant:
        df = verbs.filter_relevant(df)
    return df


def _panel_attrs(attrs: dict, years: tuple[int, int], region: str | None, relevant: bool) -> dict:
    """The global panel's attrs: what it is, how it was cut, the sources it read."""
    used = list(dict.fromkeys(attrs.get("sources", [])))
    return {
        "unit": UNIT_DIRECTED,
        "name": panel_name(years, region, relevant),
        "system": "cow",
        "years": [years[0], years[1]],
        "region": region,
        "relevant": bool(relevant),
        "sources": used,
        "sha256": {n: registry.get(n).sha256 for n in used},
        "versions": {n: registry.get(n).version for n in used},
        "builder": "walt_bayes.panel.build.build_global_panel",
    }


def missingness(df: pd.DataFrame) -> pd.Series:
    """Share of missing values per column."""
    return df.isna().mean()


def write_panel(df: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Write a panel to Parquet atomically, with its attrs as JSON in the file metadata."""
    attrs = {**df.attrs, "walt_bayes_version": __version__, "rows": len(df)}
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[META_KEY] = json.dumps(attrs, default=str).encode()
    table = table.replace_schema_metadata(meta)
    out = Path(out)
    with atomic_path(out, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)
    return out


def read_panel_attrs(path: str | os.PathLike) -> dict:
    """The attrs stored by :func:`write_panel` (DataError if the file has none)."""
    path = Path(path)
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable Parquet file ({err})") from err
    if META_KEY not in meta:
        raise DataError(
            f"{path}: no walt-bayes panel metadata (was it written by `walt-bayes panel build`?)"
        )
    return json.loads(meta[META_KEY])


def read_panel(path: str | os.PathLike) -> pd.DataFrame:
    """Read a panel written by :func:`write_panel`, restoring its attrs."""
    attrs = read_panel_attrs(path)
    df = pd.read_parquet(path)
    df.attrs = attrs
    return df
