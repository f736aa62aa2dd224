"""Wartime joining (COND-5): the embedded war_joining.csv, joiners from COW wars, the offset model."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from walt_bayes.errors import DataError, ModelError
from walt_bayes.model.joining import JoiningArrays, joining_block
from walt_bayes.panel.war_joining import COLUMNS, joiners_from_cow, load_war_joining
from walt_bayes.spec import parse_spec

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "middle_east"
MIRROR = REPO.parent / "shared" / "data" / "peacesciencer"

SPEC = """
[model]
name = "joining_only"

[alliance]
terms = ["ideology"]
controls = []
group = "none"
dyad_intercepts = false
year_intercepts = false
"""


def test_bundled_file_loads_and_gives_chance_shares():
    table = load_war_joining()
    assert list(table.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert len(table) == 12 and table["war_id"].nunique() == 6
    decided = table.loc[table["side_won"].notna()]
    assert len(decided) == 11 and int(decided["side_won"].sum()) == 3
    # The War of Attrition ended without a victor: no sides' sizes either.
    attrition = table.loc[table["war_id"] == "attrition_1969"].iloc[0]
    assert pd.isna(attrition["side_won"]) and pd.isna(attrition["winner_side_before"])
    # Jordan joined the October War after Egypt, Syria and Iraq: chance 1 / (1 + 3).
    jordan = table.loc[(table["war_id"] == "october_1973") & (table["joiner"] == 663)].iloc[0]
    assert (jordan["winner_side_before"], jordan["loser_side_before"]) == (1, 3)


def _copy_data(tmp_path: Path) -> Path:
    target = tmp_path / "me"
    shutil.copytree(DATA, target)
    return target


def _edit(path: Path, line: int, column: str, value: str) -> None:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[line - 2, column] = value  # CSV line -> data row (header = line 1)
    df.to_csv(path, index=False)


@pytest.mark.parametrize(
    ("edit", "column", "needle", "line"),
    [
        (("join_year", "1960"), "join_year", "outside the war's years", 5),
        (("joiner", "999"), "joiner", "unknown COW code", 5),
        (("joiner", "690"), "joiner", "not a system member", 2),  # Kuwait in the Suez war: not yet a member
        (("side_won", "2"), "side_won", "must be 0, 1 or empty", 5),
        (("loser_side_before", ""), "winner_side_before", "side sizes must be given", 5),
        (("winner_side_before", "0"), "winner_side_before", "at least 1", 5),
        (("war_id", "Six Day"), "war_id", "lowercase slug", 5),
        (("war_start_year", "1966"), "war_name", "disagree", 5),
        (("uncertain", "maybe"), "uncertain", "not of type", 5),
    ],
)
def test_bad_rows_give_one_line_errors_naming_file_column_and_line(tmp_path, edit, column, needle, line):
    data = _copy_data(tmp_path)
    path = data / "war_joining.csv"
    _edit(path, line, *edit)
    with pytest.raises(DataError) as err:
        load_war_joining(data)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("war_joining.csv: column ") and repr(column) in msg, msg
    assert needle in msg and re.search(rf"at CSV rows? {line}\b", msg), msg


def test_duplicate_joiner_missing_column_and_missing_file(tmp_path):
    data = _copy_data(tmp_path)
    path = data / "war_joining.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.concat([df, df.iloc[[3]]]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"war_joining.csv: column 'war_id\+joiner': duplicate key"):
        load_war_joining(data)
    df.drop(columns=["loser_side_before"]).to_csv(path, index=False)
    with pytest.raises(DataError, match="missing column"):
        load_war_joining(data)
    path.unlink()
    with pytest.raises(DataError, match="file not found"):
        load_war_joining(data)


def test_a_data_folder_without_the_file_drops_the_block_or_refuses(tmp_path):
    from walt_bayes.model.design import build_design
    from walt_bayes.panel.embedded import load_middle_east

    data = _copy_data(tmp_path)
    (data / "war_joining.csv").unlink()
    panel = load_middle_east(data)
    design = build_design(panel, parse_spec(SPEC + "[joining]\ndrop_unavailable = true\n"))
    assert design.joining is None and "no war_joining.csv" in design.dropped_terms["joining"]
    with pytest.raises(ModelError, match=r"wartime-joining block: no war_joining\.csv"):
        build_design(panel, parse_spec(SPEC + "[joining]\n"))


def test_a_bad_row_stops_the_design_with_the_loader_message(tmp_path):
    from walt_bayes.model.design import build_design
    from walt_bayes.panel.embedded import load_middle_east

    data = _copy_data(tmp_path)
    _edit(data / "war_joining.csv", 3, "join_year", "1990")
    with pytest.raises(DataError, match=r"war_joining\.csv: column 'join_year'"):
        build_design(load_middle_east(data), parse_spec(SPEC + "[joining]\ndrop_unavailable = true\n"))


def test_exclude_uncertain_keeps_only_firm_codings():
    from walt_bayes.model.design import build_design
    from walt_bayes.panel.embedded import load_middle_east

    panel = load_middle_east()
    design = build_design(panel, parse_spec(SPEC + "[joining]\nexclude_uncertain = true\n"))
    j = design.joining
    assert j.n == 3 and j.uncertain.sum() == 0 and j.y.sum() == 0
    assert sorted(j.keys["ccode"].tolist()) == [620, 645, 663]
    np.testing.assert_allclose(sorted(j.chance), [1 / 4, 1 / 3, 1 / 2])


def test_the_model_is_given_the_tables_that_go_with_the_panel():
    """Issue 21: panel/ says which tables go with a panel (the Dataset carries them) and reads them;
    the model is given them.  Without them the block has no joiners, whatever the panel's attrs say."""
    from walt_bayes.model.design import build_design
    from walt_bayes.panel.companions import NONE, Companions, companions_for
    from walt_bayes.panel.datasets import load_dataset

    ds = load_dataset("middle-east")
    assert ds.companions == companions_for(ds.panel)
    assert ds.companions.embedded and not ds.companions.global_cow
    assert companions_for(ds.panel.assign(war=0)) == Companions(ds.companions.data_dir, True, True)
    spec = parse_spec(SPEC + "[joining]\ndrop_unavailable = true\n")
    given, default = build_design(ds.panel, spec, companions=ds.companions), build_design(ds.panel, spec)
    assert given.joining.n == default.joining.n == 11
    pd.testing.assert_frame_equal(given.joining.keys, default.joining.keys)
    none = build_design(ds.panel, spec, companions=NONE)
    assert none.joining is None and "no war-joining data" in none.dropped_terms["joining"]


def test_the_model_imports_no_reader_of_the_panel():
    """model/ reads no file: of panel/ it imports the check of a panel and the companions' type."""
    import ast

    allowed = {"walt_bayes.panel.datasets": {"check_panel"},
               "walt_bayes.panel.companions": {"Companions", "companions_for"}}
    for path in sorted((REPO / "walt_bayes" / "model").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
                assert not [n for n in names if n.startswith(("walt_bayes.panel", "walt_bayes.sources"))], path
            elif isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith(("walt_bayes.panel", "walt_bayes.sources", "walt_bayes.paths")):
                    assert {a.name for a in node.names} <= allowed.get(node.module, set()), (path.name, node.module)


def test_joiners_from_cow_wars_by_year_of_entry():
    rows = []

    def fight(war, a, b, years, out_a, out_b):
        for y in years:
            rows.append((war, a, b, y, out_a, out_b))
            rows.append((war, b, a, y, out_b, out_a))

    fight(1, 10, 20, [1900, 1901, 1902], 1, 2)  # 10 beats 20 from the onset
    fight(1, 30, 20, [1901, 1902], 1, 2)  # 30 joins the winners in 1901
    fight(1, 40, 10, [1902], 2, 1)  # 40 joins the losers in 1902
    fight(1, 50, 20, [1900], 1, 2)  # 50 fights from the onset year: not a joiner
    fight(1, 60, 20, [1902], 8, 2)  # 60 changed sides: left out
    fight(2, 70, 80, [1910], 3, 3)  # a tie, then a joiner: no winner, left out
    fight(2, 90, 80, [1911], 3, 3)
    wars = pd.DataFrame(rows, columns=["warnum", "ccode1", "ccode2", "year", "outcome1", "outcome2"])
    out = joiners_from_cow(wars).set_index("joiner")
    assert sorted(out.index) == [30, 40]
    assert out.loc[30, ["side_won", "winner_side_before", "loser_side_before"]].tolist() == [1, 2, 1]
    # By 1902 the winners were 10, 50 and 30 (60's outcome is 8 and counts on neither side).
    assert out.loc[40, ["side_won", "winner_side_before", "loser_side_before"]].tolist() == [0, 3, 1]
    assert out.loc[40, "war_start_year"] == 1900 and out.loc[40, "war_end_year"] == 1902


@pytest.mark.skipif(not (MIRROR / "cow_war_inter.rda").exists(), reason="no peacesciencer mirror")
def test_joiners_from_the_real_cow_wars(monkeypatch, tmp_path):
    from walt_bayes.sources.read import read_source

    monkeypatch.setenv("WALT_BAYES_MIRROR", str(MIRROR))
    monkeypatch.setenv("WALT_BAYES_CACHE", str(tmp_path / "cache"))
    out = joiners_from_cow(read_source("cow_war_inter"))
    libya = out.loc[(out["joiner"] == 620) & (out["join_year"] == 1979)]
    assert len(libya) == 1 and libya["side_won"].iloc[0] == 0  # joined Uganda against Tanzania
    # Year-level entry: Jordan's same-year entry into the 1973 war is not a joining.
    assert not ((out["joiner"] == 663) & (out["join_year"] == 1973)).any()
    assert (out["winner_side_before"] >= 1).all() and (out["loser_side_before"] >= 1).all()


def test_the_offset_makes_join_winner_zero_the_chance_share():
    import pymc as pm

    spec = parse_spec(SPEC)
    chance = np.array([0.5, 0.25, 0.2, 0.5])
    y = np.array([1, 0, 0, 1])
    arrays = JoiningArrays(keys=pd.DataFrame({"war": ["a"] * 4, "ccode": [1, 2, 3, 4], "year": [1] * 4}),
                           y=y, chance=chance, uncertain=np.zeros(4, dtype=int))
    with pm.Model() as model:
        joining_block(SimpleNamespace(joining=arrays), spec)
    logp = model.compile_logp(vars=[model["joined_winner"]], sum=True)
    expected = np.sum(y * np.log(chance) + (1 - y) * np.log(1 - chance))
    np.testing.assert_allclose(logp({"join_winner": 0.0}), expected)
    # A log-odds shift of 1 moves every share the same way on the logit scale.
    odds = chance / (1 - chance) * np.e
    p1 = odds / (1 + odds)
    np.testing.assert_allclose(logp({"join_winner": 1.0}), np.sum(y * np.log(p1) + (1 - y) * np.log(1 - p1)))


def test_join_winner_is_recovered():
    """400 joiners drawn with join_winner = 0.8 over chance shares between 0.2 and 0.8."""
    import pymc as pm

    rng = np.random.default_rng(1)
    n = 400
    chance = rng.uniform(0.2, 0.8, size=n)
    p = 1 / (1 + np.exp(-(np.log(chance / (1 - chance)) + 0.8)))
    y = (rng.random(n) < p).astype(int)
    arrays = JoiningArrays(keys=pd.DataFrame({"war": ["w"] * n, "ccode": np.arange(n), "year": [1] * n}),
                           y=y, chance=chance, uncertain=np.zeros(n, dtype=int))
    with pm.Model() as model:
        joining_block(SimpleNamespace(joining=arrays), parse_spec(SPEC))
    idata = pm.sample(draws=400, tune=300, chains=2, cores=1, random_seed=2, progressbar=False, model=model,
                      nuts_sampler="pymc", compile_kwargs={"mode": "FAST_COMPILE"})
    draws = idata["posterior"]["join_winner"].values.ravel()
    assert abs(draws.mean() - 0.8) < 3 * draws.std() and draws.std() < 0.2


def test_codebook_documents_the_file_and_its_columns():
    text = (DATA / "CODEBOOK.md").read_text(encoding="utf-8")
    assert "`war_joining.csv`" in text
    header = pd.read_csv(DATA / "war_joining.csv", nrows=0).columns
    assert list(header) == list(COLUMNS)
    for col in header:
        assert f"`{col}`" in text, col


@pytest.mark.skipif(not (MIRROR / "cow_war_inter.rda").exists(), reason="no peacesciencer mirror")
def test_case_control_relevance_does_not_decide_the_joiners(monkeypatch, tmp_path):
    """Joiners are states entering wars, not dyad-years: the block reads the whole panel even when
    case control keeps only politically relevant dyads.  Here France (220), which joined the Ifni war
    in 1958, has no relevant dyad at all; it stays a joiner."""
    from walt_bayes.model import casecontrol
    from walt_bayes.model.design import build_design
    from walt_bayes.model.simulate import simulate_covariates

    monkeypatch.setenv("WALT_BAYES_MIRROR", str(MIRROR))
    monkeypatch.setenv("WALT_BAYES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(casecontrol, "AUTO_MIN_ALLIANCE_ROWS", 0)  # relevant dyads only, as on the global panel
    rng = np.random.default_rng(3)
    panel = simulate_covariates(6, 4, rng, first_year=1955)
    codes = {10: 200, 20: 220, 30: 666, 40: 651, 50: 2, 60: 365}
    for col in ("ccode1", "ccode2"):
        panel[col] = panel[col].map(codes)
    panel["ally"] = (rng.random(len(panel)) < 0.3).astype(int)
    panel["war"] = 0
    france = (panel["ccode1"] == 220) | (panel["ccode2"] == 220)
    panel.loc[france, ["contiguous", "rivalry"]] = 0
    panel.loc[~france, "contiguous"] = 1
    spec = parse_spec(SPEC.replace('year_intercepts = false', 'year_intercepts = false\n'
                                   'relevance = ["contiguous", "rival"]') + "\n[joining]\n")
    design = build_design(panel, spec, case_control="0.5", seed=2)
    assert design.case_control["relevant_dyads"]["kept"] == int((~france).sum())
    assert 220 not in set(design.ally_keys["ccode1"]) | set(design.ally_keys["ccode2"])
    assert design.joining.keys[["war", "ccode", "year"]].values.tolist() == [["cow_158", 220, 1958]]
