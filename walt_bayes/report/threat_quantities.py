"""Threat quantities of a fit for the reports: weights, threat per dyad-year, networks.

Threat on the probability scale per directed dyad-year,
``tau = logistic(lambda_0 + sum_s x_s * beta[g(i), s])`` (plus the threatening state's
intercept when the spec has them), with :data:`~walt_bayes.fit.diagnostics.CI_PROB`
HDIs.  Tables of fewer draws than the fit has take them evenly spaced
(:meth:`walt_bayes.fit.loaded.LoadedFit.thin`).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy.special import expit

from walt_bayes.fit.diagnostics import CI_PROB
from walt_bayes.report.fit_view import ReportFit, hdi, stacked


def threat_weights(fit: ReportFit, prob: float = CI_PROB) -> pd.DataFrame:
    """The four named threat weights (population means) with mean and HDI."""
    post = fit.tree["posterior"]
    rows = []
    for s in fit.design.sources:
        name = f"beta_{s}"
        if name not in post.data_vars:
            continue
        x = stacked(post[name])
        lo, hi = hdi(x, prob)
        rows.append(
            {
                "source": s,
                "parameter": name,
                "mean": float(x.mean()),
                "hdi_low": float(lo),
                "hdi_high": float(hi),
                "p_positive": float((x > 0).mean()),
            }
        )
    return pd.DataFrame(
        rows, columns=["source", "parameter", "mean", "hdi_low", "hdi_high", "p_positive"]
    )


def threat_draws(
    fit: ReportFit, rows: np.ndarray | None = None, max_draws: int | None = None
) -> np.ndarray:
    """Posterior draws of threat ``tau`` for threat rows (all rows by default): ``(draws, rows)``.

    ``tau[j->i,t] = logistic(lambda_0 + sum_s X[row, s] * beta[g(i), s] [+ u_j])``, with the
    group weights ``beta`` when the fit pools by group and the named weights otherwise, and
    the source intercept ``u_j`` (``source_effect``) when the spec has them.
    """
    d = fit.design
    if not d.has_threat:
        raise ValueError("this fit has no threat block")
    post = fit.tree["posterior"]
    rows = np.arange(len(d.threat_X)) if rows is None else np.asarray(rows, dtype=np.int64)
    take = fit.thin(max_draws)
    lam = stacked(post["lambda_0"])[take]  # (D,)
    X = d.threat_X[rows]  # (R, S)
    if "beta" in post.data_vars:
        beta = post["beta"].transpose("chain", "draw", "threat_group", "source")
        beta = stacked(beta.sel(source=d.sources))[take]  # (D, G, S)
        g = d.threat_group[rows]
        eta = np.repeat(lam[:, None], len(rows), axis=1)
        for s in range(X.shape[1]):  # one source at a time: no (draws, rows, sources) temporary
            eta += X[:, s] * beta[:, :, s][:, g]
    else:
        w = np.column_stack([stacked(post[f"beta_{s}"])[take] for s in d.sources])  # (D, S)
        eta = lam[:, None] + w @ X.T
    if d.source_states:  # the threatening state's own intercept
        eta = eta + stacked(post["source_effect"])[take][:, d.threat_src[rows]]
    return expit(np.asarray(eta, dtype=float))


def threat_table(
    fit: ReportFit,
    rows: np.ndarray | None = None,
    max_draws: int | None = 1000,
    prob: float = CI_PROB,
) -> pd.DataFrame:
    """Threat per dyad-year (``source`` j threatens ``target`` i in ``year``): mean, HDI."""
    d = fit.design
    rows = np.arange(len(d.threat_X)) if rows is None else np.asarray(rows, dtype=np.int64)
    tau = threat_draws(fit, rows, max_draws)
    iv = hdi(tau, prob) if len(rows) else np.zeros((0, 2))
    keys = d.threat_keys.iloc[rows]
    return pd.DataFrame(
        {
            "row": rows,
            "target": keys["ccode1"].to_numpy(np.int64),
            "source": keys["ccode2"].to_numpy(np.int64),
            "year": keys["year"].to_numpy(np.int64),
            "mean": tau.mean(axis=0),
            "hdi_low": iv[:, 0],
            "hdi_high": iv[:, 1],
        }
    )


def parse_dyads(text: str) -> list[tuple[int, int]]:
    """Parse ``"651->666, 365->2"`` (threat of the first state to the second) into pairs."""
    out = []
    for part in str(text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)\s*(?:->|>|→)\s*(\d+)", part)
        if not m:
            raise ValueError(f"dyad '{part}' is not 'SOURCE->TARGET' (COW codes)")
        out.append((int(m.group(1)), int(m.group(2))))
    return out


def strongest_dyads(fit: ReportFit, n: int = 4, max_draws: int = 200) -> list[tuple[int, int]]:
    """The ``n`` directed dyads (source, target) with the highest mean threat over their years."""
    tab = threat_table(fit, max_draws=max_draws)
    by = tab.groupby(["source", "target"])["mean"].mean().sort_values(ascending=False)
    return [(int(s), int(t)) for s, t in by.index[:n]]


def dyad_threat_series(
    fit: ReportFit, dyads: list[tuple[int, int]], max_draws: int | None = 1000
) -> pd.DataFrame:
    """Threat over time for chosen dyads (source, target): one row per dyad-year, mean and HDI."""
    keys = fit.design.threat_keys
    frames = []
    for source, target in dyads:
        rows = np.flatnonzero(
            (keys["ccode2"].to_numpy() == source) & (keys["ccode1"].to_numpy() == target)
        )
        if len(rows) == 0:
            continue
        frames.append(threat_table(fit, rows, max_draws).sort_values("year"))
    cols = ["row", "target", "source", "year", "mean", "hdi_low", "hdi_high"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def busiest_year(fit: ReportFit) -> int:
    """The year with the most observed dispute initiations (the first such year)."""
    y = np.asarray(fit.tree["observed_data"]["dispute"].values, dtype=float)
    counts = fit.design.dispute_keys().assign(y=y).groupby("year")["y"].sum()
    return int(counts.idxmax())


def threat_network(
    fit: ReportFit, year: int, top: int = 15, max_draws: int | None = 1000
) -> pd.DataFrame:
    """The ``top`` strongest directed threats in ``year`` (by posterior mean), with intervals."""
    keys = fit.design.threat_keys
    rows = np.flatnonzero(keys["year"].to_numpy() == int(year))
    if len(rows) == 0:
        raise ValueError(f"no threat rows in {year}")
    tab = threat_table(fit, rows, max_draws)
    return tab.sort_values("mean", ascending=False).head(top).reset_index(drop=True)
