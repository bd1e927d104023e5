"""Data readers on the real staged files and on small files made here."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.data import DataFileError, load_dataset
from genzoo.data.idx import read_idx
from genzoo.registry import UnknownNameError


def test_idx_reader_loads_real_mnist(data_dir: Path) -> None:
    images = read_idx(data_dir / "mnist" / "train-images-idx3-ubyte.gz")
    labels = read_idx(data_dir / "mnist" / "train-labels-idx1-ubyte.gz")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,)
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # the well-known first training labels
    assert np.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test_labels = read_idx(data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert test_labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_mnist_splits_and_dynamic_binarization(data_dir: Path) -> None:
    train = load_dataset("mnist", "train", data_dir)
    valid = load_dataset("mnist", "valid", data_dir)
    full = load_dataset("mnist", "trainval", data_dir)
    assert (len(train), len(valid), len(full)) == (50000, 10000, 60000)
    assert torch.equal(full.codes[50000:], valid.codes)
    x = train.tensor()
    assert x.min() == 0 and x.max() == 1 and x.shape == (50000, 1, 28, 28)
    dyn = load_dataset("mnist", "test", data_dir, binarize="dynamic")
    assert dyn.info.levels == 2
    a, b = dyn.tensor(seed=1), dyn.tensor(seed=2)
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(a, b)  # a fresh draw per seed
    assert torch.equal(a, dyn.tensor(seed=1))
    # Bernoulli(p = pixel/255): the mean ink matches the grey-level mean
    assert abs(a.mean().item() - dyn.codes.float().mean().item() / 255) < 2e-3


def test_binarized_mnist_matches_published_checks(data_dir: Path) -> None:
    import hashlib

    for split, count, ones in (("train", 50000, 5118041), ("valid", 10000, 1028036), ("test", 10000, 1038896)):
        d = load_dataset("binarized-mnist", split, data_dir)
        assert len(d) == count and int(d.codes.sum()) == ones
    test = load_dataset("binarized-mnist", "test", data_dir)
    digest = hashlib.sha256(test.codes.reshape(10000, 784).numpy().tobytes()).hexdigest()
    assert digest == "ca0294c3b8d984c7a1dc891015a8eea6f37bae59a34e35ea0fc8c47110a8dd86"


def test_cifar_npz_subset(data_dir: Path) -> None:
    test = load_dataset("cifar10", "test", data_dir)
    assert test.codes.shape == (1000, 3, 32, 32)
    assert test.labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert test.options["layout"] == "npz-subset"


def _write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


def test_idx_errors_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "ok.gz"
    _write_idx(good, np.arange(2 * 3 * 4).reshape(2, 3, 4))
    assert read_idx(good).shape == (2, 3, 4)
    truncated = tmp_path / "short.idx"
    raw = gzip.decompress(good.read_bytes())
    truncated.write_bytes(raw[:-5])
    with pytest.raises(DataFileError, match="short.idx.*truncated"):
        read_idx(truncated)
    corrupt_gz = tmp_path / "bad.gz"
    corrupt_gz.write_bytes(good.read_bytes()[:20])
    with pytest.raises(DataFileError, match="bad.gz.*corrupt or truncated gzip"):
        read_idx(corrupt_gz)
    not_idx = tmp_path / "text.idx"
    not_idx.write_bytes(b"hello world, not idx")
    with pytest.raises(DataFileError, match="text.idx.*bad magic"):
        read_idx(not_idx)


def test_wrong_checksum_and_missing_files(tmp_path: Path) -> None:
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        _write_idx(mnist / name, np.zeros((3, 28, 28)) if "images" in name else np.zeros(3))
    with pytest.raises(DataFileError, match="train-images-idx3-ubyte.gz: wrong checksum"):
        load_dataset("mnist", "train", tmp_path)
    with pytest.raises(DataFileError, match="file not found"):
        load_dataset("binarized-mnist", "train", tmp_path)


def test_binarized_npz_corrupt_is_named(tmp_path: Path) -> None:
    from genzoo.data.binarized import _read_npz_split

    bad = tmp_path / "binarized_mnist.npz"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(DataFileError, match="binarized_mnist.npz: corrupt or incomplete"):
        _read_npz_split(bad, "train")


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(UnknownNameError, match="unknown dataset 'imagenet'.*binarized-mnist.*digits"):
        load_dataset("imagenet")


def test_digits_default_needs_no_files(tmp_path: Path) -> None:
    parts = {s: load_dataset("digits", s, tmp_path / "nothing-here") for s in ("train", "valid", "test")}
    assert sum(len(p) for p in parts.values()) == 1797
    assert parts["train"].info.levels == 17 and parts["train"].codes.max() <= 16
    seen = torch.cat([p.codes.flatten(1) for p in parts.values()])
    assert len(torch.unique(seen, dim=0)) > 1700  # disjoint splits of distinct images


def test_cifar_python_batches_and_refusing_code(tmp_path: Path) -> None:
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), b"labels": list(range(10)) * 2}
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))
    train = load_dataset("cifar10", "trainval", tmp_path, verify=False)  # not the published files
    assert train.codes.shape == (100, 3, 32, 32) and train.options["layout"] == "full"
    assert len(load_dataset("cifar10", "train", tmp_path, verify=False)) == 90

    class Evil:
        def __reduce__(self):  # would run a shell command if unpickled naively
            import os

            return (os.system, ("echo pwned",))

    (root / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2))
    with pytest.raises(DataFileError, match="test_batch.*refusing to load posix.system|test_batch.*refusing"):
        load_dataset("cifar10", "test", tmp_path, verify=False)


def test_cifar_binary_batches_truncated(tmp_path: Path) -> None:
    root = tmp_path / "cifar-10-batches-bin"
    root.mkdir()
    rows = np.zeros((4, 3073), dtype=np.uint8)
    rows[:, 0] = [1, 2, 3, 4]
    (root / "test_batch.bin").write_bytes(rows.tobytes())
    assert load_dataset("cifar10", "test", tmp_path, verify=False).labels.tolist() == [1, 2, 3, 4]
    with pytest.raises(DataFileError, match="test_batch.bin: truncated or padded .* 4 records, the standard"):
        load_dataset("cifar10", "test", tmp_path)
    (root / "test_batch.bin").write_bytes(rows.tobytes()[:-7])
    with pytest.raises(DataFileError, match="test_batch.bin: truncated"):
        load_dataset("cifar10", "test", tmp_path, verify=False)


def test_image_folder_with_classes(tmp_path: Path) -> None:
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(10):
            Image.fromarray(np.full((12, 12, 3), 20 * i, dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    everything = load_dataset("folder", "trainval", tmp_path)
    test = load_dataset("folder", "test", tmp_path)
    assert len(everything) + len(test) == 20
    assert everything.info.shape == (3, 12, 12) and everything.info.num_classes == 2
    (tmp_path / "cats" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataFileError, match="broken.png: unreadable image"):
        load_dataset("folder", "trainval", tmp_path)


def _python_batches(root: Path, n: int = 20, names: list[str] | None = None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for name in names or [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(range(10)) * (n // 10)}
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))


def test_cifar_python_batches_are_checked_file_by_file(tmp_path: Path) -> None:
    root = tmp_path / "cifar-10-batches-py"
    _python_batches(root)
    # the standard file names carry the published MD5s: a file of that name with other bytes is refused
    with pytest.raises(DataFileError, match="data_batch_1: wrong checksum: md5 .*expected c99cafc152244af753f735de"):
        load_dataset("cifar10", "train", tmp_path)
    assert len(load_dataset("cifar10", "train", tmp_path, verify=False)) == 90
    (root / "data_batch_3").unlink()  # every batch is needed, not only the first
    with pytest.raises(DataFileError, match="data_batch_3: CIFAR batch file not found"):
        load_dataset("cifar10", "train", tmp_path, verify=False)
    (root / "data_batch_3").mkdir()
    with pytest.raises(DataFileError, match="data_batch_3: is a directory"):
        load_dataset("cifar10", "train", tmp_path, verify=False)
    (root / "data_batch_3").rmdir()

    def refused(batch: dict, match: str) -> None:
        (root / "data_batch_3").write_bytes(pickle.dumps(batch, protocol=2))
        with pytest.raises(DataFileError, match=f"data_batch_3: {match}"):
            load_dataset("cifar10", "train", tmp_path, verify=False)

    pixels = np.zeros((20, 3072), np.uint8)
    refused({b"data": pixels, b"labels": [200] + [0] * 19}, "CIFAR label 200 out of range .*labels are 0..9")
    refused({b"data": pixels, b"labels": [-1] + [0] * 19}, "CIFAR label -1 out of range")
    refused({b"data": pixels.astype(np.float32), b"labels": [0] * 20}, "CIFAR images of dtype float32; expected uint8")
    refused({b"data": pixels[:, :100], b"labels": [0] * 20},
            r"CIFAR images of shape \(20, 100\); expected \(N, 3072\)")
    refused({b"data": pixels, b"labels": [0] * 19}, "20 CIFAR images but 19 labels")
    refused({b"data": pixels[:0], b"labels": []}, "empty CIFAR batch")
    refused({b"data": pixels, b"labels": [0.5] * 20}, "CIFAR labels of dtype float64")
    refused({b"labels": [0] * 20}, "corrupt or truncated CIFAR python batch")
    (root / "data_batch_3").write_bytes(b"")
    with pytest.raises(DataFileError, match="data_batch_3: corrupt or truncated"):
        load_dataset("cifar10", "train", tmp_path, verify=False)


def test_cifar_binary_batches_sizes_and_labels(tmp_path: Path) -> None:
    root = tmp_path / "cifar-10-batches-bin"
    root.mkdir()
    rng = np.random.default_rng(2)
    rows = rng.integers(0, 256, (10, 3073), dtype=np.uint8)
    rows[:, 0] = np.arange(10)
    (root / "test_batch.bin").write_bytes(rows.tobytes())
    assert load_dataset("cifar10", "test", tmp_path, verify=False).labels.tolist() == list(range(10))
    (root / "test_batch.bin").write_bytes(b"")
    with pytest.raises(DataFileError, match=r"test_batch.bin: empty CIFAR binary batch \(0 bytes\)"):
        load_dataset("cifar10", "test", tmp_path, verify=False)
    random = rng.integers(0, 256, (10, 3073), dtype=np.uint8)  # random bytes: labels beyond 9 give it away
    random[0, 0] = 77
    (root / "test_batch.bin").write_bytes(random.tobytes())
    with pytest.raises(DataFileError, match="test_batch.bin: CIFAR label .* out of range"):
        load_dataset("cifar10", "test", tmp_path, verify=False)
    # cut at a record boundary: a standard file has exactly 10,000 records
    (root / "test_batch.bin").write_bytes(rows.tobytes())
    with pytest.raises(DataFileError, match="test_batch.bin: truncated or padded .* 10 records"):
        load_dataset("cifar10", "test", tmp_path)
    # train needs every one of the five batches
    for i in (1, 2, 4, 5):
        (root / f"data_batch_{i}.bin").write_bytes(rows.tobytes())
    with pytest.raises(DataFileError, match="data_batch_3.bin: CIFAR batch file not found"):
        load_dataset("cifar10", "train", tmp_path, verify=False)


def test_cifar_npz_dtypes_labels_and_checksum(tmp_path: Path) -> None:
    folder = tmp_path / "cifar10"
    folder.mkdir()
    path = folder / "cifar10_test_batch_first1000.npz"
    data = np.random.default_rng(3).integers(0, 256, (30, 3072), dtype=np.uint8)
    labels = np.arange(30) % 10
    np.savez(path, data=data, labels=labels)
    with pytest.raises(DataFileError, match="first1000.npz: wrong checksum: sha256"):  # not the staged file
        load_dataset("cifar10", "test", tmp_path)
    assert len(load_dataset("cifar10", "test", tmp_path, verify=False)) == 30
    np.savez(path, data=data.astype(np.float64) / 255, labels=labels)
    with pytest.raises(DataFileError, match="dtype float64; expected uint8"):
        load_dataset("cifar10", "test", tmp_path, verify=False)
    np.savez(path, data=data, labels=labels + 195)
    with pytest.raises(DataFileError, match=r"CIFAR label 195 out of range \(30 such\)"):
        load_dataset("cifar10", "test", tmp_path, verify=False)


def test_staged_cifar_subset_passes_its_checksums(data_dir: Path) -> None:
    train = load_dataset("cifar10", "trainval", data_dir)  # verify=True: SHA-256 and the 4000 images
    assert train.codes.shape == (4000, 3, 32, 32) and int(train.labels.max()) == 9
