"""Pictures of the graph: DOT text with no dependency, and a ``graphviz.Digraph`` for notebooks.

Both come from one list of DOT statements (``_statements``), so the string from
``to_dot`` and the Digraph from ``draw_graph`` always describe the same graph.
The layout is micrograd's ``draw_dot``: a record per Value (``label | data | grad``),
a small node per op, and edges child -> op -> result. A constant operand (a plain
number inside ``_children``) gets its own small node, so ``x * 2`` shows its 2.
Where operand order matters the picture says which operand is which, naming
each operand as its own node is named: the op of ``-``, ``/``, ``**`` and
``pow`` shows its formula (``a - b``, ``v1 ** 3.0``), and each edge into a
``dot`` names the product it is a factor of (``w0·x0``; a neuron's bias edge
reads ``b·1.0``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agrad._checks import quote
from agrad.tensor import Tensor, _is_array
from agrad.value import Value

if TYPE_CHECKING:
    import graphviz  # type: ignore[import-untyped]

MAX_NODES = 500  # past a few hundred nodes the picture is unreadable, and dot's layout time grows faster than n

INSTALL_DOT = (
    "the Graphviz layout program {!r} was not found on PATH. Install Graphviz: "
    "'apt-get install graphviz' (Debian/Ubuntu), 'brew install graphviz' (macOS) "
    "or 'conda install graphviz' (conda). agrad.to_dot(root) gives the DOT text without it"
)

_RANKDIRS = ("LR", "RL", "TB", "BT")


def fmt(x: Any) -> str:
    """A number as a learner reads it: ``repr`` when short, else 6 significant digits.

    A Value (a gradient from ``backward(create_graph=True)``) shows its data; an
    array (or Tensor) of up to 4 numbers shows them, a larger one its shape.

    >>> fmt(-3.0), fmt(0.7071067811865476), fmt(0.9999999999999998), fmt(1e-12), fmt(Value(2.0))
    ('-3.0', '0.707107', '1.0', '1e-12', '2.0')
    >>> import numpy as np
    >>> fmt(np.array([0.5, 2.0])), fmt(np.ones((2, 3)))
    ('[0.5, 2.0]', 'shape (2, 3)')
    """
    if isinstance(x, (Value, Tensor)):
        x = x.data
    if hasattr(x, "shape") and x.shape:
        shape = tuple(x.shape)
        if math.prod(shape) > 4:
            return f"shape {shape}"
        import numpy as np

        return "[" + ", ".join(fmt(float(v)) for v in np.asarray(x).reshape(-1)) + "]"
    r = repr(float(x))
    if len(r) > 8:
        r = f"{x:.6g}"
        if r.lstrip("-").isdigit():  # 0.9999999999999998 reads 1.0, as a float, not 1
            r += ".0"
    return r


def names(nodes: Sequence[Any]) -> dict[Any, str]:
    """Each node's label, or a short automatic name (v1, v2, ...) in the given order.

    Automatic names skip any that a label already uses.

    >>> a = Value(1.0, label="a"); b = a * 2
    >>> list(names([a, b]).values())
    ['a', 'v1']
    """
    taken = {v.label for v in nodes if v.label}
    out: dict[Any, str] = {}
    k = 0
    for v in nodes:
        if v.label:
            out[v] = v.label
            continue
        k += 1
        while f"v{k}" in taken:
            k += 1
        out[v] = f"v{k}"
    return out


_INFIX = {"-": "-", "/": "/", "**": "**", "pow": "**"}  # ops whose operand order matters, as a formula writes them


def _op_label(op: str, operands: Sequence[str]) -> str:
    """The op node's text: the formula, named, where operand order matters (``a - b``); else the op.

    >>> _op_label("-", ["2.0", "x"]), _op_label("pow", ["a", "b"]), _op_label("*", ["a", "b"])
    ('2.0 - x', 'a ** b', '*')
    """
    if op in _INFIX and len(operands) == 2:
        return f"{operands[0]} {_INFIX[op]} {operands[1]}"
    return op


def _edge_labels(op: str, operands: Sequence[str]) -> list[str] | None:
    """Each incoming edge's label for a ``dot`` (or a ReLU neuron's ``dot_relu``): the product it is a factor of
    (``w0·x0``); None for other ops.

    >>> _edge_labels("dot", ["b", "w0", "1.0", "x0"]), _edge_labels("+", ["a", "b"])
    (['b·1.0', 'w0·x0', 'b·1.0', 'w0·x0'], None)
    """
    if op not in ("dot", "dot_relu"):
        return None
    k = len(operands) // 2
    terms = [f"{operands[i]}·{operands[k + i]}" for i in range(k)]
    return terms + terms


def reading_order(root: Any, depth: int | None = None) -> tuple[list[Any], set[Any]]:
    """root's Values, farthest inputs first and root last, and the frontier where ``depth`` cuts.

    Breadth first from root, so each node sits at its shortest distance from
    root; the levels run from the farthest inputs up to root, each level in
    operand order, which for most expressions is the order they were written in
    (automatic names v1, v2, ... follow it). The frontier holds the nodes
    ``depth`` ops above root: they are drawn, their inputs are not.

    >>> a = Value(1.0, label="a"); b = Value(2.0, label="b"); c = Value(3.0, label="c")
    >>> order, frontier = reading_order(a * b + c)
    >>> [names(order)[v] for v in order], frontier
    (['a', 'b', 'v1', 'c', 'v2'], set())
    """
    if not isinstance(root, (Value, Tensor)):
        raise TypeError(f"expected the Value or Tensor whose graph to draw, got {type(root).__name__}: {quote(root)}")
    if depth is not None and (type(depth) is not int or depth < 0):
        raise ValueError(f"depth must be a non-negative int (ops above root to draw) or None, got {quote(depth)}")
    seen: set[Any] = {root}
    levels: list[list[Any]] = [[root]]
    frontier: set[Any] = set()
    while levels[-1]:
        if depth is not None and len(levels) > depth:
            frontier = {v for v in levels[-1] if v._children}
            break
        below: list[Any] = []
        for v in levels[-1]:
            for c in v._children:
                if isinstance(c, (Value, Tensor)) and c not in seen:
                    seen.add(c)
                    below.append(c)
        levels.append(below)
    return [v for level in reversed(levels) for v in level], frontier


def _operands(v: Any) -> tuple[list[Any], str]:
    """The operands to draw (nodes and constants) and, for a Tensor op, its parameters as text.

    A Tensor node's ``_children`` hold its constants (arrays, numbers) and parameters (an axis,
    a shape, an index) beside its Tensors.
    """
    if not isinstance(v, Tensor):
        return list(v._children), ""
    import inspect

    from agrad.rules import RULES

    # the parameters are named as the op's VJP rule names them: axis, keepdims, shape, index, ...
    spec = list(inspect.signature(RULES[v._op].vjp).parameters.values())[2:] if v._op in RULES else []
    operands, params = [], []
    for i, a in enumerate(v._children):
        if isinstance(a, Tensor) or _is_array(a) or (isinstance(a, float) and not isinstance(a, bool)):
            operands.append(a)
        else:
            named = i < len(spec) and spec[i].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
            params.append(f"{spec[i].name}={_param(a)}" if named else _param(a))
    return operands, ", ".join(params)


def _param(a: Any) -> str:
    if isinstance(a, tuple) and any(_is_array(i) for i in a):
        return "[" + ", ".join("array" if _is_array(i) else repr(i) for i in a) + "]"
    return repr(a)


def _esc(text: str) -> str:
    """Escape a user label for a field of a quoted DOT record label."""
    for ch in '\\{}|<>"':
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", " ")


def _quoted(text: str) -> str:
    """Escape text for a plain quoted DOT label (an op's formula, an edge): only backslash and quote are special."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _check_rankdir(rankdir: str) -> None:
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(_RANKDIRS)}, got {quote(rankdir)}")


def _statements(root: Value, rankdir: str, show_grad: bool, max_nodes: int | None, depth: int | None) -> list[str]:
    """The DOT statements for root's graph: the one description both views share."""
    _check_rankdir(rankdir)
    if max_nodes is not None and (type(max_nodes) is not int or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, got {quote(max_nodes)}")
    nodes, frontier = reading_order(root, depth)
    inner = [v for v in nodes if v._children and v not in frontier]
    n_const = 0
    for v in inner:
        n_const += sum(1 for c in _operands(v)[0] if not isinstance(c, (Value, Tensor)))
    total = len(nodes) + len(inner) + n_const
    if max_nodes is not None and total > max_nodes:
        raise ValueError(
            f"this graph has {total} nodes to draw ({len(nodes)} Values, {len(inner)} ops, "
            f"{n_const} constants), more than max_nodes={max_nodes}; laying out that many can take "
            "Graphviz minutes. Draw part of it with depth=N (only the last N ops above root) "
            "or by drawing an inner Value, or pass max_nodes=None to draw it all anyway"
        )
    name = names(nodes)
    ids = {v: f"n{i}" for i, v in enumerate(nodes)}
    flip = rankdir in ("LR", "RL")  # record fields stack across the rank direction unless braced
    # ordering=in keeps operands in order (a above b in a * b), as a learner wrote them.
    out = [
        f"rankdir={rankdir} ordering=in",
        "node [fontname=Helvetica fontsize=11]",
        "edge [arrowsize=0.7 fontname=Helvetica fontsize=9]",
    ]
    for v in nodes:
        fields = [_esc(name[v]), f"data {fmt(v.data)}"]
        if isinstance(v, Tensor) and v.shape and math.prod(v.shape) <= 4:
            fields.insert(1, f"shape {v.shape}")  # a Tensor always shows its shape (fmt shows it when larger)
        if show_grad:
            fields.append("grad None" if v.grad is None else f"grad {fmt(v.grad)}")
        body = " | ".join(fields)
        label = f"{{ {body} }}" if flip else body
        style = ' style=dashed tooltip="inputs not drawn (depth)"' if v in frontier else ""
        out.append(f'{ids[v]} [label="{label}" shape=record{style}]')
        if not v._children or v in frontier:
            continue
        op = f"{ids[v]}_op"
        operands, params = _operands(v)
        texts = [name[c] if isinstance(c, (Value, Tensor)) else fmt(c) for c in operands]
        title = _op_label(v._op, texts) + (f" {params}" if params else "")  # a Tensor op's axis, shape, index
        out.append(f'{op} [label="{_quoted(title)}" shape=ellipse height=0.3 margin=0.02]')
        tags = _edge_labels(v._op, texts)
        for j, c in enumerate(operands):
            if isinstance(c, (Value, Tensor)):
                tail = ids[c]
            else:
                tail = f"{ids[v]}_k{j}"
                out.append(f'{tail} [label="{fmt(c)}" shape=plaintext fontcolor=gray35]')
            out.append(f'{tail} -> {op} [label="{_quoted(tags[j])}"]' if tags else f"{tail} -> {op}")
        out.append(f"{op} -> {ids[v]}")
    return out


def to_dot(
    root: Value,
    rankdir: str = "LR",
    show_grad: bool = True,
    max_nodes: int | None = MAX_NODES,
    depth: int | None = None,
) -> str:
    """The DOT source of root's graph as a string; needs no Graphviz at all.

    Paste it into any Graphviz viewer, or run ``dot -Tsvg``. Arguments as in
    ``draw_graph``.

    >>> a = Value(2.0, label="a"); b = Value(-3.0, label="b"); f = a * b; f.label = "f"
    >>> f.backward()
    >>> dot = to_dot(f)
    >>> dot.startswith("digraph {"), '[label="{ a | data 2.0 | grad -3.0 }" shape=record]' in dot
    (True, True)
    """
    return "digraph {\n" + "".join(f"\t{s}\n" for s in _statements(root, rankdir, show_grad, max_nodes, depth)) + "}\n"


def draw_graph(
    root: Value,
    rankdir: str = "LR",
    show_grad: bool = True,
    max_nodes: int | None = MAX_NODES,
    depth: int | None = None,
) -> graphviz.Digraph:
    """root's graph as a ``graphviz.Digraph``, drawn as micrograd's ``draw_dot``.

    One record per Value (``label | data | grad``; unlabeled Values get v1, v2, ...,
    the names ``agrad.explain`` uses), one small node per op, edges child -> op ->
    result. It shows inline in Jupyter; ``.render()`` writes a file and
    ``.pipe(format="png")`` returns the bytes (both need the Graphviz ``dot`` program).
    ``rankdir`` is "LR", "RL", "TB" or "BT". Past ``max_nodes`` drawn nodes (Values,
    ops and constants) it raises ValueError rather than hand Graphviz a graph that
    takes minutes to lay out; ``depth=N`` draws only the last N ops above root, and
    ``max_nodes=None`` draws everything. Needs ``pip install "agrad[viz]"``.

    >>> a = Value(2.0, label="a"); f = a * a + 1
    >>> g = draw_graph(f)
    >>> type(g).__mro__[1].__name__, g.source == to_dot(f)
    ('Digraph', True)
    """
    lines = _statements(root, rankdir, show_grad, max_nodes, depth)
    return _digraph_class()(body=[f"\t{s}\n" for s in lines], format="svg")


@functools.cache
def _digraph_class() -> type[graphviz.Digraph]:
    """A Digraph whose rendering, when ``dot`` is missing, says how to install it."""
    try:
        import graphviz
    except ImportError as e:
        raise ModuleNotFoundError(
            'draw_graph needs the graphviz Python package: pip install "agrad[viz]" '
            "(or pip install graphviz), plus the Graphviz dot program. "
            "agrad.to_dot(root) gives the DOT text without either",
            name="graphviz",
        ) from e

    class DotNotFound(graphviz.ExecutableNotFound):  # type: ignore[misc]
        _msg = INSTALL_DOT

    class Digraph(graphviz.Digraph):  # type: ignore[misc]
        # Jupyter's display, .view() and .save-and-render all go through these two.
        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().pipe(*args, **kwargs)
            except graphviz.ExecutableNotFound as e:
                raise DotNotFound([self.engine]) from e

        def render(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().render(*args, **kwargs)
            except graphviz.ExecutableNotFound as e:
                raise DotNotFound([self.engine]) from e

    return Digraph
