"""Explain mode: backward, narrated one chain-rule step at a time.

``explain(f)`` runs ``backward(f)`` itself, so gradients accumulate exactly as
backward() makes them, hooks included. It watches each node as the walk reaches
it (a hook that runs after the user's own) and, for that node, calls the op's
VJP rule from ``agrad.rules.RULES`` on the very arguments backward passes it, so
every number it prints is one backward computed. The same rule called with
``g = 1`` gives the local derivative, since a VJP is linear in ``g``. Only the
words come from this module: one line per op (``_LOCAL``) that says the local
derivative as a learner writes it, e.g. ``b.data`` for ``a`` in ``a * b``.
"""

from __future__ import annotations

import functools
import numbers
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agrad._checks import quote
from agrad.backprop import _gradient_number, backward
from agrad.rules import RULES
from agrad.tensor import Tensor, sum_to
from agrad.value import Value
from agrad.viz import fmt, names, reading_order

MAX_STEPS_NODES = 100  # past this the narration is too long to read

# Each op's local derivative d(out)/d(operand i) in words. ``x`` holds the
# operands as text ("a.data", or the number for a constant), ``o`` the output's.
# The phrases are Python expressions, so a test can evaluate them against RULES.
# fmt: off
_LOCAL: dict[str, Callable[[int, list[str], str], str]] = {
    "+": lambda i, x, o: "1.0",
    "-": lambda i, x, o: "1.0" if i == 0 else "-1.0",
    "*": lambda i, x, o: x[1 - i],
    "/": lambda i, x, o: f"1 / {x[1]}" if i == 0 else f"-{o} / {x[1]}",
    "neg": lambda i, x, o: "-1.0",
    "**": lambda i, x, o: f"{x[1]} * {x[0]}**({x[1]} - 1)",
    "pow": lambda i, x, o: f"{x[1]} * {x[0]}**({x[1]} - 1)" if i == 0 else f"{o} * log({x[0]})",
    "exp": lambda i, x, o: o,
    "log": lambda i, x, o: f"1 / {x[0]}",
    "sqrt": lambda i, x, o: f"0.5 / {o}",
    "tanh": lambda i, x, o: f"1 - {o}**2",
    "sigmoid": lambda i, x, o: f"{o} * (1 - {o})",
    "softplus": lambda i, x, o: f"sigmoid({x[0]})",
    "relu": lambda i, x, o: f"({x[0]} > 0)",
    "abs": lambda i, x, o: f"sign({x[0]})",
    "sin": lambda i, x, o: f"cos({x[0]})",
    "cos": lambda i, x, o: f"-sin({x[0]})",
    "min": lambda i, x, o: f"({x[i]} < {x[1 - i]}) + ({x[0]} == {x[1]}) / 2",
    "max": lambda i, x, o: f"({x[i]} > {x[1 - i]}) + ({x[0]} == {x[1]}) / 2",
    "sum": lambda i, x, o: "1.0",
    "stop_gradient": lambda i, x, o: "0.0",
    "dot": lambda i, x, o: x[(i + len(x) // 2) % len(x)],
    "dot_relu": lambda i, x, o: f"({o} > 0) * {x[(i + len(x) // 2) % len(x)]}",  # relu(z) > 0 where z > 0
}
# fmt: on


def local_phrase(op: str, i: int, operands: list[str], out: str) -> str:
    """d(out)/d(operand i) of ``op`` in words; operands and out are as they should read.

    >>> local_phrase("*", 0, ["a.data", "b.data"], "f.data")
    'b.data'
    >>> local_phrase("tanh", 0, ["n.data"], "o.data")
    '(1 - o.data**2)'
    """
    phrase = _LOCAL.get(op)
    # a primitive added to RULES without words here still narrates, less kindly
    text = phrase(i, operands, out) if phrase else f"d{out}/d{operands[i]}"
    return f"({text})" if " " in text else text  # so "* g" multiplies the whole derivative


@dataclass(frozen=True)
class Step:
    """One step of backward, as a learner writes it.

    ``kind`` is "seed" (the root's own gradient), "chain" (``target.grad +=
    local * source.grad``) or "hook" (a hook on ``target`` replaced the gradient
    collected so far with ``value``). ``source`` is the node whose rule ran,
    ``local`` the local derivative in words and ``local_value`` its number,
    ``upstream`` the source's gradient in this walk, ``value`` what
    ``target.grad`` grows by (for a hook: the gradient it now adds and passes on).

    >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    >>> s = explain(a * b, print_steps=False)[1]; s.kind, s.target, s.local, s.local_value, s.value == a.grad
    ('chain', 'a', 'b.data', -3.0, True)
    >>> print(s)
    a.grad += b.data * v1.grad = -3.0 * 1.0 = -3.0
    """

    kind: str
    target: str
    source: str
    op: str
    local: str
    local_value: Any  # a float; for a Tensor, an array (None for an op that is not elementwise)
    upstream: Any  # a float, or an array for a Tensor
    value: Any
    text: str

    def __str__(self) -> str:
        return self.text


def explain(
    root: Value,
    gradient: float = 1.0,
    max_nodes: int | None = MAX_STEPS_NODES,
    print_steps: bool = True,
) -> list[Step]:
    """Run ``backward(root, gradient)`` and narrate every chain-rule step, in order.

    Gradients accumulate exactly as ``backward()`` does (calling it twice adds
    twice). Nodes are called by their label, or v1, v2, ... (the names
    ``draw_graph`` shows). Prints the steps unless ``print_steps=False``, and
    returns them. Refuses graphs of more than ``max_nodes`` Values (None: no limit).

    >>> a = Value(2.0, label="a"); b = Value(-3.0, label="b"); f = a * b; f.label = "f"
    >>> steps = explain(f)
    f.grad += 1.0  (the seed: df/df = 1)
    a.grad += b.data * f.grad = -3.0 * 1.0 = -3.0
    b.grad += a.data * f.grad = 2.0 * 1.0 = 2.0
    >>> steps[1].value == a.grad
    True
    """
    if not isinstance(root, (Value, Tensor)):
        raise TypeError(f"explain expects a Value or a Tensor, got {type(root).__name__}: {quote(root)}")
    if isinstance(root, Tensor):
        return _explain_tensor(root, gradient, max_nodes, print_steps)
    if not isinstance(gradient, numbers.Real):
        raise TypeError(f"explain's gradient must be a real number, got {type(gradient).__name__}: {quote(gradient)}")
    gradient = _gradient_number(gradient, "explain's gradient")  # a ValueError for 10**400, as backward gives
    if max_nodes is not None and (type(max_nodes) is not int or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, got {quote(max_nodes)}")
    nodes, _ = reading_order(root)
    if max_nodes is not None and len(nodes) > max_nodes:
        raise ValueError(
            f"explain would narrate a graph of {len(nodes)} Values, more than max_nodes={max_nodes}; "
            "explain a smaller expression (an inner Value), or pass max_nodes=None to narrate it all"
        )
    name = names(nodes)
    steps: list[Step] = []
    pending: dict[Value, Any] = {}  # this walk's gradient per node, summed as backward sums it
    seed = gradient
    me = threading.get_ident()

    def watch(node: Value, g: Any) -> None:
        if threading.get_ident() != me:
            return  # another thread's backward through a shared node (a model's weight): not this walk
        n = name[node]
        if node is root:
            steps.append(
                Step("seed", n, "", "", "", 1.0, seed, seed, f"{n}.grad += {fmt(seed)}  {_seed_words(n, seed)}")
            )
        before = seed if node is root else pending.pop(node)
        if not (g == before or (g != g and before != before)):
            text = f"{n}.grad: a hook turns this pass's {fmt(before)} into {fmt(g)}, which is added and passed on"
            steps.append(Step("hook", n, n, "", "", 1.0, before, g, text))
        kids = node._children
        if not kids:
            return
        vjp = RULES[node._op].vjp
        xs = [k.data if isinstance(k, Value) else k for k in kids]
        gs = vjp(g, node.data, *xs)  # backward's own call
        ones = vjp(1.0, node.data, *xs)
        words = [f"{name[k]}.data" if isinstance(k, Value) else fmt(k) for k in kids]
        for i, k in enumerate(kids):
            if not isinstance(k, Value):
                continue
            pending[k] = gs[i] if k not in pending else pending[k] + gs[i]
            local = local_phrase(node._op, i, words, f"{n}.data")
            text = f"{name[k]}.grad += {local} * {n}.grad = {fmt(ones[i])} * {fmt(g)} = {fmt(gs[i])}"
            steps.append(Step("chain", name[k], n, node._op, local, ones[i], g, gs[i], text))

    if print_steps and any(not (type(v.grad) is float and v.grad == 0.0) for v in nodes):
        print("(.grad already holds an earlier backward's gradients; each step shows this pass, added on top)")
    return _watched(nodes, watch, lambda: backward(root, seed), steps, print_steps)


def _watched(
    nodes: list[Any], watch: Callable[[Any, Any], None], run: Callable[[], None], steps: list[Step], show: bool
) -> list[Step]:
    """Run backward with ``watch`` hooked on every node, then print the steps it noted."""
    # Registered last, so each watcher sees the gradient after the user's own hooks; removed
    # one by one, so that a hook registered meanwhile (by a hook, or another thread) stays.
    watchers = [(v, v._hooks is None, v.register_hook(functools.partial(watch, v))) for v in nodes]
    try:
        run()
    finally:
        for v, had_none, remove in watchers:
            remove()
            if had_none and not v._hooks:
                v._hooks = None
    if show:
        for s in steps:
            print(s.text)
    return steps


def _seed_words(n: str, seed: float) -> str:
    """Why the walk starts where it does: d{n}/d{n} = 1, times the gradient given to backward."""
    if seed == 1.0:
        return f"(the seed: d{n}/d{n} = 1)"
    return f"(the seed: the given gradient {fmt(seed)} times d{n}/d{n} = 1)"


# -- Tensors: the same narration, with shapes ----------------------------------------

# What a Tensor op's VJP does to g, in words, for operand i; ``x`` names the operands.
_TENSOR_WORDS: dict[str, Callable[[int, list[str]], str]] = {
    "matmul": lambda i, x: f"g @ {x[1]}ᵀ" if i == 0 else f"{x[0]}ᵀ @ g",
    "reduce_sum": lambda i, x: f"g spread over {x[0]}'s shape",
    "reduce_max": lambda i, x: "g at the maximum (ties share it)",
    "reduce_min": lambda i, x: "g at the minimum (ties share it)",
    "logsumexp": lambda i, x: f"g * softmax({x[0]})",
    "reshape": lambda i, x: f"g reshaped to {x[0]}'s shape",
    "transpose": lambda i, x: "g with its axes put back",
    "broadcast_to": lambda i, x: "g",
    "getitem": lambda i, x: f"g scattered back into {x[0]}'s shape",
    "index_add": lambda i, x: "g[index]",
    "concatenate": lambda i, x: f"g's slice for {x[i]}",
    "where": lambda i, x: "g where cond, else 0" if i == 0 else "g where not cond, else 0",
}


def _explain_tensor(root: Tensor, gradient: Any, max_nodes: int | None, print_steps: bool) -> list[Step]:
    """explain() for a Tensor: each step names the rule in words and shows the gradient's shape or numbers."""
    if max_nodes is not None and (type(max_nodes) is not int or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
    seed = root._seed(None if isinstance(gradient, numbers.Real) and gradient == 1.0 else gradient, "explain")
    nodes, _ = reading_order(root)
    if max_nodes is not None and len(nodes) > max_nodes:
        raise ValueError(f"explain would narrate a graph of {len(nodes)} Tensors, more than max_nodes={max_nodes}")
    name = names(nodes)
    steps: list[Step] = []
    me = threading.get_ident()

    def watch(node: Any, g: Any) -> None:
        if threading.get_ident() != me:
            return
        n = name[node]
        if node is root:
            steps.append(Step("seed", n, "", "", "", 1.0, g, g, f"{n}.grad += {fmt(g)}  (the seed)"))
        if not node._children:
            return
        args = node._children
        data = [a.data if isinstance(a, Tensor) else a for a in args]
        gs = RULES[node._op].vjp(g, node.data, *data)  # backward's own call
        words = [f"{name[a]}.data" if isinstance(a, Tensor) else fmt(a) if isinstance(a, float) else "c" for a in args]
        for i, a in enumerate(args):
            if not isinstance(a, Tensor) or i >= len(gs):
                continue
            share = sum_to(gs[i], a)
            if node._op in _TENSOR_WORDS:
                local, local_value = _TENSOR_WORDS[node._op](i, words).replace("g", f"{n}.grad", 1), None
                rule = local
            else:
                local = local_phrase(node._op, i, words, f"{n}.data")
                local_value = RULES[node._op].vjp(node._xp.ones_like(g), node.data, *data)[i]
                rule = f"{local} * {n}.grad"
            summed = f", summed to shape {a.shape}" if tuple(getattr(gs[i], "shape", ())) != a.shape else ""
            text = f"{name[a]}.grad += {rule}{summed} = {fmt(share)}"
            steps.append(Step("chain", name[a], n, node._op, local, local_value, g, share, text))

    return _watched(nodes, watch, lambda: root.backward(gradient=seed), steps, print_steps)
