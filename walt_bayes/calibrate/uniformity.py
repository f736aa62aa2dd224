"""SBC's verdict: uniformity tests of the ranks, and the rank-histogram and Δ-ECDF plots.

Each parameter's ranks get a chi-square test on binned ranks and ArviZ's PIT-ECDF uniformity
test (``pot_c``, on randomised PIT values ``(rank + U) / (L + 1)``), Bonferroni-corrected over
the parameters (:func:`uniformity_table`); :func:`plot_rank_histograms` and
:func:`plot_ecdf_difference` draw them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from walt_bayes.atomic import atomic_path

#: Significance level of the uniformity tests (Bonferroni-corrected over parameters).
ALPHA = 0.05


def rank_bins(n_ranks: int, n_reps: int) -> list[np.ndarray]:
    """Bins of the possible ranks ``0..L`` for the chi-square test: about 5+ expected per bin."""
    n_bins = int(max(2, min(n_ranks + 1, n_reps // 5, 20)))
    return np.array_split(np.arange(n_ranks + 1), n_bins)


def uniformity_table(
    ranks: pd.DataFrame, n_ranks: int, seed: int = 0, alpha: float = ALPHA
) -> pd.DataFrame:
    """Uniformity tests of each parameter's ranks.

    Parameters
    ----------
    ranks : pandas.DataFrame
        Replications × parameters, integer ranks in ``0..n_ranks``.
    n_ranks : int
        ``L``, the number of thinned posterior draws each rank was taken among.
    seed : int
        Seed of the randomisation that turns ranks into continuous PIT values.
    alpha : float
        Family-wise level: a parameter is flagged when either test's p-value is
        below ``alpha / (2 × number of parameters)`` (Bonferroni).

    Returns
    -------
    pandas.DataFrame
        One row per parameter: ``n``, ``mean_rank`` (scaled to [0, 1]; 0.5
        expected), ``chi2``, ``df``, ``p_chi2``, ``p_ecdf`` (ArviZ ``pot_c``) and
        ``uniform`` (False when flagged).
    """
    from scipy import stats  # lazy: scipy.stats (about a second); this module imports no SciPy

    pit = pit_values(ranks, n_ranks, seed)
    ds = xr.Dataset({c: (("chain", "draw"), pit[c].to_numpy()[None, :]) for c in pit.columns})
    p_ecdf = ds.azstats.uniformity_test(dim=["chain", "draw"], method="pot_c")[0]
    bins = rank_bins(n_ranks, len(ranks))
    edges = [b[0] for b in bins] + [n_ranks + 1]
    widths = np.array([len(b) for b in bins], dtype=float) / (n_ranks + 1)
    threshold = alpha / (2 * max(1, ranks.shape[1]))
    rows = []
    for c in ranks.columns:
        r = ranks[c].to_numpy()
        observed = np.histogram(r, bins=edges)[0]
        chi2, p = stats.chisquare(observed, widths * len(r))
        pe = float(p_ecdf[c].values)
        rows.append(
            {
                "parameter": c,
                "n": len(r),
                "mean_rank": float(r.mean() / n_ranks),
                "chi2": float(chi2),
                "df": len(bins) - 1,
                "p_chi2": float(p),
                "p_ecdf": pe,
                "uniform": bool(p >= threshold and pe >= threshold),
            }
        )
    table = pd.DataFrame(rows)
    table.attrs["threshold"] = threshold
    return table


def pit_values(ranks: pd.DataFrame, n_ranks: int, seed: int = 0) -> pd.DataFrame:
    """Randomised PIT values ``(rank + U) / (L + 1)``: exactly uniform on (0, 1) under calibration."""
    rng = np.random.default_rng(int(seed))
    jitter = rng.random(ranks.shape)
    return (ranks + jitter) / (n_ranks + 1)


def plot_rank_histograms(
    wide: pd.DataFrame, n_ranks: int, path: Path, uniformity: pd.DataFrame
) -> Path:
    """Rank histograms (Talts et al. fig. 1 style) with the 99% band of a uniform histogram."""
    import matplotlib  # lazy: matplotlib (a second), only for the SBC plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib, after the Agg backend is chosen
    from scipy import stats  # lazy: scipy.stats (about a second); this module imports no SciPy

    bins = rank_bins(n_ranks, len(wide))
    edges = [b[0] for b in bins] + [n_ranks + 1]
    n = len(wide)
    ncols = 4
    nrows = int(np.ceil(wide.shape[1] / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
    p_by = uniformity.set_index("parameter")
    for ax, c in zip(axes.flat, wide.columns, strict=False):
        widths = np.diff(edges)
        expected = n * widths / (n_ranks + 1)
        lo = stats.binom.ppf(0.005, n, widths / (n_ranks + 1))
        hi = stats.binom.ppf(0.995, n, widths / (n_ranks + 1))
        ax.fill_between(
            np.repeat(edges, 2)[1:-1], np.repeat(lo, 2), np.repeat(hi, 2), color="0.85", lw=0
        )
        ax.stairs(np.histogram(wide[c], bins=edges)[0], edges, color="C0", lw=1.5)
        ax.stairs(expected, edges, color="0.4", ls="--", lw=0.8)
        flag = "" if bool(p_by.loc[c, "uniform"]) else "  NON-UNIFORM"
        ax.set_title(f"{c}{flag}", fontsize=8, color="C3" if flag else "black")
        ax.text(
            0.02,
            0.95,
            f"p χ²={p_by.loc[c, 'p_chi2']:.2f}\np ECDF={p_by.loc[c, 'p_ecdf']:.2f}",
            transform=ax.transAxes,
            fontsize=7,
            va="top",
        )
        ax.set_xlim(0, n_ranks + 1)
    for ax in list(axes.flat)[wide.shape[1] :]:
        ax.axis("off")
    fig.suptitle(
        f"SBC rank histograms ({n} replications, L = {n_ranks}); grey: 99% band under uniformity",
        fontsize=10,
    )
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def plot_ecdf_difference(tree: xr.DataTree, path: Path) -> Path | None:
    """ArviZ's Δ-ECDF plot of the randomised PIT values (``az.plot_ecdf_pit``)."""
    import arviz as az  # lazy: ArviZ (seconds: it imports matplotlib too), only for this plot
    import matplotlib  # lazy: matplotlib (a second), only for the SBC plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib, after the Agg backend is chosen

    n = len(tree["pit"].data_vars)
    rows = int(np.ceil(n / 4))
    pc = az.plot_ecdf_pit(
        tree,
        group="pit",
        backend="matplotlib",
        figure_kwargs={"figsize": (13, 2.6 * rows), "sharex": True, "sharey": True},
    )
    with atomic_path(path, suffix=".png") as tmp:
        pc.savefig(tmp, dpi=90)
    plt.close("all")
    return path
