"""Worlds the model did not generate (MODEL.md "Validation that must hold"): the default variant's
verdicts on BAL-1, BW-1 and COND-1 must never be ``supported`` where the world says the opposite or
nothing (slow: one balance_of_threat fit per world and seed, 4 chains × (500 tune + 500 draws)).

The worlds are :data:`walt_bayes.model.worlds.WORLDS`; each states the direction of every headline
hypothesis (``truth["direction_shared"]`` etc.).  Verdicts are judged *as computed*, also for a fit
that failed its convergence checks (which ``walt-bayes hypotheses`` would mark unreliable): a
false ``supported`` is a failure of the model either way.  Convergence problems are reported as
warnings, not failures (``benchmarks/misspecified_worlds.py`` prints the same table).
"""

from __future__ import annotations

import warnings

import pytest

from walt_bayes.model.worlds import (
    HEADLINE,
    WORLDS,
    expected_directions,
    false_supports,
    simulate_world,
)

pytestmark = pytest.mark.slow

SEEDS = (1, 2)
DRAWS, TUNE, CHAINS = 500, 500, 4


@pytest.fixture(scope="module", params=[(w, s) for w in WORLDS for s in SEEDS], ids=lambda p: f"{p[0]}-{p[1]}")
def world_fit(request):
    from walt_bayes.fit.run import fit_model
    from walt_bayes.hypotheses.table import evidence_table
    from walt_bayes.spec import load_spec

    world, seed = request.param
    sim = simulate_world(world, seed=seed)
    result = fit_model(
        sim.panel, load_spec("balance_of_threat"), data_name=f"world-{world}", data_sha256="0" * 64,
        seed=seed, draws=DRAWS, tune=TUNE, chains=CHAINS, cores=2, progressbar=False,
    )
    table = evidence_table(result.idata, ids=list(HEADLINE), allow_unconverged=True).set_index("id")
    return world, seed, sim, result, table


def test_no_false_support_for_headline_hypotheses(world_fit):
    world, seed, sim, result, table = world_fit
    want = expected_directions(sim.truth)
    verdicts = {h: table.loc[h, "verdict"] for h in HEADLINE}
    conv = result.convergence
    lines = [f"{h}: truth {want[h]:+d}, {verdicts[h]} (mean {table.loc[h, 'mean']:+.3f}, "
             f"P(dir) {table.loc[h, 'p_direction']:.3f})" for h in HEADLINE]
    report = (f"{world}/{seed}: " + "; ".join(lines) + f" | R-hat {conv.max_rhat:.3f}, bulk ESS "
              f"{conv.min_ess_bulk:.0f}, tail ESS {conv.min_ess_tail:.0f}, {conv.divergences} divergences")
    print("\n" + report)
    if not conv.ok:
        warnings.warn(f"{world}/{seed}: convergence problems: {'; '.join(conv.problems)}", stacklevel=1)
    wrong = false_supports(sim.truth, verdicts)
    assert not wrong, f"supported where {world} says otherwise: {wrong} — {report}"
