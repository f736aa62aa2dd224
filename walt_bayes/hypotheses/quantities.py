"""The posterior quantities that test Walt's hypotheses: what one fit gives each hypothesis.

A quantity function takes a :class:`FitContext` (one fit: its posterior, its design, its marginal
effects) and returns an :class:`Estimate` (posterior draws and how to judge them), or raises
:class:`NotTestable` with the reason the fit cannot test the hypothesis.  The factories here
(:func:`coefficient`, :func:`contrast`, :func:`threat_effect`, :func:`input_effect`,
:func:`attribution_share`, :func:`posterior_variable`, :func:`needs_data`,
:func:`comparison_only`) make them; :mod:`walt_bayes.hypotheses.registry` wires them to the
hypotheses.

Kinds of quantity (``Estimate.scale``):

- ``log-odds``: a coefficient (per SD of a standardised term) or a contrast of coefficients; the
  ROPE is the odds-ratio ROPE on the log scale.  A single coefficient with a proper prior also gets
  a Savage–Dickey Bayes factor.
- ``probability``: an average marginal effect (AME) over the observed alliance rows, in probability
  of alliance per SD of the input (:mod:`walt_bayes.hypotheses.effects`).  The ROPE is the log-odds
  ROPE times the mean of ``p (1 - p)`` over those rows: the change an odds ratio of 0.9–1.1 per SD
  would make there.
- ``share``: a difference of shares in [-1, 1]; ROPE ± ``Thresholds.share_rope``.
- ``log-hazard``: an alliance-duration effect ``delta_*`` (hazard ratio ``exp(delta)``), judged on
  the log scale with the log-odds ROPE (a discrete-time hazard is a logit).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import xarray as xr

from walt_bayes.fit.loaded import LoadedFit, as_loaded
from walt_bayes.hypotheses.effects import MAX_DRAWS, OBSERVED_INPUTS, PATHS, Effects
from walt_bayes.model.design import BINARY_FACTORS
from walt_bayes.spec import ALLIANCE_TERMS

LOG_ODDS = "log-odds"
PROBABILITY = "probability"
SHARE = "share"
LOG_HAZARD = "log-hazard"


class NotTestable(Exception):
    """Raised by a quantity function when the fit cannot test the hypothesis."""


@dataclass
class Estimate:
    """Posterior draws of one quantity, with what is needed to judge them."""

    draws: np.ndarray
    scale: str = LOG_ODDS
    weight: float = 1.0  # multiplies the log-odds ROPE (AMEs: mean p(1-p) over the rows)
    note: str = ""
    coefficient: str | None = None  # Savage-Dickey applies to this posterior variable


# ------------------------------------------------------------------------------ context
class FitContext:
    """What the quantity functions read from one fit: its posterior, its design (or None) and the
    marginal effects, computed once per evaluation.

    The fit itself, its design and its spec are those of a
    :class:`walt_bayes.fit.loaded.LoadedFit`, shared with whoever else reads that fit; this adds
    the thinning of the marginal effects and the reasons a hypothesis is not testable.

    Parameters
    ----------
    fit : LoadedFit or xarray.DataTree
        A fit (a tree is wrapped as it is: a fake posterior from ``az.from_dict`` will do).
    max_draws : int, optional
        Thin marginal effects to at most this many posterior draws
        (:func:`walt_bayes.fit.draws.thin_index`).
    """

    def __init__(self, fit: LoadedFit | xr.DataTree, max_draws: int | None = MAX_DRAWS):
        self.fit = as_loaded(fit)
        self.max_draws = max_draws

    @property
    def tree(self) -> xr.DataTree:
        """The fit's tree."""
        return self.fit.tree

    @property
    def post(self) -> xr.Dataset:
        """The fit's posterior."""
        return self.fit.posterior

    def has(self, name: str) -> bool:
        """Whether the posterior has the variable ``name``."""
        return name in self.post.data_vars

    @cached_property
    def spec_name(self) -> str:
        """The variant's name, for the reasons (``this fit`` when the fit does not say)."""
        return str(self.tree.attrs.get("spec_name", "this fit"))

    @cached_property
    def spec_terms(self) -> tuple[str, ...] | None:
        """Alliance terms the fit's spec asked for (None when the fit stores no readable spec)."""
        if not self.tree.attrs.get("spec_toml"):
            return None
        try:
            return self.fit.spec.alliance.terms
        except Exception:  # a spec that no longer loads: the reasons fall back on the posterior
            return None

    @cached_property
    def dropped_terms(self) -> dict[str, str]:
        """Terms the design left out of this fit, with the reason (the fit's ``dropped_terms``)."""
        value = self.tree.attrs.get("dropped_terms", "{}")
        try:
            return dict(json.loads(value)) if isinstance(value, str) else dict(value)
        except (TypeError, ValueError):
            return {}

    @cached_property
    def design(self):
        """The fit's design with its observed outcomes, or None (fake posteriors, old fits)."""
        if "constant_data" not in self.tree.children:
            return None
        try:
            return self.fit.design
        except (KeyError, ValueError):
            return None

    @cached_property
    def effects(self) -> Effects:
        """The fit's marginal effects (computed on first use; NotTestable when fit and design disagree)."""
        try:
            return Effects(self.design, self.post, self.max_draws)
        except KeyError as err:  # a posterior that does not match its design
            raise NotTestable(str(err).strip("'\"")) from err

    # ------------------------------------------------------------- reasons
    def missing_term(self, term: str) -> str:
        """Why the fit has no coefficient for alliance term ``term``."""
        if term in self.dropped_terms:
            return f"term '{term}' was left out of this fit ({self.dropped_terms[term]})"
        if term not in ALLIANCE_TERMS:
            return f"the model has no term '{term}' (no variable gamma_{term} in the fit)"
        if self.spec_terms is not None and term not in self.spec_terms:
            return f"variant '{self.spec_name}' has no term '{term}'"
        return f"the fit has no 'gamma_{term}'"

    def alias(self, term: str) -> tuple[str, list[str]] | None:
        """Another term whose column is identical to ``term``'s in this panel, and the factors that
        differ (constant here), or None."""
        d = self.design
        if d is None or term not in d.terms:
            return None
        t = d.terms.index(term)
        mine = set(ALLIANCE_TERMS[term])
        for u, other in enumerate(d.terms):
            if u == t or d.term_latent[u] != d.term_latent[t]:
                continue
            if np.allclose(d.term_observed[:, t], d.term_observed[:, u]):
                theirs = set(ALLIANCE_TERMS[other])
                return other, sorted(mine ^ theirs)
        return None


QuantityFn = Callable[[FitContext], Estimate]


def coefficient(term: str) -> QuantityFn:
    """Quantity: the coefficient ``gamma_<term>`` (per SD of the standardised term)."""
    name = f"gamma_{term}"

    def draws(ctx: FitContext) -> Estimate:
        if not ctx.has(name):
            raise NotTestable(ctx.missing_term(term))
        values = np.asarray(ctx.post[name].values, dtype=float).ravel()
        alias = ctx.alias(term)
        if alias is not None:
            other, factors = alias
            extra = set(ALLIANCE_TERMS[term]) - set(ALLIANCE_TERMS[other])
            if extra:
                raise NotTestable(
                    f"term '{term}' equals term '{other}' in this panel (its factor "
                    f"{', '.join(sorted(extra))} does not vary), so {name} is not identified"
                )
            other_name = f"gamma_{other}"
            values = values + np.asarray(ctx.post[other_name].values, dtype=float).ravel()
            return Estimate(
                values,
                note=f"{name} + {other_name}: the two terms are identical in this panel "
                f"({', '.join(factors)} does not vary), only their sum is identified",
            )
        return Estimate(values, coefficient=name)

    return draws


def contrast(first: str, second: str, per_unit: bool = False) -> QuantityFn:
    """Quantity: ``gamma_first - gamma_second``; with ``per_unit``, per unit of each (binary) input
    rather than per SD of its term (needs the design's term scales)."""

    def draws(ctx: FitContext) -> Estimate:
        for term in (first, second):
            if not ctx.has(f"gamma_{term}"):
                raise NotTestable(ctx.missing_term(term))
        a = np.asarray(ctx.post[f"gamma_{first}"].values, dtype=float).ravel()
        b = np.asarray(ctx.post[f"gamma_{second}"].values, dtype=float).ravel()
        d = ctx.design
        if per_unit and d is not None and first in d.terms and second in d.terms:
            sa = d.term_scale[d.terms.index(first)]
            sb = d.term_scale[d.terms.index(second)]
            return Estimate(a / sa - b / sb, note="log-odds per unit of each indicator (gamma / SD of the term)")
        note = "per SD of each term" + (" (no design in the fit: per-unit scales unknown)" if per_unit else "")
        return Estimate(a - b, note=note)

    return draws


def _need_threat(ctx: FitContext, source: str, path: str) -> None:
    d = ctx.design
    if d is None:
        raise NotTestable("the fit stores no model design (constant_data), needed for marginal effects")
    if not d.has_threat:
        raise NotTestable(f"variant '{ctx.spec_name}' has no threat block")
    if source not in d.sources:
        raise NotTestable(f"the threat block of '{ctx.spec_name}' has no '{source}' source")
    factors = {"S": "shared threat (S)", "B": "partner threat (B)", "T": "total threat (T)"}
    if not set(PATHS[path]) & set(d.term_latent):
        raise NotTestable(f"the alliance equation of '{ctx.spec_name}' has no {factors[path]} term")


def _log_odds_equivalent(e) -> str:
    if e.weight <= 0:
        return ""
    return f" (≈ {np.mean(e.draws) / e.weight:.3g} log-odds at the observed rows: AME / mean p(1−p) = {e.weight:.3g})"


def threat_effect(source: str, path: str, powerful: bool = False) -> QuantityFn:
    """Quantity: AME of source ``source``'s threat input on P(alliance) through ``path``.

    With ``powerful``, only the threat posed by states in the top half of the power composite is
    raised (BAL-3, BW-3: "the nearer a *powerful* state"); the B path then averages over the rows
    whose partner is such a state.
    """

    def draws(ctx: FitContext) -> Estimate:
        _need_threat(ctx, source, path)
        eff = ctx.effects
        note = ""
        key = ("threat", source, path, "all")
        if powerful:
            if eff.get(("threat", source, path, "powerful")) is not None:
                key = ("threat", source, path, "powerful")
                note = "threat of states in the top half of the power composite; "
            else:
                note = "no power source in this fit: proximity of every state; "
        e = eff.get(key)
        if e is None:
            raise NotTestable(f"no marginal effect of {source} through {path} in this fit")
        note += f"AME, probability of alliance per SD of the {source} input, over {e.rows:,} rows"
        return Estimate(e.draws, scale=PROBABILITY, weight=e.weight, note=note + _log_odds_equivalent(e))

    return draws


def input_effect(factor: str) -> QuantityFn:
    """Quantity: AME of an observed input (every term containing it: main effect and interactions)."""
    main = OBSERVED_INPUTS[factor]

    def draws(ctx: FitContext) -> Estimate:
        if not ctx.has(f"gamma_{main}"):
            raise NotTestable(ctx.missing_term(main))
        d = ctx.design
        if d is None:
            # A fake posterior or an old fit: fall back to the coefficient itself.
            return coefficient(main)(ctx)
        e = ctx.effects.get(("input", factor))
        if e is None:
            raise NotTestable(ctx.missing_term(main))
        terms = [t for t in d.terms if factor in ALLIANCE_TERMS[t]]
        unit = "switching it on (0 → 1)" if factor in BINARY_FACTORS else "per SD"
        note = f"AME, probability of alliance {unit}, through {', '.join('gamma_' + t for t in terms)}"
        # A discrete change is not linear in the log-odds: no log-odds equivalent for binary inputs.
        note += f" (mean p(1−p) = {e.weight:.3g})" if factor in BINARY_FACTORS else _log_odds_equivalent(e)
        return Estimate(e.draws, scale=PROBABILITY, weight=e.weight, note=note)

    return draws


def attribution_share() -> QuantityFn:
    """Quantity (COND-1): among observed alliances, share of the predicted propensity due to shared
    threat minus the share due to partner threat (positive contributions of every S and B term)."""

    def draws(ctx: FitContext) -> Estimate:
        for term in ("shared", "partner"):
            if not ctx.has(f"gamma_{term}"):
                raise NotTestable(ctx.missing_term(term))
        if ctx.design is None:
            raise NotTestable("the fit stores no model design (constant_data), needed for the shares")
        e = ctx.effects.get(("share",))
        if e is None:
            raise NotTestable("no observed alliance or no threat block in this fit")
        return Estimate(
            e.draws, scale=SHARE,
            note=f"balancing share − bandwagoning share of the threat-driven log-odds over {e.rows:,} alliances",
        )

    return draws


def posterior_variable(name: str, block: str, scale: str = LOG_HAZARD) -> QuantityFn:
    """Quantity: a parameter of a block that may be absent (alliance duration, wartime joining)."""

    def draws(ctx: FitContext) -> Estimate:
        if not ctx.has(name):
            raise NotTestable(f"this fit has no {block} ({name})")
        note = "log hazard ratio (hazard ratio = exp)" if scale == LOG_HAZARD else ""
        return Estimate(np.asarray(ctx.post[name].values, dtype=float).ravel(), scale=scale, note=note,
                        coefficient=name)

    return draws


def needs_data(term: str, data: str) -> QuantityFn:
    """Quantity for a hypothesis the bundled model cannot test without extra data: the coefficient
    ``gamma_<term>`` once a spec adds such a term."""
    name = f"gamma_{term}"

    def draws(ctx: FitContext) -> Estimate:
        if not ctx.has(name):
            raise NotTestable(f"the model has no term '{term}' and the panel no {data}")
        return Estimate(np.asarray(ctx.post[name].values, dtype=float).ravel(), coefficient=name)

    return draws


def comparison_only() -> QuantityFn:
    """Quantity for a variant-level claim: never testable on one fit (a comparison answers it)."""

    def draws(ctx: FitContext) -> Estimate:
        raise NotTestable("a variant-level claim: one fit cannot answer it, a comparison of fits does")

    return draws
