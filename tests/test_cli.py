"""The ``agrad`` command, run for real in a subprocess: files, accuracy, seeds, bad flags, missing extras."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import agrad
from agrad.nn import MLP

PNG = b"\x89PNG\r\n\x1a\n"


def agrad_cmd(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agrad", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "MPLBACKEND": "Agg", **(env or {})},
    )


def _final_accuracy(stdout: str) -> float:
    m = re.search(r"final accuracy ([\d.]+)%", stdout)
    assert m, stdout
    return float(m.group(1))


def test_default_demo_reaches_95_percent_and_writes_its_files(tmp_path: Path) -> None:
    r = agrad_cmd("demo", cwd=tmp_path)  # the defaults, into ./agrad-demo
    assert r.returncode == 0, r.stderr
    assert _final_accuracy(r.stdout) >= 95.0
    out = tmp_path / "agrad-demo"
    for name in ("loss.png", "decision_boundary.png"):
        assert (out / name).read_bytes()[:8] == PNG
    assert "digraph" in (out / "neuron.dot").read_text()
    if shutil.which("dot"):
        assert (out / "neuron.png").read_bytes()[:8] == PNG
    model = MLP(2, [16, 16, 1], seed=0)
    model.load_state_dict(agrad.load(out / "model.json"))
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["hidden"] == [16, 16] and len(record["loss"]) == 100
    # the saved model is the trained one: it reproduces the accuracy the command printed
    X, y = agrad.datasets.make_moons(100, noise=0.1, seed=1337)
    hits = sum((model(x).data > 0) == (c == 1) for x, c in zip(X, y))
    assert hits == round(_final_accuracy(r.stdout))


@pytest.mark.parametrize(("dataset", "outputs"), [("circles", 1), ("blobs", 3), ("spirals", 1)])
def test_train_other_datasets(tmp_path: Path, dataset: str, outputs: int) -> None:
    r = agrad_cmd("train", "--dataset", dataset, "--hidden", "8", "--steps", "3", "--out", str(tmp_path), "--seed", "2")
    assert r.returncode == 0, r.stderr
    MLP(2, [8, outputs], seed=0).load_state_dict(agrad.load(tmp_path / "model.json"))
    assert (tmp_path / "decision_boundary.png").read_bytes()[:8] == PNG


def test_same_seed_same_numbers_and_another_seed_others(tmp_path: Path) -> None:
    runs = {}
    for name, seed in [("a", "5"), ("b", "5"), ("c", "6")]:
        r = agrad_cmd("train", "--steps", "4", "--optimizer", "adam", "--seed", seed, "--out", str(tmp_path / name))
        assert r.returncode == 0, r.stderr
        runs[name] = json.loads((tmp_path / name / "run.json").read_text())["loss"]
    assert runs["a"] == runs["b"] != runs["c"]
    assert (tmp_path / "a" / "model.json").read_bytes() == (tmp_path / "b" / "model.json").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--steps", "0"], "--steps"),
        (["train", "--steps", "ten"], "--steps"),
        (["train", "--hidden", "16,x"], "--hidden"),
        (["train", "--hidden", "16,0"], "--hidden"),
        (["train", "--dataset", "mnist"], "--dataset"),
        (["demo", "--optimizer", "rmsprop"], "--optimizer"),
        (["demo", "--lr", "-1"], "--lr"),
        (["demo", "--lr", "nan"], "--lr"),
        (["demo", "--bogus"], "--bogus"),
        (["fly"], "fly"),
        (["train", "--dataset", "spirals", "--samples", "3"], "n_samples must be an int >= 4"),
        (["demo", "--samples", "1"], "--samples 1"),
    ],
)
def test_a_bad_flag_is_one_line_and_status_2(tmp_path: Path, args: list[str], message: str) -> None:
    r = agrad_cmd(*args, "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and message in lines[0], r.stderr
    assert not (tmp_path / "o").exists()


def test_out_must_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    r = agrad_cmd("demo", "--out", str(tmp_path / "file"))
    assert r.returncode == 2 and "not a folder" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_an_output_folder_that_cannot_be_made_fails_before_training(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    r = agrad_cmd("demo", "--out", str(tmp_path / "file" / "sub"))
    assert r.returncode == 1 and "final accuracy" not in r.stdout
    assert len(r.stderr.strip().splitlines()) == 1 and "could not write" in r.stderr


def test_help_and_no_command() -> None:
    r = agrad_cmd("train", "--help")
    assert r.returncode == 0
    for flag in ("--dataset", "--hidden", "--steps", "--lr", "--optimizer", "--seed", "--out"):
        assert flag in r.stdout
    r = agrad_cmd()
    assert r.returncode == 0 and "df/da = b = -3.0" in r.stdout


BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("matplotlib", "tqdm", "graphviz"):
            raise ImportError(f"No module named {name!r}")
sys.meta_path.insert(0, Block())
from agrad.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_the_extras_it_still_trains_and_says_what_to_install(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-c", BLOCK, "demo", "--steps", "3", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert 'pip install "agrad[plot]"' in r.stderr and 'pip install "agrad[viz]"' in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["model.json", "neuron.dot", "run.json"]


def test_on_a_terminal_it_shows_a_tqdm_bar_with_loss_and_accuracy(tmp_path: Path) -> None:
    pytest.importorskip("tqdm")
    if not sys.platform.startswith(("linux", "darwin")):
        pytest.skip("needs a POSIX pseudo-terminal")
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a new pty is 0 columns wide
    proc = subprocess.Popen(
        [sys.executable, "-m", "agrad", "demo", "--steps", "3", "--out", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    os.close(master)
    bar = b"".join(chunks).decode(errors="replace")
    assert "3/3" in bar and "loss=" in bar and "acc=" in bar


def test_a_closed_pipe_stops_it_quietly(tmp_path: Path) -> None:
    """agrad demo | head -1: the reader leaves after one line; no traceback, no false "could not write"."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "agrad", "demo", "--steps", "50", "--no-progress", "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"training an MLP")
    proc.stdout.close()  # as head does
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141  # 128 + SIGPIPE, as a process that SIGPIPE ends
    assert err == b"", err


def test_an_interrupted_plot_leaves_the_old_picture_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    from agrad import cli

    cfg = cli.Config(steps=2, samples=10, out=str(tmp_path))
    assert cli.run(cfg, quiet=True) == 0
    before = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    real_savefig = Figure.savefig

    def half_then_ctrl_c(self: Figure, fname: object, *args: object, **kwargs: object) -> None:
        real_savefig(self, fname, *args, **kwargs)
        if hasattr(fname, "truncate"):
            fname.truncate(100)  # type: ignore[attr-defined]
        else:
            with open(fname, "r+b") as f:  # type: ignore[call-overload]
                f.truncate(100)
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", half_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        cli.run(cli.Config(steps=2, samples=10, out=str(tmp_path), seed=2), quiet=True)
    assert (tmp_path / "loss.png").read_bytes() == before["loss.png"]  # not half of a new one
    assert sorted(os.listdir(tmp_path)) == sorted(before)  # and no temporary file left behind


def test_a_diverged_run_still_writes_strict_json(tmp_path: Path) -> None:
    from agrad import cli

    cli.run(cli.Config(steps=3, samples=10, lr=1e200, out=str(tmp_path)), quiet=True)  # the loss overflows

    def refuse(name: str) -> None:
        raise AssertionError(f"run.json holds {name}, which strict JSON readers (jq, JSON.parse) refuse")

    record = json.loads((tmp_path / "run.json").read_text(), parse_constant=refuse)
    assert "nan" in record["loss"] or "inf" in record["loss"]
    assert agrad.load(tmp_path / "model.json")  # model files already wrote "nan" as a string
