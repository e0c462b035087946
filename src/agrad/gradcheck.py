"""Gradient checking: every mode of differentiation against central differences.

``gradcheck`` compares the Jacobian of f found three ways (reverse mode by
``jacrev``, reverse mode by ``Value.backward()``, forward mode by ``jacfwd``)
with ``(f(x + eps) - f(x - eps)) / 2 eps``. ``gradgradcheck`` does the same for
the first derivatives themselves, found by reverse mode, forward mode and
``backward(create_graph=True)``, so it covers every pairing of the two modes.
As in HIPS/autograd's ``check_grads(modes=["fwd", "rev"], order=2)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from agrad._checks import quote
from agrad.transforms import grad, jacfwd, jacrev
from agrad.value import Value, _number

Fn = Callable[..., Any]
MODES = ("rev", "fwd")


class GradcheckError(RuntimeError):
    """A derivative disagreed with central differences; the message names where and by how much.

    Attributes: ``input`` and ``output`` (indices), ``mode``, ``analytic``, ``numeric``.

    ``float(x)`` cuts x out of the graph, so the derivative of x * x found here is x, not 2x:

    >>> try: gradcheck(lambda x: x * float(x), [3.0])
    ... except GradcheckError as e: print(e.input, e.output, e.mode, e.analytic, round(e.numeric, 4))
    0 0 reverse mode (jacrev) 3.0 6.0
    """

    def __init__(self, message: str, at: tuple[int, int], mode: str, analytic: float, numeric: float) -> None:
        super().__init__(message)
        self.input, self.output = at
        self.mode = mode
        self.analytic, self.numeric = analytic, numeric


def _floats(out: Any) -> list[float]:
    """f's result (a scalar or a sequence of them) as a list of floats."""
    if isinstance(out, (list, tuple)):
        return [float(o) for o in out]
    return [float(out)]


def _rows(jac: Any, scalar_out: bool) -> list[list[float]]:
    rows = [jac] if scalar_out else jac
    return [[float(v) for v in row] for row in rows]


def _by_backward(f: Fn, xs: list[float], n_out: int) -> list[list[float]]:
    """The Jacobian row by row through Value.backward(), the way a training loop gets gradients."""
    rows = []
    for i in range(n_out):
        vs = [Value(x) for x in xs]
        out = f(*vs)
        y = out[i] if isinstance(out, (list, tuple)) else out
        for v in vs:
            v.zero_grad()  # f may have run backward itself (a first derivative by backward does)
        if isinstance(y, Value):
            y.backward()
        rows.append([float(v.grad) for v in vs])
    return rows


def _close(a: float, n: float, atol: float, rtol: float) -> bool:
    if math.isnan(a) or math.isnan(n):
        return math.isnan(a) and math.isnan(n)
    if math.isinf(a) or math.isinf(n):
        return a == n
    return abs(a - n) <= atol + rtol * abs(n)


def gradcheck(
    f: Fn,
    inputs: Sequence[float],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    modes: Sequence[str] = MODES,
) -> bool:
    """True if every derivative of f at inputs, in every mode, matches central differences.

    f takes ``len(inputs)`` scalars and returns a scalar or a list of them.
    ``modes`` picks ``"rev"`` (jacrev and Value.backward) and/or ``"fwd"`` (jacfwd).
    A mismatch raises GradcheckError naming the input, the output, the mode and both values.

    >>> import agrad
    >>> gradcheck(lambda x, y: agrad.sin(x) * y, [0.5, 2.0])
    True

    At a kink the derivative agrad uses (relu'(0) = 0) is not what central differences see:

    >>> gradcheck(agrad.relu, [0.0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    agrad.gradcheck.GradcheckError: d out[0] / d input 0 (= 0.0) by reverse mode (jacrev) is 0.0, but central ...
    """
    xs = _arguments("gradcheck", f, inputs, eps, atol, rtol)
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ValueError(f"gradcheck modes must be some of {MODES}, got {tuple(modes)!r}")
    out = f(*xs)
    scalar_out = not isinstance(out, (list, tuple))
    n_out = len(_floats(out))
    numeric = [[0.0] * len(xs) for _ in range(n_out)]
    for j in range(len(xs)):
        up, dn = list(xs), list(xs)
        up[j] += eps
        dn[j] -= eps
        for i, (a, b) in enumerate(zip(_floats(f(*up)), _floats(f(*dn)))):
            numeric[i][j] = (a - b) / (2 * eps)
    found: list[tuple[str, list[list[float]]]] = []
    if "rev" in modes:
        found.append(("reverse mode (jacrev)", _rows(jacrev(f)(*xs), scalar_out)))
        found.append(("reverse mode (Value.backward)", _by_backward(f, xs, n_out)))
    if "fwd" in modes:
        found.append(("forward mode (jacfwd)", _rows(jacfwd(f)(*xs), scalar_out)))
    for mode, jac in found:
        for i in range(n_out):
            for j in range(len(xs)):
                a, n = jac[i][j], numeric[i][j]
                if not _close(a, n, atol, rtol):
                    raise GradcheckError(
                        f"d out[{i}] / d input {j} (= {xs[j]!r}) by {mode} is {a!r}, but central differences "
                        f"give {n!r} (eps={eps}); |difference| {abs(a - n):.3g} > atol + rtol * |numeric| "
                        f"= {atol + rtol * abs(n):.3g}",
                        (j, i),
                        mode,
                        a,
                        n,
                    )
    return True


def _arguments(name: str, f: object, inputs: object, eps: object, atol: object, rtol: object) -> list[float]:
    """The inputs as floats, after checking every argument of gradcheck or gradgradcheck."""
    if not callable(f):
        raise TypeError(f"{name} expects a function to check, got {type(f).__name__}: {quote(f)}")
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"{name} expects inputs as a list or tuple of numbers, got {type(inputs).__name__}")
    if not inputs:
        raise ValueError(f"{name} needs at least one input to differentiate with respect to, got {quote(inputs)}")
    xs = [_input(name, x, i) for i, x in enumerate(inputs)]
    tols = {"eps": eps, "atol": atol, "rtol": rtol}
    for k, v in tols.items():
        if not isinstance(v, numbers.Real) or isinstance(v, bool):
            raise TypeError(f"{name}: {k} must be a real number, got {type(v).__name__}: {quote(v)}")
    if not (eps > 0 and atol >= 0 and rtol >= 0):  # type: ignore[operator]
        raise ValueError(f"{name} needs eps > 0, atol >= 0 and rtol >= 0, got eps={eps}, atol={atol}, rtol={rtol}")
    return xs


def _input(name: str, x: object, i: int) -> float:
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        return _number(x)  # type: ignore[return-value]
    raise TypeError(f"{name} inputs must be real numbers, got {type(x).__name__} for input {i}: {quote(x)}")


def _first_by_backward(f: Fn) -> Fn:
    """f's gradient through backward(create_graph=True): differentiable, as in PyTorch."""

    def df(*xs: Any) -> list[Any]:
        vs = [Value(float(x)) if isinstance(x, numbers.Real) else x + Value(-0.0) for x in xs]
        out = f(*vs)
        if isinstance(out, Value):
            out.backward(create_graph=True)
        return [v.grad for v in vs]

    return df


def gradgradcheck(
    f: Fn,
    inputs: Sequence[float],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """True if the second derivatives of scalar f, by every pairing of modes, match central differences.

    The first derivatives are found by reverse mode (``grad``), by forward mode
    (``jacfwd``) and by ``backward(create_graph=True)``; each is then checked by
    gradcheck, whose numeric side differences that first derivative.

    >>> import agrad
    >>> gradgradcheck(lambda x, y: agrad.exp(x * y), [0.5, -1.0])
    True
    """
    n = len(_arguments("gradgradcheck", f, inputs, eps, atol, rtol))
    by_rev = grad(f, argnums=tuple(range(n)))
    gradcheck(lambda *xs: list(by_rev(*xs)), inputs, eps, atol, rtol)
    gradcheck(jacfwd(f), inputs, eps, atol, rtol)
    # backward() needs Values, so this first derivative can only be differentiated in reverse mode.
    return gradcheck(_first_by_backward(f), inputs, eps, atol, rtol, modes=("rev",))
