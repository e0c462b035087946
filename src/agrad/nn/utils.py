"""``agrad.nn.utils``: helpers on a model's gradients, as ``torch.nn.utils``.

>>> from agrad import Tensor
>>> w = Tensor([3.0, 4.0], requires_grad=True); w.grad = w.data.copy()
>>> clip_grad_norm_([w], max_norm=1.0), w.grad.round(6).tolist()
(5.0, [0.6, 0.8])
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from agrad._checks import number
from agrad.tensor import Tensor, namespace, quiet
from agrad.value import Value


def clip_grad_norm_(
    parameters: Iterable[Any], max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> float:
    """Scale every gradient in place so that their joint norm is at most ``max_norm``; returns the norm before.

    As PyTorch: the norm is that of all gradients together (``norm_type`` p >= 1, or
    ``math.inf`` for the largest magnitude); when it exceeds ``max_norm`` every gradient
    is multiplied by ``max_norm / (norm + 1e-6)``. Parameters without a gradient
    (a Tensor's None) are skipped. A nan or inf norm raises ValueError when
    ``error_if_nonfinite``, else the gradients are scaled by it as PyTorch does.

    >>> from agrad import Value
    >>> a, b = Value(0.0), Value(0.0); a.grad, b.grad = 6.0, 8.0
    >>> clip_grad_norm_([a, b], 5.0), round(a.grad, 6), round(b.grad, 6)
    (10.0, 3.0, 4.0)
    """
    ps = [parameters] if isinstance(parameters, Value | Tensor) else list(parameters)
    cap = number(max_norm, "max_norm", 0.0)
    p_norm = math.inf if norm_type == math.inf else number(norm_type, "norm_type", 1.0)
    grads: list[tuple[Any, Any]] = []  # (owner, grad) for each parameter with one
    for i, p in enumerate(ps):
        if not isinstance(p, Value | Tensor):
            raise TypeError(f"parameters[{i}] must be a Value or a Tensor, got {type(p).__name__}")
        g = p.grad
        if g is None:
            continue
        grads.append((p, g.data if isinstance(g, Value | Tensor) else g))
    norms = []
    for _, g in grads:
        if type(g) is float:
            norms.append(abs(g))
            continue
        xp = namespace(g)
        a = xp.abs(g)
        if p_norm == math.inf:
            norms.append(float(xp.max(a)) if a.size else 0.0)
        else:
            norms.append(float(xp.sum(a**p_norm)) ** (1.0 / p_norm) if a.size else 0.0)
    total = max(norms, default=0.0) if p_norm == math.inf else math.fsum(n**p_norm for n in norms) ** (1.0 / p_norm)
    if not math.isfinite(total) and error_if_nonfinite:
        raise ValueError(
            f"clip_grad_norm_: the total norm of the gradients is {total}, so they cannot be clipped "
            "(pass error_if_nonfinite=False to scale them anyway)"
        )
    coef = min(cap / (total + 1e-6), 1.0)
    if coef < 1.0 or coef != coef:
        for p, g in grads:
            if type(g) is float:
                p.grad = g * coef
            else:
                with quiet(namespace(g)):  # inf * 0 is nan, silently, as in PyTorch
                    g *= coef  # in place, as torch's clip_grad_norm_ (a Tensor grad's array too)
    return total


__all__ = ["clip_grad_norm_"]
