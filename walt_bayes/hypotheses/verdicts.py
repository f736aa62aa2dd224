"""Turn posterior draws of a directional quantity into a verdict (WALT_HYPOTHESES.md).

- ``supported``: P(predicted direction) ≥ prob and the 94% HDI lies outside the ROPE;
- ``contradicted``: P(opposite direction) ≥ prob and the HDI lies outside the ROPE;
- ``practically null``: the HDI lies inside the ROPE;
- ``inconclusive``: otherwise.

The ROPE defaults to an odds ratio within 0.9–1.1 per standard deviation of
the input, i.e. a coefficient in [log 0.9, log 1.1] on the standardised scale.
Average marginal effects (probability per SD) use that ROPE times the mean of
``p (1 - p)`` over the rows they average (what an odds ratio of 0.9–1.1 per SD
would do there); differences of shares use ± ``share_rope``.

Hypotheses with several parts are conjunctions (:func:`combine`): unreliable
when any part is unreliable, contradicted when any part is contradicted,
supported when every part is supported, not testable when a part is not
testable (and none contradicted), practically null when every part is,
inconclusive otherwise.

- ``unreliable``: the fit failed its convergence checks, so no verdict is given
  (:func:`walt_bayes.hypotheses.table.evidence_table` replaces the four verdicts above
  with it, and the failing checks become the row's reason).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import arviz as az
import numpy as np

from walt_bayes.fit.diagnostics import CI_PROB

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
NULL = "practically null"
INCONCLUSIVE = "inconclusive"
NOT_TESTABLE = "not testable"
UNRELIABLE = "unreliable"
VERDICTS = (SUPPORTED, CONTRADICTED, NULL, INCONCLUSIVE, NOT_TESTABLE, UNRELIABLE)
#: The verdicts a posterior gives; a fit that failed its convergence checks gives ``unreliable`` instead.
JUDGED = (SUPPORTED, CONTRADICTED, NULL, INCONCLUSIVE)


@dataclass(frozen=True)
class Thresholds:
    """Verdict settings, printed under every table."""

    prob: float = 0.95
    rope: tuple[float, float] = (math.log(0.9), math.log(1.1))
    ci_prob: float = CI_PROB
    share_rope: float = 0.1

    def describe(self) -> str:
        lo, hi = self.rope
        return (
            f"supported/contradicted: P(direction) ≥ {self.prob:g} and {self.ci_prob:.0%} HDI outside the "
            f"ROPE [{lo:.3f}, {hi:.3f}] (odds ratio {math.exp(lo):.2f}–{math.exp(hi):.2f} per SD); "
            f"practically null: HDI inside the ROPE; otherwise inconclusive. Marginal effects "
            f"(probability per SD): ROPE × mean p(1−p) over the rows; share differences: "
            f"ROPE ±{self.share_rope:g}; multi-part hypotheses: every part must hold"
        )

    def rope_for(self, scale: str, weight: float = 1.0) -> tuple[float, float]:
        """The ROPE for a quantity on ``scale`` (``share``: ± share_rope; otherwise the log-odds
        ROPE times ``weight``)."""
        if scale == "share":
            return (-self.share_rope, self.share_rope)
        return (self.rope[0] * weight, self.rope[1] * weight)


def rope_from_odds_ratio(low: float, high: float) -> tuple[float, float]:
    """ROPE on the log-odds scale from odds-ratio bounds (e.g. 0.9, 1.1)."""
    if not 0 < low < 1 < high:
        raise ValueError(f"ROPE odds ratios must satisfy 0 < low < 1 < high, got {low}, {high}")
    return (math.log(low), math.log(high))


@dataclass
class Evidence:
    """Posterior evidence about one directional quantity."""

    mean: float
    hdi_low: float
    hdi_high: float
    p_direction: float
    verdict: str


def judge(
    draws: np.ndarray, direction: int, thresholds: Thresholds = Thresholds(),
    rope: tuple[float, float] | None = None,
) -> Evidence:
    """Verdict for posterior ``draws`` of a quantity predicted to be > 0 (``direction=+1``) or < 0 (-1).

    Parameters
    ----------
    draws : array
        Posterior draws (any shape; flattened).
    direction : {+1, -1}
        The predicted sign.
    thresholds : Thresholds
        Probability, ROPE and interval settings.
    rope : (float, float), optional
        The ROPE on the quantity's own scale (default: ``thresholds.rope``).

    Returns
    -------
    Evidence
    """
    x = np.asarray(draws, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ValueError("no finite draws")
    lo, hi = (float(v) for v in az.hdi(x, prob=thresholds.ci_prob))
    p_dir = float(np.mean(x * direction > 0))
    p_opp = float(np.mean(x * direction < 0))
    rlo, rhi = thresholds.rope if rope is None else rope
    outside = hi < rlo or lo > rhi
    inside = lo >= rlo and hi <= rhi
    if p_dir >= thresholds.prob and outside:
        verdict = SUPPORTED
    elif p_opp >= thresholds.prob and outside:
        verdict = CONTRADICTED
    elif inside:
        verdict = NULL
    else:
        verdict = INCONCLUSIVE
    return Evidence(float(x.mean()), lo, hi, p_dir, verdict)


def combine(verdicts: list[str]) -> str:
    """The verdict on a conjunction of parts (see the module docstring)."""
    if not verdicts:
        return NOT_TESTABLE
    if UNRELIABLE in verdicts:
        return UNRELIABLE
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    if NOT_TESTABLE in verdicts:
        return NOT_TESTABLE
    if all(v == SUPPORTED for v in verdicts):
        return SUPPORTED
    if all(v == NULL for v in verdicts):
        return NULL
    return INCONCLUSIVE
