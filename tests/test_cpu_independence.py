"""Panels are the same bits on every CPU, so a fit's data hash checks on any machine.

NumPy's float64 ``log``, ``sin``, ``cos``, ``arcsin``, … run vectorised approximations on
AVX-512 CPUs (its ``X86_V4`` loops) and the C library elsewhere; the two differ in the
last bit for some inputs, and the embedded panel once hashed differently on an AVX-512
machine than on an AVX2 one.  The panels now compute those values through
:mod:`walt_bayes.panel.portable_math`.  The tests here check that three ways:

- ``portable_math`` gives the C library's (:mod:`math`'s) bits, edge cases included;
- with NumPy's transcendental functions shifted by one ulp (a stand-in for a CPU whose
  vector loops round differently, which works on any machine) the panels do not change;
- the panels built under NumPy's full CPU dispatch and under its baseline only
  (``NPY_DISABLE_CPU_FEATURES``, in subprocesses) hash the same.  On an AVX-512 machine
  this compares the AVX-512 loops with the C library; on an AVX2 one, AVX2 with SSE4.2.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from walt_bayes.panel import build
from walt_bayes.panel.embedded import load_middle_east
from walt_bayes.panel.hashing import panel_sha256
from walt_bayes.panel.portable_math import apply
from walt_bayes.sources import fetch as fetch_mod
from walt_bayes.sources import read as read_mod

MIRROR = Path(__file__).resolve().parents[2] / "shared/data/peacesciencer"
#: One year of the global panel: its derived columns use every portable function.
GLOBAL_YEARS = (1990, 1990)

#: NumPy's float64 functions whose dispatched loops (X86_V4 and others) are approximations.
TRANSCENDENTAL = (
    "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "cbrt", "cos",
    "cosh", "exp", "exp2", "expm1", "log", "log10", "log1p", "log2", "power", "sin", "sinh",
    "tan", "tanh",
)


def _bits(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).view(np.int64)


# --------------------------------------------------------------------------- portable_math


EDGES = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-310, 1e300, -1e300, np.inf, -np.inf, np.nan])


@pytest.mark.parametrize(
    ("name", "fn"),
    [("log", math.log), ("log1p", math.log1p), ("exp", math.exp), ("sin", math.sin),
     ("cos", math.cos), ("arcsin", math.asin)],
)
def test_portable_functions_are_the_c_librarys(name, fn):
    rng = np.random.default_rng(7)
    x = np.concatenate([EDGES, rng.uniform(-10, 10, 500), rng.uniform(0, 1e4, 500)])
    with np.errstate(all="ignore"):
        want = np.array([_edge_safe(fn, getattr(np, name), v) for v in x])
    got = apply(name, x.reshape(2, -1))
    assert got.shape == (2, x.size // 2)
    np.testing.assert_array_equal(_bits(got).ravel(), _bits(want))


def _edge_safe(fn, ufunc, *v):
    try:
        return fn(*v)
    except (ValueError, OverflowError):  # math raises where NumPy returns -inf, nan or inf
        return float(ufunc(*v))


def test_portable_arctan2_broadcasts_and_keeps_signed_zeros():
    y = np.array([[0.0], [-0.0], [1.0], [np.nan]])
    x = np.array([-1.0, 0.0, -0.0, 2.0, np.inf])
    got = apply("arctan2", y, x)
    want = np.array([[math.atan2(a, b) for b in x] for a in y[:, 0]])
    np.testing.assert_array_equal(_bits(got), _bits(want))
    assert apply("log", []).shape == (0,)


# --------------------------------------------------------------------------- a CPU that rounds differently


def _one_ulp_up(ufunc):
    def shifted(*args, **kwargs):
        out = ufunc(*args, **kwargs)
        return np.nextafter(out, np.inf) if np.asarray(out).dtype == np.float64 else out

    return shifted


@pytest.fixture
def shifted_numpy(monkeypatch):
    """NumPy's transcendental functions, each result one ulp up: what a panel computed
    with them would see on a CPU whose vector loops round the other way."""

    def shift():
        for name in TRANSCENDENTAL:
            monkeypatch.setattr(np, name, _one_ulp_up(getattr(np, name)))
        assert np.log(np.float64(2.0)) != math.log(2.0)

    return shift


def test_embedded_panel_does_not_use_numpy_transcendentals(shifted_numpy):
    expected = panel_sha256(load_middle_east())
    shifted_numpy()
    assert panel_sha256(load_middle_east()) == expected


@pytest.fixture
def global_sources(tmp_path, monkeypatch):
    """A temporary cache filled from the mirror, no network; skip without the mirror."""
    if not MIRROR.is_dir():
        pytest.skip(f"peacesciencer mirror not found at {MIRROR} (../shared beside the repo)")
    monkeypatch.setenv(fetch_mod.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(fetch_mod.MIRROR_ENV, str(MIRROR))

    def no_network(*a, **k):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    read_mod.clear_memo()
    yield
    read_mod.clear_memo()


def test_global_panel_does_not_use_numpy_transcendentals(global_sources, shifted_numpy):
    plain = build.build_global_panel(GLOBAL_YEARS)
    shifted_numpy()
    shifted = build.build_global_panel(GLOBAL_YEARS)
    floats = [c for c in plain.columns if plain[c].dtype.kind == "f"]
    for col in ("power1", "offense1", "log_capdist", "capdist", "trade_dep"):
        assert col in floats and plain[col].notna().any(), col
    changed = [c for c in floats if not np.array_equal(_bits(plain[c]), _bits(shifted[c]))]
    assert changed == []
    assert panel_sha256(shifted) == panel_sha256(plain)


# --------------------------------------------------------------------------- NumPy's CPU dispatch


def _dispatch_off() -> str:
    """Every CPU feature NumPy dispatches to beyond its baseline (found on this CPU or not)."""
    from numpy._core import _multiarray_umath as umath

    return " ".join(umath.__cpu_dispatch__)


def _hashes_under_dispatch(code: str, env: dict[str, str]) -> tuple[str, str]:
    """``code``'s output, run twice at once: NumPy's full dispatch, and its baseline only."""
    runs = []
    for off in ("", _dispatch_off()):
        run_env = {**os.environ, **env, "NPY_DISABLE_CPU_FEATURES": off}
        if not off:
            run_env.pop("NPY_DISABLE_CPU_FEATURES")
        runs.append(subprocess.Popen(
            [sys.executable, "-c", code], env=run_env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        ))
    outs = [p.communicate(timeout=300) for p in runs]
    for p, (_, err) in zip(runs, outs, strict=True):
        assert p.returncode == 0, err
    return outs[0][0].strip(), outs[1][0].strip()


def test_embedded_panel_hash_is_the_same_with_and_without_simd_dispatch():
    assert _dispatch_off()  # a NumPy with dispatch at all (x86-64 and arm64 wheels)
    code = (
        "from walt_bayes.panel.datasets import load_dataset;"
        "print(load_dataset('middle-east').sha256)"
    )
    full, baseline = _hashes_under_dispatch(code, {})
    assert len(full) == 64
    assert full == baseline == panel_sha256(load_middle_east())


# Slow: two global-panel builds in subprocesses (each fetches and reads the mirror's files).  On a
# CPU without AVX-512 both dispatch settings call the C library anyway; the in-process test above
# (NumPy's functions shifted one ulp) is the one that fails on every machine.
@pytest.mark.slow
def test_global_panel_hash_is_the_same_with_and_without_simd_dispatch(tmp_path):
    if not MIRROR.is_dir():
        pytest.skip(f"peacesciencer mirror not found at {MIRROR} (../shared beside the repo)")
    code = (
        "import os, tempfile;"
        f"os.environ[{fetch_mod.CACHE_ENV!r}] = tempfile.mkdtemp(dir=os.environ['CACHES']);"
        "from walt_bayes.panel.build import build_global_panel;"
        "from walt_bayes.panel.hashing import panel_sha256;"
        f"print(panel_sha256(build_global_panel({GLOBAL_YEARS!r})))"
    )
    env = {"CACHES": str(tmp_path), fetch_mod.MIRROR_ENV: str(MIRROR)}
    full, baseline = _hashes_under_dispatch(code, env)
    assert len(full) == 64
    assert full == baseline
