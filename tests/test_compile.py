"""agrad.compile against eager agrad (within 1e-12), central differences and PyTorch.

Every random graph runs four ways: eager Values with backward(), the
generated Python executor, the level-scheduled NumPy executor and the native
(C) executor, on floats and on a batch, sample by sample. The native tests skip
where cffi or a C compiler is missing.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import needs_torch
from oracles import central_diff

import agrad
from agrad import Value
from agrad.compile import native
from agrad.compile.symbolic import FORWARD

TOL = 1e-12
NATIVE = pytest.param(
    "native", marks=pytest.mark.skipif(not native.available(), reason="the native executor needs cffi and a C compiler")
)


def close(a: float, b: float, tol: float = TOL) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= tol * max(1.0, abs(b))


# -- random programs over every op ------------------------------------------------------
# Each step reads earlier nodes and keeps magnitudes bounded, so no seed overflows.

STEPS: dict[str, Callable[..., Any]] = {
    "+": lambda a, b: (a + b) * 0.5,
    "-": lambda a, b: a - b,
    "*": lambda a, b: agrad.tanh(a) * b,
    "/": lambda a, b: a / (1.0 + b * b),
    "neg": lambda a, b: -a,
    "**": lambda a, b: agrad.tanh(a) ** 3,
    "pow": lambda a, b: (1.5 + agrad.sin(a)) ** agrad.cos(b),
    "exp": lambda a, b: agrad.exp(agrad.tanh(a)),
    "log": lambda a, b: agrad.log(1.0 + a * a),
    "sqrt": lambda a, b: agrad.sqrt(a * a + 0.1),
    "tanh": lambda a, b: agrad.tanh(a),
    "sigmoid": lambda a, b: agrad.sigmoid(a),
    "softplus": lambda a, b: agrad.softplus(a),
    "relu": lambda a, b: agrad.relu(a),
    "abs": lambda a, b: abs(a),
    "sin": lambda a, b: agrad.sin(a),
    "cos": lambda a, b: agrad.cos(a),
    "min": lambda a, b: agrad.minimum(a, b),
    "max": lambda a, b: agrad.maximum(a, b),
}
SMOOTH = [op for op in STEPS if op not in ("relu", "abs", "min", "max")]


def program(seed: int, n_in: int, n_ops: int, ops: list[str]) -> Callable[..., Any]:
    """A random scalar function of n_in arguments, the same graph for every input."""
    rng = random.Random(seed)
    recipe = []
    for _ in range(n_ops):
        r = rng.random()
        kind = "sum" if r < 0.08 else "dot" if r < 0.16 else rng.choice(ops)
        recipe.append((kind, [rng.randrange(10**6) for _ in range(4)]))

    def f(*xs: Any) -> Any:
        nodes = list(xs)
        for kind, picks in recipe:
            pick = [nodes[p % len(nodes)] for p in picks]
            if kind == "sum":
                nodes.append(agrad.sum([*pick[:3], 0.25]) * 0.5)
            elif kind == "dot":
                nodes.append(agrad.dot(pick[:2], [pick[2], 0.5]))
            else:
                nodes.append(STEPS[kind](pick[0], pick[1]))
        return agrad.sum(nodes[-4:])

    return f


def eager(f: Callable[..., Any], xs: list[float]) -> tuple[float, list[float]]:
    vs = [Value(x) for x in xs]
    out = f(*vs)
    out.backward()
    return out.data, [v.grad for v in vs]


def inputs(seed: int, n: int) -> list[float]:
    rng = random.Random(seed + 1000)
    return [rng.uniform(-2.0, 2.0) for _ in range(n)]


def test_every_op_has_forward_code() -> None:
    scalar_ops = {op for op, p in agrad.RULES.items() if not p.tensor_only}  # compile traces scalar programs
    # forward_expr: n-ary, identity; dot_relu is never traced: while tracing, agrad.dot_relu makes relu(dot)
    assert scalar_ops == set(FORWARD) | {"sum", "dot", "stop_gradient", "dot_relu"}


@pytest.mark.parametrize("executor", ["python", "numpy", NATIVE])
def test_a_relu_neuron_traces_as_a_dot_and_a_relu(executor: str) -> None:
    """agrad.dot_relu and a ReLU Neuron (one node when eager) compile to the same numbers as eager."""
    n = agrad.nn.Neuron(2, seed=3)

    def f(a: Any, b: Any) -> Any:
        return agrad.dot_relu([a, b, 0.5], [b, 2.0, a]) + n([a, b]) + n([1.5, -0.5]) * a

    vg = agrad.compile(agrad.value_and_grad(f, argnums=(0, 1)), executor=executor)
    for xs in ([0.7, -0.2], [-1.3, 0.4], [2.0, 1.0]):
        value, grads = vg(*xs)
        ev, eg = eager(f, xs)
        assert close(value, ev) and all(close(g, e) for g, e in zip(grads, eg)), (xs, grads, eg)
    assert len(vg.traces) == 1


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("executor", ["python", "numpy", NATIVE])
def test_random_graph_floats_match_eager(seed: int, executor: str) -> None:
    f = program(seed, 4, 60, list(STEPS))
    vg = agrad.compile(agrad.value_and_grad(f, argnums=(0, 1, 2, 3)), executor=executor)
    for k in range(3):  # one trace, several inputs: nothing of the first input is baked in
        xs = inputs(seed * 10 + k, 4)
        value, grads = vg(*xs)
        ev, eg = eager(f, xs)
        assert type(value) is float and close(value, ev)
        assert all(type(g) is float and close(g, e) for g, e in zip(grads, eg)), (grads, eg)
    assert len(vg.traces) == 1 and vg.last_executor == executor


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("executor", ["numpy", NATIVE])
def test_random_graph_batch_matches_eager_per_sample(seed: int, executor: str) -> None:
    f = program(seed, 3, 50, list(STEPS))
    xs = np.array([inputs(seed * 7 + b, 3) for b in range(9)])  # 9 samples of 3 inputs
    vg = agrad.compile(agrad.value_and_grad(f, argnums=(0, 1, 2)), executor=executor)
    value, grads = vg(xs[:, 0], xs[:, 1], xs[:, 2])
    assert vg.last_executor == executor
    assert value.shape == (9,) and all(g.shape == (9,) for g in grads)
    for b in range(9):
        ev, eg = eager(f, list(xs[b]))
        assert close(float(value[b]), ev)
        assert all(close(float(g[b]), e) for g, e in zip(grads, eg))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("reduce", [None, "sum", "mean"])
@pytest.mark.parametrize("executor", ["numpy", NATIVE])
def test_random_graph_with_number_and_array_arguments(seed: int, reduce: str | None, executor: str) -> None:
    # Arguments 0 and 1 are numbers (parameters), 2 and 3 arrays: every mix of operand kinds.
    f = program(seed + 100, 4, 60, list(STEPS))
    ps = inputs(seed, 2)
    data = np.array([inputs(seed * 5 + b, 2) for b in range(6)])
    vg = agrad.compile(agrad.value_and_grad(f, argnums=(0, 1, 2, 3)), reduce=reduce, executor=executor)
    value, grads = vg(ps[0], ps[1], data[:, 0], data[:, 1])
    per_sample = [eager(f, [*ps, *data[b]]) for b in range(6)]
    if reduce is None:
        for b, (ev, eg) in enumerate(per_sample):
            assert close(float(value[b]), ev) and all(close(float(g[b]), e) for g, e in zip(grads, eg))
    else:  # the summed or averaged result: a number argument's gradient is reduced the same way
        k = 1.0 if reduce == "sum" else 1.0 / 6
        assert close(value, k * math.fsum(ev for ev, _ in per_sample), 1e-11)
        for i in (0, 1):
            assert close(grads[i], k * math.fsum(eg[i] for _, eg in per_sample), 1e-11)
        for i in (2, 3):
            assert all(close(float(grads[i][b]), k * per_sample[b][1][i]) for b in range(6))


def test_repeated_operands_are_summed() -> None:
    # Nodes of one group that read the same operand: their gradients meet in one row.
    def f(w: Any, x: Any) -> Any:
        a, b, c = w * x, w * x, agrad.sin(w) * x
        return a * b + c * c + agrad.dot([w, w, x], [x, x, x])

    x = np.linspace(-1.0, 1.0, 4)
    value, (gw, gx) = agrad.compile(agrad.value_and_grad(f, argnums=(0, 1)), reduce="sum")(0.3, x)
    want = [eager(f, [0.3, float(t)]) for t in x]
    assert close(value, sum(v for v, _ in want)) and close(gw, sum(g[0] for _, g in want))
    assert all(close(float(a), g[1]) for a, (_, g) in zip(gx, want))


def test_params_need_a_reduction_with_arrays() -> None:
    w = Value(1.0)
    step = agrad.compile(lambda x: w * x, params=[w])
    assert step(2.0) == 2.0 and w.grad == 2.0  # numbers: like backward(), gradients accumulate
    assert step(3.0) == 3.0 and w.grad == 5.0
    with pytest.raises(ValueError, match="reduce"):
        step(np.ones(3))
    with pytest.raises(TypeError, match="params must be Values"):
        agrad.compile(lambda x: x, params=[1.0])  # type: ignore[list-item]


@pytest.mark.parametrize("seed", range(4))
def test_smooth_graph_gradients_match_central_differences(seed: int) -> None:
    f = program(seed, 3, 40, SMOOTH)
    xs = inputs(seed, 3)
    plain = agrad.compile(f)
    _, grads = agrad.compile(agrad.value_and_grad(f, argnums=(0, 1, 2)))(*xs)
    for i in range(3):
        assert math.isclose(grads[i], central_diff(plain, xs, i), rel_tol=1e-6, abs_tol=1e-7)


# -- the MLP of micrograd's demo --------------------------------------------------------


def moons(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    X, y = agrad.datasets.make_moons(n, noise=0.1, seed=1)
    return np.array(X, dtype=float), np.array([2.0 * t - 1.0 for t in y])


def hinge_step(model: agrad.nn.MLP, alpha: float) -> Callable[..., Any]:
    params = model.parameters()

    def loss(x0: Any, x1: Any, y: Any) -> Any:  # one sample; compile runs it over the batch
        return agrad.relu(1.0 - y * model([x0, x1])) + alpha * agrad.dot(params, params)

    return loss


@pytest.mark.parametrize("executor", ["numpy", "python", NATIVE])
def test_mlp_step_matches_eager(executor: str) -> None:
    model = agrad.nn.MLP(2, [16, 16, 1], seed=3)
    X, Y = moons()
    loss = hinge_step(model, 1e-4)
    params = model.parameters()
    # eager: the mean over the batch, one graph
    total = agrad.losses.hinge_loss([model(list(x)) for x in X], list(Y)) + 1e-4 * agrad.dot(params, params)
    total.backward()
    want = [p.grad for p in params]
    model.zero_grad()
    if executor != "python":
        step = agrad.compile(loss, params=params, reduce="mean", executor=executor)
        got_loss = step(X[:, 0], X[:, 1], Y)
        assert step.last_executor == executor
    else:  # floats: one compiled call per sample, gradients accumulate in .grad
        step = agrad.compile(loss, params=params, executor="python")
        got_loss = sum(step(float(a), float(b), float(c)) for (a, b), c in zip(X, Y)) / len(Y)
        for p in params:
            p.grad /= len(Y)
    assert close(got_loss, total.data)
    assert all(close(p.grad, w) for p, w in zip(params, want))


def test_mlp_training_sees_updated_parameters() -> None:
    model = agrad.nn.MLP(2, [8, 1], seed=0)
    X, Y = moons(20)
    step = agrad.compile(hinge_step(model, 1e-4), params=model.parameters(), reduce="mean")
    losses = []
    for _ in range(30):
        model.zero_grad()
        losses.append(step(X[:, 0], X[:, 1], Y))
        for p in model.parameters():
            p.data -= 0.05 * p.grad
    assert len(step.traces) == 1 and losses[-1] < losses[0]
    params = model.parameters()
    eager_loss = agrad.losses.hinge_loss([model(list(x)) for x in X], list(Y)) + 1e-4 * agrad.dot(params, params)
    assert close(step(X[:, 0], X[:, 1], Y), eager_loss.data)


@needs_torch
def test_mlp_gradients_match_torch() -> None:
    import torch

    model = agrad.nn.MLP(2, [16, 16, 1], seed=5)
    X, Y = moons()
    step = agrad.compile(hinge_step(model, 1e-4), params=model.parameters(), reduce="mean")
    loss = step(X[:, 0], X[:, 1], Y)
    layers = []
    for layer in model.layers:
        W = torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        layers.append((W, b))
    h = torch.tensor(X)
    for i, (W, b) in enumerate(layers):
        h = h @ W.T + b
        h = torch.relu(h) if i < len(layers) - 1 else h
    reg = sum((W * W).sum() + (b * b).sum() for W, b in layers)
    t_loss = torch.relu(1 - torch.tensor(Y) * h[:, 0]).mean() + 1e-4 * reg
    t_loss.backward()
    assert math.isclose(loss, t_loss.item(), rel_tol=1e-12)
    for layer, (W, b) in zip(model.layers, layers):
        for j, n in enumerate(layer.neurons):
            assert all(
                math.isclose(w.grad, W.grad[j, i].item(), rel_tol=1e-9, abs_tol=1e-15) for i, w in enumerate(n.w)
            )
            assert math.isclose(n.b.grad, b.grad[j].item(), rel_tol=1e-9, abs_tol=1e-15)


# -- transforms, batches, reductions ----------------------------------------------------


def test_grad_and_argnums_forms() -> None:
    f = lambda x, y: x * agrad.sin(y) + y  # noqa: E731
    assert agrad.compile(agrad.grad(f))(2.0, 0.5) == pytest.approx(math.sin(0.5), abs=0)
    gx, gy = agrad.compile(agrad.grad(f, argnums=(0, 1)))(2.0, 0.5)
    assert close(gx, math.sin(0.5)) and close(gy, 2.0 * math.cos(0.5) + 1.0)
    value, g = agrad.compile(agrad.value_and_grad(f, argnums=1))(2.0, 0.5)
    assert close(value, 2.0 * math.sin(0.5) + 0.5) and close(g, 2.0 * math.cos(0.5) + 1.0)


def test_list_arguments_give_list_gradients() -> None:
    def f(ws: list[Any], x: Any) -> Any:
        return agrad.dot(ws, [x, x * x, 1.0])

    value, grads = agrad.compile(agrad.value_and_grad(f))([1.0, 2.0, 3.0], 2.0)
    assert value == 1.0 * 2 + 2.0 * 4 + 3.0 and grads == [2.0, 4.0, 1.0]


def test_reduce_sum_and_mean_and_per_sample() -> None:
    f = lambda w, x: agrad.tanh(w * x)  # noqa: E731
    x = np.linspace(-1.0, 1.0, 5)
    per_v, per_g = agrad.compile(agrad.value_and_grad(f, argnums=(0, 1)))(0.7, x)
    want_g = [(1 - math.tanh(0.7 * t) ** 2) * t for t in x]
    assert per_g[0].shape == (5,) and all(close(a, b) for a, b in zip(per_g[0], want_g))
    s_v, (s_w, s_x) = agrad.compile(agrad.value_and_grad(f, argnums=(0, 1)), reduce="sum")(0.7, x)
    assert close(s_v, float(np.sum(per_v))) and close(s_w, sum(want_g)) and np.allclose(s_x, per_g[1], rtol=0, atol=0)
    m_v, (m_w, m_x) = agrad.compile(agrad.value_and_grad(f, argnums=(0, 1)), reduce="mean")(0.7, x)
    assert close(m_v, float(np.mean(per_v))) and close(m_w, sum(want_g) / 5)
    assert all(close(a, b / 5) for a, b in zip(m_x, per_g[1]))


def test_broadcast_shapes_and_gradient_shapes() -> None:
    f = lambda a, b: a * b + a  # noqa: E731
    a, b = np.arange(3.0).reshape(3, 1), np.arange(4.0).reshape(1, 4)
    out, (ga, gb) = agrad.compile(agrad.value_and_grad(f, argnums=(0, 1)), reduce="sum")(a, b)
    assert close(out, float(np.sum(a * b + a)))
    assert ga.shape == (3, 1) and np.array_equal(ga, np.full((3, 1), b.sum() + 4))
    assert gb.shape == (1, 4) and np.array_equal(gb, np.full((1, 4), a.sum()))
    assert agrad.compile(f)(a, b).shape == (3, 4)


def test_outputs_keep_their_structure() -> None:
    f = agrad.compile(lambda x, y: [x + y, (x * y, 3.0)])
    assert f(2.0, 5.0) == [7.0, (10.0, 3.0)]
    out = f(np.array([1.0, 2.0]), 5.0)
    assert out[0].tolist() == [6.0, 7.0] and out[1][1].tolist() == [3.0, 3.0]


def test_captured_values_are_read_live() -> None:
    w = Value(2.0)
    f = agrad.compile(lambda x: w * x)
    assert f(3.0) == 6.0
    w.data = 5.0
    assert f(3.0) == 15.0


@pytest.mark.parametrize("executor", ["python", "numpy", NATIVE])
def test_ieee_edges_match_eager(executor: str) -> None:
    def f(x: Any, y: Any) -> Any:
        return agrad.log(x) + 1.0 / x + agrad.exp(y) + agrad.sqrt(x - 1.0) + x**-1.0

    vg = agrad.compile(agrad.value_and_grad(f, argnums=(0, 1)), executor=executor)
    for xs in ([0.0, 1000.0], [2.0, 0.5], [-1.0, -1000.0]):
        value, grads = vg(*xs)
        ev, eg = eager(f, xs)
        assert close(value, ev) and all(close(g, e) for g, e in zip(grads, eg)), (xs, value, grads, ev, eg)


# -- tracing rules and bad input -------------------------------------------------------


def test_reading_placeholder_data_raises() -> None:
    with pytest.raises(agrad.TracingError, match="placeholder 'x'"):
        agrad.compile(lambda x: x * 2 if x.data > 0 else x)(1.0)
    with pytest.raises(agrad.TracingError):
        agrad.compile(lambda x: x if x > 0 else -x)(1.0)
    with pytest.raises(agrad.TracingError):
        agrad.compile(lambda x: float(x) * x)(1.0)


def test_data_dependent_rule_inside_nested_backward_raises() -> None:
    with pytest.raises(agrad.TracingError, match="value_and_grad"):
        agrad.compile(lambda x: agrad.grad(agrad.relu)(x) * x)(1.0)
    # a smooth rule is traced through a nested transform fine
    d2 = agrad.compile(lambda x: agrad.grad(agrad.sin)(x))
    assert close(d2(0.3), math.cos(0.3)) and close(d2(1.3), math.cos(1.3))


def test_backward_inside_a_traced_function_raises() -> None:
    # x.grad would be 2 * (the first call's x), a number frozen into every later call.
    def f(x: Any) -> Any:
        y = x * x
        y.backward()
        return x.grad * x

    with pytest.raises(agrad.TracingError, match=r"backward\(\) reached a Value computed from the arguments"):
        agrad.compile(f)(1.0)
    cubed = agrad.compile(agrad.grad(agrad.grad(lambda t: t * t * t)))  # a transform inside: fine
    assert cubed(1.0) == 6.0 and cubed(2.0) == 12.0


def test_nested_compiled_call_keeps_the_outer_trace_guarded() -> None:
    inner = agrad.compile(lambda y: y * 2.0)

    def f(x: Any) -> Any:
        assert inner(1.0) == 2.0  # a trace that starts and ends inside f's trace
        return agrad.grad(agrad.relu)(x) * x

    with pytest.raises(agrad.TracingError, match="value_and_grad"):
        agrad.compile(f)(1.0)


def test_deriving_gradient_code_leaves_the_rule_table_alone() -> None:
    # Other threads may be running the real rules while compile explores them on symbols.
    import agrad.rules
    from agrad import kernels
    from agrad.compile import symbolic

    seen: list[bool] = []
    rule = symbolic.symbolic_rule(agrad.rules.pow_vjp)

    def run() -> Any:
        seen.append(agrad.rules.math is math and agrad.rules.K is kernels)
        return rule(symbolic.slot("g"), symbolic.slot("out"), symbolic.slot("x0"), symbolic.slot("x1"))

    dx, dy = symbolic.explore(run)
    assert len(seen) > 1 and all(seen)  # pow's rule branches, so it ran once per path
    names = {"g": "g", "out": "o", "x0": "x", "x1": "y"}
    assert "_isfinite" in symbolic.to_python(dx, names) and "_log(x)" in symbolic.to_python(dy, names)


def test_unbroadcastable_shapes_name_the_arguments() -> None:
    f = agrad.compile(lambda a, b: a * b)
    with pytest.raises(ValueError, match=r"a \(3,\), b \(4,\)"):
        f(np.zeros(3), np.zeros(4))


def test_mean_over_an_empty_batch_is_a_value_error() -> None:
    g = agrad.compile(agrad.value_and_grad(lambda w, x: w * x), reduce="mean")
    with pytest.raises(ValueError, match="empty batch"):
        g(1.0, np.zeros((2, 0)))
    value, grad = agrad.compile(agrad.value_and_grad(lambda w, x: w * x), reduce="sum")(1.0, np.zeros(0))
    assert (value, grad) == (0.0, 0.0)  # an empty sum is 0


def test_new_argument_count_retraces_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    f = agrad.compile(lambda *xs: agrad.sum(xs))
    assert f(1.0, 2.0) == 3.0
    with caplog.at_level(logging.DEBUG, logger="agrad.compile"):
        assert f(1.0, 2.0, 3.0) == 6.0
    assert "retracing" in caplog.text and "3 arguments instead of 2" in caplog.text
    assert len(f.traces) == 2


@pytest.mark.parametrize("bad", ["1.0", None, Value(1.0), np.array(["a"]), 1j])
def test_non_numeric_inputs_raise_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"agrad\.compile: x"):
        agrad.compile(lambda x: x * 2)(bad)


def test_int_too_large_for_a_float_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"agrad\.compile: y is an int too large for a float"):
        agrad.compile(lambda x, y: x * y)(1.0, 10**400)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="executor"):
        agrad.compile(lambda x: x, executor="gpu")
    with pytest.raises(ValueError, match="reduce"):
        agrad.compile(lambda x: x, reduce="max")
    with pytest.raises(TypeError, match="function"):
        agrad.compile(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="executor='python'"):
        agrad.compile(lambda x: x * 2, executor="python")(np.ones(2))


# -- training: agrad train --compile -------------------------------------------------------


@pytest.mark.parametrize("dataset", ["moons", "blobs"])
def test_compiled_training_gives_the_same_numbers(dataset: str) -> None:
    from agrad.mlp_run import Config, train

    cfg = dict(dataset=dataset, samples=30, steps=8, hidden=[8, 8], seed=3)
    eager_run, compiled_run = train(Config(**cfg)), train(Config(**cfg, compile=True))  # type: ignore[arg-type]
    assert all(close(a, b) for a, b in zip(compiled_run.losses, eager_run.losses))
    assert compiled_run.accuracies == eager_run.accuracies
    pairs = zip(compiled_run.model.parameters(), eager_run.model.parameters())
    assert all(close(p.data, q.data, 1e-10) for p, q in pairs)


def test_demo_compile_flag_runs(tmp_path: Any) -> None:
    import json

    from agrad.cli import main

    assert main(["demo", "--compile", "--steps", "3", "--no-progress", "--out", str(tmp_path)]) == 0
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["config"]["compile"] is True and len(run["loss"]) == 4  # step 0 (the initial weights) to step 3


def test_auto_executor_by_kind_and_graph_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    from agrad.compile import api

    def chain(x: Any) -> Any:  # deep and narrow: one node per level
        for _ in range(300):
            x = agrad.sin(x) * 0.9
        return x

    def wide(*xs: Any) -> Any:  # shallow and wide: 2,016 products on one level
        return agrad.sum([a * b for i, a in enumerate(xs) for b in xs[i + 1 :]])

    f, h = agrad.compile(chain), agrad.compile(wide)
    f(0.5)
    assert f.last_executor == "python"
    f(np.ones(3))
    assert f.last_executor == ("native" if native.available() else "numpy")
    monkeypatch.setattr(api, "PYTHON_MAX_NODES", 100)  # both graphs now count as large
    xs = [0.01 * i for i in range(64)]
    assert close(h(*xs), wide(*xs)) and h.last_executor == "numpy"
    g = agrad.compile(chain)
    assert close(g(0.5), chain(0.5)) and g.last_executor == "python"


# -- the native executor: edges, fallbacks and the cache on disk ---------------------------

EDGES = [0.0, -0.0, 1.0, -1.0, 1e-300, 1000.0, -1000.0, math.inf, -math.inf, math.nan, 0.5, -8.0]


@pytest.mark.parametrize("executor", ["numpy", NATIVE])
@pytest.mark.parametrize("op", sorted(STEPS))
def test_every_op_at_ieee_edges_matches_eager_per_sample(op: str, executor: str) -> None:
    # Raw ops (no bounding steps): inf, nan, signed zeros and overflow flow as in eager agrad.
    raw: dict[str, Callable[..., Any]] = {
        "+": lambda a, b: a + b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: a / b,
        "**": lambda a, b: a**3,
        "pow": lambda a, b: a**b,
        "exp": lambda a, b: agrad.exp(a),
        "log": lambda a, b: agrad.log(a),
        "sqrt": lambda a, b: agrad.sqrt(a),
    }
    f = raw.get(op, STEPS[op])
    pairs = [(a, b) for a in EDGES for b in [*EDGES[:6], 3.0, 1 / 3]]
    xs, ys = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    vg = agrad.compile(agrad.value_and_grad(f, argnums=(0, 1)), executor=executor)
    value, (gx, gy) = vg(xs, ys)
    assert vg.last_executor == executor
    for k, (a, b) in enumerate(pairs):
        va, vb = Value(a), Value(b)
        out = f(va, vb)
        want = out.data if isinstance(out, Value) else float(out)
        if isinstance(out, Value):
            out.backward()
        got = [float(value[k]), float(gx[k]), float(gy[k])]
        assert all(close(x, y) for x, y in zip(got, [want, va.grad, vb.grad])), (op, a, b, got)


@pytest.mark.skipif(not native.available(), reason="the native executor needs cffi and a C compiler")
def test_native_program_is_cached_on_disk(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGRAD_CACHE_DIR", str(tmp_path))
    f = lambda w, x: agrad.tanh(w * x) + w * w  # noqa: E731
    x = np.linspace(-1.0, 1.0, 7)
    first = agrad.compile(agrad.value_and_grad(f), reduce="sum", executor="native")(0.3, x)
    libs = list(tmp_path.glob("agrad_native_*.so"))
    assert len(libs) == 1 and not list(tmp_path.glob(".build-*"))  # the build folder is gone

    # A second compile of the same program (a new process, here a new trace) loads the library
    # from the cache: no compiler is needed, and the results are the same.
    def no_compiler(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the C compiler ran for a program in the cache")

    monkeypatch.setattr(native.subprocess, "run", no_compiler)
    again = agrad.compile(agrad.value_and_grad(f), reduce="sum", executor="native")
    assert again(0.3, x) == first and again.last_executor == "native"
    want = sum(eager(f, [0.3, float(t)])[1][0] for t in x)
    assert close(first[1], want)


@pytest.mark.skipif(not native.available(), reason="the native executor needs cffi and a C compiler")
def test_native_falls_back_to_numpy_with_a_debug_log(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AGRAD_CACHE_DIR", str(tmp_path))
    f = lambda w, x: agrad.sin(w * x) * x  # noqa: E731
    x = np.linspace(-1.0, 1.0, 5)
    want = [eager(f, [0.7, float(t)]) for t in x]
    monkeypatch.setattr(native, "NATIVE_MAX_NODES", 2)  # too large to compile
    with caplog.at_level(logging.DEBUG, logger="agrad.compile"):
        g = agrad.compile(agrad.value_and_grad(f), executor="native")
        value, grad = g(0.7, x)
    assert g.last_executor == "numpy" and "more than NATIVE_MAX_NODES" in caplog.text
    numbers = agrad.compile(agrad.value_and_grad(f), executor="native")  # numbers fall back to Python
    assert close(numbers(0.7, 0.5)[1], eager(f, [0.7, 0.5])[1][0]) and numbers.last_executor == "python"
    assert all(close(float(v), w[0]) and close(float(d), w[1][0]) for v, d, w in zip(value, grad, want))
    monkeypatch.setattr(native, "NATIVE_MAX_NODES", 10**6)
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setattr(native, "compiler", lambda: "/bin/false")  # a compiler that fails
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="agrad.compile"):
        h = agrad.compile(agrad.value_and_grad(f), executor="native")
        assert close(float(h(0.7, x)[0][2]), want[2][0])
    assert h.last_executor == "numpy" and "/bin/false failed" in caplog.text


def test_native_without_its_dependencies_is_an_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "available", lambda: False)
    with pytest.raises(ImportError, match=r"agrad\[native\]"):
        agrad.compile(lambda x: x, executor="native")
    f = agrad.compile(lambda x: x * 2.0)  # "auto" runs batches with NumPy, as before
    assert f(np.ones(2)).tolist() == [2.0, 2.0] and f.last_executor == "numpy"


@pytest.mark.skipif(not native.available(), reason="the native executor needs cffi and a C compiler")
@pytest.mark.parametrize("width", [2, 4])
def test_native_vectors_of_each_width_match_eager(width: int, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Machines without AVX2 run two samples per vector, those with it four: test both here
    # (four without -mavx2 is emulated by the compiler, slower but the same numbers).
    monkeypatch.setenv("AGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native, "_LANES", (width, ()))
    f = program(7, 3, 60, list(STEPS))
    xs = np.array([inputs(70 + b, 3) for b in range(11)])  # whole vectors and a rest
    for reduce in (None, "sum"):
        vg = agrad.compile(agrad.value_and_grad(f, argnums=(0, 1, 2)), executor="native", reduce=reduce)
        value, grads = vg(xs[:, 0], 0.25, xs[:, 2])
        assert (
            vg.last_executor == "native"
            and f"for (; b + {width} <= B; b += {width})" in vg.lower(xs[:, 0], 0.25, xs[:, 2]).text
        )
        per_sample = [eager(f, [xs[b, 0], 0.25, xs[b, 2]]) for b in range(11)]
        if reduce is None:
            assert all(close(float(value[b]), ev) for b, (ev, _) in enumerate(per_sample))
            assert all(close(float(grads[1][b]), eg[1]) for b, (_, eg) in enumerate(per_sample))
        else:
            assert close(value, math.fsum(ev for ev, _ in per_sample), 1e-11)
            assert close(grads[1], math.fsum(eg[1] for _, eg in per_sample), 1e-11)
        assert all(close(float(grads[0][b]), eg[0]) for b, (_, eg) in enumerate(per_sample))
