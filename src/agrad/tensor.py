"""Tensor: an n-dimensional array that records the op that made it, on Value's rule table and walk.

A Tensor is a node as ``agrad.backprop`` defines one (it is in ``NODE_TYPES``):
``data`` is an array, ``_op`` names the row of ``agrad.rules.RULES`` that made
it, and ``_children`` holds every argument the op was called with, in the order
its rule takes them: the Tensors it depends on, and the constants (arrays,
numbers) and parameters (an axis, a shape, an index) the rule also needs. So the
walk sorts and differentiates Tensors and Values alike. The rules are the scalar
ones where the math is the same (``g * y`` serves a float and an array);
broadcasting is undone in one place, ``sum_to``, which the walk applies to each
share a Tensor's rule gives (``Tensor._fit``).

The array library is not fixed: an array's namespace comes from the Python array
API standard (``array-api-compat``), so NumPy, CuPy, PyTorch, JAX and Dask arrays
can be the storage. Nothing here imports NumPy until a Tensor is made.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from agrad._checks import quote
from agrad.modes import ANOMALY, NO_GRAD, enable_grad, mode
from agrad.value import NODE_TYPES, MixError, Value, _number, exp, log

Array = Any  # an array of some array-API library
Index = Any


_NS: dict[type, Any] = {}  # array type -> its array-API namespace (array_namespace costs microseconds)
_COPY: set[type] = set()  # array types whose .copy() is a plain copy (NumPy's), noted as namespace() meets them
_QUIET: dict[int, Callable[[], Any]] = {}  # namespace id -> a context that silences its IEEE warnings


def namespace(a: Array) -> Any:
    """The array-API namespace of one array (``array_api_compat.numpy`` for a NumPy array).

    >>> import numpy as np
    >>> namespace(np.ones(2)).__name__
    'array_api_compat.numpy'
    """
    xp = _NS.get(type(a))
    if xp is None:
        from array_api_compat import array_namespace

        xp = _NS[type(a)] = array_namespace(a)
        if getattr(xp, "__name__", "") == "array_api_compat.numpy":
            _COPY.add(type(a))
    return xp


def stored_transposed(a: Array) -> bool:
    """Whether a is a NumPy matrix stored column by column: the transpose of a row-major array.

    ``agrad.nn.Linear`` stores its weight (out, in) so, and the weight's gradient is
    made in the same layout: an update (or any elementwise op) that mixes the two
    layouts walks one array against its grain, many times slower.

    >>> import numpy as np
    >>> stored_transposed(np.zeros((3, 2)).T), stored_transposed(np.zeros((2, 3)))
    (True, False)
    """
    flags = getattr(a, "flags", None) if type(a) in _COPY else None
    return flags is not None and flags.f_contiguous and not flags.c_contiguous


def _is_array(x: object) -> bool:
    if type(x) in _NS:
        return True
    try:
        from array_api_compat import is_array_api_obj
    except ImportError:  # without the library no array can be here (a Tensor could not have been made)
        return False
    return bool(is_array_api_obj(x)) and not isinstance(x, (Value, Tensor))


def _default_xp() -> Any:
    try:
        import array_api_compat.numpy as xp
    except ImportError as e:
        raise ModuleNotFoundError(
            'agrad.Tensor needs NumPy and array-api-compat: pip install "agrad[numpy]"', name=e.name
        ) from e
    return xp


def quiet(xp: Any) -> Any:
    """A context in which xp's IEEE edges (log(0), 0/0, overflow) give inf and nan silently, as Value's do.

    Only NumPy warns; for other libraries this is a no-op.

    >>> import numpy as np, warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error")
    ...     with quiet(namespace(np.ones(1))):
    ...         float(np.log(np.zeros(1))[0])
    -inf
    """
    make = _QUIET.get(id(xp))
    if make is None:
        if getattr(xp, "__name__", "") == "array_api_compat.numpy":
            import numpy as np

            make = _QUIET[id(xp)] = lambda: np.errstate(all="ignore")
        else:
            make = _QUIET[id(xp)] = contextlib.nullcontext
    return make()


def quiet_walk() -> Any:
    """A context for a walk over Tensors: NumPy's IEEE warnings off (its rules run on raw arrays).

    >>> with quiet_walk():
    ...     pass
    """
    import sys

    np = sys.modules.get("numpy")  # no NumPy loaded: no NumPy array to warn
    return np.errstate(all="ignore") if np is not None else contextlib.nullcontext()


def _xp_of(*xs: Any) -> Any:
    """The one namespace of the arrays among xs; two libraries at once is a TypeError naming both.

    NumPy with Dask gives Dask, as Dask itself defines that mix.
    """
    found: Any = None
    for x in xs:
        if type(x) is Tensor:
            xp = x._xp
        elif type(x) in _NS or _is_array(x):
            xp = namespace(x)
        else:
            continue
        if found is None:
            found, first = xp, x
            continue
        if xp is found:
            if xp.__name__ in _DEVICES:
                _same_device(first, x)
            continue
        names = {found.__name__: found, xp.__name__: xp}
        if set(names) == {"array_api_compat.numpy", "array_api_compat.dask.array"}:
            found = names["array_api_compat.dask.array"]
            continue
        raise TypeError(
            f"an op mixes arrays of two libraries, {found.__name__} and {xp.__name__} (on {_device(first)} and "
            f"{_device(x)}); convert one side first (for example with the other library's asarray)"
        )
    return found


_DEVICES = {"array_api_compat.cupy", "array_api_compat.torch", "jax.numpy"}  # libraries with arrays on many devices


def _device(x: Any) -> str:
    from array_api_compat import device

    return str(device(x.data if type(x) is Tensor else x))


def _same_device(x: Any, y: Any) -> None:
    """Nothing moves arrays between devices behind the user's back: two devices in one op is a TypeError."""
    dx, dy = _device(x), _device(y)
    if dx != dy:
        raise TypeError(
            f"an op mixes arrays on two devices, {dx} and {dy}; move one side first (for example with .to_device)"
        )


def _known(a: Array, what: str) -> Array:
    """a itself if every size of its shape is known: agrad checks shapes and undoes broadcasting with them."""
    shape = a.shape
    if any(n is None or n != n for n in shape):  # Dask marks an unknown size nan, the standard None
        raise ValueError(
            f"{what} has unknown sizes in its shape {tuple(shape)} (a Dask array after boolean-mask indexing "
            "or from a DataFrame); agrad needs every size: call .compute_chunk_sizes() on the Dask array first, "
            "or use where(mask, x, 0.0) in place of x[mask]"
        )
    return a


def _fix(xp: Any, r: Any, dtype: Any = None) -> Array:
    """An op's result as a real array: NumPy gives a scalar, not a 0-d array, for a 0-d result."""
    if type(r) in _COPY:  # the usual result, without the numbers.Number check below (an ABC's, slow)
        return r
    if isinstance(r, numbers.Number):
        return xp.asarray(r, dtype=dtype) if dtype is not None else xp.asarray(r)
    return r


def _real_dtype(xp: Any, a: Array, what: str) -> Any:
    """a's dtype if it is a real float; ints and bools become float64; anything else is a TypeError."""
    dt = a.dtype
    if getattr(dt, "kind", None) in ("O", "U", "S", "V", "M", "m"):  # NumPy's non-numeric kinds
        raise TypeError(f"{what} must hold real numbers, got an array of dtype {dt}")
    if xp.isdtype(dt, "real floating"):
        return dt
    if xp.isdtype(dt, "complex floating"):
        raise TypeError(f"{what} must hold real numbers, got complex dtype {dt}; agrad differentiates real functions")
    if xp.isdtype(dt, ("integral", "bool")):
        return xp.float64
    raise TypeError(f"{what} must hold real numbers, got an array of dtype {dt}")


def _as_array(data: object, dtype: object, what: str = "Tensor data") -> tuple[Array, Any]:
    """data as a real floating array and its namespace, checking everything a user may pass."""
    if isinstance(data, Value):
        raise TypeError(
            f"{what} got a Value; a Value is a scalar of its own graph. Use Tensor(v.data) for its number "
            "(the Tensor is a new leaf, not connected to v)"
        )
    if type(data) is Tensor:
        data = data.data
    if isinstance(data, (bool, int, float)) or (isinstance(data, numbers.Real) and not _is_array(data)):
        xp = _default_xp()
        a = xp.asarray(_number(data))
    elif isinstance(data, (list, tuple)):
        xp = _default_xp()
        import numpy as np

        try:
            raw = np.asarray(data)
        except (ValueError, TypeError) as e:
            raise TypeError(f"{what} must be a (nested) list of real numbers of one shape: {e}") from None
        a = raw
    elif _is_array(data):
        xp = namespace(data)
        a = xp.asarray(_known(data, what))  # a NumPy scalar (np.float64) becomes a 0-d array
    else:
        raise TypeError(
            f"{what} must be an array, a (nested) list of real numbers or a real number, "
            f"got {type(data).__name__}: {data!r}"
        )
    dt = _real_dtype(xp, a, what)
    if dtype is not None:
        dt = _dtype(xp, dtype)
    if a.dtype != dt:
        a = xp.astype(a, dt)
    return a, xp


def _dtype(xp: Any, dtype: object) -> Any:
    name = dtype if isinstance(dtype, str) else getattr(dtype, "__name__", None) or str(dtype)
    name = str(name).rsplit(".", 1)[-1]
    if name not in ("float16", "float32", "float64"):
        raise ValueError(f"Tensor dtype must be float32 or float64 (or float16), got {dtype!r}")
    return getattr(xp, name)


class Tensor:
    """An array that remembers how it was computed, so backward() can differentiate it.

    >>> import numpy as np, agrad
    >>> x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    >>> w = Tensor(np.ones((2, 3)), requires_grad=True)
    >>> loss = agrad.tanh(x @ w + 1.0).sum()
    >>> loss.backward()
    >>> x.grad.shape, w.grad.shape
    ((2, 2), (2, 3))

    Operators broadcast as NumPy does; comparisons give plain boolean arrays.
    Tensors hash by identity, so they work as dict keys.
    """

    __slots__ = (
        "__weakref__",
        "_children",
        "_g",
        "_grad",
        "_hooks",
        "_op",
        "_retain",
        "_xp",
        "data",
        "label",
        "requires_grad",
    )
    __array_ufunc__ = None  # a NumPy array on the left defers to our reflected operators
    __array_priority__ = 1000.0
    _constant_types: ClassVar[tuple[type, ...]] = (object,)  # any non-node operand is a constant or a parameter

    data: Array
    requires_grad: bool
    label: str
    _op: str
    _children: tuple[Any, ...]  # the op's arguments: Tensors (followed by the walk), constants, parameters
    _hooks: list[Callable[[Any], Any]] | None
    _xp: Any
    _grad: Any
    _g: Any  # the gradient one walk collects here; only agrad.backprop touches it

    def __init__(self, data: object, requires_grad: bool = False, dtype: object = None, label: str = "") -> None:
        self.data, self._xp = _as_array(data, dtype)
        if not isinstance(requires_grad, bool):
            raise TypeError(f"requires_grad must be True or False, got {requires_grad!r}")
        if not isinstance(label, str):
            raise TypeError(f"label must be a str, got {type(label).__name__}")
        self.requires_grad = requires_grad
        self._grad = None
        self.label = label
        self._op = ""
        self._children = ()
        self._hooks = None
        self._retain = False

    @property
    def grad(self) -> Any:
        """None until a backward reaches this Tensor; then an array of its shape (a Tensor with create_graph).

        >>> x = Tensor([1.0, 2.0], requires_grad=True); x.grad is None
        True
        """
        return self._grad

    @grad.setter
    def grad(self, g: Any) -> None:
        if self._children and not self._retain:
            # An intermediate keeps no gradient unless retain_grad() asked, as in PyTorch: keeping
            # every one would double a network's backward memory (the walk sets .grad on every node).
            return
        if g is None:  # zero_grad, once per parameter per step: not through the array checks below
            self._grad = None
            return
        # a copy: the walk may hand one array to several nodes, and a user may change a .grad in place
        if (type(g) in _COPY or _is_array(g) or type(g) is Tensor) and tuple(g.shape) != tuple(self.data.shape):
            # kept, it would broadcast into every later gradient and optimizer step (torch refuses it too)
            raise ValueError(f".grad must have the Tensor's shape {self.shape}, got shape {tuple(g.shape)}")
        if type(g) in _COPY:
            # NumPy's own copy (array-api-compat's asarray costs more than a small copy), in g's layout:
            # a transposed weight's gradient stays transposed, as its updates need
            self._grad = g.copy(order="K")
        else:
            self._grad = namespace(g).asarray(g, copy=True) if _is_array(g) else g

    def _fit(self, gs: Sequence[Any]) -> list[Any]:
        """The walk's shares for this node's operands, each summed down to its operand's shape.

        ``backprop.pull`` calls it on every share a Tensor's rule gives: the one place
        broadcasting is undone, so no rule undoes it.

        >>> x = Tensor([[1.0], [2.0]], requires_grad=True); y = x * Tensor([10.0, 20.0])  # (2, 1) * (2,)
        >>> [g.tolist() for g in y._fit([y._xp.ones((2, 2)), y._xp.ones((2, 2))])]  # x's share, the constant's
        [[[2.0], [2.0]], [[1.0, 1.0], [1.0, 1.0]]]
        """
        out = []
        for k, g in zip(self._children, gs):
            if type(k) is Tensor:
                d = k.data
                if type(g) is not type(d) or g.shape != d.shape or g.dtype != d.dtype:  # else already fits: as is
                    g = sum_to(g, k)
            out.append(g)
        return out

    def _fresh(self, gk: Any, g: Any, gs: Sequence[Any]) -> bool:
        """Whether share gk is a NumPy array this node's rule made for that one operand, aliased nowhere.

        Not the incoming gradient g, not another share, not a view, not this node's
        or an operand's data: ``backprop.pull`` may then give it to a leaf as its
        ``.grad`` without a copy.

        >>> import numpy as np
        >>> x = Tensor(np.ones(4096), requires_grad=True); y = x + x; g = np.ones(4096); h = 2 * g
        >>> y._fresh(g, g, [g, g]), y._fresh(h, g, [h])  # add's rule gives g itself; h is made for one operand
        (False, True)
        """
        if type(gk) not in _COPY or gk.size < 4096:
            return False  # below 16 KB (float32) a copy costs less than these checks: the digits step's shares
        own = gk if gk.base is None else gk.base  # a whole view of a new array (a transposed weight's gradient)
        if type(own) is not type(gk) or own.base is not None or own.size != gk.size:
            return False
        return (
            own is not _owner(g)
            and own is not _owner(self.data)
            and sum(_owner(o) is own for o in gs) == 1
            and all(own is not _owner(getattr(k, "data", k)) for k in self._children)
        )

    # -- what a NumPy or PyTorch user expects -----------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape.

        >>> Tensor([[1.0, 2.0, 3.0]]).shape
        (1, 3)
        """
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        """The number of axes.

        >>> Tensor(1.0).ndim, Tensor([[1.0]]).ndim
        (0, 2)
        """
        return int(self.data.ndim)

    @property
    def dtype(self) -> Any:
        """The array's dtype: float64 unless float32 was given.

        >>> str(Tensor([1, 2]).dtype)
        'float64'
        """
        return self.data.dtype

    @property
    def T(self) -> Tensor:
        """The axes reversed, as NumPy's ``.T``.

        >>> Tensor([[1.0, 2.0, 3.0]]).T.shape
        (3, 1)
        """
        return transpose(self)  # type: ignore[no-any-return]

    def item(self) -> float:
        """The one number of a one-element Tensor, as a float.

        >>> Tensor([[2.5]]).item()
        2.5
        """
        if math.prod(self.shape) != 1:
            raise ValueError(f"item() needs a Tensor with one element, got shape {self.shape}")
        return float(self._xp.reshape(self.data, (-1,))[0])

    def __float__(self) -> float:
        return self.item()

    def __bool__(self) -> bool:
        return bool(self.item())

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d Tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if not self.shape:
            raise TypeError("iteration over a 0-d Tensor")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        body = _show(self.data)
        extra = ", requires_grad=True" if self.requires_grad else ""
        if str(self.dtype).rsplit(".", 1)[-1] != "float64":
            extra = f", dtype={str(self.dtype).rsplit('.', 1)[-1]}" + extra
        if self.label:
            extra += f", label={self.label!r}"
        return f"Tensor({body}{extra})"

    __hash__ = object.__hash__

    # -- arithmetic: each op makes one node; numbers and arrays are constants -----

    def __add__(self, other: object) -> Tensor:
        return _binary("+", self, other)

    def __radd__(self, other: object) -> Tensor:
        return _binary("+", other, self)

    def __sub__(self, other: object) -> Tensor:
        return _binary("-", self, other)

    def __rsub__(self, other: object) -> Tensor:
        return _binary("-", other, self)

    def __mul__(self, other: object) -> Tensor:
        return _binary("*", self, other)

    def __rmul__(self, other: object) -> Tensor:
        return _binary("*", other, self)

    def __truediv__(self, other: object) -> Tensor:
        return _binary("/", self, other)

    def __rtruediv__(self, other: object) -> Tensor:
        return _binary("/", other, self)

    def __pow__(self, other: object) -> Tensor:
        if isinstance(other, numbers.Real) and not _is_array(other):
            c = _number(other)
            with quiet(self._xp):
                r = self._xp.pow(self.data, c)
            return _make("**", r, (self, c), self._xp)
        return _binary("pow", self, other)

    def __rpow__(self, other: object) -> Tensor:
        return _binary("pow", other, self)

    def __matmul__(self, other: object) -> Tensor:
        return matmul(self, other)  # type: ignore[no-any-return]

    def __rmatmul__(self, other: object) -> Tensor:
        return matmul(other, self)  # type: ignore[no-any-return]

    def __neg__(self) -> Tensor:
        return _make("neg", -self.data, (self,), self._xp)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        """|self|; abs'(0) = 0, as in PyTorch."""
        return _unary("abs", self)

    def __getitem__(self, index: Index) -> Tensor:
        return getitem(self, index)  # type: ignore[no-any-return]

    # -- comparisons read .data and give plain boolean arrays ------------------------

    def __lt__(self, other: object) -> Array:
        return self.data < _cmp(other, self)

    def __le__(self, other: object) -> Array:
        return self.data <= _cmp(other, self)

    def __gt__(self, other: object) -> Array:
        return self.data > _cmp(other, self)

    def __ge__(self, other: object) -> Array:
        return self.data >= _cmp(other, self)

    def __eq__(self, other: object) -> Array:
        return self.data == _cmp(other, self)

    def __ne__(self, other: object) -> Array:
        return self.data != _cmp(other, self)

    # -- elementary functions: the scalar engine's, elementwise ------------------------

    def exp(self) -> Tensor:
        """e ** self, elementwise.

        >>> Tensor([0.0]).exp().data.tolist()
        [1.0]
        """
        return _unary("exp", self)

    def log(self) -> Tensor:
        """Natural log, elementwise; log(0) = -inf, log(x < 0) = nan.

        >>> Tensor([1.0, 0.0]).log().data.tolist()
        [0.0, -inf]
        """
        return _unary("log", self)

    def sqrt(self) -> Tensor:
        """Square root, elementwise.

        >>> Tensor([4.0]).sqrt().data.tolist()
        [2.0]
        """
        return _unary("sqrt", self)

    def tanh(self) -> Tensor:
        """Hyperbolic tangent, elementwise.

        >>> Tensor([0.0, 1000.0]).tanh().data.tolist()
        [0.0, 1.0]
        """
        return _unary("tanh", self)

    def sigmoid(self) -> Tensor:
        """1 / (1 + e ** -self), elementwise, finite everywhere.

        >>> Tensor([0.0, -1000.0]).sigmoid().data.tolist()
        [0.5, 0.0]
        """
        return _unary("sigmoid", self)

    def relu(self) -> Tensor:
        """max(self, 0), elementwise; relu'(0) = 0.

        >>> Tensor([-2.0, 3.0]).relu().data.tolist()
        [0.0, 3.0]
        """
        return _unary("relu", self)

    def sin(self) -> Tensor:
        """Sine, elementwise.

        >>> Tensor([0.0]).sin().data.tolist()
        [0.0]
        """
        return _unary("sin", self)

    def cos(self) -> Tensor:
        """Cosine, elementwise.

        >>> Tensor([0.0]).cos().data.tolist()
        [1.0]
        """
        return _unary("cos", self)

    def softplus(self) -> Tensor:
        """log(1 + e ** self), elementwise, stable for every input.

        >>> Tensor([1000.0]).softplus().data.tolist()
        [1000.0]
        """
        return _unary("softplus", self)

    def minimum(self, other: object) -> Tensor:
        """The elementwise smaller of self and other; a tie splits the gradient evenly.

        >>> Tensor([1.0, 5.0]).minimum(2.0).data.tolist()
        [1.0, 2.0]
        """
        return _binary("min", self, other)

    def maximum(self, other: object) -> Tensor:
        """The elementwise larger of self and other; a tie splits the gradient evenly.

        >>> Tensor([1.0, 5.0]).maximum(2.0).data.tolist()
        [2.0, 5.0]
        """
        return _binary("max", self, other)

    # -- reductions and shapes -----------------------------------------------------

    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """The sum over axis (every axis by default).

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).sum(axis=0).data.tolist()
        [4.0, 6.0]
        """
        return tensor_sum(self, axis, keepdims)  # type: ignore[no-any-return]

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """The mean over axis (every axis by default).

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).mean().item()
        2.5
        """
        return mean(self, axis, keepdims)  # type: ignore[no-any-return]

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """The largest element over axis; tied maxima share the gradient evenly, as torch.amax.

        >>> Tensor([[1.0, 5.0], [3.0, 4.0]]).max(axis=1).data.tolist()
        [5.0, 4.0]
        """
        return amax(self, axis, keepdims)  # type: ignore[no-any-return]

    def min(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """The smallest element over axis; tied minima share the gradient evenly, as torch.amin.

        >>> Tensor([[1.0, 5.0], [3.0, 4.0]]).min(axis=1).data.tolist()
        [1.0, 3.0]
        """
        return amin(self, axis, keepdims)  # type: ignore[no-any-return]

    def logsumexp(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """log(sum(exp(self))) over axis, without overflow.

        >>> round(Tensor([1000.0, 1000.0]).logsumexp().item(), 4)
        1000.6931
        """
        return logsumexp(self, axis, keepdims)  # type: ignore[no-any-return]

    def softmax(self, axis: int = -1) -> Tensor:
        """exp(self) / sum(exp(self)) along axis, without overflow.

        >>> Tensor([0.0, 0.0]).softmax().data.tolist()
        [0.5, 0.5]
        """
        return softmax(self, axis)  # type: ignore[no-any-return]

    def log_softmax(self, axis: int = -1) -> Tensor:
        """self - logsumexp(self) along axis: stable where log(softmax) is not.

        >>> Tensor([0.0, -2000.0]).log_softmax().data.tolist()
        [0.0, -2000.0]
        """
        return log_softmax(self, axis)  # type: ignore[no-any-return]

    def reshape(self, *shape: Any) -> Tensor:
        """The same elements in a new shape; one size may be -1.

        >>> Tensor([1.0, 2.0, 3.0, 4.0]).reshape(2, 2).shape
        (2, 2)
        """
        return reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)  # type: ignore[no-any-return]

    def transpose(self, *axes: Any) -> Tensor:
        """The axes permuted (reversed when none are given), as ints or one tuple, as NumPy takes them.

        >>> Tensor([[[1.0, 2.0]]]).transpose(2, 0, 1).shape == Tensor([[[1.0, 2.0]]]).transpose((2, 0, 1)).shape
        True
        """
        one = len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list)))
        return transpose(self, (axes[0] if one else axes) or None)  # type: ignore[no-any-return]

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        """self repeated along new or size-1 axes to shape, as NumPy broadcasts.

        >>> Tensor([1.0, 2.0]).broadcast_to((3, 2)).shape
        (3, 2)
        """
        return broadcast_to(self, shape)  # type: ignore[no-any-return]

    def squeeze(self, axis: int | Sequence[int] | None = None) -> Tensor:
        """self without the size-1 axes (those in axis, or all).

        >>> Tensor([[[1.0], [2.0]]]).squeeze().shape
        (2,)
        """
        return squeeze(self, axis)  # type: ignore[no-any-return]

    def expand_dims(self, axis: int) -> Tensor:
        """self with a new size-1 axis at axis.

        >>> Tensor([1.0, 2.0]).expand_dims(0).shape
        (1, 2)
        """
        return expand_dims(self, axis)  # type: ignore[no-any-return]

    def __getstate__(self) -> dict[str, Any]:
        """What copy.deepcopy and pickle keep: every slot but the array namespace (a module, found again).

        >>> import copy; copy.deepcopy(Tensor([1.0, 2.0], requires_grad=True))
        Tensor([1., 2.], requires_grad=True)
        """
        return {k: getattr(self, k) for k in self.__slots__ if k not in ("__weakref__", "_xp") and hasattr(self, k)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        self._xp = namespace(self.data)

    # -- autograd -----------------------------------------------------------------

    def backward(self, gradient: object = None, create_graph: bool = False) -> None:
        """Add d(self)/d(leaf) * gradient to ``.grad`` of every leaf Tensor in the graph, as PyTorch.

        An intermediate Tensor keeps its gradient only after ``retain_grad()``.

        A Tensor of one element needs no gradient (it is 1); any other needs one of
        its shape, as in PyTorch. Repeated calls accumulate.

        >>> x = Tensor([1.0, 2.0], requires_grad=True)
        >>> (x * x).sum().backward(); x.grad.tolist()
        [2.0, 4.0]
        >>> (x * 3).backward(gradient=[1.0, 10.0]); x.grad.tolist()
        [5.0, 34.0]
        """
        from agrad.backprop import _sort, pull

        if not isinstance(create_graph, bool):
            raise TypeError(f"create_graph must be True or False, got {create_graph!r}")
        seed = self._seed(gradient, "backward")
        order = _sort(self, True)  # type: ignore[arg-type]
        if create_graph:
            with enable_grad(), quiet_walk():  # as in PyTorch: asking for a graph records one, even in no_grad()
                pull(order, ((self, seed if type(seed) is Tensor else Tensor(seed)),), True, cleared=True)  # type: ignore[arg-type]
        else:
            with quiet_walk():
                pull(order, ((self, seed),), False, cleared=True)  # type: ignore[arg-type]

    def _seed(self, gradient: object, what: str) -> Array:
        xp = self._xp
        if gradient is None:
            if math.prod(self.shape) != 1:
                raise ValueError(
                    f"{what}: a Tensor of shape {self.shape} needs a gradient of that shape; only a Tensor "
                    "of one element (a loss) has the implicit gradient 1, as in PyTorch"
                )
            if type(self.data) in _COPY:  # NumPy's own ones_like: array-api-compat's wrapper costs several µs
                import numpy as np

                return np.ones_like(self.data)
            return xp.ones_like(self.data)
        g = _grad_array(self, gradient, f"{what}'s gradient")
        if isinstance(gradient, Tensor) and gradient.requires_grad:
            return gradient  # a Tensor gradient with a graph stays one, as a Value's does
        return g

    def detach(self) -> Tensor:
        """A new leaf with the same data (shared, not copied), cut off from the graph.

        >>> x = Tensor([2.0], requires_grad=True); y = (x * x).detach()
        >>> y.requires_grad, y._children
        (False, ())
        """
        return Tensor(self.data, label=self.label)

    def register_hook(self, fn: Callable[[Any], Any]) -> Callable[[], None]:
        """Call ``fn(g)`` with the gradient (an array) flowing into this Tensor during backward.

        If ``fn`` returns an array, that replaces the gradient. Returns a function that removes the hook.

        >>> x = Tensor([1.0, 2.0], requires_grad=True); remove = x.register_hook(lambda g: g * 10)
        >>> (x * 3).sum().backward(); x.grad.tolist()
        [30.0, 30.0]
        """
        return Value.register_hook(self, fn)  # type: ignore[arg-type]

    def retain_grad(self) -> None:
        """Keep this intermediate Tensor's gradient in ``.grad`` during backward, as PyTorch's ``retain_grad()``.

        Only leaves (Tensors no op made) get ``.grad`` otherwise: an intermediate's gradient is
        as large as its value, and keeping every one would double a network's backward memory.

        >>> x = Tensor([1.0, 2.0], requires_grad=True); y = x * 3; y.retain_grad()
        >>> (y * y).sum().backward(); y.grad.tolist(), x.grad.tolist()
        ([6.0, 12.0], [18.0, 36.0])
        """
        self._retain = True

    def zero_grad(self) -> None:
        """Set ``.grad`` back to None, as PyTorch's ``zero_grad()`` does.

        >>> x = Tensor([1.0], requires_grad=True); (x * 5).sum().backward(); x.zero_grad(); x.grad is None
        True
        """
        self.grad = None


def _owner(a: Any) -> Any:
    """The object that owns a NumPy array's memory: its base for a view, else itself."""
    base = getattr(a, "base", None)
    return a if base is None else base


def _show(a: Array) -> str:
    try:
        import numpy as np

        if isinstance(a, np.ndarray):
            return np.array2string(a, separator=", ", threshold=20)
    except ImportError:  # pragma: no cover - a Tensor of another library without NumPy
        pass
    return repr(a)


def _grad_array(node: Tensor, g: object, what: str) -> Array:
    """A gradient given by the user for node: an array (or Tensor, or number) of node's shape."""
    if isinstance(g, numbers.Real) and not _is_array(g) and not isinstance(g, Value):
        return node._xp.full(node.shape, _number(g), dtype=node.dtype)  # a number fills the shape
    data = g.data if isinstance(g, Tensor) else g
    arr, xp = _as_array(data, node.dtype, what)
    if xp is not node._xp and _xp_of(node, arr) is not node._xp:
        raise TypeError(f"{what} is a {xp.__name__} array but the Tensor holds {node._xp.__name__} arrays")
    if tuple(arr.shape) != node.shape:
        raise ValueError(f"{what} must have the Tensor's shape {node.shape}, got shape {tuple(arr.shape)}")
    return arr


def _cmp(other: object, me: Tensor) -> Any:
    if type(other) is Tensor:
        return other.data
    if isinstance(other, Value):
        raise TypeError("a Tensor cannot be compared with a Value; compare with v.data (a float) instead")
    if _is_array(other):
        return other
    if isinstance(other, numbers.Real):
        return _number(other)  # a ValueError for an int beyond every float
    raise TypeError(
        f"a Tensor can only be compared with a Tensor, an array or a real number, got {type(other).__name__}"
    )


# -- making nodes -------------------------------------------------------------------


def _make(op: str, data: Array, args: tuple[Any, ...], xp: Any) -> Tensor:
    """The Tensor that op made from args: a node if some Tensor among args requires grad, else a leaf."""
    out = Tensor.__new__(Tensor)
    out.data = _fix(xp, data)
    out._xp = xp
    out._grad = None
    out.label = ""
    out._hooks = None
    out._retain = False
    live = False
    for a in args:  # a loop, not any(): a generator costs more than these few operands
        if type(a) is Tensor and a.requires_grad:
            live = True
            break
    flags = mode.flags
    if live:
        out._op = op
        # a Tensor that needs no gradient is a constant: its rule sees its array, the walk never visits it
        out._children = tuple([a.data if type(a) is Tensor and not a.requires_grad else a for a in args])
    else:
        out._op, out._children = "", ()
    out.requires_grad = live
    if flags:
        if flags & ANOMALY and live:
            from agrad.anomaly import check_forward

            check_forward(out)  # type: ignore[arg-type]
        if flags & NO_GRAD:
            out._op, out._children, out.requires_grad = "", (), False
    return out


def _operand(x: object, op: str) -> Any:
    """A Tensor or array stays itself; a real number becomes float; anything else is a TypeError."""
    if type(x) is Tensor:
        return x
    if isinstance(x, Value) or hasattr(x, "tangent"):  # a Value, or a forward-mode Dual (agrad.forward)
        kind = "Value" if isinstance(x, Value) else "forward-mode Dual"
        raise MixError(
            f"{op} mixes a Tensor with a {kind}; convert the {kind} with Tensor(v.data) (a new constant), "
            "or the one-element Tensor with t.item() (a float, cut from the graph)"
        )
    if _is_array(x):
        xp = namespace(x)
        _known(x, f"an array operand of {op}")
        dt = _real_dtype(xp, x, f"an array operand of {op}")
        return x if x.dtype == dt else xp.astype(x, dt)  # type: ignore[attr-defined]
    if isinstance(x, numbers.Real):
        return _number(x)  # a ValueError for an int beyond every float
    raise TypeError(f"{op} expects Tensors, arrays or real numbers, got {type(x).__name__}: {x!r}")


def _data(x: Any) -> Any:
    return x.data if type(x) is Tensor else x


def _shape_of(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else ()


def _broadcast_error(op: str, x: Any, y: Any) -> ValueError:
    return ValueError(f"{op}: shapes {_shape_of(x)} and {_shape_of(y)} do not broadcast together")


def _broadcastable(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(m == n or m == 1 or n == 1 for m, n in zip(reversed(a), reversed(b)))


_BINARY: dict[str, Callable[[Any, Any, Any], Any]] = {
    "+": lambda xp, a, b: a + b,
    "-": lambda xp, a, b: a - b,
    "*": lambda xp, a, b: a * b,
    "/": lambda xp, a, b: a / b,
    "pow": lambda xp, a, b: xp.pow(a, b) if _is_array(a) and _is_array(b) else a**b,
    "min": lambda xp, a, b: xp.minimum(*_both_arrays(xp, a, b)),
    "max": lambda xp, a, b: xp.maximum(*_both_arrays(xp, a, b)),
}


def _both_arrays(xp: Any, a: Any, b: Any) -> tuple[Array, Array]:
    """minimum and maximum take two arrays in every library: make a number an array of the other's dtype."""
    if not _is_array(a):
        a = xp.asarray(a, dtype=b.dtype)
    if not _is_array(b):
        b = xp.asarray(b, dtype=a.dtype)
    return a, b


def _binary(op: str, x: object, y: object) -> Tensor:
    if type(x) is Tensor and type(y) is Tensor and x._xp is y._xp and x._xp.__name__ not in _DEVICES:
        # the common case, checked cheaply (one device: libraries with many go through _xp_of's device check)
        xo, yo, xd, yd, xp = x, y, x.data, y.data, x._xp
        if xd.shape != yd.shape and not _broadcastable(tuple(xd.shape), tuple(yd.shape)):
            raise _broadcast_error(op, xd, yd)
    else:
        xo, yo = _operand(x, op), _operand(y, op)
        xd, yd = _data(xo), _data(yo)
        xp = _xp_of(xo, yo)
        if not _broadcastable(_shape_of(xd), _shape_of(yd)):
            raise _broadcast_error(op, xd, yd)
    with quiet(xp):
        r = _BINARY[op](xp, xd, yd)
    return _make(op, r, (xo, yo), xp)


def _sigmoid(xp: Any, a: Array) -> Array:
    e = xp.exp(-xp.abs(a))  # at most 1: no overflow on either side
    return xp.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(xp: Any, a: Array) -> Array:
    # max(a, 0) + log1p(e^-|a|): the textbook log(1 + e^a) overflows past a = 709
    return xp.where(a > 0, a, xp.zeros_like(a)) + xp.log1p(xp.exp(-xp.abs(a)))


def _relu(xp: Any, a: Array) -> Array:
    # nan passes through, as in PyTorch; a zero, not 0.0 * a, which is -0.0 at -1 and nan at -inf
    if type(a) in _COPY:
        # NumPy's where is branchy (400 us on 65,536 mixed-sign floats, maximum 30), and one pass:
        # maximum(0, a) gives its second operand on a tie and at nan, so relu(-0.0) is -0.0 as where
        # (and PyTorch) give and nan passes, with no second pass to put the zeros' signs back
        import numpy as np

        return np.maximum(a.dtype.type(0), a)  # a NumPy scalar for a 0-d a: _fix makes it an array
    return xp.where(a < 0, xp.zeros_like(a), a)


UNARY: dict[str, Callable[[Any, Array], Array]] = {
    "exp": lambda xp, a: xp.exp(a),
    "log": lambda xp, a: xp.log(a),
    "sqrt": lambda xp, a: xp.sqrt(a),
    "tanh": lambda xp, a: xp.tanh(a),
    "sin": lambda xp, a: xp.sin(a),
    "cos": lambda xp, a: xp.cos(a),
    "abs": lambda xp, a: xp.abs(a),
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "relu": _relu,
}
"""The elementwise functions on arrays, by op name: what agrad.exp(array) and Tensor.exp compute."""


def _unary(op: str, x: Tensor) -> Tensor:
    xp = x._xp
    with quiet(xp):
        r = UNARY[op](xp, x.data)
    return _make(op, r, (x,), xp)


def array_function(name: str, x: Any, *rest: Any) -> Any:
    """agrad's function ``name`` on a raw array (no graph): how the rules run on arrays.

    >>> import numpy as np
    >>> array_function("sigmoid", np.array([0.0, 1000.0])).tolist()
    [0.5, 1.0]
    """
    pair = name in ("minimum", "maximum")
    for a in (x, *rest):
        if not _is_array(a) and not (pair and isinstance(a, numbers.Real)):
            what = "Values or real numbers" if pair else "a Value or a real number"
            got = f"{type(a).__name__}: {quote(a)}"
            raise TypeError(f"agrad.{name} expects {what}, got {got} (Tensors and arrays work too)")
        if _is_array(a):
            _real_dtype(namespace(a), a, f"agrad.{name}'s argument")
    xp = _xp_of(x, *rest)
    with quiet(xp):
        if name in UNARY:
            return _fix(xp, UNARY[name](xp, x))
        return _fix(xp, _BINARY[name[:3]](xp, x, *rest))


# -- functions for Tensors and raw arrays alike (the rules call them on both) ---------------


def _axes(axis: object, ndim: int, op: str) -> tuple[int, ...]:
    """axis (None, an int or a sequence of ints) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    items = _ints(axis)
    if items is None:
        raise TypeError(f"{op}: axis must be None, an int or a tuple of ints, got {axis!r}")
    out = []
    for i in items:
        if not -ndim <= i < max(ndim, 1) or (ndim == 0 and i not in (0, -1)):
            raise ValueError(f"{op}: axis {i} is out of range for a Tensor of {ndim} dimension(s)")
        out.append(i % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: axis {axis!r} repeats an axis")
    return tuple(sorted(out)) if ndim else ()


def _keepdims(keepdims: object, op: str) -> bool:
    if not isinstance(keepdims, bool):
        raise TypeError(f"{op}: keepdims must be True or False, got {keepdims!r}")
    return keepdims


def _reduce(
    op: str, fn: Callable[[Any, Array, tuple[int, ...], bool], Array], x: Any, axis: object, keepdims: bool
) -> Any:
    """Reduce x (a Tensor or an array) with fn over axis: a node for a Tensor, an array for an array."""
    if type(x) is not Tensor and not _is_array(x):
        x = _operand(x, op)
        if type(x) is float:
            raise TypeError(f"{op} expects a Tensor or an array, got a number")
    shape = _shape_of(_data(x))
    axes = _axes(axis, len(shape), op)
    keep = _keepdims(keepdims, op)
    xp = x._xp if type(x) is Tensor else namespace(x)
    with quiet(xp):
        r = _fix(xp, fn(xp, _data(x), axes, keep), _data(x).dtype)
    if type(x) is not Tensor:
        return r
    return _make(op, r, (x, axes, keep), xp)


def _sum_fn(xp: Any, a: Array, axes: tuple[int, ...], keep: bool) -> Array:
    return xp.sum(a, axis=axes, keepdims=keep)


def _extreme_fn(largest: bool) -> Callable[[Any, Array, tuple[int, ...], bool], Array]:
    name = "max" if largest else "min"

    def fn(xp: Any, a: Array, axes: tuple[int, ...], keep: bool) -> Array:
        if any(a.shape[i] == 0 for i in axes):
            raise ValueError(f"{name} of an empty axis has no value (shape {tuple(a.shape)}, axis {axes})")
        return getattr(xp, name)(a, axis=axes, keepdims=keep)

    return fn


def _lse_fn(xp: Any, a: Array, axes: tuple[int, ...], keep: bool) -> Array:
    if any(a.shape[i] == 0 for i in axes):
        return xp.log(xp.sum(xp.exp(a), axis=axes, keepdims=keep))  # log(0) = -inf, as PyTorch gives
    m = xp.max(a, axis=axes, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))  # an all -inf (or inf) slice: shift by 0 (0 * inf is nan)
    r = xp.log(xp.sum(xp.exp(a - m), axis=axes, keepdims=True)) + m
    return r if keep else xp.reshape(r, tuple(n for i, n in enumerate(a.shape) if i not in axes))


def tensor_sum(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    """The sum of x over axis, for a Tensor (a node) or an array; ``agrad.sum(t, axis)`` calls this.

    >>> tensor_sum(Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1).data.tolist()
    [3.0, 7.0]
    """
    return _reduce("reduce_sum", _sum_fn, x, axis, keepdims)


def amax(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    """The largest element of x over axis; tied maxima share the gradient evenly (torch.amax).

    >>> amax(Tensor([[1.0, 5.0], [3.0, 4.0]]), axis=0).data.tolist()
    [3.0, 5.0]
    """
    return _reduce("reduce_max", _extreme_fn(True), x, axis, keepdims)


def amin(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    """The smallest element of x over axis; tied minima share the gradient evenly (torch.amin).

    >>> amin(Tensor([[1.0, 5.0], [3.0, 4.0]]), axis=0).data.tolist()
    [1.0, 4.0]
    """
    return _reduce("reduce_min", _extreme_fn(False), x, axis, keepdims)


def logsumexp(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    """log(sum(exp(x))) over axis, shifted by the maximum so that it never overflows.

    >>> round(logsumexp(Tensor([0.0, 0.0])).item(), 6)
    0.693147
    """
    return _reduce("logsumexp", _lse_fn, x, axis, keepdims)


def mean(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    """The mean of x over axis: the sum divided by the number of elements summed (nan for none).

    >>> mean(Tensor([1.0, 2.0, 6.0])).item()
    3.0
    """
    s = tensor_sum(x, axis, keepdims)
    shape = _shape_of(_data(x))
    n = math.prod(shape[i] for i in _axes(axis, len(shape), "mean"))
    return s / float(n) if n else s * math.nan


def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x) along axis, shifted by the maximum: stable where log(softmax(x)) underflows to -inf.

    >>> log_softmax(Tensor([0.0, 0.0])).data.tolist() == [-math.log(2)] * 2
    True
    """
    z = _shifted(x, axis, "log_softmax")
    return z - log(tensor_sum(exp(z), axis, keepdims=True))


def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along axis, shifted by the maximum so that it never overflows.

    >>> softmax(Tensor([1000.0, 1000.0])).data.tolist()
    [0.5, 0.5]
    """
    e = exp(_shifted(x, axis, "softmax"))
    return e / tensor_sum(e, axis, keepdims=True)


def _shifted(x: Any, axis: object, op: str) -> Any:
    """x minus its maximum along axis, taken as a constant: softmax is unchanged by the shift, and
    exp never overflows (the largest term is exp(0) = 1, so the sum is at least 1)."""
    ints = None if isinstance(axis, (tuple, list)) else _ints(axis)
    if ints is None:
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    axis = ints[0]
    d = _data(_operand(x, op))
    if type(d) is float:
        raise TypeError(f"{op} expects a Tensor or an array, got a number")
    xp = namespace(d)
    if -d.ndim <= axis < d.ndim and d.shape[axis] == 0:
        return x  # nothing to shift (and no maximum): softmax of an empty axis is empty, as in torch
    m = amax(d, axis, keepdims=True)
    return x - xp.where(xp.isfinite(m), m, xp.zeros_like(m))  # an all -inf row: shift by 0, not inf


def _ints(x: object) -> tuple[int, ...] | None:
    """x (an int or a tuple or list of ints) as a tuple of ints, None if it is not one.

    NumPy's integers count as ints (operator.index), as NumPy and PyTorch take them
    for axes and sizes; bools do not.
    """
    items = x if isinstance(x, (tuple, list)) else (x,)
    try:
        if any(isinstance(i, bool) or not hasattr(i, "__index__") for i in items):
            return None
        return tuple(operator.index(i) for i in items)
    except TypeError:  # a NumPy bool, or an array of more than one element
        return None


def _shape_arg(shape: object, op: str) -> tuple[int, ...]:
    items = _ints(shape)
    if items is None:
        raise TypeError(f"{op}: shape must be an int or a tuple of ints, got {shape!r}")
    return items


def _shaped(op: str, x: Any, fn: Callable[[Any, Array], Array], *params: Any) -> Any:
    """Apply a shape op: a node for a Tensor, an array for an array."""
    if type(x) is Tensor:
        xp = x._xp
        return _make(op, fn(xp, x.data), (x, *params), xp)
    if not _is_array(x):
        raise TypeError(f"{op} expects a Tensor or an array, got {type(x).__name__}: {x!r}")
    return fn(namespace(x), x)


def reshape(x: Any, shape: int | Sequence[int]) -> Any:
    """The elements of x in a new shape (one size may be -1).

    >>> reshape(Tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), (3, -1)).shape
    (3, 2)
    """
    s = _shape_arg(shape, "reshape")
    old = _shape_of(_data(x))
    size = math.prod(old)
    known = math.prod(n for n in s if n != -1)
    if s.count(-1) > 1 or any(n < -1 for n in s) or (known != size if -1 not in s else (known == 0 or size % known)):
        raise ValueError(f"reshape: cannot reshape a Tensor of shape {old} into shape {s}")
    if -1 in s:
        s = tuple(size // known if n == -1 else n for n in s)
    return _shaped("reshape", x, lambda xp, a: xp.reshape(a, s), s)


def transpose(x: Any, axes: Sequence[int] | None = None) -> Any:
    """x with its axes permuted: ``axes[i]`` of x becomes axis i (reversed when None, as ``.T``).

    >>> transpose(Tensor([[1.0, 2.0, 3.0]])).shape
    (3, 1)
    """
    n = len(_shape_of(_data(x)))
    perm = tuple(reversed(range(n))) if axes is None else _shape_arg(axes, "transpose")
    if sorted(i % n if n else i for i in perm) != list(range(n)) or any(not -n <= i < n for i in perm):
        raise ValueError(f"transpose: axes {axes!r} is not a permutation of the {n} axes")
    perm = tuple(i % n for i in perm)
    return _shaped("transpose", x, lambda xp, a: xp.permute_dims(a, perm), perm)


def swapaxes_last(x: Any) -> Any:
    """x with its last two axes swapped (the matrix transpose of a batch); x as it is below 2-d.

    >>> swapaxes_last(Tensor([[[1.0, 2.0]]])).shape
    (1, 2, 1)
    """
    n = len(_shape_of(_data(x)))
    return x if n < 2 else transpose(x, (*range(n - 2), n - 1, n - 2))


def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    """x repeated along new or size-1 axes to shape, as NumPy broadcasts.

    >>> broadcast_to(Tensor([1.0, 2.0]), (2, 2)).data.tolist()
    [[1.0, 2.0], [1.0, 2.0]]
    """
    s = _shape_arg(shape, "broadcast_to")
    old = _shape_of(_data(x))
    if len(old) > len(s) or not all(m == n or m == 1 for m, n in zip(reversed(old), reversed(s))):
        raise ValueError(f"broadcast_to: a Tensor of shape {old} cannot be broadcast to shape {s}")
    return _shaped("broadcast_to", x, lambda xp, a: _broadcast_data(xp, a, s), s)


def _broadcast_data(xp: Any, a: Array, s: tuple[int, ...]) -> Array:
    if hasattr(a, "chunks") and s and 0 not in s and tuple(a.shape) != s:
        # Dask: an axis made by broadcasting would be one chunk (all rows at once, copied whole whenever it
        # moves between workers); give it Dask's "auto" chunks, sized by its array.chunk-size setting
        from dask.array.core import normalize_chunks

        lead = len(s) - len(a.shape)
        spec = tuple(a.chunks[i - lead] if i >= lead and a.shape[i - lead] == n else "auto" for i, n in enumerate(s))
        return xp.broadcast_to(a, s, chunks=normalize_chunks(spec, s, dtype=a.dtype))  # type: ignore[no-untyped-call]
    return xp.broadcast_to(a, s)


def expand_dims(x: Any, axis: int) -> Any:
    """x with a new axis of size 1 at position axis (a reshape).

    >>> expand_dims(Tensor([1.0, 2.0]), -1).shape
    (2, 1)
    """
    old = _shape_of(_data(x))
    ints = None if isinstance(axis, (tuple, list)) else _ints(axis)
    axis = ints[0] if ints else axis
    if not isinstance(axis, int) or isinstance(axis, bool) or not -len(old) - 1 <= axis <= len(old):
        raise ValueError(f"expand_dims: axis {axis!r} is out of range for a Tensor of {len(old)} dimension(s)")
    i = axis % (len(old) + 1)
    return reshape(x, (*old[:i], 1, *old[i:]))


def squeeze(x: Any, axis: int | Sequence[int] | None = None) -> Any:
    """x without its size-1 axes: those in axis, or every one (a reshape).

    >>> squeeze(Tensor([[1.0, 2.0]]), 0).shape
    (2,)
    """
    old = _shape_of(_data(x))
    drop = [i for i, n in enumerate(old) if n == 1] if axis is None else _axes(axis, len(old), "squeeze")
    bad = [i for i in drop if old[i] != 1]
    if bad:
        raise ValueError(f"squeeze: axis {bad[0]} has size {old[bad[0]]}, not 1 (shape {old})")
    return reshape(x, tuple(n for i, n in enumerate(old) if i not in drop))


def matmul(x: Any, y: Any) -> Any:
    """The matrix product x @ y, with NumPy's rules for vectors (1-d) and batches (more than 2-d).

    >>> matmul(Tensor([[1.0, 2.0]]), Tensor([[3.0], [4.0]])).data.tolist()
    [[11.0]]
    """
    xo, yo = _operand(x, "matmul"), _operand(y, "matmul")
    xd, yd = _data(xo), _data(yo)
    sx, sy = _shape_of(xd), _shape_of(yd)
    if not sx or not sy:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes {sx} and {sy}")
    k1 = sx[-1]
    k2 = sy[0] if len(sy) == 1 else sy[-2]
    if k1 != k2 or not _broadcastable(sx[:-2], sy[:-2]):
        raise ValueError(
            f"matmul: shapes {sx} and {sy} do not match (inner sizes {k1} and {k2}"
            f"{'' if k1 != k2 else ', batch shapes do not broadcast'})"
        )
    xp = _xp_of(xo, yo)
    with quiet(xp):
        r = xp.matmul(xd, yd)
    if type(xo) is not Tensor and type(yo) is not Tensor:
        return _fix(xp, r)
    return _make("matmul", r, (xo, yo), xp)


def linear(x: Any, w: Any, b: Any = None) -> Any:
    """x @ w.T + b as one node, as PyTorch's ``F.linear``: w is (out, in), b is (out,) or None.

    One node instead of three (a transpose, a matmul, an add) is a third of the
    per-op cost of a layer; the rule is the same matmul calculus.

    >>> linear(Tensor([[1.0, 2.0]]), Tensor([[3.0, 4.0]]), Tensor([0.5])).data.tolist()
    [[11.5]]
    """
    layer = type(x) is Tensor and type(w) is Tensor and type(b) is Tensor and x._xp is w._xp is b._xp
    if layer:
        xo, wo, bo = x, w, b  # a layer's call: three Tensors of one library need no conversion
    else:
        xo, wo = _operand(x, "linear"), _operand(w, "linear")
        bo = None if b is None else _operand(b, "linear")
    xd, wd = _data(xo), _data(wo)
    sx, sw = _shape_of(xd), _shape_of(wd)
    if len(sw) != 2 or not sx or sx[-1] != sw[1]:
        raise ValueError(f"linear: x of shape {sx} needs a weight of shape (out, {sx[-1] if sx else '?'}), got {sw}")
    bd = None if bo is None else _data(bo)
    if bd is not None and _shape_of(bd) != (sw[0],):
        raise ValueError(f"linear: the bias must have shape ({sw[0]},), one per output, got {_shape_of(bd)}")
    args = (xo, wo) if bo is None else (xo, wo, bo)
    xp = x._xp if layer and x._xp.__name__ not in _DEVICES else _xp_of(*args)  # many devices: _xp_of checks them
    with quiet(xp):
        r = xd @ wd.T  # the operator, not xp.matmul: array-api-compat's wrapper costs more than a small product
        if bd is not None:
            if type(r) in _COPY and (r.dtype == bd.dtype or r.dtype == xp.result_type(r, bd)):
                r += bd  # r is the product's own new array: no second (out, batch) array, no second write
            else:
                r = r + bd
    if all(type(a) is not Tensor for a in args):
        return _fix(xp, r)
    if type(xo) is not Tensor or not xo.requires_grad:
        # The input is data (a first layer's batch): its own row, whose rule skips g @ w, the gradient
        # the data would get and nobody reads; for MNIST's first layer that is a third of the step's work.
        return _make("linear_data", r, (wo, bo, xd), xp)
    return _make("linear", r, args, xp)


def cross_entropy(z: Any, t: Any, reduction: str = "mean") -> Any:
    """Softmax cross-entropy of logits z (N, C) against class indices t (N,), one node; "mean", "sum" or "none".

    Each example's loss is logsumexp(z_i) - z_i[t_i] (stable for any logits). As one node
    its gradient is the closed form (softmax(z) - one_hot(t)) * g, not a walk through six.
    ``agrad.losses.cross_entropy`` checks the arguments (t: N class indices in [0, C)) and calls this.

    >>> import numpy as np
    >>> round(cross_entropy(Tensor([[0.0, 0.0]]), np.array([1])).item(), 6)  # log 2
    0.693147
    """
    zo = _operand(z, "cross_entropy")
    zd = _data(zo)
    xp = zo._xp if type(zo) is Tensor else namespace(zd)
    n, c = _shape_of(zd)
    t = xp.asarray(t)
    with quiet(xp):
        if type(zd) in _COPY and c:
            each, p = _cross_entropy_numpy(zd, t)
            # NumPy's own sum: array-api-compat's wrapper costs more than a small sum
            r = each if reduction == "none" else each.sum() / n if reduction == "mean" else each.sum()
        else:
            m = xp.max(zd, axis=1, keepdims=True) if c else xp.zeros((n, 1), dtype=zd.dtype)
            m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))  # an all -inf (or inf) row: shift by 0 (inf - inf is nan)
            e = xp.exp(zd - m)
            s = xp.sum(e, axis=1, keepdims=True)
            # z_i[t_i] by a mask, not fancy indexing, which the array API standard lacks; where, not z * mask: -inf * 0
            picked = xp.sum(xp.where(one_hot(t, c, xp, xp.bool), zd, xp.zeros_like(zd)), axis=1)
            each = xp.reshape(xp.log(s) + m, (n,)) - picked
            p = e / s
            r = each if reduction == "none" else xp.sum(each) / n if reduction == "mean" else xp.sum(each)
    r = _fix(xp, r, zd.dtype)
    if type(zo) is not Tensor:
        return r
    # the softmax rides along: the rule's gradient on arrays is p - one_hot(t), with no second exp
    return _make("cross_entropy", r, (zo, t, reduction, p), xp)


def _cross_entropy_numpy(z: Array, t: Array) -> tuple[Array, Array]:
    """Each row's loss and the softmax, for a NumPy z (N, C) with C > 0: the generic path's math, 3x faster.

    NumPy reduces a short last axis row by row (12 µs for the maximum of (256, 10) float32),
    so this works on z transposed, (C, N), where each reduction is C vector ops of length N;
    and it picks z_i[t_i] by indexing, which NumPy has.
    """
    import numpy as np

    zt = z.T.copy()  # a copy even where z.T is already contiguous (one row or one class): written below
    m = zt.max(axis=0)
    if not np.isfinite(m).all():
        m = np.where(np.isfinite(m), m, z.dtype.type(0))  # an all -inf (or inf) row: shift by 0 (inf - inf is nan)
    zt -= m
    e = np.exp(zt, out=zt)
    s = e.sum(axis=0)
    e /= s
    lse = np.log(s)
    lse += m
    return lse - z[np.arange(len(t)), t], e.T


def one_hot(t: Array, c: int, xp: Any, dtype: Any) -> Array:
    """Rows of c zeros with a one at each class index of t, in dtype (bool for a mask).

    >>> import numpy as np
    >>> one_hot(np.array([2, 0]), 3, namespace(np.ones(1)), np.float32).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    hit = xp.reshape(t, (-1, 1)) == xp.reshape(xp.arange(c, dtype=t.dtype), (1, -1))
    return hit if dtype == xp.bool else xp.astype(hit, dtype)


def concatenate(xs: Sequence[Any], axis: int = 0) -> Any:
    """The Tensors (or arrays) joined along an existing axis.

    >>> concatenate([Tensor([1.0]), Tensor([2.0, 3.0])]).data.tolist()
    [1.0, 2.0, 3.0]
    """
    if not isinstance(xs, (list, tuple)) or not xs:
        raise TypeError(f"concatenate expects a non-empty list or tuple of Tensors, got {xs!r}")
    ops = [_operand(x, "concatenate") for x in xs]
    if any(type(o) is float for o in ops):
        raise TypeError("concatenate expects Tensors or arrays, got a number; make it a Tensor first")
    shapes = [_shape_of(_data(o)) for o in ops]
    n = len(shapes[0])
    if n == 0:
        raise ValueError("concatenate: 0-d Tensors have no axis to join along; use stack")
    (ax,) = _axes(axis, n, "concatenate")
    for s in shapes[1:]:
        if len(s) != n or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != ax):
            raise ValueError(f"concatenate: shapes {shapes[0]} and {s} differ off axis {ax}")
    xp = _xp_of(*ops)
    r = xp.concat([_data(o) for o in ops], axis=ax)
    if not any(type(o) is Tensor for o in ops):
        return r
    return _make("concatenate", r, (*ops, ax), xp)


def stack(xs: Sequence[Any], axis: int = 0) -> Any:
    """The Tensors (of one shape) joined along a new axis: concatenate of expand_dims.

    >>> stack([Tensor([1.0, 2.0]), Tensor([3.0, 4.0])]).shape
    (2, 2)
    """
    if not isinstance(xs, (list, tuple)) or not xs:
        raise TypeError(f"stack expects a non-empty list or tuple of Tensors, got {xs!r}")
    ops = [_operand(x, "stack") for x in xs]
    shapes = {_shape_of(_data(o)) for o in ops}
    if len(shapes) > 1:
        raise ValueError(f"stack needs Tensors of one shape, got shapes {sorted(shapes)}")
    xp = _xp_of(*ops) or _default_xp()
    return concatenate([expand_dims(o if type(o) is not float else xp.asarray(o), axis) for o in ops], axis)


def where(cond: Any, x: Any, y: Any) -> Any:
    """x where cond is true, else y, elementwise (broadcast); cond is a constant, x and y get the gradient.

    >>> where(Tensor([1.0, -1.0]) > 0, Tensor([1.0, 2.0]), 0.0).data.tolist()
    [1.0, 0.0]
    """
    c = cond.data if type(cond) is Tensor else cond
    if not _is_array(c):
        if isinstance(c, (bool, list, tuple)):
            c = (_xp_of(x, y) or _default_xp()).asarray(c)
        else:
            raise TypeError(f"where expects a boolean array as its condition, got {type(cond).__name__}: {cond!r}")
    if not namespace(c).isdtype(c.dtype, "bool"):
        raise TypeError(f"where expects a boolean array as its condition, got dtype {c.dtype}")
    xo, yo = _operand(x, "where"), _operand(y, "where")
    xp = _xp_of(c, xo, yo)
    xd, yd = _data(xo), _data(yo)
    if type(xd) is float and type(yd) is float:
        xd = xp.asarray(xd)
    for a, b in ((c, xd), (c, yd), (xd, yd)):
        if not _broadcastable(_shape_of(a), _shape_of(b)):
            raise ValueError(
                f"where: shapes {_shape_of(c)}, {_shape_of(xd)} and {_shape_of(yd)} do not broadcast together"
            )
    r = xp.where(c, xd, yd)
    if type(xo) is not Tensor and type(yo) is not Tensor:
        return _fix(xp, r)
    return _make("where", r, (xo, yo, c), xp)


# -- indexing -----------------------------------------------------------------------


def _index(index: Index, xp: Any, shape: tuple[int, ...]) -> Index:
    """index with lists and Tensors turned into arrays of xp, checked against shape."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for i in items:
        if type(i) is Tensor:
            i = i.data
        if isinstance(i, list):
            try:
                i = xp.asarray(i)
            except (TypeError, ValueError) as e:
                raise TypeError(f"an index list must hold ints or bools of one shape, got {i!r}: {e}") from None
        if isinstance(i, float) or (_is_array(i) and not namespace(i).isdtype(i.dtype, ("integral", "bool"))):
            raise TypeError(f"an index must be ints, slices, integer arrays or a boolean mask, got {i!r}")
        if not (i is None or i is Ellipsis or isinstance(i, (int, slice)) or _is_array(i)):
            raise TypeError(f"an index must be ints, slices, integer arrays or a boolean mask, got {type(i).__name__}")
        if _is_array(i) and namespace(i) is not xp and xp.__name__ != "array_api_compat.dask.array":
            # a NumPy index into torch storage (torch and JAX take those): xp's own take and scatter need xp's
            # arrays. Dask takes a NumPy index itself, and keeps the mask's known shape.
            i = xp.asarray(i)
        out.append(i)
    named = sum(
        1 if not _is_array(i) else i.ndim if namespace(i).isdtype(i.dtype, "bool") else 1 for i in out if i is not None
    )
    if not any(i is Ellipsis for i in out) and named < len(shape):
        out.append(Ellipsis)  # the standard wants every axis named; NumPy reads the rest as ':' anyway
    return tuple(out)


def _take(xp: Any, a: Array, index: tuple[Any, ...]) -> Array:
    """a[index]; one integer array on the first axis is xp.take, the standard's way (no other index mixes in)."""
    i = index[0]
    if (
        len(index) <= 2
        and (len(index) == 1 or index[1] is Ellipsis)
        and _is_array(i)
        and i.ndim == 1
        and namespace(i).isdtype(i.dtype, "integral")
    ):
        return xp.take(a, i, axis=0)
    return a[index]


def _basic(index: tuple[Any, ...]) -> bool:
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in index)


def getitem(x: Any, index: Index) -> Any:
    """x[index] with ints, slices, None, ..., integer arrays or a boolean mask, as NumPy indexes.

    The gradient of a repeated index is the sum of its uses:

    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> x[[0, 0, 2]].sum().backward(); x.grad.tolist()
    [2.0, 0.0, 1.0]
    """
    xp = x._xp if type(x) is Tensor else namespace(x)
    a = _data(x)
    idx = _index(index, xp, _shape_of(a))
    try:
        r = _take(xp, a, idx)
    except IndexError as e:
        raise IndexError(f"index {index!r} does not fit a Tensor of shape {_shape_of(a)}: {e}") from None
    r = _fix(xp, r, a.dtype)
    if type(x) is not Tensor:
        return r
    return _make("getitem", _known(r, f"indexing a Tensor of shape {_shape_of(a)}"), (x, idx), xp)


def _positions(xp: Any, shape: tuple[int, ...], index: Index) -> Array:
    """For each element of x[index], its position in x flattened: the same index applied to arange."""
    return xp.reshape(_take(xp, xp.reshape(xp.arange(math.prod(shape)), shape), index), (-1,))


def _index_add_data(xp: Any, g: Array, shape: tuple[int, ...], index: Index) -> Array:
    """zeros(shape) with g added at x[index]; a repeated position gets the sum of its gradients."""
    g = _fix(xp, g)
    out = xp.zeros(shape, dtype=g.dtype)
    if getattr(xp, "__name__", "").endswith("jax.numpy"):
        # JAX arrays are immutable; its .at[].add sums repeated positions itself
        sub = tuple(i for i in index if i is not None)
        return out.at[sub].add(xp.reshape(g, _shape_of(out[sub])))
    if _basic(index):  # ints and slices never repeat a position: a plain assignment
        sub = tuple(i for i in index if i is not None)  # None only added axes of size 1 to g
        if math.prod(_shape_of(g)):  # Dask refuses to assign an empty block
            out[sub] = xp.reshape(g, tuple(out[sub].shape))
        return out
    pos = _positions(xp, shape, index)
    flat = xp.reshape(g, (-1,))
    if getattr(xp, "__name__", "") == "array_api_compat.numpy":
        import numpy as np

        # NumPy only: bincount sums repeated positions in one pass (the standard has no scatter-add)
        summed = np.bincount(pos, weights=flat, minlength=math.prod(shape)).astype(g.dtype)
    else:
        # elsewhere a one-hot matrix does it with matmul: memory len(g) * size, fine for modest sizes
        hot = xp.astype(xp.reshape(pos, (-1, 1)) == xp.reshape(xp.arange(math.prod(shape)), (1, -1)), g.dtype)
        summed = xp.reshape(xp.matmul(xp.reshape(flat, (1, -1)), hot), (-1,))
    return xp.reshape(summed, shape)


def index_add(g: Any, shape: tuple[int, ...], index: Index) -> Any:
    """zeros(shape) with g added at [index]: the gradient of getitem, summing repeated positions.

    >>> index_add(Tensor([1.0, 2.0, 3.0]), (2,), (Tensor([0, 0, 1]).data.astype(int),)).data.tolist()
    [3.0, 3.0]
    """
    xp = g._xp if type(g) is Tensor else namespace(g)
    r = _index_add_data(xp, _data(g), shape, index)
    if type(g) is not Tensor:
        return r
    return _make("index_add", r, (g, shape, index), xp)


# -- what the walk needs besides the ops: sum_to, hooks' results --------------------------------


def sum_to(g: Any, like: Any) -> Any:
    """g summed down to like's shape (and dtype): broadcasting undone, the one place it is.

    >>> import numpy as np
    >>> sum_to(np.ones((3, 2)), np.zeros((1, 2))).tolist()
    [[3.0, 3.0]]
    """
    if type(g) is not Tensor and type(g) in _NS:  # an array (no graph to keep): the library's own calls
        ld = like.data if type(like) is Tensor else like
        gs, shape = tuple(g.shape), tuple(ld.shape)
        lead = len(gs) - len(shape)
        if gs != shape and lead >= 0:
            axes = (*range(lead), *(lead + i for i, n in enumerate(shape) if n == 1 and gs[lead + i] != 1))
            if type(g) in _COPY:  # NumPy's own methods: array-api-compat's sum and reshape wrap them at a cost
                g = g.sum(axis=axes, keepdims=True).reshape(shape)
            else:
                xp = _NS[type(g)]
                g = xp.reshape(xp.sum(g, axis=axes, keepdims=True), shape)
        if tuple(g.shape) == shape:
            return g if g.dtype == ld.dtype else _NS[type(g)].astype(g, ld.dtype)
    shape = _shape_of(_data(like))
    gd = _data(g)
    if not _is_array(gd):  # a rule gave a number (0.0 * g of a float): spread it over the shape
        xp = like._xp if type(like) is Tensor else namespace(like)
        return xp.broadcast_to(xp.asarray(gd, dtype=_data(like).dtype), shape) if shape else xp.asarray(gd)
    gs = _shape_of(gd)
    if gs != shape:
        lead = len(gs) - len(shape)
        if lead < 0:
            return broadcast_to(g, shape)
        axes = (*range(lead), *(lead + i for i, n in enumerate(shape) if n == 1 and gs[lead + i] != 1))
        g = reshape(tensor_sum(g, axes, keepdims=True), shape)
    if type(g) is not Tensor:
        dt = _data(like).dtype
        if g.dtype != dt:
            g = namespace(g).astype(g, dt)
    return g


def hook_value(node: Tensor, r: object, name: str) -> Any:
    """What a hook on a Tensor returned, as the gradient to use: a Tensor stays, else an array of node's shape.

    >>> hook_value(Tensor([1.0, 2.0]), [3.0, 4.0], "double").tolist()
    [3.0, 4.0]
    """
    if type(r) is Tensor:
        return r
    return _grad_array(node, r, f"the value returned by hook {name}")


NODE_TYPES.add(Tensor)  # the walk and the sort know a node by its type


__all__ = [
    "Tensor",
    "amax",
    "amin",
    "broadcast_to",
    "concatenate",
    "cross_entropy",
    "expand_dims",
    "getitem",
    "index_add",
    "linear",
    "log_softmax",
    "logsumexp",
    "matmul",
    "mean",
    "one_hot",
    "reshape",
    "softmax",
    "squeeze",
    "stack",
    "swapaxes_last",
    "transpose",
    "where",
]
