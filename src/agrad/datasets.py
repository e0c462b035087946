"""Data sets: small 2-D toy sets as plain lists (no NumPy needed), and real digits as arrays.

``load_digits``, ``load_mnist``, ``train_test_split`` and ``DataLoader`` live in
``agrad.data`` (NumPy arrays; see there) and are re-exported here.

Each generator returns ``(X, y)``: ``X`` is a list of ``[x0, x1]`` points and
``y`` a list of int class labels ``0 .. k-1``. The recipes follow scikit-learn's
``make_moons``, ``make_circles`` and ``make_blobs`` and CS231n's spirals. A
``seed`` drives a private ``random.Random``, so the same seed gives the same
points on every run and machine, and the global ``random`` state is untouched.
The rows are shuffled, so a slice of them is a fair sample.

>>> X, y = make_moons(4, noise=0.0, seed=0)
>>> len(X), sorted(y)
(4, [0, 0, 1, 1])
>>> make_moons(50, seed=3) == make_moons(50, seed=3)
True
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from agrad._checks import count, number, quote
from agrad.data import DataLoader, load_digits, load_mnist, train_test_split

Data = tuple[list[list[float]], list[int]]


def _check(n_samples: object, noise: object, seed: object, min_samples: int = 2, what: str = "noise") -> float:
    """Check the arguments every generator takes; returns the noise as a float."""
    count(n_samples, "n_samples", min_samples)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}: {quote(seed)}")
    return number(noise, what, 0.0)


def _linspace(start: float, stop: float, n: int, endpoint: bool = True) -> list[float]:
    """n evenly spaced numbers, as numpy.linspace."""
    if n == 1:
        return [start]
    step = (stop - start) / (n - 1 if endpoint else n)
    return [start + i * step for i in range(n)]


def _finish(rng: random.Random, points: list[tuple[float, float, int]], noise: float) -> Data:
    """Add Gaussian noise to each coordinate, then shuffle the rows together with their labels."""
    rows = [([x + rng.gauss(0.0, noise), y + rng.gauss(0.0, noise)], c) for x, y, c in points]
    rng.shuffle(rows)
    return [r for r, _ in rows], [c for _, c in rows]


def make_moons(n_samples: int = 100, noise: float = 0.1, seed: int = 0) -> Data:
    """Two interleaving half circles (scikit-learn's recipe); class 0 is the upper moon.

    >>> X, y = make_moons(2, noise=0.0)
    >>> sorted(zip(y, X))
    [(0, [1.0, 0.0]), (1, [0.0, 0.5])]
    """
    sigma = _check(n_samples, noise, seed)
    n_out = n_samples // 2
    outer = [(math.cos(t), math.sin(t), 0) for t in _linspace(0.0, math.pi, n_out)]
    inner = [(1.0 - math.cos(t), 1.0 - math.sin(t) - 0.5, 1) for t in _linspace(0.0, math.pi, n_samples - n_out)]
    return _finish(random.Random(seed), outer + inner, sigma)


def make_circles(n_samples: int = 100, noise: float = 0.05, factor: float = 0.5, seed: int = 0) -> Data:
    """A circle of radius 1 (class 0) around a circle of radius ``factor`` (class 1).

    >>> X, y = make_circles(4, noise=0.0, factor=0.5)
    >>> sorted(round(math.hypot(*p), 6) for p in X)
    [0.5, 0.5, 1.0, 1.0]
    """
    sigma = _check(n_samples, noise, seed)
    factor = number(factor, "factor (inner radius / outer radius)", 0.0, 1.0, hi_open=True)
    n_out = n_samples // 2
    outer = [(math.cos(t), math.sin(t), 0) for t in _linspace(0.0, 2 * math.pi, n_out, endpoint=False)]
    inner_t = _linspace(0.0, 2 * math.pi, n_samples - n_out, endpoint=False)
    inner = [(factor * math.cos(t), factor * math.sin(t), 1) for t in inner_t]
    return _finish(random.Random(seed), outer + inner, sigma)


def _box(box: object) -> tuple[float, float]:
    if not isinstance(box, tuple | list) or len(box) != 2:
        raise ValueError(f"box must be a pair (low, high), got {quote(box)}")
    lo, hi = number(box[0], "box's low end"), number(box[1], "box's high end")
    if not lo < hi or math.isinf(hi - lo):
        raise ValueError(f"box must be (low, high) with low < high, both finite, got {quote(box)}")
    return lo, hi


def _draw_centers(rng: random.Random, centers: int, lo: float, hi: float) -> list[tuple[float, float]]:
    return [(rng.uniform(lo, hi), rng.uniform(lo, hi)) for _ in range(centers)]


def blob_centers(
    centers: int = 3, box: tuple[float, float] = (-10.0, 10.0), seed: int = 0
) -> list[tuple[float, float]]:
    """The centers ``make_blobs(n, centers, box=box, seed=seed)`` draws, for more points around the same blobs.

    ``make_blobs(m, centers=blob_centers(3, box, seed), std=s, seed=other)`` is
    a fresh sample from the distribution that ``make_blobs(n, 3, s, box, seed)``
    sampled: held-out data.

    >>> where = blob_centers(2, seed=5)
    >>> X, y = make_blobs(40, centers=where, std=0.0, seed=9)
    >>> sorted({tuple(p) for p in X}) == sorted(where), X != make_blobs(40, 2, 0.0, seed=5)[0]
    (True, True)
    """
    count(centers, "centers")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}: {seed!r}")
    return _draw_centers(random.Random(seed), centers, *_box(box))


def make_blobs(
    n_samples: int = 100,
    centers: int | Sequence[Sequence[float]] = 3,
    std: float = 1.0,
    box: tuple[float, float] = (-10.0, 10.0),
    seed: int = 0,
) -> Data:
    """Gaussian blobs of spread ``std`` around ``centers`` points drawn uniformly in ``box``; class i is blob i.

    ``centers`` is a number of blobs, or (as in scikit-learn) the blobs' center
    points themselves, ``[(x0, x1), ...]``, and then ``box`` is not used.
    Samples are split as evenly as possible, the first blobs taking the remainder.

    >>> X, y = make_blobs(7, centers=3, seed=1)
    >>> [y.count(c) for c in range(3)]
    [3, 2, 2]
    >>> make_blobs(2, centers=[(0.0, 0.0), (5.0, 5.0)], std=0.0, seed=0)
    ([[0.0, 0.0], [5.0, 5.0]], [0, 1])
    """
    sigma = _check(n_samples, std, seed, what="std")
    rng = random.Random(seed)
    if isinstance(centers, int) and not isinstance(centers, bool):
        count(centers, "centers")
        lo, hi = _box(box)
        where = _draw_centers(rng, centers, lo, hi)
    else:
        if (
            not isinstance(centers, Sequence)
            or not centers
            or any(not isinstance(c, Sequence) or len(c) != 2 for c in centers)
        ):
            raise ValueError(f"centers must be a positive int or a list of (x0, x1) points, got {centers!r}"[:300])
        where = [(number(c[0], "a center's x0"), number(c[1], "a center's x1")) for c in centers]
    if len(where) > n_samples:
        raise ValueError(f"centers must be at most n_samples ({n_samples}), got {len(where)}")
    counts = [n_samples // len(where) + (1 if c < n_samples % len(where) else 0) for c in range(len(where))]
    points = [(cx, cy, c) for c, ((cx, cy), k) in enumerate(zip(where, counts)) for _ in range(k)]
    return _finish(rng, points, sigma)


def make_spirals(n_samples: int = 100, classes: int = 2, noise: float = 0.2, turn: float = 4.0, seed: int = 0) -> Data:
    """``classes`` spiral arms from the origin (CS231n's recipe); class j is arm j.

    Along arm j the radius r runs from 0 to 1 while the angle runs through
    ``turn`` radians, starting at 2πj/classes; ``noise`` jitters the angle.

    >>> X, y = make_spirals(6, classes=3, noise=0.0)
    >>> sorted(set(y)), max(round(math.hypot(*p), 6) for p in X)
    ([0, 1, 2], 1.0)
    """
    count(classes, "classes", 2)
    sigma = _check(n_samples, noise, seed, min_samples=2 * classes)
    turn = number(turn, "turn")
    rng = random.Random(seed)
    points = []
    for j in range(classes):
        m = n_samples // classes + (1 if j < n_samples % classes else 0)
        for r in _linspace(0.0, 1.0, m):
            t = 2 * math.pi * j / classes + turn * r + rng.gauss(0.0, sigma)
            points.append((r * math.sin(t), r * math.cos(t), j))
    return _finish(rng, points, 0.0)


__all__ = [
    "DataLoader",
    "blob_centers",
    "load_digits",
    "load_mnist",
    "make_blobs",
    "make_circles",
    "make_moons",
    "make_spirals",
    "train_test_split",
]
