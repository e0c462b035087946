"""Every op's value and derivative, as a method and as a module function, against oracles.

Oracles (tests/oracles.py): closed forms written with ``math``, mpmath at 60
digits, central finite differences on plain floats, and PyTorch float64.
"""

from __future__ import annotations

import math
from typing import Any

import mpmath
import numpy as np
import pytest
from conftest import needs_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import BINARY, UNARY, Binary, Unary, central_diff, mp_value_and_derivative, same, torch_grads, torch_unary

import agrad
from agrad import Value

INF, NAN = math.inf, math.nan


def _points(op: Unary, n: int = 9) -> list[float]:
    # An irrational offset keeps every point off the kinks at 0.
    return [op.lo + (op.hi - op.lo) * (k + 0.5 / math.pi) / n for k in range(n)]


UNARY_CASES = [pytest.param(op, x, id=f"{op.name}({x:.3g})") for op in UNARY for x in _points(op)]
UNARY_IDS = [op.name for op in UNARY]


def _grad1(op: Unary, x: float, spelling: str = "method") -> tuple[float, float]:
    v = Value(x)
    out = op.method(v) if spelling == "method" else getattr(agrad, op.module or "")(v)
    assert isinstance(out, Value)
    out.backward()
    return out.data, v.grad


# -- unary ops: value and derivative ------------------------------------------


@pytest.mark.parametrize(("op", "x"), UNARY_CASES)
def test_unary_matches_closed_form(op: Unary, x: float) -> None:
    y, dy = _grad1(op, x)
    assert same(y, op.value(x), rel=1e-13, abs_tol=1e-15)
    assert same(dy, op.deriv(x), rel=1e-12, abs_tol=1e-15)


@pytest.mark.parametrize(("op", "x"), UNARY_CASES)
def test_unary_matches_mpmath(op: Unary, x: float) -> None:
    y, dy = _grad1(op, x)
    ym, dym = mp_value_and_derivative(op.mp, x)
    assert same(y, ym, rel=1e-14, abs_tol=1e-16)
    # 1 - tanh**2 and s * (1 - s) cancel: about one ulp of 1.0 absolute error is inherent.
    assert same(dy, dym, rel=1e-13, abs_tol=1e-15)


@pytest.mark.parametrize(("op", "x"), UNARY_CASES)
def test_unary_matches_central_difference_on_floats(op: Unary, x: float) -> None:
    # The module function takes floats too (float in, float out): the FD runs on it alone.
    f = getattr(agrad, op.module) if op.module else (lambda t: op.method(t))
    assert isinstance(f(x), float)
    _, dy = _grad1(op, x)
    assert dy == pytest.approx(central_diff(f, [x], 0), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("op", [op for op in UNARY if op.module], ids=lambda op: op.name)
def test_module_function_equals_method(op: Unary) -> None:
    for x in _points(op):
        assert _grad1(op, x, "module") == _grad1(op, x, "method")
        assert getattr(agrad, op.module or "")(x) == op.method(Value(x)).data


@given(st.floats(-30, 30))
@settings(max_examples=150, deadline=None)
def test_smooth_unary_derivatives_match_mpmath_anywhere(x: float) -> None:
    for op in UNARY:
        if op.name in ("log", "sqrt"):
            x = abs(x) + 1e-3
        if op.name in ("abs", "relu") and abs(x) < 1e-3:
            continue  # mpmath.diff differentiates numerically, across the kink
        y, dy = _grad1(op, x)
        ym, dym = mp_value_and_derivative(op.mp, x)
        # Absolute slack on the derivative: 1 - tanh(x)**2 loses all relative accuracy once tanh(x) rounds to 1.
        assert same(y, ym, rel=1e-13, abs_tol=1e-300), op.name
        assert same(dy, dym, rel=1e-9, abs_tol=1e-15), op.name


@needs_torch
@pytest.mark.parametrize("op", UNARY, ids=UNARY_IDS)
@pytest.mark.parametrize(
    "x", [0.0, -0.0, 1.0, -1.0, 0.5, 30.0, -30.0, 710.0, -710.0, 1000.0, -1000.0, 1e308, -1e308, INF, -INF, NAN]
)
def test_unary_matches_torch_everywhere(op: Unary, x: float) -> None:
    """Kinks, large inputs, infinities and nan, value and gradient, as PyTorch float64."""
    if op.name == "softplus" and 20 < x < 1e308:
        pytest.skip("torch's softplus returns x with slope 1 above its threshold 20; mpmath checks there")
    ty, (tdy,) = torch_grads(torch_unary(op.torch), x)
    y, dy = _grad1(op, x)
    # abs_tol: sigmoid'(-710) is the subnormal 4.5e-309, which agrad keeps and torch flushes to 0.
    assert same(y, ty, rel=1e-14, abs_tol=1e-300), (y, ty)
    assert same(dy, tdy, rel=1e-14, abs_tol=1e-300), (dy, tdy)


@pytest.mark.parametrize(
    ("op", "x", "y", "dy"),
    [
        ("relu", 0.0, 0.0, 0.0),  # relu'(0) = 0, as PyTorch
        ("relu", -0.0, 0.0, 0.0),
        ("abs", 0.0, 0.0, 0.0),  # abs'(0) = 0, as PyTorch
        ("abs", -0.0, 0.0, 0.0),
        ("relu", 1e-300, 1e-300, 1.0),
        ("relu", -1e-300, 0.0, 0.0),
        ("abs", -1e-300, 1e-300, -1.0),
    ],
)
def test_kinks_choose_as_pytorch(op: str, x: float, y: float, dy: float) -> None:
    out, d = _grad1(next(u for u in UNARY if u.name == op), x)
    assert (out, d) == (y, dy)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus"])
@pytest.mark.parametrize("x", [40.0, 700.0, 1000.0, 1e5, 1e308, -40.0, -700.0, -1000.0, -1e5, -1e308])
def test_saturating_ops_finite_and_exact_at_large_inputs(name: str, x: float) -> None:
    op = next(u for u in UNARY if u.name == name)
    y, dy = _grad1(op, x)
    assert math.isfinite(y) and math.isfinite(dy)
    # mpmath's exponent range is unbounded, so its closed-form derivatives are exact even at 1e308.
    derivative = {
        "tanh": lambda t: 1 / mpmath.cosh(t) ** 2,
        "sigmoid": lambda t: mpmath.exp(-t) / (1 + mpmath.exp(-t)) ** 2,
        "softplus": lambda t: 1 / (1 + mpmath.exp(-t)),
    }[name]
    with mpmath.workdps(40):
        ym, dym = float(op.mp(mpmath.mpf(x))), float(derivative(mpmath.mpf(x)))
    assert same(y, ym, rel=1e-15)
    # 1 - tanh(40)**2 is 0.0 in floats, while the truth is 7e-35: an absolute error far below one ulp of 1.
    assert same(dy, dym, rel=1e-12, abs_tol=2e-16)


# -- IEEE-754 edges: never an exception -------------------------------------------


EDGES: list[tuple[str, Any, float]] = [
    ("log(0)", lambda v: v.log(), 0.0, -INF),
    ("log(-0.0)", lambda v: v.log(), -0.0, -INF),
    ("log(-1)", lambda v: v.log(), -1.0, NAN),
    ("log(inf)", lambda v: v.log(), INF, INF),
    ("sqrt(-1)", lambda v: v.sqrt(), -1.0, NAN),
    ("sqrt(0)", lambda v: v.sqrt(), 0.0, 0.0),
    ("1/0", lambda v: 1 / v, 0.0, INF),
    ("1/-0.0", lambda v: 1 / v, -0.0, -INF),
    ("-1/0", lambda v: -1 / v, 0.0, -INF),
    ("-1/-0.0", lambda v: -1 / v, -0.0, INF),
    ("0/0", lambda v: v / v, 0.0, NAN),
    ("0/x, x=0", lambda v: 0 / v, 0.0, NAN),
    ("x/0", lambda v: v / 0, 3.0, INF),
    ("x/-0.0", lambda v: v / -0.0, 3.0, -INF),
    ("inf/0", lambda v: v / 0, INF, INF),
    ("exp(1000)", lambda v: v.exp(), 1000.0, INF),
    ("exp(-1000)", lambda v: v.exp(), -1000.0, 0.0),
    ("sin(inf)", lambda v: v.sin(), INF, NAN),
    ("cos(-inf)", lambda v: v.cos(), -INF, NAN),
    ("0**-1", lambda v: v**-1, 0.0, INF),
    ("-0.0**-1", lambda v: v**-1, -0.0, -INF),
    ("0**-2", lambda v: v**-2, 0.0, INF),
    ("(-8)**(1/3)", lambda v: v ** (1 / 3), -8.0, NAN),
    ("10**400", lambda v: v**400, 10.0, INF),
    ("(-10)**401", lambda v: v**401, -10.0, -INF),
    ("2**x, x=1e4", lambda v: 2**v, 1e4, INF),
    ("0**x, x=-1", lambda v: 0**v, -1.0, INF),
    ("x**x, x=0", lambda v: v**v, 0.0, 1.0),
    ("x*1e308*10", lambda v: v * 1e308 * 10, 1.0, INF),
]


@pytest.mark.parametrize(("fn", "x", "want"), [pytest.param(f, x, w, id=n) for n, f, x, w in EDGES])
def test_ieee_edges_value_and_backward_never_raise(fn: Any, x: float, want: float) -> None:
    v = Value(x)
    out = fn(v)
    assert same(out.data, want)
    out.backward()  # must not raise either
    assert isinstance(v.grad, float)


@needs_torch
@pytest.mark.parametrize(("fn", "x"), [pytest.param(f, x, id=n) for n, f, x, _ in EDGES])
def test_ieee_edges_gradients_match_torch(fn: Any, x: float) -> None:
    v = Value(x)
    out = fn(v)
    out.backward()
    ty, (tg,) = torch_grads(fn, x)
    assert same(out.data, ty)
    assert same(v.grad, tg), (v.grad, tg)


@pytest.mark.parametrize(
    ("name", "x", "want"),
    [("log", 0.0, -INF), ("log", -1.0, NAN), ("sqrt", -1.0, NAN), ("exp", 1000.0, INF), ("sin", INF, NAN)],
)
def test_module_functions_on_floats_follow_ieee(name: str, x: float, want: float) -> None:
    assert same(getattr(agrad, name)(x), want)


# -- binary ops -------------------------------------------------------------------------

BINARY_POINTS = [(1.5, 2.25), (-0.75, 3.5), (2.5, -1.25), (0.3, 0.7), (4.0, -2.0)]


def _bin(name: str) -> Binary:
    return next(b for b in BINARY if b.name == name)


def _points2(op: Binary) -> list[tuple[float, float]]:
    return [(abs(x), y) for x, y in BINARY_POINTS] if op.name == "**" else BINARY_POINTS


BINARY_CASES = [pytest.param(op, x, y, id=f"{op.name}({x},{y})") for op in BINARY for x, y in _points2(op)]


def _grad2(op: Binary, x: float, y: float) -> tuple[float, float, float]:
    a, b = Value(x), Value(y)
    out = op.apply(a, b)
    out.backward()
    return out.data, a.grad, b.grad


@pytest.mark.parametrize(("op", "x", "y"), BINARY_CASES)
def test_binary_matches_closed_form(op: Binary, x: float, y: float) -> None:
    z, dx, dy = _grad2(op, x, y)
    assert same(z, op.value(x, y), rel=1e-14)
    assert same(dx, op.dx(x, y), rel=1e-13)
    assert same(dy, op.dy(x, y), rel=1e-13)


@pytest.mark.parametrize(("op", "x", "y"), BINARY_CASES)
def test_binary_matches_central_difference(op: Binary, x: float, y: float) -> None:
    _, dx, dy = _grad2(op, x, y)
    assert dx == pytest.approx(central_diff(op.value, [x, y], 0), rel=1e-6, abs=1e-8)
    assert dy == pytest.approx(central_diff(op.value, [x, y], 1), rel=1e-6, abs=1e-8)


@needs_torch
@pytest.mark.parametrize(("op", "x", "y"), BINARY_CASES)
def test_binary_matches_torch(op: Binary, x: float, y: float) -> None:
    tz, (tdx, tdy) = torch_grads(op.torch, x, y)
    z, dx, dy = _grad2(op, x, y)
    assert same(z, tz, rel=1e-14) and same(dx, tdx, rel=1e-14) and same(dy, tdy, rel=1e-14)


OPERAND = st.floats(-1e3, 1e3).filter(lambda t: t == 0 or abs(t) > 1e-6)  # the closed forms underflow below


@given(OPERAND, OPERAND)
@settings(max_examples=200, deadline=None)
def test_binary_closed_forms_hold_for_any_operands(x: float, y: float) -> None:
    for op in BINARY:
        no_derivative = {"**": x <= 0, "/": y == 0, "minimum": x == y, "maximum": x == y}
        if no_derivative.get(op.name, False):
            continue
        if op.name == "**" and abs(y * math.log(x)) > 700:
            continue  # overflow: the IEEE cases are tested on their own
        z, dx, dy = _grad2(op, x, y)
        assert same(z, op.value(x, y), rel=1e-13), op.name
        assert same(dx, op.dx(x, y), rel=1e-12), op.name
        assert same(dy, op.dy(x, y), rel=1e-12, abs_tol=1e-300), op.name


# -- pow: constant exponent, Value ** Value, constant ** Value ----------------------

BASES = [0.0, -0.0, 2.0, 0.5, -2.0, -8.0, 1.0, INF, NAN]
EXPONENTS = [0.0, 1.0, 2.0, 3.0, -1.0, -2.0, 0.5, 1 / 3, 2.5]


@needs_torch
@pytest.mark.parametrize("x", BASES)
@pytest.mark.parametrize("y", EXPONENTS)
def test_value_pow_value_gives_both_gradients_as_torch(x: float, y: float) -> None:
    """Including base 0, -0.0 and negative bases: the gradient of the exponent is out*log(x)."""
    a, b = Value(x), Value(y)
    out = a**b
    assert out._op == "pow" and out._children == (a, b)
    out.backward()
    tz, (tdx, tdy) = torch_grads(lambda s, t: s**t, x, y)
    assert same(out.data, tz) and same(a.grad, tdx, rel=1e-14) and same(b.grad, tdy, rel=1e-14), (
        (out.data, a.grad, b.grad),
        (tz, tdx, tdy),
    )


@needs_torch
@pytest.mark.parametrize("x", BASES)
@pytest.mark.parametrize("c", EXPONENTS)
def test_value_pow_constant_as_torch(x: float, c: float) -> None:
    a = Value(x)
    out = a**c
    assert out._op == "**" and out._children == (a, c)
    out.backward()
    tz, (tdx,) = torch_grads(lambda s: s**c, x)
    if x == 0 and c == 0.5 and math.copysign(1, x) < 0:
        # torch computes x ** 0.5 as sqrt(x): -0.0 with gradient -inf. C's pow, which agrad
        # follows, gives pow(-0.0, 0.5) = +0.0 and pow(-0.0, -0.5) = +inf.
        tz, tdx = 0.0, INF
    assert same(out.data, tz) and same(a.grad, tdx, rel=1e-14), ((out.data, a.grad), (tz, tdx))


@needs_torch
@pytest.mark.parametrize("c", [0.0, 2.0, 0.5, -2.0, 1.0])
@pytest.mark.parametrize("y", [0.0, 1.0, -1.0, 3.0, 0.5])
def test_constant_pow_value_as_torch(c: float, y: float) -> None:
    import torch

    b = Value(y)
    out = c**b
    assert out._op == "pow" and out._children == (c, b)
    out.backward()
    tz, (tdy,) = torch_grads(lambda t: torch.pow(c, t), y)
    assert same(out.data, tz) and same(b.grad, tdy, rel=1e-14), ((out.data, b.grad), (tz, tdy))


def test_pow_exponent_gradient_closed_form() -> None:
    a, b = Value(3.0), Value(2.0)
    out = a**b
    out.backward()
    assert (out.data, a.grad) == (9.0, 6.0)
    assert b.grad == pytest.approx(9.0 * math.log(3.0), rel=1e-15)


# -- minimum / maximum: ties split the gradient evenly --------------------------------


MINMAX_POINTS = [(1.0, 1.0), (0.0, -0.0), (-0.0, 0.0), (2.0, 3.0), (3.0, 2.0), (INF, INF), (NAN, 1.0), (1.0, NAN)]


@needs_torch
@pytest.mark.parametrize("name", ["minimum", "maximum"])
@pytest.mark.parametrize(("x", "y"), MINMAX_POINTS)
def test_minimum_maximum_as_torch(name: str, x: float, y: float) -> None:
    a, b = Value(x), Value(y)
    out = getattr(agrad, name)(a, b)
    out.backward()
    tz, (tdx, tdy) = torch_grads(_bin(name).torch, x, y)
    assert same(out.data, tz) and same(a.grad, tdx) and same(b.grad, tdy), ((out.data, a.grad, b.grad), (tz, tdx, tdy))


@pytest.mark.parametrize("name", ["minimum", "maximum"])
def test_minmax_tie_splits_evenly(name: str) -> None:
    a, b = Value(2.0), Value(2.0)
    getattr(a, name)(b).backward()
    assert (a.grad, b.grad) == (0.5, 0.5)


@pytest.mark.parametrize("name", ["minimum", "maximum"])
def test_minmax_with_a_constant_side(name: str) -> None:
    fn, py = getattr(agrad, name), {"minimum": min, "maximum": max}[name]
    a = Value(1.0)
    for out, kids in [(fn(a, 2), (a, 2.0)), (fn(2, a), (2.0, a)), (getattr(a, name)(np.float64(2.0)), (a, 2.0))]:
        assert isinstance(out, Value) and out._children == kids
        assert out.data == py(1.0, 2.0)
    assert fn(1, 2.0) == py(1.0, 2.0) and type(fn(1, 2.0)) is float
    assert math.isnan(fn(NAN, 1.0)) and math.isnan(fn(1.0, NAN))


# -- sum and dot ------------------------------------------------------------------------


def test_sum_is_one_node_with_unit_gradients() -> None:
    xs = [Value(float(i) - 2.5) for i in range(6)]
    out = agrad.sum([*xs, 1.5, 2])
    assert out._op == "sum" and len(agrad.toposort(out)) == 7
    assert out.data == math.fsum([x.data for x in xs] + [1.5, 2.0])
    out.backward()
    assert [x.grad for x in xs] == [1.0] * 6


def test_sum_and_dot_of_numbers_are_floats() -> None:
    assert agrad.sum([1, 2.5, True]) == 4.5 and type(agrad.sum([1, 2])) is float
    assert agrad.sum([]) == 0.0
    assert agrad.dot([1, 2], [3.0, 4.0]) == 11.0 and type(agrad.dot([1], [2])) is float


@pytest.mark.parametrize("seed", range(5))
def test_dot_gradients_closed_form(seed: int) -> None:
    rng = np.random.default_rng(seed)
    w, x = rng.normal(size=7), rng.normal(size=7)
    wv, xv = [Value(float(t)) for t in w], [Value(float(t)) for t in x]
    out = agrad.dot(wv, xv)
    assert out._op == "dot" and out._children == (*wv, *xv)
    assert out.data == pytest.approx(float(w @ x), rel=1e-14)
    out.backward(2.0)
    assert [v.grad for v in wv] == [2.0 * float(t) for t in x]
    assert [v.grad for v in xv] == [2.0 * float(t) for t in w]


@needs_torch
def test_sum_and_dot_as_torch() -> None:
    import torch

    w, x = [0.5, -1.5, 2.0], [3.0, 0.25, -4.0]
    wv, xv = [Value(t) for t in w], [Value(t) for t in x]
    out = agrad.dot(wv, xv) * agrad.sum(xv)
    out.backward()
    tw = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tout = (tw @ tx) * tx.sum()
    tout.backward()
    assert same(out.data, tout.item())
    assert all(same(v.grad, g) for v, g in zip(wv + xv, tw.grad.tolist() + tx.grad.tolist()))


def test_dot_with_constant_weights_gives_gradients_to_values_only() -> None:
    x = [Value(1.0), Value(2.0)]
    out = agrad.dot([3, 4.0], x)
    out.backward()
    assert out.data == 11.0 and [v.grad for v in x] == [3.0, 4.0]


# -- plain numbers on either side -----------------------------------------------------------

NUMBERS = [
    pytest.param(2, id="int"),
    pytest.param(2.0, id="float"),
    pytest.param(True, id="bool"),
    pytest.param(np.float64(2.0), id="np.float64"),
    pytest.param(np.float32(2.0), id="np.float32"),
    pytest.param(np.int64(2), id="np.int64"),
    pytest.param(np.bool_(True), id="np.bool_"),
]


@pytest.mark.parametrize("n", NUMBERS)
@pytest.mark.parametrize("name", ["+", "-", "*", "/", "**"])
def test_number_on_either_side_gives_a_value_and_no_node(n: Any, name: str) -> None:
    op, c = _bin(name), float(n)
    for x_is_value in (True, False):
        v = Value(1.5)
        out = op.apply(v, n) if x_is_value else op.apply(n, v)
        assert type(out) is Value
        assert out._prev == {v}
        assert out._children == ((v, c) if x_is_value else (c, v))
        assert all(type(k) is float for k in out._children if k is not v)  # the number stays a float
        assert len(agrad.toposort(out)) == 2
        out.backward()
        want = op.dx(1.5, c) if x_is_value else op.dy(c, 1.5)
        assert same(out.data, op.value(1.5, c) if x_is_value else op.value(c, 1.5), rel=1e-15)
        assert same(v.grad, want, rel=1e-14)


@pytest.mark.parametrize("n", NUMBERS)
@pytest.mark.parametrize("op", [op for op in UNARY if op.module], ids=lambda op: op.name)
def test_module_functions_on_numbers_return_floats(n: Any, op: Unary) -> None:
    r = getattr(agrad, op.module or "")(n)
    assert type(r) is float
    assert same(r, op.value(float(n)), rel=1e-15)


@pytest.mark.parametrize("n", NUMBERS)
def test_value_accepts_every_real_number_type(n: Any) -> None:
    v = Value(n)
    assert type(v.data) is float and v.data == float(n)


def test_abs_and_neg_operators() -> None:
    v = Value(-2.5)
    a, m = abs(v), -v
    assert (a._op, m._op, a.data, m.data) == ("abs", "neg", 2.5, 2.5)
    (a + m).backward()
    assert v.grad == -2.0
    assert +v is v


# -- identity, comparisons, repr, children ---------------------------------------------------


def test_hash_and_equality_are_identity() -> None:
    a, b = Value(1.0), Value(1.0)
    assert a != b and a == a and a != 1.0
    assert hash(a) == object.__hash__(a)
    assert len({a, b, a}) == 2
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b"


@pytest.mark.parametrize("other", [Value(2.0), 2, 2.0, np.float64(2.0), True])
def test_ordering_compares_data_and_returns_bool(other: Any) -> None:
    v = Value(1.5)
    o, d = float(other.data if isinstance(other, Value) else other), v.data
    results = [v < other, v <= other, v > other, v >= other, other > v, other < v]
    assert results == [d < o, d <= o, d > o, d >= o, o > d, o < d]
    assert all(type(r) is bool for r in results)


def test_sorted_orders_values_by_data() -> None:
    vs = [Value(3.0), Value(-1.0), Value(1.5)]
    assert [v.data for v in sorted(vs)] == sorted(v.data for v in vs)
    assert max(vs) is vs[0] and min(vs) is vs[1]


def test_repr_shows_data_grad_and_label() -> None:
    v = Value(2.0)
    assert repr(v) == "Value(data=2.0, grad=0.0)"
    w = Value(-3.5, label="w")
    (w * 2).backward()
    assert repr(w) == "Value(data=-3.5, grad=2.0, label='w')"


def test_children_are_ordered_and_prev_is_the_set_of_child_values() -> None:
    a, b = Value(1.0), Value(2.0)
    assert (a * b)._children == (a, b) and (b * a)._children == (b, a)
    assert (a - b)._prev == {a, b} and isinstance((a - b)._prev, set)
    assert (a + a)._children == (a, a) and (a + a)._prev == {a}
    assert (3 - a)._children == (3.0, a) and (3 - a)._prev == {a}
    assert a._prev == set() and a._op == "" and a._children == ()
    assert [n._op for n in agrad.toposort(((a * b) + a).tanh())] == ["", "", "*", "+", "tanh"]


def test_nodes_have_slots_and_no_closure() -> None:
    a = Value(1.0)
    y = a * 2
    assert not hasattr(y, "__dict__") and not hasattr(y, "_backward")
    with pytest.raises(AttributeError):
        y.gradd = 1.0  # type: ignore[attr-defined]  # a typo cannot silently add a field


def test_builtin_sum_starts_from_int_zero_and_still_works() -> None:
    xs = [Value(1.5), Value(-0.5), Value(2.0)]
    out = sum(xs)  # 0 + x1 + ...: the int 0 goes through __radd__ and costs no node
    assert isinstance(out, Value) and out.data == 3.0
    out.backward()
    assert [x.grad for x in xs] == [1.0, 1.0, 1.0]
