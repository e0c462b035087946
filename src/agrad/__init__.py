"""agrad: a scalar autograd engine for learning how autograd works, and for real small models.

>>> from agrad import Value
>>> a = Value(2.0); b = Value(-3.0); c = Value(10.0)
>>> f = a * b + c; f.backward()
>>> a.grad, b.grad, c.grad
(-3.0, 2.0, 1.0)
"""

from agrad import datasets, losses, nn, optim
from agrad.anomaly import detect_anomaly
from agrad.backprop import backward, toposort
from agrad.compile import CompiledFunction, TracingError, compile
from agrad.explain import explain
from agrad.gradcheck import GradcheckError, gradcheck, gradgradcheck
from agrad.modes import enable_grad, is_grad_enabled, no_grad
from agrad.rules import RULES
from agrad.serialize import load, save
from agrad.tensor import (
    Tensor,
    amax,
    amin,
    broadcast_to,
    concatenate,
    expand_dims,
    log_softmax,
    logsumexp,
    matmul,
    mean,
    reshape,
    softmax,
    squeeze,
    stack,
    transpose,
    where,
)
from agrad.transforms import grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, value_and_grad, vjp
from agrad.value import (
    Value,
    cos,
    dot,
    dot_relu,
    exp,
    log,
    maximum,
    minimum,
    relu,
    sigmoid,
    sin,
    softplus,
    sqrt,
    sum,
    tanh,
)
from agrad.viz import draw_graph, to_dot

__version__ = "0.1.0"

max = amax  # agrad.max(t, axis) as torch.amax; builtins.max is untouched outside agrad
min = amin

__all__ = [
    "RULES",
    "CompiledFunction",
    "GradcheckError",
    "Tensor",
    "TracingError",
    "Value",
    "amax",
    "amin",
    "backward",
    "broadcast_to",
    "compile",
    "concatenate",
    "cos",
    "datasets",
    "detect_anomaly",
    "dot",
    "dot_relu",
    "draw_graph",
    "enable_grad",
    "exp",
    "expand_dims",
    "explain",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jvp",
    "load",
    "log",
    "log_softmax",
    "logsumexp",
    "losses",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "nn",
    "no_grad",
    "optim",
    "relu",
    "reshape",
    "save",
    "sigmoid",
    "sin",
    "softmax",
    "softplus",
    "sqrt",
    "squeeze",
    "stack",
    "sum",
    "tanh",
    "to_dot",
    "toposort",
    "transpose",
    "value_and_grad",
    "vjp",
    "where",
]
