"""Panel verbs and the global panel: checks against the sources and verb invariants.

Real-data tests build a limited panel (1950-1980) once per module from the
peacesciencer mirror into a temporary cache; property-based tests run the verbs
on small synthetic sources.  No test touches the network.
"""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from walt_bayes.cli.data import data_app
from walt_bayes.cli.panel import panel_app
from walt_bayes.errors import DataError
from walt_bayes.panel import build, columns, verbs
from walt_bayes.sources import fetch as fetch_mod
from walt_bayes.sources import read as read_mod

MIRROR = Path(__file__).resolve().parents[2] / "shared/data/peacesciencer"
needs_mirror = pytest.mark.skipif(
    not MIRROR.is_dir(),
    reason=f"peacesciencer mirror not found at {MIRROR} (../shared beside the repo)",
)

YEARS = (1950, 1980)
SYMMETRIC = (
    "conttype",
    "capdist",
    "mindist",
    "neighbour2",
    "rivalry",
    "ally",
    "gml_dispute",
    "gml_onset",
    "igos",
    "war",
    "war_onset",
    "ideo_sim",
    "contiguous",
    "log_capdist",
)


@pytest.fixture(scope="module", autouse=True)
def isolation(tmp_path_factory):
    """For every test here: a temporary cache (never the user's), the mirror when present,
    and no network."""
    mp = pytest.MonkeyPatch()
    mp.setenv(fetch_mod.CACHE_ENV, str(tmp_path_factory.mktemp("cache")))
    if MIRROR.is_dir():
        mp.setenv(fetch_mod.MIRROR_ENV, str(MIRROR))
    else:
        mp.delenv(fetch_mod.MIRROR_ENV, raising=False)

    def no_network(*a, **k):
        raise urllib.error.URLError("network disabled in tests")

    mp.setattr(urllib.request, "urlopen", no_network)
    read_mod.clear_memo()
    yield
    read_mod.clear_memo()
    mp.undo()


@pytest.fixture(scope="module")
def env(isolation):
    """Real data: skip when the mirror is absent."""
    if not MIRROR.is_dir():
        pytest.skip(f"peacesciencer mirror not found at {MIRROR} (../shared beside the repo)")


@pytest.fixture(scope="module")
def panel(env):
    return build.build_global_panel(YEARS)


def _at(df, i, j, t):
    rows = df[(df.ccode1 == i) & (df.ccode2 == j) & (df.year == t)]
    assert len(rows) == 1, (i, j, t)
    return rows.iloc[0]


# --------------------------------------------------------------------------- structure


def test_contract_columns_and_types(panel):
    assert panel.attrs["unit"] == verbs.UNIT_DIRECTED
    assert list(panel.columns[: len(columns.REQUIRED)]) == list(columns.REQUIRED)
    for col in columns.BINARY:
        if col in panel.columns:
            vals = set(panel[col].dropna().unique())
            assert vals <= {0, 1}, col
    for col in columns.KEYS:
        assert panel[col].dtype == np.int64
    assert set(panel.region1.unique()) <= set(columns.REGIONS)
    for opt in (
        "democracy1",
        "illegit1",
        "terrthreat1",
        "igos",
        "trade_dep",
        "ally_onset",
        "atop_defense",
        "atop_offense",
    ):
        assert opt in panel.columns
    assert "leninist1" not in panel.columns  # not derivable from these sources
    assert set(panel.attrs["sources"]) == set(build.PANEL_SOURCES)
    assert (
        panel.attrs["sha256"]["cow_nmc"]
        == "c265ab4ffa73c87ddc565ce08a12963e8a6aa5020a56e3658108add14b24e82d"
    )


def test_no_duplicate_dyad_years(panel):
    assert not panel.duplicated(list(columns.KEYS)).any()
    assert (panel.ccode1 != panel.ccode2).all()


def _coexisting_pairs(states: pd.DataFrame, t: int) -> set[tuple[int, int]]:
    """Ordered pairs of COW members whose memberships overlap (by day) within year t."""
    s = states[(states.styear <= t) & (states.endyear >= t)]
    start = pd.to_datetime(dict(year=s.styear, month=s.stmonth, day=s.stday)).to_numpy()
    end = pd.to_datetime(dict(year=s.endyear, month=s.endmonth, day=s.endday)).to_numpy()
    start = np.maximum(start, np.datetime64(f"{t}-01-01"))
    end = np.minimum(end, np.datetime64(f"{t}-12-31"))
    c = s.ccode.to_numpy().astype(int)
    overlap = (
        (start[:, None] <= end[None, :])
        & (start[None, :] <= end[:, None])
        & (c[:, None] != c[None, :])
    )
    i, j = np.nonzero(overlap)
    return set(zip(c[i].tolist(), c[j].tolist(), strict=True))


def test_dyads_per_year_are_n_times_n_minus_1(panel):
    """n(n-1) ordered pairs of the year's members, less pairs that never coexisted that year
    (checked pair by pair against the COW state list, independently of cow_ddy)."""
    states = read_mod.read_source("cow_states")
    exact = 0
    for t, g in panel.groupby("year"):
        members = set(g.ccode1) | set(g.ccode2)
        n = len(members)
        got = set(zip(g.ccode1.tolist(), g.ccode2.tolist(), strict=True))
        expected = _coexisting_pairs(states, int(t))
        assert got == expected, t
        missing_pairs = n * (n - 1) - len(got)
        assert missing_pairs % 2 == 0 and missing_pairs >= 0
        exact += missing_pairs == 0
    assert exact >= len(panel.year.unique()) - 3  # 1958, 1964, 1975 have non-coexisting pairs


# --------------------------------------------------------------------------- known facts


def test_usa_uk_allied_in_1955(panel):
    for i, j in ((2, 200), (200, 2)):
        r = _at(panel, i, j, 1955)
        assert r.ally == 1 and r.pledge12 == 1 and r.atop_defense == 1


def test_egypt_israel_contiguous(panel):
    for t in (1950, 1967, 1973, 1980):
        for i, j in ((651, 666), (666, 651)):
            r = _at(panel, i, j, t)
            assert r.contiguous == 1 and r.conttype == 1 and r.neighbour2 == 0


def test_1973_war_as_disputes_between_egypt_syria_and_israel(panel):
    for arab in (651, 652):
        for i, j in ((arab, 666), (666, arab)):
            r = _at(panel, i, j, 1973)
            assert r.gml_dispute == 1 and r.gml_onset == 1
            assert r.war == 1 and r.war_onset == 1 and r.rivalry == 1
        # GML codes Israel as Side A originator of the 1973 dyadic disputes (3380, 3437)
        assert _at(panel, 666, arab, 1973).init12 == 1


def test_usa_iran_defense_pledge_is_one_way(panel):
    us_ir = panel[(panel.ccode1 == 2) & (panel.ccode2 == 630)].set_index("year")
    ir_us = panel[(panel.ccode1 == 630) & (panel.ccode2 == 2)].set_index("year")
    years = list(range(1959, 1980))
    assert (us_ir.loc[years, "atop_defense"] == 1).all() and (
        us_ir.loc[years, "pledge12"] == 1
    ).all()
    assert (ir_us.loc[years, "atop_defense"] == 0).all() and (
        ir_us.loc[years, "pledge12"] == 0
    ).all()
    assert (ir_us.loc[years, "pledge21"] == 1).all()
    assert (us_ir.loc[years, "ally"] == 1).all() and (ir_us.loc[years, "ally"] == 1).all()
    assert us_ir.loc[1958, "pledge12"] == 0 and us_ir.loc[1980, "pledge12"] == 0
    assert us_ir.loc[1959, "ally_onset"] == 1 and us_ir.loc[1960, "ally_onset"] == 0


def test_derivations(panel):
    assert np.allclose(panel.power1, np.log(panel.cinc1.astype(float)), equal_nan=True)
    assert np.allclose(panel.log_capdist, np.log(panel.capdist), equal_nan=True)
    ally = (panel.pledge12 == 1) | (panel.pledge21 == 1)
    assert (panel.ally.astype(bool) == ally).all()
    assert (
        panel.pledge12 == ((panel.atop_defense == 1) | (panel.atop_offense == 1)).astype(int)
    ).all()
    both = panel.polyarchy1.notna() & panel.polyarchy2.notna()
    assert np.allclose(panel.ideo_sim[both], 1 - (panel.polyarchy1 - panel.polyarchy2).abs()[both])
    assert panel.ideo_sim.dropna().between(0, 1).all()
    assert panel.democracy1.dropna().between(0, 1).all()
    # offense: z-scores within year are centred on the state-year level
    st = panel.drop_duplicates(["ccode1", "year"]).groupby("year").offense1.mean()
    assert st.abs().max() < 0.5


def test_symmetric_measures_are_symmetric(panel):
    swapped = panel.rename(columns={"ccode1": "ccode2", "ccode2": "ccode1"})
    m = panel.merge(swapped, on=list(columns.KEYS), suffixes=("", "_r"))
    assert len(m) == len(panel)
    for col in SYMMETRIC:
        a, b = m[col].astype("Float64"), m[f"{col}_r"].astype("Float64")
        assert ((a == b) | (a.isna() & b.isna())).all(), col
    assert (m.pledge12 == m.pledge21_r).all()
    assert (m.init21 == m.init12_r).all()
    assert (m.power1 == m.power2_r).all()


def test_lagged_counts_match_the_yearly_series(panel):
    assert panel.init21_past10.between(0, 10).all()
    assert (panel.init2_past10 >= 0).all() and (panel.rev2_past10 <= panel.init2_past10).all()
    # (init2_past10 counts each dispute once, at j's first initiation in it; init21_past10 counts
    # years with an initiation against i, which can be later when i entered the dispute later)
    d = panel[["ccode1", "ccode2", "year", "init21", "init21_past10"]]
    events = d.loc[d.init21 == 1, ["ccode1", "ccode2", "year"]]
    lagged = pd.concat([events.assign(year=events.year + lag) for lag in range(1, 11)])
    counts = lagged.value_counts().rename("expected").reset_index()
    check = d[d.year >= YEARS[0] + 10].merge(counts, on=["ccode1", "ccode2", "year"], how="left")
    assert len(events) > 100
    assert (check.init21_past10.astype(int) == check.expected.fillna(0).astype(int)).all()


# --------------------------------------------------------------------------- coverage: NA, never 0


@pytest.fixture(scope="module")
def late(env):
    df = verbs.create_dyad_years(years=(2005, 2020))
    for verb in (
        verbs.add_major_powers,
        verbs.add_contiguity,
        verbs.add_disputes,
        verbs.add_rivalries,
        verbs.add_atop_alliances,
        verbs.add_war_participation,
        verbs.add_igos,
        verbs.add_trade,
        verbs.add_irregular_entry,
        verbs.add_territorial_threat,
    ):
        df = verb(df)
    return df


@pytest.mark.parametrize(
    ("col", "last"),
    [
        ("init21", 2010),
        ("init21_past10", 2010),
        ("init2_past10", 2010),
        ("gml_dispute", 2010),
        ("rivalry", 2010),
        ("war", 2007),
        ("war1", 2007),
        ("conttype", 2016),
        ("major1", 2016),
        ("ally", 2018),
        ("ally_onset", 2018),
        ("atop_defense", 2018),
        ("igos", 2014),
        ("imports1", 2014),
        ("illegit1", 2015),
        ("terrthreat1", 2010),
    ],
)
def test_years_after_coverage_are_na(late, col, last):
    after = late[late.year > last]
    assert after[col].isna().all(), col
    inside = late[late.year <= last][col]
    assert inside.notna().mean() > 0.5, col


def test_years_before_coverage_are_na(env):
    df = verbs.create_dyad_years(years=(1862, 1890))
    df = verbs.add_trade(verbs.add_distance(verbs.add_irregular_entry(df)))
    assert df.loc[df.year < 1886, "mindist"].isna().all()
    assert df.loc[df.year >= 1886, "mindist"].notna().mean() > 0.9
    assert df.loc[df.year < 1870, ["imports1", "trade_dep"]].isna().all().all()
    assert df.loc[df.year < 1875, "illegit1"].isna().all()
    assert df.loc[df.year >= 1880, "illegit1"].notna().mean() > 0.8
    assert df.capdist.notna().all()


# --------------------------------------------------------------------------- filters, CLI


def test_filter_relevant(panel):
    rel = verbs.filter_relevant(panel)
    assert 0 < len(rel) < len(panel)
    ok = rel.conttype.between(1, 5) | (rel.major1 == 1) | (rel.major2 == 1)
    assert ok.all()
    assert rel.attrs["relevant"] is True and rel.attrs["unit"] == verbs.UNIT_DIRECTED


def test_region_filter_keeps_middle_east_and_its_great_power_dyads(panel):
    me = verbs.filter_region(panel, "middle-east")
    r1, r2 = me.ccode1.map(columns.region_of), me.ccode2.map(columns.region_of)
    inside = (r1 == "middle_east") & (r2 == "middle_east")
    gp = ((r1 == "middle_east") & (me.major2 == 1)) | ((r2 == "middle_east") & (me.major1 == 1))
    assert (inside | gp).all()
    assert len(me[(me.ccode1 == 2) & (me.ccode2 == 651) & (me.year == 1956)]) == 1
    assert len(me[(me.ccode1 == 2) & (me.ccode2 == 365)]) == 0
    with pytest.raises(DataError, match="unknown region"):
        verbs.filter_region(panel, "atlantis")


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(data_app, name="data")
    app.add_typer(panel_app, name="panel")
    return app


def test_cli_panel_build_middle_east_and_cite(env, tmp_path):
    out = tmp_path / "me.parquet"
    runner = CliRunner()
    res = runner.invoke(
        _app(),
        [
            "panel",
            "build",
            "--years",
            "1955-1979",
            "--region",
            "middle-east",
            "--out",
            str(out),
            "--mirror",
            str(MIRROR),
        ],
    )
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "rows" in text and "years 1955-1979" in text and "init21_past10" in text
    df = build.read_panel(out)
    assert df.attrs["region"] == "middle_east" and df.attrs["years"] == [1955, 1979]
    assert set(df.ccode1) >= {2, 200, 220, 365, 651, 652, 663, 666}
    assert list(df.columns[: len(columns.REQUIRED)]) == list(columns.REQUIRED)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    res = runner.invoke(_app(), ["data", "cite", "--panel", str(out)])
    assert res.exit_code == 0
    assert "Leeds, Brett Ashley" in " ".join(res.output.split())


def test_cli_panel_build_bad_years(env, tmp_path):
    res = CliRunner().invoke(
        _app(), ["panel", "build", "--years", "1990-1950", "--out", str(tmp_path / "x.parquet")]
    )
    assert isinstance(res.exception, DataError)
    res = CliRunner().invoke(
        _app(), ["panel", "build", "--years", "1700-1750", "--out", str(tmp_path / "x.parquet")]
    )
    assert isinstance(res.exception, DataError) and "1816" in str(res.exception)
    assert list(tmp_path.iterdir()) == []


def test_write_panel_is_atomic(panel, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(OSError):
        build.write_panel(panel.head(10), tmp_path / "p.parquet")
    assert list(tmp_path.iterdir()) == []


def test_verbs_need_a_dyad_frame(env):
    with pytest.raises(DataError, match="create_dyad_years"):
        verbs.add_contiguity(pd.DataFrame({"ccode1": [2], "ccode2": [20], "year": [1950]}))
    with pytest.raises(DataError, match="system 'gw'"):
        verbs.create_dyad_years(system="gw")
    nd = verbs.create_dyad_years(years=1960, directed=False)
    assert nd.attrs["unit"] == verbs.UNIT_NONDIRECTED and (nd.ccode1 < nd.ccode2).all()
    with pytest.raises(DataError, match="filter_relevant: the frame lacks"):
        verbs.filter_relevant(nd)


# --------------------------------------------------------------------------- synthetic sources


CODES = (2, 20, 200, 220, 365, 630, 651, 652, 666, 710)


def _date(y, m=1, d=1):
    return dt.date(int(y), m, d)


@st.composite
def worlds(draw):
    """Small synthetic state systems and sources around the GML/war/ATOP coverage edges."""
    y0 = draw(st.integers(2000, 2010))
    years = list(range(y0, y0 + draw(st.integers(1, 6))))
    members = {
        t: sorted(draw(st.sets(st.sampled_from(CODES), min_size=2, max_size=7))) for t in years
    }
    ddy = pd.DataFrame(
        [(a, b, t) for t in years for a in members[t] for b in members[t] if a != b],
        columns=["ccode1", "ccode2", "year"],
    ).astype({"ccode1": float, "ccode2": float, "year": np.int32})
    pairs = st.tuples(st.sampled_from(CODES), st.sampled_from(CODES)).filter(lambda p: p[0] != p[1])
    yr = st.sampled_from(years)

    cont = draw(st.lists(st.tuples(pairs, st.integers(0, 5), yr, st.integers(0, 3)), max_size=12))
    contdir = pd.DataFrame(
        [(a, b, ct, _date(t), _date(t + n, 12, 1)) for (a, b), ct, t, n in cont],
        columns=["ccode1", "ccode2", "conttype", "stdate", "enddate"],
    )
    atop_rows = draw(
        st.lists(st.tuples(pairs, yr, st.tuples(*[st.integers(0, 1)] * 5)), max_size=15)
    )
    atop = pd.DataFrame(
        [(a, b, t, *f) for (a, b), t, f in atop_rows],
        columns=["ccode1", "ccode2", "year", *verbs._ATOP_FLAGS],
    ).drop_duplicates(["ccode1", "ccode2", "year"])
    disp_rows = []
    for k, ((a, b), t, onset, orig_b) in enumerate(
        draw(
            st.lists(
                st.tuples(pairs, st.integers(y0 - 12, years[-1]), st.booleans(), st.booleans()),
                max_size=12,
            )
        )
    ):
        base = dict(dispnum=k + 1, year=t, midonset=float(onset), revstate1=1.0, revstate2=0.0)
        disp_rows.append(
            {
                **base,
                "ccode1": a,
                "ccode2": b,
                "sidea1": 1.0,
                "sidea2": 0.0,
                "orig1": 1.0,
                "orig2": float(orig_b),
            }
        )
        disp_rows.append(
            {
                **base,
                "ccode1": b,
                "ccode2": a,
                "sidea1": 0.0,
                "sidea2": 1.0,
                "orig1": float(orig_b),
                "orig2": 1.0,
                "revstate1": 0.0,
                "revstate2": 1.0,
            }
        )
    cols = [
        "dispnum",
        "ccode1",
        "ccode2",
        "year",
        "midonset",
        "sidea1",
        "sidea2",
        "orig1",
        "orig2",
        "revstate1",
        "revstate2",
    ]
    gml = pd.DataFrame(disp_rows, columns=cols)
    riv = draw(st.lists(st.tuples(pairs, yr, st.integers(0, 4)), max_size=5))
    td = pd.DataFrame(
        [(min(a, b), max(a, b), t, t + n) for (a, b), t, n in riv],
        columns=["ccode1", "ccode2", "styear", "endyear"],
    )
    wars = draw(st.lists(st.tuples(pairs, yr, st.booleans()), max_size=5))
    war = pd.DataFrame(
        [(1, a, b, t, float(o)) for (a, b), t, o in wars]
        + [(1, b, a, t, float(o)) for (a, b), t, o in wars],
        columns=["warnum", "ccode1", "ccode2", "year", "cowinteronset"],
    )
    igo = pd.DataFrame(
        [
            (min(a, b), max(a, b), t, float(draw(st.integers(0, 50))))
            for t in years
            for a in members[t]
            for b in members[t]
            if a < b
        ],
        columns=["ccode1", "ccode2", "year", "dyadigos"],
    )
    trade = pd.DataFrame(
        [
            (a, b, t, draw(st.floats(0, 100)), draw(st.floats(0, 100)))
            for t in years
            for a in members[t]
            for b in members[t]
            if a < b
        ],
        columns=["ccode1", "ccode2", "year", "flow1", "flow2"],
    )
    majors = pd.DataFrame({"ccode": [2, 365], "styear": [1898, 1922], "endyear": [2016, 2016]})
    caps = pd.DataFrame(
        {
            "ccode": list(CODES),
            "stdate": [_date(1816)] * len(CODES),
            "enddate": [_date(2024, 12, 31)] * len(CODES),
            "lat": np.linspace(-40, 60, len(CODES)),
            "lng": np.linspace(-120, 140, len(CODES)),
        }
    )
    mind = igo.rename(columns={"dyadigos": "mindist"}).assign(mindist=lambda d: d.mindist * 10)
    return {
        "cow_ddy": ddy,
        "cow_contdir": contdir,
        "atop_alliance": atop,
        "gml_dirdisp": gml,
        "td_rivalries": td,
        "cow_war_inter": war,
        "cow_igo_ndy": igo,
        "cow_trade_ndy": trade,
        "cow_majors": majors,
        "cow_capitals": caps,
        "cow_mindist": mind,
    }


SYNTHETIC_VERBS = (
    verbs.add_major_powers,
    verbs.add_contiguity,
    verbs.add_distance,
    verbs.add_second_order_neighbours,
    verbs.add_disputes,
    verbs.add_rivalries,
    verbs.add_atop_alliances,
    verbs.add_igos,
    verbs.add_trade,
    verbs.add_war_participation,
)
PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run_all(world):
    base = verbs.create_dyad_years(years=(1816, 2024), sources=world)
    df = base
    for verb in SYNTHETIC_VERBS:
        out = verb(df, sources=world)
        assert len(out) == len(df)
        assert out[list(columns.KEYS)].equals(df[list(columns.KEYS)])
        assert out.attrs["unit"] == verbs.UNIT_DIRECTED
        df = out
    return base, df


@PROPS
@given(worlds())
def test_verbs_keep_rows_keys_and_unit(world):
    _, df = _run_all(world)
    assert not df.duplicated(list(columns.KEYS)).any()
    assert len(df) == len(world["cow_ddy"])
    assert set(df.attrs["sources"]) >= {"cow_contdir", "atop_alliance", "gml_dirdisp"}


@PROPS
@given(worlds())
def test_symmetric_measures_and_directed_pledges(world):
    _, df = _run_all(world)
    swapped = df.rename(columns={"ccode1": "ccode2", "ccode2": "ccode1"})
    m = df.merge(swapped, on=list(columns.KEYS), suffixes=("", "_r"))
    assert len(m) == len(df)
    for col in (
        "conttype",
        "neighbour2",
        "rivalry",
        "ally",
        "gml_dispute",
        "igos",
        "war",
        "capdist",
        "mindist",
    ):
        a, b = m[col].astype("Float64"), m[f"{col}_r"].astype("Float64")
        assert ((a == b) | (a.isna() & b.isna())).all(), col
    assert (m.pledge12.astype("Float64") == m.pledge21_r.astype("Float64")).fillna(True).all()
    assert (m.init21.astype("Float64") == m.init12_r.astype("Float64")).fillna(True).all()
    ally = ((df.pledge12 == 1) | (df.pledge21 == 1)).astype("Int8")
    assert (df.ally.fillna(-1) == ally.where(df.ally.notna(), -1)).all()


@PROPS
@given(worlds())
def test_lag_counts_bounded_and_coverage_na(world):
    _, df = _run_all(world)
    inside = df.year <= 2010
    assert (
        df.loc[~inside, ["init21", "init21_past10", "init2_past10", "gml_dispute", "rivalry"]]
        .isna()
        .all()
        .all()
    )
    assert (
        df.loc[inside, ["init21", "init21_past10", "init2_past10", "gml_dispute", "rivalry"]]
        .notna()
        .all()
        .all()
    )
    assert df.loc[inside, "init21_past10"].between(0, 10).all()
    assert (df.loc[inside, "init2_past10"] >= df.loc[inside, "init21_past10"]).all()
    assert (
        df.loc[df.year > 2007, "war"].isna().all() and df.loc[df.year <= 2007, "war"].notna().all()
    )
    # within coverage, absence from an event source is 0, not NA
    assert df[["ally", "atop_defense", "conttype", "neighbour2"]].notna().all().all()


@PROPS
@given(worlds())
def test_second_order_neighbours_match_brute_force(world):
    _, df = _run_all(world)
    keys, vals = verbs._contiguity_table(world["cow_contdir"])
    adj: dict[int, dict[int, set[int]]] = {}
    for k, v in zip(keys.tolist(), vals.tolist(), strict=True):
        if v > 0:
            t, b, a = k % 10000, (k // 10000) % 1000, k // 10000 // 1000
            adj.setdefault(t, {}).setdefault(a, set()).add(b)
            adj.setdefault(t, {}).setdefault(b, set()).add(a)
    for r in df.itertuples():
        nb = adj.get(r.year, {})
        contiguous = r.ccode2 in nb.get(r.ccode1, set())
        shared = (nb.get(r.ccode1, set()) & nb.get(r.ccode2, set())) - {r.ccode1, r.ccode2}
        assert r.neighbour2 == int(bool(shared) and not contiguous)
        assert (r.conttype in (1, 2, 3, 4, 5)) == contiguous


def test_ally_onset_lag_and_illegit_by_hand():
    ddy = pd.DataFrame(
        {
            "ccode1": [2.0, 20.0] * 4,
            "ccode2": [20.0, 2.0] * 4,
            "year": np.repeat(np.arange(2000, 2004), 2).astype(np.int32),
        }
    )
    atop = pd.DataFrame(
        {
            "ccode1": [20, 20],
            "ccode2": [2, 2],
            "year": [2001, 2002],
            **{f: [1, 1] if f == "atop_defense" else [0, 0] for f in verbs._ATOP_FLAGS},
        }
    )
    gml = pd.DataFrame(
        {
            "dispnum": [7, 7],
            "ccode1": [20, 2],
            "ccode2": [2, 20],
            "year": [2000, 2000],
            "midonset": [1.0, 1.0],
            "sidea1": [1.0, 0.0],
            "sidea2": [0.0, 1.0],
            "orig1": [1.0, 1.0],
            "orig2": [1.0, 1.0],
            "revstate1": [0.0, 0.0],
            "revstate2": [0.0, 0.0],
        }
    )
    archigos = pd.DataFrame(
        {
            "gwcode": [2.0, 2.0, 20.0],
            "entry": ["Irregular", "Regular", "Regular"],
            "startdate": [_date(1997, 5, 1), _date(2001, 3, 1), _date(1990)],
            "enddate": [_date(2001, 3, 1), _date(2010), _date(2010)],
        }
    )
    cw = pd.DataFrame(
        {
            "gwcode": [2.0] * 4 + [20.0] * 4,
            "ccode": [2.0] * 4 + [20.0] * 4,
            "year": list(range(2000, 2004)) * 2,
        }
    )
    world = {
        "cow_ddy": ddy,
        "atop_alliance": atop,
        "gml_dirdisp": gml,
        "archigos": archigos,
        "gw_cow_years": cw,
    }
    df = verbs.create_dyad_years(years=(2000, 2003), sources=world)
    df = verbs.add_irregular_entry(
        verbs.add_disputes(verbs.add_atop_alliances(df, sources=world), sources=world),
        sources=world,
    )
    us = df[df.ccode1 == 2].set_index("year")
    ca = df[df.ccode1 == 20].set_index("year")
    assert us.pledge21.tolist() == [0, 1, 1, 0] and us.pledge12.tolist() == [0, 0, 0, 0]
    assert us.ally.tolist() == [0, 1, 1, 0] and ca.ally.tolist() == [0, 1, 1, 0]
    assert us.ally_onset.tolist() == [0, 1, 0, 0]
    assert us.init21.tolist() == [1, 0, 0, 0] and ca.init12.tolist() == [1, 0, 0, 0]
    assert us.init21_past10.tolist() == [0, 1, 1, 1] and us.init12.tolist() == [0, 0, 0, 0]
    assert ca.init1_past10.tolist() == [0, 1, 1, 1] and us.init2_past10.tolist() == [0, 1, 1, 1]
    # USA: irregular entry in 1997, in office until March 2001 -> 1 in 2000 and 2001 (t-4..t);
    # from 2002 the ruler in office entered regularly
    assert us.illegit1.tolist() == [1, 1, 0, 0] and ca.illegit1.tolist() == [0, 0, 0, 0]
