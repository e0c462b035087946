"""Bad input: a clear TypeError/ValueError naming what was received; domain edges are IEEE, not errors."""

from __future__ import annotations

import decimal
import math
import operator
from typing import Any

import pytest

import agrad
from agrad import Value

BAD_DATA = [
    pytest.param("abc", "str", id="str"),
    pytest.param(None, "NoneType", id="None"),
    pytest.param([1.0], "list", id="list"),
    pytest.param(1 + 2j, "complex", id="complex"),
    pytest.param(decimal.Decimal("1.5"), "Decimal", id="Decimal"),
    pytest.param(Value, "type", id="class"),
]


@pytest.mark.parametrize(("data", "type_name"), BAD_DATA)
def test_value_of_a_non_real_raises_type_error_naming_the_type(data: Any, type_name: str) -> None:
    with pytest.raises(TypeError, match=rf"\bgot {type_name}\b") as info:
        Value(data)
    assert "real number" in str(info.value)  # says what was expected, too


def test_value_of_a_value_is_refused_too() -> None:
    # A Value is not a number: wrapping it would silently cut the graph.
    with pytest.raises(TypeError, match="got Value"):
        Value(Value(1.0))  # type: ignore[arg-type]


OPERATORS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow]


@pytest.mark.parametrize("op", OPERATORS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("other", ["a", None, [1.0], 1j, decimal.Decimal(1), object()], ids=repr)
def test_unsupported_operand_gives_pythons_own_type_error(op: Any, other: Any) -> None:
    v = Value(2.0)
    # Python words it "unsupported operand type(s) for +: 'Value' and 'NoneType'", or, for str
    # and list, "can only concatenate str (not "Value") to str": either way it names Value.
    for args in ((v, other), (other, v)):
        with pytest.raises(TypeError, match="Value"):
            op(*args)
    dunder = f"__{op.__name__}__"
    assert getattr(v, dunder)(other) is NotImplemented
    assert getattr(v, dunder.replace("__", "__r", 1))(other) is NotImplemented


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sin", "cos", "softplus"])
@pytest.mark.parametrize("bad", ["abc", None, [1.0], 1j])
def test_module_functions_name_the_bad_type(name: str, bad: Any) -> None:
    with pytest.raises(TypeError, match=rf"agrad\.{name} expects a Value or a real number, got {type(bad).__name__}"):
        getattr(agrad, name)(bad)


@pytest.mark.parametrize("name", ["minimum", "maximum"])
def test_minimum_maximum_name_the_bad_type(name: str) -> None:
    for args in ((Value(1.0), "x"), ("x", 1.0), (None, None)):
        with pytest.raises(TypeError, match=rf"agrad\.{name} expects Values or real numbers, got (str|NoneType)"):
            getattr(agrad, name)(*args)
    with pytest.raises(TypeError, match="got list"):
        getattr(Value(1.0), name)([1.0])


def test_sum_and_dot_reject_bad_items_and_lengths() -> None:
    with pytest.raises(TypeError, match=r"agrad\.sum expects Values or real numbers, got str"):
        agrad.sum([Value(1.0), "a"])
    with pytest.raises(TypeError, match=r"agrad\.dot expects Values or real numbers, got NoneType"):
        agrad.dot([Value(1.0)], [None])
    with pytest.raises(ValueError, match="same length, got 2 and 1"):
        agrad.dot([Value(1.0), 2.0], [Value(3.0)])
    # a ReLU neuron's one node names itself, not the dot inside it
    with pytest.raises(TypeError, match=r"agrad\.dot_relu expects Values or real numbers, got NoneType"):
        agrad.dot_relu([Value(1.0)], [None])
    with pytest.raises(ValueError, match=r"^dot_relu needs two sequences of the same length, got 2 and 1"):
        agrad.dot_relu([Value(1.0), 2.0], [Value(3.0)])


@pytest.mark.parametrize("op", [operator.lt, operator.le, operator.gt, operator.ge], ids=lambda f: f.__name__)
def test_ordering_with_a_non_number_raises_type_error(op: Any) -> None:
    with pytest.raises(TypeError, match="got str"):
        op(Value(1.0), "a")
    with pytest.raises(TypeError):
        op("a", Value(1.0))


def test_equality_with_anything_is_identity_never_an_error() -> None:
    v = Value(1.0)
    assert (v == "a", v == None, v != [1.0]) == (False, False, True)  # noqa: E711


def test_backward_rejects_a_bad_gradient_and_a_bad_root() -> None:
    y = Value(2.0) * 3
    with pytest.raises(TypeError, match="backward's gradient must be a real number or a Value, got str"):
        y.backward("1")
    with pytest.raises(TypeError, match="backward expects a Value or a Tensor, got float"):
        agrad.backward(2.0)  # type: ignore[arg-type]


def test_register_hook_rejects_a_non_callable() -> None:
    with pytest.raises(TypeError, match="register_hook expects a callable, got int"):
        Value(1.0).register_hook(3)  # type: ignore[arg-type]


def test_a_hook_returning_a_non_number_is_named() -> None:
    x = Value(1.0)
    x.register_hook(lambda g: "oops")
    with pytest.raises(TypeError, match=r"returned by hook .*got str"):
        (x * 2).backward()


def test_no_op_raises_halfway_through_a_graph() -> None:
    """Every domain edge at once: the graph builds and backpropagates, with inf and nan flowing on."""
    z, m, big = Value(0.0), Value(-1.0), Value(1000.0)
    parts = [z.log(), m.log(), m.sqrt(), 1 / z, big.exp(), z**-1, m**0.5, z**z, 2**big, z / z, big.tanh()]
    out = agrad.sum(parts)
    out.backward()
    assert math.isnan(out.data)
    assert all(isinstance(v.grad, float) for v in (z, m, big))


def test_a_hand_built_node_with_an_unknown_op_is_named() -> None:
    a = Value(2.0)
    node = Value(2.0, (a,), "ReLU")  # micrograd's spelling; agrad's op is "relu"
    with pytest.raises(ValueError, match=r"no derivative rule for op 'ReLU'.*relu"):
        node.backward()


@pytest.mark.parametrize("op", ["dot", "dot_relu"])
@pytest.mark.parametrize("create_graph", [False, True])
def test_a_hand_built_dot_with_an_odd_number_of_operands_is_named(op: str, create_graph: bool) -> None:
    """dot's operands are (w1..wn, x1..xn): three of them have no pairing, and no gradient may come of a guess."""
    a, b = Value(2.0), Value(3.0)
    node = Value(6.0, (a, b, 1.0), op)
    with pytest.raises(ValueError, match=rf"an {op} node needs an even number of operands .* got 3"):
        node.backward(create_graph=create_graph)
    assert a.grad == 0.0 and b.grad == 0.0 and a._g is None


def test_a_hand_built_node_with_a_non_value_child_is_named() -> None:
    a = Value(2.0)
    node = Value(6.0, (a, 3), "*")  # an int constant: the ops themselves store floats
    with pytest.raises(TypeError, match=r"children must be Values or floats, got int"):
        node.backward()


@pytest.mark.parametrize("first", ["float", "int"])
def test_an_int_child_equal_to_a_float_constant_met_before_is_named(first: str) -> None:
    # 1 == 1.0 with the same hash: the sort's set test of reached operands must not let the int pass unnamed
    a = Value(2.0)
    with_float, with_int = Value(5.0, (a, 1.0), "*"), Value(5.0, (a, 1), "*")
    root = with_int + with_float if first == "float" else with_float + with_int
    with pytest.raises(TypeError, match=r"children must be Values or floats, got int 1"):
        root.backward()
