"""Thread-local switches read by every op: graph recording and anomaly checks.

Both live in one integer so that the per-op cost is a single attribute read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, overload

from agrad._checks import quote

NO_GRAD = 1  # ops return leaves: no children are recorded
ANOMALY = 2  # ops check their results for nan/inf
TRACING = 4  # agrad.compile is recording f: ops tell the trace about each node (see agrad.compile.trace)


class _Mode(threading.local):
    flags: int = 0


mode = _Mode()

F = TypeVar("F", bound=Callable[..., Any])


class _FlagScope:
    """Sets or clears one flag for a ``with`` block, restoring it on exit.

    Also works as a decorator, as ``torch.no_grad`` does. The flags to restore
    are kept per thread, so one scope object may be entered by several threads
    at once, and re-entered (nested) in one.
    """

    def __init__(self, flag: int, on: bool) -> None:
        self._flag, self._on = flag, on
        self._local = threading.local()

    def _saved(self) -> list[int]:
        saved: list[int] | None = getattr(self._local, "saved", None)
        if saved is None:
            saved = self._local.saved = []
        return saved

    def __enter__(self) -> None:
        self._saved().append(mode.flags)
        mode.flags = (mode.flags | self._flag) if self._on else (mode.flags & ~self._flag)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        mode.flags = self._saved().pop()

    def __call__(self, fn: F) -> F:
        import functools

        if not callable(fn):
            raise TypeError(f"a mode decorates a function, got {type(fn).__name__}: {quote(fn)}")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)(self._flag, self._on):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


@overload
def no_grad() -> _FlagScope: ...
@overload
def no_grad(fn: F) -> F: ...
def no_grad(fn: F | None = None) -> _FlagScope | F:
    """Stop recording the graph inside a ``with`` block or a decorated function.

    Nestable and thread-local. ``@no_grad`` and ``@no_grad()`` both decorate.

    >>> from agrad import Value
    >>> x = Value(2.0)
    >>> with no_grad():
    ...     y = x * x
    >>> y._prev
    set()
    >>> @no_grad
    ... def square(v):
    ...     return v * v
    >>> square(x)._prev
    set()
    """
    scope = _FlagScope(NO_GRAD, True)
    return scope if fn is None else scope(fn)


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
