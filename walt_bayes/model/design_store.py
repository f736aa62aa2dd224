"""A design as an xarray Dataset (a fit's ``constant_data``) and back.

The stored design rebuilds the model without the panel: :meth:`Design.to_dataset` and
:meth:`Design.from_dataset` call :func:`design_to_dataset` and :func:`design_from_dataset`.
Variables are written in a fixed order, so the same design gives the same file.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from walt_bayes.model.dense import DenseLayout
from walt_bayes.model.duration_arrays import DurationArrays
from walt_bayes.model.joining import JoiningArrays

if TYPE_CHECKING:
    from walt_bayes.model.design import Design

_KEYS = ("ccode1", "ccode2", "year")
_DENSE_THREAT = ("threat_t", "threat_j", "threat_i")
_DENSE_ALLY = ("ally_t", "ally_i", "ally_k")


# =============================================================================
# Design → Dataset
# =============================================================================


def design_to_dataset(design: Design) -> xr.Dataset:
    """The design as an xarray Dataset (the fit's ``constant_data``).

    Parameters
    ----------
    design : Design

    Returns
    -------
    xarray.Dataset
        Arrays on named dimensions (``threat_obs``, ``ally_obs``, ``triad``, …), the
        duration and joining blocks' arrays, and the bookkeeping as JSON in
        ``attrs["design"]``.
    """
    data: dict[str, tuple] = {}
    coords: dict[str, object] = {}
    if design.has_threat:
        _put_threat(design, data, coords)
    _put_alliance(design, data, coords)
    if design.has_threat and design.dispute_idx is not None:
        _put_dispute_sample(design, data)
    _put_terms(design, data)
    if design.has_threat:
        _put_threat_links(design, data)
    if design.dense is not None:
        _put_dense(design.dense, data)
    if design.dyad_centred is not None:
        data["dyad_centred"] = ("dyad", design.dyad_centred.astype(np.int8))
        data["dyad_means"] = (("dyad", "dyad_column"), design.dyad_means)
    ds = xr.Dataset(data, coords=coords)
    for block in (design.duration, design.joining):
        if block is not None:
            ds = block.add_to(ds)
    ds.attrs["design"] = json.dumps(
        {
            "transform": design.transform,
            "notes": design.notes,
            "dropped_terms": design.dropped_terms,
            "data_rates": design.data_rates,
            "n_state_years": design.n_state_years,
            "case_control": design.case_control,
            "year_centred": [bool(c) for c in design.year_centred] if design.year_centred is not None else False,
            "threat_centring": [float(a) for a in design.threat_centring],
            "ally_onset": bool(design.ally_onset),
        }
    )
    return ds


def _put_threat(design: Design, data: dict, coords: dict) -> None:
    coords["source"] = design.sources
    coords["threat_group"] = design.threat_groups
    for col in _KEYS:
        data[f"threat_{col}"] = ("threat_obs", design.threat_keys[col].to_numpy(np.int64))
    data["threat_X"] = (("threat_obs", "source"), design.threat_X)
    data["threat_group_idx"] = ("threat_obs", design.threat_group)
    data["threat_sy"] = ("threat_obs", design.threat_sy)
    if design.source_states:
        coords["source_state"] = np.asarray(design.source_states, dtype=np.int64)
        data["threat_src"] = ("threat_obs", design.threat_src)


def _put_alliance(design: Design, data: dict, coords: dict) -> None:
    coords["ally_group"] = design.ally_groups
    coords["dyad"] = design.dyads
    coords["year"] = np.asarray(design.years, dtype=np.int64)
    coords["control"] = design.control_names
    coords["term"] = design.terms
    for col in _KEYS:
        data[f"ally_{col}"] = ("ally_obs", design.ally_keys[col].to_numpy(np.int64))
    data["ally_group_idx"] = ("ally_obs", design.ally_group)
    data["ally_dyad_idx"] = ("ally_obs", design.ally_dyad)
    data["ally_year_idx"] = ("ally_obs", design.ally_year)
    data["ally_offset"] = ("ally_obs", design.ally_offset)
    if design.ally_cc_offset is not None:
        data["ally_cc_offset"] = ("ally_obs", design.ally_cc_offset)


def _put_dispute_sample(design: Design, data: dict) -> None:
    data["dispute_idx"] = ("dispute_obs", design.dispute_idx)
    data["dispute_offset"] = ("dispute_obs", design.dispute_offset)
    if design.threat_y is not None and np.all(np.isin(design.threat_y, (0, 1))):
        # Case control: observed_data holds the sampled rows only; the outcomes of the
        # other threat rows (kept for latent terms) make the reloaded design the built one.
        data["threat_y"] = ("threat_obs", np.asarray(design.threat_y, dtype=np.int8))


def _put_terms(design: Design, data: dict) -> None:
    data["controls"] = (("ally_obs", "control"), design.controls)
    data["term_observed"] = (("ally_obs", "term"), design.term_observed)
    data["term_center"] = ("term", design.term_center)
    data["term_scale"] = ("term", design.term_scale)
    data["term_latent"] = ("term", np.asarray(design.term_latent, dtype=str))


def _put_threat_links(design: Design, data: dict) -> None:
    data["partner_idx"] = ("ally_obs", design.partner_idx)
    data["ally_sy"] = ("ally_obs", design.ally_sy)
    data["triad_ally"] = ("triad", design.triad_ally)
    data["triad_ji"] = ("triad", design.triad_ji)
    data["triad_jk"] = ("triad", design.triad_jk)
    data["triad_persistent"] = ("triad", design.triad_persistent.astype(np.int8))


def _put_dense(lay: DenseLayout, data: dict) -> None:
    data["dense_not_relevant"] = (("dense_t", "dense_j", "dense_x"), lay.not_relevant.astype(np.int8))
    data["dense_not_persistent"] = (("dense_t", "dense_j", "dense_x"), lay.not_persistent.astype(np.int8))
    for name in _DENSE_THREAT:
        data[f"dense_{name}"] = ("threat_obs", getattr(lay, name))
    for name in _DENSE_ALLY:
        data[f"dense_{name}"] = ("ally_obs", getattr(lay, name))


# =============================================================================
# Dataset → Design
# =============================================================================


def design_from_dataset(cls: type[Design], ds: xr.Dataset) -> Design:
    """Rebuild a design stored by :func:`design_to_dataset`.

    Parameters
    ----------
    cls : type
        :class:`~walt_bayes.model.design.Design` (passed in, so that this module need not
        import the class it serves).
    ds : xarray.Dataset
        A fit's ``constant_data``.

    Returns
    -------
    Design
        Fits stored before a field existed get its default (no source intercepts, no
        case-control bookkeeping, the dyad parameterisation chosen afresh).
    """
    meta = json.loads(ds.attrs["design"])
    d = cls()
    if "threat_X" in ds:
        _get_threat(d, ds)
    if "dense_not_relevant" in ds:
        not_rel = ds["dense_not_relevant"].values.astype(float)
        d.dense = DenseLayout(
            n_years=not_rel.shape[0], n_states=not_rel.shape[1],
            not_relevant=not_rel, not_persistent=ds["dense_not_persistent"].values.astype(float),
            **{n: ds[f"dense_{n}"].values for n in _DENSE_THREAT + _DENSE_ALLY},
        )
    _get_alliance(d, ds)
    _get_terms(d, ds)
    d.transform = meta["transform"]
    d.notes = meta["notes"]
    d.dropped_terms = meta["dropped_terms"]
    d.data_rates = meta["data_rates"]
    d.n_state_years = meta["n_state_years"]
    d.case_control = meta.get("case_control", {})
    d.duration = DurationArrays.from_dataset(ds)
    d.joining = JoiningArrays.from_dataset(ds)
    d.ally_onset = bool(meta.get("ally_onset", False))
    # Fits before partial centring stored a bool per source (centred or not); before that, nothing
    # (non-centred).
    d.threat_centring = [float(a) for a in meta.get("threat_centring", meta.get("threat_centred", []))]
    if "dyad_centred" in ds:
        d.dyad_centred = ds["dyad_centred"].values.astype(bool)
        d.dyad_means = ds["dyad_means"].values
        d.year_centred = _year_centred(meta.get("year_centred", False), len(d.years))
    else:
        d.set_dyad_parameterisation()
    return d


def _get_threat(d: Design, ds: xr.Dataset) -> None:
    d.threat_keys = pd.DataFrame({c: ds[f"threat_{c}"].values for c in _KEYS})
    d.threat_X = ds["threat_X"].values
    d.threat_group = ds["threat_group_idx"].values
    d.threat_sy = ds["threat_sy"].values
    d.sources = [str(s) for s in ds["source"].values]
    d.threat_groups = [str(s) for s in ds["threat_group"].values]
    if "threat_src" in ds:  # fits before source intercepts have none
        d.source_states = [int(c) for c in ds["source_state"].values]
        d.threat_src = ds["threat_src"].values
    d.partner_idx = ds["partner_idx"].values
    d.ally_sy = ds["ally_sy"].values
    d.triad_ally = ds["triad_ally"].values
    d.triad_ji = ds["triad_ji"].values
    d.triad_jk = ds["triad_jk"].values
    d.triad_persistent = ds["triad_persistent"].values.astype(bool)


def _get_alliance(d: Design, ds: xr.Dataset) -> None:
    d.ally_keys = pd.DataFrame({c: ds[f"ally_{c}"].values for c in _KEYS})
    d.ally_group = ds["ally_group_idx"].values
    d.ally_groups = [str(s) for s in ds["ally_group"].values]
    d.ally_dyad = ds["ally_dyad_idx"].values
    d.dyads = [str(s) for s in ds["dyad"].values]
    d.ally_year = ds["ally_year_idx"].values
    d.years = [int(y) for y in ds["year"].values]
    d.ally_offset = ds["ally_offset"].values
    if "ally_cc_offset" in ds:
        d.ally_cc_offset = ds["ally_cc_offset"].values
    if "dispute_idx" in ds:
        d.dispute_idx = ds["dispute_idx"].values.astype(np.int64)
        d.dispute_offset = ds["dispute_offset"].values
        if "threat_y" in ds:
            d.threat_y = ds["threat_y"].values.astype(np.int64)


def _get_terms(d: Design, ds: xr.Dataset) -> None:
    d.controls = ds["controls"].values
    d.control_names = [str(s) for s in ds["control"].values]
    d.terms = [str(s) for s in ds["term"].values]
    d.term_observed = ds["term_observed"].values
    d.term_center = ds["term_center"].values
    d.term_scale = ds["term_scale"].values
    d.term_latent = [str(s) for s in ds["term_latent"].values]


def _year_centred(stored, n_years: int) -> np.ndarray:
    """Per-year choice of a stored design; fits before it stored one choice for every year."""
    if isinstance(stored, list):
        return np.asarray(stored, dtype=bool)
    return np.full(n_years, bool(stored) and n_years > 1)
