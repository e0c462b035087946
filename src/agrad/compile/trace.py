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
* So does every Value computed *from* a placeholder (a ``Tracer``): while
  tracing, ``Value()`` hands each new node to ``record``, which makes it a
  Tracer when an operand is one. Reading its ``.data``, ``float()`` or a
  comparison would bake one input's number into the trace, so they raise, as
  JAX raises ConcretizationTypeError. Python control flow on numbers has to
  become agrad ops (``agrad.maximum``, ``agrad.relu``) to be compiled.
* ``detach()`` and ops under ``no_grad()`` would give a leaf holding this
  input's number. While tracing they give a ``stop_gradient`` node instead: the
  same number, recomputed on every call, with a zero gradient.
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
from agrad.backprop import COMPILED
from agrad.compile.symbolic import Sym
from agrad.modes import NO_GRAD, TRACING, mode
from agrad.value import Value


class TracingError(RuntimeError):
    """f read the number inside a placeholder, or a Value computed from one, while agrad.compile traced it.

    >>> import agrad
    >>> f = agrad.compile(lambda x: x * 2 if x.data > 0 else -x)
    >>> f(1.0)
    Traceback (most recent call last):
    ...
    agrad.compile.trace.TracingError: read .data of placeholder 'x' while tracing: ...
    """


_SLOT: Any = Value.__dict__["data"]  # the slot descriptor, before Placeholder shadows it with a property
_state = threading.local()


_READERS: dict[int, bool] = {}  # id of a module's globals -> may it read a tracer's number (modules live on)

# agrad's own modules compute forward numbers from the example. These may not: the rule table and
# backward's float walk (their gradients would be numbers of the example), forward mode's float() and
# comparisons and the transforms' float results (they hand the number to the user), and compile itself.
_BARRED = ("agrad.rules", "agrad.backprop", "agrad.forward", "agrad.transforms")
# The compiled walk (AGRAD_COMPILE=1) runs with no frame of its own: its reads show the frame that called it,
# Value.backward's, in a module that may read.
_WALK_CALLER = Value.backward.__code__ if COMPILED else None


def _allowed(frame: Any) -> bool:
    ok = _READERS.get(id(frame.f_globals))
    return _reader(frame.f_globals) if ok is None else ok


def _reader(g: dict[str, Any]) -> bool:
    name = g.get("__name__", "")
    ok = isinstance(name, str) and name.startswith("agrad.") and name not in _BARRED
    ok = _READERS[id(g)] = ok and not name.startswith("agrad.compile")
    return ok


class Tracer(Value):
    """A Value computed from f's arguments while agrad.compile traces f: f itself may not read its number.

    >>> import agrad
    >>> f = agrad.compile(lambda x: x if float(x * x) > 1.0 else -x)
    >>> f(3.0)
    Traceback (most recent call last):
    ...
    agrad.compile.trace.TracingError: float() of a Value computed from the arguments while tracing: ...
    """

    __slots__ = ()  # Value's layout, so that a new node can become a Tracer in place

    def _what(self) -> str:
        return "a Value computed from the arguments"

    def _refuse(self, what: str) -> TracingError:
        f = sys._getframe(2)
        if f.f_globals.get("__name__") == "agrad.backprop" or f.f_code is _WALK_CALLER:
            return TracingError(
                f"backward() reached {self._what()} while tracing: its gradients would be numbers "
                "of this one input, frozen into every later call. Compile the transform instead: "
                "agrad.compile(agrad.value_and_grad(f)), or use agrad.grad inside f."
            )
        return TracingError(
            f"{what} of {self._what()} while tracing: agrad.compile runs f once on "
            "placeholders and replays the graph, so a Python decision on an input's number would be "
            "frozen into every later call. Use agrad ops (agrad.relu, agrad.maximum, ...) instead of "
            "reading .data, or call f without compile."
        )

    @property
    def data(self) -> float:
        f = sys._getframe(1)  # the hottest lines of a trace: _allowed, inlined
        g = f.f_globals
        ok = _READERS.get(id(g))
        if (ok or (ok is None and _reader(g))) and f.f_code is not _WALK_CALLER:
            return _SLOT.__get__(self)  # type: ignore[no-any-return]
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

    # A subclass's reflected comparison runs first, so `value < tracer` lands here too.
    __lt__ = __le__ = __gt__ = __ge__ = _compare

    __hash__ = Value.__hash__

    def __getattr__(self, name: str) -> Any:
        # Only reached when Value has no such attribute: a Tensor method (.sum, .shape) called on a traced
        # scalar. Still an AttributeError, so hasattr() and getattr(x, name, default) keep working.
        if name.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        raise AttributeError(
            f"a traced scalar has no attribute {name!r}: agrad.compile traces f on scalars and runs it on "
            "each element of an array argument (a batch of scalars), so f must be written for one sample. "
            "For a program on whole arrays use agrad.Tensor without compile."
        )

    def __repr__(self) -> str:
        return f"Tracer({self._op!r})"


def record(v: Value) -> None:
    """Told by ``Value()`` about each new node while tracing: keep a no_grad result's inputs, mark tracers.

    Under ``no_grad()`` the node becomes ``stop_gradient`` of the op it computed:
    the trace recomputes its number on every call, and no gradient flows through
    it (a leaf would hold this input's number for ever).

    >>> from agrad.modes import NO_GRAD, TRACING, mode
    >>> x = Placeholder(2.0, "x"); saved = mode.flags; mode.flags = TRACING | NO_GRAD
    >>> y = x * x; mode.flags = saved
    >>> y._op, y._children[0]._op, type(y).__name__
    ('stop_gradient', '*', 'Tracer')
    """
    if mode.flags & NO_GRAD and v._op != "stop_gradient":
        inner = Value.__new__(Value)
        _SLOT.__set__(inner, _SLOT.__get__(v))
        inner.grad, inner.label, inner._op, inner._children = 0.0, "", v._op, v._children
        inner._g = inner._hooks = None
        _mark(inner)
        v._children, v._op = (inner,), "stop_gradient"
    _mark(v)


def _mark(v: Value) -> None:
    for c in v._children:
        if isinstance(c, Tracer):
            v.__class__ = Tracer
            return


class Placeholder(Tracer):
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

    def _what(self) -> str:
        return f"placeholder {self._name!r}"

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
    """Within this block (this thread only), f is being traced: see the module docstring.

    The caller's ``no_grad()`` is lifted, as a trace is reused in every context:
    only f's own ``no_grad()`` blocks count.
    """
    global _patched
    with _patch_lock:
        if _patched == 0:
            _rules._d = _rule_data
        _patched += 1
    # A depth, not a flag: f may call another compiled function, whose trace ends inside ours.
    _state.depth = getattr(_state, "depth", 0) + 1
    saved = mode.flags
    mode.flags = (saved | TRACING) & ~NO_GRAD
    try:
        yield
    finally:
        mode.flags = saved
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
