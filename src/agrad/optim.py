"""Optimizers (``SGD``, ``Adam``, ``AdamW``) and learning-rate schedules.

The update rules are PyTorch's ``torch.optim`` ones, written once for a number
or an array, so a model trained here follows the same path as in PyTorch. An
optimizer reads each parameter's ``.grad`` and changes its ``.data``; it builds
no graph. Parameters are Values (``.data`` a float) or Tensors (``.data`` an
array, changed in place); a Tensor whose ``.grad`` is None is skipped, as
PyTorch skips it.

A training step, as in micrograd's demo::

    opt = SGD(model.parameters(), lr=1.0)
    lr_at = linear_decay(1.0, steps)          # 1.0 - 0.9 * k / steps
    for k in range(steps):
        loss = ...
        opt.zero_grad(); loss.backward()
        opt.lr = lr_at(k); opt.step()

>>> from agrad import Value
>>> w = Value(3.0); opt = SGD([w], lr=0.1)
>>> (w * w).backward(); opt.step(); w.data  # 3 - 0.1 * 6
2.4
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from agrad._checks import count, number, quote, real
from agrad.tensor import _COPY, Tensor, _grad_array, namespace
from agrad.value import Value

Param = Value | Tensor


def _hyper(x: object, name: str, hi: float = math.inf, hi_open: bool = False) -> float:
    """A hyper-parameter as float: never negative, at most hi (or below it)."""
    return number(x, name, 0.0, hi, hi_open)


class Optimizer:
    """Base class: holds the parameters and the learning rate ``lr`` (set it freely between steps).

    A subclass defines ``step()``, reading each ``p.grad`` and changing ``p.data``.

    >>> from agrad import Value
    >>> class SignSGD(Optimizer):
    ...     def step(self):
    ...         for p in self.params: p.data -= self.lr * ((p.grad > 0) - (p.grad < 0))
    >>> w = Value(1.0); opt = SignSGD([w], lr=0.25); w.grad = 40.0; opt.step(); w.data
    0.75
    """

    def __init__(self, params: Iterable[Param], lr: float) -> None:
        ps = list(params)
        if not ps:
            raise ValueError("optimizer got an empty parameter list (did the model build any parameters?)")
        for i, p in enumerate(ps):
            if not isinstance(p, Value | Tensor):
                raise TypeError(f"params[{i}] must be a Value or a Tensor, got {type(p).__name__}: {quote(p)}")
            if isinstance(p, Tensor) and not p.requires_grad:
                raise ValueError(f"params[{i}] is a Tensor with requires_grad=False: it would never get a gradient")
        if len(set(ps)) != len(ps):
            raise ValueError("optimizer got the same parameter twice; it would be updated twice per step")
        self.params = ps
        self.lr = lr
        self.made: list[Any] = [None] * len(ps)  # each parameter's array as the last step made it (see _minus)

    @property
    def lr(self) -> float:
        """The learning rate; each assignment is checked, so a schedule's nan is refused, not spread to every weight.

        >>> from agrad import Value
        >>> opt = SGD([Value(1.0)], lr=0.1); opt.lr = 0.05; opt.lr
        0.05
        >>> opt.lr = float("nan")
        Traceback (most recent call last):
        ...
        ValueError: lr must be a finite number >= 0.0, got nan
        """
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _hyper(value, "lr")

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to 0.0 (a Value's) or None (a Tensor's, as PyTorch does).

        >>> from agrad import Value
        >>> w = Value(1.0); w.grad = 3.0; SGD([w]).zero_grad(); w.grad
        0.0
        """
        for p in self.params:
            p.grad = None if type(p) is Tensor else 0.0

    def step(self) -> None:
        """Update every parameter from its ``.grad``; each subclass defines it.

        >>> from agrad import Value
        >>> w = Value(2.0); w.grad = 1.0; SGD([w], lr=0.5).step(); w.data  # 2 - 0.5 * 1
        1.5
        >>> Optimizer([w], lr=0.5).step()
        Traceback (most recent call last):
        ...
        NotImplementedError
        """
        raise NotImplementedError

    def _grads(self) -> list[Any]:
        """Every parameter's gradient, a float or an array (None: skip it), checked before a step changes anything."""
        gs = [p.grad for p in self.params]
        for g in gs:  # the usual case of Values, floats, without the per-item conversion below (half a step's time)
            if type(g) is not float:
                break
        else:
            return gs
        return [_grad(p, i) for i, p in enumerate(self.params)]


def _grad(p: Param, i: int) -> Any:
    g = p.grad
    if type(g) is float:
        return g
    # a grad is a Value or a Tensor after backward(create_graph=True); the update needs only its number
    if type(p) is Tensor:
        if g is None:
            return None
        d = p.data
        if type(g) is type(d) and g.shape == d.shape and g.dtype == d.dtype:  # what backward gives: take it as is
            return g
        return _grad_array(p, g, f"params[{i}].grad")  # an array of p's shape, or a ValueError saying so
    return g.data if isinstance(g, Value) else real(g, f"params[{i}].grad")


def _copy(x: Any) -> Any:
    """A float, or a copy of an array: a buffer must not alias a gradient that may change in place."""
    return x if type(x) is float else namespace(x).asarray(x, copy=True)


def _minus(d: Any, step: Any, mine: bool = False) -> Any:
    """d - step: in place into d when ``mine`` (an array the optimizer made), else a new array.

    So the user's array is never written to, and from its second step on an
    update writes its parameter's own memory, as NumPy's ``w -= lr * g`` does: a new
    array per parameter per step makes the heap grow and shrink, and then every
    step pays page faults for its largest arrays (a 784-256-256-10 MLP's SGD step
    took 20% longer so, in some runs). ``step`` is the caller's own temporary:
    for NumPy arrays of d's dtype and shape a new difference goes into it, one
    array made per update instead of two.

    >>> import numpy as np
    >>> _minus(np.array([1.0, 2.0]), np.array([0.5, 0.5])).tolist()
    [0.5, 1.5]
    """
    if type(step) in _COPY and type(d) is type(step) and step.dtype == d.dtype and step.shape == d.shape:
        import numpy as np

        return np.subtract(d, step, out=d if mine else step)
    return d - step


def _numpy_pair(a: Any, b: Any) -> bool:
    """Whether a, an optimizer's own array, can take an update from b in place: NumPy, one dtype, one shape."""
    return type(a) in _COPY and type(b) is type(a) and a.dtype == b.dtype and a.shape == b.shape


def _moments_in_place(m: Any, v: Any, g: Any, w1: float, b2: float) -> None:
    """Adam's m and v (NumPy arrays) updated in place, rounded as Adam.step's expressions round them.

    >>> import numpy as np
    >>> m, v = np.array([1.0]), np.array([4.0]); _moments_in_place(m, v, np.array([3.0]), 0.25, 0.5)
    >>> m.tolist(), v.tolist()  # 1 + 0.25 (3 - 1), 4 * 0.5 + 0.5 * 3 * 3
    ([1.5], [6.5])
    """
    import numpy as np

    a = g - m
    if w1 < 0.5:
        a *= w1
        m += a
    else:
        a *= 1.0 - w1
        np.subtract(g, a, out=m)
    v *= b2
    a = (1.0 - b2) * g
    a *= g
    v += a


def _sqrt(x: Any) -> Any:
    return math.sqrt(x) if type(x) is float else namespace(x).sqrt(x)


class SGD(Optimizer):
    """Stochastic gradient descent with PyTorch's momentum, dampening, Nesterov and weight decay.

    With g = grad + weight_decay * p: the buffer is b = g on the first step,
    then b = momentum * b + (1 - dampening) * g; the step uses
    g + momentum * b (Nesterov) or b, and p -= lr * step.

    >>> from agrad import Value
    >>> w = Value(1.0); opt = SGD([w], lr=0.5, momentum=0.5)
    >>> for _ in range(2):
    ...     opt.zero_grad(); w.grad = 1.0; opt.step()
    >>> w.data  # 1 - 0.5 * 1 - 0.5 * (0.5 * 1 + 1)
    -0.25
    """

    def __init__(
        self,
        params: Iterable[Param],
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = _hyper(momentum, "momentum")
        self.dampening = _hyper(dampening, "dampening", hi=1.0)
        self.weight_decay = _hyper(weight_decay, "weight_decay")
        if nesterov and (self.momentum <= 0.0 or self.dampening != 0.0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0 (as in PyTorch)")
        self.nesterov = bool(nesterov)
        self.buffers: list[Any] | None = None  # momentum buffers, each made on its parameter's first step

    def step(self) -> None:
        """p -= lr * (the gradient, after weight decay and momentum).

        >>> from agrad import Value
        >>> w = Value(1.0); w.grad = 2.0; SGD([w], lr=0.1, weight_decay=0.5).step(); w.data  # 1 - 0.1 * (2 + 0.5 * 1)
        0.75
        """
        lr, mu, wd, damp = self.lr, self.momentum, self.weight_decay, 1.0 - self.dampening
        grads = self._grads()
        if mu and self.buffers is None:
            self.buffers = [None] * len(self.params)
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g is None:
                continue
            if wd:
                g = g + wd * p.data
            if mu:
                b = self.buffers[i]  # type: ignore[index]
                if b is None:
                    b = _copy(g)
                elif _numpy_pair(b, g):  # the buffer is the optimizer's own: in place, as the parameter (_minus)
                    b *= mu
                    b += damp * g
                else:
                    b = mu * b + damp * g
                self.buffers[i] = b  # type: ignore[index]
                g = g + mu * b if self.nesterov else b
            d = p.data
            p.data = self.made[i] = _minus(d, lr * g, d is self.made[i])


class Adam(Optimizer):
    """Adam (Kingma and Ba), with PyTorch's bias correction and L2-style ``weight_decay`` (default 0).

    At step t: g = grad + weight_decay * p, m = β1 m + (1 - β1) g,
    v = β2 v + (1 - β2) g², p -= lr / (1 - β1^t) * m / (sqrt(v / (1 - β2^t)) + eps).

    >>> from agrad import Value
    >>> w = Value(1.0); opt = Adam([w], lr=0.1)
    >>> w.grad = 5.0; opt.step(); round(w.data, 9)  # the first step moves by lr, whatever the gradient's size
    0.9
    """

    decoupled = False  # AdamW sets this: decay p directly instead of adding it to the gradient
    default_weight_decay = 0.0  # PyTorch's defaults: 0 for Adam, 0.01 for AdamW

    def __init__(
        self,
        params: Iterable[Value | Tensor],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float | None = None,
    ) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {quote(betas)}")
        self.betas = (_hyper(betas[0], "beta1", hi=1.0, hi_open=True), _hyper(betas[1], "beta2", hi=1.0, hi_open=True))
        self.eps = _hyper(eps, "eps")
        self.weight_decay = _hyper(self.default_weight_decay if weight_decay is None else weight_decay, "weight_decay")
        self.t = 0  # steps taken
        self.steps = [0] * len(self.params)  # steps each parameter took (a Tensor with no grad sits one out)
        self.m: list[Any] = [0.0] * len(self.params)
        self.v: list[Any] = [0.0] * len(self.params)

    def step(self) -> None:
        """One Adam update of every parameter.

        On the first step m / (1 - β1) = g and v / (1 - β2) = g², so each p moves by lr * g / |g|:

        >>> from agrad import Value
        >>> a, b = Value(1.0), Value(1.0); opt = Adam([a, b], lr=0.1); a.grad, b.grad = 5.0, -0.01; opt.step()
        >>> round(a.data, 6), round(b.data, 6), opt.t, round(opt.m[0], 9)  # m = (1 - 0.9) * 5
        (0.9, 1.1, 1, 0.5)
        """
        grads = self._grads()  # first, so that a bad gradient leaves the step count as it was
        self.t += 1
        lr, (b1, b2), eps, wd = self.lr, self.betas, self.eps, self.weight_decay
        w1 = 1.0 - b1
        m, v = self.m, self.v
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g is None:
                continue
            self.steps[i] += 1
            t = self.steps[i]
            step_size = lr / (1.0 - b1**t)
            c2 = (1.0 - b2**t) ** 0.5
            d = p.data
            mine = d is self.made[i]
            if wd and self.decoupled:
                if mine and _numpy_pair(d, d):
                    d *= 1.0 - lr * wd
                else:
                    d = p.data = self.made[i] = d * (1.0 - lr * wd)
                    mine = True
            elif wd:
                g = g + wd * d
            # b1*m + (1-b1)*g, in the rounding order of PyTorch's lerp, so both give the same bits
            if _numpy_pair(m[i], g):  # from the second step: the moments' own arrays, in place (see _minus)
                _moments_in_place(m[i], v[i], g, w1, b2)
            else:
                m[i] = m[i] + w1 * (g - m[i]) if w1 < 0.5 else g - (g - m[i]) * (1.0 - w1)
                v[i] = v[i] * b2 + (1.0 - b2) * g * g
            p.data = self.made[i] = _minus(d, step_size * m[i] / (_sqrt(v[i]) / c2 + eps), mine)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p *= 1 - lr * weight_decay, then Adam.

    Same arguments as ``Adam``; ``weight_decay`` defaults to 0.01, as in PyTorch.

    >>> from agrad import Value
    >>> w = Value(1.0); opt = AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = 0.0; opt.step(); w.data  # no gradient: only the decay, 1 * (1 - 0.1 * 0.5)
    0.95
    """

    decoupled = True
    default_weight_decay = 0.01


def linear_decay(lr: float, steps: int, end_factor: float = 0.1) -> Callable[[int], float]:
    """The learning rate for step k, falling linearly from lr to lr * end_factor over ``steps`` steps.

    With lr = 1 and the default end_factor this is micrograd's demo, 1.0 - 0.9 * k / steps
    (PyTorch's ``LinearLR`` with start_factor 1).

    >>> at = linear_decay(1.0, 100)
    >>> at(0), at(50), at(100) == at(200) == 1.0 - 0.9 * 100 / 100
    (1.0, 0.55, True)
    """
    lr, n = _hyper(lr, "lr"), count(steps, "steps")
    drop = 1.0 - _hyper(end_factor, "end_factor")
    return lambda k: lr * (1.0 - drop * min(k, n) / n)


def cosine_decay(lr: float, steps: int, min_lr: float = 0.0) -> Callable[[int], float]:
    """The learning rate for step k on a half cosine from lr down to min_lr (PyTorch's ``CosineAnnealingLR``).

    >>> at = cosine_decay(1.0, 10)
    >>> at(0), round(at(5), 12), at(10)
    (1.0, 0.5, 0.0)
    """
    lr, n = _hyper(lr, "lr"), count(steps, "steps")
    lo = _hyper(min_lr, "min_lr")
    return lambda k: lo + (lr - lo) * (1.0 + math.cos(math.pi * min(k, n) / n)) / 2.0


__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "cosine_decay", "linear_decay"]
