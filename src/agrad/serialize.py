"""Model files: ``save(state_dict, path)`` and ``load(path)``, as plain, documented JSON.

A model file looks like this (one parameter per line)::

    {
      "format": "agrad.state_dict",
      "version": 1,
      "params": {
        "layers.0.neurons.0.w.0": 0.5488135039273248,
        "layers.0.neurons.0.b": 0.0,
        "...": "..."
      },
      "sha256": "9f86d0..."
    }

- ``format`` and ``version`` say what the file is; a newer version is refused
  with a clear message rather than misread.
- ``params`` maps each parameter's name (``Module.named_parameters()``) to its
  number. Numbers are written as Python's shortest repr, which reads back to
  the same float bit for bit; nan, inf and -inf, which JSON has no numbers
  for, are written as the strings ``"nan"``, ``"inf"`` and ``"-inf"``.
- ``sha256`` is the SHA-256 of ``params`` written compactly
  (``json.dumps(params, separators=(",", ":"))``). It catches a damaged file;
  it is checked when present, so after editing a file by hand, delete it.

Loading only parses JSON: it never runs code, unlike pickle. It reads a regular
file only (never a FIFO or a device, which could hang it or never end), of at
most ``MAX_BYTES`` (1 GiB; ``load(path, max_bytes=...)`` raises it), as a
stream, so memory stays within about 3x the file's size. Saving writes a
temporary file in the same folder and renames it over the target, so a crash
leaves either the old file or the new one, never half of one; it refuses to
replace anything but a regular file, keeps an old file's permissions, and gives
a new file those the umask allows (0644 under the usual umask 022).

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "model.json")
>>> save({"w": 0.1, "b": -2.5}, path)
>>> load(path)
{'w': 0.1, 'b': -2.5}
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import json.decoder
import json.encoder
import json.scanner
import math
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO

from agrad._checks import quote, real
from agrad.tensorfile import is_tensor_file, load_tensors, save_tensors

FORMAT = "agrad.state_dict"
VERSION = 1
MAX_BYTES = 1 << 30
"""The largest file ``load`` reads unless given ``max_bytes``: 1 GiB, about 17 million parameters."""

_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

PathLike = str | os.PathLike[str]


def _encode(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "nan" if x != x else "inf" if x > 0 else "-inf"


def _digest(params: Mapping[str, float | str]) -> str:
    text = json.dumps(params, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _unicode_key(k: str, what: str) -> None:
    """A key must be text that UTF-8 can write: a lone surrogate ("\\ud800") cannot be."""
    if not k.isascii():
        try:
            k.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(
                f"{what} {quote(k)} is not valid Unicode: it holds the lone surrogate {k[e.start]!a} "
                f"at position {e.start}, which a UTF-8 model file cannot hold"
            ) from None


def save(state_dict: Mapping[str, Any], path: PathLike) -> None:
    """Write ``state_dict`` (name -> number, e.g. ``model.state_dict()``) to ``path`` as JSON, atomically.

    A name ending in ``.safetensors`` writes arrays as safetensors instead (``agrad.tensorfile``).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.json")
    >>> save({"x": 1 / 3, "y": float("inf")}, path); load(path)
    {'x': 0.3333333333333333, 'y': inf}
    """
    if is_tensor_file(path):
        return save_tensors(state_dict, path)
    if not isinstance(state_dict, Mapping):
        hint = " (for a model, pass model.state_dict())" if hasattr(state_dict, "state_dict") else ""
        raise TypeError(
            f"save expects a state_dict, a mapping of name -> number, got {type(state_dict).__name__}{hint}"
        )
    params: dict[str, float | str] = {}
    for k, v in state_dict.items():
        if not isinstance(k, str):
            raise TypeError(f"state_dict keys must be str, got {type(k).__name__}: {quote(k)}")
        _unicode_key(k, "state_dict key")
        params[k] = _encode(real(v, f"state_dict[{quote(k)}]"))
    doc = {"format": FORMAT, "version": VERSION, "params": params, "sha256": _digest(params)}
    text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    _write_atomic(os.fspath(path), text)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _write_atomic(path: str, data: str | bytes) -> None:
    """Write data (text as UTF-8) to a temporary file beside path, then rename it over path.

    Only a regular file (or nothing) at path is replaced: a FIFO, a device or a
    folder is refused and left as it was. The old file's permissions are kept; a
    new file gets those the umask allows, as ``open(path, "w")`` would.
    """
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    if old is not None and not stat.S_ISREG(old.st_mode):
        raise ValueError(
            f"cannot save to {path}: it is {_kind(old.st_mode)}, not a regular file; it was left as it was"
        )
    folder, name = os.path.split(os.path.abspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)  # the kernel applies the umask, as for any new file
            break
        except FileExistsError:
            continue
        except OSError as e:  # name the file the user asked for, not our temporary one
            raise type(e)(e.errno, f"cannot save to {path}: {e.strerror} (in its folder {folder})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())  # the bytes reach the disk before the rename makes them the file
        if old is not None:
            os.chmod(tmp, old.st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load(path: PathLike, *, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """Read a state_dict written by ``save``; a damaged or foreign file raises ValueError saying what is wrong.

    Only a regular file of at most ``max_bytes`` is read (``MAX_BYTES``, 1 GiB, by default).
    A name ending in ``.safetensors`` gives a dict of NumPy arrays (``agrad.tensorfile``).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "bad.json")
    >>> with open(path, "w") as f: _ = f.write('{"format": "agrad.state_dict", "version": 1, "par')
    >>> load(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...bad.json is not a readable agrad model file: the JSON is truncated or corrupt (...)
    """
    where = os.fspath(path)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise ValueError(f"load: max_bytes must be an int >= 0, got {quote(max_bytes)}")
    if is_tensor_file(where):
        return load_tensors(where, max_bytes=max_bytes)
    with open_model_file(where, max_bytes) as f:
        return _Reader(f, where, max_bytes).document()


@contextlib.contextmanager
def open_model_file(where: str, max_bytes: int) -> Iterator[BinaryIO]:
    """A model file opened for reading: a regular file of at most max_bytes, else a ValueError.

    >>> with open_model_file(os.devnull, 10) as f: pass
    Traceback (most recent call last):
    ...
    ValueError: /dev/null is a character device, not a regular file: agrad.load reads model files only
    """
    # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
    fd = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{where} is {_kind(st.st_mode)}, not a regular file: agrad.load reads model files only")
        if st.st_size > max_bytes:
            raise _too_big(where, max_bytes)
        yield f


def _too_big(where: str, max_bytes: int) -> ValueError:
    return ValueError(
        f"{where} is larger than max_bytes = {max_bytes:,} bytes; if it is a model file you trust, "
        f"pass load(path, max_bytes=...) with its size"
    )


class _Corrupt(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise _Corrupt(f"the key {quote(k)} appears twice")
        d[k] = v
    return d


def _finite(text: str) -> float:
    x = float(text)
    if math.isinf(x):  # json would read 1e400 as inf without a word; save writes infinity as "inf"
        raise _Corrupt(f"it contains the number {text[:40]}, too large for a float")
    return x


def _no_constant(name: str) -> Any:
    raise _Corrupt(f'it contains {name}, which save never writes (it writes the string "nan" or "inf")')


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_finite)
_WS = re.compile(r"[ \t\n\r]*")
# One params entry as save writes it, number or "nan"/"inf"/"-inf", then the comma or brace after it.
_ENTRY = re.compile(
    r'[ \t\n\r]*"((?:[^"\\\x00-\x1f]|\\.)*)"[ \t\n\r]*:[ \t\n\r]*'
    r'(-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?|"(?:nan|inf|-inf)")[ \t\n\r]*([,}])'
)
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_key_text: Callable[[str], str] = json.encoder.encode_basestring_ascii
_CHUNK = 1 << 20  # characters read at a time
_RUN = 1 << 18  # characters of params entries decoded at a time: small beside the result, large beside a call
# Runs of params entries: the pairs as a list, to see duplicates; "1e400" is inf here, caught after.
_BULK = json.JSONDecoder(object_pairs_hook=list, parse_constant=_no_constant)


class _More(Exception):
    """The buffer ends inside the token being read."""


class _Reader:
    """A model file parsed as it streams in, a chunk at a time.

    ``json.loads`` would hold the file's bytes, its text, the parsed document and
    the result at once (7.8x the file at 1,000,000 parameters). Here only a
    chunk of text is held beside the result, and the checksum is computed entry
    by entry, on the same compact text ``_digest`` hashes. Every value but
    ``params`` is small and goes to ``json``'s own decoder; ``params`` entries
    are matched one at a time. Errors follow ``json.loads``: first the syntax of
    the whole file, then the tag, the version, the values and the checksum.
    """

    def __init__(self, f: BinaryIO, where: str, max_bytes: int) -> None:
        self.f, self.where, self.max_bytes = f, where, max_bytes
        self.bad = f"{where} is not a readable agrad model file"
        self.text = codecs.getincrementaldecoder("utf-8")()
        self.buf, self.pos, self.eof = "", 0, False
        self.nbytes = 0
        self.lines, self.col = 0, 0  # newlines before the buffer, characters since the last of them

    # -- the stream -----------------------------------------------------------------------

    def read(self, want: int = _CHUNK) -> None:
        """Hold at least ``want`` more characters after pos, or all that is left."""
        if self.pos > _RUN:  # let go of what is parsed
            done = self.buf[: self.pos]
            n = done.count("\n")
            self.lines += n
            self.col = len(done) - done.rfind("\n") - 1 if n else self.col + len(done)
            self.buf, self.pos = self.buf[self.pos :], 0
        parts = [self.buf]
        have = len(self.buf) - self.pos
        while have < want and not self.eof:
            raw = self.f.read(_CHUNK)
            self.nbytes += len(raw)
            if self.nbytes > self.max_bytes:  # it grew while we read
                raise _too_big(self.where, self.max_bytes)
            try:
                piece = self.text.decode(raw, final=not raw)
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"{self.bad}: it is not UTF-8 text (byte {self.nbytes - len(raw) + e.start})"
                ) from None
            self.eof = not raw
            parts.append(piece)
            have += len(piece)
        self.buf = "".join(parts)

    def step(self, parse: Callable[[str, int], tuple[Any, int]]) -> Any:
        """Run ``parse(buf, pos) -> (value, end)``, reading more while the buffer may cut the token short."""
        want = _CHUNK
        while True:
            if len(self.buf) - self.pos < 64 and not self.eof:
                self.read()
            try:
                value, end = parse(self.buf, self.pos)
            except (json.JSONDecodeError, _More):
                if self.eof:
                    raise
                want *= 2  # a long token: read twice as much each time, so it is scanned O(log n) times
                self.read(want)
                continue
            if end >= len(self.buf) and not self.eof:  # a number may go on past the buffer
                want *= 2
                self.read(want)
                continue
            self.pos = end
            return value

    def where_is(self, pos: int) -> tuple[int, int]:
        """Line and column (from 1) of buffer position pos in the whole file."""
        n = self.buf.count("\n", 0, pos)
        col = pos - self.buf.rfind("\n", 0, pos) if n else self.col + pos + 1
        return self.lines + n + 1, col

    def expect(self, chars: str, msg: str) -> str:
        """Skip whitespace, then one of chars (consumed and returned), else the JSON error msg."""

        def parse(buf: str, pos: int) -> tuple[str, int]:
            end = _WS.match(buf, pos).end()  # type: ignore[union-attr]
            if end >= len(buf):
                raise json.JSONDecodeError(msg, buf, end) if self.eof else _More()
            if buf[end] not in chars:
                raise json.JSONDecodeError(msg, buf, end)
            return buf[end], end + 1

        return str(self.step(parse))

    def value(self) -> Any:
        """Any JSON value, by json's own decoder."""

        def parse(buf: str, pos: int) -> tuple[Any, int]:
            return _DECODER.raw_decode(buf, _WS.match(buf, pos).end())  # type: ignore[union-attr]

        return self.step(parse)

    def key(self) -> str:
        def parse(buf: str, pos: int) -> tuple[str, int]:
            return _scanstring(buf, pos)

        return str(self.step(parse))

    # -- the document ---------------------------------------------------------------------

    def document(self) -> dict[str, float]:
        try:
            doc, params = self._parse()
        except json.JSONDecodeError as e:
            line, col = self.where_is(e.pos)
            raise ValueError(
                f"{self.bad}: the JSON is truncated or corrupt ({e.msg} at line {line}, column {col})"
            ) from None
        except _Corrupt as e:
            raise ValueError(f"{self.bad}: {e}") from None
        except RecursionError:
            raise ValueError(f"{self.bad}: its JSON is nested too deeply to be one") from None
        except ValueError as e:  # what json leaves to int(): a number of more than 4300 digits
            if str(e).startswith(self.where):
                raise
            raise ValueError(f"{self.bad}: {e}") from None
        return self._check(doc, params)

    def _parse(self) -> tuple[Any, _Params | None]:
        self.read()
        first = self.expect('{"[-0123456789tfnNI', "Expecting value")
        if first != "{":
            self.pos -= 1
            return self.value(), None
        doc: dict[str, Any] = {}
        params: _Params | None = None
        if self.expect('"}', "Expecting property name enclosed in double quotes") == "}":
            self._end()
            return doc, None
        while True:
            k = self.key()
            if k in doc:
                raise _Corrupt(f"the key {quote(k)} appears twice")
            self.expect(":", "Expecting ':' delimiter")
            if k == "params" and self.expect('{"[-0123456789tfnNI', "Expecting value") == "{":
                params = _Params(self)
                doc[k] = params
            else:
                if k == "params":
                    self.pos -= 1
                doc[k] = self.value()
            if self.expect(",}", "Expecting ',' delimiter") == "}":
                break
            self.expect('"', "Expecting property name enclosed in double quotes")
        self._end()
        return doc, params

    def _end(self) -> None:
        def parse(buf: str, pos: int) -> tuple[None, int]:
            end = _WS.match(buf, pos).end()  # type: ignore[union-attr]
            if end < len(buf):
                raise json.JSONDecodeError("Extra data", buf, end)
            if not self.eof:
                raise _More()
            return None, end

        self.step(parse)

    def _check(self, doc: Any, params: _Params | None) -> dict[str, float]:
        bad = self.bad
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f'{bad}: it lacks the tag "format": {FORMAT!r}')
        version = doc.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError(f'{bad}: "version" must be a positive int, got {quote(version)}')
        if version > VERSION:
            raise ValueError(
                f"{self.where} was written by a newer agrad (format version {version}; this one reads {VERSION})"
            )
        if params is None:
            raise ValueError(
                f'{bad}: "params" must be an object of name -> number, got {type(doc.get("params")).__name__}'
            )
        if params.error is not None:
            raise ValueError(f"{bad}: {params.error}")
        digest = doc.get("sha256")
        if digest is not None and digest != params.sha256.hexdigest():
            raise ValueError(f"{bad}: its sha256 does not match its params, so it was damaged or edited after saving")
        return params.out


class _Params:
    """The ``params`` object, read into floats and hashed as ``_digest`` hashes it.

    Runs of entries go to json's C decoder 256 KiB at a time, cut at a comma:
    if the cut falls inside a string or a nested value, or the run holds
    anything but floats (a duplicate, "nan", an int, an error), that run is
    read entry by entry instead, which also says exactly what is wrong.
    """

    def __init__(self, r: _Reader) -> None:
        self.out: dict[str, float] = {}
        self.error: str | None = None  # the first bad value, reported once the whole file is parsed
        self.sha256 = hashlib.sha256(b"{")
        self.pieces: list[str] = []  # compact "key":value texts not yet hashed
        self.hashed = False  # whether any entry has been hashed (a comma goes before the next)
        if r.expect('"}', "Expecting property name enclosed in double quotes") == "}":
            self.sha256.update(b"}")
            return
        r.pos -= 1
        slow_until = -1
        while True:
            if len(r.buf) - r.pos < _RUN and not r.eof:
                r.read(_CHUNK)
            if r.pos > slow_until and self.error is None:
                cut = r.buf.rfind(",", r.pos, r.pos + _RUN)
                if cut > r.pos:
                    if self.bulk(r.buf[r.pos : cut]):
                        r.pos = cut + 1
                        continue
                    slow_until = cut  # read this run entry by entry, then try the fast way again
            if self.entry(r) == "}":
                break
        self.flush()
        self.sha256.update(b"}")

    def bulk(self, run: str) -> bool:
        """Entries of a run of text, all at once, if they are all plain floats; else False, nothing taken."""
        try:
            pairs = _BULK.decode("{" + run + "}")
        except (ValueError, _Corrupt, RecursionError):
            return False
        d = dict(pairs)
        if len(d) != len(pairs) or not all(type(v) is float and v - v == 0.0 for v in d.values()):
            return False  # a duplicate, or a value that is not a finite float (1e400 reads as inf)
        out = self.out
        if not d.keys().isdisjoint(out.keys()):  # two views: it walks the smaller, d (a dict would be walked)
            return False
        try:
            "".join(d).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate in a key
            return False
        out.update(d)
        self.flush()
        self.hash(json.dumps(d, separators=(",", ":"), ensure_ascii=True, allow_nan=False)[1:-1])
        return True

    def entry(self, r: _Reader) -> str:
        """One entry, by the regular expression for what save writes, or by json; returns the , or } after it."""
        m = _ENTRY.match(r.buf, r.pos)
        if m is not None and (m.end() < len(r.buf) or r.eof):
            k, text, frac, exp, end = m.groups()
            if "\\" in k:
                k = _scanstring(r.buf, m.start(1))[0]
            v: Any = text[1:-1] if text[0] == '"' else _finite(text) if frac or exp else int(text)
            r.pos = m.end()
        else:
            r.expect('"', "Expecting property name enclosed in double quotes")
            k = r.key()
            r.expect(":", "Expecting ':' delimiter")
            v = r.value()
            end = r.expect(",}", "Expecting ',' delimiter")
        if k in self.out:
            raise _Corrupt(f"the key {quote(k)} appears twice")
        self.out[k] = self.number(k, v)
        if self.error is None:
            self.pieces.append(_key_text(k) + ":" + (_key_text(v) if type(v) is str else repr(v)))
            if len(self.pieces) >= 4096:
                self.flush()
        return str(end)

    def hash(self, text: str) -> None:
        if text:
            self.sha256.update((b"," if self.hashed else b"") + text.encode("ascii"))
            self.hashed = True

    def flush(self) -> None:
        self.hash(",".join(self.pieces))
        self.pieces.clear()

    def number(self, k: str, v: Any) -> float:
        if self.error is not None:
            return 0.0
        try:
            _unicode_key(k, "params key")
        except ValueError as e:
            self.error = str(e)
            return 0.0
        if type(v) is float:
            return v
        if isinstance(v, str) and v in _SPECIAL:
            return _SPECIAL[v]
        if type(v) is int:
            try:
                return float(v)
            except OverflowError:  # a JSON integer past 1.8e308; save never writes integers
                self.error = f"params[{quote(k)}] is an integer too large for a float"
                return 0.0
        self.error = f'params[{quote(k)}] must be a number (or "nan", "inf", "-inf"), got {quote(v)}'
        return 0.0


__all__ = ["FORMAT", "MAX_BYTES", "VERSION", "load", "save"]
