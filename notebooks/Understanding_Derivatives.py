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
# # Understanding Derivatives
#
# An autograd engine computes **derivatives**. Before we build one (in
# [AutoGrad.ipynb](AutoGrad.ipynb)), this notebook makes sure we know exactly what a
# derivative is, how to estimate one with nothing but a calculator, and why that
# estimate is not good enough to train a model.
#
# 1. The derivative as a limit, and the tangent line.
# 2. How small should $h$ be? Truncation error against round-off error.
# 3. Partial derivatives of the seed's function $f(a, b, c) = a b + c$.
# 4. The chain rule, checked numerically.
#
# Only Python, NumPy and matplotlib are used here: no autograd yet.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

# %matplotlib inline
plt.rcParams["figure.dpi"] = 80


# %% [markdown]
# ## 1. The derivative is a limit
#
# For a function $f$ of one variable, the derivative at a point $a$ is
#
# $$f'(a) = \lim_{h \to 0} \frac{f(a + h) - f(a)}{h}.$$
#
# The fraction is the slope of the straight line through the two points
# $(a, f(a))$ and $(a + h, f(a + h))$, a *secant*. As $h$ shrinks, the second
# point slides onto the first and the secant turns into the *tangent*: the line
# that just touches the curve at $a$. Its slope tells us how fast $f$ changes
# when its input changes, near $a$:
#
# $$f(a + h) \approx f(a) + f'(a)\, h \qquad \text{for small } h.$$
#
# We will use a function whose derivative we know by the power rule,
#
# $$f(x) = 3x^2 - 4x + 5, \qquad f'(x) = 6x - 4, \qquad f'(3) = 14.$$

# %%
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


# %% [markdown]
# A computer cannot take a limit, but it can pick a small $h$ and compute the
# fraction. Let us watch the estimate at $a = 3$ as $h$ shrinks.

# %%
def forward_difference(f, a, h):
    """Slope of the secant from a to a + h: the fraction inside the limit."""
    return (f(a + h) - f(a)) / h


a = 3.0
print(f"{'h':>8}  {'(f(a+h) - f(a)) / h':>20}  {'error':>10}")
for k in range(0, 9):
    h = 10.0**-k
    slope = forward_difference(f, a, h)
    print(f"{h:8.0e}  {slope:20.10f}  {slope - f_prime(a):10.2e}")

# %% [markdown]
# The estimate approaches $f'(3) = 14$ and the error shrinks in step with $h$.
# For this quadratic we can see why exactly:
#
# $$\frac{f(a+h) - f(a)}{h} = \frac{3(a+h)^2 - 4(a+h) - 3a^2 + 4a}{h} = 6a - 4 + 3h,$$
#
# so the error is $3h$: each time $h$ gets ten times smaller, so does the error.
# The picture shows secants for a few values of $h$ closing in on the tangent line
# $y = f(a) + f'(a)(x - a)$.

# %%
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


# %% [markdown]
# ## 2. How small should $h$ be? Two kinds of error
#
# The table above stopped at $h = 10^{-8}$, and its last rows already drift from
# $3h$: at $h = 10^{-8}$ the error is $9 \times 10^{-8}$, not $3 \times 10^{-8}$.
# Smaller is not always better, because two different errors pull in opposite
# directions.
#
# **Truncation error** comes from the formula itself. Taylor's theorem says
#
# $$f(a + h) = f(a) + h f'(a) + \frac{h^2}{2} f''(a) + \frac{h^3}{6} f'''(a) + \dots$$
#
# so the **forward difference** is off by about $\frac{h}{2} f''(a)$, an error
# proportional to $h$. The **central difference** looks both ways,
#
# $$\frac{f(a + h) - f(a - h)}{2h} = f'(a) + \frac{h^2}{6} f'''(a) + \dots,$$
#
# and the $h^2$ terms cancel, leaving an error proportional to $h^2$: much
# smaller for the same $h$.
#
# **Round-off error** comes from the computer. A float carries about 16 significant
# digits: each result is rounded with a relative error of up to
# $\varepsilon \approx 2.2 \times 10^{-16}$ (machine epsilon). When $h$ is tiny,
# $f(a + h)$ and $f(a)$ agree in most of their digits; subtracting them cancels the
# digits they share and leaves mostly rounding noise, about $\varepsilon |f(a)|$,
# which the division by $h$ then magnifies:
#
# $$\text{round-off error} \approx \frac{\varepsilon\, |f(a)|}{h}.$$
#
# So the total error falls as $h$ shrinks, until round-off takes over and it rises
# again. The best $h$ balances the two: about $\sqrt{\varepsilon} \approx 10^{-8}$
# for the forward difference and about $\sqrt[3]{\varepsilon} \approx 10^{-5}$ for
# the central one.
#
# To see both errors clearly we use $g(x) = e^x$ at $a = 1$: all of its derivatives
# equal $e$, so the truncation errors are about $\frac{e}{2} h$ and $\frac{e}{6} h^2$.
# (Our quadratic would hide the central difference's truncation error: its third
# derivative is zero.)

# %%
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

# %% [markdown]
# Read the columns downwards: the forward error first falls by a factor of 10 per
# row (error $\propto h$), the central error by a factor of 100 per row
# (error $\propto h^2$); then both turn around and grow again as round-off takes
# over. On a log-log plot a power law $h^p$ is a straight line of slope $p$, so the
# two regimes show up as the two arms of a V.

# %%
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


# %% [markdown]
# The dots follow the solid truncation lines on the right and the dashed round-off
# line on the left. Even at its best, the forward difference gets about 8 digits
# right and the central difference about 11, out of the 16 a float can hold.
#
# That is why autograd engines do **not** differentiate numerically:
#
# * the answer is only approximate, and the best $h$ depends on the function;
# * one extra evaluation of the function is needed *per input*: a network with a
#   million parameters would need a million forward passes for one gradient.
#
# Backpropagation gets every partial derivative, correct to rounding, for about the
# cost of one extra pass. Numerical derivatives stay useful as an independent
# **check**: agrad's own tests compare its gradients with central differences.

# %% [markdown]
# ## 3. Partial derivatives of $f(a, b, c) = a b + c$
#
# The seed's example is a function of three variables. A **partial derivative**
# nudges one input and holds the others fixed:
#
# $$\frac{\partial f}{\partial a} = \lim_{h \to 0} \frac{f(a + h, b, c) - f(a, b, c)}{h},$$
#
# and likewise for $b$ and $c$. We evaluate at the seed's point $a = 2$, $b = -3$,
# $c = 10$, where $f = 2 \cdot (-3) + 10 = 4$.

# %%
def f3(a, b, c):
    return a * b + c


a, b, c = 2.0, -3.0, 10.0
h = 1e-6
print(f"f(a, b, c) = {f3(a, b, c)}")
print(f"df/da ~ {central_difference(lambda t: f3(t, b, c), a, h):.6f}")
print(f"df/db ~ {central_difference(lambda t: f3(a, t, c), b, h):.6f}")
print(f"df/dc ~ {central_difference(lambda t: f3(a, b, t), c, h):.6f}")

# %% [markdown]
# Why these numbers? Nudge each input by $h$ and expand:
#
# * $f(a + h, b, c) = (a + h) b + c = f + h\,b$, so $\dfrac{\partial f}{\partial a} = b = -3$.
#   A small change in $a$ is multiplied by $b$ on its way to the output.
# * $f(a, b + h, c) = a (b + h) + c = f + h\,a$, so $\dfrac{\partial f}{\partial b} = a = 2$.
#   The derivative of a product with respect to one factor is **the other factor**.
# * $f(a, b, c + h) = a b + c + h = f + h$, so $\dfrac{\partial f}{\partial c} = 1$.
#   Addition passes a change through **unchanged**.
#
# These two facts, "$+$ passes the gradient through" and "$\times$ swaps in the
# other operand", are exactly the local rules that the autograd engine in the next
# notebook applies, node by node. Held fixed in the other two variables, $f$ is a
# straight line in each one, with those slopes:

# %%
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


# %% [markdown]
# ## 4. The chain rule
#
# Real functions are built by composing simple ones. If $y = g(u)$ and $u = u(x)$,
# the **chain rule** says the rates of change multiply:
#
# $$\frac{dy}{dx} = \frac{dy}{du} \cdot \frac{du}{dx}.$$
#
# If $u$ changes 2 times as fast as $x$, and $y$ changes 3 times as fast as $u$,
# then $y$ changes $2 \times 3 = 6$ times as fast as $x$.
#
# **Example.** $y = \sin(x^2)$ is $y = \sin(u)$ with $u = x^2$, so
#
# $$\frac{dy}{dx} = \cos(u) \cdot 2x = 2x \cos(x^2).$$

# %%
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


# %% [markdown]
# **Through the seed's function.** Feed $f = a b + c$ into one more operation,
# $L = f \cdot g$ with $g = -2$. To get $\partial L / \partial a$ we go *backwards*
# from $L$, multiplying one local derivative per step:
#
# $$\frac{\partial L}{\partial a} = \frac{\partial L}{\partial f} \cdot \frac{\partial f}{\partial a}
#   = g \cdot b = (-2)(-3) = 6.$$
#
# Each factor is a local rule from section 3: through $\times$ we pick up the
# other operand, through $+$ we pick up $1$. This walk from the output back to the
# inputs, multiplying local derivatives as we go, is **backpropagation**.

# %%
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

# %% [markdown]
# ## Next: let the computer do it
#
# We computed these partial derivatives by hand and checked them numerically. An
# autograd engine does the same bookkeeping automatically: it records every
# operation in a graph as the function runs, then walks that graph backwards
# applying the chain rule, exactly as above.
#
# **Continue with [AutoGrad.ipynb](AutoGrad.ipynb)**, where we build that engine
# step by step, starting from the seed's `Value` class.
