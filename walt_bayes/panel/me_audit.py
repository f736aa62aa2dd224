"""Audit of the embedded Middle East alignment coding against ATOP (issue 24).

The embedded ``episodes.csv`` is our own coding of Walt's alignments.  This module
compares its allied **undirected dyad-years** with the ATOP alliance data of the
peacesciencer mirror (``atop_alliance``, ATOP 5.1, directed dyad-years) on the
panel's own universe: pairs of states of ``states.csv`` that are both system
members (``state_years.csv``) in a year of 1955-1979.

The mirror carries pledge flags per dyad-year but no alliance identifiers, so the
ATOP alliances behind those dyad-years are listed in ``data/middle_east/atop_reference.csv``
(read into :data:`ATOP_ALLIANCES` by :mod:`walt_bayes.panel.me_atop_reference`; columns
in CODEBOOK.md, *ATOP reference list*),
transcribed from ATOP's member-level file (ATOP v4, Leeds et al.; ``atopid``,
members and their entry and exit years, restricted to panel states; read from the
copy in the public replication archive ``joshuaalley/arms-allies``,
``data/atop-member-level.csv``).  The list is
checked mechanically: :func:`reconcile` must find that its dyad-years are exactly
the mirror's (``tests/test_me_atop.py``), so every ATOP 5.1 dyad-year of the
panel is explained by a listed alliance and no listed alliance claims a dyad-year
the mirror lacks.  Two UK friendship treaties of 1971 (Qatar, UAE) are ATOP 5.1
additions that the v4 file does not have; they carry our own keys.

Each ATOP alliance is **matched** when at least :data:`MATCH_SHARE` of its panel
dyad-years are allied in the embedded coding; every other one must be listed,
with the reason it is left out, in the table *ATOP alliances left out* of
``data/middle_east/CODEBOOK.md`` (:func:`codebook_left_out`).

Agreement is measured on undirected dyad-years (both coders' "allied" as 0/1):
Cohen's kappa, recall (share of ATOP's allied dyad-years that the embedded coding
also has) and precision (share of the embedded allied dyad-years that ATOP also
has), overall, per ATOP pledge type and per episode kind (:func:`agreement_tables`;
the measures are :mod:`walt_bayes.panel.me_agreement`).

Run ``python -m walt_bayes.panel.me_audit`` (with ``WALT_BAYES_MIRROR`` pointing at
the mirror, or the file cached) to print the figures as Markdown.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import pandas as pd

from walt_bayes.panel.embedded import FIRST_YEAR, MiddleEastTables, load_tables, resolve_data_dir
from walt_bayes.panel.me_agreement import Agreement as Agreement
from walt_bayes.panel.me_agreement import agreement
from walt_bayes.panel.me_atop_reference import ATOP_ALLIANCES, Pair
from walt_bayes.panel.me_atop_reference import ATOP_REFERENCE_COLUMNS as ATOP_REFERENCE_COLUMNS
from walt_bayes.panel.me_atop_reference import ATOP_REFERENCE_FILE as ATOP_REFERENCE_FILE
from walt_bayes.panel.me_atop_reference import ONGOING as ONGOING
from walt_bayes.panel.me_atop_reference import AtopAlliance as AtopAlliance
from walt_bayes.panel.me_atop_reference import load_atop_alliances as load_atop_alliances
from walt_bayes.panel.me_derive import member_pairs
from walt_bayes.sources.read import read_source

#: Share of an ATOP alliance's panel dyad-years that the embedded coding must ally
#: for the alliance to count as matched.
MATCH_SHARE = 0.5
#: ATOP pledge flags of the mirror, in ATOP's order, with their one-letter codes.
PLEDGES = {
    "atop_defense": "D",
    "atop_offense": "O",
    "atop_neutral": "N",
    "atop_nonagg": "A",
    "atop_consul": "C",
}
#: The Arab League's two collective treaties: between them they make most of ATOP's
#: panel dyad-years, so agreement is also reported without them.
ARAB_LEAGUE = ("3015", "3205")
#: Heading of the codebook section whose table lists the ATOP alliances left out.
CODEBOOK_TABLE_HEADING = "### ATOP alliances left out"


# --------------------------------------------------------------------------- data


def member_years(tables: MiddleEastTables) -> set[tuple[int, int]]:
    """``(ccode, year)`` of every panel state-year (``state_years.csv``)."""
    sy = tables.state_years
    return set(zip(sy["ccode"].astype(int), sy["year"].astype(int), strict=True))


def universe(members: set[tuple[int, int]]) -> set[Pair]:
    """Every undirected panel dyad-year ``(lo, hi, year)``."""
    by_year: dict[int, list[int]] = {}
    for c, y in members:
        by_year.setdefault(y, []).append(c)
    return {(a, b, y) for y, codes in by_year.items() for a, b in combinations(sorted(codes), 2)}


def read_atop(
    atop: pd.DataFrame | None = None, *, mirror: str | Path | None = None
) -> pd.DataFrame:
    """The mirror's ``atop_alliance`` frame (read through the source cache when not given)."""
    if atop is not None:
        return atop
    return read_source("atop_alliance", mirror=mirror)


def atop_pair_years(atop: pd.DataFrame, members: set[tuple[int, int]]) -> pd.DataFrame:
    """ATOP's undirected panel dyad-years with the pledge flags of either direction.

    Returns
    -------
    pandas.DataFrame
        ``lo, hi, year`` and one 0/1 column per ATOP pledge (``atop_defense`` ...),
        1 if the flag is set in either direction; one row per dyad-year with an
        ATOP row, restricted to pairs of panel states that are both members.
    """
    df = atop[["ccode1", "ccode2", "year", *PLEDGES]].copy()
    for col in ("ccode1", "ccode2", "year"):
        df[col] = df[col].astype("int64")
    ok = [
        (a, y) in members and (b, y) in members
        for a, b, y in zip(df["ccode1"], df["ccode2"], df["year"], strict=True)
    ]
    df = df[ok]
    df = df.assign(lo=df[["ccode1", "ccode2"]].min(axis=1), hi=df[["ccode1", "ccode2"]].max(axis=1))
    flags = df.groupby(["lo", "hi", "year"], as_index=False)[list(PLEDGES)].max()
    return (
        flags.astype({c: "int64" for c in PLEDGES})
        .sort_values(["lo", "hi", "year"])
        .reset_index(drop=True)
    )


def _keys(df: pd.DataFrame) -> set[Pair]:
    """The ``(lo, hi, year)`` rows of a frame as a set."""
    return set(zip(df["lo"].astype(int), df["hi"].astype(int), df["year"].astype(int), strict=True))


def alliance_pair_years(members: set[tuple[int, int]]) -> dict[str, set[Pair]]:
    """Panel dyad-years of each listed ATOP alliance, by ``atopid``."""
    return {al.atopid: al.pair_years(members) for al in ATOP_ALLIANCES}


def reconcile(
    atop_pairs: set[Pair], by_alliance: dict[str, set[Pair]]
) -> tuple[set[Pair], set[Pair]]:
    """``(unexplained, unbacked)``: mirror dyad-years no listed alliance explains, and
    dyad-years of listed alliances that the mirror lacks.  Both are empty when the
    list reproduces ATOP."""
    listed = set().union(*by_alliance.values()) if by_alliance else set()
    return atop_pairs - listed, listed - atop_pairs


def episode_kind(members: Iterable[int], majors: set[int]) -> str:
    """Kind of an episode by its membership: ``great_power`` (a great power among the
    members), ``regional_multilateral`` (three or more regional states) or
    ``regional_bilateral``."""
    members = tuple(members)
    if any(c in majors for c in members):
        return "great_power"
    return "regional_multilateral" if len(members) >= 3 else "regional_bilateral"


def embedded_pair_years(tables: MiddleEastTables) -> pd.DataFrame:
    """Allied undirected panel dyad-years of the embedded episodes, one row per episode.

    Returns
    -------
    pandas.DataFrame
        ``lo, hi, year, episode_id, formal, kind`` for 1955-1979 (a dyad-year in
        several episodes has several rows).
    """
    majors = set(tables.state_years.loc[tables.state_years["major"] == 1, "ccode"].astype(int))
    rows = []
    for eid, mem, s, e, formal in zip(
        tables.episodes["episode_id"],
        tables.episodes["members"],
        tables.episodes["start_year"],
        tables.episodes["end_year"],
        tables.episodes["formal"],
        strict=True,
    ):
        kind = episode_kind(mem, majors)
        for lo, hi in member_pairs(mem):
            for year in range(max(int(s), FIRST_YEAR), int(e) + 1):
                rows.append((lo, hi, year, eid, int(formal), kind))
    return pd.DataFrame(rows, columns=["lo", "hi", "year", "episode_id", "formal", "kind"])


@dataclass(frozen=True)
class Audit:
    """Everything the audit computes (see :func:`run_audit`)."""

    universe: set[Pair]
    atop: pd.DataFrame  # atop_pair_years
    ours: pd.DataFrame  # embedded_pair_years
    by_alliance: dict[str, set[Pair]]
    unexplained: set[Pair]
    unbacked: set[Pair]

    @property
    def atop_keys(self) -> set[Pair]:
        """ATOP's allied dyad-years (the mirror's)."""
        return _keys(self.atop)

    @property
    def our_keys(self) -> set[Pair]:
        """The embedded coding's allied dyad-years."""
        return _keys(self.ours)

    def coverage(self) -> pd.DataFrame:
        """Per ATOP alliance: panel dyad-years, share allied in the embedded coding,
        the episodes that overlap it, and whether it counts as matched."""
        ours = self.ours
        allied = self.our_keys
        rows = []
        for al in ATOP_ALLIANCES:
            keys = self.by_alliance[al.atopid]
            hit = keys & allied
            share = len(hit) / len(keys) if keys else float("nan")
            eps = ours[[k in hit for k in zip(ours["lo"], ours["hi"], ours["year"], strict=True)]]
            rows.append(
                {
                    "atopid": al.atopid,
                    "name": al.name,
                    "signed": al.signed,
                    "pledges": al.pledges,
                    "dyad_years": len(keys),
                    "covered": len(hit),
                    "share": share,
                    "matched": bool(keys) and share >= MATCH_SHARE,
                    "episodes": ";".join(sorted(set(eps["episode_id"]))),
                }
            )
        return pd.DataFrame(rows)


def run_audit(
    atop: pd.DataFrame | None = None,
    data_dir: str | Path | None = None,
    *,
    mirror: str | Path | None = None,
) -> Audit:
    """Load both codings and reconcile the ATOP alliance list with the mirror.

    Parameters
    ----------
    atop : pandas.DataFrame, optional
        The ``atop_alliance`` frame; read through the source cache (and ``mirror``
        or ``WALT_BAYES_MIRROR``) when not given.
    data_dir : path-like, optional
        Folder with the embedded CSV files (the bundled one when ``None``).
    """
    tables = load_tables(data_dir)
    members = member_years(tables)
    atop_pairs = atop_pair_years(read_atop(atop, mirror=mirror), members)
    by_alliance = alliance_pair_years(members)
    unexplained, unbacked = reconcile(_keys(atop_pairs), by_alliance)
    return Audit(
        universe(members),
        atop_pairs,
        embedded_pair_years(tables),
        by_alliance,
        unexplained,
        unbacked,
    )


def reference_sets(audit: Audit) -> dict[str, set[Pair]]:
    """ATOP's allied dyad-years as references for the comparison.

    ``all``: every ATOP dyad-year of the mirror; ``no_arab_league``: those that an
    ATOP alliance other than the Arab League's two collective treaties
    (:data:`ARAB_LEAGUE`) also covers; ``arab_league``: the dyad-years the two
    treaties cover (pairs of League members).  Per pledge type, ``all:<flag>`` comes
    from the mirror's flags and ``no_arab_league:<flag>`` from the listed
    alliances' pledges.
    """
    other = {k: v for k, v in audit.by_alliance.items() if k not in ARAB_LEAGUE}
    out = {
        "all": audit.atop_keys,
        "no_arab_league": set().union(*other.values()),
        "arab_league": set().union(*(audit.by_alliance[k] for k in ARAB_LEAGUE)),
    }
    pledge_of = {al.atopid: al.pledges for al in ATOP_ALLIANCES}
    for col, code in PLEDGES.items():
        out[f"all:{code}"] = _keys(audit.atop[audit.atop[col] == 1])
        out[f"no_arab_league:{code}"] = set().union(
            *(v for k, v in other.items() if code in pledge_of[k])
        )
    return out


def _agreement_row(
    group: str,
    label: str,
    ours: set[Pair],
    atop: set[Pair],
    atop_x: set[Pair],
    universe_: set[Pair],
) -> dict:
    """One row of :func:`agreement_tables`: ``ours`` against both ATOP references."""
    ag, agx = agreement(ours, atop, universe_), agreement(ours, atop_x, universe_)
    return {
        "group": group,
        "label": label,
        "n": ag.n,
        "ours": ag.both + ag.ours_only,
        "atop": ag.both + ag.atop_only,
        "both": ag.both,
        "kappa": ag.kappa,
        "recall": ag.recall,
        "precision": ag.precision,
        "atop_x": agx.both + agx.atop_only,
        "both_x": agx.both,
        "kappa_x": agx.kappa,
        "recall_x": agx.recall,
        "precision_x": agx.precision,
    }


def agreement_tables(audit: Audit) -> pd.DataFrame:
    """Kappa, recall and precision overall, per ATOP pledge type and per episode kind.

    Every row compares an embedded indicator with two ATOP references on all panel
    dyad-years: all of ATOP (columns without suffix) and ATOP without the Arab
    League's two collective treaties (suffix ``_x``; see :func:`reference_sets`).

    Rows (``group``, ``label``):
    - ``overall``: all episodes; formal episodes only; and all episodes on two
      halves of the universe: pairs outside the Arab League treaties, and pairs
      inside them (there the reference without suffix is the League treaties
      themselves, so only the ``_x`` columns are informative);
    - ``atop_type``: all episodes against the ATOP dyad-years with that pledge;
    - ``episode_kind``: the episodes of one kind (formal, informal, great_power,
      regional_bilateral, regional_multilateral) against ATOP.
    """
    uni = audit.universe
    ref = reference_sets(audit)
    ours = audit.ours
    allied = audit.our_keys
    inside = ref["arab_league"] & uni
    a, ax = ref["all"], ref["no_arab_league"]
    rows = [
        _agreement_row("overall", "all episodes", allied, a, ax, uni),
        _agreement_row("overall", "formal episodes", _keys(ours[ours["formal"] == 1]), a, ax, uni),
        _agreement_row(
            "overall",
            "all episodes, pairs outside the Arab League treaties",
            allied,
            a,
            ax,
            uni - inside,
        ),
        _agreement_row(
            "overall", "all episodes, pairs inside the Arab League treaties", allied, a, ax, inside
        ),
    ]
    for col, code in PLEDGES.items():
        label = f"{col.removeprefix('atop_')} ({code})"
        by_type = (ref[f"all:{code}"], ref[f"no_arab_league:{code}"])
        rows.append(_agreement_row("atop_type", label, allied, *by_type, uni))
    kinds = {
        "formal": ours["formal"] == 1,
        "informal": ours["formal"] == 0,
        "great_power": ours["kind"] == "great_power",
        "regional_bilateral": ours["kind"] == "regional_bilateral",
        "regional_multilateral": ours["kind"] == "regional_multilateral",
    }
    for label, mask in kinds.items():
        rows.append(_agreement_row("episode_kind", label, _keys(ours[mask]), a, ax, uni))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- codebook


def codebook_left_out(path: str | Path | None = None) -> dict[str, list[str]]:
    """Rows of the table *ATOP alliances left out* of CODEBOOK.md, by ATOP id.

    The table is the first one after the heading :data:`CODEBOOK_TABLE_HEADING`;
    each row's cells are returned stripped (first cell the ATOP id, last cell the
    reason).  An empty dict when the heading is missing.
    """
    path = Path(path) if path is not None else resolve_data_dir(None) / "CODEBOOK.md"
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == CODEBOOK_TABLE_HEADING)
    except StopIteration:
        return {}
    out: dict[str, list[str]] = {}
    in_table = False
    for line in lines[start + 1 :]:
        text = line.strip()
        if text.startswith("#") or (in_table and not text.startswith("|")):
            break
        if not text.startswith("|"):
            continue
        in_table = True
        cells = [c.strip() for c in text.strip("|").split("|")]
        key = cells[0].strip("`")
        if set("".join(cells)) <= set("-: ") or key.lower() in {"atop", "atopid", "id"}:
            continue  # separator or header
        out[key] = cells
    return out


# --------------------------------------------------------------------------- report


def _pct(x: float) -> str:
    """A share as a percentage, an en dash for NaN (x != x only for NaN)."""
    return "–" if x != x else f"{100 * x:.1f} %"


def _k(x: float) -> str:
    """A kappa to three places, an en dash for NaN."""
    return "–" if x != x else f"{x:.3f}"


def agreement_markdown(audit: Audit) -> str:
    """:func:`agreement_tables` as a Markdown table (the form quoted in CODEBOOK.md)."""
    tab = agreement_tables(audit)
    out = [
        "| group | comparison | dyad-years | ours | ATOP | both | kappa | recall | precision "
        "| ATOP w/o AL | both | kappa | recall | precision |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in tab.itertuples():
        out.append(
            f"| {r.group} | {r.label} | {r.n} | {r.ours} | {r.atop} | {r.both} | {_k(r.kappa)} | "
            f"{_pct(r.recall)} | {_pct(r.precision)} | {r.atop_x} | {r.both_x} | {_k(r.kappa_x)} | "
            f"{_pct(r.recall_x)} | {_pct(r.precision_x)} |"
        )
    return "\n".join(out)


def report(audit: Audit) -> str:
    """The audit's figures as Markdown (agreement tables and per-alliance coverage)."""
    out = []
    if audit.unexplained or audit.unbacked:
        out.append(
            f"**ATOP list does not reproduce the mirror**: {len(audit.unexplained)} mirror "
            f"dyad-years unexplained, {len(audit.unbacked)} listed dyad-years not in the mirror.\n"
        )
    out.append(agreement_markdown(audit))
    out.append("")
    cov = audit.coverage()
    out.append(
        "| ATOP | alliance | signed | pledges | panel dyad-years | allied in ours | matched | episodes |"
    )
    out.append("|---|---|---|---|---|---|---|---|")
    for r in cov.itertuples():
        out.append(
            f"| {r.atopid} | {r.name} | {r.signed} | {r.pledges} | {r.dyad_years} | "
            f"{r.covered} ({_pct(r.share)}) | {'yes' if r.matched else 'no'} | {r.episodes} |"
        )
    left = codebook_left_out()
    missing = [r.atopid for r in cov.itertuples() if not r.matched and r.atopid not in left]
    out.append("")
    out.append(
        f"{int(cov['matched'].sum())} of {len(cov)} ATOP alliances matched; "
        f"unmatched and not in the codebook table: {', '.join(missing) or 'none'}."
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """``python -m walt_bayes.panel.me_audit [DATA_DIR]``: print :func:`report` as Markdown."""
    argv = sys.argv[1:] if argv is None else argv
    data_dir = argv[0] if argv else None
    print(report(run_audit(data_dir=data_dir)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
