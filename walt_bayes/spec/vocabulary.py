"""The spec vocabularies: every name a model spec may use, as tables.

Threat sources and the features they are built from, alliance and duration terms,
controls, groupings, outcomes, relevance filters, default priors, the distributions a
prior may name, samplers and mass-matrix adaptations.  :mod:`walt_bayes.spec.parser`
checks a spec against these; the model stage reads them to build its arrays.
"""

from __future__ import annotations

from typing import Any

#: Threat sources (MODEL.md block 1) and the panel features each is built from.
#: A feature's sign says which direction means *more* threat.
THREAT_SOURCES: dict[str, tuple[tuple[str, int], ...]] = {
    "power": (("power2", +1), ("power_ratio", +1)),
    "proximity": (("contiguous", +1), ("log_capdist", -1), ("neighbour2", +1)),
    "offense": (("offense2", +1),),
    "intent": (
        ("log_init2_past10", +1),
        ("log_init21_past10", +1),
        ("rivalry", +1),
    ),
}

#: Alliance-equation terms (MODEL.md block 2).  Each is a product of factors;
#: latent factors (S, B, T, S_persistent) come from the threat block.
ALLIANCE_TERMS: dict[str, tuple[str, ...]] = {
    "shared": ("S",),
    "partner": ("B",),
    "shared_x_strength": ("S", "strength_i"),
    "partner_x_weak_x_major": ("B", "weak_i", "major_k"),
    "ideology": ("ideo_sim",),
    "ideology_x_threat_faced": ("ideo_sim", "T"),
    "ideology_x_bipolar": ("ideo_sim", "bipolar"),
    "ideology_x_illegitimacy": ("ideo_sim", "illegit_i"),
    "shared_x_support": ("S", "support"),
    "shared_x_support_sq": ("S", "support_sq"),
    "shared_x_persistent_aggression": ("S_persistent",),
    "contiguous": ("contig",),
    "second_order_neighbour": ("neighbour2",),
    "aid": ("aid",),
    "aid_x_threat_faced": ("aid", "T"),
    "penetration": ("penetration",),
    "penetration_x_target_democracy": ("penetration", "democracy_k"),
    "penetration_x_shared_threat": ("penetration", "S"),
}

#: Control variables of the alliance equation (observed, standardised).
CONTROLS = ("strength_i", "strength_k", "major_i", "major_k")

LATENT_FACTORS = frozenset({"S", "B", "T", "S_persistent"})

#: Alliance-duration terms (MODEL.md block 3; :mod:`walt_bayes.model.duration`).
#: ``leninist`` brings its companion ``regime_other`` and ``ideological`` its
#: companion ``other_motive`` (so each is a contrast with a stated baseline).
DURATION_TERMS: dict[str, str] = {
    "war_won": "formed in wartime x the common enemy defeated by year t (BAL-6)",
    "threat_rise": "change in shared threat S from t-1 to t, per SD (BW-6)",
    "leninist": "both members Marxist-Leninist one-party states, vs both democracies/monarchies (IDEO-2)",
    "ideological": "ideology-driven (similar regimes, no shared threat source at formation), "
    "vs threat-driven (IDEO-5)",
}

#: Companion indicators that make a duration term a contrast with a stated baseline.
DURATION_COMPANIONS: dict[str, str] = {"leninist": "regime_other", "ideological": "other_motive"}

GROUPINGS = ("region", "era", "none")
OUTCOMES = ("ally", "ally_formal", "pledge")
RELEVANCE = ("contiguous", "major", "rival")

#: Default priors on the standardised scale (MODEL.md "Priors").  Intercept
#: means are data-driven (the logit of the observed rate) unless given.
DEFAULT_PRIORS: dict[str, dict[str, Any]] = {
    "beta": {"distribution": "Normal", "mu": 0.0, "sigma": 1.0},
    "tau_beta": {"distribution": "HalfNormal", "sigma": 0.5},
    "lambda_0": {"distribution": "Normal", "sigma": 1.5},
    "gamma": {"distribution": "Normal", "mu": 0.0, "sigma": 1.0},
    "control": {"distribution": "Normal", "mu": 0.0, "sigma": 1.0},
    "mu_alpha": {"distribution": "Normal", "sigma": 1.5},
    "sigma_alpha": {"distribution": "HalfNormal", "sigma": 0.5},
    # Dyads differ a lot in their propensity to ally (on the embedded data most pairs
    # never ally and a few always do; the posterior SD is ~4.5 on the logit scale):
    # a 0.5 scale put that 9 prior SDs out and slowed warm-up.
    "sigma_dyad": {"distribution": "HalfNormal", "sigma": 2.5},
    "sigma_year": {"distribution": "HalfNormal", "sigma": 0.5},
    # States differ in how often they initiate disputes beyond what their power, position,
    # arms and recent disputes say (a revisionist state attacks more): a logit-scale SD near 1.
    "sigma_source": {"distribution": "HalfNormal", "sigma": 1.0},
    "delta": {"distribution": "Normal", "mu": 0.0, "sigma": 1.0},
    "delta_0": {"distribution": "Normal", "sigma": 1.5},
    "join_winner": {"distribution": "Normal", "mu": 0.0, "sigma": 1.0},
}

#: Distributions a spec may name, with the parameters each accepts and which must be positive.
ALLOWED_DISTRIBUTIONS: dict[str, dict[str, bool]] = {
    "Normal": {"mu": False, "sigma": True},
    "StudentT": {"nu": True, "mu": False, "sigma": True},
    "HalfNormal": {"sigma": True},
    "HalfStudentT": {"nu": True, "sigma": True},
    "Exponential": {"lam": True},
    "Laplace": {"mu": False, "b": True},
}
#: Parameters a distribution has no default for (PyMC needs them).
REQUIRED_PARAMS: dict[str, tuple[str, ...]] = {
    "StudentT": ("nu",),
    "HalfStudentT": ("nu",),
    "Exponential": ("lam",),
    "Laplace": ("mu", "b"),
}
SCALE_PRIORS = ("tau_beta", "sigma_alpha", "sigma_dyad", "sigma_year", "sigma_source")

SAMPLERS = ("nutpie", "pymc")
#: nutpie mass-matrix adaptation.  "low_rank" learns a few strong posterior
#: correlations that a diagonal mass matrix mixes slowly, but each of its
#: updates during warm-up costs seconds at a few hundred parameters (measured:
#: ~4.5 s, ~15 per chain on the embedded panel), so "diag" with more draws is
#: faster there.  "draw_diag" (Stan's choice: the draws' variances only) takes
#: longer trajectories than nutpie's "diag" (draw and gradient variances) on the
#: embedded panel (48 vs 31 leapfrog steps) but mixes the group scales tau_beta
#: better: bulk ESS per gradient 1.25x, tail ESS 2x (4 chains, seed 20260101).
ADAPTATIONS = ("low_rank", "diag", "draw_diag")
