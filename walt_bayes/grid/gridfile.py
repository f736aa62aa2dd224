"""Grid files: which fits to run (variants × data sets × seeds × prior scales, and k-fold refits).

A grid file is TOML::

    [grid]
    variants = ["null", "balance_of_threat"]   # bundled names or spec TOML paths
    seeds = [1, 2]                             # one fit per seed (integers >= 0)
    prior_scales = [1.0, 2.0]                  # every prior scale multiplied (1.0: the spec's priors)

    [[data]]                                   # one table per data set
    name = "sim-balancing"
    world = "balancing"                        # simulated: balancing | bandwagoning | null | a spec
    states = 8
    years = 6
    seed = 11

    [[data]]
    name = "middle-east"                       # the embedded panel (no other key needed)

    [[data]]
    name = "middle-east-atop"                  # a named real-data panel (walt_bayes.panel.named)

    [[data]]
    path = "panels/global.parquet"             # a panel file (.parquet or .csv)

    [sampler]                                  # optional; default: each spec's own settings
    chains = 2
    draws = 300
    tune = 300

    [folds]                                    # optional: also refit every cell once per fold
    k = 5
    group = "dyad"                             # dyad | year-block | none
    seed = 0

Relative paths are taken from the grid file's folder.  Every combination of
variant, data set, seed and prior scale is one *cell*, fitted once; with
``[folds]`` each cell also has ``k`` fold cells (grouped k-fold refits, as
``walt-bayes compare --method kfold`` does), scored on the held-out rows.

Prior scales multiply the scale parameter of every prior of the spec (``sigma``,
Laplace ``b``; an Exponential's ``lam`` is divided): 2.0 doubles every prior
SD.  Intercept centres stay data-driven.  The scaled spec is written into the
cell's fit like any other spec.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from walt_bayes.errors import SpecError, WaltError
from walt_bayes.model.simulate import WORLDS
from walt_bayes.panel.named import describe as describe_named
from walt_bayes.panel.named import is_named, known_names
from walt_bayes.spec import DEFAULT_PRIORS, ModelSpec, load_spec, parse_spec

FOLD_GROUPS = ("dyad", "year-block", "none")
SAMPLER_KEYS = ("chains", "draws", "tune")


class GridError(WaltError):
    """A grid file is malformed or names something unknown."""


@dataclass(frozen=True)
class DataSet:
    """One data set of a grid: the embedded panel, a panel file, or a simulated world."""

    name: str
    kind: str  # "middle-east" | "named" | "file" | "simulated"
    path: str = ""
    world: str = ""
    states: int = 0
    years: int = 0
    seed: int = 0

    def describe(self) -> str:
        if self.kind == "simulated":
            return f"simulated {self.world} world, {self.states} states × {self.years} years, seed {self.seed}"
        if self.kind == "named":
            return describe_named(self.name)
        return "embedded Middle East panel" if self.kind == "middle-east" else self.path


@dataclass(frozen=True)
class Cell:
    """One fit of the grid (``fold`` 0: the whole data set; 1..K: a k-fold refit)."""

    variant: str
    spec_ref: str
    data: str
    seed: int
    prior_scale: float
    fold: int = 0

    @property
    def base_id(self) -> str:
        return _safe(f"{self.variant}.{self.data}.s{self.seed}.p{_num(self.prior_scale)}")

    @property
    def cell_id(self) -> str:
        return self.base_id if self.fold == 0 else f"{self.base_id}.fold{self.fold}"


@dataclass
class Grid:
    """A parsed grid file."""

    path: Path
    variants: dict[str, str]  # label -> spec reference (name or absolute path)
    data: list[DataSet]
    seeds: list[int]
    prior_scales: list[float]
    sampler: dict[str, int] = field(default_factory=dict)
    folds: dict | None = None

    def cells(self) -> list[Cell]:
        """Every base cell, in grid order (variant, data, seed, prior scale)."""
        return [
            Cell(label, ref, d.name, seed, scale)
            for label, ref in self.variants.items()
            for d in self.data
            for seed in self.seeds
            for scale in self.prior_scales
        ]

    def fold_cells(self, cell: Cell) -> list[Cell]:
        """The k-fold refits of ``cell`` (none without ``[folds]``)."""
        if not self.folds:
            return []
        first = 2 if self.folds["group"] == "year-block" else 1  # year block 1 is never scored
        return [
            Cell(cell.variant, cell.spec_ref, cell.data, cell.seed, cell.prior_scale, f)
            for f in range(first, self.folds["k"] + 1)
        ]

    def spec(self, cell: Cell) -> ModelSpec:
        """The spec of ``cell``, its priors scaled by the cell's prior scale."""
        return scaled_spec(load_spec(cell.spec_ref), cell.prior_scale)


def _num(x: float) -> str:
    return f"{x:g}"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def load_grid(path: str | Path) -> Grid:
    """Read and validate a grid file.

    Parameters
    ----------
    path : path
        The grid file (TOML; see the module docstring).

    Returns
    -------
    Grid
        Relative paths resolved against the file's folder.

    Raises
    ------
    GridError
        One line naming the file and the key that is wrong.
    """
    path = Path(path)
    raw = read_toml(path, "grid file", GridError)
    base = path.resolve().parent

    def fail(key: str, problem: str) -> GridError:
        return GridError(f"{path}: {key}: {problem}")

    unknown = set(raw) - {"grid", "data", "sampler", "folds"}
    if unknown:
        raise fail(sorted(unknown)[0], "unknown section (expected grid, data, sampler, folds)")
    g = raw.get("grid")
    if not isinstance(g, dict):
        raise fail("[grid]", "missing table")
    extra = set(g) - {"variants", "seeds", "prior_scales"}
    if extra:
        raise fail(
            f"grid.{sorted(extra)[0]}", "unknown key (expected variants, seeds, prior_scales)"
        )
    variants = _variants(g.get("variants"), base, fail)
    seeds = _seeds(g.get("seeds", [0]), fail)
    scales = _prior_scales(g.get("prior_scales", [1.0]), fail)
    data = [
        _data_set(d, i, base, fail) for i, d in enumerate(_list_of_tables(raw.get("data"), fail))
    ]
    names = [d.name for d in data]
    if len(set(names)) != len(names):
        raise fail(
            "data", f"two data sets are named '{next(n for n in names if names.count(n) > 1)}'"
        )
    sampler = _sampler(raw.get("sampler", {}), fail)
    folds = _folds(raw.get("folds"), fail)
    return Grid(path, variants, data, list(seeds), scales, dict(sampler), folds)


def _variants(variants_raw, base: Path, fail) -> dict[str, str]:
    """``grid.variants``: label -> spec reference (a bundled name, or a spec file's absolute path)."""
    if (
        not isinstance(variants_raw, list)
        or not variants_raw
        or not all(isinstance(v, str) for v in variants_raw)
    ):
        raise fail("grid.variants", "a non-empty list of variant names or spec paths")
    variants: dict[str, str] = {}
    for v in variants_raw:
        ref = str(base / v) if (base / v).exists() else v
        try:
            spec = load_spec(ref)
        except SpecError as err:
            raise fail("grid.variants", str(err)) from err
        label = spec.name if spec.name not in variants else Path(v).stem
        if label in variants:
            raise fail("grid.variants", f"'{v}' appears twice")
        variants[label] = ref
    return variants


def _seeds(seeds, fail) -> list[int]:
    """``grid.seeds``: distinct non-negative integers."""
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        raise fail("grid.seeds", "a non-empty list of non-negative integers")
    if len(set(seeds)) != len(seeds):
        raise fail("grid.seeds", "repeated seed")
    return seeds


def _prior_scales(scales, fail) -> list[float]:
    """``grid.prior_scales``: distinct positive numbers (distinct as the cell ids write them)."""
    if (
        not isinstance(scales, list)
        or not scales
        or not all(
            isinstance(s, int | float) and not isinstance(s, bool) and math.isfinite(s) and s > 0
            for s in scales
        )
    ):
        raise fail("grid.prior_scales", "a non-empty list of positive numbers")
    scales = [float(s) for s in scales]
    if len({_num(s) for s in scales}) != len(scales):
        raise fail("grid.prior_scales", "repeated scale")
    return scales


def _sampler(sampler, fail) -> dict[str, int]:
    """``[sampler]``: positive integer overrides of chains, draws, tune."""
    if not isinstance(sampler, dict) or set(sampler) - set(SAMPLER_KEYS):
        raise fail("sampler", f"a table with keys among {', '.join(SAMPLER_KEYS)}")
    for k, v in sampler.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise fail(f"sampler.{k}", "a positive integer")
    return sampler


def _folds(folds, fail) -> dict | None:
    """``[folds]``: ``{"k", "group", "seed"}`` with the defaults filled in (None without the table)."""
    if folds is None:
        return None
    if not isinstance(folds, dict) or set(folds) - {"k", "group", "seed"}:
        raise fail("folds", "a table with keys k, group, seed")
    k = folds.get("k")
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise fail("folds.k", "an integer >= 2")
    group = folds.get("group", "dyad")
    if group not in FOLD_GROUPS:
        raise fail("folds.group", f"one of {', '.join(FOLD_GROUPS)}")
    fseed = folds.get("seed", 0)
    if not isinstance(fseed, int) or isinstance(fseed, bool) or fseed < 0:
        raise fail("folds.seed", "a non-negative integer")
    return {"k": k, "group": group, "seed": fseed}


def _list_of_tables(value, fail) -> list[dict]:
    if value is None:
        raise fail("[[data]]", "at least one data set is needed")
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value) or not value:
        raise fail("data", "use [[data]] tables, one per data set")
    return value


def _data_set(d: dict, i: int, base: Path, fail) -> DataSet:
    key = f"data[{i}]"
    allowed = {"name", "path", "world", "states", "years", "seed"}
    if set(d) - allowed:
        raise fail(f"{key}.{sorted(set(d) - allowed)[0]}", "unknown key")
    if "world" in d:
        world = d["world"]
        if not isinstance(world, str):
            raise fail(f"{key}.world", "a world name or spec")
        if world not in WORLDS:
            ref = str(base / world) if (base / world).exists() else world
            try:
                load_spec(ref)
            except SpecError as err:
                raise fail(
                    f"{key}.world", f"not one of {', '.join(WORLDS)} nor a spec ({err})"
                ) from err
            world = ref
        vals = {}
        for k, low, default in (("states", 4, 12), ("years", 1, 10), ("seed", 0, 0)):
            v = d.get(k, default)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise fail(f"{key}.{k}", f"an integer >= {low}")
            vals[k] = v
        name = (
            d.get("name")
            or f"sim-{Path(world).stem}-{vals['states']}x{vals['years']}-s{vals['seed']}"
        )
        return DataSet(_checked_name(name, key, fail), "simulated", world=world, **vals)
    if "path" in d:
        p = Path(d["path"])
        p = p if p.is_absolute() else base / p
        if not p.exists():
            raise fail(f"{key}.path", f"{p}: no such panel file")
        name = d.get("name") or p.stem
        return DataSet(_checked_name(name, key, fail), "file", path=str(p))
    if d.get("name") == "middle-east":
        return DataSet("middle-east", "middle-east")
    if isinstance(d.get("name"), str) and is_named(d["name"]):
        return DataSet(d["name"], "named")  # a cached real-data panel (walt_bayes.panel.named)
    raise fail(
        key, f'give path = ..., world = ..., or name = "middle-east" or one of {known_names()}'
    )


def _checked_name(name, key: str, fail) -> str:
    if not isinstance(name, str) or not name or _safe(name) != name:
        raise fail(f"{key}.name", f"'{name}': use letters, digits, '-', '_' and '.' only")
    return name


# ------------------------------------------------------------------ prior scaling
def _scaled(entry: dict, scale: float) -> dict:
    out = dict(entry)
    for k in ("sigma", "b"):
        if k in out:
            out[k] = float(out[k]) * scale
    if "lam" in out:
        out["lam"] = float(out["lam"]) / scale
    return out


def scaled_spec(spec: ModelSpec, scale: float) -> ModelSpec:
    """``spec`` with the scale of every prior multiplied by ``scale`` (1.0: ``spec`` itself)."""
    if scale == 1.0:
        return spec
    raw = tomllib.loads(spec.source_text)
    user = raw.get("priors", {})
    priors = {}
    for family in DEFAULT_PRIORS:
        resolved = spec.resolved_prior(family)
        priors[family] = _scaled(resolved, scale)
    for name, entry in user.items():
        if name not in DEFAULT_PRIORS:
            priors[name] = _scaled(entry, scale)
    raw["priors"] = priors
    text = (
        f"# {spec.name} with every prior scale multiplied by {_num(scale)} (walt-bayes grid)\n"
        + dumps_toml(raw)
    )
    return parse_spec(text, source=f"{spec.source_path or spec.name} (prior scale ×{_num(scale)})")


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        if isinstance(v, float) and not math.isfinite(v):
            raise GridError(f"cannot write the non-finite number {v} to a spec")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise GridError(f"cannot write {type(v).__name__} to a spec")


def dumps_toml(raw: dict) -> str:
    """TOML text of a spec dict (tables of scalars, lists and inline tables)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in raw.items() if not isinstance(v, dict)]
    for section, table in raw.items():
        if isinstance(table, dict):
            lines.append(f"\n[{section}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def content_hash(payload: dict) -> str:
    """A short, stable hash of what determines a cell's result."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def read_toml(path: Path, what: str, error: type[Exception]) -> dict:
    """The TOML table of the file ``path`` (a ``what``, e.g. "grid file"); a one-line ``error`` when it
    is missing, unreadable or not TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise error(f"{path}: no such {what}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{path}: cannot read ({err})") from err
    except tomllib.TOMLDecodeError as err:
        raise error(f"{path}: not valid TOML ({err})") from err
