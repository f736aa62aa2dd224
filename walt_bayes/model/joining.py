"""Wartime joining (COND-5): do states that join an ongoing war pick the eventual winner?

Among states that entered an inter-state war after it began, ``y = 1`` when the
joiner fought on the side that eventually won.  The chance of that, given the
sides' sizes, is the share of the states already fighting on the eventual
winner's side when the joiner entered, ``p0 = n_winner / (n_winner + n_loser)``
(the joiner picks a side in proportion to the sides' sizes).  The model is a
Bernoulli with that offset::

    logit P(joined winner) = logit(p0) + join_winner,   join_winner ~ Normal(0, 1)

so ``join_winner`` is the log-odds of joining the winner over the chance share
(COND-5 predicts > 0; 0 is chance).  A Bernoulli with an offset was chosen over
a Beta-Binomial because each joiner has its own chance share; overdispersion
across wars is not modelled (with a dozen joiners it could not be estimated).
Wars without an eventual winner (ties, stalemates, compromises) are left out.

Data
----
- Embedded panel: ``data/middle_east/war_joining.csv`` (our coding from the
  histories, see CODEBOOK.md), validated by
  :func:`walt_bayes.panel.war_joining.load_war_joining`.
  ``[joining] exclude_uncertain = true`` leaves out rows flagged uncertain.
- Global COW panel (one with the ``war`` column): ``panel.war_joining.joiners_from_cow`` derives
  joiners from ``cow_war_inter``.  Coarse: COW gives war-*years*, so a state is a
  joiner only when its first war-year is after the war's first year; states that
  entered in the onset year (days or months later) count as original
  belligerents.  Sides are the COW outcomes: winners (outcome 1) against losers
  (outcome 2); wars with neither are left out, as are joiners whose outcome is
  not 1 or 2 (e.g. 8 = changed sides).

Either table comes from the panel's :class:`~walt_bayes.panel.companions.Companions`
(``panel/`` reads it when the block asks); this module reads no file.

The block shares no data with the other blocks; it is part of the one joint
posterior only.

Case control and cross-validation
---------------------------------
The block is built from the **whole** panel even when case control keeps only
politically relevant dyad-years for blocks 1-2 (:mod:`walt_bayes.model.casecontrol`).
That is deliberate: its unit is a state entering a war, not a dyad-year, so
dyad relevance is no criterion for it; the whole panel only decides which
states and years are in scope (global panel).  With the default relevance
criteria restricting it would change nothing (every state has a dyad with a
major power every year), but a spec without ``major`` among them would lose
the joiners whose state has no contiguous or rival dyad.  Case-control sampling of zeros concerns
the rare dyadic outcomes of blocks 1-2; the joiners are few and all kept.
Leave-future-out refits keep the joiners that joined before the cutoff
(:meth:`JoiningArrays.before`); the block's only parameter, ``join_winner``, is
shared with no alliance term, so it cannot change an alliance elpd.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from walt_bayes.errors import ModelError
from walt_bayes.spec import ModelSpec

if TYPE_CHECKING:
    from walt_bayes.panel.companions import Companions


@dataclass
class JoiningArrays:
    """One row per joiner of a war with an eventual winner."""

    keys: pd.DataFrame  # war (str), ccode, year
    y: np.ndarray  # 1 if the joiner joined the eventual winner
    chance: np.ndarray  # p0: share of the eventual winner's side when it joined
    uncertain: np.ndarray  # 0/1 flags (embedded coding)
    meta: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.y)

    def add_to(self, ds: xr.Dataset) -> xr.Dataset:
        """Add the arrays to a design Dataset (dim ``join_obs``)."""
        out = ds.assign({
            "join_war": ("join_obs", self.keys["war"].astype(str).to_numpy()),
            "join_ccode": ("join_obs", self.keys["ccode"].to_numpy(np.int64)),
            "join_year": ("join_obs", self.keys["year"].to_numpy(np.int64)),
            "join_y": ("join_obs", self.y.astype(np.int64)),
            "join_chance": ("join_obs", self.chance.astype(float)),
            "join_uncertain": ("join_obs", self.uncertain.astype(np.int8)),
        })
        out.attrs["joining"] = json.dumps(self.meta)
        return out

    def before(self, cutoff: int) -> JoiningArrays:
        """Joiners that joined before ``cutoff`` (leave-future-out training data)."""
        keep = self.keys["year"].to_numpy() < int(cutoff)
        return JoiningArrays(
            keys=self.keys.loc[keep].reset_index(drop=True), y=self.y[keep], chance=self.chance[keep],
            uncertain=self.uncertain[keep], meta=dict(self.meta),
        )

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> JoiningArrays | None:
        """The arrays stored by :meth:`add_to`, or None when the design has no joining block."""
        if "joining" not in ds.attrs or "join_y" not in ds:
            return None
        keys = pd.DataFrame({
            "war": [str(w) for w in ds["join_war"].values],
            "ccode": ds["join_ccode"].values.astype(np.int64),
            "year": ds["join_year"].values.astype(np.int64),
        })
        return cls(
            keys=keys, y=ds["join_y"].values.astype(np.int64), chance=ds["join_chance"].values.astype(float),
            uncertain=ds["join_uncertain"].values.astype(np.int64), meta=json.loads(ds.attrs["joining"]),
        )


# =============================================================================
# Building the block's design
# =============================================================================


def build_joining(panel: pd.DataFrame, spec: ModelSpec, design, companions: Companions) -> None:
    """Add the wartime-joining arrays to ``design`` (``design.joining``).

    Joiners are those of wars in the embedded ``war_joining.csv`` (panel from the
    embedded data) or derived from ``cow_war_inter`` (global panel: joiners whose
    state is in the panel and whose entry year lies in the panel's years), as
    ``companions.joiners()`` (:mod:`walt_bayes.panel.companions`) reads them.

    Raises
    ------
    DataError
        ``war_joining.csv`` has a bad row (one line: file, column, CSV lines).
    ModelError
        No joining data or no decided joiner, and ``[joining] drop_unavailable`` is false.
    """
    jspec = spec.joining
    table, meta, reason = companions.joiners()
    if table is not None:
        n_all = len(table)
        table = table.loc[table["side_won"].notna()]
        if meta["source"].startswith("cow_war_inter"):
            states = set(panel["ccode1"].astype(int)) | set(panel["ccode2"].astype(int))
            years = panel["year"].astype(int)
            table = table.loc[table["joiner"].isin(states) & table["join_year"].between(years.min(), years.max())]
        if jspec.exclude_uncertain:
            table = table.loc[table["uncertain"] == 0]
        if table.empty:
            table, reason = None, "no joiner of a war with an eventual winner in this panel's data"
    if table is None:
        if not jspec.drop_unavailable:
            raise ModelError(f"wartime-joining block: {reason}")
        design.dropped_terms["joining"] = reason
        design.notes.append(f"joining left out: {reason}")
        return
    table = table.reset_index(drop=True)
    nw = table["winner_side_before"].astype(float).to_numpy()
    nl = table["loser_side_before"].astype(float).to_numpy()
    arrays = JoiningArrays(
        keys=pd.DataFrame({"war": table["war_id"].astype(str), "ccode": table["joiner"].astype("int64"),
                           "year": table["join_year"].astype("int64")}),
        y=table["side_won"].astype("int64").to_numpy(),
        chance=nw / (nw + nl),
        uncertain=table["uncertain"].astype("int64").to_numpy(),
        meta={**meta, "exclude_uncertain": jspec.exclude_uncertain},
    )
    design.joining = arrays
    design.data_rates["joined_winner"] = float(arrays.y.mean())
    design.transform["joining"] = {**arrays.meta, "rows": arrays.n, "wars": int(table["war_id"].nunique())}
    design.notes.append(
        f"joining block: {arrays.n} joiners of {table['war_id'].nunique()} wars with a winner "
        f"({int(arrays.y.sum())} joined it; chance expects {arrays.chance.sum():.1f}), from {meta['source']}"
        + (f"; {n_all - arrays.n} rows of the source left out (no winner, outside the panel"
           f"{', uncertain' if jspec.exclude_uncertain else ''})" if n_all > arrays.n else "")
    )


def joining_block(design, spec: ModelSpec) -> None:
    """Add the joining likelihood to the model in context: ``joined_winner ~ Bernoulli(logit(p0) + join_winner)``."""
    j = design.joining
    if j is None:
        return
    model = pm.modelcontext(None)
    model.add_coord("join_obs", np.arange(j.n))
    join_winner = spec.prior("join_winner").create_variable("join_winner")
    p0 = np.clip(j.chance, 1e-6, 1 - 1e-6)
    pm.Bernoulli("joined_winner", logit_p=np.log(p0 / (1 - p0)) + join_winner, observed=j.y, dims="join_obs")
