"""Argument checks shared by ``nn``, ``optim``, ``datasets`` and ``serialize``: a clear error naming the argument.

>>> count(3, "steps"), number(0.5, "lr", hi=1.0)
(3, 0.5)
"""

from __future__ import annotations

import math
import numbers
import sys


def count(n: object, what: str, lo: int = 1) -> int:
    """n as an int from lo up; bools, floats and sizes no list could hold are refused.

    >>> count(0, "nin")
    Traceback (most recent call last):
    ...
    ValueError: nin must be an int >= 1, got 0
    >>> count(10**400, "nin")
    Traceback (most recent call last):
    ...
    ValueError: nin must be an int >= 1 no larger than sys.maxsize, got an int of 1329 bits
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < lo:
        raise ValueError(f"{what} must be an int >= {lo}, got {n!r}")
    if n > sys.maxsize:  # no list can hold that many items: refuse it rather than try for ever
        raise ValueError(
            f"{what} must be an int >= {lo} no larger than sys.maxsize, got an int of {n.bit_length()} bits"
        )
    return n


def number(x: object, what: str, lo: float = -math.inf, hi: float = math.inf, hi_open: bool = False) -> float:
    """x as a finite float in [lo, hi] (or [lo, hi)); bools, nan, inf and ints beyond every float are refused.

    >>> number(10**400, "lr", 0.0)
    Traceback (most recent call last):
    ...
    ValueError: lr must be a finite number >= 0.0, got an int too large for a float
    """
    span = f" in [{lo}, {hi}{')' if hi_open else ']'}" if hi < math.inf else f" >= {lo}" if lo > -math.inf else ""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise ValueError(f"{what} must be a finite number{span}, got {type(x).__name__}: {x!r}")
    try:
        v = float(x)
    except OverflowError:
        raise ValueError(f"{what} must be a finite number{span}, got an int too large for a float") from None
    if not (math.isfinite(v) and lo <= v <= hi) or (hi_open and v >= hi):
        raise ValueError(f"{what} must be a finite number{span}, got {x!r}")
    return v


def real(x: object, what: str, wrong_type: type[Exception] = TypeError) -> float:
    """x as a float, nan and inf included; a bool or non-number raises wrong_type, an int past any float ValueError.

    >>> real(3, "w"), real(float("inf"), "w")
    (3.0, inf)
    >>> real(10**400, "state_dict['w']")
    Traceback (most recent call last):
    ...
    ValueError: state_dict['w'] must be a real number that fits a float, got an int of 1329 bits
    """
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise wrong_type(f"{what} must be a real number, got {type(x).__name__}: {x!r}")
    try:
        return float(x)
    except OverflowError:  # an int (or Fraction) beyond 1.8e308: say so, not "int too large" from deep inside
        size = f"an int of {x.bit_length()} bits" if isinstance(x, int) else f"a {type(x).__name__} too large for one"
        raise ValueError(f"{what} must be a real number that fits a float, got {size}") from None
