"""Robustness studies (issue 24): study files, expansion into grid cells, the matrix, the words,
the Middle East slice of the global panel, and a tiny study end to end (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from walt_bayes.errors import WaltError
from walt_bayes.study.plan import StudyCell, StudyPlan, expand
from walt_bayes.study.studyfile import StudyError, load_study

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO.parent / "shared" / "data" / "peacesciencer"
HYPS = ["BAL-1", "BW-1", "COND-1", "COND-2", "IDEO-1", "BAL-3"]
ME = '[[data]]\nname = "middle-east"\n'
#: Panel columns of the two default data sets, without loading them.
COLUMNS = {
    "middle-east": frozenset({"ally", "ally_formal", "pledge12"}),
    "middle-east-atop": frozenset({"ally", "pledge12"}),
}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ study files
@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[grid]\nvariants = ["null"]\n' + ME, "grid: unknown section"),
        (ME, "[study]: missing table"),
        ('[study]\nvariant = ["null"]\n' + ME, "study.variant: unknown key"),
        ("[study]\n" + ME, "study.variants: missing"),
        ('[study]\nvariants = []\n' + ME, "study.variants: a non-empty list"),
        ('[study]\nvariants = ["no_such_variant"]\n' + ME, "study.variants:"),
        ('[study]\nvariants = ["null", "null"]\n' + ME, "study.variants: 'null' appears twice"),
        ('[study]\nvariants = ["null"]\noutcomes = ["treaty"]\n' + ME, "study.outcomes: 'treaty'"),
        ('[study]\nvariants = ["null"]\nseeds = [-1]\n' + ME, "study.seeds"),
        ('[study]\nvariants = ["null"]\nseeds = [1, 1]\n' + ME, "study.seeds: repeated seed"),
        ('[study]\nvariants = ["null"]\nprior_scales = [0]\n' + ME, "study.prior_scales"),
        ('[study]\nvariants = ["null"]\nhypotheses = ["BAL-9"]\n' + ME, "study.hypotheses: 'BAL-9'"),
        ('[study]\nvariants = ["null"]\ncomparison = "waic"\n' + ME, "study.comparison: 'waic'"),
        ('[study]\nvariants = ["null"]\nname = "a b"\n' + ME, "study.name"),
        ('[study]\nvariants = ["null"]\n', "[[data]]: at least one data set"),
        ('[study]\nvariants = ["null"]\n[[data]]\nname = "mars"\n', "data[0].name: 'mars'"),
        ('[study]\nvariants = ["null"]\n[[data]]\npath = "missing.parquet"\n', "data[0].path"),
        ('[study]\nvariants = ["null"]\n[[data]]\nname = "middle-east"\nworld = "x"\n', "data[0].world"),
        ('[study]\nvariants = ["null"]\n[[data]]\nname = "middle-east"\noutcomes = ["x"]\n',
         "data[0].outcomes: 'x'"),
        ('[study]\nvariants = ["null"]\n' + ME + ME, "data: two data sets are named 'middle-east'"),
        ('[study]\nvariants = ["null"]\n' + ME + '[[sensitivity]]\nvariants = ["full"]\nprior_scales = [2.0]\n',
         "sensitivity[0].variants: 'full'"),
        ('[study]\nvariants = ["null"]\n' + ME + '[[sensitivity]]\nvariants = ["null"]\n',
         "sensitivity[0]: needs variants and prior_scales"),
        ('[study]\nvariants = ["null"]\n' + ME + "[sampler]\ndraws = 0\n", "sampler.draws"),
        ('[study]\nvariants = ["null"]\n' + ME + "[sampler]\nthin = 2\n", "sampler.thin: unknown key"),
        ('[study]\nvariants = ["null"]\n' + ME + "[folds]\nk = 5\n", 'folds: only with comparison = "kfold"'),
        ('[study]\nvariants = ["null"]\ncomparison = "kfold"\n' + ME + "[folds]\nk = 1\n", "folds.k"),
        ('[study]\nvariants = ["null"]\ncomparison = "kfold"\n' + ME + '[folds]\ngroup = "state"\n',
         "folds.group"),
        ("[study\n", "not valid TOML"),
    ],
)
def test_bad_study_file_is_one_line_naming_the_key(tmp_path, text, key):
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(StudyError) as info:
        load_study(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert key in message


def test_missing_study_file(tmp_path):
    with pytest.raises(StudyError, match="no such study file"):
        load_study(tmp_path / "none.toml")


def test_bundled_studies_parse():
    small = load_study(REPO / "studies" / "walt.toml")
    assert list(small.variants) == ["null", "balance_of_power", "balance_of_threat", "ideology", "full"]
    assert [d.name for d in small.data] == ["middle-east", "middle-east-atop"]
    assert small.scales_for("balance_of_threat") == (1.0, 2.0)
    assert small.scales_for("null") == (1.0,)
    assert small.comparison == "loo" and small.hypotheses == tuple(HYPS)
    full = load_study(REPO / "studies" / "walt_full.toml")
    assert full.comparison == "kfold" and full.folds["k"] == 5
    assert {d.name for d in full.data} >= {"global-1816-2014", "global-1946-2014", "middle-east-atop"}


# ------------------------------------------------------------------ expansion into cells
def test_default_study_expands_to_18_cells(tmp_path):
    study = load_study(REPO / "studies" / "walt.toml")
    plan = expand(study, COLUMNS, tmp_path)
    ids = [c.cell_id for c in plan.cells]
    assert len(ids) == 18 == len(set(ids))  # 5 × 3 settings + balance_of_threat ×2 on each
    assert plan.skipped == [{"data": "middle-east-atop", "outcome": "ally_formal",
                             "reason": "the panel has no column 'ally_formal'"}]
    assert sum(c.prior_scale == 2.0 for c in plan.cells) == 3
    assert {c.variant for c in plan.cells if c.prior_scale == 2.0} == {"balance_of_threat"}
    assert "balance_of_threat.ally_formal.middle-east.s1.p2" in ids
    # A variant with another outcome than its spec's: a derived spec, same name, that outcome.
    from walt_bayes.spec import load_spec

    derived = next(c for c in plan.cells if c.outcome == "ally_formal" and c.variant == "full")
    spec = load_spec(derived.spec_ref)
    assert Path(derived.spec_ref).parent == (tmp_path / "specs").resolve()
    assert (spec.name, spec.alliance.outcome) == ("full", "ally_formal")
    same = next(c for c in plan.cells if c.outcome == "ally" and c.variant == "full")
    assert same.spec_ref == "full"  # the bundled spec itself: the hash of a plain grid cell


def test_full_study_expands(tmp_path):
    study = load_study(REPO / "studies" / "walt_full.toml")
    cols = {d.name: frozenset({"ally", "pledge12"}) for d in study.data}
    cols["middle-east"] = cols["middle-east-global-embedded"] = frozenset({"ally", "ally_formal", "pledge12"})
    plan = expand(study, cols)
    assert len(plan.cells) == 5 * 12 * 3 * 3
    assert len(plan.skipped) == 4  # ally_formal on the four ATOP panels


def test_cells_become_grid_tasks(tmp_path):
    from walt_bayes.study.run import cell_tasks

    text = ('[study]\nvariants = ["null", "balance_of_threat"]\noutcomes = ["ally", "ally_formal"]\n'
            + ME + '[[sensitivity]]\nvariants = ["null"]\nprior_scales = [2.0]\n[sampler]\ndraws = 50\n')
    study = load_study(write(tmp_path / "s.toml", text))
    plan = expand(study, {"middle-east": COLUMNS["middle-east"]}, tmp_path / "out")
    data = {"middle-east": {"path": "middle-east", "sha256": "0" * 64, "describe": "", "kind": "middle-east"}}
    tasks = cell_tasks(plan, tmp_path / "out", data, cores=1)
    assert list(tasks) == [c.cell_id for c in plan.cells]
    assert len(tasks) == 2 * (2 + 1)  # null at scales 1 and 2, balance_of_threat at 1; two outcomes
    for cell in plan.cells:
        t = tasks[cell.cell_id]
        assert Path(t["cell_dir"]) == (tmp_path / "out" / "cells" / cell.cell_id).resolve()
        assert t["row"]["variant"] == cell.variant and t["row"]["outcome"] == cell.outcome
        assert t["sampler"] == {"draws": 50} and t["seed"] == 1
        assert f'outcome = "{cell.outcome}"' in t["spec_toml"]
    assert len({t["hash"] for t in tasks.values()}) == len(tasks)
    assert "prior scale" in tasks["null.ally.middle-east.s1.p2"]["spec_toml"]


# ------------------------------------------------------------------ the matrix
@pytest.fixture(scope="module")
def study_with_fits(tmp_path_factory, small_fit):
    """A hand-made study folder whose two cells are the same tiny real fit: one as it was
    sampled and marked converged, one marked as having failed its convergence checks."""
    from walt_bayes.fit.fitfile import save_fit

    out = tmp_path_factory.mktemp("study")
    cells = [StudyCell("balance_of_threat", "balance_of_threat", "sim", "ally", 7, 1.0),
             StudyCell("balance_of_threat", "balance_of_threat", "sim", "ally", 7, 2.0)]
    records = {
        cells[0].cell_id: {"ok": True, "problems": []},
        cells[1].cell_id: {"ok": False, "problems": ["R-hat 1.31 > 1.01 (gamma_shared)"]},
    }
    rows = {}
    for c in cells:
        tree = small_fit.idata.copy()
        tree.attrs = dict(tree.attrs) | {"convergence": json.dumps(records[c.cell_id])}
        save_fit(tree, out / "cells" / c.cell_id / "fit.nc")
        rows[c.cell_id] = c.labels() | {"status": "done", "converged": records[c.cell_id]["ok"],
                                         "max_rhat": 1.0, "min_ess_bulk": 500.0, "divergences": 0}
    study = load_study(write(out / "s.toml", '[study]\nvariants = ["balance_of_threat"]\n' + ME))
    return StudyPlan(study, cells), rows, out


def test_matrix_marks_unconverged_cells_unreliable(study_with_fits):
    from walt_bayes.study.matrix import build_matrix, evidence_task, evidence_tasks

    plan, rows, out = study_with_fits
    tasks = evidence_tasks(plan, rows, out, {c: "h-" + c for c in rows})
    for t in tasks.values():
        assert evidence_task(t)["cached"] is False
        assert evidence_task(t)["cached"] is True  # resumed: the stamp matches
    m = build_matrix(plan, rows, out)
    assert list(m.columns[:3]) == ["id", "cell", "variant"]
    assert len(m) == 2 * len(HYPS)
    good = m[m["cell"] == plan.cells[0].cell_id].set_index("id")
    bad = m[m["cell"] == plan.cells[1].cell_id].set_index("id")
    judged = {"supported", "contradicted", "practically null", "inconclusive"}
    assert good.loc["BAL-1", "verdict"] in judged and np.isfinite(good.loc["BAL-1", "mean"])
    for hid in HYPS:
        if good.loc[hid, "verdict"] in judged:
            assert bad.loc[hid, "verdict"] == "unreliable"
            assert "convergence" in bad.loc[hid, "reason"]
        else:  # not testable stays not testable
            assert bad.loc[hid, "verdict"] == good.loc[hid, "verdict"]
    assert not bad["verdict"].isin(judged).any()
    assert bad["converged"].eq(False).all() and good["converged"].eq(True).all()


def test_matrix_never_shows_a_verdict_of_an_unconverged_or_failed_cell(study_with_fits):
    from walt_bayes.study.matrix import matrix_rows, read_evidence

    plan, rows, out = study_with_fits
    cell = plan.cells[0]
    evidence = read_evidence(out, cell.cell_id)
    assert evidence is not None
    # The grid row says the fit failed its checks although the evidence table judged: no verdict.
    got = matrix_rows(cell.labels(), rows[cell.cell_id] | {"converged": False}, evidence, HYPS)
    assert not any(r["verdict"] in ("supported", "contradicted", "practically null", "inconclusive")
                   for r in got)
    failed = matrix_rows(cell.labels(), {"status": "failed", "error": "ModelError: boom"}, None, HYPS)
    assert {r["verdict"] for r in failed} == {"fit failed"}
    assert failed[0]["reason"] == "ModelError: boom"


def test_sensitivity_table_pairs_prior_scales(study_with_fits):
    from walt_bayes.study.matrix import build_matrix, sensitivity_table

    plan, rows, out = study_with_fits
    sens = sensitivity_table(build_matrix(plan, rows, out))
    bal = sens[sens["id"] == "BAL-1"].set_index("prior_scale")
    assert list(bal.index) == [1.0, 2.0]
    assert bal.loc[1.0, "shift"] == 0 and not bal.loc[1.0, "verdict_changed"]
    assert bal.loc[2.0, "verdict"] == "unreliable" and bal.loc[2.0, "verdict_changed"]


def test_strength_profile_of_a_fit(small_fit):
    from walt_bayes.study.figures import strength_profile

    prof = strength_profile(small_fit, bins=4)
    assert set(prof["path"]) == {"S", "B"} and len(prof) == 8
    assert (prof["hdi_low"] <= prof["mean"]).all() and (prof["mean"] <= prof["hdi_high"]).all()
    # In every bin the balancing slope is gamma_shared plus its strength interaction there.
    d = small_fit.design
    post = small_fit.posterior
    s = prof[prof["path"] == "S"].set_index("bin")
    strength = d.controls[:, d.control_names.index("strength_i")]
    lowest = strength < np.nanquantile(strength, 0.25)  # bin 1: below the first quartile
    t_main, t_x = d.terms.index("shared"), d.terms.index("shared_x_strength")
    expect = (float(post["gamma_shared"].mean())
              + float(post["gamma_shared_x_strength"].mean()) * d.term_scale[t_main] / d.term_scale[t_x]
              * d.term_observed[lowest, t_x].mean())
    assert s.loc[1, "mean"] == pytest.approx(expect, rel=1e-6, abs=1e-9)


# ------------------------------------------------------------------ the words
def _matrix(rows) -> pd.DataFrame:
    cols = ["id", "variant", "data", "outcome", "seed", "prior_scale", "verdict", "reason"]
    return pd.DataFrame([dict(zip(cols, r, strict=True)) for r in rows])


def test_summary_counts_and_names_what_the_verdict_turns_on():
    from walt_bayes.study.summary import sentence, summarise

    m = _matrix([
        ("BAL-1", "balance_of_threat", "me", "ally", 1, 1.0, "supported", ""),
        ("BAL-1", "full", "me", "ally", 1, 1.0, "supported", ""),
        ("BAL-1", "balance_of_threat", "atop", "ally", 1, 1.0, "contradicted", ""),
        ("BAL-1", "full", "atop", "ally", 1, 1.0, "contradicted", ""),
        ("BAL-1", "balance_of_threat", "atop", "ally", 1, 2.0, "unreliable", "checks failed"),
        ("BAL-1", "null", "me", "ally", 1, 1.0, "not testable", "no threat block"),
        ("BW-1", "balance_of_threat", "me", "ally", 1, 1.0, "inconclusive", ""),
        ("BW-1", "balance_of_threat", "atop", "ally", 1, 1.0, "inconclusive", ""),
        ("IDEO-1", "null", "me", "ally", 1, 1.0, "not testable", "no ideology term"),
        ("COND-2", "balance_of_threat", "me", "ally", 1, 1.0, "unreliable", "R-hat"),
        ("COND-1", "balance_of_threat", "me", "ally", 1, 1.0, "supported", ""),
        ("COND-1", "balance_of_threat", "me", "ally_formal", 1, 1.0, "inconclusive", ""),
        ("COND-1", "full", "me", "ally", 1, 1.0, "inconclusive", ""),
    ])
    words = summarise(m, ["BAL-1", "BW-1", "IDEO-1", "COND-2"])
    assert words[0] == (
        "BAL-1 is supported in 2 of 5 settings (2 contradicted, 1 unreliable); the verdict turns on the "
        "data set (me: 2 supported; atop: 2 contradicted); not testable in 1 more."
    )
    assert words[1] == ("BW-1 is supported in 0 of 2 settings (2 inconclusive); the verdict is the same "
                        "(inconclusive) in every one of the 2 reliable settings.")
    assert words[2] == "IDEO-1 is not testable in any setting of this study (no ideology term)."
    assert words[3] == "COND-2 is supported in 0 of 1 setting (1 unreliable); no setting gives a reliable verdict."
    cond1 = sentence("COND-1", m[m["id"] == "COND-1"])
    assert cond1.startswith("COND-1 is supported in 1 of 3 settings (2 inconclusive); the verdict turns on ")
    # Both the variant and the measure move it (each with the other choices held fixed).
    assert "the theory variant (balance_of_threat: 1 supported, 1 inconclusive; full: 1 inconclusive)" in cond1
    assert "the alliance measure (ally: 1 supported, 1 inconclusive; ally_formal: 1 inconclusive)" in cond1


def test_summary_unmatched_disagreement():
    from walt_bayes.study.summary import sentence

    m = _matrix([
        ("BAL-1", "balance_of_threat", "me", "ally", 1, 1.0, "supported", ""),
        ("BAL-1", "full", "atop", "ally", 1, 1.0, "contradicted", ""),
    ])
    assert sentence("BAL-1", m) == (
        "BAL-1 is supported in 1 of 2 settings (1 contradicted); the verdicts differ, but no two reliable "
        "settings that differ in one choice only disagree (1 supported, 1 contradicted)."
    )


# ------------------------------------------------------------------ named panels
@pytest.fixture(scope="module")
def real_data(tmp_path_factory):
    if not (MIRROR / "atop_alliance.rda").exists():
        pytest.skip(f"no peacesciencer mirror at {MIRROR}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WALT_BAYES_MIRROR", str(MIRROR))
        mp.setenv("WALT_BAYES_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def test_middle_east_slices_share_the_embedded_rows(real_data):
    from walt_bayes.panel.datasets import load_dataset
    from walt_bayes.panel.embedded import load_middle_east
    from walt_bayes.panel.named import cache_path

    keys = ["ccode1", "ccode2", "year"]
    embedded = load_middle_east()
    atop = load_dataset("middle-east-atop")
    coded = load_dataset("middle-east-global-embedded")
    assert atop.name == "middle-east-atop"
    for ds in (atop, coded):
        assert ds.panel[keys].reset_index(drop=True).equals(embedded[keys].reset_index(drop=True))
        assert ds.panel["power1"].equals(atop.panel["power1"])  # covariates from the global sources
    assert "ally_formal" not in atop.panel.columns and "atop_defense" in atop.panel.columns
    for col in ("ally", "ally_formal", "pledge12"):
        assert np.array_equal(coded.panel[col].to_numpy(dtype=float), embedded[col].to_numpy(dtype=float))
    assert "atop_defense" not in coded.panel.columns
    assert coded.panel.attrs["data_dir"]  # duration and joining blocks read the embedded episodes
    assert atop.panel["ally"].mean() > embedded["ally"].mean()  # ATOP's Arab League treaties
    assert atop.panel.attrs["slice"]["global_rows_dropped"] == 34  # Syria 1958 (year-end rule)
    # Cached: the second load reads the file (same sha256).
    assert any(cache_path("middle-east-atop", "x").parent.glob("middle-east-atop-*.parquet"))
    assert load_dataset("middle-east-atop").sha256 == atop.sha256
    anyp = load_dataset("middle-east-atop-any").panel
    assert (anyp["ally"].astype(float) >= atop.panel["ally"].astype(float)).all()


def test_grid_and_study_accept_named_panels(tmp_path):
    from walt_bayes.grid.gridfile import load_grid

    grid = load_grid(write(tmp_path / "g.toml", '[grid]\nvariants = ["null"]\n[[data]]\nname = "middle-east-atop"\n'
                                                 '[[data]]\nname = "global-1946-2014"\n'))
    assert [(d.name, d.kind) for d in grid.data] == [("middle-east-atop", "named"), ("global-1946-2014", "named")]
    with pytest.raises(WaltError, match="global-A-B"):
        load_grid(write(tmp_path / "h.toml", '[grid]\nvariants = ["null"]\n[[data]]\nname = "mars"\n'))


def test_render_findings_refuses_a_folder_without_a_study(tmp_path):
    from walt_bayes.study.findings import render_findings

    with pytest.raises(WaltError, match="not a study folder"):
        render_findings(tmp_path)


# ------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_tiny_study_end_to_end(tmp_path):
    """2 variants × the embedded data, 2 chains × 100 draws: fits, matrix, LOO comparison, words and a
    findings HTML; a re-run resumes every cell."""
    from walt_bayes.study.results import load_results
    from walt_bayes.study.run import run_study

    text = ('[study]\nname = "tiny"\nvariants = ["null", "balance_of_threat"]\n'
            '[[data]]\nname = "middle-east"\n[sampler]\nchains = 2\ndraws = 100\ntune = 100\n')
    path = write(tmp_path / "tiny.toml", text)
    out = tmp_path / "out"
    result = run_study(path, out, scheduler="serial", progress=False)
    assert list(result.cells["status"]) == ["done", "done"]
    assert len(result.matrix) == 2 * len(HYPS)
    # 2 × 100 draws cannot pass the ESS ≥ 400 check: no verdict anywhere, every judged row unreliable.
    assert not result.cells["converged"].astype(bool).any()
    assert set(result.matrix["verdict"]) <= {"unreliable", "not testable"}
    assert "unreliable" in set(result.matrix["verdict"])
    assert set(result.comparison["variant"]) == {"null", "balance_of_threat"}
    assert result.summary[0].startswith("BAL-1 is supported in 0 of 1 setting (1 unreliable)")
    html = (out / "findings.html").read_text(encoding="utf-8")
    assert result.report == out / "findings.html"
    for needle in ("The verdict matrix", "BAL-1", "unreliable", "Prior sensitivity", "by state strength",
                   "data:image/png;base64"):
        assert needle in html
    back = load_results(out)
    assert back.summary == result.summary and len(back.matrix) == len(result.matrix)
    again = run_study(path, out, scheduler="serial", progress=False, render=False)
    assert list(again.cells["status"]) == ["finished earlier", "finished earlier"]
    same = [c for c in back.matrix.columns if c != "status"]  # "done" then "finished earlier"
    pd.testing.assert_frame_equal(again.matrix[same], back.matrix[same], check_dtype=False)
