"""Argument checks shared by ``nn``, ``optim``, ``datasets`` and ``serialize``: a clear error naming the argument.

>>> count(3, "steps"), number(0.5, "lr", hi=1.0)
(3, 0.5)
"""

from __future__ import annotations

import math
import numbers
import reprlib
import sys

QUOTE_LIMIT = 200
"""At most about this many characters of an offending value go into an error message."""

_short = reprlib.Repr()
_short.maxstring = _short.maxother = _short.maxlong = QUOTE_LIMIT
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 10


MAX_NESTING = 100
"""Lists and tuples nested deeper than this, as arguments or results, are refused (not a RecursionError)."""


def too_deep(what: str) -> ValueError:
    """The error for ``what`` nested more than MAX_NESTING lists/tuples deep.

    >>> too_deep("x")
    ValueError('x is nested more than 100 lists/tuples deep')
    """
    return ValueError(f"{what} is nested more than {MAX_NESTING} lists/tuples deep")


def quote(x: object) -> str:
    """``repr(x)`` for an error message, cut to about 200 characters: a 100 MB value gives a short message.

    >>> quote("a" * 1000)[:12], len(quote("a" * 1000)) <= QUOTE_LIMIT + 40
    ("'aaaaaaaaaaa", True)
    >>> quote(0.5)
    '0.5'
    """
    if isinstance(x, int) and x.bit_length() > 600:  # repr of a huge int is slow, or refused
        return f"an int of {x.bit_length()} bits"
    text = _short.repr(x)  # reprlib also survives a __repr__ that raises
    if len(text) > QUOTE_LIMIT:
        text = text[: QUOTE_LIMIT - 3] + "..."
    if isinstance(x, str | bytes) and len(x) > QUOTE_LIMIT:
        text += f" ({len(x):,} characters)" if isinstance(x, str) else f" ({len(x):,} bytes)"
    return text


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
        raise ValueError(f"{what} must be an int >= {lo}, got {quote(n)}")
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
        raise ValueError(f"{what} must be a finite number{span}, got {type(x).__name__}: {quote(x)}")
    try:
        v = float(x)
    except OverflowError:
        raise ValueError(f"{what} must be a finite number{span}, got an int too large for a float") from None
    if not (math.isfinite(v) and lo <= v <= hi) or (hi_open and v >= hi):
        raise ValueError(f"{what} must be a finite number{span}, got {quote(x)}")
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
        raise wrong_type(f"{what} must be a real number, got {type(x).__name__}: {quote(x)}")
    try:
        return float(x)
    except OverflowError:  # an int (or Fraction) beyond 1.8e308: say so, not "int too large" from deep inside
        size = f"an int of {x.bit_length()} bits" if isinstance(x, int) else f"a {type(x).__name__} too large for one"
        raise ValueError(f"{what} must be a real number that fits a float, got {size}") from None
