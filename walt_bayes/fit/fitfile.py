"""Fit files: one netCDF per fit holding everything needed to redo every table.

Groups: posterior, prior, prior_predictive, posterior_predictive,
log_likelihood, sample_stats, observed_data and constant_data (the model
design).  Root attrs carry the resolved spec (TOML text), the data set's name
and sha256, package and library versions, the integer seed, the sampler and
its settings, wall times and the convergence figures.  Writes are atomic.
"""

from __future__ import annotations

import dataclasses
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import xarray as xr

from walt_bayes.atomic import atomic_path, is_temporary
from walt_bayes.errors import FitFileError, WaltError
from walt_bayes.model.design import Design
from walt_bayes.spec import ModelSpec, parse_spec

FORMAT = "walt-bayes-fit/1"
REQUIRED_GROUPS = ("posterior", "sample_stats", "log_likelihood", "observed_data", "constant_data")
#: Root attributes that tie a fit to its spec and data (provenance).
REQUIRED_ATTRS = ("spec_name", "spec_toml", "data_name", "data_sha256", "seed", "versions")
JSON_ATTRS = ("sampler_settings", "wall_times", "convergence", "design_notes", "dropped_terms", "case_control",
              "network_checks")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a fit's numbers."""
    out = {}
    for lib in ("walt-bayes", "pymc", "pytensor", "arviz", "nutpie", "numpy", "pandas"):
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = "not installed"
    return out


def save_fit(idata: xr.DataTree, path: str | Path) -> Path:
    """Write a fit atomically (temporary file, then rename)."""
    path = Path(path)
    with atomic_path(path, suffix=".nc") as tmp:
        idata.to_netcdf(tmp, engine="h5netcdf", encoding=_compression(idata))
    return path


def _compression(idata: xr.DataTree) -> dict[str, dict]:
    """zlib for the large small-integer arrays (0/1 outcomes compress ~10×; floats barely do)."""
    encoding: dict[str, dict] = {}
    for node in idata.subtree:
        big = {
            name: {"zlib": True, "complevel": 1}
            for name, var in node.to_dataset().data_vars.items()
            if var.dtype.itemsize == 1 and var.size > 100_000
        }
        if big:
            encoding[node.path] = big
    return encoding


def fit_file_path(path: str | Path) -> Path:
    """The fit file of a run directory (or the file itself); refuses leftovers of interrupted runs."""
    path = Path(path)
    for part in (path, path.parent):
        if is_temporary(part):
            raise FitFileError(
                f"{path}: a temporary name left by an interrupted run ('{part.name}'), not a finished fit; "
                "delete it and fit again"
            )
    if path.is_dir():
        path = path / "fit.nc"
    if not path.exists():
        raise FitFileError(f"{path}: no such fit file")
    if not path.is_file():
        raise FitFileError(f"{path}: not a fit file")
    return path


def check_fit_tree(tree: xr.DataTree, path: str | Path) -> None:
    """Raise FitFileError unless ``tree`` has a fit's format tag, groups and provenance attributes."""
    if tree.attrs.get("format") != FORMAT:
        raise FitFileError(f"{path}: not a walt-bayes fit file (root attr 'format' is not '{FORMAT}')")
    missing = [g for g in REQUIRED_GROUPS if g not in tree.children]
    if missing:
        raise FitFileError(f"{path}: fit file lacks the '{missing[0]}' group")
    lacking = [a for a in REQUIRED_ATTRS if a not in tree.attrs]
    if lacking:
        raise FitFileError(f"{path}: fit file lacks the provenance attribute '{lacking[0]}'")


def load_fit(path: str | Path, *, lazy: bool = False) -> xr.DataTree:
    """Load and check a fit file.

    Parameters
    ----------
    path : path
        A run directory or its fit file.
    lazy : bool
        Leave the arrays on disk, read when used (the file stays open): a global-panel
        fit's pointwise log-likelihood can be larger than memory, and comparing fits reads
        it in chunks (:mod:`walt_bayes.compare.loo`).

    Raises
    ------
    FitFileError
        Missing, truncated or unreadable file, a netCDF that is not a walt-bayes
        fit, or a temporary file/directory left by an interrupted run.
    """
    path = fit_file_path(path)
    try:
        if lazy:
            tree = xr.open_datatree(path, engine="h5netcdf")
        else:
            with xr.open_datatree(path, engine="h5netcdf") as opened:
                tree = opened.load()
    except Exception as err:  # h5py/netCDF raise many types for corrupt files
        raise FitFileError(f"{path}: cannot read fit file ({type(err).__name__}: {err})") from err
    check_fit_tree(tree, path)
    return tree


def fit_spec(tree: xr.DataTree) -> ModelSpec:
    """The spec a fit was made with (parsed from its stored TOML text)."""
    return parse_spec(tree.attrs["spec_toml"], source=f"fit:{tree.attrs.get('spec_name', '?')}")


def fit_design(tree: xr.DataTree) -> Design:
    """The model design stored in a fit's ``constant_data``, with its observed outcomes.

    ``ally_y`` and ``threat_y`` come from ``observed_data`` (the design group holds
    covariates only).  With a case-control sample the dispute outcomes of the threat
    rows outside the sample are those stored with the design, or NaN for an older fit
    (see :meth:`Design.set_dispute_observed`): never a made-up value.
    """
    design = Design.from_dataset(tree["constant_data"].to_dataset())
    if "observed_data" not in tree.children:
        return design
    obs = tree["observed_data"].to_dataset()
    if design.ally_y is None and "alliance" in obs:
        design.ally_y = np.asarray(obs["alliance"].values).astype(np.int64)
    if design.has_threat and "dispute" in obs:
        design.set_dispute_observed(obs["dispute"].values)
    return design


def fit_meta(tree: xr.DataTree, key: str):
    """A root attribute, decoded from JSON where it was stored as JSON."""
    value = tree.attrs.get(key)
    if key in JSON_ATTRS and isinstance(value, str):
        return json.loads(value)
    return value


def _spec_fields(spec: ModelSpec) -> dict[str, object]:
    """What makes two specs the same model (text, comments and description aside)."""
    return {
        "[model] name": spec.name,
        "[threat]": spec.threat,
        **{f"[alliance] {k}": v for k, v in dataclasses.asdict(spec.alliance).items()},
        **{f"[priors] {k}": spec.priors.get(k) for k in sorted(spec.priors)},
        **{f"[sampler] {k}": v for k, v in dataclasses.asdict(spec.sampler).items()},
        "[duration]": dataclasses.asdict(spec.duration) if spec.duration else None,
        "[joining]": dataclasses.asdict(spec.joining) if spec.joining else None,
    }


def spec_differences(stored: ModelSpec, given: ModelSpec) -> list[str]:
    """Keys whose values differ between two specs (``[alliance] terms``, ``[priors] gamma``…)."""
    a, b = _spec_fields(stored), _spec_fields(given)
    return [k for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]


def check_provenance(
    tree: xr.DataTree,
    data_sha256: str | None = None,
    spec: ModelSpec | None = None,
    data_name: str | None = None,
) -> list[str]:
    """Differences between a fit and the data/spec it is used with (empty if none).

    Parameters
    ----------
    tree : xarray.DataTree
        A loaded fit.
    data_sha256 : str, optional
        Content hash of the panel it is used with (:func:`walt_bayes.panel.hashing.panel_sha256`).
    spec : ModelSpec, optional
        The spec it is used with; compared by content (comments and layout do not count).
    data_name : str, optional
        Name of that panel, for the message.

    Returns
    -------
    list of str
        One line per difference, saying what differs.
    """
    diffs = []
    fit_sha = str(tree.attrs.get("data_sha256"))
    if data_sha256 is not None and fit_sha != data_sha256:
        given = f"{data_name} " if data_name else ""
        diffs.append(
            f"data differ: the fit was made on {tree.attrs.get('data_name')} (sha256 {fit_sha[:12]}…), "
            f"given {given}(sha256 {data_sha256[:12]}…)"
        )
    if spec is not None and tree.attrs.get("spec_toml") != spec.source_text:
        try:
            stored = fit_spec(tree)
        except WaltError as err:
            diffs.append(f"spec differs: the spec stored in the fit no longer loads ({err})")
        else:
            keys = spec_differences(stored, spec)
            if keys:
                shown = ", ".join(keys[:6]) + (f" (+{len(keys) - 6} more)" if len(keys) > 6 else "")
                diffs.append(
                    f"spec differs from the one the fit was made with ({tree.attrs.get('spec_name')}): {shown}"
                )
    return diffs


def version_differences(tree: xr.DataTree) -> list[str]:
    """Libraries whose installed version differs from the one that made the fit."""
    try:
        stored = json.loads(tree.attrs.get("versions", "{}"))
    except (TypeError, ValueError):
        return ["the fit's library versions are unreadable"]
    now = library_versions()
    return [
        f"{lib} {stored[lib]} made the fit, {now.get(lib, 'not installed')} is installed"
        for lib in sorted(stored)
        if stored[lib] != now.get(lib, "not installed")
    ]
