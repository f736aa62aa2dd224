"""Spec files: the bundled variants in ``models/``, a name or path to a file, and loading one."""

from __future__ import annotations

from pathlib import Path

from walt_bayes.errors import SpecError
from walt_bayes.paths import bundled_path
from walt_bayes.spec.model import ModelSpec
from walt_bayes.spec.parser import parse_spec


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
