"""The analyst's Python API: ``import walt_bayes as wb``.

Load data and specs, fit a theory variant in memory, save and load fits, read the verdicts on
Walt's hypotheses, compare variants, render reports, ask what-if scenarios and simulate worlds
with known truth — the same steps as the ``walt-bayes`` commands, on the same code::

    import walt_bayes as wb

    bot = wb.fit("balance_of_threat", data="middle-east", seed=1, draws=200, tune=200, chains=2)
    bot.convergence.ok, bot.summary().loc["gamma_shared", "mean"]
    bot.hypotheses().table        # verdicts; `unreliable` when the fit failed its checks
    wb.compare([bot, wb.fit("null", seed=1, draws=200, tune=200, chains=2)]).table
    run_dir = bot.save("runs")    # a run folder `walt-bayes hypotheses|compare|report` accept

Nothing is written unless asked (:meth:`Fit.save`, ``out=`` of :func:`compare` and
:func:`report`), and every write is atomic.  Bad input raises the package's own exceptions
(:mod:`walt_bayes.errors`) with one-line messages.  PyMC, ArviZ and the rest are imported when a
function needs them, not when this package is.

Modules: :mod:`.inputs` (data, specs, simulated worlds), :mod:`.fits` (fit, load, predict),
:mod:`.fitted` (the :class:`Fit`), :mod:`.results` (:class:`Evidence`, :class:`Comparison`),
:mod:`.comparing` (compare), :mod:`.reporting` (report), :mod:`.arguments` (argument checks).
"""

from __future__ import annotations

from walt_bayes.api.comparing import compare
from walt_bayes.api.fits import DEFAULT_SEED, fit, load, predict
from walt_bayes.api.fitted import Fit
from walt_bayes.api.inputs import load_data, load_spec, simulate
from walt_bayes.api.reporting import report
from walt_bayes.api.results import Comparison, Evidence
from walt_bayes.panel.datasets import Dataset
from walt_bayes.paths import setup_pytensor_cache

__all__ = [
    "DEFAULT_SEED",
    "Comparison",
    "Dataset",
    "Evidence",
    "Fit",
    "compare",
    "fit",
    "load",
    "load_data",
    "load_spec",
    "predict",
    "report",
    "simulate",
]

# Before anything imports PyTensor (nothing above does: each module imports its heavy
# dependencies inside the functions that need them).
setup_pytensor_cache()
