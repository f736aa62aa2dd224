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
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from walt_bayes.errors import ModelError, WaltError
from walt_bayes.spec import DURATION_COMPANIONS, ModelSpec

#: Packing of an undirected dyad-year into one int64 (COW codes < 1000).
_YEAR = 1_000_000

#: The triad arrays of the threat_rise links.
TRIAD_FIELDS = ("tri_s", "tri_ji", "tri_jk")

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
    """The duration block's data: one row per spell-year at risk.

    With ``threat_rise`` the block carries its own shared-threat links: ``S`` is
    evaluated on the dyad-years ``s_keys`` (the rows' years *t* and *t* − 1) by
    summing ``tau[j→lo] · tau[j→hi]`` over the triads ``(tri_s, tri_ji, tri_jk)``,
    exactly as the alliance block sums its triads.  The block therefore does not
    need the dyad-year to be an alliance row (block 2 does not model continuation
    years, see the module docstring).
    """

    keys: pd.DataFrame  # lo, hi, year, spell
    y: np.ndarray  # 1 if the spell ends after year t
    log_duration: np.ndarray  # log d, centred
    X: np.ndarray  # (n, n_terms) 0/1 indicators
    terms: list[str] = field(default_factory=list)  # names: coefficient delta_<name>
    threat_rise: bool = False
    s_keys: pd.DataFrame | None = None  # lo, hi, year of the dyad-years whose S the block needs
    s_now: np.ndarray | None = None  # s_keys row of the dyad in t
    s_prev: np.ndarray | None = None  # s_keys row of the dyad in t - 1
    tri_s: np.ndarray | None = None  # triads: s_keys row, threat row of j -> lo, threat row of j -> hi
    tri_ji: np.ndarray | None = None
    tri_jk: np.ndarray | None = None
    dS_scale: float = 1.0
    meta: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.y)

    def coefficient_names(self) -> list[str]:
        """Every coefficient of the block, in the order they are created."""
        names = ["delta_0", "delta_log_duration"] + [f"delta_{t}" for t in self.terms]
        return names + (["delta_threat_rise"] if self.threat_rise else [])

    def shared(self, tau: np.ndarray) -> np.ndarray:
        """S on ``s_keys`` for threat probabilities ``tau`` (vector or (draws, threat rows))."""
        tau = np.atleast_2d(tau)
        prod = tau[:, self.tri_ji] * tau[:, self.tri_jk]
        out = np.zeros((tau.shape[0], len(self.s_keys)))
        for row in range(tau.shape[0]):
            out[row] = np.bincount(self.tri_s, weights=prod[row], minlength=len(self.s_keys))
        return out

    def delta_shared(self, tau: np.ndarray) -> np.ndarray:
        """ΔS / sd(ΔS) per row (numpy twin of the model) for threat probabilities ``tau``."""
        if not self.threat_rise:
            raise ModelError("this duration block has no threat_rise term")
        S = self.shared(tau)
        return (S[:, self.s_now] - S[:, self.s_prev]) / self.dS_scale

    # ------------------------------------------------------------ storage
    def add_to(self, ds: xr.Dataset) -> xr.Dataset:
        """Add the arrays to a design Dataset (dims ``dur_obs``, ``dur_term``, ``dur_s``, ``dur_triad``)."""
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
            data |= {
                "dur_s_now": ("dur_obs", self.s_now.astype(np.int64)),
                "dur_s_prev": ("dur_obs", self.s_prev.astype(np.int64)),
                **{f"dur_s_{c}": ("dur_s", self.s_keys[c].to_numpy(np.int64)) for c in ("lo", "hi", "year")},
                **{f"dur_{n}": ("dur_triad", getattr(self, n).astype(np.int64)) for n in TRIAD_FIELDS},
            }
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
        out = cls(
            keys=keys,
            y=ds["dur_y"].values.astype(np.int64),
            log_duration=ds["dur_log_duration"].values.astype(float),
            X=ds["dur_X"].values.astype(float).reshape(len(keys), -1),
            terms=[str(t) for t in ds["dur_term"].values],
            dS_scale=float(info["dS_scale"]),
            meta=info.get("meta", {}),
        )
        if info["threat_rise"]:
            if "dur_s_now" not in ds:
                raise ModelError("the stored duration block links threat_rise to alliance rows (a fit made "
                                 "before block 3 carried its own shared-threat triads): refit it")
            out.threat_rise = True
            out.s_now, out.s_prev = (ds[f"dur_s_{n}"].values.astype(np.int64) for n in ("now", "prev"))
            out.s_keys = pd.DataFrame({c: ds[f"dur_s_{c}"].values.astype(np.int64) for c in ("lo", "hi", "year")})
            for name in TRIAD_FIELDS:
                setattr(out, name, ds[f"dur_{name}"].values.astype(np.int64))
        return out

    # ------------------------------------------------------------ subsets
    def subset(self, keep: np.ndarray) -> DurationArrays:
        """The block with only the spell-years ``keep`` (boolean mask), its S links compacted.

        Dyad-years and triads no kept row uses are dropped, so a subset never refers to
        threat rows of years it does not need (leave-future-out drops those rows).
        """
        keep = np.asarray(keep, dtype=bool)
        out = copy.copy(self)
        out.keys = self.keys.loc[keep].reset_index(drop=True)
        out.y, out.log_duration, out.X = self.y[keep], self.log_duration[keep], self.X[keep]
        if not self.threat_rise:
            return out
        used = np.zeros(len(self.s_keys), dtype=bool)
        used[self.s_now[keep]] = True
        used[self.s_prev[keep]] = True
        new = np.full(len(self.s_keys), -1, dtype=np.int64)
        new[used] = np.arange(int(used.sum()))
        tri = used[self.tri_s]
        out.s_keys = self.s_keys.loc[used].reset_index(drop=True)
        out.s_now, out.s_prev = new[self.s_now[keep]], new[self.s_prev[keep]]
        out.tri_s, out.tri_ji, out.tri_jk = new[self.tri_s[tri]], self.tri_ji[tri], self.tri_jk[tri]
        return out

    def outcome_keys(self) -> pd.DataFrame:
        """``lo, hi, year`` of the dyad-year whose alliance status each spell-year predicts (*t* + 1).

        A spell-year at risk in *t* is the observation ``a[lo, hi, t + 1]`` of a dyad
        allied in *t* (``y`` = 1 − ``a[t + 1]``): these keys put block 3's rows beside
        block 2's (:mod:`walt_bayes.compare.runs` scores both on the same dyad-years).
        """
        return pd.DataFrame({
            "lo": self.keys["lo"].to_numpy(np.int64), "hi": self.keys["hi"].to_numpy(np.int64),
            "year": self.keys["year"].to_numpy(np.int64) + 1,
        })

    def before(self, cutoff: int) -> DurationArrays:
        """Spell-years whose outcome (allied or not in *t* + 1) is observed before ``cutoff``."""
        return self.subset(self.keys["year"].to_numpy() + 1 < int(cutoff))

    def without_dyads(self, lo: np.ndarray, hi: np.ndarray) -> DurationArrays:
        """The block without the spells of the undirected dyads ``(lo, hi)`` (held out by k-fold)."""
        out = pd.MultiIndex.from_arrays([np.asarray(lo, np.int64), np.asarray(hi, np.int64)])
        mine = pd.MultiIndex.from_frame(self.keys[["lo", "hi"]])
        return self.subset(~mine.isin(out))

    def remap_threat(self, new_index: np.ndarray, why: str) -> DurationArrays:
        """Point the triads at the threat rows' new positions (``new_index``: -1 for dropped rows)."""
        if not self.threat_rise:
            return self
        ji, jk = new_index[self.tri_ji], new_index[self.tri_jk]
        if np.any(ji < 0) or np.any(jk < 0):  # pragma: no cover - guards the callers' invariants
            raise ModelError(f"{why}: a duration triad links to a threat row that was left out")
        out = copy.copy(self)
        out.tri_ji, out.tri_jk = ji, jk
        return out

    def threat_rows(self) -> np.ndarray:
        """Threat rows whose tau the block uses (empty without threat_rise)."""
        if not self.threat_rise:
            return np.zeros(0, dtype=np.int64)
        return np.union1d(self.tri_ji, self.tri_jk)


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


def _shared_source(first: pd.DataFrame, panel: pd.DataFrame) -> np.ndarray:
    """Per spell (rows of ``first``): 1 if a third state threatened both members at formation, else 0.

    A third state *j* threatens a member *x* in year *t* when they are strategic
    rivals (``rivalry``) or *j* initiated a militarised dispute against *x* in the
    previous ten years (``init21_past10`` > 0 on the row x, j).  NaN where either
    member has a missing value of either input in that year: an unknown threat is
    not evidence of no threat.
    """
    rivalry = pd.to_numeric(panel["rivalry"], errors="coerce").astype("float64").to_numpy()
    past = pd.to_numeric(panel["init21_past10"], errors="coerce").astype("float64").to_numpy()
    x = panel["ccode1"].to_numpy(np.int64)
    year = panel["year"].to_numpy(np.int64)
    frame = pd.DataFrame({"x": x, "j": panel["ccode2"].to_numpy(np.int64), "year": year})
    gap = pd.Series(np.isnan(rivalry) | np.isnan(past), index=year * 1000 + x).groupby(level=0).max()
    src = frame.loc[(rivalry == 1) | (past > 0)]
    ti = first.merge(src, left_on=["lo", "start"], right_on=["x", "year"])[["spell", "lo", "hi", "j"]]
    tk = first.merge(src, left_on=["hi", "start"], right_on=["x", "year"])[["spell", "j"]]
    both = ti.merge(tk, on=["spell", "j"])
    both = both.loc[(both["j"] != both["lo"]) & (both["j"] != both["hi"])]
    shared = first["spell"].isin(both["spell"]).to_numpy()
    start = first["start"].to_numpy(np.int64)
    unknown = np.zeros(len(first), dtype=bool)
    for who in ("lo", "hi"):
        unknown |= gap.reindex(start * 1000 + first[who].to_numpy(np.int64)).fillna(True).to_numpy(bool)
    return np.where(unknown & ~shared, np.nan, shared.astype(float))


def _motives(spells: pd.DataFrame, panel: pd.DataFrame, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(ideological, other_motive) per spell-year, classified in the spell's first observed year.

    IDEO-5 contrasts *ideology-driven* alliances (similar regimes, ``ideo_sim`` ≥
    ``threshold``, and no shared threat source) with *threat-driven* ones (a shared
    threat source: the baseline); ``other_motive`` marks dissimilar regimes without
    a shared source.  A spell whose similarity or shared-source status is unknown is
    NaN (left out): it cannot be classified.  A shared source is known even when
    other inputs are missing (one observed common threat suffices).
    """
    first = spells.drop_duplicates("spell")[["spell", "lo", "hi", "first_year"]].rename(
        columns={"first_year": "start"}
    )
    shared = _shared_source(first, panel)
    sim_all = pd.to_numeric(panel["ideo_sim"], errors="coerce").astype("float64").to_numpy()
    c1, c2 = panel["ccode1"].to_numpy(np.int64), panel["ccode2"].to_numpy(np.int64)
    sim = pd.Series(sim_all, index=_dyad_key(np.minimum(c1, c2), np.maximum(c1, c2), panel["year"]))
    sim = sim.groupby(level=0).mean()
    sim0 = sim.reindex(_dyad_key(first["lo"], first["hi"], first["start"])).to_numpy(dtype=float)
    similar = sim0 >= threshold
    ideo = np.where(shared == 1, 0.0, np.where(np.isnan(shared) | np.isnan(sim0), np.nan, similar.astype(float)))
    other = np.where(shared == 1, 0.0, np.where(np.isnan(shared) | np.isnan(sim0), np.nan, (~similar).astype(float)))
    per_spell = pd.DataFrame({"ideological": ideo, "other_motive": other}, index=first["spell"].to_numpy())
    expanded = per_spell.reindex(spells["spell"].to_numpy())
    return expanded["ideological"].to_numpy(float), expanded["other_motive"].to_numpy(float)


# =============================================================================
# Building the block's design
# =============================================================================


def block2_models_continuation(spec: ModelSpec) -> bool:
    """Whether block 2 must leave continuation years to block 3 (alliance onset rows only).

    True when the spec has a duration block and its alliance outcome is not already
    onset: the alliance block then models ``a[t]`` only for dyads not allied in
    *t* − 1 (onset), and block 3 models ``a[t]`` for dyads allied in *t* − 1 (see the
    module docstring: each dyad-year's alliance status enters one likelihood, once).
    """
    return spec.duration is not None and not spec.alliance.onset


def build_duration(panel: pd.DataFrame, spec: ModelSpec, design, threat_panel: pd.DataFrame | None = None) -> None:
    """Add the duration block's arrays to ``design`` (``design.duration``).

    Parameters
    ----------
    panel : pandas.DataFrame
        The whole directed dyad-year panel (before any politically-relevant
        restriction of case-control sampling: spells are consecutive allied years of
        a dyad, and dropping a dyad's non-relevant years would cut them).  The
        embedded panel's episodes (wartime, enemy defeated, true start years) are
        read from its data folder (``panel.attrs["data_dir"]``, the bundled data by
        default); a global COW panel (one with the ``war`` column) reads ``cow_war_inter``.
    spec : ModelSpec
        With a ``[duration]`` table.
    design : Design
        The design of blocks 1 and 2, already built.
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
    # A spell-year's outcome is the dyad's status in t + 1; unobserved, it is unknown (not "went on").
    censored = spells["censored"].to_numpy() == 1
    if censored.any():
        notes.append(f"{int(censored.sum())} spell-years whose next year is unobserved (censored) are not at risk")
        spells = spells.loc[~censored].reset_index(drop=True)
    if spells.empty:
        _unavailable(design, dspec, "block", "no spell-year has an observed next year")
        return
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
    links = None
    if "threat_rise" in dspec.terms:
        links, reason = _shared_links(spells, panel, threat_panel, spec, design)
        if links is None:
            _unavailable(design, dspec, "threat_rise", reason)
        else:
            linked = links.pop("linked")
            if (~linked & ok).any():
                notes.append(f"{int((~linked & ok).sum())} spell-years whose dyad is not in the panel in t - 1 "
                             "(no change in shared threat) left out")
            ok &= linked
    n_drop = int((~ok).sum())
    if n_drop and columns:
        notes.append(f"{n_drop} spell-years with a missing covariate or threat link left out in all")
    if not ok.any():
        _unavailable(design, dspec, "block", "no spell-year has every covariate the terms need")
        return
    columns = {k: v[ok] for k, v in columns.items()}
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
    kept = spells.loc[ok].reset_index(drop=True)
    y = kept["event"].to_numpy(np.int64)
    log_d = np.log(kept["duration"].to_numpy(float))
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
    arrays.X = np.column_stack(cols) if cols else np.zeros((len(y), 0))
    if arrays.threat_rise:
        dS = arrays.delta_shared(_plugin_tau(design))[0] * arrays.dS_scale
        sd = float(np.std(dS))
        if not np.isfinite(sd) or sd == 0:
            _unavailable(design, dspec, "threat_rise", "does not vary in this panel")
            arrays = _without_threat_rise(arrays)
        else:
            arrays.dS_scale = sd
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
        "terms": terms, "threat_rise": arrays.threat_rise, "dS_scale": arrays.dS_scale,
        "log_duration_center": center, "ideological_similarity": dspec.ideological_similarity,
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
                  design) -> tuple[dict | None, str]:
    """Shared-threat triads for the spell-years' dyads in t and t - 1, or (None, reason).

    The triads are those block 2 would build for the dyad-year (sources relevant to
    either member, both threat rows present), so S here is the alliance block's S.
    Returns ``s_keys, s_now, s_prev, tri_s, tri_ji, tri_jk`` and ``linked`` (the dyad
    is in the panel in t - 1).
    """
    from walt_bayes.model.design import _key, _relevant_pairs

    if not (design.has_threat and any(design.term_latent)):
        return None, "needs the threat block and a latent alliance term (shared threat S)"
    c1, c2 = panel["ccode1"].to_numpy(np.int64), panel["ccode2"].to_numpy(np.int64)
    present = pd.Index(np.unique(_dyad_key(np.minimum(c1, c2), np.maximum(c1, c2), panel["year"])))
    now = _dyad_key(spells["lo"], spells["hi"], spells["year"])
    linked = present.get_indexer(now - _YEAR) >= 0
    if not linked.any():
        return None, "no spell-year has its dyad in the panel in t - 1"
    s_index = pd.Index(np.unique(np.concatenate([now, now[linked] - _YEAR])))
    s_keys = pd.DataFrame({
        "lo": (s_index.to_numpy() // 1000) % 1000, "hi": s_index.to_numpy() % 1000,
        "year": s_index.to_numpy() // _YEAR,
    }).astype("int64")
    rel = _relevant_pairs(threat_panel, spec)
    rows = s_keys.assign(row=np.arange(len(s_keys)))
    via = [rows.merge(rel, left_on=[who, "year"], right_on=["x", "year"]) for who in ("lo", "hi")]
    tri = pd.concat(via, ignore_index=True)[["row", "lo", "hi", "j", "year"]]
    tri = tri.loc[(tri["j"] != tri["lo"]) & (tri["j"] != tri["hi"])].drop_duplicates(["row", "j"])
    threat_index = pd.Index(_key(design.threat_keys["ccode1"], design.threat_keys["ccode2"],
                                 design.threat_keys["year"]))
    ji = threat_index.get_indexer(_key(tri["lo"], tri["j"], tri["year"]))
    jk = threat_index.get_indexer(_key(tri["hi"], tri["j"], tri["year"]))
    ok = (ji >= 0) & (jk >= 0)
    prev = s_index.get_indexer(now - _YEAR)
    return {
        "s_keys": s_keys, "s_now": s_index.get_indexer(now).astype(np.int64),
        "s_prev": np.where(linked, prev, 0).astype(np.int64),
        "tri_s": tri["row"].to_numpy(np.int64)[ok], "tri_ji": ji[ok].astype(np.int64),
        "tri_jk": jk[ok].astype(np.int64), "linked": linked,
    }, ""


def _plugin_tau(design) -> np.ndarray:
    """Threat probabilities under the pooled plug-in logit (only to fix the scale of ΔS)."""
    from walt_bayes.model.design import _plugin_tau as plugin

    return plugin(design)


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
        The alliance block's latent factors.  ``latent["tau"]`` (the threat
        probability of every threat row), when the model builder passes it, gives
        ΔS; otherwise tau is rebuilt from the threat block's variables in the model
        (the same expression, so the same draws).
    keep_latent : bool
        Record the standardised ΔS as the deterministic ``duration_dS``.
    """
    import pymc as pm

    dur = design.duration
    if dur is None:
        return
    model = pm.modelcontext(None)
    model.add_coord("dur_obs", np.arange(dur.n))
    delta = duration_parameters(design, spec)
    eta = delta[0] + delta[1] * dur.log_duration
    for t in range(len(dur.terms)):
        eta = eta + delta[2 + t] * dur.X[:, t]
    if dur.threat_rise:
        dS = _delta_shared_tensor(design, (latent or {}).get("tau"))
        if keep_latent:
            dS = pm.Deterministic("duration_dS", dS, dims="dur_obs")
        eta = eta + delta[-1] * dS
    if dur.n:
        pm.Bernoulli("alliance_end", logit_p=eta, observed=dur.y, dims="dur_obs")


def duration_parameters(design, spec: ModelSpec) -> list:
    """Create block 3's coefficients in the model in context, in ``DurationArrays.coefficient_names`` order.

    ``delta_0`` (prior centred on the logit of the observed end rate), ``delta_log_duration``,
    one ``delta_<term>`` per indicator column and, with ``threat_rise``, ``delta_threat_rise``.
    Shared by the graph block (:func:`duration_block`) and the fused kernel
    (:mod:`walt_bayes.model.fused`), so both forms have the same parameters and priors.
    """
    dur = design.duration
    rate = design.data_rates.get("alliance_end", float(dur.y.mean()) if dur.n else 0.1)
    out = []
    for name in dur.coefficient_names():
        prior = spec.prior("delta_0", mu=_logit(rate)) if name == "delta_0" else spec.prior(name, "delta")
        out.append(prior.create_variable(name))
    return out


def _model_tau(design, rows: np.ndarray | None = None):
    """tau of the threat ``rows`` (default: all) from the threat block's variables in the model in context."""
    import pymc as pm
    import pytensor.tensor as pt

    from walt_bayes.model.build import _grouped_linear, threat_offset

    model = pm.modelcontext(None)
    if "lambda_0" not in model.named_vars:
        raise ModelError("duration term 'threat_rise' needs the threat block (lambda_0, beta) in the model")
    if len(design.threat_groups) > 1:
        theta = _grouped_linear(design, model["beta"], rows)
    else:
        beta = pt.stack([model[f"beta_{s}"] for s in design.sources])
        X = design.threat_X if rows is None else design.threat_X[rows]
        theta = pt.as_tensor_variable(X) @ beta
    source = model["source_effect"] if "source_effect" in model.named_vars else None
    return pm.math.sigmoid(model["lambda_0"] + theta + threat_offset(design, source, rows))


def _delta_shared_tensor(design, tau=None):
    """ΔS / sd(ΔS) per spell-year from the block's triads (PyTensor twin of ``DurationArrays.delta_shared``).

    Without ``tau`` (a model with no graph tau; the fused sampling model computes ΔS in
    its kernel, :mod:`walt_bayes.model.fused`), tau is built for the threat rows the
    block's triads use only (5,966 of the embedded panel's 10,960).
    """
    import pytensor.tensor as pt

    dur = design.duration
    ji, jk = dur.tri_ji, dur.tri_jk
    if tau is None:
        rows = dur.threat_rows()
        tau = _model_tau(design, rows)
        ji, jk = np.searchsorted(rows, ji), np.searchsorted(rows, jk)
    S = pt.zeros(len(dur.s_keys))[dur.tri_s].inc(tau[ji] * tau[jk])
    return (S[dur.s_now] - S[dur.s_prev]) / dur.dS_scale


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
