"""Where walt-bayes's files live: those shipped with the package, and its cache.

A wheel install carries the shipped files (data, model specs, reports) inside the
package as ``walt_bayes/_bundled/...`` (see ``[tool.hatch.build.targets.wheel.force-include]``
in ``pyproject.toml``); a repository checkout or an editable install has them at the
repository root.  Everything walt-bayes caches lives under :func:`cache_root`.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from platformdirs import user_cache_dir

#: Repository root of a checkout (``walt_bayes/`` sits directly under it).
_REPO_ROOT = Path(__file__).resolve().parents[1]


def bundled_path(*parts: str) -> Path:
    """Path of a file or folder shipped with the package.

    Parameters
    ----------
    *parts : str
        Path components below the bundle root, e.g. ``("data", "middle_east")``,
        ``("models",)`` or ``("reports", "fit_report.qmd")``.

    Returns
    -------
    pathlib.Path
        ``walt_bayes/_bundled/<parts>`` when it exists (wheel installs), else
        ``<repository root>/<parts>`` (checkouts and editable installs).  The
        returned path is not guaranteed to exist; callers report a missing file
        in their own terms.
    """
    try:
        inside = importlib.resources.files("walt_bayes").joinpath("_bundled", *parts)
    except (ModuleNotFoundError, TypeError, ValueError):  # pragma: no cover - defensive
        inside = None
    # Only a real file-system location is usable as a Path (not a zip member).
    if isinstance(inside, Path) and inside.exists():
        return inside
    return _REPO_ROOT.joinpath(*parts)


#: Environment variable that moves every walt-bayes cache (sources, compile caches).
CACHE_ENV = "WALT_BAYES_CACHE"


def cache_root() -> Path:
    """The walt-bayes cache directory: ``$WALT_BAYES_CACHE``, else the user cache directory.

    The one place the cache root is decided: the source files (``<root>/peacesciencer``),
    PyTensor's compile cache (``<root>/pytensor``) and the report kernel's matplotlib
    cache (``<root>/matplotlib``) all live under it.

    Returns
    -------
    pathlib.Path
        ``$WALT_BAYES_CACHE`` with ``~`` expanded when the variable is set and not empty,
        else platformdirs' ``user_cache_dir("walt-bayes")``.  The directory may not exist
        yet.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(user_cache_dir("walt-bayes"))


def pytensor_cache_flags(flags: str) -> str:
    """``PYTENSOR_FLAGS`` with PyTensor's compile cache put under :func:`cache_root`.

    Parameters
    ----------
    flags : str
        The current value of ``PYTENSOR_FLAGS`` (``""`` when unset).

    Returns
    -------
    str
        ``flags`` unchanged when they already name a ``base_compiledir`` (the user's choice
        wins), else ``flags`` with ``base_compiledir=<cache root>/pytensor`` appended, so
        compiled modules stay out of the working tree.
    """
    if "base_compiledir" in flags:
        return flags
    return ",".join(filter(None, [flags, f"base_compiledir={cache_root() / 'pytensor'}"]))


def setup_pytensor_cache() -> None:
    """Keep PyTensor's compile cache out of the working tree: under :func:`cache_root`.

    Sets ``PYTENSOR_FLAGS`` to :func:`pytensor_cache_flags` of its current value, so a
    ``base_compiledir`` the user chose is kept.  PyTensor reads the variable once, when it
    is first imported: the API calls this when it is imported, and the commands that compile
    a model before their work begins.
    """
    os.environ["PYTENSOR_FLAGS"] = pytensor_cache_flags(os.environ.get("PYTENSOR_FLAGS", ""))
