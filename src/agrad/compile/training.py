"""Compiled training: ``CompiledSGD`` (the fastest step), and the step behind ``agrad train --compile``.

``CompiledSGD`` runs a whole SGD step (the mean loss over a batch, its gradient
and the update of every parameter) as one compiled call, with the parameters
kept in one flat float64 array between steps, as ``jax.jit`` keeps them in its
own arrays. The parameters' Values are not touched while it trains:
``write_values()`` copies the trained numbers into their ``.data``.

``compiled_step`` keeps eager training's contract instead (gradients in each
``.grad``, any optimizer after it), for the command line:

The eager step (``agrad.mlp_run.make_step``) builds one graph over the whole batch.
The compiled step traces the loss of *one* sample, then runs that trace on the
whole batch with the NumPy executor, ``reduce="mean"``: the mean of the
per-sample losses is the full-batch loss, and the L2 term, which does not
depend on the sample, averages to itself. The gradients land in each
parameter's ``.grad``, so the optimizer and the loop around the step are the
same as in eager training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agrad._checks import number
from agrad.compile.api import compile
from agrad.compile.levels import numpy
from agrad.losses import log_softmax
from agrad.nn import MLP
from agrad.value import Value, dot, relu


class CompiledSGD:
    """SGD on the batch-mean of ``loss``: each call computes the loss, its gradient and the update in one compiled call.

    ``loss(*sample)`` is the loss of one sample, written with agrad ops over
    ``params`` (Values it reads but does not take), as for
    ``compile(loss, params=params, reduce="mean")``. Calling the step with the
    batch (NumPy arrays, one per argument; numbers are shared by every sample)
    returns the mean loss at the current parameters, then sets
    ``params -= lr * gradient``: what eager agrad computes with ``loss.backward()``
    and ``SGD(params, lr).step()``, to the last bit.

    The contract: the parameters live in ``flat`` (a float64 array, in the
    order of ``params``), copied from the Values when the step is made. Training
    changes ``flat`` in place and leaves the Values (``.data`` and ``.grad``)
    alone, so reading the model meanwhile gives the numbers it started from:

    * ``write_values()`` copies ``flat`` into each parameter's ``.data`` (at the
      end of training, or before using the model eagerly);
    * ``read_values()`` copies the Values' ``.data`` into ``flat`` (after
      changing the Values, e.g. ``model.load_state_dict``).

    ``lr`` may be set between steps (a schedule). With the native executor the
    update runs inside the same C call as the forward and backward pass; with
    NumPy it is one NumPy expression after it. Every parameter must affect the
    loss (one that does not would never change). A step object updates one
    array in place, so call it from one thread at a time.

    >>> model = MLP(2, [4, 1], seed=0)
    >>> def loss(x0, x1, y): return relu(1.0 - y * model([x0, x1]))
    >>> step = CompiledSGD(loss, model.parameters(), lr=0.1, executor="numpy")
    >>> import numpy as np
    >>> X, Y = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([1.0, -1.0])
    >>> w0 = model.parameters()[0].data
    >>> losses = [step(X[:, 0], X[:, 1], Y) for _ in range(3)]
    >>> losses[2] < losses[0], model.parameters()[0].data == w0  # the Values wait for write_values()
    (True, True)
    >>> step.write_values(); model.parameters()[0].data == float(step.flat[0]) != w0
    True
    """

    def __init__(self, loss: Callable[..., Any], params: Sequence[Value], *, lr: float, executor: str = "auto") -> None:
        ps = list(params)
        if not ps:
            raise ValueError("CompiledSGD: params is empty (did the model build any parameters?)")
        for i, p in enumerate(ps):
            if not isinstance(p, Value):
                raise TypeError(f"CompiledSGD: params[{i}] must be a Value, got {type(p).__name__}: {p!r}")
        if len(set(ps)) != len(ps):
            raise ValueError("CompiledSGD: the same parameter is in params twice; it would be updated twice per step")
        np = numpy()
        self.params = ps
        self.lr = lr
        self._flat: Any = np.array([p.data for p in ps], dtype=np.float64)
        self.fn = compile(loss, params=ps, reduce="mean", executor=executor)
        self.last_executor = ""
        # After a native call on 1-D arrays: (the program bound to flat and the batch size, shape,
        # number of arguments, other captured Values); the next call with arguments of the same
        # kind skips the general checks and reuses the buffers.
        self._fast: tuple[Any, tuple[int, ...], int, list[Value]] | None = None
        self._ndarray, self._f8 = np.ndarray, np.dtype(np.float64)

    @property
    def flat(self) -> Any:
        """The parameters' numbers, a float64 array in the order of ``params``, changed in place by each step.

        >>> w = Value(2.0); CompiledSGD(lambda x: w * x, [w], lr=0.1).flat
        array([2.])
        """
        return self._flat

    @property
    def lr(self) -> float:
        """The learning rate, checked on each assignment (a finite number >= 0).

        >>> step = CompiledSGD(lambda x: Value(1.0) * x, [Value(1.0)], lr=0.1); step.lr = 0.05; step.lr
        0.05
        """
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = number(value, "lr", 0.0)

    def __call__(self, *batch: Any) -> float:
        """One step: the mean loss at the current parameters, then the update of ``flat``."""
        fast = self._fast
        if fast is not None and len(batch) == fast[2]:
            bound, shape, _, others = fast
            for x in batch:
                if type(x) is not self._ndarray or x.shape != shape or x.dtype != self._f8:
                    break
            else:
                return float(bound(batch, [v.data for v in others] if others else [], self._lr)[0])
        return self._step(batch)

    def _step(self, batch: tuple[Any, ...]) -> float:
        f, n, flat = self.fn, len(self.params), self._flat
        entry, prog, _, values, shape, size = f._prepare(batch)
        self.last_executor = f.last_executor
        captured = entry.graph.captured
        if len(captured) < n or any(a is not b for a, b in zip(captured, self.params)):
            used = set(captured)
            i = next(i for i, p in enumerate(self.params) if p not in used)
            raise ValueError(f"CompiledSGD: params[{i}] does not affect the loss, so SGD would never change it")
        others = captured[n:]
        c = [v.data for v in others]
        if f.last_executor == "native" and shape is not None:
            bound = prog.bind_sgd(flat, size)
            if len(shape) == 1 and all(type(x) is self._ndarray and x.shape == shape for x in batch):
                self._fast = (bound, shape, len(batch), others)
            return float(bound(values, c, self._lr)[0])
        outs, grads = prog(values, flat.tolist() + c, size) if shape is not None else prog(values, flat.tolist() + c)
        if shape is not None and not getattr(prog, "reduces_outputs", False):
            outs = [f._reduce_out(o, shape, size) for o in outs]
        flat -= self._lr * numpy().array(grads, dtype=float)  # elementwise p - lr * g, as SGD.step on each Value
        return float(outs[0])

    def write_values(self) -> None:
        """Copy the trained numbers in ``flat`` into each parameter's ``.data``.

        >>> w = Value(2.0); step = CompiledSGD(lambda x: w * w * x, [w], lr=0.25)
        >>> step(1.0), w.data, step.write_values(), w.data  # d(w²)/dw = 4: 2 - 0.25 * 4
        (4.0, 2.0, None, 1.0)
        """
        for p, x in zip(self.params, self._flat.tolist()):
            p.data = x

    def read_values(self) -> None:
        """Copy each parameter's ``.data`` into ``flat`` (after the Values were changed outside the step).

        >>> w = Value(2.0); step = CompiledSGD(lambda x: w * x, [w], lr=0.1)
        >>> w.data = 5.0; step.read_values(); step.flat
        array([5.])
        """
        self._flat[:] = [p.data for p in self.params]


def compiled_step(
    model: MLP, X: Sequence[Sequence[float]], y: Sequence[int], classes: int, alpha: float
) -> Callable[[], tuple[float, float]]:
    """A full-batch step: zero_grad, loss and backward as one compiled call; gives (loss, accuracy).

    Two classes use the max-margin loss (labels -1/+1), more use cross-entropy
    (with one-hot targets, one array per class); both add ``alpha * Σ p²``.
    The accuracy is that of the scores before the update, as in the eager step.

    >>> model = MLP(2, [4, 1], seed=0)
    >>> loss, acc = compiled_step(model, [[0.0, 1.0], [1.0, 0.0]], [0, 1], 2, 1e-4)()
    >>> loss > 0 and 0.0 <= acc <= 1.0 and model.parameters()[0].grad != 0.0
    True
    """
    np = numpy()
    params = [p for p in model.parameters() if isinstance(p, Value)]  # a scalar MLP's: all of them
    x0, x1 = np.array([x[0] for x in X], dtype=float), np.array([x[1] for x in X], dtype=float)
    labels = np.array(y)

    def scores(a: Any, b: Any) -> Any:
        return model([a, b])

    def hinge(a: Any, b: Any, sign: Any) -> Any:
        return relu(1.0 - sign * scores(a, b)) + alpha * dot(params, params)

    def cross_entropy(a: Any, b: Any, *hot: Any) -> Any:
        return -dot(list(hot), log_softmax(scores(a, b))) + alpha * dot(params, params)

    loss: Callable[..., Any] = hinge
    targets = [2.0 * labels - 1.0]
    if classes != 2:
        loss, targets = cross_entropy, [(labels == c).astype(float) for c in range(classes)]
    grad_step = compile(loss, params=params, reduce="mean")
    forward = compile(scores)

    def step() -> tuple[float, float]:
        model.zero_grad()
        value = grad_step(x0, x1, *targets)
        out = forward(x0, x1)
        guess = (out > 0).astype(int) if classes == 2 else np.argmax(np.stack(out), axis=0)
        return float(value), float(np.mean(guess == labels))

    return step
