"""Checks of the API's arguments: each bad value is a one-line :class:`~walt_bayes.errors.WaltError`
naming the argument, as the command line names its option."""

from __future__ import annotations

import numbers
import re

from walt_bayes.errors import WaltError

__all__ = ["folder_name", "optional_count", "verdict_thresholds", "whole"]

#: What a run folder's name may hold (``<variant>-<data>-<UTC time>``).
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def whole(value, what: str, minimum: int = 0) -> int:
    """``value`` as a Python int ≥ ``minimum``, else a one-line WaltError.

    Parameters
    ----------
    value : object
        What the caller passed (a bool or a float is refused, a numpy integer accepted).
    what : str
        The argument's name, for the message.
    minimum : int
        The smallest value allowed.

    Returns
    -------
    int
        A plain Python int: what fit files store, whatever integer type came in.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise WaltError(f"{what}: expected a whole number ≥ {minimum}, got {value!r}")
    return int(value)


def optional_count(value, what: str) -> int | None:
    """A positive count (:func:`whole` ≥ 1), or None: the spec's default."""
    return None if value is None else whole(value, what, minimum=1)


def verdict_thresholds(rope, prob):
    """Verdict thresholds from a ROPE as odds ratios and a probability of direction.

    Parameters
    ----------
    rope : (float, float)
        Odds ratios per SD, ``0 < low < 1 < high``.
    prob : float
        Posterior probability of the predicted direction, in [0.5, 0.999].

    Returns
    -------
    walt_bayes.hypotheses.verdicts.Thresholds
    """
    # lazy: walt_bayes.hypotheses.verdicts imports ArviZ (seconds)
    from walt_bayes.hypotheses.verdicts import Thresholds, rope_from_odds_ratio

    try:
        low, high = (float(v) for v in rope)
        bounds = rope_from_odds_ratio(low, high)
    except (TypeError, ValueError) as err:
        raise WaltError(
            f"rope: expected two odds ratios (low, high), 0 < low < 1 < high ({err})"
        ) from err
    if isinstance(prob, bool) or not isinstance(prob, numbers.Real) or not 0.5 <= prob <= 0.999:
        raise WaltError(f"prob: expected a probability in [0.5, 0.999], got {prob!r}")
    return Thresholds(prob=float(prob), rope=bounds)


def folder_name(text: str) -> str:
    """``text`` made safe as one path component (runs of other characters become ``-``)."""
    return _UNSAFE.sub("-", str(text)).strip(".-") or "fit"
