"""Real data: the digits, MNIST's IDX files (written here, checked by SHA-256), the seeded split and mini-batches."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

from idx_files import idx_bytes  # noqa: E402

from agrad import datasets  # noqa: E402
from agrad.data import MNIST_SHA256, DataLoader, load_mnist, train_test_split  # noqa: E402

# The UCI digits' published class counts (optdigits, the 1,797-image test set scikit-learn bundles).
DIGIT_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_load_digits_gives_the_uci_digits() -> None:
    pytest.importorskip("sklearn")
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64 and y.shape == (1797,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == DIGIT_COUNTS
    assert X.min() == 0 and X.max() == 16 and np.all(np.round(X) == X)
    from sklearn.datasets import load_digits as sk_load_digits

    Xs, ys = sk_load_digits(return_X_y=True)  # scikit-learn's own loader: the same arrays
    assert np.array_equal(X, Xs) and np.array_equal(y, ys)


def _write_mnist(root: Path, n_train: int = 5, n_test: int = 3, gz: bool = True, seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    parts = {}
    for split, n in [("train", n_train), ("t10k", n_test)]:
        parts[f"{split}-images-idx3-ubyte"] = idx_bytes(rng.integers(0, 256, (n, 28, 28)))
        parts[f"{split}-labels-idx1-ubyte"] = idx_bytes(rng.integers(0, 10, n))
    files = {}
    for name, raw in parts.items():
        data = gzip.compress(raw) if gz else raw
        fname = name + (".gz" if gz else "")
        (root / fname).write_bytes(data)
        files[fname] = data
    return files


def _expected(files: dict[str, bytes], split: str) -> tuple[np.ndarray, np.ndarray]:
    def body(name: str, skip: int) -> np.ndarray:
        raw = files.get(name + ".gz") or files[name]
        raw = gzip.decompress(raw) if name + ".gz" in files else raw
        return np.frombuffer(raw[skip:], dtype=np.uint8)

    X = body(f"{split}-images-idx3-ubyte", 16).reshape(-1, 784)
    return X, body(f"{split}-labels-idx1-ubyte", 8).astype(np.int64)


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_reads_idx_files_gzipped_or_not(tmp_path: Path, gz: bool) -> None:
    files = _write_mnist(tmp_path, gz=gz)
    (X, y), (Xt, yt) = load_mnist(tmp_path, verify=False, download=False)
    for got, want in [((X, y), _expected(files, "train")), ((Xt, yt), _expected(files, "t10k"))]:
        assert got[0].dtype == np.uint8 and got[1].dtype == np.int64
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert X.shape == (5, 784) and Xt.shape == (3, 784)


def test_verify_checks_each_archive_against_its_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _write_mnist(tmp_path)
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    monkeypatch.setattr("agrad.data.MNIST_SHA256", sums)
    (X, _), _ = load_mnist(tmp_path, download=False)  # every sum matches
    assert X.shape == (5, 784)
    bad = bytearray(files["t10k-labels-idx1-ubyte.gz"])
    bad[-5] ^= 1  # one bit of the gzip trailer's CRC: still gzip, no longer the published file
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(bytes(bad))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz has SHA-256 [0-9a-f]{64}, expected the publ"):
        load_mnist(tmp_path, download=False)


def test_the_published_sums_are_refused_for_other_files(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    assert len(MNIST_SHA256) == 8 and all(len(s) == 64 for s in MNIST_SHA256.values())
    assert {n.removesuffix(".gz") for n in MNIST_SHA256} == {n for n in MNIST_SHA256 if not n.endswith(".gz")}
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz has SHA-256 .*pass verify=False"):
        load_mnist(tmp_path, download=False)


@pytest.mark.parametrize("dotted", [False, True])
def test_unpacked_files_are_checked_against_their_own_sums(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dotted: bool
) -> None:
    # many copies of MNIST come unpacked, some under dotted names (train-images.idx3-ubyte): both are read and checked
    files = _write_mnist(tmp_path, gz=False)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte has SHA-256 [0-9a-f]{64}, expected the published"):
        load_mnist(tmp_path, download=False)  # not MNIST's bytes: refused, as an archive would be
    if dotted:
        for name in files:
            (tmp_path / name).rename(tmp_path / name.replace("-idx", ".idx"))
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    monkeypatch.setattr("agrad.data.MNIST_SHA256", sums)
    (X, _), (_, yt) = load_mnist(tmp_path, download=False)
    np.testing.assert_array_equal(X, _expected(files, "train")[0])
    np.testing.assert_array_equal(yt, _expected(files, "t10k")[1])
    name = "t10k-labels.idx1-ubyte" if dotted else "t10k-labels-idx1-ubyte"
    bad = bytearray(files["t10k-labels-idx1-ubyte"])
    bad[-1] ^= 1  # one label changed: still a valid IDX file, no longer the published one
    (tmp_path / name).write_bytes(bytes(bad))
    with pytest.raises(ValueError, match=rf"{name} has SHA-256 [0-9a-f]{{64}}, expected the published"):
        load_mnist(tmp_path, download=False)
    assert load_mnist(tmp_path, verify=False, download=False)[1][1][-1] == bad[-1]


def test_an_archive_gzipped_anew_passes_when_its_contents_are_the_published_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # gzip writes the file's name and time into the archive, so the unpacked files gzipped again are other bytes
    (tmp_path / "unpacked").mkdir()
    raw = _write_mnist(tmp_path / "unpacked", gz=False)
    for name, data in raw.items():
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in raw.items()}
    monkeypatch.setattr("agrad.data.MNIST_SHA256", sums | {f"{name}.gz": "0" * 64 for name in raw})
    (X, _), _ = load_mnist(tmp_path, download=False)
    np.testing.assert_array_equal(X, _expected(raw, "train")[0])
    bad = bytearray(raw["train-images-idx3-ubyte"])
    bad[100] ^= 1  # one pixel: the archive and its contents both differ from the published ones
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(bad)))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz has SHA-256 [0-9a-f]{64}, expected the pub"):
        load_mnist(tmp_path, download=False)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz has SHA-256 [0-9a-f]{64}, expected the pub"):
        load_mnist(tmp_path, download=False)


def test_missing_file_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    names = r"train-labels-idx1-ubyte\.gz \(or train-labels-idx1-ubyte, train-labels\.idx1-ubyte\)"
    with pytest.raises(ValueError, match=names + " is not in"):
        load_mnist(tmp_path, verify=False, download=False)
    nowhere = (tmp_path / "no-such-mirror").as_uri() + "/"
    monkeypatch.setattr("agrad.data.MNIST_MIRRORS", [nowhere])
    with pytest.raises(ValueError, match="could not be downloaded: file:"):
        load_mnist(tmp_path, verify=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(set(files) - {"train-labels-idx1-ubyte.gz"})
    with pytest.raises(ValueError, match="could not be downloaded"):
        load_mnist(tmp_path / "new" / "mnist")
    assert not (tmp_path / "new").exists()  # the folders made for the download go again


def test_download_from_a_mirror_checks_the_sum_and_writes_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror, root = tmp_path / "mirror", tmp_path / "data"
    mirror.mkdir()
    files = _write_mnist(mirror)
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    monkeypatch.setattr("agrad.data.MNIST_MIRRORS", [mirror.as_uri() + "/"])
    monkeypatch.setattr("agrad.data.MNIST_SHA256", sums | {"t10k-images-idx3-ubyte.gz": "0" * 64})
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz .* SHA-256 [0-9a-f]{64}, expected 0000"):
        load_mnist(root)
    assert not (root / "t10k-images-idx3-ubyte.gz").exists()  # a download that fails its sum is not kept
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # nor any temporary file
    monkeypatch.setattr("agrad.data.MNIST_SHA256", sums)
    (X, _), _ = load_mnist(root)
    np.testing.assert_array_equal(X, _expected(files, "train")[0])
    assert {p.name: p.read_bytes() for p in root.iterdir()} == files


def _rewrite(path: Path, raw: bytes) -> None:
    path.write_bytes(gzip.compress(raw))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda raw: raw[:-10], r"train-images-idx3-ubyte.gz is truncated: its header promises \[5, 28, 28\]"),
        (lambda raw: raw + b"\0", "longer than its header says"),
        (lambda raw: raw[:10], "truncated: 10 bytes, shorter than an IDX header"),
        (lambda raw: b"\0\0\x08\x01" + raw[4:], "magic number 0x00000801, expected 0x00000803"),
        (lambda raw: raw[:4] + (2**30).to_bytes(4, "big") + raw[8:], r"claims dimensions \[1073741824, 28, 28\]"),
    ],
)
def test_damaged_idx_files(tmp_path: Path, damage: object, message: str) -> None:
    files = _write_mnist(tmp_path)
    raw = gzip.decompress(files["train-images-idx3-ubyte.gz"])
    _rewrite(tmp_path / "train-images-idx3-ubyte.gz", damage(raw))  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        load_mnist(tmp_path, verify=False, download=False)


def test_truncated_gzip_and_mismatched_labels(tmp_path: Path) -> None:
    files = _write_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(files["t10k-images-idx3-ubyte.gz"][:-20])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz is truncated or corrupt"):
        load_mnist(tmp_path, verify=False, download=False)
    _write_mnist(tmp_path)
    _rewrite(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.arange(4)))
    with pytest.raises(ValueError, match="MNIST train: 5 images but 4 labels"):
        load_mnist(tmp_path, verify=False, download=False)
    _rewrite(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.array([0, 1, 2, 3, 10])))
    with pytest.raises(ValueError, match=r"labels must be digits 0..9, found 10"):
        load_mnist(tmp_path, verify=False, download=False)


def test_dataloader_batches_cover_a_fresh_seeded_permutation_each_pass() -> None:
    X, y = np.arange(10) * 10, np.arange(10)
    loader = DataLoader(X, y, batch_size=4, seed=3)
    passes = [list(loader) for _ in range(3)]
    assert len(loader) == 3 and [len(b[1]) for b in passes[0]] == [4, 4, 2]
    for batches in passes:
        order = np.concatenate([b[1] for b in batches])
        assert sorted(order.tolist()) == list(range(10))
        assert all(np.array_equal(xb, yb * 10) for xb, yb in batches)  # rows stay paired
    orders = [np.concatenate([b[1] for b in p]).tolist() for p in passes]
    assert orders[0] != orders[1] != orders[2]
    again = DataLoader(X, y, batch_size=4, seed=3)
    assert [np.concatenate([b[1] for b in again]).tolist() for _ in range(3)] == orders
    assert [len(b[0]) for b in DataLoader(X, batch_size=4, drop_last=True)] == [4, 4]


def test_dataloader_and_split_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"same length along the first axis, got \[3, 2\]"):
        DataLoader(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        DataLoader(np.zeros(3), batch_size=0)
    with pytest.raises(TypeError, match="seed must be an int"):
        DataLoader(np.zeros(3), seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty train or test part"):
        train_test_split(np.zeros(3), test_size=0.0)


def test_train_test_split_is_a_seeded_partition() -> None:
    X, y = np.arange(100).reshape(50, 2), np.arange(50)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, seed=7)
    assert len(Xte) == 10 and len(Xtr) == 40
    assert sorted(ytr.tolist() + yte.tolist()) == list(range(50))
    np.testing.assert_array_equal(Xtr[:, 0], 2 * ytr)
    again = train_test_split(X, y, test_size=0.2, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(again, (Xtr, Xte, ytr, yte)))
    assert train_test_split(X, y, seed=8)[3].tolist() != yte.tolist()
