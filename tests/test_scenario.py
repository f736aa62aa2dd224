"""What-if scenarios (walt_bayes.scenario, `walt-bayes predict`).

- an identity scenario gives differences of exactly 0 (a real short fit);
- at the TRUE parameters of a simulated balancing world the signs follow the true
  coefficients (more intent of j -> more threat from j -> with gamma_shared > 0 more
  alliances among the states j threatens, fewer alliances with j when gamma_partner < 0;
  with delta_threat_rise > 0 a rise in shared threat shortens alliances);
- one threat row and one alliance row recomputed by hand from the draws;
- bad scenarios: one line naming the file, the [[change]] and its line;
- the CLI writes both CSVs and the figures.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from walt_bayes.model.design import build_design
from walt_bayes.scenario import ScenarioError, parse_scenario, predict
from walt_bayes.spec import load_spec

#: A state of the simulated world (mid power, four neighbours) and a year inside it (years 1950..1959).
J, YEAR = 120, 1955


def scenario(*changes: str, name: str = "test") -> str:
    """Scenario TOML from ``[[change]]`` bodies."""
    return f'name = "{name}"\n' + "".join(f"\n[[change]]\n{c.strip()}\n" for c in changes)


def fake_fit(design, spec, values: dict[str, float], n: int = 3) -> xr.DataTree:
    """A fit whose every draw sits at ``values`` (0 for parameters not given)."""
    names = (
        ["mu_alpha"]
        + [f"gamma_{t}" for t in design.terms]
        + [f"control_{c}" for c in design.control_names]
    )
    if design.has_threat:
        names += ["lambda_0"] + [f"beta_{s}" for s in design.sources]
    if design.duration is not None:
        names += design.duration.coefficient_names()
    post = xr.Dataset(
        {k: (("chain", "draw"), np.full((1, n), values.get(k, 0.0))) for k in names},
        coords={"chain": [0], "draw": np.arange(n)},
    )
    if design.source_states:  # threatening states' intercepts at 0
        post["source_effect"] = (("chain", "draw", "source_state"), np.zeros((1, n, len(design.source_states))))
    tree = xr.DataTree.from_dict({"posterior": post, "constant_data": design.to_dataset()})
    tree.attrs.update(spec_toml=spec.source_text, spec_name=spec.name, data_name="sim")
    return tree


@pytest.fixture(scope="module")
def truth_fit(sim_balancing, bot_spec):
    """balance_of_threat at the world's true parameters, threat interactions off."""
    design = build_design(sim_balancing.panel, bot_spec)
    truth = dict(sim_balancing.truth, gamma_shared_x_strength=0.0, gamma_partner_x_weak_x_major=0.0)
    return fake_fit(design, bot_spec, truth), design


# ------------------------------------------------------------------ identity (real fit)
def test_identity_scenario_changes_nothing(small_fit, sim_balancing):
    text = scenario(
        f'state = {J}\nyears = [{YEAR}, {YEAR + 1}]\ninput = "power"\nop = "add"\nvalue = 0',
        f'state = {J}\nyears = [{YEAR}]\ninput = "offense"\nop = "scale"\nvalue = 1',
        f'state = {J}\ntarget = 50\nyears = [{YEAR}]\ninput = "init21_past10"\nop = "add"\nvalue = 0',
    )
    result = predict(
        small_fit.idata, parse_scenario(text), design=small_fit.design, panel=sim_balancing.panel
    )
    assert len(result.threat) > 0 and len(result.alliance) > 0
    for name in ("threat", "alliance"):
        assert np.all(result.draws[name] == 0.0), name
        table = getattr(result, name)
        assert (table["diff_mean"] == 0).all() and (table["p_increase"] == 0).all()
        assert (table["baseline_mean"] == table["scenario_mean"]).all()
    n_draws = (
        small_fit.idata["posterior"].sizes["chain"] * small_fit.idata["posterior"].sizes["draw"]
    )
    assert result.draws["alliance"].shape == (n_draws, len(result.alliance))


# ------------------------------------------------------------------ signs at the truth
def test_more_intent_means_more_threat_and_more_balancing(truth_fit, sim_balancing):
    tree, design = truth_fit
    text = scenario(f'state = {J}\nyears = [{YEAR}]\ninput = "init2_past10"\nop = "add"\nvalue = 5')
    result = predict(tree, parse_scenario(text), design=design, panel=sim_balancing.panel)
    threat = result.threat
    # beta_intent > 0: every threat j poses rises, nothing else moves.
    assert (threat["source"] == J).all() and len(threat) == 11
    assert (threat["diff_mean"] > 0).all() and (threat["p_increase"] == 1).all()
    ally = result.alliance
    third = ally.loc[(ally["state_a"] != J) & (ally["state_b"] != J)]
    partner = ally.loc[ally["state_b"] == J]  # j the stronger partner k: B = tau[j -> i] rises
    assert len(third) > 0 and len(partner) > 0
    # gamma_shared > 0: more alliances among the states j threatens (third parties).
    assert (third["diff_mean"] > 0).all() and (third["channels"] == "shared").all()
    # gamma_partner < 0 (balancing world): fewer alliances with the more threatening j.
    assert (partner["diff_mean"] < 0).all() and partner["channels"].str.contains("partner").all()
    # Rows where j is the weaker state i: neither S nor B of the row depends on j's intent.
    assert not (ally["state_a"] == J).any()


def test_new_contiguity_adds_shared_threat_sources(truth_fit, sim_balancing):
    tree, design = truth_fit
    panel = sim_balancing.panel
    at = panel.loc[(panel["year"] == YEAR) & (panel["ccode1"] == J)]
    m = int(at.loc[(at["contiguous"] == 0) & (at["rivalry"] == 0), "ccode2"].iloc[0])
    riv = int(at.loc[at["ccode2"] == m, "rivalry"].iloc[0])
    text = scenario(
        f'state = {J}\ntarget = {m}\nyears = [{YEAR}]\ninput = "contiguous"\nop = "set"\nvalue = 1',
        f'state = {J}\ntarget = {m}\nyears = [{YEAR}]\ninput = "rivalry"\nop = "set"\nvalue = {riv}',
    )
    result = predict(tree, parse_scenario(text), design=design, panel=panel)
    # beta_proximity > 0: only the threats between the two states rise.
    pairs = set(zip(result.threat["source"], result.threat["target"], strict=True))
    assert pairs == {(J, m), (m, J)} and (result.threat["diff_mean"] > 0).all()
    # Contiguity makes each a relevant threat source of the other: the pairs of either with a third state
    # gain a shared-threat source (gamma_shared > 0: more alliances); the pair itself only feels its
    # partner threat rise (gamma_partner < 0: fewer).
    ally = result.alliance
    pair = ally["state_a"].isin([J, m]) & ally["state_b"].isin([J, m])
    assert (ally.loc[pair, "diff_mean"] < 0).all() and (
        ally.loc[pair, "channels"] == "partner"
    ).all()
    rest = ally.loc[~pair]
    assert len(rest) > 0 and (rest["diff_mean"] > 0).all()
    assert (rest["state_a"].isin([J, m]) | rest["state_b"].isin([J, m])).all()


def test_threat_rise_shortens_alliances_at_the_truth(sim_balancing):
    spec = load_spec("full")
    design = build_design(sim_balancing.panel, spec)
    tree = fake_fit(design, spec, dict(sim_balancing.truth, delta_0=-2.0, delta_threat_rise=0.5))
    years = sorted(set(design.duration.keys["year"]))
    year = years[len(years) // 2]
    text = scenario(f'state = {J}\nyears = [{year}]\ninput = "init2_past10"\nop = "add"\nvalue = 5')
    result = predict(tree, parse_scenario(text), design=design, panel=sim_balancing.panel)
    surv = result.survival
    assert surv is not None and len(surv) > 0 and (surv["year"] == year).all()
    assert ((surv["baseline_mean"] > 0) & (surv["baseline_mean"] < 1)).all()
    # More shared threat in `year` (a rise from year - 1) -> higher hazard -> lower 5-year survival.
    moved = surv.loc[surv["diff_mean"] != 0]
    assert len(moved) > 0 and (moved["diff_mean"] < 0).all()
    identity = scenario(
        f'state = {J}\nyears = [{year}]\ninput = "init2_past10"\nop = "add"\nvalue = 0'
    )
    same = predict(tree, parse_scenario(identity), design=design, panel=sim_balancing.panel)
    assert len(same.survival) > 0 and np.all(same.draws["survival"] == 0.0)


# ------------------------------------------------------------------ by hand
def _draws(post: xr.Dataset, name: str) -> np.ndarray:
    da = post[name]
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    values = da.transpose("chain", "draw", *dims).values
    return values.reshape(-1, *values.shape[2:])


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_one_threat_and_one_alliance_row_by_hand(small_fit, sim_balancing):
    design, post = small_fit.design, small_fit.idata["posterior"]
    value = 0.693  # power is log CINC: doubles J's capability share
    text = scenario(f'state = {J}\nyears = [{YEAR}]\ninput = "power"\nop = "add"\nvalue = {value}')
    result = predict(
        small_fit.idata, parse_scenario(text), design=design, panel=sim_balancing.panel
    )
    # Scenario threat inputs by hand: power2 and power_ratio = power2 - power1 move by +value where J is
    # the source, power_ratio by -value where J is the threatened state; each feature is standardised by
    # its SD, the composite (their mean) by its own SD.
    keys, tr = design.threat_keys, design.transform["threat"]
    at = (keys["year"] == YEAR).to_numpy()
    d_p2 = np.where(at & (keys["ccode2"] == J), value, 0.0)
    d_ratio = d_p2 - np.where(at & (keys["ccode1"] == J), value, 0.0)
    delta = np.mean([d_p2 / tr["power2"]["sd"], d_ratio / tr["power_ratio"]["sd"]], axis=0)
    X_scen = design.threat_X.copy()
    X_scen[:, design.sources.index("power")] += delta / tr["source:power"]["sd"]
    beta = np.stack([_draws(post, f"beta_{s}") for s in design.sources], axis=1)  # one threat group
    lam = _draws(post, "lambda_0")[:, None]
    if design.source_states:  # the threatening state's own intercept
        lam = lam + _draws(post, "source_effect")[:, design.threat_src]
    tau_b, tau_s = _expit(lam + beta @ design.threat_X.T), _expit(lam + beta @ X_scen.T)
    # One threat row: J -> some state.
    row = result.threat.iloc[0]
    r = int(
        np.flatnonzero(
            (keys["ccode1"] == row["target"])
            & (keys["ccode2"] == row["source"])
            & (keys["year"] == row["year"])
        )[0]
    )
    np.testing.assert_allclose(
        result.draws["threat"][:, 0], tau_s[:, r] - tau_b[:, r], rtol=0, atol=1e-12
    )
    # One alliance row reached through shared threat only (J a third party): eta by hand.
    pick = result.alliance.loc[result.alliance["channels"] == "shared"].index[0]
    a = result.alliance.loc[pick]
    ak = design.ally_keys
    k = int(
        np.flatnonzero(
            (ak["ccode1"] == a["state_a"])
            & (ak["ccode2"] == a["state_b"])
            & (ak["year"] == a["year"])
        )[0]
    )
    tri = design.triad_ally == k

    def eta(tau):
        latent = {
            "S": (tau[:, design.triad_ji[tri]] * tau[:, design.triad_jk[tri]]).sum(axis=1),
            "B": tau[:, design.partner_idx[k]],
        }
        out = _draws(post, "mu_alpha") + _draws(post, "dyad_effect")[:, design.ally_dyad[k]]
        if "z_year" in post:
            out = out + _draws(post, "sigma_year") * _draws(post, "z_year")[:, design.ally_year[k]]
        else:
            out = out + _draws(post, "year_effect")[:, design.ally_year[k]]
        for t, term in enumerate(design.terms):
            obs, factor = design.term_observed[k, t], design.term_latent[t]
            value_t = obs * latent[factor] if factor else obs
            out = (
                out
                + _draws(post, f"gamma_{term}")
                * (value_t - design.term_center[t])
                / design.term_scale[t]
            )
        for c, name in enumerate(design.control_names):
            out = out + _draws(post, f"control_{name}") * design.controls[k, c]
        return out

    p_b, p_s = _expit(eta(tau_b)), _expit(eta(tau_s))
    np.testing.assert_allclose(result.alliance.loc[pick, "baseline_mean"], p_b.mean(), rtol=1e-10)
    np.testing.assert_allclose(result.draws["alliance"][:, pick], p_s - p_b, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ bad scenarios
def test_parse_errors_name_the_change_and_its_line():
    good = 'state = 10\nyears = [1955]\ninput = "power"\nop = "add"\nvalue = 0.1'
    cases = [
        (
            scenario(
                good, 'state = 10\nyears = [1955]\ninput = "power"\nop = "multiply"\nvalue = 2'
            ),
            "[[change]] #2 (line 10): bad op 'multiply'",
        ),
        (scenario(good.replace("power", "gdp")), "[[change]] #1 (line 3): unknown input 'gdp'"),
        (scenario(good.replace("power", "rivalry")), "dyadic: name the other state with 'target'"),
        (scenario(good.replace("0.1", '"big"')), "'value' must be a finite number"),
        (scenario(good.replace("[1955]", "1955")), "'years' must be a non-empty list"),
        (scenario(good + "\ncolour = 1"), "unknown key 'colour'"),
        ('name = "x"\n', "no [[change]] table"),
    ]
    for text, needle in cases:
        with pytest.raises(ScenarioError) as err:
            parse_scenario(text, source="bad.toml")
        message = str(err.value)
        assert message.startswith("bad.toml: ") and needle in message and "\n" not in message, (
            message
        )


@pytest.fixture(scope="module")
def gap_fit(sim_balancing, bot_spec):
    """The simulated world without state 120 in 1955, at made-up parameters."""
    panel = sim_balancing.panel
    gone = (panel["year"] == YEAR) & ((panel["ccode1"] == 120) | (panel["ccode2"] == 120))
    panel = panel.loc[~gone].reset_index(drop=True)
    design = build_design(panel, bot_spec)
    return fake_fit(design, bot_spec, sim_balancing.truth), design, panel


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (
            'state = "XYZ"\nyears = [1955]\ninput = "power"\nop = "add"\nvalue = 0.1',
            "unknown state 'XYZ'",
        ),
        (
            'state = 10\nyears = [1900]\ninput = "power"\nop = "add"\nvalue = 0.1',
            "year 1900 is outside the panel",
        ),
        (
            'state = 120\nyears = [1955]\ninput = "power"\nop = "add"\nvalue = 0.1',
            "120 is not in the panel in 1955",
        ),
        (
            'state = 10\ntarget = 120\nyears = [1955]\ninput = "rivalry"\nop = "set"\nvalue = 1',
            "the pair 10–120 is not in the panel in 1955",
        ),
        (
            'state = 10\ntarget = 20\nyears = [1956]\ninput = "rivalry"\nop = "set"\nvalue = 2',
            "must stay 0 or 1",
        ),
        (
            'state = 10\nyears = [1956]\ninput = "power"\nop = "set"\nvalue = 0.5',
            "cannot go above 0",
        ),
        (
            'state = 10\nyears = [1956]\ninput = "init2_past10"\nop = "add"\nvalue = -99',
            "cannot go below 0",
        ),
    ],
)
def test_bad_changes_are_one_line_errors(gap_fit, change, needle):
    tree, design, panel = gap_fit
    text = scenario('state = 10\nyears = [1956]\ninput = "offense"\nop = "add"\nvalue = 0', change)
    with pytest.raises(ScenarioError) as err:
        predict(tree, parse_scenario(text, source="s.toml"), design=design, panel=panel)
    message = str(err.value)
    assert message.startswith("s.toml: [[change]] #2 (line 10): ") and needle in message, message


def test_input_the_variant_does_not_use(sim_balancing):
    spec = load_spec("balance_of_power")
    design = build_design(sim_balancing.panel, spec)
    text = scenario('state = 10\nyears = [1955]\ninput = "offense"\nop = "add"\nvalue = 1')
    with pytest.raises(
        ScenarioError,
        match=r"#1 \(line 3\): input 'offense' is not used by variant "
        r"'balance_of_power' \(it uses: power, rivalry, contiguous\)",
    ):
        predict(
            fake_fit(design, spec, {}),
            parse_scenario(text),
            design=design,
            panel=sim_balancing.panel,
        )


def test_a_panel_that_is_not_the_fits_is_refused(truth_fit, sim_balancing):
    tree, design = truth_fit
    panel = sim_balancing.panel.assign(offense2=sim_balancing.panel["offense2"] + 1.0)
    text = scenario('state = 10\nyears = [1955]\ninput = "power"\nop = "add"\nvalue = 0.1')
    with pytest.raises(ScenarioError, match="does not rebuild the fit's design"):
        predict(tree, parse_scenario(text), design=design, panel=panel)


# ------------------------------------------------------------------ CLI
def run_cli(monkeypatch, capsys, *args):
    from walt_bayes.cli import main

    monkeypatch.setattr(sys, "argv", ["walt-bayes", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def run_dir(small_fit, sim_balancing, tmp_path_factory):
    """A run directory whose fit names the simulated panel file it was made on."""
    from walt_bayes.fit.fitfile import save_fit
    from walt_bayes.panel.datasets import load_dataset

    root = tmp_path_factory.mktemp("scenario")
    sim_balancing.panel.to_parquet(root / "sim.parquet", index=False)
    dataset = load_dataset(root / "sim.parquet")
    tree = small_fit.idata.copy()
    tree.attrs.update(data_name=dataset.name, data_sha256=dataset.sha256)
    save_fit(tree, root / "run" / "fit.nc")
    return root


def test_cli_writes_tables_and_figures(run_dir, monkeypatch, capsys):
    path = run_dir / "power.toml"
    path.write_text(
        scenario(
            f'state = {J}\nyears = [{YEAR}]\ninput = "power"\nop = "add"\nvalue = 0.693',
            name="power x2",
        )
    )
    out = run_dir / "out"
    code, stdout, err = run_cli(
        monkeypatch,
        capsys,
        "predict",
        str(run_dir / "run"),
        "--scenario",
        str(path),
        "--data",
        str(run_dir / "sim.parquet"),
        "--out",
        str(out),
        "--top",
        "3",
    )
    assert code == 0, err
    assert "Largest alliance changes" in stdout
    threat, ally = pd.read_csv(out / "threat.csv"), pd.read_csv(out / "alliance.csv")
    for table, first in (
        (threat, ["source", "target", "year"]),
        (ally, ["state_a", "state_b", "year"]),
    ):
        summary = [
            "baseline_mean",
            "scenario_mean",
            "diff_mean",
            "diff_hdi_low",
            "diff_hdi_high",
            "p_increase",
        ]
        assert list(table.columns[:9]) == [*first, *summary]
        assert len(table) > 0 and (table["diff_hdi_low"] <= table["diff_hdi_high"]).all()
    for name in ("changed_dyads.png", f"threat_network_{YEAR}.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*"))  # no temporaries left


def test_cli_bad_scenario_is_one_line_exit_2(run_dir, monkeypatch, capsys):
    path = run_dir / "bad.toml"
    path.write_text(
        scenario(
            f'state = {J}\nyears = [{YEAR}]\ninput = "power"\nop = "add"\nvalue = 0.1',
            'state = "ZZZ"\nyears = [1955]\ninput = "power"\nop = "add"\nvalue = 0.1',
        )
    )
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "predict",
        str(run_dir / "run"),
        "--scenario",
        str(path),
        "--data",
        str(run_dir / "sim.parquet"),
    )
    assert code == 2
    assert (
        "[[change]] #2 (line 10): unknown state 'ZZZ'" in err and len(err.strip().splitlines()) == 1
    )
