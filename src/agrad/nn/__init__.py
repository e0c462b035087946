"""Neural networks: ``Module``; from Values ``Neuron``, ``Layer`` and ``MLP``; from Tensors PyTorch's layers.

A package shaped as ``torch.nn``, so PyTorch's import lines work unchanged:

- ``agrad.nn.scalar``: ``Module`` (serving both kinds) and the micrograd-compatible
  ``Neuron``, ``Layer`` and ``MLP`` over ``Value``s;
- ``agrad.nn.layers``: the Tensor layers ``Linear``, ``Sequential``, ``ReLU``, ``Tanh``,
  ``Sigmoid``, ``Flatten``, ``Embedding``, ``Dropout``;
- ``agrad.nn.utils``: ``clip_grad_norm_``, as ``torch.nn.utils``.

All of them are re-exported here.

>>> from agrad.nn import MLP, Linear
>>> from agrad.nn.utils import clip_grad_norm_
>>> len(MLP(2, [4, 1], seed=0).parameters()), Linear(3, 2, seed=0).weight.shape
(17, (2, 3))
"""

from agrad.nn import utils
from agrad.nn.layers import Dropout, Embedding, Flatten, Linear, ReLU, Sequential, Sigmoid, Tanh
from agrad.nn.scalar import MLP, Layer, Module, Neuron

__all__ = [
    "MLP",
    "Dropout",
    "Embedding",
    "Flatten",
    "Layer",
    "Linear",
    "Module",
    "Neuron",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "utils",
]
