"""Bundled robustness studies: Walt's hypotheses across variants, data sets, measures and priors.

A study file (:mod:`.studyfile`) expands into grid cells (:mod:`.plan`) that run as Dask
tasks through :mod:`walt_bayes.grid` (:mod:`.run`); their evidence tables make the
hypothesis × setting matrix (:mod:`.matrix`), the variants are ranked per data set
(:mod:`.comparison`), the findings are put in words (:mod:`.summary`) and rendered as
``reports/findings.qmd`` (:mod:`.findings`, :mod:`.figures`).  Entry points::

    from walt_bayes.study import run_study, render_findings, load_results
    result = run_study("studies/walt.toml", out="runs/study-walt", scheduler="processes")
    print("\\n".join(result.summary))
"""

from __future__ import annotations

import importlib

# Imported on first use: running a study pulls in the fitting stack (PyMC, nutpie, Dask).
_EXPORTS = {
    "run_study": "run", "load_study": "studyfile", "StudyError": "studyfile",
    "render_findings": "findings", "load_results": "results", "StudyResult": "results",
    "expand": "plan",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"walt_bayes.study.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'walt_bayes.study' has no attribute '{name}'")
