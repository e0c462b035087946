"""Derivative code from the rule table: run each VJP rule once on symbols.

The compiled executors never hand-write a derivative. For each op they call
its rule from ``agrad.rules`` once, on ``Sym`` operands: ``mul_vjp(g, out, x, y)``
returns the expressions ``g * y`` and ``g * x``. The expressions are then
rendered as Python (one line per node) or as NumPy (one line per group of
nodes).

Some rules branch on data: relu's gradient is ``g * step(x)``, and ``step`` is
``0.0 if x <= 0.0 else 1.0``. A comparison of symbols gives a ``Cond``; when
Python asks for its truth, the current *path* answers, and we run the rule
again with the other answer. The two results are joined by a ``where`` node,
so relu's gradient becomes ``where(x <= 0.0, g * 0.0, g * 1.0)``, derived from
the same line of the table that eager backward runs.

``Sym`` subclasses ``Value`` only so that the table's ``_d(x)`` (the number
inside a Value) hands back the symbol itself: ``Sym.data`` is the symbol.
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import Callable, Sequence
from typing import Any

from agrad import kernels as K
from agrad.rules import RULES
from agrad.value import Value

Expr = Any  # a Sym, a Cond or a float constant

_lock = threading.Lock()
_paths: list[_Path] = []


class Cond:
    """A comparison of symbols; its truth comes from the path being explored."""

    __slots__ = ("args", "op")

    def __init__(self, op: str, args: tuple[Expr, ...]) -> None:  # a comparison, or a test such as isfinite
        self.op, self.args = op, args

    def __bool__(self) -> bool:
        return _paths[-1].decide(self)

    # K.sign computes (x > 0) - (x < 0) on bools: answer each, then subtract ints.
    def __sub__(self, other: object) -> int:
        return int(bool(self)) - int(bool(other))

    def __rsub__(self, other: object) -> int:
        return int(bool(other)) - int(bool(self))

    def __add__(self, other: object) -> int:
        return int(bool(self)) + int(bool(other))

    __radd__ = __add__

    def __int__(self) -> int:
        return int(bool(self))

    def __float__(self) -> float:
        return float(bool(self))


class _Path:
    """The answers to a rule's branches: a fixed prefix, then True for each new question."""

    def __init__(self, prefix: tuple[bool, ...]) -> None:
        self.prefix = prefix
        self.asked: list[Cond] = []

    def decide(self, cond: Cond) -> bool:
        i = len(self.asked)
        self.asked.append(cond)
        return self.prefix[i] if i < len(self.prefix) else True


def _c(x: object) -> Expr:
    if isinstance(x, Sym):
        return x
    if isinstance(x, bool | int | float):
        return float(x)
    return NotImplemented


def _binop(op: str, reflected: bool = False) -> Callable[[Sym, object], Any]:
    def fn(self: Sym, other: object) -> Any:
        o = _c(other)
        if o is NotImplemented:
            return NotImplemented
        return make(op, (o, self) if reflected else (self, o))

    return fn


def _cmp(op: str) -> Callable[[Sym, object], Any]:
    def fn(self: Sym, other: object) -> Any:
        o = _c(other)
        return NotImplemented if o is NotImplemented else Cond(op, (self, o))

    return fn


def _unary(op: str) -> Callable[[Sym], Any]:
    def fn(self: Sym) -> Any:
        return make(op, (self,))

    return fn


class Sym(Value):
    """An expression over named slots (``g``, ``out``, ``x0``, ...), built by running rules on it.

    >>> g, x = slot("g"), slot("x0")
    >>> to_python(g * x.cos(), {"g": "g", "x0": "x"})
    '(g * _cos(x))'
    """

    __slots__ = ("args", "op")
    args: tuple[Expr, ...]

    def __init__(self, op: str, args: tuple[Expr, ...]) -> None:  # no Value state: a symbol has no number
        self.op, self.args = op, args

    @property
    def data(self) -> Sym:  # type: ignore[override]
        """The symbol itself, so rules that branch on ``_d(x)`` branch on a ``Cond``."""
        return self

    __hash__ = object.__hash__
    __add__, __radd__ = _binop("add"), _binop("add", True)
    __sub__, __rsub__ = _binop("sub"), _binop("sub", True)
    __mul__, __rmul__ = _binop("mul"), _binop("mul", True)
    __truediv__, __rtruediv__ = _binop("div"), _binop("div", True)
    __pow__, __rpow__ = _binop("pow"), _binop("pow", True)
    __lt__, __le__, __gt__, __ge__ = _cmp("<"), _cmp("<="), _cmp(">"), _cmp(">=")
    __eq__, __ne__ = _cmp("=="), _cmp("!=")
    __neg__, __abs__ = _unary("neg"), _unary("abs")
    exp, log, sqrt, tanh, sigmoid = _unary("exp"), _unary("log"), _unary("sqrt"), _unary("tanh"), _unary("sigmoid")
    relu, sin, cos, softplus = _unary("relu"), _unary("sin"), _unary("cos"), _unary("softplus")

    def __bool__(self) -> bool:
        raise TypeError("a symbolic number has no truth value; compare it first")

    def __repr__(self) -> str:
        return to_python(self, {})


def slot(name: str) -> Sym:
    """A named input of an expression: ``g``, ``out`` or an operand ``x0``, ``x1``, ...

    >>> slot("x0").op, slot("x0").args
    ('slot', ('x0',))
    """
    return Sym("slot", (name,))


def make(op: str, args: tuple[Expr, ...]) -> Sym | float:
    """``op(*args)``, dropping a multiplication by exactly 1.0 (bit-exact for every float)."""
    if op == "mul":
        a, b = args
        if type(b) is float and b == 1.0:
            return a  # type: ignore[no-any-return]
        if type(a) is float and a == 1.0:
            return b  # type: ignore[no-any-return]
    return Sym(op, args)


def _shape(e: Expr) -> Any:
    """A hashable picture of an expression: equal pictures compute the same thing."""
    if isinstance(e, Sym | Cond):
        return (e.op, *[_shape(a) for a in e.args])
    return repr(e)  # a float (repr tells -0.0 from 0.0) or a slot name


def _same(a: Expr, b: Expr) -> bool:
    return a is b or _shape(a) == _shape(b)


def where(cond: Cond, a: Expr, b: Expr) -> Expr:
    """``a if cond else b``; a no-op when both branches are the same expression."""
    return a if _same(a, b) else Sym("where", (cond, a, b))


class _Module:
    """A stand-in for ``math`` or ``agrad.kernels`` in the copy of the rule table that runs on symbols.

    Rules may test their operands with plain-number functions, such as
    ``math.isfinite(K.pow(x, -1.0))``. On numbers these stay the real functions;
    given a symbol they build the expression (or the condition) instead.
    """

    def __init__(self, module: Any, ops: dict[str, Callable[..., Any]]) -> None:
        self._module, self._ops = module, ops

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._module, name)
        sym = self._ops.get(name)
        if sym is None:
            return real

        def fn(*args: Any) -> Any:
            return sym(*args) if any(isinstance(a, Sym) for a in args) else real(*args)

        return fn


def _sym_op(op: str) -> Callable[..., Any]:
    return lambda *args: make(op, tuple(_c(a) for a in args))


_KERNELS = _Module(
    K,
    {
        name: _sym_op(name)
        for name in ("div", "pow", "exp", "log", "sqrt", "sin", "cos", "sigmoid", "softplus", "tanh", "relu")
    },
)


def _test(op: str) -> Callable[[Any], Cond]:
    return lambda x: Cond(op, (x,))


_MATH = _Module(math, {name: _test(name) for name in ("isfinite", "isnan", "isinf")})


def explore(fn: Callable[[], Sequence[Expr]]) -> tuple[Expr, ...]:
    """Run ``fn`` on symbols along every path of its branches; join the results with ``where``.

    >>> relu_grad, = explore(lambda: symbolic_rule(RULES["relu"].vjp)(slot("g"), slot("out"), slot("x0")))
    >>> to_python(relu_grad, {"g": "g", "x0": "x"})
    '((g * 0.0) if (x <= 0.0) else g)'
    """
    with _lock:  # the path stack is shared
        return _explore(fn, ())


_copies: dict[Callable[..., Any], Callable[..., Any]] | None = None


def symbolic_rule(rule: Callable[..., Any]) -> Callable[..., Any]:
    """``rule`` rebound to a private copy of ``agrad.rules``' namespace whose ``math`` and ``K`` take symbols.

    Every function of the rules module is copied into that namespace, so a rule and the
    helpers it calls (``_dpow_dx`` calls ``math.isfinite(K.pow(...))``) read the stand-ins,
    while the real module, which other threads may be running, is never touched.

    >>> import agrad.rules
    >>> symbolic_rule(agrad.rules.pow_vjp).__globals__["math"] is _MATH, agrad.rules.math is math
    (True, True)
    """
    global _copies
    if _copies is None:
        import types

        import agrad.rules

        real = vars(agrad.rules)
        ns = dict(real, math=_MATH, K=_KERNELS)
        copies: dict[Callable[..., Any], Callable[..., Any]] = {}
        for name, f in real.items():
            if isinstance(f, types.FunctionType) and f.__globals__ is real:
                ns[name] = copies[f] = types.FunctionType(f.__code__, ns, f.__name__, f.__defaults__, f.__closure__)
        # gradient code is never differentiated again: rules take their forms for numbers
        ns["_differentiable"] = _never
        _copies = copies  # one assignment: another thread sees no table or a whole one
    return _copies.get(rule, rule)


def _never(x: Any) -> bool:
    return False


def _explore(fn: Callable[[], Sequence[Expr]], prefix: tuple[bool, ...]) -> tuple[Expr, ...]:
    path = _Path(prefix)
    _paths.append(path)
    try:
        out = tuple(_c(x) if not isinstance(x, Sym) else x for x in fn())
    finally:
        _paths.pop()
    if len(path.asked) <= len(prefix):
        return out
    cond = path.asked[len(prefix)]
    yes, no = _explore(fn, (*prefix, True)), _explore(fn, (*prefix, False))
    return tuple(where(cond, a, b) for a, b in zip(yes, no))


_cache: dict[tuple[str, int], tuple[Expr, ...]] = {}


def vjp_exprs(op: str, arity: int) -> tuple[Expr, ...]:
    """The gradient expression for each operand of ``op``, from ``RULES[op].vjp``.

    Slots: ``g`` (incoming gradient), ``out`` (the node's value), ``x0``..``x{arity-1}``
    (operands). Cached per (op, arity); callers fold in constant operands (``fold``)
    and skip their gradients.

    >>> [to_python(e, {"g": "g", "x0": "a", "x1": "b"}) for e in vjp_exprs("*", 2)]
    ['(g * b)', '(g * a)']
    """
    key = (op, arity)
    hit = _cache.get(key)
    if hit is None:
        rule = symbolic_rule(RULES[op].vjp)
        xs = [slot(f"x{i}") for i in range(arity)]
        hit = _cache[key] = explore(lambda: rule(slot("g"), slot("out"), *xs))
    return hit


# -- evaluating and folding ------------------------------------------------------

_FLOAT: dict[str, Callable[..., float]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": K.div,
    "neg": operator.neg,
    "pow": K.pow,
    "abs": abs,
    "exp": K.exp,
    "log": K.log,
    "sqrt": K.sqrt,
    "tanh": K.tanh,
    "sigmoid": K.sigmoid,
    "softplus": K.softplus,
    "relu": K.relu,
    "sin": K.sin,
    "cos": K.cos,
}
_CMP: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def fold(e: Expr, consts: dict[str, float]) -> Expr:
    """e with the slots in ``consts`` replaced by numbers, and constant parts computed.

    >>> to_python(fold(slot("g") * slot("x1") ** (slot("x1") - 1.0), {"x1": 2.0}), {"g": "g"})
    '(g * 2.0)'
    """
    if not isinstance(e, Sym):
        return e
    if e.op == "slot":
        return consts.get(e.args[0], e)
    if e.op == "where":
        c = fold_cond(e.args[0], consts)
        a, b = fold(e.args[1], consts), fold(e.args[2], consts)
        if isinstance(c, bool):
            return a if c else b
        return where(c, a, b)
    args = tuple(fold(a, consts) for a in e.args)
    if all(type(a) is float for a in args):
        return _FLOAT[e.op](*args)
    if e.op == "pow" and type(args[1]) is float and args[1] == 1.0:
        return args[0]  # x ** 1.0 is x exactly (C's pow), nan and signed zeros included
    return make(e.op, args)


def fold_cond(c: Cond, consts: dict[str, float]) -> Cond | bool:
    """A condition with constants filled in: a bool once both sides are numbers."""
    if len(c.args) == 1:
        a = fold(c.args[0], consts)
        return bool(getattr(math, c.op)(a)) if type(a) is float else Cond(c.op, (a,))
    a, b = fold(c.args[0], consts), fold(c.args[1], consts)
    if type(a) is float and type(b) is float:
        return _CMP[c.op](a, b)
    return Cond(c.op, (a, b))


# -- rendering -------------------------------------------------------------------------


def literal(x: float) -> str:
    """A float as Python source that reads back bit for bit.

    >>> literal(0.1), literal(-2.0), literal(float("inf")), literal(float("nan"))
    ('0.1', '(-2.0)', '_inf', '_nan')
    """
    if x != x:
        return "_nan"
    if x in (math.inf, -math.inf):
        return "_inf" if x > 0 else "(-_inf)"
    r = repr(x)
    return f"({r})" if r.startswith("-") else r


# Python source per op: FAST raises on edge cases (1/0, math.log(0), overflow) and is
# retried with SAFE, which calls agrad's IEEE kernels, so the fast path stays inline.
_PY: dict[str, str] = {
    "add": "({0} + {1})",
    "sub": "({0} - {1})",
    "mul": "({0} * {1})",
    "div": "({0} / {1})",
    "neg": "(-{0})",
    "abs": "abs({0})",
    "exp": "_exp({0})",
    "log": "_log({0})",
    "sqrt": "_sqrt({0})",
    "tanh": "_tanh({0})",
    "sigmoid": "_sigmoid({0})",
    "softplus": "_softplus({0})",
    "relu": "_relu({0})",
    "sin": "_sin({0})",
    "cos": "_cos({0})",
    "min": "_min({0}, {1})",
    "max": "_max({0}, {1})",
    "where": "({1} if {0} else {2})",
}
_PY_SAFE = {**_PY, "div": "_div({0}, {1})", "pow": "_pow({0}, {1})"}
_PY_SAFE.update({k: f"_k{k}({{0}})" for k in ("exp", "log", "sqrt", "sin", "cos")})

_NP: dict[str, str] = {
    **_PY,
    "pow": "_np.power({0}, {1})",
    "abs": "_np.abs({0})",
    "exp": "_np.exp({0})",
    "log": "_np.log({0})",
    "sqrt": "_np.sqrt({0})",
    "tanh": "_np.tanh({0})",
    "sigmoid": "_npsigmoid({0})",
    "softplus": "_npsoftplus({0})",
    "relu": "_nprelu({0})",
    "sin": "_np.sin({0})",
    "cos": "_np.cos({0})",
    "min": "_np.minimum({0}, {1})",
    "max": "_np.maximum({0}, {1})",
    "where": "_np.where({0}, {1}, {2})",
}


# C source per op, for the native executor: C's math library already has IEEE edges
# (log(0) = -inf, exp overflow = inf, pow as K.pow); the helpers mirror agrad's kernels.
_C: dict[str, str] = {
    **_PY,
    "pow": "pow({0}, {1})",
    "abs": "fabs({0})",
    "exp": "exp({0})",
    "log": "log({0})",
    "sqrt": "sqrt({0})",
    "tanh": "tanh({0})",
    "sin": "sin({0})",
    "cos": "cos({0})",
    "where": "({0} ? {1} : {2})",
}


# The same for a vector of samples at once (GCC vector types): each function a per-lane helper, and
# ``where`` a bitwise select, since C's ?: takes no vector condition.
_CV: dict[str, str] = {
    **_C,
    **{op: f"V_{op}({{0}})" for op in ("exp", "log", "sqrt", "tanh", "sin", "cos", "sigmoid", "softplus", "relu")},
    "abs": "V_fabs({0})",
    "pow": "V_pow({0}, {1})",
    "min": "V_min({0}, {1})",
    "max": "V_max({0}, {1})",
    "where": "V_sel({0}, {1}, {2})",
}


def _simple(s: str) -> bool:
    """A name, a number or a template field: safe to write twice in one expression."""
    return s.isidentifier() or s.replace(".", "", 1).isdigit() or (s[:1] == "{" and s[1:-1].isidentifier())


def _py_pow(a: str, b: Expr, bs: str, safe: bool) -> str:
    # Python's float ** float turns complex for a negative base and a fractional
    # exponent, so only an integral constant exponent may use ** (or x * x).
    if not safe and type(b) is float and b.is_integer() and abs(b) < 2**53:
        if b == 2.0 and _simple(a):
            return f"({a} * {a})"
        return f"({a} ** {bs})"
    return f"_pow({a}, {bs})" if safe else f"_mpow({a}, {bs})"


def _factor(e: Expr) -> tuple[Expr, float]:
    """e as (b, k) with e = b * k for a constant k (k = 1.0 if e has no such factor)."""
    if isinstance(e, Sym) and e.op == "mul" and type(e.args[1]) is float:
        return e.args[0], e.args[1]
    return e, 1.0


def _np_mask_parts(e: Sym, names: dict[str, str]) -> tuple[str, str] | None:
    """``where(c, b * 0.0, b)`` as the factors of ``b * ~c``: the same numbers (b * 1.0 is b,
    b * 0.0 is b * 0.0), but no branch per element, which NumPy's where mispredicts on mixed signs."""
    c, (a, ka), (b, kb) = e.args[0], _factor(e.args[1]), _factor(e.args[2])
    if not _same(a, b) or {repr(ka), repr(kb)} != {"0.0", "1.0"} or not isinstance(c, Cond) or len(c.args) != 2:
        return None
    mask = render(c, names, _NP)
    return render(a, names, _NP), mask if ka == 1.0 else "~" + mask


def _np_mask(e: Sym, names: dict[str, str]) -> str | None:
    parts = _np_mask_parts(e, names)
    return None if parts is None else f"({parts[0]} * {parts[1]})"


_UFUNC = {
    "add": "add",
    "sub": "subtract",
    "mul": "multiply",
    "div": "divide",
    "neg": "negative",
    "pow": "power",
    "abs": "absolute",
    "exp": "exp",
    "log": "log",
    "sqrt": "sqrt",
    "tanh": "tanh",
    "sin": "sin",
    "cos": "cos",
    "min": "minimum",
    "max": "maximum",
}


def to_numpy_into(e: Expr, names: dict[str, str], out: str) -> str:
    """A statement that computes e into ``out`` (a view of a store), the last op writing in place.

    >>> to_numpy_into(slot("g") * slot("x0"), {"g": "G", "x0": "X"}, "V[0:4]")
    '_np.multiply(G, X, out=V[0:4])'
    """
    if isinstance(e, Sym):
        args: list[str] | None = None
        fn = _UFUNC.get(e.op)
        if fn is not None:
            args = [render(a, names, _NP) for a in e.args]
        elif e.op == "relu":
            fn, args = "maximum", [render(e.args[0], names, _NP), "0.0"]
        elif e.op == "where":
            parts = _np_mask_parts(e, names)
            fn, args = "multiply", None if parts is None else list(parts)
        if args is not None:
            return f"_np.{fn}({', '.join(args)}, out={out})"
    return f"{out}[...] = {to_numpy(e, names)}"


def render(e: Expr, names: dict[str, str], table: dict[str, str], safe: bool = False) -> str:
    """e as source text, with slots replaced by ``names`` and ops from ``table``."""
    if isinstance(e, Cond):
        if len(e.args) == 1:
            prefix = "_np." if table is _NP else "V_" if table is _CV else "_"
            return f"{prefix}{e.op}({render(e.args[0], names, table, safe)})"
        return f"({render(e.args[0], names, table, safe)} {e.op} {render(e.args[1], names, table, safe)})"
    if not isinstance(e, Sym):
        return literal(e)
    if e.op == "slot":
        return str(names.get(e.args[0], e.args[0]))
    if e.op == "where" and table is _NP:
        masked = _np_mask(e, names)
        if masked is not None:
            return masked
    args = [render(a, names, table, safe) for a in e.args]
    python = table is _PY or table is _PY_SAFE
    if e.op == "pow" and python:
        return _py_pow(args[0], e.args[1], args[1], safe)
    if e.op == "relu" and python and _simple(args[0]):
        return "({0} if {0} > 0.0 or {0} != {0} else 0.0)".format(args[0])  # K.relu inline: nan passes
    return table[e.op].format(*args)


def to_python(e: Expr, names: dict[str, str], safe: bool = False) -> str:
    """Python source for e on floats; ``safe`` calls agrad's IEEE kernels where Python would raise.

    >>> to_python(slot("g") / slot("x0"), {"g": "g", "x0": "y"}), to_python(slot("g") / slot("x0"), {}, safe=True)
    ('(g / y)', '_div(g, x0)')
    """
    return render(e, names, _PY_SAFE if safe else _PY, safe)


def to_c(e: Expr, names: dict[str, str], vector: bool = False) -> str:
    """C source for e on doubles, or on vectors of samples (``_sigmoid``, ``V_sel``, ... are native.py's).

    >>> to_c(vjp_exprs("relu", 1)[0], {"g": "g", "x0": "x"}), to_c(slot("x0") ** 3.0, {})
    ('((x <= 0.0) ? (g * 0.0) : g)', 'pow(x0, 3.0)')
    >>> to_c(vjp_exprs("relu", 1)[0], {"g": "g", "x0": "x"}, vector=True)
    'V_sel((x <= 0.0), (g * 0.0), g)'
    """
    return render(e, names, _CV if vector else _C)


def to_numpy(e: Expr, names: dict[str, str]) -> str:
    """NumPy source for e on arrays (``_np`` is numpy; both sides of a ``where`` are computed).

    >>> to_numpy(vjp_exprs("relu", 1)[0], {"g": "G", "x0": "X"})  # where(X <= 0, G * 0.0, G)
    '(G * ~(X <= 0.0))'
    >>> to_numpy(vjp_exprs("abs", 1)[0], {"g": "G", "x0": "X"})
    '_np.where((X > 0.0), (G * ~(X < 0.0)), _np.where((X < 0.0), (G * (-1.0)), (G * 0.0)))'
    """
    return render(e, names, _NP)


# Forward: the op each node computes, as an expression of its operands.
FORWARD: dict[str, str] = {
    "+": "add",
    "-": "sub",
    "*": "mul",
    "/": "div",
    "neg": "neg",
    "**": "pow",
    "pow": "pow",
    "exp": "exp",
    "log": "log",
    "sqrt": "sqrt",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "softplus": "softplus",
    "relu": "relu",
    "abs": "abs",
    "sin": "sin",
    "cos": "cos",
    "min": "min",
    "max": "max",
}


def forward_expr(op: str, arity: int) -> Expr:
    """The node's value as an expression of ``x0``..: n-ary sum and dot in eager's left-to-right order.

    >>> to_python(forward_expr("dot", 4), {})
    '((x0 * x2) + (x1 * x3))'
    """
    xs = [slot(f"x{i}") for i in range(arity)]
    if op == "stop_gradient":
        return xs[0]
    if op == "sum":
        terms: list[Expr] = xs
    elif op == "dot":
        n = arity // 2
        terms = [Sym("mul", (xs[i], xs[n + i])) for i in range(n)]
    else:
        return Sym(FORWARD[op], tuple(xs))
    if not terms:
        return 0.0
    acc = terms[0]
    for t in terms[1:]:
        acc = Sym("add", (acc, t))
    return acc
