"""The evidence table: one row per hypothesis (and per part of a multi-part one), with verdict and
posterior figures; and the side-by-side view of the balancing/bandwagoning pairs.

A fit that failed its convergence checks (root attribute ``convergence`` with ``ok`` false) gives no
verdicts: :func:`evidence_table` marks every judged row ``unreliable`` with the failing checks as its
reason, unless asked to show the verdicts as computed (``allow_unconverged``), and says which in
``attrs`` (:func:`convergence_banner`), so every output (CLI, report, grid) goes through one place.

Display: a row's mean and HDI bounds share one fixed-point format (:func:`row_numbers`), so a tiny
negative bound never turns into exponent notation beside plain decimals."""

from __future__ import annotations

import json
import math
import warnings

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from walt_bayes.fit.loaded import LoadedFit
from walt_bayes.hypotheses.effects import MAX_DRAWS
from walt_bayes.hypotheses.registry import REGISTRY, FitContext, Hypothesis, NotTestable, Part
from walt_bayes.hypotheses.verdicts import (
    JUDGED,
    NOT_TESTABLE,
    UNRELIABLE,
    Thresholds,
    combine,
    judge,
)

COLUMNS = [
    "id", "family", "verdict", "mean", "hdi_low", "hdi_high", "p_direction", "bayes_factor",
    "direction", "rope_low", "rope_high", "scale", "statement", "quantity", "pair", "part_of",
    "comparison", "reason", "note",
]
SIGN = {1: "> 0", -1: "< 0"}
DEFAULT_THRESHOLDS = Thresholds()


def savage_dickey(tree: xr.DataTree, name: str) -> float:
    """Savage–Dickey BF10 for ``name != 0`` (prior and posterior densities at 0), or NaN."""
    if "prior" not in tree.children or name not in tree["prior"].data_vars:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            bf = az.bayes_factor(tree, var_names=[name], ref_vals=0)
        except Exception:  # a prior without spread at 0, a non-scalar variable
            return float("nan")
    return float(bf[name].sel(bf_type="BF10"))


def row_id(h: Hypothesis, part: Part) -> str:
    """The table row that carries ``part``: the hypothesis' own row when it is its only judged part."""
    judged = [p for p in h.parts if p.in_verdict]
    if len(h.parts) == 1 or (len(judged) == 1 and judged[0] is part):
        return h.id
    return h.id + part.suffix


def _blank(h: Hypothesis, part: Part | None) -> dict:
    return {
        "id": h.id + (part.suffix if part else ""), "family": h.family,
        "statement": h.statement, "quantity": part.quantity if part else h.quantity,
        "direction": SIGN[part.direction] if part else h.direction_text,
        "pair": "", "part_of": "", "comparison": h.comparison or "",
        "mean": np.nan, "hdi_low": np.nan, "hdi_high": np.nan, "p_direction": np.nan,
        "bayes_factor": np.nan, "rope_low": np.nan, "rope_high": np.nan, "scale": "",
        "reason": "", "note": "", "verdict": NOT_TESTABLE,
    }


def _evaluate(ctx: FitContext, h: Hypothesis, part: Part, thresholds: Thresholds) -> dict:
    row = _blank(h, part)
    try:
        est = part.draws(ctx)
    except NotTestable as why:
        row["reason"] = f"{why}; testable with {part.needs}"
        return row
    rope = thresholds.rope_for(est.scale, est.weight)
    ev = judge(est.draws, part.direction, thresholds, rope=rope)
    row.update(
        verdict=ev.verdict, mean=ev.mean, hdi_low=ev.hdi_low, hdi_high=ev.hdi_high,
        p_direction=ev.p_direction, rope_low=rope[0], rope_high=rope[1], scale=est.scale, note=est.note,
    )
    if est.coefficient:
        row["bayes_factor"] = savage_dickey(ctx.tree, est.coefficient)
    return row


def _mark_unreliable(row: dict, failed: str) -> None:
    """Replace a judged verdict by ``unreliable`` (the fit failed its checks); ``not testable`` stays."""
    if failed and row["verdict"] in JUDGED:
        row["verdict"] = UNRELIABLE
        row["reason"] = failed


def hypothesis_rows(
    ctx: FitContext, h: Hypothesis, thresholds: Thresholds = DEFAULT_THRESHOLDS, failed: str = ""
) -> list[dict]:
    """The rows for one hypothesis: its own row, then one per further part.

    ``failed`` (the failing convergence checks, as a reason) marks every judged row ``unreliable``;
    a multi-part hypothesis is combined from its parts' verdicts as computed, so it stays
    ``not testable`` exactly when it would be for a converged fit.
    """
    if len(h.parts) == 1:
        row = _evaluate(ctx, h, h.parts[0], thresholds)
        row["id"] = h.id
        row["pair"] = h.pair or ""
        _mark_unreliable(row, failed)
        return [row]
    evaluated = [(p, _evaluate(ctx, h, p, thresholds)) for p in h.parts]
    computed = combine([r["verdict"] for p, r in evaluated if p.in_verdict])
    for _, r in evaluated:
        _mark_unreliable(r, failed)
    for p, r in evaluated:
        r["part_of"] = h.id
        r["comparison"] = ""
        if not p.in_verdict:
            r["note"] = "reported beside the verdict, not part of it" + (f"; {r['note']}" if r["note"] else "")
    judged = [(p, r) for p, r in evaluated if p.in_verdict]
    if len(judged) == 1:
        # The hypothesis' row carries its one judged quantity; the others follow as their own rows.
        p, main = judged[0]
        main = dict(main, id=h.id, part_of="", comparison=h.comparison or "")
        rest = [r for q, r in evaluated if q is not p]
    else:
        main = _blank(h, None)
        main["verdict"] = computed
        parts = ", ".join(f"{r['id']} {r['verdict']}" for _, r in judged)
        main["note"] = f"every part must hold: {parts}"
        missing = [r for _, r in judged if r["verdict"] == NOT_TESTABLE]
        if main["verdict"] == NOT_TESTABLE:
            main["reason"] = "; ".join(f"{r['id']}: {r['reason']}" for r in missing)
        _mark_unreliable(main, failed)
        rest = [r for _, r in evaluated]
    main["pair"] = h.pair or ""
    return [main, *rest]


def convergence_problems(tree: xr.DataTree) -> list[str]:
    """The convergence checks a fit failed, from its root attribute ``convergence`` (JSON with
    ``ok`` and ``problems``, :class:`walt_bayes.fit.diagnostics.Convergence`).

    Empty when the fit passed, and for a tree without the attribute (old fits, fake posteriors),
    which counts as converged.  An attribute that cannot be read counts as a failure.
    """
    value = tree.attrs.get("convergence")
    if value is None or (isinstance(value, str | bytes) and not value):
        return []
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return ["the fit's convergence record cannot be read"]
    if not isinstance(value, dict):
        return ["the fit's convergence record cannot be read"]
    problems = [str(p) for p in (value.get("problems") or [])]
    if value.get("ok", not problems):
        return []
    return problems or ["convergence checks failed"]


def unreliable_reason(problems: list[str]) -> str:
    """The reason an ``unreliable`` row carries: the failing checks."""
    return "the fit failed its convergence checks: " + "; ".join(problems)


def convergence_banner(table: pd.DataFrame) -> str:
    """What to print above an evidence table from a fit that failed its convergence checks ('' if
    it passed): which checks failed and whether the verdicts are marked ``unreliable`` or shown as
    computed (``allow_unconverged``)."""
    problems = list(table.attrs.get("convergence_problems") or [])
    if not problems:
        return ""
    if table.attrs.get("verdicts_as_computed"):
        return unreliable_reason(problems) + "; verdicts shown as computed, not reliable"
    return unreliable_reason(problems) + "; no verdicts given (every judged row is marked unreliable)"


def evidence_table(
    fit: LoadedFit | xr.DataTree,
    ids: list[str] | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    max_draws: int | None = MAX_DRAWS,
    *,
    allow_unconverged: bool = False,
) -> pd.DataFrame:
    """Evidence for each hypothesis from one fit.

    Parameters
    ----------
    fit : LoadedFit or xarray.DataTree
        A fit (:func:`walt_bayes.fit.loaded.open_fit`), or its tree.
    ids : list of str, optional
        Hypothesis ids (default: every registered one, in registry order: Walt's 32, then the
        variant-level claims).
    thresholds : Thresholds
        Verdict settings.
    max_draws : int, optional
        Marginal effects use at most this many posterior draws (evenly thinned:
        :func:`walt_bayes.fit.draws.thin_index`).
    allow_unconverged : bool
        For a fit that failed its convergence checks (:func:`convergence_problems`), keep the
        verdicts as computed instead of marking them ``unreliable`` (the table's attrs still say
        the fit failed; print :func:`convergence_banner` with it).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`; untestable hypotheses carry the reason and the data that would make
        them testable; for a fit that failed its convergence checks, every row that would be
        supported, contradicted, practically null or inconclusive is ``unreliable`` with the failing
        checks as its reason.  ``attrs["notes"]`` holds what to print under the table;
        ``attrs["convergence_problems"]`` the failing checks ([] for a converged fit) and
        ``attrs["verdicts_as_computed"]`` whether they were kept despite a failure.
    """
    ctx = FitContext(fit, max_draws=max_draws)
    problems = convergence_problems(ctx.tree)
    failed = unreliable_reason(problems) if problems and not allow_unconverged else ""
    rows = []
    for hid in ids or list(REGISTRY):
        rows.extend(hypothesis_rows(ctx, REGISTRY[hid], thresholds, failed=failed))
    table = pd.DataFrame(rows, columns=COLUMNS)
    notes = [thresholds.describe()]
    if "effects" in ctx.__dict__:
        notes.append(ctx.effects.note)
    table.attrs["notes"] = notes
    table.attrs["convergence_problems"] = problems
    table.attrs["verdicts_as_computed"] = bool(problems) and allow_unconverged
    return table


def pairs_table(table: pd.DataFrame) -> pd.DataFrame:
    """Balancing and bandwagoning hypotheses side by side (BAL-k beside BW-k), with what each
    theory predicts for each quantity."""
    by_id = table.set_index("id")
    out = []
    for hid, h in REGISTRY.items():
        if h.family != "BAL" or not h.pair or hid not in by_id.index or h.pair not in by_id.index:
            continue
        bw = REGISTRY[h.pair]
        a, b = by_id.loc[hid], by_id.loc[h.pair]
        out.append({
            "pair": f"{hid} / {h.pair}",
            "BAL verdict": a["verdict"], "BAL mean": a["mean"], "BAL predicts": a["direction"],
            "BW verdict": b["verdict"], "BW mean": b["mean"],
            "BW predicts": b["direction"] + (f" ({bw.opposite})" if bw.opposite else ""),
            "same quantity": h.same_quantity_as_pair,
        })
    return pd.DataFrame(out)


def table_records(table: pd.DataFrame) -> list[dict]:
    """JSON-ready row objects (NaN becomes null)."""
    return json.loads(table.to_json(orient="records"))


def fmt(x, digits: int = 3) -> str:
    """A number for display ('—' for NaN): ``digits`` significant digits (P(direction), BF10)."""
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def row_decimals(values, digits: int = 3) -> int:
    """Decimals that give the largest magnitude among ``values`` about ``digits`` significant digits."""
    big = max((abs(float(v)) for v in values if _finite(v)), default=0.0)
    if big == 0:
        return digits - 1
    return min(max(digits - 1 - math.floor(math.log10(big)), 0), 20)


def format_row(values, digits: int = 3, sign: bool = False) -> list[str]:
    """``values`` in one fixed-point format (no exponent), chosen from their largest magnitude, so
    numbers shown side by side (a mean and its HDI bounds) read on one scale: (1e-4, -2.3e-5, 3e-4)
    gives '0.000100', '-0.000023', '0.000300'.  '—' for NaN; ``sign`` adds '+' to positive values."""
    d = row_decimals(values, digits)
    plus = "+" if sign else ""
    return [f"{float(v):{plus}.{d}f}" if _finite(v) else "—" for v in values]


def fmt_fixed(x, digits: int = 3) -> str:
    """One number in fixed-point notation with about ``digits`` significant digits ('—' for NaN)."""
    return format_row([x], digits)[0]


def row_numbers(mean, hdi_low, hdi_high, digits: int = 3) -> tuple[str, str]:
    """The mean and the HDI ('[low, high]', or '—') of one table row, in one shared format
    (:func:`format_row`); every evidence table display (CLI, markdown, report) uses this."""
    m, lo, hi = format_row([mean, hdi_low, hdi_high], digits)
    return m, ("—" if lo == "—" or hi == "—" else f"[{lo}, {hi}]")


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (no optional dependency); cells are shown as text."""

    def cell(v) -> str:
        if isinstance(v, float):
            v = fmt_fixed(v)
        return str(v).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])
