"""The graph walk: an iterative topological sort, then one pass of VJP rules.

Each node's rule comes from ``agrad.rules.RULES`` by its ``_op``. Gradients of
this walk are collected in the node's ``_g`` slot and only then added to
``.grad``, so a second ``backward()`` adds exactly once more (micrograd's walk
reads ``.grad`` as the upstream gradient and compounds: 1, 3, 6, ...).

What a node must provide, for this walk to differentiate it (``Value`` does;
any other node type, such as an n-d array, must too):

- its type is in ``agrad.value.NODE_TYPES`` (``Value`` and every subclass of it
  are; another node class adds itself). Any other object in ``_children`` is a
  constant: it gets no gradient and reaches the rule as itself. A ``float``
  always may be one; a node class allows other constants (arrays) by listing
  their types in its ``_constant_types``;
- ``_children``: the tuple of operands, nodes and constants, in the order its
  rule takes them; ``_op``: the key of its row in ``RULES`` (``""`` for a leaf,
  which has no children);
- ``data``: what its rule is given as ``out``, and as an operand of its parents;
- ``grad``: where gradients are summed with ``+``; a float ``0.0`` or ``None`` there
  (a fresh or zeroed node) is replaced by the first gradient, not added to;
- ``_hooks``: ``None`` or a list of callables (``register_hook``);
- a ``_g`` slot, which only the walk reads or writes and which needs no start
  value: every walk sets it for each of its own nodes before reading any;
- hashing by identity (a class that defines ``__eq__`` keeps ``__hash__ = object.__hash__``);
- optionally ``_fit(gs)``: the walk hands it the shares the node's rule gave and
  sends on what it returns (a Tensor sums each share down to its operand's shape).

Nodes of type exactly ``Value`` take a hot path that tells a constant by ``is
float``; every other node type takes the general one, which asks ``NODE_TYPES``.
A rule returns one gradient per operand, or fewer when the last operands are
constants (``x ** c`` returns one); gradients must support ``+`` with each other
and with ``grad``. The
float walk (no ``create_graph``) hands a rule the operands' ``data``; with
``create_graph`` it hands it the nodes themselves. A row may also give its op's
gate, for an op that is a dot passed through a function (``Primitive.gate``:
dot's is ``g`` itself, a ReLU neuron's passes ``g`` through relu's mask); the
float walk then does dot's rule itself on the gated ``g``, in one pass over the
operand pairs that adds their shares.

A walk stopped by any exception, at any point (a KeyboardInterrupt, a hook that
raises, a second KeyboardInterrupt while it clears up) leaves nothing that a
later walk reads: a walk clears ``_g`` of every node it was given when it is
stopped, and every walk sets ``_g`` of all of its own nodes before it starts.
Two walks over shared nodes at the same time (a hook that calls ``backward()``
on an overlapping graph, two threads through one model) would share ``_g``:
they are not supported; a transform's walk writes only its own fresh nodes.

A variable that holds a node is typed ``Any``, and ``create_graph`` is any
truthy object: the optional compiled build (mypyc, ``AGRAD_COMPILE=1``) checks
declared types at run time, and a Tensor's ``data`` is an array, not the
``float`` that ``Value`` declares.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from types import FunctionType
from typing import Any

from agrad._checks import quote
from agrad.anomaly import check_backward, unchecked
from agrad.modes import ANOMALY, enable_grad, mode
from agrad.rules import RULES
from agrad.tensor import Tensor, hook_value
from agrad.value import NODE_TYPES, Value, _number

_VJP = {name: p.vjp for name, p in RULES.items()}
_GATE = {name: p.gate for name, p in RULES.items() if p.gate is not None}


def toposort(root: Value) -> list[Value]:
    """Every node that root depends on, children before parents, without recursion.

    >>> a = Value(1.0, label="a"); b = a * 2; c = a + b
    >>> [v.label or v._op for v in toposort(c)]
    ['a', '*', '+']
    """
    return _sort(root, False)


def _sort(root: Value, clear: bool) -> list[Value]:
    """toposort, and with ``clear``, ``_g = None`` on each node as it is reached (for backward's own walk).

    Clearing here costs one store per node, where a pass of its own would read
    every node from memory again. Only a walk's own sort may clear: a node can
    be in the middle of another walk (a hook's, another thread's).
    """
    if type(root) not in NODE_TYPES:
        raise TypeError(f"toposort expects a Value or a Tensor, got {type(root).__name__}: {quote(root)}")
    order: list[Value] = []
    node: Any  # a Value, a Tensor or another node type (see the module's docstring)
    seen: set[Value | float] = set()  # the nodes reached, and the float constants met
    # A None on the stack says: the node under it has had all of its children
    # pushed, so once the None is popped, that node is done (no tuple per node).
    stack: list[Value | None] = [root]
    push, pop, visit, done, nodes = stack.append, stack.pop, seen.add, order.append, NODE_TYPES
    while stack:
        node = pop()
        if node is None:
            done(pop())  # type: ignore[arg-type]
            continue
        if node in seen:
            continue
        visit(node)
        if clear:
            node._g = None
        kids = node._children
        try:
            # When every operand was reached before (a leaf; a neuron's dot, whose weights are operands of
            # its dot for every input), it is done (a graph has no cycles), and so is this node: one test
            # in C instead of the loop below. The float constants are in seen for this test.
            if seen.issuperset(kids):
                done(node)
                continue
        except TypeError:  # an operand that cannot be hashed (an array constant): the loop tells it apart
            pass
        push(node)
        push(None)
        for c in kids:
            if type(c) in nodes:
                if c not in seen:
                    push(c)
            elif type(c) is float:
                visit(c)
            elif not isinstance(c, type(node)._constant_types):
                _refuse(node, c)
    return order


def _refuse(node: Value, c: object) -> None:
    what = f"{type(c).__name__} {quote(c)}"
    raise TypeError(f"a node's children must be Values or floats, got {what} in {node!r}")


# Whether this module runs as a C extension (the optional mypyc build, AGRAD_COMPILE=1 in setup.py) and not as
# Python: a compiled module's functions are builtins. Tests that trace the walk's bytecode skip when it is.
COMPILED: bool = not isinstance(_refuse, FunctionType)


def _refuse_odd_children(order: Sequence[Value]) -> None:
    """The sort's TypeError for a hand-built node's int (or bool) operand, if there is one.

    Such an operand equal to a float constant met before passes the sort's set
    test (1 == 1.0, and so are their hashes), and the walk then fails on it with
    an AttributeError; this names it instead, at no cost to a walk that works.
    """
    nodes = NODE_TYPES
    node: Any
    for node in order:
        for c in node._children:
            if type(c) not in nodes and type(c) is not float and not isinstance(c, type(node)._constant_types):
                _refuse(node, c)


def backward(root: Value, gradient: Any = 1.0, create_graph: object = False) -> None:
    """Add d(root)/d(node) * gradient to ``node.grad`` for every node under root.

    >>> x = Value(3.0); y = x * x
    >>> backward(y); backward(y); x.grad
    12.0
    """
    if type(root) is Tensor:  # type: ignore[comparison-overlap]  # its own backward checks the gradient's shape
        root.backward(None if type(gradient) is float and gradient == 1.0 else gradient, create_graph)
        return
    if type(root) not in NODE_TYPES:
        raise TypeError(f"backward expects a Value or a Tensor, got {type(root).__name__}")
    if type(gradient) not in NODE_TYPES:
        gradient = _gradient_number(gradient, "backward's gradient")
    order = _sort(root, True)
    if create_graph:
        with enable_grad():  # as in PyTorch: asking for a graph records one, even inside no_grad()
            pull(order, ((root, gradient),), True, cleared=True)
    else:
        pull(order, ((root, gradient),), False, cleared=True)


def pull(
    order: Sequence[Value],
    seeds: Iterable[tuple[Value, Any]],
    create_graph: object,
    visit: Callable[[Value, Any], Any] | None = None,
    only: Container[Any] | None = None,
    cleared: bool = False,
) -> None:
    """The chain rule over ``order`` (children first), from the gradients ``seeds`` give its roots.

    Each node, parents before children, runs its hooks (which may replace its
    gradient ``g``) and adds ``g`` to ``.grad``, or, given ``visit``, hands
    ``visit(node, g)`` the gradient instead and leaves ``.grad`` alone (the
    transforms do so; hooks run for them too, as for torch.autograd.grad).
    Then its VJP rule sends a share of ``g`` to each child's ``_g``.
    The rule runs on the children's data, building nothing, or, with
    ``create_graph``, on the nodes themselves, so that the gradients are graphs
    too. Given ``only``, a share goes only to the children in it: a transform's
    walk must not write the ``_g`` of a Value it does not differentiate (a
    model's parameter may be in the middle of another walk, in a hook or
    another thread). Every seeded node and every child that gets a share must be
    in ``order``. The walk first sets ``_g = None`` on every node of ``order``,
    unless ``cleared`` says that its sort already did.

    >>> x = Value(3.0); y = x * x; seen = {}
    >>> pull(toposort(y), [(y, 1.0)], False, lambda v, g: seen.setdefault(v, g)); seen[x]
    6.0
    """
    node: Any
    if not cleared:
        for node in order:  # whatever a stopped walk left here is never read
            node._g = None
    nodes, vjps, gates, value, check = NODE_TYPES, _VJP, _GATE, Value, mode.flags & ANOMALY  # once per walk
    fast = not create_graph and not check
    every, inside = only is None, () if only is None else only  # the dot pass asks `every` first
    # Arrays a rule made for one operand alone (a Tensor's _fresh says so), by id, until that operand is
    # visited: a leaf takes such an array as its .grad without the copy the setter makes of any other,
    # which would double the largest gradient's memory (a first layer's weight) for a moment.
    own: dict[int, Any] = {}
    try:
        for node, g in seeds:
            kg = node._g
            node._g = g if kg is None else kg + g
        for node in reversed(order):
            g = node._g
            if g is None:
                continue
            node._g = None
            mine = own.pop(id(g), None) is g if own else False
            if node._hooks:
                mine = False  # a hook may keep the array it was shown
                g = _run_hooks(node, g)
            if visit is None:
                grad = node.grad
                if mine and grad is None and not node._children:
                    node._grad = g  # only a Tensor's share is ever its own
                else:
                    node.grad = g if (type(grad) is float and grad == 0.0) or grad is None else grad + g
            else:
                g = visit(node, g)
            kids: tuple[Any, ...] = node._children  # nodes and constants
            if not kids:
                continue
            if fast and type(node) is value:
                # The hot path. A Value's operands are Values or floats (its sort refused anything
                # else), so `is float` tells a constant; neurons, and one- and two-operand ops, most
                # of the nodes, are unpacked by hand.
                gate = gates.get(node._op)
                if gate is not None:
                    # A dot (a neuron): its rule by hand, g (through the gate) times the partner of each
                    # operand, in one pass over the pairs (w_i, x_i) that reads each number once.
                    if len(kids) & 1:
                        _refuse_unpaired(node)
                    g = gate(g, node.data)
                    for w, x in zip(kids, kids[len(kids) >> 1 :]):
                        if type(x) is float:  # a constant input (or the bias's 1.0): only w gets a share
                            if type(w) is not float and (every or w in inside):
                                gk = g * x
                                kg = w._g
                                w._g = gk if kg is None else kg + gk
                            continue
                        xd = x.data
                        if type(w) is float:
                            wd = w
                        else:
                            wd = w.data
                            if every or w in inside:
                                gk = g * xd
                                kg = w._g
                                w._g = gk if kg is None else kg + gk
                        if every or x in inside:
                            gk = g * wd
                            kg = x._g
                            x._g = gk if kg is None else kg + gk
                    continue
                # not a try: a try's own opcode lies outside the walk's handler (CPython 3.11)
                vjp = vjps.get(node._op) or _late_rule(node)
                if len(kids) == 2:
                    a, b = kids
                    gs = vjp(g, node.data, a if type(a) is float else a.data, b if type(b) is float else b.data)
                    if type(a) is not float and (only is None or a in only):
                        kg = a._g
                        a._g = gs[0] if kg is None else kg + gs[0]
                    if type(b) is not float and (only is None or b in only):  # so gs[1] is there: x ** c has one
                        kg = b._g
                        b._g = gs[1] if kg is None else kg + gs[1]
                    continue
                if len(kids) == 1:
                    (a,) = kids
                    gs = vjp(g, node.data, a if type(a) is float else a.data)
                    if type(a) is not float and (only is None or a in only):
                        kg = a._g
                        a._g = gs[0] if kg is None else kg + gs[0]
                    continue
                gs = vjp(g, node.data, *[k if type(k) is float else k.data for k in kids])
                for k, gk in zip(kids, gs):
                    if type(k) is not float and (only is None or k in only):
                        kg = k._g
                        k._g = gk if kg is None else kg + gk
                continue
            # Any node under create_graph or detect_anomaly, and other node types.
            vjp = vjps.get(node._op) or _late_rule(node)
            if len(kids) & 1 and node._op in gates:
                _refuse_unpaired(node)
            if create_graph:
                # inside detect_anomaly, a nan is reported as this op's gradient, not as one of the rule's own ops
                gs = unchecked(vjp, g, node, *kids) if check else vjp(g, node, *kids)
            else:
                gs = vjp(g, node.data, *[k.data if type(k) in nodes else k for k in kids])
            fit = getattr(node, "_fit", None)
            if fit is not None:  # a node type's own last step on its shares (a Tensor: broadcasting undone)
                gs = fit(gs)
            if check:
                check_backward(node, gs)
            fresh = getattr(node, "_fresh", None)
            for k, gk in zip(kids, gs):
                if type(k) in nodes and (only is None or k in only):
                    kg = k._g
                    if kg is None:
                        k._g = gk
                        if fresh is not None and visit is None and fresh(gk, g, gs):
                            own[id(gk)] = gk
                    else:
                        own.pop(id(kg), None)
                        k._g = kg + gk
    except BaseException as e:
        for node in order:  # stopped (an error, a hook, Ctrl-C): leave no gradient of this walk behind
            node._g = None
        if type(e) is AttributeError:
            _refuse_odd_children(order)
        raise
    finally:
        own.clear()


def _late_rule(node: Any) -> Callable[..., Any]:
    """The VJP rule of a row added to RULES after this module was loaded, or a clear error."""
    p = RULES.get(node._op)
    if p is None:
        raise ValueError(
            f"backward: no derivative rule for op {node._op!r} of {node!r}; a node built by hand needs one of "
            f"the ops in agrad.RULES: {', '.join(sorted(RULES))}"
        )
    _VJP[node._op] = p.vjp
    return p.vjp


def _refuse_unpaired(node: Any) -> None:
    """A hand-built dot (or neuron) whose operands cannot be (w1..wn, x1..xn): its rule would pair them wrongly."""
    raise ValueError(
        f"backward: an {node._op} node needs an even number of operands (w1..wn, x1..xn), "
        f"got {len(node._children)} in {node!r}"
    )


def _gradient_number(g: object, what: str) -> float:
    r = _number(g)
    if r is not None:
        return r
    raise TypeError(f"{what} must be a real number or a Value, got {type(g).__name__}: {quote(g)}")


def _run_hooks(node: Any, g: Any) -> Any:
    for hook in list(node._hooks or ()):
        r = hook(g)
        if r is None:
            continue
        if type(r) not in NODE_TYPES:
            name = getattr(hook, "__qualname__", repr(hook))
            if type(node) is Tensor:  # an array of the Tensor's shape
                r = hook_value(node, r, name)
            else:
                r = _gradient_number(r, f"the value returned by hook {name}")
        g = r
    return g
