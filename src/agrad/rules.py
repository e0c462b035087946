"""The derivative table: every primitive, its VJP rule and, beside it, its JVP rule.

A VJP rule maps the incoming gradient ``g`` to one gradient per operand:
``vjp(g, out, *xs) -> tuple``. A JVP rule maps the operands' tangents to the
output's tangent: ``jvp(x_dots, out, *xs) -> out_dot``. ``out`` is the op's
result and ``xs`` its operands.

Rules call agrad's own functions (``exp``, ``log``, ``sin``, ...), which take a
Value or a float. backward() feeds them floats, so a plain backward builds no
nodes; with ``create_graph=True`` it feeds them Values, and the gradient is
itself a graph, so ``grad(grad(f))`` needs no extra code. A gradient given for
an operand that is a constant float is ignored.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agrad import kernels as K
from agrad.tensor import (
    _COPY,
    Tensor,
    amax,
    amin,
    broadcast_to,
    concatenate,
    cross_entropy,
    expand_dims,
    getitem,
    index_add,
    linear,
    logsumexp,
    matmul,
    namespace,
    one_hot,
    reshape,
    squeeze,
    stored_transposed,
    swapaxes_last,
    tensor_sum,
    transpose,
    where,
)
from agrad.value import Value, cos, dot, dot_relu, exp, log, maximum, minimum, sigmoid, sin, softplus, sqrt, tanh
from agrad.value import relu as _relu
from agrad.value import sum as _sum

X = Any  # a Value or a float, a Tensor or an array: every rule runs on the kinds its op takes


def _d(x: X) -> Any:
    """The number (or array) inside x: rules branch on data, never on node identity."""
    if type(x) is float:
        return x
    if isinstance(x, (Value, Tensor)):
        return x.data
    return x if hasattr(x, "shape") else float(x)


def _mask(kernel: Callable[[float], float], x: X) -> Any:
    """A piecewise-constant factor (sign, step): a float or a constant array, so it has no derivative."""
    if type(x) is float:  # a float walk's x is a float: one call fewer per relu
        return kernel(x)
    d = _d(x)
    if not hasattr(d, "shape"):  # a Value's float (or a compile-time symbol)
        return kernel(d)
    xp = namespace(d)
    if kernel is K.step:  # relu': 1 where d > 0 and where d is nan (its gradient passes), as K.step
        m = ~(d <= 0)  # not d <= 0: true above 0 and at nan, in one comparison
        # NumPy's product with g reads a boolean as 0 and 1 in g's dtype (as a hand-written x > 0 does):
        # no cast pass; the array API standard has no bool-float product, so others get d's dtype
        return m if type(d) in _COPY else xp.astype(m, d.dtype)
    return xp.astype(d > 0, d.dtype) - xp.astype(d < 0, d.dtype)  # abs': sign, 0 at 0 and at nan, as K.sign


def _differentiable(x: X) -> bool:
    """Will a rule's result on x be differentiated again? Not on a number or a raw array (nor in compile's
    symbolic copy): only on what records a graph, a Value, a Tensor or a forward-mode Dual."""
    return type(x) is not float and (isinstance(x, Value | Tensor) or hasattr(x, "tangent"))


def _finite_inverse(d: Any) -> Any:
    """Whether d ** -1 is finite (d is not 0, tiny or nan), for a float or elementwise for an array."""
    r = d**-1.0 if hasattr(d, "shape") else K.pow(d, -1.0)
    return (r == r) & (r - r == 0)  # r - r is nan for inf: no library call, so any array library does it


def _div(a: X, b: X) -> X:
    """a / b; Python raises on a float divided by zero, so fall back to IEEE (1/0 = inf).

    Also the table's function for ``/``: forward mode runs it on float primals.
    """
    try:
        return a / b
    except ZeroDivisionError:
        return K.div(float(a), float(b))


def _pow(x: X, y: X) -> X:
    """x ** y; on numbers, C's pow, as Python's float ** raises or turns complex at the edges.

    Also the table's function for ``**`` and ``pow``: forward mode runs it on float primals.
    """
    tx, ty = type(x), type(y)
    if (tx is float or tx is int) and (ty is float or ty is int):
        return K.pow(x, y)
    if ty is Tensor and tx is not Tensor:
        return y.__rpow__(x)  # an array library may refuse a Tensor on its right rather than defer to it
    return x**y


def _identity(x: X) -> X:
    return x


class _Zero:
    """The tangent of a constant operand: a symbolic zero, as in JAX.

    ``0.0 * inf`` is nan, so a float zero would let the partial derivative for a
    constant leak into the result (``0 ** y`` has partial ``y * 0 ** (y - 1) = inf``
    for its base). Any product with ``_Zero`` is ``_Zero``, and ``_plus`` drops it.
    Forward mode gives it to the rules of the scalar ops for every constant
    operand, numbers and arrays alike (see ``agrad.forward``).
    """

    __slots__ = ()

    def __mul__(self, other: object) -> _Zero:
        return self

    __rmul__ = __truediv__ = __mul__

    def __neg__(self) -> _Zero:
        return self

    def __add__(self, other: object) -> Any:
        return other

    __radd__ = __rsub__ = __add__

    def __sub__(self, other: Any) -> Any:
        return -other

    def __repr__(self) -> str:
        return "ZERO"


ZERO = _Zero()


def _plus(a: X, b: X) -> X:
    """a + b for two tangent terms, either of which may be ZERO: an array library may refuse ZERO on its right."""
    return b if a is ZERO else a if b is ZERO else a + b


# fmt: off
# The JVP rules of the scalar ops meet ZERO, the tangent of a constant operand: each tangent stands on
# the left of its product and terms are summed with _plus, so ZERO never reaches an array library.
def add_vjp(g: X, out: X, x: X, y: X) -> tuple[X, ...]: return g, g
def add_jvp(x_dots: tuple[X, ...], out: X, x: X, y: X) -> X: return _plus(x_dots[0], x_dots[1])

def sub_vjp(g: X, out: X, x: X, y: X) -> tuple[X, ...]: return g, -g
def sub_jvp(x_dots: tuple[X, ...], out: X, x: X, y: X) -> X: return _plus(x_dots[0], -x_dots[1])

def mul_vjp(g: X, out: X, x: X, y: X) -> tuple[X, ...]: return g * y, g * x
def mul_jvp(x_dots: tuple[X, ...], out: X, x: X, y: X) -> X: return _plus(x_dots[0] * y, x_dots[1] * x)

def div_vjp(g: X, out: X, x: X, y: X) -> tuple[X, ...]: return _div(g, y), _div(-g * out, y)
def div_jvp(x_dots: tuple[X, ...], out: X, x: X, y: X) -> X: return _div(_plus(x_dots[0], -(x_dots[1] * out)), y)

def neg_vjp(g: X, out: X, x: X) -> tuple[X, ...]: return (-g,)
def neg_jvp(x_dots: tuple[X, ...], out: X, x: X) -> X: return -x_dots[0]

# x ** c with a constant c. c == 0 is special-cased, as in PyTorch, so that
# 0 ** 0 has gradient 0 rather than 0 * 0 ** -1 = nan. The derivative c * x ** (c - 1) is formed
# before g multiplies it: differentiated again, (g * c) * ... would meet c * (c - 1) = inf for
# c = 1e308 before the tiny power, giving nan where the truth (at x = 0.5) is 0.
def powc_vjp(g: X, out: X, x: X, c: float) -> tuple[X, ...]: return (g * (c * _pow(x, c - 1)) if c != 0 else 0.0 * g,)
def powc_jvp(x_dots: tuple[X, ...], out: X, x: X, c: float) -> X:
    return x_dots[0] * (c * _pow(x, c - 1)) if c != 0 else 0.0 * x_dots[0]

# x ** y with both sides live. d/dy = out * log(x) is nan for x <= 0; PyTorch
# makes it 0 where x == 0 and y >= 0 (out is 0 or 1 there, and flat in y).
# On arrays the same masks are where(); log sees 1 where masked, so no nan leaks into a second derivative.
def _dpow_dy(out: X, x: X, y: X) -> X:
    xd, yd = _d(x), _d(y)
    if not hasattr(xd, "shape") and not hasattr(yd, "shape"):
        return out * log(x) if xd != 0 or yd < 0 else 0.0 * out
    keep = (xd != 0) | (yd < 0)
    return where(keep, out * log(where(keep, x, 1.0)), 0.0)
# d/dx = y * x ** (y - 1) is masked to 0 where y == 0 and x ** -1 is not finite (x = 0, tiny or nan), as
# PyTorch does; only there: masking every y == 0 would also zero d2/dxdy = x ** -1 (1 at x = 1, y = 0).
def _dpow_dx(x: X, y: X) -> X:
    xd, yd = _d(x), _d(y)
    if not hasattr(xd, "shape") and not hasattr(yd, "shape"):
        return y * _pow(x, y - 1) if yd != 0 or math.isfinite(K.pow(xd, -1.0)) else 0.0 * y
    keep = (yd != 0) | _finite_inverse(xd)
    return where(keep, y * _pow(where(keep, x, 1.0), y - 1), 0.0)
def _like(c: X, out: X) -> X:
    """A number operand as a constant array of out's dtype: where() on two numbers would make float64."""
    o = _d(out)
    return namespace(o).full_like(o, c) if type(c) is float and hasattr(o, "shape") else c
def pow_vjp(g: X, out: X, x: X, y: X) -> tuple[X, ...]:
    x, y = _like(x, out), _like(y, out)
    return g * _dpow_dx(x, y), g * _dpow_dy(out, x, y)
def pow_jvp(x_dots: tuple[X, ...], out: X, x: X, y: X) -> X:
    x, y = _like(x, out), _like(y, out)
    # a constant's partial is not even formed: 0 times d/dx = inf at 0 ** 0.5 would be nan (torch skips it too)
    dx = ZERO if x_dots[0] is ZERO else x_dots[0] * _dpow_dx(x, y)
    return _plus(dx, ZERO if x_dots[1] is ZERO else x_dots[1] * _dpow_dy(out, x, y))

def exp_vjp(g: X, out: X, x: X) -> tuple[X, ...]: return (g * out,)
def exp_jvp(x_dots: tuple[X, ...], out: X, x: X) -> X: return x_dots[0] * out

def log_vjp(g: X, out: X, x: X) -> tuple[X, ...]: return (_div(g, x),)
def log_jvp(x_dots: tuple[X, ...], out: X, x: X) -> X: return _div(x_dots[0], x)

def sqrt_vjp(g: X, out: X, x: X) -> tuple[X, ...]: return (_div(g * 0.5, out),)
def sqrt_jvp(x_dots: tuple[X, ...], out: X, x: X) -> X: return _div(x_dots[0] * 0.5, out)

# tanh' = 1 - out**2, computed on numbers as (1 - out)(1 + out): near |out| = 1 both factors are exact,
# where 1 - out * out would lose the rounding of out * out (27 ulp at x = 2.5; PyTorch's fused
# multiply-add has 1). Where the rule's result is differentiated again (Values, Duals), the product's
# derivative -(1 + out) + (1 - out) cancels to 0 at small out, so it is 1 - out * out, whose derivative
# -2 out is exact: tanh''(1e-300) = -2e-300, as in PyTorch (JAX gives 0).
def _sech2(out: X) -> X: return 1.0 - out * out if _differentiable(out) else (1.0 - out) * (1.0 + out)
def tanh_vjp(g: X, out: X, x: X) -> tuple[X, ...]: return (g * _sech2(out),)
def tanh_jvp(x_dots: tuple[X, ...], out: X, x: X) -> X: return x_dots[0] * _sech2(out)

def sigmoid_vjp(g: X, out: X, x: X) -> tuple[X, ...]: return (g * out * (1.0 - out),)
def sigmoid_jvp(x_dots: tuple[X, ...], out: X, x: X) -> X: return x_dots[0] * out * (1.0 - out)

# softplus' = sigmoid, which stays finite where the textbook e**x / (1 + e**x) overflows.
def softplus_vjp(g: X, out: X, x: X) -> tuple[X, ...]: return (g * sigmoid(x),)
def softplus_jvp(x_dots: tuple[X, ...], out: X, x: X) -> X: return x_dots[0] * sigmoid(x)

# A float walk's x is a float: K.step straight away spares a call per relu, the demo's other hot node.
def relu_vjp(g: X, out: X, x: X) -> tuple[X, ...]: return (g * (K.step(x) if type(x) is float else _mask(K.step, x)),)
def relu_jvp(x_dots: tuple[X, ...], out: X, x: X) -> X: return x_dots[0] * _mask(K.step, x)

def abs_vjp(g: X, out: X, x: X) -> tuple[X, ...]: return (g * _mask(K.sign, x),)
def abs_jvp(x_dots: tuple[X, ...], out: X, x: X) -> X: return x_dots[0] * _mask(K.sign, x)

def sin_vjp(g: X, out: X, x: X) -> tuple[X, ...]: return (g * cos(x),)
def sin_jvp(x_dots: tuple[X, ...], out: X, x: X) -> X: return x_dots[0] * cos(x)

def cos_vjp(g: X, out: X, x: X) -> tuple[X, ...]: return (-g * sin(x),)
def cos_jvp(x_dots: tuple[X, ...], out: X, x: X) -> X: return -x_dots[0] * sin(x)

# min/max send g to the chosen side and split it evenly at a tie, as torch.minimum does.
# With a nan neither side loses, so both get g (PyTorch's masks do the same).
def _pick(x: X, y: X, smaller: bool) -> tuple[Any, Any]:
    a, b = _d(x), _d(y)
    if hasattr(a, "shape") or hasattr(b, "shape"):  # arrays: the same weights, elementwise
        xp = namespace(a if hasattr(a, "shape") else b)
        dt = (a if hasattr(a, "dtype") else b).dtype
        tie = xp.astype(a == b, dt)
        lose_x, lose_y = (a > b, a < b) if smaller else (a < b, a > b)
        return 0.5 * tie + (1.0 - tie) * (1.0 - xp.astype(lose_x, dt)), 0.5 * tie + (1.0 - tie) * (
            1.0 - xp.astype(lose_y, dt)
        )
    if a == b:
        return 0.5, 0.5
    lose_x, lose_y = (a > b, a < b) if smaller else (a < b, a > b)
    return 0.0 if lose_x else 1.0, 0.0 if lose_y else 1.0
def min_vjp(g: X, out: X, x: X, y: X) -> tuple[X, ...]: a, b = _pick(x, y, True); return g * a, g * b
def min_jvp(x_dots: tuple[X, ...], out: X, x: X, y: X) -> X:
    a, b = _pick(x, y, True); return _plus(x_dots[0] * a, x_dots[1] * b)
def max_vjp(g: X, out: X, x: X, y: X) -> tuple[X, ...]: a, b = _pick(x, y, False); return g * a, g * b
def max_jvp(x_dots: tuple[X, ...], out: X, x: X, y: X) -> X:
    a, b = _pick(x, y, False); return _plus(x_dots[0] * a, x_dots[1] * b)

def sum_vjp(g: X, out: X, *xs: X) -> tuple[X, ...]: return (g,) * len(xs)
def sum_jvp(x_dots: tuple[X, ...], out: X, *xs: X) -> X: return _sum(x_dots)

# stop_gradient(x) is x with no derivative: what agrad.compile records for detach() and for an op
# under no_grad(), so that the number is recomputed on every call. Its gradient is a constant 0.0,
# not 0.0 * g, which would be nan for an infinite g.
def stop_gradient_vjp(g: X, out: X, x: X) -> tuple[X, ...]: return (0.0,)
def stop_gradient_jvp(x_dots: tuple[X, ...], out: X, x: X) -> X: return 0.0

# dot's operands are (w1..wn, x1..xn): d(out)/d(w_i) = x_i and d(out)/d(x_i) = w_i, the operands
# themselves, swapped. Its VJP gives a list, which builds faster than a tuple on this hot path.
def dot_vjp(g: X, out: X, *wx: X) -> list[X]: n = len(wx) // 2; return [g * v for v in wx[n:] + wx[:n]]
def dot_jvp(x_dots: tuple[X, ...], out: X, *wx: X) -> X:
    n = len(wx) // 2; return dot(x_dots[:n], wx[n:]) + dot(wx[:n], x_dots[n:])
def dot_gate(g: X, out: X) -> X: return g

# relu(dot) as one node (a ReLU neuron): relu'(z) is read from out, which is above 0 exactly where z is (and
# nan where z is, whose gradient passes, as in relu's rule), so g goes through relu's mask, then dot's rule.
def dot_relu_gate(g: X, out: X) -> X: return g * (K.step(out) if type(out) is float else _mask(K.step, out))
def dot_relu_vjp(g: X, out: X, *wx: X) -> list[X]: return dot_vjp(dot_relu_gate(g, out), out, *wx)
def dot_relu_jvp(x_dots: tuple[X, ...], out: X, *wx: X) -> X: return dot_relu_gate(dot_jvp(x_dots, out, *wx), out)

# -- Tensor primitives. Their operands end with parameters (an axis tuple, a shape, an index), which get no
# gradient. No rule undoes broadcasting: the walk sums each gradient down to its operand's shape (sum_to).

def _shape(x: X) -> tuple[int, ...]: return tuple(x.shape)
def _unreduce(g: X, x: X, axis: tuple[int, ...], keepdims: bool) -> X:
    """A reduction's g (or out) with the reduced axes back as size 1, so it broadcasts over x."""
    return g if keepdims else reshape(g, tuple(1 if i in axis else n for i, n in enumerate(_shape(x))))

def reduce_sum_vjp(g: X, out: X, x: X, axis: tuple[int, ...], keepdims: bool) -> tuple[X, ...]:
    return (broadcast_to(_unreduce(g, x, axis, keepdims), _shape(x)),)
def reduce_sum_jvp(x_dots: tuple[X, ...], out: X, x: X, axis: tuple[int, ...], keepdims: bool) -> X:
    return tensor_sum(x_dots[0], axis, keepdims)

# max and min send g to every element equal to the result, split evenly among ties, as torch.amax does.
def _ties(out: X, x: X, axis: tuple[int, ...], keepdims: bool) -> Any:
    xd = _d(x)
    hit = namespace(xd).astype(xd == _unreduce(_d(out), x, axis, keepdims), xd.dtype)
    return hit / tensor_sum(hit, axis, keepdims=True)
def extreme_vjp(g: X, out: X, x: X, axis: tuple[int, ...], keepdims: bool) -> tuple[X, ...]:
    return (_unreduce(g, x, axis, keepdims) * _ties(out, x, axis, keepdims),)
def extreme_jvp(x_dots: tuple[X, ...], out: X, x: X, axis: tuple[int, ...], keepdims: bool) -> X:
    return tensor_sum(x_dots[0] * _ties(out, x, axis, keepdims), axis, keepdims)

# logsumexp' = softmax = exp(x - out)
def logsumexp_vjp(g: X, out: X, x: X, axis: tuple[int, ...], keepdims: bool) -> tuple[X, ...]:
    return (_unreduce(g, x, axis, keepdims) * exp(x - _unreduce(out, x, axis, keepdims)),)
def logsumexp_jvp(x_dots: tuple[X, ...], out: X, x: X, axis: tuple[int, ...], keepdims: bool) -> X:
    return tensor_sum(x_dots[0] * exp(x - _unreduce(out, x, axis, keepdims)), axis, keepdims)

# A vector operand of matmul is a matrix whose size-1 axis the product dropped: put it back, apply
# the matrix rule (g @ y^T, x^T @ g), and drop it again. Batch axes are summed away by the walk.
def matmul_vjp(g: X, out: X, x: X, y: X) -> tuple[X, ...]:
    vx, vy = len(_shape(x)) == 1, len(_shape(y)) == 1
    gm = expand_dims(g, -1) if vy else g
    gm = expand_dims(gm, -2) if vx else gm
    gx = matmul(gm, swapaxes_last(expand_dims(y, -1) if vy else y))
    gy = matmul(swapaxes_last(expand_dims(x, 0) if vx else x), gm)
    return squeeze(gx, -2) if vx else gx, squeeze(gy, -1) if vy else gy
def matmul_jvp(x_dots: tuple[X, ...], out: X, x: X, y: X) -> X: return matmul(x_dots[0], y) + matmul(x, x_dots[1])

# linear = x @ w^T + b in one node: x's share g @ w; w's g^T @ x, summed over every leading axis of x;
# b's share is g itself, which the walk sums down to b's shape as for any broadcast.
def _weight_grad(g: X, x: X, w: X) -> X:
    if len(x.shape) != 2:
        n_out, n_in = _shape(w)
        g, x = reshape(g, (-1, n_out)), reshape(x, (-1, n_in))
    # in w's own layout (nn.Linear stores w transposed), so that the update does not mix two
    return (x.T @ g).T if stored_transposed(_d(w)) else g.T @ x
def linear_vjp(g: X, out: X, x: X, w: X, *b: X) -> tuple[X, ...]:
    # operators, not matmul()/transpose(): the same for arrays and Tensors, without the checks for user input
    return (g @ w, _weight_grad(g, x, w), *(g for _ in b))
def linear_jvp(x_dots: tuple[X, ...], out: X, x: X, w: X, *b: X) -> X:
    t = linear(x_dots[0], w) + linear(x, x_dots[1])
    return t + x_dots[2] if b else t
# linear_data: the same op when x is data, a constant; its operands are (w, b or None, x).
def linear_data_vjp(g: X, out: X, w: X, b: X, x: X) -> tuple[X, ...]:
    return _weight_grad(g, x, w), g if b is not None else None
def linear_data_jvp(x_dots: tuple[X, ...], out: X, w: X, b: X, x: X) -> X:
    t = linear(x, x_dots[0])
    return t + x_dots[1] if b is not None else t

# cross_entropy(z, t) = logsumexp(z_i) - z_i[t_i] per row: d/dz = softmax(z) - one_hot(t), scaled by
# g per row (reduction "none"), by g ("sum") or by g / N ("mean"). t and the reduction get no gradient;
# the node also carries the softmax p from the forward pass.
def _softmax_minus_one_hot(z: X, t: Any, p: Any) -> X:
    c = _shape(z)[1]
    if type(z) is Tensor:  # a graph (create_graph): the softmax must be z's own, differentiable, not the stored p
        return exp(z - logsumexp(z, (1,), True)) - one_hot(t, c, z._xp, z.dtype)
    if type(p) in _COPY:  # NumPy: the ones taken off by index, not by comparing t with every class
        import numpy as np

        d = p.copy(order="K")
        d[np.arange(len(t)), t] -= 1
        return d
    return p - one_hot(t, c, namespace(p), p.dtype)
def _per_row(g: X, z: X, reduction: str) -> X:
    return expand_dims(g, -1) if reduction == "none" else g / _shape(z)[0] if reduction == "mean" else g
def cross_entropy_vjp(g: X, out: X, z: X, t: Any, reduction: str, p: Any) -> tuple[X, ...]:
    return (_per_row(g, z, reduction) * _softmax_minus_one_hot(z, t, p),)
def cross_entropy_jvp(x_dots: tuple[X, ...], out: X, z: X, t: Any, reduction: str, p: Any) -> X:
    each = tensor_sum(x_dots[0] * _softmax_minus_one_hot(z, t, p), (1,), False)
    return each if reduction == "none" else tensor_sum(each) / _shape(z)[0] if reduction == "mean" else tensor_sum(each)

def reshape_vjp(g: X, out: X, x: X, shape: tuple[int, ...]) -> tuple[X, ...]: return (reshape(g, _shape(x)),)
def reshape_jvp(x_dots: tuple[X, ...], out: X, x: X, shape: tuple[int, ...]) -> X: return reshape(x_dots[0], shape)

def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]: return tuple(sorted(range(len(perm)), key=perm.__getitem__))
def transpose_vjp(g: X, out: X, x: X, axes: tuple[int, ...]) -> tuple[X, ...]: return (transpose(g, _inverse(axes)),)
def transpose_jvp(x_dots: tuple[X, ...], out: X, x: X, axes: tuple[int, ...]) -> X: return transpose(x_dots[0], axes)

# g itself: the walk sums it down to x's shape, as it does for every broadcast.
def broadcast_to_vjp(g: X, out: X, x: X, shape: tuple[int, ...]) -> tuple[X, ...]: return (g,)
def broadcast_to_jvp(x_dots: tuple[X, ...], out: X, x: X, shape: tuple[int, ...]) -> X:
    return broadcast_to(x_dots[0], shape)

# getitem and index_add are each other's gradient; index_add sums the gradients of a repeated index.
def getitem_vjp(g: X, out: X, x: X, index: Any) -> tuple[X, ...]: return (index_add(g, _shape(x), index),)
def getitem_jvp(x_dots: tuple[X, ...], out: X, x: X, index: Any) -> X: return getitem(x_dots[0], index)
def index_add_vjp(g: X, out: X, x: X, shape: tuple[int, ...], index: Any) -> tuple[X, ...]:
    return (getitem(g, index),)
def index_add_jvp(x_dots: tuple[X, ...], out: X, x: X, shape: tuple[int, ...], index: Any) -> X:
    return index_add(x_dots[0], shape, index)

def concatenate_vjp(g: X, out: X, *xs_axis: Any) -> tuple[X, ...]:
    *xs, axis = xs_axis
    ends = list(itertools.accumulate(_shape(x)[axis] for x in xs))
    lead = (slice(None),) * axis
    return tuple(getitem(g, (*lead, slice(end - _shape(x)[axis], end))) for x, end in zip(xs, ends))
def concatenate_jvp(x_dots: tuple[X, ...], out: X, *xs_axis: Any) -> X:
    return concatenate(list(x_dots[:-1]), xs_axis[-1])

# cond is a constant boolean array, the last operand; each side gets g where it was chosen.
def where_vjp(g: X, out: X, x: X, y: X, cond: Any) -> tuple[X, ...]: return where(cond, g, 0.0), where(cond, 0.0, g)
def where_jvp(x_dots: tuple[X, ...], out: X, x: X, y: X, cond: Any) -> X: return where(cond, x_dots[0], x_dots[1])
# fmt: on


@dataclass(frozen=True)
class Primitive:
    """One row of the table: the op's function on Values or floats, and its two rules.

    For ``x * y`` at x = 2, y = 3: the VJP of g = 1 is (y, x), the JVP of (dx, dy) = (1, 0) is y:

    >>> mul = RULES["*"]
    >>> mul.name, mul.fn(2.0, 3.0), mul.vjp(1.0, 6.0, 2.0, 3.0), mul.jvp((1.0, 0.0), 6.0, 2.0, 3.0)
    ('*', 6.0, (3.0, 2.0), 3.0)
    """

    name: str
    fn: Callable[..., Any]
    vjp: Callable[..., Sequence[Any]]
    jvp: Callable[..., Any]
    tensor_only: bool = False  # an op that only Tensors have (it takes shapes, axes or indices)
    # Optional, for speed: for an op that is a dot passed through a function, f(w·x), whose VJP is dot's rule
    # on gate(g, out) (dot's gate is g itself; a ReLU neuron's is g through relu's mask). The float walk then
    # does dot's products itself, in one pass over the operand pairs (w_i, x_i), and calls no VJP.
    gate: Callable[[Any, Any], Any] | None = None


RULES: dict[str, Primitive] = {
    p.name: p
    for p in [
        Primitive("+", operator.add, add_vjp, add_jvp),
        Primitive("-", operator.sub, sub_vjp, sub_jvp),
        Primitive("*", operator.mul, mul_vjp, mul_jvp),
        Primitive("/", _div, div_vjp, div_jvp),
        Primitive("neg", operator.neg, neg_vjp, neg_jvp),
        Primitive("**", _pow, powc_vjp, powc_jvp),
        Primitive("pow", _pow, pow_vjp, pow_jvp),
        Primitive("exp", exp, exp_vjp, exp_jvp),
        Primitive("log", log, log_vjp, log_jvp),
        Primitive("sqrt", sqrt, sqrt_vjp, sqrt_jvp),
        Primitive("tanh", tanh, tanh_vjp, tanh_jvp),
        Primitive("sigmoid", sigmoid, sigmoid_vjp, sigmoid_jvp),
        Primitive("softplus", softplus, softplus_vjp, softplus_jvp),
        Primitive("relu", _relu, relu_vjp, relu_jvp),
        Primitive("abs", operator.abs, abs_vjp, abs_jvp),
        Primitive("sin", sin, sin_vjp, sin_jvp),
        Primitive("cos", cos, cos_vjp, cos_jvp),
        Primitive("min", minimum, min_vjp, min_jvp),
        Primitive("max", maximum, max_vjp, max_jvp),
        Primitive("stop_gradient", _identity, stop_gradient_vjp, stop_gradient_jvp),
        Primitive("sum", lambda *xs: _sum(xs), sum_vjp, sum_jvp),
        Primitive("dot", lambda *wx: dot(wx[: len(wx) // 2], wx[len(wx) // 2 :]), dot_vjp, dot_jvp, gate=dot_gate),
        Primitive(
            "dot_relu",
            lambda *wx: dot_relu(wx[: len(wx) // 2], wx[len(wx) // 2 :]),
            dot_relu_vjp,
            dot_relu_jvp,
            gate=dot_relu_gate,
        ),
        Primitive("reduce_sum", tensor_sum, reduce_sum_vjp, reduce_sum_jvp, True),
        Primitive("reduce_max", amax, extreme_vjp, extreme_jvp, True),
        Primitive("reduce_min", amin, extreme_vjp, extreme_jvp, True),
        Primitive("logsumexp", logsumexp, logsumexp_vjp, logsumexp_jvp, True),
        Primitive("matmul", matmul, matmul_vjp, matmul_jvp, True),
        Primitive("linear", linear, linear_vjp, linear_jvp, True),
        Primitive("linear_data", lambda w, b, x: linear(x, w, b), linear_data_vjp, linear_data_jvp, True),
        Primitive(
            "cross_entropy", lambda z, t, r, *cache: cross_entropy(z, t, r), cross_entropy_vjp, cross_entropy_jvp, True
        ),
        Primitive("reshape", reshape, reshape_vjp, reshape_jvp, True),
        Primitive("transpose", transpose, transpose_vjp, transpose_jvp, True),
        Primitive("broadcast_to", broadcast_to, broadcast_to_vjp, broadcast_to_jvp, True),
        Primitive("getitem", getitem, getitem_vjp, getitem_jvp, True),
        Primitive("index_add", index_add, index_add_vjp, index_add_jvp, True),
        Primitive("concatenate", lambda *xs: concatenate(xs[:-1], xs[-1]), concatenate_vjp, concatenate_jvp, True),
        Primitive("where", lambda x, y, cond: where(cond, x, y), where_vjp, where_jvp, True),
    ]
}
"""Every primitive by its ``_op`` string.

>>> sorted(RULES)[:4]
['*', '**', '+', '-']
>>> RULES["*"].vjp(1.0, 6.0, 2.0, 3.0)
(3.0, 2.0)
"""
