"""Tracing: run f once on placeholder Values and keep the graph it builds.

How it works, and why it costs eager code nothing:

* Each argument becomes a ``Placeholder``, a ``Value`` subclass that holds an
  example number (the first call's value). The core ops are unchanged: they
  read ``.data`` of their operands and build ordinary nodes, so the trace is an
  ordinary agrad graph. No flag is checked on the eager hot path.
* ``Placeholder.data`` is a property. It hands the example number to agrad's own
  modules (``agrad.value`` computing an op, ``agrad.nn`` summing a neuron), and
  raises ``TracingError`` for anyone else: reading it in your own code, for an
  ``if`` or a ``float()``, would bake one input's value into every later call.
  Comparisons (``x > 0``) and ``float(x)`` on a placeholder raise too.
* Values computed *from* placeholders are ordinary nodes. As with ``jax.jit``,
  Python control flow that reads their ``.data`` runs once, at trace time, and
  its outcome is baked into the trace.
* ``backward()`` inside f reads the placeholders' numbers to compute float
  gradients, which would be frozen, so it raises ``TracingError`` too; the
  transforms (``agrad.grad`` inside f) build gradient graphs and trace fine.
* A derivative rule that branches on data (relu, abs, min, max, pow) must not
  be baked either. While tracing, ``agrad.rules._d`` raises ``TracingError``
  when such a rule runs on Values (a ``backward(create_graph=True)`` inside f).
  ``compile(value_and_grad(f))`` never gets there: compile spots the transform
  and derives the gradient code itself, from the same rules (see ``symbolic``).
* Values that f reads but does not take as arguments (a model's parameters) are
  *live*: every call reads their current ``.data``, so training in place works.
"""

from __future__ import annotations

import contextlib
import numbers
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import agrad.rules as _rules
from agrad.compile.symbolic import Sym
from agrad.value import Value


class TracingError(RuntimeError):
    """f read the number inside a placeholder while agrad.compile traced it.

    >>> import agrad
    >>> f = agrad.compile(lambda x: x * 2 if x.data > 0 else -x)
    >>> f(1.0)
    Traceback (most recent call last):
    ...
    agrad.compile.trace.TracingError: read .data of placeholder 'x' while tracing: ...
    """


_SLOT: Any = Value.__dict__["data"]  # the slot descriptor, before Placeholder shadows it with a property
_state = threading.local()


def _allowed(frame: Any) -> bool:
    # agrad's own modules compute forward numbers from the example; the rule table,
    # backward's float walk (its gradients would be numbers of the example) and
    # everything outside agrad may not read them (see the module docstring).
    name = frame.f_globals.get("__name__", "")
    if not isinstance(name, str) or not name.startswith("agrad."):
        return False
    return name not in ("agrad.rules", "agrad.backprop") and not name.startswith("agrad.compile")


class Placeholder(Value):
    """An argument of a traced function: a Value whose number f itself may not read.

    >>> p = Placeholder(3.0, "x")
    >>> (p * 2).data  # agrad's ops may use the example value
    6.0
    >>> p.data
    Traceback (most recent call last):
    ...
    agrad.compile.trace.TracingError: read .data of placeholder 'x' while tracing: ...
    """

    __slots__ = ("_name",)

    def __init__(self, example: float, name: str) -> None:
        super().__init__(example, label=name)
        self._name = name

    def _refuse(self, what: str) -> TracingError:
        if sys._getframe(2).f_globals.get("__name__") == "agrad.backprop":
            return TracingError(
                f"backward() reached placeholder {self._name!r} while tracing: its gradients would be numbers "
                "of this one input, frozen into every later call. Compile the transform instead: "
                "agrad.compile(agrad.value_and_grad(f)), or use agrad.grad inside f."
            )
        return TracingError(
            f"{what} of placeholder {self._name!r} while tracing: agrad.compile runs f once on "
            "placeholders and replays the graph, so a Python decision on an input's number would be "
            "frozen into every later call. Use agrad ops (agrad.relu, agrad.maximum, ...) instead of "
            "reading .data, or call f without compile."
        )

    @property
    def data(self) -> float:
        if _allowed(sys._getframe(1)):
            return float(_SLOT.__get__(self))
        raise self._refuse("read .data")

    @data.setter
    def data(self, x: float) -> None:
        if not _allowed(sys._getframe(1)):
            raise self._refuse("set .data")
        _SLOT.__set__(self, x)

    def __float__(self) -> float:
        raise self._refuse("float()")

    def _compare(self, other: object) -> bool:
        raise self._refuse("compared the number")

    __lt__ = __le__ = __gt__ = __ge__ = _compare

    __hash__ = Value.__hash__

    def __repr__(self) -> str:
        return f"Placeholder({self._name!r})"


def _rule_data(x: Any) -> Any:
    """``agrad.rules._d`` while tracing: a rule branching on a traced Value would bake its branch."""
    if getattr(_state, "depth", 0) and isinstance(x, Value) and not isinstance(x, Sym):
        raise TracingError(
            "a derivative rule that branches on data (relu, abs, min, max or pow) ran on traced Values, "
            "inside a backward(create_graph=True) or a transform in f; its branch would be frozen. "
            "Compile the transform itself: agrad.compile(agrad.value_and_grad(f))."
        )
    return _ORIGINAL_D(x)


_ORIGINAL_D = _rules._d
_patch_lock = threading.Lock()
_patched = 0


@contextlib.contextmanager
def tracing() -> Iterator[None]:
    """Within this block (this thread only), rules refuse to branch on traced Values."""
    global _patched
    with _patch_lock:
        if _patched == 0:
            _rules._d = _rule_data
        _patched += 1
    # A depth, not a flag: f may call another compiled function, whose trace ends inside ours.
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1
        with _patch_lock:
            _patched -= 1
            if _patched == 0:
                _rules._d = _ORIGINAL_D


@dataclass
class Graph:
    """A traced program as plain lists: node i is ``ops[i]`` applied to ``kids[i]``.

    A child is an int (an earlier node) or a float (a constant). Leaves have op ``""``.
    """

    ops: list[str] = field(default_factory=list)
    kids: list[tuple[int | float, ...]] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)  # node per flattened argument, -1 if unused
    captured: list[Value] = field(default_factory=list)  # live leaves, read on every call
    captured_nodes: list[int] = field(default_factory=list)
    outputs: list[int | float] = field(default_factory=list)  # a node, or a constant output
    root: int | float | None = None  # the scalar to differentiate, if gradients are wanted
    wrt: list[int] = field(default_factory=list)  # leaf nodes (or -1) to differentiate with respect to

    def __len__(self) -> int:
        return len(self.ops)


def build_graph(
    placeholders: list[Placeholder], outputs: list[Any], root: Any = None, wrt: list[Value] | None = None
) -> Graph:
    """The Graph under ``outputs`` (and ``root``), in topological order.

    ``wrt`` lists leaves (placeholders or captured Values) to differentiate
    ``root`` with respect to. An output that is a number is a constant.

    >>> x = Placeholder(2.0, "x"); g = build_graph([x], [x * x + 1.0])
    >>> g.ops, g.kids, g.inputs, g.outputs
    (['', '*', '+'], [(), (0, 0), (1, 1.0)], [0], [2])
    """
    order: list[Value] = []
    index: dict[Value, int] = {}
    roots = [v for v in [*outputs, root] if isinstance(v, Value)]
    for r in roots:
        stack: list[tuple[Value, bool]] = [(r, False)]
        while stack:
            node, done = stack.pop()
            if done:
                if node not in index:
                    index[node] = len(order)
                    order.append(node)
                continue
            if node in index:
                continue
            stack.append((node, True))
            for c in reversed(node._children):
                if type(c) is not float and c not in index:
                    stack.append((c, False))  # type: ignore[arg-type]
    g = Graph()
    ph = set(placeholders)
    for v in order:
        kids = v._children
        g.ops.append(v._op if kids else "")
        g.kids.append(tuple(c if type(c) is float else index[c] for c in kids))  # type: ignore[index]
        if not kids and v not in ph:
            g.captured.append(v)
            g.captured_nodes.append(index[v])
    g.inputs = [index.get(p, -1) for p in placeholders]
    # Captured leaves that are differentiated come first, in the caller's order (a model's
    # parameters, neuron by neuron), so executors can lay them out as the caller does.
    rank = {v: j for j, v in enumerate(wrt or []) if v in index and v not in ph}
    pairs = sorted(zip(g.captured, g.captured_nodes), key=lambda p: rank.get(p[0], len(rank) + p[1]))
    g.captured, g.captured_nodes = [v for v, _ in pairs], [i for _, i in pairs]

    def ref(x: Any) -> int | float:
        if isinstance(x, Value):
            return index[x]
        if isinstance(x, numbers.Real):
            return float(x)
        raise TypeError(
            f"a compiled function must return Values or numbers (or lists/tuples of them), got {type(x).__name__!s}"
        )

    g.outputs = [ref(o) for o in outputs]
    g.root = None if root is None else ref(root)
    g.wrt = [index.get(v, -1) for v in (wrt or [])]
    return g
