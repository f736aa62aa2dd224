"""Sample many designs of one model structure with a single nutpie compile.

Compiling a fused sampling model with nutpie's numba backend costs 6–25 s on this
project's 2-core machines (most of a cross-validation refit of a simple variant:
``null``'s 2 × 600 iterations sample in ~10 s).  Cross-validation folds of one fit
share everything but their rows (alliance rows and, with a duration block, spell-years
and their ΔS triads): the same parameters, priors, standardisation constants and dyad
parameterisation (``Design.subset_alliance`` and ``DurationArrays.subset`` keep them).  So the
fused model is built with its kernel's data as shared variables
(``build_model(..., shared_data=True)``), compiled once per process and structure,
and every fold swaps its rows in with ``CompiledModel.with_data``.

A compiled model is reused only for a design whose model is the same but for those
arrays: the cache key is the spec text with everything of the design that enters
the graph as a constant (see :func:`structure_key`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable

import numpy as np
import nutpie
import xarray as xr
from pymc.initial_point import make_initial_point_fn

from walt_bayes.fit.fresh import fresh_numba_compile
from walt_bayes.model.build import build_model, can_fuse, fused_data
from walt_bayes.model.design import Design
from walt_bayes.spec import ModelSpec

#: One compiled model per process: folds of one fit arrive together, and a
#: compiled model holds its own copy of the data.
_COMPILED: dict[str, object] = {}
_LOCK = threading.Lock()


def structure_key(design: Design, spec: ModelSpec) -> str:
    """A digest of what the sampling model's graph holds besides the kernel's data.

    The spec (priors, terms, sampler), the coordinates (threat groups, sources, dyads,
    years, alliance groups, terms, controls), the duration block's coefficients, the
    data-driven prior locations (``data_rates``) and the dyad parameterisation (which
    dyads are centred, their covariate means).  Two designs with the same key build the same model up to the
    arrays :func:`walt_bayes.model.build.fused_data` returns.
    """
    h = hashlib.sha256()
    h.update(spec.source_text.encode())
    meta = {
        "sources": list(design.sources or []) if design.has_threat else [],
        "threat_groups": list(design.threat_groups or []) if design.has_threat else [],
        "source_states": [int(c) for c in design.source_states] if design.has_threat else [],
        "dyads": list(design.dyads), "years": [int(y) for y in design.years],
        "ally_groups": list(design.ally_groups), "terms": list(design.terms),
        "controls": list(design.control_names), "n_state_years": int(design.n_state_years or 0),
        "data_rates": {k: float(v) for k, v in (design.data_rates or {}).items()},
        "case_control": design.dispute_idx is not None,
        "year_centred": [bool(c) for c in design.year_centred] if design.year_centred is not None else [],
        "threat_centring": [float(a) for a in design.threat_centring],
        # Block 3's coefficients (its terms can be dropped by the data); its rows, triads and
        # dS_scale are kernel data, and delta_0's prior location is in data_rates.
        "duration": None if design.duration is None else {
            "terms": list(design.duration.terms), "threat_rise": bool(design.duration.threat_rise)},
    }
    h.update(json.dumps(meta, sort_keys=True).encode())
    for array in (design.dyad_centred, design.dyad_means):
        if array is not None:
            h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def posterior_start(model, posterior: xr.Dataset) -> Callable[[int | None], np.ndarray]:
    """A nutpie initial-point function that starts each chain at a draw of ``posterior``.

    A cross-validation fold refits a model on most of the rows its fit saw, so the
    fit's draws lie in (or next to) the fold's typical set.  Chains started there
    skip the costly first phase of warm-up, when the step size is still small: from
    nutpie's default start (the support point, jittered), a third of a 300 + 300
    balance_of_threat fold's gradient evaluations on the embedded panel came in its
    first 50 iterations.  Warm-up still adapts the step size and mass matrix.

    Parameters
    ----------
    model : pymc.Model
        The sampling model (its free variables are the sampler's parameters).
    posterior : xarray.Dataset
        Draws (chain, draw, ...) of a fit of the same model.  A variable it lacks, or
        holds at another shape, starts at its jittered support point instead.

    Returns
    -------
    callable
        ``f(seed) -> flat unconstrained point``, in nutpie's parameter order.  The draw
        is picked by the chain's seed, so the same seed gives the same start.
    """
    free = list(model.free_RVs)
    constrained = make_initial_point_fn(model=model, return_transformed=False)(0)
    usable = [
        rv.name for rv in free
        if rv.name in posterior and tuple(posterior[rv.name].shape[2:]) == np.shape(constrained[rv.name])
    ]
    draws = {name: np.asarray(posterior[name].values, dtype=np.float64) for name in usable}
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    jitter = {rv for rv in free if rv.name not in usable}
    order = [model.rvs_to_values[rv].name for rv in free]

    def start(seed: int | None = None) -> np.ndarray:
        rng = np.random.default_rng(seed)
        c, d = int(rng.integers(n_chain)), int(rng.integers(n_draw))
        point = make_initial_point_fn(
            model=model, overrides={name: v[c, d] for name, v in draws.items()},
            jitter_rvs=jitter, return_transformed=True,
        )(seed)
        return np.concatenate([np.ravel(point[name]) for name in order]).astype(np.float64)

    return start


def sample_fused(
    design: Design, spec: ModelSpec, settings: dict, seed: int, start: xr.Dataset | None = None,
) -> xr.DataTree:
    """NUTS draws of ``spec`` on ``design`` through the fused kernel, compiled once per structure.

    Parameters
    ----------
    design : Design
        A design whose blocks 1–3 the fused kernel covers.  When the kernel covers the
        whole likelihood (:func:`can_fuse`: no joining block), the compiled model is
        reused for every design of the same structure; with a joining block (graph
        terms with their data as constants) it is compiled for this design alone.
    spec : ModelSpec
    settings : dict
        Resolved sampler settings (``draws``, ``tune``, ``chains``, ``cores``,
        ``target_accept``, ``adaptation``; nutpie only).
    seed : int
        nutpie's seed: the same design, settings, start and seed give the same draws
        whether or not this process had compiled the model before.
    start : xarray.Dataset, optional
        Posterior draws of a fit of the same model: each chain starts at one of them
        (:func:`posterior_start`).  Default: nutpie's start.

    Returns
    -------
    xarray.DataTree
        ``posterior`` and ``sample_stats`` (no warm-up draws).
    """
    if settings["sampler"] != "nutpie":
        raise ValueError("sample_fused samples with nutpie only")
    if can_fuse(design):
        key = structure_key(design, spec)
        with _LOCK:
            cached = _COMPILED.get(key)
            if cached is None:
                model = build_model(design, spec, fused=True, shared_data=True)
                with fresh_numba_compile():
                    cached = (model, nutpie.compile_pymc_model(model))
                _COMPILED.clear()
                _COMPILED[key] = cached
        model, compiled = cached
        compiled = compiled.with_data(**fused_data(design, spec))
    else:
        model = build_model(design, spec, fused=True)
        with fresh_numba_compile():
            compiled = nutpie.compile_pymc_model(model)
    if start is not None:
        compiled = dataclasses.replace(compiled, initial_point_func=posterior_start(model, start))
    return nutpie.sample(
        compiled,
        draws=int(settings["draws"]),
        tune=int(settings["tune"]),
        chains=int(settings["chains"]),
        cores=int(settings["cores"]),
        seed=int(seed),
        target_accept=float(settings["target_accept"]),
        adaptation=settings.get("adaptation", "diag"),
        save_warmup=False,
        progress_bar=False,
    )
