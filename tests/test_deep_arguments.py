"""Arguments nested thousands deep, and arguments of the wrong shape, give a TypeError or ValueError.

Never a RecursionError (from a recursive walk, or from ``repr`` in the message),
and never a message longer than a few hundred characters. The oracle is the
exception's type and a bound on its message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import agrad
from agrad._checks import MAX_NESTING, QUOTE_LIMIT
from agrad.nn import MLP

DEEP = 20_000


def nest(x: Any, depth: int = DEEP, kind: type = list) -> Any:
    for _ in range(depth):
        x = kind([x])
    return x


CASES: dict[str, Callable[[], Any]] = {
    "compile argument": lambda: agrad.compile(lambda x: x)(nest(1.0)),
    "compile tuple argument": lambda: agrad.compile(lambda x: x)(nest(1.0, kind=tuple)),
    "compile result": lambda: agrad.compile(lambda x: nest(x))(1.0),
    "jacrev result": lambda: agrad.jacrev(lambda x: nest(x))(1.0),
    "jvp result": lambda: agrad.jvp(lambda x: nest(x), (1.0,), (1.0,)),
    "vjp result": lambda: agrad.vjp(lambda x: nest(x), 1.0),
    "vjp cotangent": lambda: agrad.vjp(lambda x: [x], 1.0)[1](nest(1.0)),
    "grad argument": lambda: agrad.grad(lambda x: x)(nest(1.0)),
    "jvp primal": lambda: agrad.jvp(lambda x: x, (nest(1.0),), (1.0,)),
    "hessian argument": lambda: agrad.hessian(lambda x: x)(nest(1.0)),
    "Value": lambda: agrad.Value(nest(1.0)),
    "sum": lambda: agrad.sum(nest(1.0)),
    "dot": lambda: agrad.dot(nest(1.0), [1.0]),
    "exp": lambda: agrad.exp(nest(1.0)),
    "gradcheck": lambda: agrad.gradcheck(lambda x: x, nest(1.0)),
    "SGD": lambda: agrad.optim.SGD(nest(1.0), lr=0.1),
    "to_dot": lambda: agrad.to_dot(nest(1.0)),
    "explain": lambda: agrad.explain(nest(1.0)),
    "backward's gradient": lambda: (agrad.Value(1.0) * 2.0).backward(nest(1.0)),
    "save": lambda: agrad.save({"a": nest(1.0)}, "never-written.json"),
    "make_moons": lambda: agrad.datasets.make_moons(nest(1)),
    "MLP": lambda: MLP(2, [1], seed=0)(nest(1.0)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_deep_nesting_is_a_type_or_value_error(name: str) -> None:
    with pytest.raises((TypeError, ValueError)) as err:  # was RecursionError for all but the last two
        CASES[name]()
    assert len(str(err.value)) < 3 * QUOTE_LIMIT + 200


def test_nesting_within_the_limit_still_works() -> None:
    f = agrad.compile(lambda x: x)
    assert f(nest(2.0, MAX_NESTING - 1)) == nest(2.0, MAX_NESTING - 1)
    assert agrad.jacrev(lambda x: nest(x * 3.0, 50), argnums=0)(1.0) == nest(3.0, 50)


def test_cross_entropy_of_one_example_says_what_it_expects() -> None:
    z = [agrad.Value(0.5), agrad.Value(-1.0), agrad.Value(2.0)]
    with pytest.raises(
        TypeError, match=r"expects a batch: targets must be a list, got int: 2.*cross_entropy\(\[z\], \[t\]\)"
    ):
        agrad.losses.cross_entropy(z, 2)  # type: ignore[arg-type]  # was "object of type 'int' has no len()"
    with pytest.raises(TypeError, match=r"each a list of class scores; logits\[0\] is Value"):
        agrad.losses.cross_entropy(z, [2, 0, 1])  # type: ignore[arg-type]
    loss = agrad.losses.cross_entropy([z], [2])  # what the message asks for: -log softmax(z)[2]
    import math

    want = -(2.0 - math.log(math.exp(0.5) + math.exp(-1.0) + math.exp(2.0)))
    assert loss.data == pytest.approx(want, rel=1e-15)
