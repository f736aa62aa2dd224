"""Block 3 in the fused kernel is the graph model's duration block: same value, same gradient.

The fused sampling model (``build_model(..., fused=True)``) computes the hazard of every
spell-year at risk inside the numba kernel, its ΔS from the kernel's own threat
probabilities.  Its log-density and gradient (with respect to every free variable: the
``delta_*`` coefficients and, through ΔS, the threat weights and ``lambda_0``) must be
the graph model's at any parameter point.
"""

from __future__ import annotations

import copy
import functools
import operator

import numpy as np
import pytensor
import pytest

from walt_bayes.model.build import (
    FUSED_DATA_PREFIX,
    FUSED_POTENTIAL,
    build_model,
    can_fuse,
    fused_data,
)
from walt_bayes.model.design import build_design
from walt_bayes.panel.datasets import load_dataset
from walt_bayes.spec import load_spec, parse_spec

#: Python implementations, no graph rewrites: the fused Op's implementation is the numba
#: kernel itself, and compiling the graph with a backend costs more than a few evaluations.
PY_MODE = pytensor.compile.mode.Mode(linker="py", optimizer=None)


def _function(model, terms=None):
    """``f(point) -> (logp, {value variable: gradient})`` of the model's density (or of some terms)."""
    terms = model.logp(sum=False) if terms is None else terms
    # Added pairwise: Python mode cannot evaluate one Add of over 32 terms (``full``'s).
    logp = functools.reduce(operator.add, [t.sum() for t in terms])
    grads = pytensor.grad(logp, model.value_vars, disconnected_inputs="ignore")
    fn = pytensor.function(model.value_vars, [logp, *grads], mode=PY_MODE, on_unused_input="ignore")

    def f(point):
        out = fn(*[point[v.name] for v in model.value_vars])
        return float(out[0]), {v.name: np.asarray(g) for v, g in zip(model.value_vars, out[1:], strict=True)}

    return f


def _flat(grads):
    return np.concatenate([np.ravel(g) for g in grads.values()])


def _random_points(model, seed, n=3, scale=0.3):
    rng = np.random.default_rng(seed)
    start = model.initial_point()
    return [{k: v + rng.normal(0, scale, size=np.shape(v)) for k, v in start.items()} for _ in range(n)]


def _assert_same_density(design, spec, seed):
    graph = build_model(design, spec)
    fused = build_model(design, spec, fused=True)
    dur = design.duration
    assert dur is not None and dur.n > 0
    # Same free variables in the same order: the sampler's parameter vector is the same.
    assert [v.name for v in fused.value_vars] == [v.name for v in graph.value_vars]
    assert set(dur.coefficient_names()) <= set(fused.named_vars)
    # Blocks 1-3 are the kernel's potential; only the joining block stays observed variables.
    assert [p.name for p in fused.potentials] == [FUSED_POTENTIAL[True]]
    assert {v.name for v in fused.observed_RVs} == {v.name for v in graph.observed_RVs} - {
        "dispute", "alliance", "alliance_end"}

    # Block 3's share of the fused density, isolated: the fused model less the same fused
    # model without the duration block (the same kernel arithmetic for blocks 1-2, so their
    # difference is exact to rounding) and less the delta priors.  Checked against the
    # graph's alliance_end term with tight tolerances, so that block 3 (a small part of the
    # total) cannot hide inside the whole density's tolerance.
    no_duration = copy.copy(design)
    no_duration.duration = None
    rest = build_model(no_duration, spec, fused=True)
    deltas = [graph[n] for n in dur.coefficient_names()]
    f_graph, f_fused, f_rest = _function(graph), _function(fused), _function(rest)
    f_prior = _function(graph, [graph.logp(vars=deltas, sum=True)])
    f_block3 = _function(graph, [graph.logp(vars=[graph["alliance_end"]], sum=True)])
    threat = [v.name for v in graph.value_vars if v.name.startswith(("beta_", "z_beta", "tau_beta", "lambda_0"))]
    for point in _random_points(graph, seed):
        v_graph, g_graph = f_graph(point)
        v_fused, g_fused = f_fused(point)
        # The graph's Python implementations evaluate softplus less carefully at extreme
        # predictors: agreement is ~1e-7 relative here, ~1e-12 with the numba backend.
        np.testing.assert_allclose(v_fused, v_graph, rtol=1e-6)
        np.testing.assert_allclose(_flat(g_fused), _flat(g_graph), rtol=1e-5,
                                   atol=1e-6 * np.abs(_flat(g_graph)).max())

        v_rest, g_rest = f_rest(point)
        v_prior, g_prior = f_prior(point)
        v3, g3 = f_block3(point)
        np.testing.assert_allclose(v_fused - v_rest - v_prior, v3, rtol=1e-9, atol=1e-9 * abs(v_fused))
        share = {k: g - g_rest.get(k, 0.0) - g_prior[k] for k, g in g_fused.items()}
        atol = 1e-9 * np.abs(_flat(g3)).max()
        np.testing.assert_allclose(_flat(share), _flat(g3), rtol=1e-7, atol=atol)
        for name in dur.coefficient_names():
            assert np.abs(g3[name]) > 1e3 * atol
        if dur.threat_rise:
            # ΔS carries block 3's gradient to the threat parameters.
            assert max(np.abs(g3[n]).max() for n in threat) > 1e3 * atol


@pytest.fixture(scope="module")
def me_panel():
    return load_dataset("middle-east").panel


def test_balance_of_threat_on_the_embedded_panel(me_panel):
    spec = load_spec("balance_of_threat")
    design = build_design(me_panel, spec)
    dur = design.duration
    assert dur.threat_rise and dur.terms == [] and can_fuse(design)
    assert len(design.threat_groups) > 1  # grouped weights: the kernel's group-sorted rows
    _assert_same_density(design, spec, seed=1)


def test_full_on_the_embedded_panel(me_panel):
    """``full``: indicator terms (war_won, leninist/regime_other, ideological/other_motive) and ΔS."""
    spec = load_spec("full")
    design = build_design(me_panel, spec)
    assert design.duration.threat_rise and len(design.duration.terms) >= 3
    assert design.joining is not None and not can_fuse(design)  # joining stays a graph block
    _assert_same_density(design, spec, seed=2)


@pytest.mark.parametrize("variant", ["balance_of_threat", "full", "null"])
def test_variants_on_the_simulated_panel(sim_balancing, variant):
    spec = load_spec(variant)
    design = build_design(sim_balancing.panel, spec)
    if variant != "null":
        assert design.duration.threat_rise
        assert len(design.duration.threat_rows()) < len(design.threat_y)  # a subset of tau
    _assert_same_density(design, spec, seed=3)


def test_case_control_sample(sim_balancing):
    """Case control keeps block 3 whole (no offsets) and remaps its triads to the kept threat rows."""
    spec = load_spec("balance_of_threat")
    design = build_design(sim_balancing.panel, spec, case_control="0.3", seed=5)
    assert design.dispute_idx is not None and design.duration.threat_rise
    _assert_same_density(design, spec, seed=4)


def test_duration_without_threat_rise(sim_balancing):
    text = load_spec("balance_of_threat").source_text.replace('terms = ["threat_rise"]', "terms = []")
    spec = parse_spec(text, source="no_rise.toml")
    design = build_design(sim_balancing.panel, spec)
    assert not design.duration.threat_rise
    _assert_same_density(design, spec, seed=5)


def test_swapped_in_fold_data_give_the_folds_density(sim_balancing):
    """One compiled model serves every fold (walt_bayes.fit.compiled): block 3's arrays are shared data too."""
    from walt_bayes.compare.kfold import training_design
    from walt_bayes.fit.compiled import structure_key

    spec = load_spec("balance_of_threat")
    design = build_design(sim_balancing.panel, spec)
    fold = training_design(design, np.flatnonzero(design.ally_dyad % 3 == 0), "dyad")
    assert fold.duration.n < design.duration.n and len(fold.duration.tri_s) < len(design.duration.tri_s)
    assert structure_key(fold, spec) == structure_key(design, spec) and can_fuse(fold)

    shared = build_model(design, spec, fused=True, shared_data=True)
    variables = _shared_variables(shared)
    assert set(fused_data(fold, spec)) == set(variables)
    for name, value in fused_data(fold, spec).items():
        variables[name].set_value(value)
    f_shared = _function(shared)
    f_fold = _function(build_model(fold, spec, fused=True))
    for point in _random_points(shared, seed=6, n=2):
        v_a, g_a = f_shared(point)
        v_b, g_b = f_fold(point)
        assert v_a == v_b
        np.testing.assert_array_equal(_flat(g_a), _flat(g_b))


def _shared_variables(model):
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.traversal import ancestors

    return {v.name: v for v in ancestors([model.logp()])
            if isinstance(v, SharedVariable) and v.name.startswith(FUSED_DATA_PREFIX)}


@pytest.mark.parametrize("case_control", [None, "0.3"])
def test_threat_source_intercepts(sim_balancing, case_control):
    """The threatening states' intercepts (``threat.source_intercepts``) enter the kernel's threat
    logit as they enter the graph's: same density and gradient, with and without case control."""
    text = load_spec("balance_of_threat").source_text
    if "source_intercepts" not in text:
        text = text.replace("[threat]\n", "[threat]\nsource_intercepts = true\n", 1)
    spec = parse_spec(text, source="sources.toml")
    design = build_design(sim_balancing.panel, spec, case_control=case_control, seed=6)
    assert len(design.source_states) > 1 and design.threat_src is not None
    _assert_same_density(design, spec, seed=6)
