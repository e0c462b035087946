"""The compiled training step behind ``agrad train --compile`` and ``agrad demo --compile``.

The eager step (``agrad.cli.make_step``) builds one graph over the whole batch.
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

from agrad.compile.api import compile
from agrad.compile.levels import numpy
from agrad.losses import log_softmax
from agrad.nn import MLP
from agrad.value import Value, dot, relu


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
