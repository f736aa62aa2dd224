"""Results for R: posterior draws in the layout of R's ``posterior`` package, and ``.rds`` files.

:func:`~walt_bayes.export.draws.draws_frame` lays a fit's draws out like
``posterior::draws_df``; :func:`~walt_bayes.export.write.export_run` writes them as CSV
(``draws-csv``) or, with the summary and evidence tables, as ``.rds`` files (``rds``).
"""

from walt_bayes.errors import WaltError


class ExportError(WaltError):
    """An export cannot be made (unknown format or variable)."""


__all__ = ["ExportError"]
