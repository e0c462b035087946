"""safetensors model files: exact round trips, other writers' files, atomic writes, ValueError for damaged files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
st = pytest.importorskip("safetensors.numpy")

import agrad  # noqa: E402
from agrad.tensorfile import load_tensors, save_tensors  # noqa: E402

DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int32", "int64", "bool"]


def _state(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {f"p.{d}": (rng.standard_normal((3, 2)) * 50).astype(d) for d in DTYPES}
    out["edges"] = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7976931348623157e308])
    out["empty"] = np.zeros((0, 4), dtype=np.float32)
    out["scalar"] = np.float64(2.5)
    out["zeta"], out["alpha"] = np.ones(2), np.zeros(3)  # not in sorted order: the saved order comes back
    return out


def test_round_trip_is_bit_exact_in_order(tmp_path: Path) -> None:
    state = _state()
    agrad.save(state, tmp_path / "m.safetensors")
    back = agrad.load(tmp_path / "m.safetensors")
    assert list(back) == list(state)
    for k, v in state.items():
        assert back[k].dtype == np.asarray(v).dtype and back[k].shape == np.shape(v)
        assert back[k].tobytes() == np.asarray(v).tobytes(), k  # bit for bit, nan and -0.0 included


def test_the_file_is_what_the_safetensors_library_reads(tmp_path: Path) -> None:
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1.0, -1.0])}
    save_tensors(state, tmp_path / "m.safetensors")
    theirs = st.load_file(str(tmp_path / "m.safetensors"))
    assert theirs.keys() == state.keys() and all(np.array_equal(theirs[k], state[k]) for k in state)
    raw = (tmp_path / "m.safetensors").read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    assert header["__metadata__"]["format"] == "agrad.state_dict" and header["__metadata__"]["version"] == "1"
    assert header["w"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": header["w"]["data_offsets"]}


def test_files_from_other_writers_load(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    w = torch.randn(4, 3, dtype=torch.float64)
    save_file({"linear.weight": w, "linear.bias": torch.zeros(4)}, str(tmp_path / "t.safetensors"))
    back = agrad.load(tmp_path / "t.safetensors")
    assert sorted(back) == ["linear.bias", "linear.weight"]
    np.testing.assert_array_equal(back["linear.weight"], w.numpy())
    assert back["linear.bias"].dtype == np.float32


def test_a_model_of_scalars_and_tensors_with_data(tmp_path: Path) -> None:
    class Holder:
        def __init__(self, data: np.ndarray) -> None:
            self.data = data

    save_tensors({"t": Holder(np.ones((2, 2))), "x": 0.25, "n": np.int64(7)}, tmp_path / "m.safetensors")
    back = load_tensors(tmp_path / "m.safetensors")
    assert back["t"].tolist() == [[1.0, 1.0], [1.0, 1.0]] and back["x"].shape == () and float(back["x"]) == 0.25
    assert back["n"].dtype == np.int64 and int(back["n"]) == 7


@pytest.mark.parametrize(
    ("state", "error", "message"),
    [
        ({"w": np.array(["a"])}, TypeError, r"state_dict\['w'\] has dtype <U1"),
        ({"w": np.array([1j])}, TypeError, "has dtype complex128"),
        ({"w": "text"}, TypeError, r"state_dict\['w'\] must be an array or a real number, got str"),
        ({1: np.ones(1)}, TypeError, "keys must be str, got int"),
        ({"__metadata__": np.ones(1)}, ValueError, "reserved by the safetensors format"),
        ([("w", np.ones(1))], TypeError, "mapping of name -> array, got list"),
    ],
)
def test_bad_state_dicts_leave_the_old_file(tmp_path: Path, state: object, error: type, message: str) -> None:
    path = tmp_path / "m.safetensors"
    agrad.save({"old": np.ones(3)}, path)
    before = path.read_bytes()
    with pytest.raises(error, match=message):
        agrad.save(state, path)  # type: ignore[arg-type]
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.safetensors"]


def _good(tmp_path: Path) -> bytes:
    save_tensors({"w": np.arange(12.0).reshape(3, 4), "b": np.ones(3, dtype=np.float32)}, tmp_path / "g.safetensors")
    return (tmp_path / "g.safetensors").read_bytes()


def _header(raw: bytes) -> dict[str, object]:
    return json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])  # type: ignore[no-any-return]


def _with_header(header: dict[str, object], body: bytes) -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + body


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda raw: b"", "header too small"),
        (lambda raw: raw[:-1], "file not fully covered"),
        (lambda raw: raw + b"\0" * 8, "file not fully covered"),
        (lambda raw: raw[:20], "invalid header length|header too large|invalid JSON"),
        (lambda raw: b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "header too large|invalid header"),
        (lambda raw: b'{"format": "agrad.state_dict", "version": 1, "params": {}}', "it is JSON text"),
        (lambda raw: _with_header({"x": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}, b"\0\0"), "BF16"),
        (
            lambda raw: _with_header({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, bytes(4)),
            "invalid shape",
        ),
        (
            lambda raw: _with_header(
                {"__metadata__": {"format": "agrad.state_dict", "version": "2"}}
                | {k: v for k, v in _header(raw).items() if k != "__metadata__"},
                raw[8 + int.from_bytes(raw[:8], "little") :],
            ),
            "newer agrad",
        ),
        (
            lambda raw: _with_header(
                {"__metadata__": {"format": "agrad.state_dict", "version": "one"}}
                | {k: v for k, v in _header(raw).items() if k != "__metadata__"},
                raw[8 + int.from_bytes(raw[:8], "little") :],
            ),
            "version.* must be a positive int",
        ),
    ],
)
def test_damaged_or_foreign_files_raise_value_error(tmp_path: Path, make: object, message: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(make(_good(tmp_path)))  # type: ignore[operator]
    with pytest.raises(ValueError, match=message) as info:
        agrad.load(path)
    assert type(info.value) is ValueError and "bad.safetensors" in str(info.value)
    assert "\n" not in str(info.value)


def test_not_a_regular_file_and_too_large(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)  # no writer: a plain open() would wait for one for ever
    with pytest.raises(ValueError, match="is a FIFO, not a regular file"):
        agrad.load(fifo)
    agrad.save({"w": np.zeros(1000)}, tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="larger than max_bytes = 100 bytes"):
        agrad.load(tmp_path / "m.safetensors", max_bytes=100)
    assert agrad.load(tmp_path / "m.safetensors", max_bytes=10_000)["w"].shape == (1000,)


def test_json_model_files_still_chosen_by_extension(tmp_path: Path) -> None:
    agrad.save({"w": 0.5}, tmp_path / "m.json")
    assert agrad.load(tmp_path / "m.json") == {"w": 0.5}
    agrad.save({"w": 0.5}, tmp_path / "M.SAFETENSORS")
    assert load_tensors(tmp_path / "M.SAFETENSORS")["w"].tolist() == 0.5
    assert (tmp_path / "M.SAFETENSORS").read_bytes()[8:9] == b"{"  # safetensors, not JSON text
