"""The ``agrad`` command: train a small network, draw what it learned, and use it.

- ``agrad`` prints the seed's worked example, f = a*b + c, with its gradients.
- ``agrad demo`` trains micrograd's demo: an MLP(2, [16, 16, 1]) on 100 two-moons
  points, max-margin loss plus L2, SGD with a linearly decaying learning rate.
- ``agrad train --dataset {moons,circles,blobs,spirals} ...`` is the general form.
- ``agrad train --dataset digits`` (or ``mnist --data DIR``) trains a Tensor MLP on real
  handwritten digits (``agrad.tensor_run``): its folder holds ``model.safetensors``,
  ``run.json``, ``loss.png``, ``confusion.png`` and ``mistakes.png``.
  ``--device cuda`` trains it on an NVIDIA GPU with CuPy (``--device`` is for these runs only).
- ``agrad predict RUN_DIR X0,X1 ...`` prints a trained model's score and class per point.
- ``agrad eval RUN_DIR`` prints its accuracy on its training data and on fresh data.

A run writes to ``--out`` (default ``./agrad-demo/``): ``model.json`` (the
trained weights, see ``agrad.serialize``), ``run.json`` (its kind, the settings
and the loss and accuracy after each step), ``loss.png`` and
``decision_boundary.png`` (with matplotlib), and ``neuron.png`` (with graphviz),
the graph of one trained neuron, beside its DOT source ``neuron.dot``. It
replaces every one of these files that a run before it left in that folder and
touches nothing else there. Without matplotlib, graphviz or tqdm it says which
extra to install and still trains. The same ``--seed`` gives the same numbers.

Every flag is checked before anything is written: a bad flag or value, an extra
that a flag needs and is missing, a model or run too big for this machine's
memory, or an output folder that cannot be written prints one line
(``agrad train: error: ...``) and exits with status 2. Every file is written
whole or not at all (a temporary file, then a rename), so Ctrl-C (exit status
130) or a crash never leaves half a file. When the reader of its output goes
away (``agrad demo | head -1``) it stops quietly, with status 141 as a process
that SIGPIPE ends.

``predict`` and ``eval`` read ``run.json``'s ``"kind"`` and hand the run to the
matching entry of ``RUN_KINDS``: a new kind of run adds an entry there.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import importlib
import io
import itertools
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NoReturn

from agrad import datasets
from agrad.losses import cross_entropy, hinge_loss, l2_penalty
from agrad.modes import no_grad
from agrad.nn import MLP, Neuron
from agrad.optim import SGD, Adam, Optimizer, cosine_decay, linear_decay
from agrad.serialize import _encode, _write_atomic, load, save
from agrad.value import Value

DATASETS = ("moons", "circles", "blobs", "spirals")
TENSOR_DATASETS = ("digits", "mnist")  # real images: agrad.tensor_run trains a Tensor MLP on them
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

_prog: contextvars.ContextVar[str] = contextvars.ContextVar("prog", default="agrad")


class UsageError(Exception):
    """A refusal the command prints as one line, ``agrad CMD: error: ...``, exiting with status 2.

    >>> str(UsageError("no run.json in 'x'"))
    "no run.json in 'x'"
    """


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


def _noise(text: str) -> float:
    x = _nonneg_float(text)
    if x > MAX_NOISE:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to {MAX_NOISE:g}, got {text!r}")
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
    # Defaults are None here and filled per kind of run (_config, _tensor_config): a toy run and a
    # digits run have different ones, and a flag that does not apply must be told from one not given.
    p.add_argument(
        "--hidden", type=_hidden, default=None, metavar="H1,H2", help="hidden layer sizes (16,16; digits and mnist 64)"
    )
    p.add_argument("--steps", type=_positive_int, default=None, metavar="N", help="training steps (100)")
    p.add_argument(
        "--optimizer", choices=("sgd", "adam"), default=None, help="sgd (default) or adam (digits and mnist: adam)"
    )
    p.add_argument(
        "--lr", type=_nonneg_float, default=None, metavar="X", help="first learning rate (sgd 1.0, adam 0.05)"
    )
    p.add_argument(
        "--schedule",
        choices=("linear", "cosine", "constant"),
        default=None,
        help="learning-rate schedule: linear (micrograd's 1 - 0.9 k/steps, default; digits and mnist: cosine), "
        "cosine or constant",
    )
    p.add_argument("--samples", type=_positive_int, default=None, metavar="N", help="data points (100)")
    p.add_argument(
        "--noise", type=_noise, default=None, metavar="X", help="data noise, 0 to 1000 (moons 0.1, circles 0.05)"
    )
    p.add_argument(
        "--seed", type=int, default=None, metavar="S", help="seed for data and weights (1337; digits and mnist 0)"
    )
    p.add_argument(
        "--out", default=None, metavar="DIR", help="output folder (./agrad-demo; digits and mnist ./agrad-digits)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar, only a few lines of text")
    p.add_argument("--compile", action="store_true", help="trace one sample's loss, run it on the batch (needs numpy)")


EXAMPLES = """examples:
  agrad demo
  agrad train --dataset circles --hidden 8,8 --steps 200
  agrad train --dataset blobs --optimizer adam --lr 0.05 --seed 7 --out runs/blobs
  agrad predict agrad-demo 0.5,-0.3 -1,0.8
  agrad eval runs/blobs"""


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser: sub-commands ``demo``, ``train``, ``predict`` and ``eval``.

    >>> build_parser().parse_args(["train", "--dataset", "circles", "--hidden", "8,8"]).hidden
    [8, 8]
    >>> build_parser().parse_args(["predict", "runs/a", "-1,0.5"]).points
    ['-1,0.5']
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
    sub = p.add_subparsers(dest="command", metavar="{demo,train,predict,eval}")
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
    train.add_argument(
        "--dataset",
        choices=DATASETS + TENSOR_DATASETS,
        default="moons",
        help="which data set (moons); digits and mnist are real images, for a Tensor MLP",
    )
    _training_flags(train)
    images = train.add_argument_group("digits and mnist (a Tensor MLP on mini-batches)")
    images.add_argument("--epochs", type=_positive_int, default=None, metavar="N", help="passes over the data (20; 3)")
    images.add_argument("--batch-size", type=_positive_int, default=None, metavar="N", help="mini-batch (16; 128)")
    images.add_argument(
        "--data", default=None, metavar="DIR", help="mnist: the folder of its IDX files (fetched there when missing)"
    )
    images.add_argument(
        "--no-verify", action="store_true", help="mnist: skip the published SHA-256 check (for files you made)"
    )
    images.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default=None,
        help="where the data and model live: cpu (NumPy, default) or cuda (CuPy on an NVIDIA GPU)",
    )
    predict = sub.add_parser(
        "predict",
        help="a trained model's score and class for each point",
        description="Load RUN_DIR/model.json with the settings in RUN_DIR/run.json;"
        " print each point's score and class.",
    )
    predict.add_argument("run_dir", metavar="RUN_DIR", help="a folder agrad demo or agrad train wrote")
    predict.add_argument("points", nargs="+", metavar="X0,X1", help="a point, e.g. 0.5,-1.2")
    # Python < 3.13 takes "-1,0.5" for an option; match 3.13, where a leading "-digit" is a value.
    predict._negative_number_matcher = re.compile(r"^-\.?\d")
    evaluate = sub.add_parser(
        "eval",
        help="a trained model's accuracy on its training data and on fresh data",
        description="Accuracy of RUN_DIR's model on its training data (regenerated from run.json's seed) "
        "and on a fresh held-out sample from the same distribution.",
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="a folder agrad demo or agrad train wrote")
    evaluate.add_argument(
        "--samples",
        type=_positive_int,
        default=None,
        metavar="N",
        help=f"held-out points ({HELD_OUT}; digits and mnist: at most N of each part, all by default)",
    )
    evaluate.add_argument("--seed", type=int, default=None, metavar="S", help="held-out seed (the run's seed + 1)")
    return p


_TENSOR_ONLY = {
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "data": "--data",
    "no_verify": "--no-verify",
    "device": "--device",  # the scalar Value engine runs in Python, on the CPU only
}
_TOY_ONLY = {"steps": "--steps", "samples": "--samples", "noise": "--noise", "compile": "--compile"}


def _refuse(args: argparse.Namespace, flags: dict[str, str], what: str) -> None:
    given = [flag for name, flag in flags.items() if getattr(args, name, None) not in (None, False)]
    if given:
        raise UsageError(f"argument {given[0]}: not for {what}")


def _config(args: argparse.Namespace) -> Config:
    d = Config()
    dataset = getattr(args, "dataset", "moons")
    _refuse(args, _TENSOR_ONLY, f"--dataset {dataset} (it is for digits and mnist)")
    optimizer = args.optimizer or d.optimizer
    return Config(
        dataset=dataset,
        samples=args.samples or d.samples,
        noise=NOISE[dataset] if args.noise is None else args.noise,
        hidden=args.hidden or d.hidden,
        steps=args.steps or d.steps,
        optimizer=optimizer,
        lr=LR[optimizer] if args.lr is None else args.lr,
        schedule=args.schedule or d.schedule,
        seed=d.seed if args.seed is None else args.seed,
        out=d.out if args.out is None else args.out,
        compile=args.compile,
    )


def _tensor_config(args: argparse.Namespace) -> Any:
    """The TensorConfig of ``agrad train --dataset digits|mnist``; a flag for toy runs is a UsageError."""
    from agrad.tensor_run import TensorConfig

    _refuse(args, _TOY_ONLY, f"--dataset {args.dataset} (use --epochs and --batch-size)")
    if args.dataset == "mnist" and not args.data:
        raise UsageError("--dataset mnist needs --data DIR, the folder that holds (or will hold) the MNIST files")
    if args.schedule == "linear":
        raise UsageError("argument --schedule: digits and mnist runs take cosine or constant")
    return TensorConfig(
        dataset=args.dataset,
        hidden=args.hidden or [64],
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer or "adam",
        lr=args.lr,
        schedule=args.schedule or "cosine",
        seed=0 if args.seed is None else args.seed,
        data=args.data,
        verify=not args.no_verify,
        out="agrad-digits" if args.out is None else args.out,
        device=args.device or "cpu",
    )


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
    agrad.cli.UsageError: a model with hidden layers [100000000000000000000] needs about 5.2e+22 bytes of memory, ...
    """
    need, have = memory_needed(hidden, outputs, samples, steps), _memory()
    if have is not None and need > have:
        run = f" trained on {samples} points for {steps} steps" if samples else ""
        raise UsageError(
            f"a model with hidden layers {list(hidden)}{run} needs about {_size(need)} of memory,"
            f" more than this machine's {_size(have)}"
        )


def _needs(module: str, flag: str, extra: str) -> None:
    try:
        importlib.import_module(module)  # the run imports it anyway; a broken install counts as missing
    except ImportError:
        raise UsageError(f'{flag} needs {module}, which is not installed: pip install "agrad[{extra}]"') from None


def check_config(cfg: Config) -> None:
    """Everything about a run that can be refused before it starts, as a UsageError; the folder is not touched.

    >>> check_config(Config(dataset="spirals", samples=3))
    Traceback (most recent call last):
    ...
    agrad.cli.UsageError: spirals with --samples 3: n_samples must be an int >= 4, got 3
    """
    if cfg.compile:
        _needs("numpy", "--compile", "numpy")
    if not cfg.out:
        raise UsageError("argument --out: expected a folder name, got ''")
    # Before the data: the data set itself could be the thing that does not fit.
    check_memory(cfg.hidden, _outputs(cfg.dataset), cfg.samples, cfg.steps)
    try:
        make_data(cfg)  # cheap, and it checks --samples against the data set
    except ValueError as e:
        raise UsageError(f"{cfg.dataset} with --samples {cfg.samples}: {e}") from None


def prepare_out(out: str) -> list[str]:
    """Make the folder ``out`` and check that a file can be written there; returns the folders it made.

    A folder that cannot be made or written is a UsageError, and then nothing is left behind.

    >>> import os, tempfile; top = tempfile.mkdtemp()
    >>> [os.path.relpath(p, top) for p in prepare_out(os.path.join(top, "a", "b"))]
    ['a/b', 'a']
    >>> prepare_out(os.path.join(top, "a", "b"))
    []
    """
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"argument --out: {out!r} exists and is not a folder")
    made, p = [], os.path.normpath(out)  # relative paths stay relative: messages name what the user gave
    while not os.path.lexists(p):
        made.append(p)
        p = os.path.dirname(p) or "."
    if not os.path.isdir(p):
        raise UsageError(f"argument --out: cannot make {out!r}: {p!r} is not a folder")
    try:
        os.makedirs(out, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".agrad-probe-")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        remove_empty(made)
        raise UsageError(f"argument --out: cannot write to {out!r}: {e.strerror or e}") from None
    return made


def remove_empty(folders: Sequence[str]) -> None:
    """Remove each folder that is still empty, in order (deepest first, as ``prepare_out`` lists them).

    >>> import os, tempfile; top = tempfile.mkdtemp(); remove_empty([top]); os.path.exists(top)
    False
    """
    for d in folders:
        with contextlib.suppress(OSError):
            os.rmdir(d)


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


# -- output --------------------------------------------------------------------


def _note(text: str) -> None:
    print(f"{_prog.get()}: {text}", file=sys.stderr)


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
            self.bar.update(1 if k else 0)
        elif k % self.every == 0 or k == self.steps:
            print(f"step {k:>5}/{self.steps}  loss {loss:.4f}  accuracy {acc:.0%}", flush=True)

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


def _draw_neuron(r: Result, out: str) -> list[str]:
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
    act = n(x)
    act.label = "out"
    if isinstance(act._children[0], Value):
        act._children[0].label = "z"  # the pre-activation w·x + b
    act.backward()
    written = [os.path.join(out, "neuron.dot")]
    _write_atomic(written[0], to_dot(act))
    try:
        graph = draw_graph(act)
    except ImportError:
        _note('no neuron.png: the graphviz package is not installed (pip install "agrad[viz]")')
        return written
    if shutil.which(graph.engine) is None:
        _note("no neuron.png: needs Graphviz's dot program (apt-get or brew install graphviz)")
        return written
    try:
        png = graph.pipe(format="png")
    except Exception as e:  # dot itself failed
        _note(f"no neuron.png: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
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


def run(cfg: Config, quiet: bool = False) -> int:
    """Train, print the result, write the files; returns the exit status.

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
    progress = _Progress(cfg.steps, quiet)
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
    plt = _pyplot()
    if plt is not None:
        files.append(os.path.join(cfg.out, "loss.png"))
        _plot_loss(plt, r, files[-1])
        files.append(os.path.join(cfg.out, "decision_boundary.png"))
        _plot_boundary(plt, r, files[-1], f"{cfg.dataset}: {r.model!r}, accuracy {r.final_accuracy:.0%}")
    files += _draw_neuron(r, cfg.out)
    print("wrote " + ", ".join(files))
    return 0


# -- using a trained model -----------------------------------------------------


def _quote(value: object, limit: int = 200) -> str:
    """repr(value), cut to about ``limit`` characters: an error message never carries a whole file."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def read_run(run_dir: str) -> dict[str, Any]:
    """run.json of a run folder as a dict, or a UsageError saying what is missing or wrong.

    >>> import tempfile; read_run(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    agrad.cli.UsageError: no run.json in '...': give a folder that agrad demo or agrad train wrote
    """
    if not os.path.isdir(run_dir):
        raise UsageError(f"{run_dir!r} is not a folder: give a folder that agrad demo or agrad train wrote")
    path = os.path.join(run_dir, "run.json")
    if not os.path.isfile(path):
        raise UsageError(f"no run.json in {run_dir!r}: give a folder that agrad demo or agrad train wrote")
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"{path} is not a run.json agrad wrote: {_quote(str(e))[1:-1]}") from None
    if not isinstance(record, dict):
        raise UsageError(f"{path} is not a run.json agrad wrote: expected a JSON object, got {type(record).__name__}")
    return record


def config_from_record(record: dict[str, Any], where: str = "run.json") -> Config:
    """The Config a run.json records, each setting checked; a UsageError names a bad one.

    >>> cfg = config_from_record({"config": {"dataset": "blobs", "samples": 30, "hidden": [8], "seed": 1}})
    >>> cfg.dataset, cfg.hidden, cfg.steps
    ('blobs', [8], 100)
    >>> config_from_record({"config": {"dataset": "mnist"}})
    Traceback (most recent call last):
    ...
    agrad.cli.UsageError: run.json's config.dataset must be one of moons, circles, blobs, spirals, got 'mnist'
    """
    d = record.get("config")
    if not isinstance(d, dict):
        raise UsageError(f'{where} has no "config" object: expected the settings agrad train saved')

    def bad(key: str, expected: str) -> NoReturn:
        raise UsageError(f"{where}'s config.{key} must be {expected}, got {_quote(d.get(key))}")

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


def load_mlp_run(run_dir: str, record: dict[str, Any]) -> tuple[Config, MLP]:
    """The run's settings and its trained MLP, loaded from run_dir/model.json; bad files are a UsageError.

    >>> import tempfile; out = tempfile.mkdtemp(); cfg = Config(steps=1, samples=10, hidden=[3], out=out)
    >>> _ = run(cfg, quiet=True)  # doctest: +ELLIPSIS
    training...
    >>> load_mlp_run(out, read_run(out))[1]
    MLP(2, [3, 1], nonlin='relu')
    """
    cfg = config_from_record(record)
    check_memory(cfg.hidden, _outputs(cfg.dataset))  # a run.json could ask for any size
    path = os.path.join(run_dir, "model.json")
    if not os.path.isfile(path):
        raise UsageError(f"no model.json in {run_dir!r}: the run's weights are missing")
    model = MLP(2, [*cfg.hidden, _outputs(cfg.dataset)], seed=0)
    try:
        model.load_state_dict(load(path))
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise UsageError(
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
        raise UsageError(f"expected a point as X0,X1 (two finite numbers, e.g. 0.5,-1.2), got {_quote(text)}")
    return xy


def predict_mlp(run_dir: str, record: dict[str, Any], points: Sequence[str]) -> list[str]:
    """One line per point: the point, the model's score (one per class past two) and its class.

    >>> import tempfile; out = tempfile.mkdtemp(); cfg = Config(steps=1, samples=10, hidden=[3], out=out)
    >>> _ = run(cfg, quiet=True)  # doctest: +ELLIPSIS
    training...
    >>> predict_mlp(out, read_run(out), ["0.5,-0.25"])  # doctest: +ELLIPSIS
    ['0.5,-0.25  score ...  class ...']
    """
    xs = [_point(t) for t in points]  # all checked before any output
    cfg, model = load_mlp_run(run_dir, record)
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


def eval_mlp(run_dir: str, record: dict[str, Any], samples: int | None, seed: int | None) -> list[str]:
    """The model's accuracy on its training data (regenerated) and on a fresh sample, as lines of text.

    >>> import tempfile; out = tempfile.mkdtemp(); cfg = Config(steps=1, samples=10, hidden=[3], out=out)
    >>> _ = run(cfg, quiet=True)  # doctest: +ELLIPSIS
    training...
    >>> print("\\n".join(eval_mlp(out, read_run(out), 50, None)))  # doctest: +ELLIPSIS
    MLP(2, [3, 1], nonlin='relu') from .../model.json
    accuracy on its training data (10 moons points, noise 0.1, seed 1337): ...%
    accuracy on fresh data (50 moons points, noise 0.1, seed 1338): ...%
    """
    cfg, model = load_mlp_run(run_dir, record)
    samples = HELD_OUT if samples is None else samples
    classes = CLASSES[cfg.dataset]
    noise = NOISE[cfg.dataset] if cfg.noise is None else cfg.noise
    fresh_seed = cfg.seed + 1 if seed is None else seed
    if fresh_seed == cfg.seed:
        raise UsageError(f"argument --seed: {seed} is the run's own seed, which would give its training data again")
    try:
        fresh = make_data(cfg, samples=samples, seed=fresh_seed)
    except ValueError as e:
        raise UsageError(f"{cfg.dataset} with --samples {samples}: {e}") from None
    about = f"{cfg.dataset} points, noise {noise:g}"
    return [
        f"{model!r} from {os.path.join(run_dir, 'model.json')}",
        f"accuracy on its training data ({cfg.samples} {about}, seed {cfg.seed}):"
        f" {accuracy(model, make_data(cfg), classes):.1%}",
        f"accuracy on fresh data ({samples} {about}, seed {fresh_seed}): {accuracy(model, fresh, classes):.1%}",
    ]


@dataclass(frozen=True)
class RunKind:
    """How ``agrad predict`` and ``agrad eval`` use one kind of run folder (run.json's ``"kind"``).

    ``predict(run_dir, record, inputs)`` and ``evaluate(run_dir, record, samples, seed)``
    return the lines to print, or raise UsageError.

    >>> sorted(RUN_KINDS), RUN_KINDS["mlp"].predict is predict_mlp
    (['mlp', 'tensor_mlp'], True)
    """

    predict: Callable[[str, dict[str, Any], Sequence[str]], list[str]]
    evaluate: Callable[[str, dict[str, Any], int | None, int | None], list[str]]


def predict_tensor(run_dir: str, record: dict[str, Any], inputs: Sequence[str]) -> list[str]:
    """``agrad predict`` on a digits or MNIST run (``agrad.tensor_run.predict_run``): one line per image."""
    from agrad.tensor_run import RunError, predict_run

    try:
        return predict_run(run_dir, record, inputs)
    except RunError as e:
        raise UsageError(str(e)) from None


def eval_tensor(run_dir: str, record: dict[str, Any], samples: int | None, seed: int | None) -> list[str]:
    """``agrad eval`` on a digits or MNIST run: accuracy on its training and held-out images."""
    from agrad.tensor_run import RunError, eval_run

    try:
        return eval_run(run_dir, record, samples, seed)
    except (RunError, ValueError) as e:  # ValueError: MNIST's files moved or damaged since the run
        raise UsageError(str(e)) from None


RUN_KINDS: dict[str, RunKind] = {
    KIND: RunKind(predict_mlp, eval_mlp),
    "tensor_mlp": RunKind(predict_tensor, eval_tensor),
}


def _run_kind(record: dict[str, Any], run_dir: str) -> RunKind:
    kind = record.get("kind", KIND)  # runs written before run.json had a kind were all MLPs
    if not isinstance(kind, str) or kind not in RUN_KINDS:
        raise UsageError(
            f"{os.path.join(run_dir, 'run.json')} is a run of kind {_quote(kind)}, which this agrad cannot use"
            f" (it knows {', '.join(sorted(RUN_KINDS))})"
        )
    return RUN_KINDS[kind]


# -- sub-commands --------------------------------------------------------------


def cmd_train(ns: argparse.Namespace) -> int:
    """``agrad demo`` and ``agrad train``: check everything, make the folder, train, write.

    >>> import tempfile; ns = build_parser().parse_args(["demo", "--steps", "1", "--samples", "10", "--out", ""])
    >>> cmd_train(ns)
    Traceback (most recent call last):
    ...
    agrad.cli.UsageError: argument --out: expected a folder name, got ''
    """
    if getattr(ns, "dataset", None) in TENSOR_DATASETS:
        return _train_tensor(ns)
    cfg = _config(ns)
    check_config(cfg)
    made = prepare_out(cfg.out)
    try:
        return run(cfg, quiet=ns.no_progress)
    except BrokenPipeError:
        raise  # not a file we failed to write: main stops quietly
    except OSError as e:
        _note(f"error: could not write the results: {e}")
        return 1
    finally:
        remove_empty(made)  # a folder this run made and never wrote to (Ctrl-C while training) goes again


def _train_tensor(ns: argparse.Namespace) -> int:
    """``agrad train --dataset digits|mnist``: the data is loaded (and checked) before the folder is made."""
    try:
        from agrad import tensor_run
    except ImportError as e:  # pragma: no cover - numpy or array-api-compat missing
        raise UsageError(f'--dataset {ns.dataset} needs {e.name}: pip install "agrad[cli]"') from None
    from agrad.devices import DeviceUnavailable, array_module

    cfg = _tensor_config(ns)
    try:
        array_module(cfg.device)  # before the data is read or a folder made: no CuPy or no GPU is one line
    except DeviceUnavailable as e:
        raise UsageError(str(e)) from None
    try:
        split = tensor_run.load_split(cfg)
    except ImportError as e:
        raise UsageError(
            f'--dataset {cfg.dataset} needs {e.name or "scikit-learn"}: pip install "agrad[cli]"'
        ) from None
    except ValueError as e:  # tensor_run.RunError, or a missing, damaged or unverified MNIST file
        raise UsageError(str(e)) from None
    made = prepare_out(cfg.out)
    try:
        return tensor_run.run(cfg, quiet=ns.no_progress, note=_note, split=split, others=OWNED)
    except BrokenPipeError:
        raise
    except OSError as e:
        _note(f"error: could not write the results: {e}")
        return 1
    finally:
        remove_empty(made)


def cmd_predict(ns: argparse.Namespace) -> int:
    """``agrad predict RUN_DIR X0,X1 ...``: one line per point.

    >>> cmd_predict(build_parser().parse_args(["predict", "/nonexistent-run", "0,0"]))
    Traceback (most recent call last):
    ...
    agrad.cli.UsageError: '/nonexistent-run' is not a folder: give a folder that agrad demo or agrad train wrote
    """
    record = read_run(ns.run_dir)
    for line in _run_kind(record, ns.run_dir).predict(ns.run_dir, record, ns.points):
        print(line)
    return 0


def cmd_eval(ns: argparse.Namespace) -> int:
    """``agrad eval RUN_DIR``: accuracy on the run's data and on a fresh sample.

    >>> cmd_eval(build_parser().parse_args(["eval", "/nonexistent-run"]))
    Traceback (most recent call last):
    ...
    agrad.cli.UsageError: '/nonexistent-run' is not a folder: give a folder that agrad demo or agrad train wrote
    """
    record = read_run(ns.run_dir)
    for line in _run_kind(record, ns.run_dir).evaluate(ns.run_dir, record, ns.samples, ns.seed):
        print(line)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_train,
    "train": cmd_train,
    "predict": cmd_predict,
    "eval": cmd_eval,
}


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
    ns = build_parser().parse_args(args)
    if ns.command is None:
        build_parser().error("expected a command: demo, train, predict or eval")
    token = _prog.set(f"agrad {ns.command}")  # every message of this command starts the same way
    try:
        return COMMANDS[ns.command](ns)
    except UsageError as e:
        _note(f"error: {e}")
        return 2
    finally:
        _prog.reset(token)
