"""The Python executor: a traced graph as one straight-line function on floats.

Each node becomes one line of Python, ``v7 = (v3 * v5)``, and each gradient
contribution one more, ``g3 += (g7 * v5)``, so a call does no dictionary
lookups, no attribute reads and no rule calls: only the arithmetic is left.
The gradient lines come from the rule table via ``symbolic.vjp_exprs``.

The lines use Python's own operators and ``math`` functions, which raise where
agrad returns inf or nan (``1/0``, ``math.log(0)``, overflow). If a call
raises, it is run again by a second function, generated from the same
expressions, that calls agrad's IEEE kernels instead. That one is built only
the first time it is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from agrad import kernels as K
from agrad.compile.symbolic import fold, forward_expr, literal, to_python, vjp_exprs
from agrad.compile.trace import Graph

Run = Callable[[list[float], list[float]], tuple[list[float], list[float]]]


def _min(a: float, b: float) -> float:
    return min(a, b) if a == a and b == b else K.NAN


def _max(a: float, b: float) -> float:
    return max(a, b) if a == a and b == b else K.NAN


NAMESPACE: dict[str, Any] = {
    "_exp": math.exp,
    "_log": math.log,
    "_sqrt": math.sqrt,
    "_sin": math.sin,
    "_cos": math.cos,
    "_tanh": math.tanh,
    "_mpow": math.pow,
    "_sigmoid": K.sigmoid,
    "_softplus": K.softplus,
    "_relu": K.relu,
    "_min": _min,
    "_max": _max,
    "_div": K.div,
    "_pow": K.pow,
    "_kexp": K.exp,
    "_klog": K.log,
    "_ksqrt": K.sqrt,
    "_ksin": K.sin,
    "_kcos": K.cos,
    "_isfinite": math.isfinite,
    "_isnan": math.isnan,
    "_isinf": math.isinf,
    "_inf": math.inf,
    "_nan": math.nan,
}


def _key(op: str, kids: tuple[int | float, ...]) -> tuple[Any, ...]:
    return (op, len(kids), *[k if type(k) is float else None for k in kids])


def _consts(kids: tuple[int | float, ...]) -> dict[str, float]:
    return {f"x{j}": k for j, k in enumerate(kids) if type(k) is float}


def _fields(n: int) -> dict[str, str]:
    names = {f"x{j}": f"{{x{j}}}" for j in range(n)}
    names.update(g="{g}", out="{out}")
    return names


class _Templates:
    """Source templates per (op, arity, constants), with ``{g}``, ``{out}``, ``{x0}``.. to fill in."""

    def __init__(self, safe: bool, render: Callable[[Any, dict[str, str], bool], str] = to_python) -> None:
        self.safe = safe
        self.render = render
        self.fwd: dict[tuple[Any, ...], str] = {}
        self.bwd: dict[tuple[Any, ...], list[str | None]] = {}

    def forward(self, op: str, kids: tuple[int | float, ...]) -> str:
        key = _key(op, kids)
        t = self.fwd.get(key)
        if t is None:
            e = fold(forward_expr(op, len(kids)), _consts(kids))
            t = self.fwd[key] = self.render(e, _fields(len(kids)), self.safe)
        return t

    def backward(self, op: str, kids: tuple[int | float, ...]) -> list[str | None]:
        key = _key(op, kids)
        t = self.bwd.get(key)
        if t is None:
            const = tuple(type(k) is float for k in kids)
            consts, names = _consts(kids), _fields(len(kids))
            exprs = vjp_exprs(op, len(kids))
            t = self.bwd[key] = [
                None if c else self.render(fold(e, consts), names, self.safe) for e, c in zip(exprs, const)
            ]
        return t


def needed(g: Graph) -> list[bool]:
    """Which nodes carry a gradient: under the root and above some ``wrt`` leaf.

    >>> from agrad.compile.trace import Placeholder, build_graph
    >>> x, y = Placeholder(1.0, "x"), Placeholder(2.0, "y")
    >>> z = x * 2.0 + y
    >>> needed(build_graph([x, y], [z], root=z, wrt=[x]))
    [True, True, False, True]
    """
    n = len(g)
    dep = [False] * n
    for i in g.wrt:
        if i >= 0:
            dep[i] = True
    for i, kids in enumerate(g.kids):
        if not dep[i]:
            dep[i] = any(type(k) is int and dep[k] for k in kids)
    live = [False] * n
    if type(g.root) is int:
        live[g.root] = True
    for i in range(n - 1, -1, -1):
        if live[i] and dep[i]:
            for k in g.kids[i]:
                if type(k) is int:
                    live[k] = True
    return [a and b for a, b in zip(dep, live)]


def batched_nodes(g: Graph, batched: list[bool]) -> list[bool]:
    """Which nodes depend on an array argument (one number per sample), given which arguments are arrays.

    >>> from agrad.compile.trace import Placeholder, build_graph
    >>> w, x = Placeholder(1.0, "w"), Placeholder(1.0, "x")
    >>> batched_nodes(build_graph([w, x], [w * 2.0 + x]), [False, True])
    [False, False, True, True]
    """
    bat = [False] * len(g)
    for i, b in zip(g.inputs, batched):
        if i >= 0:
            bat[i] = b
    for i, kids in enumerate(g.kids):
        live = [k for k in kids if type(k) is int]
        if live:
            bat[i] = any(bat[k] for k in live)
    return bat


def _nary(i: int, op: str, kids: tuple[int | float, ...], chunk: int = 32) -> list[str]:
    """A sum or dot as ``v = t0 + t1 + ...``, in chunks: Python's parser caps nesting and
    recursion, and ``v = v + t32 + ...`` keeps eager's left-to-right order of additions."""

    def name(k: int | float) -> str:
        return f"v{k}" if type(k) is int else literal(k)

    if op == "sum":
        terms = [name(k) for k in kids]
    else:
        n = len(kids) // 2
        terms = [f"({name(kids[j])} * {name(kids[n + j])})" for j in range(n)]
    lines = []
    for start in range(0, len(terms), chunk):
        head = [f"v{i}"] if start else []
        lines.append(f"    v{i} = " + " + ".join(head + terms[start : start + chunk]))
    return lines


def source(g: Graph, safe: bool = False) -> str:
    """The Python source of ``_run(a, c) -> (outputs, gradients)`` for graph g.

    ``a`` holds the arguments' numbers, ``c`` the captured Values' numbers.

    >>> from agrad.compile.trace import Placeholder, build_graph
    >>> x = Placeholder(3.0, "x"); y = x * x
    >>> print(source(build_graph([x], [y], root=y, wrt=[x])))
    def _run(a, c):
        v0, = a
        v1 = (v0 * v0)
        g1 = 1.0
        g0 = (g1 * v0)
        g0 += (g1 * v0)
        return [v1], [g0]
    """
    t = _Templates(safe)
    lines = ["def _run(a, c):"]
    if g.inputs:
        lines.append("    " + "".join(f"v{i}, " if i >= 0 else "_, " for i in g.inputs).rstrip() + " = a")
    if g.captured_nodes:
        lines.append("    " + "".join(f"v{i}, " for i in g.captured_nodes).rstrip() + " = c")
    ops, kids = g.ops, g.kids
    for i, op in enumerate(ops):
        if op in ("sum", "dot"):
            lines.extend(_nary(i, op, kids[i]))
        elif op:
            names = {f"x{j}": f"v{k}" for j, k in enumerate(kids[i]) if type(k) is int}
            lines.append(f"    v{i} = " + t.forward(op, kids[i]).format(**names))
    need = needed(g) if type(g.root) is int else [False] * len(g)
    has = [False] * len(g)
    if type(g.root) is int and need[g.root]:
        lines.append(f"    g{g.root} = 1.0")
        has[g.root] = True
    for i in range(len(g) - 1, -1, -1):
        if not (need[i] and ops[i] and has[i]):
            continue
        ks = kids[i]
        names = {f"x{j}": f"v{k}" for j, k in enumerate(ks) if type(k) is int}
        names.update(g=f"g{i}", out=f"v{i}")
        for k, tmpl in zip(ks, t.backward(ops[i], ks)):
            if tmpl is None or not need[k]:  # type: ignore[index]
                continue
            lines.append(f"    g{k} {'+=' if has[k] else '='} " + tmpl.format(**names))  # type: ignore[index]
            has[k] = True  # type: ignore[index]
    outs = ", ".join(f"v{o}" if type(o) is int else literal(o) for o in g.outputs)
    grads = ", ".join(f"g{w}" if w >= 0 and has[w] else "0.0" for w in g.wrt)
    lines.append(f"    return [{outs}], [{grads}]")
    return "\n".join(lines)


def _build(src: str) -> Run:
    ns = dict(NAMESPACE)
    exec(compile(src, "<agrad.compile>", "exec"), ns)
    return ns["_run"]  # type: ignore[no-any-return]


class PythonProgram:
    """A graph compiled to Python; call it with the argument and captured numbers.

    >>> from agrad.compile.trace import Placeholder, build_graph
    >>> x = Placeholder(0.0, "x"); y = 1.0 / x
    >>> PythonProgram(build_graph([x], [y], root=y, wrt=[x]))([0.0], [])  # retried with IEEE kernels
    ([inf], [-inf])
    """

    def __init__(self, g: Graph) -> None:
        self.graph = g
        self.fast = _build(source(g))
        self._safe: Run | None = None

    def __call__(self, a: list[float], c: list[float]) -> tuple[list[float], list[float]]:
        try:
            return self.fast(a, c)
        except (ArithmeticError, ValueError):
            if self._safe is None:
                self._safe = _build(source(self.graph, safe=True))
            return self._safe(a, c)
