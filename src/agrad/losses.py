"""Loss functions: each averages over a batch and returns one Value (or Tensor) to call ``backward()`` on.

Every loss is composed from agrad's primitives, so it needs no derivative of its
own. Where the textbook formula overflows, a stable one is used (see each docstring).
Predictions may be Values or plain numbers (all numbers give a plain float), or,
as in ``torch.nn.functional``, one Tensor for the whole batch: ``cross_entropy``,
``mse_loss`` and ``binary_cross_entropy_with_logits`` then take array targets.
``reduction`` is "mean" (the default), "sum", or "none" (one loss per example:
a Tensor, or a list for Values).

>>> from agrad import Value
>>> s = [Value(0.5), Value(-0.5)]
>>> loss = hinge_loss(s, [1, 1]); loss.data
1.0
>>> loss.backward(); s[0].grad, s[1].grad
(-0.5, -0.5)
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Sequence
from typing import Any

from agrad._checks import quote
from agrad.tensor import Tensor
from agrad.tensor import cross_entropy as tensor_cross_entropy
from agrad.value import dot, exp, log, maximum, relu, softplus
from agrad.value import sum as vsum

X = Any  # a Value or a float
_REDUCTIONS = ("mean", "sum", "none")


def _reduction(reduction: object, fn: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f'{fn}: reduction must be "mean", "sum" or "none", got {reduction!r}')
    return str(reduction)


def _reduce(terms: list[X], reduction: str) -> Any:
    """Per-example Values (or floats) as their mean, sum, or the list itself."""
    if reduction == "none":
        return terms
    total = vsum(terms)
    return total / len(terms) if reduction == "mean" else total


def _reduce_tensor(t: Tensor, reduction: str) -> Tensor:
    return t.mean() if reduction == "mean" else t.sum() if reduction == "sum" else t


def _targets(targets: object, like: Tensor, fn: str, kinds: str) -> Any:
    """targets as an array of like's namespace; kinds: the NumPy dtype kinds allowed ("iu" for class indices)."""
    import numpy as np

    t = targets.data if isinstance(targets, Tensor) else targets
    arr = np.asarray(t) if isinstance(t, list | tuple) or np.isscalar(t) else t
    kind = getattr(getattr(arr, "dtype", None), "kind", None)
    if kind is None or kind not in kinds:
        want = "integer class indices" if kinds == "iu" else "real numbers"
        raise ValueError(
            f"{fn}: targets must be an array of {want}, got {type(targets).__name__} {getattr(arr, 'dtype', '')}"
        )
    return arr


def _batch(preds: Sequence[Any], targets: Sequence[Any], fn: str) -> int:
    if len(preds) != len(targets):
        raise ValueError(f"{fn}: got {len(preds)} predictions but {len(targets)} targets")
    if not preds:
        raise ValueError(f"{fn}: needs at least one prediction, got an empty batch")
    return len(preds)


def _pair(preds: Sequence[X], targets: Sequence[float], fn: str) -> int:
    n = _batch(preds, targets, fn)
    for i, t in enumerate(targets):
        if isinstance(t, bool) or not isinstance(t, numbers.Real):
            raise TypeError(f"{fn}: targets[{i}] must be a real number, got {type(t).__name__}: {quote(t)}")
    return n


def mse_loss(preds: Any, targets: Any, reduction: str = "mean") -> Any:
    """Mean squared error: (1/n) Σ (pred_i - target_i)².

    ``preds`` a list of Values (or numbers), or a Tensor with ``targets`` an array of its shape.

    >>> from agrad import Value
    >>> p = Value(3.0); loss = mse_loss([p, 1.0], [1.0, 2.0]); loss.data
    2.5
    >>> loss.backward(); p.grad  # d/dp (p - 1)² / 2 = p - 1
    2.0
    """
    how = _reduction(reduction, "mse_loss")
    if isinstance(preds, Tensor):
        t = _targets(targets, preds, "mse_loss", "biuf")
        if tuple(t.shape) != preds.shape:
            raise ValueError(f"mse_loss: preds have shape {preds.shape} but targets {tuple(t.shape)}; they must match")
        d = preds - t
        return _reduce_tensor(d * d, how)
    n = _pair(preds, targets, "mse_loss")
    d = [p - t for p, t in zip(preds, targets)]
    if how == "none":
        return [di * di for di in d]
    return dot(d, d) / n if how == "mean" else dot(d, d)


def hinge_loss(scores: Sequence[X], labels: Sequence[float]) -> X:
    """Max-margin (SVM) loss of micrograd's demo: (1/n) Σ relu(1 - y_i s_i), labels y in {-1, +1}.

    >>> hinge_loss([0.5, -2.0], [1, -1])
    0.25
    >>> hinge_loss([0.5], [0])
    Traceback (most recent call last):
    ...
    ValueError: hinge_loss: labels must be -1 or +1, got labels[0] = 0 (for 0/1 labels use 2*y - 1)
    """
    n = _pair(scores, labels, "hinge_loss")
    for i, y in enumerate(labels):
        if y != 1 and y != -1:
            raise ValueError(
                f"hinge_loss: labels must be -1 or +1, got labels[{i}] = {quote(y)} (for 0/1 labels use 2*y - 1)"
            )
    return vsum([relu(1.0 - y * s) for s, y in zip(scores, labels)]) / n


def binary_cross_entropy_with_logits(logits: Any, targets: Any, reduction: str = "mean") -> Any:
    """Mean of -[t log σ(z) + (1 - t) log(1 - σ(z))], from logits z and targets t in [0, 1].

    Computed as softplus(z) - t*z, which is the same function but never takes
    log(0) or overflows e**z, so a logit of ±1000 gives a finite loss and gradient.

    >>> round(binary_cross_entropy_with_logits([0.0], [1.0]), 6)  # log 2
    0.693147
    >>> binary_cross_entropy_with_logits([1000.0, -1000.0], [1.0, 0.0])
    0.0
    """
    fn = "binary_cross_entropy_with_logits"
    how = _reduction(reduction, fn)
    if isinstance(logits, Tensor):
        t = _targets(targets, logits, fn, "biuf")
        if tuple(t.shape) != logits.shape:
            raise ValueError(f"{fn}: logits have shape {logits.shape} but targets {tuple(t.shape)}; they must match")
        if t.size and not (t.min() >= 0 and t.max() <= 1):
            raise ValueError(f"{fn}: targets must lie in [0, 1], got values from {t.min()} to {t.max()}")
        return _reduce_tensor(logits.softplus() - logits * t, how)
    _pair(logits, targets, fn)
    for i, t in enumerate(targets):
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"{fn}: targets must lie in [0, 1], got targets[{i}] = {quote(t)}")
    return _reduce([softplus(z) - t * z for z, t in zip(logits, targets)], how)


def log_softmax(logits: Sequence[X]) -> list[X]:
    """log(e^z_i / Σ_j e^z_j) for each i, computed as z_i - m - log Σ_j e^(z_j - m), m = max z.

    Shifting by the largest logit keeps every exponent <= 0, so nothing
    overflows. m is computed with ``maximum`` inside the graph, not read off as a
    number, so a compiled trace shifts by each call's own maximum; its gradient
    is zero (every output moves by -dm, and log Σ e^(z_j - m) by -dm too), as
    log-softmax does not change when all logits shift together.

    >>> [round(v, 4) for v in log_softmax([1000.0, 1000.0])]
    [-0.6931, -0.6931]
    """
    if not logits:
        raise ValueError("log_softmax needs at least one logit, got an empty list")
    m = functools.reduce(maximum, logits)
    shifted = [z - m for z in logits]
    lse = log(vsum([exp(s) for s in shifted]))
    return [s - lse for s in shifted]


def cross_entropy(logits: Any, targets: Any, reduction: str = "mean") -> Any:
    """Mean of -log softmax(z)[t] over a batch: ``logits[i]`` is one example's class scores, ``targets[i]`` its class.

    Uses the stable ``log_softmax``, so logits in the thousands are fine. ``logits`` is a
    list of lists of Values, or a Tensor (N, C) with ``targets`` N integer class indices.

    >>> from agrad import Value
    >>> z = [Value(0.0), Value(0.0)]
    >>> loss = cross_entropy([z], [1]); round(loss.data, 6)  # log 2
    0.693147
    >>> loss.backward(); z[0].grad, z[1].grad  # softmax - one_hot
    (0.5, -0.5)
    """
    how = _reduction(reduction, "cross_entropy")
    if isinstance(logits, Tensor):
        return tensor_cross_entropy(logits, _class_targets(logits, targets), how)
    for what, seq in (("logits", logits), ("targets", targets)):
        if not isinstance(seq, Sequence) or isinstance(seq, str):
            raise TypeError(
                f"cross_entropy expects a batch: {what} must be a list, got {type(seq).__name__}: {quote(seq)} "
                "(for one example z with class t, pass cross_entropy([z], [t]))"
            )
    _batch(logits, targets, "cross_entropy")
    picked = []
    for i, (z, t) in enumerate(zip(logits, targets)):
        if not isinstance(z, Sequence) or isinstance(z, str):
            raise TypeError(
                f"cross_entropy expects logits as a list of examples, each a list of class scores; logits[{i}] "
                f"is {type(z).__name__}: {quote(z)} (for one example z with class t, pass cross_entropy([z], [t]))"
            )
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < len(z):
            raise ValueError(f"cross_entropy: targets[{i}] must be a class index in 0..{len(z) - 1}, got {quote(t)}")
        picked.append(log_softmax(z)[t])
    if how == "none":
        return [-p for p in picked]
    return -vsum(picked) / len(picked) if how == "mean" else -vsum(picked)


def _class_targets(logits: Tensor, targets: Any) -> Any:
    """targets checked against logits (N, C): N integer class indices in [0, C), as an array."""
    import numpy as np

    if logits.ndim != 2:
        raise ValueError(
            f"cross_entropy: logits must be (N, C), one row of class scores per example, got {logits.shape}"
        )
    n, c = logits.shape
    t = _targets(targets, logits, "cross_entropy", "iu")
    if t.ndim != 1 or len(t) != n:
        raise ValueError(
            f"cross_entropy: got logits for {n} examples but targets of shape {tuple(t.shape)}; "
            f"expected ({n},), one class index per row"
        )
    if t.size and (t.min() < 0 or t.max() >= c):  # min and max first: the common, valid batch costs two reductions
        i = int(np.flatnonzero((t < 0) | (t >= c))[0])
        raise ValueError(f"cross_entropy: targets[{i}] must be a class index in 0..{c - 1}, got {int(t[i])}")
    return t


def l2_penalty(params: Sequence[X], alpha: float) -> X:
    """alpha * Σ p², as one ``dot`` node (micrograd's demo uses alpha = 1e-4).

    >>> from agrad import Value
    >>> p = Value(3.0); pen = l2_penalty([p, Value(4.0)], 0.5); pen.data
    12.5
    >>> pen.backward(); p.grad  # 2 * alpha * p
    3.0
    """
    return alpha * dot(params, params)


__all__ = ["binary_cross_entropy_with_logits", "cross_entropy", "hinge_loss", "l2_penalty", "log_softmax", "mse_loss"]
