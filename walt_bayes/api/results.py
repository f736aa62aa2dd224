"""What the API's analyses return: :class:`Evidence` (verdicts) and :class:`Comparison` (ranking)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["Comparison", "Evidence"]


# ------------------------------------------------------------------ verdicts
@dataclass(frozen=True, eq=False)
class Evidence:
    """Verdicts on Walt's hypotheses from one fit (:meth:`Fit.hypotheses`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per hypothesis and part: ``id``, ``verdict``, ``statement``, ``mean``,
        ``hdi_low``, ``hdi_high``, ``p_direction``, ``bayes_factor``, ``reason``, … (the columns of
        ``walt-bayes hypotheses --format csv``).
    """

    table: pd.DataFrame

    @property
    def notes(self) -> list[str]:
        """The sentences printed under the table (thresholds, how marginal effects are computed)."""
        return list(self.table.attrs.get("notes", []))

    @property
    def problems(self) -> list[str]:
        """The convergence checks the fit failed (empty for a converged fit)."""
        return list(self.table.attrs.get("convergence_problems", []))

    @property
    def banner(self) -> str:
        """The warning printed above the table of a fit that failed its checks ('' otherwise)."""
        # lazy: walt_bayes.hypotheses.table imports ArviZ and xarray (seconds)
        from walt_bayes.hypotheses.table import convergence_banner

        return convergence_banner(self.table)

    @property
    def pairs(self) -> pd.DataFrame:
        """Balancing and bandwagoning hypotheses side by side."""
        # lazy: walt_bayes.hypotheses.table imports ArviZ and xarray (seconds)
        from walt_bayes.hypotheses.table import pairs_table

        return pairs_table(self.table)

    def verdicts(self) -> dict[str, str]:
        """``{hypothesis id: verdict}``."""
        return dict(zip(self.table["id"], self.table["verdict"], strict=True))

    def __repr__(self) -> str:
        counts = self.table["verdict"].value_counts()
        shown = ", ".join(f"{n} {v}" for v, n in counts.items())
        return f"<Evidence: {len(self.table)} rows ({shown}){' — ' + self.banner if self.banner else ''}>"


# ------------------------------------------------------------------ comparison
@dataclass(frozen=True, eq=False)
class Comparison:
    """Theory variants ranked by out-of-sample prediction of alliances (:func:`compare`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per fit, best first: ``variant``, ``rank``, ``elpd``, ``se``, ``elpd_diff``,
        ``dse``, ``weight`` (stacking), ``n_obs``, ``scheme``, ``rows``, Pareto k or fold
        diagnostics, ``run``, ``data`` (the columns of ``compare.csv``).
    method : str
        ``loo`` or ``kfold``.
    """

    table: pd.DataFrame
    method: str

    @property
    def notes(self) -> list[str]:
        """What the numbers mean (rows scored, caveats of the scheme)."""
        return list(self.table.attrs.get("notes", []))

    @property
    def warnings(self) -> list[str]:
        """Where the numbers are unreliable (many high Pareto k, fold refits that did not converge)."""
        return list(self.table.attrs.get("warnings", []))

    def plot(self) -> Figure:
        """elpd ± SE per variant (ArviZ ``plot_compare``), best first.

        Returns
        -------
        matplotlib.figure.Figure
        """
        # lazy: walt_bayes.report.figures imports matplotlib and ArviZ (seconds)
        from walt_bayes.report.figures import compare_elpd

        cols = ["rank", "elpd", "se", "elpd_diff", "dse", "weight"]
        fig = compare_elpd(self.table.set_index("variant")[cols].sort_values("rank"))
        scheme = "; ".join(dict.fromkeys(self.table["scheme"]))
        fig.suptitle(f"elpd ± 1 SE of the alliance log-likelihood, higher is better\n{scheme}")
        return fig

    def __repr__(self) -> str:
        ranked = ", ".join(f"{r.variant} {r.elpd:.1f}" for r in self.table.itertuples())
        return f"<Comparison ({self.method}) by elpd: {ranked}>"

