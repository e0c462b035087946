"""Thread-local switches read by every op: graph recording and anomaly checks.

Both live in one integer so that the per-op cost is a single attribute read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

NO_GRAD = 1  # ops return leaves: no children are recorded
ANOMALY = 2  # ops check their results for nan/inf


class _Mode(threading.local):
    flags: int = 0


mode = _Mode()

F = TypeVar("F", bound=Callable[..., Any])


class _FlagScope:
    """Sets or clears one flag for a ``with`` block, restoring it on exit.

    Also works as a decorator, as ``torch.no_grad`` does.
    """

    def __init__(self, flag: int, on: bool) -> None:
        self._flag, self._on = flag, on
        self._saved: list[int] = []

    def __enter__(self) -> None:
        self._saved.append(mode.flags)
        mode.flags = (mode.flags | self._flag) if self._on else (mode.flags & ~self._flag)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        mode.flags = self._saved.pop()

    def __call__(self, fn: F) -> F:
        import functools

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)(self._flag, self._on):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def no_grad() -> _FlagScope:
    """Stop recording the graph inside a ``with`` block or a decorated function.

    >>> from agrad import Value
    >>> x = Value(2.0)
    >>> with no_grad():
    ...     y = x * x
    >>> y._prev
    set()
    """
    return _FlagScope(NO_GRAD, True)


def enable_grad() -> _FlagScope:
    """Record the graph again, even inside ``no_grad``.

    >>> from agrad import Value
    >>> with no_grad():
    ...     with enable_grad():
    ...         y = Value(2.0) * 3
    >>> len(y._prev)
    1
    """
    return _FlagScope(NO_GRAD, False)


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad``.

    >>> is_grad_enabled()
    True
    """
    return not mode.flags & NO_GRAD
