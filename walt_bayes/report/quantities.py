"""Posterior-derived quantities for the reports, computed from a saved fit only.

Everything here reads a loaded fit (:class:`ReportFit`, a
:class:`walt_bayes.fit.loaded.LoadedFit` with its states' names and regions): nothing refits or
resamples.  Tables of fewer draws than the fit has take them evenly spaced
(:func:`walt_bayes.fit.draws.thin_index`), as every other table of a fit does.

The report cells import every quantity from here (``from walt_bayes.report import
quantities as q``); this module computes the data and model facts itself and re-exports
the rest from one module per family:

- :mod:`~walt_bayes.report.fit_view` — :class:`ReportFit`, names and regions of states,
  :func:`hdi`, the network checks of a fit;
- :mod:`~walt_bayes.report.threat_quantities` — threat on the probability scale per
  directed dyad-year ``tau = logistic(lambda_0 + sum_s x_s * beta[g(i), s])`` with
  intervals, and threat networks;
- :mod:`~walt_bayes.report.predictive_checks` — alliance rates in the posterior (and
  prior) predictive draws, overall, by year and by region, against the observed rate;
  calibration bins of the posterior mean alliance probability;
- :mod:`~walt_bayes.report.verdict_text` — the plain-language summary of the evidence;
- :mod:`~walt_bayes.report.comparison` — the ranked elpd table of several fits.

Intervals are :data:`walt_bayes.fit.diagnostics.CI_PROB` highest-density intervals.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from walt_bayes.fit.diagnostics import CI_PROB
from walt_bayes.panel.build import PANEL_SOURCES
from walt_bayes.paths import bundled_path
from walt_bayes.report.comparison import ELPD_COLUMNS, compare_elpd, fit_labels
from walt_bayes.report.fit_view import (
    ReportFit,
    alliance_probability,
    fit_panel,
    hdi,
    load_report_fit,
    network_checks,
    stacked,
    state_labels,
    state_regions,
)
from walt_bayes.report.predictive_checks import (
    brier_score,
    calibration_bins,
    network_checks_table,
    predictive_rates,
    rate_draws,
)
from walt_bayes.report.threat_quantities import (
    busiest_year,
    dyad_threat_series,
    parse_dyads,
    strongest_dyads,
    threat_draws,
    threat_network,
    threat_table,
    threat_weights,
)
from walt_bayes.report.verdict_text import plain_summary
from walt_bayes.sources.registry import citations
from walt_bayes.spec import DEFAULT_PRIORS

__all__ = [
    "DATA_DRIVEN_MU",
    "ELPD_COLUMNS",
    "ReportFit",
    "alliance_probability",
    "brier_score",
    "busiest_year",
    "calibration_bins",
    "compare_elpd",
    "data_overview",
    "data_sources",
    "dyad_threat_series",
    "effect_names",
    "effects_table",
    "fit_labels",
    "fit_panel",
    "hdi",
    "load_report_fit",
    "network_checks",
    "network_checks_table",
    "observed_by_year",
    "parse_dyads",
    "plain_summary",
    "predictive_rates",
    "priors_table",
    "rate_draws",
    "sampler_facts",
    "stacked",
    "state_labels",
    "state_regions",
    "strongest_dyads",
    "threat_draws",
    "threat_network",
    "threat_table",
    "threat_weights",
]

#: Intercepts whose prior mean is data-driven (the logit of the observed rate of this outcome).
DATA_DRIVEN_MU = {"lambda_0": "dispute", "mu_alpha": "alliance", "delta_0": "alliance-ending"}


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
