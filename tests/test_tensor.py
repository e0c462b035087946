"""Tensors against PyTorch float64: every primitive's value, gradient and second derivative.

Each case runs on every array backend (NumPy and array-api-strict, which refuses
anything beyond the array API standard), on random shapes: 0-d, empty
dimensions, broadcasting on either side, and (NumPy) non-contiguous views. The
gradient is checked against torch.autograd.grad for a random upstream gradient,
the second derivative against torch's double backward (create_graph=True on
both sides), and the gradient once more against central differences.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tensor_cases import CASES, Fn, inputs

import agrad
from agrad import Tensor

torch = pytest.importorskip("torch")
strict = pytest.importorskip("array_api_strict")

BACKENDS = ["numpy", "array_api_strict"]


def to_backend(a: np.ndarray, backend: str, view: bool = False) -> Any:
    if backend == "numpy":
        if view and a.ndim and a.shape[-1]:
            # the same values as a strided, non-contiguous view of a larger array
            v = np.repeat(a, 2, axis=-1)[..., ::2]
            assert not v.flags["C_CONTIGUOUS"] or a.shape[-1] == 1 or a.size == 0
            return v
        return a.copy()
    return strict.asarray(a)


def to_numpy(a: Any) -> np.ndarray:
    return np.asarray(a.data if isinstance(a, Tensor) else a)


# array_api_strict's operators raise TypeError for a foreign right operand instead of deferring to it,
# so a strict array cannot stand on the left of a Tensor (a NumPy array can: it defers).
NUMPY_ONLY = {"mul-array-left"}

PARAMS = [
    pytest.param(name, k, backend, id=f"{name}-{k}-{backend}")
    for name, (_, _, shapes, _) in CASES.items()
    for k in range(len(shapes))
    for backend in BACKENDS
    if backend == "numpy" or name not in NUMPY_ONLY
]


def run_agrad(fn: Fn, arrays: list[np.ndarray], backend: str, view: bool = False) -> tuple[Any, list[Tensor]]:
    xs = [Tensor(to_backend(a, backend, view), requires_grad=True) for a in arrays]
    return fn(*xs), xs


def close(a: Any, b: Any, rtol: float = 1e-9, atol: float = 1e-11) -> None:
    a = to_numpy(a) if a is not None else None
    b = b.detach().numpy(force=True) if b is not None else None
    if a is None or b is None:  # an input the output does not depend on: no gradient on either side, or zeros
        other = a if a is not None else b
        assert other is None or not np.any(other), (a, b)
        return
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize(("name", "k", "backend"), PARAMS)
def test_value_gradient_and_second_derivative_match_torch(name: str, k: int, backend: str) -> None:
    fn, tfn, shapes, domain = CASES[name]
    arrays = inputs(shapes[k], domain, seed=k)
    view = backend == "numpy" and k % 2 == 1
    out, xs = run_agrad(fn, arrays, backend, view)
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tout = tfn(*ts)
    close(out, tout)
    rng = np.random.default_rng(100 + k)
    gt = rng.standard_normal(tuple(tout.shape))
    # first derivative, with a graph on both sides
    out.backward(gradient=to_backend(gt, backend), create_graph=True)
    tgrads = torch.autograd.grad(tout, ts, torch.tensor(gt), create_graph=True, allow_unused=True)
    grads = [x.grad for x in xs]
    for g, tg in zip(grads, tgrads):
        close(g, tg)
    # second derivative: d/dx of <grad, v> for a random v, by backward through the first backward
    vs = [rng.standard_normal(a.shape) for a in arrays]
    live = [(g, v, tg) for g, v, tg in zip(grads, vs, tgrads) if g is not None and tg is not None and tg.requires_grad]
    if not live:
        return
    s = agrad.sum(agrad.stack([(g * Tensor(to_backend(v, backend))).sum() for g, v, _ in live]))
    ts2 = torch.stack([(tg * torch.tensor(v)).sum() for _, v, tg in live]).sum()
    t2 = torch.autograd.grad(ts2, ts, allow_unused=True)
    for x in xs:
        x.zero_grad()
    s.backward()
    for x, tg2 in zip(xs, t2):
        close(x.grad, tg2, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(("name", "k"), [(p.values[0], p.values[1]) for p in PARAMS if p.values[2] == "numpy"])
def test_gradient_matches_central_differences(name: str, k: int) -> None:
    fn, _, shapes, domain = CASES[name]
    arrays = inputs(shapes[k], domain, seed=k)
    out, xs = run_agrad(fn, arrays, "numpy")
    gt = np.random.default_rng(200 + k).standard_normal(out.shape)
    out.backward(gradient=gt)
    eps = 1e-6
    for i, a in enumerate(arrays):
        numeric = np.zeros_like(a)
        for j in np.ndindex(*a.shape):
            up = [b.copy() for b in arrays]
            dn = [b.copy() for b in arrays]
            up[i][j] += eps
            dn[i][j] -= eps
            fu = to_numpy(fn(*[Tensor(b) for b in up]))
            fd = to_numpy(fn(*[Tensor(b) for b in dn]))
            numeric[j] = np.sum((fu - fd) * gt) / (2 * eps)
        got = xs[i].grad if xs[i].grad is not None else np.zeros_like(a)
        np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-6)


def test_float32_is_kept_and_ints_become_float64() -> None:
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = (x * 2.0).sum()
    y.backward()
    assert x.dtype == np.float32 and y.dtype == np.float32 and x.grad.dtype == np.float32
    assert Tensor([1, 2]).dtype == np.float64 and Tensor([True]).dtype == np.float64
    assert Tensor(np.ones(2), dtype="float32").dtype == np.float32


def test_the_issue_example_matches_torch() -> None:
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    w = Tensor(np.ones((2, 3)), requires_grad=True)
    loss = agrad.tanh(x @ w + 1.0).sum()
    loss.backward()
    xt = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    wt = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    torch.tanh(xt @ wt + 1.0).sum().backward()
    close(x.grad, xt.grad, rtol=1e-12)
    close(w.grad, wt.grad, rtol=1e-12)


# -- random shapes: any two shapes that broadcast, any binary op, then a reduction -----------

BINARY_OPS: dict[str, tuple[Fn, Fn]] = {
    "+": (lambda x, y: x + y, lambda x, y: x + y),
    "*": (lambda x, y: x * y, lambda x, y: x * y),
    "/": (lambda x, y: x / (y * y + 1.0), lambda x, y: x / (y * y + 1.0)),
    "max": (agrad.maximum, torch.maximum),
    "pow": (lambda x, y: (x * x + 0.5) ** y, lambda x, y: (x * x + 0.5) ** y),
}


@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0, max_side=3),
    op=st.sampled_from(sorted(BINARY_OPS)),
    axis=st.integers(-1, 3),
    seed=st.integers(0, 2**16),
    backend=st.sampled_from(BACKENDS),
)
def test_random_broadcast_shapes_match_torch(shapes: Any, op: str, axis: int, seed: int, backend: str) -> None:
    (sx, sy), out_shape = shapes.input_shapes, shapes.result_shape
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(sx), rng.standard_normal(sy)
    fn, tfn = BINARY_OPS[op]
    x, y = (
        Tensor(to_backend(np.asarray(a), backend), requires_grad=True),
        Tensor(to_backend(np.asarray(b), backend), requires_grad=True),
    )
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ax = axis if len(out_shape) > max(axis, -axis - 1) else None  # reduce one axis when the result has it
    out, tout = fn(x, y), tfn(ta, tb)
    loss = (out * out).sum(axis=ax).sum()
    tloss = (tout * tout).sum(dim=ax).sum() if ax is not None else (tout * tout).sum()
    close(loss, tloss)
    loss.backward()
    tloss.backward()
    close(x.grad, ta.grad)
    close(y.grad, tb.grad)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_abs_gradients_are_the_step_and_the_sign_on_every_backend(backend: str, dtype: type) -> None:
    # closed forms: relu' = 1 above 0 (and at nan, whose gradient passes), else 0; abs' = sign, 0 at 0
    x0 = np.array([-2.0, -0.0, 0.0, 0.5, 3.0], dtype)
    for f, want in ((agrad.relu, (x0 > 0).astype(dtype)), (abs, np.sign(x0))):
        x = Tensor(to_backend(x0, backend), requires_grad=True)
        (f(x) * Tensor(to_backend(np.arange(1.0, 6.0).astype(dtype), backend))).sum().backward()
        got = to_numpy(x.grad)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want * np.arange(1.0, 6.0))
