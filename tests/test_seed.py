"""The seed's example, unchanged, and ``python -m agrad``, which prints it worked out."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import needs_torch
from oracles import same, torch_grads

from agrad import Value


def test_seed_example_runs_unchanged() -> None:
    from agrad import Value  # the seed's own import line

    a = Value(2.0, label="a")
    b = Value(-3.0, label="b")
    c = Value(10.0, label="c")
    f = a * b + c
    f.backward()
    assert f.data == 4.0 and a.grad == -3.0 and b.grad == 2.0 and c.grad == 1.0


def test_seed_constructor_signature_and_attributes() -> None:
    a, b = Value(2.0), Value(-3.0)
    # Value(data, _children=(), _op="", label="") exactly as the seed builds nodes by hand.
    e = Value(a.data * b.data, (a, b), "*", label="e")
    assert (e.data, e.grad, e._op, e.label, e._prev) == (-6.0, 0.0, "*", "e", {a, b})
    e.backward()
    assert (a.grad, b.grad) == (-3.0, 2.0)  # the rule is looked up by the op, not stored per node
    leaf = Value(1)
    assert (leaf.data, leaf.grad, leaf._op, leaf.label, leaf._prev) == (1.0, 0.0, "", "", set())
    assert type(leaf.data) is float and type(leaf.grad) is float


@needs_torch
def test_seed_example_as_torch() -> None:
    f, (da, db, dc) = torch_grads(lambda a, b, c: a * b + c, 2.0, -3.0, 10.0)
    a, b, c = Value(2.0), Value(-3.0), Value(10.0)
    out = a * b + c
    out.backward()
    assert all(same(x, y) for x, y in [(out.data, f), (a.grad, da), (b.grad, db), (c.grad, dc)])


def test_python_dash_m_agrad_prints_the_worked_example() -> None:
    run = subprocess.run([sys.executable, "-m", "agrad"], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    a, b, c = 2.0, -3.0, 10.0  # the oracle: the seed's numbers and the hand derivatives of a*b + c
    assert f"f = a*b + c = {a} * {b} + {c} = {a * b + c}" in lines
    assert f"df/da = b = {b}" in lines
    assert f"df/db = a = {a}" in lines
    assert f"df/dc = 1 = {1.0}" in lines
    assert run.stderr == ""


def test_python_dash_m_agrad_rejects_an_unknown_command() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "agrad", "no-such-command"], capture_output=True, text=True, timeout=60, check=False
    )
    if run.returncode == 0:
        pytest.fail(f"an unknown command succeeded: {run.stdout!r}")
    assert "no-such-command" in run.stderr
