"""Study files: a bundled robustness study of Walt's hypotheses across defensible choices.

A study file is TOML::

    [study]
    name = "walt"                                   # letters, digits, '-', '_', '.'
    description = "…"                               # optional, shown in the findings report
    variants = ["null", "balance_of_threat"]        # bundled names or spec TOML paths
    outcomes = ["ally", "ally_formal"]              # alliance.outcome of every variant (spec OUTCOMES)
    seeds = [1]                                     # one fit per seed
    prior_scales = [1.0]                            # every prior scale multiplied, for every variant
    hypotheses = ["BAL-1", "BW-1", "COND-1"]        # the matrix rows (default: the six of issue 24)
    comparison = "loo"                              # loo | kfold: how variants are ranked per data set

    [[data]]                                        # one table per data set
    name = "middle-east"                            # middle-east, a named panel (walt_bayes.panel.named)
    label = "embedded coding"                       # optional, for the report
    outcomes = ["ally"]                             # optional: overrides [study] outcomes here

    [[data]]
    name = "my-panel"
    path = "panels/mine.parquet"                    # or a panel file (relative to the study file)

    [[sensitivity]]                                 # optional: more prior scales for some variants
    variants = ["balance_of_threat"]
    prior_scales = [2.0]

    [sampler]                                       # optional: chains / draws / tune for every fit
    chains = 2

    [folds]                                         # comparison = "kfold" only
    k = 5
    group = "dyad"                                  # dyad | year-block | none
    seed = 0
    chains = 2                                      # sampler of the refits (default 2 × 300 + 300)
    draws = 300
    tune = 300

An outcome a data set's panel lacks (``ally_formal`` on an ATOP panel, where every
alliance is a written treaty) is skipped for that data set, with the reason in the
plan (:func:`walt_bayes.study.plan.expand`).  Every error is one line naming the
file and the key (:class:`StudyError`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from walt_bayes.errors import SpecError, WaltError
from walt_bayes.panel import named

#: The hypotheses of the findings matrix by default (issue 24's README section).
DEFAULT_HYPOTHESES = ("BAL-1", "BW-1", "COND-1", "COND-2", "IDEO-1", "BAL-3")
COMPARISONS = ("loo", "kfold")
FOLD_GROUPS = ("dyad", "year-block", "none")
SAMPLER_KEYS = ("chains", "draws", "tune")
_STUDY_KEYS = (
    "name", "description", "variants", "outcomes", "seeds", "prior_scales", "hypotheses", "comparison",
)


class StudyError(WaltError):
    """A study file is malformed or names something unknown."""


@dataclass(frozen=True)
class StudyData:
    """One data set of a study.

    ``ref`` is what :func:`walt_bayes.panel.datasets.load_dataset` takes: ``middle-east``,
    a named panel, or the absolute path of a panel file.
    """

    name: str
    ref: str
    kind: str  # "middle-east" | "named" | "file"
    label: str
    outcomes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Sensitivity:
    """Extra prior scales for some variants (power-scaled prior sensitivity)."""

    variants: tuple[str, ...]
    prior_scales: tuple[float, ...]


@dataclass
class Study:
    """A parsed study file."""

    path: Path
    name: str
    description: str
    variants: dict[str, str]  # variant name -> spec reference (bundled name or absolute path)
    data: list[StudyData]
    outcomes: tuple[str, ...]
    seeds: tuple[int, ...]
    prior_scales: tuple[float, ...]
    hypotheses: tuple[str, ...] = DEFAULT_HYPOTHESES
    comparison: str = "loo"
    sensitivity: list[Sensitivity] = field(default_factory=list)
    sampler: dict[str, int] = field(default_factory=dict)
    folds: dict | None = None

    def scales_for(self, variant: str) -> tuple[float, ...]:
        """Prior scales of ``variant``: the study's, then those of every sensitivity entry naming it."""
        scales = list(self.prior_scales)
        for s in self.sensitivity:
            if variant in s.variants:
                scales += [x for x in s.prior_scales if x not in scales]
        return tuple(scales)

    def outcomes_for(self, data: StudyData) -> tuple[str, ...]:
        """Outcomes asked for on ``data`` (before checking the panel has them)."""
        return data.outcomes if data.outcomes is not None else self.outcomes


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _safe(text: str) -> bool:
    return bool(text) and all(c.isalnum() or c in "-_." for c in text)


class _Parser:
    """Validation helpers that raise one-line errors naming the file and the key."""

    def __init__(self, path: Path):
        self.path = path
        self.base = path.resolve().parent

    def fail(self, key: str, problem: str) -> StudyError:
        return StudyError(f"{self.path}: {key}: {problem}")

    def strings(self, key: str, value, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "a non-empty list of strings")
        if len(set(value)) != len(value):
            raise self.fail(key, f"'{next(v for v in value if value.count(v) > 1)}' appears twice")
        if allowed is not None:
            bad = [v for v in value if v not in allowed]
            if bad:
                raise self.fail(key, f"'{bad[0]}' is not one of {', '.join(allowed)}")
        return tuple(value)

    def scales(self, key: str, value) -> tuple[float, ...]:
        if not isinstance(value, list) or not value or not all(_is_number(s) and s > 0 for s in value):
            raise self.fail(key, "a non-empty list of positive numbers")
        out = tuple(float(s) for s in value)
        if len({f"{s:g}" for s in out}) != len(out):
            raise self.fail(key, "repeated scale")
        return out

    def seeds(self, key: str, value) -> tuple[int, ...]:
        if not isinstance(value, list) or not value or not all(_is_int(s) and s >= 0 for s in value):
            raise self.fail(key, "a non-empty list of non-negative integers")
        if len(set(value)) != len(value):
            raise self.fail(key, "repeated seed")
        return tuple(value)

    def table(self, key: str, value, allowed: tuple[str, ...]) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        extra = sorted(set(value) - set(allowed))
        if extra:
            raise self.fail(f"{key}.{extra[0]}", f"unknown key (expected {', '.join(allowed)})")
        return value

    def positive_ints(self, key: str, table: dict, minimum: int = 1) -> dict[str, int]:
        for k, v in table.items():
            if not _is_int(v) or v < minimum:
                raise self.fail(f"{key}.{k}", f"an integer >= {minimum}")
        return dict(table)


def _variants(p: _Parser, value) -> dict[str, str]:
    # lazy: walt_bayes.spec imports PyMC (pymc_extras' Prior), seconds
    from walt_bayes.spec import load_spec

    names = p.strings("study.variants", value)
    variants: dict[str, str] = {}
    for v in names:
        ref = str(p.base / v) if (p.base / v).exists() else v
        try:
            spec = load_spec(ref)
        except SpecError as err:
            raise p.fail("study.variants", str(err)) from err
        label = spec.name if spec.name not in variants else Path(v).stem
        if label in variants:
            raise p.fail("study.variants", f"'{v}' is the variant '{label}' again")
        variants[label] = ref
    return variants


def _data(p: _Parser, value, outcomes_allowed: tuple[str, ...]) -> list[StudyData]:
    if value is None:
        raise p.fail("[[data]]", "at least one data set is needed")
    if not isinstance(value, list) or not value or not all(isinstance(d, dict) for d in value):
        raise p.fail("data", "use [[data]] tables, one per data set")
    out: list[StudyData] = []
    for i, d in enumerate(value):
        key = f"data[{i}]"
        p.table(key, d, ("name", "path", "label", "outcomes"))
        name = d.get("name")
        if name is not None and (not isinstance(name, str) or not _safe(name)):
            raise p.fail(f"{key}.name", f"'{name}': use letters, digits, '-', '_' and '.' only")
        if "path" in d:
            if not isinstance(d["path"], str) or not d["path"]:
                raise p.fail(f"{key}.path", "a panel file path")
            path = Path(d["path"])
            path = path if path.is_absolute() else p.base / path
            if not path.is_file():
                raise p.fail(f"{key}.path", f"{path}: no such panel file")
            name = name or path.stem
            if not _safe(name):
                raise p.fail(f"{key}.name", f"'{name}': use letters, digits, '-', '_' and '.' only")
            kind, ref = "file", str(path.resolve())
        elif name == "middle-east":
            kind, ref = "middle-east", name
        elif name is not None and named.is_named(name):
            kind, ref = "named", name
        elif name is None:
            raise p.fail(key, "give name = (middle-east or a named panel) or path = (a panel file)")
        else:
            raise p.fail(
                f"{key}.name", f"'{name}' is not middle-east nor a named panel ({named.known_names()})"
            )
        label = d.get("label", _default_label(kind, name))
        if not isinstance(label, str) or not label:
            raise p.fail(f"{key}.label", "a non-empty string")
        outcomes = None
        if "outcomes" in d:
            outcomes = p.strings(f"{key}.outcomes", d["outcomes"], outcomes_allowed)
        out.append(StudyData(name, ref, kind, label, outcomes))
    names = [d.name for d in out]
    dup = [n for n in names if names.count(n) > 1]
    if dup:
        raise p.fail("data", f"two data sets are named '{dup[0]}'")
    return out


def _default_label(kind: str, name: str) -> str:
    if kind == "middle-east":
        return "embedded Middle East coding 1955–1979"
    if kind == "named":
        return named.describe(name)
    return name


def _sensitivity(p: _Parser, value, variants: dict[str, str]) -> list[Sensitivity]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(s, dict) for s in value):
        raise p.fail("sensitivity", "use [[sensitivity]] tables")
    out = []
    for i, s in enumerate(value):
        key = f"sensitivity[{i}]"
        p.table(key, s, ("variants", "prior_scales"))
        if "variants" not in s or "prior_scales" not in s:
            raise p.fail(key, "needs variants and prior_scales")
        names = p.strings(f"{key}.variants", s["variants"])
        unknown = [v for v in names if v not in variants]
        if unknown:
            raise p.fail(
                f"{key}.variants", f"'{unknown[0]}' is not a variant of [study] ({', '.join(variants)})"
            )
        out.append(Sensitivity(names, p.scales(f"{key}.prior_scales", s["prior_scales"])))
    return out


def _folds(p: _Parser, value, comparison: str) -> dict | None:
    if value is None:
        return {"k": 5, "group": "dyad", "seed": 0} if comparison == "kfold" else None
    if comparison != "kfold":
        raise p.fail("folds", 'only with comparison = "kfold"')
    f = p.table("folds", value, ("k", "group", "seed", *SAMPLER_KEYS))
    k = f.get("k", 5)
    if not _is_int(k) or k < 2:
        raise p.fail("folds.k", "an integer >= 2")
    group = f.get("group", "dyad")
    if group not in FOLD_GROUPS:
        raise p.fail("folds.group", f"one of {', '.join(FOLD_GROUPS)}")
    seed = f.get("seed", 0)
    if not _is_int(seed) or seed < 0:
        raise p.fail("folds.seed", "a non-negative integer")
    sampler = p.positive_ints("folds", {k2: f[k2] for k2 in SAMPLER_KEYS if k2 in f})
    return {"k": k, "group": group, "seed": seed, **sampler}


def load_study(path: str | Path) -> Study:
    """Read and validate a study file.

    Parameters
    ----------
    path : path
        The study file (TOML; see the module docstring).

    Returns
    -------
    Study

    Raises
    ------
    StudyError
        One line naming the file and the key that is wrong.
    """
    # lazy: walt_bayes.grid.gridfile imports PyMC (through walt_bayes.model.simulate)
    from walt_bayes.grid.gridfile import read_toml

    # lazy: walt_bayes.hypotheses.registry imports xarray and PyMC (through walt_bayes.fit.loaded)
    from walt_bayes.hypotheses.registry import REGISTRY

    # lazy: walt_bayes.spec imports PyMC (pymc_extras' Prior), seconds
    from walt_bayes.spec import OUTCOMES

    path = Path(path)
    raw = read_toml(path, "study file", StudyError)
    p = _Parser(path)
    unknown = sorted(set(raw) - {"study", "data", "sensitivity", "sampler", "folds"})
    if unknown:
        raise p.fail(unknown[0], "unknown section (expected study, data, sensitivity, sampler, folds)")
    if "study" not in raw:
        raise p.fail("[study]", "missing table")
    s = p.table("study", raw["study"], _STUDY_KEYS)
    name = s.get("name", path.stem)
    if not isinstance(name, str) or not _safe(name):
        raise p.fail("study.name", f"'{name}': use letters, digits, '-', '_' and '.' only")
    description = s.get("description", "")
    if not isinstance(description, str):
        raise p.fail("study.description", "a string")
    if "variants" not in s:
        raise p.fail("study.variants", "missing (a list of variant names or spec paths)")
    variants = _variants(p, s["variants"])
    outcomes = p.strings("study.outcomes", s.get("outcomes", ["ally"]), OUTCOMES)
    seeds = p.seeds("study.seeds", s.get("seeds", [1]))
    scales = p.scales("study.prior_scales", s.get("prior_scales", [1.0]))
    hypotheses = p.strings(
        "study.hypotheses", s.get("hypotheses", list(DEFAULT_HYPOTHESES)), tuple(REGISTRY)
    )
    comparison = s.get("comparison", "loo")
    if comparison not in COMPARISONS:
        raise p.fail("study.comparison", f"'{comparison}' is not one of {', '.join(COMPARISONS)}")
    data = _data(p, raw.get("data"), OUTCOMES)
    sensitivity = _sensitivity(p, raw.get("sensitivity"), variants)
    sampler = p.positive_ints("sampler", p.table("sampler", raw.get("sampler", {}), SAMPLER_KEYS))
    folds = _folds(p, raw.get("folds"), comparison)
    return Study(
        path=path, name=name, description=description, variants=variants, data=data,
        outcomes=outcomes, seeds=seeds, prior_scales=scales, hypotheses=hypotheses,
        comparison=comparison, sensitivity=sensitivity, sampler=sampler, folds=folds,
    )


__all__ = [
    "COMPARISONS",
    "DEFAULT_HYPOTHESES",
    "Sensitivity",
    "Study",
    "StudyData",
    "StudyError",
    "load_study",
]
