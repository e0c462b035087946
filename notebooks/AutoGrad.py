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
# # AutoGrad: building an autograd engine
#
# In [Understanding_Derivatives.ipynb](Understanding_Derivatives.ipynb) we found
# partial derivatives by hand, with two local rules and the chain rule. Now we
# teach a computer to do it. We start from the seed's `Value` class and grow it,
# one step at a time, into a working autograd engine; then we meet `agrad`, the
# full engine in this repository, and use it to train a small neural network.
#
# 1. A number that remembers how it was made: the seed's `Value` class.
# 2. Drawing the computational graph.
# 3. Backpropagation by hand, node by node.
# 4. A backward rule for each op, and why the walk needs a topological sort.
# 5. The same numbers from `agrad.Value`, narrated by `agrad.explain` and drawn by `agrad.draw_graph`.
# 6. One neuron, $\tanh(w \cdot x + b)$: by hand, with agrad, and with PyTorch.
# 7. Training a neural network, `agrad.nn.MLP`, on two moons.

# %%
import math

import graphviz
import matplotlib.pyplot as plt

import agrad

graphviz.set_jupyter_format("png")  # PNG pictures show on every code host
# %matplotlib inline
plt.rcParams["figure.dpi"] = 80


# %% [markdown]
# ## 1. A number that remembers how it was made
#
# The seed's example is $f(a, b, c) = a b + c$. To differentiate it, the computer
# must remember *how* $f$ was computed, not just its value. So instead of plain
# floats we use a small class that wraps a number. Step one is just the wrapper:
# the number, `data`, and a name, `label`, to print it by.

# %%
class Value:
    def __init__(self, data, label=""):
        self.data = data
        self.label = label

    def __repr__(self):
        return f"Value(data={self.data}, label={self.label})"


Value(2.0, label="a")


# %% [markdown]
# Step two: make `+` and `*` work on Values, and have each result remember the
# Values it was made from (`_prev`, its *children*) and the operation that made it
# (`_op`). Python calls `a.__add__(b)` for `a + b` and `a.__mul__(b)` for `a * b`.
# This is the seed's `Value` class, exactly as the seed's README has it:

# %%
class Value:
  """Class to wrap up our scalar values."""
  def __init__(self, data, _children=(), _op="", label=""):
    self.data = data
    self.label = label
    self._prev = set(_children)
    self._op = _op

  def __add__(self, other):
    out = Value(self.data + other.data, _children=(self, other), _op='+')
    return out

  def __mul__(self, other):
    out = Value(self.data * other.data, _children=(self, other), _op='*')
    return out

  def __repr__(self):
    return f"Value(data={self.data}, label={self.label})"


# %% [markdown]
# Now we compute the seed's $f = a b + c$ at $a = 2$, $b = -3$, $c = 10$, naming
# the intermediate product $e = a b$. To have a single final output to
# differentiate, as a loss would be, we multiply by one more number:
# $L = f \cdot g$ with $g = -2$.

# %%
a = Value(2.0, label="a")
b = Value(-3.0, label="b")
c = Value(10.0, label="c")
e = a * b; e.label = "e"
f = e + c; f.label = "f"
g = Value(-2.0, label="g")
L = f * g; L.label = "L"

print(L)
print("L was made by", repr(L._op), "from", L._prev)
print("f was made by", repr(f._op), "from", f._prev)


# %% [markdown]
# ## 2. Drawing the computational graph
#
# Following `_prev` from `L` back to the inputs visits every Value that `L`
# depends on: together they form a directed acyclic graph, the **computational
# graph**. A short helper draws it with graphviz: a box for each Value, a circle for
# the operation that made it. (agrad has a full version of this, `agrad.draw_graph`,
# which we use later.)

# %%
def trace(root):
    """Every Value reachable from root through _prev, and the edges (child, parent) between them."""
    nodes, edges, stack = set(), set(), [root]
    while stack:
        node = stack.pop()
        if node not in nodes:
            nodes.add(node)
            for child in node._prev:
                edges.add((child, node))
                stack.append(child)
    return nodes, edges


def draw_dot(root):
    """A box per Value (label, data and, once it exists, grad), a circle per op, inputs on the left."""
    dot = graphviz.Digraph(graph_attr={"rankdir": "LR"}, node_attr={"fontsize": "11"})
    nodes, edges = trace(root)
    for n in nodes:
        uid = str(id(n))
        grad = f" | grad {n.grad:.4f}" if hasattr(n, "grad") else ""
        dot.node(uid, f"{{ {n.label} | data {n.data:.4f}{grad} }}", shape="record")
        if n._op:
            dot.node(uid + n._op, n._op, shape="circle", width="0.4", margin="0.02")
            dot.edge(uid + n._op, uid)
    for child, parent in edges:
        dot.edge(str(id(child)), str(id(parent)) + parent._op)
    return dot


draw_dot(L)

# %% [markdown]
# ## 3. Backpropagation by hand, node by node
#
# We want $\frac{\partial L}{\partial v}$ for every Value $v$ in the graph: how much
# $L$ moves when $v$ moves a little. We call it the **gradient** of $v$, `v.grad`.
# We start at the output and walk backwards, using only the chain rule and the two
# local rules from the last notebook (through $+$ the gradient passes unchanged;
# through $\times$ it is multiplied by the *other* operand):
#
# | node | rule | gradient |
# |---|---|---|
# | $L$ | $\frac{\partial L}{\partial L} = 1$ | $1$ |
# | $g$ | $L = f g$, so $\frac{\partial L}{\partial g} = f$ | $4$ |
# | $f$ | $L = f g$, so $\frac{\partial L}{\partial f} = g$ | $-2$ |
# | $c$ | $f = e + c$, so $\frac{\partial L}{\partial c} = \frac{\partial L}{\partial f} \cdot 1$ | $-2$ |
# | $e$ | $f = e + c$, so $\frac{\partial L}{\partial e} = \frac{\partial L}{\partial f} \cdot 1$ | $-2$ |
# | $a$ | $e = a b$, so $\frac{\partial L}{\partial a} = \frac{\partial L}{\partial e} \cdot b$ | $(-2)(-3) = 6$ |
# | $b$ | $e = a b$, so $\frac{\partial L}{\partial b} = \frac{\partial L}{\partial e} \cdot a$ | $(-2)(2) = -4$ |
#
# Each row needs only the gradient of the node just above it and the values of its
# neighbours. We write the results into the graph, one node at a time:

# %%
L.grad = 1.0
g.grad = f.data * L.grad   # L = f * g
f.grad = g.data * L.grad
c.grad = 1.0 * f.grad      # f = e + c
e.grad = 1.0 * f.grad
a.grad = b.data * e.grad   # e = a * b
b.grad = a.data * e.grad

draw_dot(L)


# %% [markdown]
# Are these right? The numerical derivative of the last notebook is an independent
# check: nudge one input, recompute $L$ with plain floats, and measure the slope.

# %%
def central_difference(fn, args, i, h=1e-6):
    """The slope of fn along its i-th argument: (fn(.., x + h, ..) - fn(.., x - h, ..)) / 2h."""
    up, down = list(args), list(args)
    up[i] += h
    down[i] -= h
    return (fn(*up) - fn(*down)) / (2 * h)


def L_of(a, b, c, g):
    return (a * b + c) * g


inputs = [a, b, c, g]
point = [v.data for v in inputs]
for i, v in enumerate(inputs):
    print(f"dL/d{v.label}: by hand {v.grad:5.1f}, numerically {central_difference(L_of, point, i):9.6f}")


# %% [markdown]
# ## 4. Automating it: a backward rule for each op
#
# Look again at the code we wrote by hand: every line applies the rule of *one op*
# to *one node*. So we teach each op its rule once, and let a loop do the walking.
#
# We extend the seed's class in three ways:
#
# * `grad`, starting at 0.
# * `_children`, the operands **in order**. The seed's `_prev` is a set: a set
#   forgets which operand came first (harmless for $\times$ and $+$, fatal for
#   $-$ or $/$) and keeps `a * a` as a single child, although `a` was used twice.
#   We keep `_prev` as it was.
# * `tanh`, a non-linearity we need for the neuron in section 6.
#
# Then `backward_step(node)` pushes `node.grad` one step down, to its children,
# using the rule of the op that made it. Each child **adds** (`+=`) its share: a
# Value used in several places gets a contribution from each, and the chain rule
# says they sum.

# %%
class Value:
    """The seed's Value, plus a gradient, ordered children, and tanh."""

    def __init__(self, data, _children=(), _op="", label=""):
        self.data = data
        self.grad = 0.0
        self.label = label
        self._children = tuple(_children)
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other):
        return Value(self.data + other.data, _children=(self, other), _op="+")

    def __mul__(self, other):
        return Value(self.data * other.data, _children=(self, other), _op="*")

    def tanh(self):
        return Value(math.tanh(self.data), _children=(self,), _op="tanh")

    def __repr__(self):
        return f"Value(data={self.data}, label={self.label})"


def backward_step(node):
    """The chain rule through one op: add node.grad times the local derivative to each child's grad."""
    if node._op == "+":      # d(x + y)/dx = 1, d(x + y)/dy = 1
        x, y = node._children
        x.grad += node.grad
        y.grad += node.grad
    elif node._op == "*":    # d(x * y)/dx = y, d(x * y)/dy = x
        x, y = node._children
        x.grad += y.data * node.grad
        y.grad += x.data * node.grad
    elif node._op == "tanh":  # d tanh(x)/dx = 1 - tanh(x)**2, and tanh(x) is node.data
        (x,) = node._children
        x.grad += (1 - node.data**2) * node.grad


# %% [markdown]
# agrad keeps the same rules in one table, `agrad.rules.RULES`, keyed by the op
# string. Each rule takes the incoming gradient `g`, the op's result `out` and its
# operands, and returns one gradient per operand. The rule for `*` is one line:

# %%
import inspect

print(inspect.getsource(agrad.RULES["*"].vjp))
# e = a * b with a = 2, b = -3: an incoming gradient of 1 gives (b, a)
print("mul_vjp(g=1.0, out=-6.0, x=2.0, y=-3.0) =", agrad.RULES["*"].vjp(1.0, -6.0, 2.0, -3.0))
print("ops in the table:", " ".join(sorted(agrad.RULES)))


# %% [markdown]
# ### In which order do we visit the nodes?
#
# `backward_step(node)` passes on whatever `node.grad` holds *at that moment*. So
# before a node passes its gradient on, it must have collected **every**
# contribution from the nodes that use it. In the seed's graph each Value is used
# once and almost any order works. Here is a graph where that fails: $e = a b$ is
# used twice, once directly and once through $f = e + c$,
#
# $$L = e \cdot f, \qquad e = a b, \qquad f = e + c.$$

# %%
def reused_example(V):
    """L = e * f with e = a * b and f = e + c: e is used by two ops. Works with any Value class."""
    a, b, c = V(2.0, label="a"), V(-3.0, label="b"), V(10.0, label="c")
    e = a * b; e.label = "e"
    f = e + c; f.label = "f"
    L = e * f; L.label = "L"
    return L, [a, b, c, e, f]


def L2_of(a, b, c):
    return (a * b) * (a * b + c)


L2, (a, b, c, e, f) = reused_example(Value)
draw_dot(L2)


# %% [markdown]
# A natural first try walks depth-first from the output and lets each node pass its
# gradient on as soon as the walk reaches it (visiting each node once):

# %%
def backward_naive(root):
    """Depth-first from the output; each node passes its gradient on when first reached. Wrong!"""
    visited = set()

    def visit(node):
        if node not in visited:
            visited.add(node)
            backward_step(node)
            for child in node._children:
                visit(child)

    root.grad = 1.0
    visit(root)


backward_naive(L2)
for i, v in enumerate([a, b, c]):
    numeric = central_difference(L2_of, [2.0, -3.0, 10.0], i)
    print(f"dL/d{v.label}: naive walk {v.grad:6.1f}, numerically {numeric:9.6f}")


# %% [markdown]
# $c$ is right but $a$ and $b$ are wrong. The walk reached $e$ straight from $L$,
# when $e$ held only the contribution through the direct path,
# $\frac{\partial L}{\partial e}\big|_{\text{direct}} = f = 4$, and passed $4$ on to
# $a$ and $b$. Only later did the walk reach $f$, which added its share
# $\frac{\partial L}{\partial f} \cdot 1 = e = -6$ to $e$, making the full
# $\frac{\partial L}{\partial e} = 4 - 6 = -2$. Too late: $a$ and $b$ had already
# been given the wrong number.
#
# The fix is to visit the nodes in an order where **every node comes after all
# the nodes that use it**. Such an order is the reverse of a **topological sort**,
# a list in which every node comes after all of its children. Depth-first search
# builds one: add a node to the list only once all its children are in it.

# %%
def topo_sort(root):
    """Every node under root, each one after all of its children."""
    order, visited = [], set()

    def visit(node):
        if node not in visited:
            visited.add(node)
            for child in node._children:
                visit(child)
            order.append(node)  # only after all its children

    visit(root)
    return order


def backward(root):
    """Fill in d(root)/d(node) for every node: reverse topological order, one rule per node."""
    root.grad = 1.0
    for node in reversed(topo_sort(root)):
        backward_step(node)


L2, (a, b, c, e, f) = reused_example(Value)
print("topological order:", [n.label for n in topo_sort(L2)])
backward(L2)
for i, v in enumerate([a, b, c]):
    numeric = central_difference(L2_of, [2.0, -3.0, 10.0], i)
    print(f"dL/d{v.label}: backward {v.grad:6.1f}, numerically {numeric:9.6f}")
draw_dot(L2)


# %% [markdown]
# Now every gradient matches the numerical one; in the picture, $e$'s gradient
# is the full $-2$. (Our `topo_sort` calls itself once per level of the graph, so
# a very deep graph would hit Python's recursion limit. `agrad.toposort` does the
# same walk with an explicit stack: agrad backpropagates through a chain of a
# million ops.)
#
# This small class is now a working autograd engine: `backward(root)` computes the
# gradient of `root` with respect to every Value it depends on.
#
# ## 5. The same numbers from `agrad.Value`
#
# `agrad.Value` is the full engine. It takes the same constructor arguments
# and keeps `data`, `grad`, `label`, `_op` and `_prev`, so the same code builds
# the same graphs. Let us build both examples with both classes and compare every
# value and gradient.

# %%
def seed_example(V):
    """The seed's f = a * b + c, times g. Works with any Value class."""
    a, b, c, g = V(2.0, label="a"), V(-3.0, label="b"), V(10.0, label="c"), V(-2.0, label="g")
    e = a * b; e.label = "e"
    f = e + c; f.label = "f"
    L = f * g; L.label = "L"
    return L, [a, b, c, g, e, f]


for example in (seed_example, reused_example):
    ours, our_nodes = example(Value)
    backward(ours)
    theirs, their_nodes = example(agrad.Value)
    theirs.backward()
    print(f"{example.__name__}: L = {ours.data} (ours), {theirs.data} (agrad)")
    for mine, other in zip(our_nodes, their_nodes):
        print(f"  {mine.label}: data {mine.data:5.1f} {other.data:5.1f}   grad {mine.grad:5.1f} {other.grad:5.1f}")
        assert mine.data == other.data and mine.grad == other.grad
print("Every value and gradient agrees.")

# %% [markdown]
# ### Watching agrad work: `agrad.explain` and `agrad.draw_graph`
#
# `agrad.explain(L)` runs `L.backward()` and narrates every chain-rule step in the
# order backward takes it, with the numbers backward computes. Compare it with the
# table we filled in by hand in section 3:

# %%
L, _ = seed_example(agrad.Value)
steps = agrad.explain(L)

# %% [markdown]
# `agrad.draw_graph(L)` draws the graph with the gradients filled in, as our
# `draw_dot` did:

# %%
agrad.draw_graph(L)

# %% [markdown]
# On the graph where $e$ is used twice, the narration shows the point of the
# topological sort: $e$ collects **both** contributions, from $L$ and from $f$,
# before it passes anything on to $a$ and $b$.

# %%
L2, _ = reused_example(agrad.Value)
steps = agrad.explain(L2)
agrad.draw_graph(L2)

# %% [markdown]
# ## 6. One neuron: $o = \tanh(w \cdot x + b)$
#
# A neuron multiplies each input $x_i$ by a weight $w_i$, adds a bias $b$ and
# squashes the sum with a non-linearity, here $\tanh$:
#
# $$n = w_0 x_0 + w_1 x_1 + b, \qquad o = \tanh(n).$$
#
# Training a network means nudging $w_0, w_1, b$ to change $o$, so we need
# $\frac{\partial o}{\partial w_i}$ and $\frac{\partial o}{\partial b}$. With
# $x = (2, 0)$, $w = (-3, 1)$ and $b = 6.8813735870195432$ we get
# $n \approx 0.8814$ and $o = \tanh(n) \approx 0.7071 = 1/\sqrt{2}$, chosen so
# the numbers stay simple.
#
# **By hand.** The derivative of $\tanh$ is $\frac{d}{dn}\tanh(n) = 1 - \tanh^2(n) = 1 - o^2$, so
#
# $$\frac{\partial o}{\partial n} = 1 - o^2 = 1 - \tfrac12 = 0.5.$$
#
# $n$ is a sum, so each term receives $0.5$; each term is a product, so each factor
# receives $0.5$ times the other factor:
#
# $$\frac{\partial o}{\partial b} = 0.5, \quad
#   \frac{\partial o}{\partial w_0} = 0.5\, x_0 = 1, \quad
#   \frac{\partial o}{\partial x_0} = 0.5\, w_0 = -1.5, \quad
#   \frac{\partial o}{\partial w_1} = 0.5\, x_1 = 0, \quad
#   \frac{\partial o}{\partial x_1} = 0.5\, w_1 = 0.5.$$
#
# $\frac{\partial o}{\partial w_1} = 0$ because $x_1 = 0$: whatever $w_1$ is, it
# multiplies zero, so changing it cannot change the output.

# %%
point = {"x0": 2.0, "x1": 0.0, "w0": -3.0, "w1": 1.0, "b": 6.8813735870195432}
# do/dn = 1 - o**2 = 0.5; each factor of a product gets 0.5 times the other factor
by_hand = {"x0": 0.5 * point["w0"], "x1": 0.5 * point["w1"], "w0": 0.5 * point["x0"], "w1": 0.5 * point["x1"]}
by_hand["b"] = 0.5


def neuron(V):
    """o = tanh(x0*w0 + x1*w1 + b), built from any Value class; returns o and the leaves by name."""
    v = {name: V(x, label=name) for name, x in point.items()}
    x0w0 = v["x0"] * v["w0"]; x0w0.label = "x0*w0"
    x1w1 = v["x1"] * v["w1"]; x1w1.label = "x1*w1"
    s = x0w0 + x1w1; s.label = "x0*w0 + x1*w1"
    n = s + v["b"]; n.label = "n"
    o = n.tanh(); o.label = "o"
    return o, v


o, ours = neuron(Value)
backward(o)
o_agrad, theirs = neuron(agrad.Value)
o_agrad.backward()

print(f"o = {o.data:.6f} (ours), {o_agrad.data:.6f} (agrad)\n")
print(f"{'':>4}  {'by hand':>8}  {'ours':>8}  {'agrad':>8}")
for name in point:
    print(f"{name:>4}  {by_hand[name]:8.4f}  {ours[name].grad:8.4f}  {theirs[name].grad:8.4f}")
    assert math.isclose(ours[name].grad, theirs[name].grad)
    assert math.isclose(ours[name].grad, by_hand[name], rel_tol=1e-9, abs_tol=1e-12)
draw_dot(o)

# %% [markdown]
# **With PyTorch.** PyTorch computes the same gradients with the same algorithm, on
# tensors instead of scalars. We use 64-bit floats, as Python and agrad do. (This
# cell skips itself if PyTorch is not installed; nothing else in the notebook needs it.)

# %%
try:
    import torch
except ImportError:
    torch = None
    print("PyTorch is not installed: skipping the comparison with it.")

if torch is not None:
    t = {name: torch.tensor(x, dtype=torch.float64, requires_grad=True) for name, x in point.items()}
    o_torch = torch.tanh(t["x0"] * t["w0"] + t["x1"] * t["w1"] + t["b"])
    o_torch.backward()
    print(f"o = {o_torch.item():.6f} (PyTorch)\n")
    print(f"{'':>4}  {'PyTorch':>8}  {'agrad':>8}")
    for name in point:
        print(f"{name:>4}  {t[name].grad.item():8.4f}  {theirs[name].grad:8.4f}")
        assert math.isclose(t[name].grad.item(), theirs[name].grad, rel_tol=1e-12, abs_tol=1e-15)

# %% [markdown]
# ## 7. Training a neural network: `agrad.nn.MLP` on two moons
#
# A neural network is many neurons like the one above, in layers. To **train** it
# we need a single number that says how wrong it is, the **loss**; `backward()`
# then gives the gradient of the loss with respect to every weight and bias, and
# we move each of them a small step *against* its gradient, downhill:
#
# $$p \leftarrow p - \eta \, \frac{\partial \,\text{loss}}{\partial p}
#   \qquad \text{(gradient descent, learning rate } \eta).$$
#
# Repeat: forward pass, loss, zero the old gradients, backward, step.
#
# The task: two interleaving half-moons of points in the plane, class 0 and class
# 1. No straight line separates them, so the network has to learn a curved
# boundary. `agrad.datasets.make_moons` makes them (the same recipe as
# scikit-learn's); we train on 100 points and keep 200 others aside to test on.

# %%
from agrad.datasets import make_moons
from agrad.losses import binary_cross_entropy_with_logits, l2_penalty
from agrad.nn import MLP

X, y = make_moons(100, noise=0.1, seed=1)
X_test, y_test = make_moons(200, noise=0.1, seed=2)


def scatter(ax, X, y, **kwargs):
    """The points, coloured by class."""
    for cls, color in [(0, "tab:blue"), (1, "tab:red")]:
        pts = [x for x, t in zip(X, y) if t == cls]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=18, c=color, label=f"class {cls}", **kwargs)


fig, ax = plt.subplots(figsize=(5.5, 4))
scatter(ax, X, y, edgecolors="k", linewidths=0.5)
ax.set_title("Two moons: the 100 training points")
ax.set_xlabel("$x_0$")
ax.set_ylabel("$x_1$")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The model is `MLP(2, [16, 16, 1])`: 2 inputs, two hidden layers of 16 ReLU
# neurons, and one output $z$, a raw score (a *logit*). We read it as a
# probability through the sigmoid, $P(\text{class } 1) = \sigma(z) = 1/(1+e^{-z})$,
# and predict class 1 when $z > 0$.
#
# The loss is the **binary cross-entropy**, which is small when the network gives
# high probability to the right class, plus a tiny L2 penalty
# $\alpha \sum p^2$ that keeps the weights small and the boundary smooth:
#
# $$\text{loss} = -\frac{1}{N}\sum_{i=1}^{N}\Big[y_i \log \sigma(z_i) + (1 - y_i)\log\big(1 - \sigma(z_i)\big)\Big]
#   + \alpha \sum_p p^2.$$

# %%
import time

model = MLP(2, [16, 16, 1], seed=0)
print(model, "with", len(model.parameters()), "parameters")

learning_rate = 1.0
losses, accuracies = [], []
start = time.perf_counter()
for step in range(100):
    logits = [model(x) for x in X]                       # forward pass: one Value per point
    loss = binary_cross_entropy_with_logits(logits, y) + l2_penalty(model.parameters(), 1e-4)
    model.zero_grad()                                    # backward() adds, so clear last step's gradients
    loss.backward()
    for p in model.parameters():                         # gradient descent
        p.data -= learning_rate * p.grad

    accuracy = sum((z.data > 0) == (t == 1) for z, t in zip(logits, y)) / len(y)
    losses.append(loss.data)
    accuracies.append(accuracy)
    if step % 20 == 0 or step == 99:
        print(f"step {step:3d}  loss {loss.data:.4f}  training accuracy {accuracy:.0%}")
print(f"100 steps in {time.perf_counter() - start:.1f} s")

with agrad.no_grad():  # no graph needed just to predict
    test_accuracy = sum((model(x).data > 0) == (t == 1) for x, t in zip(X_test, y_test)) / len(y_test)
print(f"accuracy on the 200 held-out points: {test_accuracy:.1%}")

# %% [markdown]
# (The update loop is plain gradient descent; `agrad.optim` has it ready-made as
# `SGD`, and also `Adam`.) The loss falls and the accuracy climbs, though not
# smoothly: at this learning rate a step sometimes overshoots and the loss jumps
# up before it falls again. A smaller rate, say 0.3, is smoother but slower; try it.

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.plot(losses)
ax1.set_yscale("log")
ax1.set_title("Training loss")
ax1.set_xlabel("step")
ax1.set_ylabel("loss (log scale)")
ax1.grid(alpha=0.3, which="both")
ax2.plot([100 * a for a in accuracies], color="tab:green")
ax2.set_title("Training accuracy")
ax2.set_xlabel("step")
ax2.set_ylabel("accuracy (%)")
ax2.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# Finally, the **decision boundary**: we ask the trained network for $\sigma(z)$
# on a grid of points covering the plane and colour each by the probability of
# class 1. The boundary, where $z = 0$, curls between the two moons. The held-out
# test points, which the network never saw, fall on the right sides.

# %%
import numpy as np

xs1 = np.linspace(-1.6, 2.6, 70)
xs2 = np.linspace(-1.1, 1.6, 50)
with agrad.no_grad():
    Z = np.array([[model([float(a), float(b)]).data for a in xs1] for b in xs2])
P = 1 / (1 + np.exp(-Z))

fig, ax = plt.subplots(figsize=(7, 4.5))
im = ax.contourf(xs1, xs2, P, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
ax.contour(xs1, xs2, Z, levels=[0.0], colors="k", linewidths=1.5)
scatter(ax, X_test, y_test, edgecolors="k", linewidths=0.5)
fig.colorbar(im, ax=ax, label="P(class 1) predicted by the network")
ax.set_title(f"Decision boundary (black line), with the 200 test points: {test_accuracy:.1%} right")
ax.set_xlabel("$x_0$")
ax.set_ylabel("$x_1$")
ax.legend(fontsize=8, loc="lower left")
plt.show()

# %% [markdown]
# ## Where next
#
# Everything in this notebook rested on one idea: record the graph as the
# function runs, then walk it backwards in topological order, applying one local
# rule per op. **Continue with [Beyond_Backprop.ipynb](Beyond_Backprop.ipynb)**:
# derivatives of derivatives, forward mode against reverse mode, Jacobians and
# Hessians, and how to check a gradient you do not trust.
