"""An SBC run's settings and what its replications share.

:class:`SBCSettings` is the small configuration and the sampler settings of each replication
(with the seeds derived from its one seed); :class:`SBCSetup` is what
:func:`walt_bayes.calibrate.sbc.prepare` draws once for every replication.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from walt_bayes.errors import WaltError
from walt_bayes.spec import ModelSpec


@dataclass(frozen=True)
class SBCSettings:
    """One SBC run: the small configuration and the sampler settings of each replication.

    The defaults are the configuration of the parameter-recovery test
    (``tests/test_validation_slow.py``): 10 states × 8 years, 2 chains ×
    300 draws after 400 tuning steps.
    """

    reps: int = 20
    states: int = 10
    years: int = 8
    chains: int = 2
    draws: int = 300
    tune: int = 400
    ranks: int = 99
    seed: int = 0
    covariates: str = "balancing"

    def check(self) -> None:
        """Raise WaltError for settings that cannot run."""
        if self.reps < 2:
            raise WaltError(f"--reps {self.reps}: SBC needs at least 2 replications")
        if self.states < 4 or self.years < 1:
            raise WaltError("--states/--years: need at least 4 states and 1 year")
        if min(self.chains, self.draws, self.tune) < 1:
            raise WaltError("--chains, --draws and --tune must be at least 1")
        if self.seed < 0:
            raise WaltError(f"--seed {self.seed}: seeds must be non-negative integers")
        if not 1 <= self.ranks <= self.chains * self.draws:
            raise WaltError(
                f"--ranks {self.ranks}: must lie in 1..{self.chains * self.draws} "
                f"(the posterior draws per replication, {self.chains} chains × {self.draws})"
            )

    def seeds(self) -> dict[str, int]:
        """Integer seeds of each stage, derived from :attr:`seed`."""
        children = np.random.SeedSequence(int(self.seed)).spawn(3)
        names = ("covariates", "prior", "pit")
        out = {n: int(c.generate_state(1)[0]) for n, c in zip(names, children, strict=True)}
        out["covariates"] = out["covariates"] % 2**31
        return out

    def rep_seed(self, rep: int) -> int:
        """The sampler seed of replication ``rep`` (independent of how many reps run)."""
        return int(np.random.SeedSequence([int(self.seed), 7919, int(rep)]).generate_state(1)[0])


@dataclass
class SBCSetup:
    """Everything the replications share: design, specs, true values and outcomes."""

    settings: SBCSettings
    spec: ModelSpec
    fit_spec: ModelSpec
    design: object
    parameters: list[str]
    truth: pd.DataFrame  # reps × parameters
    outcomes: dict[str, np.ndarray]  # observed variable -> (reps, n)
    key: str = ""
    notes: list[str] = field(default_factory=list)
