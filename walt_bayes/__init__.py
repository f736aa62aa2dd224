"""walt-bayes: Bayesian tests of balance-of-threat theory."""
__version__ = "0.1.0"
