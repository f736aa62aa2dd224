"""Compare theory variants by out-of-sample prediction (PSIS-LOO, grouped k-fold, leave-future-out).

Flow: open the fits lazily and check they share their data (:mod:`.runs`) →
pointwise elpd by chunked PSIS-LOO (:mod:`.loo`) or by refitting per fold
(:mod:`.kfold`) → ranked table with ``az.compare`` (:mod:`.table`) → plot
(:mod:`.plot`) → the ``walt-bayes compare`` command (:mod:`.cli`).
"""

from walt_bayes.compare.kfold import FoldSettings
from walt_bayes.compare.runs import CompareError
from walt_bayes.compare.table import COLUMNS, compare_runs, read_table

__all__ = ["COLUMNS", "CompareError", "FoldSettings", "compare_runs", "read_table"]
