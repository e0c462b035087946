"""Forward mode: a dual number carries a value and its tangent through every op.

``Dual(primal, tangent, tag)`` stands for ``primal + tangent * eps`` with
``eps ** 2 = 0``. Each op computes its primal with the op's own function and its
tangent with the op's JVP rule, both read from ``agrad.rules.RULES``: forward
mode has no calculus of its own.

Primal and tangent may be floats, Values (so reverse mode can differentiate a
forward pass) or Duals of an outer ``jvp`` (so forward mode nests). The ``tag``
says which ``jvp`` call a Dual belongs to; an op works on the newest tag among
its operands and treats every other operand as a constant. Without tags, the
inner ``jvp`` in ``x * d/dy(x * y)`` would mix the outer ``x``'s tangent into its
own, the bug known as perturbation confusion.
"""

from __future__ import annotations

import itertools
import math
import numbers
from typing import Any

from agrad._checks import quote
from agrad.modes import ANOMALY, mode
from agrad.rules import RULES, ZERO
from agrad.tensor import Tensor
from agrad.value import MixError, Value, _number

_tags = itertools.count(1)  # next() on a count is atomic in CPython, so threads get distinct tags


def new_tag() -> int:
    """A tag newer than every tag handed out so far: one per ``jvp`` call.

    >>> new_tag() < new_tag()
    True
    """
    return next(_tags)


_NARY = ("sum", "dot", "dot_relu")  # their rules call agrad.sum / agrad.dot, which want numbers, and hide no 0 * inf


def _data(x: Any) -> float:
    """The float at the bottom of a Dual, Value or number."""
    while type(x) is Dual:
        x = x.primal
    return x.data if isinstance(x, Value) else float(x)


def _scalar(x: object) -> bool:
    return isinstance(x, (Value, Dual, numbers.Real))


class Dual:
    """A number with a tangent: ``Dual(p, t, tag)`` is ``p + t * eps``.

    Every op of Value works on it, and the tangent follows the JVP rules:

    >>> import agrad
    >>> x = Dual(0.5, 1.0, new_tag())
    >>> y = agrad.sin(x) * x
    >>> round(y.primal, 6), round(y.tangent, 6)  # sin(x) * x and cos(x) * x + sin(x)
    (0.239713, 0.918217)

    ``agrad.jvp`` makes the Duals for you; you rarely build one by hand.
    """

    __slots__ = ("primal", "tag", "tangent")
    __array_ufunc__ = None

    primal: Any  # float, Value or a Dual with an older tag
    tangent: Any
    tag: int

    def __init__(self, primal: Any, tangent: Any, tag: int) -> None:
        self.primal = _number(primal) if isinstance(primal, numbers.Real) else primal
        self.tangent = 0.0 if tangent is ZERO else tangent
        self.tag = tag

    @property
    def data(self) -> float:
        """The plain float value, under every layer of tangents."""
        return _data(self)

    def __repr__(self) -> str:
        return f"Dual(primal={self.primal!r}, tangent={self.tangent!r}, tag={self.tag})"

    def __float__(self) -> float:
        return _data(self)

    __hash__ = object.__hash__

    # -- operators: each is one row of the rule table ------------------------

    def __add__(self, other: object) -> Any:
        return _binop("+", self, other)

    def __radd__(self, other: object) -> Any:
        return _binop("+", other, self)

    def __sub__(self, other: object) -> Any:
        return _binop("-", self, other)

    def __rsub__(self, other: object) -> Any:
        return _binop("-", other, self)

    def __mul__(self, other: object) -> Any:
        return _binop("*", self, other)

    def __rmul__(self, other: object) -> Any:
        return _binop("*", other, self)

    def __truediv__(self, other: object) -> Any:
        return _binop("/", self, other)

    def __rtruediv__(self, other: object) -> Any:
        return _binop("/", other, self)

    def __pow__(self, other: object) -> Any:
        if isinstance(other, numbers.Real):
            return _apply("**", self, _number(other))  # a constant exponent, as Value does
        return _binop("pow", self, other)

    def __rpow__(self, other: object) -> Any:
        return _binop("pow", other, self)

    def __neg__(self) -> Dual:
        return _apply("neg", self)

    def __pos__(self) -> Dual:
        return self

    def __abs__(self) -> Dual:
        return _apply("abs", self)

    def __lt__(self, other: object) -> bool:
        return _data(self) < _other_data(other)

    def __le__(self, other: object) -> bool:
        return _data(self) <= _other_data(other)

    def __gt__(self, other: object) -> bool:
        return _data(self) > _other_data(other)

    def __ge__(self, other: object) -> bool:
        return _data(self) >= _other_data(other)

    # -- the functions agrad.exp(x) etc. dispatch to ---------------------------

    def exp(self) -> Dual:
        """e ** self.

        >>> d = Dual(0.0, 1.0, new_tag()).exp(); d.primal, d.tangent  # e**0, and d/dx e**x = e**x
        (1.0, 1.0)
        """
        return _apply("exp", self)

    def log(self) -> Dual:
        """Natural log.

        >>> import math; d = Dual(2.0, 1.0, new_tag()).log()
        >>> d.primal == math.log(2.0), d.tangent  # d/dx log x = 1 / x
        (True, 0.5)
        """
        return _apply("log", self)

    def sqrt(self) -> Dual:
        """Square root.

        >>> d = Dual(4.0, 1.0, new_tag()).sqrt(); d.primal, d.tangent  # d/dx sqrt(x) = 1 / (2 sqrt(x))
        (2.0, 0.25)
        """
        return _apply("sqrt", self)

    def tanh(self) -> Dual:
        """Hyperbolic tangent.

        >>> import math; d = Dual(0.5, 1.0, new_tag()).tanh()
        >>> d.primal == math.tanh(0.5), math.isclose(d.tangent, 1 - math.tanh(0.5) ** 2)  # tanh' = 1 - tanh²
        (True, True)
        """
        return _apply("tanh", self)

    def sigmoid(self) -> Dual:
        """1 / (1 + e ** -self).

        >>> d = Dual(0.0, 1.0, new_tag()).sigmoid(); d.primal, d.tangent  # sigmoid' = s * (1 - s)
        (0.5, 0.25)
        """
        return _apply("sigmoid", self)

    def softplus(self) -> Dual:
        """log(1 + e ** self).

        >>> import math; d = Dual(0.0, 1.0, new_tag()).softplus()
        >>> d.primal == math.log(2.0), d.tangent  # softplus' = sigmoid, 0.5 at 0
        (True, 0.5)
        """
        return _apply("softplus", self)

    def relu(self) -> Dual:
        """max(self, 0).

        >>> [(d.primal, d.tangent) for d in (Dual(3.0, 1.0, new_tag()).relu(), Dual(-3.0, 1.0, new_tag()).relu())]
        [(3.0, 1.0), (0.0, 0.0)]
        """
        return _apply("relu", self)

    def sin(self) -> Dual:
        """Sine.

        >>> import math; d = Dual(1.0, 1.0, new_tag()).sin()
        >>> d.primal == math.sin(1.0), d.tangent == math.cos(1.0)  # sin' = cos
        (True, True)
        """
        return _apply("sin", self)

    def cos(self) -> Dual:
        """Cosine.

        >>> import math; d = Dual(1.0, 1.0, new_tag()).cos()
        >>> d.primal == math.cos(1.0), d.tangent == -math.sin(1.0)  # cos' = -sin
        (True, True)
        """
        return _apply("cos", self)

    def minimum(self, other: Any) -> Dual:
        """The smaller of self and other; a tie splits the tangent evenly.

        >>> x = Dual(2.0, 1.0, new_tag())
        >>> x.minimum(3.0).tangent, x.minimum(1.0).tangent, x.minimum(2.0).tangent  # self wins, loses, ties
        (1.0, 0.0, 0.5)
        """
        return _apply("min", self, other)

    def maximum(self, other: Any) -> Dual:
        """The larger of self and other; a tie splits the tangent evenly.

        >>> x = Dual(2.0, 1.0, new_tag())
        >>> x.maximum(1.0).tangent, x.maximum(3.0).tangent, x.maximum(2.0).tangent  # self wins, loses, ties
        (1.0, 0.0, 0.5)
        """
        return _apply("max", self, other)

    @staticmethod
    def _agrad_sum(xs: tuple[Any, ...]) -> Dual:
        """agrad.sum when a Dual is among xs: one n-ary node, as for Values."""
        return _apply("sum", *xs)

    @staticmethod
    def _agrad_dot(ws: tuple[Any, ...], xs: tuple[Any, ...]) -> Dual:
        """agrad.dot when a Dual is among ws or xs."""
        if len(ws) != len(xs):
            raise ValueError(f"dot needs two sequences of the same length, got {len(ws)} and {len(xs)}")
        return _apply("dot", *ws, *xs)


def _other_data(x: object) -> float:
    if not _scalar(x):
        raise TypeError(f"a Dual can only be compared with a Dual, a Value or a real number, got {type(x).__name__}")
    return _data(x)


def _is_array_or_tensor(a: object) -> bool:
    return isinstance(a, Tensor) or hasattr(type(a), "__array_namespace__")


def _binop(op: str, x: Any, y: Any) -> Any:
    """An operator: NotImplemented for a foreign operand, so Python can try its other side; an array is a MixError."""
    if _scalar(x) and _scalar(y):
        return _apply(op, x, y)
    if any(hasattr(type(a), "__array_namespace__") for a in (x, y)):
        raise MixError(f"{op} mixes a forward-mode Dual with an array; use Tensors, or float(a) for one element")
    return NotImplemented


def _apply(op: str, *args: Any) -> Dual:
    """Run one primitive on Duals: primal by the op's function, tangent by its JVP rule."""
    tag = 0
    for a in args:
        if type(a) is Dual:
            tag = max(tag, a.tag)
        elif not _scalar(a):
            error = MixError if _is_array_or_tensor(a) else TypeError  # a transform may retry f on Tensors
            raise error(f"agrad.{op} expects Duals, Values or real numbers, got {type(a).__name__}: {quote(a)}")
    zero = 0.0 if op in _NARY else ZERO
    primals = tuple(
        a.primal if type(a) is Dual and a.tag == tag else a if isinstance(a, (Dual, Value)) else _number(a)
        for a in args
    )
    # A tangent that is the number 0.0 is a zero too: jvp(x / y, (1e308, 0.5), (1.0, 0.0)) must not
    # meet out * 0.0 = inf * 0.0 = nan for y (the tangent is 2, as in JAX).
    dots = tuple(
        t if type(a) is Dual and a.tag == tag and (type(t := a.tangent) is not float or t != 0.0) else zero
        for a in args
    )
    rule = RULES[op]
    out = rule.fn(*primals)
    if mode.flags & ANOMALY:
        from agrad.anomaly import check_tangent, unchecked

        tangent = unchecked(rule.jvp, dots, out, *primals)
        check_tangent(op, args, out, tangent)
    else:
        tangent = rule.jvp(dots, out, *primals)
    return Dual(out, tangent, tag)


# -- Tensors: forward mode over the recorded graph ----------------------------------------


def push(order: list[Any], dots: dict[Any, Any], graph: bool) -> None:
    """Tangents through the Tensor nodes of ``order`` (children first), from those seeded in ``dots``.

    Each node's tangent is its JVP rule, from ``agrad.rules.RULES``, applied to its
    operands' tangents: the forward-mode twin of ``backprop.pull``. A Tensor runs
    its op first and records it, so its tangents follow the recorded graph instead
    of riding along in a Dual; the rules are the same. A node that no seeded
    Tensor reaches gets no tangent. With ``graph`` the rules run on the Tensors,
    so the tangents are differentiable; else on their arrays.

    >>> import numpy as np
    >>> from agrad.tensor import Tensor
    >>> from agrad.backprop import toposort
    >>> x = Tensor([1.0, 2.0], requires_grad=True); y = (x * x).sum()
    >>> dots = {x: np.array([1.0, 0.0])}; push(toposort(y), dots, False); float(dots[y])  # 2x . (1, 0)
    2.0
    """
    from agrad.tensor import _is_array, broadcast_to, quiet_walk, sum_to

    with quiet_walk():  # the rules run on raw arrays: NumPy's IEEE warnings off
        for node in order:
            if node in dots or not any(type(c) is Tensor and c in dots for c in node._children):
                continue
            args = node._children
            prim = RULES[node._op]
            # a scalar op's rule takes ZERO for a constant operand and leaves its term out (0 * inf is nan);
            # a Tensor-only rule (where, concatenate, ...) gets an array of zeros, which it can place
            x_dots = tuple(_tangent_of(a, dots, not prim.tensor_only) for a in args)
            rule = prim.jvp
            if graph:
                # constant arrays as constant Tensors: a library may refuse a Tensor on its right
                x_dots = tuple(Tensor(d) if _is_array(d) else d for d in x_dots)
                d = rule(x_dots, node, *args)
            else:
                d = rule(x_dots, node.data, *[a.data if type(a) is Tensor else a for a in args])
            if _shape(d) != node.shape:  # a term left out (ZERO) may have taken the broadcast with it: put it back
                d = broadcast_to(d, node.shape) if math.prod(_shape(d)) < math.prod(node.shape) else sum_to(d, node)
            dots[node] = d


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(getattr(x, "shape", ()))


def _tangent_of(a: Any, dots: dict[Any, Any], symbolic: bool) -> Any:
    """An operand's tangent: its own; for a constant (an array, a number, a Tensor no tangent reached) ZERO
    if ``symbolic``, else zeros of its shape; ZERO for a parameter."""
    from agrad.tensor import _is_array

    if type(a) is Tensor:
        d = dots.get(a)
        return d if d is not None else ZERO if symbolic else a._xp.zeros_like(a.data)
    if symbolic:
        return ZERO
    if _is_array(a):
        from agrad.tensor import namespace

        return namespace(a).zeros_like(a)
    if isinstance(a, numbers.Real) and not isinstance(a, bool):
        return 0.0  # a constant number: an array op's rule multiplies it, which ZERO cannot do with every library
    return ZERO  # a parameter (axis, shape, index): rules never read its tangent
