"""Float kernels for every primitive, with IEEE-754 edges instead of exceptions.

Python's ``math`` raises on ``log(0)``, ``exp(1000)`` or ``1/0``; NumPy and
PyTorch return ``-inf``, ``inf`` and ``inf``. agrad follows the latter, so a
graph never stops halfway with a traceback: a bad value flows on as inf or nan
and ``agrad.detect_anomaly()`` can find where it came from.
"""

from __future__ import annotations

import math

INF = math.inf
NAN = math.nan
tanh = math.tanh  # already finite everywhere: tanh(1000) = 1.0


def div(x: float, y: float) -> float:
    """x / y, with x/0 = ±inf and 0/0 = nan.

    >>> div(1.0, -0.0), div(0.0, 0.0)
    (-inf, nan)
    """
    try:
        return x / y
    except ZeroDivisionError:
        if x == 0.0 or x != x:
            return NAN
        return math.copysign(INF, x) * math.copysign(1.0, y)


def _odd_int(y: float) -> bool:
    return y.is_integer() and y % 2.0 == 1.0


def pow(x: float, y: float) -> float:
    """x ** y as C's pow: (-8)**(1/3) = nan, 0**-1 = inf, overflow = ±inf.

    >>> pow(2.0, 3.0), pow(0.0, -1.0), pow(-8.0, 1 / 3)
    (8.0, inf, nan)
    """
    try:
        return math.pow(x, y)
    except OverflowError:
        return -INF if x < 0.0 and _odd_int(y) else INF
    except ValueError:  # a zero base with a negative exponent, or a negative base with a fraction
        if x != 0.0:
            return NAN
        return math.copysign(INF, x) if _odd_int(y) else INF


def exp(x: float) -> float:
    """e ** x, with overflow to inf.

    >>> exp(0.0), exp(1000.0)
    (1.0, inf)
    """
    try:
        return math.exp(x)
    except OverflowError:
        return INF


def log(x: float) -> float:
    """Natural log, with log(0) = -inf and log(x < 0) = nan.

    >>> log(1.0), log(0.0), log(-1.0)
    (0.0, -inf, nan)
    """
    if x > 0.0:
        return math.log(x)
    return -INF if x == 0.0 else NAN


def sqrt(x: float) -> float:
    """Square root, with sqrt(x < 0) = nan.

    >>> sqrt(4.0), sqrt(-1.0)
    (2.0, nan)
    """
    return math.sqrt(x) if x >= 0.0 else NAN


def sin(x: float) -> float:
    """sin(x), with sin(±inf) = nan.

    >>> sin(0.0), sin(math.inf)
    (0.0, nan)
    """
    return math.sin(x) if math.isfinite(x) else NAN


def cos(x: float) -> float:
    """cos(x), with cos(±inf) = nan.

    >>> cos(0.0), cos(math.inf)
    (1.0, nan)
    """
    return math.cos(x) if math.isfinite(x) else NAN


def sigmoid(x: float) -> float:
    """1 / (1 + e**-x), never overflowing.

    >>> sigmoid(0.0), sigmoid(-1000.0), sigmoid(1000.0)
    (0.5, 0.0, 1.0)
    """
    # exp of a non-positive number cannot overflow, so pick the branch by sign.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def softplus(x: float) -> float:
    """log(1 + e**x), stable for any finite x.

    >>> softplus(0.0) == math.log(2.0), softplus(1000.0), softplus(-1000.0)
    (True, 1000.0, 0.0)
    """
    # max(x, 0) + log1p(e**-|x|): the exponent is never positive, so no overflow,
    # and log1p keeps precision where e**-|x| is tiny.
    if x != x:
        return NAN
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def relu(x: float) -> float:
    """max(x, 0), passing nan through.

    >>> relu(-2.0), relu(3.0)
    (0.0, 3.0)
    """
    return x if x > 0.0 or x != x else 0.0


def sign(x: float) -> float:
    """-1, 0 or 1: the derivative of abs, with abs'(0) = 0 and abs'(nan) = 0 as in PyTorch.

    >>> sign(-3.0), sign(0.0), sign(2.0), sign(NAN)
    (-1.0, 0.0, 1.0, 0.0)
    """
    return float((x > 0.0) - (x < 0.0))


def step(x: float) -> float:
    """0 where x <= 0, else 1: the derivative of relu, with relu'(0) = 0.

    A nan passes its gradient through, as PyTorch's relu does.

    >>> step(0.0), step(0.5), step(NAN)
    (0.0, 1.0, 1.0)
    """
    return 0.0 if x <= 0.0 else 1.0
