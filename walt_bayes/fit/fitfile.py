"""Fit files: one netCDF per fit holding everything needed to redo every table.

Groups: posterior, prior, prior_predictive, posterior_predictive,
log_likelihood, sample_stats, observed_data and constant_data (the model
design).  Root attrs carry the resolved spec (TOML text), the data set's name
and sha256, package and library versions, the integer seed, the sampler and
its settings, wall times and the convergence figures.  Writes are atomic.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import xarray as xr

from walt_bayes.atomic import atomic_path
from walt_bayes.errors import FitFileError
from walt_bayes.model.design import Design
from walt_bayes.spec import ModelSpec, parse_spec

FORMAT = "walt-bayes-fit/1"
REQUIRED_GROUPS = ("posterior", "sample_stats", "log_likelihood", "observed_data", "constant_data")
JSON_ATTRS = ("sampler_settings", "wall_times", "convergence", "design_notes", "dropped_terms")


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
        idata.to_netcdf(tmp, engine="h5netcdf")
    return path


def load_fit(path: str | Path) -> xr.DataTree:
    """Load and check a fit file.

    Raises
    ------
    FitFileError
        Missing, truncated or unreadable file, or a netCDF that is not a walt-bayes fit.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "fit.nc"
    if not path.exists():
        raise FitFileError(f"{path}: no such fit file")
    try:
        tree = xr.open_datatree(path, engine="h5netcdf")
        tree = tree.load()
    except Exception as err:  # h5py/netCDF raise many types for corrupt files
        raise FitFileError(f"{path}: cannot read fit file ({type(err).__name__}: {err})") from err
    if tree.attrs.get("format") != FORMAT:
        raise FitFileError(f"{path}: not a walt-bayes fit file (root attr 'format' is not '{FORMAT}')")
    missing = [g for g in REQUIRED_GROUPS if g not in tree.children]
    if missing:
        raise FitFileError(f"{path}: fit file lacks the '{missing[0]}' group")
    return tree


def fit_spec(tree: xr.DataTree) -> ModelSpec:
    """The spec a fit was made with (parsed from its stored TOML text)."""
    return parse_spec(tree.attrs["spec_toml"], source=f"fit:{tree.attrs.get('spec_name', '?')}")


def fit_design(tree: xr.DataTree) -> Design:
    """The model design stored in a fit's ``constant_data``."""
    return Design.from_dataset(tree["constant_data"].to_dataset())


def fit_meta(tree: xr.DataTree, key: str):
    """A root attribute, decoded from JSON where it was stored as JSON."""
    value = tree.attrs.get(key)
    if key in JSON_ATTRS and isinstance(value, str):
        return json.loads(value)
    return value


def check_provenance(tree: xr.DataTree, data_sha256: str | None = None, spec: ModelSpec | None = None) -> list[str]:
    """Differences between a fit and the data/spec it is used with (empty if none)."""
    diffs = []
    if data_sha256 is not None and tree.attrs.get("data_sha256") != data_sha256:
        diffs.append(
            f"data differ: fit made on sha256 {str(tree.attrs.get('data_sha256'))[:12]}…, "
            f"given {data_sha256[:12]}…"
        )
    if spec is not None and tree.attrs.get("spec_toml") != spec.source_text:
        diffs.append(f"spec differs from the one the fit was made with ({tree.attrs.get('spec_name')})")
    return diffs
