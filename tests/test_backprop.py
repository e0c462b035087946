"""Reverse mode: accumulation, seeding, deep chains, and whole graphs against oracles."""

from __future__ import annotations

import math
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from conftest import needs_torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from oracles import BINARY, UNARY, central_diff, same, torch_grads

import agrad
from agrad import Value
from agrad.backprop import COMPILED

# sys.settrace sees Python bytecode only: in the compiled build (AGRAD_COMPILE=1) it cannot stop the walk.
traces_the_walk = pytest.mark.skipif(
    COMPILED, reason="agrad.backprop is compiled (AGRAD_COMPILE=1): sys.settrace cannot stop a walk inside C"
)


def test_compiled_says_which_backprop_was_imported() -> None:
    """COMPILED is True exactly when agrad.backprop was loaded from a C extension; AGRAD_EXPECT_COMPILED=1 or 0
    (CI's two runs) says which one the run must have."""
    from importlib.machinery import EXTENSION_SUFFIXES

    assert agrad.backprop.__file__.endswith(tuple(EXTENSION_SUFFIXES)) == COMPILED, agrad.backprop.__file__
    expected = os.environ.get("AGRAD_EXPECT_COMPILED")
    if expected is not None:
        assert (expected == "1") == COMPILED, agrad.backprop.__file__


# -- repeated backward adds exactly once more -----------------------------------------


def _seed_graph() -> tuple[dict[str, Value], Value]:
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    e = a * b
    d = e + c
    f = d * d.tanh() + e  # e is used twice, d is used twice: shared intermediates
    return {"a": a, "b": b, "c": c, "e": e, "d": d}, f


def _seed_graph_grads() -> dict[str, float]:
    """Closed form for f = d*tanh(d) + e with d = e + c, e = a*b."""
    a, b, c = 2.0, -3.0, 10.0
    e = a * b
    d = e + c
    df_dd = math.tanh(d) + d / math.cosh(d) ** 2
    df_de = df_dd + 1.0
    return {"a": df_de * b, "b": df_de * a, "c": df_dd, "e": df_de, "d": df_dd}


def test_repeated_backward_adds_once_per_call_on_leaves_and_intermediates() -> None:
    nodes, f = _seed_graph()
    want = _seed_graph_grads()
    for k in (1, 2, 3):  # micrograd's walk would compound intermediates: 1, 3, 6 times
        f.backward()
        for name, node in nodes.items():
            assert node.grad == pytest.approx(k * want[name], rel=1e-14), (k, name)
        assert f.grad == k


@needs_torch
def test_repeated_backward_matches_torch_accumulation() -> None:
    import torch

    t = {n: torch.tensor(x, dtype=torch.float64, requires_grad=True) for n, x in [("a", 2.0), ("b", -3.0), ("c", 10.0)]}
    te = t["a"] * t["b"]
    td = te + t["c"]
    te.retain_grad()
    td.retain_grad()
    tf = td * td.tanh() + te
    nodes, f = _seed_graph()
    tnodes = {**t, "e": te, "d": td}
    for _ in range(3):
        tf.backward(retain_graph=True)
        f.backward()
        for name, node in nodes.items():
            assert same(node.grad, tnodes[name].grad.item(), rel=1e-14)


def test_zero_grad_then_backward_starts_again() -> None:
    nodes, f = _seed_graph()
    f.backward()
    f.backward()
    for node in (*nodes.values(), f):
        node.zero_grad()
    f.backward()
    want = _seed_graph_grads()
    assert all(nodes[n].grad == pytest.approx(want[n], rel=1e-14) for n in want)


def test_backward_from_an_intermediate_reaches_only_its_subgraph() -> None:
    nodes, _ = _seed_graph()
    nodes["e"].backward()
    assert (nodes["a"].grad, nodes["b"].grad, nodes["c"].grad, nodes["d"].grad) == (-3.0, 2.0, 0.0, 0.0)


# -- seeding ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [2.5, -1, 0, True, 3])
def test_backward_gradient_seeds_the_walk(seed: Any) -> None:
    nodes, f = _seed_graph()
    f.backward(seed)
    want = _seed_graph_grads()
    for name, node in nodes.items():
        assert node.grad == pytest.approx(float(seed) * want[name], rel=1e-14)
    assert f.grad == float(seed) and type(f.grad) is float


def test_backward_gradient_numpy_scalar_and_function_form() -> None:
    np = pytest.importorskip("numpy")
    x = Value(3.0)
    y = x * x
    agrad.backward(y, np.float64(0.5))
    assert x.grad == 3.0
    y.backward(gradient=np.float32(2.0))
    assert x.grad == 15.0


@needs_torch
def test_backward_gradient_as_torch() -> None:
    tz, (g,) = torch_grads(lambda x: (x.sin() * x).exp() * -0.25, 0.7)
    x = Value(0.7)
    y = (x.sin() * x).exp()
    y.backward(-0.25)
    assert same(-0.25 * y.data, tz, rel=1e-15) and same(x.grad, g, rel=1e-14)


# -- deep graphs -----------------------------------------------------------------------------


@pytest.fixture
def default_recursion_limit() -> Any:
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # CPython's default, whatever pytest or a plugin set
    yield
    sys.setrecursionlimit(saved)


@pytest.mark.usefixtures("default_recursion_limit")
def test_million_op_chain_with_default_recursion_limit() -> None:
    n = 1_000_000
    x = Value(0.5)
    y = x
    for _ in range(n // 2):
        y = y * 1.000001
        y = y + 0.5
    y.backward()
    # The chain's derivative is the product of its n/2 factors 1.000001: a node the walk skipped would
    # change it by 1e-6, a thousand times the tolerance. The value follows the same float recurrence.
    assert x.grad == pytest.approx(1.000001 ** (n // 2), rel=1e-9)
    v = 0.5
    for _ in range(n // 2):
        v = v * 1.000001 + 0.5
    assert y.data == v  # the same float operations in the same order
    del y  # freeing a million-deep chain must not overflow the C stack either


@pytest.mark.usefixtures("default_recursion_limit")
def test_deep_chain_of_unary_ops() -> None:
    x = Value(0.3)
    y = x
    for _ in range(200_000):
        y = y.sin()  # far deeper than any recursion limit
    y.backward()
    # Oracle: iterate the chain rule on plain floats with math.
    v, d = 0.3, 1.0
    for _ in range(200_000):
        d *= math.cos(v)
        v = math.sin(v)
    assert y.data == v and x.grad == pytest.approx(d, rel=1e-9)


def test_toposort_is_deterministic_and_children_first() -> None:
    _, f = _seed_graph()
    first = [id(n) for n in agrad.toposort(f)]
    assert first == [id(n) for n in agrad.toposort(f)]
    order = agrad.toposort(f)
    pos = {id(n): i for i, n in enumerate(order)}
    for n in order:
        assert all(pos[id(c)] < pos[id(n)] for c in n._prev)
    assert len(order) == len({id(n) for n in order}) == 8  # a b c e d tanh(d) d*tanh(d) f


def test_diamond_with_many_shared_paths() -> None:
    # y = x*x*...*x over 50 paths of a shared node: d/dx x**50 = 50 x**49.
    x = Value(1.01)
    y = x
    for _ in range(49):
        y = y * x
    y.backward()
    assert x.grad == pytest.approx(50 * 1.01**49, rel=1e-13)


# -- whole random graphs against PyTorch, micrograd and finite differences ----------------------

SAFE_UNARY = [op for op in UNARY if op.name not in ("log", "sqrt")]
SAFE_BINARY = [op for op in BINARY if op.name not in ("/", "**")]


def _random_program(rng: random.Random, n_inputs: int, n_ops: int) -> list[tuple[str, str, int, int]]:
    prog = []
    for i in range(n_ops):
        live = n_inputs + i
        if rng.random() < 0.5:
            prog.append(("u", rng.choice(SAFE_UNARY).name, rng.randrange(live), 0))
        else:
            prog.append(("b", rng.choice(SAFE_BINARY).name, rng.randrange(live), rng.randrange(live)))
    return prog


def _run(prog: list[tuple[str, str, int, int]], xs: list[Any], ops: dict[str, Any]) -> Any:
    vals = list(xs)
    for kind, name, i, j in prog:
        vals.append(ops[name](vals[i]) if kind == "u" else ops[name](vals[i], vals[j]))
    return vals[-1] + vals[len(xs)] if len(vals) > len(xs) + 1 else vals[-1]


def _agrad_ops() -> dict[str, Any]:
    ops: dict[str, Any] = {op.name: op.method for op in SAFE_UNARY}
    ops.update({op.name: op.apply for op in SAFE_BINARY})
    return ops


def _float_ops() -> dict[str, Any]:
    ops: dict[str, Any] = {op.name: op.value for op in SAFE_UNARY}
    ops.update({op.name: op.value for op in SAFE_BINARY})
    return ops


def _torch_ops() -> dict[str, Any]:
    import torch

    ops: dict[str, Any] = {
        op.name: (torch.nn.functional.softplus if op.name == "softplus" else getattr(torch, op.torch))
        for op in SAFE_UNARY
    }
    ops.update({op.name: op.torch for op in SAFE_BINARY})
    return ops


@needs_torch
@pytest.mark.parametrize("seed", range(25))
def test_random_graphs_match_torch(seed: int) -> None:
    rng = random.Random(seed)
    xs = [rng.uniform(-2, 2) for _ in range(4)]
    prog = _random_program(rng, 4, 40)
    vs = [Value(x) for x in xs]
    out = _run(prog, vs, _agrad_ops())
    out.backward()
    tz, tg = torch_grads(lambda *ts: _run(prog, list(ts), _torch_ops()), *xs)
    assert same(out.data, tz, rel=1e-12)
    for v, g in zip(vs, tg):
        assert same(v.grad, g, rel=1e-10, abs_tol=1e-12)


@given(st.integers(0, 10_000), st.lists(st.floats(-2, 2), min_size=3, max_size=3))
@settings(max_examples=60, deadline=None)
def test_random_graphs_match_central_differences(seed: int, xs: list[float]) -> None:
    # Equal inputs or inputs at 0 sit on ties and kinks, where there is no derivative for FD to find.
    assume(all(abs(x) > 1e-3 for x in xs) and all(abs(x - y) > 1e-3 for x, y in zip(xs, xs[1:] + xs[:1])))
    rng = random.Random(seed)
    prog = _random_program(rng, 3, 12)
    h = 1e-6
    vs = [Value(x) for x in xs]
    out = _run(prog, vs, _agrad_ops())
    out.backward()
    f = lambda *t: _run(prog, list(t), _float_ops())  # noqa: E731
    for i, v in enumerate(vs):
        fd = central_diff(f, xs, i, h)
        coarse = central_diff(f, xs, i, 10 * h)
        if abs(fd - coarse) > 1e-4 * (1 + abs(fd)):
            continue  # a kink (relu, abs, min, max) lies within 10h: FD has no derivative to find
        assert v.grad == pytest.approx(fd, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("seed", range(10))
def test_random_graphs_of_micrograds_ops_match_micrograd(seed: int) -> None:
    engine = pytest.importorskip("micrograd.engine")
    rng = random.Random(seed)
    xs = [rng.uniform(-2, 2) for _ in range(4)]
    prog = []
    for i in range(60):
        live = 4 + i
        kind = rng.choice(["+", "*", "relu", "pow"])
        prog.append((kind, rng.randrange(live), rng.randrange(live), rng.choice([2, 3, -1])))

    def run(vals: list[Any]) -> Any:
        vals = list(vals)
        for kind, i, j, c in prog:
            a, b = vals[i], vals[j]
            # Both engines see the same data, so they make the same choice; it keeps magnitudes sane.
            if (kind == "pow" and not 0.1 < abs(a.data) < 10) or (kind == "*" and abs(a.data * b.data) > 1e3):
                kind = "+"
            vals.append(a + b if kind == "+" else a * b if kind == "*" else a.relu() if kind == "relu" else a**c)
        return vals[-1]

    vs = [Value(x) for x in xs]
    ms = [engine.Value(x) for x in xs]
    out, mout = run(vs), run(ms)
    out.backward()
    mout.backward()
    assert same(out.data, mout.data, rel=1e-12)
    for v, m in zip(vs, ms):
        assert same(v.grad, m.grad, rel=1e-10, abs_tol=1e-12)


# -- create_graph gives the same first-order numbers as the fast float walk --------------


@pytest.mark.parametrize("op", UNARY, ids=lambda op: op.name)
@pytest.mark.parametrize("x", [0.0, -1.5, 0.7, 1000.0, -1000.0])
def test_create_graph_first_order_equals_float_walk(op: Any, x: float) -> None:
    a, b = Value(x), Value(x)
    op.method(a).backward()
    op.method(b).backward(create_graph=True)
    assert same(_data(b.grad), a.grad)


@pytest.mark.parametrize("name", ["/", "**", "minimum", "maximum"])
@pytest.mark.parametrize(("x", "y"), [(0.0, 0.0), (0.0, -1.0), (-2.0, 3.0), (2.0, 2.0), (1e200, 2.0), (-8.0, 1 / 3)])
def test_create_graph_binary_edges_equal_float_walk(name: str, x: float, y: float) -> None:
    op = next(b for b in BINARY if b.name == name)
    a1, b1, a2, b2 = Value(x), Value(y), Value(x), Value(y)
    op.apply(a1, b1).backward()
    op.apply(a2, b2).backward(create_graph=True)
    assert same(_data(a2.grad), a1.grad) and same(_data(b2.grad), b1.grad)


def _data(g: Any) -> float:
    # A gradient that does not depend on any Value (neg's -1, relu's 0 or 1) stays a float.
    return g.data if isinstance(g, Value) else float(g)


def test_a_walk_stopped_by_an_error_leaves_no_stale_gradient() -> None:
    """A hook that raises stops backward halfway; the next backward must not see its leftovers."""
    x = Value(2.0, label="x")
    a = x * 3.0

    def boom(g: float) -> float:
        raise RuntimeError("stop")

    remove = a.register_hook(boom)
    y = a * a + x  # dy/dx = 18x + 1 = 37
    with pytest.raises(RuntimeError, match="stop"):
        y.backward()
    remove()
    x.grad = 0.0
    y.backward()
    assert x.grad == 37.0


# -- a walk stopped at any point leaves nothing that a later walk reads -------------------

AGRAD_DIR = str(Path(agrad.__file__).parent)


class _Stop(BaseException):
    """Stands for KeyboardInterrupt: a BaseException that the walk must not swallow."""


def _stop_at(event: str, n: int) -> Callable[..., Any]:
    """A trace function that raises _Stop at the n-th ``event`` ('line' or 'opcode') in agrad's own code."""
    seen = [0]

    def local(frame: FrameType, what: str, arg: Any) -> Any:
        if what == event:
            seen[0] += 1
            if seen[0] == n:
                raise _Stop(f"{event} {n}")
        return local

    def start(frame: FrameType, what: str, arg: Any) -> Any:
        if not frame.f_code.co_filename.startswith(AGRAD_DIR):
            return None
        frame.f_trace_opcodes = event == "opcode"
        return local

    return start


def _stopped_graph() -> tuple[list[Value], Value, list[float]]:
    """x, y and f = d*tanh(d) + e with e = x*y, d = e + 1.5, a hook on e; f's gradient in closed form."""
    x, y = Value(0.5, label="x"), Value(-0.25, label="y")
    e = x * y
    e.register_hook(lambda g: g * 1.0)  # a hook runs inside the walk: a place to stop too
    d = e + 1.5
    f = d * d.tanh() + e
    dv = 0.5 * -0.25 + 1.5
    df_de = math.tanh(dv) + dv * (1 - math.tanh(dv) ** 2) + 1.0
    return [x, y], f, [df_de * -0.25, df_de * 0.5]


def _assert_next_backward_right(leaves: list[Value], f: Value, want: list[float]) -> None:
    for v in agrad.toposort(f):
        v.zero_grad()
    f.backward()
    assert [v.grad for v in leaves] == pytest.approx(want, rel=1e-14)


@traces_the_walk
@pytest.mark.parametrize("create_graph", [False, True])
def test_a_walk_stopped_at_any_bytecode_leaves_no_trace(create_graph: bool) -> None:
    """Stop backward at each bytecode of agrad's code in turn (as Ctrl-C could): no _g is left
    on any node, and the next backward, after zero_grad, is right (it gave 2x after a stop
    right after the walk took a node off its list)."""
    stops = 0
    for n in range(1, 100_000):
        leaves, f, want = _stopped_graph()
        old = sys.gettrace()
        sys.settrace(_stop_at("opcode", n))
        try:
            f.backward(create_graph=create_graph)
        except _Stop:
            stops += 1
        else:
            break
        finally:
            sys.settrace(old)
        stale = [v for v in agrad.toposort(f) if getattr(v, "_g", None) is not None]
        assert not stale, (n, stale)
        _assert_next_backward_right(leaves, f, want)
    assert stops > 200  # it really stopped all along the walk, not once at the start


@traces_the_walk
def test_a_second_stop_while_clearing_up_leaves_nothing_a_later_walk_reads() -> None:
    """Stop backward at each line in turn, then again at each store of its clean-up (a second
    Ctrl-C): whatever is left in _g, the next backward of the graph, or of part of it, is right."""
    slot = Value.__dict__["_g"]
    trap = {"armed": False, "stores": 0, "stop_at": 0}

    def set_g(v: Value, g: Any) -> None:
        if trap["armed"]:
            trap["stores"] += 1
            if trap["stores"] == trap["stop_at"]:
                raise _Stop("while clearing up")
        slot.__set__(v, g)

    def first_stop_arms_the_trap(n: int) -> Callable[..., Any]:
        tracer = _stop_at("line", n)

        def start(frame: FrameType, what: str, arg: Any) -> Any:
            local = tracer(frame, what, arg)
            if local is None:
                return None

            def arming(frame: FrameType, what: str, arg: Any) -> Any:
                try:
                    return local(frame, what, arg) and arming
                except _Stop:
                    trap["armed"] = True  # the tracer is switched off by its own raise: the trap takes over
                    raise

            return arming

        return start

    cases = 0
    Value._g = property(slot.__get__, set_g)  # type: ignore[assignment]
    try:
        for n in range(1, 100_000):
            stopped = False
            for second in range(1, 1_000):
                leaves, f, want = _stopped_graph()
                trap.update(armed=False, stores=0, stop_at=second)
                old = sys.gettrace()
                sys.settrace(first_stop_arms_the_trap(n))
                try:
                    f.backward()
                except _Stop:
                    stopped = True
                finally:
                    sys.settrace(old)
                    trap["armed"] = False
                if not stopped:
                    break
                cases += 1
                part = f._children[0]  # d * tanh(d): a walk over some of the same nodes
                d = part._children[0]
                for v in agrad.toposort(f):
                    v.zero_grad()
                part.backward()
                assert d.grad == pytest.approx(math.tanh(d.data) + d.data * (1 - math.tanh(d.data) ** 2), rel=1e-14)
                _assert_next_backward_right(leaves, f, want)
                if trap["stores"] < second:
                    break  # the clean-up made fewer stores than that: every place in it was tried
            if not stopped:
                break
    finally:
        Value._g = slot  # type: ignore[misc]
    assert cases > 100


def test_a_rule_added_to_the_table_after_import_is_used() -> None:
    """The walk binds the table once, at import; a row added later (another node type's op) still works."""
    from agrad.rules import RULES, Primitive

    twice = Primitive("twice", lambda x: 2 * x, lambda g, out, x: (2 * g,), lambda x_dots, out, x: 2 * x_dots[0])
    RULES["twice"] = twice
    try:
        x = Value(3.0)
        Value(6.0, (x,), "twice").backward()
        assert x.grad == 2.0  # d(2x)/dx
    finally:
        del RULES["twice"]
        agrad.backprop._VJP.pop("twice", None)


def test_another_node_type_with_array_data_and_array_constants_goes_through_the_same_walk() -> None:
    """The walk's contract (backprop's docstring) for a node type that is not a Value: arrays as
    data and gradients, an array constant among the operands; d/dx of ((x * c) * (x * c)) = 2 x c^2."""
    np = pytest.importorskip("numpy")
    from agrad.rules import RULES, Primitive
    from agrad.value import NODE_TYPES

    class Vec:
        __slots__ = ("_children", "_g", "_hooks", "_op", "data", "grad")
        _constant_types = (np.ndarray,)

        def __init__(self, data: Any, children: tuple[Any, ...] = (), op: str = "") -> None:
            self.data, self.grad, self._children, self._op, self._hooks = data, 0.0, children, op, None

    vmul = Primitive("vmul", lambda x, y: x * y, lambda g, out, x, y: (g * y, g * x), lambda d, out, x, y: 0.0)
    NODE_TYPES.add(Vec)
    RULES["vmul"] = vmul
    try:
        x, c = Vec(np.array([1.0, -2.0])), np.array([3.0, 0.5])
        y = Vec(x.data * c, (x, c), "vmul")
        z = Vec(y.data * y.data, (y, y), "vmul")
        for _ in range(2):  # the second walk adds once more, as for a Value
            agrad.backward(z)  # type: ignore[arg-type]
        assert np.array_equal(x.grad, 2 * (2 * x.data * c**2)) and np.array_equal(y.grad, 2 * (2 * y.data))
        with pytest.raises(TypeError, match="children must be Values or floats, got list"):
            agrad.backward(Vec(x.data, (x, [1.0]), "vmul"))  # type: ignore[arg-type]
    finally:
        NODE_TYPES.discard(Vec)
        del RULES["vmul"]
        agrad.backprop._VJP.pop("vmul", None)
