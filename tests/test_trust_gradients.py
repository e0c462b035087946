"""Random graphs and every op, differentiated by agrad and checked against two oracles.

Each graph (tests/strategies.py) is evaluated three ways from one op table
(tests/opinfo.py): by agrad in float64, by PyTorch in float64, and by mpmath at
50 digits. agrad's value, gradient (reverse mode: ``backward`` and ``agrad.value_and_grad``),
directional derivative (forward mode: the JVP rules of ``agrad.rules`` pushed
along the graph, and ``agrad.jvp``) and Hessian (``create_graph=True`` reverse
over reverse, forward over reverse and reverse over forward through the rule
table; ``agrad.hessian``, ``agrad.hvp``, ``jacrev(jacrev)``, ``jacfwd(jacfwd)``)
must match

- PyTorch's value, gradient and Hessian, and
- central differences of the mpmath program at 50 digits, which are exact to
  far more digits than float64 holds, so they measure agrad's float error.

The tolerance is relative to the size of the derivatives, loosened (up to a
cap) where PyTorch's float64 answer is itself that far from the exact one:
agrad must be as accurate as PyTorch, not bit-identical to it; and where
PyTorch is right, agrad must agree with it.

On failure Hypothesis prints the graph as a Python program (the reproducer).
Run the long profile with ``HYPOTHESIS_PROFILE=long pytest tests/test_trust_gradients.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import mpmath
import pytest
from conftest import HAS_TORCH, needs_torch
from hypothesis import given
from hypothesis import strategies as st
from opinfo import OPS, OpInfo
from strategies import MAX_DEPTH, Graph, Node, agrad_leaves, graphs, mp_eval, trust_settings

import agrad
from agrad.compile import native
from agrad.rules import RULES

if HAS_TORCH:
    import torch
pytestmark = needs_torch  # marked, not skipped at import, so the run counts these tests among the oracle's

DPS = 50
H1 = mpmath.mpf("1e-20")  # first differences: truncation ~1e-40, rounding ~1e-30 at 50 digits
H2 = mpmath.mpf("1e-12")  # second differences: truncation ~1e-24, rounding ~1e-26
RTOL = 1e-8
CAP = 1e-6


# -- oracles --------------------------------------------------------------------


def mp_gradient(g: Graph) -> list[Any]:
    """Central differences of the exact program, one input at a time."""
    with mpmath.workdps(DPS):
        out = []
        for i in range(len(g.inputs)):
            up = [mpmath.mpf(x) for x in g.inputs]
            dn = list(up)
            up[i] += H1
            dn[i] -= H1
            out.append((mp_eval(g, up) - mp_eval(g, dn)) / (2 * H1))
        return out


def mp_hessian(g: Graph) -> list[list[Any]]:
    """Second central differences of the exact program."""
    n = len(g.inputs)

    def f(*steps: tuple[int, int]) -> Any:
        xs = [mpmath.mpf(x) for x in g.inputs]
        for i, s in steps:
            xs[i] += s * H2
        return mp_eval(g, xs)

    with mpmath.workdps(DPS):
        f0 = f()
        hess = [[mpmath.mpf(0)] * n for _ in range(n)]
        for i in range(n):
            hess[i][i] = (f((i, 1)) - 2 * f0 + f((i, -1))) / H2**2
            for j in range(i):
                d = f((i, 1), (j, 1)) - f((i, 1), (j, -1)) - f((i, -1), (j, 1)) + f((i, -1), (j, -1))
                hess[i][j] = hess[j][i] = d / (4 * H2**2)
        return hess


def torch_derivatives(g: Graph, order: int) -> tuple[float, list[float], list[list[float]]]:
    """PyTorch's value, gradient and (order 2) Hessian of the same program."""
    xs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in g.inputs]
    out = g.evaluate("torch", xs)
    grads = torch.autograd.grad(out, xs, create_graph=order > 1, allow_unused=True)
    hess: list[list[float]] = []
    if order > 1:
        for gi in grads:
            if gi is None or not gi.requires_grad:
                hess.append([0.0] * len(xs))
                continue
            row = torch.autograd.grad(gi, xs, retain_graph=True, allow_unused=True)
            hess.append([0.0 if r is None else r.item() for r in row])
    return out.item(), [0.0 if gi is None else gi.item() for gi in grads], hess


# -- agrad's derivatives, four ways ---------------------------------------------


def jvp_by_rules(root: agrad.Value, tangents: dict[agrad.Value, Any], on_values: bool = False) -> Any:
    """Forward mode by the JVP column of the rule table: push tangents from the leaves up.

    With ``on_values`` the rules run on Values, so the tangent is itself a graph.
    """
    dots: dict[agrad.Value, Any] = {}
    for node in agrad.toposort(root):
        kids = node._children
        if not kids:
            dots[node] = tangents.get(node, 0.0)
            continue
        d = tuple(0.0 if type(k) is float else dots[k] for k in kids)
        if on_values:
            dots[node] = RULES[node._op].jvp(d, node, *kids)
        else:
            args = [k if type(k) is float else k.data for k in kids]
            dots[node] = RULES[node._op].jvp(d, node.data, *args)
    return dots[root]


def _num(x: Any) -> float:
    return x.data if isinstance(x, agrad.Value) else float(x)


def agrad_hessian(g: Graph) -> list[list[float]]:
    """Reverse over reverse: backward(create_graph=True), then backward of each gradient."""
    xs = agrad_leaves(g)
    g.evaluate("agrad", xs).backward(create_graph=True)
    grads = [x.grad for x in xs]
    rows = []
    for gi in grads:
        for x in xs:
            x.zero_grad()
        if isinstance(gi, agrad.Value):
            gi.backward()
        rows.append([_num(x.grad) for x in xs])
    return rows


def hvp_forward_over_reverse(g: Graph, v: Sequence[float]) -> list[float]:
    xs = agrad_leaves(g)
    g.evaluate("agrad", xs).backward(create_graph=True)
    tangents = dict(zip(xs, v))
    return [_num(jvp_by_rules(x.grad, tangents)) if isinstance(x.grad, agrad.Value) else 0.0 for x in xs]


def hvp_reverse_over_forward(g: Graph, v: Sequence[float]) -> list[float]:
    xs = agrad_leaves(g)
    out = g.evaluate("agrad", xs)
    dot = jvp_by_rules(out, dict(zip(xs, v)), on_values=True)
    if isinstance(dot, agrad.Value):
        dot.backward()
    return [_num(x.grad) for x in xs]


# -- comparison -----------------------------------------------------------------


def assert_close(what: str, got: Sequence[float], exact: Sequence[Any], torch_got: Sequence[float] | None) -> None:
    """agrad within RTOL of the exact answer, relative to the largest derivative, and, where PyTorch
    is right, within RTOL of PyTorch too.

    Where PyTorch is off by more than RTOL (ill-conditioned float arithmetic) agrad may be off by up
    to 16x as much, but never by more than CAP: a larger miss is a wrong derivative, in agrad or in
    PyTorch, and the exact answer decides which (at x ** y with y = 0 PyTorch's Hessian is wrong).
    """
    scale = max([1.0] + [abs(float(e)) for e in exact])
    for i, (a, e) in enumerate(zip(got, exact)):
        ef = float(e)
        err = abs(a - ef) if a == a else math.inf
        t = math.nan if torch_got is None else torch_got[i]
        t_err = abs(t - ef)
        allowed = RTOL * scale + (min(16 * t_err, CAP * scale) if t_err == t_err else 0.0)
        msg = f"{what}[{i}]: agrad {a!r}, exact {mpmath.nstr(e, 20)}, torch {t!r}"
        assert err <= allowed, f"{msg}; error {err:.3g} > {allowed:.3g}"
        if t_err <= RTOL * scale:
            assert abs(a - t) <= 2 * RTOL * scale, f"{msg}; agrad and torch differ by {abs(a - t):.3g}"


def check_graph(g: Graph, order: int) -> None:
    xs = agrad_leaves(g)
    out = g.evaluate("agrad", xs)
    assert isinstance(out, agrad.Value), "the graph's output must be a node"
    out.backward()
    grad = [_num(x.grad) for x in xs]
    t_val, t_grad, t_hess = torch_derivatives(g, order)
    with mpmath.workdps(DPS):
        exact_val = mp_eval(g, g.inputs)
    assert_close("value", [out.data], [exact_val], [t_val])
    exact_grad = mp_gradient(g)
    assert_close("gradient", grad, exact_grad, t_grad)

    # the function transforms see the graph as a function of its inputs
    def f(*args: Any) -> Any:
        return g.evaluate("agrad", args)

    n = len(xs)
    _, vg = agrad.value_and_grad(f, argnums=tuple(range(n)))(*g.inputs)
    assert_close("agrad.value_and_grad", list(vg), exact_grad, t_grad)

    # forward mode: one directional derivative per input, and one along all inputs at once
    directions = [[float(i == j) for j in range(n)] for i in range(n)] + [[1.0, -0.5, 0.25, 2.0][:n]]
    for v in directions:
        exact = mpmath.fsum(e * vi for e, vi in zip(exact_grad, v))
        t_dir = [sum(t * vi for t, vi in zip(t_grad, v))]
        fwd = _num(jvp_by_rules(out, dict(zip(xs, v))))
        assert_close(f"forward mode by the JVP rules along {v}", [fwd], [exact], t_dir)
        assert_close(f"agrad.jvp along {v}", [agrad.jvp(f, g.inputs, v)[1]], [exact], t_dir)

    if order > 1:
        exact_hess = mp_hessian(g)
        hess = agrad_hessian(g)
        for i in range(len(xs)):
            assert_close(f"hessian row {i}", hess[i], exact_hess[i], t_hess[i])
        v = directions[-1]
        exact_hv = [mpmath.fsum(h * vj for h, vj in zip(row, v)) for row in exact_hess]
        torch_hv = [sum(h * vj for h, vj in zip(row, v)) for row in t_hess]
        assert_close("hvp forward over reverse", hvp_forward_over_reverse(g, v), exact_hv, torch_hv)
        assert_close("hvp reverse over forward", hvp_reverse_over_forward(g, v), exact_hv, torch_hv)
        assert_close("agrad.hvp", agrad.hvp(f, g.inputs, v), exact_hv, torch_hv)
        transforms = {
            "agrad.hessian (forward over reverse)": agrad.hessian(f),
            "agrad.jacrev(agrad.jacrev(f))": agrad.jacrev(agrad.jacrev(f)),
            "agrad.jacfwd(agrad.jacfwd(f))": agrad.jacfwd(agrad.jacfwd(f)),
        }
        for name, h in transforms.items():
            rows = h(*g.inputs)
            for i in range(n):
                assert_close(f"{name} row {i}", rows[i], exact_hess[i], t_hess[i])


# -- the table itself -------------------------------------------------------------


def test_every_rule_has_an_opinfo() -> None:
    # stop_gradient has no derivative to check: zero by definition (tests/test_compile_capture.py)
    assert {info.name for info in OPS} == {op for op, p in RULES.items() if not p.tensor_only} - {"stop_gradient"}


@pytest.mark.parametrize("info", OPS, ids=[info.id for info in OPS])
def test_opinfo_builds_its_op(info: OpInfo) -> None:
    """Each row builds a node of the op it claims to test (else the table tests something else)."""
    args = [agrad.Value(1.5) if s.const != "must" else (s.pool or (2.0,))[0] for s in info.slots]
    if info.nary:
        args = [agrad.Value(1.5), agrad.Value(0.5)]
    assert info.agrad(*args)._op == info.name


# -- every op, to second order ------------------------------------------------------


@pytest.mark.parametrize("info", OPS, ids=[info.id for info in OPS])
@trust_settings(50)
@given(data=st.data())
def test_op_to_second_order(info: OpInfo, data: st.DataObject) -> None:
    """The op on random inputs (steered into its domain), to second order, in all modes."""
    check_graph(data.draw(graphs(max_ops=2, max_inputs=3, root=info), label="graph"), order=2)


# -- random graphs ------------------------------------------------------------------


@trust_settings(1200)
@given(g=graphs())
def test_random_graphs_first_order(g: Graph) -> None:
    check_graph(g, order=1)


@trust_settings(200)
@given(g=graphs(min_ops=40, max_ops=60))
def test_deep_graphs_first_order(g: Graph) -> None:
    check_graph(g, order=1)


@trust_settings(500)
@given(g=graphs(max_ops=12, max_inputs=3))
def test_random_graphs_second_order(g: Graph) -> None:
    check_graph(g, order=2)


EXACT_POINTS = [
    Graph((1.0, 0.0), (Node("pow[x**y]", (0, 1)),)),  # d2/dxdy = 1, though dx = 0 there
    Graph((2.5, 0.0), (Node("pow[x**y]", (0, 1)),)),
    Graph((0.0,), (Node("pow[c**y]", (2.0, 0)),)),
    Graph((0.0, 1.0), (Node("pow[x**y]", (1, 0)),)),
    Graph((0.0,), (Node("**[int]", (0, 2.0)),)),
    Graph((1.0, 0.0), (Node("*", (0, 1)), Node("exp", (2,)))),
]


@pytest.mark.parametrize("g", EXACT_POINTS, ids=[g.source().splitlines()[-2] for g in EXACT_POINTS])
def test_second_order_at_exact_points(g: Graph) -> None:
    """Points a float sampler rarely hits exactly, such as a zero exponent."""
    check_graph(g, order=2)


def _function(g: Graph) -> Any:
    """The graph as a function of its inputs, for agrad.compile to trace."""
    return lambda *args: g.evaluate("agrad", args)


@trust_settings(150)
@given(g=graphs(max_ops=30))
def test_compiled_graphs_first_order(g: Graph) -> None:
    """agrad.compile(value_and_grad(f)) as generated Python and as NumPy over a batch: same oracles."""
    np = pytest.importorskip("numpy")
    n, f = len(g.inputs), _function(g)
    t_val, t_grad, _ = torch_derivatives(g, 1)
    with mpmath.workdps(DPS):
        exact_val = mp_eval(g, g.inputs)
    exact_grad = mp_gradient(g)
    vg = agrad.value_and_grad(f, argnums=tuple(range(n)))
    # Each executor traces at other inputs first, so a number of the trace baked into the code would show.
    other = [x + 0.375 for x in g.inputs]
    python = agrad.compile(vg, executor="python")
    python(*other)
    val, grad = python(*g.inputs)
    assert_close("compiled (python) value", [val], [exact_val], [t_val])
    assert_close("compiled (python) gradient", list(grad), exact_grad, t_grad)
    batch = 3  # sample 0 (the traced one) is at the other inputs
    vals, grads = agrad.compile(vg, executor="numpy")(*[np.array([y, x, x]) for x, y in zip(g.inputs, other)])
    for k in range(1, batch):
        assert_close(f"compiled (numpy) value [{k}]", [float(vals[k])], [exact_val], [t_val])
        assert_close(f"compiled (numpy) gradient [{k}]", [float(gi[k]) for gi in grads], exact_grad, t_grad)


def _same(a: float, b: float) -> bool:
    """Equal within 1e-12 (relative above 1), with nan equal to nan and infinities exact."""
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return a == b or (math.isnan(a) and math.isnan(b))
    return abs(a - b) <= 1e-12 * max(1.0, abs(b))


@pytest.mark.skipif(not native.available(), reason="the native executor needs cffi and a C compiler")
@trust_settings(40)
@given(g=graphs(max_ops=30))
def test_native_compiled_graphs_match_eager(g: Graph) -> None:
    """The native (C) executor over a batch against eager agrad's value and backward(), within 1e-12."""
    np = pytest.importorskip("numpy")
    n, f = len(g.inputs), _function(g)
    leaves = [agrad.Value(x) for x in g.inputs]
    out = f(*leaves)
    if isinstance(out, agrad.Value):
        out.backward()
    want = [out.data if isinstance(out, agrad.Value) else float(out), *[v.grad for v in leaves]]
    vg = agrad.compile(agrad.value_and_grad(f, argnums=tuple(range(n))), executor="native")
    other = [x + 0.375 for x in g.inputs]  # sample 0, traced first: a baked-in number would show
    # Six samples: four in the loop that runs four at a time, two in the one that runs one.
    vals, grads = vg(*[np.array([y, x, x, x, x, x]) for x, y in zip(g.inputs, other)])
    assert vg.last_executor == "native"
    for k in range(1, 6):
        got = [float(vals[k]), *[float(gi[k]) for gi in grads]]
        assert all(_same(a, b) for a, b in zip(got, want)), (k, got, want)


def test_compiled_dot_with_a_repeated_operand() -> None:
    """Found by the graph strategy: the NumPy executor and a node that appears twice in one dot."""
    np = pytest.importorskip("numpy")

    def f(x: Any) -> Any:
        e = agrad.exp(x)
        return agrad.dot([1.0, 2.0], [e, e])

    vals, grads = agrad.compile(agrad.value_and_grad(f), executor="numpy")(np.full(3, 0.5))
    assert np.allclose(vals, 3 * math.exp(0.5)) and np.allclose(grads, 3 * math.exp(0.5))


def test_strategy_reaches_every_op_and_depth_50() -> None:
    """The strategy is not vacuous: over a fixed sample it uses every op and reaches depth 50.

    The sample is the same in every run and test order (conftest.py keeps Hypothesis's
    pool of constants from imported modules empty); of these 200 graphs five reach 47.
    """
    seen: set[str] = set()
    depths: list[int] = []

    @trust_settings(200)
    @given(g=graphs(min_ops=40, max_ops=60))
    def sample(g: Graph) -> None:
        seen.update(g.ops())
        depths.append(g.depth())

    sample()
    assert seen == {info.id for info in OPS}
    assert max(depths) >= MAX_DEPTH - 3, max(depths)


# -- the points where an op is not smooth: agrad follows PyTorch's convention -------------

KINKS = [
    ("relu", (0.0,)),
    ("abs", (0.0,)),
    ("abs", (-0.0,)),
    ("min", (1.5, 1.5)),
    ("max", (-2.0, -2.0)),
    ("sqrt", (0.0,)),
    ("log", (0.0,)),
    ("**[int]", (0.0, 0.0)),
    ("**[real]", (0.0, 0.5)),
    ("pow[x**y]", (0.0, 2.0)),
    ("pow[x**y]", (0.0, 0.0)),
    ("pow[x**y]", (-2.0, 2.0)),
    ("/", (0.0, 0.0)),
    ("/", (1.0, 0.0)),
]


@pytest.mark.parametrize(("op", "args"), KINKS, ids=[f"{op}{args}" for op, args in KINKS])
def test_gradient_at_kink_matches_torch(op: str, args: tuple[float, ...]) -> None:
    from opinfo import BY_ID

    info = BY_ID[op]
    consts = [s.const == "must" for s in info.slots]
    xs = [a if c else agrad.Value(a) for a, c in zip(args, consts)]
    ts = [a if c else torch.tensor(a, dtype=torch.float64, requires_grad=True) for a, c in zip(args, consts)]
    out = info.agrad(*xs)
    out.backward()
    t_out = info.torch(*ts)
    t_out.backward()
    got = [out.data] + [x.grad for x in xs if isinstance(x, agrad.Value)]
    want = [t_out.item()] + [t.grad.item() for t in ts if isinstance(t, torch.Tensor)]
    assert [repr(v) for v in got] == [repr(v) for v in want], f"{op}{args}: agrad {got}, torch {want}"
