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
# # Beyond Backprop
#
# In [AutoGrad.ipynb](AutoGrad.ipynb) we built backpropagation: one walk back
# through the graph gives the derivative of **one output** with respect to
# **every input**. That is exactly what training needs, but it is only one corner
# of automatic differentiation. This notebook explores the rest, with agrad's
# function transforms (modelled on JAX):
#
# 1. `agrad.grad`: a derivative as a new function, and derivatives of derivatives.
# 2. Forward mode against reverse mode: which one is cheaper, and when.
# 3. A Jacobian, and what it means as a picture.
# 4. A Hessian, and what it buys: Newton's method.
# 5. `agrad.gradcheck`: how to check a gradient you do not trust.
# 6. `agrad.compile`: trace once, then run generated code, measured.

# %%
import functools
import itertools
import math
import time

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

import agrad
from agrad import grad, hessian, jacfwd, jacobian, jacrev, jvp

# %matplotlib inline
plt.rcParams["figure.dpi"] = 80


# %% [markdown]
# ## 1. Derivatives of derivatives
#
# `agrad.grad(f)` takes a Python function of numbers and returns a *new function*
# that computes its derivative. Write $f$ with agrad's functions (`agrad.sin`,
# `agrad.tanh`, ...), which accept plain floats as well as Values:

# %%
def f(x):
    return agrad.sin(x) * x


df = grad(f)
x = 2.0
print(f"f(2)  = {f(x):.10f}")
print(f"f'(2) = {df(x):.10f}   agrad.grad")
print(f"f'(2) = {math.sin(x) + x * math.cos(x):.10f}   closed form: sin x + x cos x")

# %% [markdown]
# Because the result is again an ordinary function, we can differentiate it again:
# `grad(grad(f))` is $f''$. This works because every backward rule in
# `agrad.rules` is written with agrad's own operations. When the gradient is
# computed with `create_graph=True`, the rules run on Values, so the backward pass
# records a graph of its own, and that graph can be backpropagated in turn.
# Here is the mechanism by hand, for $y = x^3$ at $x = 2$:

# %%
x = agrad.Value(2.0, label="x")
y = x**3
y.backward(create_graph=True)
dy_dx = x.grad  # a Value, 3x^2 = 12, with a graph behind it
print("dy/dx   =", dy_dx)

x.grad = 0.0  # clear it, then backpropagate through the gradient itself
dy_dx.backward()
print("d2y/dx2 =", x.grad, " (6x = 12)")

# %% [markdown]
# `grad` does this bookkeeping for us, to any order. The derivatives of $\tanh$
# have closed forms to compare with: with $t = \tanh x$,
#
# $$\tanh' = 1 - t^2, \qquad \tanh'' = -2t(1 - t^2), \qquad \tanh''' = -2(1 - t^2)(1 - 3t^2).$$

# %%
d1 = grad(agrad.tanh)
d2 = grad(d1)
d3 = grad(d2)

xs = np.linspace(-3, 3, 121)
t = np.tanh(xs)
closed = {
    "1st derivative": 1 - t**2,
    "2nd derivative": -2 * t * (1 - t**2),
    "3rd derivative": -2 * (1 - t**2) * (1 - 3 * t**2),
}
nested = {name: np.array([fn(float(x)) for x in xs]) for name, fn in zip(closed, (d1, d2, d3))}
for name in closed:
    print(f"{name}: largest difference from the closed form {np.max(np.abs(nested[name] - closed[name])):.1e}")

fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(xs, t, color="gray", label="tanh")
for name, color in zip(closed, ("tab:blue", "tab:orange", "tab:green")):
    ax.plot(xs, nested[name], color=color, label=f"{name} by nested grad")
    ax.plot(xs[::6], closed[name][::6], "o", ms=4, mfc="none", color=color)
ax.plot([], [], "o", mfc="none", color="k", label="closed forms")
ax.set_title("tanh and its first three derivatives, from grad(grad(grad(tanh)))")
ax.set_xlabel("x")
ax.set_ylabel("value")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## 2. Forward mode against reverse mode
#
# Take a function $F: \mathbb{R}^n \to \mathbb{R}^m$ built from simple steps,
# $F = F_k \circ \dots \circ F_2 \circ F_1$. By the chain rule its Jacobian, the
# $m \times n$ matrix of all partial derivatives, is a product of the steps'
# Jacobians:
#
# $$J = J_k \cdots J_2 \, J_1.$$
#
# There are two natural orders to multiply it out.
#
# * **Forward mode** starts at the input. It carries a *tangent* $\dot x$ (a
#   direction in input space) through the computation beside the values, and comes
#   out with $J \dot x$, a **Jacobian-vector product** (JVP). One pass gives one
#   column of $J$: with $\dot x = e_j$, all the derivatives with respect to input
#   $j$. agrad does this with *dual numbers*, $x + \dot x\,\varepsilon$ with
#   $\varepsilon^2 = 0$, so that $f(x + \dot x\,\varepsilon) = f(x) + f'(x)\,\dot x\,\varepsilon$.
# * **Reverse mode** starts at the output. It records the graph, then carries a
#   *cotangent* $\bar y$ backwards and comes out with $\bar y^\top J$, a
#   **vector-Jacobian product** (VJP). One pass gives one row of $J$: the
#   derivatives of output $i$ with respect to every input. This is backprop.
#
# So the whole Jacobian costs $n$ forward passes or $m$ reverse passes. A loss has
# $m = 1$ output and maybe millions of inputs: that is why deep learning uses
# reverse mode. For a function with few inputs and many outputs, forward mode wins.
#
# `agrad.jvp` is one forward-mode pass:

# %%
value, tangent = jvp(f, (2.0,), (1.0,))
print(f"jvp(f, (2,), (1,)) = ({value:.10f}, {tangent:.10f})  # f(2) and f'(2) in one forward pass")


# %% [markdown]
# Now we time both modes on two shapes of function. `jacfwd` builds the Jacobian
# one column at a time (forward mode), `jacrev` one row at a time (reverse mode):
#
# * many inputs, one output: $\;\sum_i \sin(x_i)\, x_{i+1}$, from $\mathbb{R}^n$ to $\mathbb{R}$;
# * one input, many outputs: $\;t \mapsto (\sin t, \sin 2t, \dots, \sin mt)$, from $\mathbb{R}$ to $\mathbb{R}^m$.

# %%
def many_to_one(*xs):
    n = len(xs)
    return agrad.sum([agrad.sin(xs[i]) * xs[(i + 1) % n] for i in range(n)])


def one_to_many(t, m):
    return [agrad.sin(k * t) for k in range(1, m + 1)]


def best_time(fn, *args, repeats=3):
    """The fastest of a few runs of fn(*args), in milliseconds: the least disturbed by anything else running."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


sizes = [2, 4, 8, 16, 32, 64, 128]
timings = {"many_to_one": {"forward": [], "reverse": []}, "one_to_many": {"forward": [], "reverse": []}}
for n in sizes:
    xs = [0.1 * i for i in range(n)]
    assert np.allclose(jacfwd(many_to_one)(*xs), jacrev(many_to_one)(*xs))
    timings["many_to_one"]["forward"].append(best_time(jacfwd(many_to_one), *xs))
    timings["many_to_one"]["reverse"].append(best_time(jacrev(many_to_one), *xs))
    g = functools.partial(one_to_many, m=n)
    assert np.allclose(jacfwd(g)(0.3), jacrev(g)(0.3))
    timings["one_to_many"]["forward"].append(best_time(jacfwd(g), 0.3))
    timings["one_to_many"]["reverse"].append(best_time(jacrev(g), 0.3))

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, key, title, xlabel in [
    (axes[0], "many_to_one", r"$\mathbb{R}^n \to \mathbb{R}$: the gradient of a loss", "number of inputs n"),
    (axes[1], "one_to_many", r"$\mathbb{R} \to \mathbb{R}^m$: one input, many outputs", "number of outputs m"),
]:
    ax.loglog(sizes, timings[key]["forward"], "o-", label="forward mode (jacfwd)")
    ax.loglog(sizes, timings[key]["reverse"], "s-", label="reverse mode (jacrev)")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("time for the whole Jacobian (ms)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
fig.tight_layout()
plt.show()
n, many, one = sizes[-1], timings["many_to_one"], timings["one_to_many"]
print(f"n = {n} inputs, 1 output: reverse mode is {many['forward'][-1] / many['reverse'][-1]:.0f}x faster")
print(f"1 input, m = {n} outputs: forward mode is {one['reverse'][-1] / one['forward'][-1]:.0f}x faster")


# %% [markdown]
# Each mode's cost grows with the number of passes it needs: forward mode's with
# the number of inputs, reverse mode's with the number of outputs. (Both also grow
# because the function itself gets bigger with $n$.) When the two are about equal,
# `agrad.jacobian` picks for us: forward mode if there are no more inputs than
# outputs, reverse mode otherwise.
#
# ## 3. A Jacobian, as a picture
#
# The map from polar to Cartesian coordinates,
# $F(r, \theta) = (r\cos\theta,\; r\sin\theta)$, has the Jacobian
#
# $$J = \begin{pmatrix} \partial x/\partial r & \partial x/\partial \theta \\
#                       \partial y/\partial r & \partial y/\partial \theta \end{pmatrix}
#     = \begin{pmatrix} \cos\theta & -r\sin\theta \\ \sin\theta & r\cos\theta \end{pmatrix},
#   \qquad \det J = r.$$

# %%
def polar(r, theta):
    return [r * agrad.cos(theta), r * agrad.sin(theta)]


r0, t0 = 2.0, 0.6
J = np.array(jacobian(polar)(r0, t0))
J_closed = np.array([[math.cos(t0), -r0 * math.sin(t0)], [math.sin(t0), r0 * math.cos(t0)]])
print("agrad.jacobian:\n", J)
print("forward and reverse mode agree:", np.allclose(jacfwd(polar)(r0, t0), jacrev(polar)(r0, t0)))
print("matches the closed form:      ", np.allclose(J, J_closed))
print(f"det J = {np.linalg.det(J):.6f} (= r = {r0})")

# %% [markdown]
# The Jacobian is the **best linear approximation** of $F$ near a point:
# $F(p + \delta) \approx F(p) + J\delta$. So a small square in the $(r, \theta)$
# plane is mapped to a patch that is almost the parallelogram spanned by $J$'s
# columns, and its area is multiplied by $|\det J| = r$. Below, the red square on
# the left is mapped by $F$ to the red patch on the right; the dashed black
# parallelogram is what $J$ predicts.

# %%
d = 0.4  # side of the square in the (r, theta) plane, centred on p = (r0, t0)
s = np.linspace(0, 1, 25)
corners = [(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)]
edges = [np.outer(1 - s, c0) + np.outer(s, c1) for c0, c1 in itertools.pairwise(corners)]
square = np.concatenate(edges) * d / 2  # its boundary, as offsets (dr, dtheta) from p
patch = np.array([polar(r0 + dr, t0 + dt) for dr, dt in square])
linear = np.array(polar(r0, t0)) + square @ J.T

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
for r in np.arange(0.5, 3.01, 0.25):
    ax1.axvline(r, color="0.85", lw=0.8)
for th in np.arange(0, 1.6, 0.1):
    ax1.axhline(th, color="0.85", lw=0.8)
ax1.fill(r0 + square[:, 0], t0 + square[:, 1], color="tab:red", alpha=0.4)
ax1.plot([r0], [t0], "ko")
ax1.set_xlim(r0 - 0.75, r0 + 0.75)
ax1.set_ylim(t0 - 0.6, t0 + 0.6)
ax1.set_title(r"A small square in the $(r, \theta)$ plane")
ax1.set_xlabel("r")
ax1.set_ylabel(r"$\theta$ (radians)")

th = np.linspace(0, 1.6, 100)
for r in np.arange(0.5, 3.01, 0.25):
    ax2.plot(r * np.cos(th), r * np.sin(th), color="0.85", lw=0.8)
for angle in np.arange(0, 1.6, 0.1):
    ax2.plot([0, 3.2 * np.cos(angle)], [0, 3.2 * np.sin(angle)], color="0.85", lw=0.8)
ax2.fill(patch[:, 0], patch[:, 1], color="tab:red", alpha=0.4, label="F(square)")
ax2.plot(linear[:, 0], linear[:, 1], "k--", lw=1.2, label=r"F(p) + J $\delta$: the Jacobian's prediction")
ax2.plot(*polar(r0, t0), "ko")
px, py = polar(r0, t0)
ax2.set_xlim(px - 0.75, px + 0.75)
ax2.set_ylim(py - 0.6, py + 0.6)
ax2.set_aspect("equal")
ax2.set_title(r"Its image under $F(r, \theta) = (r\cos\theta, r\sin\theta)$")
ax2.set_xlabel("x")
ax2.set_ylabel("y")
ax2.legend(fontsize=8, loc="lower left")
fig.tight_layout()
plt.show()


def area(points):
    """The shoelace formula for the area of a closed polygon."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


print(f"area of the square {d * d:.4f}; of its image {area(patch):.4f}; |det J| times the square {r0 * d * d:.4f}")


# %% [markdown]
# The parallelogram hugs the true patch: $J$ captures how the map stretches and
# turns things near $p$. Only the curvature of the patch, which comes from second
# derivatives, is missing. The areas agree too (here exactly, because the
# stretching, $r$, grows linearly across the square and $p$ sits at its centre).
#
# ## 4. A Hessian, and Newton's method
#
# For a scalar function $f$ of several variables, the **Hessian** is the matrix of
# second derivatives, $H_{ij} = \partial^2 f / \partial x_i \partial x_j$: the
# Jacobian of the gradient. It describes the curvature of $f$. agrad computes it
# the way JAX does, forward mode over reverse mode: `hessian(f) = jacfwd(jacrev(f))`.
#
# Our example is Rosenbrock's banana-shaped valley, a classic hard test for
# optimisers, with its minimum at $(1, 1)$:
#
# $$f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2, \qquad
#   H = \begin{pmatrix} 2 - 400(y - x^2) + 800x^2 & -400x \\ -400x & 200 \end{pmatrix}.$$

# %%
def rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def rosenbrock_hessian(x, y):
    """The closed form, to check agrad against."""
    return np.array([[2 - 400 * (y - x * x) + 800 * x * x, -400 * x], [-400 * x, 200.0]])


for point in [(-1.2, 1.0), (0.0, 0.0), (1.0, 1.0)]:
    H = np.array(hessian(rosenbrock)(*point))
    assert np.allclose(H, rosenbrock_hessian(*point))
    eig = np.linalg.eigvalsh(H)
    print(f"at {point}: H = {H.tolist()}, eigenvalues {eig[0]:.3g} and {eig[1]:.4g}")

# %% [markdown]
# At the minimum the two eigenvalues differ by a factor of about 2500: the valley
# is 2500 times more curved across than along. Plain **gradient descent** must take
# steps small enough for the steep direction, so it crawls along the flat one.
# **Newton's method** uses the curvature: it jumps to the minimum of the local
# quadratic model, $p \leftarrow p - H^{-1} \nabla f$, which rescales every direction
# by its own curvature.

# %%
gradient = grad(rosenbrock, argnums=(0, 1))
start = np.array([-1.2, 1.0])

p, newton = start.copy(), [start.copy()]
for _ in range(8):
    p = p - np.linalg.solve(np.array(hessian(rosenbrock)(*p)), np.array(gradient(*p)))
    newton.append(p.copy())
newton = np.array(newton)

p, descent = start.copy(), [start.copy()]
for _ in range(3000):
    p = p - 1.5e-3 * np.array(gradient(*p))
    descent.append(p.copy())
descent = np.array(descent)

print(f"Newton, {len(newton) - 1} steps:            ends at {newton[-1]}, f = {rosenbrock(*newton[-1]):.1e}")
print(f"gradient descent, {len(descent) - 1} steps: ends at {descent[-1]}, f = {rosenbrock(*descent[-1]):.1e}")

gx, gy = np.meshgrid(np.linspace(-2, 2, 200), np.linspace(-3.5, 3, 200))
fig, ax = plt.subplots(figsize=(7, 5.5))
levels = np.logspace(-1, 3.5, 10)
cs = ax.contour(gx, gy, rosenbrock(gx, gy), levels=levels, norm=LogNorm(), cmap="viridis", linewidths=0.8)
ax.plot(descent[:, 0], descent[:, 1], ".-", color="tab:orange", ms=2, lw=0.8, label="gradient descent, 3000 steps")
ax.plot(newton[:, 0], newton[:, 1], "o-", color="tab:red", ms=5, label="Newton's method, 8 steps")
ax.plot([1], [1], "k*", ms=14, label="minimum (1, 1)")
ax.set_ylim(-3.5, 3)
ax.set_title("Minimising Rosenbrock's function from (-1.2, 1)")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.legend(fontsize=8, loc="lower right")
fig.colorbar(cs, ax=ax, label="f(x, y)")
plt.show()


# %% [markdown]
# Newton's method reaches the minimum in six steps (its second jump lands far
# below the valley, and the next one corrects it); gradient descent, after 3000
# steps, is still creeping along the valley floor.
#
# A Hessian also shows **which variables interact**: $H_{ij} \ne 0$ only if $x_i$
# and $x_j$ meet in some term of $f$. In the $n$-variable Rosenbrock function each
# variable meets only its neighbours, so its Hessian is a band along the diagonal:
#
# $$f(x) = \sum_{i=1}^{n-1} \Big[100\,(x_{i+1} - x_i^2)^2 + (1 - x_i)^2\Big].$$

# %%
def rosenbrock_n(*x):
    return agrad.sum([100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1)])


x0 = [0.5 * math.cos(i) for i in range(12)]
H = np.array(hessian(rosenbrock_n)(*x0))
print("symmetric:", np.allclose(H, H.T))
print("zero outside the three central diagonals:", np.allclose(np.triu(H, 2), 0) and np.allclose(np.tril(H, -2), 0))

fig, ax = plt.subplots(figsize=(5.5, 4.5))
limit = np.abs(H).max()
im = ax.imshow(H, cmap="RdBu_r", vmin=-limit, vmax=limit)
fig.colorbar(im, ax=ax, label=r"$H_{ij}$")
ax.set_title("Hessian of the 12-variable Rosenbrock function")
ax.set_xlabel("j (variable)")
ax.set_ylabel("i (variable)")
plt.show()


# %% [markdown]
# ## 5. Checking a gradient you do not trust: `agrad.gradcheck`
#
# When you write a new function (or a new op for an engine), how do you know its
# derivative is right? Compare it with the numerical derivative of
# [Understanding_Derivatives.ipynb](Understanding_Derivatives.ipynb): central
# differences are slow and only accurate to about 10 digits, but they are
# computed a completely different way, so they make an independent check.
#
# `agrad.gradcheck(f, inputs)` does this for every input and every output of `f`,
# in every mode: reverse mode through `jacrev`, reverse mode through
# `Value.backward()`, and forward mode through `jacfwd`. `agrad.gradgradcheck`
# does the same for the second derivatives. (agrad's own test suite checks every
# op in its rule table this way, and against PyTorch.)

# %%
def h(x, y):
    return agrad.tanh(x * y) + agrad.log(1 + agrad.exp(x)) / y


print("first derivatives agree: ", agrad.gradcheck(h, [0.7, 1.3]))
print("second derivatives agree:", agrad.gradgradcheck(h, [0.7, 1.3]))


# %% [markdown]
# Here is a bug that gradcheck catches. A function computes part of its result
# with `math.exp` on the plain number inside `x`. The value is right, but agrad
# never sees that operation, so its derivative is silently lost: the true
# derivative of $x e^x$ is $(1 + x) e^x$, and agrad can only find the $e^x$ part.

# %%
def buggy(x):
    return x * math.exp(float(x))  # float(x) leaves the graph: use agrad.exp(x)


def fixed(x):
    return x * agrad.exp(x)


try:
    agrad.gradcheck(buggy, [0.5])
except agrad.GradcheckError as error:
    print("buggy:", error)
print("fixed:", agrad.gradcheck(fixed, [0.5]))

# %% [markdown]
# One failure is not a bug. At a **kink** such as $\text{relu}(x) = \max(0, x)$
# at $x = 0$, the derivative does not exist. agrad, like PyTorch, uses $0$ there,
# while the central difference straddles the kink and sees the average of the two
# slopes, $0.5$. Check gradients at points away from kinks:

# %%
try:
    agrad.gradcheck(agrad.relu, [0.0])
except agrad.GradcheckError as error:
    print("at the kink:", error)
print("away from it:", agrad.gradcheck(agrad.relu, [0.3]), agrad.gradcheck(agrad.relu, [-0.3]))


# %% [markdown]
# ## 6. Faster: `agrad.compile`
#
# Eager agrad does a lot of work on every call: it creates a Python object for
# every operation, sorts the graph, and looks up one rule per node on the way
# back. Yet for a given function the graph is the same on every call; only the
# numbers change. `agrad.compile(f)`, like `jax.jit`, runs `f` **once** on
# placeholders to record the graph, then generates straight-line code for it:
# the forward pass and, derived from the same rule table, the backward pass.
# Later calls just run that code. Given NumPy arrays, the compiled function runs
# the same scalar program on every element at once (like `jax.vmap`).
#
# First, the gradient of our 128-input function from section 2:

# %%
def timed(fn, *args, repeats=7):
    """(min, median) of a few runs of fn(*args), in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(1000 * (time.perf_counter() - start))
    return min(times), float(np.median(times))


xs = [0.1 * i for i in range(128)]
eager_grad = grad(many_to_one, argnums=tuple(range(128)))
compiled_grad = agrad.compile(eager_grad)

start = time.perf_counter()
first = compiled_grad(*xs)  # the first call traces and generates the code
print(f"first call (trace and code generation): {1000 * (time.perf_counter() - start):.1f} ms")
print("same gradient as eager mode:", first == eager_grad(*xs))

results = {}
results["gradient, 128 inputs"] = (timed(eager_grad, *xs), timed(compiled_grad, *xs))
(e_min, e_med), (c_min, c_med) = results["gradient, 128 inputs"]
print(f"eager    {e_min:7.3f} ms (median {e_med:.3f})")
print(f"compiled {c_min:7.3f} ms (median {c_med:.3f})   {e_min / c_min:.1f}x faster")

# %% [markdown]
# The bigger win is a training step. In eager mode, one step of the two-moons
# network from [AutoGrad.ipynb](AutoGrad.ipynb) builds 100 separate graphs, one
# per point. Compiled, we write the loss for **one** point (the cross-entropy
# $\text{softplus}(z) - t z$, the numerically safe form of the formula there),
# pass the whole data set as NumPy arrays, and ask for the mean over the batch;
# `params=` says which Values are the model's parameters, whose `.grad` each call
# fills in, exactly as `loss.backward()` would.

# %%
from agrad.datasets import make_moons
from agrad.losses import binary_cross_entropy_with_logits
from agrad.nn import MLP

X, y = make_moons(100, noise=0.1, seed=1)
model = MLP(2, [16, 16, 1], seed=0)


def eager_step():
    """Loss and gradients for the whole data set, one graph per point."""
    loss = binary_cross_entropy_with_logits([model(x) for x in X], y)
    model.zero_grad()
    loss.backward()
    return loss.data


def point_loss(x0, x1, t):
    """The cross-entropy for one point, written for scalars."""
    z = model([x0, x1])
    return agrad.softplus(z) - t * z


batch_loss = agrad.compile(point_loss, params=model.parameters(), reduce="mean")
X1, X2, Y = (np.array(column, dtype=float) for column in (*zip(*X), y))


def compiled_step():
    """The same loss and gradients, every point at once."""
    model.zero_grad()
    return batch_loss(X1, X2, Y)


eager_loss = eager_step()
eager_grads = [p.grad for p in model.parameters()]
compiled_loss = compiled_step()
compiled_grads = [p.grad for p in model.parameters()]
print(f"loss: eager {eager_loss!r}, compiled {compiled_loss!r}")
print(f"largest gradient difference over {len(eager_grads)} parameters: "
      f"{max(abs(a - b) for a, b in zip(eager_grads, compiled_grads)):.1e}")

results["training step, MLP on 100 points"] = (timed(eager_step), timed(compiled_step))
(e_min, e_med), (c_min, c_med) = results["training step, MLP on 100 points"]
print(f"eager    {e_min:7.3f} ms (median {e_med:.3f})")
print(f"compiled {c_min:7.3f} ms (median {c_med:.3f})   {e_min / c_min:.0f}x faster")

# %%
fig, ax = plt.subplots(figsize=(8, 3))
names = list(results)
rows = np.arange(len(names))
eager_ms = [results[n][0][0] for n in names]
compiled_ms = [results[n][1][0] for n in names]
ax.barh(rows + 0.2, eager_ms, height=0.4, label="eager")
ax.barh(rows - 0.2, compiled_ms, height=0.4, label="agrad.compile")
for row, e, c in zip(rows, eager_ms, compiled_ms):
    ax.text(c * 1.15, row - 0.2, f"{e / c:.0f}x faster", va="center", fontsize=9)
ax.set_yticks(rows, names)
ax.set_xscale("log")
ax.set_title("Time per call, fastest of 7 runs (lower is better)")
ax.set_xlabel("milliseconds (log scale)")
ax.set_ylabel("task")
ax.legend(fontsize=8, loc="lower right")
fig.tight_layout()
plt.show()


# %% [markdown]
# (The numbers are measured when the notebook runs, so they vary from machine to
# machine; the repository's `benchmarks/` scripts measure speed properly, against
# micrograd and PyTorch.)
#
# The catch is the same as for `jax.jit`: the trace records one graph. Python
# control flow that looks at `.data` (an `if x > 0:` on an argument) cannot be
# traced, and agrad refuses it with a clear `agrad.TracingError` rather than
# silently freezing one branch. Ops whose derivative depends on the data, such
# as `relu`, `abs`, `min` and `max`, are fine: their gradient code is derived
# with both branches.

# %%
def branchy(x):
    return 2 * x if x > 0 else -x  # a Python decision on the number inside x


try:
    agrad.compile(branchy)(1.0)
except agrad.TracingError as error:
    print("TracingError:", error)

smooth = agrad.compile(grad(lambda x: agrad.relu(x) * 3 - x))  # the same kind of kink, with an agrad op
print("relu inside compile, gradient at -1 and at 1:", smooth(-1.0), smooth(1.0))

# %% [markdown]
# ## Summary
#
# * A gradient is a function; `grad` composes to any order because every rule is
#   written with the engine's own operations.
# * Forward mode pushes tangents (one pass per input); reverse mode pulls
#   gradients back (one pass per output). Deep learning's losses have one output,
#   so it uses reverse mode: backpropagation.
# * The Jacobian is the best local linear map; the Hessian, its curvature, which
#   Newton's method uses to take far better steps.
# * `gradcheck` compares all of them with central differences, the slow but
#   independent check from the first notebook.
# * `agrad.compile` records the graph once and runs generated code.
