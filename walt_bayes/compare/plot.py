"""The comparison plot: elpd ± SE per variant (ArviZ ``plot_compare``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from walt_bayes.atomic import atomic_path


def comparison_plot(table: pd.DataFrame, path: str | Path) -> Path:
    """Save ``az.plot_compare`` of the comparison table (best variant first) to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import arviz as az
    import matplotlib.pyplot as plt

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
