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
from agrad.tensor import Tensor, _is_array, namespace
from agrad.transforms import grad, jacfwd, jacrev
from agrad.value import Value, _number

Fn = Callable[..., Any]
MODES = ("rev", "fwd")


def _tensor_leaf(x: Any) -> Any:
    """A leaf for x (a Tensor that requires grad, as an outer transform's, stays in its graph)."""
    if isinstance(x, Tensor) and x.requires_grad:
        t = x + Tensor(x._xp.zeros_like(x.data), requires_grad=True)
        t.retain_grad()  # an intermediate: backward keeps its .grad only when asked, as PyTorch's does
        return t
    return Tensor(x.data if isinstance(x, Tensor) else x, requires_grad=True)


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


def _mismatch(
    what: str, at: tuple[int, int], mode: str, a: float, n: float, eps: float, atol: float, rtol: float
) -> GradcheckError:
    return GradcheckError(
        f"{what} by {mode} is {a!r}, but central differences give {n!r} (eps={eps}); |difference| "
        f"{abs(a - n):.3g} > atol + rtol * |numeric| = {atol + rtol * abs(n):.3g}",
        at,
        mode,
        a,
        n,
    )


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
    if any(_is_array(x) for x in xs):
        return _gradcheck_arrays(f, xs, eps, atol, rtol, modes)
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
                    raise _mismatch(f"d out[{i}] / d input {j} (= {xs[j]!r})", (j, i), mode, a, n, eps, atol, rtol)
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


def _input(name: str, x: object, i: int) -> Any:
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        return _number(x)
    if isinstance(x, Tensor) or _is_array(x):
        return Tensor(x).data  # a real floating array: ints become float64
    raise TypeError(f"{name} inputs must be real numbers or arrays, got {type(x).__name__} for input {i}: {quote(x)}")


# -- arrays: the same three modes, element by element ----------------------------------


def _outputs(out: Any) -> list[Any]:
    """f's result (an array, a Tensor, a number, or a list/tuple of them) as a list of NumPy arrays."""
    import numpy as np

    items = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(o.data if isinstance(o, (Tensor, Value)) else o, dtype=np.float64) for o in items]


def _gradcheck_arrays(f: Fn, xs: list[Any], eps: float, atol: float, rtol: float, modes: Sequence[str]) -> bool:
    """gradcheck for array inputs: blocks ``J[i][j]`` of shape out_i.shape + x_j.shape, compared elementwise."""
    import numpy as np

    n = len(xs)
    # f is called on constant Tensors, so that a Tensor method (x.sqrt()) works on every input
    out = f(*[Tensor(x) if _is_array(x) else x for x in xs])
    listed = isinstance(out, (list, tuple))
    outs = _outputs(out)
    host = [np.asarray(x, dtype=np.float64) for x in xs]
    back = [namespace(x) if _is_array(x) else None for x in xs]

    def call(j: int, k: tuple[int, ...], d: float) -> list[Any]:
        moved = [h.copy() for h in host]
        moved[j][k] += d
        return _outputs(f(*[Tensor(b.asarray(m)) if b is not None else float(m) for m, b in zip(moved, back)]))

    numeric = [[np.zeros(o.shape + h.shape) for h in host] for o in outs]
    for j, h in enumerate(host):
        for k in np.ndindex(*h.shape):
            for i, (a, b) in enumerate(zip(call(j, k, eps), call(j, k, -eps))):
                numeric[i][j][(..., *k)] = (a - b) / (2 * eps)
    nums = tuple(range(n))
    found: list[tuple[str, Any]] = []
    if "rev" in modes:
        found.append(("reverse mode (jacrev)", jacrev(f, nums)(*xs)))
        found.append(("reverse mode (Tensor.backward)", _array_jac_by_backward(f, xs, outs, listed)))
    if "fwd" in modes:
        found.append(("forward mode (jacfwd)", jacfwd(f, nums)(*xs)))
    for mode, jac in found:
        blocks = jac if listed else [jac]
        for i, row in enumerate(blocks):
            for j in range(n):
                got = np.asarray(row[j].data if isinstance(row[j], Tensor) else row[j], dtype=np.float64)
                want = numeric[i][j]
                for k in np.ndindex(*want.shape):
                    a, nv = float(got[k]), float(want[k])
                    if not _close(a, nv, atol, rtol):
                        what = f"d out[{i}]{list(k)[: outs[i].ndim]} / d input {j}{list(k)[outs[i].ndim :]}"
                        raise _mismatch(what, (j, i), mode, a, nv, eps, atol, rtol)
    return True


def _array_jac_by_backward(f: Fn, xs: list[Any], outs: list[Any], listed: bool) -> Any:
    """The Jacobian blocks through Tensor.backward(), one backward per output element."""
    import numpy as np

    blocks = []
    for i, o in enumerate(outs):
        per_input: list[list[Any]] = [[] for _ in xs]
        for k in np.ndindex(*o.shape):
            ts = [Tensor(x, requires_grad=True) if _is_array(x) else Value(x) for x in xs]
            out = f(*ts)
            y = out[i] if listed else out
            for t in ts:
                t.zero_grad()  # f may have run backward itself (a first derivative by backward does)
            if isinstance(y, Tensor):
                seed = np.zeros(o.shape)
                seed[k] = 1.0
                y.backward(gradient=y._xp.asarray(seed, dtype=y.dtype))
            elif isinstance(y, Value):
                y.backward()
            for j, t in enumerate(ts):
                g = t.grad if t.grad is not None else 0.0
                per_input[j].append(np.asarray(g, dtype=np.float64) * np.ones(np.shape(xs[j])))
        blocks.append(
            [
                np.stack(p).reshape(o.shape + np.shape(x)) if p else np.zeros(o.shape + np.shape(x))
                for p, x in zip(per_input, xs)
            ]
        )
    return blocks if listed else blocks[0]  # laid out as jacrev lays it out


def _first_by_backward(f: Fn) -> Fn:
    """f's gradient through backward(create_graph=True): differentiable, as in PyTorch."""

    def df(*xs: Any) -> list[Any]:
        if any(isinstance(x, Tensor) or _is_array(x) for x in xs):
            ts = [_tensor_leaf(x) for x in xs]
            out = f(*ts)
            if isinstance(out, Tensor):
                out.backward(create_graph=True)
            return [t.grad if t.grad is not None else t._xp.zeros_like(t.data) for t in ts]
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
