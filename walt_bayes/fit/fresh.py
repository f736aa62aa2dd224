"""Compile a sampling model's numba code afresh, never from PyTensor's compile cache.

Measured (embedded balance_of_threat, 4 × 100 + 100 draws, same seed): a run whose
PyTensor compile directory was cold and a run on the same directory once warm gave
different draws (``gamma_shared`` up to 0.46 apart), though each state on its own
repeats exactly.  A function loaded from PyTensor's numba cache can differ from a
fresh compile in the last bit of a gradient, and NUTS trajectories amplify that.
Compiling the sampler's functions without the cache made a run on a warm directory
give the cold run's draws bit for bit, at a cost of ~20 s of compile per fit on the
embedded panel.

The cause is fast-math reassociation, which lets LLVM choose the order of each sum
according to the context a function is optimised in.  Measured on logp and gradient
at 20 points (embedded balance_of_threat): a cached load differed from the fresh
compile in 85 of 364 gradient entries (relative 5e-14); with PyTensor's
``numba__fastmath`` off, in one; with the fused kernel's "reassoc" off as well, in
none.  The kernel needs reassociation to vectorise its sums (0.25 ms per gradient,
0.49 ms without), and sums written out in fixed SIMD lanes cost ~10% (0.27 ms), so
compiling afresh stays the cheaper way to reproducible draws.

``WALT_BAYES_COMPILE_CACHE=1`` lets sampling reuse the cache (faster repeated fits, the
draws then depend on the cache's state); the fast test suite sets it except where it
tests reproducibility (tests/test_repro.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def fresh_numba_compile() -> Iterator[None]:
    """Within the block, PyTensor's numba backend compiles without reading or writing its cache.

    Same spec, data and seed then give the same draws whatever state the cache is in.
    """
    # lazy: PyTensor (~2 s) stays off this stdlib-only module (tests/test_api.py imports it bare)
    import pytensor

    if os.environ.get("WALT_BAYES_COMPILE_CACHE") == "1":
        yield
        return
    with pytensor.config.change_flags(numba__cache=False):
        yield
