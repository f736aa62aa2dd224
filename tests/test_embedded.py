"""The embedded Middle East data: historical facts in the panel, one-line errors on bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from walt_bayes.errors import DataError
from walt_bayes.panel import columns
from walt_bayes.panel.embedded import (
    FILE_COLUMNS,
    FILES,
    IDEO_SIM,
    PANEL_OPTIONAL,
    load_episodes,
    load_middle_east,
    load_states,
    load_tables,
    resolve_data_dir,
)
from walt_bayes.panel.hashing import panel_sha256
from walt_bayes.paths import bundled_path

EGY, ISR, IRQ, TUR, UKG, RUS, SYR, JOR, KUW = 651, 666, 645, 640, 200, 365, 652, 663, 690


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return load_middle_east()


def cell(panel: pd.DataFrame, i: int, j: int, year: int, col: str):
    row = panel[(panel["ccode1"] == i) & (panel["ccode2"] == j) & (panel["year"] == year)]
    assert len(row) == 1, f"no unique row for ({i}, {j}, {year})"
    return row.iloc[0][col]


# --------------------------------------------------------------------------- structure


def test_bundled_path_points_at_the_data():
    path = bundled_path("data", "middle_east")
    assert (path / "states.csv").is_file()
    assert resolve_data_dir(None) == path


def test_columns_are_the_contract(panel):
    assert list(panel.columns) == list(columns.REQUIRED) + list(PANEL_OPTIONAL)
    assert set(PANEL_OPTIONAL) <= set(columns.OPTIONAL)
    assert panel[list(columns.REQUIRED)].notna().all().all()
    for col in columns.BINARY:
        if col in panel.columns:
            assert set(panel[col].dropna().unique()) <= {0, 1}, col
    assert panel["ideo_sim"].between(0, 1).all()
    assert panel.attrs == {"unit": "directed dyad-year", "name": "middle-east"}


def test_dtypes(panel):
    for col in (
        "ccode1",
        "ccode2",
        "year",
        "major1",
        "contiguous",
        "init21",
        "init21_past10",
        "init2_past10",
        "rivalry",
        "ally",
        "pledge12",
        "aid21",
        "ally_formal",
    ):
        assert panel[col].dtype == np.int64, col
    for col in ("power1", "power2", "offense1", "log_capdist", "ideo_sim", "democracy1"):
        assert panel[col].dtype == np.float64, col
    assert str(panel["ally_onset"].dtype) == "Int64"


def test_directed_dyads_n_times_n_minus_1_per_year(panel):
    assert not panel.duplicated(["ccode1", "ccode2", "year"]).any()
    assert (panel["ccode1"] != panel["ccode2"]).all()
    assert sorted(panel["year"].unique()) == list(range(1955, 1980))
    for year, g in panel.groupby("year"):
        n = len(set(g["ccode1"]))
        assert set(g["ccode1"]) == set(g["ccode2"])
        assert len(g) == n * (n - 1), year
    ordered = panel.sort_values(["year", "ccode1", "ccode2"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(panel, ordered)


def test_system_membership(panel):
    members = panel.groupby("year")["ccode1"].agg(set)
    assert SYR in members[1957] and SYR not in members[1958] and SYR not in members[1960]
    assert SYR in members[1961]
    assert KUW not in members[1960] and KUW in members[1961]
    assert 680 in members[1967] and 680 not in members[1966]
    assert len(members[1955]) >= 15


def test_counts_of_raw_tables():
    tables = load_tables()
    assert len(tables.states) >= 15
    assert len(tables.episodes) >= 30
    assert len(tables.hostile_acts) >= 60
    assert isinstance(tables.episodes["members"].iloc[0], tuple)
    states = load_states()
    assert {2, 200, 220, 365, 651, 652, 663, 645, 670, 666} <= set(states["ccode"])
    episodes = load_episodes()
    assert episodes["episode_id"].is_unique
    assert all(isinstance(m, tuple) and len(m) >= 2 for m in episodes["members"])


def test_codebook_documents_every_file_and_column():
    data_dir = resolve_data_dir(None)
    text = (data_dir / "CODEBOOK.md").read_text(encoding="utf-8")
    for key, fname in FILES.items():
        assert f"`{fname}`" in text, fname
        header = pd.read_csv(data_dir / fname, nrows=0).columns
        assert list(header) == list(FILE_COLUMNS[key]), fname
        for col in header:
            assert f"`{col}`" in text, f"{fname}: {col}"
    for pair, value in IDEO_SIM.items():
        a, b = sorted(pair)
        assert f"`{a}` – `{b}` | {value}" in text or f"`{b}` – `{a}` | {value}" in text, pair


# --------------------------------------------------------------------------- known facts


def test_baghdad_pact_1955(panel):
    assert cell(panel, IRQ, TUR, 1955, "ally") == 1
    assert cell(panel, TUR, IRQ, 1955, "ally") == 1
    assert cell(panel, UKG, IRQ, 1955, "ally") == 1
    assert cell(panel, IRQ, UKG, 1955, "ally_formal") == 1
    # Iraq left after its 1958 revolution; Turkey and the UK stay allied (CENTO, NATO).
    assert cell(panel, IRQ, TUR, 1960, "ally") == 0
    assert cell(panel, UKG, TUR, 1960, "ally") == 1


def test_egypt_israel_contiguous_and_rivals(panel):
    for year in (1955, 1967, 1979):
        assert cell(panel, EGY, ISR, year, "contiguous") == 1
        assert cell(panel, EGY, ISR, year, "rivalry") == 1
        assert cell(panel, EGY, ISR, year, "neighbour2") == 0
    assert cell(panel, EGY, ISR, 1967, "log_capdist") == pytest.approx(np.log(425), abs=0.1)


def test_wars_of_1967_and_1973_both_directions(panel):
    for year in (1967, 1973):
        assert cell(panel, EGY, ISR, year, "init21") == 1  # Israel against Egypt
        assert cell(panel, ISR, EGY, year, "init21") == 1  # Egypt against Israel
        assert cell(panel, SYR, ISR, year, "init21") == 1
    assert cell(panel, EGY, ISR, 1965, "init21") == 0
    # Past acts: Israel's acts against Egypt in 1963-1972 were in 1967-1970.
    assert cell(panel, EGY, ISR, 1973, "init21_past10") == 4


def test_ussr_egypt_alignment(panel):
    assert cell(panel, EGY, RUS, 1960, "ally") == 1
    assert cell(panel, RUS, EGY, 1960, "ally") == 1
    assert cell(panel, EGY, RUS, 1977, "ally") == 0
    assert cell(panel, EGY, RUS, 1960, "aid21") == 1  # USSR gives aid to Egypt
    assert cell(panel, EGY, RUS, 1960, "aid12") == 0


def test_egypt_israel_allied_only_in_1979(panel):
    dyad = panel[(panel["ccode1"] == EGY) & (panel["ccode2"] == ISR)].set_index("year")
    assert dyad["ally"][dyad["ally"] == 1].index.tolist() == [1979]
    assert dyad.loc[1979, "ally_onset"] == 1
    assert dyad.loc[1979, "ally_formal"] == 1


def test_ally_onset_coverage(panel):
    assert panel.loc[panel["year"] == 1955, "ally_onset"].isna().all()
    later = panel[panel["year"] > 1955]
    assert later["ally_onset"].notna().all()
    # onset implies ally; Kuwait's first year brings onsets with the UK.
    assert (later.loc[later["ally_onset"] == 1, "ally"] == 1).all()
    assert cell(panel, KUW, UKG, 1961, "ally_onset") == 1
    assert cell(panel, KUW, UKG, 1962, "ally_onset") == 0


def test_symmetric_and_derived_columns(panel):
    back = panel.set_index(["ccode2", "ccode1", "year"]).sort_index()
    fwd = panel.set_index(["ccode1", "ccode2", "year"]).sort_index()
    for col in ("ally", "contiguous", "rivalry", "log_capdist", "ideo_sim", "neighbour2"):
        np.testing.assert_array_equal(fwd[col].to_numpy(), back[col].to_numpy(), err_msg=col)
    np.testing.assert_array_equal(fwd["aid21"].to_numpy(), back["aid12"].to_numpy())
    assert (panel["pledge12"] == panel["ally"]).all()
    assert not ((panel["contiguous"] == 1) & (panel["neighbour2"] == 1)).any()
    assert (panel["ally_formal"] <= panel["ally"]).all()
    # ideology: same regime 1, monarchies 0.5, Israel-Egypt 0
    assert cell(panel, 670, JOR, 1960, "ideo_sim") == 0.5
    assert cell(panel, 2, UKG, 1960, "ideo_sim") == 1.0
    assert cell(panel, EGY, ISR, 1960, "ideo_sim") == 0.0


def test_power_is_log_share(panel):
    usa = panel[(panel["ccode1"] == 2) & (panel["year"] == 1960)]["power1"].iloc[0]
    kuw = panel[(panel["ccode1"] == KUW) & (panel["year"] == 1965)]["power1"].iloc[0]
    assert np.log(0.15) < usa < np.log(0.30)
    assert kuw < np.log(0.002)
    assert (panel["power1"] < 0).all()


def test_alliance_rate_is_plausible(panel):
    assert 0.02 < panel["ally"].mean() < 0.30
    assert 0.005 < panel["init21"].mean() < 0.10


def test_panel_hash_is_stable(panel):
    from walt_bayes.panel.hashing import legacy_panel_sha256

    h = panel_sha256(panel)
    # The content hash fits on these data record, and the CSV-text one that fits before the
    # binary scheme store.  One value on every CPU: the derived logs, sines and arcsines come
    # from the C library (panel/portable_math.py), not from NumPy's AVX-512 loops, which had
    # made AVX-512 machines (rocketlake: legacy b158…) differ from AVX2 ones (znver3: 09ef…,
    # the values kept); tests/test_cpu_independence.py checks it under NumPy's CPU dispatch.
    assert h.startswith("c5112d58c16b")
    assert legacy_panel_sha256(panel).startswith("09eff482bb97")
    as_float = panel.astype({"ally": float})
    assert panel_sha256(as_float) != h  # the type label is part of the content
    nullable = panel.astype({"ally": "Int64"})
    assert panel_sha256(nullable) == h  # storage of the same integers is not
    shuffled = panel.sample(frac=1.0, random_state=1)[list(reversed(panel.columns))]
    assert panel_sha256(shuffled) == h
    changed = panel.copy()
    changed.loc[0, "ally"] = 1 - changed.loc[0, "ally"]
    assert panel_sha256(changed) != h
    code = (
        "from walt_bayes.panel.embedded import load_middle_east as f;"
        "from walt_bayes.panel.hashing import panel_sha256 as h; print(h(f()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == h


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "middle_east"
    shutil.copytree(resolve_data_dir(None), dest)
    return dest


def _edit(data_dir: Path, key: str, fn) -> None:
    path = data_dir / FILES[key]
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = fn(df)
    df.to_csv(path, index=False)


def _error(data_dir: Path) -> str:
    with pytest.raises(DataError) as info:
        load_middle_east(data_dir)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def _set(df: pd.DataFrame, row: int, col: str, value: str) -> pd.DataFrame:
    df.loc[row, col] = value
    return df


def test_unknown_ccode_in_episodes(data_copy):
    _edit(data_copy, "episodes", lambda d: _set(d, 3, "members", d.loc[3, "members"] + ";999"))
    msg = _error(data_copy)
    assert (
        "episodes.csv" in msg
        and "'members'" in msg
        and "unknown COW code" in msg
        and "row 5 " in msg
    )


def test_year_out_of_range_in_state_years(data_copy):
    _edit(data_copy, "state_years", lambda d: _set(d, 10, "year", "1990"))
    msg = _error(data_copy)
    assert "state_years.csv" in msg and "'year'" in msg and "1955-1979" in msg and "row 12 " in msg


def test_duplicate_state_year(data_copy):
    _edit(data_copy, "state_years", lambda d: pd.concat([d, d.iloc[[7]]], ignore_index=True))
    msg = _error(data_copy)
    assert "state_years.csv" in msg and "ccode+year" in msg and "duplicate" in msg


def test_missing_power(data_copy):
    _edit(data_copy, "state_years", lambda d: _set(d, 20, "power", ""))
    msg = _error(data_copy)
    assert (
        "state_years.csv" in msg
        and "'power'" in msg
        and "missing value" in msg
        and "row 22 " in msg
    )


def test_nonpositive_power(data_copy):
    _edit(data_copy, "state_years", lambda d: _set(d, 20, "power", "0"))
    msg = _error(data_copy)
    assert "state_years.csv" in msg and "'power'" in msg and "> 0" in msg


def test_episode_member_not_in_system(data_copy):
    # Kuwait (system entry 1961) in an episode in force in 1958.
    def corrupt(d):
        row = d.index[d["episode_id"] == "arab_union"][0]
        return _set(d, row, "members", d.loc[row, "members"] + ";690")

    _edit(data_copy, "episodes", corrupt)
    msg = _error(data_copy)
    assert "episodes.csv" in msg and "'members'" in msg and "not a system member" in msg


def test_missing_column(data_copy):
    _edit(data_copy, "contiguity", lambda d: d.drop(columns=["type"]))
    msg = _error(data_copy)
    assert "contiguity.csv" in msg and "'type'" in msg and "missing column" in msg


def test_missing_file(data_copy):
    (data_copy / "rivalries.csv").unlink()
    msg = _error(data_copy)
    assert "rivalries.csv" in msg and "not found" in msg


def test_unknown_regime(data_copy):
    _edit(data_copy, "state_years", lambda d: _set(d, 30, "regime", "theocracy"))
    msg = _error(data_copy)
    assert (
        "state_years.csv" in msg
        and "'regime'" in msg
        and "unknown regime" in msg
        and "row 32 " in msg
    )


def test_offense_out_of_range(data_copy):
    _edit(data_copy, "state_years", lambda d: _set(d, 40, "offense", "7"))
    msg = _error(data_copy)
    assert "state_years.csv" in msg and "'offense'" in msg and "0-4" in msg and "row 42 " in msg


def test_democracy_out_of_range(data_copy):
    _edit(data_copy, "state_years", lambda d: _set(d, 40, "democracy", "1.5"))
    msg = _error(data_copy)
    assert "state_years.csv" in msg and "'democracy'" in msg


def test_duplicate_hostile_act(data_copy):
    _edit(data_copy, "hostile_acts", lambda d: pd.concat([d, d.iloc[[5]]], ignore_index=True))
    msg = _error(data_copy)
    assert "hostile_acts.csv" in msg and "actor+target+year" in msg and "duplicate" in msg


def test_hostile_act_before_state_existed(data_copy):
    _edit(data_copy, "hostile_acts", lambda d: _set(d, 0, "target", str(ISR)))  # Israel in 1945
    msg = _error(data_copy)
    assert "hostile_acts.csv" in msg and "'year'" in msg and "not a system member" in msg


def test_duplicate_contiguity_pair(data_copy):
    _edit(data_copy, "contiguity", lambda d: pd.concat([d, d.iloc[[2]]], ignore_index=True))
    msg = _error(data_copy)
    assert "contiguity.csv" in msg and "ccode1+ccode2" in msg


def test_missing_state_year(data_copy):
    _edit(data_copy, "state_years", lambda d: d[~((d["ccode"] == "651") & (d["year"] == "1963"))])
    msg = _error(data_copy)
    assert "state_years.csv" in msg and "'year'" in msg and "651" in msg and "1963" in msg


def test_unknown_ccode_in_state_years(data_copy):
    _edit(data_copy, "state_years", lambda d: _set(d, 0, "ccode", "abc"))
    msg = _error(data_copy)
    assert "state_years.csv" in msg and "'ccode'" in msg and "row 2 " in msg


def test_load_episodes_validates_too(data_copy):
    _edit(data_copy, "episodes", lambda d: _set(d, 0, "formal", "2"))
    with pytest.raises(DataError, match=r"episodes\.csv: column 'formal'"):
        load_episodes(data_copy)


def test_empty_file(data_copy):
    _edit(data_copy, "states", lambda d: d.iloc[0:0])
    msg = _error(data_copy)
    assert "states.csv" in msg and "no data rows" in msg


def test_missing_data_dir(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_middle_east(tmp_path / "nowhere")
