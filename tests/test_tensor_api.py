"""Tensor's behaviour around the ops: backward's seed, accumulation, hooks, modes, optimizers, errors.

Derivatives of single ops are in test_tensor.py; here PyTorch (float64) is the
oracle for whole programs and optimizer steps, and each error is checked for
naming what was wrong.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest

import agrad
from agrad import Tensor, Value

torch = pytest.importorskip("torch")
strict = pytest.importorskip("array_api_strict")


def tt(a: Any) -> Any:
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def test_attributes_as_pytorch_users_expect() -> None:
    x = Tensor([[1, 2, 3], [4, 5, 6]])
    assert x.shape == (2, 3) and x.ndim == 2 and x.dtype == np.float64 and len(x) == 2
    assert x.T.shape == (3, 2) and x.grad is None and not x.requires_grad
    assert Tensor([[7.5]]).item() == 7.5 and float(Tensor(2.0)) == 2.0
    assert repr(Tensor([1.0, 2.0], requires_grad=True)) == "Tensor([1., 2.], requires_grad=True)"
    assert "dtype=float32" in repr(Tensor([1.0], dtype="float32"))
    assert [t.item() for t in Tensor([1.0, 2.0])] == [1.0, 2.0]
    with pytest.raises(TypeError, match="len"):
        len(Tensor(1.0))
    with pytest.raises(ValueError, match="one element"):
        Tensor([1.0, 2.0]).item()


def test_comparisons_give_plain_boolean_arrays() -> None:
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for got, want in [
        (x > 2, [False, False, True]),
        (x <= 2.0, [True, True, False]),
        (x == Tensor([1.0, 0, 3]), [True, False, True]),
        (x != np.array([1.0, 2.0, 0.0]), [False, False, True]),
    ]:
        assert type(got) is np.ndarray and got.dtype == bool and got.tolist() == want
    assert {x: 1}[x] == 1  # hashes by identity, so Tensors are dict keys


def test_backward_of_a_non_scalar_needs_a_gradient_as_in_pytorch() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"shape \(2,\) needs a gradient"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"must have the Tensor's shape \(2,\), got shape \(3,\)"):
        (x * 2).backward(gradient=np.ones(3))
    (x * 2).backward(gradient=np.array([1.0, 3.0]))
    assert x.grad.tolist() == [2.0, 6.0]


def test_backward_accumulates_and_zero_grad_resets() -> None:
    x = Tensor([1.0, -2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()
    assert x.grad.tolist() == [4.0, -8.0]  # 2 * 2x, added once per call
    x.zero_grad()
    assert x.grad is None


def test_grad_arrays_are_not_shared_between_nodes() -> None:
    """add's rule hands the same g to both sides: each .grad must still be its own array."""
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad += 10.0
    assert b.grad.tolist() == [1.0, 1.0]


def test_constants_get_no_gradient() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([5.0, 6.0])  # requires_grad=False: a constant, as in PyTorch
    arr = np.array([7.0, 8.0])
    (x * c + arr * x).sum().backward()
    assert x.grad.tolist() == [12.0, 14.0] and c.grad is None
    assert (c * 2).requires_grad is False and (c * 2)._children == ()


def test_hooks_see_and_replace_the_gradient() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    seen = []
    remove = x.register_hook(lambda g: seen.append(g.copy()) or g * 10)
    (x * 3).sum().backward()
    assert seen[0].tolist() == [3.0, 3.0] and x.grad.tolist() == [30.0, 30.0]
    remove()
    x.zero_grad()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    x.register_hook(lambda g: np.ones(5))
    with pytest.raises(ValueError, match="hook"):
        (x * 3).sum().backward()


def test_no_grad_and_detach_cut_the_graph() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    with agrad.no_grad():
        y = x * 2
    assert not y.requires_grad and y._children == ()
    z = (x * 2).detach()
    assert not z.requires_grad and z._children == ()
    w = (x * z).sum()
    w.backward()
    assert x.grad.tolist() == [2.0, 4.0]  # z is a constant


def test_create_graph_gives_differentiable_gradients() -> None:
    x = Tensor([0.5, -1.0], requires_grad=True)
    y = (agrad.tanh(x) ** 3.0).sum()
    y.backward(create_graph=True)
    g = x.grad
    assert isinstance(g, Tensor) and g.requires_grad
    x.zero_grad()
    (g * g).sum().backward()
    xt = tt([0.5, -1.0])
    (gt,) = torch.autograd.grad((torch.tanh(xt) ** 3).sum(), xt, create_graph=True)
    (h,) = torch.autograd.grad((gt * gt).sum(), xt)
    np.testing.assert_allclose(x.grad, h.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    ("name", "make", "kwargs"),
    [
        ("SGD", agrad.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True}),
        ("Adam", agrad.optim.Adam, {"lr": 0.05, "weight_decay": 0.1}),
        ("AdamW", agrad.optim.AdamW, {"lr": 0.05}),
    ],
)
def test_optimizers_step_tensors_as_torch_does(name: str, make: Any, kwargs: dict[str, Any]) -> None:
    rng = np.random.default_rng(0)
    w0, b0, xs, ys = (
        rng.standard_normal((3, 2)),
        rng.standard_normal(2),
        rng.standard_normal((5, 3)),
        rng.standard_normal((5, 2)),
    )
    w, b = Tensor(w0, requires_grad=True), Tensor(b0, requires_grad=True)
    wt, bt = tt(w0), tt(b0)
    opt = make([w, b], **kwargs)
    opt_t = getattr(torch.optim, name)([wt, bt], **kwargs)
    for _ in range(5):
        opt.zero_grad()
        opt_t.zero_grad()
        (((Tensor(xs) @ w + b).tanh() - ys) ** 2.0).mean().backward()
        (((torch.tensor(xs) @ wt + bt).tanh() - torch.tensor(ys)) ** 2).mean().backward()
        opt.step()
        opt_t.step()
    np.testing.assert_allclose(w.data, wt.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b.data, bt.detach().numpy(), rtol=1e-12, atol=1e-14)


# -- errors name what was wrong --------------------------------------------------------


def test_shapes_that_do_not_broadcast_name_both_shapes_and_the_op() -> None:
    a, b = Tensor(np.ones((2, 3)), requires_grad=True), Tensor(np.ones((4,)))
    with pytest.raises(ValueError, match=re.escape("*: shapes (2, 3) and (4,) do not broadcast")):
        a * b
    with pytest.raises(ValueError, match=re.escape("+: shapes (4,) and (2, 3)")):
        np.ones(4) + a
    with pytest.raises(
        ValueError, match=re.escape("matmul: shapes (2, 3) and (2, 3) do not match (inner sizes 3 and 2")
    ):
        a @ a
    with pytest.raises(ValueError, match=re.escape("matmul: shapes (2, 3, 4) and (5, 4, 2)")):
        Tensor(np.ones((2, 3, 4))) @ np.ones((5, 4, 2))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        agrad.broadcast_to(a, (3, 3))
    with pytest.raises(ValueError, match="cannot reshape"):
        a.reshape(4, 2)


def test_a_tensor_with_a_value_says_how_to_convert() -> None:
    t = Tensor([1.0])
    for bad in (lambda: t + Value(1.0), lambda: Value(1.0) * t, lambda: Tensor(Value(2.0)), lambda: t < Value(1.0)):
        with pytest.raises(TypeError, match=r"Value"):
            bad()
    with pytest.raises(TypeError, match=r"Tensor\(v.data\)"):
        t + Value(1.0)


@pytest.mark.parametrize(
    "data",
    ["abc", np.array(["a", "b"]), np.array([1 + 2j]), [1j], np.array([object()]), {"a": 1}, None, [[1.0], [2.0, 3.0]]],
)
def test_non_numeric_data_is_a_type_error_at_construction(data: Any) -> None:
    with pytest.raises(TypeError, match=r"real numbers|complex|must be"):
        Tensor(data)


def test_mixing_two_array_libraries_names_both() -> None:
    a = Tensor(np.ones(2), requires_grad=True)
    b = Tensor(strict.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match=r"array_api_compat.numpy.*array_api_strict|array_api_strict.*numpy"):
        a + b
    with pytest.raises(TypeError, match="two libraries"):
        agrad.matmul(a, strict.ones(2))


def test_numpy_with_dask_gives_dask_as_dask_defines() -> None:
    da = pytest.importorskip("dask.array")
    x = Tensor(da.from_array(np.arange(4.0), chunks=2), requires_grad=True)
    y = (x * np.array([1.0, 2.0, 3.0, 4.0])).sum()
    assert "dask" in type(y.data).__module__
    y.backward()
    np.testing.assert_allclose(np.asarray(x.grad), [1.0, 2.0, 3.0, 4.0])


def test_nan_and_inf_follow_ieee_silently() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = Tensor([0.0, -1.0, 1.0], requires_grad=True)
        y = agrad.log(x)
        assert str(y.data.tolist()) == "[-inf, nan, 0.0]"
        y.backward(gradient=np.ones(3))
        assert x.grad.tolist()[0] == np.inf and x.grad.tolist()[2] == 1.0
        assert (Tensor([1.0]) / 0.0).data.tolist() == [np.inf]


def test_detect_anomaly_names_the_op_and_the_line() -> None:
    x = Tensor([1.0, 0.0], requires_grad=True, label="x")
    with agrad.detect_anomaly(), pytest.raises(FloatingPointError) as e:
        agrad.log(x)
    assert "forward of 'log' gave -inf at index (1,)" in str(e.value) and "x=Tensor of shape (2,)" in str(e.value)
    assert "test_tensor_api.py:" in str(e.value)
    with agrad.detect_anomaly():
        y = agrad.sqrt(x).sum()
        with pytest.raises(FloatingPointError, match=r"backward of 'sqrt' gave gradient inf at index \(1,\)"):
            y.backward()


# -- a Tensor program is the same program on a grid of Values ----------------------


def _program(rng: np.random.Generator, depth: int) -> list[tuple[str, int, int]]:
    ops = list(OPS)
    return [(ops[rng.integers(len(ops))], int(rng.integers(k + 2)), int(rng.integers(k + 2))) for k in range(depth)]


OPS: dict[str, Any] = {
    "+": lambda x, y: x + y,
    "*": lambda x, y: x * y,
    "-": lambda x, y: x - y,
    "tanh": lambda x, y: agrad.tanh(x),
    "sigmoid": lambda x, y: agrad.sigmoid(x),
    "exp_small": lambda x, y: agrad.exp(agrad.tanh(x)),
    "relu": lambda x, y: agrad.relu(x),
    "min": agrad.minimum,
    "max": agrad.maximum,
    "sin": lambda x, y: agrad.sin(x),
}


def _run(program: list[tuple[str, int, int]], a: Any, b: Any) -> Any:
    vals = [a, b]
    for op, i, j in program:
        vals.append(OPS[op](vals[i], vals[j]))
    return vals[-1]


@pytest.mark.parametrize("seed", range(20))
def test_a_random_tensor_program_matches_the_same_program_on_values(seed: int) -> None:
    rng = np.random.default_rng(seed)
    program = _program(rng, 12)
    a0, b0 = rng.standard_normal((2, 3)), rng.standard_normal(3)  # b broadcasts over a's rows
    a, b = Tensor(a0, requires_grad=True), Tensor(b0, requires_grad=True)
    out = _run(program, a, b)
    out = out if out.shape == (2, 3) else agrad.broadcast_to(out, (2, 3))
    (out * Tensor(np.arange(6.0).reshape(2, 3))).sum().backward()
    va = [[Value(float(a0[i, j])) for j in range(3)] for i in range(2)]
    vb = [Value(float(b0[j])) for j in range(3)]
    total = Value(0.0)
    for i in range(2):
        for j in range(3):
            o = _run(program, va[i][j], vb[j])
            total = total + o * float(3 * i + j)
            # the same number up to the last bits: NumPy's tanh, sin and exp are not libm's
            assert (o.data if isinstance(o, Value) else o) == pytest.approx(out.data[i, j], rel=1e-14, abs=1e-300)
    total.backward()
    np.testing.assert_allclose(
        a.grad if a.grad is not None else np.zeros((2, 3)),
        [[v.grad for v in row] for row in va],
        rtol=1e-13,
        atol=1e-15,
    )
    np.testing.assert_allclose(
        b.grad if b.grad is not None else np.zeros(3), [v.grad for v in vb], rtol=1e-13, atol=1e-15
    )


def test_softmax_family_is_stable_at_large_logits_as_torch() -> None:
    logits = np.array([[1000.0, 1000.0, -1000.0], [-np.inf, 0.0, 5.0], [800.0, -3.0, 1e-3]])
    t = torch.tensor(logits)
    for ours, theirs in [
        (agrad.softmax(Tensor(logits)), torch.softmax(t, -1)),
        (agrad.log_softmax(Tensor(logits)), torch.log_softmax(t, -1)),
        (agrad.logsumexp(Tensor(logits), axis=-1), torch.logsumexp(t, -1)),
    ]:
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-15, atol=0)
    x = Tensor(logits, requires_grad=True)
    xt = torch.tensor(logits, requires_grad=True)
    g = np.random.default_rng(0).standard_normal(logits.shape)
    agrad.log_softmax(x).backward(gradient=g)
    torch.log_softmax(xt, -1).backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-13, atol=1e-300)


def test_explain_narrates_a_tensor_backward_with_backwards_own_numbers() -> None:
    x = Tensor(np.array([[1.0, 2.0]]), requires_grad=True, label="x")
    w = Tensor(np.array([0.5, -1.0]), requires_grad=True, label="w")
    loss = (agrad.tanh(x * w) @ w).sum()
    steps = agrad.explain(loss, print_steps=False)
    for leaf in (x, w):
        shares = [s.value for s in steps if s.kind == "chain" and s.target == leaf.label]
        np.testing.assert_array_equal(sum(shares), leaf.grad)  # the narrated shares add up to .grad
    texts = [s.text for s in steps]
    assert "w.grad += v2.dataᵀ @ v3.grad = [0.462117, -0.964028]" in texts
    assert any("summed to shape (2,)" in t for t in texts)  # the broadcast undone, said in words
    xt = torch.tensor([[1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    wt = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    (torch.tanh(xt * wt) @ wt).sum().backward()
    np.testing.assert_allclose(w.grad, wt.grad.numpy(), rtol=1e-14)


def test_draw_graph_shows_shapes_constants_and_op_parameters() -> None:
    x = Tensor(np.ones((2, 3)), requires_grad=True, label="x")
    y = (x * 2.0).sum(axis=1, keepdims=True)
    y.retain_grad()  # an intermediate (here the root) keeps its gradient only when asked, as in PyTorch
    y.backward(gradient=np.ones((2, 1)))
    dot = agrad.to_dot(y)
    assert '"{ x | data shape (2, 3) | grad shape (2, 3) }"' in dot
    assert '"{ v2 | shape (2, 1) | data [6.0, 6.0] | grad [1.0, 1.0] }"' in dot
    assert 'label="reduce_sum axis=(1,), keepdims=True"' in dot and 'label="2.0" shape=plaintext' in dot


def _storage(lib: str, a: np.ndarray) -> Any:
    if lib == "torch":
        return torch.tensor(a)
    if lib == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        return jax.numpy.asarray(a)
    da = pytest.importorskip("dask.array")
    return da.from_array(a, chunks=1)


@pytest.mark.parametrize("lib", ["torch", "jax", "dask"])
def test_other_array_libraries_as_storage_give_numpys_numbers(lib: str) -> None:
    """The namespace comes from the array API standard: the same program on another library's arrays."""
    a0 = np.array([[1.0, -2.0], [0.5, 0.25]])

    def program(x: Tensor) -> Tensor:
        return (agrad.tanh(x @ x) * x[[0, 0]] + x.logsumexp(axis=0) + x[:, 1:].max()).sum()

    want = Tensor(a0, requires_grad=True)
    program(want).backward()
    x = Tensor(_storage(lib, a0), requires_grad=True)
    y = program(x)
    y.backward()
    assert type(x.grad).__module__.split(".")[0] in (lib, "jaxlib")
    np.testing.assert_allclose(np.asarray(x.grad), want.grad, rtol=1e-13)
    np.testing.assert_allclose(float(y.item()), float(program(Tensor(a0)).item()), rtol=1e-13)


def test_importing_agrad_imports_no_array_library() -> None:
    """The scalar core stays stdlib-only: NumPy and array-api-compat load with the first Tensor."""
    import subprocess
    import sys

    code = (
        "import sys, agrad; v = agrad.Value(2.0) * 3; v.backward(); "
        "assert not {'numpy', 'array_api_compat'} & set(sys.modules), sorted(sys.modules); "
        "agrad.Tensor([1.0]); assert 'numpy' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("seed", range(5))
def test_a_layer_on_tensors_matches_the_same_layer_on_values(seed: int) -> None:
    """matmul, broadcasting and reductions on Tensors against agrad.dot and agrad.sum on a grid of Values."""
    rng = np.random.default_rng(seed)
    a0, b0, c0 = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    a, b, c = (Tensor(v, requires_grad=True) for v in (a0, b0, c0))
    h = agrad.tanh(a @ b + c)
    loss = (h * h).mean(axis=1).sum()
    loss.backward()
    va = [[Value(float(v)) for v in row] for row in a0]
    vb = [[Value(float(v)) for v in row] for row in b0]
    vc = [Value(float(v)) for v in c0]
    vh = [[agrad.tanh(agrad.dot(va[i], [vb[j][k] for j in range(3)]) + vc[k]) for k in range(4)] for i in range(2)]
    vloss = agrad.sum([agrad.sum([x * x for x in row]) / 4.0 for row in vh])
    vloss.backward()
    assert loss.item() == pytest.approx(vloss.data, rel=1e-14)
    np.testing.assert_allclose(a.grad, [[v.grad for v in row] for row in va], rtol=1e-12)
    np.testing.assert_allclose(b.grad, [[v.grad for v in row] for row in vb], rtol=1e-12)
    np.testing.assert_allclose(c.grad, [v.grad for v in vc], rtol=1e-12)


def test_where_with_a_list_condition_and_stack_with_a_number_keep_the_tensors_library() -> None:
    x = Tensor(strict.asarray([1.0, -2.0]), requires_grad=True)
    y = agrad.where([True, False], x, 0.0)
    z = agrad.stack([x[0], 3.0])
    assert type(y.data) is type(x.data) and type(z.data) is type(x.data)
    (y.sum() + z.sum()).backward()
    assert np.asarray(x.grad).tolist() == [2.0, 0.0]
    assert type(Tensor(np.float64(2.0)).data) is np.ndarray  # a NumPy scalar becomes a 0-d array


def test_only_numpy_with_dask_is_a_defined_mix() -> None:
    da = pytest.importorskip("dask.array")
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(TypeError, match=r"jax.numpy and array_api_compat.dask.array"):
        Tensor(jnp.ones(2)) + Tensor(da.ones(2))


def test_a_deep_tensor_graph_backpropagates_and_is_freed_without_the_cycle_collector() -> None:
    import gc
    import weakref

    x = Tensor(np.array([0.5, -0.25]), requires_grad=True)
    y = x
    for _ in range(5000):  # deeper than Python's recursion limit: the sort and the walk are iterative
        y = y * 1.0 + 0.0
    middle = weakref.ref(y)
    loss = (y * y).sum()
    gc.disable()
    try:
        loss.backward()
        np.testing.assert_allclose(x.grad, 2 * x.data)
        del y, loss
        assert middle() is None  # no reference cycle keeps the graph alive: counting references frees it
    finally:
        gc.enable()


def test_two_threads_differentiate_tensors_at_once() -> None:
    """One thread's transforms and another's no_grad and backward, through a shared weight, do not mix."""
    import sys
    import threading

    w = Tensor(np.array([0.5, -1.5]), requires_grad=True)
    errors: list[BaseException] = []

    def by_grad() -> None:
        try:
            for k in range(200):
                x = np.array([1.0, float(k)])
                g = agrad.grad(lambda x: (x * x * w).sum())(x)
                np.testing.assert_allclose(g.data if isinstance(g, Tensor) else g, 2 * x * w.data)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def by_backward() -> None:
        try:
            for k in range(200):
                with agrad.no_grad():
                    assert not (w * 2.0).requires_grad
                x = Tensor(np.array([float(k), 1.0]), requires_grad=True)
                (x * x * w.detach()).sum().backward()
                np.testing.assert_allclose(x.grad, 2 * x.data * w.data)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=by_grad), threading.Thread(target=by_backward)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    assert w.grad is None  # neither thread's transform or backward wrote the shared weight's .grad
