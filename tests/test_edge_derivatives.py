"""Second derivatives at extreme magnitudes, against closed forms in 60-digit mpmath.

Ported from the edge cases of JAX's and HIPS/autograd's derivative tests
(``check_grads(f, order=2)`` on tiny and huge inputs): every unary op and a few
compositions, at inputs from 5e-324 to 1e308, in every mode (reverse over
reverse, forward over reverse, ``hessian``, forward over forward). Where the
exact second derivative is a finite float, agrad must give it wherever PyTorch
float64 does; the three cases the issue names are checked without PyTorch too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import mpmath
import pytest

import agrad

M = mpmath


def _sig(x: Any) -> Any:
    return 1 / (1 + M.exp(-x))


def _torch_softplus(t: Any) -> Any:
    import torch

    return torch.nn.functional.softplus(t)


# name: (agrad function, exact second derivative in mpmath or None where undefined, torch function)
OPS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any], Callable[[Any], Any]]] = {
    "exp": (agrad.exp, M.exp, lambda t: t.exp()),
    "log": (agrad.log, lambda x: -1 / x**2 if x > 0 else None, lambda t: t.log()),
    "sqrt": (agrad.sqrt, lambda x: -(x ** M.mpf(-1.5)) / 4 if x > 0 else None, lambda t: t.sqrt()),
    "tanh": (agrad.tanh, lambda x: -2 * M.tanh(x) * M.sech(x) ** 2, lambda t: t.tanh()),
    "sigmoid": (agrad.sigmoid, lambda x: _sig(x) * (1 - _sig(x)) * (1 - 2 * _sig(x)), lambda t: t.sigmoid()),
    "softplus": (agrad.softplus, lambda x: _sig(x) * (1 - _sig(x)), lambda t: _torch_softplus(t)),
    "sin": (agrad.sin, lambda x: -M.sin(x), lambda t: t.sin()),
    "cos": (agrad.cos, lambda x: -M.cos(x), lambda t: t.cos()),
    "x**3": (lambda x: x**3.0, lambda x: 6 * x, lambda t: t**3.0),
    "x**1e308": (
        lambda x: x**1e308,
        lambda x: M.mpf(1e308) * (M.mpf(1e308) - 1) * x ** (M.mpf(1e308) - 2) if x > 0 else None,
        lambda t: t**1e308,
    ),
    "x**-2": (lambda x: x**-2.0, lambda x: 6 * x**-4, lambda t: t**-2.0),
    "1/x": (lambda x: 1.0 / x, lambda x: 2 / x**3, lambda t: 1.0 / t),
    "2**x": (lambda x: 2.0**x, lambda x: M.log(2) ** 2 * M.mpf(2) ** x, lambda t: 2.0**t),
    "x*x/3e-300": (lambda x: x * x / 3e-300, lambda x: 2 / M.mpf(3e-300), lambda t: t * t / 3e-300),
}
POINTS = [5e-324, 1e-300, 1e-200, 1e-20, 0.5, 20.0, 40.0, 700.0, 710.0, 800.0, 1e20, 1e200, 1e300, 1e308]
POINTS += [-x for x in POINTS]

MODES: dict[str, Callable[[Callable[[Any], Any], float], Any]] = {
    "grad(grad)": lambda f, x: agrad.grad(agrad.grad(f))(x),
    "jvp(grad)": lambda f, x: agrad.jvp(agrad.grad(f), (x,), (1.0,))[1],
    "hessian": lambda f, x: agrad.hessian(f)(x),
    "jacfwd(jacfwd)": lambda f, x: agrad.jacfwd(agrad.jacfwd(f))(x),
}


def exact(name: str, x: float) -> float | None:
    """The exact second derivative as a float, or None where it is undefined or beyond every float."""
    with M.workdps(60):
        t = OPS[name][1](M.mpf(x))
        if t is None or abs(t) > M.mpf(1.7976931348623157e308):
            return None
        return float(t)


def close(got: Any, want: float) -> bool:
    if isinstance(got, list):  # hessian and jacfwd(jacfwd) of one argument: [[h]]
        got = got[0][0]
    if not isinstance(got, float) or not math.isfinite(got):
        return False
    return abs(got - want) <= 1e-12 * abs(want) + 1e-320


def torch_second(name: str, x: float) -> float:
    torch = pytest.importorskip("torch")
    fn = OPS[name][2]
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(fn(t), t, create_graph=True)
    if not g.requires_grad:
        return 0.0
    (h,) = torch.autograd.grad(g, t)
    return float(h.item())


# -- the cases: no PyTorch needed ------------------------------------------------


def test_a_huge_power_at_one_half_has_second_derivative_zero() -> None:
    # c * (c - 1) overflowed to inf before the tiny power 0.5 ** 1e308 = 0 was applied: inf * 0 = nan.
    assert agrad.grad(agrad.grad(lambda x: x**1e308))(0.5) == 0.0
    assert agrad.jvp(agrad.grad(lambda x: x**1e308), (0.5,), (1.0,))[1] == 0.0


def test_the_tangent_of_an_overflowing_quotient_along_the_numerator() -> None:
    # out = 1e308 / 0.5 = inf, and out * (y's tangent 0.0) was nan; JAX gives 2.
    assert agrad.jvp(lambda x, y: x / y, (1e308, 0.5), (1.0, 0.0)) == (math.inf, 2.0)
    assert agrad.hessian(lambda x, y: x / y)(1e308, 0.5)[1][0] == -4.0  # -1 / y**2; was nan
    assert agrad.jvp(lambda x, y: x / y, (6.0, 3.0), (1.0, 0.5)) == (2.0, 0.0)  # ordinary inputs unchanged


@pytest.mark.parametrize("x", [1e-300, -1e-300, 1e-20, 3e-8])
def test_tanh_second_derivative_at_tiny_inputs(x: float) -> None:
    # -(1 + out) + (1 - out) cancelled to 0; the truth is -2 tanh(x) sech(x)**2 = -2x here.
    want = exact("tanh", x)
    assert want is not None
    for name, mode in MODES.items():
        assert close(mode(agrad.tanh, x), want), name


@pytest.mark.parametrize("x", [0.3, 2.5, 8.0, 18.0])
def test_tanh_first_derivative_on_numbers_stays_the_exact_product(x: float) -> None:
    # On numbers tanh' is still (1 - out)(1 + out), which matches PyTorch's fused multiply-add to 1 ulp.
    out = math.tanh(x)
    assert agrad.grad(agrad.tanh)(x) == (1.0 - out) * (1.0 + out)


# -- the sweep: agrad right wherever PyTorch is ---------------------------------------------

CASES = [(name, x) for name in OPS for x in POINTS if exact(name, x) is not None]


@pytest.mark.parametrize(("name", "x"), CASES, ids=[f"{n}@{x:g}" for n, x in CASES])
def test_second_derivative_at_the_edges_is_right_where_pytorch_is(name: str, x: float) -> None:
    want = exact(name, x)
    assert want is not None
    reference = torch_second(name, x)
    if not close(reference, want):
        pytest.skip("PyTorch float64 does not get it either")
    for mode_name, mode in MODES.items():
        got = mode(OPS[name][0], x)
        assert close(got, want), f"{name}''({x!r}) by {mode_name}: {got!r}, exact {want!r}"
