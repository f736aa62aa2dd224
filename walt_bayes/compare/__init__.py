"""Compare theory variants by out-of-sample prediction (PSIS-LOO, grouped k-fold, leave-future-out).

Flow: open the fits lazily and check they share their data (:mod:`.runs`) →
pointwise elpd by chunked PSIS-LOO (:mod:`.loo`) or by refitting per fold
(:mod:`.folds`, :mod:`.kfold`) → ranked table with ``az.compare`` (:mod:`.table`) → plot
(:mod:`.plot`); the ``walt-bayes compare`` command is :mod:`walt_bayes.cli.compare`.
"""

from __future__ import annotations

import importlib

# Imported on first use: the k-fold and table modules pull in PyMC and ArviZ (~8 s), and the
# CLI imports this package to register ``walt-bayes compare`` for every command.
_EXPORTS = {
    "COLUMNS": "table", "compare_runs": "table", "read_table": "table",
    "CompareError": "runs", "FoldSettings": "kfold",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"walt_bayes.compare.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'walt_bayes.compare' has no attribute '{name}'")
