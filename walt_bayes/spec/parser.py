"""Spec TOML text → :class:`~walt_bayes.spec.model.ModelSpec`, validated section by section.

The text goes through :func:`tomllib.loads` only: specs are data, no code is ever
executed from them.  Every error is one :class:`SpecError` line naming the source and
the offending key.
"""

from __future__ import annotations

import math
import tomllib
from typing import Any

from walt_bayes.errors import SpecError
from walt_bayes.spec.model import (
    AllianceSpec,
    DurationSpec,
    JoiningSpec,
    ModelSpec,
    SamplerSpec,
    ThreatSpec,
)
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
