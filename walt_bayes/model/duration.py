"""Block 3 of MODEL.md: alliance spells and the discrete-time hazard of their ending.

Spells
------
From the alliance outcome of the panel (undirected dyad-years; the alliance
block's outcome column, ``ally`` for the directed ``pledge`` outcome), the
consecutive allied years of a dyad form a **spell**.  Every allied year *t* of a
spell is one row *at risk*:

- ``event = 1`` when the dyad is observed **not** allied in *t* + 1 (the spell
  ends after *t*);
- ``event = 0`` when it is allied in *t* + 1 (the spell goes on), and also when
  *t* + 1 is not observed (right-censored: the panel's last year, a state leaving
  the system, a missing outcome).  A spell interrupted by an unobserved year ends
  censored, and the next allied year starts a new spell.
- Duration *d* = *t* − start + 1.  A spell already allied in the panel's first
  year is left-truncated: its start is taken from the data where they know it
  (the embedded episodes start as early as 1945), otherwise from the first
  observed year (and a note says how many).

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
- ``threat_rise`` (BW-6): ``ΔS = S[i,k,t] − S[i,k,t−1]``, taken from the **same**
  latent shared-threat draws as the alliance block (the S of the alliance rows of
  the dyad in *t* and *t* − 1; S is symmetric in i and k), divided by the SD of ΔS
  under a plug-in threat estimate (a fixed constant, like the alliance terms'
  scales).  Rows whose dyad has no alliance row in *t* or *t* − 1 are left out.
- ``leninist`` (IDEO-2): both members are Marxist–Leninist one-party states in *t*
  (``leninist1/2``).  Its companion ``regime_other`` marks every other regime pair
  except "both democracies or monarchies" (``democracy`` ≥ 0.5 or ``monarchy`` = 1
  for each), which is the baseline — so ``delta_leninist`` is the contrast the
  hypothesis names.  The global panel has no Leninist coding (V-Dem/Polity scores
  do not identify one-party Leninist rule): the term is dropped there.
- ``ideological`` (IDEO-5): an **ideology-driven** alliance is one formed between
  ideologically similar states (``ideo_sim`` ≥ ``ideological_similarity`` in the
  spell's first observed year, default 0.5) that faced **no shared threat source**
  then: no third state that was a strategic rival of both, or had initiated
  a militarised dispute against both in the previous ten years (``rivalry``,
  ``init21_past10``; missing values count as no threat).  A **threat-driven**
  alliance has such a shared source (the baseline); ``other_motive`` marks the
  rest (no shared source, dissimilar regimes).  ``delta_ideological`` is then
  the log hazard ratio of ideology-driven vs threat-driven alliances.  For a
  spell begun before the panel, "formation" is the panel's first year.

Binary indicators enter as 0/1, so ``delta_*`` are log hazard ratios
(``exp(delta)`` = hazard ratio).  Priors: ``Normal(0, 1)`` for the effects
(family ``delta``), ``Normal(logit(observed end rate), 1.5)`` for ``delta_0``.

With the alliance outcome ``ally`` (not ``onset``) the alliance block also
models every continuation year, so the spell endings here inform two blocks;
the note in the design says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from walt_bayes.errors import ModelError, WaltError
from walt_bayes.spec import DURATION_COMPANIONS, ModelSpec

#: Packing of an undirected dyad-year into one int64 (COW codes < 1000).
_YEAR = 1_000_000

#: A state counts as a democracy in the IDEO-2 baseline at this democracy score.
DEMOCRACY_CUT = 0.5


def _dyad_key(lo, hi, year) -> np.ndarray:
    return np.asarray(year, np.int64) * _YEAR + np.asarray(lo, np.int64) * 1000 + np.asarray(hi, np.int64)


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


def outcome_column(spec: ModelSpec) -> str:
    """The symmetric alliance column spells are built from (``ally`` for the directed pledge)."""
    return {"ally": "ally", "ally_formal": "ally_formal"}.get(spec.alliance.outcome, "ally")


# =============================================================================
# Spells
# =============================================================================


def alliance_spells(panel: pd.DataFrame, outcome: str = "ally") -> pd.DataFrame:
    """Spell-years at risk of ending, from a directed dyad-year panel.

    Parameters
    ----------
    panel : pandas.DataFrame
        ``ccode1, ccode2, year`` and the 0/1 column ``outcome`` (missing allowed).
        Both directions of a dyad may be present; the dyad is allied in *t* if either
        row says so, missing if both are missing.
    outcome : str
        The alliance column.

    Returns
    -------
    pandas.DataFrame
        One row per allied undirected dyad-year, sorted by ``lo, hi, year``:
        ``lo, hi, year`` (``lo < hi``), ``spell`` (0, 1, … in that order), ``start``
        (first observed year of the spell), ``duration`` (year − start + 1),
        ``event`` (1 if the dyad is observed not allied in year + 1),
        ``censored`` (1 if year + 1 is unobserved: panel end, a state left, a
        missing outcome) and ``left_truncated`` (1 if the spell is allied in the
        panel's first year).
    """
    if outcome not in panel.columns:
        raise ModelError(f"alliance duration: the panel has no column '{outcome}'")
    c1 = panel["ccode1"].to_numpy(np.int64)
    c2 = panel["ccode2"].to_numpy(np.int64)
    years = panel["year"].to_numpy(np.int64)
    values = pd.to_numeric(panel[outcome], errors="coerce").astype("float64").to_numpy()
    frame = pd.DataFrame({"lo": np.minimum(c1, c2), "hi": np.maximum(c1, c2), "year": years, "a": values})
    und = frame.groupby(["lo", "hi", "year"], sort=True)["a"].max().reset_index()
    key = _dyad_key(und["lo"], und["hi"], und["year"])
    status = pd.Series(und["a"].to_numpy(), index=key)
    allied = und["a"].to_numpy() == 1
    rows = und.loc[allied, ["lo", "hi", "year"]].reset_index(drop=True)
    key = key[allied]
    nxt = status.reindex(key + _YEAR).to_numpy()
    prv = status.reindex(key - _YEAR).to_numpy()
    rows["event"] = (nxt == 0).astype(np.int64)
    rows["censored"] = ((nxt != 0) & (nxt != 1)).astype(np.int64)  # NaN compares unequal
    rows["spell"] = np.cumsum(prv != 1) - 1
    rows["start"] = rows.groupby("spell")["year"].transform("min").astype(np.int64)
    rows["duration"] = rows["year"] - rows["start"] + 1
    first = int(years.min()) if len(years) else 0
    rows["left_truncated"] = (rows["start"] == first).astype(np.int64)
    return rows[["lo", "hi", "year", "spell", "start", "duration", "event", "censored", "left_truncated"]]


# =============================================================================
# Arrays
# =============================================================================


@dataclass
class DurationArrays:
    """The duration block's data: one row per spell-year at risk."""

    keys: pd.DataFrame  # lo, hi, year, spell
    y: np.ndarray  # 1 if the spell ends after year t
    log_duration: np.ndarray  # log d, centred
    X: np.ndarray  # (n, n_terms) 0/1 indicators
    terms: list[str] = field(default_factory=list)  # names: coefficient delta_<name>
    threat_rise: bool = False
    ally_now: np.ndarray | None = None  # alliance row of the dyad in t
    ally_prev: np.ndarray | None = None  # alliance row of the dyad in t - 1
    dS_scale: float = 1.0
    meta: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.y)

    def coefficient_names(self) -> list[str]:
        """Every coefficient of the block, in the order they are created."""
        names = ["delta_0", "delta_log_duration"] + [f"delta_{t}" for t in self.terms]
        return names + (["delta_threat_rise"] if self.threat_rise else [])

    def delta_shared(self, S: np.ndarray) -> np.ndarray:
        """ΔS / sd(ΔS) per row (numpy twin of the model), from S of the alliance rows.

        ``S`` is a vector (one value per alliance row) or a (draws, rows) matrix.
        """
        if not self.threat_rise:
            raise ModelError("this duration block has no threat_rise term")
        S = np.atleast_2d(S)
        return (S[:, self.ally_now] - S[:, self.ally_prev]) / self.dS_scale

    # ------------------------------------------------------------ storage
    def add_to(self, ds: xr.Dataset) -> xr.Dataset:
        """Add the arrays to a design Dataset (dims ``dur_obs``, ``dur_term``)."""
        data = {
            "dur_lo": ("dur_obs", self.keys["lo"].to_numpy(np.int64)),
            "dur_hi": ("dur_obs", self.keys["hi"].to_numpy(np.int64)),
            "dur_year": ("dur_obs", self.keys["year"].to_numpy(np.int64)),
            "dur_spell": ("dur_obs", self.keys["spell"].to_numpy(np.int64)),
            "dur_y": ("dur_obs", self.y.astype(np.int64)),
            "dur_log_duration": ("dur_obs", self.log_duration.astype(float)),
            "dur_X": (("dur_obs", "dur_term"), self.X.astype(float)),
        }
        if self.threat_rise:
            data["dur_ally_now"] = ("dur_obs", self.ally_now.astype(np.int64))
            data["dur_ally_prev"] = ("dur_obs", self.ally_prev.astype(np.int64))
        out = ds.assign(data).assign_coords(dur_term=np.asarray(self.terms, dtype=str))
        out.attrs["duration"] = json.dumps(
            {"threat_rise": self.threat_rise, "dS_scale": self.dS_scale, "meta": self.meta}
        )
        return out

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> DurationArrays | None:
        """The arrays stored by :meth:`add_to`, or None when the design has no duration block."""
        if "duration" not in ds.attrs or "dur_y" not in ds:
            return None
        info = json.loads(ds.attrs["duration"])
        keys = pd.DataFrame({c: ds[f"dur_{c}"].values.astype(np.int64) for c in ("lo", "hi", "year", "spell")})
        rise = bool(info["threat_rise"])
        return cls(
            keys=keys,
            y=ds["dur_y"].values.astype(np.int64),
            log_duration=ds["dur_log_duration"].values.astype(float),
            X=ds["dur_X"].values.astype(float).reshape(len(keys), -1),
            terms=[str(t) for t in ds["dur_term"].values],
            threat_rise=rise,
            ally_now=ds["dur_ally_now"].values.astype(np.int64) if rise else None,
            ally_prev=ds["dur_ally_prev"].values.astype(np.int64) if rise else None,
            dS_scale=float(info["dS_scale"]),
            meta=info.get("meta", {}),
        )

    def subset_alliance(self, rows: np.ndarray, n_ally: int) -> DurationArrays:
        """The block for a design keeping only alliance rows ``rows`` (cross-validation).

        Spell-years whose alliance rows of *t* or *t* − 1 are gone lose their ΔS and
        are left out; the others point at the kept rows' new positions.
        """
        if not self.threat_rise:
            return self
        new_index = np.full(n_ally, -1, dtype=np.int64)
        new_index[np.asarray(rows)] = np.arange(len(rows))
        now, prev = new_index[self.ally_now], new_index[self.ally_prev]
        keep = (now >= 0) & (prev >= 0)
        return DurationArrays(
            keys=self.keys.loc[keep].reset_index(drop=True), y=self.y[keep],
            log_duration=self.log_duration[keep], X=self.X[keep], terms=list(self.terms),
            threat_rise=True, ally_now=now[keep], ally_prev=prev[keep], dS_scale=self.dS_scale,
            meta=dict(self.meta),
        )


# =============================================================================
# Covariates
# =============================================================================


def _war_won_embedded(spells: pd.DataFrame, episodes: pd.DataFrame) -> np.ndarray:
    """1 where a wartime episode joining the dyad is in force in t and its enemy was defeated by t."""
    won = episodes.loc[
        (episodes["wartime"] == 1)
        & episodes["enemy_defeated_year"].notna()
        & (episodes["enemy_defeated_year"].fillna(9999) <= episodes["year"])
    ]
    keys = _dyad_key(won["lo"], won["hi"], won["year"])
    rows = pd.Index(_dyad_key(spells["lo"], spells["hi"], spells["year"]))
    return np.asarray(rows.isin(keys), dtype=float)


def _true_starts(spells: pd.DataFrame, episodes: pd.DataFrame) -> np.ndarray:
    """Start years of left-truncated spells, walked back through the episodes' earlier years."""
    allied = set(_dyad_key(episodes["lo"], episodes["hi"], episodes["year"]).tolist())
    start = spells["start"].to_numpy(np.int64).copy()
    trunc = spells["left_truncated"].to_numpy() == 1
    for idx in np.flatnonzero(trunc):
        lo, hi, year = int(spells["lo"].iat[idx]), int(spells["hi"].iat[idx]), int(start[idx])
        while int(_dyad_key(lo, hi, year - 1)) in allied:
            year -= 1
        start[idx] = year
    return start


def _episodes_for(panel: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """The embedded episodes behind this panel, or (None, reason)."""
    data_dir = panel.attrs.get("data_dir")
    if data_dir is None and panel.attrs.get("name") != "middle-east":
        return None, ""
    from walt_bayes.panel.embedded import episode_pair_years

    try:
        return episode_pair_years(data_dir), ""
    except WaltError as err:
        return None, f"the episodes behind this panel cannot be read ({err})"


def _cow_wars(panel: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """COW inter-state war-years (``cow_war_inter``) for a global panel, or (None, reason)."""
    if "war" not in panel.columns:
        return None, ""
    from walt_bayes.sources.read import read_source

    try:
        wars = read_source("cow_war_inter")
    except WaltError as err:
        return None, f"cow_war_inter cannot be read ({err})"
    out = pd.DataFrame({
        "warnum": pd.to_numeric(wars["warnum"]).astype("int64"),
        "x": pd.to_numeric(wars["ccode1"]).astype("int64"),
        "j": pd.to_numeric(wars["ccode2"]).astype("int64"),
        "year": pd.to_numeric(wars["year"]).astype("int64"),
        "outcome": pd.to_numeric(wars["outcome1"]),
    })
    return out, ""


def _war_won_cow(spells: pd.DataFrame, wars: pd.DataFrame, panel: pd.DataFrame) -> np.ndarray:
    """``war_won`` from COW wars: common enemy in the spell's first year, both winners, t ≥ enemy's last war-year.

    Missing (NaN) where the panel's ``war`` column is missing in the spell's first year.
    """
    first = spells.drop_duplicates("spell")[["spell", "lo", "hi", "start"]]
    side = wars[["warnum", "x", "j", "year", "outcome"]]
    mi = first.merge(side, left_on=["lo", "start"], right_on=["x", "year"])[["spell", "warnum", "j", "outcome"]]
    mk = first.merge(side, left_on=["hi", "start"], right_on=["x", "year"])[["spell", "warnum", "j", "outcome"]]
    common = mi.merge(mk, on=["spell", "warnum", "j"], suffixes=("_lo", "_hi"))
    common = common.loc[(common["outcome_lo"] == 1) & (common["outcome_hi"] == 1)]
    enemy_end = wars.groupby(["warnum", "x"])["year"].max().rename("end").reset_index()
    common = common.merge(enemy_end, left_on=["warnum", "j"], right_on=["warnum", "x"])
    defeat = common.groupby("spell")["end"].min()
    when = spells["spell"].map(defeat).to_numpy(dtype=float)
    out = (spells["year"].to_numpy(float) >= when).astype(float)  # NaN (no such war) -> False
    # Coverage: the panel's war column in the spell's first year.
    war = pd.to_numeric(panel["war"], errors="coerce").astype("float64").to_numpy()
    lo = np.minimum(panel["ccode1"].to_numpy(np.int64), panel["ccode2"].to_numpy(np.int64))
    hi = np.maximum(panel["ccode1"].to_numpy(np.int64), panel["ccode2"].to_numpy(np.int64))
    covered = pd.Series(~np.isnan(war), index=_dyad_key(lo, hi, panel["year"])).groupby(level=0).max()
    ok = covered.reindex(_dyad_key(spells["lo"], spells["hi"], spells["start"])).fillna(False).to_numpy(bool)
    return np.where(ok, out, np.nan)


def _state_values(panel: pd.DataFrame, column: str) -> pd.Series:
    """State-year values of a ``<column>1`` / ``<column>2`` pair, indexed by ``year * 1000 + ccode``."""
    parts = []
    for side in ("1", "2"):
        name = f"{column}{side}"
        if name in panel.columns:
            codes = panel[f"ccode{side}"].to_numpy(np.int64)
            vals = pd.to_numeric(panel[name], errors="coerce").astype("float64").to_numpy()
            parts.append(pd.Series(vals, index=panel["year"].to_numpy(np.int64) * 1000 + codes))
    both = pd.concat(parts)
    return both.groupby(level=0).max()


def _regime_pairs(spells: pd.DataFrame, panel: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, str]:
    """(both_leninist, regime_other, note) per spell-year; NaN where a coding is missing."""
    y = spells["year"].to_numpy(np.int64)

    def of(column: str, who: str) -> np.ndarray:
        values = _state_values(panel, column)
        return values.reindex(y * 1000 + spells[who].to_numpy(np.int64)).to_numpy(dtype=float)

    len_lo, len_hi = of("leninist", "lo"), of("leninist", "hi")
    note = ""
    dem_lo, dem_hi = of("democracy", "lo"), of("democracy", "hi")
    if "monarchy1" in panel.columns:
        mon_lo, mon_hi = of("monarchy", "lo"), of("monarchy", "hi")
    else:
        mon_lo = mon_hi = np.zeros(len(spells))
        note = "no monarchy coding: the IDEO-2 baseline is pairs of democracies only"
    stable_lo = (dem_lo >= DEMOCRACY_CUT) | (mon_lo == 1)
    stable_hi = (dem_hi >= DEMOCRACY_CUT) | (mon_hi == 1)
    both_len = (len_lo == 1) & (len_hi == 1)
    other = ~both_len & ~(stable_lo & stable_hi)
    missing = np.isnan(len_lo) | np.isnan(len_hi) | (np.isnan(dem_lo) & (mon_lo != 1)) | (
        np.isnan(dem_hi) & (mon_hi != 1)
    )
    return (
        np.where(missing, np.nan, both_len.astype(float)),
        np.where(missing, np.nan, other.astype(float)),
        note,
    )


def _motives(spells: pd.DataFrame, panel: pd.DataFrame, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(ideological, other_motive) per spell-year, classified in the spell's first year."""
    first = spells.drop_duplicates("spell")[["spell", "lo", "hi", "first_year"]].rename(
        columns={"first_year": "start"}
    )
    rivalry = pd.to_numeric(panel["rivalry"], errors="coerce").fillna(0).to_numpy()
    past = pd.to_numeric(panel["init21_past10"], errors="coerce").fillna(0).to_numpy()
    src = panel.loc[(rivalry == 1) | (past > 0), ["ccode1", "ccode2", "year"]]
    src = src.rename(columns={"ccode1": "x", "ccode2": "j"}).astype("int64")
    ti = first.merge(src, left_on=["lo", "start"], right_on=["x", "year"])[["spell", "lo", "hi", "j"]]
    tk = first.merge(src, left_on=["hi", "start"], right_on=["x", "year"])[["spell", "j"]]
    both = ti.merge(tk, on=["spell", "j"])
    both = both.loc[(both["j"] != both["lo"]) & (both["j"] != both["hi"])]
    shared = first["spell"].isin(both["spell"]).to_numpy()
    sim_all = pd.to_numeric(panel["ideo_sim"], errors="coerce").astype("float64").to_numpy()
    c1, c2 = panel["ccode1"].to_numpy(np.int64), panel["ccode2"].to_numpy(np.int64)
    sim = pd.Series(sim_all, index=_dyad_key(np.minimum(c1, c2), np.maximum(c1, c2), panel["year"]))
    sim = sim.groupby(level=0).mean()
    sim0 = sim.reindex(_dyad_key(first["lo"], first["hi"], first["start"])).to_numpy(dtype=float)
    ideo = np.where(np.isnan(sim0), np.nan, (~shared & (sim0 >= threshold)).astype(float))
    other = np.where(np.isnan(sim0), np.nan, (~shared & (sim0 < threshold)).astype(float))
    per_spell = pd.DataFrame({"ideological": ideo, "other_motive": other}, index=first["spell"].to_numpy())
    expanded = per_spell.reindex(spells["spell"].to_numpy())
    return expanded["ideological"].to_numpy(float), expanded["other_motive"].to_numpy(float)


# =============================================================================
# Building the block's design
# =============================================================================


def build_duration(panel: pd.DataFrame, spec: ModelSpec, design) -> None:
    """Add the duration block's arrays to ``design`` (``design.duration``).

    Parameters
    ----------
    panel : pandas.DataFrame
        The directed dyad-year panel the design was built from.  The embedded
        panel's episodes (wartime, enemy defeated, true start years) are read from
        its data folder (``panel.attrs["data_dir"]``, the bundled data by default);
        a global COW panel (one with the ``war`` column) reads ``cow_war_inter``.
    spec : ModelSpec
        With a ``[duration]`` table.
    design : Design
        The design of blocks 1 and 2, already built (alliance rows are linked).

    Raises
    ------
    ModelError
        A term needs data the panel lacks and ``drop_unavailable`` is false, or the
        panel has no alliance spell at all.
    """
    dspec = spec.duration
    spells = alliance_spells(panel, outcome_column(spec))
    if spells.empty:
        _unavailable(design, dspec, "block", "the panel has no allied dyad-year (no alliance spell)")
        return
    notes = []
    columns: dict[str, np.ndarray] = {}
    episodes, ep_reason = _episodes_for(panel)
    if episodes is not None:
        inside = pd.Index(_dyad_key(episodes["lo"], episodes["hi"], episodes["year"]))
        if not pd.Index(_dyad_key(spells["lo"], spells["hi"], spells["year"])).isin(inside).all():
            episodes, ep_reason = None, "the episodes of the data folder do not match this panel's alliances"
    spells["first_year"] = spells["start"]  # first observed year: covariates "at formation" come from it
    if episodes is not None:
        start = _true_starts(spells, episodes)
        moved = int((start != spells["start"].to_numpy()).sum())
        spells = spells.assign(start=start, duration=spells["year"] - start + 1)
        notes.append(f"{moved} spell-years of spells begun before the panel counted from the episodes' start years")
    elif spells["left_truncated"].any():
        notes.append(
            f"{int(spells.drop_duplicates('spell')['left_truncated'].sum())} spells allied in the panel's first "
            "year: duration counted from that year (left-truncated)"
        )
    for term in dspec.terms:
        if term == "war_won":
            if episodes is not None:
                columns["war_won"] = _war_won_embedded(spells, episodes)
                notes.append("war_won from episodes.csv (wartime episodes, enemy_defeated_year)")
                continue
            wars, reason = _cow_wars(panel)
            if wars is not None:
                columns["war_won"] = _war_won_cow(spells, wars, panel)
                notes.append("war_won from COW inter-state wars (common enemy in the spell's first year, both "
                             "coded winners)")
                continue
            _unavailable(design, dspec, term, reason or ep_reason or (
                "no war data for this panel: the embedded episodes (wartime, enemy_defeated_year) or, for a "
                "global COW panel, cow_war_inter"))
        elif term == "leninist":
            lacking = [c for c in ("leninist1", "leninist2", "democracy1", "democracy2") if c not in panel.columns]
            if lacking:
                _unavailable(design, dspec, term, f"panel has no column {lacking[0]} (Marxist-Leninist one-party "
                             "states; V-Dem/Polity scores do not identify them)")
                continue
            both, other, note = _regime_pairs(spells, panel)
            columns["leninist"], columns["regime_other"] = both, other
            if note:
                notes.append(note)
        elif term == "ideological":
            ideo, other = _motives(spells, panel, dspec.ideological_similarity)
            columns["ideological"], columns["other_motive"] = ideo, other
    # Leave out rows with a missing covariate.
    ok = np.ones(len(spells), dtype=bool)
    for col in columns.values():
        ok &= ~np.isnan(col)
    threat_rise = "threat_rise" in dspec.terms
    now = prev = None
    if threat_rise:
        if not (design.has_threat and any(design.term_latent)):
            _unavailable(design, dspec, "threat_rise",
                         "needs the threat block and a latent alliance term (shared threat S)")
            threat_rise = False
        else:
            keys = design.ally_keys
            lo = np.minimum(keys["ccode1"], keys["ccode2"])
            hi = np.maximum(keys["ccode1"], keys["ccode2"])
            index = pd.Series(np.arange(len(keys)), index=_dyad_key(lo, hi, keys["year"]))
            index = index[~index.index.duplicated()]
            sk = _dyad_key(spells["lo"], spells["hi"], spells["year"])
            now = index.reindex(sk).fillna(-1).to_numpy(np.int64)
            prev = index.reindex(sk - _YEAR).fillna(-1).to_numpy(np.int64)
            linked = (now >= 0) & (prev >= 0)
            if not linked.any():
                _unavailable(design, dspec, "threat_rise", "no spell-year has alliance rows in both t and t-1")
                threat_rise = False
            else:
                if (~linked & ok).any():
                    notes.append(f"{int((~linked & ok).sum())} spell-years without alliance rows in t and t-1 "
                                 "(no change in shared threat) left out")
                ok &= linked
    n_drop = int((~ok).sum())
    if n_drop and columns:
        notes.append(f"{n_drop} spell-years with a missing covariate or threat link left out in all")
    spells = spells.loc[ok].reset_index(drop=True)
    if spells.empty:
        _unavailable(design, dspec, "block", "no spell-year has every covariate the terms need")
        return
    columns = {k: v[ok] for k, v in columns.items()}
    if threat_rise:
        now, prev = now[ok], prev[ok]
    # Terms that do not vary cannot be estimated.
    terms, cols = [], []
    for name, col in columns.items():
        if np.all(col == col[0]):
            if name in DURATION_COMPANIONS.values():
                continue
            _unavailable(design, dspec, name, f"does not vary in this panel (always {int(col[0])})")
            continue
        terms.append(name)
        cols.append(col)
    y = spells["event"].to_numpy(np.int64)
    log_d = np.log(spells["duration"].to_numpy(float))
    center = float(log_d.mean())
    arrays = DurationArrays(
        keys=spells[["lo", "hi", "year", "spell"]].astype("int64"),
        y=y,
        log_duration=log_d - center,
        X=np.column_stack(cols) if cols else np.zeros((len(y), 0)),
        terms=terms,
        meta={"log_duration_center": center, "ideological_similarity": dspec.ideological_similarity},
    )
    if threat_rise:
        S_hat = _plugin_shared(design)
        dS = S_hat[now] - S_hat[prev]
        sd = float(np.std(dS))
        if not np.isfinite(sd) or sd == 0:
            _unavailable(design, dspec, "threat_rise", "does not vary in this panel")
        else:
            arrays.threat_rise, arrays.ally_now, arrays.ally_prev, arrays.dS_scale = True, now, prev, sd
    n_spells = spells["spell"].nunique()
    notes.insert(0, f"duration block: {len(y):,} spell-years at risk in {n_spells:,} spells, {int(y.sum())} endings, "
                    f"{int(spells['censored'].sum())} censored ends; f(duration) = log duration")
    if spec.alliance.outcome != "pledge" and not spec.alliance.onset:
        notes.append("duration block: with the alliance outcome over all dyad-years (not onset), each spell's "
                     "continuation years are also alliance-block outcomes")
    design.notes.extend(notes)
    design.data_rates["alliance_end"] = float(y.mean())
    design.transform["duration"] = {
        "terms": terms, "threat_rise": arrays.threat_rise, "dS_scale": arrays.dS_scale,
        "log_duration_center": center, "ideological_similarity": dspec.ideological_similarity,
        "spells": int(n_spells), "rows": len(y), "endings": int(y.sum()),
    }
    design.duration = arrays


def _plugin_shared(design) -> np.ndarray:
    """S per alliance row under the plug-in threat estimate (only to fix the scale of ΔS)."""
    from walt_bayes.model.design import _plugin_tau

    tau = _plugin_tau(design)
    if design.dense is not None:
        return design.dense.shared(tau)[0]
    prod = tau[design.triad_ji] * tau[design.triad_jk]
    return np.bincount(design.triad_ally, weights=prod, minlength=len(design.ally_y))


def _unavailable(design, dspec, term: str, reason: str) -> None:
    key = f"duration:{term}"
    if not dspec.drop_unavailable:
        what = "the alliance-duration block" if term == "block" else f"duration term '{term}'"
        raise ModelError(f"{what}: {reason}")
    design.dropped_terms[key] = reason
    design.notes.append(f"{key} left out: {reason}")


# =============================================================================
# The PyMC block
# =============================================================================


def duration_block(design, spec: ModelSpec, latent: dict | None, keep_latent: bool = False) -> None:
    """Add block 3 to the model in context: ``alliance_end ~ Bernoulli(logit h)``.

    Parameters
    ----------
    design : Design
        With ``design.duration`` (nothing is added when it is None).
    spec : ModelSpec
        Priors: family ``delta`` for the effects, ``delta_0`` for the intercept.
    latent : dict or None
        The alliance block's latent factors; ``latent["S"]`` (one value per alliance
        row) gives ΔS from the same threat draws.
    keep_latent : bool
        Record the standardised ΔS as the deterministic ``duration_dS``.
    """
    import pymc as pm

    dur = design.duration
    if dur is None:
        return
    model = pm.modelcontext(None)
    model.add_coord("dur_obs", np.arange(dur.n))

    def effect(name: str):
        return spec.prior(name, "delta").create_variable(name)

    rate = design.data_rates.get("alliance_end", float(dur.y.mean()) if dur.n else 0.1)
    delta_0 = spec.prior("delta_0", mu=_logit(rate)).create_variable("delta_0")
    eta = delta_0 + effect("delta_log_duration") * dur.log_duration
    for t, term in enumerate(dur.terms):
        eta = eta + effect(f"delta_{term}") * dur.X[:, t]
    if dur.threat_rise:
        if not latent or "S" not in latent:
            raise ModelError("duration term 'threat_rise' needs the alliance block's shared threat S")
        S = latent["S"]
        dS = (S[dur.ally_now] - S[dur.ally_prev]) / dur.dS_scale
        if keep_latent:
            dS = pm.Deterministic("duration_dS", dS, dims="dur_obs")
        eta = eta + effect("delta_threat_rise") * dS
    if dur.n:
        pm.Bernoulli("alliance_end", logit_p=eta, observed=dur.y, dims="dur_obs")


def draw_duration_outcomes(design, spec: ModelSpec, values: dict[str, float | np.ndarray], seed: int) -> np.ndarray:
    """Draw ``alliance_end`` from the model with parameters fixed (``pm.do``), for recovery checks.

    The spell-years at risk stay those of the design (each row is a conditionally
    independent Bernoulli in the model, so this is a draw from the block's likelihood).
    ``values`` must fix every free variable the block depends on (with the threat block,
    its parameters too).
    """
    import pymc as pm

    from walt_bayes.model.build import build_model

    model = build_model(design, spec)
    fixed = pm.do(model, {model[k]: v for k, v in values.items() if k in model.named_vars})
    return np.asarray(pm.draw(fixed["alliance_end"], random_seed=int(seed)), dtype=np.int64)
