"""CIFAR-10 (Krizhevsky 2009): 3x32x32 8-bit colour images, 10 classes.

Accepted layouts, searched in ``data_dir`` and ``data_dir/cifar10``:
- the python batches ``cifar-10-batches-py/data_batch_{1..5}`` and ``test_batch`` (pickles, read with a
  restricted unpickler that only rebuilds numpy arrays, so a file cannot run code);
- the binary batches ``cifar-10-batches-bin/data_batch_{1..5}.bin`` and ``test_batch.bin``;
- the npz subset staged in shared/data (``cifar10_data_batch_1_first4000.npz`` and
  ``cifar10_test_batch_first1000.npz``, same array layout as the python batches).
Splits: valid = the last 10% of the training images, train = the rest, trainval = all of them.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from genzoo.core import DataInfo
from genzoo.data.base import DataFileError, ImageData
from genzoo.registry import register_dataset

_NPZ = {"train": "cifar10_data_batch_1_first4000.npz", "test": "cifar10_test_batch_first1000.npz"}
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else (no code from the file runs)."""

    # _codecs.encode: how protocol-2 pickles written by Python 3 spell a bytes object (pure function)
    _ALLOWED = {
        ("numpy._core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):  # type: ignore[override]
        module = module.replace("numpy.core", "numpy._core")
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
        return super().find_class(module, name)


def _read_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = _ArrayOnlyUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as e:
        raise DataFileError(path, f"corrupt or truncated CIFAR python batch ({e})") from None
    return data, labels


def _read_binary_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 3073:
        raise DataFileError(path, f"truncated CIFAR binary batch: {raw.size} bytes is not a multiple of 3073")
    rows = raw.reshape(-1, 3073)
    return rows[:, 1:], rows[:, 0].astype(np.int64)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return np.asarray(npz["data"], dtype=np.uint8), np.asarray(npz["labels"], dtype=np.int64)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise DataFileError(path, f"corrupt or incomplete CIFAR npz ({e})") from None


def _load_part(data_dir: Path, part: str) -> tuple[np.ndarray, np.ndarray, str]:
    """``part`` is "train" or "test"; returns (data (N, 3072), labels, layout name)."""
    names = [f"data_batch_{i}" for i in range(1, 6)] if part == "train" else ["test_batch"]
    for root in (data_dir, data_dir / "cifar10"):
        py, binary = root / "cifar-10-batches-py", root / "cifar-10-batches-bin"
        if (py / names[0]).is_file():
            arrays = [_read_python_batch(py / n) for n in names]
        elif (binary / f"{names[0]}.bin").is_file():
            arrays = [_read_binary_batch(binary / f"{n}.bin") for n in names]
        elif (root / _NPZ[part]).is_file():
            arrays = [_read_npz(root / _NPZ[part])]
            return arrays[0][0], arrays[0][1], "npz-subset"
        else:
            continue
        return np.concatenate([a for a, _ in arrays]), np.concatenate([b for _, b in arrays]), "full"
    raise DataFileError(
        data_dir / "cifar10", "no CIFAR-10 files found (cifar-10-batches-py/, cifar-10-batches-bin/ or the npz subset)"
    )


@register_dataset("cifar10", "CIFAR-10 3x32x32, 256 levels, 10 classes (python/binary batches or npz subset)")
def load_cifar10(split: str, data_dir: Path) -> ImageData:
    data, labels, layout = _load_part(data_dir, "test" if split == "test" else "train")
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataFileError(data_dir / "cifar10", f"unexpected CIFAR array shapes {data.shape}, {labels.shape}")
    if split != "test":
        cut = len(data) - len(data) // 10
        keep = {"train": slice(0, cut), "valid": slice(cut, None), "trainval": slice(None)}[split]
        data, labels = data[keep], labels[keep]
    codes = torch.from_numpy(np.ascontiguousarray(data)).view(-1, 3, 32, 32)
    return ImageData(
        "cifar10", split, codes, torch.from_numpy(labels), DataInfo((3, 32, 32), 256, 10), 256,
        options={"layout": layout},
    )
