"""``agrad.compile``: trace once per call signature, then run the graph as generated code.

The callable it returns takes the same arguments as f:

* numbers give numbers back, computed by straight-line Python (``codegen``);
* NumPy arrays of broadcastable shapes run the same scalar program on every
  element at once (as ``jax.vmap``), level by level (``levels``);
* nested lists and tuples of those are fine too (a list of parameters).

``compile(value_and_grad(f, argnums))`` and ``compile(grad(f, argnums))`` are
recognised: f alone is traced, and the gradient code is derived from the rule
table, so data-dependent derivatives (relu, abs, min, max) stay correct for
every input rather than frozen at the traced one.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import numbers
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agrad._checks import MAX_NESTING, quote, too_deep
from agrad.compile.codegen import PythonProgram
from agrad.compile.trace import Graph, Placeholder, build_graph, tracing
from agrad.value import Value

log = logging.getLogger("agrad.compile")

PYTHON_MAX_NODES = 200_000
"""With executor="auto", float calls on graphs larger than this use the NumPy executor if they are wide."""

NUMPY_MIN_WIDTH = 64
"""Nodes per level a large graph needs for the NumPy executor: each level costs a few NumPy
calls (microseconds each), so a deep, narrow graph stays faster as straight-line Python."""

EXECUTORS = ("auto", "python", "numpy", "native")
REDUCTIONS = (None, "sum", "mean")


@dataclass
class _Spec:
    """What a recognised transform asks for: f, which arguments, and whether the value too."""

    fun: Callable[..., Any]
    argnums: int | tuple[int, ...]
    with_value: bool


def _transform(f: Any) -> _Spec | None:
    """The spec of ``value_and_grad(fun, argnums)`` or ``grad(fun, argnums)``, else None."""
    from agrad.transforms import TRANSFORM_ATTR

    spec = getattr(f, TRANSFORM_ATTR, None)
    return None if spec is None else _Spec(*spec)


# -- arguments --------------------------------------------------------------------------


def _leaves(x: Any, name: str, out: list[tuple[str, Any]], key: list[Any], depth: int = 0) -> None:
    """Flatten one argument into (name, number or array) leaves and a structure key."""
    if isinstance(x, list | tuple):
        if depth >= MAX_NESTING:
            raise too_deep(f"agrad.compile: argument {name.split('[')[0]}")
        key.append((type(x).__name__, len(x)))
        for i, v in enumerate(x):
            _leaves(v, f"{name}[{i}]", out, key, depth + 1)
        return
    if isinstance(x, Value):
        raise TypeError(
            f"agrad.compile: {name} is a Value; a compiled function takes numbers or NumPy arrays "
            "(pass x.data, or call the uncompiled function to build a graph)"
        )
    if isinstance(x, numbers.Real) and not _is_array(x):
        try:
            out.append((name, float(x)))
        except OverflowError:
            raise ValueError(f"agrad.compile: {name} is an int too large for a float") from None
        key.append("f")
        return
    if _is_array(x):
        import numpy as np

        a = np.asarray(x)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"agrad.compile: {name} must hold real numbers, got an array of dtype {a.dtype}")
        if a.ndim == 0:
            out.append((name, float(a)))
            key.append("f")
        else:
            out.append((name, a.astype(np.float64, copy=False)))
            key.append("a")
        return
    if type(x).__module__.startswith("dask."):
        raise ChunkedArgument(
            f"agrad.compile: {name} is a Dask array; call the compiled function with it (each chunk runs the "
            "NumPy program, agrad.distributed); lower() and trace_seconds() take NumPy arrays"
        )
    raise TypeError(
        f"agrad.compile: {name} must be a number, a NumPy array, or a list/tuple of them, "
        f"got {type(x).__name__}: {quote(x)}"
    )


class ChunkedArgument(TypeError):
    """An argument is a chunked (Dask) array: the call goes to ``agrad.distributed.call_compiled``."""


def _is_array(x: object) -> bool:
    return type(x).__module__ == "numpy" and hasattr(x, "shape") and hasattr(x, "dtype")


def _rebuild(x: Any, it: Iterable[Any]) -> Any:
    """x's structure with its leaves taken, in order, from it."""
    if isinstance(x, list | tuple):
        return type(x)(_rebuild(v, it) for v in x)
    return next(iter(it))


def _arg_names(fun: Callable[..., Any], n: int) -> list[str]:
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [names[i] if i < len(names) else f"argument {i}" for i in range(n)]


# -- outputs ----------------------------------------------------------------------------


def _flat_out(x: Any, out: list[Any], depth: int = 0) -> Any:
    """Flatten f's result; returns a template that ``_fill`` turns back into the same structure."""
    if isinstance(x, list | tuple):
        if depth >= MAX_NESTING:
            raise too_deep("agrad.compile: the function's result")
        return type(x)(_flat_out(v, out, depth + 1) for v in x)
    out.append(x)
    return None


def _fill(template: Any, it: Any) -> Any:
    if isinstance(template, list | tuple):
        return type(template)(_fill(v, it) for v in template)
    return next(it)


@dataclass
class _Entry:
    """One trace: its graph, how to rebuild results, and its compiled programs."""

    graph: Graph
    template: Any
    names: list[str]
    starts: list[int]  # index of each argument's first leaf, then the number of leaves
    programs: dict[Any, Any] = field(default_factory=dict)
    seconds: float = 0.0  # time spent tracing and generating code


class CompiledFunction:
    """The callable that ``agrad.compile`` returns (see ``compile``): one trace per call signature.

    >>> import agrad
    >>> f = agrad.compile(lambda x: x * x)
    >>> f(3.0), f(4.0), f.last_executor, len(f.traces)
    (9.0, 16.0, 'python', 1)
    """

    fun: Callable[..., Any]

    def __init__(
        self, f: Callable[..., Any], executor: str, reduce: str | None, params: Sequence[Value] | None
    ) -> None:
        if not callable(f):
            raise TypeError(f"agrad.compile expects a function, got {type(f).__name__}")
        if isinstance(f, CompiledFunction):  # compile(compile(f), ...): f, with these settings
            f = f.fun
        if executor not in EXECUTORS:
            raise ValueError(f"agrad.compile: executor must be one of {EXECUTORS}, got {quote(executor)}")
        if reduce not in REDUCTIONS:
            raise ValueError(f"agrad.compile: reduce must be None, 'sum' or 'mean', got {quote(reduce)}")
        if executor == "native" and not _native_available():
            raise ImportError(
                'agrad.compile: executor="native" needs cffi and a C compiler (cc, gcc or clang, or $CC): '
                'pip install "agrad[native]"'
            )
        self.fun = f
        self.spec = _transform(f)
        self.executor = executor
        self.reduce = reduce
        self.params: list[Value] = []
        if params is not None:
            self.params = list(params)
            bad = [p for p in self.params if not isinstance(p, Value)]
            if bad:
                raise TypeError(f"agrad.compile: params must be Values, got {type(bad[0]).__name__}")
            if self.spec is not None:
                raise ValueError(
                    "agrad.compile: params= differentiates f's own result; a transform names its own arguments"
                )
        self.traces: dict[Any, _Entry] = {}
        self._names: dict[int, list[str]] = {}
        self.last_executor = ""
        self._name = str(getattr(f, "__qualname__", f))
        # f's name and docstring, not its __dict__: f's own attributes (a .params, a .spec) must not
        # overwrite compile's settings above.
        functools.update_wrapper(self, f, updated=())

    def __repr__(self) -> str:
        return f"<agrad.compile of {self._name}, executor={self.executor!r}>"

    # -- tracing ------------------------------------------------------------------------

    def _trace(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], leaves: list[tuple[str, Any]], starts: list[int]
    ) -> _Entry:
        t0 = time.perf_counter()
        phs = []
        for name, x in leaves:
            example = x if type(x) is float else (float(x.flat[0]) if x.size else 0.0)
            phs.append(Placeholder(example, name))
        ph_args = _rebuild(args, iter(phs))
        spec = self.spec
        with tracing():
            out = (spec.fun if spec else self.fun)(*ph_args, **kwargs)
        if spec is not None:
            root = _scalar(out)
            nums = _argnums(spec.argnums, len(args))
            wrt: list[Value] = []
            grad_tmpl = []
            for i in nums:
                sub: list[Any] = []
                grad_tmpl.append(_flat_out(ph_args[i], sub))
                wrt.extend(sub)
            graph = build_graph(phs, [root], root, wrt)
            gt = grad_tmpl[0] if isinstance(spec.argnums, int) else tuple(grad_tmpl)
            template: Any = ("vg", gt) if spec.with_value else ("g", gt)
        else:
            outs: list[Any] = []
            tmpl = _flat_out(out, outs)
            root = None
            if self.params:
                if len(outs) != 1:
                    raise ValueError(
                        f"agrad.compile: params= needs f to return one scalar, it returned {len(outs)} values"
                    )
                root = _scalar(outs[0])
            graph = build_graph(phs, outs, root, list(self.params))
            template = ("f", tmpl)
        return _Entry(graph, template, [n for n, _ in leaves], starts, seconds=time.perf_counter() - t0)

    def _entry(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[_Entry, list[tuple[str, Any]]]:
        leaves: list[tuple[str, Any]] = []
        key: list[Any] = [len(args), _static(kwargs)]
        names = self._names.get(len(args))
        if names is None:
            names = self._names[len(args)] = _arg_names(self.spec.fun if self.spec else self.fun, len(args))
        starts = []
        for name, a in zip(names, args):
            starts.append(len(leaves))
            _leaves(a, name, leaves, key)
        starts.append(len(leaves))
        k = tuple(key)
        entry = self.traces.get(k)
        if entry is None:
            if self.traces:
                old = next(iter(self.traces))
                why = (
                    f"{len(args)} arguments instead of {old[0]}"
                    if old[0] != len(args)
                    else "new keyword arguments"
                    if old[1] != key[1]
                    else "new argument kinds or structure"
                )
                log.debug("retracing %s: called with %s", self._name, why)
            entry = self.traces[k] = self._trace(args, kwargs, leaves, starts)
            log.debug(
                "traced %s: %d nodes in %.3f s",
                self._name,
                len(entry.graph),
                entry.seconds,
            )
        return entry, leaves

    def _program(self, entry: _Entry, batched: tuple[bool, ...]) -> Any:
        batch = any(batched)
        executor = self.executor
        if executor in ("auto", "native"):
            big = len(entry.graph) > PYTHON_MAX_NODES and _has_numpy() and _width(entry.graph) >= NUMPY_MIN_WIDTH
            plain = "numpy" if batch or big else "python"  # the choice without native code
            if executor == "auto":
                executor = "native" if batch and _native_available() else plain
        if executor == "python" and batch:
            raise ValueError(
                "agrad.compile: executor='python' runs on numbers; array arguments need executor='numpy' or 'auto'"
            )
        key = (executor, batched, self.reduce if batch else None)
        hit = entry.programs.get(key)
        if hit is None:
            t0 = time.perf_counter()
            red = self.reduce if batch else "sum"  # one sample: sum and per-sample agree
            prog = _native_program(entry.graph, batched, red) if executor == "native" else None
            if executor == "native" and prog is None:
                executor = plain  # too large for the C compiler, or it failed: logged at debug level
            if executor == "python":
                prog = PythonProgram(entry.graph)
            elif executor == "numpy":
                from agrad.compile.levels import LevelProgram

                prog = LevelProgram(entry.graph, list(batched), red)
            entry.seconds += time.perf_counter() - t0
            hit = entry.programs[key] = (executor, prog)
        self.last_executor = hit[0]
        return hit[1]

    def lower(self, *args: Any, **kwargs: Any) -> Any:
        """Trace and generate code for these arguments without running: the executor's program.

        >>> import agrad
        >>> f = agrad.compile(lambda x: x * x + 1.0)
        >>> type(f.lower(2.0)).__name__, f.trace_seconds(2.0) > 0
        ('PythonProgram', True)
        """
        entry, leaves = self._entry(args, kwargs)
        return self._program(entry, tuple(type(x) is not float for _, x in leaves))

    def trace_seconds(self, *args: Any, **kwargs: Any) -> float:
        """Seconds spent tracing f and generating code for the signature of these arguments.

        >>> import agrad
        >>> agrad.compile(lambda x: x + 1.0).trace_seconds(2.0) > 0.0  # traces now if needed
        True
        """
        return self._entry(args, kwargs)[0].seconds

    # -- calling ------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            entry, prog, values, flat, shape, size = self._prepare(args, kwargs)
        except ChunkedArgument:
            from agrad.distributed import call_compiled

            return call_compiled(self, args, kwargs)
        caps = [v.data for v in entry.graph.captured]
        if shape is None:
            outs, grads = prog(flat, caps)
            if self.params:
                self._accumulate(grads)
            return self._result(entry, outs, grads)
        outs, grads = prog(flat, caps, size)
        if not getattr(prog, "reduces_outputs", False):  # the native program sums (averages) them itself
            outs = [self._reduce_out(o, shape, size) for o in outs]
        if self.params:  # numbers, reduced over the batch (checked when params= was given)
            self._accumulate(grads)
            return self._result(entry, outs, grads)
        grads = [self._shape_grad(gr, x, shape, size) for gr, x in zip(grads, self._wrt_values(entry, values))]
        return self._result(entry, outs, grads)

    def _prepare(
        self, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None
    ) -> tuple[_Entry, Any, list[Any], list[Any], tuple[int, ...] | None, int]:
        """The trace and program for these arguments, their leaves as given and flattened to
        the batch, and the batch's shape and size (None and 1 when every leaf is a number)."""
        entry, leaves = self._entry(args, kwargs or {})
        values = [x for _, x in leaves]
        batched = tuple(type(x) is not float for x in values)
        if not any(batched):
            return entry, self._program(entry, batched), values, values, None, 1
        if self.params and self.reduce is None:
            raise ValueError("agrad.compile: params= with array arguments needs reduce='sum' or 'mean' ")
        np = _numpy()
        shape = _broadcast(leaves)
        size = math.prod(shape)
        if size == 0 and self.reduce == "mean":
            raise ValueError(f"agrad.compile: reduce='mean' over an empty batch (shape {shape}) has no value")
        flat = [
            x if type(x) is float else x.reshape(size) if x.shape == shape else np.broadcast_to(x, shape).reshape(size)
            for x in values
        ]
        return entry, self._program(entry, batched), values, flat, shape, size

    def _wrt_values(self, entry: _Entry, values: list[Any]) -> list[Any]:
        """The argument (or parameter) each gradient belongs to, to give it that one's shape."""
        if self.spec is None:
            return []  # plain f: no gradients
        s = entry.starts
        return [x for i in _argnums(self.spec.argnums, len(s) - 1) for x in values[s[i] : s[i + 1]]]

    def _reduce_out(self, o: Any, shape: tuple[int, ...], size: int) -> Any:
        np = _numpy()
        batched = not isinstance(o, float)
        if self.reduce is None:
            return o.reshape(shape) if batched else np.full(shape, o)
        if self.reduce == "sum":
            return float(o.sum()) if batched else o * size
        return float(o.mean()) if batched else o

    def _shape_grad(self, g: Any, x: Any, shape: tuple[int, ...], size: int) -> Any:
        np = _numpy()
        if type(x) is float:  # a number argument: one gradient if reduced, else one per sample
            if self.reduce is not None:
                return float(g)
            return g.reshape(shape) if not isinstance(g, float) else np.full(shape, g)
        full = g.reshape(shape) if not isinstance(g, float) else np.zeros(shape)
        extra = len(shape) - x.ndim  # sum over the axes that broadcasting added to x
        full = full.sum(axis=tuple(range(extra))) if extra else full
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1 and full.shape[i] != 1)
        return full.sum(axis=axes, keepdims=True) if axes else full

    def _accumulate(self, grads: list[Any]) -> None:
        for p, gr in zip(self.params, grads):
            p.grad += gr

    def _result(self, entry: _Entry, outs: list[Any], grads: list[Any]) -> Any:
        kind, tmpl = entry.template
        if kind == "f":
            return _fill(tmpl, iter(outs))
        gs = _fill(tmpl, iter(grads))
        return (outs[0], gs) if kind == "vg" else gs


def _static(kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Keyword arguments as part of the call signature: each new value traces again, as jax.jit's static ones.

    The type is part of it, so that ``flag=1`` and ``flag=True`` get traces of their own.

    >>> _static({"flag": True, "n": 2})
    (('flag', <class 'bool'>, True), ('n', <class 'int'>, 2))
    """
    out = tuple(sorted((k, type(v), v) for k, v in kwargs.items()))
    for k, _, v in out:
        try:
            hash(v)
        except RecursionError:
            raise too_deep(f"agrad.compile: keyword argument {k}=") from None
        except TypeError:
            raise TypeError(
                f"agrad.compile: keyword argument {k}= is static (part of the call signature, traced once per "
                f"value, never differentiated) and must be hashable, got {type(v).__name__}; pass numbers and "
                "arrays to differentiate or batch over as positional arguments"
            ) from None
    return out


def _scalar(x: Any) -> Any:
    if isinstance(x, Value | numbers.Real):
        return x
    raise TypeError(f"agrad.compile: the function to differentiate must return one scalar, got {type(x).__name__}")


def _argnums(argnums: Any, n: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not isinstance(i, int) or not -n <= i < n:
            raise ValueError(f"agrad.compile: argnums {argnums!r} is out of range for {n} argument(s)")
    return tuple(i % n for i in nums)


def _width(g: Graph) -> float:
    """Nodes per level: how much of the graph one level-scheduled NumPy call can cover.

    >>> from agrad.compile.trace import Placeholder, build_graph
    >>> x = Placeholder(1.0, "x"); _width(build_graph([x], [(x * 2.0) + (x * 3.0)]))
    2.0
    """
    depth = [0] * len(g)
    for i, kids in enumerate(g.kids):
        depth[i] = 1 + max((depth[k] for k in kids if type(k) is int), default=0) if g.ops[i] else 0
    return len(g) / max(1, max(depth, default=0))


def _native_available() -> bool:
    from agrad.compile.native import available

    return available()


def _native_program(g: Graph, batched: tuple[bool, ...], reduce: str | None) -> Any:
    from agrad.compile.native import program

    return program(g, batched, reduce)


def _has_numpy() -> bool:
    import importlib.util

    return importlib.util.find_spec("numpy") is not None


def _numpy() -> Any:
    from agrad.compile.levels import numpy

    return numpy()


def _broadcast(leaves: list[tuple[str, Any]]) -> tuple[int, ...]:
    np = _numpy()
    arrays = [(n, x) for n, x in leaves if type(x) is not float]
    try:
        return tuple(np.broadcast_shapes(*[x.shape for _, x in arrays]))
    except ValueError:
        shapes = ", ".join(f"{n} {x.shape}" for n, x in arrays)
        raise ValueError(f"agrad.compile: array arguments cannot be broadcast to one batch shape: {shapes}") from None


def compile(
    f: Callable[..., Any],
    *,
    executor: str = "auto",
    reduce: str | None = None,
    params: Sequence[Value] | None = None,
) -> CompiledFunction:
    """f traced once per call signature and run as generated code; same arguments, same results.

    * Numbers in give numbers out. NumPy arrays of broadcastable shapes run f on
      every element at once (as ``jax.vmap``); numbers are broadcast over the batch.
    * ``compile(value_and_grad(f, argnums))`` returns the value and the gradients.
      With arrays, a number argument (a parameter) gets its **per-sample**
      gradient, an array of the batch shape, unless ``reduce`` is "sum" or "mean":
      then f's result is summed (averaged) over the batch and every gradient is
      that of the reduced result (a number for a number argument).
    * ``params``: Values that f reads but does not take as arguments (a model's
      parameters). Each call adds d(result)/d(p) to ``p.grad``, as
      ``result.backward()`` would, and returns the result. Every Value f reads
      but does not take is *live*: each call reads its current ``.data``.
    * ``executor``: "python" (straight-line Python on numbers), "numpy"
      (level-scheduled NumPy: batches, and very large graphs), "native" (C with
      the loop over the batch inside, compiled by the system's C compiler and
      cached on disk: ``pip install "agrad[native]"``) or "auto": native for
      arrays where cffi and a C compiler are found, else NumPy; Python for
      numbers, NumPy for very large, wide graphs.

    Like ``jax.jit``, a trace is specialised to one graph: Python control flow
    that reads ``.data`` is baked in at trace time, and reading ``.data`` of an
    argument (a placeholder) while tracing raises ``agrad.TracingError``. A new
    call signature (number, kind or nesting of arguments) traces again, logged at
    debug level to the ``agrad.compile`` logger.

    >>> import agrad
    >>> f = agrad.compile(agrad.value_and_grad(lambda x, y: x * agrad.relu(y), argnums=(0, 1)))
    >>> f(2.0, 3.0), f(2.0, -3.0)
    ((6.0, (3.0, 2.0)), (0.0, (0.0, 0.0)))
    >>> import numpy as np
    >>> f = agrad.compile(agrad.value_and_grad(lambda w, x: w * x, argnums=0), reduce="sum")
    >>> f(2.0, np.array([1.0, 2.0, 3.0]))
    (12.0, 6.0)
    """
    return CompiledFunction(f, executor, reduce, params)
