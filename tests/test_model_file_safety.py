"""Model files and the file system: non-regular files, permissions, size, memory, long values, bad keys.

Oracles: the file system itself (``os.stat`` before and after), ``json.loads``
of the same bytes (what a model file says, and where a syntax error is),
``tracemalloc``'s peak against the file's size, and the documented limits.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import stat
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_trust_bad_input import time_limit  # the old load waited on a FIFO for ever

import agrad
from agrad._checks import QUOTE_LIMIT
from agrad.serialize import MAX_BYTES, load, save

posix = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev need a POSIX system")


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# -- save: only a regular file is replaced; permissions --------------------------------------


@posix
def test_save_refuses_a_fifo_and_leaves_it(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is a FIFO, not a regular file"):
        save({"w": 1.0}, fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # was replaced by a regular file
    assert sorted(os.listdir(tmp_path)) == ["pipe"]


@posix
def test_save_refuses_a_device_behind_a_link(tmp_path: Path) -> None:
    link = tmp_path / "null"
    link.symlink_to(os.devnull)  # a link, so that even the old code could only replace the link
    with pytest.raises(ValueError, match="is a character device"):
        save({"w": 1.0}, link)
    assert os.readlink(link) == os.devnull and stat.S_ISCHR(os.stat(link).st_mode)


def test_save_refuses_a_folder(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        save({"w": 1.0}, tmp_path / "d")
    assert (tmp_path / "d").is_dir()


@pytest.mark.parametrize("mask", [0o077, 0o022, 0o002])
def test_a_new_file_respects_the_umask(tmp_path: Path, mask: int) -> None:
    with umask(mask):
        save({"w": 1.0}, tmp_path / "m.json")
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o666 & ~mask  # was 0o644 whatever the umask


def test_an_old_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    save({"w": 1.0}, path)
    path.chmod(0o640)
    save({"w": 2.0}, path)
    assert path.stat().st_mode & 0o777 == 0o640 and load(path) == {"w": 2.0}


def test_save_into_a_missing_folder_names_the_path_given(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "m.json"
    with pytest.raises(FileNotFoundError) as err:
        save({"w": 1.0}, target)
    assert str(target) in str(err.value) and ".tmp" not in str(err.value)  # was the temporary file's name


# -- load: only a regular file, of a bounded size ------------------------------------------


@posix
def test_load_refuses_a_fifo_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with time_limit(10.0, "agrad.load"), pytest.raises(ValueError, match="is a FIFO, not a regular file"):
        load(fifo)  # waited for a writer for ever


@posix
def test_load_refuses_a_device(tmp_path: Path) -> None:
    # /dev/null, not /dev/zero: code that reads devices would read /dev/zero until memory ran out
    link = tmp_path / "m.json"
    link.symlink_to(os.devnull)
    with time_limit(10.0, "agrad.load"), pytest.raises(ValueError, match="is a character device, not a regular file"):
        load(link)


def test_load_refuses_a_file_over_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    save({f"w{i}": float(i) for i in range(100)}, path)
    size = path.stat().st_size
    with pytest.raises(ValueError, match=f"larger than max_bytes = {size - 1:,} bytes"):
        load(path, max_bytes=size - 1)
    assert load(path, max_bytes=size) == {f"w{i}": float(i) for i in range(100)}
    assert MAX_BYTES == 2**30
    with pytest.raises(ValueError, match="max_bytes must be an int >= 0"):
        load(path, max_bytes=-1)


def test_loading_stays_within_three_times_the_file_size(tmp_path: Path) -> None:
    rng = random.Random(0)
    path = tmp_path / "m.json"
    state = {f"layers.{i // 100}.neurons.{i % 100}.w.{i}": rng.gauss(0.0, 1.0) for i in range(200_000)}
    save(state, path)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        got = load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == state
    assert peak <= 3 * size, f"peak {peak / size:.2f}x the file"  # was 6.0x


# -- error messages quote a little of a long value -----------------------------------------

HEAD = '{"format": "agrad.state_dict", "version": 1, "params": '


@pytest.mark.parametrize(
    "params",
    [
        '{"w": "' + "x" * 10_000_000 + '"}',  # a value
        '{"w": [' + "1, " * 1_000_000 + "1]}",
        '{"' + "k" * 10_000_000 + '": "x"}',  # a key
    ],
    ids=["long string", "long list", "long key"],
)
def test_a_long_value_gives_a_short_message(tmp_path: Path, params: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(HEAD + params + "}")
    with pytest.raises(ValueError, match="must be a number") as err:
        load(path)
    assert len(str(err.value)) < len(str(path)) + 3 * QUOTE_LIMIT + 200  # was 10 MB


def test_a_long_version_and_a_long_state_dict_key_give_short_messages(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"format": "agrad.state_dict", "version": "' + "9" * 1_000_000 + '", "params": {}}')
    with pytest.raises(ValueError, match='"version" must be a positive int') as err:
        load(path)
    assert len(str(err.value)) < len(str(path)) + 3 * QUOTE_LIMIT + 200
    with pytest.raises(TypeError, match="must be a real number") as err2:
        save({"k" * 1_000_000: "x" * 1_000_000}, tmp_path / "n.json")  # type: ignore[dict-item]
    assert len(str(err2.value)) < 3 * QUOTE_LIMIT + 200


# -- keys: what load accepts, save can write ----------------------------------------------------


def test_a_lone_surrogate_key_is_refused_on_load_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(HEAD + '{"ok": 1.0, "bad\\ud800key": 2.0}}')
    with pytest.raises(ValueError, match=r"params key 'bad\\ud800key' is not valid Unicode.*'\\ud800'"):
        load(path)  # loaded, and then save raised UnicodeEncodeError naming no key
    with pytest.raises(ValueError, match=r"state_dict key 'bad\\ud800key' is not valid Unicode"):
        save({"bad\ud800key": 1.0}, tmp_path / "n.json")
    assert not (tmp_path / "n.json").exists()


def test_an_escaped_surrogate_pair_is_a_real_character(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(HEAD + '{"smile\\ud83d\\ude00": 1.0}}')
    state = load(path)
    assert state == {"smile\U0001f600": 1.0}
    save(state, tmp_path / "n.json")
    assert load(tmp_path / "n.json") == state


# -- the streaming reader says what json.loads says -------------------------------------------


def _awkward_key(rng: random.Random, i: int) -> str:
    parts = ["w", ",", "}", '"', "\\", ":", " ", "\n", "é", "\u2028", "\U0001f600", "\x7f", "{"]
    return f"k{i}" + "".join(rng.choice(parts) for _ in range(rng.randrange(0, 6)))


def _file(rng: random.Random, n: int) -> tuple[str, dict[str, float]]:
    """A hand-edited-looking model file: awkward keys, ints, exponents, nan/inf strings, odd spacing."""
    state: dict[str, float] = {}
    entries = []
    for i in range(n):
        k = _awkward_key(rng, i)
        kind = rng.randrange(6)
        if kind == 0:
            text, v = str(i), float(i)
        elif kind == 1:
            v = rng.gauss(0.0, 1.0) * 10.0 ** rng.randrange(-300, 300)
            text = f"{v:.17e}".replace("e", rng.choice("eE"))
            v = float(text)
        elif kind == 2:
            text, v = rng.choice([('"nan"', math.nan), ('"inf"', math.inf), ('"-inf"', -math.inf)])
        else:
            v = rng.uniform(-1.0, 1.0)
            text = repr(v)
        state[k] = v
        key = json.dumps(k, ensure_ascii=rng.random() < 0.5)
        entries.append(key + rng.choice(["", " ", "\n\t"]) + ":" + rng.choice(["", "  "]) + text)
    params = "{" + rng.choice(["", "\n"]) + ("," + rng.choice(["", " ", "\n    "])).join(entries) + "}"
    return '{ "version" : 1, "params": ' + params + ', "format": "agrad.state_dict" }\n', state


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    return list(a) == list(b) and all(x == y or (x != x and y != y) for x, y in zip(a.values(), b.values()))


@pytest.mark.parametrize("n", [0, 1, 7, 30_000])
def test_awkward_files_read_as_json_reads_them(tmp_path: Path, n: int) -> None:
    text, state = _file(random.Random(n), n)
    path = tmp_path / "m.json"
    path.write_text(text, encoding="utf-8")
    assert _same(load(path), state)
    doc = json.loads(text)
    doc["sha256"] = agrad.serialize._digest(doc["params"])  # and the streamed checksum agrees with _digest's
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert _same(load(path), state)
    doc["sha256"] = "0" * 64
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ValueError, match="sha256 does not match"):
        load(path)


def test_a_big_file_crosses_many_chunks_exactly(tmp_path: Path) -> None:
    text, state = _file(random.Random(5), 70_000)  # MBs: runs and chunks are cut inside awkward keys
    path = tmp_path / "m.json"
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size > 2**21
    assert _same(load(path), state)


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9999])
@pytest.mark.parametrize("damage", ["}", "x", '"', ",,", "\\q"])
def test_a_syntax_error_is_placed_where_json_places_it(tmp_path: Path, where: float, damage: str) -> None:
    text, _ = _file(random.Random(11), 20_000)  # several of the reader's runs before the damage
    cut = int(len(text) * where)
    bad = text[:cut] + damage + text[cut:]
    try:
        json.loads(bad)
    except json.JSONDecodeError as e:
        want = f"{e.msg} at line {e.lineno}, column {e.colno}"
    else:
        pytest.skip("this damage happens to be valid JSON here")
    path = tmp_path / "m.json"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        load(path)
    said = str(err.value)
    if "truncated or corrupt" in said:
        assert want in said
    else:  # json reads it, but it is not a model file (a duplicate key, a bad value): a clear error all the same
        assert "is not a readable agrad model file" in said


def test_the_digest_check_runs_on_a_saved_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    save({"a": 1.0, "b": -0.0, "c": math.inf}, path)
    raw = path.read_text()
    assert load(path) == {"a": 1.0, "b": -0.0, "c": math.inf}
    path.write_text(raw.replace('"a": 1.0', '"a": 1.5'))
    with pytest.raises(ValueError, match="sha256 does not match"):
        load(path)


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip(reason="the file-system cases assume POSIX")
