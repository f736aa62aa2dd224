"""Worlds with known truth: every testable hypothesis whose truth the world fixes gets the right
verdict (slow: three fits of balance_of_threat on simulated panels).

The true value of each quantity is computed from the world's true parameters with the same code
that computes it from a posterior (a one-draw "posterior" of the true scalars; varying intercepts
at zero).  Relative to the ROPE half-width ``r`` on the quantity's scale:

- ``|truth| ≥ 4 r``: the world fixes the verdict — ``supported`` when the truth lies in the
  predicted direction, ``contradicted`` when it lies opposite;
- ``r ≤ |truth| < 4 r``: the world fixes the sign only — that verdict or ``inconclusive`` (a panel
  of 16 states × 12 years may lack the power), never the opposite or ``practically null``;
- ``|truth| < r / 2``: ``practically null`` or ``inconclusive``, never supported or contradicted;
- otherwise the world does not fix the verdict and the hypothesis is not checked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from walt_bayes.hypotheses.effects import Effects
from walt_bayes.hypotheses.registry import REGISTRY, FitContext
from walt_bayes.hypotheses.table import evidence_table, row_id
from walt_bayes.hypotheses.verdicts import Thresholds

pytestmark = pytest.mark.slow

WORLD_SEEDS = {"balancing": 101, "bandwagoning": 202, "null": 303}


def true_quantities(design, truth: dict[str, float]) -> dict[str, float]:
    """The true value of every single-quantity hypothesis and part, from the true parameters."""
    names = ["mu_alpha", "lambda_0"] + [f"beta_{s}" for s in design.sources]
    names += [f"gamma_{t}" for t in design.terms]
    values = {n: truth[n] for n in names}
    values |= {f"control_{c}": truth[f"control_{c}"] for c in design.control_names}
    post = xr.Dataset({n: (("chain", "draw"), np.array([[v]])) for n, v in values.items()})
    tree = xr.DataTree.from_dict({"posterior": post, "constant_data": design.to_dataset()})
    ctx = FitContext(tree)
    ctx.__dict__["design"] = design  # with its outcomes
    ctx.__dict__["effects"] = Effects(design, post)
    out = {}
    for h in REGISTRY.values():
        for part in h.parts:
            pid = row_id(h, part)
            try:
                est = part.draws(ctx)
            except Exception:  # not testable in this variant
                continue
            out[pid] = (float(np.mean(est.draws)), est.scale, est.weight)
    return out


def expected(truth: float, direction: int, rope_half: float) -> set[str] | None:
    mag = abs(truth)
    right = "supported" if truth * direction > 0 else "contradicted"
    if mag >= 4 * rope_half:
        return {right}
    if mag >= rope_half:
        return {right, "inconclusive"}
    if mag < rope_half / 2:
        return {"practically null", "inconclusive"}
    return None


@pytest.fixture(scope="module", params=list(WORLD_SEEDS))
def world_fit(request):
    from walt_bayes.fit.run import fit_model
    from walt_bayes.model.simulate import simulate
    from walt_bayes.spec import load_spec

    world = request.param
    sim = simulate(world, n_states=16, n_years=12, seed=WORLD_SEEDS[world])
    result = fit_model(
        sim.panel, load_spec("balance_of_threat"), data_name=f"sim-{world}", data_sha256="0" * 64,
        seed=WORLD_SEEDS[world], draws=400, tune=400, chains=4, cores=2, progressbar=False,
    )
    return world, sim, result


def test_verdicts_match_the_worlds_truth(world_fit):
    world, sim, result = world_fit
    thresholds = Thresholds()
    table = evidence_table(result.idata, thresholds=thresholds).set_index("id")
    truths = true_quantities(result.design, sim.truth)
    checked, wrong = [], []
    for pid, (value, scale, weight) in truths.items():
        row = table.loc[pid]
        h = REGISTRY[row["part_of"] or pid]
        part = next(p for p in h.parts if row_id(h, p) == pid)
        rope = thresholds.rope_for(scale, weight if scale == "probability" else 1.0)
        if scale == "probability":
            # the fit's ROPE uses the posterior's mean p(1-p); the truth's uses the true one
            rope = (row["rope_low"], row["rope_high"])
        allowed = expected(value, part.direction, min(abs(rope[0]), abs(rope[1])))
        if allowed is None:
            continue
        checked.append(pid)
        if row["verdict"] not in allowed:
            wrong.append(f"{pid}: truth {value:.4g}, verdict {row['verdict']} (allowed {sorted(allowed)}), "
                         f"mean {row['mean']:.4g} [{row['hdi_low']:.4g}, {row['hdi_high']:.4g}]")
    print(f"\n{world}: checked {', '.join(checked)}")
    print(pd.DataFrame(truths, index=["truth", "scale", "weight"]).T.join(
        table[["verdict", "mean", "hdi_low", "hdi_high", "rope_high"]]).to_string())
    assert not wrong, "\n".join(wrong)
    # The headline hypotheses are always fixed by these worlds.
    headline = {"balancing": {"BAL-1": "supported", "BW-1": "contradicted", "COND-1": "supported"},
                "bandwagoning": {"BAL-1": "contradicted", "BW-1": "supported", "COND-1": "contradicted"},
                "null": {}}[world]
    for hid, verdict in headline.items():
        assert table.loc[hid, "verdict"] == verdict, hid
    if world == "null":
        for hid in ("BAL-1", "BW-1"):
            assert table.loc[hid, "verdict"] in ("practically null", "inconclusive")
    assert {"BAL-1", "BW-1", "COND-1"} <= set(checked)
