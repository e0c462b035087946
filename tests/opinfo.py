"""An op registry for tests, in the style of PyTorch's OpInfo.

One ``OpInfo`` per way of calling a primitive of ``agrad.rules.RULES``: how to
build the node with agrad, the same op in mpmath (the exact reference, at any
precision) and in PyTorch float64, the domain each operand is drawn from, and
where the op has a kink. Every test of derivatives is driven by this table, so a
new primitive without a row here fails ``test_every_rule_has_an_opinfo``.

Operand domains are named, not given as intervals, because the graph strategy
(tests/strategies.py) must also *steer* a computed value into the domain:

- ``real``: any value the graph produces (bounded by the strategy);
- ``small``: |x| <= 3, for exponents, so that exp and pow stay finite;
- ``positive``: x >= 0.1, for log, sqrt and real powers;
- ``nonzero``: |x| >= 0.5, for divisors and negative integer powers.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath

import agrad

INF = math.inf

# Sampling interval for each domain, used by op-level tests; "nonzero" is
# sampled on [0.5, 8] with a random sign.
DOMAINS: dict[str, tuple[float, float]] = {
    "real": (-8.0, 8.0),
    "small": (-3.0, 3.0),
    "positive": (0.1, 8.0),
    "nonzero": (0.5, 8.0),
}


def in_domain(kind: str, x: float) -> bool:
    """True if x lies in the named domain."""
    if kind == "small":
        return abs(x) <= 3.0
    if kind == "positive":
        return x >= 0.1
    if kind == "nonzero":
        return abs(x) >= 0.5
    return math.isfinite(x)


@dataclass(frozen=True)
class Slot:
    """One operand: its domain, and whether it may (or must) be a plain constant."""

    kind: str = "real"
    const: str = "never"  # "never", "may" or "must"
    pool: tuple[float, ...] = ()  # constants to choose from; empty = any value in the domain


@dataclass(frozen=True)
class OpInfo:
    """One way of calling a primitive, with its references."""

    name: str  # the key in agrad.rules.RULES, and the _op of the node built
    variant: str
    slots: tuple[Slot, ...]  # for n-ary ops: the slot that every operand uses
    agrad: Callable[..., Any]
    mp: Callable[..., Any]
    torch: Callable[..., Any]
    render: Callable[[Sequence[str]], str]  # Python source of the call, for reproducers
    kink: Callable[..., float] = field(default=lambda *xs: INF)  # distance of the operands to a kink
    nary: bool = False  # sum and dot take any number of operands (dot: an even number)

    @property
    def id(self) -> str:
        return f"{self.name}[{self.variant}]" if self.variant else self.name

    def __repr__(self) -> str:
        return f"BY_ID[{self.id!r}]"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """Hypothesis prints examples with this: the row's name, not all its fields."""
        p.text(repr(self))


# -- references ---------------------------------------------------------------


def _t(x: Any) -> Any:
    """A float constant as a float64 tensor (torch.minimum and stack need tensors)."""
    import torch

    return x if isinstance(x, torch.Tensor) else torch.tensor(float(x), dtype=torch.float64)


def _torch(name: str) -> Callable[..., Any]:
    def fn(*xs: Any) -> Any:
        import torch

        return getattr(torch, name)(*[_t(x) for x in xs])

    return fn


def _torch_softplus(x: Any) -> Any:
    import torch

    # torch.nn.functional.softplus switches to x above a threshold of 20, an
    # approximation; logaddexp(x, 0) is the exact log(1 + e**x), as agrad is.
    return torch.logaddexp(_t(x), _t(0.0))


def _torch_sum(*xs: Any) -> Any:
    import torch

    return torch.stack([_t(x) for x in xs]).sum()


def _torch_dot(*wx: Any) -> Any:
    import torch

    n = len(wx) // 2
    return torch.dot(torch.stack([_t(w) for w in wx[:n]]), torch.stack([_t(x) for x in wx[n:]]))


def _torch_dot_relu(*wx: Any) -> Any:
    import torch

    return torch.relu(_torch_dot(*wx))


def _mp_pow(x: Any, c: Any) -> Any:
    # an integer exponent keeps a negative base real in mpmath
    c = mpmath.mpf(c)
    return x ** int(c) if c == int(c) else x**c


def _mp_min(x: Any, y: Any) -> Any:
    return x if x < y else y


def _mp_max(x: Any, y: Any) -> Any:
    return x if x > y else y


def _mp_dot(*wx: Any) -> Any:
    n = len(wx) // 2
    return mpmath.fdot(zip(wx[:n], wx[n:]))


def _mp_dot_relu(*wx: Any) -> Any:
    z = _mp_dot(*wx)
    return z if z > 0 else 0 * z


def _call(fn: str) -> Callable[[Sequence[str]], str]:
    return lambda a: f"{fn}({', '.join(a)})"


def _infix(sym: str) -> Callable[[Sequence[str]], str]:
    return lambda a: f"({a[0]} {sym} {a[1]})"


def _dot_src(a: Sequence[str], fn: str = "dot") -> str:
    n = len(a) // 2
    return f"agrad.{fn}([{', '.join(a[:n])}], [{', '.join(a[n:])}])"


def _unary(name: str, agrad_fn: Callable[..., Any], mp_fn: Callable[..., Any], kind: str = "real", **kw: Any) -> OpInfo:
    torch_fn = kw.pop("torch", None) or _torch(name)
    return OpInfo(name, "", (Slot(kind),), agrad_fn, mp_fn, torch_fn, _call(f"agrad.{name}"), **kw)


R, MAY = Slot("real", "may"), "may"
INT_POWERS = (0.0, 1.0, 2.0, 3.0, 4.0)
NEG_INT_POWERS = (-1.0, -2.0, -3.0)
REAL_POWERS = (0.5, 1.5, -0.5, 2.5, 1.0 / 3.0, -1.25)
BASES = (0.5, 2.0, math.e, 10.0)

OPS: tuple[OpInfo, ...] = (
    OpInfo("+", "", (R, R), operator.add, operator.add, operator.add, _infix("+")),
    OpInfo("-", "", (R, R), operator.sub, operator.sub, operator.sub, _infix("-")),
    OpInfo("*", "", (R, R), operator.mul, operator.mul, operator.mul, _infix("*")),
    OpInfo("/", "", (R, Slot("nonzero", MAY)), operator.truediv, operator.truediv, operator.truediv, _infix("/")),
    OpInfo("neg", "", (Slot(),), operator.neg, operator.neg, operator.neg, lambda a: f"(-{a[0]})"),
    OpInfo("**", "int", (Slot(), Slot("real", "must", INT_POWERS)), operator.pow, _mp_pow, operator.pow, _infix("**")),
    OpInfo(
        "**", "negint", (Slot("nonzero"), Slot("real", "must", NEG_INT_POWERS)), operator.pow, _mp_pow, operator.pow,
        _infix("**"),
    ),
    OpInfo(
        "**", "real", (Slot("positive"), Slot("real", "must", REAL_POWERS)), operator.pow, _mp_pow, operator.pow,
        _infix("**"),
    ),
    OpInfo("pow", "x**y", (Slot("positive"), Slot("small")), operator.pow, operator.pow, operator.pow, _infix("**")),
    OpInfo(
        "pow", "c**y", (Slot("positive", "must", BASES), Slot("small")), operator.pow, operator.pow, operator.pow,
        _infix("**"),
    ),
    _unary("exp", agrad.exp, mpmath.exp, "small"),
    _unary("log", agrad.log, mpmath.log, "positive"),
    _unary("sqrt", agrad.sqrt, mpmath.sqrt, "positive"),
    _unary("tanh", agrad.tanh, mpmath.tanh),
    _unary("sigmoid", agrad.sigmoid, lambda x: 1 / (1 + mpmath.exp(-x))),
    _unary("softplus", agrad.softplus, lambda x: mpmath.log1p(mpmath.exp(x)), torch=_torch_softplus),
    _unary("relu", agrad.relu, lambda x: x if x > 0 else 0 * x, kink=lambda x: abs(x)),
    OpInfo("abs", "", (Slot(),), abs, abs, _torch("abs"), lambda a: f"abs({a[0]})", kink=lambda x: abs(x)),
    _unary("sin", agrad.sin, mpmath.sin),
    _unary("cos", agrad.cos, mpmath.cos),
    OpInfo(
        "min", "", (R, R), agrad.minimum, _mp_min, _torch("minimum"), _call("agrad.minimum"),
        kink=lambda x, y: abs(x - y),
    ),
    OpInfo(
        "max", "", (R, R), agrad.maximum, _mp_max, _torch("maximum"), _call("agrad.maximum"),
        kink=lambda x, y: abs(x - y),
    ),
    OpInfo(
        "sum", "", (R,), lambda *xs: agrad.sum(xs), lambda *xs: mpmath.fsum(xs), _torch_sum,
        lambda a: f"agrad.sum([{', '.join(a)}])", nary=True,
    ),
    OpInfo(
        "dot", "", (R,), lambda *wx: agrad.dot(wx[: len(wx) // 2], wx[len(wx) // 2 :]), _mp_dot, _torch_dot,
        _dot_src, nary=True,
    ),
    OpInfo(
        "dot_relu", "", (R,), lambda *wx: agrad.dot_relu(wx[: len(wx) // 2], wx[len(wx) // 2 :]), _mp_dot_relu,
        _torch_dot_relu, lambda a: _dot_src(a, "dot_relu"), kink=lambda *wx: abs(float(_mp_dot(*wx))), nary=True,
    ),
)  # fmt: skip

BY_ID: dict[str, OpInfo] = {info.id: info for info in OPS}


def arity_slots(info: OpInfo, n: int = 0) -> tuple[Slot, ...]:
    """The slots of a call with n operands (n is used only by n-ary ops; dot needs it even)."""
    return info.slots * n if info.nary else info.slots
