"""CIFAR-10 (Krizhevsky 2009): 3x32x32 8-bit colour images, 10 classes.

Accepted layouts, searched in ``data_dir`` and ``data_dir/cifar10``:
- the python batches ``cifar-10-batches-py/data_batch_{1..5}`` and ``test_batch`` (pickles, read with a
  restricted unpickler that only rebuilds numpy arrays, so a file cannot run code);
- the binary batches ``cifar-10-batches-bin/data_batch_{1..5}.bin`` and ``test_batch.bin``;
- the npz subset staged in shared/data (``cifar10_data_batch_1_first4000.npz`` and
  ``cifar10_test_batch_first1000.npz``, same array layout as the python batches).
Splits: valid = the last 10% of the training images, train = the rest, trainval = all of them.

Every file of a layout must be there (a missing one or a directory in its place is a :class:`DataFileError`)
and is checked: images uint8 ``(N, 3072)``, labels integers 0-9, one per image. With ``verify=True`` (the
default) the standard files are also checked against what is published about them: the python batches
against the MD5 sums torchvision lists for the original ``cifar-10-python.tar.gz`` members, the binary
batches for exactly 10,000 records each (no per-file checksums of them are published, so a bit flip inside
a binary batch's pixels goes unnoticed), and the staged npz subset against the SHA-256 sums in
shared/data/SHA256SUMS. ``verify=False`` reads other files in these layouts (only the structural checks).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from genzoo.core import DataInfo
from genzoo.data.base import DataFileError, ImageData
from genzoo.data.download import verify_digest
from genzoo.registry import register_dataset

_NPZ = {"train": "cifar10_data_batch_1_first4000.npz", "test": "cifar10_test_batch_first1000.npz"}
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
RECORD = 3073  # binary layout: 1 label byte + 3072 pixel bytes
PER_BATCH = 10000  # images in each standard batch file

#: MD5 of the python batches (members of cifar-10-python.tar.gz), as torchvision publishes them
PYTHON_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
#: SHA-256 of the staged npz subset (shared/data/SHA256SUMS) and its image counts
NPZ_SHA256 = {
    "cifar10_data_batch_1_first4000.npz": "74e7dc9b71b739b4d21b7c8fe41cc1a5519b197bcfab58a9ac56834e9db761a7",
    "cifar10_test_batch_first1000.npz": "c9534f2de895e355427fcd6f5377fea105104172c21541116862e214654c8502",
}
NPZ_COUNT = {"cifar10_data_batch_1_first4000.npz": 4000, "cifar10_test_batch_first1000.npz": 1000}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else (no code from the file runs)."""

    # _codecs.encode / bytes: how protocol-2 pickles written by Python 3 spell a (an empty) bytes object
    # (pure functions)
    _ALLOWED = {
        ("numpy._core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
        ("__builtin__", "bytes"), ("builtins", "bytes"),
    }

    def find_class(self, module: str, name: str):  # type: ignore[override]
        module = module.replace("numpy.core", "numpy._core")
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
        return super().find_class(module, name)


def _check_arrays(path: Path, data: np.ndarray, labels: np.ndarray, count: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 3072), labels integers 0..9 (N,), N == ``count`` when given; as (uint8, int64)."""
    if data.dtype != np.uint8:
        raise DataFileError(path, f"CIFAR images of dtype {data.dtype}; expected uint8 pixel values 0..255")
    if data.ndim != 2 or data.shape[1] != 3072:
        raise DataFileError(path, f"CIFAR images of shape {data.shape}; expected (N, 3072)")
    if len(data) == 0:
        raise DataFileError(path, "empty CIFAR batch (no images)")
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise DataFileError(path, f"CIFAR labels of dtype {labels.dtype}, shape {labels.shape}; expected N integers")
    if len(labels) != len(data):
        raise DataFileError(path, f"{len(data)} CIFAR images but {len(labels)} labels")
    if count is not None and len(data) != count:
        raise DataFileError(path, f"{len(data)} images; the standard file has {count} (pass data.verify=false "
                                  f"for a non-standard file)")
    if labels.min() < 0 or labels.max() >= len(LABEL_NAMES):
        bad = labels[(labels < 0) | (labels >= len(LABEL_NAMES))]
        raise DataFileError(path, f"CIFAR label {int(bad[0])} out of range ({len(bad)} such); labels are 0..9")
    return data, labels.astype(np.int64)


def _readable(path: Path) -> None:
    if path.is_dir():
        raise DataFileError(path, "is a directory, not a CIFAR batch file")
    if not path.is_file():
        raise DataFileError(path, "CIFAR batch file not found (every batch of the layout is needed)")


def _read_python_batch(path: Path, verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    _readable(path)
    if verify and path.name in PYTHON_MD5:
        verify_digest(path, PYTHON_MD5[path.name], "md5")
    try:
        with open(path, "rb") as f:
            batch = _ArrayOnlyUnpickler(f, encoding="bytes").load()
        data = batch[b"data"]
        labels = np.asarray(batch[b"labels"])
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise DataFileError(path, f"corrupt or truncated CIFAR python batch ({e})") from None
    except OSError as e:
        raise DataFileError(path, f"cannot read CIFAR python batch ({e.strerror or e})") from None
    if not isinstance(data, np.ndarray):
        raise DataFileError(path, f"CIFAR python batch 'data' is a {type(data).__name__}, not an array")
    return _check_arrays(path, data, labels, PER_BATCH if verify else None)


def _read_binary_batch(path: Path, verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    _readable(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise DataFileError(path, f"cannot read CIFAR binary batch ({e.strerror or e})") from None
    if raw.size == 0:
        raise DataFileError(path, "empty CIFAR binary batch (0 bytes)")
    if raw.size % RECORD:
        raise DataFileError(path, f"truncated CIFAR binary batch: {raw.size} bytes is not a multiple of {RECORD}")
    if verify and raw.size != PER_BATCH * RECORD:
        raise DataFileError(path, f"truncated or padded CIFAR binary batch: {raw.size // RECORD} records, the "
                                  f"standard file has {PER_BATCH} (pass data.verify=false for a non-standard file)")
    rows = raw.reshape(-1, RECORD)
    return _check_arrays(path, rows[:, 1:], rows[:, 0].astype(np.int64), None)


def _read_npz(path: Path, verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    _readable(path)
    if verify and path.name in NPZ_SHA256:
        verify_digest(path, NPZ_SHA256[path.name], "sha256")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data, labels = np.asarray(npz["data"]), np.asarray(npz["labels"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise DataFileError(path, f"corrupt or incomplete CIFAR npz ({e})") from None
    return _check_arrays(path, data, labels, NPZ_COUNT.get(path.name) if verify else None)


def _load_part(data_dir: Path, part: str, verify: bool = True) -> tuple[np.ndarray, np.ndarray, str]:
    """``part`` is "train" or "test"; returns (data (N, 3072), labels, layout name)."""
    names = [f"data_batch_{i}" for i in range(1, 6)] if part == "train" else ["test_batch"]
    for root in (data_dir, data_dir / "cifar10"):
        py, binary = root / "cifar-10-batches-py", root / "cifar-10-batches-bin"
        if py.is_dir() and any((py / n).exists() for n in names):
            arrays = [_read_python_batch(py / n, verify) for n in names]
        elif binary.is_dir() and any((binary / f"{n}.bin").exists() for n in names):
            arrays = [_read_binary_batch(binary / f"{n}.bin", verify) for n in names]
        elif (root / _NPZ[part]).exists():
            data, labels = _read_npz(root / _NPZ[part], verify)
            return data, labels, "npz-subset"
        else:
            continue
        return np.concatenate([a for a, _ in arrays]), np.concatenate([b for _, b in arrays]), "full"
    raise DataFileError(
        data_dir / "cifar10", "no CIFAR-10 files found (cifar-10-batches-py/, cifar-10-batches-bin/ or the npz subset)"
    )


@register_dataset("cifar10", "CIFAR-10 3x32x32, 256 levels, 10 classes (python/binary batches or npz subset)")
def load_cifar10(split: str, data_dir: Path, verify: bool = True) -> ImageData:
    data, labels, layout = _load_part(data_dir, "test" if split == "test" else "train", verify)
    if split != "test":
        cut = len(data) - len(data) // 10
        keep = {"train": slice(0, cut), "valid": slice(cut, None), "trainval": slice(None)}[split]
        data, labels = data[keep], labels[keep]
    codes = torch.from_numpy(np.ascontiguousarray(data)).view(-1, 3, 32, 32)
    return ImageData(
        "cifar10", split, codes, torch.from_numpy(labels), DataInfo((3, 32, 32), 256, 10), 256,
        options={"layout": layout},
    )
