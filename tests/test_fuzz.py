"""Property-based tests (hypothesis): the spec and data loaders either load or raise WaltError.

Any input — random text, random TOML-shaped dicts, mutated bundled specs, embedded
CSV files with dropped columns, random cells, NaNs, huge numbers or unicode, and
panel files with random damage — either loads or raises the package's own error
type (:class:`walt_bayes.errors.WaltError`) with a one-line message; never
another exception.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walt_bayes.errors import WaltError
from walt_bayes.spec import _SpecParser, default_models_dir, parse_spec

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
    database=None,
)

REPO = Path(__file__).resolve().parents[1]
EMBEDDED = REPO / "data" / "middle_east"


def _one_line(err: WaltError) -> None:
    text = str(err)
    assert text and "\n" not in text


# ------------------------------------------------------------------------- specs

# Leaves tomllib can produce, plus a few types it cannot (the parser must not care).
_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["power", "shared", "region", "Normal", "HalfNormal", "StudentT", "nutpie", "ally", "sigma"]
    ),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)),
)
_value = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.text(max_size=8) | st.sampled_from(["sigma", "mu", "nu", "distribution"]),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
_KEYS = [
    "model",
    "threat",
    "alliance",
    "priors",
    "sampler",
    "name",
    "sources",
    "terms",
    "group",
    "outcome",
    "beta",
    "gamma",
    "gamma_shared",
    "tau_beta",
    "draws",
    "chains",
    "target_accept",
]


def _bundled_dicts() -> list[dict]:
    return [
        tomllib.loads(p.read_text("utf-8")) for p in sorted(default_models_dir().glob("*.toml"))
    ]


def _paths(tree, prefix=()):
    """Every (key path) in a nested dict."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))


def _set(tree: dict, path: tuple, value) -> dict:
    import copy

    out = copy.deepcopy(tree)
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return out


def _drop(tree: dict, path: tuple) -> dict:
    import copy

    out = copy.deepcopy(tree)
    node = out
    for k in path[:-1]:
        node = node[k]
    del node[path[-1]]
    return out


def _priors_usable(spec) -> None:
    """Every prior a loaded spec names builds a PyMC variable (no error at model time)."""
    import pymc as pm

    from walt_bayes.spec import DEFAULT_PRIORS

    with pm.Model():
        for name in spec.priors:
            family = name.split("_", 1)[0] if name not in DEFAULT_PRIORS else None
            data_driven = {"mu": 0.0} if name in ("lambda_0", "mu_alpha") else {}
            spec.prior(name, family, **data_driven).create_variable(name)


def _parse_dict(raw) -> None:
    try:
        spec = _SpecParser(raw, "<fuzz>").parse("")
    except WaltError as err:
        _one_line(err)
        return
    _priors_usable(spec)


@FUZZ
@given(st.text(max_size=400))
def test_parse_spec_arbitrary_text(text):
    try:
        parse_spec(text, source="<fuzz>")
    except WaltError as err:
        _one_line(err)


@FUZZ
@given(st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=6), _value, max_size=6))
def test_spec_parser_arbitrary_dicts(raw):
    _parse_dict(raw)


_BLOCK_KEYS = {
    "model": ["name", "description"],
    "threat": ["sources", "group"],
    "alliance": [
        "outcome",
        "directed",
        "onset",
        "terms",
        "controls",
        "group",
        "dyad_intercepts",
        "year_intercepts",
        "relevance",
        "case_control_ratio",
        "drop_unavailable",
    ],
    "priors": [
        "beta",
        "beta_power",
        "gamma",
        "gamma_shared",
        "tau_beta",
        "lambda_0",
        "sigma_dyad",
        "control_major_i",
        "mu_alpha",
        "nonsense",
    ],
    "sampler": ["sampler", "draws", "tune", "chains", "target_accept", "prior_draws", "adaptation"],
}
_prior_entry = st.dictionaries(
    st.sampled_from(["distribution", "mu", "sigma", "nu", "lam", "b", "tau"]),
    st.one_of(
        _leaf,
        st.sampled_from(
            ["Normal", "StudentT", "HalfNormal", "HalfStudentT", "Exponential", "Laplace", "Cauchy"]
        ),
        _value,
    ),
    max_size=4,
)


def _value_pool() -> dict[tuple[str, str], list]:
    """Values each (block, key) takes in the bundled specs."""
    pool: dict[tuple[str, str], list] = {}
    for raw in _bundled_dicts():
        for block, table in raw.items():
            for key, value in table.items():
                pool.setdefault((block, key), []).append(value)
    return pool


_POOL = _value_pool()


@st.composite
def _good_prior(draw):
    """A prior entry with parameters its distribution accepts (maybe missing required ones)."""
    from walt_bayes.spec import ALLOWED_DISTRIBUTIONS

    dist = draw(st.sampled_from(sorted(ALLOWED_DISTRIBUTIONS)))
    params = draw(st.lists(st.sampled_from(sorted(ALLOWED_DISTRIBUTIONS[dist])), unique=True))
    entry = {p: draw(st.floats(0.1, 3) | st.integers(1, 5)) for p in params}
    return {"distribution": dist, **entry} if draw(st.integers(0, 4)) else entry


@st.composite
def _structured_spec(draw):
    """A spec built from values the bundled specs use, then 0-2 entries damaged or dropped."""
    raw: dict = {"model": {"name": "fuzz"}, "alliance": {}}
    for block, keys in _BLOCK_KEYS.items():
        if block not in raw and draw(st.booleans()):
            continue
        table = raw.setdefault(block, {})
        for key in keys:
            if draw(st.integers(0, 3)) == 0 and key not in ("name", "sources"):
                continue
            if block == "priors":
                table[key] = draw(_good_prior())
            elif (block, key) in _POOL:
                table[key] = draw(st.sampled_from(_POOL[(block, key)]))
    for _ in range(draw(st.integers(0, 2))):
        paths = list(_paths(raw))
        path = draw(st.sampled_from(paths))
        raw = _drop(raw, path) if draw(st.integers(0, 4)) == 0 else _set(raw, path, draw(_value))
    return raw


@FUZZ
@given(_structured_spec())
def test_spec_parser_structured_dicts(raw):
    _parse_dict(raw)


@FUZZ
@given(st.data())
def test_spec_parser_mutated_bundled_specs(data):
    base = data.draw(st.sampled_from(_bundled_dicts()))
    paths = list(_paths(base))
    path = data.draw(st.sampled_from(paths))
    action = data.draw(st.sampled_from(["set", "drop"]))
    raw = _set(base, path, data.draw(_value)) if action == "set" else _drop(base, path)
    _parse_dict(raw)


@FUZZ
@given(st.data())
def test_parse_spec_mutated_bundled_text(data):
    """Character-level damage to a bundled spec's TOML text."""
    path = data.draw(st.sampled_from(sorted(default_models_dir().glob("*.toml"))))
    text = path.read_text("utf-8")
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 30)))
        text = text[:i] + data.draw(st.text(max_size=10)) + text[j:]
    try:
        spec = parse_spec(text, source=str(path))
    except WaltError as err:
        _one_line(err)
        return
    _priors_usable(spec)


# ----------------------------------------------------------------- embedded CSVs

_FILES = (
    "states",
    "state_years",
    "contiguity",
    "hostile_acts",
    "episodes",
    "arms_aid",
    "rivalries",
)
_weird_cell = st.one_of(
    st.just(""),
    st.sampled_from(
        [
            "NaN",
            "nan",
            "NA",
            "inf",
            "-inf",
            "1e308",
            "-1e308",
            "9" * 40,
            "1.5",
            "-1",
            "0",
            "2",
            "1979",
            "1954",
            "2101",
            "651;651",
            "651;",
            ";",
            "x",
            "  ",
            '"',
            "ÄÖÜ",
            "中国",
            "\u202e",
            "1,2",
            "651;666;999",
            "None",
            "True",
        ]
    ),
    st.text(max_size=12),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def _mutate(frame: pd.DataFrame, data) -> pd.DataFrame:
    """One random change to a table read as strings."""
    kind = data.draw(
        st.sampled_from(
            [
                "drop_column",
                "cell",
                "cell",
                "cell",
                "blank_column",
                "duplicate_row",
                "drop_rows",
                "swap_columns",
                "rename_column",
                "empty",
            ]
        )
    )
    frame = frame.copy()
    if frame.empty or not len(frame.columns):
        return frame
    col = data.draw(st.sampled_from(list(frame.columns)))
    if kind == "drop_column":
        return frame.drop(columns=col)
    if kind == "cell":
        row = data.draw(st.integers(0, len(frame) - 1))
        frame.loc[row, col] = data.draw(_weird_cell)
        return frame
    if kind == "blank_column":
        frame[col] = ""
        return frame
    if kind == "duplicate_row":
        row = data.draw(st.integers(0, len(frame) - 1))
        return pd.concat([frame, frame.iloc[[row]]], ignore_index=True)
    if kind == "drop_rows":
        n = data.draw(st.integers(1, max(1, len(frame) // 3)))
        start = data.draw(st.integers(0, len(frame) - 1))
        return frame.drop(index=frame.index[start : start + n]).reset_index(drop=True)
    if kind == "swap_columns":
        other = data.draw(st.sampled_from(list(frame.columns)))
        frame[[col, other]] = frame[[other, col]].to_numpy()
        return frame
    if kind == "rename_column":
        return frame.rename(columns={col: data.draw(st.text(max_size=8))})
    return frame.iloc[:0]


@pytest.fixture(scope="module")
def embedded_copy():
    tmp = Path(tempfile.mkdtemp(prefix="walt-fuzz-"))
    shutil.copytree(EMBEDDED, tmp / "me")
    yield tmp / "me"
    shutil.rmtree(tmp, ignore_errors=True)


def _load_or_walterror(folder: Path) -> None:
    from walt_bayes.panel.embedded import load_middle_east

    try:
        panel = load_middle_east(folder)
    except WaltError as err:
        _one_line(err)
        return
    assert len(panel) > 0


@settings(FUZZ, max_examples=int(os.environ.get("WALT_FUZZ_EXAMPLES", 40)))
@given(data=st.data())
def test_embedded_loader_mutated_csv(embedded_copy, data):
    name = data.draw(st.sampled_from(_FILES))
    target = embedded_copy / f"{name}.csv"
    original = (EMBEDDED / f"{name}.csv").read_bytes()
    frame = pd.read_csv(EMBEDDED / f"{name}.csv", dtype=str, keep_default_na=False)
    try:
        for _ in range(data.draw(st.integers(1, 2))):
            frame = _mutate(frame, data)
        frame.to_csv(target, index=False)
        _load_or_walterror(embedded_copy)
    finally:
        target.write_bytes(original)


@settings(FUZZ, max_examples=15)
@given(data=st.data())
def test_embedded_loader_damaged_bytes(embedded_copy, data):
    """Byte-level damage: truncation, binary garbage, bad encodings, stray quotes."""
    name = data.draw(st.sampled_from(_FILES))
    target = embedded_copy / f"{name}.csv"
    original = (EMBEDDED / f"{name}.csv").read_bytes()
    kind = data.draw(st.sampled_from(["truncate", "insert", "latin1", "empty", "bom", "nul"]))
    damaged = original
    if kind == "truncate":
        damaged = original[: data.draw(st.integers(0, len(original) - 1))]
    elif kind == "insert":
        at = data.draw(st.integers(0, len(original)))
        damaged = original[:at] + data.draw(st.binary(min_size=1, max_size=20)) + original[at:]
    elif kind == "latin1":
        damaged = original.replace(b"a", "\xe9".encode("latin-1"), 3)
    elif kind == "empty":
        damaged = b""
    elif kind == "bom":
        damaged = b"\xef\xbb\xbf" + original
    elif kind == "nul":
        damaged = original.replace(b",", b"\x00", 1)
    try:
        target.write_bytes(damaged)
        _load_or_walterror(embedded_copy)
    finally:
        target.write_bytes(original)


# ----------------------------------------------------------------- panel files

_panel_cell = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.sampled_from([float("inf"), -float("inf"), 1e308, -1e308, 0, 1, 2, -1, 0.5, 10**12]),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)


@pytest.fixture(scope="module")
def small_panel() -> pd.DataFrame:
    from walt_bayes.panel.embedded import load_middle_east

    panel = load_middle_east()
    return panel[panel["year"] <= 1956].reset_index(drop=True)


@pytest.fixture(scope="module")
def panel_dir():
    tmp = Path(tempfile.mkdtemp(prefix="walt-fuzz-panel-"))
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


@settings(FUZZ, max_examples=int(os.environ.get("WALT_FUZZ_EXAMPLES", 40)))
@given(data=st.data())
def test_panel_file_loader_and_design(small_panel, panel_dir, data):
    """A damaged panel file loads (and builds a design) or raises WaltError."""
    from walt_bayes.model.design import build_design
    from walt_bayes.panel.datasets import load_dataset
    from walt_bayes.spec import load_spec

    frame = small_panel.copy()
    for _ in range(data.draw(st.integers(1, 3))):
        kind = data.draw(
            st.sampled_from(["cell", "cell", "column", "drop", "dup", "empty", "dtype"])
        )
        col = data.draw(st.sampled_from(list(frame.columns)))
        if kind == "cell" and len(frame):
            row = data.draw(st.integers(0, len(frame) - 1))
            frame[col] = frame[col].astype(object)
            frame.loc[row, col] = data.draw(_panel_cell)
        elif kind == "column":
            frame[col] = data.draw(_panel_cell)
        elif kind == "drop":
            frame = frame.drop(columns=col)
        elif kind == "dup" and len(frame):
            frame = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
        elif kind == "empty":
            frame = frame.iloc[:0]
        elif kind == "dtype":
            frame[col] = frame[col].astype(str)
    fmt = data.draw(st.sampled_from(["csv", "parquet"]))
    path = panel_dir / f"p.{fmt}"
    try:
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
    except Exception:  # pyarrow cannot store some mixed object columns: not our input
        return
    spec = load_spec(data.draw(st.sampled_from(["balance_of_threat", "null", "ideology"])))
    try:
        ds = load_dataset(path)
        build_design(ds.panel, spec, name=str(path))
    except WaltError as err:
        _one_line(err)
