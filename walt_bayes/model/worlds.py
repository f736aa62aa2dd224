"""Worlds the model did not generate (MODEL.md "Validation that must hold"; issue 23).

The known-truth worlds of :mod:`walt_bayes.model.simulate` draw their outcomes from the model
itself, so they cannot reveal misspecification.  The worlds here draw dispute initiation and
alliances from processes of a different design, on the covariate panel of
:func:`walt_bayes.model.simulate.simulate_covariates` (same seed, same geography, power and
regimes in every world), and state what each world says about the headline hypotheses:

- ``truth["direction_shared"]`` (BAL-1: shared threat → alliance), ``+1``, ``0`` or ``-1``;
- ``truth["direction_partner"]`` (BW-1: the partner's threat → alliance), ``+1``, ``0`` or ``-1``;
- ``truth["direction_cond1"]`` (COND-1: balancing more common than bandwagoning): the sign of
  ``shared_effect - partner_effect``, both per SD of the world's own true threat terms;

plus the generating parameters and the realised rates.  A verdict of ``supported`` on a
hypothesis whose direction here is 0 or opposite is a false positive (:func:`false_supports`).

How every world is made
-----------------------
- **True threat** ``tau[j→i, t]``, the probability that ``j`` initiates a militarised dispute
  against ``i`` in year ``t``, is a function of the covariates (below); ``init21`` is drawn from
  it, also for ``burn_in`` years before the panel (with the first year's covariates), and the
  intent inputs ``init21_past10`` / ``init2_past10`` are counted from that dispute history (with
  ``burn_in = 0`` the history starts with the panel, as after 1816 or 1945, and the measured
  intent builds up over the first ten years).  ``logistic`` threat: a logit linear in the power
  ratio, contiguity, second-order neighbourhood, offense, rivalry and a hidden per-state
  aggressiveness (close to, but not, the model's block 1).  ``step`` threat: a threshold in the
  power ratio times contiguity (``j`` at least 1.5 times as strong as a neighbour ``i``) plus a
  few *revisionist* states that attack their neighbours and second-order neighbours at a high
  rate and everyone else at a moderate one.
- **True shared threat** ``S[i,k,t] = Σ_j tau[j→i,t]·tau[j→k,t]`` over *every* third state (the
  model sums over relevant ones only), and **true partner threat**: the threat the stronger state
  poses to the weaker (or, in ``mutual``, ``tau[k→i] + tau[i→k]``); each is z-scored over the
  undirected dyad-years, and the world's effects are per SD of these.
- **Alliances** (symmetric; ``pledge12 = ally``) have the linear predictor
  ``a0 + shared_effect·z(S) + partner_effect·z(B) + ideology_effect·ideo_sim + dyad effect
  (sd dyad_sd) [+ confounder] [+ trend]``; ``a0`` is calibrated so that the long-run alliance
  rate is about ``alliance_rate``.  With ``persistence`` set, alliance status is a Markov chain on
  dyads: an allied dyad stays allied with probability ``persistence``, an unallied one forms an
  alliance with probability ``expit(linear predictor)`` (the chain starts from its long-run state,
  or from no alliance at all in the trend worlds).  Without it, status is drawn afresh every
  year from ``expit(linear predictor)``.

The worlds (:data:`WORLDS`)
---------------------------
- ``persistent``: Markov alliances (P(stay allied) 0.88), onset raised by shared threat (+1/SD).
- ``persistent_null``: the same with no threat effect on onset (only regime similarity).
- ``persistent_negative``: the same with shared threat *lowering* onset (−1/SD).
- ``trend``: Markov alliances starting from none in 1816, onset ramping up over the first third of
  the years, driven by regime similarity only; dispute history also starts in 1816.
- ``trend_jump``: the same, but onset jumps from almost nothing to its full rate a third of the way
  in (1946, as after 1945).
- ``trend_negative``: ``trend`` with shared threat lowering onset (−1/SD).
- ``mutual``: partner threat in both directions (``tau[k→i] + tau[i→k]``) lowers alliance
  (−0.8/SD), shared threat raises it (+1/SD): a balancing world the model's one-directional B
  misdescribes.
- ``other_threat``: threat from the ``step`` function with three revisionist states, disputes
  drawn from it, alliances raised by the true shared threat (+1/SD).
- ``other_threat_negative``: the same with shared threat lowering alliance (−1/SD).
- ``confounder``: an omitted smooth spatial field over the states' 2-D positions raises dispute
  initiation between neighbours and alliance between neighbours; threat has no causal effect on
  alliance.
- ``ideology_only``: alliance driven by regime similarity alone (+2 on the logit), threat none.
- ``reviewer``: the combination issue 23's reviewer used: Markov alliances (P(stay) 0.85) building
  up from none after 1816 (as ``trend``), threat from the ``step`` function with revisionist states
  (as ``other_threat``), onset by regime similarity only.
- ``reviewer_negative``: the same with shared threat lowering onset (−1/SD).

Use :func:`simulate_world` (or :func:`simulate_any`, which also accepts the model-generated worlds
of :mod:`walt_bayes.model.simulate`, as ``walt-bayes simulate --world`` does).  The panel carries
one column the model never reads, ``true_threat21`` (the true ``tau[j→i,t]``), for checks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from walt_bayes.errors import SpecError, WaltError
from walt_bayes.model.simulate import WORLDS as MODEL_WORLDS
from walt_bayes.model.simulate import Simulation, simulate, simulate_covariates
from walt_bayes.spec import resolve_spec_path

#: Sizes like the reviewer's (issue 23).
DEFAULT_STATES = 22
DEFAULT_YEARS = 24
#: Sizes of the model-generated worlds when none is given (as ``walt-bayes simulate`` had).
MODEL_WORLD_STATES = 12
MODEL_WORLD_YEARS = 10


@dataclass(frozen=True)
class WorldConfig:
    """How one misspecified world generates its outcomes (see the module docstring)."""

    description: str
    threat: str = "logistic"  # "logistic" or "step"
    shared_effect: float = 0.0  # per SD of the true shared threat, on the logit of onset/status
    partner_effect: float = 0.0  # per SD of the true partner threat
    partner_both: bool = False  # partner threat tau[k→i] + tau[i→k] (else: stronger → weaker)
    ideology_effect: float = 1.0
    persistence: float | None = None  # Markov P(stay allied); None: status drawn afresh each year
    trend: str = "none"  # "none", "ramp" (first third of the years) or "jump" (a third of the way in)
    confounder_dispute: float = 0.0  # loading of the spatial field on neighbours' dispute logit
    confounder_alliance: float = 0.0  # loading of the spatial field on neighbours' alliance logit
    alliance_rate: float = 0.12  # long-run share of allied dyad-years the intercept is calibrated to
    dispute_rate: float = 0.04  # share of directed dyad-years with init21 (logistic threat)
    dyad_sd: float = 0.5
    burn_in: int = 10  # years of dispute history before the panel (0: history starts with it)
    first_year: int = 1950
    n_revisionist: int = 3  # step threat only


PERSIST = 0.88

WORLDS: dict[str, WorldConfig] = {
    "persistent": WorldConfig(
        "Markov alliances (P(stay) 0.88); onset raised by shared threat", shared_effect=1.0,
        persistence=PERSIST),
    "persistent_null": WorldConfig(
        "Markov alliances (P(stay) 0.88); onset by regime similarity, threat none", persistence=PERSIST),
    "persistent_negative": WorldConfig(
        "Markov alliances (P(stay) 0.88); onset lowered by shared threat", shared_effect=-1.0,
        persistence=PERSIST),
    "trend": WorldConfig(
        "alliances build up from none after 1816 (Markov, onset ramps up over the first third); "
        "onset by regime similarity, threat none", persistence=PERSIST, trend="ramp", burn_in=0,
        first_year=1816),
    "trend_jump": WorldConfig(
        "Markov alliances from none; onset jumps to its full rate in 1946; regime similarity only",
        persistence=PERSIST, trend="jump", burn_in=0, first_year=1938),
    "trend_negative": WorldConfig(
        "alliances build up from none after 1816; onset lowered by shared threat", shared_effect=-1.0,
        persistence=PERSIST, trend="ramp", burn_in=0, first_year=1816),
    "mutual": WorldConfig(
        "partner threat in both directions lowers alliance, shared threat raises it (balancing)",
        shared_effect=1.0, partner_effect=-0.8, partner_both=True),
    "other_threat": WorldConfig(
        "step threat (power ratio x contiguity) plus three revisionist states; alliances raised by "
        "true shared threat", threat="step", shared_effect=1.0),
    "other_threat_negative": WorldConfig(
        "step threat plus three revisionist states; alliances lowered by true shared threat",
        threat="step", shared_effect=-1.0),
    "confounder": WorldConfig(
        "omitted smooth spatial field raises neighbours' disputes and alliances; no threat effect",
        confounder_dispute=1.2, confounder_alliance=1.5),
    "ideology_only": WorldConfig(
        "alliances by regime similarity alone; threat none", ideology_effect=2.0),
    "reviewer": WorldConfig(
        "issue 23's design: Markov alliances (P(stay) 0.85) from none after 1816, step threat with "
        "revisionists; onset by regime similarity, threat none", threat="step", persistence=0.85,
        trend="ramp", burn_in=0, first_year=1816),
    "reviewer_negative": WorldConfig(
        "issue 23's design with shared threat lowering onset", threat="step", shared_effect=-1.0,
        persistence=0.85, trend="ramp", burn_in=0, first_year=1816),
}

#: Every name ``simulate_any`` (and ``walt-bayes simulate --world``) accepts besides a spec.
ALL_WORLDS: tuple[str, ...] = tuple(MODEL_WORLDS) + tuple(WORLDS)

#: The headline hypotheses and the truth key that states each one's direction.
HEADLINE = {"BAL-1": "direction_shared", "BW-1": "direction_partner", "COND-1": "direction_cond1"}


def _expit(x):
    # Not scipy.special.expit: it differs in the last bit for some inputs, which changes the
    # true threat (``true_threat21``) of the persistent, trend, mutual, confounder and
    # ideology_only worlds, so a seed would no longer give the panel it gave.
    return 1.0 / (1.0 + np.exp(-x))


def _z(x: np.ndarray, over: np.ndarray) -> np.ndarray:
    """``x`` standardised by the mean and SD of ``x[over]``."""
    sd = float(np.std(x[over]))
    return (x - float(np.mean(x[over]))) / (sd if sd > 0 else 1.0)


def _calibrate(lin: np.ndarray, target: float) -> float:
    """The intercept ``a`` with mean(expit(a + lin)) = target (bisection)."""
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if np.mean(_expit(mid + lin)) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _sign(x: float) -> int:
    return int(np.sign(round(x, 12)))


class _Arrays:
    """Year × state × state covariate arrays of a panel from ``simulate_covariates``."""

    def __init__(self, panel: pd.DataFrame):
        self.codes = np.unique(panel["ccode1"].to_numpy())
        self.years = np.unique(panel["year"].to_numpy())
        self.n, self.t = len(self.codes), len(self.years)
        self.ii = np.searchsorted(self.codes, panel["ccode1"].to_numpy())
        self.jj = np.searchsorted(self.codes, panel["ccode2"].to_numpy())
        self.ti = np.searchsorted(self.years, panel["year"].to_numpy())
        self.panel = panel

    def matrix(self, col: str, fill: float = 0.0) -> np.ndarray:
        out = np.full((self.t, self.n, self.n), fill, dtype=float)
        out[self.ti, self.ii, self.jj] = self.panel[col].to_numpy(dtype=float)
        return out

    def state(self, col: str) -> np.ndarray:
        """(t, n) values of a column of ``j`` (``…2``)."""
        out = np.zeros((self.t, self.n))
        out[self.ti, self.jj] = self.panel[col].to_numpy(dtype=float)
        return out

    def rows(self, arr: np.ndarray) -> np.ndarray:
        """Panel-row values of a (t, n, n) array."""
        return arr[self.ti, self.ii, self.jj]


def _positions(log_capdist: np.ndarray) -> np.ndarray:
    """The states' 2-D positions (up to a rigid motion) from their distances, by classical MDS."""
    d = np.exp(log_capdist) - 50.0  # simulate_covariates adds 50 km to the Euclidean distance
    np.fill_diagonal(d, 0.0)
    n = len(d)
    j = np.eye(n) - 1.0 / n
    b = -0.5 * j @ (d**2) @ j
    vals, vecs = np.linalg.eigh(b)
    top = np.argsort(vals)[::-1][:2]
    return vecs[:, top] * np.sqrt(np.maximum(vals[top], 0.0))


def _spatial_field(pos: np.ndarray, rng: np.random.Generator, length: float = 900.0, m: int = 40) -> np.ndarray:
    """A smooth random field (random Fourier features, length scale ``length`` km) at ``pos``, z-scored."""
    omega = rng.normal(0.0, 1.0 / length, size=(m, 2))
    phase = rng.uniform(0, 2 * np.pi, size=m)
    f = np.cos(pos @ omega.T + phase).sum(axis=1)
    return (f - f.mean()) / (f.std() or 1.0)


def _threat(cfg: WorldConfig, a: _Arrays, rng: np.random.Generator, conf: np.ndarray) -> tuple[np.ndarray, dict]:
    """True threat tau[t, i, j] (j → i) and the threat function's parameters."""
    power = a.state("power2")
    ratio = power[:, None, :] - power[:, :, None]  # [t, i, j] = power_j - power_i
    contig = a.matrix("contiguous")
    neigh2 = a.matrix("neighbour2")
    off = np.eye(a.n, dtype=bool)[None]
    params: dict = {"threat_function": cfg.threat}
    if cfg.threat == "logistic":
        offense = a.state("offense2")
        rival = a.matrix("rivalry")
        aggressive = rng.normal(0.0, 0.7, size=a.n)
        mask = np.broadcast_to(~off, ratio.shape)
        lin = (0.8 * _z(ratio, mask) + 1.5 * contig + 0.6 * neigh2
               + 0.5 * _z(offense, np.ones_like(offense, bool))[:, None, :]
               + aggressive[None, None, :] + 1.0 * rival + cfg.confounder_dispute * conf[None])
        l0 = _calibrate(lin[mask], cfg.dispute_rate)
        tau = _expit(l0 + lin)
        params |= {"threat_intercept": l0, "threat_power_ratio": 0.8, "threat_contiguous": 1.5,
                   "threat_neighbour2": 0.6, "threat_offense": 0.5, "threat_rivalry": 1.0,
                   "threat_aggressive_sd": 0.7}
    elif cfg.threat == "step":
        stronger = ratio > np.log(1.5)
        rev = np.zeros(a.n, dtype=bool)
        rev[rng.choice(a.n, size=min(cfg.n_revisionist, a.n), replace=False)] = True
        near = (contig + neigh2) > 0
        tau = (0.003 + 0.10 * (stronger & (contig > 0)) + 0.015 * contig
               + rev[None, None, :] * np.where(near, 0.25, 0.05))
        tau = np.minimum(tau, 0.6)
        params |= {"revisionist_states": [int(c) for c in a.codes[rev]], "step_ratio": 1.5,
                   "step_rate": 0.10, "revisionist_rate_near": 0.25, "revisionist_rate_far": 0.05}
    else:  # pragma: no cover - configs are ours
        raise ValueError(cfg.threat)
    tau = np.where(off, 0.0, tau)
    return tau, params


def _dispute_history(tau: np.ndarray, burn_in: int, rng: np.random.Generator):
    """init21, init21_past10 and init2_past10 arrays (t, i, j) drawn from ``tau``."""
    full = np.concatenate([np.repeat(tau[:1], burn_in, axis=0), tau]) if burn_in else tau
    d = (rng.random(full.shape) < full).astype(int)
    csum = np.concatenate([np.zeros((1, *d.shape[1:]), int), np.cumsum(d, axis=0)])
    idx = np.arange(burn_in, burn_in + len(tau))
    past = csum[idx] - csum[np.maximum(idx - 10, 0)]
    past_any = past.sum(axis=1)  # [t, j]: disputes j initiated against anyone
    return d[burn_in:], past, np.broadcast_to(past_any[:, None, :], past.shape)


def _alliances(cfg: WorldConfig, lin: np.ndarray, upper: np.ndarray, rng: np.random.Generator):
    """Symmetric alliance status (t, n, n) and the calibrated intercept."""
    t_n, n = lin.shape[0], lin.shape[1]
    if cfg.persistence is not None:
        rho = cfg.persistence
        onset_target = cfg.alliance_rate * (1 - rho) / (1 - cfg.alliance_rate)
        a0 = _calibrate(lin[upper], onset_target)
    else:
        a0 = _calibrate(lin[upper], cfg.alliance_rate)
    shift = np.zeros(t_n)
    if cfg.trend == "ramp":
        ramp_years = max(t_n / 3, 1)
        shift = np.log(np.minimum(1.0, (np.arange(t_n) + 1) / ramp_years))
    elif cfg.trend == "jump":
        shift = np.where(np.arange(t_n) < t_n // 3, -4.0, 0.0)
    p = _expit(a0 + lin + shift[:, None, None])
    triu = np.triu(np.ones((n, n), bool), 1)

    def sym(x):
        x = np.where(triu, x, False)
        return x | x.T

    out = np.zeros((t_n, n, n), dtype=bool)
    if cfg.persistence is None:
        for t in range(t_n):
            out[t] = sym(rng.random((n, n)) < p[t])
        return out, a0
    prev = np.zeros((n, n), dtype=bool)
    if cfg.trend == "none":  # start from the chain's long-run state
        for _ in range(60):
            prev = sym(np.where(prev, rng.random((n, n)) < cfg.persistence, rng.random((n, n)) < p[0]))
    for t in range(t_n):
        stay = rng.random((n, n)) < cfg.persistence
        onset = rng.random((n, n)) < p[t]
        prev = sym(np.where(prev, stay, onset))
        out[t] = prev
    return out, a0


def simulate_world(
    world: str, n_states: int | None = None, n_years: int | None = None, seed: int = 0, **overrides
) -> Simulation:
    """Simulate one misspecified world.

    Parameters
    ----------
    world : str
        A name in :data:`WORLDS`.
    n_states, n_years : int, optional
        Size of the state system (default 22 states × 24 years).
    seed : int
        Integer seed; the same seed gives the same panel (and the same covariates in every world).
    **overrides
        Fields of :class:`WorldConfig` to change (e.g. ``shared_effect=0.5``, ``persistence=0.9``).

    Returns
    -------
    Simulation
        ``truth`` holds the directions (``direction_shared``, ``direction_partner``,
        ``direction_cond1``), the generating parameters and the realised rates.
    """
    if world not in WORLDS:
        raise WaltError(f"unknown misspecified world '{world}': choose one of {', '.join(WORLDS)}")
    cfg = dataclasses.replace(WORLDS[world], **overrides)
    seed = int(seed)
    n_states = DEFAULT_STATES if n_states is None else int(n_states)
    n_years = DEFAULT_YEARS if n_years is None else int(n_years)
    rng = np.random.default_rng(seed)
    panel = simulate_covariates(n_states, n_years, rng, first_year=cfg.first_year)
    # The world's own draws come from a second stream, so the covariates of a seed are the same in
    # every world whatever the world draws.
    rng = np.random.default_rng([seed, 23])
    a = _Arrays(panel)
    contig = a.matrix("contiguous")[0]
    upper = np.broadcast_to(np.triu(np.ones((a.n, a.n), bool), 1), (a.t, a.n, a.n))

    conf = np.zeros((a.n, a.n))
    field = None
    if cfg.confounder_dispute or cfg.confounder_alliance:
        field = _spatial_field(_positions(a.matrix("log_capdist")[0]), rng)
        conf = contig * (field[:, None] + field[None, :]) / 2

    tau, threat_params = _threat(cfg, a, rng, conf)
    init21, past10, past_any = _dispute_history(tau, cfg.burn_in, rng)

    lin = _alliance_predictor(cfg, a, tau, conf, upper, rng)
    ally, a0 = _alliances(cfg, lin, upper, rng)

    panel["init21"] = a.rows(init21).astype(int)
    panel["init21_past10"] = a.rows(past10).astype(int)
    panel["init2_past10"] = a.rows(past_any).astype(int)
    panel["ally"] = a.rows(ally).astype(int)
    panel["pledge12"] = panel["ally"]
    panel["true_threat21"] = a.rows(tau)
    panel.attrs["unit"] = "directed dyad-year"
    panel.attrs["name"] = f"world-{world}"

    truth = _truth(cfg, a0, threat_params, ally, upper, panel, (n_states, n_years))
    if field is not None:
        truth["confounder_field"] = {int(c): float(v) for c, v in zip(a.codes, field, strict=True)}
    return Simulation(panel=panel, truth=truth, world=world, seed=seed)


def _alliance_predictor(
    cfg: WorldConfig, a: _Arrays, tau: np.ndarray, conf: np.ndarray, upper: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The alliance linear predictor (t, n, n) without intercept: true shared and partner threat, ideology,
    dyad effects and the confounder."""
    # True shared and partner threat of each (undirected) dyad-year.
    shared = np.einsum("tij,tkj->tik", tau, tau)
    if cfg.partner_both:
        partner = tau + tau.transpose(0, 2, 1)
    else:
        power = a.state("power2")
        k_stronger = power[:, None, :] > power[:, :, None]  # [t, i, k]: k stronger than i
        partner = np.where(k_stronger, tau, tau.transpose(0, 2, 1))  # threat stronger poses to weaker
    zs, zb = _z(shared, upper), _z(partner, upper)
    ideo = a.matrix("ideo_sim")
    dyad = rng.normal(0.0, cfg.dyad_sd, size=(a.n, a.n))
    dyad = np.triu(dyad, 1) + np.triu(dyad, 1).T
    return (cfg.shared_effect * zs + cfg.partner_effect * zb + cfg.ideology_effect * ideo
            + dyad[None] + cfg.confounder_alliance * conf[None])


def _truth(
    cfg: WorldConfig, a0: float, threat_params: dict, ally: np.ndarray, upper: np.ndarray, panel: pd.DataFrame,
    size: tuple[int, int],
) -> dict:
    """The directions a fit should find, the generating parameters and the realised rates."""
    prev = ally[:-1][upper[1:]]
    now = ally[1:][upper[1:]]
    return {
        "direction_shared": _sign(cfg.shared_effect),
        "direction_partner": _sign(cfg.partner_effect),
        "direction_cond1": _sign(cfg.shared_effect - cfg.partner_effect),
        "description": cfg.description,
        **{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name != "description"},
        "alliance_intercept": float(a0),
        **threat_params,
        "n_states": size[0], "n_years": size[1],
        "alliance_rate_realised": float(ally[upper].mean()),
        "dispute_rate_realised": float(panel["init21"].mean()),
        "persistence_realised": float(now[prev].mean()) if prev.any() else float("nan"),
    }


def simulate_any(world: str, n_states: int | None = None, n_years: int | None = None, seed: int = 0) -> Simulation:
    """A model-generated world (:mod:`walt_bayes.model.simulate`: ``balancing``, ``bandwagoning``,
    ``null`` or a spec), or a misspecified one (:data:`WORLDS`).

    Raises
    ------
    WaltError
        One line naming the allowed worlds when ``world`` is none of them and not a spec.
    """
    if world in WORLDS:
        return simulate_world(world, n_states, n_years, seed)
    n_states = MODEL_WORLD_STATES if n_states is None else n_states
    n_years = MODEL_WORLD_YEARS if n_years is None else n_years
    if world not in MODEL_WORLDS:
        try:
            resolve_spec_path(world)
        except SpecError:
            raise WaltError(
                f"unknown world '{world}': choose one of {', '.join(ALL_WORLDS)}, or a model spec "
                "(a TOML path or a bundled variant name)"
            ) from None
    return simulate(world, n_states, n_years, seed)


def expected_directions(truth: dict) -> dict[str, int]:
    """The direction each headline hypothesis has in a world (``{"BAL-1": +1, …}``)."""
    return {hid: int(truth[key]) for hid, key in HEADLINE.items()}


def false_supports(truth: dict, verdicts: dict[str, str]) -> list[str]:
    """Headline hypotheses judged ``supported`` where the world's direction is 0 or opposite.

    Every headline hypothesis predicts a positive quantity (BAL-1: gamma_shared > 0, BW-1:
    gamma_partner > 0, COND-1: gamma_shared − gamma_partner > 0), so ``supported`` is wrong unless the
    world's direction is +1.
    """
    want = expected_directions(truth)
    return [h for h, v in verdicts.items() if h in want and v == "supported" and want[h] <= 0]
