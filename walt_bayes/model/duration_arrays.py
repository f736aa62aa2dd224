"""Block 3's arrays: one row per spell-year at risk, with its own shared-threat links.

Stored in the design's Dataset (dims ``dur_obs``, ``dur_term``, ``dur_s``, ``dur_triad``);
subsets for cross-validation compact the links (:meth:`DurationArrays.before`,
:meth:`DurationArrays.without_dyads`).  Built by :func:`walt_bayes.model.duration.build_duration`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from walt_bayes.errors import ModelError
from walt_bayes.model.arrays import scatter_rows

#: The triad arrays of the threat_rise links.
TRIAD_FIELDS = ("tri_s", "tri_ji", "tri_jk")


@dataclass
class DurationArrays:
    """The duration block's data: one row per spell-year at risk.

    With ``threat_rise`` the block carries its own shared-threat links: ``S`` is
    evaluated on the dyad-years ``s_keys`` (the rows' years *t* and *t* − 1) by
    summing ``tau[j→lo] · tau[j→hi]`` over the triads ``(tri_s, tri_ji, tri_jk)``,
    exactly as the alliance block sums its triads.  The block therefore does not
    need the dyad-year to be an alliance row (block 2 does not model continuation
    years, see :mod:`walt_bayes.model.duration`).
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
        return scatter_rows(prod, self.tri_s, len(self.s_keys))

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
