"""What-if scenarios: change raw inputs of a fit's panel and see threat and alliances move.

``predict(fit, scenario)`` (:mod:`walt_bayes.scenario.predict`) works from the posterior
draws of a saved fit; nothing is refitted.  See :mod:`walt_bayes.scenario.spec` for the
scenario file and :mod:`walt_bayes.scenario.inputs` for the inputs a scenario may change.
"""

from walt_bayes.scenario.predict import ScenarioResult, fit_panel, predict
from walt_bayes.scenario.spec import Change, Scenario, ScenarioError, load_scenario, parse_scenario

__all__ = [
    "Change",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "fit_panel",
    "load_scenario",
    "parse_scenario",
    "predict",
]
