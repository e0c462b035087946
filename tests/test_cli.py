"""The ``agrad`` command, run for real in a subprocess: files, accuracy, seeds, bad flags, missing extras."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from commands import agrad_cmd

import agrad
from agrad.nn import MLP

PNG = b"\x89PNG\r\n\x1a\n"


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
    picture = (out / "neuron.dot").read_text()
    assert "digraph" in picture
    # the pre-activation z is drawn as a node of its own, though the model makes a ReLU neuron one node
    assert "{ z | data" in picture and '[label="dot"' in picture and '[label="relu"' in picture
    if shutil.which("dot"):
        assert (out / "neuron.png").read_bytes()[:8] == PNG
    model = MLP(2, [16, 16, 1], seed=0)
    model.load_state_dict(agrad.load(out / "model.json"))
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["hidden"] == [16, 16] and len(record["loss"]) == 101  # step 0 to step 100
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


@pytest.mark.parametrize("out", ["", "file/sub", "file/sub/deeper", "/proc/agrad-out"])
def test_an_output_folder_that_cannot_be_written_is_refused_before_anything(tmp_path: Path, out: str) -> None:
    if out.startswith("/proc") and not os.path.isdir("/proc"):
        pytest.skip("no /proc here")
    (tmp_path / "file").write_text("x")
    before = sorted(os.listdir(tmp_path))
    r = agrad_cmd("demo", "--out", out, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""  # not even the header
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agrad demo: error: argument --out"), r.stderr
    if out.startswith("file"):
        assert "'file' is not a folder" in lines[0]
    assert sorted(os.listdir(tmp_path)) == before


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


def _demo_without_extras(out: Path) -> subprocess.CompletedProcess[str]:
    """``agrad demo --steps 3`` with matplotlib, graphviz and tqdm blocked (BLOCK)."""
    return subprocess.run(
        [sys.executable, "-c", BLOCK, "demo", "--steps", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_the_extras_it_still_trains_and_says_what_to_install(tmp_path: Path) -> None:
    r = _demo_without_extras(tmp_path)
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


def test_an_interrupted_plot_leaves_no_half_picture_and_no_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.figure import Figure

    from agrad import mlp_run

    cfg = mlp_run.Config(steps=2, samples=10, out=str(tmp_path))
    assert mlp_run.run(cfg, quiet=True) == 0
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
        mlp_run.run(mlp_run.Config(steps=2, samples=10, out=str(tmp_path), seed=2), quiet=True)
    left = sorted(os.listdir(tmp_path))
    assert left == ["model.json", "run.json"]  # no half picture, no temporary file, no picture of the old run
    assert (tmp_path / "model.json").read_bytes() != before["model.json"]


def test_a_diverged_run_still_writes_strict_json(tmp_path: Path) -> None:
    from agrad import mlp_run

    mlp_run.run(mlp_run.Config(steps=3, samples=10, lr=1e200, out=str(tmp_path)), quiet=True)  # the loss overflows

    def refuse(name: str) -> None:
        raise AssertionError(f"run.json holds {name}, which strict JSON readers (jq, JSON.parse) refuse")

    record = json.loads((tmp_path / "run.json").read_text(), parse_constant=refuse)
    assert "nan" in record["loss"] or "inf" in record["loss"]
    assert agrad.load(tmp_path / "model.json")  # model files already wrote "nan" as a string


# -- what a new user sees ----------------------------------------------------------


def _stderr_lines(r: subprocess.CompletedProcess[str]) -> list[str]:
    return r.stderr.strip().splitlines()


def _step_lines(stdout: str) -> list[tuple[int, float, float]]:
    return [
        (int(m[1]), float(m[2]), float(m[3]))
        for m in re.finditer(r"^step +(\d+)/\d+  loss ([\d.]+)  accuracy (\d+)%$", stdout, re.MULTILINE)
    ]


@pytest.mark.parametrize("compiled", [False, True])
def test_the_final_numbers_are_those_of_the_saved_model(tmp_path: Path, compiled: bool) -> None:
    """--steps 2 printed step 2/2 at 79% and then a final 84% (measured after one more update)."""
    if compiled:
        pytest.importorskip("numpy")
    args = ["train", "--steps", "2", "--no-progress", "--out", str(tmp_path)] + (["--compile"] if compiled else [])
    r = agrad_cmd(*args)
    assert r.returncode == 0, r.stderr
    last = _step_lines(r.stdout)[-1]
    final = re.search(r"final accuracy ([\d.]+)% \(loss ([\d.]+)\)", r.stdout)
    assert final and last[0] == 2
    assert last[2] == round(float(final[1])) and last[1] == float(final[2])
    # the oracle: the saved weights, evaluated here from scratch
    model = MLP(2, [16, 16, 1], seed=0)
    model.load_state_dict(agrad.load(tmp_path / "model.json"))
    X, y = agrad.datasets.make_moons(100, noise=0.1, seed=1337)
    scores = [model(x) for x in X]
    hits = sum((s.data > 0) == (c == 1) for s, c in zip(scores, y))
    assert float(final[1]) == pytest.approx(hits)
    hinge = sum(max(0.0, 1 - (2 * c - 1) * s.data) for s, c in zip(scores, y)) / len(y)
    l2 = 1e-4 * sum(p.data**2 for p in model.parameters())
    assert float(final[2]) == pytest.approx(hinge + l2, abs=6e-5)
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["final_accuracy"] == hits / 100 == record["accuracy"][-1] and len(record["loss"]) == 3


BLOCK_NUMPY = BLOCK.replace('("matplotlib", "tqdm", "graphviz")', '("numpy",)')


@pytest.mark.parametrize("command", ["demo", "train"])
def test_compile_without_numpy_is_refused_before_anything(tmp_path: Path, command: str) -> None:
    out = tmp_path / "o"
    r = subprocess.run(
        [sys.executable, "-c", BLOCK_NUMPY, command, "--compile", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and r.stdout == ""
    lines = _stderr_lines(r)
    assert len(lines) == 1 and lines[0].startswith(f"agrad {command}: error: --compile needs numpy"), r.stderr
    assert 'pip install "agrad[numpy]"' in lines[0]
    assert not out.exists()


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--steps", "99999999999999999999", "of memory"),
        ("--hidden", "99999999999999999999", "of memory"),
        ("--samples", "99999999999999999999", "of memory"),
        ("--hidden", "100000,100000", "needs about 17.3 TB of memory"),
        ("--noise", "1e308", "--noise"),
        ("--noise", "1001", "--noise"),
    ],
)
def test_a_flag_too_big_for_the_machine_is_one_line_before_anything(
    tmp_path: Path, flag: str, value: str, says: str
) -> None:
    out = tmp_path / "o"
    r = agrad_cmd("train", flag, value, "--out", str(out))
    assert r.returncode == 2 and r.stdout == ""
    lines = _stderr_lines(r)
    assert len(lines) == 1 and lines[0].startswith("agrad train: error:") and says in lines[0], r.stderr
    assert not out.exists()


@pytest.mark.parametrize(("hidden", "samples"), [([8], 20), ([40, 40], 30)])
def test_the_memory_estimate_is_of_the_right_size(hidden: list[int], samples: int) -> None:
    """The numbers behind the refusal, checked against tracemalloc's peak on runs the machine can hold."""
    import tracemalloc

    from agrad import mlp_run

    cfg = mlp_run.Config(hidden=hidden, samples=samples, steps=1)
    tracemalloc.start()
    try:
        mlp_run.train(cfg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = mlp_run.memory_needed(cfg.hidden, 1, cfg.samples, cfg.steps)
    assert peak / 2 < estimate < peak * 2, (peak, estimate)


def test_a_reused_folder_never_mixes_runs(tmp_path: Path) -> None:
    r = agrad_cmd("demo", "--steps", "2", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "old").mkdir()
    # The second run cannot draw (no matplotlib, no graphviz): the old pictures must not stay beside its model.
    r = _demo_without_extras(tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path)) == ["model.json", "neuron.dot", "notes.txt", "old", "run.json"]
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert len(json.loads((tmp_path / "run.json").read_text())["loss"]) == 4


@pytest.mark.parametrize(
    ("args", "blocked"),
    [
        (["train", "--steps", "0"], ()),  # argparse's refusal
        (["train", "--hidden", "100000,100000"], ()),  # agrad's refusal
        (["train", "--out", ""], ()),
        (["train", "--steps", "2", "--no-progress"], ("matplotlib", "tqdm", "graphviz")),  # agrad's notes
    ],
)
def test_every_message_has_one_prefix(tmp_path: Path, args: list[str], blocked: tuple[str, ...]) -> None:
    script = BLOCK.replace('("matplotlib", "tqdm", "graphviz")', repr(blocked))
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "o")]
    r = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
    lines = _stderr_lines(r)
    assert lines and all(line.startswith("agrad train: ") for line in lines), r.stderr


def test_without_dot_the_note_is_one_short_line(tmp_path: Path) -> None:
    pytest.importorskip("graphviz")
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)  # a PATH with python and no dot
    r = agrad_cmd("demo", "--steps", "1", "--no-progress", "--out", str(tmp_path / "o"), env={"PATH": str(bare)})
    assert r.returncode == 0, r.stderr
    lines = [line for line in _stderr_lines(r) if "neuron.png" in line]
    assert len(lines) == 1 and len(lines[0]) <= 100 and "graphviz" in lines[0], r.stderr


# -- predict and eval ------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for dataset in ("moons", "blobs"):
        d = tmp_path_factory.mktemp(dataset)
        r = agrad_cmd("train", "--dataset", dataset, "--hidden", "8", "--steps", "30", "--seed", "3", "--out", str(d))
        assert r.returncode == 0, r.stderr
        out[dataset] = d
    return out


def _model(run: Path, outputs: int) -> MLP:
    model = MLP(2, [8, outputs], seed=0)
    model.load_state_dict(agrad.load(run / "model.json"))
    return model


def test_predict_prints_each_points_score_and_class(runs: dict[str, Path]) -> None:
    points = ["0.5,-0.25", "-1,0.8", "2,.5", "1e-3,-3"]
    r = agrad_cmd("predict", str(runs["moons"]), *points)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    model = _model(runs["moons"], 1)
    lines = r.stdout.splitlines()
    assert len(lines) == len(points)
    for line, text in zip(lines, points):
        score = model([float(v) for v in text.split(",")]).data
        assert line == f"{text}  score {score:.6g}  class {int(score > 0)}"


def test_predict_with_three_classes(runs: dict[str, Path]) -> None:
    r = agrad_cmd("predict", str(runs["blobs"]), "0,0", "-3,2.5")
    assert r.returncode == 0, r.stderr
    model = _model(runs["blobs"], 3)
    for line, x in zip(r.stdout.splitlines(), [[0.0, 0.0], [-3.0, 2.5]]):
        scores = [s.data for s in model(x)]
        best = max(range(3), key=scores.__getitem__)
        assert line.endswith(f"scores {', '.join(f'{s:.6g}' for s in scores)}  class {best}")


def _accuracies(stdout: str) -> list[float]:
    return [float(m) for m in re.findall(r": ([\d.]+)%$", stdout, re.MULTILINE)]


@pytest.mark.parametrize("dataset", ["moons", "blobs"])
def test_eval_gives_training_and_held_out_accuracy(runs: dict[str, Path], dataset: str) -> None:
    run = runs[dataset]
    r = agrad_cmd("eval", str(run))
    assert r.returncode == 0, r.stderr
    train_acc, fresh_acc = _accuracies(r.stdout)
    record = json.loads((run / "run.json").read_text())
    assert train_acc == round(100 * record["final_accuracy"], 1)
    model = _model(run, 1 if dataset == "moons" else 3)
    if dataset == "moons":
        X, y = agrad.datasets.make_moons(1000, noise=0.1, seed=4)  # the run's seed + 1
        hits = sum((model(x).data > 0) == (c == 1) for x, c in zip(X, y))
        assert fresh_acc == round(hits / 10, 1)
    else:
        # Same distribution: the fresh blobs sit where the training blobs sat (their means within
        # 4 standard errors), though no point is shared.
        X, y = agrad.datasets.make_blobs(30, centers=3, std=0.6, box=(-4.0, 4.0), seed=3)
        from agrad import mlp_run

        fresh = mlp_run.make_data(mlp_run.config_from_record(record), samples=1000, seed=4)
        assert not {tuple(p) for p in X} & {tuple(p) for p in fresh[0]}
        for c in range(3):
            for axis in range(2):
                old = [p[axis] for p, k in zip(X, y) if k == c]
                new = [p[axis] for p, k in zip(*fresh) if k == c]
                assert abs(sum(old) / len(old) - sum(new) / len(new)) < 4 * 0.6 / len(old) ** 0.5
        assert fresh_acc > 80.0


def test_eval_held_out_options(runs: dict[str, Path]) -> None:
    r = agrad_cmd("eval", str(runs["moons"]), "--samples", "50", "--seed", "11")
    assert r.returncode == 0 and "50 moons points, noise 0.1, seed 11" in r.stdout
    r = agrad_cmd("eval", str(runs["moons"]), "--seed", "3")
    assert r.returncode == 2 and "the run's own seed" in r.stderr


def _broken_runs(runs: dict[str, Path], tmp: Path) -> dict[str, tuple[Path, str]]:
    """Run folders broken one way each, and a word the one-line refusal must contain."""
    cases: dict[str, tuple[Path, str]] = {}

    def copy(name: str) -> Path:
        d = tmp / name
        shutil.copytree(runs["moons"], d)
        return d

    cases["missing"] = (tmp / "nowhere", "not a folder")
    d = tmp / "empty"
    d.mkdir()
    cases["no run.json"] = (d, "no run.json")
    d = copy("no-model")
    (d / "model.json").unlink()
    cases["no model.json"] = (d, "no model.json")
    d = copy("bad-json")
    (d / "run.json").write_text("{not json")
    cases["run.json not JSON"] = (d, "run.json")
    d = copy("huge-string")
    (d / "run.json").write_text(json.dumps({"config": {"dataset": "x" * 10**6}}))
    cases["a huge bad value"] = (d, "config.dataset")
    d = copy("kind")
    record = json.loads((d / "run.json").read_text())
    (d / "run.json").write_text(json.dumps({**record, "kind": "hologram"}))
    cases["unknown kind"] = (d, "hologram")
    d = copy("other-size")
    (d / "run.json").write_text(json.dumps({**record, "config": {**record["config"], "hidden": [9]}}))
    cases["weights of another size"] = (d, "MLP(2, [9, 1]")
    d = copy("giant")
    (d / "run.json").write_text(json.dumps({**record, "config": {**record["config"], "hidden": [10**6, 10**6]}}))
    cases["a model bigger than memory"] = (d, "of memory")
    d = copy("corrupt-model")
    (d / "model.json").write_bytes((d / "model.json").read_bytes()[:50])
    cases["truncated model.json"] = (d, "model.json")
    return cases


@pytest.mark.parametrize("command", ["predict", "eval"])
def test_bad_or_missing_files_are_one_line_and_status_2(runs: dict[str, Path], tmp_path: Path, command: str) -> None:
    for case, (run, word) in _broken_runs(runs, tmp_path).items():
        args = ["predict", str(run), "0,0"] if command == "predict" else ["eval", str(run)]
        r = agrad_cmd(*args)
        lines = _stderr_lines(r)
        assert r.returncode == 2 and r.stdout == "", (case, r.stderr)
        assert len(lines) == 1 and lines[0].startswith(f"agrad {command}: error: ") and word in lines[0], (case, lines)
        assert len(lines[0]) < 600, case


@pytest.mark.parametrize("point", ["1", "1,2,3", "a,b", "nan,0", "1e400,0", ""])
def test_predict_refuses_a_bad_point(runs: dict[str, Path], point: str) -> None:
    r = agrad_cmd("predict", str(runs["moons"]), "0,0", point)
    assert r.returncode == 2 and r.stdout == ""  # checked before any line is printed
    lines = _stderr_lines(r)
    assert len(lines) == 1 and "expected a point as X0,X1" in lines[0], r.stderr


def test_the_pictures_have_legend_contour_whole_steps_and_plain_log_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the figures hold, read from matplotlib's own objects before they are saved."""
    pytest.importorskip("matplotlib")
    from matplotlib.contour import ContourSet

    from agrad import mlp_run

    figures: dict[str, Any] = {}

    def keep(plt: Any, fig: Any, path: str) -> None:
        fig.canvas.draw()  # lay out the ticks as the PNG would show them
        figures[os.path.basename(path)] = fig

    monkeypatch.setattr(mlp_run, "_save_figure", keep)
    for dataset, classes in [("moons", 2), ("blobs", 3)]:
        figures.clear()
        cfg = mlp_run.Config(dataset=dataset, steps=40, samples=60, out=str(tmp_path / dataset))
        assert mlp_run.run(cfg, quiet=True) == 0
        loss_ax = figures["loss.png"].axes[0]
        steps = [t for t in loss_ax.get_xticks() if 0 <= t <= 40]
        assert steps and all(float(t).is_integer() for t in steps)
        assert loss_ax.get_yscale() == "log"  # this run's loss falls more than tenfold
        labels = [t.get_text() for t in loss_ax.get_yticklabels() if t.get_text()]
        assert labels and all(re.fullmatch(r"[\d.]+", s) for s in labels), labels  # 0.05, not $10^{-1}$
        ax = figures["decision_boundary.png"].axes[0]
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == [f"class {c}" for c in range(classes)] + ["decision boundary"]
        assert any(isinstance(c, ContourSet) and list(c.levels) == [0.0] for c in ax.collections)
        assert ax.get_images()[0].get_array().shape[:2] == (300, 300)  # a fine grid, not a 90x90 staircase
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x0", "x1")
