"""Export for R: draws in posterior's draws_df layout (CSV and .rds), summary and evidence as .rds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyreadr
import pytest
import xarray as xr
from cli_runner import run_cli

from walt_bayes.export import ExportError
from walt_bayes.export.draws import draws_frame, element_names, select_variables


def _posterior() -> xr.Dataset:
    """2 chains x 3 draws: a scalar, a labelled vector, an integer-coordinate matrix."""
    rng = np.random.default_rng(1)
    return xr.Dataset(
        {
            "a": (("chain", "draw"), rng.normal(size=(2, 3))),
            "tau": (("chain", "draw", "source"), rng.normal(size=(2, 3, 2))),
            "z": (("chain", "draw", "year", "group"), rng.normal(size=(2, 3, 2, 2))),
        },
        coords={
            "chain": [0, 1],
            "draw": [0, 1, 2],
            "source": ["power", "x,y [1]"],
            "year": [1955, 1956],
            "group": ["north", "south"],
        },
    )


def test_draws_frame_layout_names_and_values():
    post = _posterior()
    frame = draws_frame(post)
    assert list(frame.columns) == [
        ".chain",
        ".iteration",
        ".draw",
        "a",
        "tau[power]",
        "tau[x_y__1_]",
        "z[1,north]",
        "z[1,south]",
        "z[2,north]",
        "z[2,south]",
    ]
    assert frame[".chain"].tolist() == [1, 1, 1, 2, 2, 2]
    assert frame[".iteration"].tolist() == [1, 2, 3, 1, 2, 3]
    assert frame[".draw"].tolist() == [1, 2, 3, 4, 5, 6]
    assert frame[".chain"].dtype == np.int32
    # Row (chain c, draw d) holds the value at [c, d]; z[2,north] is year 1956, group north.
    assert frame["tau[x_y__1_]"].tolist() == post["tau"].values[:, :, 1].ravel().tolist()
    assert (
        frame["z[2,north]"].tolist()
        == post["z"].sel(year=1956, group="north").values.ravel().tolist()
    )
    assert frame["a"].iloc[4] == post["a"].values[1, 1]


def test_element_names_without_coordinates_are_1_based():
    da = xr.DataArray(np.zeros((1, 1, 3)), dims=("chain", "draw", "k"))
    assert element_names("gamma", da) == ["gamma[1]", "gamma[2]", "gamma[3]"]


def test_select_variables():
    post = _posterior()
    assert select_variables(post, "all") == ["a", "tau", "z"]
    assert select_variables(post, "z, a") == ["z", "a"]
    with pytest.raises(ExportError, match="'nope' is not a posterior variable"):
        select_variables(post, "a,nope")


def _column(da: xr.DataArray, position: int) -> str:
    """The name the export promises for element ``position`` of a vector (written out here)."""
    dim = da.dims[2]
    values = da.coords[dim].values
    label = str(values[position]) if values.dtype.kind in "OUS" else str(position + 1)
    return f"{da.name}[{label}]"


def test_draws_csv_reads_back_to_the_fit_draws(
    monkeypatch, capsys, tmp_path, small_fit, small_fit_file
):
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "export",
        str(small_fit_file),
        "--to",
        "draws-csv",
        "--out",
        str(tmp_path),
        "--vars",
        "all",
    )
    assert code == 0, err
    back = pd.read_csv(tmp_path / "draws.csv")
    post = small_fit.idata["posterior"].to_dataset()
    assert list(back.columns[:3]) == [".chain", ".iteration", ".draw"]
    assert len(back) == post.sizes["chain"] * post.sizes["draw"] == 300
    expected = 3
    # Every variable, every element; values exactly the fit's (full-precision CSV).
    for name, da in post.data_vars.items():
        values = da.values
        if values.ndim == 2:
            np.testing.assert_array_equal(back[name].to_numpy(), values.ravel())
            expected += 1
            continue
        assert values.ndim == 3, name
        for j in range(values.shape[2]):
            np.testing.assert_array_equal(back[_column(da, j)].to_numpy(), values[:, :, j].ravel())
        expected += values.shape[2]
    assert back.shape[1] == expected
    assert "year_effect[1]" in back.columns and "dyad_effect[10-100]" in back.columns
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_rds_files_read_back(monkeypatch, capsys, tmp_path, small_fit, small_fit_file):
    from walt_bayes.fit.diagnostics import summary_table
    from walt_bayes.fit.fitfile import load_fit
    from walt_bayes.hypotheses.table import evidence_table

    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "export",
        str(small_fit_file),
        "--to",
        "rds",
        "--out",
        str(tmp_path),
        "--vars",
        "gamma_shared,year_effect",
    )
    assert code == 0, err
    draws = pyreadr.read_r(tmp_path / "draws.rds")[None]
    post = small_fit.idata["posterior"].to_dataset()
    n_years = post.sizes["year"]
    assert list(draws.columns) == [
        ".chain",
        ".iteration",
        ".draw",
        "gamma_shared",
        *(f"year_effect[{i}]" for i in range(1, n_years + 1)),
    ]
    assert draws[".chain"].dtype == np.int32  # an R integer column
    np.testing.assert_array_equal(
        draws["gamma_shared"].to_numpy(), post["gamma_shared"].values.ravel()
    )
    np.testing.assert_array_equal(
        draws[f"year_effect[{n_years}]"].to_numpy(), post["year_effect"].values[:, :, -1].ravel()
    )

    tree = load_fit(small_fit_file)
    summary = pyreadr.read_r(tmp_path / "summary.rds")[None]
    expected = summary_table(tree, ["gamma_shared", "year_effect"])
    assert summary["parameter"].tolist() == list(expected.index)
    np.testing.assert_allclose(summary["mean"].to_numpy(), expected["mean"].to_numpy())
    np.testing.assert_allclose(summary["r_hat"].to_numpy(), expected["r_hat"].to_numpy())

    evidence = pyreadr.read_r(tmp_path / "hypotheses.rds")[None]
    table = evidence_table(tree)
    assert evidence["id"].tolist() == table["id"].tolist()
    assert evidence["verdict"].tolist() == table["verdict"].tolist()
    np.testing.assert_allclose(evidence["mean"].to_numpy(), table["mean"].to_numpy())


def test_rds_set_is_all_or_nothing(monkeypatch, tmp_path, small_fit_file):
    from walt_bayes.export.write import export_run

    real = pyreadr.write_rds
    calls = []

    def failing(path, frame, *args, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(path, frame, *args, **kwargs)

    monkeypatch.setattr(pyreadr, "write_rds", failing)
    with pytest.raises(OSError, match="disk full"):
        export_run(small_fit_file, "rds", tmp_path / "out")
    assert len(calls) == 3
    assert not list((tmp_path / "out").iterdir())  # neither the first two files nor temporaries


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--to", "parquet"), "--to"),
        (("--to", "draws-csv", "--vars", "no_such"), "'no_such' is not a posterior variable"),
    ],
)
def test_export_bad_input_is_one_line(monkeypatch, capsys, tmp_path, small_fit_file, args, needle):
    code, _, err = run_cli(
        monkeypatch, capsys, "export", str(small_fit_file), "--out", str(tmp_path), *args
    )
    assert code == 2 and needle in err and err.strip().count("\n") == 0
    assert not list(tmp_path.iterdir())


def test_export_missing_run(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "export", str(tmp_path / "nothing"), "--to", "rds")
    assert code == 2 and "no such fit file" in err
