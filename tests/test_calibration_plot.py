"""PAV-adjusted calibration figure of the fit report (issue 22): ArviZ's plot_ppc_pava.

The curve and its consistency band are checked against a pool-adjacent-violators
regression written here (no scipy), on the small fit of the shared fixtures.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from arviz_base import extract

from walt_bayes.report import figures as figs
from walt_bayes.report import quantities as q


def pava(y) -> np.ndarray:
    """Least-squares non-decreasing fit of ``y`` (in its order): pool adjacent violators."""
    blocks: list[list[float]] = []  # [mean, weight]
    for v in np.asarray(y, dtype=float):
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2 = blocks.pop()
            m1, w1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2])
    return np.concatenate([np.full(int(w), m) for m, w in blocks])


def test_pava_helper():
    np.testing.assert_allclose(pava([0, 1, 0, 1, 1, 0]), [0, 0.5, 0.5, 2 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(pava([3, 2, 1]), [2, 2, 2])
    np.testing.assert_allclose(pava([0, 0, 1]), [0, 0, 1])


@pytest.fixture(scope="module")
def report_fit(small_fit_file):
    return q.load_report_fit(small_fit_file)


@pytest.fixture(scope="module")
def pava_figure(report_fit):
    fig = figs.calibration_pava(report_fit)
    yield fig
    plt.close(fig)


def test_pava_figure_layout(pava_figure, report_fit):
    fig = pava_figure
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    n = len(report_fit.ally_y)
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["perfect calibration", "observed (PAV fit)", f"predictions ({n:,} rows)"]
    ref, curve, rug = ax.lines
    assert len(curve.get_xdata()) == n and len(rug.get_xdata()) == n
    np.testing.assert_allclose(ref.get_xdata(), ref.get_ydata())  # the diagonal
    assert len(ax.collections) == 1  # the consistency band
    assert ax.collections[0].get_label().startswith("consistency band (94%")
    assert "alliance block" in ax.get_title()
    assert ax.get_xlabel() == "predicted probability (mean of replicated outcomes)"
    assert ax.get_ylabel() == "conditional event probability (PAV)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["perfect calibration", "observed (PAV fit)"]
    lo, hi = ax.get_xlim()
    assert lo == 0 and hi >= float(np.max(curve.get_xdata()))


def test_pava_curve_and_band_match_independent_isotonic_regression(pava_figure, report_fit):
    ax = pava_figure.axes[0]
    curve = ax.lines[1]
    x, cep = np.asarray(curve.get_xdata(), float), np.asarray(curve.get_ydata(), float)

    # The mean predicted probability of each row as ArviZ takes it: the mean of its replicated
    # outcomes (computed the same way, so that rows with tied means come in the same order).
    pp = extract(report_fit.tree, group="posterior_predictive", keep_dataset=True)["alliance"]
    pred = np.asarray(pp.mean("sample").values)
    mc_sd = np.sqrt(0.25 / pp.sizes["sample"])  # Monte Carlo error of a mean of 0/1 draws, at most
    np.testing.assert_allclose(pred, report_fit.ally_p_mean, atol=5 * mc_sd)
    order = np.argsort(pred)
    np.testing.assert_array_equal(x, pred[order])

    y = report_fit.ally_y
    np.testing.assert_allclose(cep, pava(y[order]), atol=1e-12)
    # Whatever the order within ties: non-decreasing, on [0, 1], and the mean is kept.
    assert np.all(np.diff(cep) >= -1e-12) and cep.min() >= 0 and cep.max() <= 1
    assert cep.mean() == pytest.approx(y.mean())

    # The consistency band: central 94% of the same regression on every replicated draw.
    rep = np.asarray(pp.transpose("sample", ...).values, dtype=float)
    fits = np.stack([pava(draw[order]) for draw in rep])
    lower, upper = np.percentile(fits, [3.0, 97.0], axis=0)
    n = len(x)
    # fill_between's polygon: start, the bottom edge, a turn, the top edge reversed
    verts = ax.collections[0].get_paths()[0].vertices
    np.testing.assert_allclose(verts[1 : n + 1, 0], x)
    np.testing.assert_allclose(verts[1 : n + 1, 1], lower, atol=1e-12)
    np.testing.assert_allclose(verts[n + 2 : 2 * n + 2, 1][::-1], upper, atol=1e-12)
    assert np.all(lower <= upper)


def test_pava_figure_saves(pava_figure, tmp_path):
    out = tmp_path / "pava.png"
    pava_figure.savefig(out, dpi=60)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
