"""Function transforms, as in JAX: grad, value_and_grad, jvp, vjp, jacobians, hessian, hvp.

Each takes a Python function of scalars (floats, Values or forward-mode Duals
in; a scalar, or for jvp/vjp/jacobians nested lists of scalars, out) and returns
a function. Called with floats, a transform gives floats; called with Values or
Duals, as it is when nested inside another transform, it gives Values or
Duals, so transforms compose to any order: ``grad(grad(grad(f)))``,
``jacfwd(jacrev(f))``, ``jvp`` of ``grad``. A result that depends on Values f
closes over (a model's parameters) is a Value too, so ``backward()`` reaches them.
So is one that depends on a constant Value made inside f (``Value(3.0)``,
``detach()``, an op under ``no_grad()``): a leaf Value looks the same whether
it is a parameter or not.

Reverse mode (grad, vjp, jacrev) records the graph of ``f`` and walks it back
with the VJP rules of ``agrad.rules``, gathering the gradient of the inputs
only: it never touches ``.grad``, so it has no side effects on a model's Values.
Forward mode (jvp, jacfwd) pushes a ``Dual`` through ``f``, one tangent pass
beside the values, using the JVP rules of the same table.

Nesting never confuses the levels. Reverse mode differentiates with respect to
a fresh leaf of its own: a Value input ``x`` is fed to ``f`` as ``x + leaf``, so
an outer transform still sees ``x`` and the inner one sees only ``leaf``.
Forward mode gives each call its own tag (see ``agrad.forward``).
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from agrad._checks import MAX_NESTING, quote, too_deep
from agrad.backprop import pull, toposort
from agrad.forward import Dual, _scalar, new_tag, push
from agrad.modes import enable_grad
from agrad.rules import ZERO
from agrad.tensor import Tensor, _is_array, quiet_walk
from agrad.value import NODE_TYPES, MixError, Value, _number

Fn = Callable[..., Any]

TRANSFORM_ATTR = "__agrad_transform__"
"""Set on what grad and value_and_grad return: (f, argnums, with_value)."""
ArgNums = int | Sequence[int]


# -- checking what the user gave ------------------------------------------------


def _scalar_arg(x: object, what: str) -> Any:
    """A differentiable argument: a Value, a Dual, a real number as float, or a Tensor or array."""
    if isinstance(x, (Value, Dual, Tensor)):
        return x
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        return _number(x)  # a ValueError for an int too large for a float
    if _is_array(x):
        return Tensor(x).data  # a real floating array (ints become float64), or a TypeError
    raise TypeError(
        f"{what} must be a scalar (a float, an int, a Value or a Dual) or an array (or Tensor), "
        f"got {type(x).__name__}: {quote(x)}"
    )


def _argnums(argnums: object, n: int, name: str) -> tuple[int, ...]:
    """argnums as a tuple of indices in range(n)."""
    nums = (argnums,) if isinstance(argnums, int) else argnums
    if not isinstance(nums, (tuple, list)) or not all(type(i) is int for i in nums) or not nums:
        raise TypeError(f"{name}: argnums must be an int or a non-empty tuple of ints, got {quote(argnums)}")
    out = []
    for i in nums:
        if not -n <= i < n:
            raise ValueError(f"{name}: argnums {i} is out of range for a call with {n} positional argument(s)")
        out.append(i % n)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: argnums {quote(argnums)} names an argument twice")
    return tuple(out)


def _callable(f: object, name: str) -> None:
    if not callable(f):
        raise TypeError(f"{name} expects a function to differentiate, got {type(f).__name__}: {quote(f)}")


def _scalar_out(out: object, name: str) -> Any:
    if isinstance(out, (Value, Dual)):
        return out
    if isinstance(out, Tensor) or _is_array(out):
        t = out if isinstance(out, Tensor) else Tensor(out)
        if math.prod(t.shape) != 1:
            raise TypeError(
                f"{name} needs f to return a scalar, but f returned an array of shape {t.shape}; "
                "for several outputs use jacrev, jacfwd or vjp"
            )
        return out
    if isinstance(out, numbers.Real):
        return _number(out)
    raise TypeError(
        f"{name} needs f to return a scalar (a Value or a number), but f returned {type(out).__name__}: {quote(out)}; "
        "for several outputs use jacrev, jacfwd or vjp"
    )


class _Tree:
    """f's result, a scalar or nested lists/tuples of scalars, as a flat list plus its shape."""

    def __init__(self, out: object, name: str, what: str = "f's result") -> None:
        self.leaves: list[Any] = []
        self.what = what
        self.shape = self._flatten(out, name)

    def _flatten(self, out: object, name: str, depth: int = 0) -> Any:
        if isinstance(out, Tensor) or _is_array(out):
            self.leaves.append(out)  # an array is one leaf of the tree, whatever its shape
            return None
        if _scalar(out):
            self.leaves.append(_scalar_out(out, name))
            return None
        if isinstance(out, (list, tuple)):
            if depth >= MAX_NESTING:
                raise too_deep(f"{name}: {self.what}")
            return type(out), [self._flatten(o, name, depth + 1) for o in out]
        raise TypeError(
            f"{name} needs f to return a scalar or (nested) lists/tuples of scalars, "
            f"but f returned {type(out).__name__}: {quote(out)}"
        )

    def rebuild(self, leaves: Sequence[Any]) -> Any:
        """The same shape with new leaves, in order."""
        it = iter(leaves)

        def build(shape: Any) -> Any:
            if shape is None:
                return next(it)
            kind, parts = shape
            return kind(build(p) for p in parts)

        return build(self.shape)

    def flatten_like(self, ct: object, what: str) -> list[Any]:
        """ct, which must have this tree's shape, as a flat list."""
        other = _Tree(ct, what, "it")
        if other.shape != self.shape:
            raise ValueError(f"{what} must be {_describe(self.shape)}, like f's output; got {quote(ct)}")
        return other.leaves


def _describe(shape: Any) -> str:
    if shape is None:
        return "a scalar"
    kind, parts = shape
    if all(p is None for p in parts):
        return f"a {kind.__name__} of {len(parts)} scalars"
    return f"a {kind.__name__} of ({', '.join(_describe(p) for p in parts)})"


# -- reverse mode ---------------------------------------------------------------


def _order(roots: list[Value]) -> list[Value]:
    """One topological order (children first) of everything under several roots."""
    seen: set[Value] = set()
    order: list[Value] = []
    for r in roots:
        if r not in seen:
            for v in toposort(r):
                if v not in seen:
                    seen.add(v)
                    order.append(v)
    return order


class _Leaf(Value):
    """A transform's own input leaf: what reverse mode differentiates with respect to.

    While f runs on it, the leaf is ``active``: a transform nested inside f must
    treat it as a variable that its result depends on. Once f has returned, only
    this transform's own walk differentiates with respect to it; to any other,
    it is a constant like any float.
    """

    __slots__ = ("active",)

    def __init__(self, data: float) -> None:
        super().__init__(data)
        self.active = True


def _walk(ys: list[Any], cts: list[Any], leaves: Sequence[Value]) -> tuple[list[Any], bool]:
    """sum_i ct_i * d(y_i)/d(leaf) for each leaf, for Value (or constant) outputs ys.

    Returns the gradients and whether the outputs also depend on Values other
    than the leaves ("foreign" Values: an outer transform's input, a model's
    parameters). Only then must the gradient be a Value that remembers how it
    depends on them; otherwise the walk runs on plain floats.
    """
    roots: list[tuple[Any, Any]] = [
        (y, _cotangent(y, c)) for y, c in zip(ys, cts) if isinstance(y, (Value, Tensor)) and not _zero(c)
    ]
    order = _order([y for y, _ in roots])
    live = set(leaves)  # the nodes that depend on a leaf: only they carry gradient
    for node in order:
        if node not in live and any(type(k) in NODE_TYPES and k in live for k in node._children):
            live.add(node)
    foreign = any(not n._children and n not in live and _active(n) for n in order)
    create_graph = foreign or any(isinstance(c, (Value, Tensor, Dual)) for _, c in roots)
    wanted, found = set(leaves), dict[Value, Any]()

    def take(node: Value, g: Any) -> Any:
        if node in wanted:
            found[node] = g
        return g

    # with create_graph a rule meets Tensors, so an array seed is a constant Tensor (a library may refuse a mix)
    seeds = [(y, Tensor(c) if create_graph and _is_array(c) else c) for y, c in roots if y in live]
    with quiet_walk() if any(type(y) is Tensor for y, _ in seeds) else contextlib.nullcontext():
        pull([n for n in order if n in live], seeds, create_graph, take, only=live)
    return [found[leaf] if leaf in found else _zeros(leaf) for leaf in leaves], foreign


def _zero(c: Any) -> bool:
    return type(c) is float and c == 0.0


def _zeros(leaf: Value) -> Any:
    """The gradient of a leaf that no output depends on: 0.0, or zeros of a Tensor leaf's shape."""
    if isinstance(leaf, Tensor):
        return leaf._xp.zeros_like(leaf.data)
    return 0.0


def _active(n: Any) -> bool:
    """Whether a leaf is a variable to outer walks: a transform's own leaf stops being one once f returns."""
    if isinstance(n, Tensor):
        return n.requires_grad
    return bool(getattr(n, "active", True))


def _cotangent(y: Any, c: Any) -> Any:
    """c as the seed for output y: for a Tensor y, an array of y's shape (a Tensor stays one)."""
    if isinstance(y, Tensor) and not isinstance(c, (Tensor, Dual)):
        return y._seed(c, "a cotangent")
    return c


def _split(xs: list[Any], tag: int) -> tuple[list[Any], list[Any]]:
    """Primal and tangent parts with respect to one forward-mode tag; anything else has tangent 0."""
    ps = [x.primal if type(x) is Dual and x.tag == tag else x for x in xs]
    ts = [x.tangent if type(x) is Dual and x.tag == tag else 0.0 for x in xs]
    return ps, ts


def _pullback(ys: list[Any], cts: list[Any], leaves: Sequence[Value]) -> tuple[list[Any], bool]:
    """sum_i ct_i * d(y_i)/d(leaf) for each leaf, where ys and cts may hold forward-mode Duals.

    Differentiating with respect to a leaf commutes with a tangent, so a Dual
    output ``(P, T)`` is pulled back part by part:
    d/dleaf [(a + b eps)(P + T eps)] = a dP + (a dT + b dP) eps.
    """
    tags = [x.tag for x in (*ys, *cts) if type(x) is Dual]
    if not tags:
        return _walk(ys, cts, leaves)
    tag = max(tags)
    ps, ts = _split(ys, tag)
    a, b = _split(cts, tag)
    g_p, f_p = _pullback(ps, a, leaves)
    g_t, f_t = _pullback(ts, a, leaves)
    if any(not (type(x) is float and x == 0.0) for x in b):
        g_b, f_b = _pullback(ps, b, leaves)
        g_t, f_t = [u + v for u, v in zip(g_t, g_b)], f_t or f_b
    return [Dual(p, t, tag) for p, t in zip(g_p, g_t)], f_p or f_t


def _plain(x: Any) -> Any:
    """x with every Value replaced by its float: what a float-in call returns."""
    if type(x) is Dual:
        return Dual(_plain(x.primal), _plain(x.tangent), x.tag)
    return x.data if isinstance(x, (Value, Tensor)) else x


class _Traced:
    """f run on fresh leaves for the arguments in argnums, ready to be pulled back.

    A float argument's leaf is a Value. If f mixes it with a Tensor or an array (a
    ``MixError``), f runs again with those floats as 0-d Tensor leaves, as JAX treats
    a float as a 0-d array, and their derivatives come back as floats.
    """

    def __init__(
        self, f: Fn, args: tuple[Any, ...], argnums: object, name: str, kwargs: dict[str, Any] | None = None
    ) -> None:
        self.lifted: list[bool] = []  # per leaf: a float argument made a 0-d Tensor
        self.floats = False  # whether any argument in argnums is a float
        try:
            self._run(f, args, argnums, name, kwargs or {}, lift=False)
        except MixError:
            if not self.floats:
                raise  # no float argument to lift: the mix is f's own (a Value it closes over, say)
            self._run(f, args, argnums, name, kwargs or {}, lift=True)

    def _run(
        self, f: Fn, args: tuple[Any, ...], argnums: object, name: str, kwargs: dict[str, Any], lift: bool
    ) -> None:
        self.leaves: list[Any] = []
        try:
            with enable_grad():  # as torch.func.grad: an outer no_grad() does not stop a transform
                self._trace(f, args, argnums, name, kwargs, lift)
        finally:
            for leaf in self.leaves:
                if isinstance(leaf, Tensor):
                    leaf.requires_grad = False  # now a constant to any op or walk but this transform's
                else:
                    leaf.active = False

    def _trace(
        self, f: Fn, args: tuple[Any, ...], argnums: object, name: str, kwargs: dict[str, Any], lift: bool
    ) -> None:
        nums = _argnums(argnums, len(args), name)
        call = list(args)
        self.lifted = [False] * len(nums)
        for k, i in enumerate(nums):
            x = _scalar_arg(args[i], f"{name}: argument {i}")
            leaf: Any
            if type(x) is float:
                leaf = Tensor(x, requires_grad=True) if lift else _Leaf(x)
                self.lifted[k], self.floats = lift, True
                call[i] = leaf
            elif isinstance(x, Tensor) or _is_array(x):
                data = x.data if isinstance(x, Tensor) else x
                if isinstance(x, Tensor) and x.requires_grad:
                    leaf = Tensor(-0.0 * data, requires_grad=True)  # x + (-0.0) is x exactly, as below
                    call[i] = x + leaf
                else:
                    leaf = Tensor(data, requires_grad=True)
                    call[i] = leaf
            else:
                # x + (-0.0) is x exactly, signed zeros included; the leaf is what we differentiate.
                leaf = _Leaf(-0.0)
                call[i] = x + leaf
            self.leaves.append(leaf)
        self.out = f(*call, **kwargs)  # keyword arguments go to f as they are, never differentiated

    def pullback(self, ys: list[Any], cts: list[Any]) -> tuple[list[Any], bool]:
        """Gradients for the leaves, and whether the result must stay a Value (see _walk)."""
        with enable_grad():
            grads, foreign = _pullback(ys, cts, self.leaves)
        # a float argument run as a 0-d Tensor gets a float back, as if it had run as a Value
        grads = [float(g) if lifted and _is_array(g) else g for g, lifted in zip(grads, self.lifted)]
        return grads, foreign

    def value(self, out: Any, keep: bool) -> Any:
        return out if keep else _plain(out)


def value_and_grad(f: Fn, argnums: ArgNums = 0) -> Callable[..., tuple[Any, Any]]:
    """``(f(*args), df/dargs[argnums])`` by reverse mode; a tuple of gradients if argnums is.

    Keyword arguments are passed to f and never differentiated, as in JAX.

    >>> import agrad
    >>> value_and_grad(lambda x, y: x * agrad.sin(y), argnums=(0, 1))(2.0, 0.0)
    (0.0, (0.0, 2.0))
    >>> value_and_grad(lambda x, scale=1.0: scale * x * x)(3.0, scale=2.0)
    (18.0, 12.0)
    """
    _callable(f, "grad")

    def value_and_grad_f(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        t = _Traced(f, args, argnums, "grad", kwargs)
        out = _scalar_out(t.out, "grad")
        grads, keep = t.pullback([out], [1.0])
        return t.value(out, keep), (grads[0] if isinstance(argnums, int) else tuple(grads))

    # agrad.compile reads this to derive the gradient code itself instead of tracing the walk
    setattr(value_and_grad_f, TRANSFORM_ATTR, (f, argnums, True))
    return value_and_grad_f


def grad(f: Fn, argnums: ArgNums = 0) -> Fn:
    """The derivative of scalar f with respect to argument argnums (a tuple gives a tuple).

    Composes to any order:

    >>> import agrad
    >>> grad(grad(grad(agrad.sin)))(0.0)
    -1.0
    >>> grad(lambda x, y: x * y, argnums=(0, 1))(3.0, 4.0)
    (4.0, 3.0)
    """
    vg = value_and_grad(f, argnums)

    def grad_f(*args: Any, **kwargs: Any) -> Any:
        return vg(*args, **kwargs)[1]

    setattr(grad_f, TRANSFORM_ATTR, (f, argnums, False))
    return grad_f


def vjp(f: Fn, *primals: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``(f(*primals), vjp_fn)``; ``vjp_fn(ct)`` is ``ct`` times the Jacobian, one entry per primal.

    f may return a scalar (then ct is a scalar) or a list of scalars (then ct
    is a list as long). vjp_fn can be called many times: the graph is kept.

    >>> out, back = vjp(lambda x, y: [x * y, x + y], 2.0, 3.0)
    >>> out, back([1.0, 0.0]), back([0.0, 1.0])
    ([6.0, 5.0], (3.0, 2.0), (1.0, 1.0))
    """
    _callable(f, "vjp")
    t = _Traced(f, primals, tuple(range(len(primals))), "vjp") if primals else None
    if t is None:
        raise ValueError("vjp needs at least one primal to differentiate with respect to")
    tree = _Tree(t.out, "vjp")
    ys = tree.leaves
    keep = t.pullback(ys, [1.0] * len(ys))[1]  # one walk, only to learn if the outputs stay Values

    def vjp_fn(ct: Any) -> tuple[Any, ...]:
        cts = tree.flatten_like(ct, "vjp_fn's cotangent")
        grads, _ = t.pullback(ys, [_scalar_arg(c, "vjp_fn: a cotangent") for c in cts])
        return tuple(grads)

    return tree.rebuild([t.value(y, keep) for y in ys]), vjp_fn


def jvp(f: Fn, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """``(f(*primals), J(f) @ tangents)`` by forward mode: one pass, values and tangents side by side.

    f may return a scalar or (nested) lists of scalars; the tangent out has the same shape.

    >>> import agrad
    >>> jvp(agrad.sin, (0.0,), (2.0,))
    (0.0, 2.0)
    >>> jvp(lambda x, y: [x * y, x - y], (3.0, 4.0), (1.0, 0.0))
    ([12.0, -1.0], [4.0, 1.0])
    """
    seqs = isinstance(primals, (tuple, list)) and isinstance(tangents, (tuple, list))
    if seqs and any(isinstance(p, Tensor) or _is_array(p) for p in (*primals, *tangents)):
        tree, ps, ts = _push_tensors(f, primals, tangents)
    else:
        try:
            tree, ps, ts = _push(f, primals, tangents)
        except MixError:
            if not _all_numbers(primals):
                raise
            tree, ps, ts = _push_tensors(f, primals, tangents)  # f meets arrays: the floats as 0-d Tensors, as JAX
    return tree.rebuild(ps), tree.rebuild(ts)


def _all_numbers(xs: Sequence[Any]) -> bool:
    """Every x a plain real number: arguments that can run again as 0-d Tensors when f meets an array."""
    return all(isinstance(x, numbers.Real) and not isinstance(x, (bool, Value)) and not _is_array(x) for x in xs)


def _push_tensors(f: Fn, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[_Tree, list[Any], list[Any]]:
    """Forward mode for arrays: run f on fresh Tensor leaves, then push the tangents through its graph."""
    _callable(f, "jvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp needs primals and tangents as tuples or lists")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp needs one tangent per primal, got {len(primals)} primals and {len(tangents)} tangents")
    ps = [_scalar_arg(p, f"jvp: primal {i}") for i, p in enumerate(primals)]
    ts = [t if t is ZERO else _scalar_arg(t, f"jvp: tangent {i}") for i, t in enumerate(tangents)]
    t = _Traced(f, tuple(Tensor(p) if type(p) is float else p for p in ps), tuple(range(len(ps))), "jvp")
    graph = any(isinstance(x, Tensor) and x.requires_grad for x in (*primals, *tangents))
    dots: dict[Any, Any] = {}
    for i, (leaf, tan) in enumerate(zip(t.leaves, ts)):
        if tan is ZERO:  # jacfwd's other inputs: constants to this pass, so their terms are left out, not 0 * nan
            continue
        tan = (
            tan
            if isinstance(tan, Tensor) and graph
            else leaf._seed(tan.data if isinstance(tan, Tensor) else tan, f"jvp: tangent {i}")
        )
        dots[leaf] = tan
    tree = _Tree(t.out, "jvp")
    outs = [y for y in tree.leaves if isinstance(y, Tensor)]
    with enable_grad():
        push(_order(outs), dots, graph)  # type: ignore[arg-type]
    values = [t.value(y, graph) for y in tree.leaves]
    tans = [dots[y] if isinstance(y, Tensor) and y in dots else _zero_tangent(y) for y in tree.leaves]
    return tree, values, tans


def _push(f: Fn, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[_Tree, list[Any], list[Any]]:
    """Run f on Duals of a new tag; its output's shape, and the values and tangents of its scalars."""
    _callable(f, "jvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(
            f"jvp needs primals and tangents as tuples or lists, got {type(primals).__name__} "
            f"and {type(tangents).__name__}"
        )
    if len(primals) != len(tangents):
        raise ValueError(f"jvp needs one tangent per primal, got {len(primals)} primals and {len(tangents)} tangents")
    tag = new_tag()
    xs = [
        Dual(_scalar_arg(p, f"jvp: primal {i}"), _scalar_arg(t, f"jvp: tangent {i}"), tag)
        for i, (p, t) in enumerate(zip(primals, tangents))
    ]
    with enable_grad():  # Values inside f (an outer reverse mode's) must still record their graph
        tree = _Tree(f(*xs), "jvp")
    ps, ts = _split(tree.leaves, tag)
    return tree, ps, ts


# -- Jacobians --------------------------------------------------------------------


def _shape(rows: list[list[Any]], tree: _Tree, argnums: object) -> Any:
    """JAX's shapes for scalar arguments: f's output shape, each scalar replaced by its row.

    An int argnums drops the input axis, so each row is a single number.
    """
    return tree.rebuild([r[0] for r in rows] if isinstance(argnums, int) else rows)


def _nums(argnums: ArgNums | None, args: tuple[Any, ...]) -> ArgNums:
    return tuple(range(len(args))) if argnums is None else argnums


def jacrev(f: Fn, argnums: ArgNums | None = None) -> Fn:
    """The Jacobian ``J[i][j] = d out_i / d arg_j`` by reverse mode: one backward walk per output.

    argnums defaults to every positional argument. A scalar f gives a list (the
    gradient); an int argnums drops the column axis, as in JAX.

    >>> jacrev(lambda x, y: [x * y, x + 2 * y])(3.0, 4.0)
    [[4.0, 3.0], [1.0, 2.0]]
    """
    _callable(f, "jacrev")

    def jacrev_f(*args: Any, **kwargs: Any) -> Any:
        nums = _nums(argnums, args)
        t = _Traced(f, args, nums, "jacrev", kwargs)
        tree = _Tree(t.out, "jacrev")
        if _has_arrays(t.leaves, tree.leaves):
            return _array_jacobian_by_reverse(t, tree, nums)
        return _rows_by_reverse(t, tree, nums)

    return jacrev_f


def _rows_by_reverse(t: _Traced, tree: _Tree, nums: ArgNums) -> Any:
    """One walk back per output of the traced f, each seeded with 1 for that output only."""
    ys = tree.leaves
    rows = [t.pullback(ys, [1.0 if j == i else 0.0 for j in range(len(ys))])[0] for i in range(len(ys))]
    return _shape(rows, tree, nums)


def jacfwd(f: Fn, argnums: ArgNums | None = None) -> Fn:
    """The Jacobian ``J[i][j] = d out_i / d arg_j`` by forward mode: one jvp per input.

    >>> jacfwd(lambda x, y: [x * y, x + 2 * y])(3.0, 4.0)
    [[4.0, 3.0], [1.0, 2.0]]
    """
    _callable(f, "jacfwd")

    def jacfwd_f(*args: Any, **kwargs: Any) -> Any:
        nums = _nums(argnums, args)
        cols = _argnums(nums, len(args), "jacfwd")
        if any(isinstance(args[k], Tensor) or _is_array(args[k]) for k in cols):
            return _array_jacobian_by_forward(_freeze(f, (), (), kwargs), args, cols, nums)
        columns = []
        for j in cols:
            g = _freeze(f, args, cols, kwargs)
            try:
                tree, _, ts = _push(g, [args[k] for k in cols], [float(k == j) for k in cols])
            except MixError:
                if not _all_numbers([args[k] for k in cols]):
                    raise
                return _array_jacobian_by_forward(_freeze(f, (), (), kwargs), args, cols, nums)
            columns.append(ts)
        rows = [list(r) for r in zip(*columns)]
        return _shape(rows, tree, nums)

    return jacfwd_f


def _has_arrays(leaves: Sequence[Any], outs: Sequence[Any]) -> bool:
    return any(isinstance(x, Tensor) or _is_array(x) for x in (*leaves, *outs))


def _as_tensorish(x: Any, like: Any) -> Any:
    """A gradient or tangent as an array (or Tensor) of like's shape; a float becomes a 0-d array."""
    if isinstance(x, Tensor) or _is_array(x):
        return x
    from agrad.tensor import _default_xp

    xp = like._xp if isinstance(like, Tensor) else _default_xp()
    return xp.asarray(float(x) if not isinstance(x, Value) else x.data)


def _stack_to(parts: list[Any], shape: tuple[int, ...], like: Any) -> Any:
    """Per-element results, each of like's shape, stacked and shaped ``shape + like.shape`` (JAX's Jacobian layout)."""
    from agrad.tensor import reshape, stack

    parts = [_as_tensorish(p, like) for p in parts]
    inner = tuple(getattr(like, "shape", ()))
    if not parts:
        from agrad.tensor import _default_xp

        xp = like._xp if isinstance(like, Tensor) else _default_xp()
        return xp.zeros((*shape, *inner))
    return reshape(stack(parts), (*shape, *inner))


def _array_jacobian_by_reverse(t: _Traced, tree: _Tree, nums: ArgNums) -> Any:
    """One walk back per element of each output, seeded with a one-hot array; blocks shaped out + in."""
    ys = tree.leaves
    blocks = []
    for i, y in enumerate(ys):
        shape = tuple(getattr(y, "shape", ()))
        per_leaf: list[list[Any]] = [[] for _ in t.leaves]
        for k in range(math.prod(shape)):
            cts = [_one_hot(y, k) if j == i else 0.0 for j in range(len(ys))]
            grads, _ = t.pullback(ys, cts)
            for j, g in enumerate(grads):
                per_leaf[j].append(g)
        jac = [_stack_to(parts, shape, leaf) for parts, leaf in zip(per_leaf, t.leaves)]
        blocks.append(jac[0] if isinstance(nums, int) else tuple(jac))
    return tree.rebuild(blocks)


def _one_hot(y: Any, k: int) -> Any:
    if not isinstance(y, Tensor):
        return 1.0
    xp = y._xp
    flat = xp.astype(xp.arange(math.prod(y.shape)) == k, y.dtype)
    return xp.reshape(flat, y.shape)


def _array_jacobian_by_forward(f: Fn, args: tuple[Any, ...], cols: tuple[int, ...], nums: ArgNums) -> Any:
    """One jvp per element of each input, with a one-hot tangent; blocks shaped out + in."""
    g = _freeze(f, args, cols)
    primals = [args[k] for k in cols]
    zeros = [_zero_tangent(p) for p in primals]
    per_input = []
    tree: _Tree | None = None
    for j, p in enumerate(primals):
        shape = tuple(getattr(p, "shape", ()))
        columns = []
        for k in range(math.prod(shape)):
            tans: list[Any] = [ZERO] * len(primals)
            tans[j] = _one_hot(Tensor(p) if not isinstance(p, Tensor) else p, k) if shape or _is_array(p) else 1.0
            tree, _, ts = _push_tensors(g, primals, tans)
            columns.append(ts)
        per_input.append((shape, columns))
    if tree is None:  # every input is empty: run f once for its output's shape
        tree, _, _ = _push_tensors(g, primals, zeros)
    outs = tree.leaves
    blocks = []
    for i, y in enumerate(outs):
        jac = []
        for shape, columns in per_input:
            parts = [_as_tensorish(c[i], y) for c in columns]
            out_shape = tuple(getattr(y, "shape", ()))
            if not parts:
                from agrad.tensor import _default_xp

                jac.append(_default_xp().zeros((*out_shape, *shape)))
                continue
            from agrad.tensor import reshape, stack, transpose

            st = reshape(stack(parts), (*shape, *out_shape))  # input axes first: move them last
            n_in = len(shape)
            jac.append(transpose(st, (*range(n_in, n_in + len(out_shape)), *range(n_in))))
        blocks.append(jac[0] if isinstance(nums, int) else tuple(jac))
    return tree.rebuild(blocks)


def _zero_tangent(p: Any) -> Any:
    if isinstance(p, Tensor):
        return p._xp.zeros_like(p.data)
    if _is_array(p):
        return Tensor(p).data * 0.0
    return 0.0


def _freeze(f: Fn, args: tuple[Any, ...], nums: tuple[int, ...], kwargs: dict[str, Any] | None = None) -> Fn:
    """f as a function of the arguments in nums only; the others, and the keywords, keep their values.

    With no args and no nums, f with the keywords bound.
    """
    kw = kwargs or {}

    def g(*xs: Any) -> Any:
        call = list(args) if nums else list(xs)
        for i, x in zip(nums, xs):
            call[i] = x
        return f(*call, **kw)

    return g


def jacobian(f: Fn, argnums: ArgNums | None = None) -> Fn:
    """The Jacobian of f, by forward mode if it has no more inputs than outputs, else reverse mode.

    Forward mode costs one pass per input, reverse mode one per output, so the
    choice is made per call.

    >>> import agrad
    >>> jacobian(lambda x: [agrad.exp(x), x * x])(0.0)
    [[1.0], [0.0]]
    """
    _callable(f, "jacobian")

    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        nums = _nums(argnums, args)
        cols = _argnums(nums, len(args), "jacobian")
        if any(isinstance(args[k], Tensor) or _is_array(args[k]) for k in cols):
            t = _Traced(f, args, nums, "jacobian", kwargs)  # one element per pass: compare the elements in and out
            tree = _Tree(t.out, "jacobian")
            n_in = sum(math.prod(getattr(x, "shape", ())) for x in t.leaves)
            n_out = sum(math.prod(getattr(y, "shape", ())) for y in tree.leaves)
            if n_in <= n_out:
                return jacfwd(f, argnums)(*args, **kwargs)
            return _array_jacobian_by_reverse(t, tree, nums)
        if len(cols) == 1:
            return jacfwd(f, argnums)(*args, **kwargs)  # one input: one forward pass, whatever the outputs
        t = _Traced(f, args, nums, "jacobian", kwargs)  # the reverse-mode trace tells the number of outputs
        tree = _Tree(t.out, "jacobian")
        if any(t.lifted):  # f met an array: the floats ran as 0-d Tensors, and the Jacobian is arrays
            n_out = sum(math.prod(getattr(y, "shape", ())) for y in tree.leaves)
            if len(t.leaves) <= n_out:
                return jacfwd(f, argnums)(*args, **kwargs)
            return _array_jacobian_by_reverse(t, tree, nums)
        if len(t.leaves) <= len(tree.leaves):
            return jacfwd(f, argnums)(*args, **kwargs)
        return _rows_by_reverse(t, tree, nums)

    return jacobian_f


def hessian(f: Fn, argnums: ArgNums | None = None) -> Fn:
    """The matrix of second derivatives of scalar f: forward mode over reverse mode, as in JAX.

    >>> hessian(lambda x, y: x * x * y)(3.0, 2.0)
    [[4.0, 6.0], [6.0, 0.0]]
    """
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f: Fn, primals: Sequence[Any], tangents: Sequence[Any]) -> list[Any]:
    """The Hessian of scalar f times the vector tangents, without forming the Hessian.

    One forward pass through the reverse-mode gradient: the cost of about two
    gradients, whatever the number of inputs.

    >>> hvp(lambda x, y: x * x * y, (3.0, 2.0), (1.0, 0.0))
    [4.0, 6.0]
    """
    _callable(f, "hvp")
    if not isinstance(primals, (tuple, list)):
        raise TypeError(f"hvp needs primals as a tuple or list, got {type(primals).__name__}")
    if not primals:
        raise ValueError("hvp needs at least one primal to differentiate with respect to")
    g = grad(f, argnums=tuple(range(len(primals))))
    return list(jvp(g, primals, tangents)[1])
