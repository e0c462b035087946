"""agrad.nn against micrograd (same weights, same floats), PyTorch float64 and finite differences."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from conftest import needs_torch
from oracles import central_diff

import agrad
from agrad import Value
from agrad.nn import MLP, Layer, Module, Neuron


def _points(n: int, seed: int = 0) -> list[list[float]]:
    rng = random.Random(seed)
    return [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(n)]


# -- structure ------------------------------------------------------------------


def test_neuron_is_one_dot_node_with_the_bias_inside() -> None:
    n = Neuron(3, nonlin=None, seed=0)
    out = n([1.0, 2.0, 3.0])
    assert out._op == "dot"
    assert out._children == (n.b, *n.w, 1.0, 1.0, 2.0, 3.0)
    assert len(agrad.toposort(out)) == 4 + 1  # b, w1..w3, the dot: no chain of additions
    n.nonlin = "tanh"
    out = n([1.0, 2.0, 3.0])
    assert out._op == "tanh" and out._children[0]._op == "dot"  # type: ignore[union-attr]


POINTS = ([1.0, 2.0, 3.0], [-1.0, -2.0, -3.0], [0.0, 0.0, 0.0], [math.nan, 1.0, 2.0], [math.inf, 1.0, 1.0])


def _neuron_grads(n: Neuron, x: list[float]) -> tuple[float, list[float]]:
    """A ReLU neuron's output and d/d(w1..wn, b, x1..xn), by agrad's one node."""
    xs = [Value(v) for v in x]
    out = n(xs)
    assert out._op == "dot_relu" and out._children == (n.b, *n.w, 1.0, *xs)
    assert len(agrad.toposort(out)) == len(n.w) + 1 + len(xs) + 1  # w, b, the inputs, the neuron: one node
    out.backward()
    grads = [v.grad for v in (*n.w, n.b, *xs)]
    n.zero_grad()
    return out.data, grads


def test_a_relu_neuron_is_one_node_with_the_closed_form_gradients() -> None:
    """relu(z), z = b + w·x: d/dw_i = s x_i, d/db = s, d/dx_i = s w_i, with s = relu'(z): 1 above 0 and at
    nan (its gradient passes, as relu's does), 0 at and below 0. Open and closed, z = 0, nan and inf inputs."""
    n = Neuron(3, seed=0)
    w, b = [p.data for p in n.w], n.b.data
    for x in POINTS:
        z = b
        for wi, xi in zip(w, x):
            z += wi * xi
        s = 0.0 if z <= 0.0 else 1.0
        out, grads = _neuron_grads(n, x)
        assert _same(out, z if s else 0.0)
        assert all(map(_same, grads, [s * xi for xi in x] + [s] + [s * wi for wi in w])), x


@needs_torch
def test_a_relu_neuron_matches_torch() -> None:
    import torch

    n = Neuron(3, seed=4)
    for x in POINTS:
        tw = torch.tensor([p.data for p in n.w], dtype=torch.float64, requires_grad=True)
        tb = torch.tensor(n.b.data, dtype=torch.float64, requires_grad=True)
        tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        t = torch.relu(tb + torch.dot(tw, tx))
        t.backward()
        assert tw.grad is not None and tb.grad is not None and tx.grad is not None
        want = [*tw.grad.tolist(), tb.grad.item(), *tx.grad.tolist()]
        out, grads = _neuron_grads(n, x)
        assert _same(out, t.item()) and all(map(_same, grads, want)), (x, grads, want)


@pytest.mark.parametrize("build", ["Neuron", "agrad.dot_relu"])
def test_anomaly_mode_still_checks_a_relu_neurons_pre_activation(build: str) -> None:
    """relu(-inf) = 0 is finite: in one node, an overflowed z would pass detect_anomaly without a word."""
    n = Neuron(2, seed=0)
    n.w[0].data, n.w[1].data = -1e308, -1e308
    x = [1e308, 1e308]  # z = -inf: the overflow anomaly mode is there to report
    with agrad.detect_anomaly(), pytest.raises(FloatingPointError, match="forward of 'dot' gave -inf"):
        n(x) if build == "Neuron" else agrad.dot_relu((n.b, *n.w), (1.0, *x))
    assert n(x).data == 0.0 and n(x)._op == "dot_relu"  # outside the mode: one node, as ever


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


def test_neuron_value_matches_hand_calculation() -> None:
    n = Neuron(2, nonlin=None, seed=0)
    n.w[0].data, n.w[1].data, n.b.data = 0.5, -2.0, 0.25
    assert n([4.0, 1.0]).data == 0.5 * 4.0 - 2.0 * 1.0 + 0.25
    n.nonlin = "relu"
    n.w[1].data = 3.0
    assert n([-4.0, 0.0]).data == 0.0


@pytest.mark.parametrize(("nonlin", "fn"), [("tanh", math.tanh), ("sigmoid", lambda z: 1 / (1 + math.exp(-z)))])
def test_other_activations(nonlin: str, fn: object) -> None:
    n = Neuron(2, nonlin=nonlin, seed=1)
    x = [0.3, -0.8]
    z = n.b.data + n.w[0].data * x[0] + n.w[1].data * x[1]
    assert n(x).data == pytest.approx(fn(z), rel=1e-15)  # type: ignore[operator]


def test_micrograd_style_nonlin_flags() -> None:
    assert Neuron(2, nonlin=True).nonlin == "relu"
    assert Neuron(2, nonlin=False).nonlin is None
    with pytest.raises(ValueError, match="nonlin"):
        Neuron(2, nonlin="gelu")


def test_one_output_layer_returns_a_value_and_wider_layers_a_list() -> None:
    assert isinstance(Layer(2, 1, seed=0)([1.0, 2.0]), Value)
    out = Layer(2, 3, seed=0)([1.0, 2.0])
    assert isinstance(out, list) and len(out) == 3


def test_mlp_last_layer_is_linear_and_hidden_layers_relu() -> None:
    model = MLP(2, [16, 16, 1], seed=0)
    assert [n.nonlin for n in model.layers[0].neurons] == ["relu"] * 16
    assert [n.nonlin for n in model.layers[2].neurons] == [None]
    outs = [model(x).data for x in _points(50)]
    assert min(outs) < 0 < max(outs)  # a linear output, not clipped by a ReLU
    assert len(model.parameters()) == 3 * 16 + 17 * 16 + 17 == 337


def test_repr_names_the_hidden_activation() -> None:
    assert repr(MLP(2, [3, 1], nonlin="tanh", seed=0)) == "MLP(2, [3, 1], nonlin='tanh')"
    assert repr(MLP(2, [1], nonlin="tanh", seed=0)) == "MLP(2, [1], nonlin='tanh')"  # said 'relu' with no hidden layer
    assert repr(MLP(2, [1], nonlin=False, seed=0)) == "MLP(2, [1], nonlin=None)"


def test_hidden_layer_of_one_feeds_the_next_layer() -> None:
    model = MLP(2, [1, 2], seed=0)
    assert len(model([0.5, 0.5])) == 2


def test_named_parameters_names_and_order() -> None:
    model = MLP(2, [3, 1], seed=0)
    names = [name for name, _ in model.named_parameters()]
    assert names[:4] == [
        "layers.0.neurons.0.w.0",
        "layers.0.neurons.0.w.1",
        "layers.0.neurons.0.b",
        "layers.0.neurons.1.w.0",
    ]
    assert names[-1] == "layers.1.neurons.0.b"
    assert len(set(names)) == len(names) == 13
    for m in (model, model.layers[0], model.layers[0].neurons[1]):  # parameters() skips the names, same order
        named, plain = [p for _, p in m.named_parameters()], m.parameters()
        assert len(named) == len(plain) and all(a is b for a, b in zip(named, plain))


def test_bad_sizes_and_inputs() -> None:
    with pytest.raises(ValueError, match="nin"):
        MLP(0, [2])
    with pytest.raises(ValueError, match="nouts"):
        MLP(2, [])
    with pytest.raises(ValueError, match="layer size"):
        MLP(2, [4, -1])
    with pytest.raises(ValueError, match="expects 2 inputs, got 3"):
        MLP(2, [4, 1], seed=0)([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="str"):
        MLP(2, [4, 1], seed=0)([1.0, "2"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="seed"):
        MLP(2, [1], seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"sys\.maxsize"):
        Neuron(10**400)  # refused at once, not an attempt to build that many weights
    with pytest.raises(ValueError, match="nout"):
        Layer(2, 2.0)  # type: ignore[arg-type]


def test_int_inputs_become_floats_in_the_graph() -> None:
    out = Neuron(2, nonlin=None, seed=0)([1, 2])
    assert all(type(c) is float or isinstance(c, Value) for c in out._children)


# -- initialisation ---------------------------------------------------------------


def test_seeded_init_is_reproducible_and_private() -> None:
    state = random.getstate()
    a, b, c = MLP(2, [8, 1], seed=7), MLP(2, [8, 1], seed=7), MLP(2, [8, 1], seed=8)
    assert random.getstate() == state  # a seed uses its own generator
    assert a.state_dict() == b.state_dict() != c.state_dict()
    assert all(-1 <= p.data <= 1 for p in a.parameters())
    assert all(n.b.data == 0.0 for layer in a.layers for n in layer.neurons)


def test_a_refused_build_draws_nothing() -> None:
    """A bad argument leaves the generator alone, so the next model gets the weights it would have had."""
    random.seed(5)
    want = MLP(2, [3, 1]).state_dict()
    random.seed(5)
    rng = random.Random(5)
    for build in (lambda: Neuron(2, nonlin="gelu"), lambda: Layer(2, 3, nonlin="gelu", seed=rng)):
        with pytest.raises(ValueError, match="nonlin"):
            build()
    assert MLP(2, [3, 1]).state_dict() == want == MLP(2, [3, 1], seed=rng).state_dict()


def test_a_shared_random_generator_is_advanced() -> None:
    rng = random.Random(3)
    assert Neuron(2, seed=rng).w[0].data != Neuron(2, seed=rng).w[0].data


# -- against micrograd ------------------------------------------------------------


def test_same_global_seed_gives_micrograds_weights_and_outputs_bit_for_bit() -> None:
    mg = pytest.importorskip("micrograd.nn")
    from micrograd.engine import Value as MgValue

    random.seed(1337)
    theirs = mg.MLP(2, [16, 16, 1])
    random.seed(1337)
    ours = MLP(2, [16, 16, 1])
    assert [p.data for p in ours.parameters()] == [p.data for p in theirs.parameters()]
    rng = random.Random(5)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        p.data = q.data = rng.uniform(-1, 1)  # non-zero biases too
    for x in _points(20):
        assert ours(x).data == theirs([MgValue(v) for v in x]).data


def test_gradients_match_micrograd_on_its_demo_loss() -> None:
    mg = pytest.importorskip("micrograd.nn")
    from micrograd.engine import Value as MgValue

    X = _points(30, seed=2)
    y = [1 if a * b > 0 else -1 for a, b in X]
    random.seed(0)
    theirs = mg.MLP(2, [8, 8, 1])
    random.seed(0)
    ours = MLP(2, [8, 8, 1])

    scores = [theirs([MgValue(v) for v in x]) for x in X]
    mloss = sum((1 + -yi * s).relu() for yi, s in zip(y, scores)) * (1.0 / len(X))
    mloss = mloss + 1e-4 * sum(p * p for p in theirs.parameters())
    mloss.backward()

    loss = agrad.losses.hinge_loss([ours(x) for x in X], y) + agrad.losses.l2_penalty(ours.parameters(), 1e-4)
    loss.backward()
    assert loss.data == pytest.approx(mloss.data, rel=1e-14)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        assert p.grad == pytest.approx(q.grad, rel=1e-12, abs=1e-15)


# -- gradients against independent oracles -------------------------------------------


@needs_torch
def test_mlp_forward_and_gradients_match_torch_float64() -> None:
    import torch

    model = MLP(3, [5, 4, 2], nonlin="tanh", seed=11)
    x = [0.7, -1.3, 0.2]
    out = model(x)
    (out[0] * 2.0 + out[1] * -0.5).backward()

    h = torch.tensor(x, dtype=torch.float64)
    weights = []
    for i, layer in enumerate(model.layers):
        W = torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        weights.append((W, b))
        h = W @ h + b
        if i < len(model.layers) - 1:
            h = torch.tanh(h)
    (h[0] * 2.0 + h[1] * -0.5).backward()
    assert [v.data for v in out] == pytest.approx(h.tolist(), rel=1e-14)
    for layer, (W, b) in zip(model.layers, weights):
        for n, wrow, brow in zip(layer.neurons, W.grad.tolist(), b.grad.tolist()):  # type: ignore[union-attr]
            assert [w.grad for w in n.w] == pytest.approx(wrow, rel=1e-12, abs=1e-15)
            assert n.b.grad == pytest.approx(brow, rel=1e-12, abs=1e-15)


def test_gradients_match_central_differences() -> None:
    model = MLP(2, [3, 1], nonlin="tanh", seed=4)
    params = model.parameters()
    x = [0.4, -0.9]

    def f(*vals: float) -> float:
        for p, v in zip(params, vals):
            p.data = v
        return float(model(x).data ** 2)

    start = [p.data for p in params]
    out = model(x)
    (out * out).backward()
    grads = [p.grad for p in params]
    for i in range(len(params)):
        assert grads[i] == pytest.approx(central_diff(f, start, i), rel=1e-6, abs=1e-9)


def test_inputs_that_are_values_get_gradients() -> None:
    n = Neuron(2, nonlin=None, seed=0)
    x = [Value(1.0), Value(2.0)]
    n(x).backward()
    assert [v.grad for v in x] == [w.data for w in n.w]


def test_zero_grad_and_no_grad() -> None:
    model = MLP(2, [4, 1], seed=0)
    model([1.0, 1.0]).backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())
    with agrad.no_grad():
        out = model([1.0, 1.0])
    assert out._children == ()


# -- state_dict ----------------------------------------------------------------------


def test_state_dict_round_trip() -> None:
    a, b = MLP(2, [4, 2], seed=1), MLP(2, [4, 2], seed=2)
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict()
    assert [v.data for v in b([0.3, 0.1])] == [v.data for v in a([0.3, 0.1])]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("layers.1.neurons.0.b"), "missing key 'layers.1.neurons.0.b'"),
        (lambda s: s.update({"layers.9.w.0": 1.0}), "unexpected key 'layers.9.w.0'"),
        (
            lambda s: s.update({"layers.0.neurons.2.w.1": "0.5"}),
            r"state_dict\['layers.0.neurons.2.w.1'\] must be a real",
        ),
        (lambda s: s.update({"layers.0.neurons.0.b": True}), r"state_dict\['layers.0.neurons.0.b'\] must be a real"),
        (lambda s: s.update({"layers.1.neurons.0.w.0": [1.0]}), "must be a real number, got list"),
        (lambda s: s.update({"layers.1.neurons.0.b": 10**400}), r"neurons.0.b'\] must be .* fits a float"),
    ],
)
def test_a_bad_state_dict_names_the_key_and_changes_nothing(edit: object, message: str) -> None:
    model = MLP(2, [4, 1], seed=3)
    before = model.state_dict()
    bad = {k: v + 1.0 for k, v in before.items()}  # every value differs, so any partial load would show
    edit(bad)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        model.load_state_dict(bad)
    assert model.state_dict() == before


def test_a_state_dict_for_another_shape_reports_the_sizes() -> None:
    small, big = MLP(2, [4, 1], seed=0), MLP(2, [8, 1], seed=0)
    before = small.state_dict()
    with pytest.raises(ValueError, match=r"unexpected keys .* \(and \d+ more\).*has 33 entries, the model 17"):
        small.load_state_dict(big.state_dict())
    assert small.state_dict() == before
    with pytest.raises(TypeError, match="mapping"):
        small.load_state_dict([1.0, 2.0])  # type: ignore[arg-type]


def test_a_custom_module() -> None:
    class Affine(Module):
        def __init__(self) -> None:
            self.a, self.b = Value(2.0), Value(1.0)

        def named_parameters(self) -> list[tuple[str, Value]]:
            return [("a", self.a), ("b", self.b)]

    m = Affine()
    assert m.state_dict() == {"a": 2.0, "b": 1.0}
    m.load_state_dict({"a": 3, "b": 0.5})
    assert (m.a.data, m.b.data) == (3.0, 0.5) and type(m.a.data) is float
    assert Module().parameters() == []


def test_forward_mode_through_a_model_matches_reverse_mode() -> None:
    model = MLP(2, [4, 3, 1], nonlin="tanh", seed=9)

    def f(a: float, b: float) -> Value:
        return model([a, b])  # type: ignore[no-any-return]

    fwd = agrad.jacfwd(f)(0.3, -0.4)
    rev = agrad.grad(f, argnums=(0, 1))(0.3, -0.4)
    assert [float(v) for v in fwd] == pytest.approx([float(v) for v in rev], rel=1e-13)


def _demo(value_cls: Any, mlp_cls: Any, X: list[list[float]], y: list[int], steps: int) -> list[float]:
    """micrograd's demo notebook's training loop, verbatim but for the two classes it is given."""
    random.seed(1337)
    model = mlp_cls(2, [16, 16, 1])
    out = []
    for k in range(steps):
        inputs = [list(map(value_cls, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        alpha = 1e-4
        reg_loss = alpha * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / steps
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        out.append(total_loss.data)
    return out


def test_micrograds_demo_code_runs_unchanged_and_follows_micrograd() -> None:
    mg = pytest.importorskip("micrograd.nn")
    from micrograd.engine import Value as MgValue

    X, labels = agrad.datasets.make_moons(40, noise=0.1, seed=1)
    y = [2 * c - 1 for c in labels]
    ours = _demo(Value, MLP, X, y, steps=6)
    theirs = _demo(MgValue, mg.MLP, X, y, steps=6)
    assert ours == pytest.approx(theirs, rel=1e-12)
    assert ours[-1] < ours[0]
