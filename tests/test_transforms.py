"""grad, value_and_grad, jvp, vjp, jacobians, hessian and hvp against sympy, mpmath and central differences."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import pytest

import agrad
from agrad import Value, grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, value_and_grad, vjp
from agrad.forward import Dual

sympy = pytest.importorskip("sympy")
mpmath = pytest.importorskip("mpmath")


class _SympyOps:
    """agrad's function names on sympy expressions, so one lambda builds both."""

    exp, log, sin, cos, tanh, sqrt = sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tanh, sympy.sqrt

    @staticmethod
    def sigmoid(x: Any) -> Any:
        return 1 / (1 + sympy.exp(-x))

    @staticmethod
    def softplus(x: Any) -> Any:
        return sympy.log(1 + sympy.exp(x))


# Functions of one variable, written once over a namespace m (agrad or sympy).
UNARY: dict[str, Callable[[Any, Any], Any]] = {
    "sin": lambda x, m: m.sin(x),
    "exp*cos": lambda x, m: m.exp(x) * m.cos(x),
    "tanh": lambda x, m: m.tanh(x),
    "sigmoid": lambda x, m: m.sigmoid(x),
    "softplus": lambda x, m: m.softplus(x),
    "log(1+x^2)": lambda x, m: m.log(1 + x**2),
    "sqrt(1+x^2)/x": lambda x, m: m.sqrt(1 + x * x) / x,
    "x^x": lambda x, m: x**x,
    "2^sin": lambda x, m: 2 ** m.sin(x),
}
POINTS = [0.5, 1.7, -0.8]


def _sym_derivs(name: str, x0: float, order: int) -> float:
    x = sympy.Symbol("x")
    return float(sympy.diff(UNARY[name](x, _SympyOps), x, order).subs(x, x0).evalf(30))


def _af(name: str) -> Callable[[Any], Any]:
    return lambda x: UNARY[name](x, agrad)


def _close(a: float, b: float, tol: float = 1e-10) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


# -- grad to third order --------------------------------------------------------


def test_third_derivative_of_sin_is_minus_cos() -> None:
    d3 = grad(grad(grad(agrad.sin)))(0.5)
    assert type(d3) is float
    assert abs(d3 - (-math.cos(0.5))) <= 1e-12


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("x0", [p for p in POINTS])
def test_grad_to_third_order_matches_sympy(name: str, x0: float) -> None:
    if name == "x^x" and x0 < 0:
        pytest.skip("x ** x is real only for x > 0")
    f = _af(name)
    d1, d2, d3 = grad(f), grad(grad(f)), grad(grad(grad(f)))
    for k, d in enumerate((d1, d2, d3), start=1):
        got = d(x0)
        assert type(got) is float
        assert _close(got, _sym_derivs(name, x0, k), 1e-9), (name, x0, k)


@pytest.mark.parametrize("name", ["sin", "exp*cos", "sigmoid", "sqrt(1+x^2)/x"])
def test_third_order_every_mode_mix_matches_mpmath(name: str) -> None:
    """All eight ways of stacking three derivatives agree with mpmath's high-precision derivative."""
    f, x0 = _af(name), 0.9
    with mpmath.workdps(40):
        want = float(mpmath.diff(lambda t: UNARY[name](t, _MpOps), x0, 3))

    def fwd(g: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return lambda x: jvp(g, (x,), (1.0,))[1]

    for a in (grad, fwd):
        for b in (grad, fwd):
            for c in (grad, fwd):
                got = a(b(c(f)))(x0)
                assert type(got) is float
                assert _close(got, want, 1e-9), (a, b, c)


class _MpOps:
    exp, log, sin, cos, tanh, sqrt = mpmath.exp, mpmath.log, mpmath.sin, mpmath.cos, mpmath.tanh, mpmath.sqrt

    @staticmethod
    def sigmoid(x: Any) -> Any:
        return 1 / (1 + mpmath.exp(-x))


def test_third_derivative_matches_central_differences_of_the_second() -> None:
    f = lambda x: agrad.exp(agrad.sin(x)) * agrad.tanh(x)  # noqa: E731
    d2, d3 = grad(grad(f)), grad(grad(grad(f)))
    h = 1e-5
    for x0 in (-1.1, 0.2, 2.4):
        numeric = (d2(x0 + h) - d2(x0 - h)) / (2 * h)
        assert abs(d3(x0) - numeric) <= 1e-6 * max(1.0, abs(numeric))


def test_grad_argnums_tuple_and_negative() -> None:
    f = lambda x, y, z: x * y * y + agrad.sin(z)  # noqa: E731
    assert grad(f, argnums=(0, 1, 2))(2.0, 3.0, 0.0) == (9.0, 12.0, 1.0)
    assert grad(f, argnums=-1)(2.0, 3.0, 0.0) == 1.0
    assert grad(f, argnums=1)(2.0, 3.0, 0.0) == 12.0


def test_value_and_grad() -> None:
    v, g = value_and_grad(lambda x: x * agrad.exp(x))(1.0)
    assert type(v) is float and type(g) is float
    assert v == math.e and _close(g, 2 * math.e, 1e-15)


def test_grad_of_constant_function_is_zero() -> None:
    assert grad(lambda x: 3.0)(1.0) == 0.0
    assert grad(lambda x, y: y * y, argnums=0)(1.0, 2.0) == 0.0


def test_int_inputs_are_floats() -> None:
    assert grad(lambda x: x * x)(3) == 6.0


# -- floats in, floats out; Values in, Values out ----------------------------------


def test_values_in_values_out_and_differentiable() -> None:
    x = Value(0.7)
    d = grad(agrad.sin)(x)
    assert isinstance(d, Value) and _close(d.data, math.cos(0.7))
    d.backward()
    assert _close(x.grad, -math.sin(0.7))


def test_grad_has_no_side_effects_on_grad_attributes() -> None:
    w = Value(2.0)
    g = grad(lambda x: w * x * x)(3.0)
    assert w.grad == 0.0
    # The gradient depends on w, so it stays a Value and backward() reaches w (d/dw 2wx = 2x).
    assert isinstance(g, Value) and g.data == 12.0
    g.backward()
    assert w.grad == 6.0


def test_a_transform_inside_backward_leaves_its_pending_gradients_alone() -> None:
    # A hook runs grad of a function of w while backward still owes w a share:
    # the transform's walk must neither add to nor clear w's pending gradient.
    w = Value(3.0)
    y = w * w
    z = w * y  # w ** 3
    inner: list[Any] = []
    y.register_hook(lambda g: inner.append(grad(lambda x: x * w * w)(2.0)))
    z.backward()
    assert w.grad == 27.0  # 3 w ** 2
    assert inner[0].data == 9.0  # d/dx x w^2 = w^2


def test_a_constant_value_made_inside_f_keeps_the_gradient_a_value() -> None:
    # As documented: a leaf Value inside f may be a parameter, so the gradient stays a Value;
    # a plain-number constant gives a float.
    seen: list[Value] = []

    def f(x: Any) -> Any:
        seen.append(Value(3.0))
        return x * seen[-1]

    g = grad(f)(2.0)
    assert isinstance(g, Value) and g.data == 3.0
    g.backward()
    assert seen[0].grad == 1.0  # d/dc of df/dx = c
    assert type(grad(lambda x: x * 3.0)(2.0)) is float


def test_transforms_ignore_an_outer_no_grad() -> None:
    with agrad.no_grad():
        assert grad(grad(lambda x: x**3.0))(2.0) == 12.0
        assert hessian(lambda x, y: x * y)(1.0, 2.0) == [[0.0, 1.0], [1.0, 0.0]]


def test_signed_zero_input_survives() -> None:
    # x + (-0.0) keeps -0.0, so 1 / x is -inf at x = -0.0 inside a nested transform too.
    assert value_and_grad(lambda x: grad(lambda y: y * (1.0 / x))(1.0))(-0.0)[0] == -math.inf


# -- perturbation confusion: each level differentiates only its own input --------


def _rev(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return grad(f)


def _fwd(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda x: jvp(f, (x,), (1.0,))[1]


NESTINGS = [(a, b) for a in (_rev, _fwd) for b in (_rev, _fwd)]


@pytest.mark.parametrize(("outer", "inner"), NESTINGS, ids=["rev-rev", "rev-fwd", "fwd-rev", "fwd-fwd"])
def test_no_perturbation_confusion(outer: Any, inner: Any) -> None:
    # Siskind & Pearlmutter: d/dx [x * d/dy (x + y)](1) = d/dx x = 1; confusion gives 2.
    assert outer(lambda x: x * inner(lambda y: x + y)(1.0))(1.0) == 1.0
    # d/dx [x * d/dy (x y)|y=1] = d/dx x^2 = 2x = 4 at x = 2.
    assert outer(lambda x: x * inner(lambda y: x * y)(1.0))(2.0) == 4.0
    # d/dx [d/dy (x y)|y=x] = d/dx x = 1, though the inner point is x itself.
    assert outer(lambda x: inner(lambda y: x * y)(x))(2.0) == 1.0
    # d/dx [d/dy sin(x y)|y=x] = d/dx x cos(x^2) = cos(x^2) - 2 x^2 sin(x^2).
    x0 = 0.7
    want = math.cos(x0**2) - 2 * x0**2 * math.sin(x0**2)
    got = outer(lambda x: inner(lambda y: agrad.sin(x * y))(x))(x0)
    assert _close(got, want, 1e-14)


def test_inner_transform_sees_values_when_nested() -> None:
    seen = []

    def f(x: Any) -> Any:
        d = grad(lambda y: y * y * x)(x)
        seen.append(type(d))
        return d

    assert grad(f)(3.0) == 12.0  # d/dy (y^2 x) at y = x is 2 x^2; d/dx 2 x^2 = 4x
    assert seen == [Value]


# -- jvp and vjp -------------------------------------------------------------------


def test_jvp_is_forward_mode_on_floats() -> None:
    out, t = jvp(lambda x, y: agrad.exp(x) * agrad.cos(y), (0.5, 1.0), (2.0, -1.0))
    assert type(out) is float and type(t) is float
    want = math.exp(0.5) * math.cos(1.0) * 2.0 + math.exp(0.5) * math.sin(1.0)
    assert _close(out, math.exp(0.5) * math.cos(1.0), 1e-15) and _close(t, want, 1e-15)


def test_vjp_matches_closed_form_and_can_be_called_again() -> None:
    out, back = vjp(lambda r, t: [r * agrad.cos(t), r * agrad.sin(t)], 2.0, 0.3)
    assert out == [2.0 * math.cos(0.3), 2.0 * math.sin(0.3)]
    assert back([1.0, 0.0]) == (math.cos(0.3), -2.0 * math.sin(0.3))
    gr, gt = back([0.5, 2.0])
    assert _close(gr, 0.5 * math.cos(0.3) + 2.0 * math.sin(0.3))
    assert _close(gt, -0.5 * 2.0 * math.sin(0.3) + 2.0 * 2.0 * math.cos(0.3))


def test_vjp_scalar_output() -> None:
    out, back = vjp(agrad.tanh, 0.4)
    assert out == math.tanh(0.4)
    assert _close(back(3.0)[0], 3.0 * (1 - math.tanh(0.4) ** 2), 1e-15)


# -- Jacobians, Hessians ----------------------------------------------------------


def polar(r: Any, t: Any) -> list[Any]:
    return [r * agrad.cos(t), r * agrad.sin(t), r * r]


def _polar_jacobian(r: float, t: float) -> list[list[float]]:
    return [[math.cos(t), -r * math.sin(t)], [math.sin(t), r * math.cos(t)], [2 * r, 0.0]]


@pytest.mark.parametrize("jac", [jacobian, jacfwd, jacrev])
def test_jacobians_are_nested_lists_of_floats(jac: Any) -> None:
    got = jac(polar)(1.5, 0.4)
    assert isinstance(got, list) and all(isinstance(row, list) for row in got)
    assert all(type(v) is float for row in got for v in row)
    want = _polar_jacobian(1.5, 0.4)
    assert all(_close(a, b, 1e-15) for ra, rb in zip(got, want) for a, b in zip(ra, rb))


def test_jacobian_shapes_follow_jax() -> None:
    f = lambda x, y: x * y  # noqa: E731
    assert jacrev(f)(2.0, 3.0) == [3.0, 2.0]  # scalar f: the gradient
    assert jacfwd(f)(2.0, 3.0) == [3.0, 2.0]
    assert jacrev(f, argnums=1)(2.0, 3.0) == 2.0  # scalar f, int argnums: a number
    assert jacfwd(polar, argnums=0)(2.0, 0.0) == [1.0, 0.0, 4.0]  # int argnums: one column


def test_jacobian_matches_central_differences() -> None:
    def f(a: Any, b: Any, c: Any) -> list[Any]:
        return [agrad.softplus(a * b), agrad.sigmoid(b - c) * a, agrad.sqrt(a * a + c * c)]

    x, h = [0.3, -1.2, 2.0], 1e-6
    got = jacobian(f)(*x)
    for j in range(3):
        up, dn = list(x), list(x)
        up[j] += h
        dn[j] -= h
        for i, (u, d) in enumerate(zip(f(*up), f(*dn))):
            assert abs(got[i][j] - (u - d) / (2 * h)) <= 1e-7


def _sym_hessian(expr: Any, syms: list[Any], at: list[float]) -> list[list[float]]:
    sub = dict(zip(syms, at))
    return [[float(sympy.diff(expr, a, b).subs(sub)) for b in syms] for a in syms]


def test_hessian_matches_sympy_and_every_composition() -> None:
    def f(x: Any, y: Any, z: Any, m: Any = agrad) -> Any:
        return m.exp(x * y) * m.sin(z) + x**3 * y / (1 + z * z)

    at = [0.4, -0.7, 1.1]
    syms = list(sympy.symbols("x y z"))
    want = _sym_hessian(f(*syms, m=_SympyOps), syms, at)
    h = hessian(f)(*at)
    assert h == jacfwd(jacrev(f))(*at)
    for got in (h, jacrev(jacrev(f))(*at), jacrev(jacfwd(f))(*at), jacfwd(jacfwd(f))(*at)):
        assert all(_close(a, b, 1e-12) for ra, rb in zip(got, want) for a, b in zip(ra, rb))
    v = [0.5, -2.0, 1.0]
    hv = hvp(f, at, v)
    assert all(_close(hv[i], sum(want[i][j] * v[j] for j in range(3)), 1e-12) for i in range(3))


def test_hessian_of_one_argument_is_a_number() -> None:
    assert hessian(lambda x, y: x**3.0 * y, argnums=0)(2.0, 5.0) == 60.0


# -- bad input --------------------------------------------------------------------


def test_grad_of_non_scalar_says_what_was_returned() -> None:
    with pytest.raises(TypeError, match=r"returned list: \[Value\(data=1.0"):
        grad(lambda x: [x, 2.0 * x])(1.0)
    with pytest.raises(TypeError, match="returned NoneType"):
        grad(lambda x: None)(1.0)


def test_argnums_out_of_range() -> None:
    with pytest.raises(ValueError, match="argnums 2 is out of range for a call with 2"):
        grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)
    with pytest.raises(ValueError, match="out of range"):
        grad(lambda x, y: x * y, argnums=(0, -3))(1.0, 2.0)
    with pytest.raises(ValueError, match="out of range"):
        jacrev(lambda x: x, argnums=1)(1.0)


def test_argnums_bad_type_or_repeated() -> None:
    with pytest.raises(TypeError, match="argnums must be an int"):
        grad(lambda x: x, argnums="0")(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="twice"):
        grad(lambda x, y: x * y, argnums=(0, 0))(1.0, 2.0)


def test_non_scalar_argument() -> None:
    with pytest.raises(TypeError, match="argument 0 must be a scalar"):
        grad(lambda x: x)("1.0")


def test_hvp_bad_input_names_hvp() -> None:
    with pytest.raises(TypeError, match="hvp expects a function"):
        hvp(None, (1.0,), (1.0,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hvp needs at least one primal"):
        hvp(agrad.sin, (), ())
    with pytest.raises(ValueError, match="one tangent per primal"):
        hvp(agrad.sin, (1.0,), (1.0, 2.0))


def test_jvp_length_mismatch() -> None:
    with pytest.raises(ValueError, match="2 primals and 1 tangents"):
        jvp(lambda x, y: x * y, (1.0, 2.0), (1.0,))
    with pytest.raises(TypeError, match="tuples or lists"):
        jvp(agrad.sin, 1.0, 1.0)  # type: ignore[arg-type]


def test_vjp_bad_cotangents() -> None:
    _, back = vjp(polar, 1.0, 0.0)
    with pytest.raises(ValueError, match="a list of 3 scalars"):
        back([1.0, 0.0])
    with pytest.raises(ValueError, match="at least one primal"):
        vjp(lambda: 1.0)


def test_jvp_dual_is_not_a_float_leak() -> None:
    """Inside jvp, f sees Duals; outside, only floats come back."""
    seen: list[type] = []
    jvp(lambda x: seen.append(type(x)) or x, (1.0,), (1.0,))
    assert seen == [Dual]


def test_third_order_jacobian_tensors_match_sympy() -> None:
    def f(x: Any, y: Any, m: Any = agrad) -> Any:
        return m.exp(x * y) * m.sin(x) + x**3 * y**2

    syms = list(sympy.symbols("x y"))
    expr, at = f(*syms, m=_SympyOps), {syms[0]: 0.4, syms[1]: -0.6}
    want = [[[float(sympy.diff(expr, a, b, c).subs(at)) for c in syms] for b in syms] for a in syms]
    for outer in (jacfwd, jacrev):
        for middle in (jacfwd, jacrev):
            for inner in (jacfwd, jacrev):
                got = outer(middle(inner(f)))(0.4, -0.6)
                flat = [(got[i][j][k], want[i][j][k]) for i in range(2) for j in range(2) for k in range(2)]
                assert all(type(a) is float and _close(a, b, 1e-12) for a, b in flat), (outer, middle, inner)


def test_nested_output_shapes_are_kept() -> None:
    out, t = jvp(lambda x: (x, [x * x, (3.0 * x,)]), (2.0,), (1.0,))
    assert out == (2.0, [4.0, (6.0,)]) and t == (1.0, [4.0, (3.0,)])
    assert jacrev(lambda x, y: [[x * y], (x,)])(2.0, 3.0) == [[[3.0, 2.0]], ([1.0, 0.0],)]
    out, back = vjp(lambda x: [x, [x * x]], 3.0)
    assert out == [3.0, [9.0]] and back([1.0, [1.0]]) == (7.0,)
    with pytest.raises(ValueError, match=r"a list of \(a scalar, a list of 1 scalars\)"):
        back([1.0, 1.0])


def test_vjp_and_jacobian_nested_in_grad_give_floats() -> None:
    assert grad(lambda x: vjp(lambda y: x * y * y, x)[1](1.0)[0])(3.0) == 12.0  # d/dx 2x^2
    assert grad(lambda x: jacobian(lambda a, b: [a * b * x, a + b])(x, 2.0)[0][0])(3.0) == 2.0  # d/dx bx


def test_jacobian_of_a_function_closing_over_values_stays_differentiable() -> None:
    w = Value(1.5)
    h = hessian(lambda x, y: w * x * x * y)(1.0, 2.0)  # [[2wy, 2wx], [2wx, 0]]
    assert [[float(v) for v in row] for row in h] == [[6.0, 3.0], [3.0, 0.0]]
    assert isinstance(h[0][0], Value) and h[1][1] == 0.0  # d2/dy2 depends on no Value: a plain zero
    h[0][0].backward()  # d/dw 2wy = 2y
    assert w.grad == 4.0


@pytest.mark.parametrize("transform", [grad, value_and_grad, jacfwd, jacrev, jacobian, hessian])
def test_transform_of_a_non_function(transform: Any) -> None:
    with pytest.raises(TypeError, match="expects a function to differentiate, got NoneType"):
        transform(None)


def test_non_functions_and_huge_ints_elsewhere() -> None:
    with pytest.raises(TypeError, match="function"):
        jvp(None, (1.0,), (1.0,))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="function"):
        vjp(None, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fit a float"):
        grad(agrad.sin)(10**400)
    with pytest.raises(ValueError, match="fit a float"):
        jvp(agrad.sin, (1.0,), (10**400,))
    with pytest.raises(ValueError, match="fit a float"):
        grad(lambda x: 10**400)(1.0)
    with pytest.raises(ValueError, match="fit a float"):
        jvp(lambda x: x + 10**400, (1.0,), (1.0,))


def test_jacobian_picks_the_cheaper_mode() -> None:
    seen: list[type] = []

    def many_in(a: Any, b: Any, c: Any) -> Any:
        seen.append(type(a))
        return [a * b * c]

    assert jacobian(many_in)(1.0, 2.0, 3.0) == [[6.0, 3.0, 2.0]]
    assert len(seen) == 1 and issubclass(seen[0], Value)  # one reverse pass for 3 inputs, 1 output

    seen.clear()

    def many_out(a: Any) -> Any:
        seen.append(type(a))
        return [a, a * a, a * a * a]

    assert jacobian(many_out)(2.0) == [[1.0], [4.0], [12.0]]
    assert seen == [Dual]  # one forward pass for 1 input, 3 outputs


def test_no_grad_inside_f_makes_a_constant_in_reverse_mode_only() -> None:
    """As in PyTorch: no_grad stops the reverse graph; forward mode's tangents go on."""

    def f(x: Any) -> Any:
        with agrad.no_grad():
            c = x * x  # a constant to reverse mode
        return x * c

    assert float(grad(f)(2.0)) == 4.0  # d/dx (x * c) with c = x^2 held fixed
    assert jvp(f, (2.0,), (1.0,))[1] == 12.0  # d/dx x^3


def test_transforms_in_threads() -> None:
    results: list[float] = []
    lock = threading.Lock()

    def work(x0: float) -> None:
        for _ in range(50):
            r = grad(lambda x: jvp(grad(agrad.sin), (x,), (1.0,))[1])(x0)  # d3/dx3 sin = -cos
            with lock:
                results.append(r + math.cos(x0))

    threads = [threading.Thread(target=work, args=(0.1 * k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 200 and max(abs(r) for r in results) <= 1e-15
