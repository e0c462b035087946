"""Transforms, forward mode and gradcheck with arrays in and arrays out, on NumPy and array-api-strict.

torch.func is the oracle for grad, jvp, vjp, jacrev, jacfwd, hessian and hvp;
gradcheck and gradgradcheck (central differences, every mode) run over every
tensor op of tests/tensor_cases.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tensor_cases import CASES, inputs

import agrad
from agrad import Tensor

torch = pytest.importorskip("torch")
strict = pytest.importorskip("array_api_strict")
tf = torch.func

BACKENDS = ["numpy", "array_api_strict"]


def arr(a: Any, backend: str) -> Any:
    return np.asarray(a, dtype=np.float64) if backend == "numpy" else strict.asarray(np.asarray(a, dtype=np.float64))


def same(got: Any, want: Any) -> None:
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want)
        for g, w in zip(got, want):
            same(g, w)
        return
    got = np.asarray(got.data if isinstance(got, Tensor) else got)
    want = want.detach().numpy()
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def f_agrad(x: Any, w: Any) -> Any:
    # agrad.matmul, not @: a strict array on the left of @ refuses a Tensor instead of deferring to it
    return agrad.tanh(agrad.matmul(x, w) + 0.5).sum(axis=0) * agrad.sigmoid(w[0, :])


def f_torch(x: Any, w: Any) -> Any:
    return (torch.tanh(x @ w + 0.5).sum(0)) * torch.sigmoid(w[0])


def scalar_agrad(x: Any, w: Any) -> Any:
    return agrad.logsumexp(f_agrad(x, w) * 3.0)


def scalar_torch(x: Any, w: Any) -> Any:
    return torch.logsumexp(f_torch(x, w) * 3.0, 0)


RNG = np.random.default_rng(7)
X0, W0 = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 2))
TX, TW = torch.tensor(X0), torch.tensor(W0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_grad_and_value_and_grad(backend: str) -> None:
    x, w = arr(X0, backend), arr(W0, backend)
    same(agrad.grad(scalar_agrad, argnums=(0, 1))(x, w), tf.grad(scalar_torch, argnums=(0, 1))(TX, TW))
    v, g = agrad.value_and_grad(scalar_agrad)(x, w)
    same(v, scalar_torch(TX, TW))
    same(g, tf.grad(scalar_torch)(TX, TW))


@pytest.mark.parametrize("backend", BACKENDS)
def test_vjp_and_jvp(backend: str) -> None:
    x, w = arr(X0, backend), arr(W0, backend)
    ct, tx, tw = RNG.standard_normal(2), RNG.standard_normal((4, 3)), RNG.standard_normal((3, 2))
    out, back = agrad.vjp(f_agrad, x, w)
    tout, tback = tf.vjp(f_torch, TX, TW)
    same(out, tout)
    same(back(arr(ct, backend)), tback(torch.tensor(ct)))
    value, tangent = agrad.jvp(f_agrad, (x, w), (arr(tx, backend), arr(tw, backend)))
    tvalue, ttangent = tf.jvp(f_torch, (TX, TW), (torch.tensor(tx), torch.tensor(tw)))
    same(value, tvalue)
    same(tangent, ttangent)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("how", ["jacrev", "jacfwd", "jacobian"])
def test_jacobians_have_jaxs_layout(backend: str, how: str) -> None:
    x, w = arr(X0, backend), arr(W0, backend)
    got = getattr(agrad, how)(f_agrad, argnums=(0, 1))(x, w)
    same(got, tf.jacrev(f_torch, argnums=(0, 1))(TX, TW))  # blocks shaped out.shape + input.shape
    same(getattr(agrad, how)(f_agrad, argnums=1)(x, w), tf.jacrev(f_torch, argnums=1)(TX, TW))


@pytest.mark.parametrize("backend", BACKENDS)
def test_hessian_and_hvp(backend: str) -> None:
    x, w = arr(X0, backend), arr(W0, backend)
    same(agrad.hessian(scalar_agrad, argnums=1)(x, w), tf.hessian(scalar_torch, argnums=1)(TX, TW))
    v = RNG.standard_normal((3, 2))
    got = agrad.hvp(lambda w: scalar_agrad(x, w), (w,), (arr(v, backend),))
    _, want = torch.autograd.functional.hvp(lambda w: scalar_torch(TX, w), TW, torch.tensor(v))
    same(got[0], want)


def test_grad_of_a_non_scalar_output_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match=r"shape \(2,\)"):
        agrad.grad(lambda x: x * 2.0)(np.ones(2))


def test_a_transform_leaves_tensors_and_their_grads_alone() -> None:
    w = Tensor(W0, requires_grad=True)
    g = agrad.grad(lambda x: scalar_agrad(x, w))(X0)
    assert w.grad is None  # reverse mode gathers the input's gradient only
    assert isinstance(g, Tensor)  # the result depends on w (a parameter), so it stays differentiable
    agrad.sum(g).backward()
    want = torch.autograd.grad(tf.grad(scalar_torch)(TX, TW.requires_grad_()).sum(), TW)[0]
    same(w.grad, want)


# -- gradcheck and gradgradcheck over every tensor op -------------------------------------

SMALL = [
    pytest.param(name, k, id=f"{name}-{k}")
    for name, (_, _, shapes, _) in CASES.items()
    for k, shape in enumerate(shapes)
    if 0 < sum(int(np.prod(s)) for s in shape) <= 12 and k < 3
]


@pytest.mark.parametrize(("name", "k"), SMALL)
def test_gradcheck_and_gradgradcheck_every_tensor_op(name: str, k: int) -> None:
    fn, _, shapes, domain = CASES[name]
    xs = inputs(shapes[k], domain, seed=k)
    assert agrad.gradcheck(fn, xs)
    out = fn(*[Tensor(x) for x in xs])
    w = np.random.default_rng(k).standard_normal(out.shape)
    assert agrad.gradgradcheck(lambda *ts: (fn(*ts) * w).sum(), xs)


def test_gradcheck_catches_a_wrong_array_derivative() -> None:
    with pytest.raises(agrad.GradcheckError, match=r"d out\[0\]\[0\] / d input 0\[0\]"):
        agrad.gradcheck(lambda x: x * float(x.sum()), [np.array([1.0, 2.0])])


# A float argument that meets a Tensor or an array inside f: JAX treats the float as a 0-d array; agrad runs f
# again with it as a 0-d Tensor (the first run, on Values, stops at the mix) and gives floats back for it.
T2 = np.array([1.0, 2.0])
MIXES = [
    (lambda s: (s * Tensor(T2)).sum(), lambda s: (s * torch.tensor(T2)).sum()),
    (lambda s: (Tensor(T2) ** s).sum(), lambda s: (torch.tensor(T2) ** s).sum()),
    (lambda s: agrad.sin(s) * (s + T2).sum(), lambda s: torch.sin(s) * (s + torch.tensor(T2)).sum()),
    (lambda s: agrad.maximum(s * s, Tensor(T2) * 4).sum(), lambda s: torch.maximum(s * s, torch.tensor(T2) * 4).sum()),
]


@pytest.mark.parametrize("k", range(len(MIXES)))
def test_a_float_argument_that_meets_a_tensor_is_a_0d_array_as_in_jax(k: int) -> None:
    f, ft = MIXES[k]
    s, st, one = 3.0, torch.tensor(3.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    g = agrad.grad(f)(s)
    assert type(g) is float and g == pytest.approx(tf.grad(ft)(st).item(), rel=1e-13)
    value, g2 = agrad.value_and_grad(f)(s)
    assert g2 == g and float(value) == pytest.approx(ft(st).item(), rel=1e-13)
    out, tangent = agrad.jvp(f, (s,), (1.0,))
    want_out, want_tangent = tf.jvp(ft, (st,), (one,))
    assert float(out) == pytest.approx(want_out.item(), rel=1e-13)
    assert float(tangent) == pytest.approx(want_tangent.item(), rel=1e-13)
    second = tf.grad(tf.grad(ft))(st).item()
    for got in (agrad.grad(agrad.grad(f))(s), agrad.hvp(f, (s,), (1.0,))[0], agrad.hessian(f)(s)[0][0]):
        assert float(got) == pytest.approx(second, rel=1e-12, abs=1e-15)
    _, back = agrad.vjp(f, s)
    assert back(np.array(2.0)) == (pytest.approx(2 * g, rel=1e-13),)


def test_two_float_arguments_meeting_an_array_give_jaxs_jacobians() -> None:
    def f(a: Any, b: Any) -> Any:
        return a * b * Tensor([1.0, 2.0, 3.0])

    def ft(a: Any, b: Any) -> Any:
        return a * b * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)

    a, b = torch.tensor(2.0, dtype=torch.float64), torch.tensor(5.0, dtype=torch.float64)
    want = tf.jacrev(ft, argnums=(0, 1))(a, b)
    for jac in (agrad.jacrev, agrad.jacfwd, agrad.jacobian):
        same(jac(f)(2.0, 5.0), want)
    assert agrad.grad(lambda a, b: f(a, b).sum(), argnums=(0, 1))(2.0, 5.0) == (30.0, 12.0)


def test_a_value_that_is_not_a_float_argument_still_may_not_meet_a_tensor() -> None:
    w = agrad.Value(2.0)  # a parameter of the scalar engine: no transform can lift it
    with pytest.raises(TypeError, match=r"\* mixes a Tensor with a Value; convert the Value with Tensor\(v.data\)"):
        agrad.grad(lambda s: (w * Tensor(T2)).sum() + s)(1.0)
    with pytest.raises(TypeError, match=r"\+ mixes a Value with an array"):
        _ = w + T2


def test_a_value_argument_that_meets_a_tensor_runs_f_once_and_says_so() -> None:
    calls = []

    def f(v: Any) -> Any:
        calls.append(v)
        return (v * Tensor(T2)).sum()

    with pytest.raises(TypeError, match=r"\* mixes a Tensor with a Value"):
        agrad.grad(f)(agrad.Value(2.0))  # a Value argument is not a float: nothing to run as a 0-d Tensor
    assert len(calls) == 1
    assert agrad.grad(f)(2.0) == 3.0 and len(calls) == 3  # a float: once on a Value, again on a 0-d Tensor
