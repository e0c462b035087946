"""Anomaly detection: find the first op whose value or gradient is nan or inf.

Inside ``detect_anomaly()`` every new node notes where in the user's code it
was made, and checks its value; backward checks every gradient it computes.
The notes live in a weak dictionary, so a node pays nothing outside the mode.
"""

from __future__ import annotations

import math
import os
import sys
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from agrad.modes import ANOMALY, _FlagScope, mode
from agrad.value import Value

_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep  # the separator: a user's agrad_x/ is not agrad's
_where: weakref.WeakKeyDictionary[Value, str] = weakref.WeakKeyDictionary()


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
    """Each operand as label=value (argN when unlabeled); a Dual shows the Value or number inside it."""
    parts = []
    for i, c in enumerate(operands):
        inner = c
        while hasattr(inner, "tangent"):  # a forward-mode Dual: name it by what it wraps
            inner = inner.primal
        if isinstance(inner, Value):
            parts.append(f"{inner.label or f'arg{i}'}={inner.data!r}")
        else:
            parts.append(f"arg{i}={float(inner)!r} (constant)")
    return ", ".join(parts)


def _finite(x: Any) -> bool:
    """False if x is nan or inf; for a forward-mode Dual, if its value or any tangent inside is."""
    while hasattr(x, "tangent"):
        if not _finite(x.tangent):
            return False
        x = x.primal
    return math.isfinite(x.data if isinstance(x, Value) else x)


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
    where = _where[node] = _user_frame()
    if not math.isfinite(node.data):
        raise FloatingPointError(
            f"forward of {node._op!r} gave {node.data!r} from inputs {_describe(node._children)}, made at {where}"
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
        if isinstance(c, Value) and not _finite(g):
            name = c.label or f"arg{i}"
            raise FloatingPointError(
                f"backward of {node._op!r} gave gradient {float(g)!r} for input {name}; "
                f"inputs {_describe(node._children)}, made at {_where.get(node, '<made outside detect_anomaly>')}"
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
                f"forward mode of {op!r} gave {what} {float(x)!r} from inputs {_describe(args)}, at {_user_frame()}"
            )
