"""Audit of the embedded Middle East episodes against ATOP (issue 24, walt_bayes.panel.me_audit).

The rule kept true here: every ATOP alliance with two or more panel states in force in 1955-1979 is
either matched by the embedded episodes or listed, with the reason, in CODEBOOK.md's table "ATOP
alliances left out"; and the module's list of ATOP alliances reproduces the mirror's dyad-years.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from walt_bayes.panel import me_audit
from walt_bayes.panel.embedded import resolve_data_dir

MIRROR = Path(__file__).resolve().parents[2] / "shared" / "data" / "peacesciencer"
ATOP_FILE = MIRROR / "atop_alliance.rda"
needs_mirror = pytest.mark.skipif(
    not ATOP_FILE.is_file(), reason=f"peacesciencer mirror not found at {MIRROR}"
)
CODEBOOK = resolve_data_dir(None) / "CODEBOOK.md"
REGENERATE = "regenerate with `uv run python -m walt_bayes.panel.me_audit` and update CODEBOOK.md"


@pytest.fixture(scope="module")
def audit() -> me_audit.Audit:
    from walt_bayes.sources.read import read_rda

    return me_audit.run_audit(read_rda(ATOP_FILE, "atop_alliance"))


# ------------------------------------------------------------------ the rule (needs the mirror)


@needs_mirror
def test_the_atop_list_reproduces_the_mirror(audit):
    def show(pairs):
        return ", ".join(f"{a}-{b} {y}" for a, b, y in sorted(pairs)[:10])

    assert not audit.unexplained, (
        f"{len(audit.unexplained)} ATOP dyad-years of panel states are explained by no alliance of "
        f"me_audit.ATOP_ALLIANCES (add the alliance): {show(audit.unexplained)}"
    )
    assert not audit.unbacked, (
        f"{len(audit.unbacked)} dyad-years of listed ATOP alliances are not in the mirror: "
        f"{show(audit.unbacked)}"
    )
    assert len(audit.atop) == 2811 and len(audit.universe) == 5480


@needs_mirror
def test_every_atop_alliance_is_matched_or_left_out_with_a_reason(audit):
    cov = audit.coverage()
    listed = me_audit.codebook_left_out(CODEBOOK)
    assert listed, f"no table under {me_audit.CODEBOOK_TABLE_HEADING!r} in CODEBOOK.md"
    unmatched = set(cov.loc[~cov["matched"], "atopid"])
    missing = sorted(unmatched - set(listed))
    assert not missing, (
        f"ATOP alliances neither matched by an episode nor listed in CODEBOOK.md "
        f"({me_audit.CODEBOOK_TABLE_HEADING}): {', '.join(missing)}"
    )
    unknown = sorted(set(listed) - set(cov["atopid"]))
    assert not unknown, (
        f"CODEBOOK.md lists ATOP ids that are not ATOP alliances of the panel: {unknown}"
    )
    for key, cells in listed.items():
        assert len(cells[-1]) > 20, f"{key}: give the reason it is left out"


@needs_mirror
def test_codebook_counts_and_figures_are_current(audit):
    cov = audit.coverage().set_index("atopid")
    for key, cells in me_audit.codebook_left_out(CODEBOOK).items():
        want = (str(cov.loc[key, "dyad_years"]), str(cov.loc[key, "covered"]))
        assert (cells[3], cells[4]) == want, f"{key}: counts in CODEBOOK.md are stale; {REGENERATE}"
    text = CODEBOOK.read_text(encoding="utf-8")
    for line in me_audit.agreement_markdown(audit).splitlines():
        assert line in text, f"agreement table line not in CODEBOOK.md: {line!r}; {REGENERATE}"


@needs_mirror
def test_known_matches_and_gaps(audit):
    cov = audit.coverage().set_index("atopid")
    # NATO, CENTO and the Soviet treaties are coded; the Arab League's collective treaties are not.
    for key in ("3180", "3275", "3670", "3690", "3465", "3807"):
        assert cov.loc[key, "matched"], key
    for key in me_audit.ARAB_LEAGUE:
        assert not cov.loc[key, "matched"] and cov.loc[key, "dyad_years"] > 2000
    tab = me_audit.agreement_tables(audit).set_index("label")
    row = tab.loc["all episodes"]
    assert row["kappa_x"] > 0.4 and row["recall_x"] > 0.55
    assert tab.loc["formal episodes", "precision"] > 0.9  # formal episodes are nearly all in ATOP


# ------------------------------------------------------------------ pieces (no mirror needed)


def test_kappa_recall_precision_on_a_known_table():
    ag = me_audit.agreement(
        {(1, 2, 1)} | {(1, 3, y) for y in range(3)},
        {(1, 2, 1), (2, 3, 1)},
        {(a, b, y) for a, b in [(1, 2), (1, 3), (2, 3)] for y in range(4)},
    )
    assert (ag.n, ag.both, ag.ours_only, ag.atop_only, ag.neither) == (12, 1, 3, 1, 7)
    assert ag.recall == pytest.approx(0.5) and ag.precision == pytest.approx(0.25)
    po, pe = 8 / 12, (4 / 12) * (2 / 12) + (8 / 12) * (10 / 12)
    assert ag.kappa == pytest.approx((po - pe) / (1 - pe))
    same = me_audit.agreement({(1, 2, 1)}, {(1, 2, 1)}, {(1, 2, 1), (1, 3, 1)})
    assert same.kappa == pytest.approx(1.0)


def test_alliance_pair_years_respect_membership_and_the_panel():
    al = me_audit.AtopAlliance(
        "x", "test", 1950, "D", ((651, 1950, 1979), (652, 1950, 2011), (663, 1956, 1957))
    )
    members = {(c, y) for c in (651, 663) for y in range(1955, 1980)}
    members |= {(652, y) for y in range(1955, 1980) if y not in (1958, 1959, 1960)}
    got = al.pair_years(members)
    assert (651, 652, 1955) in got and (651, 652, 1958) not in got and (651, 652, 1979) in got
    assert {(a, b, y) for a, b, y in got if b == 663} == {
        (651, 663, 1956),
        (651, 663, 1957),
        (652, 663, 1956),
        (652, 663, 1957),
    }
    assert all(1955 <= y <= 1979 for _, _, y in got)


def test_episode_kind():
    majors = {2, 200, 220, 365}
    assert me_audit.episode_kind((2, 663), majors) == "great_power"
    assert me_audit.episode_kind((651, 652), majors) == "regional_bilateral"
    assert me_audit.episode_kind((651, 652, 663), majors) == "regional_multilateral"


def test_codebook_table_parser(tmp_path):
    md = tmp_path / "c.md"
    md.write_text(
        "# x\n\n### ATOP alliances left out\n\nintro\n\n| ATOP | alliance | reason |\n|---|---|---|\n"
        "| 3015 | Pact | universal membership |\n| `uk_qatar_1971` | UK-Qatar | as 3677 |\n\nafter\n"
        "| 9999 | not in the table | x |\n",
        encoding="utf-8",
    )
    got = me_audit.codebook_left_out(md)
    assert list(got) == ["3015", "uk_qatar_1971"] and got["3015"][-1] == "universal membership"
    md.write_text("no table here\n", encoding="utf-8")
    assert me_audit.codebook_left_out(md) == {}


def test_every_listed_atop_alliance_has_two_panel_members():
    codes = {
        2,
        200,
        220,
        365,
        600,
        615,
        616,
        620,
        625,
        630,
        640,
        645,
        651,
        652,
        660,
        663,
        666,
        670,
        678,
        680,
        690,
        692,
        694,
        696,
        698,
    }
    ids = [al.atopid for al in me_audit.ATOP_ALLIANCES]
    assert len(ids) == len(set(ids)) == 50
    for al in me_audit.ATOP_ALLIANCES:
        assert len({c for c, _, _ in al.members}) >= 2 and {c for c, _, _ in al.members} <= codes
        assert set(al.pledges) <= set("DONAC") and al.pledges
