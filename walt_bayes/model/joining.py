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
  histories, see CODEBOOK.md), validated by :func:`load_war_joining`.
  ``[joining] exclude_uncertain = true`` leaves out rows flagged uncertain.
- Global COW panel (one with the ``war`` column): :func:`joiners_from_cow` derives
  joiners from ``cow_war_inter``.  Coarse: COW gives war-*years*, so a state is a
  joiner only when its first war-year is after the war's first year; states that
  entered in the onset year (days or months later) count as original
  belligerents.  Sides are the COW outcomes: winners (outcome 1) against losers
  (outcome 2); wars with neither are left out, as are joiners whose outcome is
  not 1 or 2 (e.g. 8 = changed sides).

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

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import xarray as xr

from walt_bayes.errors import ModelError, WaltError
from walt_bayes.spec import ModelSpec

FILE = "war_joining.csv"
COLUMNS = (
    "war_id", "war_name", "war_start_year", "war_end_year", "joiner", "join_year", "side", "side_won",
    "winner_side_before", "loser_side_before", "uncertain", "source_note",
)
#: Wars of the embedded file may start before the panel (as episodes do) but joiners join in 1955-1979.
WAR_FIRST_YEAR = 1945


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
# The embedded file
# =============================================================================


def _schema(states: pd.DataFrame, members) -> pa.DataFrameSchema:
    from walt_bayes.panel.me_checks import binary_column as _binary
    from walt_bayes.panel.me_checks import int_column as _int
    from walt_bayes.panel.me_checks import known_codes as _known
    from walt_bayes.panel.me_checks import not_before as _not_before
    from walt_bayes.panel.me_checks import row_check as _row_check
    from walt_bayes.panel.me_checks import text_column as _text
    from walt_bayes.panel.me_checks import years_check as _years
    from walt_bayes.panel.me_codebook import FIRST_YEAR, LAST_YEAR
    from walt_bayes.panel.me_codebook import SLUG as _SLUG

    def counts_match(d: pd.DataFrame) -> pd.Series:
        decided = d["side_won"].notna()
        counts = d["winner_side_before"].notna() & d["loser_side_before"].notna()
        none = d["winner_side_before"].isna() & d["loser_side_before"].isna()
        return (decided & counts) | (~decided & none)

    def joined_during(d: pd.DataFrame) -> pd.Series:
        return ((d["join_year"] >= d["war_start_year"]) & (d["join_year"] <= d["war_end_year"])).fillna(False)

    def member(d: pd.DataFrame) -> pd.Series:
        return pd.Series(
            [members.is_member(int(c), int(y)) for c, y in zip(d["joiner"], d["join_year"], strict=True)],
            index=d.index,
        )

    def same_war(d: pd.DataFrame) -> pd.Series:
        cols = ["war_name", "war_start_year", "war_end_year"]
        n = d.groupby("war_id")[cols].transform("nunique").max(axis=1)
        return n <= 1

    count = _int(pa.Check.ge(1, error="must be at least 1 (a side of an ongoing war)"), nullable=True)
    return pa.DataFrameSchema(
        {
            "war_id": _text(pa.Check.str_matches(_SLUG.pattern, error="must be a lowercase slug")),
            "war_name": _text(),
            "war_start_year": _int(_years(WAR_FIRST_YEAR, LAST_YEAR)),
            "war_end_year": _int(_years(WAR_FIRST_YEAR, LAST_YEAR)),
            "joiner": _int(_known(set(states["ccode"]))),
            "join_year": _int(_years(FIRST_YEAR, LAST_YEAR)),
            "side": _text(),
            "side_won": _int(pa.Check.isin([0, 1], error="must be 0, 1 or empty (no winner)"), nullable=True),
            "winner_side_before": count,
            "loser_side_before": count,
            "uncertain": _binary(),
            "source_note": _text(),
        },
        unique=["war_id", "joiner"],
        checks=[
            _not_before("war_end_year", "war_start_year"),
            _row_check("join_year", "join_year outside the war's years", joined_during),
            _row_check("joiner", "joiner not a system member in join_year", member),
            _row_check(
                "winner_side_before",
                "side sizes must be given exactly when side_won is (empty for wars without a winner)",
                counts_match,
            ),
            _row_check("war_name", "rows of one war_id disagree on war_name or years", same_war),
        ],
    )


def load_war_joining(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Read and validate ``war_joining.csv`` of the embedded data.

    Parameters
    ----------
    data_dir : path-like, optional
        Folder with the embedded CSV files (the bundled data when ``None``).

    Returns
    -------
    pandas.DataFrame
        The validated rows (``side_won``, ``winner_side_before``, ``loser_side_before``
        are nullable ``Int64``: empty for wars without an eventual winner).

    Raises
    ------
    DataError
        A missing file or column, or a bad value: one line naming the file, the
        column and the CSV line numbers (header = line 1).
    """
    from walt_bayes.panel.embedded import _load_state_years, _load_states, resolve_data_dir
    from walt_bayes.panel.me_checks import read_text_csv
    from walt_bayes.panel.me_checks import validate as _validate
    from walt_bayes.panel.me_schemas import Membership as _Membership

    path = resolve_data_dir(data_dir)
    file = path / FILE
    df = read_text_csv(file, COLUMNS)
    states = _load_states(path)
    members = _Membership(states, _load_state_years(path, states))
    return _validate(df, _schema(states, members), FILE)


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# =============================================================================
# The global panel: joiners from COW inter-state wars
# =============================================================================


def joiners_from_cow(wars: pd.DataFrame) -> pd.DataFrame:
    """Joiners of COW inter-state wars, in the layout of ``war_joining.csv``.

    Parameters
    ----------
    wars : pandas.DataFrame
        ``cow_war_inter`` (directed dyadic war-years: ``warnum, ccode1, ccode2, year,
        outcome1``).

    Returns
    -------
    pandas.DataFrame
        One row per joiner (first war-year after the war's first year) with an
        outcome of 1 (win) or 2 (loss) in a war that has both; side sizes count the
        winners and losers whose first war-year is before the joiner's.
    """
    w = pd.DataFrame({
        "warnum": pd.to_numeric(wars["warnum"]).astype("int64"),
        "ccode": pd.to_numeric(wars["ccode1"]).astype("int64"),
        "year": pd.to_numeric(wars["year"]).astype("int64"),
        "outcome": pd.to_numeric(wars["outcome1"]),
    })
    part = w.groupby(["warnum", "ccode"]).agg(first=("year", "min"), last=("year", "max"),
                                              outcome=("outcome", "first")).reset_index()
    span = part.groupby("warnum").agg(start=("first", "min"), end=("last", "max"))
    part = part.join(span, on="warnum")
    rows = []
    for warnum, g in part.groupby("warnum"):
        won = g["outcome"] == 1
        lost = g["outcome"] == 2
        if not won.any() or not lost.any():
            continue
        for _, r in g.loc[(g["first"] > g["start"]) & (won | lost)].iterrows():
            before = g["first"] < r["first"]
            rows.append({
                "war_id": f"cow_{int(warnum)}", "war_name": f"COW inter-state war {int(warnum)}",
                "war_start_year": int(r["start"]), "war_end_year": int(r["end"]),
                "joiner": int(r["ccode"]), "join_year": int(r["first"]),
                "side": "winners" if r["outcome"] == 1 else "losers",
                "side_won": int(r["outcome"] == 1),
                "winner_side_before": int((before & won).sum()), "loser_side_before": int((before & lost).sum()),
                "uncertain": 0,
                "source_note": f"cow_war_inter warnum {int(warnum)} (year-level entry)",
            })
    return pd.DataFrame(rows, columns=list(COLUMNS))


# =============================================================================
# Building the block's design
# =============================================================================


def _table_for(panel: pd.DataFrame) -> tuple[pd.DataFrame | None, dict, str]:
    """(joiners table, provenance, reason if none) for this panel."""
    data_dir = panel.attrs.get("data_dir")
    if data_dir is not None or panel.attrs.get("name") == "middle-east":
        from walt_bayes.panel.embedded import resolve_data_dir

        path = resolve_data_dir(data_dir) / FILE
        if not path.is_file():
            return None, {}, f"no {FILE} in {path.parent}"
        table = load_war_joining(data_dir)
        return table, {"source": FILE, "sha256": _file_sha256(path)}, ""
    if "war" in panel.columns:
        from walt_bayes.sources.read import read_source

        try:
            wars = read_source("cow_war_inter")
        except WaltError as err:
            return None, {}, f"cow_war_inter cannot be read ({err})"
        return joiners_from_cow(wars), {"source": "cow_war_inter (year-level entry)"}, ""
    return None, {}, (f"no war-joining data for this panel (the embedded data's {FILE} or, for a global COW "
                      "panel, cow_war_inter)")


def build_joining(panel: pd.DataFrame, spec: ModelSpec, design) -> None:
    """Add the wartime-joining arrays to ``design`` (``design.joining``).

    Joiners are those of wars in the embedded ``war_joining.csv`` (panel from the
    embedded data) or derived from ``cow_war_inter`` (global panel: joiners whose
    state is in the panel and whose entry year lies in the panel's years).

    Raises
    ------
    DataError
        ``war_joining.csv`` has a bad row (one line: file, column, CSV lines).
    ModelError
        No joining data or no decided joiner, and ``[joining] drop_unavailable`` is false.
    """
    jspec = spec.joining
    table, meta, reason = _table_for(panel)
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
    import pymc as pm

    j = design.joining
    if j is None:
        return
    model = pm.modelcontext(None)
    model.add_coord("join_obs", np.arange(j.n))
    join_winner = spec.prior("join_winner").create_variable("join_winner")
    p0 = np.clip(j.chance, 1e-6, 1 - 1e-6)
    pm.Bernoulli("joined_winner", logit_p=np.log(p0 / (1 - p0)) + join_winner, observed=j.y, dims="join_obs")
