"""explain(): the narrated chain rule, against steps written out by hand and against backward().

Oracles: the expected narration of the seed and of a tanh neuron written by
hand with closed-form numbers; plain ``backward()`` on an identical graph for
the accumulate semantics, order and hooks; central finite differences for the
words each op uses for its local derivative.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import pytest
from oracles import central_diff

import agrad
from agrad import RULES, Value, explain, to_dot
from agrad.explain import Step, local_phrase


def seed(labels: bool = True) -> tuple[list[Value], Value]:
    a = Value(2.0, label="a")
    b = Value(-3.0, label="b")
    c = Value(10.0, label="c")
    e = a * b
    f = e + c
    if labels:
        e.label, f.label = "e", "f"
    return [a, b, c], f


def neuron() -> tuple[list[Value], Value]:
    """o = tanh(x1*w1 + x2*w2 + b), micrograd's example, with b chosen so that o = 1/sqrt(2)."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.0 + math.atanh(math.sqrt(0.5)), label="b")
    x1w1 = x1 * w1
    x2w2 = x2 * w2
    s = x1w1 + x2w2
    n = s + b
    o = n.tanh()
    for v, name in [(x1w1, "x1w1"), (x2w2, "x2w2"), (s, "x1w1x2w2"), (n, "n"), (o, "o")]:
        v.label = name
    return [x1, x2, w1, w2, b], o


def backward_order(build: Callable[[], tuple[list[Value], Value]]) -> list[str]:
    """The order in which plain backward() reaches the nodes, seen by hooks on an identical graph."""
    _, root = build()
    seen: list[str] = []
    for v in agrad.toposort(root):
        v.register_hook(lambda g, name=v.label: seen.append(name))
    root.backward()
    return seen


def check_order(steps: list[Step], order: list[str]) -> None:
    """Steps come node by node in backward's order, each node's steps once all its gradient is in."""
    sources = [s.source for s in steps if s.kind == "chain"]
    firsts = list(dict.fromkeys(sources))
    assert firsts == [n for n in order if n in sources]
    assert sources == sorted(sources, key=firsts.index)  # one run per node
    for i, s in enumerate(steps):
        if s.kind == "chain":
            assert all(t.target != s.source for t in steps[i:]), f"{s.source} passed on before all its gradient came"


def test_seed_matches_the_steps_written_by_hand(capsys: pytest.CaptureFixture[str]) -> None:
    (a, b, c), f = seed()
    steps = explain(f)
    # f = e + c, e = a * b: de/da = b, de/db = a, df/de = df/dc = 1
    by_hand = [
        "f.grad += 1.0  (the seed: df/df = 1)",
        "e.grad += 1.0 * f.grad = 1.0 * 1.0 = 1.0",
        "c.grad += 1.0 * f.grad = 1.0 * 1.0 = 1.0",
        "a.grad += b.data * e.grad = -3.0 * 1.0 = -3.0",
        "b.grad += a.data * e.grad = 2.0 * 1.0 = 2.0",
    ]
    assert steps[0].text == by_hand[0] and steps[0].kind == "seed"
    assert sorted(s.text for s in steps) == sorted(by_hand)
    check_order(steps, backward_order(seed))
    assert capsys.readouterr().out == "".join(s.text + "\n" for s in steps)
    chain = {s.target: s for s in steps if s.kind == "chain"}
    assert (chain["a"].local, chain["a"].local_value, chain["a"].upstream, chain["a"].value) == (
        "b.data",
        -3.0,
        1.0,
        -3.0,
    )
    assert (chain["b"].source, chain["b"].op, chain["b"].value) == ("e", "*", 2.0)
    assert (a.grad, b.grad, c.grad) == (-3.0, 2.0, 1.0)
    assert str(chain["c"]) == chain["c"].text


def test_tanh_neuron_matches_the_steps_written_by_hand() -> None:
    leaves, o = neuron()
    steps = explain(o, print_steps=False)
    # o = tanh(n) = 1/sqrt(2), so do/dn = 1 - o**2 = 1/2; each + passes 1/2 on; * swaps its operands.
    by_hand = [
        ("o.grad += 1.0  (the seed: do/do = 1)", 1.0),
        ("n.grad += (1 - o.data**2) * o.grad = 0.5 * 1.0 = 0.5", 0.5),
        ("x1w1x2w2.grad += 1.0 * n.grad = 1.0 * 0.5 = 0.5", 0.5),
        ("b.grad += 1.0 * n.grad = 1.0 * 0.5 = 0.5", 0.5),
        ("x1w1.grad += 1.0 * x1w1x2w2.grad = 1.0 * 0.5 = 0.5", 0.5),
        ("x2w2.grad += 1.0 * x1w1x2w2.grad = 1.0 * 0.5 = 0.5", 0.5),
        ("x1.grad += w1.data * x1w1.grad = -3.0 * 0.5 = -1.5", -3.0 * 0.5),
        ("w1.grad += x1.data * x1w1.grad = 2.0 * 0.5 = 1.0", 2.0 * 0.5),
        ("x2.grad += w2.data * x2w2.grad = 1.0 * 0.5 = 0.5", 1.0 * 0.5),
        ("w2.grad += x2.data * x2w2.grad = 0.0 * 0.5 = 0.0", 0.0 * 0.5),
    ]
    assert steps[0].text == by_hand[0][0]
    assert sorted(s.text for s in steps) == sorted(t for t, _ in by_hand)
    exact = dict(by_hand)
    for s in steps:
        assert math.isclose(s.value, exact[s.text], rel_tol=1e-12, abs_tol=1e-15)
    check_order(steps, backward_order(neuron))
    x1, x2, w1, w2, b = leaves
    for v, want in [(x1, -1.5), (x2, 0.5), (w1, 1.0), (w2, 0.0), (b, 0.5)]:
        assert math.isclose(v.grad, want, rel_tol=1e-12, abs_tol=1e-15)
    tanh_step = next(s for s in steps if s.op == "tanh")
    assert math.isclose(tanh_step.local_value, 0.5, rel_tol=1e-12)


def test_unlabeled_nodes_get_the_names_draw_graph_shows() -> None:
    _, f = seed(labels=False)
    steps = explain(f, print_steps=False)
    assert steps[0].text == "v2.grad += 1.0  (the seed: dv2/dv2 = 1)"
    assert "a.grad += b.data * v1.grad = -3.0 * 1.0 = -3.0" in [s.text for s in steps]
    dot = to_dot(f)
    assert "{ v1 | data -6.0 | grad 1.0 }" in dot and "{ v2 | data 4.0 | grad 1.0 }" in dot


def test_constants_are_narrated_by_their_value_and_get_no_step() -> None:
    x = Value(3.0, label="x")
    f = (2.0 - x) ** 3
    f.label = "f"
    steps = explain(f, print_steps=False)
    # f = (2 - x)**3: df/dv1 = 3 (2 - x)**2 = 3, dv1/dx = -1
    assert [s.text for s in steps] == [
        "f.grad += 1.0  (the seed: df/df = 1)",
        "v1.grad += (3.0 * v1.data**(3.0 - 1)) * f.grad = 3.0 * 1.0 = 3.0",
        "x.grad += -1.0 * v1.grad = -1.0 * 3.0 = -3.0",
    ]
    assert x.grad == -3.0


def _graph() -> tuple[list[Value], Value]:
    x, y = Value(0.7, label="x"), Value(-1.3, label="y")
    h = x * y
    f = agrad.sum([h.tanh() * h, (x / y).exp(), agrad.dot([x, y], [h, 2.0]), agrad.maximum(h, x).sigmoid()])
    return [x, y], f


def test_explain_accumulates_exactly_as_backward(capsys: pytest.CaptureFixture[str]) -> None:
    leaves, f = _graph()
    ref_leaves, ref = _graph()
    explain(f, print_steps=False)
    ref.backward()
    assert [v.grad for v in leaves] == [v.grad for v in ref_leaves]  # the same floats, bit for bit
    steps = explain(f)  # a second pass adds once more, as a second backward() does
    ref.backward()
    assert [v.grad for v in leaves] == [v.grad for v in ref_leaves]
    once_leaves, once = _graph()
    once.backward()
    assert [v.grad for v in leaves] == [2 * v.grad for v in once_leaves]
    out = capsys.readouterr().out
    assert out.startswith("(.grad already holds an earlier backward's gradients")
    leaf_steps = [s.value for s in steps if s.target == "x"]
    assert math.fsum(leaf_steps) == pytest.approx(leaves[0].grad / 2, rel=1e-12)


def test_explain_order_is_backwards_order_on_a_graph_with_shared_nodes() -> None:
    def build() -> tuple[list[Value], Value]:
        leaves, f = _graph()
        for i, v in enumerate(agrad.toposort(f)):
            v.label = v.label or f"n{i}"
        return leaves, f

    _, f = build()
    check_order(explain(f, print_steps=False), backward_order(build))


def test_hooks_are_applied_and_narrated_as_backward_applies_them() -> None:
    def build() -> tuple[list[Value], Value]:
        (a, b, c), f = seed()
        a.register_hook(lambda g: g * 10)
        b.register_hook(lambda g: None)
        return [a, b, c], f

    (a, b, c), f = build()
    (ra, rb, rc), ref = build()
    steps = explain(f, print_steps=False)
    ref.backward()
    assert (a.grad, b.grad, c.grad) == (ra.grad, rb.grad, rc.grad) == (-30.0, 2.0, 1.0)
    hooked = [s for s in steps if s.kind == "hook"]
    assert [(s.target, s.upstream, s.value) for s in hooked] == [("a", -3.0, -30.0)]
    assert hooked[0].text == "a.grad: a hook turns this pass's -3.0 into -30.0, which is added and passed on"
    assert len(a._hooks or ()) == 1 and b._hooks is not None and f._hooks is None  # explain's watchers are gone


def test_another_threads_backward_through_a_shared_weight_is_left_alone() -> None:
    """While explain walks, another thread trains through the same weight: its backward must not meet explain."""
    w = Value(2.0, label="w")
    other = w * 5.0  # another graph on the same weight, as another thread's training step
    errors: list[BaseException] = []

    def other_thread_backward(g: float) -> None:
        def target() -> None:
            try:
                other.backward()
            except BaseException as e:
                errors.append(e)

        t = threading.Thread(target=target)
        t.start()
        t.join()

    f = w * 3.0
    f.label = "f"
    f.register_hook(other_thread_backward)  # runs while explain's watchers are on w
    steps = explain(f, print_steps=False)
    assert errors == []  # it was a KeyError from explain's watcher, raised in the other thread
    assert w.grad == 3.0 + 5.0  # df/dw from explain's walk plus d(other)/dw from the other thread
    assert [s.text for s in steps] == [
        "f.grad += 1.0  (the seed: df/df = 1)",
        "w.grad += 3.0 * f.grad = 3.0 * 1.0 = 3.0",
    ]
    assert w._hooks is None and len(f._hooks or ()) == 1


def test_a_hook_registered_during_explain_stays() -> None:
    (a, _, _), f = seed()
    late: list[float] = []

    def add_a_hook(g: float) -> None:  # f's hooks run before a's gradient arrives
        a.register_hook(late.append)

    f.register_hook(add_a_hook)
    explain(f, print_steps=False)
    assert late == [-3.0]  # it ran in this walk
    assert a._hooks is not None and late.append in a._hooks  # and is still there afterwards


def test_gradient_seeds_the_walk() -> None:
    (a, _, _), f = seed()
    steps = explain(f, gradient=2.0, print_steps=False)
    assert steps[0].text == "f.grad += 2.0  (the seed: the given gradient 2.0 times df/df = 1)"
    assert a.grad == -6.0  # 2 * df/da = 2 b


def test_too_large_is_refused_before_anything_runs() -> None:
    x = Value(1.0, label="x")
    f = x
    for _ in range(150):
        f = f * 1.0 + x  # 301 Values
    with pytest.raises(ValueError) as err:
        explain(f)
    assert "301 Values, more than max_nodes=100" in str(err.value) and "max_nodes=None" in str(err.value)
    assert x.grad == 0.0
    with pytest.raises(ValueError, match="max_nodes=300"):
        explain(f, max_nodes=300)
    steps = explain(f, max_nodes=None, print_steps=False)
    assert len(steps) == 1 + 2 * 150 + 150  # the seed, a step per + operand, one per * operand that is a Value
    assert x.grad == 151.0  # f = x + x + ... (151 times)


def test_bad_input_is_refused() -> None:
    with pytest.raises(TypeError, match="explain expects a Value"):
        explain(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="gradient must be a real number"):
        explain(Value(1.0), gradient="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_nodes must be a positive int"):
        explain(Value(1.0), max_nodes=0)


# Sample operands for every op: the words for each local derivative, evaluated
# as Python, must equal the central difference of the op's own function.
SAMPLES: dict[str, list[tuple[float, ...]]] = {
    "**": [(0.7, 3.0), (1.6, -0.5)],
    "pow": [(0.7, 1.3), (1.6, -0.5)],
    "log": [(0.6,)],
    "sqrt": [(0.6,)],
    "min": [(0.7, 1.3), (1.3, 0.7)],
    "max": [(0.7, 1.3), (1.3, 0.7)],
    "sum": [(0.7, 1.3, -0.4)],
    "dot": [(0.7, 1.3, -0.4, 2.5)],
    "dot_relu": [(0.7, 1.3, -0.4, 2.5), (0.7, -1.3, 0.4, 2.5)],  # open, then closed
}
NAMESPACE: dict[str, Any] = {
    "log": math.log,
    "cos": math.cos,
    "sin": math.sin,
    "sigmoid": lambda x: 1 / (1 + math.exp(-x)),
    "sign": lambda x: math.copysign(1.0, x) if x else 0.0,
}


@pytest.mark.parametrize("op", sorted(op for op, p in RULES.items() if not p.tensor_only))
def test_the_words_for_each_local_derivative_are_the_derivative(op: str) -> None:
    fn = RULES[op].fn
    for xs in SAMPLES.get(op, [(0.6, -1.1)] if op in ("+", "-", "*", "/") else [(0.6,), (-0.8,)]):
        out = fn(*xs)
        names = [f"x{i}" for i in range(len(xs))]
        const = op == "**"  # x ** c: the exponent is a constant and is written as its number
        words = [names[0], repr(xs[1])] if const else names
        env = {**NAMESPACE, **dict(zip(names, xs)), "out": out}
        for i in range(1 if const else len(xs)):
            phrase = local_phrase(op, i, words, "out")
            assert not phrase.startswith("d"), f"{op} has no words for its local derivative"
            said = float(eval(phrase, env))
            fd = 0.0 if op == "stop_gradient" else central_diff(fn, xs, i)  # zero by definition
            assert math.isclose(said, fd, rel_tol=1e-6, abs_tol=1e-8), (op, xs, i, phrase)
            assert said == pytest.approx(RULES[op].vjp(1.0, out, *xs)[i], rel=1e-12, abs=1e-15)
