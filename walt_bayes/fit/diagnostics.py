"""Convergence diagnostics: R-hat, bulk/tail ESS, divergences, E-BFMI and tree depth, via ArviZ.

Thresholds follow current practice (Vehtari et al. 2021; Betancourt 2016): R-hat ≤ 1.01 and
bulk and tail ESS ≥ 400 for every named parameter, no divergent transitions, and E-BFMI
≥ 0.3 in every chain (below it, the momentum resampling explores the energy distribution
too slowly: heavy tails or a funnel).  Draws whose trajectory hit the maximum tree depth
are counted and printed (an efficiency warning, not a validity failure).  Failures are
reported, never hidden.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import arviz as az
import numpy as np
import pandas as pd

RHAT_MAX = 1.01
ESS_MIN = 400
BFMI_MIN = 0.3
#: Interval probability used in every table (WALT_HYPOTHESES.md: 94% HDI).
CI_PROB = 0.94

#: Prefixes of the parameters users interpret (the "named" parameters).
NAMED_PREFIXES = ("beta_", "gamma_", "delta_", "lambda_0", "mu_alpha", "sigma_", "tau_beta", "control_", "join_")


def named_parameters(posterior) -> list[str]:
    """Names of the interpretable parameters in a posterior (no raw z offsets)."""
    return [v for v in posterior.data_vars if str(v).startswith(NAMED_PREFIXES)]


@dataclass
class Convergence:
    """Summary of sampler health for one fit."""

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    draws: int
    chains: int
    worst_rhat: str = ""
    worst_ess: str = ""
    problems: list[str] = field(default_factory=list)
    bfmi: list[float] = field(default_factory=list)  # E-BFMI per chain (empty: no energy recorded)
    max_depth_share: float = 0.0  # share of draws whose trajectory hit the maximum tree depth

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ok"] = self.ok
        return out


def summary_table(idata, var_names: list[str] | None = None) -> pd.DataFrame:
    """ArviZ summary (mean, sd, 94% HDI, ESS, R-hat) of the named parameters."""
    posterior = idata["posterior"]
    names = var_names or named_parameters(posterior)
    return az.summary(idata, var_names=names, ci_prob=CI_PROB, ci_kind="hdi", round_to="none")


def check_convergence(idata, summary: pd.DataFrame | None = None) -> Convergence:
    """Compute convergence figures and list every threshold that fails."""
    summary = summary if summary is not None else summary_table(idata)
    stats = idata["sample_stats"]
    divergences = int(np.asarray(stats["diverging"]).sum()) if "diverging" in stats else 0
    rhat = summary["r_hat"].astype(float)
    bulk = summary["ess_bulk"].astype(float)
    tail = summary["ess_tail"].astype(float)
    post = idata["posterior"]
    conv = Convergence(
        max_rhat=float(rhat.max()),
        min_ess_bulk=float(bulk.min()),
        min_ess_tail=float(tail.min()),
        divergences=divergences,
        draws=int(post.sizes["draw"]),
        chains=int(post.sizes["chain"]),
        worst_rhat=str(rhat.idxmax()) if rhat.notna().any() else "n/a",
        worst_ess=str(bulk.idxmin()) if bulk.notna().any() else "n/a",
    )
    if conv.chains < 2:
        # R-hat compares chains: with one chain it is undefined, not "fine".
        conv.problems.append("R-hat needs at least 2 chains (this fit has 1)")
    elif not conv.max_rhat <= RHAT_MAX:
        conv.problems.append(f"R-hat {conv.max_rhat:.3f} > {RHAT_MAX} ({conv.worst_rhat})")
    if not conv.min_ess_bulk >= ESS_MIN:
        conv.problems.append(f"bulk ESS {conv.min_ess_bulk:.0f} < {ESS_MIN} ({conv.worst_ess})")
    if not conv.min_ess_tail >= ESS_MIN:
        worst_tail = tail.idxmin() if tail.notna().any() else "n/a"
        conv.problems.append(f"tail ESS {conv.min_ess_tail:.0f} < {ESS_MIN} ({worst_tail})")
    if divergences:
        conv.problems.append(f"{divergences} divergent transitions")
    conv.bfmi, conv.max_depth_share = _energy_and_depth(idata)
    low = [f"{b:.2f}" for b in conv.bfmi if not b >= BFMI_MIN]
    if low:
        conv.problems.append(f"E-BFMI {', '.join(low)} < {BFMI_MIN} in {len(low)} of {len(conv.bfmi)} chains")
    return conv


def _energy_and_depth(idata) -> tuple[list[float], float]:
    """E-BFMI per chain (ArviZ) and the share of draws at the maximum tree depth."""
    stats = idata["sample_stats"]
    bfmi = []
    if "energy" in stats:
        bfmi = [float(b) for b in np.asarray(az.bfmi(idata)["energy"].values).ravel()]
    depth = float(np.asarray(stats["maxdepth_reached"]).mean()) if "maxdepth_reached" in stats else 0.0
    return bfmi, depth
