"""Hypothesis strategies for random expression graphs, and the graphs' three evaluators.

A ``Graph`` is a straight-line program: inputs ``x0..xk``, then nodes ``v{i} =
op(operands)`` where an operand is an earlier node or a float constant. Operands
are drawn mostly from the latest node (so graphs get deep, up to depth 50) and
otherwise from any earlier node (so subexpressions are shared). Every op of
``tests/opinfo.OPS`` can appear, with constants where the op allows them.

Values are kept where every op is smooth and finite, by construction, not by
rejection: the strategy evaluates each node as it builds it, and

- steers an operand into its op's domain with guard nodes (``softplus(a) + 0.1``
  before a log, ``a + 1.0`` before a divisor near zero, ``tanh(a) * 2.5`` before
  an exponent...);
- moves an operand away from a kink (relu/abs at 0, a min/max tie) by a constant;
- scales any node larger than 8 by a power of two.

``repr(graph)`` is the program as runnable Python, so Hypothesis prints a
minimal reproducer on failure.

Profiles: "ci" (the default: derandomized, a fixed number of examples, no
database) and "long" (many more examples, random seed), chosen by the
environment variable ``HYPOTHESIS_PROFILE``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
from hypothesis import settings
from hypothesis import strategies as st
from opinfo import BY_ID, DOMAINS, OPS, OpInfo, Slot, arity_slots, in_domain

import agrad

BOUND = 8.0  # every node's value stays within [-BOUND, BOUND]
KINK_MARGIN = 1e-3  # distance kept from relu/abs at 0 and from min/max ties
MAX_DEPTH = 50

# The profiles are registered and loaded in conftest.py, for the whole suite.
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "long"):
    PROFILE = "ci"  # another test suite's profile name: keep these tests bounded


def trust_settings(ci_examples: int) -> settings:
    """Settings for one test: ``ci_examples`` in CI, the long profile's count locally."""
    base = settings.get_profile(PROFILE)
    return settings(base, max_examples=ci_examples if PROFILE == "ci" else base.max_examples)


# -- graphs ---------------------------------------------------------------------

Arg = int | float  # an int is the index of an earlier value (input or node); a float is a constant


@dataclass(frozen=True)
class Node:
    op: str  # an OpInfo id
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Graph:
    """A straight-line program; its output is the last node."""

    inputs: tuple[float, ...]
    nodes: tuple[Node, ...]

    def name(self, i: int) -> str:
        k = len(self.inputs)
        return f"x{i}" if i < k else f"v{i}"

    def source(self) -> str:
        """The graph as a runnable Python program (the reproducer)."""

        def arg(a: Arg) -> str:
            return repr(a) if type(a) is float else self.name(a)  # type: ignore[arg-type]

        k = len(self.inputs)
        lines = ["import agrad", "from agrad import Value"]
        lines += [f"x{i} = Value({x!r})" for i, x in enumerate(self.inputs)]
        for j, node in enumerate(self.nodes):
            lines.append(f"v{k + j} = {BY_ID[node.op].render([arg(a) for a in node.args])}")
        lines.append(f"out = {self.name(k + len(self.nodes) - 1)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return "\n" + self.source() + "\n"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """Hypothesis prints falsifying examples with this: the program, not the dataclass."""
        p.text(repr(self))

    def evaluate(self, backend: str, xs: Sequence[Any]) -> Any:
        """The output for inputs xs, using the op table's "agrad", "mp" or "torch" functions."""
        vals: list[Any] = list(xs)
        for node in self.nodes:
            fn: Callable[..., Any] = getattr(BY_ID[node.op], backend)
            vals.append(fn(*[a if type(a) is float else vals[a] for a in node.args]))  # type: ignore[index]
        return vals[-1]

    def depth(self) -> int:
        k = len(self.inputs)
        d = [0] * k
        for node in self.nodes:
            d.append(1 + max((d[a] for a in node.args if type(a) is int), default=0))
        return d[-1]

    def ops(self) -> set[str]:
        return {node.op for node in self.nodes}


class _Builder:
    """Grows a graph node by node, evaluating each with agrad floats as it goes."""

    def __init__(self, inputs: tuple[float, ...]) -> None:
        self.inputs = inputs
        self.nodes: list[Node] = []
        self.vals: list[float] = list(inputs)
        self.depths: list[int] = [0] * len(inputs)

    def add(self, op: str, *args: Arg) -> int:
        info = BY_ID[op]
        # the strategy never gives an op only constants, so out is always a node
        out = info.agrad(*[a if type(a) is float else self._leaf(a) for a in args])
        value = out.data if isinstance(out, agrad.Value) else float(out)
        assert math.isfinite(value), (op, args, value)
        self.nodes.append(Node(op, args))
        self.vals.append(value)
        self.depths.append(1 + max((self.depths[a] for a in args if type(a) is int), default=0))
        return len(self.vals) - 1

    def _leaf(self, i: Arg) -> agrad.Value:
        return agrad.Value(self.vals[i])  # type: ignore[index]

    def value(self, a: Arg) -> float:
        return a if type(a) is float else self.vals[a]  # type: ignore[index,return-value]

    def graph(self) -> Graph:
        return Graph(self.inputs, tuple(self.nodes))


def _pow2_at_least(x: float) -> float:
    """The smallest power of two that is >= x (exact in binary, so the scaling adds no rounding)."""
    return 2.0 ** math.ceil(math.log2(x))


def _steer(draw: Any, b: _Builder, a: int, kind: str) -> int:
    """Guard nodes that bring value a into the domain ``kind`` (the guards are tested ops too)."""
    v = b.vals[a]
    if in_domain(kind, v):
        return a
    if kind == "small":
        if draw(st.booleans()):
            return b.add("*", b.add("tanh", a), 2.5)
        return b.add("/", a, _pow2_at_least(abs(v) / 2.5))
    if kind == "nonzero":
        return b.add("+", a, 1.0) if v >= 0 else b.add("-", a, 1.0)
    # positive
    choice = draw(st.integers(0, 3))
    if choice == 0 or (choice == 3 and abs(v) < KINK_MARGIN):
        inner = b.add("softplus", a)
    elif choice == 1:
        inner = b.add("exp", _steer(draw, b, a, "small"))
    elif choice == 2:
        inner = b.add("*", a, a)
    else:
        inner = b.add("abs", a)
    return b.add("+", inner, 0.1)


def _constant(draw: Any, slot: Slot) -> float:
    if slot.pool:
        return float(draw(st.sampled_from(slot.pool)))
    lo, hi = DOMAINS[slot.kind]
    x = draw(st.floats(lo, hi))
    return -x if slot.kind == "nonzero" and draw(st.booleans()) else x


def _pick(draw: Any, b: _Builder) -> int:
    """Mostly the latest value (depth), sometimes any earlier one (sharing)."""
    last = len(b.vals) - 1
    choice = draw(st.integers(0, 7))
    if choice < 5:  # the simplest choice is the latest, so shrinking keeps depth
        return last
    return last - draw(st.integers(0, min(last, 6) if choice < 7 else last))


def _away_from_kink(b: _Builder, info: OpInfo, args: list[Arg]) -> list[Arg]:
    """Shift node operands by a constant, each in turn, until the op is smooth at its operands.

    In turn: a ReLU neuron's z = w * x stays at its kink 0 however far w moves while x is 0.
    """
    nodes = [j for j, a in enumerate(args) if type(a) is int]
    for k, shift in enumerate((0.5, -0.75, 1.25, -1.5)):
        if info.kink(*[b.value(a) for a in args]) >= KINK_MARGIN:
            return args
        i = nodes[k % len(nodes)]
        args[i] = b.add("+", args[i], shift)
    return args


def _apply(draw: Any, b: _Builder, info: OpInfo) -> int:
    n = 2 * draw(st.integers(1, 3)) if info.name in ("dot", "dot_relu") else draw(st.integers(1, 4)) if info.nary else 0
    slots = arity_slots(info, n)
    args: list[Arg] = []
    for slot in slots:
        const = slot.const == "must" or (slot.const == "may" and draw(st.integers(0, 3)) == 0)
        args.append(_constant(draw, slot) if const else _steer(draw, b, _pick(draw, b), slot.kind))
    if info.nary and all(type(a) is float for a in args):
        args[0] = _pick(draw, b)
    if info.nary and draw(st.integers(0, 2)) == 0:
        args[-1] = float(draw(st.floats(-2.0, 2.0)))
    if all(type(a) is float for a in args):  # cannot happen for the fixed-arity ops, by the slot table
        args[0] = _pick(draw, b)
    args = _away_from_kink(b, info, args)
    out = b.add(info.id, *args)
    v = b.vals[out]
    if abs(v) > BOUND:
        scale = _pow2_at_least(abs(v) / BOUND)
        out = b.add("*", out, 1.0 / scale) if draw(st.booleans()) else b.add("/", out, scale)
    return out


@st.composite
def graphs(
    draw: Any,
    ops: Sequence[OpInfo] = OPS,
    max_ops: int = 50,
    max_inputs: int = 4,
    root: OpInfo | None = None,
    min_ops: int = 1,
) -> Graph:
    """A random graph of ``min_ops`` to ``max_ops`` ops from ``ops`` (plus the guards they need).

    With ``root`` given, the last op applied is ``root`` (the op under test).
    """
    k = draw(st.integers(1, max_inputs))
    inputs = tuple(draw(st.lists(st.floats(-3.0, 3.0), min_size=k, max_size=k)))
    b = _Builder(inputs)
    n_ops = draw(st.integers(min(min_ops, max_ops) if root is None else 0, max_ops))
    for _ in range(n_ops):
        if max(b.depths) >= MAX_DEPTH - 3:  # leave room for the root and its guards
            break
        _apply(draw, b, draw(st.sampled_from(ops)))
    if root is not None:
        _apply(draw, b, root)
    return b.graph()


# -- evaluators -------------------------------------------------------------------


def agrad_leaves(g: Graph) -> list[agrad.Value]:
    return [agrad.Value(x, label=f"x{i}") for i, x in enumerate(g.inputs)]


def mp_eval(g: Graph, xs: Sequence[Any]) -> Any:
    """The output in mpmath, at the current precision (the caller sets mp.dps)."""
    return g.evaluate("mp", [mpmath.mpf(x) for x in xs])
