"""``CompiledSGD``: the whole SGD step as one compiled call, against eager agrad (and PyTorch).

The oracle is eager training: one graph over the batch, ``backward()``, then
``agrad.optim.SGD``. The compiled step must follow the same loss trajectory and
reach the same parameters within 1e-12, with the NumPy and the native executor.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from conftest import needs_torch

import agrad
from agrad import Value
from agrad.compile import native
from agrad.compile.training import CompiledSGD
from agrad.nn import MLP
from agrad.optim import SGD

TOL = 1e-12
EXECUTORS = [
    "numpy",
    pytest.param(
        "native",
        marks=pytest.mark.skipif(not native.available(), reason="the native executor needs cffi and a C compiler"),
    ),
]
ALPHA = 1e-4


def close(a: float, b: float, tol: float = TOL) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


def moons(n: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = agrad.datasets.make_moons(n, noise=0.1, seed=1)
    return np.array(X, dtype=float), np.array([2.0 * t - 1.0 for t in y])


def per_sample(model: MLP) -> Any:
    params = model.parameters()

    def loss(x0: Any, x1: Any, y: Any) -> Any:
        return agrad.relu(1.0 - y * model([x0, x1])) + ALPHA * agrad.dot(params, params)

    return loss


def eager_run(model: MLP, batches: list[tuple[np.ndarray, np.ndarray]], lrs: list[float]) -> list[float]:
    """micrograd's demo loop: the batch's hinge loss + L2 as one graph, backward, SGD."""
    params = model.parameters()
    opt = SGD(params, lr=lrs[0])
    losses = []
    for (X, Y), lr in zip(batches, lrs):
        scores = [model([float(a), float(b)]) for a, b in X]
        loss = agrad.losses.hinge_loss(scores, [float(t) for t in Y]) + ALPHA * agrad.dot(params, params)
        opt.zero_grad()
        loss.backward()
        opt.lr = lr
        opt.step()
        losses.append(loss.data)
    return losses


@pytest.mark.parametrize("executor", EXECUTORS)
def test_steps_follow_eager_sgd(executor: str) -> None:
    X, Y = moons(40)
    steps = 6
    lrs = [1.0 - 0.9 * k / steps for k in range(steps)]
    model, oracle = MLP(2, [16, 16, 1], seed=3), MLP(2, [16, 16, 1], seed=3)
    start = [p.data for p in model.parameters()]
    want = eager_run(oracle, [(X, Y)] * steps, lrs)
    step = CompiledSGD(per_sample(model), model.parameters(), lr=lrs[0], executor=executor)
    got = []
    for lr in lrs:
        step.lr = lr
        got.append(step(X[:, 0], X[:, 1], Y))
    assert step.last_executor == executor
    assert all(close(a, b) for a, b in zip(got, want)), (got, want)
    assert [p.data for p in model.parameters()] == start  # the Values wait for write_values()
    trained = [p.data for p in oracle.parameters()]
    assert all(close(a, b) for a, b in zip(step.flat.tolist(), trained))
    step.write_values()
    assert [p.data for p in model.parameters()] == step.flat.tolist()


@pytest.mark.parametrize("executor", EXECUTORS)
def test_new_batches_and_kinds_of_arrays_follow_eager(executor: str) -> None:
    # A batch of another size, a float32 array and strided views leave the fast path: same numbers.
    X, Y = moons(30)
    batches = [(X, Y), (X[:17], Y[:17]), (X, Y), (X[::2], Y[::2])]
    model, oracle = MLP(2, [8, 1], seed=5), MLP(2, [8, 1], seed=5)
    want = eager_run(oracle, batches, [0.3] * len(batches))
    step = CompiledSGD(per_sample(model), model.parameters(), lr=0.3, executor=executor)
    got = [
        step(X[:, 0], X[:, 1], Y),
        step(X[:17, 0].copy(), X[:17, 1], Y[:17]),
        step(X[:, 0], X[:, 1], Y.astype(np.float32)),  # ±1: exact in float32
        step(X[::2, 0], X[::2, 1], Y[::2]),
    ]
    assert all(close(a, b) for a, b in zip(got, want)), (got, want)
    assert all(close(a, p.data) for a, p in zip(step.flat.tolist(), oracle.parameters()))


@pytest.mark.parametrize("executor", EXECUTORS)
def test_read_values_and_live_captured_values(executor: str) -> None:
    # A Value the loss reads that is not a parameter is read at each call; read_values() takes
    # parameters changed outside the step.
    w, b, scale = Value(0.5), Value(-0.25), Value(2.0)

    def loss(x: Any, y: Any) -> Any:
        return (scale * w * x + b - y) ** 2

    xs, ys = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, -1.0, 0.5, 2.0])

    def eager_loss() -> Value:
        return sum((((scale * w * float(x) + b) - float(y)) ** 2 for x, y in zip(xs, ys)), Value(0.0)) / len(xs)

    step = CompiledSGD(loss, [w, b], lr=0.05, executor=executor)
    flat = step.flat
    for k in range(4):
        scale.data = 2.0 + 0.5 * k
        w.data, b.data = flat.tolist()  # the eager oracle at the step's parameters
        want = eager_loss()
        want.backward()
        got = step(xs, ys)
        assert close(got, want.data)
        assert close(flat[0], w.data - 0.05 * w.grad) and close(flat[1], b.data - 0.05 * b.grad)
        w.grad = b.grad = 0.0
    assert step.flat is flat  # updated in place
    w.data, b.data = 3.0, 4.0
    step.read_values()
    assert step.flat.tolist() == [3.0, 4.0]
    want = eager_loss()
    assert close(step(xs, ys), want.data)


@needs_torch
@pytest.mark.parametrize("executor", EXECUTORS)
def test_steps_follow_torch(executor: str) -> None:
    import torch

    X, Y = moons(40)
    model = MLP(2, [16, 16, 1], seed=7)
    ws = [
        (
            torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64, requires_grad=True),
            torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True),
        )
        for layer in model.layers
    ]
    tx, ty = torch.tensor(X), torch.tensor(Y)
    step = CompiledSGD(per_sample(model), model.parameters(), lr=0.5, executor=executor)
    for _ in range(5):
        h = tx
        for i, (W, B) in enumerate(ws):
            h = h @ W.T + B
            h = torch.relu(h) if i + 1 < len(ws) else h
        loss = torch.relu(1 - ty * h[:, 0]).mean() + ALPHA * sum((W * W).sum() + (B * B).sum() for W, B in ws)
        loss.backward()
        with torch.no_grad():
            for W, B in ws:
                W -= 0.5 * W.grad
                B -= 0.5 * B.grad
                W.grad = B.grad = None
        assert close(step(X[:, 0], X[:, 1], Y), loss.item())
    theirs = [x for W, B in ws for row, b in zip(W.tolist(), B.tolist()) for x in (*row, b)]
    assert all(close(a, b) for a, b in zip(step.flat.tolist(), theirs))


def test_one_sample_as_numbers() -> None:
    w = Value(1.5)
    step = CompiledSGD(lambda x: agrad.exp(w * x), [w], lr=0.1)
    got = step(2.0)
    assert close(got, math.exp(3.0)) and close(step.flat[0], 1.5 - 0.1 * 2.0 * math.exp(3.0))


def test_bad_input() -> None:
    w, v = Value(1.0), Value(2.0)
    with pytest.raises(ValueError, match="params is empty"):
        CompiledSGD(lambda x: w * x, [], lr=0.1)
    with pytest.raises(TypeError, match=r"params\[1\] must be a Value, got float"):
        CompiledSGD(lambda x: w * x, [w, 2.0], lr=0.1)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="twice"):
        CompiledSGD(lambda x: w * x, [w, w], lr=0.1)
    with pytest.raises(ValueError, match=r"lr must be a finite number >= 0\.0, got nan"):
        CompiledSGD(lambda x: w * x, [w], lr=float("nan"))
    step = CompiledSGD(lambda x: w * x, [w, v], lr=0.1)
    with pytest.raises(ValueError, match=r"params\[1\] does not affect the loss"):
        step(np.array([1.0, 2.0]))
    assert step.flat.tolist() == [1.0, 2.0]  # refused before any change
    with pytest.raises(ValueError, match="lr must be"):
        step.lr = -1.0
