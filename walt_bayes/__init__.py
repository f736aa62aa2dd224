"""walt-bayes: Bayesian tests of balance-of-threat theory.

The public API (:mod:`walt_bayes.api`)::

    import walt_bayes as wb

    data = wb.load_data("middle-east")
    bot = wb.fit("balance_of_threat", data, seed=1, draws=200, tune=200, chains=2)
    bot.hypotheses().table
    wb.compare([bot, wb.fit("null", data, seed=1, chains=2)]).table
    bot.save("runs")
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types

__version__ = "0.1.0"

#: Names :mod:`walt_bayes.api` defines, exported here.
_API = (
    "Comparison",
    "Dataset",
    "Evidence",
    "Fit",
    "load",
    "load_data",
    "load_spec",
    "predict",
    "simulate",
)
#: API functions that share their name with a subpackage (``walt_bayes.fit``, ``.compare``,
#: ``.report``): ``wb.fit`` is that subpackage, made callable (see :class:`_Verb`).
_VERBS = ("compare", "fit", "report")

__all__ = sorted(["__version__", *_API, *_VERBS])


def __getattr__(name: str):
    # Lazy: the API imports pandas and the panel modules (a second or more), and every module of the
    # package (a Dask worker's task too) imports this package first, so `import walt_bayes`
    # must not import the API.
    if name in _API:
        return getattr(importlib.import_module("walt_bayes.api"), name)
    if name in ("api", "plotting"):
        return importlib.import_module(f"walt_bayes.{name}")
    raise AttributeError(f"module 'walt_bayes' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "api", "plotting"})


class _CallableSubpackage(types.ModuleType):
    """A subpackage that, called, runs the API function of the same name (``wb.fit(...)``)."""

    def _function(self):
        return getattr(importlib.import_module("walt_bayes.api"), self.__name__.rpartition(".")[2])

    def __call__(self, *args, **kwargs):
        return self._function()(*args, **kwargs)

    @property
    def __signature__(self):
        return inspect.signature(self._function())


class _Verb:
    """``walt_bayes.fit`` (``compare``, ``report``): the subpackage, callable as the API function.

    Importing a subpackage sets it as an attribute of its parent, so a plain function
    ``walt_bayes.fit`` would be replaced by the subpackage ``walt_bayes/fit/`` as soon as anything
    imported it.  This descriptor takes that assignment and makes the subpackage callable instead:
    ``wb.fit(...)`` calls :func:`walt_bayes.api.fit`, and ``walt_bayes.fit.run`` still is the
    module, whatever was imported first.  (The later refactor that moves the subpackages can drop
    this.)
    """

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, package, owner=None):
        if package is None:
            return self
        if self.name not in package.__dict__:
            module = importlib.import_module(f"{package.__name__}.{self.name}")  # sets it (__set__)
            if self.name not in package.__dict__:
                self.__set__(package, module)
        return package.__dict__[self.name]

    def __set__(self, package, value) -> None:
        if type(value) is types.ModuleType and value.__name__ == f"{package.__name__}.{self.name}":
            value.__class__ = _CallableSubpackage
        package.__dict__[self.name] = value

    def __delete__(self, package) -> None:
        package.__dict__.pop(self.name, None)


class _Package(types.ModuleType):
    """The ``walt_bayes`` package, with its callable subpackages."""

    compare = _Verb()
    fit = _Verb()
    report = _Verb()


sys.modules[__name__].__class__ = _Package
