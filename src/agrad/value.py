"""The Value type: a float that records the op that made it.

A node is five slots: ``data``, ``grad``, ``label``, ``_op`` and
``_children``, the ordered operands. An operand that is a plain number stays a
float inside ``_children``: it costs no node and gets no gradient. There is no
closure per node (micrograd's ``_backward``): the derivative of every op lives
once, in ``agrad.rules``, and ``agrad.backprop`` looks it up by ``_op``.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any, ClassVar, Union

from agrad import kernels as K
from agrad._checks import quote
from agrad.modes import ANOMALY, NO_GRAD, TRACING, mode

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

Operand = Union["Value", float]
Hook = "Callable[[Any], Any]"


def _real(x: object, what: str = "Value data") -> float:
    """Coerce int, bool, float or a NumPy real scalar to float; refuse the rest."""
    r = _number(x)
    if r is not None:
        return r
    raise TypeError(f"{what} must be a real number (int, float, bool), got {type(x).__name__}: {quote(x)}")


def _number(x: object) -> float | None:
    """A real number as float, anything else None (the reflected operators' other side)."""
    if type(x) is int or isinstance(x, numbers.Real):
        try:
            return float(x)
        except OverflowError:  # an int or Fraction beyond 1.8e308: say so, not "int too large" from deep inside
            big = type(x).__name__
            raise ValueError(f"a real number must fit a float (at most about 1.8e308), got a larger {big}") from None
    # NumPy's bool is not registered as numbers.Real, unlike its int and float scalars.
    if type(x).__module__ == "numpy" and getattr(getattr(x, "dtype", None), "kind", "") == "b":
        return float(x)  # type: ignore[arg-type]
    return None


class MixError(TypeError):
    """A Value or a forward-mode Dual met a Tensor or an array: a TypeError that names both sides.

    A transform called with floats catches it and runs ``f`` again with those floats as
    0-d Tensors, as JAX treats a float argument as a 0-d array.
    """


def _other(x: object, op: str) -> float | None:
    """A Value operator's other operand: a number as float; an array is a MixError; else None (Python's turn)."""
    o = _number(x)
    if o is None and hasattr(type(x), "__array_namespace__"):
        raise MixError(
            f"{op} mixes a Value with an array; use Tensor(v.data) for the Value (a new constant), "
            "or float(a) for a one-element array"
        )
    return o


def _operand(x: object) -> Value | float | None:
    """A Value stays itself, a real number becomes float, anything else None."""
    if isinstance(x, Value):
        return x
    return _number(x)


class Value:
    """A scalar that remembers how it was computed, so backward() can differentiate it.

    >>> a = Value(2.0, label="a"); b = Value(-3.0, label="b"); c = Value(10.0, label="c")
    >>> f = a * b + c
    >>> f.backward()
    >>> f.data, a.grad, b.grad, c.grad
    (4.0, -3.0, 2.0, 1.0)

    Values hash by identity, and ``==`` is identity, so they work as dict keys.
    ``<``, ``<=``, ``>`` and ``>=`` compare ``.data`` and return a plain bool.
    """

    __slots__ = ("__weakref__", "_children", "_g", "_hooks", "_op", "data", "grad", "label")
    __array_ufunc__ = None  # NumPy scalars defer to our reflected operators
    _constant_types: ClassVar[tuple[type, ...]] = ()  # besides float, what a child may be that is not a node

    data: float
    grad: Any  # float; a Value after backward(create_graph=True)
    label: str
    _op: str
    _children: tuple[Value | float, ...]
    _g: Any  # gradient collected during one backward walk; only agrad.backprop touches it
    _hooks: list[Callable[[Any], Any]] | None

    def __init__(
        self,
        data: float,
        _children: tuple[Value | float, ...] = (),
        _op: str = "",
        label: str = "",
    ) -> None:
        self.data = data if type(data) is float else _real(data)
        self.grad = 0.0
        self.label = label
        self._op = _op
        self._children = _children if type(_children) is tuple else tuple(_children)
        self._hooks = None  # _g needs no start value: backprop sets it before reading it
        flags = mode.flags
        if flags and _children:
            if flags & ANOMALY:  # before no_grad cuts the inputs off: the report names them
                from agrad.anomaly import check_forward

                check_forward(self)
            if flags & TRACING:  # agrad.compile keeps even a no_grad result's inputs, to recompute it per call
                from agrad.compile.trace import record

                record(self)
            elif flags & NO_GRAD:
                self._children, self._op = (), ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        NODE_TYPES.add(cls)  # a subclass's instances are nodes too: the walk and the sort know them by type

    @property
    def _prev(self) -> set[Value]:
        """The child Values as a set, as in the seed. ``_children`` keeps their order."""
        return {c for c in self._children if isinstance(c, Value)}

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data}, grad={self.grad}{label})"

    # -- arithmetic: each op makes one node; a number operand stays a float ----

    def __add__(self, other: object) -> Value:
        if isinstance(other, Value):
            return Value(self.data + other.data, (self, other), "+")
        o = other if type(other) is float else _other(other, "+")
        return NotImplemented if o is None else Value(self.data + o, (self, o), "+")

    def __radd__(self, other: object) -> Value:
        o = _other(other, "+")
        return NotImplemented if o is None else Value(o + self.data, (o, self), "+")

    def __sub__(self, other: object) -> Value:
        if isinstance(other, Value):
            return Value(self.data - other.data, (self, other), "-")
        o = other if type(other) is float else _other(other, "-")
        return NotImplemented if o is None else Value(self.data - o, (self, o), "-")

    def __rsub__(self, other: object) -> Value:
        o = _other(other, "-")
        return NotImplemented if o is None else Value(o - self.data, (o, self), "-")

    def __mul__(self, other: object) -> Value:
        if isinstance(other, Value):
            return Value(self.data * other.data, (self, other), "*")
        o = other if type(other) is float else _other(other, "*")
        return NotImplemented if o is None else Value(self.data * o, (self, o), "*")

    def __rmul__(self, other: object) -> Value:
        o = _other(other, "*")
        return NotImplemented if o is None else Value(o * self.data, (o, self), "*")

    def __truediv__(self, other: object) -> Value:
        if isinstance(other, Value):
            return Value(K.div(self.data, other.data), (self, other), "/")
        o = other if type(other) is float else _other(other, "/")
        return NotImplemented if o is None else Value(K.div(self.data, o), (self, o), "/")

    def __rtruediv__(self, other: object) -> Value:
        o = _other(other, "/")
        return NotImplemented if o is None else Value(K.div(o, self.data), (o, self), "/")

    def __pow__(self, other: object) -> Value:
        if isinstance(other, Value):
            return Value(K.pow(self.data, other.data), (self, other), "pow")
        o = other if type(other) is float else _other(other, "**")
        if o is None:
            return NotImplemented
        return Value(K.pow(self.data, o), (self, o), "**")  # x ** c, micrograd's op: only x gets a gradient

    def __rpow__(self, other: object) -> Value:
        o = _other(other, "**")
        return NotImplemented if o is None else Value(K.pow(o, self.data), (o, self), "pow")

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), "neg")

    def __pos__(self) -> Value:
        return self

    def __abs__(self) -> Value:
        """|self|; abs'(0) = 0, as in PyTorch."""
        return Value(abs(self.data), (self,), "abs")

    # -- comparisons read .data and return bool; == stays identity ------------

    def __lt__(self, other: object) -> bool:
        return self.data < _cmp(other)

    def __le__(self, other: object) -> bool:
        return self.data <= _cmp(other)

    def __gt__(self, other: object) -> bool:
        return self.data > _cmp(other)

    def __ge__(self, other: object) -> bool:
        return self.data >= _cmp(other)

    __hash__ = object.__hash__

    def __float__(self) -> float:
        return self.data

    # -- elementary functions -----------------------------------------------

    def exp(self) -> Value:
        """e ** self.

        >>> Value(0.0).exp().data
        1.0
        """
        return Value(K.exp(self.data), (self,), "exp")

    def log(self) -> Value:
        """Natural log; log(0) = -inf, log(x < 0) = nan.

        >>> Value(1.0).log().data, Value(0.0).log().data
        (0.0, -inf)
        """
        return Value(K.log(self.data), (self,), "log")

    def sqrt(self) -> Value:
        """Square root; sqrt(x < 0) = nan.

        >>> Value(9.0).sqrt().data
        3.0
        """
        return Value(K.sqrt(self.data), (self,), "sqrt")

    def tanh(self) -> Value:
        """Hyperbolic tangent; finite for every input.

        >>> Value(1000.0).tanh().data
        1.0
        """
        return Value(K.tanh(self.data), (self,), "tanh")

    def sigmoid(self) -> Value:
        """1 / (1 + e ** -self); finite for every input.

        >>> Value(0.0).sigmoid().data
        0.5
        """
        return Value(K.sigmoid(self.data), (self,), "sigmoid")

    def relu(self) -> Value:
        """max(self, 0); relu'(0) = 0.

        >>> Value(-2.0).relu().data, Value(3.0).relu().data
        (0.0, 3.0)
        """
        return Value(K.relu(self.data), (self,), "relu")

    def sin(self) -> Value:
        """Sine.

        >>> Value(0.0).sin().data
        0.0
        """
        return Value(K.sin(self.data), (self,), "sin")

    def cos(self) -> Value:
        """Cosine.

        >>> Value(0.0).cos().data
        1.0
        """
        return Value(K.cos(self.data), (self,), "cos")

    def softplus(self) -> Value:
        """log(1 + e ** self); finite for every finite input.

        >>> Value(1000.0).softplus().data
        1000.0
        """
        return Value(K.softplus(self.data), (self,), "softplus")

    def minimum(self, other: Value | float) -> Value:
        """The smaller of self and other; at a tie each gets half the gradient.

        >>> Value(2.0).minimum(3.0).data
        2.0
        """
        out: Value = _binary("min", min, self, other)
        return out

    def maximum(self, other: Value | float) -> Value:
        """The larger of self and other; at a tie each gets half the gradient.

        >>> Value(2.0).maximum(3.0).data
        3.0
        """
        out: Value = _binary("max", max, self, other)
        return out

    # -- autograd -------------------------------------------------------------

    def backward(self, gradient: Any = 1.0, create_graph: bool = False) -> None:
        """Add d(self)/d(node) * gradient to ``.grad`` of every node in the graph.

        Repeated calls accumulate, as in PyTorch. With ``create_graph=True``
        the gradients are Values that can be differentiated again.

        >>> x = Value(3.0); y = x * x
        >>> y.backward(); y.backward(); x.grad  # 2x, twice
        12.0
        >>> x.zero_grad(); y.backward(create_graph=True); dy = x.grad  # 2x, a Value
        >>> x.zero_grad(); dy.backward(); dy.data, x.grad  # d(2x)/dx
        (6.0, 2.0)
        """
        from agrad.backprop import backward

        backward(self, gradient, create_graph)

    def detach(self) -> Value:
        """A new leaf with the same data, cut off from the graph.

        >>> x = Value(3.0); y = (x * x).detach()
        >>> y.data, y._prev
        (9.0, set())
        """
        if mode.flags & TRACING:  # agrad.compile recomputes it on every call; its gradient stays zero
            return Value(self.data, (self,), "stop_gradient", self.label)
        return Value(self.data, label=self.label)

    def register_hook(self, fn: Callable[[Any], Any]) -> Callable[[], None]:
        """Call ``fn(g)`` with the gradient flowing into this node during backward (or grad, vjp, ...).

        If ``fn`` returns a number, that replaces the gradient. Returns a
        function that removes the hook.

        >>> x = Value(2.0); remove = x.register_hook(lambda g: g * 10)
        >>> (x * 3).backward(); x.grad
        30.0
        """
        if not callable(fn):
            raise TypeError(f"register_hook expects a callable, got {type(fn).__name__}")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(fn)
        hooks = self._hooks
        return lambda: hooks.remove(fn) if fn in hooks else None

    def zero_grad(self) -> None:
        """Set ``.grad`` back to 0.0.

        >>> x = Value(2.0); (x * 5).backward(); x.zero_grad(); x.grad
        0.0
        """
        self.grad = 0.0


NODE_TYPES: set[type] = {Value}
"""The classes whose instances are graph nodes: Value, its subclasses, and any other node type added here.

The walk tells a node from a constant operand by ``type(x) in NODE_TYPES``
(one set lookup per operand: a subclass check would cost a call).

>>> Value in NODE_TYPES, float in NODE_TYPES
(True, False)
"""


def _cmp(other: object) -> float:
    if isinstance(other, Value):
        return other.data
    if hasattr(other, "tangent"):  # a forward-mode Dual compares by its value, as a Value does
        return float(other)  # type: ignore[arg-type]
    return _real(other, "a Value can only be compared with a Value or a real number; the other side")


def _binary(op: str, kernel: Callable[[float, float], float], x: Any, y: Any) -> Any:
    """min or max: a float for two numbers, else one node; nan wins, as in PyTorch."""
    xo, yo = _operand(x), _operand(y)
    if xo is None or yo is None:
        name = f"{op}imum"
        bad = y if xo is not None else x
        method = getattr(bad, name, None)  # another type, such as a dual number or a Tensor, may do it itself
        if method is None:
            from agrad.tensor import array_function  # raw arrays: a rule running on a Tensor's data

            return array_function(name, bad, x if bad is y else y)
        return method(x if bad is y else y)  # min and max are symmetric
    xd = xo if type(xo) is float else xo.data  # type: ignore[union-attr]
    yd = yo if type(yo) is float else yo.data  # type: ignore[union-attr]
    r = kernel(xd, yd) if xd == xd and yd == yd else K.NAN
    return r if type(xo) is float and type(yo) is float else Value(r, (xo, yo), op)


# -- the same functions for a Value or a plain number -------------------------
# Rules in agrad.rules call these, so one rule serves floats (a fast, graph-free
# backward) and Values (a differentiable backward) alike.


def _lift(name: str, kernel: Callable[[float], float]) -> Callable[[Any], Any]:
    def fn(x: Any) -> Any:
        if type(x) is float:
            return kernel(x)
        r = _number(x)
        if r is not None:
            return kernel(r)
        method = getattr(x, name, None)
        if method is None:
            from agrad.tensor import array_function  # a raw array: a rule running on a Tensor's data

            return array_function(name, x)
        return method()

    fn.__name__ = fn.__qualname__ = name
    return fn


exp = _lift("exp", K.exp)
exp.__doc__ = """e ** x for a Value or a number.

>>> exp(0.0), exp(Value(0.0)).data
(1.0, 1.0)
"""
log = _lift("log", K.log)
log.__doc__ = """Natural log for a Value or a number; log(0) = -inf, log(-1) = nan.

>>> log(1.0), log(0.0), log(Value(1.0)).data
(0.0, -inf, 0.0)
"""
sqrt = _lift("sqrt", K.sqrt)
sqrt.__doc__ = """Square root for a Value or a number; sqrt(-1) = nan.

>>> sqrt(9.0), sqrt(Value(4.0)).data
(3.0, 2.0)
"""
tanh = _lift("tanh", K.tanh)
tanh.__doc__ = """tanh for a Value or a number; finite everywhere.

>>> tanh(0.0), tanh(Value(1000.0)).data
(0.0, 1.0)
"""
sigmoid = _lift("sigmoid", K.sigmoid)
sigmoid.__doc__ = """1 / (1 + e**-x) for a Value or a number; finite everywhere.

>>> sigmoid(0.0), sigmoid(Value(-1000.0)).data
(0.5, 0.0)
"""
relu = _lift("relu", K.relu)
relu.__doc__ = """max(x, 0) for a Value or a number; relu'(0) = 0 as in PyTorch.

>>> relu(-1.0), relu(Value(2.0)).data
(0.0, 2.0)
"""
sin = _lift("sin", K.sin)
sin.__doc__ = """sin for a Value or a number.

>>> sin(0.0), sin(Value(0.0)).data
(0.0, 0.0)
"""
cos = _lift("cos", K.cos)
cos.__doc__ = """cos for a Value or a number.

>>> cos(0.0), cos(Value(0.0)).data
(1.0, 1.0)
"""
softplus = _lift("softplus", K.softplus)
softplus.__doc__ = """log(1 + e**x) for a Value or a number, stable for any input.

>>> softplus(1000.0), round(softplus(Value(0.0)).data, 6)
(1000.0, 0.693147)
"""


def minimum(x: Any, y: Any) -> Any:
    """The smaller of x and y; at a tie each side gets half the gradient, as in PyTorch.

    >>> minimum(2.0, 3), minimum(Value(2.0), 3.0).data
    (2.0, 2.0)
    """
    return _binary("min", min, x, y)


def maximum(x: Any, y: Any) -> Any:
    """The larger of x and y; at a tie each side gets half the gradient, as in PyTorch.

    >>> maximum(2.0, 3), maximum(Value(2.0), 3.0).data
    (3.0, 3.0)
    """
    return _binary("max", max, x, y)


def sum(xs: Iterable[Any], axis: Any = None, keepdims: bool = False) -> Any:
    """x1 + x2 + ... + xn as one node, not a chain of n - 1 additions.

    Numbers alone give a float, as every agrad function does. A Tensor (or an
    array) is summed over ``axis`` (every axis by default), as ``Tensor.sum``.

    >>> sum([Value(1.0), 2.0, Value(3.0)]).data, sum([1.0, 2.0])
    (6.0, 3.0)
    """
    if type(xs) is not list and type(xs) is not tuple:
        if hasattr(xs, "shape"):  # a Tensor or an array
            from agrad.tensor import tensor_sum

            return tensor_sum(xs, axis, keepdims)
        xs = tuple(xs)
    if axis is not None or keepdims:
        raise TypeError("agrad.sum of a list of scalars takes no axis or keepdims; those are for a Tensor")
    try:
        items = tuple(_operand_or_raise(x, "sum") for x in xs)
    except TypeError:
        return _nary_elsewhere("_agrad_sum", tuple(xs))
    total = 0.0
    for x in items:
        total += x if type(x) is float else x.data  # type: ignore[union-attr]
    return Value(total, items, "sum") if _any_value(items) else total


def dot(ws: Iterable[Any], xs: Iterable[Any]) -> Any:
    """w1*x1 + ... + wn*xn as one node; children are (w1..wn, x1..xn).

    >>> dot([Value(1.0), Value(2.0)], [3.0, 4.0]).data
    11.0
    """
    return _dot(ws, xs, "dot")


def _dot(ws: Iterable[Any], xs: Iterable[Any], fn: str) -> Any:
    """dot, its errors naming ``fn``, the function the user called."""
    ws, xs = tuple(ws), tuple(xs)
    try:
        w = tuple(_operand_or_raise(v, fn) for v in ws)
        x = tuple(_operand_or_raise(v, fn) for v in xs)
    except TypeError:
        return _nary_elsewhere("_agrad_dot", ws, xs)
    if len(w) != len(x):
        raise ValueError(f"{fn} needs two sequences of the same length, got {len(w)} and {len(x)}")
    total = 0.0
    for a, b in zip(w, x):
        total += (a if type(a) is float else a.data) * (b if type(b) is float else b.data)  # type: ignore[union-attr]
    return Value(total, w + x, "dot") if _any_value(w + x) else total


def dot_relu(ws: Iterable[Any], xs: Iterable[Any]) -> Any:
    """relu(w1*x1 + ... + wn*xn) as one node: a ReLU neuron's output, its pre-activation inside it.

    One node instead of a dot and a relu is the ReLU neuron's fast path (``agrad.nn``):
    a walk visits half the nodes. relu'(z) is read from the output (relu(z) > 0
    exactly where z > 0), so the node keeps nothing more than a dot does.
    Operands of other kinds (forward-mode Duals), and any call while
    ``agrad.compile`` traces or ``detect_anomaly`` is on, give the two nodes,
    ``relu(dot(ws, xs))``: compile's code generators know those, and anomaly
    mode checks the pre-activation (relu(-inf) = 0 would hide an overflow).

    >>> n = dot_relu([Value(1.0), Value(-2.0)], [3.0, 4.0]); n.data, n._op
    (0.0, 'dot_relu')
    >>> n.backward(); [w.grad for w in n._children[:2]]  # relu'(-5) = 0
    [0.0, 0.0]
    """
    z = _dot(ws, xs, "dot_relu")
    if type(z) is not Value or mode.flags & (TRACING | ANOMALY):  # a number, a Dual; tracing, anomaly mode
        return relu(z)
    return Value(K.relu(z.data), z._children, "dot_relu" if z._children else "")  # no children under no_grad


def _nary_elsewhere(method: str, *seqs: tuple[Any, ...]) -> Any:
    """Hand sum or dot to another scalar type among the operands (a forward-mode Dual), or re-raise."""
    for x in (x for seq in seqs for x in seq):
        fn = getattr(type(x), method, None)
        if fn is not None:
            return fn(*seqs)
    raise  # the TypeError that sent us here: no operand knows this op


def _operand_or_raise(x: object, fn: str) -> Value | float:
    o = _operand(x)
    if o is None:
        raise TypeError(f"agrad.{fn} expects Values or real numbers, got {type(x).__name__}: {quote(x)}")
    return o


def _any_value(items: tuple[Value | float, ...]) -> bool:
    return any(type(x) is not float for x in items)
