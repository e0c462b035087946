"""The ``agrad`` command. With no sub-command it prints the seed's worked example."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from agrad.value import Value


def worked_example() -> str:
    """The seed's f = a*b + c, its value and its gradients, as text.

    >>> print(worked_example().splitlines()[1])
    f = a*b + c = 2.0 * -3.0 + 10.0 = 4.0
    """
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    f = a * b + c
    f.label = "f"
    f.backward()
    return "\n".join(
        [
            "The seed's example, a = 2, b = -3, c = 10:",
            f"f = a*b + c = {a.data} * {b.data} + {c.data} = {f.data}",
            f"df/da = b = {a.grad}",
            f"df/db = a = {b.grad}",
            f"df/dc = 1 = {c.grad}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    >>> main([])  # doctest: +ELLIPSIS
    The seed's example...
    0
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(worked_example())
        return 0
    print(f"agrad: unknown command {args[0]!r}", file=sys.stderr)
    return 2
