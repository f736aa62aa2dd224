"""Simulate panels from the generative model with known parameters.

Worlds with known truth (MODEL.md "Validation"): a *balancing* world where
shared threat draws states together and partner threat pushes them apart, a
*bandwagoning* world with the reverse, and a *null* world where neither
matters.  Covariates (geography, power, regimes, past disputes) are drawn
from simple processes; outcomes are drawn from the model itself
(:func:`walt_bayes.model.build.build_model` with parameters fixed by
``pm.do``), so what is simulated is exactly what is fitted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm

from walt_bayes.errors import WaltError
from walt_bayes.model.build import build_model
from walt_bayes.model.design import build_design
from walt_bayes.spec import ModelSpec, load_spec

WORLDS = ("balancing", "bandwagoning", "null")

#: True alliance effects per world (standardised scale).  The null world has no threat
#: effect at all: its interactions with strength and weakness are zero too (with them at
#: their BASE_TRUTH values, shared threat would still matter for strong states, and
#: balance_of_threat beat null by 2.1 SE in grouped k-fold on a 16-state null world).
WORLD_GAMMAS: dict[str, dict[str, float]] = {
    "balancing": {"gamma_shared": 1.0, "gamma_partner": -0.8},
    "bandwagoning": {"gamma_shared": -0.8, "gamma_partner": 1.0},
    "null": {"gamma_shared": 0.0, "gamma_partner": 0.0,
             "gamma_shared_x_strength": 0.0, "gamma_partner_x_weak_x_major": 0.0},
}

#: True values shared by every world.
BASE_TRUTH: dict[str, float] = {
    "beta_power": 0.8,
    "beta_proximity": 1.0,
    "beta_offense": 0.5,
    "beta_intent": 0.8,
    "lambda_0": -3.0,
    "mu_alpha": -2.0,
    "sigma_alpha": 0.3,
    "sigma_dyad": 0.6,
    "sigma_year": 0.3,
    "tau_beta": 0.25,
    # The model-generated worlds have no source heterogeneity (threat is the model's linear
    # function of the inputs); worlds.py's worlds carry a hidden per-state aggressiveness.
    "sigma_source": 0.0,
    "gamma_shared_x_strength": 0.3,
    "gamma_partner_x_weak_x_major": 0.3,
    "gamma_ideology": 0.4,
    "control": 0.2,
    "delta_0": -2.0,
}


@dataclass
class Simulation:
    """A simulated panel and the true parameter values that produced it."""

    panel: pd.DataFrame
    truth: dict[str, float]
    world: str
    seed: int


def simulate_covariates(n_states: int, n_years: int, rng: np.random.Generator, first_year: int = 1950):
    """Draw a directed dyad-year panel of covariates (no outcomes yet)."""
    if n_states < 4 or n_years < 1:
        raise WaltError("simulate: need at least 4 states and 1 year")
    codes = np.arange(1, n_states + 1) * 10
    xy = rng.uniform(0, 3000, size=(n_states, 2))
    dist = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)) + 50.0
    contiguous = (dist < 900).astype(int)
    np.fill_diagonal(contiguous, 0)
    neighbour2 = ((contiguous @ contiguous) > 0).astype(int)
    np.fill_diagonal(neighbour2, 0)
    neighbour2[contiguous == 1] = 0
    region = np.where(xy[:, 0] < 1500, "west", "east")
    base_power = rng.normal(-5.0, 1.2, size=n_states)
    aggressive = rng.normal(0.0, 0.8, size=n_states)
    regimes = rng.integers(0, 3, size=n_states)
    rival = np.triu((rng.random((n_states, n_states)) < 0.15) & (contiguous == 1), 1)
    rival = (rival | rival.T).astype(int)
    rows = []
    power = base_power.copy()
    for t in range(n_years):
        year = first_year + t
        power = power + rng.normal(0, 0.08, size=n_states)
        major = np.zeros(n_states, dtype=int)
        major[np.argsort(power)[-2:]] = 1
        offense = 0.6 * (power - power.mean()) + rng.normal(0, 0.7, size=n_states)
        if t > 0:
            flip = rng.random(n_states) < 0.04
            regimes = np.where(flip, rng.integers(0, 3, size=n_states), regimes)
        illegit = (rng.random(n_states) < 0.1).astype(int)
        past_any = rng.poisson(np.exp(0.3 + aggressive))
        i, j = np.where(~np.eye(n_states, dtype=bool))
        past_dyad = rng.poisson(0.25 * np.exp(aggressive[j]) * (1 + 2 * contiguous[i, j] + 2 * rival[i, j]))
        aid = (major[j] == 1) & (rng.random(len(i)) < 0.15)
        rows.append(
            pd.DataFrame(
                {
                    "ccode1": codes[i], "ccode2": codes[j], "year": year,
                    "region1": region[i], "region2": region[j],
                    "power1": power[i], "power2": power[j],
                    "major1": major[i], "major2": major[j],
                    "offense1": offense[i], "offense2": offense[j],
                    "contiguous": contiguous[i, j], "log_capdist": np.log(dist[i, j]),
                    "neighbour2": neighbour2[i, j],
                    "init21": 0, "init21_past10": np.minimum(past_dyad, 10),
                    "init2_past10": past_any[j], "rivalry": rival[i, j],
                    "ally": 0, "pledge12": 0,
                    "ideo_sim": (regimes[i] == regimes[j]).astype(float),
                    "regime1": regimes[i].astype(str), "regime2": regimes[j].astype(str),
                    "illegit1": illegit[i], "illegit2": illegit[j],
                    "aid21": aid.astype(int), "aid12": 0,
                }
            )
        )
    panel = pd.concat(rows, ignore_index=True)
    # aid12 mirrors aid21 of the reverse dyad.
    rev = panel.set_index(["ccode2", "ccode1", "year"])["aid21"]
    panel["aid12"] = rev.reindex(pd.MultiIndex.from_frame(panel[["ccode1", "ccode2", "year"]])).to_numpy()
    return panel


def world_spec(world: str | ModelSpec) -> ModelSpec:
    """The spec that generates a world: balance of threat's structure."""
    if isinstance(world, ModelSpec):
        return world
    if world not in WORLDS:
        return load_spec(world)
    return load_spec("balance_of_threat")


def true_values(spec: ModelSpec, world: str, design, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """True parameter values for every free variable of the model built from ``spec``."""
    gammas = WORLD_GAMMAS.get(world, WORLD_GAMMAS["balancing"])
    truth: dict[str, np.ndarray] = {}
    model = build_model(design, spec)
    for rv in model.free_RVs:
        name = rv.name
        shape = tuple(model.dim_lengths[d].eval() for d in model.named_vars_to_dims.get(name, ()))
        if name in gammas:
            value = gammas[name]
        elif name.startswith(("gamma_", "delta_", "join_")):
            value = BASE_TRUTH.get(name, 0.0)
        elif name.startswith("control_"):
            value = BASE_TRUTH["control"]
        elif name == "z_source":
            # From a child stream, so that adding source intercepts to a spec leaves every
            # other draw of the simulation (and the panels of earlier versions) as it was.
            value = rng.spawn(1)[0].normal(size=shape)
            value = value - value.mean(axis=-1, keepdims=True)
        elif name.startswith("z_"):
            value = rng.normal(size=shape)
            if "ZeroSum" in type(rv.owner.op).__name__:  # zero-sum over the last axis
                value = value - value.mean(axis=-1, keepdims=True)
        elif name == "alpha_dyad_allied":
            # Centred dyad intercepts (controls' dyad means left at 0 in the truth).
            value = BASE_TRUTH["mu_alpha"] + BASE_TRUTH["sigma_dyad"] * rng.normal(size=shape)
        elif name == "tau_beta":
            value = np.full(shape, BASE_TRUTH["tau_beta"])
        else:
            value = BASE_TRUTH[name]
        truth[name] = np.asarray(value, dtype=float).reshape(shape) if shape else np.asarray(value, float)
    return truth


def simulate(
    world: str | ModelSpec = "balancing", n_states: int = 12, n_years: int = 10, seed: int = 0
) -> Simulation:
    """Simulate a panel from the generative model.

    Parameters
    ----------
    world : {"balancing", "bandwagoning", "null"} or ModelSpec or path
        Which truth to impose.  A spec (or its path) simulates that variant with
        balancing-world effects for shared and partner threat.
    n_states, n_years : int
        Size of the simulated state system.
    seed : int
        Integer seed; the same seed gives the same panel.

    Returns
    -------
    Simulation
    """
    seed = int(seed)
    rng = np.random.default_rng(seed)
    # Only disputes and alliances are drawn: spell endings are a function of the drawn
    # alliances, and wartime joining needs war data (see draw_duration_outcomes below).
    spec = dataclasses.replace(world_spec(world), duration=None, joining=None)
    world_name = world if isinstance(world, str) and world in WORLDS else "spec"
    panel = simulate_covariates(n_states, n_years, rng)
    # Block 1: draw dispute initiation from the threat model.
    panel["init21"] = (rng.random(len(panel)) < 0.05).astype(int)  # placeholder to build the design
    design = build_design(panel, spec, name="simulation")
    truth = true_values(spec, world_name, design, rng)
    if design.has_threat:
        beta = np.array([truth[f"beta_{s}"] for s in design.sources])
        if "z_beta" in truth:
            beta = (beta[:, None] + truth["tau_beta"][:, None] * truth["z_beta"]).T
            theta = (design.threat_X * beta[design.threat_group]).sum(axis=1)
        else:
            theta = design.threat_X @ beta
        if "z_source" in truth:  # the threatening states' own intercepts
            theta = theta + truth["sigma_source"] * truth["z_source"][design.threat_src]
        p = 1 / (1 + np.exp(-(truth["lambda_0"] + theta)))
        panel["init21"] = (rng.random(len(panel)) < p).astype(int)
        design = build_design(panel, spec, name="simulation")
    # Block 2: draw alliances from the model with every parameter fixed.
    model = build_model(design, spec)
    fixed = pm.do(model, {model[name]: value for name, value in truth.items() if name in model.named_vars})
    ally = pm.draw(fixed["alliance"], random_seed=rng)
    keys = design.ally_keys
    drawn = pd.DataFrame({"ccode1": keys["ccode1"], "ccode2": keys["ccode2"], "year": keys["year"], "a": ally})
    mirrored = drawn.rename(columns={"ccode1": "ccode2", "ccode2": "ccode1"})
    both = pd.concat([drawn, mirrored], ignore_index=True).drop_duplicates(["ccode1", "ccode2", "year"])
    panel = panel.drop(columns=["ally", "pledge12"]).merge(both, on=["ccode1", "ccode2", "year"], how="left")
    panel["ally"] = panel.pop("a").fillna(0).astype(int)
    panel["pledge12"] = panel["ally"]
    panel.attrs["unit"] = "directed dyad-year"
    panel.attrs["name"] = f"simulated-{world_name}"
    flat = {k: float(v) for k, v in truth.items() if np.ndim(v) == 0}
    return Simulation(panel=panel, truth=flat, world=world_name, seed=seed)


def draw_duration_outcomes(design, spec: ModelSpec, values: dict[str, float | np.ndarray], seed: int) -> np.ndarray:
    """Draw ``alliance_end`` from the model with parameters fixed (``pm.do``), for recovery checks.

    The spell-years at risk stay those of the design (each row is a conditionally
    independent Bernoulli in the model, so this is a draw from the block's likelihood).
    ``values`` must fix every free variable the block depends on (with the threat block,
    its parameters too).

    Parameters
    ----------
    design : Design
        With ``design.duration``.
    spec : ModelSpec
    values : dict
        Variable name → value for every free variable the block depends on.
    seed : int
        Integer seed of the draw.

    Returns
    -------
    numpy.ndarray of int64
        One 0/1 outcome per spell-year at risk.
    """
    model = build_model(design, spec)
    fixed = pm.do(model, {model[k]: v for k, v in values.items() if k in model.named_vars})
    return np.asarray(pm.draw(fixed["alliance_end"], random_seed=int(seed)), dtype=np.int64)
