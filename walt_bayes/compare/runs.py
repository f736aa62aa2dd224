"""Open the fits to compare, decide which dyad-years each one scores, and check they agree.

Fits are opened as every fit is (:func:`walt_bayes.fit.loaded.open_fit`: the fit file's
checks, a leftover of an interrupted run refused), but lazily, so a global-panel fit whose
pointwise log-likelihood is larger than memory can still be scored chunk by chunk
(:mod:`walt_bayes.compare.loo`).

Rows scored
-----------
Every variant predicts the alliance status ``a[i,k,t]`` of dyad-years.  A
status variant (null, balance_of_power, balance_of_threat, ideology) does it
in one observed variable, ``alliance``, over every dyad-year.  A fit with a
duration block (``full``) splits the same outcomes between two blocks
(:mod:`walt_bayes.model.duration`): block 2 (``alliance``) scores the dyad-years
whose dyad was not allied the year before (onset rows), and block 3
(``alliance_end``) scores the others, the spell-year of *t* − 1 predicting
``a[t]`` (``log(1 − h)`` if the alliance goes on, ``log h`` if it ends).  By the
chain rule the joined vector is that Markov model's predictive density of the
same 0/1 outcomes, so :class:`Run` joins the two (its :class:`Segment` list says
which variable scores which row) and full is ranked on the dyad-years the status
variants predict.  A dyad's first observed year is scored by no block of full
(the chain conditions on it); such rows leave every fit, with a note
(:func:`unscored_note`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from walt_bayes.errors import FitFileError, WaltError
from walt_bayes.fit.loaded import LoadedFit, open_fit
from walt_bayes.model.duration import block2_models_continuation
from walt_bayes.model.duration_arrays import DurationArrays

#: The observed variable every variant shares.  The ``dispute`` term (block 1)
#: exists only in variants with a threat block, so it cannot be compared.
VAR_NAME = "alliance"
#: Block 3's observed variable: the continuation of allied dyads (joined with block 2).
END_NAME = "alliance_end"
KEYS = ["ccode1", "ccode2", "year"]
#: What a status fit's rows are, and a joined fit's (the table's ``rows`` column).
STATUS_ROWS = "all dyad-years (alliance)"
JOINED_ROWS = (
    "all dyad-years: onset rows by block 2 (alliance), continuing rows by block 3 (alliance_end)"
)


class CompareError(WaltError):
    """Fits that cannot be compared (different data, different outcome, too few)."""


@dataclass
class Segment:
    """The rows of a :class:`Run` that one observed variable's pointwise log-likelihood scores."""

    var: str  # observed variable in the log_likelihood group
    obs: np.ndarray  # increasing positions along that variable's observation dimension
    rows: np.ndarray  # the matching positions in Run.keys


@dataclass
class Run:
    """One fit to compare and the dyad-years it is scored on.

    ``fit`` is the fit itself (:class:`walt_bayes.fit.loaded.LoadedFit`, opened lazily from
    disk by :func:`open_run`); ``path`` names it (the table's ``run`` column, the label of a
    repeated variant; a worker process reopens it from there).  ``keys``/``y`` are the
    dyad-years the fit is scored on and their 0/1 alliance status; ``segments`` say which
    log-likelihood scores each.  A status fit has one segment (``alliance``, every row); a
    fit with a duration block has two: its ``alliance`` rows (onset) and, after them, one
    row per spell-year at risk keyed by the dyad-year it predicts (``ccode1 < ccode2``,
    ``y`` = 1 − ``alliance_end``).
    """

    fit: LoadedFit
    path: Path
    label: str
    keys: pd.DataFrame  # ccode1, ccode2, year of each scored row
    y: np.ndarray
    segments: list[Segment] = field(default_factory=list)
    rows_kind: str = "all"  # "all" dyad-years, or "onset ..." (onset rows only): the comparability key
    directed: bool = False

    @property
    def joined(self) -> bool:
        """True when block 3 scores part of the rows (a fit with a duration block)."""
        return any(seg.var == END_NAME for seg in self.segments)

    @property
    def rows_description(self) -> str:
        if self.joined:
            return JOINED_ROWS
        return STATUS_ROWS if self.rows_kind == "all" else f"{self.rows_kind} (alliance)"

    @property
    def index(self) -> pd.MultiIndex:
        """Keys that identify a row across fits: the undirected ``(lo, hi, year)`` for symmetric outcomes.

        Block 2 puts the weaker state first; block 3 only knows the pair, so
        symmetric outcomes are matched on the unordered pair.
        """
        c1, c2 = self.keys["ccode1"].to_numpy(np.int64), self.keys["ccode2"].to_numpy(np.int64)
        year = self.keys["year"].to_numpy(np.int64)
        if self.directed:
            return pd.MultiIndex.from_arrays([c1, c2, year], names=KEYS)
        return pd.MultiIndex.from_arrays(
            [np.minimum(c1, c2), np.maximum(c1, c2), year], names=KEYS
        )

    def positions(self, var: str) -> np.ndarray:
        """For each row, its position along ``var``'s observations (-1 where ``var`` does not score it)."""
        out = np.full(len(self.y), -1, dtype=np.int64)
        for seg in self.segments:
            if seg.var == var:
                out[seg.rows] = seg.obs
        return out

    @property
    def alliance_sample_rate(self) -> float:
        """Share of non-allied alliance rows a case-control fit kept (1.0: no sampling)."""
        text = str(self.fit.tree.attrs.get("case_control", ""))
        if '"used": true' not in text:
            return 1.0
        cc = json.loads(text)
        return float(cc.get("r0", cc.get("alliance", {}).get("rate", 1.0)))

    # The fit's tree, spec and design, under the names callers of a run have used.
    @property
    def tree(self) -> xr.DataTree:
        return self.fit.tree

    @property
    def spec(self):
        return self.fit.spec

    def design(self):
        """The fit's stored design with its observed outcomes (read once, shared with ``fit``)."""
        return self.fit.design


def open_run(run_dir: str | Path) -> Run:
    """Open a run directory (or its fit.nc) lazily, with the fit file's checks, as a :class:`Run`.

    Raises
    ------
    FitFileError
        A temporary left by an interrupted run, a missing or unreadable file, not a
        walt-bayes fit (:func:`walt_bayes.fit.loaded.open_fit`), or no alliance log-likelihood.
    """
    return scored_run(open_fit(run_dir, lazy=True))


def run_from_tree(tree: xr.DataTree, path: Path) -> Run:
    """A :class:`Run` of a fit tree already in memory (``path`` names it in messages).

    Raises
    ------
    FitFileError
        Not a walt-bayes fit, or no alliance log-likelihood.
    """
    return scored_run(LoadedFit.checked(tree, path), path)


def scored_run(fit: LoadedFit, path: str | Path | None = None) -> Run:
    """``fit`` with the dyad-years compare scores it on (see the module docstring).

    Parameters
    ----------
    fit : LoadedFit
        A fit that passed the fit file's checks.
    path : path, optional
        What names it (default: its file).

    Raises
    ------
    FitFileError
        No pointwise alliance log-likelihood, or a duration block that does not match its design.
    """
    path = Path(path) if path is not None else fit.file
    tree = fit.tree
    if VAR_NAME not in tree["log_likelihood"].data_vars:
        raise FitFileError(f"{path}: fit file has no pointwise '{VAR_NAME}' log-likelihood")
    const = tree["constant_data"]
    keys = pd.DataFrame({c: np.asarray(const[f"ally_{c}"].values, dtype=np.int64) for c in KEYS})
    y = np.asarray(tree["observed_data"][VAR_NAME].values).astype(np.int64)
    name = path.parent.name if path.name == "fit.nc" else path.stem
    run = Run(fit=fit, path=path, label=str(tree.attrs.get("spec_name", name)), keys=keys, y=y,
              segments=[Segment(VAR_NAME, np.arange(len(y)), np.arange(len(y)))])
    spec = fit.spec
    run.directed = bool(spec.alliance.directed or spec.alliance.outcome == "pledge")
    run.rows_kind = alliance_rows(spec)
    if run.rows_kind != "all":
        _join_duration_block(run, path)
    return run


def _join_duration_block(run: Run, path: Path) -> None:
    """Append block 3's spell-years to an onset fit's rows, so that it scores every dyad-year it can.

    Left as it is (onset rows, ``rows_kind`` saying why) when the fit has no block 3
    to join: an onset-only spec, a duration block left out of the fit, or a directed
    outcome (spells are undirected alliances, not directed pledges).
    """
    if run.directed:
        if run.rows_kind != "onset":
            run.rows_kind = "onset (duration block of a directed outcome: spells are undirected)"
        return
    dur = None
    if END_NAME in run.fit.tree["log_likelihood"].data_vars:
        dur = DurationArrays.from_dataset(run.fit.tree["constant_data"].to_dataset())
    if dur is None:
        if run.rows_kind != "onset":
            run.rows_kind = "onset (duration block left out of the fit)"
        return
    end_y = np.asarray(run.fit.tree["observed_data"][END_NAME].values).astype(np.int64)
    if len(end_y) != dur.n:
        raise FitFileError(f"{path}: {END_NAME} has {len(end_y)} observations but the design {dur.n} spell-years")
    nxt = dur.outcome_keys()
    cont = pd.DataFrame({"ccode1": nxt["lo"], "ccode2": nxt["hi"], "year": nxt["year"]})
    n_onset = len(run.y)
    run.keys = pd.concat([run.keys, cont], ignore_index=True)
    run.y = np.concatenate([run.y, 1 - end_y])  # event = the alliance ends: a[t + 1] = 0
    run.segments.append(Segment(END_NAME, np.arange(dur.n), n_onset + np.arange(dur.n)))
    run.rows_kind = "all"
    dup = run.index.duplicated()
    if dup.any():  # pragma: no cover - guards build_design's invariant (one block per dyad-year)
        lo, hi, year = run.index[np.flatnonzero(dup)[0]]
        raise FitFileError(f"{path}: blocks 2 and 3 both score the dyad-year {lo}-{hi} {year}")


def open_runs(run_dirs) -> list[Run]:
    """Open every run, give each a unique label (the variant name) and check they are comparable.

    ``run_dirs`` holds run directories, fit files, or :class:`Run` objects already open (fits
    in memory: :func:`run_from_tree`).
    """
    run_dirs = list(run_dirs)
    if len(run_dirs) < 2:
        raise CompareError(f"compare needs at least two runs (got {len(run_dirs)})")
    runs = [r if isinstance(r, Run) else open_run(r) for r in run_dirs]
    counts = pd.Series([r.label for r in runs]).value_counts()
    for r in runs:
        if counts[r.label] > 1:
            folder = r.path.parent.name if r.path.name == "fit.nc" else r.path.stem
            r.label = f"{r.label} ({folder})"
    labels = [r.label for r in runs]
    if len(set(labels)) < len(labels):
        raise CompareError(f"the same run is given twice: {', '.join(labels)}")
    check_comparable(runs)
    return runs


def _describe(runs: list[Run]) -> str:
    return ", ".join(r.label for r in runs)


def check_comparable(runs: list[Run]) -> None:
    """Refuse fits made on different data or with different alliance outcomes (one line).

    Raises
    ------
    CompareError
        The data sets (sha256) differ, the alliance outcome definitions or rows differ
        (onset rows with no duration block to join beside status rows), a fit with joined
        blocks 2 and 3 meets a case-control sample (unless every fit is both), the observed
        outcomes disagree on shared dyad-years, or no dyad-year is shared.
    """
    by_data: dict[str, list[Run]] = {}
    for r in runs:
        by_data.setdefault(r.fit.data_sha256, []).append(r)
    if len(by_data) > 1:
        parts = [
            f"{_describe(group)} on {group[0].fit.data_name} (sha256 {sha[:12]}…)"
            for sha, group in by_data.items()
        ]
        raise CompareError("cannot compare fits made on different data: " + " vs ".join(parts))
    outcome: dict[tuple, list[Run]] = {}
    for r in runs:
        a = r.fit.spec.alliance
        outcome.setdefault((a.outcome, a.directed, r.rows_kind), []).append(r)
    if len(outcome) > 1:
        parts = [
            f"{_describe(group)} (outcome={o}, directed={d}, rows={rows})"
            for (o, d, rows), group in outcome.items()
        ]
        raise CompareError(
            "cannot compare fits of different alliance outcomes: " + " vs ".join(parts)
        )
    joined = [r for r in runs if r.joined]
    sampled = [r for r in runs if r.alliance_sample_rate < 1]
    alike = len(joined) == len(sampled) == len(runs)
    if joined and sampled and not alike:
        # Block 2 of a case-control fit scores P(a | x, sampled) (offset log 1/r0), block 3 the
        # population's P(a | x): joined, they are no predictive density of the status fits' rows.
        # When every fit joins blocks 2 and 3 on a case-control sample, each row is scored the
        # same way by all of them (onset rows conditional on the sample, spell-years not), so
        # their sums rank the fits on one composite likelihood.
        raise CompareError(
            f"cannot rank {_describe(joined)} (alliance and alliance_end joined) beside case-control "
            f"fits ({_describe(sampled)}: alliance rows sampled, log-likelihood conditional on the "
            "sample): refit them with case_control='off'"
        )
    ref = runs[0]
    ref_y = pd.Series(ref.y, index=ref.index)
    for r in runs[1:]:
        other = pd.Series(r.y, index=r.index)
        common = ref_y.index.intersection(other.index)
        if len(common) == 0:
            raise CompareError(
                f"cannot compare: {ref.label} and {r.label} share no alliance dyad-year"
            )
        if not np.array_equal(ref_y.loc[common].to_numpy(), other.loc[common].to_numpy()):
            raise CompareError(
                f"cannot compare: the observed alliances of {ref.label} and {r.label} differ on "
                "the "
                "dyad-years they share (fits made on different data)"
            )


def alliance_rows(spec) -> str:
    """What the spec's alliance block models: ``"all"`` dyad-years (status) or onset rows only.

    ``"onset"``: an onset outcome (``[alliance] onset = true``); ``"onset (duration
    block)"``: block 2 leaves the years after an allied year to the duration block
    (:func:`walt_bayes.model.duration.block2_models_continuation`).  :func:`open_run`
    joins such a fit's block 3 to its block 2 where it can, which makes its rows
    ``"all"`` again (:attr:`Run.rows_kind`).
    """
    if spec.alliance.onset:
        return "onset"
    return "onset (duration block)" if block2_models_continuation(spec) else "all"


def common_rows(runs: list[Run]) -> tuple[pd.MultiIndex, dict[str, np.ndarray]]:
    """Dyad-years present in every fit, and each fit's row positions for them."""
    indexes = {r.label: r.index for r in runs}
    common = indexes[runs[0].label]
    for idx in indexes.values():
        common = common.intersection(idx)
    common = common.sort_values()
    positions = {label: idx.get_indexer(common) for label, idx in indexes.items()}
    return common, positions


def unscored_note(runs: list[Run]) -> list[str]:
    """One line per joined fit: how many dyad-years of the status fits it cannot score, and why.

    A joined fit scores a dyad-year by block 2 if the dyad was not allied the year
    before and by block 3 if it was; it cannot score (a) the dyad's first observed
    year (its Markov chain conditions on it), (b) a year after an allied year whose
    spell-year block 3 left out (a missing covariate or threat link), or (c) a year
    after a non-allied year that block 2 left out (a missing covariate of its terms).
    The previous year's status is read from the status fit itself; a previous year
    it does not have counts as (a).
    """
    status = [r for r in runs if not r.joined]
    if not status:
        return []
    ref = max(status, key=lambda r: len(r.y))
    ref_y = pd.Series(ref.y, index=ref.index)
    notes = []
    for run in runs:
        if not run.joined:
            continue
        missing = ref.index[~ref.index.isin(run.index)]
        if len(missing) == 0:
            continue
        lo, hi, year = (missing.get_level_values(i).to_numpy() for i in range(3))
        prev = ref_y.reindex(pd.MultiIndex.from_arrays([lo, hi, year - 1])).to_numpy(float)
        parts = {
            f"first observed years of their dyad ({run.label} conditions on them)": int(np.isnan(prev).sum()),
            "continuing an alliance whose spell-year block 3 left out (missing covariate or threat link)":
                int((prev == 1).sum()),
            "onset rows block 2 left out (missing covariate)": int((prev == 0).sum()),
        }
        why = "; ".join(f"{n:,} {text}" for text, n in parts.items() if n)
        notes.append(
            f"{len(missing):,} of the {len(ref.y):,} dyad-years of {ref.label} are not scored by "
            f"{run.label} and are left out of every fit: {why}"
        )
    return notes
