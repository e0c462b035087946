"""The command on real digits: agrad train --dataset digits|mnist, then agrad predict and agrad eval on the run."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("array_api_compat")
pytest.importorskip("safetensors")
pytest.importorskip("sklearn")

from commands import agrad_cmd  # noqa: E402
from idx_files import write_learnable_mnist  # noqa: E402

import agrad  # noqa: E402

FILES = ["confusion.png", "loss.png", "mistakes.png", "model.safetensors", "run.json"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str], float]:
    out = tmp_path_factory.mktemp("cli") / "run"
    start = time.perf_counter()
    r = agrad_cmd("train", "--dataset", "digits", "--out", str(out))
    return out, r, time.perf_counter() - start


def test_train_digits_with_the_defaults(digits_run: tuple[Path, subprocess.CompletedProcess[str], float]) -> None:
    out, r, seconds = digits_run
    assert r.returncode == 0, r.stderr
    m = re.search(r"held-out accuracy ([\d.]+)% \(360 images\)", r.stdout)
    assert m and float(m.group(1)) >= 97.0, r.stdout
    assert seconds < 60
    assert sorted(p.name for p in out.iterdir()) == FILES
    rec = json.loads((out / "run.json").read_text())
    assert rec["kind"] == "tensor_mlp" and rec["config"]["hidden"] == [64] and rec["config"]["optimizer"] == "adam"
    assert rec["config"]["device"] == "cpu"  # the default
    assert float(m.group(1)) == pytest.approx(100 * rec["test_accuracy"], abs=0.006)
    assert "training MLP 64-64-10 on digits: 1437 images, 360 held out; adam lr 0.01 (cosine)" in r.stdout


def test_predict_and_eval_on_the_run(
    digits_run: tuple[Path, subprocess.CompletedProcess[str], float], tmp_path: Path
) -> None:
    out, _, _ = digits_run
    X, y = agrad.datasets.load_digits()
    np.save(tmp_path / "five.npy", X[:5])
    r = agrad_cmd("predict", str(out), str(tmp_path / "five.npy"), ",".join(str(int(v)) for v in X[5]))
    assert r.returncode == 0, r.stderr
    got = [int(d) for d in re.findall(r"digit (\d)", r.stdout)]
    assert len(got) == 6 and sum(g == t for g, t in zip(got, y[:6])) >= 5  # trained: the first six are easy
    r = agrad_cmd("eval", str(out))
    assert r.returncode == 0, r.stderr
    rec = json.loads((out / "run.json").read_text())
    assert f"accuracy on 360 held-out digits images: {rec['test_accuracy']:.2%}" in r.stdout
    r = agrad_cmd("eval", str(out), "--samples", "100")
    assert "accuracy on 100 held-out digits images" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "digits", "--steps", "3"], "argument --steps: not for --dataset digits"),
        (["--dataset", "digits", "--schedule", "linear"], "digits and mnist runs take cosine or constant"),
        (["--dataset", "moons", "--epochs", "3"], "argument --epochs: not for --dataset moons"),
        (["--dataset", "moons", "--device", "cpu"], "argument --device: not for --dataset moons"),
        (["--dataset", "digits", "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
        (["--dataset", "mnist"], "--dataset mnist needs --data DIR"),
        (["--dataset", "mnist", "--data", "nowhere/mnist"], "train-images-idx3-ubyte.gz .* is not in nowhere/mnist"),
    ],
)
def test_bad_flags_are_one_line_and_make_no_folder(tmp_path: Path, args: list[str], message: str) -> None:
    r = agrad_cmd("train", *args, "--out", "o", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agrad train: error: ") and re.search(message, lines[0]), r.stderr
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed: cuda may be usable")
def test_device_cuda_without_cupy_is_one_line_and_makes_no_folder(tmp_path: Path) -> None:
    r = agrad_cmd("train", "--dataset", "digits", "--device", "cuda", "--out", "o", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == 'agrad train: error: --device cuda needs CuPy: pip install "agrad[cuda]" (and an NVIDIA GPU)\n'
    assert sorted(os.listdir(tmp_path)) == []


def test_device_cpu_is_recorded_and_checked_when_the_run_is_read(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = agrad_cmd("train", "--dataset", "digits", "--device", "cpu", "--epochs", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    m = re.search(r"held-out accuracy ([\d.]+)% \(360 images\)", r.stdout)
    assert m and float(m.group(1)) >= 90.0, r.stdout  # trained on the CPU: two epochs learn the digits
    rec = json.loads((out / "run.json").read_text())
    assert rec["config"]["device"] == "cpu"
    assert agrad_cmd("eval", str(out)).returncode == 0
    rec["config"]["device"] = "tpu"
    (out / "run.json").write_text(json.dumps(rec))
    r = agrad_cmd("eval", str(out))
    assert r.returncode == 2 and "config: device must be one of cpu, cuda, got 'tpu'" in r.stderr, r.stderr


def test_train_mnist_from_idx_files_and_replace_a_toy_run(tmp_path: Path) -> None:
    data = tmp_path / "mnist"
    data.mkdir()
    write_learnable_mnist(data, 200, 50, seed=1)
    out = tmp_path / "run"
    assert agrad_cmd("demo", "--steps", "1", "--samples", "10", "--out", str(out)).returncode == 0
    r = agrad_cmd("train", "--dataset", "mnist", "--data", str(data), "--out", str(out))
    assert r.returncode == 2 and "SHA-256" in r.stderr  # files not MNIST's own: refused unless asked
    r = agrad_cmd("train", "--dataset", "mnist", "--data", str(data), "--no-verify", "--epochs", "4", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "training MLP 784-64-10 on mnist: 200 images, 50 held out" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == FILES  # the demo's files are gone
    r = agrad_cmd("eval", str(out))
    assert r.returncode == 0 and "accuracy on 50 held-out mnist images" in r.stdout, r.stderr
