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
from typing import Any

from agrad.modes import ANOMALY, _FlagScope
from agrad.value import Value

_HERE = os.path.dirname(os.path.abspath(__file__))
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


def _describe(node: Value) -> str:
    parts = []
    for i, c in enumerate(node._children):
        if isinstance(c, Value):
            parts.append(f"{c.label or f'arg{i}'}={c.data!r}")
        else:
            parts.append(f"arg{i}={c!r} (constant)")
    return ", ".join(parts)


def _finite(x: Any) -> bool:
    """False if x is nan or inf; for a forward-mode Dual, if its value or any tangent inside is."""
    while hasattr(x, "tangent"):
        if not _finite(x.tangent):
            return False
        x = x.primal
    return math.isfinite(x.data if isinstance(x, Value) else x)


def check_forward(node: Value) -> None:
    """Note where node was made; raise if its value is nan or inf."""
    where = _where[node] = _user_frame()
    if not math.isfinite(node.data):
        raise FloatingPointError(
            f"forward of {node._op!r} gave {node.data!r} from inputs {_describe(node)}, made at {where}"
        )


def check_backward(node: Value, grads: tuple[Any, ...]) -> None:
    """Raise if a gradient that backward computed for one of node's inputs is nan or inf."""
    for i, (c, g) in enumerate(zip(node._children, grads)):
        if isinstance(c, Value) and not _finite(g):
            name = c.label or f"arg{i}"
            raise FloatingPointError(
                f"backward of {node._op!r} gave gradient {g} for input {name}; inputs {_describe(node)}, "
                f"made at {_where.get(node, '<made outside detect_anomaly>')}"
            )


def check_tangent(op: str, args: tuple[Any, ...], out: Any, tangent: Any) -> None:
    """Raise if forward mode's value or tangent for op is nan or inf (``agrad.jvp`` inside the mode)."""
    for what, x in (("value", out), ("tangent", tangent)):
        if not _finite(x):
            inputs = ", ".join(f"arg{i}={float(a)!r}" for i, a in enumerate(args))
            raise FloatingPointError(
                f"forward mode of {op!r} gave {what} {float(x)!r} from inputs {inputs}, at {_user_frame()}"
            )
