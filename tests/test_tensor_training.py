"""Training on Tensors: layers, Module's tree, optimizers, clipping and losses against PyTorch, step by step."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from conftest import needs_torch

np = pytest.importorskip("numpy")
pytest.importorskip("array_api_compat")

import agrad  # noqa: E402
from agrad import Tensor, Value  # noqa: E402
from agrad.losses import binary_cross_entropy_with_logits, cross_entropy, mse_loss  # noqa: E402
from agrad.nn import (  # noqa: E402
    MLP,
    Dropout,
    Embedding,
    Flatten,
    Linear,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from agrad.optim import SGD, Adam, AdamW  # noqa: E402
from agrad.tensor import linear as _linear  # noqa: E402

clip_grad_norm_ = agrad.nn.utils.clip_grad_norm_  # torch.nn.utils.clip_grad_norm_'s place


def _model(seed: int = 0, dtype: str = "float32") -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential(Linear(5, 7, seed=rng, dtype=dtype), Tanh(), Linear(7, 3, seed=rng, dtype=dtype))


def _torch_copy(model: Sequential, dtype: Any) -> Any:
    import torch

    theirs = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)).to(dtype)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    return theirs


# -- layers ---------------------------------------------------------------------------


def test_linear_init_is_pytorchs_default() -> None:
    layer = Linear(400, 300, seed=0)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.data, layer.bias.data  # type: ignore[union-attr]
    assert w.shape == (300, 400) and b.shape == (300,) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)  # U(-a, a) has std a / sqrt(3)
    assert np.array_equal(Linear(400, 300, seed=0).weight.data, w)  # seeded
    assert not np.array_equal(Linear(400, 300, seed=1).weight.data, w)
    np.random.seed(5)
    a = Linear(3, 2).weight.data
    np.random.seed(5)
    assert np.array_equal(Linear(3, 2).weight.data, a)  # seed=None: NumPy's global generator
    assert Linear(3, 2, bias=False, seed=0).bias is None
    assert [n for n, _ in Linear(3, 2, bias=False, seed=0).named_parameters()] == ["weight"]


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_and_gradients_match_torch(dtype: str) -> None:
    import torch

    model = _model(dtype=dtype)
    theirs = _torch_copy(model, getattr(torch, dtype))
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(dtype)
    y = np.array([0, 2, 1, 2])
    loss = cross_entropy(model(Tensor(x)), y)
    loss.backward()
    tloss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
    tloss.backward()
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert loss.item() == pytest.approx(tloss.item(), rel=tol)
    for (name, p), (tname, tp) in zip(model.named_parameters(), theirs.named_parameters()):
        assert name == tname and p.grad.dtype == np.dtype(dtype)
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=tol, atol=tol)


def test_module_tree_names_train_eval_and_zero_grad() -> None:
    class Net(Module):
        def __init__(self) -> None:
            self.scale = Tensor(np.ones(3), requires_grad=True)
            self.frozen = Tensor(np.ones(3))  # no requires_grad: not a parameter
            self.body = Sequential(Linear(3, 3, seed=0), Dropout(0.5, seed=0))
            self.heads = [Linear(3, 1, seed=1), Linear(3, 2, seed=2)]

        def forward(self, x: Tensor) -> Tensor:
            return self.body(x * self.scale)

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    heads = ["heads.0.weight", "heads.0.bias", "heads.1.weight", "heads.1.bias"]
    assert names == ["scale", "body.0.weight", "body.0.bias", *heads]
    assert net.training and net.body[1].training
    assert net.eval() is net and not net.body[1].training and not net.heads[1].training
    x = Tensor(np.ones((2, 3)))
    assert np.array_equal(net(x).data, net(x).data)  # eval: dropout off, deterministic
    net.train()
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters()[:3])
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_round_trip_through_a_file(tmp_path: Any) -> None:
    a, b = _model(0), _model(1)
    x = Tensor(np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32))
    agrad.save(a.state_dict(), tmp_path / "m.safetensors")
    b.load_state_dict(agrad.load(tmp_path / "m.safetensors"))
    assert np.array_equal(b(x).data, a(x).data)
    assert _transposed(b[0].weight.data) and b[0].bias.data.flags.c_contiguous  # row-major arrays, loaded as stored
    sd = a.state_dict()
    sd["0.weight"][:] = 0  # a copy: changing it leaves the model alone
    assert a.state_dict()["0.weight"].any()


def test_load_state_dict_is_all_or_nothing_and_names_the_bad_key() -> None:
    model = _model(0)
    before = model.state_dict()
    good = _model(1).state_dict()
    bad_shape = good | {"2.weight": np.zeros((7, 3), np.float32)}
    with pytest.raises(
        ValueError, match=r"state_dict\['2.weight'\] has shape \(7, 3\), but the model's parameter has \(3, 7\)"
    ):
        model.load_state_dict(bad_shape)
    with pytest.raises(ValueError, match=r"missing key '2.bias'"):
        model.load_state_dict({k: v for k, v in good.items() if k != "2.bias"})
    with pytest.raises(ValueError, match=r"unexpected key 'extra'"):
        model.load_state_dict(good | {"extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"state_dict\['0.bias'\] must be an array of real numbers"):
        model.load_state_dict(good | {"0.bias": np.array(["a"] * 7)})
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # nothing half-loaded
    model.load_state_dict({k: v.astype(np.float64) for k, v in good.items()})
    assert all(p.dtype == np.float32 for p in model.parameters())  # cast to the parameter's dtype


def test_scalar_modules_keep_working() -> None:
    model = MLP(2, [4, 1], seed=0)
    out = model([1.0, -2.0])
    out.backward()
    assert isinstance(out, Value) and len(model.parameters()) == 17
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())
    sd = model.state_dict()
    assert all(type(v) is float for v in sd.values())
    model.load_state_dict(sd)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("repeat", [1, 333])  # 6 values, and 1,998: NumPy's vector loop as well as its scalar tail
def test_relu_of_negative_numbers_is_plus_zero_as_torch(dtype: type, repeat: int) -> None:
    import torch

    x = np.tile(np.array([-math.inf, -1.0, -0.0, 0.0, math.nan, 2.0], dtype), repeat)
    got, want = ReLU()(Tensor(x)).data, torch.relu(torch.from_numpy(x)).numpy()
    assert np.array_equal(got, want, equal_nan=True) and np.array_equal(np.signbit(got), np.signbit(want))


def test_activations_flatten_embedding_dropout() -> None:
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    assert np.allclose(ReLU()(Tensor(x)).data, np.maximum(x, 0))
    assert np.allclose(Tanh()(Tensor(x)).data, np.tanh(x))
    assert np.allclose(Sigmoid()(Tensor(x)).data, 1 / (1 + np.exp(-x)))
    assert Flatten()(Tensor(np.zeros((2, 3, 4, 5)))).shape == (2, 60)
    assert Flatten(0, 1)(Tensor(np.zeros((2, 3, 4)))).shape == (6, 4)
    emb = Embedding(5, 3, seed=0)
    idx = np.array([[0, 4], [4, 4]])
    out = emb(idx)
    assert out.shape == (2, 2, 3) and np.array_equal(out.data, emb.weight.data[idx])
    out.sum().backward()
    assert emb.weight.grad[:, 0].tolist() == [1.0, 0.0, 0.0, 0.0, 3.0]  # a row used three times gets 3
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 5\), got 5"):
        emb([5])
    with pytest.raises(ValueError, match="integer indices"):
        emb(np.array([0.5]))
    drop = Dropout(0.25, seed=0)
    y = drop(Tensor(np.ones(100_000))).data
    assert set(np.unique(y).tolist()) == {0.0, 4 / 3} and (y == 0).mean() == pytest.approx(0.25, abs=0.01)
    with pytest.raises(ValueError, match="p"):
        Dropout(1.0)


def test_bad_layer_input() -> None:
    with pytest.raises(ValueError, match=r"last axis has 5 features, got \(2, 4\)"):
        Linear(5, 3, seed=0)(Tensor(np.zeros((2, 4))))
    with pytest.raises(TypeError, match="expects a Tensor"):
        Linear(5, 3, seed=0)(np.zeros((2, 5)))
    with pytest.raises(TypeError, match="must be a Module"):
        Sequential(Linear(2, 2, seed=0), np.tanh)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="in_features must be an int >= 1"):
        Linear(0, 3)


# -- optimizers against torch.optim ----------------------------------------------------------


def _race(make_ours: Callable[[list[Any]], Any], make_torch: Callable[[list[Any]], Any], dtype: str) -> None:
    import torch

    tdt = getattr(torch, dtype)
    ours_model, steps = _model(dtype=dtype), 8
    theirs_model = _torch_copy(ours_model, tdt)
    ours, theirs = make_ours(ours_model.parameters()), make_torch(list(theirs_model.parameters()))
    rng = np.random.default_rng(3)
    tol = 2e-6 if dtype == "float32" else 1e-13
    for _ in range(steps):
        x = rng.standard_normal((6, 5)).astype(dtype)
        y = rng.integers(0, 3, 6)
        ours.zero_grad()
        cross_entropy(ours_model(Tensor(x)), y).backward()
        theirs.zero_grad()
        torch.nn.functional.cross_entropy(theirs_model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        ours.step()
        theirs.step()
        for p, tp in zip(ours_model.parameters(), theirs_model.parameters()):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=tol, atol=tol)
    assert not np.allclose(ours_model.parameters()[0].data, _model(dtype=dtype).parameters()[0].data)
    for layer in (ours_model[0], ours_model[2]):  # the weights keep their layout through backward and the updates
        assert _transposed(layer.weight.data) and _transposed(layer.weight.grad)


def _transposed(a: np.ndarray) -> bool:
    """Stored as nn.Linear stores a weight: (out, in) seen over an (in, out) row-major array."""
    return a.ndim == 2 and a.T.flags.c_contiguous and not a.flags.c_contiguous


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        ("SGD", {"lr": 0.1}),
        ("SGD", {"lr": 0.1, "momentum": 0.9}),
        ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
        ("SGD", {"lr": 0.1, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}),
        ("Adam", {"lr": 0.01}),
        ("Adam", {"lr": 0.01, "betas": (0.3, 0.5), "weight_decay": 0.1}),
        ("AdamW", {"lr": 0.01}),
        ("AdamW", {"lr": 0.02, "weight_decay": 0.3, "betas": (0.8, 0.9), "eps": 1e-6}),
    ],
)
def test_optimizers_match_torch_on_tensors(cls: str, kw: dict[str, Any], dtype: str) -> None:
    import torch

    ours = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}[cls]
    _race(lambda p: ours(p, **kw), lambda p: getattr(torch.optim, cls)(p, **kw), dtype)


@needs_torch
def test_a_tensor_without_grad_is_skipped_as_torch_skips_it() -> None:
    import torch

    a, b = Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    ta, tb = (torch.ones(3, dtype=torch.float64, requires_grad=True) for _ in range(2))
    ours, theirs = Adam([a, b], lr=0.1), torch.optim.Adam([ta, tb], lr=0.1)
    for k in range(4):
        a.grad = np.array([1.0, -2.0, 3.0]) * (k + 1)
        ta.grad = torch.from_numpy(a.grad.copy())
        b.grad = None if k < 2 else np.array([0.5, 0.5, -1.0])
        tb.grad = None if b.grad is None else torch.from_numpy(b.grad.copy())
        ours.step()
        theirs.step()
        np.testing.assert_allclose(a.data, ta.detach().numpy(), rtol=1e-14)
        np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=1e-14)
    assert ours.steps == [4, 2]


@pytest.mark.parametrize("kw", [{}, {"momentum": 0.9}, {"weight_decay": 0.1}])
def test_sgd_writes_neither_the_users_array_nor_the_gradient(kw: dict[str, Any]) -> None:
    # the first update makes a new array (its temporary reused): arrays the user holds keep their values
    start, grad = np.array([1.0, 2.0, 3.0], np.float32), np.array([0.5, -1.0, 2.0], np.float32)
    w = Tensor(start, requires_grad=True)
    held = w.data
    w.grad = grad
    held_grad = w.grad
    opt = SGD([w], lr=0.1, **kw)
    opt.step()
    assert np.array_equal(held, start) and np.array_equal(held_grad, grad)
    wd = kw.get("weight_decay", 0.0)
    np.testing.assert_allclose(w.data, start - 0.1 * (grad + wd * start), rtol=1e-6)  # p - lr (g + wd p), first step
    assert w.data.dtype == np.float32 and w.data is not held
    made = w.data  # the optimizer's own array: from the second step on it is updated in place, as torch does
    opt.step()
    assert w.data is made and np.array_equal(held, start) and np.array_equal(held_grad, grad)


@pytest.mark.parametrize(("cls", "kw"), [(Adam, {}), (AdamW, {"weight_decay": 0.1}), (Adam, {"betas": (0.3, 0.5)})])
def test_adam_updates_its_own_arrays_in_place_and_never_the_users(cls: Any, kw: dict[str, Any]) -> None:
    start, grad = np.array([1.0, 2.0, 3.0], np.float32), np.array([0.5, -1.0, 2.0], np.float32)
    w = Tensor(start, requires_grad=True)
    w.grad = grad
    opt = cls([w], lr=0.1, **kw)
    opt.step()
    made, m, v = w.data, opt.m[0], opt.v[0]
    opt.step()  # the parameter, m and v are the optimizer's arrays now: written in place
    assert w.data is made and opt.m[0] is m and opt.v[0] is v
    assert np.array_equal(start, [1.0, 2.0, 3.0]) and np.array_equal(grad, [0.5, -1.0, 2.0])


def test_optimizer_refuses_frozen_tensors_and_bad_grads() -> None:
    with pytest.raises(ValueError, match="requires_grad=False"):
        SGD([Tensor(np.ones(2))])
    w = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        w.grad = np.ones(3)  # refused where it is set, as torch does
    w._grad = np.ones(3)  # past the setter: the optimizer still refuses it
    before = w.data.copy()
    with pytest.raises(ValueError, match=r"params\[0\].grad must have the Tensor's shape \(2,\)"):
        Adam([w]).step()
    assert np.array_equal(w.data, before)


@needs_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type: float, max_norm: float) -> None:
    import torch

    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s) for s in [(3, 4), (4,), (2, 2)]]
    ps = [Tensor(np.zeros(g.shape), requires_grad=True) for g in grads]
    tps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, tp, g in zip(ps, tps, grads):
        p.grad, tp.grad = g.copy(), torch.from_numpy(g.copy())
    total = clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    assert total == pytest.approx(float(ttotal), rel=1e-12)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_nonfinite() -> None:
    w = Tensor(np.zeros(2), requires_grad=True)
    w.grad = np.array([np.inf, 1.0])
    with pytest.raises(ValueError, match="total norm of the gradients is inf"):
        clip_grad_norm_([w], 1.0, error_if_nonfinite=True)
    assert clip_grad_norm_([w], 1.0) == math.inf


# -- losses against torch.nn.functional ---------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_match_torch(reduction: str) -> None:
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 4)) * 30  # large logits: the stable forms must hold
    y = np.array([0, 3, 1, 3, 2])
    t = rng.random((5, 4))
    cases = [
        (cross_entropy, F.cross_entropy, y, torch.from_numpy(y)),
        (mse_loss, F.mse_loss, t, torch.from_numpy(t)),
        (binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, t, torch.from_numpy(t)),
    ]
    for ours, theirs, target, ttarget in cases:
        x = Tensor(z, requires_grad=True)
        tx = torch.tensor(z, requires_grad=True)
        out, tout = ours(x, target, reduction=reduction), theirs(tx, ttarget, reduction=reduction)
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12)
        seed = rng.standard_normal(out.shape)
        out.backward(seed if out.shape else None)
        tout.backward(torch.from_numpy(seed) if out.shape else None)
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_scalar_losses_take_a_reduction() -> None:
    zs = [[Value(0.0), Value(1.0)], [Value(2.0), Value(-1.0)]]
    mean, total = cross_entropy(zs, [1, 0]), cross_entropy(zs, [1, 0], reduction="sum")
    each = cross_entropy(zs, [1, 0], reduction="none")
    assert total.data == pytest.approx(2 * mean.data) and sum(e.data for e in each) == pytest.approx(total.data)
    assert mse_loss([3.0, 1.0], [1.0, 2.0], reduction="sum") == 5.0
    assert [round(v, 6) for v in binary_cross_entropy_with_logits([0.0, 0.0], [1.0, 0.0], reduction="none")] == [
        0.693147,
        0.693147,
    ]


def test_bad_loss_input_is_one_clear_value_error() -> None:
    z = Tensor(np.zeros((3, 4)), requires_grad=True)
    for targets, message in [
        (np.array([0, 4, 1]), r"targets\[1\] must be a class index in 0..3, got 4"),
        (np.array([0, -1, 1]), r"targets\[1\] must be a class index in 0..3, got -1"),
        (np.array([0, 1]), r"logits for 3 examples but targets of shape \(2,\)"),
        (np.array([0.0, 1.0, 2.0]), "integer class indices"),
    ]:
        with pytest.raises(ValueError, match=message):
            cross_entropy(z, targets)
    with pytest.raises(ValueError, match=r"logits must be \(N, C\)"):
        cross_entropy(Tensor(np.zeros(4)), np.array([0]))
    with pytest.raises(ValueError, match="reduction must be"):
        cross_entropy(z, np.array([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match=r"preds have shape \(3, 4\) but targets \(3,\)"):
        mse_loss(z, np.zeros(3))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
        binary_cross_entropy_with_logits(z, np.full((3, 4), 2.0))


def test_a_leaf_gradient_aliases_nothing_the_user_or_another_leaf_holds() -> None:
    # the walk hands a leaf the rule's own new array uncopied; every other array it copies
    a, b = Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward()  # add's rule gives g to both: shared, so copied
    assert a.grad is not b.grad
    a.grad += 1.0
    assert np.array_equal(b.grad, np.ones(3))
    seen: list[np.ndarray] = []
    w = Tensor(np.full((2, 3), 2.0), requires_grad=True)
    w.register_hook(lambda g: seen.append(g))  # the hook keeps what it was shown: w.grad must be another array
    _linear(Tensor(np.ones((4, 3))), w).sum().backward()
    assert w.grad is not seen[0] and np.array_equal(w.grad, np.full((2, 3), 4.0))
    seed = np.ones((2, 3))
    v = Tensor(np.zeros((2, 3)), requires_grad=True)
    (v * 3.0).backward(seed)
    v.grad += 1.0  # v.grad = 3 * seed, made by the rule; the seed itself is untouched
    assert np.array_equal(seed, np.ones((2, 3))) and np.array_equal(v.grad, np.full((2, 3), 4.0))
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    x.reshape((3, 2)).backward(np.ones((3, 2)))  # the share is a view of the seed: copied
    assert x.grad.base is None


def _first_layer_backward(w: Tensor) -> int:
    """The peak bytes traced during backward of sum(x @ w.T) with x (8, 784) ones; w.grad is then 8 everywhere."""
    import tracemalloc

    loss = _linear(Tensor(np.ones((8, 784), np.float32)), w).sum()
    tracemalloc.start()
    loss.backward()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert w.grad is not None and np.array_equal(w.grad, np.full((256, 784), 8.0, np.float32))
    return int(peak)


def test_backward_of_a_first_layer_holds_its_weight_gradient_once() -> None:
    w = Tensor(np.zeros((256, 784), np.float32), requires_grad=True)
    assert _first_layer_backward(w) < 1.5 * w.data.nbytes  # one gradient array, not the rule's and a copy of it


def test_a_weight_stored_transposed_gets_its_gradient_so_stored_and_once() -> None:
    # nn.Linear's layout: the gradient has it too (an update mixing layouts is strided), made once, not copied
    w = Tensor(np.zeros((784, 256), np.float32).T, requires_grad=True)
    assert _first_layer_backward(w) < 1.5 * w.data.nbytes and _transposed(w.grad)
    h = Tensor(np.ones((8, 784), np.float32), requires_grad=True)  # a hidden layer's input: linear's own rule
    (_linear(h, w) * 2.0).sum().backward()
    assert np.array_equal(w.grad, np.full((256, 784), 24.0, np.float32)) and _transposed(w.grad)
