"""``walt-bayes simulate``: a panel with known truth, and its truth beside it.

Parses the options, then calls :func:`walt_bayes.api.simulate` and writes the panel
(``.parquet``) and ``<name>.truth.json`` atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from walt_bayes.atomic import atomic_path
from walt_bayes.cli._common import console
from walt_bayes.errors import WaltError
from walt_bayes.paths import setup_pytensor_cache


def simulate_command(
    world: Annotated[str, typer.Option(help=(
        "balancing, bandwagoning, null or a spec TOML (drawn from the model); or a world the model did not "
        "generate: persistent, persistent_null, persistent_negative, trend, trend_jump, trend_negative, "
        "mutual, other_threat, other_threat_negative, confounder, ideology_only, reviewer, reviewer_negative "
        "(walt_bayes/model/worlds.py)."
    ))] = "balancing",
    states: Annotated[
        int | None, typer.Option(min=4, help="Number of states (default 12; 22 in the misspecified worlds).")
    ] = None,
    years: Annotated[
        int | None, typer.Option(min=1, help="Number of years (default 10; 24 in the misspecified worlds).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Integer seed.")] = 0,
    out: Annotated[Path, typer.Option(help="Output panel (.parquet); true values go beside it (.truth.json).")] = (
        Path("simulated.parquet")
    ),
) -> None:
    """Simulate a panel with known truth: from the generative model with known parameters, or from a
    world the model did not generate (true directions of BAL-1, BW-1 and COND-1 in the truth file)."""
    setup_pytensor_cache()
    # lazy: CLI start-up (walt_bayes.api imports pandas and pandera, a second or more)
    from walt_bayes import api

    if out.suffix != ".parquet":
        raise WaltError(f"--out {out}: the simulated panel is written as .parquet")
    sim = api.simulate(world, states=states, years=years, seed=seed)
    truth_path = out.with_suffix(".truth.json")
    with atomic_path(out, suffix=".parquet") as tmp:
        sim.panel.to_parquet(tmp, index=False)
    with atomic_path(truth_path) as tmp:
        tmp.write_text(json.dumps({"world": sim.world, "seed": sim.seed, "truth": sim.truth}, indent=2))
    console.print(
        f"simulated {sim.world} world: {len(sim.panel):,} directed dyad-years, alliance rate "
        f"{sim.panel['ally'].mean():.3f}, dispute-initiation rate {sim.panel['init21'].mean():.3f}"
    )
    console.print(f"panel: [bold]{out}[/]; true values: [bold]{truth_path}[/]")
