"""The registry of Walt's hypotheses and the posterior quantities that test them.

Each entry has the id of WALT_HYPOTHESES.md, a one-line statement, its family, the quantity, the
predicted direction, the data it needs and a function from a fit to posterior draws.  A hypothesis
the fit cannot test is reported ``not testable`` with the reason and the data that would make it
testable — never dropped.

Each quantity is a function of one fit (:mod:`walt_bayes.hypotheses.quantities`, which also says
how each kind of quantity is judged).

Hypotheses with several parts (BAL-3, COND-2, COND-3, IDEO-3) are conjunctions: each part is a row
of its own (``BAL-3a``, ``BAL-3b``) and the hypothesis' row combines them
(:func:`walt_bayes.hypotheses.verdicts.combine`).  A part marked ``in_verdict=False`` (COND-1's
attribution share) is reported beside the verdict but does not enter it.  Claims that need more
than one fit (family ``VARIANT``) name the ``walt-bayes compare`` run that answers them.

Blocks that do not exist yet are wired in already: a fit whose posterior contains ``delta_war_won``
(``delta_threat_rise``, ``delta_leninist``, ``delta_ideological``) or ``join_winner`` gets BAL-6
(BW-6, IDEO-2, IDEO-5) or COND-5 tested without changes here.
"""

from __future__ import annotations

from dataclasses import dataclass

from walt_bayes.hypotheses.quantities import (
    LOG_HAZARD,
    LOG_ODDS,
    PROBABILITY,
    SHARE,
    Estimate,
    FitContext,
    NotTestable,
    QuantityFn,
    attribution_share,
    coefficient,
    comparison_only,
    contrast,
    input_effect,
    needs_data,
    posterior_variable,
    threat_effect,
)

__all__ = [  # the quantities' names are importable from here, as before they moved
    "LOG_HAZARD",
    "LOG_ODDS",
    "PROBABILITY",
    "REGISTRY",
    "SHARE",
    "WALT_IDS",
    "Estimate",
    "FitContext",
    "Hypothesis",
    "NotTestable",
    "Part",
    "QuantityFn",
    "register",
    "single",
]

# ------------------------------------------------------------------------------ registry
@dataclass(frozen=True)
class Part:
    """One posterior quantity of a hypothesis, with its predicted direction."""

    quantity: str
    direction: int  # +1: predicted > 0; -1: predicted < 0
    draws: QuantityFn
    needs: str
    suffix: str = ""  # "a", "b" for multi-part hypotheses
    in_verdict: bool = True


@dataclass(frozen=True)
class Hypothesis:
    """One of Walt's hypotheses and how walt-bayes tests it."""

    id: str
    family: str
    statement: str
    parts: tuple[Part, ...]
    pair: str | None = None  # the hypothesis making the opposite prediction (shown side by side)
    comparison: str | None = None  # a variant-level comparison answering a clause one fit cannot
    opposite: str = ""  # what the rival theory predicts for this quantity
    same_quantity_as_pair: bool = False  # BAL-5/BW-5: one quantity, opposite predictions

    @property
    def quantity(self) -> str:
        """What is estimated: the one part's quantity, or every part's with its suffix."""
        if len(self.parts) == 1:
            return self.parts[0].quantity
        return "; ".join(f"({p.suffix}) {p.quantity}" for p in self.parts)

    @property
    def direction(self) -> int:
        """The predicted sign of the first part."""
        return self.parts[0].direction

    @property
    def direction_text(self) -> str:
        """The predicted sign of each part, as text (``> 0``, ``a: > 0; b: < 0``)."""
        sign = {1: "> 0", -1: "< 0"}
        if len(self.parts) == 1:
            return sign[self.parts[0].direction]
        return "; ".join(f"{p.suffix}: {sign[p.direction]}" for p in self.parts)

    @property
    def needs(self) -> str:
        """What the parts need to be testable, each once."""
        return "; ".join(dict.fromkeys(p.needs for p in self.parts))

    @property
    def draws(self) -> QuantityFn:
        """The first part's quantity function."""
        return self.parts[0].draws


REGISTRY: dict[str, Hypothesis] = {}


def register(h: Hypothesis) -> Hypothesis:
    """Add a hypothesis to the registry (ids are unique)."""
    if h.id in REGISTRY:
        raise ValueError(f"duplicate hypothesis id {h.id}")
    REGISTRY[h.id] = h
    return h


def single(quantity: str, direction: int, draws: QuantityFn, needs: str) -> tuple[Part, ...]:
    """The parts of a hypothesis with one quantity."""
    return (Part(quantity, direction, draws, needs),)


SECURITY = "a variant with the threat block and shared/partner terms (balance_of_threat or full)"
THREAT = (
    "a variant whose threat block has the {source} source and whose alliance equation has {term} "
    "(balance_of_threat or full)"
)
FULL = "the full variant (term '{term}') on a panel with {data}"
DURATION = (
    "alliance spells with start and end years and the duration block (MODEL.md block 3) fitted "
    "on them, with {data}"
)
COMPARE = "`walt-bayes compare RUN_{a} RUN_{b}` (runs of {a} and {b} on the same data; out-of-sample ELPD, LOO)"
VAR_THREAT = COMPARE.format(a="balance_of_threat", b="balance_of_power")
VAR_IDEOLOGY = COMPARE.format(a="balance_of_threat", b="ideology")
VAR_NULL = COMPARE.format(a="balance_of_threat", b="null")


def _threat_needs(source: str, path: str) -> str:
    term = {"S": "a shared-threat term", "B": "a partner-threat term"}[path]
    return THREAT.format(source=source, term=term)


# Balancing ------------------------------------------------------------------------------
register(Hypothesis(
    id="BAL-1", family="BAL",
    statement="States facing an external threat align with others to oppose the threatening state.",
    parts=single("gamma_shared: effect of a threat shared by i and k on an i–k alliance (per SD)", +1,
                 coefficient("shared"), SECURITY),
    pair="BW-1", opposite="bandwagoning: ≤ 0",
))
register(Hypothesis(
    id="BAL-2", family="BAL",
    statement="The greater the threatening state's aggregate power, the more others align against it.",
    parts=single("AME of third states' power on alliances among the states they threaten "
                 "(beta_power · shared-threat path; B and T held)", +1,
                 threat_effect("power", "S"), _threat_needs("power", "S")),
    pair="BW-2", comparison=VAR_THREAT,
))
register(Hypothesis(
    id="BAL-3", family="BAL",
    statement="The nearer a powerful state, the more those nearby align against it; neighbours are less "
              "likely to be allies than states separated by one other power.",
    parts=(
        Part("AME of powerful third states' proximity on alliances among the states they threaten "
             "(beta_proximity · shared-threat path)", +1, threat_effect("proximity", "S", powerful=True),
             _threat_needs("proximity", "S"), suffix="a"),
        Part("gamma_contiguous − gamma_second_order_neighbour (log-odds, contiguous vs second-order "
             "neighbours)", -1, contrast("contiguous", "second_order_neighbour", per_unit=True),
             "the full variant (terms contiguous and second_order_neighbour) on a panel with contiguity",
             suffix="b"),
    ),
    pair="BW-3", comparison=VAR_THREAT,
))
register(Hypothesis(
    id="BAL-4", family="BAL",
    statement="The greater a state's offensive capabilities, the more others align against it "
              "(defensive coalitions form).",
    parts=single("AME of third states' offensive capability on alliances among the states they threaten "
                 "(beta_offense · shared-threat path)", +1,
                 threat_effect("offense", "S"), _threat_needs("offense", "S")),
    pair="BW-4", comparison=VAR_THREAT,
))
register(Hypothesis(
    id="BAL-5", family="BAL",
    statement="The more aggressive a state's perceived intentions, the more others align against it.",
    parts=single("AME of third states' aggressive intentions on alliances against them "
                 "(beta_intent · shared-threat path)", +1,
                 threat_effect("intent", "S"), _threat_needs("intent", "S")),
    pair="BW-5", opposite="bandwagoning (BW-5): < 0", comparison=VAR_THREAT, same_quantity_as_pair=True,
))
register(Hypothesis(
    id="BAL-6", family="BAL",
    statement="Alliances formed in wartime disintegrate once the enemy is defeated.",
    parts=single("delta_war_won: log hazard ratio of ending for wartime alliances after the common "
                 "enemy's defeat", +1,
                 posterior_variable("delta_war_won", "alliance-duration block"),
                 DURATION.format(data="the war each alliance formed in and its outcome (COW inter-state "
                                      "wars: dates, sides, winner)")),
    pair="BW-6",
))

# Bandwagoning ---------------------------------------------------------------------------
register(Hypothesis(
    id="BW-1", family="BW",
    statement="States facing an external threat ally with the most threatening power.",
    parts=single("gamma_partner: effect of the threat k poses to i on an i–k alliance (per SD)", +1,
                 coefficient("partner"), SECURITY),
    pair="BAL-1", opposite="balancing: ≤ 0",
))
register(Hypothesis(
    id="BW-2", family="BW",
    statement="The greater a state's aggregate power, the more others align with it.",
    parts=single("AME of k's power on an i–k alliance through the threat k poses (beta_power · "
                 "partner-threat path; S and T held)", +1,
                 threat_effect("power", "B"), _threat_needs("power", "B")),
    pair="BAL-2", opposite="balancing: ≤ 0",
))
register(Hypothesis(
    id="BW-3", family="BW",
    statement="The nearer a powerful state, the more those nearby align with it.",
    parts=single("AME of a powerful k's proximity on an i–k alliance through the threat k poses "
                 "(proximity × k's power: rows whose partner is in the top half of the power composite)",
                 +1, threat_effect("proximity", "B", powerful=True), _threat_needs("proximity", "B")),
    pair="BAL-3", opposite="balancing: ≤ 0",
))
register(Hypothesis(
    id="BW-4", family="BW",
    statement="The greater a state's offensive capabilities, the more others align with it.",
    parts=single("AME of k's offensive capability on an i–k alliance through the threat k poses", +1,
                 threat_effect("offense", "B"), _threat_needs("offense", "B")),
    pair="BAL-4", opposite="balancing: ≤ 0",
))
register(Hypothesis(
    id="BW-5", family="BW",
    statement="The more aggressive a state's perceived intentions, the less others align against it.",
    parts=single("AME of third states' aggressive intentions on alliances against them "
                 "(beta_intent · shared-threat path; the quantity of BAL-5)", -1,
                 threat_effect("intent", "S"), _threat_needs("intent", "S")),
    pair="BAL-5", opposite="balancing (BAL-5): > 0", same_quantity_as_pair=True,
))
register(Hypothesis(
    id="BW-6", family="BW",
    statement="Alliances formed to oppose a threat disintegrate when the threat becomes serious.",
    parts=single("delta_threat_rise: log hazard ratio of ending as the common threat grows", +1,
                 posterior_variable("delta_threat_rise", "alliance-duration block"),
                 DURATION.format(data="the change in shared threat over each spell (computed from the "
                                      "threat block)")),
    pair="BAL-6", opposite="balancing: < 0",
))

# Conditions -----------------------------------------------------------------------------
register(Hypothesis(
    id="COND-1", family="COND",
    statement="Balancing is more common than bandwagoning.",
    parts=(
        Part("gamma_shared − gamma_partner (per SD of each threat term)", +1,
             contrast("shared", "partner"), SECURITY, suffix="a"),
        Part("share of the threat-driven alliance propensity among observed alliances due to shared "
             "threat minus the share due to partner threat", +1, attribution_share(), SECURITY,
             suffix="b", in_verdict=False),
    ),
))
register(Hypothesis(
    id="COND-2", family="COND",
    statement="The stronger the state, the more it balances; weak states balance against weak states but "
              "may bandwagon with threatening great powers.",
    parts=(
        Part("gamma_shared_x_strength", +1, coefficient("shared_x_strength"),
             "balance_of_threat or full (term shared_x_strength)", suffix="a"),
        Part("gamma_partner_x_weak_x_major", +1, coefficient("partner_x_weak_x_major"),
             "balance_of_threat or full (term partner_x_weak_x_major)", suffix="b"),
    ),
))
register(Hypothesis(
    id="COND-3", family="COND",
    statement="The likelier allied support, the more states balance; when support is certain, "
              "free-riding and buck-passing rise.",
    parts=(
        Part("gamma_shared_x_support (shared threat × expected support, linear)", +1,
             coefficient("shared_x_support"), "the full variant (term shared_x_support)", suffix="a"),
        Part("gamma_shared_x_support_sq (quadratic: concave)", -1,
             coefficient("shared_x_support_sq"), "the full variant (term shared_x_support_sq)", suffix="b"),
    ),
))
register(Hypothesis(
    id="COND-4", family="COND",
    statement="The more unalterably aggressive a state seems, the more others balance against it.",
    parts=single("gamma_shared_x_persistent_aggression (shared threat from rivals / repeated initiators)", +1,
                 coefficient("shared_x_persistent_aggression"),
                 FULL.format(term="shared_x_persistent_aggression", data="rivalries or dispute histories")),
))
register(Hypothesis(
    id="COND-5", family="COND",
    statement="In wartime, the closer one side is to victory, the more others bandwagon with it.",
    parts=single("join_winner: log-odds that a state joining an ongoing war joins the eventual winner, "
                 "over the chance share given the sides' sizes", +1,
                 posterior_variable("join_winner", "wartime-joining model", scale=LOG_ODDS),
                 "inter-state war participation with entry dates and sides (COW inter-state wars) and the "
                 "wartime-joining model (MODEL.md)"),
))

# Ideology -------------------------------------------------------------------------------
register(Hypothesis(
    id="IDEO-1", family="IDEO",
    statement="The more similar two states' domestic ideologies, the likelier they ally.",
    parts=single("AME of regime similarity (gamma_ideology and its interactions) on P(alliance)", +1,
                 input_effect("ideo_sim"), "a variant with the ideology term (ideology or full) and regime data"),
    comparison=VAR_IDEOLOGY + " — for 'smaller than the security effects'",
))
register(Hypothesis(
    id="IDEO-2", family="IDEO",
    statement="The more centralised and hierarchical the ideology (Leninist), the more conflictive and "
              "fragile its alliances; monarchies and democracies sustain alliances better.",
    parts=single("delta_leninist: log hazard ratio of ending, alliances among Leninist one-party states vs "
                 "among democracies/monarchies", +1,
                 posterior_variable("delta_leninist", "alliance-duration block"),
                 DURATION.format(data="regime types of both members (Leninist one-party, democracy, monarchy)")),
))
register(Hypothesis(
    id="IDEO-3", family="IDEO",
    statement="The more secure a state feels, the more ideology drives its choices: ideological alignment "
              "is likelier in a bipolar world and when defence has the advantage.",
    parts=(
        Part("gamma_ideology_x_threat_faced", -1, coefficient("ideology_x_threat_faced"),
             "the full variant (term ideology_x_threat_faced)", suffix="a"),
        Part("gamma_ideology_x_bipolar", +1, coefficient("ideology_x_bipolar"),
             "the full variant on a panel spanning bipolar and non-bipolar years (e.g. the global panel)",
             suffix="b"),
    ),
))
register(Hypothesis(
    id="IDEO-4", family="IDEO",
    statement="States lacking domestic legitimacy seek ideological alliances for internal and external support.",
    parts=single("gamma_ideology_x_illegitimacy (recent irregular seizure of power)", +1,
                 coefficient("ideology_x_illegitimacy"),
                 FULL.format(term="ideology_x_illegitimacy", data="irregular seizures of power (illegit1)")),
))
register(Hypothesis(
    id="IDEO-5", family="IDEO",
    statement="Statesmen exaggerate ideology's impact, overestimating ideological agreement among allies "
              "and adversaries.",
    parts=single("delta_ideological: log hazard ratio of ending, ideology-driven vs threat-driven alliances "
                 "(the perception claim itself is not testable with behavioural data)", +1,
                 posterior_variable("delta_ideological", "alliance-duration block"),
                 DURATION.format(data="a classification of alliances as ideology- or threat-driven; "
                                      "perceptions need elite-perception data")),
))

# Foreign aid ----------------------------------------------------------------------------
register(Hypothesis(
    id="AID-1", family="AID",
    statement="The more aid one state gives another, the likelier they ally and the more control the donor gains.",
    parts=single("AME of an arms/aid relationship (gamma_aid and its interaction) on P(alliance)", +1,
                 input_effect("aid"), FULL.format(term="aid", data="arms/aid ties (the embedded panel)")),
))
register(Hypothesis(
    id="AID-2", family="AID",
    statement="Aid is a form of balancing: its effect on alignment grows with the external threat the "
              "recipient faces.",
    parts=single("gamma_aid_x_threat_faced", +1, coefficient("aid_x_threat_faced"),
                 FULL.format(term="aid_x_threat_faced", data="arms/aid ties (the embedded panel)")),
))
register(Hypothesis(
    id="AID-3", family="AID",
    statement="The greater the donor's monopoly on what it supplies, the greater its leverage.",
    parts=single("gamma_aid_x_supplier_monopoly (aid × donor's share of the recipient's supply)", +1,
                 needs_data("aid_x_supplier_monopoly", "supplier-concentration data"),
                 "supplier-concentration data (e.g. SIPRI arms transfers: the donor's share of the "
                 "recipient's arms imports) and a term aid_x_supplier_monopoly"),
))
register(Hypothesis(
    id="AID-4", family="AID",
    statement="The greater the asymmetry of dependence favouring the donor, the greater its leverage.",
    parts=single("gamma_aid_x_dependence_asymmetry", +1,
                 needs_data("aid_x_dependence_asymmetry", "dependence data"),
                 "dependence data (aid or trade as a share of the recipient's vs the donor's economy) "
                 "and a term aid_x_dependence_asymmetry"),
))
register(Hypothesis(
    id="AID-5", family="AID",
    statement="The greater the asymmetry of motivation favouring the donor, the greater its leverage; but "
              "it usually favours the recipient.",
    parts=single("gamma_aid_x_motivation_asymmetry", +1,
                 needs_data("aid_x_motivation_asymmetry", "motivation measures"),
                 "measures of each side's motivation (e.g. stakes coded from the diplomatic record) "
                 "and a term aid_x_motivation_asymmetry"),
))
register(Hypothesis(
    id="AID-6", family="AID",
    statement="The weaker the donor's domestic decision-making apparatus, the less leverage it exerts.",
    parts=single("gamma_aid_x_donor_weakness", -1,
                 needs_data("aid_x_donor_weakness", "state-capacity data for donors"),
                 "state-capacity data for donors (e.g. V-Dem or bureaucratic-quality indices) and a term "
                 "aid_x_donor_weakness"),
))

# Penetration ----------------------------------------------------------------------------
register(Hypothesis(
    id="PEN-1", family="PEN",
    statement="The greater one state's access to another's political system, the likelier they ally.",
    parts=single("AME of penetration (shared IGO memberships, trade dependence; gamma_penetration and "
                 "its interactions) on P(alliance)", +1, input_effect("penetration"),
                 FULL.format(term="penetration", data="IGO memberships or trade (the global panel)")),
))
register(Hypothesis(
    id="PEN-2", family="PEN",
    statement="Penetration works better against open societies.",
    parts=single("gamma_penetration_x_target_democracy", +1, coefficient("penetration_x_target_democracy"),
                 FULL.format(term="penetration_x_target_democracy",
                             data="IGO memberships or trade and the target's democracy (the global panel)")),
))
register(Hypothesis(
    id="PEN-3", family="PEN",
    statement="Penetration works better when objectives are limited; intrusive penetration backfires.",
    parts=single("gamma_penetration_x_intrusiveness", -1,
                 needs_data("penetration_x_intrusiveness", "measure of intrusiveness"),
                 "a measure of how intrusive the penetration is (e.g. coded covert interventions or "
                 "subversion events) and a term penetration_x_intrusiveness"),
))
register(Hypothesis(
    id="PEN-4", family="PEN",
    statement="Penetration works better when other causes also favour the alliance.",
    parts=single("gamma_penetration_x_shared_threat", +1, coefficient("penetration_x_shared_threat"),
                 FULL.format(term="penetration_x_shared_threat",
                             data="IGO memberships or trade (the global panel)")),
))

#: The ids of WALT_HYPOTHESES.md (the contract), in its order.
WALT_IDS: tuple[str, ...] = tuple(REGISTRY)

# Variant-level claims: answered by out-of-sample comparison of fits, not by one fit ------
register(Hypothesis(
    id="VAR-1", family="VARIANT",
    statement="States balance against threats, not against power alone: balance of threat predicts "
              "alliances better than balance of power.",
    parts=single("ELPD-LOO difference, balance_of_threat − balance_of_power", +1,
                 comparison_only(), VAR_THREAT),
    comparison=VAR_THREAT,
))
register(Hypothesis(
    id="VAR-2", family="VARIANT",
    statement="Security beats ideology: threat predicts alliances better than ideological similarity "
              "(IDEO-1: ideology's effect is smaller than the security effects).",
    parts=single("ELPD-LOO difference, balance_of_threat − ideology", +1,
                 comparison_only(), VAR_IDEOLOGY),
    comparison=VAR_IDEOLOGY,
))
register(Hypothesis(
    id="VAR-3", family="VARIANT",
    statement="Threat matters for alignment at all: balance of threat predicts alliances better than "
              "intercepts and controls alone.",
    parts=single("ELPD-LOO difference, balance_of_threat − null", +1,
                 comparison_only(), VAR_NULL),
    comparison=VAR_NULL,
))

if len(WALT_IDS) != 32:  # pragma: no cover - a guard on the contract
    raise RuntimeError(f"the registry has {len(WALT_IDS)} of Walt's 32 hypotheses")
