# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tensors
#
# So far every number in agrad was its own `Value`, with its own node in the graph.
# That is the clearest way to see backpropagation, and the slowest way to run it:
# a layer of 64 neurons on 32 examples is thousands of nodes, each a Python object.
# Every engine after micrograd (MiniTorch, tinygrad, HIPS/autograd, PyTorch, JAX)
# takes the next step: a node holds a whole **array**, and one op does the work of
# thousands of Values in one call to NumPy.
#
# The surprise is how little has to change. This notebook shows:
#
# 1. From Values to Tensors: the same rule table serves both.
# 2. Broadcasting, and why a gradient must be summed back to its operand's shape.
# 3. The matmul rule derived by hand and checked against a grid of Values.
# 4. Softmax cross-entropy: its gradient is softmax minus one-hot.
# 5. Training on real handwritten digits, with pictures of what the model learned and where it fails.
# 6. The speed of one Tensor step against the scalar engine on the same model.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import agrad
from agrad import Tensor, Value

# %matplotlib inline
plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## 1. Same rules, bigger numbers
#
# A Tensor is made like a PyTorch tensor, and `backward()` fills `.grad` with an
# array of the same shape:

# %%
x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
w = Tensor(np.ones((2, 3)), requires_grad=True)
loss = agrad.tanh(x @ w + 1.0).sum()
loss.backward()
print(x.grad)
print(w.grad.shape)

# %% [markdown]
# Where does the derivative of `*` come from? From the very same row of the rule
# table that `Value` uses. The rule for a product is $\bar{x} = g\,y$,
# $\bar{y} = g\,x$; written with `*`, it does not care whether `g`, `x` and `y`
# are floats or arrays:

# %%
rule = agrad.RULES["*"]
print(rule.vjp(1.0, 6.0, 2.0, 3.0))  # floats: the scalar engine's call
print(rule.vjp(np.ones(3), None, np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])))  # arrays: a Tensor's

# %% [markdown]
# So `exp`, `tanh`, `+`, `*` and the rest needed no new calculus. What *is* new
# comes from shapes: broadcasting, matrix products and reductions.
#
# ## 2. Broadcasting, and summing the gradient back
#
# Adding a bias `b` of shape `(3,)` to a batch `h` of shape `(4, 3)` *broadcasts*:
# NumPy acts as if `b` were copied into each of the 4 rows. Each copy feeds one
# row of the result, so each copy receives that row's gradient, and `b`, which is
# all of those copies at once, receives their **sum**. A gradient must always
# have its operand's shape; for a broadcast operand that means summing over the
# axes broadcasting added or stretched.

# %%
h = Tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
b = Tensor(np.zeros(3), requires_grad=True)
out = h + b
g = np.arange(12.0).reshape(4, 3)  # some gradient arriving at out
out.backward(g)
print("b.grad      ", b.grad)
print("g summed    ", g.sum(axis=0))
print("h.grad shape", h.grad.shape)

# %% [markdown]
# agrad does this in **one place**, as tinygrad and HIPS/autograd do: after each
# rule runs, the walk sums the rule's gradient down to its operand's shape
# (`agrad.tensor.sum_to`). The rules themselves stay the scalar formulas.

# %%
from agrad.tensor import sum_to

print(sum_to(np.ones((4, 3)), np.zeros(3)))  # each of the 3 entries collects 4 ones
print(sum_to(np.ones((4, 3)), np.zeros((4, 1))).ravel())  # a stretched size-1 axis sums too

# %% [markdown]
# ## 3. The matmul rule, by hand
#
# For $C = A B$ with $A$ of shape $(n, k)$ and $B$ of shape $(k, m)$, each output is
# $C_{ij} = \sum_p A_{ip} B_{pj}$. Given the gradient $G = \partial L / \partial C$,
#
# $$\frac{\partial L}{\partial A_{ip}} = \sum_j G_{ij} \frac{\partial C_{ij}}{\partial A_{ip}} = \sum_j G_{ij} B_{pj}
# = (G B^\top)_{ip}, \qquad \frac{\partial L}{\partial B_{pj}} = \sum_i G_{ij} A_{ip} = (A^\top G)_{pj}.$$
#
# So $\bar{A} = G B^\top$ and $\bar{B} = A^\top G$: each has its operand's shape, as it
# must. Let us check that against the engine we trust, one `Value` per number:

# %%
rng = np.random.default_rng(0)
A, B = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
G = rng.standard_normal((2, 4))

# the same product as a grid of Values: 8 outputs, each a sum of 3 products
Av = [[Value(a) for a in row] for row in A]
Bv = [[Value(b) for b in row] for row in B]
Cv = [[agrad.sum([Av[i][p] * Bv[p][j] for p in range(3)]) for j in range(4)] for i in range(2)]
L = agrad.sum([Cv[i][j] * G[i, j] for i in range(2) for j in range(4)])
L.backward()
grid_A = np.array([[v.grad for v in row] for row in Av])
grid_B = np.array([[v.grad for v in row] for row in Bv])

At, Bt = Tensor(A, requires_grad=True), Tensor(B, requires_grad=True)
(At @ Bt).backward(G)
print(
    "A.grad from Tensors == from Values:", np.allclose(At.grad, grid_A), "   == G @ B.T:", np.allclose(At.grad, G @ B.T)
)
print(
    "B.grad from Tensors == from Values:", np.allclose(Bt.grad, grid_B), "   == A.T @ G:", np.allclose(Bt.grad, A.T @ G)
)

# %% [markdown]
# ## 4. Softmax cross-entropy: softmax minus one-hot
#
# A classifier outputs scores $z$ (logits) for $C$ classes; softmax turns them into
# probabilities $p_i = e^{z_i} / \sum_j e^{z_j}$, and the loss for true class $t$ is
# $L = -\log p_t = -z_t + \log \sum_j e^{z_j}$. Differentiating,
#
# $$\frac{\partial L}{\partial z_i} = -[i = t] + \frac{e^{z_i}}{\sum_j e^{z_j}} = p_i - [i = t],$$
#
# the predicted probabilities minus the one-hot target. It pulls the true class's
# score up and every other score down, each in proportion to how much probability
# it wrongly holds. Over a batch of $N$ the mean divides by $N$:

# %%
z = Tensor(rng.standard_normal((5, 4)) * 3, requires_grad=True)
t = np.array([0, 3, 1, 1, 2])
agrad.losses.cross_entropy(z, t).backward()
p = np.exp(z.data) / np.exp(z.data).sum(axis=1, keepdims=True)
one_hot = np.eye(4)[t]
print(np.allclose(z.grad, (p - one_hot) / 5))

# %% [markdown]
# `cross_entropy` computes $\log \sum_j e^{z_j}$ after subtracting the largest
# logit, so a logit of 1000 gives a finite loss where the textbook formula gives `inf`.
#
# ## 5. Real handwritten digits
#
# Two moons showed *how* autograd works; now let us see that it *works*, on the
# 1,797 8x8 handwritten digits that ship with scikit-learn (`agrad.datasets.load_digits`).

# %%
X, y = agrad.datasets.load_digits()
X = (X / 16.0).astype(np.float32)  # pixels 0..16 -> 0..1
X_train, X_test, y_train, y_test = agrad.datasets.train_test_split(X, y, test_size=0.2, seed=0)
fig, axes = plt.subplots(1, 10, figsize=(10, 1.4))
for d, ax in enumerate(axes):
    ax.imshow(X_train[y_train == d][0].reshape(8, 8), cmap="gray_r")
    ax.set_title(str(d))
    ax.axis("off")
plt.show()
print(len(X_train), "training images,", len(X_test), "held out")

# %% [markdown]
# The model is PyTorch's shape: `Linear` layers (PyTorch's initialisation, float32)
# in a `Sequential`. Mini-batches come from a seeded `DataLoader`, Adam does the updates.

# %%
from agrad.nn import Linear, ReLU, Sequential

model = Sequential(Linear(64, 64, seed=0), ReLU(), Linear(64, 10, seed=1))
opt = agrad.optim.Adam(model.parameters(), lr=0.01)
loader = agrad.datasets.DataLoader(X_train, y_train, batch_size=32, seed=0)


def accuracy(Xs, ys):
    with agrad.no_grad():
        return float((model(Tensor(Xs)).data.argmax(axis=1) == ys).mean())


losses = []
start = time.perf_counter()
for epoch in range(15):
    for xb, yb in loader:
        loss = agrad.losses.cross_entropy(model(Tensor(xb)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
seconds = time.perf_counter() - start
print(f"{len(losses)} steps in {seconds:.1f} s; held-out accuracy {accuracy(X_test, y_test):.1%}")
plt.figure(figsize=(6, 2.5))
plt.plot(losses, lw=0.6)
plt.yscale("log")
plt.xlabel("step")
plt.ylabel("cross-entropy")
plt.show()

# %% [markdown]
# What did the first layer learn? Each of its 64 neurons has one weight per pixel,
# so its weights form an 8x8 picture: red pixels push the neuron up, blue ones down.

# %%
W = model[0].weight.data  # (64 neurons, 64 pixels), PyTorch's layout
fig, axes = plt.subplots(4, 8, figsize=(8, 4))
for k, ax in enumerate(axes.flat):
    lim = np.abs(W[k]).max()
    ax.imshow(W[k].reshape(8, 8), cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.axis("off")
plt.suptitle("first-layer weights of 32 of the 64 hidden neurons")
plt.show()

# %% [markdown]
# And where does it fail? The held-out digits it gets wrong, with what it said:

# %%
with agrad.no_grad():
    pred = model(Tensor(X_test)).data.argmax(axis=1)
wrong = np.flatnonzero(pred != y_test)
fig, axes = plt.subplots(1, max(len(wrong[:10]), 1), figsize=(10, 1.6), squeeze=False)
for ax, i in zip(axes.flat, wrong[:10]):
    ax.imshow(X_test[i].reshape(8, 8), cmap="gray_r")
    ax.set_title(f"{y_test[i]} -> {pred[i]}", fontsize=9)
for ax in axes.flat:
    ax.axis("off")
plt.show()
print(f"{len(wrong)} mistakes in {len(y_test)} held-out digits")

# %% [markdown]
# ## 6. How much faster?
#
# The same model, 64-64-10, as scalar `Value`s (`agrad.nn.MLP`, one `dot` node per
# neuron) and as Tensors, on the same batch of 8 digits, one training step each:

# %%
scalar = agrad.nn.MLP(64, [64, 10], seed=0)
xb, yb = X_train[:8], y_train[:8]


def scalar_step():
    logits = [scalar(list(map(float, row))) for row in xb]
    loss = agrad.losses.cross_entropy(logits, [int(c) for c in yb])
    scalar.zero_grad()
    loss.backward()


def tensor_step():
    loss = agrad.losses.cross_entropy(model(Tensor(xb)), yb)
    opt.zero_grad()
    loss.backward()


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


s, t = best_of(scalar_step, 3), best_of(tensor_step, 50)
print(f"scalar Values: {s * 1e3:.1f} ms per step    Tensors: {t * 1e3:.3f} ms per step    {s / t:.0f}x faster")

# %% [markdown]
# Same rules, same walk, same answers; the difference is that one Tensor node does
# the arithmetic of thousands of Values inside NumPy, so Python's per-node cost is
# paid a few dozen times per step instead of tens of thousands.
# `benchmarks/bench_tensor_mlp.py` compares this step with hand-written NumPy,
# PyTorch, JAX, MyGrad and HIPS/autograd.
