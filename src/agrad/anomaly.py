"""Anomaly detection: find the first op whose value or gradient is nan or inf.

Inside ``detect_anomaly()`` every new node notes where in the user's code it
was made, and checks its value; backward checks every gradient it computes.
The notes live in a weak dictionary, so a node pays nothing outside the mode.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from agrad.modes import ANOMALY, _FlagScope, mode
from agrad.tensor import Tensor, namespace
from agrad.value import Value

_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep  # the separator: a user's agrad_x/ is not agrad's
# Where each node was made, by id: a WeakKeyDictionary would compare keys with ==, which is
# elementwise for a Tensor. An entry goes when its node does.
_where: dict[int, str] = {}


def detect_anomaly() -> _FlagScope:
    """Raise FloatingPointError at the first op whose value or gradient is nan or inf.

    >>> from agrad import Value, log
    >>> with detect_anomaly():
    ...     log(Value(0.0, label="x"))
    Traceback (most recent call last):
    ...
    FloatingPointError: forward of 'log' gave -inf from inputs x=0.0, made at ...
    """
    return _FlagScope(ANOMALY, True)


def _user_frame() -> str:
    f = sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_HERE):
        f = f.f_back  # type: ignore[assignment]
    return f"{f.f_code.co_filename}:{f.f_lineno}" if f is not None else "<unknown>"


def _describe(operands: tuple[Any, ...]) -> str:
    """Each operand as label=value (argN when unlabeled); a Dual shows the Value or number inside it.

    A Tensor shows its shape; an op's parameters (a Tensor op's axis, shape or index) show as they are.
    """
    parts = []
    for i, c in enumerate(operands):
        inner = c
        while hasattr(inner, "tangent"):  # a forward-mode Dual: name it by what it wraps
            inner = inner.primal
        if isinstance(inner, Value):
            parts.append(f"{inner.label or f'arg{i}'}={inner.data!r}")
        elif isinstance(inner, Tensor):
            parts.append(f"{inner.label or f'arg{i}'}=Tensor of shape {inner.shape}")
        elif hasattr(inner, "shape"):
            parts.append(f"arg{i}=array of shape {tuple(inner.shape)} (constant)")
        elif isinstance(inner, numbers.Real) and not isinstance(inner, bool):
            parts.append(f"arg{i}={float(inner)!r} (constant)")
        else:
            parts.append(f"arg{i}={inner!r} (parameter)")
    return ", ".join(parts)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, (Value, Tensor)) else x


def _finite(x: Any) -> bool:
    """False if x is nan or inf (anywhere in an array); for a forward-mode Dual, if its value or any tangent is."""
    while hasattr(x, "tangent"):
        if not _finite(x.tangent):
            return False
        x = x.primal
    d = _data(x)
    if hasattr(d, "shape"):
        xp = namespace(d)
        return bool(xp.all(xp.isfinite(d)))
    return math.isfinite(d)


def _show(x: Any) -> str:
    """A value for the report: the float, or an array's first nan or inf with its index and the shape."""
    d = _data(x)
    if not hasattr(d, "shape"):
        return repr(float(d))
    import numpy as np

    a = np.asarray(d)
    bad = np.argwhere(~np.isfinite(a))
    at = tuple(int(i) for i in bad[0]) if len(bad) else ()
    return f"{float(a[at])!r} at index {at} of an array of shape {a.shape}"


def unchecked(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) with the forward check off, for a rule run on Values inside the mode.

    A rule's own ops (the ``/`` in sqrt's ``0.5 / out``) are not the user's: a nan
    there is reported as the rule's result, by check_backward or check_tangent,
    naming the user's op instead.

    >>> with detect_anomaly():
    ...     unchecked(lambda: Value(1.0) / 0.0).data
    inf
    """
    saved = mode.flags
    mode.flags = saved & ~ANOMALY
    try:
        return fn(*args)
    finally:
        mode.flags = saved


def check_forward(node: Value) -> None:
    """Note where node was made; raise if its value is nan or inf. Every op calls it inside the mode.

    >>> check_forward(Value(float("nan"), (Value(-1.0, label="x"),), "sqrt"))
    Traceback (most recent call last):
    ...
    FloatingPointError: forward of 'sqrt' gave nan from inputs x=-1.0, made at ...
    """
    where = _user_frame()
    if id(node) not in _where:
        weakref.finalize(node, _where.pop, id(node), None)
    _where[id(node)] = where
    if not _finite(node.data):
        operands = node._children
        raise FloatingPointError(
            f"forward of {node._op!r} gave {_show(node.data)} from inputs {_describe(operands)}, made at {where}"
        )


def check_backward(node: Value, grads: Sequence[Any]) -> None:
    """Raise if a gradient that backward computed for one of node's inputs is nan or inf.

    >>> x = Value(0.0, label="x")
    >>> check_backward(Value(0.0, (x,), "sqrt"), (float("inf"),))
    Traceback (most recent call last):
    ...
    FloatingPointError: backward of 'sqrt' gave gradient inf for input x; inputs x=0.0, made at <made outside ...>
    """
    for i, (c, g) in enumerate(zip(node._children, grads)):
        if isinstance(c, (Value, Tensor)) and not _finite(g):
            name = c.label or f"arg{i}"
            raise FloatingPointError(
                f"backward of {node._op!r} gave gradient {_show(g)} for input {name}; inputs "
                f"{_describe(node._children)}, made at "
                f"{_where.get(id(node), '<made outside detect_anomaly>')}"
            )


def check_tangent(op: str, args: tuple[Any, ...], out: Any, tangent: Any) -> None:
    """Raise if forward mode's value or tangent for op is nan or inf (``agrad.jvp`` inside the mode).

    >>> check_tangent("log", (0.0,), float("-inf"), float("inf"))
    Traceback (most recent call last):
    ...
    FloatingPointError: forward mode of 'log' gave value -inf from inputs arg0=0.0 (constant), at ...
    """
    for what, x in (("value", out), ("tangent", tangent)):
        if not _finite(x):
            raise FloatingPointError(
                f"forward mode of {op!r} gave {what} {_show(x)} from inputs {_describe(args)}, at {_user_frame()}"
            )
