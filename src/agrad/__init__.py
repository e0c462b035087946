"""agrad: a scalar autograd engine for learning how autograd works, and for real small models.

>>> from agrad import Value
>>> a = Value(2.0); b = Value(-3.0); c = Value(10.0)
>>> f = a * b + c; f.backward()
>>> a.grad, b.grad, c.grad
(-3.0, 2.0, 1.0)
"""

from agrad.backprop import backward, toposort
from agrad.modes import enable_grad, is_grad_enabled, no_grad
from agrad.rules import RULES
from agrad.value import (
    Value,
    cos,
    dot,
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

__version__ = "0.1.0"

__all__ = [
    "RULES",
    "Value",
    "backward",
    "cos",
    "dot",
    "enable_grad",
    "exp",
    "is_grad_enabled",
    "log",
    "maximum",
    "minimum",
    "no_grad",
    "relu",
    "sigmoid",
    "sin",
    "softplus",
    "sqrt",
    "sum",
    "tanh",
    "toposort",
]
