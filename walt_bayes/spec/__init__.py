"""Model specs: declarative theory variants stored as TOML files in ``models/``.

A spec says which blocks of the model are on, which threat sources and
alliance terms enter, how groups are pooled, which priors to use and how to
sample.  Loading validates everything and raises :class:`SpecError` with the
file and key for anything unknown or out of range.  Specs are data only: no
code is ever executed from them.

A parameter's prior is merged in CausalPy's order (:meth:`ModelSpec.prior`): the
user's entry for the parameter > the user's entry for its family > data-driven
values > package defaults.

The modules, each importing only the ones before it:

* :mod:`~walt_bayes.spec.vocabulary` — the names a spec may use, as tables (threat
  sources, terms, controls, default priors, distributions, samplers, adaptations);
* :mod:`~walt_bayes.spec.model` — the validated spec as frozen dataclasses
  (:class:`ModelSpec` and one class per block), prior resolution;
* :mod:`~walt_bayes.spec.parser` — TOML text → :class:`ModelSpec` (:func:`parse_spec`),
  and :func:`status_form`;
* :mod:`~walt_bayes.spec.files` — the bundled variants and :func:`load_spec`.
"""

from walt_bayes.spec.files import default_models_dir, list_variants, load_spec, resolve_spec_path
from walt_bayes.spec.model import (
    AllianceSpec,
    DurationSpec,
    JoiningSpec,
    ModelSpec,
    SamplerSpec,
    ThreatSpec,
)
from walt_bayes.spec.parser import _SpecParser as _SpecParser
from walt_bayes.spec.parser import parse_spec, status_form
from walt_bayes.spec.vocabulary import (
    ADAPTATIONS,
    ALLIANCE_TERMS,
    ALLOWED_DISTRIBUTIONS,
    CONTROLS,
    DEFAULT_PRIORS,
    DURATION_COMPANIONS,
    DURATION_TERMS,
    GROUPINGS,
    LATENT_FACTORS,
    OUTCOMES,
    RELEVANCE,
    REQUIRED_PARAMS,
    SAMPLERS,
    SCALE_PRIORS,
    THREAT_SOURCES,
)

__all__ = [
    "ADAPTATIONS",
    "ALLIANCE_TERMS",
    "ALLOWED_DISTRIBUTIONS",
    "CONTROLS",
    "DEFAULT_PRIORS",
    "DURATION_COMPANIONS",
    "DURATION_TERMS",
    "GROUPINGS",
    "LATENT_FACTORS",
    "OUTCOMES",
    "RELEVANCE",
    "REQUIRED_PARAMS",
    "SAMPLERS",
    "SCALE_PRIORS",
    "THREAT_SOURCES",
    "AllianceSpec",
    "DurationSpec",
    "JoiningSpec",
    "ModelSpec",
    "SamplerSpec",
    "ThreatSpec",
    "default_models_dir",
    "list_variants",
    "load_spec",
    "parse_spec",
    "resolve_spec_path",
    "status_form",
]
