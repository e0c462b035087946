"""Model files: ``agrad.load`` fuzzed with 1,000 truncated and mutated files.

Each file is a real ``agrad.save`` output, cut short or mutated (bytes flipped,
inserted, deleted; JSON tokens injected; lines swapped; fields of the parsed
document changed). For every one:

- ``agrad.load`` returns or raises ValueError, within a time limit; any other
  exception is a crash from deep inside.
- What it returns is what the file says: the same dict as an independent
  parse with Python's json module; and while the file carries a sha256, the
  original parameters, bit for bit.
- Loading it into a model is all or nothing: the model afterwards holds either
  every old value or every new one.
- No code runs: an audit hook (PEP 578) watches for exec, compile, pickle,
  marshal, os.system and subprocess while the file is read; crafted files (a
  pickle whose ``__reduce__`` would write a marker file, JSON that imitates
  jsonpickle or YAML object tags) are refused and the marker never appears.
"""

from __future__ import annotations

import json
import math
import pickle
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from test_trust_bad_input import time_limit

import agrad
from agrad.nn import MLP

N_FILES = 1000
SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

# -- watching for code execution ---------------------------------------------------

_DANGEROUS = ("exec", "compile", "pickle.find_class", "marshal.loads", "os.system", "subprocess.Popen", "os.exec")
_events: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _events is not None and event.startswith(_DANGEROUS):
        _events.append(event)


sys.addaudithook(_audit)  # a hook cannot be removed; it records only inside watch()


@contextmanager
def watch() -> Iterator[list[str]]:
    """Collect the code-running audit events raised inside the block."""
    global _events
    _events = seen = []
    try:
        yield seen
    finally:
        _events = None


def test_the_audit_hook_sees_code_run() -> None:
    """The watcher is not blind: exec and pickle are seen."""
    with watch() as seen:
        exec("1 + 1")
        pickle.loads(pickle.dumps(Path("x")))
    assert "exec" in seen and "pickle.find_class" in seen


# -- the files ----------------------------------------------------------------------


def _model(seed: int = 0) -> MLP:
    return MLP(3, [4, 2], seed=seed)


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    """Equal dicts of floats, bit for bit (the sign of zero too), with nan equal to nan."""
    if a.keys() != b.keys():
        return False
    for k, x in a.items():
        y = b[k]
        if x != x or y != y:
            if not (x != x and y != y):
                return False
        elif x != y or math.copysign(1.0, x) != math.copysign(1.0, y):
            return False
    return True


TOKENS = [
    b"NaN",
    b"Infinity",
    b"-",
    b"1e999",
    b'"',
    b"{",
    b"}",
    b"[",
    b",",
    b":",
    b"\\u0000",
    b"\xff",
    b"\x00",
    b"null",
]


def _byte_mutant(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(data) + 1)
        kind = rng.randrange(6)
        if kind == 0 and i < len(data):
            data[i] ^= 1 << rng.randrange(8)
        elif kind == 1 and i < len(data):
            data[i] = rng.randrange(256)
        elif kind == 2 and i < len(data):
            del data[i]
        elif kind == 3:
            data[i:i] = bytes([rng.randrange(256)])
        elif kind == 4:
            data[i:i] = rng.choice(TOKENS)
        else:
            lines = bytes(data).split(b"\n")
            a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[a], lines[b] = lines[b], lines[a]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


ODD_VALUES: list[Any] = [None, True, "x", "nan", "-inf", [], {}, [1.0], {"py/object": "os.system"}, 1e308, -0.0, 0, 7]


def _doc_mutant(doc: dict[str, Any], rng: random.Random) -> bytes:
    d = json.loads(json.dumps(doc))
    params: dict[str, Any] = d["params"]
    names = list(params)
    kind = rng.randrange(10)
    if kind == 0:
        del d[rng.choice(list(d))]
    elif kind == 1:
        d["version"] = rng.choice([0, -1, 2, "1", True, 1.0, None, 10**30])
    elif kind == 2:
        d["format"] = rng.choice(["agrad.state_dict ", "pickle", None, 1])
    elif kind == 3:
        d["params"] = rng.choice([[], "params", None, 1.0, [[k, v] for k, v in params.items()]])
    elif kind == 4:
        params[rng.choice(names)] = rng.choice(ODD_VALUES)
    elif kind == 5:
        params[rng.choice(names)] = rng.choice(ODD_VALUES)
        del d["sha256"]  # without a checksum a changed value is a legitimate file
    elif kind == 6:
        k = rng.choice(names)
        params[k + rng.choice(["x", ".0", ""])] = params.pop(k)
    elif kind == 7:
        params["extra"] = 1.0
        d.pop("sha256", None)
    elif kind == 8:
        d["sha256"] = rng.choice(["0" * 64, "", 5, None])
    else:
        d[rng.choice(["__reduce__", "py/object", "!!python/object/apply:os.system", "__class__"])] = [
            "os.system",
            "echo",
        ]
    return json.dumps(d, indent=rng.choice([None, 2])).encode()


def _files(raw: bytes, n: int) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(20240601)
    doc = json.loads(raw)
    n_trunc, n_doc = n // 4, n // 5
    for i in range(n_trunc):
        cut = i * len(raw) // n_trunc
        yield f"truncated to {cut} bytes", raw[:cut]
    for i in range(n_doc):
        yield f"document mutant {i}", _doc_mutant(doc, rng)
    for i in range(n - n_trunc - n_doc):
        yield f"byte mutant {i}", _byte_mutant(raw, rng)


def _independent_parse(raw: bytes) -> dict[str, float] | None:
    """The params that Python's json module reads from the file, or None if it is not a params file."""
    try:
        doc = json.loads(raw.decode("utf-8"))
        return {k: SPECIAL[v] if isinstance(v, str) else float(v) for k, v in doc["params"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _try_file(raw: bytes, path: Path, original: dict[str, float]) -> str:
    """Load raw as a model file into a fresh model; say what happened. ``original`` is what was saved."""
    path.write_bytes(raw)
    model = _model(seed=1)  # other values than the file's, so a partial update would show
    before = model.state_dict()
    assert not _same(before, original)
    with watch() as seen, time_limit(5.0, "agrad.load"):
        try:
            state = agrad.load(path)
        except ValueError:
            state = None
    assert seen == [], f"loading ran code: {seen}"
    if state is None:
        return "rejected"
    assert isinstance(state, dict) and all(isinstance(k, str) and type(v) is float for k, v in state.items())
    said = _independent_parse(raw)
    assert said is not None and _same(state, said), f"loaded {state}, but the file says {said}"
    if b'"sha256"' in raw and isinstance(json.loads(raw).get("sha256"), str):
        assert _same(state, original), "a file with a valid checksum gave other values than were saved"
    try:
        model.load_state_dict(state)
    except ValueError:
        assert _same(model.state_dict(), before), "a refused state_dict changed the model"
        return "refused by the model"
    assert _same(model.state_dict(), state), "the model does not hold what was loaded"
    return "loaded"


def test_fuzzed_model_files(tmp_path: Path) -> None:
    model = _model()
    original = model.state_dict()
    path = tmp_path / "model.json"
    agrad.save(original, path)
    raw = path.read_bytes()
    assert _try_file(raw, tmp_path / "copy.json", original) == "loaded"
    outcomes: dict[str, int] = {}
    failures: list[str] = []
    for name, mutant in _files(raw, N_FILES):
        try:
            result = _try_file(mutant, tmp_path / "mutant.json", original)
            outcomes[result] = outcomes.get(result, 0) + 1
        except (AssertionError, Exception) as e:
            failures.append(f"{name}: {type(e).__name__}: {str(e)[:300]}\n    file: {mutant[:300]!r}")
    assert not failures, f"{len(failures)} of {N_FILES} files:\n" + "\n".join(failures[:10])
    assert sum(outcomes.values()) == N_FILES
    assert outcomes.get("rejected", 0) > N_FILES // 2, outcomes  # most damage is caught, not loaded
    assert outcomes.get("loaded", 0) > 0, outcomes  # some mutants are harmless (whitespace, order)


# -- crafted files ----------------------------------------------------------------


class _Payload:
    """Unpickling this would run exec and write the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def _crafted(marker: Path) -> dict[str, bytes]:
    head = b'{"format": "agrad.state_dict", "version": 1, "params": '
    return {
        "pickle": pickle.dumps(_Payload(marker)),
        "pickle of a state dict": pickle.dumps({"w": 1.0}),
        "jsonpickle": head + b'{"w": {"py/reduce": [{"py/function": "builtins.exec"}, ["1"]]}}}',
        "reduce key": head + b'{"__reduce__": ["os.system", ["touch x"]]}}',
        "yaml tag": b'!!python/object/apply:os.system ["touch x"]\n',
        "nested object": head + b'{"w": {"__class__": "os.system"}}}',
        "empty": b"",
        "bom": b"\xef\xbb\xbf" + head + b'{"w": 1.0}}',
        "utf-16": (head + b'{"w": 1.0}}').decode().encode("utf-16"),
    }


@pytest.mark.parametrize("name", list(_crafted(Path("m"))))
def test_crafted_files_run_no_code(name: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    raw = _crafted(marker)[name]
    original = _model().state_dict()
    assert _try_file(raw, tmp_path / "crafted.json", original) in ("rejected", "refused by the model")
    assert not marker.exists()


def test_huge_integer_parameter(tmp_path: Path) -> None:
    raw = b'{"format": "agrad.state_dict", "version": 1, "params": {"w": 1' + b"0" * 400 + b"}}"
    assert _try_file(raw, tmp_path / "huge.json", _model().state_dict()) in ("rejected", "refused by the model")


def test_deeply_nested_json(tmp_path: Path) -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    assert _try_file(raw, tmp_path / "deep.json", _model().state_dict()) == "rejected"


def test_a_failed_save_leaves_the_old_file(tmp_path: Path) -> None:
    """save checks everything before writing: a bad state_dict leaves the old file byte for byte."""
    path = tmp_path / "model.json"
    agrad.save({"w": 1.0}, path)
    before = path.read_bytes()
    for bad in ({"w": "x"}, {1: 1.0}, {"w": agrad.Value(1.0)}, {"w": 1.0, "b": None}):
        with pytest.raises((TypeError, ValueError)):
            agrad.save(bad, path)  # type: ignore[arg-type]
        assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"], "a temporary file was left behind"
