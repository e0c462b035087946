"""Build the learning-path notebooks from the cell lists below, then run them to store their outputs.

The notebooks are written here as plain Python lists of markdown and code cells, so
a change is easy to review as a diff; the ``.ipynb`` files are generated from them.

    python scripts/build_notebooks.py                 # write and execute every notebook
    python scripts/build_notebooks.py AutoGrad        # only the notebooks whose name contains "AutoGrad"
    python scripts/build_notebooks.py --no-execute    # write without outputs (quick edit loop)
    python scripts/build_notebooks.py --check         # exit 1 if a committed notebook differs from its source here
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
CELL_TIMEOUT_S = 60  # the budget for a whole notebook; no single cell may come near it

Cell = Any  # nbformat.NotebookNode


def md(text: str) -> Cell:
    """A markdown cell; the text is dedented so it can be indented in this file."""
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str) -> Cell:
    """A code cell; the text is dedented so it can be indented in this file."""
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip())


# ---------------------------------------------------------------------------
# notebooks/Understanding_Derivatives.ipynb
# ---------------------------------------------------------------------------

UNDERSTANDING_DERIVATIVES = [
    md(r"""
    # Understanding Derivatives

    An autograd engine computes **derivatives**. Before we build one (in
    [AutoGrad.ipynb](AutoGrad.ipynb)), this notebook makes sure we know exactly what a
    derivative is, how to estimate one with nothing but a calculator, and why that
    estimate is not good enough to train a model.

    1. The derivative as a limit, and the tangent line.
    2. How small should $h$ be? Truncation error against round-off error.
    3. Partial derivatives of the seed's function $f(a, b, c) = a b + c$.
    4. The chain rule, checked numerically.

    Only Python, NumPy and matplotlib are used here: no autograd yet.
    """),
    code(r"""
    import math

    import matplotlib.pyplot as plt
    import numpy as np

    %matplotlib inline
    plt.rcParams["figure.dpi"] = 80
    """),
    md(r"""
    ## 1. The derivative is a limit

    For a function $f$ of one variable, the derivative at a point $a$ is

    $$f'(a) = \lim_{h \to 0} \frac{f(a + h) - f(a)}{h}.$$

    The fraction is the slope of the straight line through the two points
    $(a, f(a))$ and $(a + h, f(a + h))$, a *secant*. As $h$ shrinks, the second
    point slides onto the first and the secant turns into the *tangent*: the line
    that just touches the curve at $a$. Its slope tells us how fast $f$ changes
    when its input changes, near $a$:

    $$f(a + h) \approx f(a) + f'(a)\, h \qquad \text{for small } h.$$

    We will use a function whose derivative we know by the power rule,

    $$f(x) = 3x^2 - 4x + 5, \qquad f'(x) = 6x - 4, \qquad f'(3) = 14.$$
    """),
    code(r'''
    def f(x):
        return 3 * x**2 - 4 * x + 5


    def f_prime(x):
        """The derivative by the power rule, to compare our estimates against."""
        return 6 * x - 4


    xs = np.linspace(-5, 5, 201)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(xs, f(xs))
    ax.set_title(r"$f(x) = 3x^2 - 4x + 5$")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.grid(alpha=0.3)
    plt.show()
    '''),
    md(r"""
    A computer cannot take a limit, but it can pick a small $h$ and compute the
    fraction. Let us watch the estimate at $a = 3$ as $h$ shrinks.
    """),
    code(r'''
    def forward_difference(f, a, h):
        """Slope of the secant from a to a + h: the fraction inside the limit."""
        return (f(a + h) - f(a)) / h


    a = 3.0
    print(f"{'h':>8}  {'(f(a+h) - f(a)) / h':>20}  {'error':>10}")
    for k in range(0, 9):
        h = 10.0**-k
        slope = forward_difference(f, a, h)
        print(f"{h:8.0e}  {slope:20.10f}  {slope - f_prime(a):10.2e}")
    '''),
    md(r"""
    The estimate approaches $f'(3) = 14$ and the error shrinks in step with $h$.
    For this quadratic we can see why exactly:

    $$\frac{f(a+h) - f(a)}{h} = \frac{3(a+h)^2 - 4(a+h) - 3a^2 + 4a}{h} = 6a - 4 + 3h,$$

    so the error is $3h$: each time $h$ gets ten times smaller, so does the error.
    The picture shows secants for a few values of $h$ closing in on the tangent line
    $y = f(a) + f'(a)(x - a)$.
    """),
    code(r"""
    xs = np.linspace(0.5, 5.5, 201)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(xs, f(xs), color="black", lw=2, label="f(x)")
    for h, color in [(2.0, "tab:orange"), (1.0, "tab:olive"), (0.4, "tab:green")]:
        slope = forward_difference(f, a, h)
        ax.plot(xs, f(a) + slope * (xs - a), "--", color=color, lw=1, label=f"secant, h = {h} (slope {slope:.1f})")
        ax.plot([a + h], [f(a + h)], "o", color=color)
    tangent = f(a) + f_prime(a) * (xs - a)
    ax.plot(xs, tangent, color="tab:red", lw=2, label=f"tangent at a = {a:g} (slope {f_prime(a):g})")
    ax.plot([a], [f(a)], "o", color="tab:red")
    ax.set_ylim(0, 80)
    ax.set_title("Secants through (a, f(a)) and (a + h, f(a + h)) approach the tangent")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    plt.show()
    """),
    md(r"""
    ## 2. How small should $h$ be? Two kinds of error

    The table above stopped at $h = 10^{-8}$, and its last rows already drift from
    $3h$: at $h = 10^{-8}$ the error is $9 \times 10^{-8}$, not $3 \times 10^{-8}$.
    Smaller is not always better, because two different errors pull in opposite
    directions.

    **Truncation error** comes from the formula itself. Taylor's theorem says

    $$f(a + h) = f(a) + h f'(a) + \frac{h^2}{2} f''(a) + \frac{h^3}{6} f'''(a) + \dots$$

    so the **forward difference** is off by about $\frac{h}{2} f''(a)$, an error
    proportional to $h$. The **central difference** looks both ways,

    $$\frac{f(a + h) - f(a - h)}{2h} = f'(a) + \frac{h^2}{6} f'''(a) + \dots,$$

    and the $h^2$ terms cancel, leaving an error proportional to $h^2$: much
    smaller for the same $h$.

    **Round-off error** comes from the computer. A float carries about 16 significant
    digits: each result is rounded with a relative error of up to
    $\varepsilon \approx 2.2 \times 10^{-16}$ (machine epsilon). When $h$ is tiny,
    $f(a + h)$ and $f(a)$ agree in most of their digits; subtracting them cancels the
    digits they share and leaves mostly rounding noise, about $\varepsilon |f(a)|$,
    which the division by $h$ then magnifies:

    $$\text{round-off error} \approx \frac{\varepsilon\, |f(a)|}{h}.$$

    So the total error falls as $h$ shrinks, until round-off takes over and it rises
    again. The best $h$ balances the two: about $\sqrt{\varepsilon} \approx 10^{-8}$
    for the forward difference and about $\sqrt[3]{\varepsilon} \approx 10^{-5}$ for
    the central one.

    To see both errors clearly we use $g(x) = e^x$ at $a = 1$: all of its derivatives
    equal $e$, so the truncation errors are about $\frac{e}{2} h$ and $\frac{e}{6} h^2$.
    (Our quadratic would hide the central difference's truncation error: its third
    derivative is zero.)
    """),
    code(r'''
    def central_difference(f, a, h):
        """Slope of the secant from a - h to a + h; its error shrinks like h squared."""
        return (f(a + h) - f(a - h)) / (2 * h)


    g, a, exact = math.exp, 1.0, math.exp(1.0)
    eps = np.finfo(float).eps

    print(f"machine epsilon = {eps:.3e}\n")
    print(f"{'h':>8}  {'forward error':>14}  {'central error':>14}")
    for k in range(1, 16):
        h = 10.0**-k
        fwd = abs(forward_difference(g, a, h) - exact)
        cen = abs(central_difference(g, a, h) - exact)
        print(f"{h:8.0e}  {fwd:14.3e}  {cen:14.3e}")
    '''),
    md(r"""
    Read the columns downwards: the forward error first falls by a factor of 10 per
    row (error $\propto h$), the central error by a factor of 100 per row
    (error $\propto h^2$); then both turn around and grow again as round-off takes
    over. On a log-log plot a power law $h^p$ is a straight line of slope $p$, so the
    two regimes show up as the two arms of a V.
    """),
    code(r"""
    hs = np.logspace(-16, 0, 161)
    fwd = np.array([abs(forward_difference(g, a, h) - exact) for h in hs])
    cen = np.array([abs(central_difference(g, a, h) - exact) for h in hs])
    # An estimate can land exactly on e by luck; log(0) cannot be drawn, so leave those points out.
    fwd[fwd == 0] = np.nan
    cen[cen == 0] = np.nan

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.loglog(hs, fwd, ".", ms=4, color="tab:blue", label="forward difference")
    ax.loglog(hs, cen, ".", ms=4, color="tab:orange", label="central difference")
    ax.loglog(hs, exact / 2 * hs, "-", color="tab:blue", lw=1, label=r"truncation $\frac{e}{2}h$ (slope 1)")
    ax.loglog(hs, exact / 6 * hs**2, "-", color="tab:orange", lw=1, label=r"truncation $\frac{e}{6}h^2$ (slope 2)")
    ax.loglog(hs, eps * exact / hs, "k--", lw=1, label=r"round-off $\varepsilon e / h$ (slope -1)")
    ax.set_ylim(1e-13, 1e1)
    ax.set_title(r"Error of the numerical derivative of $e^x$ at $x = 1$")
    ax.set_xlabel("step size h")
    ax.set_ylabel("absolute error")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3, which="both")
    plt.show()

    for name, err in [("forward", fwd), ("central", cen)]:
        best = np.nanargmin(err)
        print(f"{name:8s}: smallest error {err[best]:.1e} at h = {hs[best]:.0e}")
    """),
    md(r"""
    The dots follow the solid truncation lines on the right and the dashed round-off
    line on the left. Even at its best, the forward difference gets about 8 digits
    right and the central difference about 11, out of the 16 a float can hold.

    That is why autograd engines do **not** differentiate numerically:

    * the answer is only approximate, and the best $h$ depends on the function;
    * one extra evaluation of the function is needed *per input*: a network with a
      million parameters would need a million forward passes for one gradient.

    Backpropagation gets every partial derivative, correct to rounding, for about the
    cost of one extra pass. Numerical derivatives stay useful as an independent
    **check**: agrad's own tests compare its gradients with central differences.
    """),
    md(r"""
    ## 3. Partial derivatives of $f(a, b, c) = a b + c$

    The seed's example is a function of three variables. A **partial derivative**
    nudges one input and holds the others fixed:

    $$\frac{\partial f}{\partial a} = \lim_{h \to 0} \frac{f(a + h, b, c) - f(a, b, c)}{h},$$

    and likewise for $b$ and $c$. We evaluate at the seed's point $a = 2$, $b = -3$,
    $c = 10$, where $f = 2 \cdot (-3) + 10 = 4$.
    """),
    code(r"""
    def f3(a, b, c):
        return a * b + c


    a, b, c = 2.0, -3.0, 10.0
    h = 1e-6
    print(f"f(a, b, c) = {f3(a, b, c)}")
    print(f"df/da ~ {central_difference(lambda t: f3(t, b, c), a, h):.6f}")
    print(f"df/db ~ {central_difference(lambda t: f3(a, t, c), b, h):.6f}")
    print(f"df/dc ~ {central_difference(lambda t: f3(a, b, t), c, h):.6f}")
    """),
    md(r"""
    Why these numbers? Nudge each input by $h$ and expand:

    * $f(a + h, b, c) = (a + h) b + c = f + h\,b$, so $\dfrac{\partial f}{\partial a} = b = -3$.
      A small change in $a$ is multiplied by $b$ on its way to the output.
    * $f(a, b + h, c) = a (b + h) + c = f + h\,a$, so $\dfrac{\partial f}{\partial b} = a = 2$.
      The derivative of a product with respect to one factor is **the other factor**.
    * $f(a, b, c + h) = a b + c + h = f + h$, so $\dfrac{\partial f}{\partial c} = 1$.
      Addition passes a change through **unchanged**.

    These two facts, "$+$ passes the gradient through" and "$\times$ swaps in the
    other operand", are exactly the local rules that the autograd engine in the next
    notebook applies, node by node. Held fixed in the other two variables, $f$ is a
    straight line in each one, with those slopes:
    """),
    code(r"""
    fig, axes = plt.subplots(1, 3, figsize=(10, 3), sharey=True)
    for ax, name, here, f_of, slope in [
        (axes[0], "a", a, lambda t: f3(t, b, c), b),
        (axes[1], "b", b, lambda t: f3(a, t, c), a),
        (axes[2], "c", c, lambda t: f3(a, b, t), 1.0),
    ]:
        t = np.linspace(here - 5, here + 5, 101)
        ax.plot(t, f_of(t), label=f"slope {slope:g}")
        ax.plot([here], [f3(a, b, c)], "o", color="tab:red", label=f"{name} = {here:g}")
        ax.set_title(f"f as a function of {name} alone")
        ax.set_xlabel(name)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("f(a, b, c)")
    fig.tight_layout()
    plt.show()
    """),
    md(r"""
    ## 4. The chain rule

    Real functions are built by composing simple ones. If $y = g(u)$ and $u = u(x)$,
    the **chain rule** says the rates of change multiply:

    $$\frac{dy}{dx} = \frac{dy}{du} \cdot \frac{du}{dx}.$$

    If $u$ changes 2 times as fast as $x$, and $y$ changes 3 times as fast as $u$,
    then $y$ changes $2 \times 3 = 6$ times as fast as $x$.

    **Example.** $y = \sin(x^2)$ is $y = \sin(u)$ with $u = x^2$, so

    $$\frac{dy}{dx} = \cos(u) \cdot 2x = 2x \cos(x^2).$$
    """),
    code(r'''
    def y(x):
        return np.sin(x**2)


    def dy_dx(x):
        """The chain rule: d sin(u)/du = cos(u), times du/dx = 2x."""
        return np.cos(x**2) * 2 * x


    xs = np.linspace(-3, 3, 401)
    x_check = np.linspace(-3, 3, 25)
    numeric = np.array([central_difference(y, x, 1e-5) for x in x_check])
    print(f"largest difference between the chain rule and the numerical derivative: "
          f"{np.max(np.abs(numeric - dy_dx(x_check))):.1e}")

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(xs, y(xs), color="gray", label=r"$y = \sin(x^2)$")
    ax.plot(xs, dy_dx(xs), color="tab:blue", label=r"chain rule: $2x\cos(x^2)$")
    ax.plot(x_check, numeric, "o", ms=5, mfc="none", color="tab:red", label="central difference, h = 1e-5")
    ax.set_title(r"The chain rule agrees with the numerical derivative of $\sin(x^2)$")
    ax.set_xlabel("x")
    ax.set_ylabel("value")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    plt.show()
    '''),
    md(r"""
    **Through the seed's function.** Feed $f = a b + c$ into one more operation,
    $L = f \cdot g$ with $g = -2$. To get $\partial L / \partial a$ we go *backwards*
    from $L$, multiplying one local derivative per step:

    $$\frac{\partial L}{\partial a} = \frac{\partial L}{\partial f} \cdot \frac{\partial f}{\partial a}
      = g \cdot b = (-2)(-3) = 6.$$

    Each factor is a local rule from section 3: through $\times$ we pick up the
    other operand, through $+$ we pick up $1$. This walk from the output back to the
    inputs, multiplying local derivatives as we go, is **backpropagation**.
    """),
    code(r"""
    def L_of(a, b, c, g):
        return (a * b + c) * g


    a, b, c, g_ = 2.0, -3.0, 10.0, -2.0
    f_val = a * b + c
    chain = {"a": g_ * b, "b": g_ * a, "c": g_ * 1.0, "g": f_val}
    numeric = {
        "a": central_difference(lambda t: L_of(t, b, c, g_), a, 1e-6),
        "b": central_difference(lambda t: L_of(a, t, c, g_), b, 1e-6),
        "c": central_difference(lambda t: L_of(a, b, t, g_), c, 1e-6),
        "g": central_difference(lambda t: L_of(a, b, c, t), g_, 1e-6),
    }
    print(f"L = {L_of(a, b, c, g_)}\n")
    print(f"{'input':>5}  {'chain rule':>10}  {'numerical':>12}")
    for name in chain:
        print(f"{name:>5}  {chain[name]:10.4f}  {numeric[name]:12.6f}")
    """),
    md(r"""
    ## Next: let the computer do it

    We computed these partial derivatives by hand and checked them numerically. An
    autograd engine does the same bookkeeping automatically: it records every
    operation in a graph as the function runs, then walks that graph backwards
    applying the chain rule, exactly as above.

    **Continue with [AutoGrad.ipynb](AutoGrad.ipynb)**, where we build that engine
    step by step, starting from the seed's `Value` class.
    """),
]


# ---------------------------------------------------------------------------
# notebooks/AutoGrad.ipynb
# ---------------------------------------------------------------------------

AUTOGRAD_BY_HAND = [
    md(r"""
    # AutoGrad: building an autograd engine

    In [Understanding_Derivatives.ipynb](Understanding_Derivatives.ipynb) we found
    partial derivatives by hand, with two local rules and the chain rule. Now we
    teach a computer to do it. We start from the seed's `Value` class and grow it,
    one step at a time, into a working autograd engine; then we meet `agrad`, the
    full engine in this repository, and use it to train a small neural network.

    1. A number that remembers how it was made: the seed's `Value` class.
    2. Drawing the computational graph.
    3. Backpropagation by hand, node by node.
    4. A backward rule for each op, and why the walk needs a topological sort.
    5. The same numbers from `agrad.Value`, narrated by `agrad.explain` and drawn by `agrad.draw_graph`.
    6. One neuron, $\tanh(w \cdot x + b)$: by hand, with agrad, and with PyTorch.
    7. Training a neural network, `agrad.nn.MLP`, on two moons.
    """),
    code(r"""
    import math

    import graphviz
    import matplotlib.pyplot as plt

    import agrad

    graphviz.set_jupyter_format("png")  # PNG pictures show on every code host
    %matplotlib inline
    plt.rcParams["figure.dpi"] = 80
    """),
    md(r"""
    ## 1. A number that remembers how it was made

    The seed's example is $f(a, b, c) = a b + c$. To differentiate it, the computer
    must remember *how* $f$ was computed, not just its value. So instead of plain
    floats we use a small class that wraps a number. Step one is just the wrapper:
    the number, `data`, and a name, `label`, to print it by.
    """),
    code(r"""
    class Value:
        def __init__(self, data, label=""):
            self.data = data
            self.label = label

        def __repr__(self):
            return f"Value(data={self.data}, label={self.label})"


    Value(2.0, label="a")
    """),
    md(r"""
    Step two: make `+` and `*` work on Values, and have each result remember the
    Values it was made from (`_prev`, its *children*) and the operation that made it
    (`_op`). Python calls `a.__add__(b)` for `a + b` and `a.__mul__(b)` for `a * b`.
    This is the seed's `Value` class, exactly as the seed's README has it:
    """),
    code(r'''
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
    '''),
    md(r"""
    Now we compute the seed's $f = a b + c$ at $a = 2$, $b = -3$, $c = 10$, naming
    the intermediate product $e = a b$. To have a single final output to
    differentiate, as a loss would be, we multiply by one more number:
    $L = f \cdot g$ with $g = -2$.
    """),
    code(r"""
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
    """),
    md(r"""
    ## 2. Drawing the computational graph

    Following `_prev` from `L` back to the inputs visits every Value that `L`
    depends on: together they form a directed acyclic graph, the **computational
    graph**. A short helper draws it with graphviz: a box for each Value, a circle for
    the operation that made it. (agrad has a full version of this, `agrad.draw_graph`,
    which we use later.)
    """),
    code(r'''
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
    '''),
    md(r"""
    ## 3. Backpropagation by hand, node by node

    We want $\frac{\partial L}{\partial v}$ for every Value $v$ in the graph: how much
    $L$ moves when $v$ moves a little. We call it the **gradient** of $v$, `v.grad`.
    We start at the output and walk backwards, using only the chain rule and the two
    local rules from the last notebook (through $+$ the gradient passes unchanged;
    through $\times$ it is multiplied by the *other* operand):

    | node | rule | gradient |
    |---|---|---|
    | $L$ | $\frac{\partial L}{\partial L} = 1$ | $1$ |
    | $g$ | $L = f g$, so $\frac{\partial L}{\partial g} = f$ | $4$ |
    | $f$ | $L = f g$, so $\frac{\partial L}{\partial f} = g$ | $-2$ |
    | $c$ | $f = e + c$, so $\frac{\partial L}{\partial c} = \frac{\partial L}{\partial f} \cdot 1$ | $-2$ |
    | $e$ | $f = e + c$, so $\frac{\partial L}{\partial e} = \frac{\partial L}{\partial f} \cdot 1$ | $-2$ |
    | $a$ | $e = a b$, so $\frac{\partial L}{\partial a} = \frac{\partial L}{\partial e} \cdot b$ | $(-2)(-3) = 6$ |
    | $b$ | $e = a b$, so $\frac{\partial L}{\partial b} = \frac{\partial L}{\partial e} \cdot a$ | $(-2)(2) = -4$ |

    Each row needs only the gradient of the node just above it and the values of its
    neighbours. We write the results into the graph, one node at a time:
    """),
    code(r"""
    L.grad = 1.0
    g.grad = f.data * L.grad   # L = f * g
    f.grad = g.data * L.grad
    c.grad = 1.0 * f.grad      # f = e + c
    e.grad = 1.0 * f.grad
    a.grad = b.data * e.grad   # e = a * b
    b.grad = a.data * e.grad

    draw_dot(L)
    """),
    md(r"""
    Are these right? The numerical derivative of the last notebook is an independent
    check: nudge one input, recompute $L$ with plain floats, and measure the slope.
    """),
    code(r'''
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
    '''),
    md(r"""
    ## 4. Automating it: a backward rule for each op

    Look again at the code we wrote by hand: every line applies the rule of *one op*
    to *one node*. So we teach each op its rule once, and let a loop do the walking.

    We extend the seed's class in three ways:

    * `grad`, starting at 0.
    * `_children`, the operands **in order**. The seed's `_prev` is a set: a set
      forgets which operand came first (harmless for $\times$ and $+$, fatal for
      $-$ or $/$) and keeps `a * a` as a single child, although `a` was used twice.
      We keep `_prev` as it was.
    * `tanh`, a non-linearity we need for the neuron in section 6.

    Then `backward_step(node)` pushes `node.grad` one step down, to its children,
    using the rule of the op that made it. Each child **adds** (`+=`) its share: a
    Value used in several places gets a contribution from each, and the chain rule
    says they sum.
    """),
    code(r'''
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
    '''),
    md(r"""
    agrad keeps the same rules in one table, `agrad.rules.RULES`, keyed by the op
    string. Each rule takes the incoming gradient `g`, the op's result `out` and its
    operands, and returns one gradient per operand. The rule for `*` is one line:
    """),
    code(r"""
    import inspect

    print(inspect.getsource(agrad.RULES["*"].vjp))
    # e = a * b with a = 2, b = -3: an incoming gradient of 1 gives (b, a)
    print("mul_vjp(g=1.0, out=-6.0, x=2.0, y=-3.0) =", agrad.RULES["*"].vjp(1.0, -6.0, 2.0, -3.0))
    print("ops in the table:", " ".join(sorted(agrad.RULES)))
    """),
    md(r"""
    ### In which order do we visit the nodes?

    `backward_step(node)` passes on whatever `node.grad` holds *at that moment*. So
    before a node passes its gradient on, it must have collected **every**
    contribution from the nodes that use it. In the seed's graph each Value is used
    once and almost any order works. Here is a graph where that fails: $e = a b$ is
    used twice, once directly and once through $f = e + c$,

    $$L = e \cdot f, \qquad e = a b, \qquad f = e + c.$$
    """),
    code(r'''
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
    '''),
    md(r"""
    A natural first try walks depth-first from the output and lets each node pass its
    gradient on as soon as the walk reaches it (visiting each node once):
    """),
    code(r'''
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
    '''),
    md(r"""
    $c$ is right but $a$ and $b$ are wrong. The walk reached $e$ straight from $L$,
    when $e$ held only the contribution through the direct path,
    $\frac{\partial L}{\partial e}\big|_{\text{direct}} = f = 4$, and passed $4$ on to
    $a$ and $b$. Only later did the walk reach $f$, which added its share
    $\frac{\partial L}{\partial f} \cdot 1 = e = -6$ to $e$, making the full
    $\frac{\partial L}{\partial e} = 4 - 6 = -2$. Too late: $a$ and $b$ had already
    been given the wrong number.

    The fix is to visit the nodes in an order where **every node comes after all
    the nodes that use it**. Such an order is the reverse of a **topological sort**,
    a list in which every node comes after all of its children. Depth-first search
    builds one: add a node to the list only once all its children are in it.
    """),
    code(r'''
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
    '''),
    md(r"""
    Now every gradient matches the numerical one; in the picture, $e$'s gradient
    is the full $-2$. (Our `topo_sort` calls itself once per level of the graph, so
    a very deep graph would hit Python's recursion limit. `agrad.toposort` does the
    same walk with an explicit stack: agrad backpropagates through a chain of a
    million ops.)

    This small class is now a working autograd engine: `backward(root)` computes the
    gradient of `root` with respect to every Value it depends on.

    ## 5. The same numbers from `agrad.Value`

    `agrad.Value` is the full engine. It takes the same constructor arguments
    and keeps `data`, `grad`, `label`, `_op` and `_prev`, so the same code builds
    the same graphs. Let us build both examples with both classes and compare every
    value and gradient.
    """),
    code(r'''
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
    '''),
]

AUTOGRAD_NEURON = [
    md(r"""
    ## 6. One neuron: $o = \tanh(w \cdot x + b)$

    A neuron multiplies each input $x_i$ by a weight $w_i$, adds a bias $b$ and
    squashes the sum with a non-linearity, here $\tanh$:

    $$n = w_1 x_1 + w_2 x_2 + b, \qquad o = \tanh(n).$$

    Training a network means nudging $w_1, w_2, b$ to change $o$, so we need
    $\frac{\partial o}{\partial w_i}$ and $\frac{\partial o}{\partial b}$. With
    $x = (2, 0)$, $w = (-3, 1)$ and $b = 6.8813735870195432$ we get
    $n \approx 0.8814$ and $o = \tanh(n) \approx 0.7071 = 1/\sqrt{2}$, chosen so
    the numbers stay simple.

    **By hand.** The derivative of $\tanh$ is $\frac{d}{dn}\tanh(n) = 1 - \tanh^2(n) = 1 - o^2$, so

    $$\frac{\partial o}{\partial n} = 1 - o^2 = 1 - \tfrac12 = 0.5.$$

    $n$ is a sum, so each term receives $0.5$; each term is a product, so each factor
    receives $0.5$ times the other factor:

    $$\frac{\partial o}{\partial b} = 0.5, \quad
      \frac{\partial o}{\partial w_1} = 0.5\, x_1 = 1, \quad
      \frac{\partial o}{\partial x_1} = 0.5\, w_1 = -1.5, \quad
      \frac{\partial o}{\partial w_2} = 0.5\, x_2 = 0, \quad
      \frac{\partial o}{\partial x_2} = 0.5\, w_2 = 0.5.$$

    $\frac{\partial o}{\partial w_2} = 0$ because $x_2 = 0$: whatever $w_2$ is, it
    multiplies zero, so changing it cannot change the output.
    """),
    code(r'''
    point = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}
    # do/dn = 1 - o**2 = 0.5; each factor of a product gets 0.5 times the other factor
    by_hand = {"x1": 0.5 * point["w1"], "x2": 0.5 * point["w2"], "w1": 0.5 * point["x1"], "w2": 0.5 * point["x2"]}
    by_hand["b"] = 0.5


    def neuron(V):
        """o = tanh(x1*w1 + x2*w2 + b), built from any Value class; returns o and the leaves by name."""
        v = {name: V(x, label=name) for name, x in point.items()}
        x1w1 = v["x1"] * v["w1"]; x1w1.label = "x1*w1"
        x2w2 = v["x2"] * v["w2"]; x2w2.label = "x2*w2"
        s = x1w1 + x2w2; s.label = "x1*w1 + x2*w2"
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
    '''),
    md(r"""
    **With PyTorch.** PyTorch computes the same gradients with the same algorithm, on
    tensors instead of scalars. We use 64-bit floats, as Python and agrad do. (This
    cell skips itself if PyTorch is not installed; nothing else in the notebook needs it.)
    """),
    code(r"""
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed: skipping the comparison with it.")

    if torch is not None:
        t = {name: torch.tensor(x, dtype=torch.float64, requires_grad=True) for name, x in point.items()}
        o_torch = torch.tanh(t["x1"] * t["w1"] + t["x2"] * t["w2"] + t["b"])
        o_torch.backward()
        print(f"o = {o_torch.item():.6f} (PyTorch)\n")
        print(f"{'':>4}  {'PyTorch':>8}  {'agrad':>8}")
        for name in point:
            print(f"{name:>4}  {t[name].grad.item():8.4f}  {theirs[name].grad:8.4f}")
            assert math.isclose(t[name].grad.item(), theirs[name].grad, rel_tol=1e-12, abs_tol=1e-15)
    """),
]

AUTOGRAD_TOOLS = [
    md(r"""
    ### Watching agrad work: `agrad.explain` and `agrad.draw_graph`

    `agrad.explain(L)` runs `L.backward()` and narrates every chain-rule step in the
    order backward takes it, with the numbers backward computes. Compare it with the
    table we filled in by hand in section 3:
    """),
    code(r"""
    L, _ = seed_example(agrad.Value)
    steps = agrad.explain(L)
    """),
    md(r"""
    `agrad.draw_graph(L)` draws the graph with the gradients filled in, as our
    `draw_dot` did:
    """),
    code(r"""
    agrad.draw_graph(L)
    """),
    md(r"""
    On the graph where $e$ is used twice, the narration shows the point of the
    topological sort: $e$ collects **both** contributions, from $L$ and from $f$,
    before it passes anything on to $a$ and $b$.
    """),
    code(r"""
    L2, _ = reused_example(agrad.Value)
    steps = agrad.explain(L2)
    agrad.draw_graph(L2)
    """),
]

AUTOGRAD_MLP = [
    md(r"""
    ## 7. Training a neural network: `agrad.nn.MLP` on two moons

    A neural network is many neurons like the one above, in layers. To **train** it
    we need a single number that says how wrong it is, the **loss**; `backward()`
    then gives the gradient of the loss with respect to every weight and bias, and
    we move each of them a small step *against* its gradient, downhill:

    $$p \leftarrow p - \eta \, \frac{\partial \,\text{loss}}{\partial p}
      \qquad \text{(gradient descent, learning rate } \eta).$$

    Repeat: forward pass, loss, zero the old gradients, backward, step.

    The task: two interleaving half-moons of points in the plane, class 0 and class
    1. No straight line separates them, so the network has to learn a curved
    boundary. `agrad.datasets.make_moons` makes them (the same recipe as
    scikit-learn's); we train on 100 points and keep 200 others aside to test on.
    """),
    code(r'''
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
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(fontsize=8)
    plt.show()
    '''),
    md(r"""
    The model is `MLP(2, [16, 16, 1])`: 2 inputs, two hidden layers of 16 ReLU
    neurons, and one output $z$, a raw score (a *logit*). We read it as a
    probability through the sigmoid, $P(\text{class } 1) = \sigma(z) = 1/(1+e^{-z})$,
    and predict class 1 when $z > 0$.

    The loss is the **binary cross-entropy**, which is small when the network gives
    high probability to the right class, plus a tiny L2 penalty
    $\alpha \sum p^2$ that keeps the weights small and the boundary smooth:

    $$\text{loss} = -\frac{1}{N}\sum_{i=1}^{N}\Big[y_i \log \sigma(z_i) + (1 - y_i)\log\big(1 - \sigma(z_i)\big)\Big]
      + \alpha \sum_p p^2.$$
    """),
    code(r"""
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
    """),
    md(r"""
    (The update loop is plain gradient descent; `agrad.optim` has it ready-made as
    `SGD`, and also `Adam`.) The loss falls and the accuracy climbs, though not
    smoothly: at this learning rate a step sometimes overshoots and the loss jumps
    up before it falls again. A smaller rate, say 0.3, is smoother but slower; try it.
    """),
    code(r"""
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
    """),
    md(r"""
    Finally, the **decision boundary**: we ask the trained network for $\sigma(z)$
    on a grid of points covering the plane and colour each by the probability of
    class 1. The boundary, where $z = 0$, curls between the two moons. The held-out
    test points, which the network never saw, fall on the right sides.
    """),
    code(r"""
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
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(fontsize=8, loc="lower left")
    plt.show()
    """),
    md(r"""
    ## Where next

    Everything in this notebook rested on one idea: record the graph as the
    function runs, then walk it backwards in topological order, applying one local
    rule per op. **Continue with [Beyond_Backprop.ipynb](Beyond_Backprop.ipynb)**:
    derivatives of derivatives, forward mode against reverse mode, Jacobians and
    Hessians, and how to check a gradient you do not trust.
    """),
]

AUTOGRAD = AUTOGRAD_BY_HAND + AUTOGRAD_TOOLS + AUTOGRAD_NEURON + AUTOGRAD_MLP


# ---------------------------------------------------------------------------
# notebooks/Beyond_Backprop.ipynb
# ---------------------------------------------------------------------------

BEYOND_BACKPROP = [
    md(r"""
    # Beyond Backprop

    In [AutoGrad.ipynb](AutoGrad.ipynb) we built backpropagation: one walk back
    through the graph gives the derivative of **one output** with respect to
    **every input**. That is exactly what training needs, but it is only one corner
    of automatic differentiation. This notebook explores the rest, with agrad's
    function transforms (modelled on JAX):

    1. `agrad.grad`: a derivative as a new function, and derivatives of derivatives.
    2. Forward mode against reverse mode: which one is cheaper, and when.
    3. A Jacobian, and what it means as a picture.
    4. A Hessian, and what it buys: Newton's method.
    5. `agrad.gradcheck`: how to check a gradient you do not trust.
    6. `agrad.compile`: trace once, then run generated code, measured.
    """),
    code(r"""
    import functools
    import itertools
    import math
    import time

    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LogNorm

    import agrad
    from agrad import grad, hessian, jacfwd, jacobian, jacrev, jvp

    %matplotlib inline
    plt.rcParams["figure.dpi"] = 80
    """),
    md(r"""
    ## 1. Derivatives of derivatives

    `agrad.grad(f)` takes a Python function of numbers and returns a *new function*
    that computes its derivative. Write $f$ with agrad's functions (`agrad.sin`,
    `agrad.tanh`, ...), which accept plain floats as well as Values:
    """),
    code(r"""
    def f(x):
        return agrad.sin(x) * x


    df = grad(f)
    x = 2.0
    print(f"f(2)  = {f(x):.10f}")
    print(f"f'(2) = {df(x):.10f}   agrad.grad")
    print(f"f'(2) = {math.sin(x) + x * math.cos(x):.10f}   closed form: sin x + x cos x")
    """),
    md(r"""
    Because the result is again an ordinary function, we can differentiate it again:
    `grad(grad(f))` is $f''$. This works because every backward rule in
    `agrad.rules` is written with agrad's own operations. When the gradient is
    computed with `create_graph=True`, the rules run on Values, so the backward pass
    records a graph of its own, and that graph can be backpropagated in turn.
    Here is the mechanism by hand, for $y = x^3$ at $x = 2$:
    """),
    code(r"""
    x = agrad.Value(2.0, label="x")
    y = x**3
    y.backward(create_graph=True)
    dy_dx = x.grad  # a Value, 3x^2 = 12, with a graph behind it
    print("dy/dx   =", dy_dx)

    x.grad = 0.0  # clear it, then backpropagate through the gradient itself
    dy_dx.backward()
    print("d2y/dx2 =", x.grad, " (6x = 12)")
    """),
    md(r"""
    `grad` does this bookkeeping for us, to any order. The derivatives of $\tanh$
    have closed forms to compare with: with $t = \tanh x$,

    $$\tanh' = 1 - t^2, \qquad \tanh'' = -2t(1 - t^2), \qquad \tanh''' = -2(1 - t^2)(1 - 3t^2).$$
    """),
    code(r"""
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
    """),
    md(r"""
    ## 2. Forward mode against reverse mode

    Take a function $F: \mathbb{R}^n \to \mathbb{R}^m$ built from simple steps,
    $F = F_k \circ \dots \circ F_2 \circ F_1$. By the chain rule its Jacobian, the
    $m \times n$ matrix of all partial derivatives, is a product of the steps'
    Jacobians:

    $$J = J_k \cdots J_2 \, J_1.$$

    There are two natural orders to multiply it out.

    * **Forward mode** starts at the input. It carries a *tangent* $\dot x$ (a
      direction in input space) through the computation beside the values, and comes
      out with $J \dot x$, a **Jacobian-vector product** (JVP). One pass gives one
      column of $J$: with $\dot x = e_j$, all the derivatives with respect to input
      $j$. agrad does this with *dual numbers*, $x + \dot x\,\varepsilon$ with
      $\varepsilon^2 = 0$, so that $f(x + \dot x\,\varepsilon) = f(x) + f'(x)\,\dot x\,\varepsilon$.
    * **Reverse mode** starts at the output. It records the graph, then carries a
      *cotangent* $\bar y$ backwards and comes out with $\bar y^\top J$, a
      **vector-Jacobian product** (VJP). One pass gives one row of $J$: the
      derivatives of output $i$ with respect to every input. This is backprop.

    So the whole Jacobian costs $n$ forward passes or $m$ reverse passes. A loss has
    $m = 1$ output and maybe millions of inputs: that is why deep learning uses
    reverse mode. For a function with few inputs and many outputs, forward mode wins.

    `agrad.jvp` is one forward-mode pass:
    """),
    code(r"""
    value, tangent = jvp(f, (2.0,), (1.0,))
    print(f"jvp(f, (2,), (1,)) = ({value:.10f}, {tangent:.10f})  # f(2) and f'(2) in one forward pass")
    """),
    md(r"""
    Now we time both modes on two shapes of function. `jacfwd` builds the Jacobian
    one column at a time (forward mode), `jacrev` one row at a time (reverse mode):

    * many inputs, one output: $\;\sum_i \sin(x_i)\, x_{i+1}$, from $\mathbb{R}^n$ to $\mathbb{R}$;
    * one input, many outputs: $\;t \mapsto (\sin t, \sin 2t, \dots, \sin mt)$, from $\mathbb{R}$ to $\mathbb{R}^m$.
    """),
    code(r'''
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
    '''),
    md(r"""
    Each mode's cost grows with the number of passes it needs: forward mode's with
    the number of inputs, reverse mode's with the number of outputs. (Both also grow
    because the function itself gets bigger with $n$.) When the two are about equal,
    `agrad.jacobian` picks for us: forward mode if there are no more inputs than
    outputs, reverse mode otherwise.

    ## 3. A Jacobian, as a picture

    The map from polar to Cartesian coordinates,
    $F(r, \theta) = (r\cos\theta,\; r\sin\theta)$, has the Jacobian

    $$J = \begin{pmatrix} \partial x/\partial r & \partial x/\partial \theta \\
                          \partial y/\partial r & \partial y/\partial \theta \end{pmatrix}
        = \begin{pmatrix} \cos\theta & -r\sin\theta \\ \sin\theta & r\cos\theta \end{pmatrix},
      \qquad \det J = r.$$
    """),
    code(r"""
    def polar(r, theta):
        return [r * agrad.cos(theta), r * agrad.sin(theta)]


    r0, t0 = 2.0, 0.6
    J = np.array(jacobian(polar)(r0, t0))
    J_closed = np.array([[math.cos(t0), -r0 * math.sin(t0)], [math.sin(t0), r0 * math.cos(t0)]])
    print("agrad.jacobian:\n", J)
    print("forward and reverse mode agree:", np.allclose(jacfwd(polar)(r0, t0), jacrev(polar)(r0, t0)))
    print("matches the closed form:      ", np.allclose(J, J_closed))
    print(f"det J = {np.linalg.det(J):.6f} (= r = {r0})")
    """),
    md(r"""
    The Jacobian is the **best linear approximation** of $F$ near a point:
    $F(p + \delta) \approx F(p) + J\delta$. So a small square in the $(r, \theta)$
    plane is mapped to a patch that is almost the parallelogram spanned by $J$'s
    columns, and its area is multiplied by $|\det J| = r$. Below, the red square on
    the left is mapped by $F$ to the red patch on the right; the dashed black
    parallelogram is what $J$ predicts.
    """),
    code(r'''
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
    '''),
    md(r"""
    The parallelogram hugs the true patch: $J$ captures how the map stretches and
    turns things near $p$. Only the curvature of the patch, which comes from second
    derivatives, is missing. The areas agree too (here exactly, because the
    stretching, $r$, grows linearly across the square and $p$ sits at its centre).

    ## 4. A Hessian, and Newton's method

    For a scalar function $f$ of several variables, the **Hessian** is the matrix of
    second derivatives, $H_{ij} = \partial^2 f / \partial x_i \partial x_j$: the
    Jacobian of the gradient. It describes the curvature of $f$. agrad computes it
    the way JAX does, forward mode over reverse mode: `hessian(f) = jacfwd(jacrev(f))`.

    Our example is Rosenbrock's banana-shaped valley, a classic hard test for
    optimisers, with its minimum at $(1, 1)$:

    $$f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2, \qquad
      H = \begin{pmatrix} 2 - 400(y - x^2) + 800x^2 & -400x \\ -400x & 200 \end{pmatrix}.$$
    """),
    code(r'''
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
    '''),
    md(r"""
    At the minimum the two eigenvalues differ by a factor of about 2500: the valley
    is 2500 times more curved across than along. Plain **gradient descent** must take
    steps small enough for the steep direction, so it crawls along the flat one.
    **Newton's method** uses the curvature: it jumps to the minimum of the local
    quadratic model, $p \leftarrow p - H^{-1} \nabla f$, which rescales every direction
    by its own curvature.
    """),
    code(r"""
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
    """),
    md(r"""
    Newton's method reaches the minimum in six steps (its second jump lands far
    below the valley, and the next one corrects it); gradient descent, after 3000
    steps, is still creeping along the valley floor.

    A Hessian also shows **which variables interact**: $H_{ij} \ne 0$ only if $x_i$
    and $x_j$ meet in some term of $f$. In the $n$-variable Rosenbrock function each
    variable meets only its neighbours, so its Hessian is a band along the diagonal:

    $$f(x) = \sum_{i=1}^{n-1} \Big[100\,(x_{i+1} - x_i^2)^2 + (1 - x_i)^2\Big].$$
    """),
    code(r"""
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
    """),
]

BEYOND_GRADCHECK = [
    md(r"""
    ## 5. Checking a gradient you do not trust: `agrad.gradcheck`

    When you write a new function (or a new op for an engine), how do you know its
    derivative is right? Compare it with the numerical derivative of
    [Understanding_Derivatives.ipynb](Understanding_Derivatives.ipynb): central
    differences are slow and only accurate to about 10 digits, but they are
    computed a completely different way, so they make an independent check.

    `agrad.gradcheck(f, inputs)` does this for every input and every output of `f`,
    in every mode: reverse mode through `jacrev`, reverse mode through
    `Value.backward()`, and forward mode through `jacfwd`. `agrad.gradgradcheck`
    does the same for the second derivatives. (agrad's own test suite checks every
    op in its rule table this way, and against PyTorch.)
    """),
    code(r"""
    def h(x, y):
        return agrad.tanh(x * y) + agrad.log(1 + agrad.exp(x)) / y


    print("first derivatives agree: ", agrad.gradcheck(h, [0.7, 1.3]))
    print("second derivatives agree:", agrad.gradgradcheck(h, [0.7, 1.3]))
    """),
    md(r"""
    Here is a bug that gradcheck catches. A function computes part of its result
    with `math.exp` on the plain number inside `x`. The value is right, but agrad
    never sees that operation, so its derivative is silently lost: the true
    derivative of $x e^x$ is $(1 + x) e^x$, and agrad can only find the $e^x$ part.
    """),
    code(r"""
    def buggy(x):
        return x * math.exp(float(x))  # float(x) leaves the graph: use agrad.exp(x)


    def fixed(x):
        return x * agrad.exp(x)


    try:
        agrad.gradcheck(buggy, [0.5])
    except agrad.GradcheckError as error:
        print("buggy:", error)
    print("fixed:", agrad.gradcheck(fixed, [0.5]))
    """),
    md(r"""
    One failure is not a bug. At a **kink** such as $\text{relu}(x) = \max(0, x)$
    at $x = 0$, the derivative does not exist. agrad, like PyTorch, uses $0$ there,
    while the central difference straddles the kink and sees the average of the two
    slopes, $0.5$. Check gradients at points away from kinks:
    """),
    code(r"""
    try:
        agrad.gradcheck(agrad.relu, [0.0])
    except agrad.GradcheckError as error:
        print("at the kink:", error)
    print("away from it:", agrad.gradcheck(agrad.relu, [0.3]), agrad.gradcheck(agrad.relu, [-0.3]))
    """),
]

BEYOND_COMPILE = [
    md(r"""
    ## 6. Faster: `agrad.compile`

    Eager agrad does a lot of work on every call: it creates a Python object for
    every operation, sorts the graph, and looks up one rule per node on the way
    back. Yet for a given function the graph is the same on every call; only the
    numbers change. `agrad.compile(f)`, like `jax.jit`, runs `f` **once** on
    placeholders to record the graph, then generates straight-line code for it:
    the forward pass and, derived from the same rule table, the backward pass.
    Later calls just run that code. Given NumPy arrays, the compiled function runs
    the same scalar program on every element at once (like `jax.vmap`).

    First, the gradient of our 128-input function from section 2:
    """),
    code(r'''
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
    '''),
    md(r"""
    The bigger win is a training step. In eager mode, one step of the two-moons
    network from [AutoGrad.ipynb](AutoGrad.ipynb) builds 100 separate graphs, one
    per point. Compiled, we write the loss for **one** point (the cross-entropy
    $\text{softplus}(z) - t z$, the numerically safe form of the formula there),
    pass the whole data set as NumPy arrays, and ask for the mean over the batch;
    `params=` says which Values are the model's parameters, whose `.grad` each call
    fills in, exactly as `loss.backward()` would.
    """),
    code(r'''
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


    def point_loss(x1, x2, t):
        """The cross-entropy for one point, written for scalars."""
        z = model([x1, x2])
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
    '''),
    code(r"""
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
    """),
    md(r"""
    (The numbers are measured when the notebook runs, so they vary from machine to
    machine; the repository's `benchmarks/` scripts measure speed properly, against
    micrograd and PyTorch.)

    The catch is the same as for `jax.jit`: the trace records one graph. Python
    control flow that looks at `.data` (an `if x > 0:` on an argument) cannot be
    traced, and agrad refuses it with a clear `agrad.TracingError` rather than
    silently freezing one branch. Ops whose derivative depends on the data, such
    as `relu`, `abs`, `min` and `max`, are fine: their gradient code is derived
    with both branches.
    """),
    code(r"""
    def branchy(x):
        return 2 * x if x > 0 else -x  # a Python decision on the number inside x


    try:
        agrad.compile(branchy)(1.0)
    except agrad.TracingError as error:
        print("TracingError:", error)

    smooth = agrad.compile(grad(lambda x: agrad.relu(x) * 3 - x))  # the same kind of kink, with an agrad op
    print("relu inside compile, gradient at -1 and at 1:", smooth(-1.0), smooth(1.0))
    """),
    md(r"""
    ## Summary

    * A gradient is a function; `grad` composes to any order because every rule is
      written with the engine's own operations.
    * Forward mode pushes tangents (one pass per input); reverse mode pulls
      gradients back (one pass per output). Deep learning's losses have one output,
      so it uses reverse mode: backpropagation.
    * The Jacobian is the best local linear map; the Hessian, its curvature, which
      Newton's method uses to take far better steps.
    * `gradcheck` compares all of them with central differences, the slow but
      independent check from the first notebook.
    * `agrad.compile` records the graph once and runs generated code.
    """),
]

BEYOND = BEYOND_BACKPROP + BEYOND_GRADCHECK + BEYOND_COMPILE


NOTEBOOKS: dict[str, list[Cell]] = {
    "Understanding_Derivatives": UNDERSTANDING_DERIVATIVES,
    "AutoGrad": AUTOGRAD,
    "Beyond_Backprop": BEYOND,
}


def make_notebook(cells: list[Cell]) -> Any:
    """A fresh nbformat v4 notebook holding copies of cells (so building twice never shares state)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.from_dict(dict(c)) for c in cells]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # fixed ids, so a rebuild changes only what really changed
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    return nb


def execute(nb: Any, timeout: int = CELL_TIMEOUT_S) -> float:
    """Run nb in place with a fresh kernel in notebooks/ and return the wall time in seconds."""
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
        record_timing=False,  # timestamps would make every rebuild a diff
    )
    client.execute()
    seconds = time.perf_counter() - start
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
    return seconds


def coalesce_streams(outputs: list[Any]) -> list[Any]:
    """Join consecutive prints to the same stream into one output, as a learner's Jupyter shows them."""
    joined: list[Any] = []
    for out in outputs:
        prev = joined[-1] if joined else None
        if out.output_type == "stream" and prev is not None and prev.output_type == "stream" and prev.name == out.name:
            prev.text += out.text
        else:
            joined.append(out)
    return joined


def sources(nb: Any) -> list[tuple[str, str]]:
    """The (cell type, source) pairs of a notebook: what --check compares."""
    return [(c.cell_type, c.source) for c in nb.cells]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="build only notebooks whose name contains one of these")
    parser.add_argument("--no-execute", action="store_true", help="write the notebooks without running them")
    parser.add_argument("--check", action="store_true", help="compare committed notebooks with these sources")
    args = parser.parse_args(argv)
    chosen = {n: cells for n, cells in NOTEBOOKS.items() if not args.names or any(s in n for s in args.names)}
    if not chosen:
        parser.error(f"no notebook matches {args.names}; known: {', '.join(NOTEBOOKS)}")
    NOTEBOOK_DIR.mkdir(exist_ok=True)
    stale = []
    for name, cells in chosen.items():
        path = NOTEBOOK_DIR / f"{name}.ipynb"
        nb = make_notebook(cells)
        if args.check:
            if not path.exists() or sources(nbformat.read(path, as_version=4)) != sources(nb):
                stale.append(path.name)
            continue
        if not args.no_execute:
            seconds = execute(nb)
            print(f"{path.name}: executed in {seconds:.1f} s")
        nbformat.write(nb, path)
    if stale:
        print(f"out of date with scripts/build_notebooks.py: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
