"""The comparison plot: elpd ± SE per variant (ArviZ ``plot_compare``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from walt_bayes.atomic import atomic_path


def comparison_plot(table: pd.DataFrame, path: str | Path) -> Path:
    """Save ``az.plot_compare`` of the comparison table (best variant first) to ``path`` (PNG)."""
    # The Agg backend is chosen here, when a figure is drawn, and before pyplot loads.
    # lazy: matplotlib (~1 s) stays off this light module (tests/test_api.py imports it bare)
    import matplotlib

    matplotlib.use("Agg", force=False)
    import arviz as az  # lazy: ArviZ loads pyplot (~3 s): after the backend choice above
    import matplotlib.pyplot as plt  # lazy: after the backend choice above (see matplotlib)

    cmp = table.set_index("variant")[
        ["rank", "elpd", "se", "elpd_diff", "dse", "weight"]
    ].sort_values("rank")
    pc = az.plot_compare(cmp, relative_scale=False, backend="matplotlib")
    scheme = "; ".join(dict.fromkeys(table["scheme"]))
    if "plot" in pc.viz.data_vars:
        pc.viz["plot"].item().set_title(
            f"elpd ± 1 SE of the alliance log-likelihood, higher is better\n{scheme}"
        )
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        pc.savefig(tmp, bbox_inches="tight", dpi=120)
    plt.close("all")
    return path
