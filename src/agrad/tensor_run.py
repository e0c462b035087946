"""Tensor runs of the ``agrad`` command: an MLP of ``agrad.nn.Linear`` layers on real digits (8x8 or MNIST).

``agrad train --dataset digits`` (or ``mnist --data DIR``) comes here: the data
set is split (digits: a seeded 20% held out; MNIST: its own test set), an MLP
``Linear -> ReLU -> ... -> Linear`` is trained on mini-batches with Adam (or SGD)
and cross-entropy, and the run folder gets ``model.safetensors``, ``run.json``,
``loss.png`` (loss per step, accuracy per epoch), ``confusion.png`` (the
held-out confusion matrix) and ``mistakes.png`` (held-out digits it got wrong).
``predict_run`` and ``eval_run`` use such a folder again.

>>> cfg = TensorConfig(dataset="digits", epochs=1, out="")
>>> cfg.hidden, cfg.batch_size, cfg.lr, cfg.test_size
([64], 16, 0.01, 0.2)
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from agrad.data import DataLoader, load_digits, load_mnist, train_test_split
from agrad.devices import DEVICES, to_device
from agrad.losses import cross_entropy
from agrad.modes import no_grad
from agrad.nn import Linear, ReLU, Sequential
from agrad.optim import SGD, Adam, cosine_decay
from agrad.progress import tqdm_bar
from agrad.serialize import _write_atomic, load, save
from agrad.tensor import Tensor

KIND = "tensor_mlp"  # run.json's "kind" for these runs
DATASETS = ("digits", "mnist")
SHAPE = {"digits": (8, 8), "mnist": (28, 28)}
SCALE = {"digits": 16.0, "mnist": 255.0}  # the largest pixel value: inputs are pixels / SCALE, in [0, 1]
CLASSES = 10
OWNED = ("model.safetensors", "run.json", "loss.png", "confusion.png", "mistakes.png")


class RunError(ValueError):
    """A run folder or an input that cannot be used; the command prints it as one line.

    >>> str(RunError("no model.safetensors in 'x'"))
    "no model.safetensors in 'x'"
    """


@dataclass
class TensorConfig:
    """Everything that decides a Tensor run; saved in run.json so that it can be repeated and reloaded.

    >>> TensorConfig(dataset="mnist", data="mnist-data").batch_size
    128
    """

    dataset: str = "digits"
    hidden: list[int] = field(default_factory=lambda: [64])
    epochs: int | None = None  # None: 20 for the digits, 3 for MNIST
    batch_size: int | None = None  # None: 16 for the digits, 128 for MNIST
    optimizer: str = "adam"
    lr: float | None = None  # None: 0.01 for Adam, 0.1 for SGD
    schedule: str = "cosine"  # or "constant"
    seed: int = 0
    test_size: float = 0.2  # the digits' held-out share; MNIST holds out its own test set
    data: str | None = None  # MNIST's folder
    verify: bool = True  # check MNIST's published SHA-256 sums
    out: str = "agrad-digits"
    device: str = "cpu"  # where training runs: "cpu" (NumPy) or "cuda" (CuPy)

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r:.100}")
        mnist = self.dataset == "mnist"
        self.epochs = self.epochs or (3 if mnist else 20)
        self.batch_size = self.batch_size or (128 if mnist else 16)
        if self.optimizer not in ("adam", "sgd") or self.schedule not in ("cosine", "constant"):
            raise ValueError(f"optimizer must be adam or sgd and schedule cosine or constant, got {self!r}")
        self.lr = (0.01 if self.optimizer == "adam" else 0.1) if self.lr is None else self.lr


@dataclass
class Split:
    """Inputs scaled to [0, 1] (float32 rows) and int labels, for training and held out."""

    X_train: Any
    y_train: Any
    X_test: Any
    y_test: Any


def load_split(cfg: TensorConfig) -> Split:
    """The run's data: the digits split by cfg.seed, or MNIST's train and test sets read from cfg.data.

    >>> s = load_split(TensorConfig(out=""))
    >>> s.X_train.shape, s.X_test.shape, s.X_train.dtype.name, float(s.X_train.max())
    ((1437, 64), (360, 64), 'float32', 1.0)
    """

    scale = SCALE[cfg.dataset]
    if cfg.dataset == "digits":
        X, y = load_digits()
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=cfg.test_size, seed=cfg.seed)
    else:
        if not cfg.data:
            raise RunError("--dataset mnist needs --data DIR, the folder that holds (or will hold) the MNIST files")
        (Xtr, ytr), (Xte, yte) = load_mnist(cfg.data, verify=cfg.verify)
    return Split(_scaled(Xtr, scale), ytr, _scaled(Xte, scale), yte)


def _scaled(X: Any, scale: float) -> Any:
    """X / scale as float32, divided in place: for every pixel 0..255 the same numbers as dividing in float64
    and rounding, without that float64 copy (376 MB for MNIST's training images)."""
    import numpy as np

    x = X.astype(np.float32)
    x /= np.float32(scale)
    return x


def make_model(inputs: int, hidden: Sequence[int], seed: int) -> Sequential:
    """Linear -> ReLU for each hidden size, then Linear to the 10 classes; PyTorch's init from one seeded generator.

    >>> make_model(64, [32], seed=0)
    Sequential(
      (0): Linear(in_features=64, out_features=32, bias=True)
      (1): ReLU()
      (2): Linear(in_features=32, out_features=10, bias=True)
    )
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = [inputs, *hidden]
    layers: list[Any] = []
    for a, b in itertools.pairwise(sizes):
        layers += [Linear(a, b, seed=rng), ReLU()]
    return Sequential(*layers, Linear(sizes[-1], CLASSES, seed=rng))


def place(model: Sequential, device: str) -> Sequential:
    """Move model's parameters to device ("cpu" or "cuda") in place, an explicit copy each; returns model.

    >>> place(make_model(4, [3], seed=0), "cpu")[0].weight.data.__class__.__name__
    'ndarray'
    """
    for p in model.parameters():
        assert isinstance(p, Tensor)  # a Sequential of Linear layers holds Tensors only
        p.__setstate__({"data": to_device(p.data, device)})  # __setstate__ also resets the Tensor's namespace
    return model


def predict_classes(model: Sequential, X: Any, batch: int = 4096, device: str = "cpu") -> Any:
    """The model's class for each row of host array X, as a host array; the model lives on device.

    Each batch is copied to device and its classes back (no graph is built).

    >>> import numpy as np
    >>> predict_classes(make_model(4, [3], seed=0), np.zeros((2, 4), np.float32)).shape
    (2,)
    """
    import numpy as np

    with no_grad():
        out = [
            to_device(model(Tensor(to_device(X[i : i + batch], device))).data.argmax(axis=1), "cpu")
            for i in range(0, len(X), batch)
        ]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


@dataclass
class Result:
    """A trained run: the model, its per-step losses, per-epoch accuracies, held-out predictions and time."""

    model: Sequential
    losses: list[float]
    train_accuracy: list[float]  # after each epoch, on the last epoch's batches as they were seen
    test_accuracy: list[float]  # after each epoch, held out
    predictions: Any  # held-out predictions of the final model
    seconds: float


def train(cfg: TensorConfig, split: Split, log: Callable[[int, int, float, float], None] | None = None) -> Result:
    """Mini-batch training with cross-entropy; log(step, steps, loss, batch accuracy) after each step.

    >>> cfg = TensorConfig(epochs=1, out="")
    >>> r = train(cfg, load_split(cfg)); len(r.losses), len(r.test_accuracy)
    (90, 1)
    """
    import numpy as np

    assert cfg.epochs is not None and cfg.batch_size is not None and cfg.lr is not None
    device = cfg.device
    # The same seeded weights on every device: made on the host, then copied once, as are the data.
    model = place(make_model(split.X_train.shape[1], cfg.hidden, cfg.seed), device)
    opt = Adam(model.parameters(), lr=cfg.lr) if cfg.optimizer == "adam" else SGD(model.parameters(), lr=cfg.lr)
    X_train, y_train = to_device(split.X_train, device), to_device(split.y_train, device)
    # The loader shuffles host row numbers (DataLoader holds NumPy arrays); each batch's are copied to device.
    loader = DataLoader(np.arange(len(split.y_train)), batch_size=cfg.batch_size, seed=cfg.seed)
    steps = cfg.epochs * len(loader)
    lr = cfg.lr
    lr_at = cosine_decay(lr, steps) if cfg.schedule == "cosine" else lambda k: lr
    losses: list[float] = []
    train_acc: list[float] = []
    test_acc: list[float] = []
    start = time.perf_counter()
    for _ in range(cfg.epochs):
        right = seen = 0
        for (rows,) in loader:
            idx = to_device(rows, device)
            xb, yb = X_train[idx], y_train[idx]
            opt.lr = lr_at(len(losses))
            logits = model(Tensor(xb))
            loss = cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            hits = int((logits.data.argmax(axis=1) == yb).sum())
            right, seen = right + hits, seen + len(yb)
            losses.append(loss.item())
            if log is not None:
                log(len(losses), steps, losses[-1], hits / len(yb))
        train_acc.append(right / seen)
        test_acc.append(float((predict_classes(model, split.X_test, device=device) == split.y_test).mean()))
    seconds = time.perf_counter() - start
    predictions = predict_classes(model, split.X_test, device=device)
    return Result(place(model, "cpu"), losses, train_acc, test_acc, predictions, seconds)  # the host saves it


class Progress:
    """A tqdm bar with the loss and accuracy when stderr is a terminal and tqdm is there; else a line per epoch."""

    def __init__(self, steps: int, quiet: bool, note: Callable[[str], None]) -> None:
        self.bar: Any = tqdm_bar(steps, quiet, note, mininterval=0.2)
        self.steps, self.every = steps, max(1, steps // 10)

    def __call__(self, k: int, steps: int, loss: float, acc: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.0%}", refresh=False)
            self.bar.update(1)
        elif k % self.every == 0 or k == steps:
            print(f"step {k:>6}/{steps}  loss {loss:.4f}  batch accuracy {acc:.0%}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def confusion(y_true: Any, y_pred: Any) -> Any:
    """counts[i, j]: how many of class i were called j.

    >>> import numpy as np
    >>> confusion(np.array([0, 1, 1]), np.array([0, 1, 0]))[:2, :2].tolist()
    [[1, 0], [1, 1]]
    """
    import numpy as np

    counts = np.zeros((CLASSES, CLASSES), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def _figure_bytes(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    plt.close(fig)
    return png.getvalue()


def plots(cfg: TensorConfig, split: Split, r: Result) -> dict[str, bytes]:
    """loss.png, confusion.png and mistakes.png as PNG bytes (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    out = {}
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(range(1, len(r.losses) + 1), r.losses, lw=0.6, color="tab:blue")
    a.set(xlabel="step", ylabel="cross-entropy", title="training loss (each mini-batch)", yscale="log")
    epochs = range(1, len(r.test_accuracy) + 1)
    b.plot(epochs, [100 * x for x in r.train_accuracy], "o-", label="training batches")
    b.plot(epochs, [100 * x for x in r.test_accuracy], "o-", label="held out")
    b.set(xlabel="epoch", ylabel="accuracy (%)", title=f"accuracy (held out {r.test_accuracy[-1]:.1%})")
    b.legend()
    b.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no 1.25 between 1 and 2 on a short run
    for ax in (a, b):
        ax.grid(alpha=0.3)
    out["loss.png"] = _figure_bytes(fig)

    counts = confusion(split.y_test, r.predictions)
    fig, ax = plt.subplots(figsize=(6, 5.4))
    im = ax.imshow(counts, cmap="Blues")
    for i, j in np.ndindex(counts.shape):
        if counts[i, j]:
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if counts[i, j] > counts.max() / 2 else "black")  # fmt: skip
    ax.set(xticks=range(CLASSES), yticks=range(CLASSES), xlabel="predicted", ylabel="true")
    ax.set_title(f"{cfg.dataset}: held-out confusion matrix ({len(split.y_test)} images)")
    fig.colorbar(im, ax=ax, shrink=0.8)
    out["confusion.png"] = _figure_bytes(fig)

    wrong = np.flatnonzero(r.predictions != split.y_test)[:40]
    cols = 10
    rows = max(1, math.ceil(len(wrong) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.3 + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        ax.imshow(split.X_test[i].reshape(SHAPE[cfg.dataset]), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{split.y_test[i]} as {r.predictions[i]}", fontsize=8)
    total = int((r.predictions != split.y_test).sum())
    fig.suptitle(f"held-out mistakes: {total} of {len(split.y_test)} (true as predicted; first {len(wrong)})")
    out["mistakes.png"] = _figure_bytes(fig)
    return out


def run(
    cfg: TensorConfig,
    quiet: bool = False,
    note: Callable[[str], None] = print,
    split: Split | None = None,
    others: Sequence[str] = (),
) -> int:
    """Load the data, train, print the held-out accuracy, write the run folder; returns the exit status.

    >>> import os, tempfile; out = tempfile.mkdtemp()
    >>> run(TensorConfig(epochs=1, out=out), quiet=True)  # doctest: +ELLIPSIS
    training MLP 64-64-10 on digits: ...
    held-out accuracy ...
    0
    >>> sorted(os.listdir(out))
    ['confusion.png', 'loss.png', 'mistakes.png', 'model.safetensors', 'run.json']

    ``split`` is the data when the caller loaded it already; ``others`` names files of other
    kinds of run that this run's folder must lose (so that two runs' files never mix).
    """
    split = load_split(cfg) if split is None else split
    sizes = "-".join(map(str, [split.X_train.shape[1], *cfg.hidden, CLASSES]))
    print(
        f"training MLP {sizes} on {cfg.dataset}: {len(split.y_train)} images, {len(split.y_test)} held out;"
        f" {cfg.optimizer} lr {cfg.lr} ({cfg.schedule}), batch {cfg.batch_size}, {cfg.epochs} epochs, seed {cfg.seed}"
        + ("" if cfg.device == "cpu" else f", on {cfg.device}")
    )
    assert cfg.epochs is not None and cfg.batch_size is not None
    progress = Progress(cfg.epochs * math.ceil(len(split.y_train) / cfg.batch_size), quiet, note)
    try:
        r = train(cfg, split, progress)
    finally:
        progress.close()
    print(
        f"held-out accuracy {r.test_accuracy[-1]:.2%} ({len(split.y_test)} images) after {len(r.losses)} steps"
        f" in {r.seconds:.1f} s ({1000 * r.seconds / len(r.losses):.2f} ms/step)"
    )
    os.makedirs(cfg.out, exist_ok=True)
    pictures: dict[str, bytes] = {}
    try:
        pictures = plots(cfg, split, r)
    except ImportError:
        note('no PNG plots: matplotlib is not installed (pip install "agrad[plot]")')
    for name in (*OWNED, *others):  # an older run's files never sit beside this one's
        if name not in pictures and os.path.exists(os.path.join(cfg.out, name)):
            os.remove(os.path.join(cfg.out, name))
    save(r.model.state_dict(), os.path.join(cfg.out, "model.safetensors"))
    record = {
        "kind": KIND,
        "config": asdict(cfg),
        "model": f"MLP {sizes}",
        "test_accuracy": r.test_accuracy[-1],
        "epochs": [{"train_accuracy": a, "test_accuracy": b} for a, b in zip(r.train_accuracy, r.test_accuracy)],
        "loss": [x if math.isfinite(x) else str(x) for x in r.losses],  # strict JSON: nan as "nan"
        "seconds": r.seconds,
    }
    _write_atomic(os.path.join(cfg.out, "run.json"), json.dumps(record, indent=1, allow_nan=False) + "\n")
    for name, png in pictures.items():
        _write_atomic(os.path.join(cfg.out, name), png)
    print("wrote " + ", ".join(os.path.join(cfg.out, n) for n in ["model.safetensors", "run.json", *pictures]))
    return 0


# -- using a run again ------------------------------------------------------------------


def config_from_record(record: dict[str, Any], where: str) -> TensorConfig:
    """The TensorConfig a run.json records, checked; a RunError names the bad setting.

    >>> config_from_record({"config": {"dataset": "digits", "hidden": [32], "seed": 3}}, "run.json").hidden
    [32]
    >>> config_from_record({"config": {"dataset": "digits", "hidden": [0]}}, "run.json")
    Traceback (most recent call last):
    ...
    agrad.tensor_run.RunError: run.json's config.hidden must be a list of positive whole numbers, got [0]
    >>> config_from_record({"config": {"dataset": "digits", "hidden": [8], "device": "tpu"}}, "run.json")
    Traceback (most recent call last):
    ...
    agrad.tensor_run.RunError: run.json's config: device must be one of cpu, cuda, got 'tpu'

    A run trained on "cuda" is used again on the host: its weights were saved from there.
    """
    d = record.get("config")
    if not isinstance(d, dict):
        raise RunError(f'{where} has no "config" object: expected the settings agrad train saved')

    def whole(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    hidden = d.get("hidden")
    if not isinstance(hidden, list) or not hidden or not all(whole(n) and 0 < n <= 1_000_000 for n in hidden):
        raise RunError(f"{where}'s config.hidden must be a list of positive whole numbers, got {hidden!r:.100}")
    if not whole(d.get("seed", 0)):
        raise RunError(f"{where}'s config.seed must be a whole number, got {d.get('seed')!r:.100}")
    try:
        return TensorConfig(**{f.name: d[f.name] for f in fields(TensorConfig) if f.name in d})
    except (ValueError, TypeError) as e:
        raise RunError(f"{where}'s config: {e}") from None


def load_run(run_dir: str, record: dict[str, Any]) -> tuple[TensorConfig, Sequential]:
    """The run's settings and its trained model from run_dir/model.safetensors; a bad file is a RunError.

    >>> import tempfile; out = tempfile.mkdtemp()
    >>> _ = run(TensorConfig(epochs=1, out=out), quiet=True)  # doctest: +ELLIPSIS
    training...
    >>> load_run(out, json.load(open(os.path.join(out, "run.json"))))[1][0]
    Linear(in_features=64, out_features=64, bias=True)
    """
    cfg = config_from_record(record, os.path.join(run_dir, "run.json"))
    path = os.path.join(run_dir, "model.safetensors")
    if not os.path.isfile(path):
        raise RunError(f"no model.safetensors in {run_dir!r}: the run's weights are missing")
    inputs = math.prod(SHAPE[cfg.dataset])
    model = make_model(inputs, cfg.hidden, 0)
    try:
        model.load_state_dict(load(path))
    except (OSError, ValueError) as e:
        raise RunError(f"{path} does not fit the model run.json describes: {e}") from None
    return cfg, model


def read_images(cfg: TensorConfig, inputs: Sequence[str]) -> Any:
    """Images to classify, as float32 rows in [0, 1]: each input a .npy file (one image or a stack) or
    comma-separated raw pixel values (0..16 for the digits, 0..255 for MNIST).

    >>> read_images(TensorConfig(out=""), [",".join(["16"] * 64)]).max()
    np.float32(1.0)
    """
    import numpy as np

    size, scale = math.prod(SHAPE[cfg.dataset]), SCALE[cfg.dataset]
    rows = []
    for text in inputs:
        if text.endswith(".npy"):
            try:
                a = np.load(text, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise RunError(f"cannot read {text!r} as a NumPy .npy file: {e}") from None
        else:
            try:
                a = np.array([float(v) for v in text.split(",")])
            except ValueError:
                raise RunError(
                    f"expected {size} comma-separated pixel values or a .npy file, got {text[:60]!r}"
                ) from None
        if a.dtype.kind not in "biuf" or a.size % size or a.size == 0:
            raise RunError(
                f"{text[:60]!r}: expected images of {size} pixels each ({SHAPE[cfg.dataset]}), got shape {a.shape}"
            )
        a = a.reshape(-1, size).astype(np.float64)
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > scale:
            raise RunError(
                f"{text[:60]!r}: pixel values must lie in [0, {scale:g}] as the {cfg.dataset} data set has them"
            )
        if a.max() <= 1 and (a != np.round(a)).any():  # raw pixels are whole numbers: these were divided already
            raise RunError(
                f"{text[:60]!r}: pixel values look scaled to [0, 1] (fractions, at most {a.max():g}); "
                f"give raw values 0..{scale:g} as the {cfg.dataset} data set has them (multiply by {scale:g})"
            )
        rows.append(a / scale)
    return np.concatenate(rows).astype(np.float32)


def predict_run(run_dir: str, record: dict[str, Any], inputs: Sequence[str]) -> list[str]:
    """One line per image: its predicted digit and the model's probability for it.

    >>> import tempfile; out = tempfile.mkdtemp()
    >>> _ = run(TensorConfig(epochs=1, out=out), quiet=True)  # doctest: +ELLIPSIS
    training...
    >>> predict_run(out, json.load(open(os.path.join(out, "run.json"))), [",".join(["0"] * 64)])  # doctest: +ELLIPSIS
    ['image 0: digit ... (probability ...)']
    """
    import numpy as np

    cfg, model = load_run(run_dir, record)
    X = read_images(cfg, inputs)
    with no_grad():
        p = model(Tensor(X)).softmax(axis=1).data
    return [f"image {i}: digit {int(k)} (probability {p[i, k]:.3f})" for i, k in enumerate(np.argmax(p, axis=1))]


def eval_run(run_dir: str, record: dict[str, Any], samples: int | None, seed: int | None) -> list[str]:
    """The model's accuracy on its training images and on the held-out ones (the run's own split).

    ``samples`` caps how many of each are used (all by default); ``seed`` must be None or the
    run's own: another split would put training images among the held-out ones.
    """
    cfg, model = load_run(run_dir, record)
    if seed is not None and seed != cfg.seed:
        raise RunError(
            f"argument --seed: a {cfg.dataset} run is evaluated on its own held-out split (seed {cfg.seed});"
            " another seed would count training images as held out"
        )
    split = load_split(cfg)
    lines = [f"MLP {'-'.join(map(str, [split.X_train.shape[1], *cfg.hidden, CLASSES]))} from {run_dir}"]
    for name, X, y in [("training", split.X_train, split.y_train), ("held-out", split.X_test, split.y_test)]:
        n = len(y) if samples is None else min(samples, len(y))
        acc = float((predict_classes(model, X[:n]) == y[:n]).mean())
        lines.append(f"accuracy on {n} {name} {cfg.dataset} images: {acc:.2%}")
    return lines


__all__ = ["KIND", "Result", "RunError", "TensorConfig", "eval_run", "load_run", "predict_run", "run", "train"]
