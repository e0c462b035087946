"""Tensor runs (agrad train --dataset digits|mnist): accuracy, the files, and using a run again."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("array_api_compat")
pytest.importorskip("safetensors")
pytest.importorskip("sklearn")

from idx_files import write_idx, write_learnable_mnist  # noqa: E402

import agrad  # noqa: E402
from agrad.tensor_run import RunError, TensorConfig, eval_run, load_run, load_split, predict_run, run  # noqa: E402

FILES = ["confusion.png", "loss.png", "mistakes.png", "model.safetensors", "run.json"]


def _numpy_predict(state: dict[str, Any], X: np.ndarray) -> np.ndarray:
    """The saved MLP's classes, computed with NumPy alone from the file's arrays (an independent forward pass)."""
    h = X
    n = len([k for k in state if k.endswith(".weight")])
    for i in range(n):
        h = h @ state[f"{2 * i}.weight"].T + state[f"{2 * i}.bias"]
        if i < n - 1:
            h = np.maximum(h, 0)
    return h.argmax(axis=1)


def _record(out: Path) -> dict[str, Any]:
    return json.loads((out / "run.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    out = tmp_path_factory.mktemp("digits")
    start = time.perf_counter()
    assert run(TensorConfig(out=str(out)), quiet=True) == 0
    return out, time.perf_counter() - start


def test_digits_defaults_reach_97_percent_within_a_minute(digits_run: tuple[Path, float]) -> None:
    out, seconds = digits_run
    assert sorted(p.name for p in out.iterdir()) == FILES
    rec = _record(out)
    assert rec["kind"] == "tensor_mlp" and rec["config"]["hidden"] == [64] and rec["config"]["optimizer"] == "adam"
    assert rec["test_accuracy"] >= 0.97 and seconds < 60
    # the held-out accuracy again, from the saved arrays by plain NumPy, on the split the seed gives
    X, y = agrad.datasets.load_digits()
    _, X_test, _, y_test = agrad.datasets.train_test_split((X / 16).astype(np.float32), y, test_size=0.2, seed=0)
    state = agrad.load(out / "model.safetensors")
    assert (_numpy_predict(state, X_test) == y_test).mean() == pytest.approx(rec["test_accuracy"])
    assert len(rec["loss"]) == 20 * 90 and rec["loss"][-1] < rec["loss"][0] / 10
    for name in FILES[:3]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_and_eval_use_the_run(digits_run: tuple[Path, float], tmp_path: Path) -> None:
    out, _ = digits_run
    rec = _record(out)
    X, _ = agrad.datasets.load_digits()
    np.save(tmp_path / "three.npy", X[:3].reshape(3, 8, 8))
    lines = predict_run(str(out), rec, [str(tmp_path / "three.npy"), ",".join(str(int(v)) for v in X[3])])
    state = agrad.load(out / "model.safetensors")
    want = _numpy_predict(state, (X[:4] / 16).astype(np.float32))
    assert [int(line.split("digit ")[1].split()[0]) for line in lines] == want.tolist()
    ev = eval_run(str(out), rec, None, None)
    assert ev[2] == f"accuracy on 360 held-out digits images: {rec['test_accuracy']:.2%}"
    with pytest.raises(RunError, match="another seed would count training images as held out"):
        eval_run(str(out), rec, None, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,3", r"expected images of 64 pixels each"),
        (",".join(["17"] * 64), r"pixel values must lie in \[0, 16\]"),
        ("a,b", "comma-separated pixel values or a .npy file"),
        ("missing.npy", "cannot read 'missing.npy'"),
        # pixels already divided by 16 (as a model's input is): once classified silently, all wrong
        (",".join(["0.5"] * 64), r"look scaled to \[0, 1\] \(fractions, at most 0.5\); give raw values 0..16"),
    ],
)
def test_bad_images_are_one_clear_error(digits_run: tuple[Path, float], text: str, message: str) -> None:
    out, _ = digits_run
    with pytest.raises(RunError, match=message):
        predict_run(str(out), _record(out), [text])


def test_a_damaged_run_is_one_clear_error(digits_run: tuple[Path, float], tmp_path: Path) -> None:
    out, _ = digits_run
    rec = _record(out)
    (tmp_path / "model.safetensors").write_bytes((out / "model.safetensors").read_bytes()[:-7])
    with pytest.raises(RunError, match=r"does not fit the model run.json describes: .*not fully covered"):
        load_run(str(tmp_path), rec)
    (tmp_path / "model.safetensors").write_bytes((out / "model.safetensors").read_bytes())
    with pytest.raises(RunError, match=r"state_dict\['0.weight'\] has shape \(64, 64\), but .* \(32, 64\)"):
        load_run(str(tmp_path), rec | {"config": rec["config"] | {"hidden": [32]}})
    with pytest.raises(RunError, match=r"config\.hidden must be a list of positive whole numbers"):
        load_run(str(tmp_path), {"config": {"dataset": "digits", "hidden": "64"}})


def test_mnist_run_on_idx_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "mnist"
    data.mkdir()
    write_learnable_mnist(data, 300, 100, seed=0)
    out = tmp_path / "run"
    cfg = TensorConfig(dataset="mnist", data=str(data), verify=False, epochs=3, out=str(out))
    ticks: list[list[float]] = []
    figure_bytes = agrad.tensor_run._figure_bytes
    monkeypatch.setattr(
        "agrad.tensor_run._figure_bytes", lambda fig: ticks.append(list(fig.axes[-1].get_xticks())) or figure_bytes(fig)
    )
    assert run(cfg, quiet=True) == 0
    # the accuracy panel of a 3-epoch run marks whole epochs only (matplotlib alone puts 1.25, 1.5, ... there)
    assert ticks[0] and all(t == int(t) for t in ticks[0])
    rec = _record(out)
    assert sorted(p.name for p in out.iterdir()) == FILES and rec["test_accuracy"] >= 0.9
    assert load_run(str(out), rec)[1][0].weight.shape == (64, 784)
    with pytest.raises(ValueError, match="SHA-256"):
        run(TensorConfig(dataset="mnist", data=str(data), out=str(tmp_path / "x")), quiet=True)


def test_mnist_pixels_become_float32_rows_without_a_float64_copy(tmp_path: Path) -> None:
    # (X / 255).astype(float32) made a float64 copy twice the rows' size first: 376 MB more for MNIST's 60,000
    rng = np.random.default_rng(1)
    raw = {}
    for split, n in [("train", 3000), ("t10k", 500)]:
        raw[split] = rng.integers(0, 256, (n, 28, 28))
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", raw[split])
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    tracemalloc.start()
    try:
        s = load_split(TensorConfig(dataset="mnist", data=str(tmp_path), verify=False, out=""))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    for got, images in [(s.X_train, raw["train"]), (s.X_test, raw["t10k"])]:
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, (images.reshape(len(images), -1) / 255).astype(np.float32))
    rows = s.X_train.nbytes + s.X_test.nbytes
    assert peak < 1.6 * rows  # the float32 rows and the uint8 images they came from (a quarter of them)
