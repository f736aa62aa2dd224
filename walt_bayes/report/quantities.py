"""Posterior-derived quantities for the reports, computed from a saved fit only.

Everything here reads a loaded fit (:class:`ReportFit`, a
:class:`walt_bayes.fit.loaded.LoadedFit` with its states' names and regions): nothing refits or
resamples.  Tables of fewer draws than the fit has take them evenly spaced
(:func:`walt_bayes.fit.draws.thin_index`), as every other table of a fit does.

- threat on the probability scale per directed dyad-year
  ``tau = logistic(lambda_0 + sum_s x_s * beta[g(i), s])`` with intervals;
- alliance rates in the posterior (and prior) predictive draws, overall, by
  year and by region, against the observed rate;
- calibration bins of the posterior mean alliance probability;
- names and regions of states, and the data sources behind a fit.

Intervals are :data:`walt_bayes.fit.diagnostics.CI_PROB` highest-density intervals.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats.base import array_stats
from scipy.special import expit

from walt_bayes.fit.diagnostics import CI_PROB
from walt_bayes.fit.draws import stack_draws
from walt_bayes.fit.loaded import LoadedFit, open_fit
from walt_bayes.model.design import Design
from walt_bayes.panel.columns import region_of
from walt_bayes.spec import ModelSpec

#: Intercepts whose prior mean is data-driven (the logit of the observed rate of this outcome).
DATA_DRIVEN_MU = {"lambda_0": "dispute", "mu_alpha": "alliance", "delta_0": "alliance-ending"}


def hdi(draws: np.ndarray, prob: float = CI_PROB) -> np.ndarray:
    """HDI of each column of ``draws`` (draws in axis 0): array of shape ``(..., 2)``."""
    draws = np.asarray(draws, dtype=float)
    return np.asarray(array_stats.hdi(np.moveaxis(draws, 0, -1), prob, axis=-1))


def stacked(da: xr.DataArray) -> np.ndarray:
    """Draws of a variable with ``chain`` and ``draw`` merged into axis 0 (in its own dtype)."""
    return stack_draws(da)


# ------------------------------------------------------------------ the fit
class ReportFit(LoadedFit):
    """A fit as the report reads it: a :class:`~walt_bayes.fit.loaded.LoadedFit` with the names,
    short labels and regions of its states and the report's per-fit quantities, each computed once.

    Made as a :class:`LoadedFit` is (``ReportFit(tree, path=…)``), by :func:`load_report_fit`, or
    from a fit loaded already by :meth:`of`.
    """

    @classmethod
    def of(cls, fit: LoadedFit) -> ReportFit:
        """``fit`` as the report reads it: a view of the same fit, not a copy."""
        if isinstance(fit, cls):
            return fit
        view = cls.__new__(cls)
        # One attribute dict for both: what either reads from the tree (design, spec, …), the
        # other has, and a fit saved later has its file in both.
        view.__dict__ = fit.__dict__
        return view

    @property
    def label(self) -> str:
        """``<variant> on <data>``."""
        return f"{self.spec_name} on {self.data_name}"

    @cached_property
    def _codes(self) -> list[int]:
        """Every state in the fit's alliance and threat rows."""
        d = self.design
        codes = set(d.ally_keys["ccode1"]) | set(d.ally_keys["ccode2"])
        if d.has_threat:
            codes |= set(d.threat_keys["ccode1"]) | set(d.threat_keys["ccode2"])
        return sorted(codes)

    @cached_property
    def _labels(self) -> tuple[dict[int, str], dict[int, str]]:
        return state_labels(self.tree.attrs.get("data_name", ""), self._codes)

    @property
    def names(self) -> dict[int, str]:
        """ccode → full name (:func:`state_labels`)."""
        return self._labels[0]

    @property
    def abbs(self) -> dict[int, str]:
        """ccode → short label (:func:`state_labels`)."""
        return self._labels[1]

    @cached_property
    def regions(self) -> dict[int, str]:
        """ccode → region (:func:`state_regions`)."""
        return state_regions(self.tree.attrs.get("data_name", ""), self.design, self.spec, self._codes)

    def name(self, ccode: int) -> str:
        return self.names.get(int(ccode), f"COW {int(ccode)}")

    def abb(self, ccode: int) -> str:
        return self.abbs.get(int(ccode), str(int(ccode)))

    @cached_property
    def ally_y(self) -> np.ndarray:
        return np.asarray(self.tree["observed_data"]["alliance"].values, dtype=float)

    @cached_property
    def ally_p_mean(self) -> np.ndarray:
        """Posterior mean alliance probability per alliance row (exact, from the log-likelihood)."""
        return alliance_probability(self.tree).mean(axis=0)

    @cached_property
    def network_checks(self) -> dict:
        """Posterior predictive checks of the alliance network (:func:`network_checks`)."""
        return network_checks(self)


def load_report_fit(run_dir: str | Path) -> ReportFit:
    """A run directory (or fit file) as the report reads it, with the fit file's checks
    (:func:`walt_bayes.fit.loaded.open_fit`)."""
    return ReportFit.of(open_fit(run_dir))


def state_labels(data_name: str, codes) -> tuple[dict[int, str], dict[int, str]]:
    """Full names and short labels of COW codes (embedded data: ``states.csv``; else the codes)."""
    names: dict[int, str] = {}
    abbs: dict[int, str] = {}
    if data_name == "middle-east":
        from walt_bayes.panel.embedded import load_states

        states = load_states()
        names = {int(c): str(n) for c, n in zip(states["ccode"], states["name"], strict=True)}
        abbs = {int(c): str(a) for c, a in zip(states["ccode"], states["abb"], strict=True)}
    for c in codes:
        names.setdefault(int(c), f"COW {int(c)}")
        abbs.setdefault(int(c), str(int(c)))
    return names, abbs


def state_regions(data_name: str, design: Design, spec: ModelSpec, codes) -> dict[int, str]:
    """Region of each state: embedded subregions, else the fit's groups, else COW blocks."""
    if data_name == "middle-east":
        from walt_bayes.panel.embedded import load_states

        states = load_states()
        return {int(c): str(r) for c, r in zip(states["ccode"], states["subregion"], strict=True)}
    out: dict[int, str] = {}
    if design.has_threat and spec.threat is not None and spec.threat.group == "region":
        labels = np.asarray(design.threat_groups, dtype=object)[design.threat_group]
        out = dict(zip(design.threat_keys["ccode1"].astype(int), labels, strict=True))
    elif spec.alliance.group == "region":
        labels = np.asarray(design.ally_groups, dtype=object)[design.ally_group]
        out = dict(zip(design.ally_keys["ccode1"].astype(int), labels, strict=True))
    for c in codes:
        out.setdefault(int(c), region_of(int(c)))
    return {int(k): str(v) for k, v in out.items()}


# ------------------------------------------------------------------ data
def data_overview(fit: ReportFit) -> dict:
    """Panel figures: years, states, alliance rows and rate, dispute rows and rate."""
    d = fit.design
    keys = d.ally_keys
    out = {
        "data_name": str(fit.tree.attrs.get("data_name", "?")),
        "data_sha256": str(fit.tree.attrs.get("data_sha256", "")),
        "first_year": int(keys["year"].min()),
        "last_year": int(keys["year"].max()),
        "n_years": int(keys["year"].nunique()),
        "n_states": len(set(keys["ccode1"]) | set(keys["ccode2"])),
        "n_alliance_rows": len(keys),
        "alliance_rate": float(fit.ally_y.mean()),
        "n_allied": int(fit.ally_y.sum()),
    }
    if d.has_threat:
        y = np.asarray(fit.tree["observed_data"]["dispute"].values, dtype=float)
        out |= {
            "n_threat_rows": len(d.threat_keys),
            "dispute_rate": float(y.mean()),
            "n_disputes": int(y.sum()),
        }
    return out


def observed_by_year(fit: ReportFit) -> pd.DataFrame:
    """States, alliance rows and observed alliance (and dispute) rates per year."""
    keys = fit.design.ally_keys.assign(y=fit.ally_y)
    out = keys.groupby("year").agg(
        alliance_rows=("y", "size"), allied=("y", "sum"), alliance_rate=("y", "mean")
    )
    states = pd.concat(
        [keys[["year", "ccode1"]], keys[["year", "ccode2"]].rename(columns={"ccode2": "ccode1"})]
    )
    out["states"] = states.drop_duplicates().groupby("year").size()
    if fit.design.has_threat:
        y = np.asarray(fit.tree["observed_data"]["dispute"].values, dtype=float)
        t = fit.design.dispute_keys().assign(y=y)
        out["dispute_rate"] = t.groupby("year")["y"].mean()
        out["disputes"] = t.groupby("year")["y"].sum()
    return out.reset_index()


_REF_LINE = re.compile(r"^- (.+)$")


def data_sources(fit: ReportFit) -> dict:
    """Where a fit's data came from and what to cite: ``{"description", "citations"}``."""
    name = str(fit.tree.attrs.get("data_name", ""))
    if name == "middle-east":
        from walt_bayes.paths import bundled_path

        cites: list[str] = []
        codebook = bundled_path("data", "middle_east", "CODEBOOK.md")
        if codebook.exists():
            text = codebook.read_text(encoding="utf-8")
            _, _, refs = text.partition("## References")
            for line in refs.splitlines()[1:]:
                if line.startswith("## "):
                    break
                if m := _REF_LINE.match(line.strip()):
                    cites.append(m.group(1).replace("*", ""))
        return {
            "description": (
                "Embedded Middle East case data, 1955–1979, written by the walt-bayes authors from "
                "the diplomatic and military history of the period (data/middle_east/CODEBOOK.md); "
                "every row "
                "names the histories it rests on."
            ),
            "citations": cites,
        }
    if name.startswith("global-cow"):
        from walt_bayes.panel.build import PANEL_SOURCES
        from walt_bayes.sources.registry import citations

        return {
            "description": (
                "Global COW directed dyad-year panel built from the peacesciencer data files "
                "(pinned by upstream commit and sha256)."
            ),
            "citations": citations(PANEL_SOURCES),
        }
    if name.startswith("sim"):
        return {
            "description": "A panel simulated from the walt-bayes generative model "
            "(known parameters).",
            "citations": [],
        }
    return {
        "description": f"User-supplied panel '{name}' (sources not recorded in the fit).",
        "citations": [],
    }


# ------------------------------------------------------------------ threat
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


# ------------------------------------------------------------------ predictive checks
def alliance_probability(tree: xr.DataTree) -> np.ndarray:
    """Draws of the alliance probability per row, exact from the Bernoulli log-likelihood.

    Shape ``(draws, rows)``.

    ``log_lik = log p`` where ``y = 1`` and ``log(1 - p)`` where ``y = 0``.
    """
    ll = stacked(tree["log_likelihood"]["alliance"])
    y = np.asarray(tree["observed_data"]["alliance"].values, dtype=bool)
    lik = np.exp(ll)
    return np.where(y[None, :], lik, 1.0 - lik)


def _groups_of(fit: ReportFit, by: str | None) -> np.ndarray:
    keys = fit.design.ally_keys
    if by is None:
        return np.full(len(keys), "all", dtype=object)
    if by == "year":
        return keys["year"].to_numpy()
    if by == "region":
        return (
            keys["ccode1"]
            .map(lambda c: fit.regions.get(int(c), region_of(int(c))))
            .to_numpy(dtype=object)
        )
    raise ValueError(f"group by 'year', 'region' or None, not {by!r}")


def predictive_rates(
    fit: ReportFit,
    by: str | None = None,
    group: str = "posterior_predictive",
    prob: float = CI_PROB,
) -> pd.DataFrame:
    """Alliance rate in predictive draws against the observed rate, overall or by year or region.

    Columns: ``group``, ``n`` (rows), ``observed``, ``mean``, ``hdi_low``, ``hdi_high`` and
    ``p_above`` (share of replicated rates above the observed one; near 0 or 1 flags misfit).
    Regions are those of the weaker state ``i`` of each dyad.
    """
    rep = stacked(fit.tree[group]["alliance"]).astype(float)  # (D, N)
    labels = _groups_of(fit, by)
    y = fit.ally_y
    rows = []
    for label in pd.unique(labels):
        mask = labels == label
        rates = rep[:, mask].mean(axis=1)
        lo, hi = hdi(rates, prob)
        obs = float(y[mask].mean())
        rows.append(
            {
                "group": label,
                "n": int(mask.sum()),
                "observed": obs,
                "mean": float(rates.mean()),
                "hdi_low": float(lo),
                "hdi_high": float(hi),
                "p_above": float((rates > obs).mean()),
            }
        )
    out = pd.DataFrame(rows)
    return out.sort_values("group").reset_index(drop=True) if by else out


def rate_draws(fit: ReportFit, group: str = "posterior_predictive") -> np.ndarray:
    """Overall alliance rate in each predictive draw."""
    return stacked(fit.tree[group]["alliance"]).astype(float).mean(axis=1)


def calibration_bins(fit: ReportFit, n_bins: int = 10, prob: float = CI_PROB) -> pd.DataFrame:
    """Calibration: rows binned by posterior mean alliance probability (equal-width bins on [0, 1]).

    Empty bins are left out.  Columns: ``bin``, ``lower``/``upper`` (bin edges), ``n``,
    ``predicted`` (mean probability), ``observed`` (rate), ``rep_low``/``rep_high``
    (HDI of the bin's rate in posterior predictive draws).
    """
    p = fit.ally_p_mean
    y = fit.ally_y
    rep = stacked(fit.tree["posterior_predictive"]["alliance"]).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        idx = np.flatnonzero(which == b)
        if len(idx) == 0:
            continue
        lo, hi = hdi(rep[:, idx].mean(axis=1), prob)
        rows.append(
            {
                "bin": b,
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "n": len(idx),
                "predicted": float(p[idx].mean()),
                "observed": float(y[idx].mean()),
                "rep_low": float(lo),
                "rep_high": float(hi),
            }
        )
    return pd.DataFrame(
        rows, columns=["bin", "lower", "upper", "n", "predicted", "observed", "rep_low", "rep_high"]
    )


def brier_score(fit: ReportFit) -> float:
    """Mean squared error of the posterior mean probability against the outcome."""
    return float(np.mean((fit.ally_p_mean - fit.ally_y) ** 2))


# ------------------------------------------------------------------ network checks
def fit_panel(fit: ReportFit) -> pd.DataFrame | None:
    """The panel a fit was made on, where it can be rebuilt unchanged: the embedded data, same sha256."""
    if str(fit.tree.attrs.get("data_name", "")) != "middle-east":
        return None
    from walt_bayes.panel.datasets import load_dataset

    dataset = load_dataset("middle-east")
    return dataset.panel if dataset.sha256 == str(fit.tree.attrs.get("data_sha256", "")) else None


def network_checks(fit: ReportFit) -> dict:
    """Posterior predictive checks of the alliance network (:mod:`walt_bayes.fit.network_checks`).

    Use ``fit.network_checks`` (computed once per loaded fit).  The fit's stored
    ``network_checks`` attribute; a fit made before it gets them computed here from its
    posterior predictive draws (the hostile-pair check needs the panel: the embedded data
    are rebuilt, other panels skip that check).
    """
    from walt_bayes.fit.network_checks import fit_network_checks, stored_network_checks

    result = stored_network_checks(fit.tree)
    if result is None:
        try:
            panel = fit_panel(fit)
            result = fit_network_checks(fit.tree, panel=panel, spec=fit.spec)
        except Exception as err:  # one failed section must not cost the whole report
            return {"error": f"{type(err).__name__}: {err}", "checks": [], "skipped": [], "notes": []}
        result["notes"].insert(0, "computed when the report loaded this fit (made before the fit stored them)")
        if panel is None:
            for row in result["skipped"]:
                if row["name"] == "hostile_share" and "panel" in row["reason"]:
                    row["reason"] += " (and the report can rebuild only the embedded panel)"
    return result


def network_checks_table(result: dict) -> pd.DataFrame:
    """One row per network check: observed value, replicated mean, central interval, flag.

    Columns ``check``, ``observed``, ``replicated mean``, ``interval low``/``high``,
    ``P(rep > obs)``, ``flag`` (``outside`` or ``inside``) and ``what it means``.
    """
    from walt_bayes.fit.network_checks import CHECKS

    rows = []
    for row in result.get("checks", []):
        _, above, below = CHECKS[row["name"]]
        outside = bool(row["outside"])
        meaning = ""
        if outside and row["observed"] is not None:
            meaning = above if row["observed"] > row["high"] else below
        rows.append({
            "check": row["label"],
            "observed": row["observed"],
            "replicated mean": row["mean"],
            "interval low": row["low"],
            "interval high": row["high"],
            "P(rep > obs)": row["p_above"],
            "flag": "outside" if outside else ("inside" if row["low"] is not None else "undefined"),
            "what it means": meaning,
        })
    cols = ["check", "observed", "replicated mean", "interval low", "interval high", "P(rep > obs)", "flag",
            "what it means"]
    return pd.DataFrame(rows, columns=cols)


# ------------------------------------------------------------------ model / effects
def effect_names(fit: ReportFit) -> list[str]:
    """The alliance-block coefficients: ``gamma_*`` terms, then ``control_*``."""
    post = fit.tree["posterior"]
    gam = [v for v in post.data_vars if str(v).startswith("gamma_")]
    ctl = [v for v in post.data_vars if str(v).startswith("control_")]
    return [str(v) for v in gam + ctl]


def effects_table(fit: ReportFit, prob: float = CI_PROB) -> pd.DataFrame:
    """Mean, HDI, odds ratio per SD and P(> 0) of each alliance-block coefficient."""
    post = fit.tree["posterior"]
    rows = []
    for name in effect_names(fit):
        x = stacked(post[name])
        lo, hi = hdi(x, prob)
        rows.append(
            {
                "parameter": name,
                "mean": float(x.mean()),
                "hdi_low": float(lo),
                "hdi_high": float(hi),
                "odds_ratio": float(np.exp(x.mean())),
                "p_positive": float((x > 0).mean()),
            }
        )
    return pd.DataFrame(
        rows, columns=["parameter", "mean", "hdi_low", "hdi_high", "odds_ratio", "p_positive"]
    )


def priors_table(fit: ReportFit) -> pd.DataFrame:
    """The resolved prior of each parameter family, as the fit's spec states it."""
    from walt_bayes.spec import DEFAULT_PRIORS

    spec = fit.spec
    rows = []
    for name in sorted(set(DEFAULT_PRIORS) | set(spec.priors)):
        resolved = spec.resolved_prior(name, None) if name in DEFAULT_PRIORS else spec.priors[name]
        params = ", ".join(f"{k}={v}" for k, v in resolved.items() if k != "distribution")
        if name in DATA_DRIVEN_MU and "mu" not in resolved:
            params = ", ".join(
                filter(None, [f"mu=logit(observed {DATA_DRIVEN_MU[name]} rate)", params])
            )
        rows.append(
            {
                "parameter": name,
                "prior": f"{resolved['distribution']}({params})",
                "from spec": "yes" if name in spec.priors else "default",
            }
        )
    return pd.DataFrame(rows)


def sampler_facts(fit: ReportFit) -> dict:
    """Sampler settings, seed, wall times and library versions stored with the fit."""

    def _json(key):
        value = fit.tree.attrs.get(key)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return value

    return {
        "settings": _json("sampler_settings") or {},
        "seed": fit.tree.attrs.get("seed"),
        "wall_times": _json("wall_times") or {},
        "versions": _json("versions") or {},
        "notes": _json("design_notes") or [],
        "dropped_terms": _json("dropped_terms") or {},
        "case_control": _json("case_control") or {},
    }


# ------------------------------------------------------------------ plain-language summary
_PHRASE = {
    "supported": "the evidence supports it",
    "contradicted": "the evidence contradicts it",
    "practically null": "the effect is practically zero",
    "inconclusive": "the evidence is inconclusive",
    "not testable": "this fit cannot test it",
    "unreliable": "no verdict, as the fit failed its convergence checks",
}


def plain_summary(evidence: pd.DataFrame, convergence: dict | None = None) -> list[str]:
    """Plain-text sentences on what the evidence says about balancing vs bandwagoning."""
    rows = {r["id"]: r for _, r in evidence.iterrows()}
    out: list[str] = []

    def fig(r) -> str:
        from walt_bayes.hypotheses.table import format_row

        scale = str(r.get("scale", "") or "")
        unit = f" ({scale})" if scale else ""
        # One fixed-point format for the mean and its bounds (no 2.3e-05 beside 0.0003).
        mean, lo, hi = format_row([r["mean"], r["hdi_low"], r["hdi_high"]], sign=True)
        return (
            f"posterior mean {mean}{unit}, "
            f"94% HDI {lo} to {hi}, "
            f"P(predicted direction) = {r['p_direction']:.2f}"
        )

    bal, bw = rows.get("BAL-1"), rows.get("BW-1")
    if bal is not None and bal["verdict"] != "not testable":
        out.append(
            f"Balancing (BAL-1: states ally against a threat they share): "
            f"{_PHRASE[bal['verdict']]} — {fig(bal)}."
        )
    if bw is not None and bw["verdict"] != "not testable":
        out.append(
            f"Bandwagoning (BW-1: states ally with the state that threatens them): "
            f"{_PHRASE[bw['verdict']]} — {fig(bw)}."
        )
    cond = rows.get("COND-1")
    if cond is not None and cond["verdict"] != "not testable":
        out.append(
            f"Balancing more common than bandwagoning "
            f"(COND-1, shared minus partner threat effect): "
            f"{_PHRASE[cond['verdict']]} — {fig(cond)}."
        )
    if bal is not None and bw is not None and "not testable" not in (bal["verdict"], bw["verdict"]):
        if "unreliable" in (bal["verdict"], bw["verdict"]):
            out.append(
                "Overall: the fit failed its convergence checks, so it gives no verdict on balancing "
                "against bandwagoning; refit with more draws or tuning."
            )
        elif bal["verdict"] == "supported" and bw["verdict"] != "supported":
            out.append(
                "Overall: in this fit states balance against shared threats rather than "
                "bandwagon — "
                "the pattern Walt predicts."
            )
        elif bw["verdict"] == "supported" and bal["verdict"] != "supported":
            out.append(
                "Overall: in this fit states bandwagon with threatening partners rather than "
                "balance — "
                "contrary to Walt's prediction."
            )
        elif bal["verdict"] == "supported" and bw["verdict"] == "supported":
            out.append(
                "Overall: both balancing and bandwagoning find support; "
                "compare their sizes (COND-1)."
            )
        else:
            out.append(
                "Overall: the data do not settle whether states balance or bandwagon in this fit."
            )
    elif bal is None or bal["verdict"] == "not testable":
        out.append(
            "This fit has no threat terms, so it cannot weigh balancing against bandwagoning; "
            "fit balance_of_threat or full for that."
        )
    counts = evidence["verdict"].value_counts()
    tally = ", ".join(
        f"{int(counts[v])} {v}"
        for v in ("supported", "contradicted", "practically null", "inconclusive", "unreliable", "not testable")
        if v in counts
    )
    out.append(f"Across all {len(evidence)} hypotheses in the table: {tally}.")
    if convergence and not convergence.get("ok", True):
        out.append(
            "Caution: the sampler failed convergence checks ("
            + "; ".join(convergence.get("problems", []))
            + "); treat every number above as provisional."
        )
    return out


# ------------------------------------------------------------------ comparison
def fit_labels(fits: list[ReportFit]) -> list[str]:
    """A unique label per fit: the variant name, with the run folder where variants repeat."""
    names = [str(f.tree.attrs.get("spec_name", f.path.name)) for f in fits]
    return [
        f"{n} ({f.path.name})" if names.count(n) > 1 else n
        for n, f in zip(names, fits, strict=True)
    ]


ELPD_COLUMNS = ["variant", "rank", "elpd", "se", "elpd_diff", "dse", "weight", "p"]


def compare_elpd(fits: dict[str, ReportFit]) -> tuple[pd.DataFrame | None, list[str]]:
    """PSIS-LOO comparison of the fits' alliance log-likelihood, ranked (best first), with notes.

    Uses :func:`walt_bayes.compare.compare_runs` when the package has it; otherwise
    ``az.loo`` per fit and ``az.compare``.  Returns ``(None, [reason])`` when the fits
    cannot be compared (different data or alliance rows).
    """
    import warnings

    import arviz as az

    try:
        from walt_bayes.compare import compare_runs
    except ImportError:
        compare_runs = None
    if compare_runs is not None:
        from walt_bayes.errors import WaltError

        try:
            table = compare_runs([f.path for f in fits.values()], method="loo", progress=False)
        except WaltError as err:
            return None, [str(err)]
        by_path = {str(Path(f.path).resolve()): label for label, f in fits.items()}
        if "run" in table.columns:
            mapped = table["run"].map(
                lambda p: (
                    by_path.get(str(Path(p).resolve().parent))
                    or by_path.get(str(Path(p).resolve()))
                )
            )
            table = table.assign(variant=mapped.fillna(table["variant"]))
        keep = [
            c
            for c in [*ELPD_COLUMNS, "pareto_k_max", "n_pareto_k_gt_0.7", "scheme"]
            if c in table.columns
        ]
        notes = list(table.attrs.get("notes", [])) + list(table.attrs.get("warnings", []))
        return table[keep].reset_index(drop=True), notes
    shas = {f.tree.attrs.get("data_sha256") for f in fits.values()}
    sizes = {len(f.ally_y) for f in fits.values()}
    if len(shas) > 1 or len(sizes) > 1:
        return None, [
            "the fits were made on different data or alliance rows: elpd is not comparable"
        ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loos = {label: az.loo(f.tree, var_name="alliance") for label, f in fits.items()}
        cmp = az.compare(loos, method="stacking")
    cmp = cmp.reset_index(names="variant")
    keep = [c for c in ELPD_COLUMNS if c in cmp.columns]
    bad = {label: int((np.asarray(lo.pareto_k) > 0.7).sum()) for label, lo in loos.items()}
    notes = ["PSIS-LOO on the alliance log-likelihood (az.loo, az.compare)."]
    notes += [
        f"{label}: {n} observations with Pareto k > 0.7 (LOO unreliable there)"
        for label, n in bad.items()
        if n
    ]
    return cmp[keep], notes
