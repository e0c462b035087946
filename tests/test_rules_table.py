"""One table, two modes: every primitive in agrad.rules.RULES is checked in both modes, to second order.

Each op gets builders (functions of scalars that make that op) and points,
including points near kinks and large inputs. gradcheck and gradgradcheck
compare reverse mode (jacrev and Value.backward), forward mode (jacfwd) and
every pairing of them with central differences. A new op in the table with no
row here fails ``test_every_op_has_a_case``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import agrad
from agrad import RULES, Value, gradcheck, gradgradcheck

Case = tuple[Callable[..., Any], list[tuple[float, ...]]]

CASES: dict[str, list[Case]] = {
    "+": [(lambda x, y: x + y, [(0.3, -1.2), (1e6, 2e-3)]), (lambda x: 2.0 + x, [(0.5,)])],
    "-": [(lambda x, y: x - y, [(0.3, -1.2), (1e6, 2e-3)]), (lambda x: 2.0 - x, [(0.5,)])],
    "*": [(lambda x, y: x * y, [(0.3, -1.2), (1e3, 2e3)]), (lambda x: 3.0 * x, [(0.5,)])],
    "/": [(lambda x, y: x / y, [(0.3, -1.2), (1e6, 3.0), (1.0, 0.05)]), (lambda x: 2.0 / x, [(0.5,), (-4.0,)])],
    "neg": [(lambda x: -x, [(0.3,), (-1e6,)])],
    "**": [
        (lambda x: x**3.0, [(0.7,), (-1.3,), (50.0,)]),
        (lambda x: x**0.5, [(0.01,), (2.0,), (1e8,)]),
        (lambda x: x**-2.0, [(0.5,), (-3.0,)]),
        (lambda x: x**0.0, [(0.0,), (2.0,)]),
    ],
    "pow": [
        (lambda x, y: x**y, [(1.5, 2.3), (0.7, -1.2), (10.0, 3.0)]),
        (lambda y: 2.0**y, [(0.5,), (-3.0,), (40.0,)]),
    ],
    "exp": [(agrad.exp, [(-2.0,), (0.5,), (30.0,)])],
    "log": [(agrad.log, [(0.05,), (1.0,), (1e6,)])],
    "sqrt": [(agrad.sqrt, [(1e-3,), (2.0,), (1e8,)])],
    "tanh": [(agrad.tanh, [(-0.5,), (3.0,), (20.0,)])],
    "sigmoid": [(agrad.sigmoid, [(-30.0,), (0.2,), (40.0,)])],
    "softplus": [(agrad.softplus, [(-40.0,), (0.0,), (50.0,)])],
    "relu": [(agrad.relu, [(-1.0,), (1e-3,), (-1e-3,), (5.0,)])],
    "abs": [(abs, [(-2.0,), (1e-3,), (-1e-3,), (1e4,)])],
    "sin": [(agrad.sin, [(0.0,), (1.3,), (1e3,)])],
    "cos": [(agrad.cos, [(0.0,), (1.3,), (1e3,)])],
    "min": [(agrad.minimum, [(0.3, 0.7), (0.7, 0.3), (1.0, 1.0 + 1e-3)]), (lambda x: agrad.minimum(x, 1.0), [(2.0,)])],
    "max": [(agrad.maximum, [(0.3, 0.7), (0.7, 0.3), (1.0, 1.0 + 1e-3)]), (lambda x: agrad.maximum(1.0, x), [(2.0,)])],
    "sum": [(lambda x, y, z: agrad.sum([x, y, z]), [(0.1, -2.0, 3.0)]), (lambda x: agrad.sum([x, 2.0, x]), [(1.5,)])],
    "dot": [
        (lambda a, b, c, d: agrad.dot([a, b], [c, d]), [(0.1, -2.0, 3.0, 0.5)]),
        (lambda a, b: agrad.dot([a, 2.0], [a, b]), [(1.5, -0.25)]),
    ],
    # a ReLU neuron: open (z = 2.5), closed (z = -0.7), and one with constants among the operands
    "dot_relu": [
        (lambda a, b, c, d: agrad.dot_relu([a, b], [c, d]), [(0.5, 2.0, 3.0, 0.5), (0.1, -2.0, 3.0, 0.5)]),
        (lambda a, b: agrad.dot_relu([a, 2.0], [a, b]), [(1.5, -0.25), (0.5, -1.0)]),
    ],
}

PARAMS = [
    pytest.param(op, fn, point, id=f"{op}-{k}-{point}")
    for op, cases in CASES.items()
    for k, (fn, points) in enumerate(cases)
    for point in points
]


def test_every_op_has_a_case() -> None:
    scalar_ops = {op for op, p in RULES.items() if not p.tensor_only}
    # stop_gradient's derivative is zero by definition, not that of its function (the identity), so
    # central differences cannot check it; tests/test_compile_capture.py checks what it is for.
    assert scalar_ops - set(CASES) == {"stop_gradient"}, "ops in RULES with no gradient-check case here"
    assert set(CASES) - scalar_ops == set(), "cases here for ops that RULES no longer has"


# Every op name agrad.tensor can give a node, read from its source: _make("op", ...), _reduce("op", ...),
# _shaped("op", ...), and the keys of its elementwise tables.
def _tensor_ops() -> set[str]:
    import re

    import agrad.tensor as T

    src = inspect.getsource(T)
    made = set(re.findall(r'_(?:make|reduce|shaped)\(\s*"([^"]+)"', src))
    return made | set(T.UNARY) | set(T._BINARY) | {"neg", "**"}


def test_every_tensor_op_has_a_rule() -> None:
    """The walk looks each node's op up in RULES: an op a Tensor can make without a row there would fail."""
    ops = _tensor_ops()
    assert {"matmul", "reduce_sum", "getitem", "index_add", "where", "+", "exp"} <= ops  # the scan finds them
    assert ops - set(RULES) == set(), "Tensor ops with no row in agrad.rules.RULES"
    only = {op for op, p in RULES.items() if p.tensor_only}
    assert only - ops == set(), "rows marked tensor_only that no Tensor op makes"


def test_every_tensor_op_has_a_case_against_torch() -> None:
    """Each op a Tensor can make is made by some case of tests/tensor_cases.py (checked against PyTorch)."""
    pytest.importorskip("numpy")
    from tensor_cases import CASES as TENSOR_CASES
    from tensor_cases import inputs

    seen: set[str] = set()
    for fn, _, shapes, domain in TENSOR_CASES.values():
        for k, shape in enumerate(shapes):
            out = fn(*[agrad.Tensor(a, requires_grad=True) for a in inputs(shape, domain, k)])
            out.backward(gradient=np.ones(out.shape), create_graph=True)  # index_add appears in the gradient
            seen |= {n._op for n in agrad.toposort(out) if n._children}
            seen |= {
                n._op
                for x in agrad.toposort(out)
                if x.grad is not None and hasattr(x.grad, "_op")
                for n in agrad.toposort(x.grad)
                if n._children
            }
    assert _tensor_ops() - seen == set(), "Tensor ops that no case in tests/tensor_cases.py makes"


@pytest.mark.parametrize("op", sorted(RULES))
def test_every_op_has_both_rules(op: str) -> None:
    p = RULES[op]
    assert p.name == op
    assert callable(p.fn) and callable(p.vjp) and callable(p.jvp), f"{op} lacks a rule"
    # vjp(g, out, *xs) and jvp(x_dots, out, *xs): the signatures the two walks call them with.
    assert list(inspect.signature(p.vjp).parameters)[:2] == ["g", "out"]
    assert list(inspect.signature(p.jvp).parameters)[:2] == ["x_dots", "out"]


@pytest.mark.parametrize(("op", "fn", "point"), PARAMS)
def test_case_makes_its_op(op: str, fn: Callable[..., Any], point: tuple[float, ...]) -> None:
    """A case is only worth something if it really runs the op it is filed under."""
    nodes = [v for v in agrad.toposort(fn(*[Value(x) for x in point])) if v._op == op]
    assert nodes, f"the case filed under {op!r} makes no {op!r} node"
    node = nodes[0]
    grads = RULES[op].vjp(1.0, node.data, *[c if type(c) is float else c.data for c in node._children])
    # One gradient per operand; x ** c has none for its constant exponent by design.
    assert len(grads) == (1 if op == "**" else len(node._children))


@pytest.mark.parametrize(("op", "fn", "point"), PARAMS)
def test_first_order_both_modes(op: str, fn: Callable[..., Any], point: tuple[float, ...]) -> None:
    assert gradcheck(fn, list(point))


@pytest.mark.parametrize(("op", "fn", "point"), PARAMS)
def test_second_order_every_pairing(op: str, fn: Callable[..., Any], point: tuple[float, ...]) -> None:
    assert gradgradcheck(fn, list(point))


def test_a_wrong_rule_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: break one rule in the table and both modes notice."""
    import agrad.backprop
    import agrad.transforms

    wrong = RULES["sin"].__class__("sin", agrad.sin, lambda g, out, x: (g * 2.0,), lambda d, out, x: d[0] * 2.0)
    monkeypatch.setitem(RULES, "sin", wrong)
    monkeypatch.setitem(agrad.backprop._VJP, "sin", wrong.vjp)
    with pytest.raises(agrad.GradcheckError, match="reverse mode"):
        gradcheck(agrad.sin, [0.3], modes=("rev",))
    with pytest.raises(agrad.GradcheckError, match="forward mode"):
        gradcheck(agrad.sin, [0.3], modes=("fwd",))


GATED = [
    pytest.param(op, fn, point, id=f"{op}-{point}")
    for op, fn, point in (p.values for p in PARAMS)
    if RULES[op].gate is not None
]


@pytest.mark.parametrize(("op", "fn", "point"), GATED)
def test_a_gate_is_the_partial_derivatives(op: str, fn: Callable[..., Any], point: tuple[float, ...]) -> None:
    """A gated row (the float walk's form of its VJP: dot's rule on gate(g, out)) against central differences."""
    node = next(v for v in agrad.toposort(fn(*[Value(x) for x in point])) if v._op == op)
    xs = [c if type(c) is float else c.data for c in node._children]
    n = len(xs) // 2
    gate = RULES[op].gate
    assert gate is not None
    local = [gate(1.0, node.data) * partner for partner in xs[n:] + xs[:n]]  # d(out)/d(operand i)
    h = 1e-6
    for i in range(len(xs)):
        up, down = list(xs), list(xs)
        up[i] += h
        down[i] -= h
        assert local[i] == pytest.approx((RULES[op].fn(*up) - RULES[op].fn(*down)) / (2 * h), rel=1e-6, abs=1e-8)
    assert list(RULES[op].vjp(0.5, node.data, *xs)) == [0.5 * d for d in local]


@pytest.mark.parametrize(
    ("op", "fn", "point"),
    [
        ("dot", lambda a, b: agrad.dot([a, 2.0], [a, b]), [1.5, -0.25]),
        ("dot_relu", lambda a, b: agrad.dot_relu([a, 2.0], [a, b]), [1.5, -0.25]),
    ],
)
def test_a_wrong_gate_is_caught(
    monkeypatch: pytest.MonkeyPatch, op: str, fn: Callable[..., Any], point: list[float]
) -> None:
    """backward() does a gated row's products itself (a neuron's dot does): break its gate, and gradcheck notices."""
    import agrad.backprop

    monkeypatch.setitem(agrad.backprop._GATE, op, lambda g, out: 2.0 * g)
    with pytest.raises(agrad.GradcheckError, match="reverse mode"):
        gradcheck(fn, point, modes=("rev",))
