"""Sample many designs of one model structure with a single nutpie compile.

Compiling a fused sampling model with nutpie's numba backend costs 6–25 s on this
project's 2-core machines (most of a cross-validation refit of a simple variant:
``null``'s 2 × 600 iterations sample in ~10 s).  Cross-validation folds of one fit
share everything but their rows: the same parameters, priors, standardisation
constants and dyad parameterisation (``Design.subset_alliance`` keeps them).  So the
fused model is built with its kernel's data as shared variables
(``build_model(..., shared_data=True)``), compiled once per process and structure,
and every fold swaps its rows in with ``CompiledModel.with_data``.

A compiled model is reused only for a design whose model is the same but for those
arrays: the cache key is the spec text with everything of the design that enters
the graph as a constant (see :func:`structure_key`).
"""

from __future__ import annotations

import hashlib
import json
import threading

import numpy as np
import xarray as xr

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
    years, alliance groups, terms, controls), the data-driven prior locations
    (``data_rates``) and the dyad parameterisation (which dyads are centred, their
    covariate means).  Two designs with the same key build the same model up to the
    arrays :func:`walt_bayes.model.build.fused_data` returns.
    """
    h = hashlib.sha256()
    h.update(spec.source_text.encode())
    meta = {
        "sources": list(design.sources or []) if design.has_threat else [],
        "threat_groups": list(design.threat_groups or []) if design.has_threat else [],
        "dyads": list(design.dyads), "years": [int(y) for y in design.years],
        "ally_groups": list(design.ally_groups), "terms": list(design.terms),
        "controls": list(design.control_names), "n_state_years": int(design.n_state_years or 0),
        "data_rates": {k: float(v) for k, v in (design.data_rates or {}).items()},
        "case_control": design.dispute_idx is not None,
    }
    h.update(json.dumps(meta, sort_keys=True).encode())
    for array in (design.dyad_centred, design.dyad_means):
        if array is not None:
            h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def sample_fused(design: Design, spec: ModelSpec, settings: dict, seed: int) -> xr.DataTree:
    """NUTS draws of ``spec`` on ``design`` through a compiled model reused across designs.

    Parameters
    ----------
    design : Design
        A design whose likelihood the fused kernel covers (:func:`can_fuse`).
    spec : ModelSpec
    settings : dict
        Resolved sampler settings (``draws``, ``tune``, ``chains``, ``cores``,
        ``target_accept``, ``adaptation``; nutpie only).
    seed : int
        nutpie's seed: the same design, settings and seed give the same draws whether
        or not this process had compiled the model before.

    Returns
    -------
    xarray.DataTree
        ``posterior`` and ``sample_stats`` (no warm-up draws).
    """
    import nutpie

    if not can_fuse(design):
        raise ValueError("sample_fused needs a design the fused kernel covers")
    if settings["sampler"] != "nutpie":
        raise ValueError("sample_fused samples with nutpie only")
    key = structure_key(design, spec)
    with _LOCK:
        compiled = _COMPILED.get(key)
        if compiled is None:
            compiled = nutpie.compile_pymc_model(build_model(design, spec, fused=True, shared_data=True))
            _COMPILED.clear()
            _COMPILED[key] = compiled
    return nutpie.sample(
        compiled.with_data(**fused_data(design, spec)),
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
