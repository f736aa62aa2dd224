"""Model specs: declarative theory variants stored as TOML files in ``models/``.

A spec says which blocks of the model are on, which threat sources and
alliance terms enter, how groups are pooled, which priors to use and how to
sample.  Loading validates everything and raises :class:`SpecError` with the
file and key for anything unknown or out of range.  Specs are data only: no
code is ever executed from them.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymc_extras.prior import Prior

from walt_bayes.errors import SpecError
from walt_bayes.paths import bundled_path

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


#: Companion indicators that make a duration term a contrast with a stated baseline.
DURATION_COMPANIONS: dict[str, str] = {"leninist": "regime_other", "ideological": "other_motive"}


def default_models_dir() -> Path:
    """The directory of bundled theory variants (``models/``)."""
    return bundled_path("models")


def resolve_spec_path(spec: str | Path) -> Path:
    """Accept a path or a bare variant name (``balance_of_threat``)."""
    path = Path(spec)
    if path.exists():
        return path
    candidate = default_models_dir() / f"{Path(spec).stem}.toml"
    if not path.suffix and candidate.exists():
        return candidate
    raise SpecError(f"{spec}: no such model spec (give a TOML path or one of: {', '.join(list_variants())})")


def list_variants() -> list[str]:
    """Names of the bundled theory variants."""
    return sorted(p.stem for p in default_models_dir().glob("*.toml"))


def load_spec(spec: str | Path) -> ModelSpec:
    """Load and validate a model spec.

    Parameters
    ----------
    spec : str or path
        A TOML file, or the name of a bundled variant.

    Returns
    -------
    ModelSpec

    Raises
    ------
    SpecError
        One line naming the file and the offending key.
    """
    path = resolve_spec_path(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: cannot read spec ({err})") from err
    return parse_spec(text, source=str(path))


def parse_spec(text: str, source: str = "<spec>") -> ModelSpec:
    """Parse and validate spec TOML text (see :func:`load_spec`)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{source}: not valid TOML ({err})") from err
    return _SpecParser(raw, source).parse(text)


def status_form(spec: ModelSpec) -> ModelSpec:
    """The spec with its duration block removed: alliance *status* instead of formation.

    The bundled variants model formation (onset rows in the alliance block, spell-years in
    block 3).  Their status form models P(allied) in every dyad-year, as the variants did
    before issue 23; it is kept for comparisons with that literature and for checks of the
    blocks-1-2 code.  The ``[duration]`` table is cut from the TOML text and the text parsed
    again, so a fit's stored ``spec_toml`` rebuilds the same design.

    Raises
    ------
    SpecError
        The spec has no duration block (it is a status spec already).
    """
    if spec.duration is None:
        raise SpecError(f"{spec.name}: no [duration] block, so it models status already")
    kept: list[str] = []
    skipping = False
    for line in spec.source_text.splitlines(keepends=True):
        header = line.strip()
        if header.startswith("[") and not header.startswith("[["):
            skipping = header.split("#")[0].strip() == "[duration]"
        if not skipping:
            kept.append(line)
    return parse_spec("".join(kept), source=f"{spec.source_path or spec.name} (status form)")


class _SpecParser:
    """Validate a spec dict section by section, naming file and key in errors."""

    TOP = frozenset({"model", "threat", "alliance", "priors", "sampler", "duration", "joining"})

    def __init__(self, raw: dict, source: str):
        self.raw = raw
        self.source = source

    def fail(self, key: str, problem: str) -> SpecError:
        return SpecError(f"{self.source}: [{key}] {problem}")

    def table(self, key: str, required: bool = True) -> dict | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise self.fail(key, "missing block")
            return None
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value

    def check_keys(self, section: str, table: dict, allowed: set[str]) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(section, f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")

    def choice(self, section: str, table: dict, key: str, allowed, default):
        value = table.get(key, default)
        if value not in allowed:
            raise self.fail(f"{section}.{key}", f"'{value}' is not one of {', '.join(map(str, allowed))}")
        return value

    def flag(self, section: str, table: dict, key: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{section}.{key}", f"must be true or false, got {value!r}")
        return value

    def names(self, section: str, table: dict, key: str, allowed, default) -> tuple[str, ...]:
        value = table.get(key, default)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{section}.{key}", "must be a list of names")
        for v in value:
            if v not in allowed:
                raise self.fail(f"{section}.{key}", f"unknown name '{v}' (allowed: {', '.join(allowed)})")
        if len(set(value)) != len(value):
            raise self.fail(f"{section}.{key}", "lists a name twice")
        return tuple(value)

    def positive_int(self, section: str, table: dict, key: str, default: int, most: int = 10**7) -> int:
        value = table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
            raise self.fail(f"{section}.{key}", f"must be an integer in 1..{most:,}, got {value!r}")
        return value

    def parse(self, text: str) -> ModelSpec:
        unknown = sorted(set(self.raw) - self.TOP)
        if unknown:
            raise self.fail(unknown[0], f"unknown block (allowed: {', '.join(sorted(self.TOP))})")
        model = self.table("model")
        self.check_keys("model", model, {"name", "description"})
        name = model.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.fail("model.name", "missing or empty")
        threat = self.parse_threat()
        alliance = self.parse_alliance()
        priors = self.parse_priors()
        sampler = self.parse_sampler()
        spec = ModelSpec(
            name=name.strip(),
            description=str(model.get("description", "")),
            threat=threat,
            alliance=alliance,
            priors=priors,
            sampler=sampler,
            source_text=text,
            source_path=self.source,
            duration=self.parse_duration(),
            joining=self.parse_joining(),
        )
        self.check_prior_params(spec)
        if spec.needs_threat and threat is None:
            latent = [t for t in alliance.terms if LATENT_FACTORS.intersection(ALLIANCE_TERMS[t])]
            raise self.fail("alliance.terms", f"'{latent[0]}' needs the [threat] block, which is missing")
        return spec

    def check_prior_params(self, spec: ModelSpec) -> None:
        """Every prior the spec names, merged with its family and defaults, has the
        parameters its distribution needs (e.g. StudentT needs ``nu``)."""
        for key in spec.priors:
            family = key.split("_", 1)[0] if key not in DEFAULT_PRIORS else None
            resolved = spec.resolved_prior(key, family)
            lacking = [p for p in REQUIRED_PARAMS.get(resolved["distribution"], ()) if p not in resolved]
            if lacking:
                raise self.fail(
                    f"priors.{key}",
                    f"'{resolved['distribution']}' needs parameter(s) {', '.join(lacking)}",
                )

    def parse_threat(self) -> ThreatSpec | None:
        table = self.table("threat", required=False)
        if table is None:
            return None
        self.check_keys("threat", table, {"sources", "group", "source_intercepts"})
        sources = self.names("threat", table, "sources", tuple(THREAT_SOURCES), [])
        if not sources:
            raise self.fail("threat.sources", "must name at least one of " + ", ".join(THREAT_SOURCES))
        group = self.choice("threat", table, "group", GROUPINGS, "region")
        return ThreatSpec(sources=sources, group=group,
                          source_intercepts=self.flag("threat", table, "source_intercepts", False))

    def parse_alliance(self) -> AllianceSpec:
        table = self.table("alliance")
        allowed = {
            "outcome", "directed", "onset", "terms", "controls", "group", "dyad_intercepts",
            "year_intercepts", "relevance", "case_control_ratio", "drop_unavailable",
        }
        self.check_keys("alliance", table, allowed)
        ratio = table.get("case_control_ratio")
        if ratio is not None and (
            isinstance(ratio, bool)
            or not isinstance(ratio, int | float)
            or not math.isfinite(ratio)
            or ratio <= 0
        ):
            raise self.fail("alliance.case_control_ratio", f"must be a positive number, got {ratio!r}")
        return AllianceSpec(
            outcome=self.choice("alliance", table, "outcome", OUTCOMES, "ally"),
            directed=self.flag("alliance", table, "directed", False),
            onset=self.flag("alliance", table, "onset", False),
            terms=self.names("alliance", table, "terms", tuple(ALLIANCE_TERMS), []),
            controls=self.names("alliance", table, "controls", CONTROLS, list(CONTROLS)),
            group=self.choice("alliance", table, "group", GROUPINGS, "region"),
            dyad_intercepts=self.flag("alliance", table, "dyad_intercepts", True),
            year_intercepts=self.flag("alliance", table, "year_intercepts", True),
            relevance=self.names("alliance", table, "relevance", RELEVANCE, list(RELEVANCE)),
            case_control_ratio=float(ratio) if ratio is not None else None,
            drop_unavailable=self.flag("alliance", table, "drop_unavailable", False),
        )

    def parse_duration(self) -> DurationSpec | None:
        table = self.table("duration", required=False)
        if table is None:
            return None
        self.check_keys("duration", table, {"terms", "ideological_similarity", "drop_unavailable"})
        sim = table.get("ideological_similarity", 0.5)
        if isinstance(sim, bool) or not isinstance(sim, int | float) or not 0 <= sim <= 1:
            raise self.fail("duration.ideological_similarity", f"must be a number in [0, 1], got {sim!r}")
        return DurationSpec(
            terms=self.names("duration", table, "terms", tuple(DURATION_TERMS), list(DURATION_TERMS)),
            ideological_similarity=float(sim),
            drop_unavailable=self.flag("duration", table, "drop_unavailable", False),
        )

    def parse_joining(self) -> JoiningSpec | None:
        table = self.table("joining", required=False)
        if table is None:
            return None
        self.check_keys("joining", table, {"exclude_uncertain", "drop_unavailable"})
        return JoiningSpec(
            exclude_uncertain=self.flag("joining", table, "exclude_uncertain", False),
            drop_unavailable=self.flag("joining", table, "drop_unavailable", False),
        )

    def parse_priors(self) -> dict[str, dict[str, Any]]:
        table = self.table("priors", required=False) or {}
        known = set(DEFAULT_PRIORS)
        known |= {f"beta_{s}" for s in THREAT_SOURCES}
        known |= {f"gamma_{t}" for t in ALLIANCE_TERMS}
        known |= {f"control_{c}" for c in CONTROLS}
        known |= {f"delta_{t}" for t in (*DURATION_TERMS, *DURATION_COMPANIONS.values(), "log_duration")}
        priors: dict[str, dict[str, Any]] = {}
        for key, entry in table.items():
            where = f"priors.{key}"
            if key not in known:
                raise self.fail(where, "unknown parameter (e.g. beta, gamma, gamma_shared, sigma_dyad)")
            if not isinstance(entry, dict):
                raise self.fail(where, "must be a table like {distribution = \"Normal\", mu = 0, sigma = 1}")
            entry = dict(entry)
            dist = entry.get("distribution", DEFAULT_PRIORS.get(key, {}).get("distribution", "Normal"))
            if not isinstance(dist, str) or dist not in ALLOWED_DISTRIBUTIONS:
                raise self.fail(where, f"distribution '{dist}' not allowed ({', '.join(ALLOWED_DISTRIBUTIONS)})")
            family_scale = key in SCALE_PRIORS
            if family_scale and dist not in ("HalfNormal", "HalfStudentT", "Exponential"):
                raise self.fail(where, f"a group scale needs a positive distribution, not {dist}")
            params = ALLOWED_DISTRIBUTIONS[dist]
            for pname, value in entry.items():
                if pname == "distribution":
                    continue
                if pname not in params:
                    raise self.fail(where, f"'{dist}' has no parameter '{pname}' ({', '.join(params)})")
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                    raise self.fail(f"{where}.{pname}", f"must be a finite number, got {value!r}")
                if params[pname] and value <= 0:
                    raise self.fail(f"{where}.{pname}", f"must be positive, got {value}")
            entry["distribution"] = dist
            priors[key] = entry
        return priors

    def parse_sampler(self) -> SamplerSpec:
        table = self.table("sampler", required=False) or {}
        self.check_keys(
            "sampler", table, {"sampler", "draws", "tune", "chains", "target_accept", "prior_draws", "adaptation"}
        )
        target = table.get("target_accept", 0.9)
        if isinstance(target, bool) or not isinstance(target, int | float) or not 0.5 <= target < 1:
            raise self.fail("sampler.target_accept", f"must be in [0.5, 1), got {target!r}")
        return SamplerSpec(
            sampler=self.choice("sampler", table, "sampler", SAMPLERS, "nutpie"),
            draws=self.positive_int("sampler", table, "draws", 1000),
            tune=self.positive_int("sampler", table, "tune", 1000),
            chains=self.positive_int("sampler", table, "chains", 4),
            target_accept=float(target),
            prior_draws=self.positive_int("sampler", table, "prior_draws", 500),
            adaptation=self.choice("sampler", table, "adaptation", ADAPTATIONS, "low_rank"),
        )
