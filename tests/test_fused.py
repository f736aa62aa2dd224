"""The fused likelihood kernel is the graph model's likelihood: same value, same gradient."""

from __future__ import annotations

import functools
import operator

import numpy as np
import pymc as pm
import pytensor
import pytest

from walt_bayes.model.build import FUSED_POTENTIAL, build_model, can_fuse
from walt_bayes.model.design import build_design
from walt_bayes.panel.datasets import load_dataset
from walt_bayes.spec import load_spec, parse_spec


def _value_and_grad(model, point):
    # Added pairwise: Python mode cannot evaluate one Add of over 32 terms (``full``'s).
    logp = functools.reduce(operator.add, [term.sum() for term in model.logp(sum=False)])
    # Python implementations, no graph rewrites (the fused Op's is the numba kernel itself):
    # compiling with a backend would cost more than the three evaluations, and rewrites
    # would merge the pairwise sum above back into one Add.
    mode = pytensor.compile.mode.Mode(linker="py", optimizer=None)
    fn = pytensor.function(model.value_vars, [logp, *pytensor.grad(logp, model.value_vars)], mode=mode)
    out = fn(*[point[v.name] for v in model.value_vars])
    return float(out[0]), np.concatenate([np.ravel(g) for g in out[1:]])


def _random_point(model, seed):
    rng = np.random.default_rng(seed)
    return {k: v + rng.normal(0, 0.3, size=np.shape(v)) for k, v in model.initial_point().items()}


def _assert_same_density(design, spec, seed=0):
    graph = build_model(design, spec)
    fused = build_model(design, spec, fused=True)
    # Same free variables in the same order: the sampler's parameter vector is the same.
    assert [v.name for v in fused.value_vars] == [v.name for v in graph.value_vars]
    # Blocks 1-3 become the kernel's potential (block 3: tests/test_fused_duration.py); the
    # joining block stays observed variables.
    assert [p.name for p in fused.potentials] == [FUSED_POTENTIAL[design.duration is not None]]
    tails = {v.name for v in graph.observed_RVs} - {"dispute", "alliance", "alliance_end"}
    assert {v.name for v in fused.observed_RVs} == tails
    for k in range(3):
        point = _random_point(graph, seed + k)
        v_graph, g_graph = _value_and_grad(graph, point)
        v_fused, g_fused = _value_and_grad(fused, point)
        # The graph's Python implementations (FAST_COMPILE) evaluate softplus less carefully at
        # extreme predictors: agreement is ~1e-7 relative here, ~1e-12 with the numba backend.
        np.testing.assert_allclose(v_fused, v_graph, rtol=1e-6)
        np.testing.assert_allclose(g_fused, g_graph, rtol=1e-5, atol=1e-6 * np.abs(g_graph).max())


@pytest.mark.parametrize("variant", ["null", "balance_of_power", "balance_of_threat", "ideology"])
def test_fused_equals_graph_on_the_simulated_panel(sim_balancing, variant):
    spec = load_spec(variant)
    _assert_same_density(build_design(sim_balancing.panel, spec), spec)


def test_fused_equals_graph_on_the_embedded_panel():
    spec = load_spec("balance_of_threat")
    design = build_design(load_dataset("middle-east").panel, spec)
    assert len(design.threat_groups) > 1 and design.dense is not None  # grouped weights, dense S in the graph
    _assert_same_density(design, spec, seed=10)


def test_fused_equals_graph_with_centred_year_intercepts(sim_balancing, bot_spec):
    # Years with allied rows are sampled centred, the others non-centred: both kinds in one model.
    design = build_design(sim_balancing.panel, bot_spec)
    allied = np.bincount(design.ally_year, weights=design.ally_y, minlength=len(design.years))
    assert np.array_equal(design.year_centred, allied >= 1)
    design.year_centred[: len(design.years) // 2] = False
    assert design.year_centred.any() and not design.year_centred.all()
    named = build_model(design, bot_spec).named_vars
    assert {"year_effect", "year_raw_centred", "z_year_other"} <= set(named)
    _assert_same_density(design, bot_spec, seed=30)
    # A stored design keeps its choice, so that folds and reloads build the same parameters.
    from walt_bayes.model.design import Design

    assert np.array_equal(Design.from_dataset(design.to_dataset()).year_centred, design.year_centred)


def test_fused_equals_graph_with_case_control_offsets(sim_balancing, bot_spec):
    design = build_design(sim_balancing.panel, bot_spec, case_control="0.3", seed=5)
    assert design.dispute_idx is not None and np.any(design.ally_cc_offset != 0)
    _assert_same_density(design, bot_spec, seed=20)


def test_fused_equals_graph_with_persistent_shared_threat_and_total_threat(sim_balancing):
    text = load_spec("balance_of_threat").source_text.replace(
        'terms = ["shared", "partner", "shared_x_strength", "partner_x_weak_x_major"]',
        'terms = ["shared_x_persistent_aggression", "partner", "ideology_x_threat_faced"]',
    )
    spec = parse_spec(text, source="persistent.toml")
    design = build_design(sim_balancing.panel, spec)
    assert {"S_persistent", "T", "B"} <= set(design.term_latent)
    _assert_same_density(design, spec, seed=30)


def test_fused_equals_graph_with_duration_and_joining_blocks(sim_balancing):
    """``full``: the kernel's blocks 1-3 (block 3's ΔS from the kernel's tau), joining as graph terms.

    The simulated panel has no war data, so its joining block is dropped; the embedded
    panel's is checked in tests/test_fused_duration.py.
    """
    full = load_spec("full")
    design = build_design(sim_balancing.panel, full)
    assert design.duration is not None and design.duration.threat_rise
    assert can_fuse(design) == (design.joining is None)  # joining's data would be graph constants
    _assert_same_density(design, full, seed=40)


def test_latent_records_keep_the_graph_form(sim_balancing, bot_spec):
    plain = build_design(sim_balancing.panel, bot_spec)
    assert not can_fuse(plain, keep_latent=True)
    assert not build_model(plain, bot_spec, keep_latent=True, fused=True).potentials


@pytest.mark.slow
def test_fused_model_samples_the_same_posterior_as_the_graph_model(sim_balancing, bot_spec):
    """Same seed, same sampler: the two forms give draws that agree to rounding."""
    design = build_design(sim_balancing.panel, bot_spec)
    kw = {"draws": 30, "tune": 30, "chains": 1, "random_seed": 3, "nuts_sampler": "nutpie",
          "progressbar": False}
    a = pm.sample(model=build_model(design, bot_spec), **kw)
    b = pm.sample(model=build_model(design, bot_spec, fused=True), **kw)
    x = a["posterior"]["gamma_shared"].values
    y = b["posterior"]["gamma_shared"].values
    # Floating-point sums in a different order can flip a late accept/reject; the start agrees.
    np.testing.assert_allclose(y[:, :10], x[:, :10], rtol=1e-6)


def test_kernel_exp_and_log1p_agree_with_libm_to_a_few_ulp():
    # The kernel's own branch-free exp and log1p (they let LLVM vectorise the row loops).
    import numba

    from walt_bayes.model.fused import _exp_nonpositive, _log1p_unit, _sigmoid

    @numba.njit
    def apply(x, which):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = _exp_nonpositive(x[i]) if which == 0 else _log1p_unit(x[i]) if which == 1 \
                else _sigmoid(x[i])
        return out

    x = -np.concatenate([np.linspace(0.0, 40.0, 200_001), np.linspace(40.0, 708.0, 20_001), [0.5 * np.log(2)]])
    np.testing.assert_allclose(apply(x, 0), np.exp(x), rtol=4 * np.finfo(float).eps, atol=0)
    # Below -708 exp leaves the normal range: the kernel's value stays below 3.4e-308.
    assert np.all(apply(np.array([-709.0, -745.0, -1e6]), 0) < 3.4e-308)
    t = np.concatenate([np.linspace(0.0, 1.0, 200_001), np.geomspace(1e-300, 1e-3, 1000)])
    np.testing.assert_allclose(apply(t, 1), np.log1p(t), rtol=4 * np.finfo(float).eps, atol=0)
    e = np.linspace(-50.0, 50.0, 100_001)
    np.testing.assert_allclose(apply(e, 2), 1.0 / (1.0 + np.exp(-e)), rtol=8 * np.finfo(float).eps, atol=0)
