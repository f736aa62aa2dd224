"""Transcendental functions whose float64 results do not depend on the CPU.

NumPy picks a ufunc's inner loop by the CPU's instruction sets at run time.  For
float64 ``log``, ``log1p``, ``exp``, ``sin``, ``cos``, ``arcsin``, ``arctan2``, …
the AVX-512 (``X86_V4``) loops of the x86-64 wheels are vectorised approximations
(mostly Intel's SVML) that differ from the C library's scalar results in the last bit
for some inputs; on CPUs without AVX-512 (AVX2 or older) NumPy calls the C library for
these, as Python's :mod:`math` does (checked bit for bit with NumPy 2.5 under its AVX2
and its baseline dispatch).  A derived panel column computed with them therefore
hashed differently on an AVX-512 machine than on an AVX2 one
(:func:`walt_bayes.panel.hashing.panel_sha256`), and a fit's provenance check
failed across machines.

:func:`apply` evaluates a :mod:`math` function element by element instead: the
values equal NumPy's on CPUs without AVX-512 bit for bit (so panels built there
before keep their hashes) and are the same on every CPU.  Each distinct input is
evaluated once, so a column with many repeated values (a capital's latitude, a
state-year's capability share) costs little more than the vectorised call.
Arithmetic (``+ - * /``, ``sqrt``, ``hypot``, ``radians``) is exact-rounded IEEE
and needs none of this.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

#: The :mod:`math` function and its NumPy ufunc (for domain edges) of each name.
_FUNCTIONS: dict[str, tuple[Callable[..., float], np.ufunc]] = {
    "log": (math.log, np.log),
    "log1p": (math.log1p, np.log1p),
    "exp": (math.exp, np.exp),
    "sin": (math.sin, np.sin),
    "cos": (math.cos, np.cos),
    "arcsin": (math.asin, np.arcsin),
    "arctan2": (math.atan2, np.arctan2),
}


def _scalar(name: str) -> Callable[..., float]:
    """The :mod:`math` function of ``name``; where it raises (log(0), asin(2), exp(1000)),
    NumPy's answer for that one value (-inf, nan, inf: exact, so CPU-independent)."""
    fn, ufunc = _FUNCTIONS[name]

    def call(*args: float) -> float:
        try:
            return fn(*args)
        except (ValueError, OverflowError):
            with np.errstate(all="ignore"):
                return float(ufunc(*(np.float64(a) for a in args)))

    return call


def apply(name: str, *args) -> np.ndarray:
    """A transcendental function of float64 arrays, the same bits on every CPU.

    Parameters
    ----------
    name : {"log", "log1p", "exp", "sin", "cos", "arcsin", "arctan2"}
        The NumPy name of the function (``arctan2`` takes two arguments).
    *args : array_like
        The arguments, broadcast against each other; converted to float64.

    Returns
    -------
    numpy.ndarray
        float64 values of the broadcast shape: C library results, as :mod:`math`
        gives them (NumPy's values on a CPU without AVX-512); NaN in, NaN out.
        Floating-point warnings are not raised (the callers mask domain edges).
    """
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in args))
    shape = arrays[0].shape
    # Distinct argument tuples only (panels repeat each state-year's values many times),
    # told apart by their bits so that -0.0 and 0.0 stay apart (sin(-0.0) is -0.0).
    codes = np.zeros(arrays[0].size, dtype=np.int64)
    for a in arrays:
        part, seen = pd.factorize(np.ascontiguousarray(a).reshape(-1).view(np.int64))
        codes = codes * max(len(seen), 1) + part
    codes, _ = pd.factorize(codes)
    first = np.zeros(codes.max() + 1 if codes.size else 0, dtype=np.int64)
    first[codes] = np.arange(codes.size)  # a row holding each distinct tuple (any one will do)
    rows = np.stack([a.reshape(-1)[first] for a in arrays], axis=1).tolist()
    call = _scalar(name)
    values = np.fromiter((call(*row) for row in rows), dtype=np.float64, count=len(rows))
    return values[codes].reshape(shape)
