"""Independent oracles: closed forms, central finite differences, mpmath and PyTorch float64.

Nothing here calls agrad: every expected number comes from ``math``, ``mpmath``
or ``torch``, so a test that compares agrad with these can really fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath


def central_diff(f: Callable[..., float], xs: Sequence[float], i: int, h: float = 1e-6) -> float:
    """(f(x + h e_i) - f(x - h e_i)) / 2h on plain floats."""
    up = list(xs)
    dn = list(xs)
    up[i] += h
    dn[i] -= h
    return (f(*up) - f(*dn)) / (2 * h)


def same(a: float, b: float, rel: float = 1e-12, abs_tol: float = 0.0) -> bool:
    """a equals b as IEEE numbers: nan matches nan, inf matches inf of the same sign, else close."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)


def mp_value_and_derivative(f: Callable[[Any], Any], x: float, dps: int = 60) -> tuple[float, float]:
    """f(x) and f'(x) by mpmath at ``dps`` digits, rounded to float (the exact reference)."""
    with mpmath.workdps(dps):
        xm = mpmath.mpf(x)
        return float(f(xm)), float(mpmath.diff(f, xm))


# -- closed forms of every unary op, written with math only -------------------


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass(frozen=True)
class Unary:
    """A unary op: how agrad spells it (method and module function) and its closed forms."""

    name: str
    method: Callable[[Any], Any]  # on a Value: x.exp(), -x, abs(x)
    module: str | None  # the agrad function of the same name, or None (neg and abs are operators)
    value: Callable[[float], float]
    deriv: Callable[[float], float]
    mp: Callable[[Any], Any]
    torch: str  # name in torch / torch.nn.functional
    lo: float
    hi: float  # a range where the closed forms are accurate and the op is smooth away from kinks


UNARY: list[Unary] = [
    Unary("neg", lambda x: -x, None, lambda x: -x, lambda x: -1.0, lambda x: -x, "neg", -5, 5),
    Unary("abs", abs, None, abs, lambda x: math.copysign(1.0, x), mpmath.fabs, "abs", -5, 5),
    Unary("exp", lambda x: x.exp(), "exp", math.exp, math.exp, mpmath.exp, "exp", -5, 5),
    Unary("log", lambda x: x.log(), "log", math.log, lambda x: 1 / x, mpmath.log, "log", 0.05, 20),
    Unary("sqrt", lambda x: x.sqrt(), "sqrt", math.sqrt, lambda x: 0.5 / math.sqrt(x), mpmath.sqrt, "sqrt", 0.05, 20),
    Unary("tanh", lambda x: x.tanh(), "tanh", math.tanh, lambda x: 1 / math.cosh(x) ** 2, mpmath.tanh, "tanh", -5, 5),
    Unary(
        "sigmoid",
        lambda x: x.sigmoid(),
        "sigmoid",
        _sigmoid,
        lambda x: math.exp(-x) / (1 + math.exp(-x)) ** 2,
        lambda x: 1 / (1 + mpmath.exp(-x)),
        "sigmoid",
        -5,
        5,
    ),
    Unary(
        "relu",
        lambda x: x.relu(),
        "relu",
        lambda x: max(x, 0.0),
        lambda x: 1.0 if x > 0 else 0.0,
        lambda x: x if x > 0 else mpmath.mpf(0),
        "relu",
        -5,
        5,
    ),
    Unary("sin", lambda x: x.sin(), "sin", math.sin, math.cos, mpmath.sin, "sin", -5, 5),
    Unary("cos", lambda x: x.cos(), "cos", math.cos, lambda x: -math.sin(x), mpmath.cos, "cos", -5, 5),
    Unary(
        "softplus",
        lambda x: x.softplus(),
        "softplus",
        lambda x: math.log1p(math.exp(x)),
        lambda x: 1 / (1 + math.exp(-x)),
        lambda x: mpmath.log1p(mpmath.exp(x)),
        "softplus",
        -5,
        5,
    ),
]


@dataclass(frozen=True)
class Binary:
    """A binary op and its closed-form partial derivatives."""

    name: str
    apply: Callable[[Any, Any], Any]  # on Values and numbers, as a user writes it
    value: Callable[[float, float], float]
    dx: Callable[[float, float], float]
    dy: Callable[[float, float], float]
    torch: Callable[[Any, Any], Any]


def _torch_fn(name: str) -> Callable[[Any, Any], Any]:
    def fn(x: Any, y: Any) -> Any:
        import torch

        return getattr(torch, name)(x, y)

    return fn


BINARY: list[Binary] = [
    Binary("+", lambda x, y: x + y, lambda x, y: x + y, lambda x, y: 1.0, lambda x, y: 1.0, lambda x, y: x + y),
    Binary("-", lambda x, y: x - y, lambda x, y: x - y, lambda x, y: 1.0, lambda x, y: -1.0, lambda x, y: x - y),
    Binary("*", lambda x, y: x * y, lambda x, y: x * y, lambda x, y: y, lambda x, y: x, lambda x, y: x * y),
    Binary("/", lambda x, y: x / y, lambda x, y: x / y, lambda x, y: 1 / y, lambda x, y: -x / y**2, lambda x, y: x / y),
    Binary(
        "**",
        lambda x, y: x**y,
        math.pow,
        lambda x, y: y * math.pow(x, y - 1),
        lambda x, y: math.pow(x, y) * math.log(x),
        lambda x, y: x**y,
    ),
    Binary(
        "minimum",
        lambda x, y: x.minimum(y) if hasattr(x, "minimum") else y.minimum(x),
        min,
        lambda x, y: 1.0 if x < y else 0.0,
        lambda x, y: 1.0 if y < x else 0.0,
        _torch_fn("minimum"),
    ),
    Binary(
        "maximum",
        lambda x, y: x.maximum(y) if hasattr(x, "maximum") else y.maximum(x),
        max,
        lambda x, y: 1.0 if x > y else 0.0,
        lambda x, y: 1.0 if y > x else 0.0,
        _torch_fn("maximum"),
    ),
]


# -- PyTorch float64 ------------------------------------------------------------


def torch_grads(f: Callable[..., Any], *xs: float, create_graph: bool = False) -> tuple[float, list[float]]:
    """f's value and its gradient with respect to each x, by PyTorch in float64.

    ``f`` receives float64 tensors that require grad; a gradient PyTorch leaves
    as None (the input was not used) is reported as 0.0.
    """
    import torch

    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out = f(*ts)
    out.backward()
    return float(out.item()), [0.0 if t.grad is None else float(t.grad.item()) for t in ts]


def torch_unary(name: str) -> Callable[[Any], Any]:
    """The torch function named ``name`` (softplus lives in torch.nn.functional)."""
    import torch

    return getattr(torch.nn.functional, name) if name == "softplus" else getattr(torch, name)
