"""Independent oracles: central finite differences (and PyTorch, where installed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def central_diff(f: Callable[..., float], xs: Sequence[float], i: int, h: float = 1e-6) -> float:
    """(f(x + h e_i) - f(x - h e_i)) / 2h on plain floats."""
    up = list(xs)
    dn = list(xs)
    up[i] += h
    dn[i] -= h
    return (f(*up) - f(*dn)) / (2 * h)
