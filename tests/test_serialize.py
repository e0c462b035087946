"""Model files: exact round trips, strict JSON, atomic writes, and a clear ValueError for every damaged file."""

from __future__ import annotations

import json
import math
import os
import pickle
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agrad
from agrad.nn import MLP
from agrad.serialize import FORMAT, VERSION, load, save


def _bits(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


EDGE_FLOATS = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1 / 3, -1e-300, 1e22]


def test_round_trip_is_bit_exact_for_edge_floats(tmp_path: Path) -> None:
    state = {f"p{i}": x for i, x in enumerate(EDGE_FLOATS)} | {"inf": math.inf, "-inf": -math.inf}
    save(state, tmp_path / "m.json")
    back = load(tmp_path / "m.json")
    assert list(back) == list(state)
    assert [_bits(v) for v in back.values()] == [_bits(v) for v in state.values()]
    state_nan = load_after_save(tmp_path, {"n": math.nan})
    assert math.isnan(state_nan["n"])


def load_after_save(tmp_path: Path, state: dict[str, float]) -> dict[str, float]:
    save(state, tmp_path / "x.json")
    return load(tmp_path / "x.json")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=20))
def test_round_trip_is_bit_exact_for_any_float(tmp_path_factory: pytest.TempPathFactory, xs: list[float]) -> None:
    path = tmp_path_factory.mktemp("rt") / "m.json"
    save({f"k{i}": x for i, x in enumerate(xs)}, path)
    assert [_bits(v) for v in load(path).values()] == [_bits(x) for x in xs]


def test_the_file_is_strict_documented_json(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    save({"a": 1.5, "b": math.inf, "c": math.nan}, path)

    def refuse(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    doc = json.loads(path.read_text("utf-8"), parse_constant=refuse)
    assert doc["format"] == FORMAT == "agrad.state_dict" and doc["version"] == VERSION == 1
    assert doc["params"] == {"a": 1.5, "b": "inf", "c": "nan"}
    assert len(doc["sha256"]) == 64


def test_a_model_round_trips_through_a_file(tmp_path: Path) -> None:
    a, b = MLP(2, [16, 16, 1], seed=1), MLP(2, [16, 16, 1], seed=2)
    agrad.save(a.state_dict(), tmp_path / "model.json")
    b.load_state_dict(agrad.load(tmp_path / "model.json"))
    assert [_bits(p.data) for p in b.parameters()] == [_bits(p.data) for p in a.parameters()]
    assert b([0.3, -0.2]).data == a([0.3, -0.2]).data


def test_a_file_for_another_model_leaves_the_model_unchanged(tmp_path: Path) -> None:
    save(MLP(2, [8, 1], seed=0).state_dict(), tmp_path / "m.json")
    model = MLP(2, [16, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"missing keys 'layers\.0\.neurons\.8\.w\.0'"):
        model.load_state_dict(load(tmp_path / "m.json"))
    assert model.state_dict() == before


# -- atomic writes ------------------------------------------------------------------


def test_no_temporary_file_is_left_and_the_mode_is_normal(tmp_path: Path) -> None:
    save({"a": 1.0}, tmp_path / "m.json")
    save({"a": 2.0}, tmp_path / "m.json")
    assert os.listdir(tmp_path) == ["m.json"]
    assert load(tmp_path / "m.json") == {"a": 2.0}
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o666 & ~mask  # 0o644 under the usual umask


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.json"
    save({"a": 1.0}, path)
    old = path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save({"a": 2.0}, path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["m.json"]


def test_bad_state_dicts_are_refused_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    with pytest.raises(TypeError, match=r"model.state_dict\(\)"):
        save(MLP(2, [1], seed=0), path)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="keys must be str"):
        save({1: 2.0}, path)  # type: ignore[dict-item]
    with pytest.raises(TypeError, match=r"state_dict\['a'\] must be a real number"):
        save({"a": True}, path)
    with pytest.raises(TypeError, match=r"state_dict\['a'\] must be a real number"):
        save({"a": agrad.Value(1.0)}, path)  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"state_dict\['a'\] must be a real number that fits a float, got an int"):
        save({"a": 10**400}, path)  # not Python's bare OverflowError
    assert os.listdir(tmp_path) == []


# -- damaged and foreign files ------------------------------------------------------


def _good(tmp_path: Path) -> bytes:
    save(MLP(2, [3, 1], seed=0).state_dict(), tmp_path / "good.json")
    return (tmp_path / "good.json").read_bytes()


def test_every_truncation_raises_value_error(tmp_path: Path) -> None:
    raw = _good(tmp_path)
    path = tmp_path / "cut.json"
    for n in range(0, len(raw) - 2):  # the last bytes are the closing brace and newline
        path.write_bytes(raw[:n])
        with pytest.raises(ValueError, match="is not a readable agrad model file"):
            load(path)


def test_a_changed_digit_is_caught_by_the_checksum(tmp_path: Path) -> None:
    raw = _good(tmp_path).decode()
    doc = json.loads(raw)
    key = next(iter(doc["params"]))
    doc["params"][key] = doc["params"][key] + 1e-9
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="sha256 does not match"):
        load(path)
    del doc["sha256"]  # a hand-edited file without its checksum is accepted, as documented
    path.write_text(json.dumps(doc))
    assert load(path)[key] == doc["params"][key]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8 text"),
        (b"", "truncated or corrupt"),
        (b"[1, 2, 3]", "lacks the tag"),
        (b'{"format": "something.else", "version": 1, "params": {}}', "lacks the tag"),
        (b'{"format": "agrad.state_dict", "version": 2, "params": {}}', "newer agrad"),
        (b'{"format": "agrad.state_dict", "version": "1", "params": {}}', "version"),
        (b'{"format": "agrad.state_dict", "version": 1, "params": [1.0]}', '"params" must be an object'),
        (b'{"format": "agrad.state_dict", "version": 1, "params": {"a": "1.0"}}', r"params\['a'\] must be a number"),
        (b'{"format": "agrad.state_dict", "version": 1, "params": {"a": true}}', r"params\['a'\] must be a number"),
        (b'{"format": "agrad.state_dict", "version": 1, "params": {"a": NaN}}', "NaN"),
        (b'{"format": "agrad.state_dict", "version": 1, "params": {"a": 1.0, "a": 2.0}}', "'a' appears twice"),
        (b'{"format": "agrad.state_dict", "version": 1, "params": {"a": 1' + b"0" * 400 + b"}}", "too large"),
        (b'{"format": "agrad.state_dict", "version": 1, "params": {"a": 1' + b"0" * 5000 + b"}}", "digits"),
        # json alone reads 1e400 as inf: with a checksum that was a bare json error, without one a silent inf
        (b'{"format": "agrad.state_dict", "version": 1, "params": {"a": 1e400}, "sha256": "0"}', "too large"),
        (b'{"format": "agrad.state_dict", "version": 1, "params": {"a": -1.5e999}}', "-1.5e999, too large"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_foreign_and_corrupt_files(tmp_path: Path, text: bytes, message: str) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(text)
    with pytest.raises(ValueError, match=message):
        load(path)


def test_a_pickle_is_never_unpickled(tmp_path: Path) -> None:
    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.remove, (str(tmp_path / "canary"),))

    (tmp_path / "canary").write_text("alive")
    path = tmp_path / "m.json"
    path.write_bytes(pickle.dumps({"a": Boom()}))
    with pytest.raises(ValueError, match="not a readable agrad model file"):
        load(path)
    assert (tmp_path / "canary").exists()
