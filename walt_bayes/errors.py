"""The package's own error types.

Every error a user can cause (bad data, bad spec, bad arguments, corrupted
downloads, unreadable fit files) is raised as a :class:`WaltError` subclass
with a one-line message naming what is wrong and where.  The CLI turns these
into a single red line and a non-zero exit; anything else is a bug.
"""

from __future__ import annotations


class WaltError(Exception):
    """Base class for errors caused by user input or the environment."""

    exit_code = 2

    def __init__(self, message: str):
        # Collapse to one line: the CLI promises one-line errors.
        super().__init__(" ".join(str(message).split()))


class DataError(WaltError):
    """A data file or panel is malformed (missing column, bad code, NaN, duplicate)."""


class SpecError(WaltError):
    """A model spec (TOML) is malformed or names something unknown."""


class SourceError(WaltError):
    """A real-data source cannot be fetched, verified or read."""


class FitFileError(WaltError):
    """A fit file is missing, truncated, not a walt-bayes fit, or does not match its data."""


class ModelError(WaltError):
    """A model cannot be built from this spec and panel (e.g. missing data for a term)."""


def describe_rows(rows, limit: int = 5) -> str:
    """Format row labels for an error message: ``rows 3, 7, 9 (+12 more)``."""
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" (+{len(rows) - limit} more)" if len(rows) > limit else ""
    return f"row{'s' if len(rows) != 1 else ''} {shown}{more}"
