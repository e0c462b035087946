"""Keyword arguments pass through every transform to f, undifferentiated, as in JAX and HIPS/autograd.

Ported from the keyword-argument cases of JAX's ``api_test`` (``grad``,
``value_and_grad``, ``jacfwd``, ``jacrev``, ``hessian`` with keywords, and
``jit`` with keywords as static arguments) and HIPS/autograd's ``test_wrappers``
(``grad(fun)(x, **kwargs)``). The oracle is HIPS/autograd itself, run on the
same function written with ``autograd.numpy``, and closed forms where it has
no counterpart; tests needing autograd skip without it.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import agrad

KW = [{}, {"scale": 3.0}, {"flag": True}, {"scale": -0.5, "flag": True}]


def f(x: Any, y: Any, *, m: Any = agrad, scale: float = 1.0, flag: bool = False) -> Any:
    """One function for both engines: ``m`` is agrad or autograd.numpy."""
    core = m.sin(x) * y + x * x * y
    return scale * (m.exp(core * 0.1) if flag else core)


def closed_grad(x: float, y: float, scale: float = 1.0, flag: bool = False) -> tuple[float, float]:
    core = math.sin(x) * y + x * x * y
    dx, dy = math.cos(x) * y + 2 * x * y, math.sin(x) + x * x
    k = 0.1 * math.exp(core * 0.1) if flag else 1.0
    return scale * k * dx, scale * k * dy


@pytest.mark.parametrize("kw", KW, ids=str)
def test_grad_and_value_and_grad_pass_keywords_through(kw: dict[str, Any]) -> None:
    want = closed_grad(0.7, -1.3, **kw)
    assert agrad.grad(f)(0.7, -1.3, **kw) == pytest.approx(want[0], rel=1e-14)
    value, grads = agrad.value_and_grad(f, argnums=(0, 1))(0.7, -1.3, **kw)
    assert grads == pytest.approx(want, rel=1e-14)
    assert value == pytest.approx(f(0.7, -1.3, **kw), rel=1e-15)


def test_the_issue_example() -> None:
    assert agrad.grad(lambda x, y, flag=False: x * y)(2.0, 3.0, flag=True) == 3.0  # was a TypeError


@pytest.mark.parametrize("kw", KW, ids=str)
def test_against_hips_autograd(kw: dict[str, Any]) -> None:
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    for argnum in (0, 1):
        want = autograd.grad(f, argnum)(0.7, -1.3, m=anp, **kw)
        assert agrad.grad(f, argnums=argnum)(0.7, -1.3, **kw) == pytest.approx(float(want), rel=1e-13)
    hess = autograd.hessian(lambda x: f(x, -1.3, m=anp, **kw))(0.7)
    assert agrad.hessian(f, argnums=0)(0.7, -1.3, **kw) == pytest.approx(float(hess), rel=1e-12)


@pytest.mark.parametrize("kw", KW, ids=str)
def test_jacobians_and_hessian_pass_keywords_through(kw: dict[str, Any]) -> None:
    want = list(closed_grad(0.7, -1.3, **kw))
    for jac in (agrad.jacfwd, agrad.jacrev, agrad.jacobian):
        assert jac(f)(0.7, -1.3, **kw) == pytest.approx(want, rel=1e-14), jac.__name__
    h = agrad.hessian(f)(0.7, -1.3, **kw)
    # d/dx of the closed-form gradient, by central differences: the keywords reach the inner transform too
    eps = 1e-6
    dx = [(a - b) / (2 * eps) for a, b in zip(closed_grad(0.7 + eps, -1.3, **kw), closed_grad(0.7 - eps, -1.3, **kw))]
    assert h[0] == pytest.approx(dx, rel=1e-7)


def test_a_keyword_is_not_differentiated_even_when_it_is_a_number() -> None:
    # JAX: grad(f)(x, y=2.) differentiates x only; y is a constant, even when it is a Value-like number.
    g = agrad.grad(lambda x, y=1.0: x * y * y)
    assert g(3.0, y=2.0) == 4.0
    assert agrad.grad(lambda y, x=0.0: x * y * y)(2.0, x=3.0) == 12.0


def test_nested_transforms_pass_keywords_to_the_inner_function() -> None:
    d2 = agrad.grad(agrad.grad(lambda x, p=2.0: x**p))
    assert d2(2.0, p=3.0) == pytest.approx(12.0, rel=1e-15)  # 3 * 2 * x
    assert d2(2.0) == pytest.approx(2.0, rel=1e-15)


def test_an_unknown_keyword_is_f_s_own_type_error() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        agrad.grad(lambda x: x * x)(2.0, nope=1)
