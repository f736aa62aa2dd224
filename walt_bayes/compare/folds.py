"""The folds of cross-validation by refitting: which rows each fold holds out, and the designs.

:func:`assign_folds` gives every alliance row of every compared fit its fold (grouped by dyad,
by dyad-year, or by year block for leave-future-out); :func:`training_design` and
:func:`restrict_to_years_before` give the design a fold's refit is fitted on, without the
held-out rows or any evidence about them; :class:`FoldSettings` are the refits' sampler
settings; :func:`fold_seed_for` and the row hashes key each fold's seed and cache entry.
The refits themselves are :mod:`walt_bayes.compare.kfold`'s.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from walt_bayes.compare.runs import Run
from walt_bayes.errors import WaltError
from walt_bayes.model.design import Design
from walt_bayes.spec import ADAPTATIONS

GROUPS = ("dyad", "year-block", "none")


@dataclass(frozen=True)
class FoldSettings:
    """Sampler settings for the refits (smaller than a full fit; stored with every result)."""

    chains: int = 2
    draws: int = 300
    tune: int = 300
    cores: int | None = None
    sampler: str | None = None  # default: the fit's spec
    target_accept: float | None = None  # default: the fit's spec
    #: nutpie's mass-matrix adaptation; None: the fit's, except that a fit's "low_rank" becomes
    #: "draw_diag" unless the fit has a duration block.  Folds warm up for a few hundred steps,
    #: too few for low-rank updates on the status variants: an embedded null fold (2 × 300 + 300,
    #: one core) took 34.9 s, 169 leapfrog steps per draw and 121 divergences with low_rank,
    #: 5.0 s, 31 steps and none with draw_diag (ideology: 29.5 s against 5.4 s).  full's
    #: correlated terms are the exception: 88.7 s and 31 steps with low_rank, 108.5 s and 63 with
    #: draw_diag.
    adaptation: str | None = None
    #: Where nutpie's chains start: "posterior" (a draw of the fit being cross-validated,
    #: picked by the chain's seed; skips warm-up's costly first phase) or "default".
    start: str = "posterior"

    def _adaptation(self, spec) -> str:
        if self.adaptation is not None:
            return self.adaptation
        fitted = getattr(spec.sampler, "adaptation", "diag")
        return "draw_diag" if fitted == "low_rank" and spec.duration is None else fitted

    def resolved(self, spec) -> dict:
        """The settings of the refits of a fit of ``spec``, every default filled in (as stored).

        Raises
        ------
        WaltError
            An unknown ``start`` or ``adaptation``.
        """
        if self.start not in ("posterior", "default"):
            raise WaltError(f"fold start '{self.start}' is not 'posterior' or 'default'")
        if self.adaptation is not None and self.adaptation not in ADAPTATIONS:
            raise WaltError(f"fold adaptation '{self.adaptation}' is not one of {', '.join(ADAPTATIONS)}")
        sampler = self.sampler or spec.sampler.sampler
        return {
            "sampler": sampler,
            "adaptation": self._adaptation(spec) if sampler == "nutpie" else "pymc default",
            "chains": int(self.chains),
            "draws": int(self.draws),
            "tune": int(self.tune),
            "cores": int(self.cores or min(os.cpu_count() or 1, self.chains)),
            "target_accept": float(self.target_accept or spec.sampler.target_accept),
            "start": self.start if sampler == "nutpie" else "default",
        }


# ----------------------------------------------------------------------------- folds
def _dyad_labels(keys: pd.DataFrame) -> np.ndarray:
    """One label per row: its undirected dyad (``"lo-hi"``, either state order)."""
    lo = np.minimum(keys["ccode1"], keys["ccode2"]).astype(str)
    hi = np.maximum(keys["ccode1"], keys["ccode2"]).astype(str)
    return (lo + "-" + hi).to_numpy()


def _row_labels(run: Run) -> np.ndarray:
    """One label per dyad-year, the same in every fit (block 3's rows know only the unordered pair)."""
    return run.index.to_frame(index=False).astype(str).agg("-".join, axis=1).to_numpy()


def assign_folds(runs: list[Run], k: int, group: str, fold_seed: int = 0) -> dict[str, np.ndarray]:
    """Fold number (1..K) of every alliance row of every run; 0 marks rows never scored.

    Folds are assigned to *labels* (undirected dyads, dyad-years or years) taken
    over the union of all runs, so every variant is cross-validated on the same
    split.
    """
    if group not in GROUPS:
        raise WaltError(f"group: '{group}' is not one of {', '.join(GROUPS)}")
    if group == "year-block":
        years = np.unique(np.concatenate([r.keys["year"].to_numpy() for r in runs]))
        if k < 3 or k > len(years):
            raise WaltError(
                f"folds {k}: leave-future-out needs 3 to {len(years)} year blocks "
                "(the first block is only trained on, never scored)"
            )
        block_of = {int(y): b + 1 for b, blk in enumerate(np.array_split(years, k)) for y in blk}
        return {
            r.label: np.array([block_of[int(y)] for y in r.keys["year"].to_numpy()]) - 1
            for r in runs
        }  # block 1 -> 0 (not scored), block b -> fold b-1
    if group == "dyad":
        labels = {r.label: _dyad_labels(r.keys) for r in runs}
    else:
        labels = {r.label: _row_labels(r) for r in runs}
    universe = np.unique(np.concatenate(list(labels.values())))
    if k < 2 or k > len(universe):
        raise WaltError(f"folds {k}: need 2 to {len(universe)} folds for group '{group}'")
    perm = np.random.default_rng(int(fold_seed)).permutation(len(universe))
    fold_of_label = pd.Series(np.empty(len(universe), dtype=np.int64), index=universe)
    fold_of_label.iloc[perm] = np.arange(len(universe)) % k + 1
    return {label: fold_of_label.loc[lab].to_numpy() for label, lab in labels.items()}


def restrict_to_years_before(design: Design, cutoff: int) -> Design:
    """The design with every row (alliance, threat, duration, joining) from years before ``cutoff``.

    Standardisation constants and coordinates stay those of the full design,
    so the model's free variables are unchanged (see ``Design.subset_alliance``).
    A duration row of year *t* has the dyad's status in *t* + 1 as its outcome,
    so it is kept only when *t* + 1 < ``cutoff``; its ΔS uses threat rows of *t*
    and *t* − 1, both kept.  Joiners are kept when they joined before ``cutoff``.
    """
    rows = np.flatnonzero(design.ally_keys["year"].to_numpy() < cutoff)
    sub = design.subset_alliance(rows)
    if sub.duration is not None:
        sub.duration = sub.duration.before(cutoff)
    if sub.joining is not None:
        sub.joining = sub.joining.before(cutoff)
    if not design.has_threat:
        return sub
    # Alliance and duration rows link only to threat rows of their own (or the previous) year, all kept.
    sub.keep_threat_rows(np.flatnonzero(design.threat_keys["year"].to_numpy() < cutoff), "leave-future-out")
    return sub


def training_design(
    design: Design, test: np.ndarray, group: str, test_dur: np.ndarray | None = None
) -> Design:
    """The design a k-fold refit is fitted on: no held-out row, and no evidence about one.

    Parameters
    ----------
    design : Design
        The fit's design.
    test : array of int
        Held-out alliance (block 2) rows.
    group : {"dyad", "none"}
        How the folds are grouped.
    test_dur : array of int, optional
        Held-out spell-years (block 3): the continuing dyad-years of a fit with a
        duration block, scored by block 3.

    Returns
    -------
    Design
        Every alliance row but ``test``.  ``group="dyad"``: the duration block
        without any spell of a held-out dyad (its spell-years are outcomes of the same
        dyad).  ``group="none"``: without the spell-years of *t* − 1 and *t* of every
        held-out dyad-year (d, *t*) (the first predicts ``a[t]``, the second is at risk
        only because ``a[t]`` = 1).  The joining block is about states entering wars,
        not dyads: it stays.
    """
    keep = np.ones(len(design.ally_y), dtype=bool)
    keep[np.asarray(test, dtype=np.int64)] = False
    sub = design.subset_alliance(np.flatnonzero(keep))
    if sub.duration is None:
        return sub
    held = design.ally_keys.iloc[np.asarray(test, dtype=np.int64)]
    lo = np.minimum(held["ccode1"], held["ccode2"]).to_numpy(np.int64)
    hi = np.maximum(held["ccode1"], held["ccode2"]).to_numpy(np.int64)
    years = held["year"].to_numpy(np.int64)
    if test_dur is not None and len(test_dur):
        nxt = design.duration.outcome_keys().iloc[np.asarray(test_dur, dtype=np.int64)]
        lo = np.r_[lo, nxt["lo"].to_numpy(np.int64)]
        hi = np.r_[hi, nxt["hi"].to_numpy(np.int64)]
        years = np.r_[years, nxt["year"].to_numpy(np.int64)]
    if group == "dyad":
        sub.duration = sub.duration.without_dyads(lo, hi)
        return sub
    out = pd.MultiIndex.from_arrays([np.r_[lo, lo], np.r_[hi, hi], np.r_[years, years - 1]])
    mine = pd.MultiIndex.from_frame(sub.duration.keys[["lo", "hi", "year"]])
    sub.duration = sub.duration.subset(~mine.isin(out))
    return sub


def scheme_description(group: str, k: int) -> str:
    """The scheme of ``k`` folds grouped by ``group``, in words (the table's ``scheme``)."""
    if group == "dyad":
        return f"{k}-fold CV grouped by dyad (refits)"
    if group == "year-block":
        return (
            f"leave-future-out, {k} year blocks, blocks 2-{k} scored (refits on earlier years only)"
        )
    return f"{k}-fold CV over dyad-years (refits)"


# ----------------------------------------------------------------------- seeds and keys
def fold_seed_for(seed: int, scheme_key: str, fold: int) -> int:
    """A deterministic integer seed for one fold, from the fit's seed, the scheme and the fold."""
    salt = int(hashlib.sha256(scheme_key.encode()).hexdigest()[:8], 16)
    return int(np.random.SeedSequence([int(seed), salt, int(fold)]).generate_state(1)[0])


def rows_sha(keys: pd.DataFrame) -> str:
    """Content id of a fold's training or held-out rows (keys the fold cache)."""
    return hashlib.sha256(np.ascontiguousarray(keys.to_numpy(np.int64)).tobytes()).hexdigest()[:16]


def blocks_sha(design: Design) -> str:
    """Content id of the duration and joining rows a refit is fitted on (keys the fold cache)."""
    parts = [b.keys[["lo", "hi", "year"]] for b in (design.duration,) if b is not None]
    parts += [b.keys[["ccode", "year"]] for b in (design.joining,) if b is not None]
    if not parts:
        return ""
    return hashlib.sha256(b"".join(np.ascontiguousarray(p.to_numpy(np.int64)).tobytes() for p in parts)).hexdigest()[:16]
