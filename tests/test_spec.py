"""Loading and validating model specs."""

from __future__ import annotations

import pytest

from walt_bayes.errors import SpecError
from walt_bayes.spec import ALLIANCE_TERMS, list_variants, load_spec, parse_spec

GOOD = """
[model]
name = "t"
[threat]
sources = ["power"]
[alliance]
terms = ["shared"]
"""


def test_bundled_variants_load():
    names = list_variants()
    assert set(names) >= {"null", "balance_of_power", "balance_of_threat", "ideology", "full"}
    for name in names:
        spec = load_spec(name)
        assert spec.name == name
        assert all(t in ALLIANCE_TERMS for t in spec.alliance.terms)


def test_threat_variants_need_threat_block():
    assert load_spec("balance_of_threat").needs_threat
    assert not load_spec("null").needs_threat
    assert load_spec("null").threat is None


def test_prior_merge_order():
    spec = parse_spec(GOOD + '\n[priors]\ngamma = {distribution = "Normal", sigma = 2.0}\n'
                      'gamma_shared = {distribution = "Normal", sigma = 0.5}\n')
    assert spec.resolved_prior("gamma_shared", "gamma")["sigma"] == 0.5  # user specific
    assert spec.resolved_prior("gamma_partner", "gamma")["sigma"] == 2.0  # user family
    assert spec.resolved_prior("lambda_0", mu=-3.0)["mu"] == -3.0  # data-driven
    assert spec.resolved_prior("sigma_dyad")["sigma"] == 2.5  # package default


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (GOOD.replace('terms = ["shared"]', 'terms = ["sharde"]'), "alliance.terms"),
        (GOOD + '\n[priors]\nsigma_dyad = {distribution = "HalfNormal", sigma = -1.0}\n', "sigma_dyad.sigma"),
        (GOOD.replace("[alliance]\nterms", "[alliancex]\nterms"), "alliancex"),
        ('[model]\nname = "x"\n', "[alliance] missing block"),
        (GOOD.replace('sources = ["power"]', "sources = []"), "threat.sources"),
        (GOOD + '\n[priors]\ngamma = {distribution = "Cauchy", alpha = 0.0}\n', "not allowed"),
        (GOOD + '\n[priors]\nsigma_year = {distribution = "Normal", sigma = 1.0}\n', "positive distribution"),
        (GOOD + "\n[sampler]\ndraws = -5\n", "sampler.draws"),
        (GOOD + "\n[sampler]\ntarget_accept = 1.5\n", "target_accept"),
        (GOOD.replace("[threat]\nsources = [\"power\"]\n", ""), "needs the [threat] block"),
        ("[model\nname=", "not valid TOML"),
        (GOOD + '\n[priors]\nbogus = {sigma = 1.0}\n', "priors.bogus"),
    ],
)
def test_bad_specs_raise_one_line(text, needle):
    with pytest.raises(SpecError) as err:
        parse_spec(text, source="bad.toml")
    msg = str(err.value)
    assert needle in msg
    assert msg.startswith("bad.toml")
    assert "\n" not in msg


def test_unknown_variant_lists_choices(tmp_path):
    with pytest.raises(SpecError, match="balance_of_threat"):
        load_spec("no_such_variant")


def test_every_bundled_variant_models_formation_and_has_a_status_form():
    """Issue 23: the variants model onset + duration; status_form cuts block 3 from the TOML text."""
    from walt_bayes.errors import SpecError
    from walt_bayes.model.design import build_design
    from walt_bayes.model.simulate import simulate
    from walt_bayes.spec import status_form

    panel = simulate("balancing", n_states=8, n_years=6, seed=3).panel
    for name in ("null", "balance_of_power", "balance_of_threat", "ideology", "full"):
        spec = load_spec(name)
        assert spec.duration is not None, name
        status = status_form(spec)
        assert status.duration is None and "[duration]" not in status.source_text
        assert status.alliance == spec.alliance and status.priors == spec.priors
        # The stored text rebuilds the status spec (a fit's spec_toml is what loaders parse).
        assert parse_spec(status.source_text, source=status.source_path) == status
        formation, plain = build_design(panel, spec), build_design(panel, status)
        assert formation.ally_onset and not plain.ally_onset
        assert len(plain.ally_y) > len(formation.ally_y)  # status rows: every dyad-year
        with pytest.raises(SpecError, match="no \\[duration\\] block"):
            status_form(status)
