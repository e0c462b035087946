"""Forward mode: Dual numbers against hand-derived derivatives, tags, symbolic zeros and nesting with reverse mode."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

import agrad
from agrad import RULES, Value, grad, jvp
from agrad.forward import Dual, new_tag
from agrad.rules import Primitive


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# (agrad function, closed-form value, closed-form derivative), derived by hand.
UNARY: dict[str, tuple[Callable[[Any], Any], Callable[[float], float], Callable[[float], float]]] = {
    "exp": (agrad.exp, math.exp, math.exp),
    "log": (agrad.log, math.log, lambda x: 1 / x),
    "sqrt": (agrad.sqrt, math.sqrt, lambda x: 0.5 / math.sqrt(x)),
    "tanh": (agrad.tanh, math.tanh, lambda x: 1 - math.tanh(x) ** 2),
    "sigmoid": (agrad.sigmoid, _sig, lambda x: _sig(x) * (1 - _sig(x))),
    "softplus": (agrad.softplus, lambda x: math.log1p(math.exp(x)), _sig),
    "relu": (agrad.relu, lambda x: max(x, 0.0), lambda x: float(x > 0)),
    "abs": (abs, abs, lambda x: math.copysign(1.0, x)),
    "sin": (agrad.sin, math.sin, math.cos),
    "cos": (agrad.cos, math.cos, lambda x: -math.sin(x)),
    "neg": (lambda x: -x, lambda x: -x, lambda x: -1.0),
    "cube": (lambda x: x**3, lambda x: x**3, lambda x: 3 * x * x),
}


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("x", [0.3, 2.5, -1.2])
def test_unary_tangents(name: str, x: float) -> None:
    f, value, deriv = UNARY[name]
    if name in ("log", "sqrt") and x < 0:
        pytest.skip("outside the domain")
    out, t = jvp(f, (x,), (3.0,))
    assert type(out) is float and type(t) is float
    assert math.isclose(out, value(x), rel_tol=1e-15, abs_tol=1e-300)
    assert math.isclose(t, 3.0 * deriv(x), rel_tol=1e-14, abs_tol=1e-300)


BINARY: dict[str, tuple[Callable[[Any, Any], Any], Callable[[float, float], tuple[float, float]]]] = {
    "+": (lambda x, y: x + y, lambda x, y: (1.0, 1.0)),
    "-": (lambda x, y: x - y, lambda x, y: (1.0, -1.0)),
    "*": (lambda x, y: x * y, lambda x, y: (y, x)),
    "/": (lambda x, y: x / y, lambda x, y: (1 / y, -x / y**2)),
    "pow": (lambda x, y: x**y, lambda x, y: (y * x ** (y - 1), x**y * math.log(x))),
    "min": (agrad.minimum, lambda x, y: (float(x < y), float(y < x))),
    "max": (agrad.maximum, lambda x, y: (float(x > y), float(y > x))),
}


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_tangents_in_every_operand_mix(name: str) -> None:
    f, partials = BINARY[name]
    x, y = 1.7, 0.6
    dx, dy = partials(x, y)
    # both live, then each side alone live with the other a plain float
    assert math.isclose(jvp(f, (x, y), (2.0, -1.0))[1], 2.0 * dx - dy, rel_tol=1e-14)
    assert math.isclose(jvp(lambda a: f(a, y), (x,), (1.0,))[1], dx, rel_tol=1e-14)
    assert math.isclose(jvp(lambda b: f(x, b), (y,), (1.0,))[1], dy, rel_tol=1e-14, abs_tol=1e-300)


def test_min_max_tie_splits_the_tangent() -> None:
    assert jvp(agrad.minimum, (1.0, 1.0), (2.0, 4.0))[1] == 3.0
    assert jvp(agrad.maximum, (1.0, 1.0), (2.0, 4.0))[1] == 3.0


def test_sum_and_dot_with_duals_and_constants() -> None:
    out, t = jvp(lambda a, b: agrad.sum([a, 2.0, b, a]), (1.0, 3.0), (1.0, 10.0))
    assert (out, t) == (7.0, 12.0)
    out, t = jvp(lambda a, b: agrad.dot([a, 2.0], [b, a]), (1.5, -2.0), (1.0, 0.5))
    assert out == 1.5 * -2.0 + 2.0 * 1.5
    assert t == (1.0 * -2.0 + 1.5 * 0.5) + 2.0 * 1.0


@pytest.mark.parametrize(
    ("f", "x", "want"),
    [  # (value, tangent) in closed form, IEEE-754 as in reverse mode: no exception, no complex number
        (lambda x: 1.0 / x, 0.0, (math.inf, -math.inf)),  # -1/x^2
        (lambda x: x / 0.0, 1.0, (math.inf, math.inf)),  # 1/0
        (lambda x: x**-1.0, 0.0, (math.inf, -math.inf)),  # -x^-2
        (lambda x: x**0.5, -1.0, (math.nan, math.nan)),
        (lambda x: x ** agrad.Value(0.5), -1.0, (math.nan, math.nan)),
        (lambda x: (-1.0) ** x, 0.5, (math.nan, math.nan)),
        (lambda x: 2.0**x, 2000.0, (math.inf, math.inf)),  # 2^x log 2
        (lambda x: x**2.0, 1e200, (math.inf, 2e200)),  # 2x is finite
    ],
)
def test_ieee_edges_in_forward_mode(f: Callable[[Any], Any], x: float, want: tuple[float, float]) -> None:
    out, t = jvp(f, (x,), (1.0,))
    got = (float(out), float(t))
    assert all((math.isnan(w) and math.isnan(g)) or g == w for g, w in zip(got, want)), got


def test_constant_operand_has_a_symbolic_zero_tangent() -> None:
    # d/dy 0 ** y at y = 0.5 is 0; the base's partial y * 0 ** (y - 1) is inf, and
    # a float zero tangent for the constant base would make it 0 * inf = nan.
    assert jvp(lambda y: 0.0**y, (0.5,), (1.0,)) == (0.0, 0.0)
    assert grad(lambda y: 0.0**y)(0.5) == 0.0


def test_float_inputs_build_no_reverse_graph() -> None:
    """True forward mode: floats in, and every primal and tangent along the way stays a float."""
    seen: list[Any] = []

    def f(x: Any) -> Any:
        for _ in range(5):
            x = agrad.tanh(x) * 1.5 + agrad.sin(x)
            seen.append(x)
        return x

    jvp(f, (0.2,), (1.0,))
    assert all(type(d) is Dual and type(d.primal) is float and type(d.tangent) is float for d in seen)


def test_long_chain_has_no_recursion_limit() -> None:
    def f(x: Any) -> Any:
        for _ in range(20_000):
            x = x * 1.0001
        return x

    out, t = jvp(f, (1.0,), (1.0,))
    assert out == t * 1.0  # x * c^n and its derivative in x are the same number at x = 1
    assert math.isclose(t, 1.0001**20_000, rel_tol=1e-9)


def test_forward_mode_reads_the_rule_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forward mode has no calculus of its own: change the table's JVP rule and jvp follows."""
    p = RULES["tanh"]
    monkeypatch.setitem(RULES, "tanh", Primitive("tanh", p.fn, p.vjp, lambda d, out, x: d[0] * 7.0))
    assert jvp(agrad.tanh, (0.3,), (2.0,))[1] == 14.0


def test_tags_keep_nested_jvps_apart() -> None:
    a, b = new_tag(), new_tag()
    x = Dual(2.0, 1.0, a)
    y = Dual(3.0, 1.0, b)
    z = x * y
    # The newer tag is outside; its parts are Duals of the older tag.
    assert z.tag == b and type(z.primal) is Dual and z.primal.tag == a
    assert (z.primal.primal, z.primal.tangent) == (6.0, 3.0)  # x * 3: value 6, d/dx 3
    assert (z.tangent.primal, z.tangent.tangent) == (2.0, 1.0)  # d/dy = x: value 2, d/dx 1


def test_comparisons_with_values_and_numbers() -> None:
    d = Dual(2.0, 1.0, new_tag())
    assert d > 1 and d >= Value(2.0) and Value(1.0) < d and not d < 2.0 and d <= 2.0
    assert float(d) == 2.0 == d.data
    with pytest.raises(TypeError, match="compared"):
        _ = d < "3"


def test_bad_operands() -> None:
    d = Dual(2.0, 1.0, new_tag())
    with pytest.raises(TypeError):
        _ = d + "a"  # type: ignore[operator]
    with pytest.raises(TypeError, match="expects Duals, Values or real numbers"):
        d.minimum("a")
    with pytest.raises(ValueError, match="same length"):
        agrad.dot([d, 1.0], [1.0])
    with pytest.raises(ValueError, match="fit a float"):
        _ = d**10**400  # as Value ** 10**400, not an OverflowError from float()


def test_forward_inside_reverse() -> None:
    # d/dx [d/dy x sin(y) at y = x] = d/dx x cos x = cos x - x sin x
    x0 = 0.3
    got = grad(lambda x: jvp(lambda y: x * agrad.sin(y), (x,), (1.0,))[1])(x0)
    assert math.isclose(got, math.cos(x0) - x0 * math.sin(x0), rel_tol=1e-15)


def test_reverse_inside_forward() -> None:
    # d/dy x y^2 at y = x is 2 x^2; its tangent is 4x.
    out, t = jvp(lambda x: grad(lambda y: x * y * y)(x), (0.3,), (1.0,))
    assert math.isclose(out, 2 * 0.3**2, rel_tol=1e-15) and math.isclose(t, 4 * 0.3, rel_tol=1e-15)


def test_jvp_on_values_is_differentiable_by_backward() -> None:
    x = Value(0.4)
    out, t = jvp(agrad.exp, (x * 2.0,), (1.0,))
    assert isinstance(out, Value) and isinstance(t, Value) and out.data == t.data == math.exp(0.8)
    t.backward()  # d/dx exp(2x) = 2 exp(2x)
    assert math.isclose(x.grad, 2 * math.exp(0.8), rel_tol=1e-15)


def test_anomaly_in_forward_mode() -> None:
    with agrad.detect_anomaly(), pytest.raises(FloatingPointError, match=r"forward mode of 'sqrt' gave tangent inf"):
        jvp(agrad.sqrt, (0.0,), (1.0,))


def test_anomaly_in_forward_mode_names_labels_and_the_line() -> None:
    x = Value(0.0, label="x")
    f = lambda d: agrad.sqrt(d)  # noqa: E731 (the line the report must name)
    with agrad.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        jvp(f, (x,), (1.0,))
    msg = str(info.value)
    assert "'sqrt' gave tangent inf from inputs x=0.0" in msg and f"{__file__}:{f.__code__.co_firstlineno}" in msg
    assert jvp(agrad.sqrt, (0.0,), (1.0,))[1] == math.inf  # outside the mode: IEEE, no exception


def test_repr() -> None:
    assert repr(Dual(1.0, 2.0, 7)) == "Dual(primal=1.0, tangent=2.0, tag=7)"
