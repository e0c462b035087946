"""Gradients over data bigger than one machine: agrad Tensors and compiled programs on Dask arrays.

A Tensor may hold a ``dask.array`` array. Its ops then build a Dask task graph
instead of computing, and so does ``backward()``: the gradient of a NumPy
parameter that met a Dask array is itself a Dask array (NumPy and Dask mix as
Dask defines), and nothing runs until it is asked for with ``.compute()``,
``dask.compute`` or ``persist``. A sum over rows chunked by Dask is Dask's tree
reduction, so a full-batch gradient over a dataset chunked by rows costs one
pass over the chunks, on threads, processes or a ``dask.distributed`` cluster.

``value_and_grad`` is the training-loop helper: one ``dask.compute`` per step,
parameters untouched. ``call_compiled`` is how ``agrad.compile`` runs its NumPy
program on each chunk of a Dask argument (``reduce`` reduces across chunks).

Needs ``pip install "agrad[dask]"``; imported lazily, never by ``import agrad``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

from agrad.tensor import Tensor


def _dask() -> tuple[Any, Any]:
    try:
        import dask
        import dask.array as da
    except ImportError as e:
        raise ModuleNotFoundError('agrad.distributed needs Dask: pip install "agrad[dask]"', name=e.name) from e
    return dask, da


def value_and_grad(
    loss: Callable[..., Any], params: Sequence[Any], *data: Any, **compute: Any
) -> tuple[float, list[Any]]:
    """loss(params, *data) and its gradient for each parameter, computed by one ``dask.compute``.

    ``params`` are Tensors (or arrays); ``loss`` gets fresh leaves that share their
    data, so the parameters and their ``.grad`` are never touched: a step that
    fails (a cluster gone) leaves them as they were. ``data`` (Dask arrays,
    usually) is passed on as it is. Keyword arguments go to ``dask.compute``
    (``scheduler=``, ...). The gradients come back as arrays of the parameters'
    library (NumPy), ready for an update.

    >>> import numpy as np, dask.array as da, agrad
    >>> X = da.from_array(np.array([[1.0], [2.0], [3.0]]), chunks=2)
    >>> def mse(params, X):
    ...     (w,) = params
    ...     return ((X @ w - 1.0) ** 2.0).mean()
    >>> value, (gw,) = value_and_grad(mse, [agrad.Tensor([1.0])], X, scheduler="sync")
    >>> float(value), gw.tolist()  # mean((x - 1)^2) = 5/3, d/dw = mean(2 (x - 1) x) = 16/3
    (1.6666666666666667, [5.333333333333333])
    """
    dask, _ = _dask()
    if not callable(loss):
        raise TypeError(f"value_and_grad: loss must be a function of (params, *data), got {type(loss).__name__}")
    if not isinstance(params, (list, tuple)):
        raise TypeError(f"value_and_grad: params must be a list or tuple of Tensors, got {type(params).__name__}")
    leaves = [Tensor(p.data if isinstance(p, Tensor) else p, requires_grad=True) for p in params]
    out = loss(leaves, *data)
    if not isinstance(out, Tensor) or math.prod(out.shape) != 1:
        raise ValueError(
            "value_and_grad: loss must return a Tensor of one element, got "
            + (f"a Tensor of shape {out.shape}" if isinstance(out, Tensor) else type(out).__name__)
        )
    out.backward()
    grads = [leaf._xp.zeros_like(leaf.data) if leaf.grad is None else leaf.grad for leaf in leaves]
    try:
        value, *gs = dask.compute(out.data, *grads, **compute)
    except BaseException as e:  # a cluster gone, a task failed: the caller still has the old parameters
        if sys.version_info >= (3, 11):
            e.add_note("agrad.distributed.value_and_grad: the step did not complete; the parameters are unchanged")
        raise
    return float(value), list(gs)


# -- agrad.compile on Dask arrays -----------------------------------------------------------


class _Slot:
    """Where the i-th array argument goes when the arguments are rebuilt for one chunk."""

    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i


def _split(x: Any, arrays: list[Any]) -> Any:
    """x's structure with each array leaf replaced by a _Slot (the array appended to arrays)."""
    if isinstance(x, (list, tuple)):
        return type(x)(_split(v, arrays) for v in x)
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        if len(x.shape):
            arrays.append(x)
            return _Slot(len(arrays) - 1)
        if type(x).__module__.startswith("dask."):
            raise TypeError("agrad.compile: a 0-d Dask array argument; pass a number (float(x)) or a 1-d array")
    return x


def _fill(x: Any, blocks: Sequence[Any]) -> Any:
    if isinstance(x, (list, tuple)):
        return type(x)(_fill(v, blocks) for v in x)
    return blocks[x.i] if type(x) is _Slot else x


class _ChunkProgram:
    """The compiled function on one chunk of every array argument: a tuple of its flat results.

    Pickled to the workers without its traces; each process traces once and reuses them.
    """

    def __init__(
        self,
        fun: Callable[..., Any],
        executor: str,
        reduce: str | None,
        structure: Any,
        ndim: int,
        kwargs: dict[str, Any],
    ):
        self.state = (fun, executor, reduce, structure, ndim, kwargs)
        self.compiled: Any = None

    def __getstate__(self) -> Any:
        return self.state

    def __setstate__(self, state: Any) -> None:
        self.state, self.compiled = state, None

    def __call__(self, *blocks: Any) -> Any:
        import numpy as np

        from agrad.compile.api import CompiledFunction, _flat_out

        fun, executor, reduce, structure, ndim, kwargs = self.state
        if self.compiled is None:
            self.compiled = CompiledFunction(fun, executor, reduce, None)
        flat: list[Any] = []
        _flat_out(self.compiled(*_fill(structure, blocks), **kwargs), flat)
        cell = np.empty(1, dtype=object)
        cell[0] = tuple(flat)
        return cell.reshape((1,) * ndim)


def _pick_number(parts: Any, k: int) -> Any:
    import numpy as np

    return np.full(parts.shape, float(parts.reshape(-1)[0][k]))


def _pick_block(parts: Any, k: int) -> Any:
    import numpy as np

    return np.asarray(parts.reshape(-1)[0][k], dtype=np.float64)


def _flat(x: Any, out: list[Any]) -> list[Any]:
    if isinstance(x, (list, tuple)):
        for v in x:
            _flat(v, out)
    else:
        out.append(x)
    return out


def call_compiled(cf: Any, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None) -> Any:
    """A CompiledFunction called with Dask arrays: each chunk runs its NumPy program, lazily.

    Array arguments are broadcast to one batch shape and chunked alike; a Dask
    task per chunk runs the compiled program on NumPy blocks. With
    ``reduce="sum"`` (``"mean"``) the per-chunk results are summed by Dask's tree
    reduction (and divided by the batch size); without, the per-sample results
    are Dask arrays of the batch shape. Results are Dask arrays (0-d when
    reduced), nested as the NumPy call nests them; ``dask.compute`` them.

    >>> import numpy as np, dask, dask.array as da, agrad
    >>> f = agrad.compile(agrad.value_and_grad(lambda w, x: (w * x - 1.0) ** 2, argnums=0), reduce="sum")
    >>> x = da.arange(4.0, chunks=2)
    >>> value, gw = dask.compute(*f(2.0, x), scheduler="sync")
    >>> float(value), float(gw)  # sum (2x - 1)^2 = 1 + 1 + 9 + 25; d/dw = sum 2 (2x - 1) x
    (36.0, 44.0)
    """
    import numpy as np

    from agrad.tensor import _known

    _, da = _dask()
    if cf.params:
        raise ValueError(
            "agrad.compile: params= with Dask arrays would have to compute to add to p.grad; pass the "
            "parameters as arguments of compile(value_and_grad(f, argnums)) and dask.compute the gradients"
        )
    arrays: list[Any] = []
    structure = _split(args, arrays)
    for a in arrays:
        _known(a, "agrad.compile: a Dask array argument")
        if getattr(a.dtype, "kind", "f") not in "biuf":
            raise TypeError(f"agrad.compile: array arguments must hold real numbers, got dtype {a.dtype}")
    try:
        shape = tuple(np.broadcast_shapes(*[a.shape for a in arrays]))
    except ValueError:
        shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
        raise ValueError(f"agrad.compile: array arguments cannot be broadcast to one batch shape: {shapes}") from None
    size, nd = math.prod(shape), len(shape)
    if size == 0 and cf.reduce == "mean":
        raise ValueError(f"agrad.compile: reduce='mean' over an empty batch (shape {shape}) has no value")
    first = next(a for a in arrays if type(a).__module__.startswith("dask."))
    chunks = da.broadcast_to(first, shape).chunks
    blocks = [da.broadcast_to(da.asarray(a).astype(np.float64), shape).rechunk(chunks) for a in arrays]
    # which results are numbers (reduced over the chunks) and which arrays: from a trace on one sample
    kwargs = kwargs or {}
    entry, _ = cf._entry(_fill(structure, [np.ones((1,) * nd) for _ in arrays]), kwargs)
    kind, template = entry.template
    wrt = cf._wrt_values(entry, _flat(args, []))
    n_grads = len(wrt) if kind != "f" else 0
    n_outs = len(_flat_out_template(template)) if kind == "f" else int(kind == "vg")
    is_number = [cf.reduce is not None] * n_outs + [cf.reduce is not None and _is_number(x) for x in wrt[:n_grads]]
    program = _ChunkProgram(cf.fun, cf.executor, "sum" if cf.reduce else None, structure, nd, kwargs)
    parts = da.map_blocks(
        program, *blocks, chunks=tuple((1,) * len(c) for c in chunks), dtype=object, meta=np.empty((0,) * nd, object)
    )
    flat: list[Any] = []
    for k, number in enumerate(is_number):
        if number:  # a number per chunk, summed by Dask's tree reduction
            r = parts.map_blocks(_pick_number, k, dtype=np.float64, meta=np.empty((0,) * nd)).sum()
        else:
            r = parts.map_blocks(_pick_block, k, chunks=chunks, dtype=np.float64, meta=np.empty((0,) * nd))
        flat.append(r / float(size) if cf.reduce == "mean" else r)
    outs, grads = flat[:n_outs], flat[n_outs:]
    grads = [g if _is_number(x) else cf._shape_grad(g, x, shape, size) for g, x in zip(grads, wrt)]
    return cf._result(entry, outs, grads)


def _is_number(x: Any) -> bool:
    return not (hasattr(x, "shape") and len(x.shape))


def _flat_out_template(template: Any) -> list[Any]:
    return _flat(template, []) if isinstance(template, (list, tuple)) else [template]
