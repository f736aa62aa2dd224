"""Open the fits to compare and check that they were made on the same data.

Fits are opened lazily (``xr.open_datatree`` without ``.load()``), so a
global-panel fit whose pointwise log-likelihood is larger than memory can
still be scored chunk by chunk (:mod:`walt_bayes.compare.loo`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from walt_bayes.errors import FitFileError, WaltError
from walt_bayes.fit.fitfile import FORMAT, REQUIRED_GROUPS, fit_design, fit_spec

#: The observed variable every variant shares.  The ``dispute`` term (block 1)
#: exists only in variants with a threat block, so it cannot be compared.
VAR_NAME = "alliance"
KEYS = ["ccode1", "ccode2", "year"]


class CompareError(WaltError):
    """Fits that cannot be compared (different data, different outcome, too few)."""


@dataclass
class Run:
    """One fit to compare, opened lazily."""

    path: Path
    label: str
    tree: xr.DataTree
    keys: pd.DataFrame  # ccode1, ccode2, year of each alliance row, in the fit's order
    y: np.ndarray

    @property
    def spec_name(self) -> str:
        return str(self.tree.attrs.get("spec_name", "?"))

    @property
    def data_name(self) -> str:
        return str(self.tree.attrs.get("data_name", "?"))

    @property
    def data_sha256(self) -> str:
        return str(self.tree.attrs.get("data_sha256", ""))

    @property
    def seed(self) -> int:
        return int(self.tree.attrs.get("seed", 0))

    @property
    def spec(self):
        return fit_spec(self.tree)

    def design(self):
        """The fit's design with its observed outcomes (the design group stores covariates only)."""
        design = fit_design(self.tree)
        obs = self.tree["observed_data"]
        if design.ally_y is None:
            design.ally_y = np.asarray(obs[VAR_NAME].values).astype(np.int64)
        if design.has_threat and design.threat_y is None and "dispute" in obs.data_vars:
            design.set_dispute_observed(obs["dispute"].values)
        return design

    def identity(self) -> str:
        """A short content id of what this fit is (spec text, data, seed): keys the fold cache."""
        parts = [self.tree.attrs.get("spec_toml", ""), self.data_sha256, str(self.seed)]
        if '"used": true' in str(self.tree.attrs.get("case_control", "")):
            parts.append(str(self.tree.attrs["case_control"]))  # another sample is another fit
        text = "\n".join(parts)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def fit_path(run_dir: str | Path) -> Path:
    path = Path(run_dir)
    return path / "fit.nc" if path.is_dir() else path


def open_run(run_dir: str | Path) -> Run:
    """Open a run directory (or its fit.nc) lazily and check it is a walt-bayes fit.

    Raises
    ------
    FitFileError
        Missing or unreadable file, not a walt-bayes fit, or no alliance log-likelihood.
    """
    path = fit_path(run_dir)
    if not path.exists():
        raise FitFileError(f"{path}: no such fit file")
    try:
        tree = xr.open_datatree(path, engine="h5netcdf")
    except Exception as err:  # h5py/netCDF raise many types for corrupt files
        raise FitFileError(f"{path}: cannot read fit file ({type(err).__name__}: {err})") from err
    if tree.attrs.get("format") != FORMAT:
        raise FitFileError(
            f"{path}: not a walt-bayes fit file (root attr 'format' is not '{FORMAT}')"
        )
    missing = [g for g in REQUIRED_GROUPS if g not in tree.children]
    if missing:
        raise FitFileError(f"{path}: fit file lacks the '{missing[0]}' group")
    if VAR_NAME not in tree["log_likelihood"].data_vars:
        raise FitFileError(f"{path}: fit file has no pointwise '{VAR_NAME}' log-likelihood")
    const = tree["constant_data"]
    keys = pd.DataFrame({c: np.asarray(const[f"ally_{c}"].values, dtype=np.int64) for c in KEYS})
    y = np.asarray(tree["observed_data"][VAR_NAME].values)
    name = path.parent.name if path.name == "fit.nc" else path.stem
    return Run(path=path, label=str(tree.attrs.get("spec_name", name)), tree=tree, keys=keys, y=y)


def open_runs(run_dirs) -> list[Run]:
    """Open every run, give each a unique label (the variant name) and check they are comparable."""
    run_dirs = list(run_dirs)
    if len(run_dirs) < 2:
        raise CompareError(f"compare needs at least two runs (got {len(run_dirs)})")
    runs = [open_run(r) for r in run_dirs]
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
        The data sets (sha256) differ, the alliance outcome definitions differ,
        the observed outcomes disagree on shared dyad-years, or no dyad-year is shared.
    """
    by_data: dict[str, list[Run]] = {}
    for r in runs:
        by_data.setdefault(r.data_sha256, []).append(r)
    if len(by_data) > 1:
        parts = [
            f"{_describe(group)} on {group[0].data_name} (sha256 {sha[:12]}…)"
            for sha, group in by_data.items()
        ]
        raise CompareError("cannot compare fits made on different data: " + " vs ".join(parts))
    outcome: dict[tuple, list[Run]] = {}
    for r in runs:
        a = r.spec.alliance
        outcome.setdefault((a.outcome, a.directed, alliance_rows(r.spec)), []).append(r)
    if len(outcome) > 1:
        parts = [
            f"{_describe(group)} (outcome={o}, directed={d}, rows={rows})"
            for (o, d, rows), group in outcome.items()
        ]
        raise CompareError(
            "cannot compare fits of different alliance outcomes: " + " vs ".join(parts)
        )
    ref = runs[0]
    ref_y = pd.Series(ref.y, index=pd.MultiIndex.from_frame(ref.keys))
    for r in runs[1:]:
        other = pd.Series(r.y, index=pd.MultiIndex.from_frame(r.keys))
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
    """What the alliance block's rows are: ``"all"`` dyad-years (status), or ``"onset"`` only.

    A fit whose duration block models the years after an allied year has onset rows
    (:func:`walt_bayes.model.duration.block2_models_continuation`): its alliance
    log-likelihood predicts alliance *formation*, and scoring it beside status models on
    the dyad-years they share would rank a transition model against status models on
    the rows where status models are weakest, not one theory against another.
    """
    from walt_bayes.model.duration import block2_models_continuation

    if spec.alliance.onset:
        return "onset"
    return "onset (duration block)" if block2_models_continuation(spec) else "all"


def common_rows(runs: list[Run]) -> tuple[pd.MultiIndex, dict[str, np.ndarray]]:
    """Alliance dyad-years present in every fit, and each fit's row positions for them."""
    indexes = {r.label: pd.MultiIndex.from_frame(r.keys) for r in runs}
    common = indexes[runs[0].label]
    for idx in indexes.values():
        common = common.intersection(idx)
    common = common.sort_values()
    positions = {label: idx.get_indexer(common) for label, idx in indexes.items()}
    return common, positions
