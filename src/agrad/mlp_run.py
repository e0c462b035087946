"""Toy-data runs of the ``agrad`` command: a scalar ``agrad.nn.MLP`` on 2-D points, its pictures and its reuse.

``agrad demo`` and ``agrad train --dataset {moons,circles,blobs,spirals}`` come
here: ``train`` fits an MLP of Values to one of ``agrad.datasets``' toy sets
(full batch, max-margin loss for two classes, cross-entropy for more, plus L2),
and ``run`` writes the run folder: ``model.json``, ``run.json`` (kind
``"mlp"``), ``loss.png`` and ``decision_boundary.png`` (matplotlib), and
``neuron.dot`` and ``neuron.png`` (graphviz), the graph of one trained neuron.
``load_run``, ``predict_run`` and ``eval_run`` use such a folder again; a bad
folder or input is a ``RunError``. ``memory_needed`` and ``check_memory`` refuse
a model too big for this machine before anything is allocated.

>>> cfg = Config(dataset="blobs", samples=30); cfg.hidden, cfg.steps, CLASSES[cfg.dataset]
([16, 16], 100, 3)
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NoReturn

from agrad import datasets
from agrad.losses import cross_entropy, hinge_loss, l2_penalty
from agrad.modes import no_grad
from agrad.nn import MLP, Neuron
from agrad.optim import SGD, Adam, Optimizer, cosine_decay, linear_decay
from agrad.progress import tqdm_bar
from agrad.serialize import _encode, _write_atomic, load, save
from agrad.value import Value, dot

DATASETS = ("moons", "circles", "blobs", "spirals")
CLASSES = {"moons": 2, "circles": 2, "blobs": 3, "spirals": 2}
NOISE = {"moons": 0.1, "circles": 0.05, "blobs": 0.6, "spirals": 0.2}
BLOB_BOX = (-4.0, 4.0)  # where the blobs' centers are drawn
MAX_NOISE = 1000.0  # the data sets span about [-4, 4]; past this it is all noise, and far past it coordinates overflow
LR = {"sgd": 1.0, "adam": 0.05}
# One per class; class 0 blue and class 1 red, as in the notebooks.
COLORS = ["tab:blue", "tab:red", "tab:green", "tab:orange", "tab:purple", "tab:brown"]
ALPHA = 1e-4  # the L2 strength of micrograd's demo
KIND = "mlp"  # run.json's "kind" for the runs this module trains
# Everything a run writes to --out; a new run removes what an older one left, so runs never mix.
OWNED = ("model.json", "run.json", "loss.png", "decision_boundary.png", "neuron.dot", "neuron.png")
HELD_OUT = 1000  # agrad eval's fresh sample size

# Bytes a run needs, measured with tracemalloc on MLP(2, [200, 200, 1]) and 100 points:
# a parameter Value; per point and parameter, the slot a step's dot node holds for it;
# per point and neuron, a step's nodes; per step, its loss and accuracy in lists and run.json.
BYTES_PER_PARAM = 130
BYTES_PER_OPERAND = 16
BYTES_PER_NEURON = 400
BYTES_PER_STEP = 100


class RunError(ValueError):
    """A run folder, a setting or an input that cannot be used; the command prints it as one line.

    >>> str(RunError("no model.json in 'x'"))
    "no model.json in 'x'"
    """


@dataclass
class Config:
    """Everything that decides a run; saved to run.json so a run can be repeated.

    >>> cfg = Config(dataset="circles", steps=10); cfg.hidden, cfg.lr, Config(**asdict(cfg)) == cfg
    ([16, 16], None, True)
    """

    dataset: str = "moons"
    samples: int = 100
    noise: float | None = None  # None: the data set's own default, NOISE[dataset]
    hidden: list[int] = field(default_factory=lambda: [16, 16])
    steps: int = 100
    optimizer: str = "sgd"
    lr: float | None = None  # None: LR[optimizer]
    schedule: str = "linear"
    seed: int = 1337
    out: str = "agrad-demo"
    compile: bool = False  # run each step as agrad.compile's generated NumPy code


# -- memory --------------------------------------------------------------------


def _size(n: float) -> str:
    """A byte count as people read it: 1.5 GB, 17 TB (past petabytes, a power of ten).

    >>> _size(999), _size(1.5e9), _size(5.2e24)
    ('999 B', '1.5 GB', '5.2e+24 bytes')
    """
    if n >= 1e18:
        return f"{n:.2g} bytes"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000:
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


def _memory() -> int | None:
    """This machine's physical memory in bytes, where the system says (Linux, macOS)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def memory_needed(hidden: Sequence[int], outputs: int, samples: int = 0, steps: int = 0) -> int:
    """About how many bytes a model of these layers takes, and a run on ``samples`` points for ``steps`` steps.

    >>> _size(memory_needed([16, 16], 1, samples=100, steps=100))
    '1.91 MB'
    >>> _size(memory_needed([100000, 100000], 1))
    '1.3 TB'
    """
    sizes = [2, *hidden, outputs]
    params = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
    per_point = BYTES_PER_OPERAND * params + BYTES_PER_NEURON * sum(sizes[1:])
    return BYTES_PER_PARAM * params + samples * per_point + BYTES_PER_STEP * steps


def check_memory(hidden: Sequence[int], outputs: int, samples: int = 0, steps: int = 0) -> None:
    """Refuse, before any allocation, a model or run that needs more memory than this machine has.

    >>> check_memory([16, 16], 1, 100, 100)
    >>> check_memory([10**20], 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    agrad.mlp_run.RunError: a model with hidden layers [100000000000000000000] needs about 5.2e+22 bytes of memory, ...
    """
    need, have = memory_needed(hidden, outputs, samples, steps), _memory()
    if have is not None and need > have:
        run = f" trained on {samples} points for {steps} steps" if samples else ""
        raise RunError(
            f"a model with hidden layers {list(hidden)}{run} needs about {_size(need)} of memory,"
            f" more than this machine's {_size(have)}"
        )


# -- training ------------------------------------------------------------------

Data = tuple[list[list[float]], list[int]]
StepFn = Callable[[], tuple[float, float]]


def _outputs(dataset: str) -> int:
    """The model's last layer: one score for two classes (max-margin loss), else one per class."""
    classes = CLASSES[dataset]
    return 1 if classes == 2 else classes


def make_data(cfg: Config, samples: int | None = None, seed: int | None = None) -> Data:
    """The run's data set, from its name, size, noise and seed; or, given ``seed``, a fresh sample of it.

    A fresh sample comes from the same distribution (the blobs around the run's
    centers) with ``samples`` points (default: the run's number).

    >>> X, y = make_data(Config(dataset="blobs", samples=30, noise=0.5)); len(X), sorted(set(y))
    (30, [0, 1, 2])
    >>> len(make_data(Config(), samples=7, seed=2)[0]), make_data(Config(), seed=2) != make_data(Config())
    (7, True)
    """
    n = cfg.samples if samples is None else samples
    s = cfg.seed if seed is None else seed
    noise = NOISE[cfg.dataset] if cfg.noise is None else cfg.noise
    if cfg.dataset == "moons":
        return datasets.make_moons(n, noise=noise, seed=s)
    if cfg.dataset == "circles":
        return datasets.make_circles(n, noise=noise, seed=s)
    if cfg.dataset == "blobs":
        where = datasets.blob_centers(CLASSES["blobs"], BLOB_BOX, cfg.seed)  # the run's blobs, whichever seed
        return datasets.make_blobs(n, centers=where, std=noise, seed=s)
    return datasets.make_spirals(n, classes=CLASSES["spirals"], noise=noise, seed=s)


def _label(out: Any, classes: int) -> int:
    """The class a model output stands for: the sign of one score, or the largest of several."""
    if classes == 2:
        return int(out.data > 0)
    return max(range(classes), key=lambda c: out[c].data)


def accuracy(model: MLP, data: Data, classes: int) -> float:
    """The fraction of ``data``'s points that ``model`` puts in their class.

    >>> model = MLP(2, [1], seed=0); n = model.layers[0].neurons[0]; n.w[0].data, n.w[1].data = 1.0, 0.0
    >>> accuracy(model, ([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0]], [1, 1, 1]), 2)
    0.6666666666666666
    """
    X, y = data
    with no_grad():  # only the numbers: no graph is kept
        return sum(_label(model(x), classes) == c for x, c in zip(X, y)) / len(y)


def make_step(model: MLP, X: list[list[float]], y: list[int], classes: int) -> StepFn:
    """One full-batch training step without the update: forward, loss, zero_grad, backward.

    Returns a function giving (loss, accuracy) of the weights as they are, before
    any update. This is the hook for a ``--compile`` flag: a compiled step with
    the same signature can replace it, and the loop around it does not change.

    >>> model = MLP(2, [4, 1], seed=0)
    >>> loss, acc = make_step(model, [[0.0, 1.0], [1.0, 0.0]], [0, 1], 2)()
    >>> loss > 0 and 0.0 <= acc <= 1.0
    True
    """
    params = model.parameters()
    signs = [2 * c - 1 for c in y]  # the max-margin loss wants labels -1 / +1

    def step() -> tuple[float, float]:
        scores = [model(x) for x in X]
        data_loss = hinge_loss(scores, signs) if classes == 2 else cross_entropy(scores, y)
        loss = data_loss + l2_penalty(params, ALPHA)
        model.zero_grad()
        loss.backward()
        hits = sum(_label(s, classes) == c for s, c in zip(scores, y))
        return loss.data, hits / len(y)

    return step


def _lr(cfg: Config) -> float:
    return LR[cfg.optimizer] if cfg.lr is None else cfg.lr


def _schedule(cfg: Config) -> Callable[[int], float]:
    lr = _lr(cfg)
    if cfg.schedule == "linear":
        return linear_decay(lr, cfg.steps)
    if cfg.schedule == "cosine":
        return cosine_decay(lr, cfg.steps)
    return lambda k: lr


@dataclass
class Result:
    """What a run produced: the model, the data, and the loss and accuracy after each step.

    ``losses[k]`` and ``accuracies[k]`` are those of the weights after k updates,
    from k = 0 (the initial weights) to k = steps (the trained model), so the
    last entries are the trained model's: ``final_accuracy`` is ``accuracies[-1]``.

    >>> r = train(Config(steps=2, samples=10, hidden=[4], seed=0))
    >>> r.model, r.classes, len(r.data[0]), len(r.losses) == len(r.accuracies) == 3
    (MLP(2, [4, 1], nonlin='relu'), 2, 10, True)
    >>> r.final_accuracy == r.accuracies[-1]
    True
    """

    model: MLP
    data: Data
    classes: int
    losses: list[float]
    accuracies: list[float]
    final_accuracy: float
    seconds: float


def train(cfg: Config, log: Callable[[int, float, float], None] | None = None) -> Result:
    """Train an MLP as ``cfg`` says; ``log(k, loss, accuracy)`` is called for the weights after k updates, k = 0..steps.

    >>> r = train(Config(steps=3, samples=20, seed=0))
    >>> len(r.losses), r.losses == train(Config(steps=3, samples=20, seed=0)).losses
    (4, True)
    """
    X, y = make_data(cfg)
    classes = CLASSES[cfg.dataset]
    model = MLP(2, [*cfg.hidden, _outputs(cfg.dataset)], seed=cfg.seed)
    lr_at = _schedule(cfg)
    opt: Optimizer = (
        SGD(model.parameters(), lr=lr_at(0)) if cfg.optimizer == "sgd" else Adam(model.parameters(), lr_at(0))
    )
    step = make_step(model, X, y, classes)
    if cfg.compile:
        from agrad.compile.training import compiled_step

        step = compiled_step(model, X, y, classes, ALPHA)
    losses: list[float] = []
    accs: list[float] = []
    t0 = time.perf_counter()
    for k in range(cfg.steps + 1):
        # The step measures the weights as they are (after k updates); the last one
        # measures the trained model, whose numbers are the run's final ones.
        loss, acc = step()
        losses.append(loss)
        accs.append(acc)
        if log is not None:
            log(k, loss, acc)
        if k < cfg.steps:
            opt.lr = lr_at(k)
            opt.step()
    seconds = time.perf_counter() - t0
    return Result(model, (X, y), classes, losses, accs, accs[-1], seconds)


# -- output: progress, pictures, the run folder ---------------------------------


class _Progress:
    """A tqdm bar with loss and accuracy on a terminal; otherwise about ten plain lines."""

    def __init__(self, steps: int, quiet: bool, note: Callable[[str], None]) -> None:
        self.steps, self.bar = steps, tqdm_bar(steps, quiet, note)
        self.every = max(1, steps // 10)

    def __call__(self, k: int, loss: float, acc: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.0%}", refresh=False)
            self.bar.update(1 if k else 0)
        elif k % self.every == 0 or k == self.steps:
            print(f"step {k:>5}/{self.steps}  loss {loss:.4f}  accuracy {acc:.0%}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _pyplot(note: Callable[[str], None]) -> Any:
    try:
        import matplotlib
    except ImportError:
        note('no PNG plots: matplotlib is not installed (pip install "agrad[plot]")')
        return None
    matplotlib.use("Agg")  # headless: draws to files, needs no display
    import matplotlib.pyplot as plt

    return plt


def _plot_loss(plt: Any, r: Result, path: str) -> None:
    """Loss (log scale) and accuracy against the step, side by side; step 0 is the initial weights."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    steps = range(len(r.losses))
    a.plot(steps, r.losses, color="tab:blue")
    a.set(xlabel="step", ylabel="loss (data + L2)", title="training loss")
    finite = [x for x in r.losses if math.isfinite(x)]
    if finite and min(finite) > 0 and max(finite) >= 10 * min(finite):  # under a decade, a log axis shows nothing more
        a.set_yscale("log")
        # Plain numbers (0.05, 0.1, 0.2) rather than 10^-1 notation, at 1-2-5 steps.
        a.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        a.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        a.yaxis.set_minor_formatter(NullFormatter())
        a.set_ylabel("loss (data + L2), log scale")
    b.plot(steps, [100 * x for x in r.accuracies], color="tab:green")
    b.set(xlabel="step", ylabel="accuracy (%)", title=f"accuracy (final {r.final_accuracy:.0%})", ylim=(0, 102))
    for ax in (a, b):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))  # whole steps: 0, 20, 40
        ax.set_xlim(0, max(1, len(r.losses) - 1))
        ax.grid(alpha=0.3)
    _save_figure(plt, fig, path)


def _save_figure(plt: Any, fig: Any, path: str) -> None:
    """The figure as a PNG at path, drawn in memory first so that the file is whole or untouched."""
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    plt.close(fig)
    _write_atomic(path, png.getvalue())


def _plot_boundary(plt: Any, r: Result, path: str, title: str, resolution: int = 300) -> None:
    """The model's class probabilities over the plane (shading), its decision boundary, and the data on top.

    Two classes: P(class 1) = sigmoid(score), shaded from one class's colour to
    the other's, with the 0.5 contour (score 0) drawn. More classes: each point
    takes its class's colour, paler where the softmax is less sure, with the
    boundaries drawn where the top class changes. The grid is evaluated by
    ``agrad.compile``'s NumPy executor (matplotlib brings NumPy), so it can be fine.
    """
    import numpy as np
    from matplotlib.colors import LinearSegmentedColormap, to_rgb
    from matplotlib.lines import Line2D

    from agrad.compile import compile as compile_fn

    X, y = r.data
    xs, ys = np.array([p[0] for p in X]), np.array([p[1] for p in X])
    pad = 0.1 * max(float(np.ptp(xs)), float(np.ptp(ys)), 1.0)
    x0, x1, y0, y1 = xs.min() - pad, xs.max() + pad, ys.min() - pad, ys.max() + pad
    gu, gv = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    model = r.model
    # NumPy, not the native executor: a picture should not start a C compiler or fill its cache.
    scores = np.asarray(compile_fn(lambda u, v: model([u, v]), executor="numpy")(gu, gv), dtype=float)
    colors = COLORS[: r.classes]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    extent = (x0, x1, y0, y1)
    if r.classes == 2:
        p1 = 0.5 * (1.0 + np.tanh(0.5 * scores))  # sigmoid, without overflow for large scores
        cmap = LinearSegmentedColormap.from_list("classes", [colors[0], "white", colors[1]])
        im = ax.imshow(p1, origin="lower", extent=extent, aspect="auto", cmap=cmap, vmin=0, vmax=1, alpha=0.55)
        ax.contour(gu, gv, scores, levels=[0.0], colors="black", linewidths=1.5)
        fig.colorbar(im, ax=ax, label="P(class 1) = sigmoid(score)")
    else:
        z = scores - scores.max(axis=0)
        prob = np.exp(z) / np.exp(z).sum(axis=0)
        top = prob.argmax(axis=0)
        sure = (prob.max(axis=0) - 1 / r.classes) / (1 - 1 / r.classes)  # 0 at a tie, 1 when certain
        rgb = np.array([to_rgb(c) for c in colors])[top]
        shade = 1.0 - 0.55 * (0.3 + 0.7 * sure[..., None]) * (1.0 - rgb)  # paler where less sure
        ax.imshow(shade, origin="lower", extent=extent, aspect="auto")
        for c in range(r.classes):
            rest = np.delete(scores, c, axis=0).max(axis=0)
            ax.contour(gu, gv, scores[c] - rest, levels=[0.0], colors="black", linewidths=1.2)
    ax.scatter(xs, ys, c=[colors[c] for c in y], s=30, edgecolors="black", linewidths=0.5)
    handles = [
        Line2D([], [], marker="o", linestyle="", markerfacecolor=colors[c], markeredgecolor="black", label=f"class {c}")
        for c in range(r.classes)
    ]
    handles.append(Line2D([], [], color="black", label="decision boundary"))
    ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.85)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), title=title, xlabel="x0", ylabel="x1")
    _save_figure(plt, fig, path)


def _draw_neuron(r: Result, out: str, note: Callable[[str], None]) -> list[str]:
    """The graph of one first-layer neuron on one data point, as neuron.dot and (with graphviz) neuron.png."""
    from agrad.viz import draw_graph, to_dot

    # A neuron and a data point where its ReLU is open, so the picture shows gradients flowing.
    X = r.data[0]
    trained, point = r.model.layers[0].neurons[0], X[0]
    with no_grad():
        live = [(n, x) for n in r.model.layers[0].neurons for x in X if n(x).data > 0]
    if live:
        trained, point = live[0]
    n = Neuron(2, trained.nonlin, seed=0)  # a labelled copy, so the model's own Values stay unlabelled
    # Named as the data's coordinates are everywhere (x0, x1), each weight after its input.
    for i, (w, tw) in enumerate(zip(n.w, trained.w)):
        w.data, w.label = tw.data, f"w{i}"
    n.b.data, n.b.label = trained.b.data, "b"
    x = [Value(v, label=f"x{i}") for i, v in enumerate(point)]
    # The neuron's two steps as two nodes, so the picture shows the pre-activation z = w·x + b (the model
    # itself makes a ReLU neuron one node, dot_relu, for speed)
    z = dot((n.b, *n.w), (1.0, *x))
    z.label = "z"
    act = getattr(z, n.nonlin)() if n.nonlin else z  # Value.relu, .tanh or .sigmoid
    act.label = "out"
    act.backward()
    written = [os.path.join(out, "neuron.dot")]
    _write_atomic(written[0], to_dot(act))
    try:
        graph = draw_graph(act)
    except ImportError:
        note('no neuron.png: the graphviz package is not installed (pip install "agrad[viz]")')
        return written
    if shutil.which(graph.engine) is None:
        note("no neuron.png: needs Graphviz's dot program (apt-get or brew install graphviz)")
        return written
    try:
        png = graph.pipe(format="png")
    except Exception as e:  # dot itself failed
        note(f"no neuron.png: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        return written
    path = os.path.join(out, "neuron.png")
    _write_atomic(path, png)
    return [*written, path]


def _clear_owned(out: str) -> None:
    """Remove the files an earlier run left in out, so that the new run's files never sit beside old ones."""
    from agrad.tensor_run import OWNED as TENSOR_OWNED  # a digits run's files too

    for name in OWNED + TENSOR_OWNED:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(out, name))


def run(cfg: Config, quiet: bool = False, note: Callable[[str], None] = print) -> int:
    """Train, print the result, write the files; returns the exit status.

    ``note`` tells what could not be drawn or shown (an extra that is not installed).

    The files of an earlier run in ``cfg.out`` are removed just before the new
    ones are written (so an interrupted training leaves the old run whole).

    >>> import os, tempfile; out = tempfile.mkdtemp()
    >>> run(Config(steps=2, samples=10, out=out), quiet=True)  # doctest: +ELLIPSIS
    training an MLP with hidden layers [16, 16] on 10 moons points: sgd, lr 1.0 (linear schedule), 2 steps, seed 1337
    ...
    wrote ...
    0
    >>> sorted(os.listdir(out))[:3]
    ['decision_boundary.png', 'loss.png', 'model.json']
    """
    print(
        f"training an MLP with hidden layers {cfg.hidden} on {cfg.samples} {cfg.dataset} points:"
        f" {cfg.optimizer}, lr {_lr(cfg)} ({cfg.schedule} schedule), {cfg.steps} steps, seed {cfg.seed}"
    )
    os.makedirs(cfg.out, exist_ok=True)
    progress = _Progress(cfg.steps, quiet, note)
    try:
        r = train(cfg, progress)
    finally:
        progress.close()
    print(
        f"final accuracy {r.final_accuracy:.1%} (loss {r.losses[-1]:.4f}) after {cfg.steps} steps"
        f" in {r.seconds:.1f} s ({1000 * r.seconds / cfg.steps:.0f} ms/step)"
    )
    _clear_owned(cfg.out)
    files = [os.path.join(cfg.out, "model.json"), os.path.join(cfg.out, "run.json")]
    save(r.model.state_dict(), files[0])
    record = {
        "kind": KIND,  # what agrad predict and agrad eval dispatch on
        "config": asdict(cfg),
        "model": repr(r.model),
        "classes": r.classes,
        "final_accuracy": r.final_accuracy,
        # entry k: after k updates, from the initial weights (k = 0) to the trained model (k = steps)
        "loss": [_encode(x) for x in r.losses],  # a diverged run's nan and inf as model files write them
        "accuracy": r.accuracies,
    }
    _write_atomic(files[1], json.dumps(record, indent=1, allow_nan=False) + "\n")
    plt = _pyplot(note)
    if plt is not None:
        files.append(os.path.join(cfg.out, "loss.png"))
        _plot_loss(plt, r, files[-1])
        files.append(os.path.join(cfg.out, "decision_boundary.png"))
        _plot_boundary(plt, r, files[-1], f"{cfg.dataset}: {r.model!r}, accuracy {r.final_accuracy:.0%}")
    files += _draw_neuron(r, cfg.out, note)
    print("wrote " + ", ".join(files))
    return 0


# -- using a run again ---------------------------------------------------------


def _quote(value: object, limit: int = 200) -> str:
    """repr(value), cut to about ``limit`` characters: an error message never carries a whole file."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def config_from_record(record: dict[str, Any], where: str = "run.json") -> Config:
    """The Config a run.json records, each setting checked; a RunError names a bad one.

    >>> cfg = config_from_record({"config": {"dataset": "blobs", "samples": 30, "hidden": [8], "seed": 1}})
    >>> cfg.dataset, cfg.hidden, cfg.steps
    ('blobs', [8], 100)
    >>> config_from_record({"config": {"dataset": "mnist"}})
    Traceback (most recent call last):
    ...
    agrad.mlp_run.RunError: run.json's config.dataset must be one of moons, circles, blobs, spirals, got 'mnist'
    """
    d = record.get("config")
    if not isinstance(d, dict):
        raise RunError(f'{where} has no "config" object: expected the settings agrad train saved')

    def bad(key: str, expected: str) -> NoReturn:
        raise RunError(f"{where}'s config.{key} must be {expected}, got {_quote(d.get(key))}")

    def whole(v: object, lo: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= lo

    if d.get("dataset") not in DATASETS:
        bad("dataset", f"one of {', '.join(DATASETS)}")
    if not whole(d.get("samples"), 1):
        bad("samples", "a positive whole number")
    hidden = d.get("hidden")
    if not isinstance(hidden, list) or not hidden or not all(whole(n, 1) for n in hidden):
        bad("hidden", "a list of positive whole numbers (the hidden layer sizes)")
    noise = d.get("noise")
    if noise is not None and not (
        isinstance(noise, int | float) and not isinstance(noise, bool) and 0.0 <= noise <= MAX_NOISE
    ):
        bad("noise", f"a number from 0 to {MAX_NOISE:g}")
    if not whole(d.get("seed"), -(2**63)):
        bad("seed", "a whole number")
    return Config(**{f.name: d[f.name] for f in fields(Config) if f.name in d})


def load_run(run_dir: str, record: dict[str, Any]) -> tuple[Config, MLP]:
    """The run's settings and its trained MLP, loaded from run_dir/model.json; bad files are a RunError.

    >>> import tempfile; out = tempfile.mkdtemp(); cfg = Config(steps=1, samples=10, hidden=[3], out=out)
    >>> _ = run(cfg, quiet=True)  # doctest: +ELLIPSIS
    training...
    >>> load_run(out, json.load(open(os.path.join(out, "run.json"))))[1]
    MLP(2, [3, 1], nonlin='relu')
    """
    cfg = config_from_record(record)
    check_memory(cfg.hidden, _outputs(cfg.dataset))  # a run.json could ask for any size
    path = os.path.join(run_dir, "model.json")
    if not os.path.isfile(path):
        raise RunError(f"no model.json in {run_dir!r}: the run's weights are missing")
    model = MLP(2, [*cfg.hidden, _outputs(cfg.dataset)], seed=0)
    try:
        model.load_state_dict(load(path))
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise RunError(
            f"{path} does not fit the model run.json describes ({model!r}): {_quote(str(e))[1:-1]}"
        ) from None
    return cfg, model


def _point(text: str) -> list[float]:
    parts = text.split(",")
    try:
        xy = [float(p) for p in parts]
    except ValueError:
        xy = []
    if len(xy) != 2 or not all(math.isfinite(v) for v in xy):
        raise RunError(f"expected a point as X0,X1 (two finite numbers, e.g. 0.5,-1.2), got {_quote(text)}")
    return xy


def predict_run(run_dir: str, record: dict[str, Any], points: Sequence[str]) -> list[str]:
    """One line per point: the point, the model's score (one per class past two) and its class.

    >>> import tempfile; out = tempfile.mkdtemp(); cfg = Config(steps=1, samples=10, hidden=[3], out=out)
    >>> _ = run(cfg, quiet=True)  # doctest: +ELLIPSIS
    training...
    >>> record = json.load(open(os.path.join(out, "run.json")))
    >>> predict_run(out, record, ["0.5,-0.25"])  # doctest: +ELLIPSIS
    ['0.5,-0.25  score ...  class ...']
    """
    xs = [_point(t) for t in points]  # all checked before any output
    cfg, model = load_run(run_dir, record)
    classes = CLASSES[cfg.dataset]
    lines = []
    with no_grad():
        for text, x in zip(points, xs):
            out = model(x)
            if classes == 2:
                lines.append(f"{text}  score {out.data:.6g}  class {_label(out, 2)}")
            else:
                scores = ", ".join(f"{s.data:.6g}" for s in out)
                lines.append(f"{text}  scores {scores}  class {_label(out, classes)}")
    return lines


def eval_run(run_dir: str, record: dict[str, Any], samples: int | None, seed: int | None) -> list[str]:
    """The model's accuracy on its training data (regenerated) and on a fresh sample, as lines of text.

    >>> import tempfile; out = tempfile.mkdtemp(); cfg = Config(steps=1, samples=10, hidden=[3], out=out)
    >>> _ = run(cfg, quiet=True)  # doctest: +ELLIPSIS
    training...
    >>> record = json.load(open(os.path.join(out, "run.json")))
    >>> print("\\n".join(eval_run(out, record, 50, None)))  # doctest: +ELLIPSIS
    MLP(2, [3, 1], nonlin='relu') from .../model.json
    accuracy on its training data (10 moons points, noise 0.1, seed 1337): ...%
    accuracy on fresh data (50 moons points, noise 0.1, seed 1338): ...%
    """
    cfg, model = load_run(run_dir, record)
    samples = HELD_OUT if samples is None else samples
    classes = CLASSES[cfg.dataset]
    noise = NOISE[cfg.dataset] if cfg.noise is None else cfg.noise
    fresh_seed = cfg.seed + 1 if seed is None else seed
    if fresh_seed == cfg.seed:
        raise RunError(f"argument --seed: {seed} is the run's own seed, which would give its training data again")
    try:
        fresh = make_data(cfg, samples=samples, seed=fresh_seed)
    except ValueError as e:
        raise RunError(f"{cfg.dataset} with --samples {samples}: {e}") from None
    about = f"{cfg.dataset} points, noise {noise:g}"
    return [
        f"{model!r} from {os.path.join(run_dir, 'model.json')}",
        f"accuracy on its training data ({cfg.samples} {about}, seed {cfg.seed}):"
        f" {accuracy(model, make_data(cfg), classes):.1%}",
        f"accuracy on fresh data ({samples} {about}, seed {fresh_seed}): {accuracy(model, fresh, classes):.1%}",
    ]


__all__ = [
    "KIND",
    "Config",
    "Result",
    "RunError",
    "accuracy",
    "check_memory",
    "config_from_record",
    "eval_run",
    "load_run",
    "make_data",
    "make_step",
    "memory_needed",
    "predict_run",
    "run",
    "train",
]
