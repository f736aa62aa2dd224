"""Where the files shipped with the package live (data, model specs, reports).

A wheel install carries them inside the package as ``walt_bayes/_bundled/...``
(see ``[tool.hatch.build.targets.wheel.force-include]`` in ``pyproject.toml``);
a repository checkout or an editable install has them at the repository root.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

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
