"""Layers over Tensors, shaped as PyTorch's ``torch.nn``: ``Linear``, ``Sequential``, activations, ``Flatten``,
``Embedding`` and ``Dropout``. Import them from ``agrad.nn``.

Parameters are float32 Tensors by default, as in PyTorch, drawn with PyTorch's
default initialisation from a NumPy generator: ``seed=`` an int (a private
generator), a ``numpy.random.Generator`` (shared by several layers), or None
(NumPy's global generator, so ``numpy.random.seed`` makes a run repeatable).
Names and shapes in ``state_dict()`` are PyTorch's (``0.weight`` is (out, in)),
so a state dict moves between the two.

>>> import numpy as np
>>> from agrad import Tensor
>>> from agrad.nn import Linear, ReLU, Sequential
>>> model = Sequential(Linear(4, 8, seed=0), ReLU(), Linear(8, 3, seed=1))
>>> model(Tensor(np.ones((2, 4), dtype=np.float32))).shape, [n for n, _ in model.named_parameters()]
((2, 3), ['0.weight', '0.bias', '2.weight', '2.bias'])
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from agrad._checks import count, number
from agrad.nn.scalar import Module
from agrad.tensor import Tensor, linear, reshape

Seed = Any  # an int, a numpy.random.Generator, or None


def _generator(seed: Seed) -> Any:
    import numpy as np

    if seed is None:
        return np.random.mtrand._rand  # the global generator numpy.random.seed() seeds
    if isinstance(seed, np.random.Generator | np.random.RandomState):
        return seed
    if isinstance(seed, int) and not isinstance(seed, bool):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a numpy.random.Generator or None, got {type(seed).__name__}: {seed!r}")


def _dtype(dtype: object) -> Any:
    import numpy as np

    if dtype not in ("float32", "float64", np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(dtype)


def _tensor_in(x: object, who: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{who} expects a Tensor, got {type(x).__name__} (wrap arrays as agrad.Tensor(x))")
    return x


class Linear(Module):
    """y = x @ weight.T + bias, with ``weight`` (out_features, in_features) and ``bias`` (out_features,).

    Both start uniform in ±1/sqrt(in_features), PyTorch's default (Kaiming uniform with a = sqrt(5)).

    >>> layer = Linear(3, 2, seed=0)
    >>> layer, layer.weight.shape, float(abs(layer.weight.data).max()) <= 1 / 3**0.5
    (Linear(in_features=3, out_features=2, bias=True), (2, 3), True)
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, seed: Seed = None, dtype: object = "float32"
    ) -> None:
        self.in_features = count(in_features, "in_features")
        self.out_features = count(out_features, "out_features")
        dt, rng = _dtype(dtype), _generator(seed)
        bound = 1.0 / math.sqrt(in_features)
        # stored transposed, an (in, out) row-major array seen as (out, in): the forward x @ weight.T is
        # then BLAS's plain product, which OpenBLAS runs 5-10% faster than the transposed one
        w = rng.uniform(-bound, bound, (out_features, in_features)).astype(dt, order="F")
        self.weight = Tensor(w, requires_grad=True)
        self.bias = Tensor(rng.uniform(-bound, bound, out_features).astype(dt), requires_grad=True) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        x = _tensor_in(x, "Linear")
        if not x.shape or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r} expects inputs whose last axis has {self.in_features} features, got {x.shape}")
        out: Tensor = linear(x, self.weight, self.bias)  # one node: x @ weight.T + bias
        return out

    def __repr__(self) -> str:
        return f"Linear(in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None})"


class Sequential(Module):
    """Modules applied in order; children and parameter names are ``0``, ``1``, ... as in PyTorch.

    >>> model = Sequential(Linear(2, 2, seed=0), Tanh())
    >>> len(model), model[1], [n for n, _ in model.named_parameters()]
    (2, Tanh(), ['0.weight', '0.bias'])
    """

    def __init__(self, *modules: Module) -> None:
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential's argument {i} must be a Module, got {type(m).__name__}")
        self.modules = list(modules)

    def named_children(self) -> list[tuple[str, Module]]:
        return [(str(i), m) for i, m in enumerate(self.modules)]

    def forward(self, x: Any) -> Any:
        for m in self.modules:
            x = m(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return self.modules[i]

    def __len__(self) -> int:
        return len(self.modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.modules)

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {m!r}" for i, m in enumerate(self.modules))
        return f"Sequential({inner}\n)"


class _Elementwise(Module):
    """An activation: the Tensor method named ``method``, applied elementwise; no parameters."""

    method = ""

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = getattr(_tensor_in(x, type(self).__name__), self.method)()
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ReLU(_Elementwise):
    """max(x, 0), elementwise.

    >>> ReLU()(Tensor([-1.0, 2.0])).data.tolist()
    [0.0, 2.0]
    """

    method = "relu"


class Tanh(_Elementwise):
    """tanh(x), elementwise.

    >>> Tanh()(Tensor([0.0])).data.tolist()
    [0.0]
    """

    method = "tanh"


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)), elementwise.

    >>> Sigmoid()(Tensor([0.0])).data.tolist()
    [0.5]
    """

    method = "sigmoid"


class Flatten(Module):
    """Axes ``start_dim`` .. ``end_dim`` merged into one: (N, 8, 8) -> (N, 64) by default, as PyTorch.

    >>> Flatten()(Tensor([[[1.0, 2.0], [3.0, 4.0]]])).shape
    (1, 4)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        shape = _tensor_in(x, "Flatten").shape
        n = len(shape)
        lo, hi = self.start_dim % n if n else 0, self.end_dim % n if n else 0
        if not n or lo > hi:
            raise ValueError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit shape {shape}")
        return reshape(x, (*shape[:lo], math.prod(shape[lo : hi + 1]), *shape[hi + 1 :]))  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim})"


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, started standard normal (PyTorch's default).

    Calling it with integer indices (an array, list or int) gives their rows; the
    gradient of a row used twice is the sum of both uses.

    >>> emb = Embedding(10, 3, seed=0)
    >>> emb([[1, 2], [1, 9]]).shape
    (2, 2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, seed: Seed = None, dtype: object = "float32") -> None:
        self.num_embeddings = count(num_embeddings, "num_embeddings")
        self.embedding_dim = count(embedding_dim, "embedding_dim")
        w = _generator(seed).standard_normal((num_embeddings, embedding_dim)).astype(_dtype(dtype))
        self.weight = Tensor(w, requires_grad=True)

    def forward(self, idx: Any) -> Tensor:
        import numpy as np

        i = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if i.dtype.kind not in "iu":
            raise ValueError(f"Embedding expects integer indices, got dtype {i.dtype}")
        if i.size and (int(i.min()) < 0 or int(i.max()) >= self.num_embeddings):
            bad = int(i.min()) if int(i.min()) < 0 else int(i.max())
            raise ValueError(f"Embedding indices must lie in [0, {self.num_embeddings}), got {bad}")
        return self.weight[i]

    def __repr__(self) -> str:
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"


class Dropout(Module):
    """In training, zero each element with probability ``p`` and scale the rest by 1 / (1 - p); in eval, identity.

    >>> drop = Dropout(0.5, seed=0); x = Tensor([1.0] * 8)
    >>> sorted(set(drop(x).data.tolist())), drop.eval()(x).data.tolist() == x.data.tolist()
    ([0.0, 2.0], True)
    """

    def __init__(self, p: float = 0.5, seed: Seed = None) -> None:
        self.p = number(p, "p (the probability of dropping)", 0.0, 1.0, hi_open=True)
        self._rng = _generator(seed)

    def forward(self, x: Tensor) -> Tensor:
        x = _tensor_in(x, "Dropout")
        if not self.training or self.p == 0.0:
            return x
        keep = self._rng.uniform(0.0, 1.0, x.shape) >= self.p
        out: Tensor = x * (keep / (1.0 - self.p)).astype(x.data.dtype)
        return out

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


__all__ = ["Dropout", "Embedding", "Flatten", "Linear", "ReLU", "Sequential", "Sigmoid", "Tanh"]
