"""Scale and memory: a million-node graph, and graphs freed by reference counting alone.

Every Value holds only its operands (no closure, no parent pointer), so a graph
is a tree of references from the root down, with no cycles: dropping the last
reference to the root frees every node at once, even with the cyclic garbage
collector off. The tests watch every node through a weak reference.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from opinfo import OPS

import agrad
from agrad.anomaly import detect_anomaly


@contextmanager
def gc_off() -> Iterator[None]:
    """The cyclic collector off: only reference counting may free anything."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def every_op_graph(x: agrad.Value, y: agrad.Value, rounds: int) -> agrad.Value:
    """A graph that applies every op of the test table, ``rounds`` times, kept in (0.5, 1.5)."""
    a = (x * y).sigmoid() + 0.5
    for _ in range(rounds):
        for info in OPS:
            args = [a, y, x, a] if info.nary else [s.pool[0] if s.const == "must" else a for s in info.slots]
            r = info.agrad(*args)
            a = (a + r.sigmoid()) * 0.5 + 0.25
    return a


def watch(root: agrad.Value) -> list[weakref.ref[agrad.Value]]:
    """A weak reference to every node under root."""
    return [weakref.ref(v) for v in agrad.toposort(root)]


def alive(refs: list[weakref.ref[agrad.Value]]) -> int:
    return sum(r() is not None for r in refs)


def test_million_node_graph_backpropagates() -> None:
    """v = x + x + ... + x, one node per addition: d v / d x = n + 1, exactly."""
    n = 1_000_000
    x = agrad.Value(0.5)
    v = x
    for _ in range(n):
        v = v + x
    v.backward()
    assert v.data == 0.5 * (n + 1)
    assert x.grad == float(n + 1)
    bottom = weakref.ref(v._children[0])  # type: ignore[arg-type]
    with gc_off():
        del v  # a million-deep chain is freed without recursion (CPython's trashcan)
        assert bottom() is None


Scenario = Callable[[agrad.Value, agrad.Value, agrad.Value], object]


def _nothing(out: agrad.Value, x: agrad.Value, y: agrad.Value) -> object:
    return None


def _backward_twice(out: agrad.Value, x: agrad.Value, y: agrad.Value) -> object:
    out.backward()
    out.backward()
    return None


def _hooks(out: agrad.Value, x: agrad.Value, y: agrad.Value) -> object:
    """Hooks on leaves and on inner nodes; the removers are kept, and must not pin the graph."""
    removers = [v.register_hook(lambda g: g * 2.0) for v in (x, y, *agrad.toposort(out)[5:50])]
    out.backward()
    removers[0]()
    out.backward()
    return removers


SCENARIOS: dict[str, Scenario] = {"forward": _nothing, "backward": _backward_twice, "hooks": _hooks}


@pytest.mark.parametrize("name", SCENARIOS)
def test_dropping_the_root_frees_every_node(name: str) -> None:
    with gc_off():
        x, y = agrad.Value(0.3, label="x"), agrad.Value(-0.7, label="y")
        out = every_op_graph(x, y, rounds=20)
        refs = watch(out)
        n = len(refs)
        assert n > 1000
        kept = SCENARIOS[name](out, x, y)
        assert alive(refs) == n
        del out
        assert alive(refs) == 2, "only the leaves x and y may survive the root"
        del x, y
        assert alive(refs) == 0
        del kept


def test_graph_built_under_detect_anomaly_is_freed() -> None:
    """Anomaly mode notes where each node was made in a weak dictionary, which must not pin it."""
    with gc_off():
        x, y = agrad.Value(0.3), agrad.Value(-0.7)
        with detect_anomaly():
            out = every_op_graph(x, y, rounds=5)
            out.backward()
        refs = watch(out)
        del out, x, y
        assert alive(refs) == 0


def test_create_graph_gradients_are_freed() -> None:
    """With create_graph=True a node's .grad is a graph that can refer back to the node, as in
    PyTorch (where it warns of this cycle). Clearing the grads breaks every such cycle, so
    reference counting alone frees everything; without clearing, the cyclic collector does."""
    with gc_off():
        x, y = agrad.Value(0.3), agrad.Value(-0.7)
        out = every_op_graph(x, y, rounds=5)
        out.backward(create_graph=True)
        nodes = agrad.toposort(out)
        grads = [v.grad for v in nodes if isinstance(v.grad, agrad.Value)]
        assert len(grads) > 100
        grad_refs = [weakref.ref(g) for g in grads]
        refs = watch(out)
        del grads
        x.grad.backward()  # second order through the gradient graph
        for node in nodes:
            node.zero_grad()
        del node, nodes, out, x, y
        assert alive(refs) == 0
        assert alive(grad_refs) == 0

    x, y = agrad.Value(0.3), agrad.Value(-0.7)
    out = every_op_graph(x, y, rounds=5)
    out.backward(create_graph=True)
    refs = watch(out)
    del out, x, y
    gc.collect()
    assert alive(refs) == 0
