"""The graph walk: an iterative topological sort, then one pass of VJP rules.

Each node's rule comes from ``agrad.rules.RULES`` by its ``_op``. Gradients of
this walk are collected in the node's ``_g`` slot and only then added to
``.grad``, so a second ``backward()`` adds exactly once more (micrograd's walk
reads ``.grad`` as the upstream gradient and compounds: 1, 3, 6, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import Any

from agrad.anomaly import check_backward, unchecked
from agrad.modes import ANOMALY, enable_grad, mode
from agrad.rules import RULES
from agrad.tensor import Tensor, hook_result
from agrad.tensor import step as tensor_step
from agrad.value import Value, _number

_VJP = {name: p.vjp for name, p in RULES.items()}


def toposort(root: Value) -> list[Value]:
    """Every Value that root depends on, children before parents, without recursion.

    >>> a = Value(1.0, label="a"); b = a * 2; c = a + b
    >>> [v.label or v._op for v in toposort(c)]
    ['a', '*', '+']
    """
    if not isinstance(root, (Value, Tensor)):
        raise TypeError(f"toposort expects a Value or a Tensor, got {type(root).__name__}: {root!r}")
    order: list[Value] = []
    seen: set[Value] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    push, pop, visit = stack.append, stack.pop, seen.add
    while stack:
        node, done = pop()
        if done:
            order.append(node)
            continue
        if node in seen:
            continue
        visit(node)
        push((node, True))
        try:
            kids = node._children
        except AttributeError:
            raise TypeError(
                f"a node's children must be Values or floats, got {type(node).__name__}: {node!r}"
            ) from None
        for c in kids:
            if type(c) is not float and c not in seen:
                push((c, False))  # type: ignore[arg-type]
    return order


def backward(root: Value, gradient: Any = 1.0, create_graph: bool = False) -> None:
    """Add d(root)/d(node) * gradient to ``node.grad`` for every node under root.

    >>> x = Value(3.0); y = x * x
    >>> backward(y); backward(y); x.grad
    12.0
    """
    if isinstance(root, Tensor):
        root.backward(None if type(gradient) is float and gradient == 1.0 else gradient, create_graph)
        return
    if not isinstance(root, Value):
        raise TypeError(f"backward expects a Value or a Tensor, got {type(root).__name__}")
    if not isinstance(gradient, Value):
        gradient = _gradient_number(gradient, "backward's gradient")
    topo = toposort(root)
    root._g = gradient
    if create_graph:
        with enable_grad():  # as in PyTorch: asking for a graph records one, even inside no_grad()
            pull(topo, True)
    else:
        pull(topo, False)


def pull(
    order: list[Value],
    create_graph: bool,
    visit: Callable[[Value, Any], Any] | None = None,
    only: Container[Any] | None = None,
) -> None:
    """The chain rule over ``order`` (children first), from the gradients seeded in ``_g``.

    Each node, parents before children, runs its hooks (which may replace its
    gradient ``g``) and adds ``g`` to ``.grad``, or, given ``visit``, hands
    ``visit(node, g)`` the gradient instead and leaves ``.grad`` alone (the
    transforms do so; hooks run for them too, as for torch.autograd.grad).
    Then its VJP rule sends a share of ``g`` to each child's ``_g``.
    The rule runs on floats, building nothing, or, with ``create_graph``, on the
    Values themselves, so that the gradients are graphs too. Given ``only``, a
    share goes only to the children in it: a transform's walk must not write the
    ``_g`` of a Value it does not differentiate (a model's parameter may be in the
    middle of another walk, in a hook or another thread). ``order`` is consumed,
    so the walk lets go of each node as soon as it is done; a walk stopped by an
    error clears what it left in ``_g``.

    >>> x = Value(3.0); y = x * x; y._g = 1.0; seen = {}
    >>> pull(toposort(y), False, lambda v, g: seen.setdefault(v, g)); seen[x]
    6.0
    """
    check = mode.flags & ANOMALY
    try:
        while order:
            node = order.pop()
            g = node._g
            if g is None:
                continue
            node._g = None
            if node._hooks:
                g = _run_hooks(node, g)
            if type(node) is Tensor:  # type: ignore[comparison-overlap]  # arrays: shapes, constants and broadcasting are agrad.tensor's step
                tensor_step(node, g, create_graph, visit, only, check, _VJP)
                continue
            if visit is None:
                grad = node.grad
                node.grad = g if type(grad) is float and grad == 0.0 else grad + g
            else:
                g = visit(node, g)
            kids = node._children
            if not kids:
                continue
            try:
                vjp = _VJP[node._op]
            except KeyError:
                raise _unknown_op(node) from None
            if create_graph:
                # inside detect_anomaly, a nan is reported as this op's gradient, not as one of the rule's own ops
                gs = unchecked(vjp, g, node, *kids) if check else vjp(g, node, *kids)
            elif len(kids) == 2:  # most ops; unpacked by hand as this is the hottest line of the walk
                a, b = kids
                gs = vjp(g, node.data, a if type(a) is float else a.data, b if type(b) is float else b.data)  # type: ignore[union-attr]
            elif len(kids) == 1:
                (a,) = kids
                gs = vjp(g, node.data, a if type(a) is float else a.data)  # type: ignore[union-attr]
            else:
                gs = vjp(g, node.data, *[k if type(k) is float else k.data for k in kids])  # type: ignore[union-attr]
            if check:
                check_backward(node, gs)
            if only is None:
                for k, gk in zip(kids, gs):
                    if type(k) is not float:
                        kg = k._g  # type: ignore[union-attr]
                        k._g = gk if kg is None else kg + gk  # type: ignore[union-attr]
            else:
                for k, gk in zip(kids, gs):
                    if k in only:
                        kg = k._g  # type: ignore[union-attr]
                        k._g = gk if kg is None else kg + gk  # type: ignore[union-attr]
    finally:
        for node in order:
            node._g = None


def _unknown_op(node: Value) -> ValueError:
    return ValueError(
        f"backward: no derivative rule for op {node._op!r} of {node!r}; a node built by hand needs one of "
        f"the ops in agrad.RULES: {', '.join(sorted(RULES))}"
    )


def _gradient_number(g: object, what: str) -> float:
    r = _number(g)
    if r is not None:
        return r
    raise TypeError(f"{what} must be a real number or a Value, got {type(g).__name__}: {g!r}")


def _run_hooks(node: Value, g: Any) -> Any:
    for hook in list(node._hooks or ()):
        r = hook(g)
        if r is None:
            continue
        if not isinstance(r, Value):
            name = getattr(hook, "__qualname__", repr(hook))
            if type(node) is Tensor:  # type: ignore[comparison-overlap]
                r = hook_result(node, r, name)
            else:
                r = _gradient_number(r, f"the value returned by hook {name}")
        g = r
    return g
