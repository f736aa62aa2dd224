"""One nutpie compile serves every cross-validation fold of a fit (walt_bayes.fit.compiled)."""

from __future__ import annotations

import copy

import numpy as np
import nutpie
import pytest
import xarray as xr

from walt_bayes.compare.kfold import training_design
from walt_bayes.fit import compiled
from walt_bayes.model.build import build_model
from walt_bayes.model.design import build_design
from walt_bayes.spec import load_spec

SETTINGS = {"sampler": "nutpie", "draws": 40, "tune": 40, "chains": 1, "cores": 1,
            "target_accept": 0.9, "adaptation": "diag"}


# Two nutpie compiles each (~45 s on 2 cores); the fast k-fold test in test_compare samples its folds this way.
@pytest.mark.slow
@pytest.mark.parametrize("form", ["status", "formation"])
def test_folds_share_one_compile_and_draw_what_a_fresh_compile_draws(sim_balancing, bot_spec, form):
    # The formation form (the bundled variant) has a duration block: its spell-years and ΔS
    # triads are kernel data too, swapped in with the fold's alliance rows.
    spec = bot_spec if form == "status" else load_spec("balance_of_threat")
    design = build_design(sim_balancing.panel, spec)
    folds = [training_design(design, np.flatnonzero(design.ally_dyad % m == 0), "dyad") for m in (3, 4)]
    assert len(folds[0].ally_y) != len(folds[1].ally_y)  # other rows, other array shapes
    if form == "formation":
        assert folds[0].duration.n != folds[1].duration.n
    assert compiled.structure_key(folds[0], spec) == compiled.structure_key(folds[1], spec)

    compiled._COMPILED.clear()
    first = compiled.sample_fused(folds[0], spec, SETTINGS, seed=5)
    model_after_first = next(iter(compiled._COMPILED.values()))
    second = compiled.sample_fused(folds[1], spec, SETTINGS, seed=5)
    assert next(iter(compiled._COMPILED.values())) is model_after_first  # not compiled again

    fresh = nutpie.sample(
        nutpie.compile_pymc_model(build_model(folds[1], spec, fused=True)),
        draws=40, tune=40, chains=1, cores=1, seed=5, target_accept=0.9, adaptation="diag",
        save_warmup=False, progress_bar=False,
    )
    names = ("beta_intent", "gamma_shared", "mu_alpha") + (("delta_threat_rise",) if form == "formation" else ())
    for name in names:
        # A kernel with constant data and one with shared data round differently in the last
        # bits (the draws of the same tuning run differ by ~1e-8 in the status form at HEAD,
        # ~1e-12 in the formation form), which can flip a late accept/reject: the start agrees.
        np.testing.assert_allclose(second["posterior"][name].values[:, :10], fresh["posterior"][name].values[:, :10],
                                   rtol=1e-6)
    # The swapped-in rows matter: fold 1 is not fold 0's posterior again.
    assert not np.array_equal(first["posterior"]["mu_alpha"].values, second["posterior"]["mu_alpha"].values)


def test_formation_folds_share_a_structure_and_other_duration_terms_do_not(sim_balancing):
    from walt_bayes.model.build import can_fuse
    from walt_bayes.model.duration import _without_threat_rise

    spec = load_spec("balance_of_threat")
    design = build_design(sim_balancing.panel, spec)
    fold = training_design(design, np.flatnonzero(design.ally_dyad % 3 == 0), "dyad")
    assert can_fuse(fold) and fold.duration.n < design.duration.n
    assert compiled.structure_key(fold, spec) == compiled.structure_key(design, spec)
    # The data can drop a duration term (here ΔS): another parameter, another model.
    other = copy.copy(design)
    other.duration = _without_threat_rise(design.duration)
    assert compiled.structure_key(other, spec) != compiled.structure_key(design, spec)


def test_another_structure_is_compiled_anew(sim_balancing, bot_spec):
    design = build_design(sim_balancing.panel, bot_spec)
    other = build_design(sim_balancing.panel.loc[sim_balancing.panel["year"] > sim_balancing.panel["year"].min()],
                         bot_spec)
    # Other years are other parameters (year intercepts): never the same compiled model.
    assert compiled.structure_key(design, bot_spec) != compiled.structure_key(other, bot_spec)


@pytest.mark.filterwarnings("ignore:The effect of Potentials")
def test_chains_start_at_posterior_draws_picked_by_their_seed(sim_balancing, bot_spec):
    """Cross-validation starts: a fit's draw, moved to the sampler's unconstrained space."""
    import pymc as pm

    design = build_design(sim_balancing.panel, bot_spec)
    model = build_model(design, bot_spec, fused=True)
    prior = pm.sample_prior_predictive(draws=6, model=model, random_seed=1, compile_kwargs={"mode": "FAST_COMPILE"})
    posterior = xr.Dataset({  # 2 chains x 3 draws
        name: (("chain", "draw", *v.dims[2:]), v.values.reshape(2, 3, *v.shape[2:]))
        for name, v in prior["prior"].to_dataset().data_vars.items()
    })
    start = compiled.posterior_start(model, posterior.drop_vars(["year_raw_centred", "z_year_other", "year_effect"], errors="ignore"))

    sizes = {name: int(np.size(v)) for name, v in model.initial_point().items()}
    order = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    offsets = dict(zip(order, np.cumsum([0] + [sizes[n] for n in order])[:-1], strict=True))

    def part(point, name):
        return point[offsets[name]: offsets[name] + sizes[name]]

    points = [start(seed) for seed in range(8)]
    assert all(p.shape == (sum(sizes.values()),) and np.all(np.isfinite(p)) for p in points)
    np.testing.assert_array_equal(start(3), points[3])  # the seed picks the draw
    log_sigma = {float(part(p, "sigma_dyad_log__")[0]) for p in points}
    draws = np.log(posterior["sigma_dyad"].values.ravel())
    assert log_sigma <= {float(x) for x in draws} and len(log_sigma) > 1
    for p in points:  # the same draw for every variable
        i = int(np.argmin(np.abs(draws - part(p, "sigma_dyad_log__")[0])))
        np.testing.assert_allclose(part(p, "gamma_shared"), posterior["gamma_shared"].values.ravel()[i])
    # A variable the posterior lacks starts at its jittered support point (0 ± 1).
    years = [n for n in ("year_raw_centred", "z_year_other") if n in sizes]
    assert years
    for name in years:
        assert all(np.all(np.abs(part(p, name)) <= 1) for p in points)
        assert len({part(p, name).tobytes() for p in points}) > 1
