"""Block 3 of MODEL.md: alliance spells and the discrete-time hazard of their ending.

Spells
------
From the alliance outcome of the whole panel (undirected dyad-years; the
alliance block's outcome column, ``ally`` for the directed ``pledge`` outcome),
the consecutive allied years of a dyad form a **spell**.  Spells are built
before case control keeps the politically relevant dyad-years for blocks 1-2:
a dyad that is not relevant for a year would otherwise cut its spell there.
Every allied year *t* of a spell whose next year is observed is one row *at
risk*; its outcome is the dyad's status in *t* + 1:

- ``event = 1`` when the dyad is observed **not** allied in *t* + 1 (the spell
  ends after *t*);
- ``event = 0`` when it is allied in *t* + 1 (the spell goes on).
- When *t* + 1 is not observed (right-censored: the panel's last year, a state
  leaving the system, a missing outcome) the outcome is unknown and the year is
  not at risk; the spell's earlier years are.  A spell interrupted by an
  unobserved year ends censored, and the next allied year starts a new spell.
- Duration *d* = *t* − start + 1.  A spell already allied in the panel's first
  year is left-truncated: its start is taken from the data where they know it
  (the embedded episodes start as early as 1945), otherwise from the first
  observed year (and a note says how many).

One likelihood per observation (blocks 2 and 3)
-----------------------------------------------
Block 2's outcome ``a[i,k,t]`` (allied or not) and this block's event are the
same random variables: a spell-year *t* at risk *is* the observation
``a[i,k,t+1]`` of a dyad allied in *t* (event = 1 − ``a[t+1]``).  With block 2
over every dyad-year, each continuation year would enter the joint likelihood
twice (as an alliance-status outcome and as a spell-year), counting the same
evidence twice wherever the blocks share parameters (the threat block, through
ΔS) and making the joint model no generative model of the data.  So, when the
spec has a duration block and its alliance outcome is not already onset,
block 2 keeps only the dyad-years whose dyad was observed *not* allied in
*t* − 1 (the ``onset`` rows, :func:`block2_models_continuation`), and the joint
likelihood is the Markov factorisation of each dyad's alliance history given
its first observed year::

    p(a[2..T] | a[1]) = Π_{a[t-1]=0} P_onset(a[t]) · Π_{a[t-1]=1} (1 − h[t-1])^{a[t]} h[t-1]^{1 − a[t]}

Every observed ``a[t]`` with an observed ``a[t-1]`` enters exactly one block.
The ``gamma_*`` of such a fit are effects on alliance *formation*; the
variants without a duration block (the default ``balance_of_threat``) keep
block 2 over every dyad-year.  (With the directed ``pledge`` outcome, block 2
keeps dyads without a pledge in *t* − 1 and spells come from ``ally``, so the
two outcomes overlap only where a pledge and the alliance end together.)

Hazard
------
``logit h[spell, t] = delta_0 + delta_log_duration · (log d − mean log d)``
``+ delta_war_won · war_won + delta_threat_rise · ΔS / sd(ΔS)``
``+ delta_leninist · both_leninist + delta_regime_other · regime_other``
``+ delta_ideological · ideological + delta_other_motive · other_motive``

f(duration) is the log of the duration (one coefficient): hazards of ending
that fall (or rise) smoothly with age, the usual shape for alliances.

- ``war_won`` (BAL-6): the dyad's alliance was formed in wartime (both members
  fighting the same war) *and* the common enemy has been defeated by the end of
  year *t*.  Embedded panel: a ``wartime`` episode of ``episodes.csv`` joining the
  two states is in force in *t* and its ``enemy_defeated_year`` ≤ *t*.  Global COW
  panel: in the spell's first year both states fight a common enemy in a COW
  inter-state war (``cow_war_inter``), both are coded winners (``outcome`` 1), and
  *t* ≥ the last year the enemy fought in that war.  Outside the war data's
  coverage the value is missing and the row is left out.
- ``threat_rise`` (BW-6): ``ΔS = S[i,k,t] − S[i,k,t−1]``, from the **same**
  latent threat draws as the alliance block: S of the dyad in *t* and *t* − 1 is
  summed over the triads block 2 would build for that dyad-year (sources
  relevant to either member, ``tau[j→i]·tau[j→k]``), carried by this block
  because continuation years are not alliance rows; divided by the SD of ΔS under
  a plug-in threat estimate (a fixed constant, like the alliance terms' scales).
  Rows whose dyad is not in the panel in *t* − 1 are left out.
- ``leninist`` (IDEO-2): both members are Marxist–Leninist one-party states in *t*
  (``leninist1/2``).  Its companion ``regime_other`` marks every other regime pair
  except "both democracies or monarchies" (``democracy`` ≥ 0.5 or ``monarchy`` = 1
  for each), which is the baseline — so ``delta_leninist`` is the contrast the
  hypothesis names.  The global panel has no Leninist coding (V-Dem/Polity scores
  do not identify one-party Leninist rule): the term is dropped there.
- ``ideological`` (IDEO-5: "ideological alliances end sooner than security
  ones: hazard ratio of ideology-driven vs threat-driven alliances").  Each
  spell is classified once, in its first observed year ("formation"; for a
  spell begun before the panel, the panel's first year), into exactly one of:

  - **threat-driven** (the baseline): a **shared threat source** — a third state
    *j* that threatened *each* member, i.e. was its strategic rival
    (``rivalry``) or had initiated a militarised dispute against it in the
    previous ten years (``init21_past10`` > 0), the intentions inputs of
    MODEL.md's threat block — whatever the members' regimes;
  - **ideology-driven** (``ideological`` = 1): no shared source, and similar
    regimes (``ideo_sim`` ≥ ``ideological_similarity``, default 0.5);
  - **other** (``other_motive`` = 1): no shared source, dissimilar regimes.

  A spell with no shared source found but a member whose ``rivalry`` or
  ``init21_past10`` is missing that year, or whose similarity is missing, is
  unclassified and left out (an unknown threat is not "no threat").
  ``delta_ideological`` is the log hazard ratio of ideology-driven vs
  threat-driven alliances; IDEO-5 predicts > 0.

Binary indicators enter as 0/1, so ``delta_*`` are log hazard ratios
(``exp(delta)`` = hazard ratio).  Priors: ``Normal(0, 1)`` for the effects
(family ``delta``), ``Normal(logit(observed end rate), 1.5)`` for ``delta_0``.

Cross-validation
----------------
:meth:`DurationArrays.before` keeps the spell-years whose outcome (the status in
*t* + 1) is observed before a leave-future-out cutoff, :meth:`DurationArrays.without_dyads`
drops the spells of held-out dyads (:mod:`walt_bayes.compare.kfold`); both
compact the ΔS triads to the threat rows the kept rows use.

Modules
-------
This module builds the block (:func:`build_duration`) from the spells of
:mod:`walt_bayes.model.spells` and the covariates of :mod:`walt_bayes.model.duration_covariates`
into :class:`~walt_bayes.model.duration_arrays.DurationArrays`; :mod:`walt_bayes.model.hazard`
adds it to the PyMC model.  The episodes and COW wars come from the panel's
:class:`~walt_bayes.panel.companions.Companions` (``panel/`` reads them): this module reads no file.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from walt_bayes.errors import ModelError
from walt_bayes.model.arrays import YEAR_STEP, dyad_year_key
from walt_bayes.model.duration_arrays import TRIAD_FIELDS as TRIAD_FIELDS
from walt_bayes.model.duration_arrays import DurationArrays
from walt_bayes.model.duration_covariates import DEMOCRACY_CUT as DEMOCRACY_CUT
from walt_bayes.model.duration_covariates import (
    motives,
    regime_pairs,
    true_starts,
    war_won_cow,
    war_won_embedded,
)
from walt_bayes.model.hazard import duration_block as duration_block
from walt_bayes.model.hazard import duration_parameters as duration_parameters
from walt_bayes.model.plugin import plugin_tau
from walt_bayes.model.spells import alliance_spells, outcome_column
from walt_bayes.model.triads import relevant_pairs
from walt_bayes.spec import DURATION_COMPANIONS, ModelSpec

if TYPE_CHECKING:
    from walt_bayes.model.design import Design
    from walt_bayes.panel.companions import Companions

# Old names of helpers that moved to the module of their job (the tests import them from here).
_war_won_cow = war_won_cow
_motives = motives


def block2_models_continuation(spec: ModelSpec) -> bool:
    """Whether block 2 must leave continuation years to block 3 (alliance onset rows only).

    True when the spec has a duration block and its alliance outcome is not already
    onset: the alliance block then models ``a[t]`` only for dyads not allied in
    *t* − 1 (onset), and block 3 models ``a[t]`` for dyads allied in *t* − 1 (see the
    module docstring: each dyad-year's alliance status enters one likelihood, once).

    Parameters
    ----------
    spec : ModelSpec

    Returns
    -------
    bool
    """
    return spec.duration is not None and not spec.alliance.onset


def build_duration(
    panel: pd.DataFrame, spec: ModelSpec, design: Design, companions: Companions,
    threat_panel: pd.DataFrame | None = None,
) -> None:
    """Add the duration block's arrays to ``design`` (``design.duration``).

    Parameters
    ----------
    panel : pandas.DataFrame
        The whole directed dyad-year panel (before any politically-relevant
        restriction of case-control sampling: spells are consecutive allied years of
        a dyad, and dropping a dyad's non-relevant years would cut them).
    spec : ModelSpec
        With a ``[duration]`` table.
    design : Design
        The design of blocks 1 and 2, already built.
    companions : walt_bayes.panel.companions.Companions
        The tables that go with ``panel``, read by ``panel/`` when asked for: the embedded
        episodes (wartime, enemy defeated, true start years) or, for a global COW panel,
        the COW war-years (``cow_war_inter``).
    threat_panel : pandas.DataFrame, optional
        The panel blocks 1 and 2 were built from (the relevant dyads under case
        control); its relevant pairs define the shared-threat triads, as in block 2.
        Defaults to ``panel``.

    Raises
    ------
    ModelError
        A term needs data the panel lacks and ``drop_unavailable`` is false, or the
        panel has no alliance spell at all.
    """
    dspec = spec.duration
    threat_panel = panel if threat_panel is None else threat_panel
    spells = alliance_spells(panel, outcome_column(spec))
    if spells.empty:
        _unavailable(design, dspec, "block", "the panel has no allied dyad-year (no alliance spell)")
        return
    # Notes gathered here go after the block's summary line; _unavailable notes go at once.
    notes: list[str] = []
    episodes, ep_reason = _matching_episodes(companions, spells)
    spells = _spells_at_risk(spells, episodes, notes)
    if spells.empty:
        _unavailable(design, dspec, "block", "no spell-year has an observed next year")
        return
    columns = _indicator_columns(spells, panel, companions, episodes, ep_reason, design, dspec, notes)
    ok = np.ones(len(spells), dtype=bool)
    for col in columns.values():
        ok &= ~np.isnan(col)
    links = None
    if "threat_rise" in dspec.terms:
        links, ok = _threat_rise_links(spells, panel, threat_panel, spec, design, ok, notes)
    n_drop = int((~ok).sum())
    if n_drop and columns:
        notes.append(f"{n_drop} spell-years with a missing covariate or threat link left out in all")
    if not ok.any():
        _unavailable(design, dspec, "block", "no spell-year has every covariate the terms need")
        return
    terms, cols = _varying_terms({k: v[ok] for k, v in columns.items()}, design, dspec)
    arrays = _duration_arrays(spells, ok, links, terms, cols, dspec)
    if arrays.threat_rise:
        arrays = _scale_threat_rise(arrays, design, dspec)
    _record(design, spec, arrays, spells.loc[ok], notes)


def _matching_episodes(companions: Companions, spells: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """The embedded episodes behind the panel if they cover every allied spell-year, or (None, reason)."""
    episodes, reason = companions.episodes()
    if episodes is not None:
        inside = pd.Index(dyad_year_key(episodes["lo"], episodes["hi"], episodes["year"]))
        if not pd.Index(dyad_year_key(spells["lo"], spells["hi"], spells["year"])).isin(inside).all():
            return None, "the episodes of the data folder do not match this panel's alliances"
    return episodes, reason


def _spells_at_risk(spells: pd.DataFrame, episodes: pd.DataFrame | None, notes: list[str]) -> pd.DataFrame:
    """Spell-years with true start years where the episodes know them, censored years left out."""
    spells["first_year"] = spells["start"]  # first observed year: covariates "at formation" come from it
    if episodes is not None:
        start = true_starts(spells, episodes)
        moved = int((start != spells["start"].to_numpy()).sum())
        spells = spells.assign(start=start, duration=spells["year"] - start + 1)
        notes.append(f"{moved} spell-years of spells begun before the panel counted from the episodes' start years")
    elif spells["left_truncated"].any():
        notes.append(
            f"{int(spells.drop_duplicates('spell')['left_truncated'].sum())} spells allied in the panel's first "
            "year: duration counted from that year (left-truncated)"
        )
    # A spell-year's outcome is the dyad's status in t + 1; unobserved, it is unknown (not "went on").
    censored = spells["censored"].to_numpy() == 1
    if censored.any():
        notes.append(f"{int(censored.sum())} spell-years whose next year is unobserved (censored) are not at risk")
        spells = spells.loc[~censored].reset_index(drop=True)
    return spells


def _indicator_columns(
    spells: pd.DataFrame, panel: pd.DataFrame, companions: Companions, episodes: pd.DataFrame | None,
    ep_reason: str, design: Design, dspec, notes: list[str],
) -> dict[str, np.ndarray]:
    """The 0/1 (NaN: unknown) columns of the spec's terms that the data allow, in the spec's order."""
    columns: dict[str, np.ndarray] = {}
    for term in dspec.terms:
        if term == "war_won":
            war_won = _war_won(spells, panel, companions, episodes, ep_reason, design, dspec, notes)
            if war_won is not None:
                columns["war_won"] = war_won
        elif term == "leninist":
            lacking = [c for c in ("leninist1", "leninist2", "democracy1", "democracy2") if c not in panel.columns]
            if lacking:
                _unavailable(design, dspec, term, f"panel has no column {lacking[0]} (Marxist-Leninist one-party "
                             "states; V-Dem/Polity scores do not identify them)")
                continue
            both, other, note = regime_pairs(spells, panel)
            columns["leninist"], columns["regime_other"] = both, other
            if note:
                notes.append(note)
        elif term == "ideological":
            ideo, other = motives(spells, panel, dspec.ideological_similarity)
            columns["ideological"], columns["other_motive"] = ideo, other
    return columns


def _war_won(
    spells: pd.DataFrame, panel: pd.DataFrame, companions: Companions, episodes: pd.DataFrame | None,
    ep_reason: str, design: Design, dspec, notes: list[str],
) -> np.ndarray | None:
    """``war_won`` from the embedded episodes, else from COW wars, else None (the term is unavailable)."""
    if episodes is not None:
        notes.append("war_won from episodes.csv (wartime episodes, enemy_defeated_year)")
        return war_won_embedded(spells, episodes)
    wars, reason = companions.cow_wars()
    if wars is not None:
        notes.append("war_won from COW inter-state wars (common enemy in the spell's first year, both "
                     "coded winners)")
        return war_won_cow(spells, wars, panel)
    _unavailable(design, dspec, "war_won", reason or ep_reason or (
        "no war data for this panel: the embedded episodes (wartime, enemy_defeated_year) or, for a "
        "global COW panel, cow_war_inter"))
    return None


def _threat_rise_links(
    spells: pd.DataFrame, panel: pd.DataFrame, threat_panel: pd.DataFrame, spec: ModelSpec,
    design: Design, ok: np.ndarray, notes: list[str],
) -> tuple[dict | None, np.ndarray]:
    """The ΔS links (None: the term is unavailable) and ``ok`` without the rows that have none."""
    links, reason = _shared_links(spells, panel, threat_panel, spec, design)
    if links is None:
        _unavailable(design, spec.duration, "threat_rise", reason)
        return None, ok
    linked = links.pop("linked")
    if (~linked & ok).any():
        notes.append(f"{int((~linked & ok).sum())} spell-years whose dyad is not in the panel in t - 1 "
                     "(no change in shared threat) left out")
    return links, ok & linked


def _varying_terms(columns: dict[str, np.ndarray], design: Design, dspec) -> tuple[list[str], list[np.ndarray]]:
    """The terms whose column varies; a constant one cannot be estimated (a companion just goes)."""
    terms, cols = [], []
    for name, col in columns.items():
        if np.all(col == col[0]):
            if name in DURATION_COMPANIONS.values():
                continue
            _unavailable(design, dspec, name, f"does not vary in this panel (always {int(col[0])})")
            continue
        terms.append(name)
        cols.append(col)
    return terms, cols


def _duration_arrays(
    spells: pd.DataFrame, ok: np.ndarray, links: dict | None, terms: list[str], cols: list[np.ndarray], dspec
) -> DurationArrays:
    """The block's arrays for the spell-years ``ok``, log duration centred on their mean."""
    log_d = np.log(spells.loc[ok, "duration"].to_numpy(float))
    center = float(log_d.mean())
    arrays = DurationArrays(
        keys=spells[["lo", "hi", "year", "spell"]].astype("int64"),
        y=spells["event"].to_numpy(np.int64),
        log_duration=np.log(spells["duration"].to_numpy(float)) - center,
        X=np.zeros((len(spells), 0)),
        meta={"log_duration_center": center, "ideological_similarity": dspec.ideological_similarity},
    )
    if links is not None:
        arrays.threat_rise = True
        for name, value in links.items():
            setattr(arrays, name, value)
    arrays = arrays.subset(ok)  # compacts the S links to the rows kept
    arrays.terms = terms
    arrays.X = np.column_stack(cols) if cols else np.zeros((arrays.n, 0))
    return arrays


def _scale_threat_rise(arrays: DurationArrays, design: Design, dspec) -> DurationArrays:
    """Fix ``dS_scale`` to the SD of ΔS at the plug-in threat (the term goes if ΔS does not vary)."""
    dS = arrays.delta_shared(plugin_tau(design))[0] * arrays.dS_scale
    sd = float(np.std(dS))
    if not np.isfinite(sd) or sd == 0:
        _unavailable(design, dspec, "threat_rise", "does not vary in this panel")
        return _without_threat_rise(arrays)
    arrays.dS_scale = sd
    return arrays


def _record(design: Design, spec: ModelSpec, arrays: DurationArrays, kept: pd.DataFrame, notes: list[str]) -> None:
    """Put the block in ``design`` with its notes, end rate and transform entry."""
    y = arrays.y
    center = arrays.meta["log_duration_center"]
    n_spells = kept["spell"].nunique()
    notes.insert(0, f"duration block: {len(y):,} spell-years at risk in {n_spells:,} spells, {int(y.sum())} endings; "
                    "f(duration) = log duration")
    if block2_models_continuation(spec):
        notes.append("duration block: the alliance block models onset (dyads not allied the year before) and "
                     "this block the continuation of allied dyads, so each dyad-year's alliance status is "
                     "evidence once")
    design.notes.extend(notes)
    design.data_rates["alliance_end"] = float(y.mean())
    design.transform["duration"] = {
        "terms": arrays.terms, "threat_rise": arrays.threat_rise, "dS_scale": arrays.dS_scale,
        "log_duration_center": center, "ideological_similarity": spec.duration.ideological_similarity,
        "spells": int(n_spells), "rows": len(y), "endings": int(y.sum()),
        "alliance_rows": "onset" if (block2_models_continuation(spec) or spec.alliance.onset) else "all",
    }
    design.duration = arrays


def _without_threat_rise(arrays: DurationArrays) -> DurationArrays:
    out = copy.copy(arrays)
    out.threat_rise = False
    out.s_keys = out.s_now = out.s_prev = out.tri_s = out.tri_ji = out.tri_jk = None
    return out


def _shared_links(spells: pd.DataFrame, panel: pd.DataFrame, threat_panel: pd.DataFrame, spec: ModelSpec,
                  design: Design) -> tuple[dict | None, str]:
    """Shared-threat triads for the spell-years' dyads in t and t - 1, or (None, reason).

    The triads are those block 2 would build for the dyad-year (sources relevant to
    either member, both threat rows present), so S here is the alliance block's S.
    Returns ``s_keys, s_now, s_prev, tri_s, tri_ji, tri_jk`` and ``linked`` (the dyad
    is in the panel in t - 1).
    """
    if not (design.has_threat and any(design.term_latent)):
        return None, "needs the threat block and a latent alliance term (shared threat S)"
    c1, c2 = panel["ccode1"].to_numpy(np.int64), panel["ccode2"].to_numpy(np.int64)
    present = pd.Index(np.unique(dyad_year_key(np.minimum(c1, c2), np.maximum(c1, c2), panel["year"])))
    now = dyad_year_key(spells["lo"], spells["hi"], spells["year"])
    linked = present.get_indexer(now - YEAR_STEP) >= 0
    if not linked.any():
        return None, "no spell-year has its dyad in the panel in t - 1"
    s_index = pd.Index(np.unique(np.concatenate([now, now[linked] - YEAR_STEP])))
    s_keys = pd.DataFrame({
        "lo": (s_index.to_numpy() // 1000) % 1000, "hi": s_index.to_numpy() % 1000,
        "year": s_index.to_numpy() // YEAR_STEP,
    }).astype("int64")
    rel = relevant_pairs(threat_panel, spec)
    rows = s_keys.assign(row=np.arange(len(s_keys)))
    via = [rows.merge(rel, left_on=[who, "year"], right_on=["x", "year"]) for who in ("lo", "hi")]
    tri = pd.concat(via, ignore_index=True)[["row", "lo", "hi", "j", "year"]]
    tri = tri.loc[(tri["j"] != tri["lo"]) & (tri["j"] != tri["hi"])].drop_duplicates(["row", "j"])
    threat_index = pd.Index(dyad_year_key(design.threat_keys["ccode1"], design.threat_keys["ccode2"],
                                          design.threat_keys["year"]))
    ji = threat_index.get_indexer(dyad_year_key(tri["lo"], tri["j"], tri["year"]))
    jk = threat_index.get_indexer(dyad_year_key(tri["hi"], tri["j"], tri["year"]))
    ok = (ji >= 0) & (jk >= 0)
    prev = s_index.get_indexer(now - YEAR_STEP)
    return {
        "s_keys": s_keys, "s_now": s_index.get_indexer(now).astype(np.int64),
        "s_prev": np.where(linked, prev, 0).astype(np.int64),
        "tri_s": tri["row"].to_numpy(np.int64)[ok], "tri_ji": ji[ok].astype(np.int64),
        "tri_jk": jk[ok].astype(np.int64), "linked": linked,
    }, ""


def _unavailable(design: Design, dspec, term: str, reason: str) -> None:
    """Drop a term (or the whole block) with a note, or raise when the spec keeps unavailable terms."""
    key = f"duration:{term}"
    if not dspec.drop_unavailable:
        what = "the alliance-duration block" if term == "block" else f"duration term '{term}'"
        raise ModelError(f"{what}: {reason}")
    design.dropped_terms[key] = reason
    design.notes.append(f"{key} left out: {reason}")
