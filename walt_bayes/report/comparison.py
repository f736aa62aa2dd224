"""The comparison report's numbers: labels of the fits and their ranked elpd table."""

from __future__ import annotations

import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from walt_bayes.errors import WaltError
from walt_bayes.report.fit_view import ReportFit


def fit_labels(fits: list[ReportFit]) -> list[str]:
    """A unique label per fit: the variant name, with the run folder where variants repeat."""
    names = [str(f.tree.attrs.get("spec_name", f.path.name)) for f in fits]
    return [
        f"{n} ({f.path.name})" if names.count(n) > 1 else n
        for n, f in zip(names, fits, strict=True)
    ]


ELPD_COLUMNS = ["variant", "rank", "elpd", "se", "elpd_diff", "dse", "weight", "p"]


def compare_elpd(fits: dict[str, ReportFit]) -> tuple[pd.DataFrame | None, list[str]]:
    """PSIS-LOO comparison of the fits' alliance log-likelihood, ranked (best first), with notes.

    Uses :func:`walt_bayes.compare.compare_runs` when the package has it; otherwise
    ``az.loo`` per fit and ``az.compare``.  Returns ``(None, [reason])`` when the fits
    cannot be compared (different data or alliance rows).
    """
    try:
        # lazy: walt_bayes.compare.table imports nutpie and numba (through compare.kfold)
        from walt_bayes.compare import compare_runs
    except ImportError:
        compare_runs = None
    if compare_runs is not None:
        try:
            table = compare_runs([f.path for f in fits.values()], method="loo", progress=False)
        except WaltError as err:
            return None, [str(err)]
        by_path = {str(Path(f.path).resolve()): label for label, f in fits.items()}
        if "run" in table.columns:
            mapped = table["run"].map(
                lambda p: (
                    by_path.get(str(Path(p).resolve().parent))
                    or by_path.get(str(Path(p).resolve()))
                )
            )
            table = table.assign(variant=mapped.fillna(table["variant"]))
        keep = [
            c
            for c in [*ELPD_COLUMNS, "pareto_k_max", "n_pareto_k_gt_0.7", "scheme"]
            if c in table.columns
        ]
        notes = list(table.attrs.get("notes", [])) + list(table.attrs.get("warnings", []))
        return table[keep].reset_index(drop=True), notes
    shas = {f.tree.attrs.get("data_sha256") for f in fits.values()}
    sizes = {len(f.ally_y) for f in fits.values()}
    if len(shas) > 1 or len(sizes) > 1:
        return None, [
            "the fits were made on different data or alliance rows: elpd is not comparable"
        ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loos = {label: az.loo(f.tree, var_name="alliance") for label, f in fits.items()}
        cmp = az.compare(loos, method="stacking")
    cmp = cmp.reset_index(names="variant")
    keep = [c for c in ELPD_COLUMNS if c in cmp.columns]
    bad = {label: int((np.asarray(lo.pareto_k) > 0.7).sum()) for label, lo in loos.items()}
    notes = ["PSIS-LOO on the alliance log-likelihood (az.loo, az.compare)."]
    notes += [
        f"{label}: {n} observations with Pareto k > 0.7 (LOO unreliable there)"
        for label, n in bad.items()
        if n
    ]
    return cmp[keep], notes
