"""Package-wide defaults, importable from any stage without importing anything heavy."""

#: The seed a fit uses when none is given (``wb.fit``, ``walt-bayes fit``, the benchmarks).
DEFAULT_SEED = 20260101
