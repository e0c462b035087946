"""The ``agrad`` command: train a small network and draw what it learned.

- ``agrad`` prints the seed's worked example, f = a*b + c, with its gradients.
- ``agrad demo`` trains micrograd's demo: an MLP(2, [16, 16, 1]) on 100 two-moons
  points, max-margin loss plus L2, SGD with a linearly decaying learning rate.
- ``agrad train --dataset {moons,circles,blobs,spirals} ...`` is the general form.

Both write to ``--out`` (default ``./agrad-demo/``): ``model.json`` (the trained
weights, see ``agrad.serialize``), ``run.json`` (the settings and every step's
loss and accuracy), ``loss.png`` and ``decision_boundary.png`` (with
matplotlib), and ``neuron.png`` (with graphviz), the graph of one trained
neuron, beside its DOT source ``neuron.dot``. Without matplotlib, graphviz or
tqdm it says which extra to install and still trains. The same ``--seed`` gives
the same numbers. A bad flag or value prints one line and exits with status 2.
Every file is written whole or not at all (a temporary file, then a rename), so
Ctrl-C (exit status 130) or a crash never leaves half a file. When the reader of
its output goes away (``agrad demo | head -1``) it stops quietly, with status 141
as a process that SIGPIPE ends.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn

from agrad import datasets
from agrad.losses import cross_entropy, hinge_loss, l2_penalty
from agrad.modes import no_grad
from agrad.nn import MLP, Neuron
from agrad.optim import SGD, Adam, Optimizer, cosine_decay, linear_decay
from agrad.serialize import _encode, _write_atomic, save
from agrad.value import Value

DATASETS = ("moons", "circles", "blobs", "spirals")
NOISE = {"moons": 0.1, "circles": 0.05, "blobs": 0.6, "spirals": 0.2}
LR = {"sgd": 1.0, "adam": 0.05}
COLORS = ["tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown"]  # one per class
ALPHA = 1e-4  # the L2 strength of micrograd's demo


def worked_example() -> str:
    """The seed's f = a*b + c, its value and its gradients, as text.

    >>> print(worked_example().splitlines()[1])
    f = a*b + c = 2.0 * -3.0 + 10.0 = 4.0
    """
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    f = a * b + c
    f.label = "f"
    f.backward()
    return "\n".join(
        [
            "The seed's example, a = 2, b = -3, c = 10:",
            f"f = a*b + c = {a.data} * {b.data} + {c.data} = {f.data}",
            f"df/da = b = {a.grad}",
            f"df/db = a = {b.grad}",
            f"df/dc = 1 = {c.grad}",
        ]
    )


# -- settings ------------------------------------------------------------------


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


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return n


def _nonneg_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= x < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return x


def _hidden(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(
            f"expected layer sizes like 16,16 (positive ints, comma-separated), got {text!r}"
        )
    return sizes


def _training_flags(p: argparse.ArgumentParser) -> None:
    d = Config()
    p.add_argument("--hidden", type=_hidden, default=d.hidden, metavar="H1,H2", help="hidden layer sizes (16,16)")
    p.add_argument("--steps", type=_positive_int, default=d.steps, metavar="N", help="training steps (100)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default=d.optimizer, help="sgd (default) or adam")
    p.add_argument(
        "--lr", type=_nonneg_float, default=None, metavar="X", help="first learning rate (sgd 1.0, adam 0.05)"
    )
    p.add_argument(
        "--schedule",
        choices=("linear", "cosine", "constant"),
        default=d.schedule,
        help="learning-rate schedule: linear (micrograd's 1 - 0.9 k/steps, default), cosine or constant",
    )
    p.add_argument("--samples", type=_positive_int, default=d.samples, metavar="N", help="data points (100)")
    p.add_argument(
        "--noise", type=_nonneg_float, default=None, metavar="X", help="data noise (moons 0.1, circles 0.05)"
    )
    p.add_argument("--seed", type=int, default=d.seed, metavar="S", help="seed for data and weights (1337)")
    p.add_argument("--out", default=d.out, metavar="DIR", help="output folder (./agrad-demo)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar, only a few lines of text")
    p.add_argument("--compile", action="store_true", help="trace one sample's loss, run it on the batch (needs numpy)")


EXAMPLES = """examples:
  agrad demo
  agrad train --dataset circles --hidden 8,8 --steps 200
  agrad train --dataset blobs --optimizer adam --lr 0.05 --seed 7 --out runs/blobs"""


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser: sub-commands ``demo`` and ``train``.

    >>> build_parser().parse_args(["train", "--dataset", "circles", "--hidden", "8,8"]).hidden
    [8, 8]
    """
    from agrad import __version__

    raw = argparse.RawDescriptionHelpFormatter
    p = _Parser(
        prog="agrad",
        description="agrad, a scalar autograd engine. With no command it prints the seed's worked example.",
        epilog=EXAMPLES,
        formatter_class=raw,
    )
    p.add_argument("--version", action="version", version=f"agrad {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{demo,train}")
    demo = sub.add_parser(
        "demo",
        help="train micrograd's demo MLP on two moons and draw it",
        description="Train an MLP(2, [16, 16, 1]) on two moons (micrograd's demo); write pictures and the model.",
    )
    _training_flags(demo)
    train = sub.add_parser(
        "train",
        help="train an MLP on a toy data set",
        description="Train an MLP on a 2-D toy data set. Two classes use the max-margin loss, more use cross-entropy.",
        epilog=EXAMPLES,
        formatter_class=raw,
    )
    train.add_argument("--dataset", choices=DATASETS, default="moons", help="which data set (moons)")
    _training_flags(train)
    return p


def _config(args: argparse.Namespace) -> Config:
    return Config(
        dataset=getattr(args, "dataset", "moons"),
        samples=args.samples,
        noise=NOISE[getattr(args, "dataset", "moons")] if args.noise is None else args.noise,
        hidden=args.hidden,
        steps=args.steps,
        optimizer=args.optimizer,
        lr=LR[args.optimizer] if args.lr is None else args.lr,
        schedule=args.schedule,
        seed=args.seed,
        out=args.out,
        compile=args.compile,
    )


# -- training ------------------------------------------------------------------

Data = tuple[list[list[float]], list[int]]
StepFn = Callable[[], tuple[float, float]]


def make_data(cfg: Config) -> Data:
    """The run's data set, from its name, size, noise and seed.

    >>> X, y = make_data(Config(dataset="blobs", samples=30, noise=0.5)); len(X), sorted(set(y))
    (30, [0, 1, 2])
    """
    noise = NOISE[cfg.dataset] if cfg.noise is None else cfg.noise
    if cfg.dataset == "moons":
        return datasets.make_moons(cfg.samples, noise=noise, seed=cfg.seed)
    if cfg.dataset == "circles":
        return datasets.make_circles(cfg.samples, noise=noise, seed=cfg.seed)
    if cfg.dataset == "blobs":
        return datasets.make_blobs(cfg.samples, centers=3, std=noise, box=(-4.0, 4.0), seed=cfg.seed)
    return datasets.make_spirals(cfg.samples, classes=2, noise=noise, seed=cfg.seed)


def _label(out: Any, classes: int) -> int:
    """The class a model output stands for: the sign of one score, or the largest of several."""
    if classes == 2:
        return int(out.data > 0)
    return max(range(classes), key=lambda c: out[c].data)


def make_step(model: MLP, X: list[list[float]], y: list[int], classes: int) -> StepFn:
    """One full-batch training step without the update: forward, loss, zero_grad, backward.

    Returns a function giving (loss, accuracy before the update). This is the
    hook for a ``--compile`` flag: a compiled step with the same signature can
    replace it, and the loop around it does not change.

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
    """What a run produced: the model, the data, and each step's loss and accuracy.

    >>> r = train(Config(steps=2, samples=10, hidden=[4], seed=0))
    >>> r.model, r.classes, len(r.data[0]), len(r.losses) == len(r.accuracies) == 2, 0.0 <= r.final_accuracy <= 1.0
    (MLP(2, [4, 1], nonlin='relu'), 2, 10, True, True)
    """

    model: MLP
    data: Data
    classes: int
    losses: list[float]
    accuracies: list[float]
    final_accuracy: float
    seconds: float


def train(cfg: Config, log: Callable[[int, float, float], None] | None = None) -> Result:
    """Train an MLP as ``cfg`` says; ``log(k, loss, accuracy)`` is called after each step.

    >>> r = train(Config(steps=3, samples=20, seed=0))
    >>> len(r.losses), r.losses == train(Config(steps=3, samples=20, seed=0)).losses
    (3, True)
    """
    X, y = make_data(cfg)
    classes = max(y) + 1
    model = MLP(2, [*cfg.hidden, 1 if classes == 2 else classes], seed=cfg.seed)
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
    for k in range(cfg.steps):
        loss, acc = step()
        opt.lr = lr_at(k)
        opt.step()
        losses.append(loss)
        accs.append(acc)
        if log is not None:
            log(k, loss, acc)
    seconds = time.perf_counter() - t0
    with no_grad():
        final = sum(_label(model(x), classes) == c for x, c in zip(X, y)) / len(y)
    return Result(model, (X, y), classes, losses, accs, final, seconds)


# -- output --------------------------------------------------------------------


def _note(text: str) -> None:
    print(f"agrad: {text}", file=sys.stderr)


class _Progress:
    """A tqdm bar with loss and accuracy on a terminal; otherwise about ten plain lines."""

    def __init__(self, steps: int, quiet: bool) -> None:
        self.steps, self.bar = steps, None
        self.every = max(1, steps // 10)
        if quiet or not sys.stderr.isatty():
            return
        try:
            from tqdm import tqdm  # type: ignore[import-untyped]
        except ImportError:
            _note('no progress bar: tqdm is not installed (pip install "agrad[progress]")')
            return
        self.bar = tqdm(total=steps, desc="training", unit="step", leave=True)

    def __call__(self, k: int, loss: float, acc: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.0%}", refresh=False)
            self.bar.update(1)
        elif k % self.every == 0 or k == self.steps - 1:
            print(f"step {k + 1:>5}/{self.steps}  loss {loss:.4f}  accuracy {acc:.0%}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        _note('no PNG plots: matplotlib is not installed (pip install "agrad[plot]")')
        return None
    matplotlib.use("Agg")  # headless: draws to files, needs no display
    import matplotlib.pyplot as plt

    return plt


def _plot_loss(plt: Any, r: Result, path: str) -> None:
    """Loss (log scale) and accuracy against the step, side by side."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    steps = range(1, len(r.losses) + 1)
    a.plot(steps, r.losses, color="tab:blue")
    a.set(xlabel="step", ylabel="loss (data + L2)", title="training loss")
    if min(r.losses) > 0:
        a.set_yscale("log")
    b.plot(steps, [100 * x for x in r.accuracies], color="tab:green")
    b.set(xlabel="step", ylabel="accuracy (%)", title=f"accuracy (final {r.final_accuracy:.0%})", ylim=(0, 102))
    for ax in (a, b):
        ax.grid(alpha=0.3)
    _save_figure(plt, fig, path)


def _save_figure(plt: Any, fig: Any, path: str) -> None:
    """The figure as a PNG at path, drawn in memory first so that the file is whole or untouched."""
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    plt.close(fig)
    _write_atomic(path, png.getvalue())


def _plot_boundary(plt: Any, r: Result, path: str, title: str, resolution: int = 90) -> None:
    """The model's class at every point of a grid (coloured regions) with the data on top."""
    X, y = r.data
    xs, ys = [p[0] for p in X], [p[1] for p in X]
    x0, x1 = min(xs) - 0.5, max(xs) + 0.5
    y0, y1 = min(ys) - 0.5, max(ys) + 0.5
    gx = [x0 + (x1 - x0) * i / (resolution - 1) for i in range(resolution)]
    gy = [y0 + (y1 - y0) * j / (resolution - 1) for j in range(resolution)]
    with no_grad():  # only the numbers: no graph is kept for the grid
        zz = [[_label(r.model([u, v]), r.classes) for u in gx] for v in gy]
    from matplotlib.colors import ListedColormap

    colors = COLORS[: r.classes]
    fig, ax = plt.subplots(figsize=(6, 5))
    levels = [k - 0.5 for k in range(r.classes + 1)]
    ax.contourf(gx, gy, zz, levels=levels, cmap=ListedColormap(colors), alpha=0.3)
    ax.scatter(xs, ys, c=[colors[c] for c in y], s=30, edgecolors="black", linewidths=0.5)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), title=title, xlabel="x0", ylabel="x1")
    _save_figure(plt, fig, path)


def _draw_neuron(r: Result, out: str) -> list[str]:
    """The graph of one first-layer neuron on one data point, as neuron.dot and (with graphviz) neuron.png."""
    try:
        from agrad.viz import draw_graph, to_dot
    except ImportError:
        _note("no neuron picture: this agrad has no agrad.viz")
        return []
    # A neuron and a data point where its ReLU is open, so the picture shows gradients flowing.
    X = r.data[0]
    trained, point = r.model.layers[0].neurons[0], X[0]
    with no_grad():
        live = [(n, x) for n in r.model.layers[0].neurons for x in X if n(x).data > 0]
    if live:
        trained, point = live[0]
    n = Neuron(2, trained.nonlin, seed=0)  # a labelled copy, so the model's own Values stay unlabelled
    for i, (w, tw) in enumerate(zip(n.w, trained.w)):
        w.data, w.label = tw.data, f"w{i + 1}"
    n.b.data, n.b.label = trained.b.data, "b"
    x = [Value(v, label=f"x{i + 1}") for i, v in enumerate(point)]
    act = n(x)
    act.label = "out"
    if isinstance(act._children[0], Value):
        act._children[0].label = "z"  # the pre-activation w·x + b
    act.backward()
    written = [os.path.join(out, "neuron.dot")]
    _write_atomic(written[0], to_dot(act))
    try:
        png = draw_graph(act).pipe(format="png")
    except ImportError:
        _note('no neuron.png: the graphviz package is not installed (pip install "agrad[viz]"); neuron.dot has the DOT')
        return written
    except Exception as e:  # the Graphviz program itself is missing or failed
        _note(f"no neuron.png: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        return written
    path = os.path.join(out, "neuron.png")
    _write_atomic(path, png)
    return [*written, path]


def run(cfg: Config, quiet: bool = False) -> int:
    """Train, print the result, write the files; returns the exit status.

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
    os.makedirs(cfg.out, exist_ok=True)  # before training, so a folder we cannot make costs no time
    progress = _Progress(cfg.steps, quiet)
    try:
        r = train(cfg, progress)
    finally:
        progress.close()
    print(
        f"final accuracy {r.final_accuracy:.1%} (loss {r.losses[-1]:.4f}) after {cfg.steps} steps"
        f" in {r.seconds:.1f} s ({1000 * r.seconds / cfg.steps:.0f} ms/step)"
    )
    files = [os.path.join(cfg.out, "model.json"), os.path.join(cfg.out, "run.json")]
    save(r.model.state_dict(), files[0])
    record = {
        "config": asdict(cfg),
        "model": repr(r.model),
        "final_accuracy": r.final_accuracy,
        "loss": [_encode(x) for x in r.losses],  # a diverged run's nan and inf as model files write them
        "accuracy": r.accuracies,
    }
    _write_atomic(files[1], json.dumps(record, indent=1, allow_nan=False) + "\n")
    plt = _pyplot()
    if plt is not None:
        files.append(os.path.join(cfg.out, "loss.png"))
        _plot_loss(plt, r, files[-1])
        files.append(os.path.join(cfg.out, "decision_boundary.png"))
        _plot_boundary(plt, r, files[-1], f"{cfg.dataset}: {r.model!r}, accuracy {r.final_accuracy:.0%}")
    files += _draw_neuron(r, cfg.out)
    print("wrote " + ", ".join(files))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    >>> main([])  # doctest: +ELLIPSIS
    The seed's example...
    0
    """
    try:
        return _command(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        _note("interrupted")
        return 130
    except BrokenPipeError:
        # The reader is gone (agrad demo | head -1): stop without a word, as Unix tools do.
        # Point stdout at devnull so that Python's last flush at exit does not fail again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _command(args: list[str]) -> int:
    if not args:
        print(worked_example())
        return 0
    parser = build_parser()
    ns = parser.parse_args(args)
    cfg = _config(ns)
    if os.path.exists(cfg.out) and not os.path.isdir(cfg.out):
        parser.error(f"argument --out: {cfg.out!r} exists and is not a folder")
    try:
        make_data(cfg)  # cheap, and it checks --samples against the data set before any work
    except ValueError as e:
        parser.error(f"{cfg.dataset} with --samples {cfg.samples}: {e}")
    try:
        return run(cfg, quiet=ns.no_progress)
    except BrokenPipeError:
        raise  # not a file we failed to write: main stops quietly
    except OSError as e:
        _note(f"could not write the results: {e}")
        return 1
