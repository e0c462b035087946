"""The ``agrad`` command: train a small network, draw what it learned, and use it.

- ``agrad`` prints the seed's worked example, f = a*b + c, with its gradients.
- ``agrad demo`` trains micrograd's demo: an MLP(2, [16, 16, 1]) on 100 two-moons
  points, max-margin loss plus L2, SGD with a linearly decaying learning rate.
- ``agrad train --dataset {moons,circles,blobs,spirals} ...`` is the general form
  (``agrad.mlp_run`` trains these runs, draws them and uses them again).
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
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from agrad import mlp_run
from agrad.mlp_run import DATASETS, HELD_OUT, KIND, LR, MAX_NOISE, NOISE, OWNED, Config, RunError, _quote
from agrad.value import Value

TENSOR_DATASETS = ("digits", "mnist")  # real images: agrad.tensor_run trains a Tensor MLP on them

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


def _needs(module: str, flag: str, extra: str) -> None:
    try:
        importlib.import_module(module)  # the run imports it anyway; a broken install counts as missing
    except ImportError:
        raise UsageError(f'{flag} needs {module}, which is not installed: pip install "agrad[{extra}]"') from None


def check_config(cfg: Config) -> None:
    """Everything about a run that can be refused before it starts, as a UsageError (too big for this machine's
    memory: ``agrad.mlp_run.check_memory``'s RunError); the folder is not touched.

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
    mlp_run.check_memory(cfg.hidden, mlp_run._outputs(cfg.dataset), cfg.samples, cfg.steps)
    try:
        mlp_run.make_data(cfg)  # cheap, and it checks --samples against the data set
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


# -- messages ------------------------------------------------------------------


def _note(text: str) -> None:
    print(f"{_prog.get()}: {text}", file=sys.stderr)


# -- using a trained model: which kind of run -----------------------------------


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


@dataclass(frozen=True)
class RunKind:
    """How ``agrad predict`` and ``agrad eval`` use one kind of run folder (run.json's ``"kind"``).

    ``predict(run_dir, record, inputs)`` and ``evaluate(run_dir, record, samples, seed)``
    return the lines to print, or raise UsageError or ``agrad.mlp_run.RunError`` (both print as one line).

    >>> sorted(RUN_KINDS), RUN_KINDS["mlp"].predict is mlp_run.predict_run
    (['mlp', 'tensor_mlp'], True)
    """

    predict: Callable[[str, dict[str, Any], Sequence[str]], list[str]]
    evaluate: Callable[[str, dict[str, Any], int | None, int | None], list[str]]


def predict_tensor(run_dir: str, record: dict[str, Any], inputs: Sequence[str]) -> list[str]:
    """``agrad predict`` on a digits or MNIST run (``agrad.tensor_run.predict_run``): one line per image."""
    from agrad import tensor_run

    try:
        return tensor_run.predict_run(run_dir, record, inputs)
    except tensor_run.RunError as e:
        raise UsageError(str(e)) from None


def eval_tensor(run_dir: str, record: dict[str, Any], samples: int | None, seed: int | None) -> list[str]:
    """``agrad eval`` on a digits or MNIST run: accuracy on its training and held-out images."""
    from agrad import tensor_run

    try:
        return tensor_run.eval_run(run_dir, record, samples, seed)
    except (tensor_run.RunError, ValueError) as e:  # ValueError: MNIST's files moved or damaged since the run
        raise UsageError(str(e)) from None


RUN_KINDS: dict[str, RunKind] = {
    KIND: RunKind(mlp_run.predict_run, mlp_run.eval_run),
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
        return mlp_run.run(cfg, quiet=ns.no_progress, note=_note)
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
    except (UsageError, RunError) as e:  # RunError: agrad.mlp_run's refusals, printed the same way
        _note(f"error: {e}")
        return 2
    finally:
        _prog.reset(token)
