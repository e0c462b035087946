"""The tensor ops to test: each with its agrad function, the same in PyTorch, input shapes and a domain.

Shared by tests/test_tensor.py (values and derivatives against PyTorch) and
tests/test_rules_table.py (every tensor op of the rule table has a case).
torch is only touched when a PyTorch function is called, so the table itself
loads without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import agrad

try:
    import torch
except ImportError:  # the agrad side of the table still works
    torch = None


def _data_like(t: Any, a: np.ndarray) -> Any:
    """A constant array of t's array library (the suite runs on NumPy and on array-api-strict)."""
    return agrad.tensor.namespace(t.data).asarray(a)


# name -> (agrad function, torch function, list of input-shape tuples, domain)
# domain: "any" (normal), "pos" (positive, away from 0), "away" (|x| >= 0.5: no kinks or poles nearby)
Fn = Callable[..., Any]
UNARY_SHAPES = [(), (0,), (3,), (2, 3), (2, 0, 3), (4, 1, 2)]
BINARY_SHAPES = [((), (3,)), ((2, 3), (3,)), ((3,), (2, 3)), ((2, 1), (1, 3)), ((0, 3), (1, 3)), ((4, 1, 3), (2, 1))]


def unary(shapes: list[tuple[int, ...]] = UNARY_SHAPES) -> list[tuple[tuple[int, ...], ...]]:
    return [(s,) for s in shapes]


CASES: dict[str, tuple[Fn, Fn, list[tuple[tuple[int, ...], ...]], str]] = {
    "exp": (agrad.exp, lambda *a: torch.exp(*a), unary(), "any"),
    "log": (agrad.log, lambda *a: torch.log(*a), unary(), "pos"),
    "sqrt": (lambda x: x.sqrt(), lambda *a: torch.sqrt(*a), unary(), "pos"),
    "tanh": (agrad.tanh, lambda *a: torch.tanh(*a), unary(), "any"),
    "sigmoid": (agrad.sigmoid, lambda *a: torch.sigmoid(*a), unary(), "any"),
    "relu": (agrad.relu, lambda *a: torch.relu(*a), unary(), "away"),
    "sin": (agrad.sin, lambda *a: torch.sin(*a), unary(), "any"),
    "cos": (lambda x: x.cos(), lambda *a: torch.cos(*a), unary(), "any"),
    "softplus": (agrad.softplus, lambda x: torch.nn.functional.softplus(x), unary(), "any"),
    "abs": (abs, lambda *a: torch.abs(*a), unary(), "away"),
    "neg": (lambda x: -x, lambda *a: torch.neg(*a), unary(), "any"),
    "add": (lambda x, y: x + y, lambda *a: torch.add(*a), BINARY_SHAPES, "any"),
    "sub": (lambda x, y: x - y, lambda *a: torch.sub(*a), BINARY_SHAPES, "any"),
    "mul": (lambda x, y: x * y, lambda *a: torch.mul(*a), BINARY_SHAPES, "any"),
    "div": (lambda x, y: x / y, lambda *a: torch.div(*a), BINARY_SHAPES, "away"),
    "pow": (lambda x, y: x**y, lambda *a: torch.pow(*a), BINARY_SHAPES, "pos"),
    "powc": (lambda x: x**3.0, lambda x: x**3.0, unary(), "any"),
    "powc-half": (lambda x: x**0.5, lambda x: x**0.5, unary(), "pos"),
    "rpow": (lambda x: 2.0**x, lambda x: 2.0**x, unary(), "any"),
    "rsub-number": (lambda x: 2.0 - x, lambda x: 2.0 - x, unary(), "any"),
    "rdiv-number": (lambda x: 3.0 / x, lambda x: 3.0 / x, unary(), "away"),
    "mul-array-left": (
        lambda x: np.arange(1.0, 4.0) * x,
        lambda x: torch.arange(1.0, 4.0, dtype=torch.float64) * x,
        unary([(3,), (2, 3)]),
        "any",
    ),
    "minimum": (agrad.minimum, lambda *a: torch.minimum(*a), BINARY_SHAPES, "any"),
    "maximum": (lambda x, y: x.maximum(y), lambda *a: torch.maximum(*a), BINARY_SHAPES, "any"),
    "sum": (lambda x: x.sum(), lambda *a: torch.sum(*a), unary(), "any"),
    "sum-axis": (
        lambda x: agrad.sum(x, axis=1),
        lambda x: torch.sum(x, 1),
        unary([(2, 3), (2, 0, 3), (4, 1, 2)]),
        "any",
    ),
    "sum-axes-keep": (
        lambda x: x.sum(axis=(0, -1), keepdims=True),
        lambda x: torch.sum(x, (0, -1), keepdim=True),
        unary([(2, 3), (2, 0, 3), (4, 1, 2)]),
        "any",
    ),
    "mean": (lambda x: x.mean(axis=0), lambda x: torch.mean(x, 0), unary([(3,), (2, 3), (4, 1, 2)]), "any"),
    "max": (lambda x: x.max(axis=-1), lambda x: torch.amax(x, -1), unary([(3,), (2, 3), (4, 1, 2)]), "any"),
    "min-keep": (
        lambda x: agrad.min(x, axis=0, keepdims=True),
        lambda x: torch.amin(x, 0, keepdim=True),
        unary([(3,), (2, 3)]),
        "any",
    ),
    "max-all": (lambda x: x.max(), lambda *a: torch.amax(*a), unary([(), (3,), (2, 3)]), "any"),
    "logsumexp": (lambda x: x.logsumexp(axis=-1), lambda x: torch.logsumexp(x, -1), unary([(3,), (2, 3)]), "any"),
    "softmax": (lambda x: agrad.softmax(x, axis=-1), lambda x: torch.softmax(x, -1), unary([(3,), (2, 3)]), "any"),
    "log_softmax": (
        lambda x: x.log_softmax(axis=0),
        lambda x: torch.log_softmax(x, 0),
        unary([(3,), (2, 3), (4, 1, 2)]),
        "any",
    ),
    "reshape": (lambda x: x.reshape(-1), lambda x: x.reshape(-1), unary(), "any"),
    "reshape-2": (lambda x: agrad.reshape(x, (3, 2)), lambda x: x.reshape(3, 2), unary([(2, 3), (6,)]), "any"),
    "transpose": (lambda x: x.T, lambda x: x.permute(tuple(reversed(range(x.ndim)))), unary(), "any"),
    "transpose-axes": (
        lambda x: agrad.transpose(x, (1, 2, 0)),
        lambda x: x.permute(1, 2, 0),
        unary([(2, 0, 3), (4, 1, 2)]),
        "any",
    ),
    "broadcast_to": (
        lambda x: agrad.broadcast_to(x, (2, 4, 3)),
        lambda x: torch.broadcast_to(x, (2, 4, 3)),
        unary([(), (3,), (4, 1), (1, 4, 3)]),
        "any",
    ),
    "squeeze": (lambda x: x.squeeze(), lambda x: x.squeeze(), unary([(), (3,), (4, 1, 2), (1, 3, 1)]), "any"),
    "expand_dims": (lambda x: agrad.expand_dims(x, 1), lambda x: x.unsqueeze(1), unary([(3,), (2, 3)]), "any"),
    "concatenate": (
        lambda x, y: agrad.concatenate([x, y, x], axis=1),
        lambda x, y: torch.cat([x, y, x], 1),
        [((2, 3), (2, 1)), ((2, 0), (2, 4)), ((1, 2, 3), (1, 0, 3))],
        "any",
    ),
    "stack": (
        lambda x, y: agrad.stack([x, y], axis=-1),
        lambda x, y: torch.stack([x, y], -1),
        [((), ()), ((3,), (3,)), ((2, 3), (2, 3))],
        "any",
    ),
    "where": (
        lambda x, y: agrad.where(x > 0, x, y),
        lambda x, y: torch.where(x > 0, x, y),
        BINARY_SHAPES,
        "away",
    ),
    "getitem-int": (lambda x: x[1], lambda x: x[1], unary([(3,), (2, 3), (4, 1, 2)]), "any"),
    "getitem-slices": (
        lambda x: x[::-2, 1:],
        lambda x: x.flip(0)[::2, 1:],
        unary([(2, 3), (4, 1, 2), (5, 3)]),
        "any",
    ),
    "getitem-repeated": (
        lambda x: x[[0, 2, 0, 0]],
        lambda x: x[[0, 2, 0, 0]],
        unary([(3,), (3, 2)]),
        "any",
    ),
    "getitem-repeated-squared": (  # its gradient depends on x: the second derivative runs index_add's rule
        lambda x: x[[0, 2, 0, 0]] ** 2.0,
        lambda x: x[[0, 2, 0, 0]] ** 2.0,
        unary([(3,), (3, 2)]),
        "any",
    ),
    "getitem-mask": (lambda x: x[x > 0], lambda x: x[x > 0], unary([(3,), (2, 3)]), "any"),
    "getitem-ellipsis": (lambda x: x[..., 0, None], lambda x: x[..., 0, None], unary([(3,), (2, 3)]), "any"),
    "linear": (
        lambda x, w, b: agrad.tensor.linear(x, w, b),
        lambda x, w, b: torch.nn.functional.linear(x, w, b),
        [((2, 3), (4, 3), (4,)), ((3,), (4, 3), (4,)), ((5, 2, 3), (4, 3), (4,)), ((0, 3), (2, 3), (2,))],
        "any",
    ),
    "linear-no-bias": (
        lambda x, w: agrad.tensor.linear(x, w),
        lambda x, w: torch.nn.functional.linear(x, w),
        [((2, 3), (4, 3)), ((3,), (1, 3))],
        "any",
    ),
    "linear-on-data": (  # the input is a constant, as a first layer's batch: the linear_data row
        lambda w, b: agrad.tensor.linear(_data_like(w, np.linspace(-1.0, 1.0, 6).reshape(2, 3)), w, b),
        lambda w, b: torch.nn.functional.linear(torch.linspace(-1.0, 1.0, 6, dtype=w.dtype).reshape(2, 3), w, b),
        [((4, 3), (4,)), ((1, 3), (1,))],
        "any",
    ),
    "linear-on-data-no-bias": (
        lambda w: agrad.tensor.linear(_data_like(w, np.linspace(-1.0, 1.0, 3)), w),
        lambda w: torch.nn.functional.linear(torch.linspace(-1.0, 1.0, 3, dtype=w.dtype), w),
        [((4, 3),)],
        "any",
    ),
    "cross_entropy-mean": (
        lambda z: agrad.tensor.cross_entropy(z, np.array([0, 3, 1]), "mean"),
        lambda z: torch.nn.functional.cross_entropy(z, torch.tensor([0, 3, 1])),
        [((3, 4),), ((3, 5),)],
        "any",
    ),
    "cross_entropy-sum-none": (
        lambda z: (
            agrad.tensor.cross_entropy(z, np.array([1, 0]), "sum")
            + agrad.tensor.cross_entropy(z, np.array([1, 1]), "none")
        ),
        lambda z: (
            torch.nn.functional.cross_entropy(z, torch.tensor([1, 0]), reduction="sum")
            + torch.nn.functional.cross_entropy(z, torch.tensor([1, 1]), reduction="none")
        ),
        [((2, 3),), ((2, 2),)],
        "any",
    ),
    "matmul": (
        lambda x, y: x @ y,
        lambda *a: torch.matmul(*a),
        [
            ((2, 3), (3, 4)),
            ((3,), (3, 2)),
            ((2, 3), (3,)),
            ((3,), (3,)),
            ((5, 2, 3), (3, 4)),
            ((2, 1, 2, 3), (4, 3, 2)),
            ((3,), (2, 3, 4)),
            ((2, 3, 4), (4,)),
            ((0, 3), (3, 2)),
        ],
        "any",
    ),
}


def inputs(shapes: tuple[tuple[int, ...], ...], domain: str, seed: int) -> list[np.ndarray]:
    """Random inputs of the given shapes in the case's domain."""
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        a = rng.standard_normal(s)
        if domain == "pos":
            a = np.abs(a) + 0.5
        elif domain == "away":
            a = np.where(a >= 0, a + 0.5, a - 0.5)
        out.append(np.asarray(a))
    return out
