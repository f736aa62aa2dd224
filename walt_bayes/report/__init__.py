"""Reports: Quarto documents (``reports/*.qmd``) rendered to self-contained HTML.

:func:`render_report` renders the fit report (one run directory) or the
comparison report (several) with ``quarto`` when it is on PATH, otherwise by
running the document's cells in a Jupyter kernel (:mod:`.render`, :mod:`.qmd`,
:mod:`.export`).  The cells use :mod:`.quantities` (posterior-derived numbers),
:mod:`.figures` and :mod:`.show` (escaped HTML output).
"""

from walt_bayes.report.render import ReportError, render_report

__all__ = ["ReportError", "render_report"]
