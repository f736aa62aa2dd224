"""A validated spec as frozen dataclasses: one per block, and :class:`ModelSpec` for the whole.

:meth:`ModelSpec.prior` resolves a parameter's prior in CausalPy's merge order: the
user's entry for the parameter > the user's entry for its family > data-driven values >
package defaults (:data:`~walt_bayes.spec.vocabulary.DEFAULT_PRIORS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymc_extras.prior import Prior

from walt_bayes.errors import SpecError
from walt_bayes.spec.vocabulary import (
    ALLIANCE_TERMS,
    CONTROLS,
    DEFAULT_PRIORS,
    DURATION_TERMS,
    LATENT_FACTORS,
    RELEVANCE,
)


@dataclass(frozen=True)
class ThreatSpec:
    """Block 1: which threat sources enter and how they are pooled."""

    sources: tuple[str, ...]
    group: str = "region"
    # A varying intercept per threatening state (``source_effect``, scale ``sigma_source``):
    # the part of a state's disposition to initiate disputes that power, proximity, offense
    # and its recent disputes do not measure (issue 23, MODEL.md block 1).
    source_intercepts: bool = False


@dataclass(frozen=True)
class AllianceSpec:
    """Block 2: outcome, terms, controls and varying intercepts."""

    outcome: str = "ally"
    directed: bool = False
    onset: bool = False
    terms: tuple[str, ...] = ()
    controls: tuple[str, ...] = CONTROLS
    group: str = "region"
    dyad_intercepts: bool = True
    year_intercepts: bool = True
    relevance: tuple[str, ...] = RELEVANCE
    case_control_ratio: float | None = None
    drop_unavailable: bool = False


@dataclass(frozen=True)
class DurationSpec:
    """Block 3: discrete-time hazard of an alliance spell ending (MODEL.md)."""

    terms: tuple[str, ...] = tuple(DURATION_TERMS)
    ideological_similarity: float = 0.5  # ideo_sim at formation >= this: similar regimes
    drop_unavailable: bool = False


@dataclass(frozen=True)
class JoiningSpec:
    """Wartime joining (COND-5): P(a state joining an ongoing war joins the eventual winner)."""

    exclude_uncertain: bool = False
    drop_unavailable: bool = False


@dataclass(frozen=True)
class SamplerSpec:
    """Sampler defaults; the CLI may override each."""

    sampler: str = "nutpie"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.9
    prior_draws: int = 500
    adaptation: str = "low_rank"


@dataclass(frozen=True)
class ModelSpec:
    """A validated theory variant."""

    name: str
    description: str
    threat: ThreatSpec | None
    alliance: AllianceSpec
    priors: dict[str, dict[str, Any]] = field(default_factory=dict)
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    source_text: str = ""
    source_path: str = ""
    duration: DurationSpec | None = None
    joining: JoiningSpec | None = None

    @property
    def needs_threat(self) -> bool:
        """True when any alliance term uses a latent threat factor."""
        return any(LATENT_FACTORS.intersection(ALLIANCE_TERMS[t]) for t in self.alliance.terms)

    def prior(self, name: str, family: str | None = None, **data_driven: float) -> Prior:
        """Resolve the prior for parameter ``name`` as a pymc-extras ``Prior``.

        Merge order (CausalPy's): the user's entry for ``name`` > the user's entry
        for its ``family`` > data-driven values > package defaults.
        """
        resolved = self.resolved_prior(name, family, **data_driven)
        dist = resolved["distribution"]
        params = {k: v for k, v in resolved.items() if k != "distribution"}
        return Prior(dist, **params)

    def resolved_prior(self, name: str, family: str | None = None, **data_driven: float) -> dict:
        """The merged prior entry (a plain dict) for ``name``; see :meth:`prior`."""
        base = dict(DEFAULT_PRIORS.get(family or name, DEFAULT_PRIORS.get(name, {})))
        if not base:
            raise SpecError(f"no default prior for parameter '{name}'")
        for key, value in data_driven.items():
            base.setdefault(key, value)
        for key in (family, name):
            if key and key in self.priors:
                user = dict(self.priors[key])
                if user.get("distribution", base["distribution"]) != base["distribution"]:
                    base = {}
                base.update(user)
        return base

    def term_names(self) -> tuple[str, ...]:
        """Names of every alliance coefficient, ``gamma_<term>``."""
        return tuple(f"gamma_{t}" for t in self.alliance.terms)
