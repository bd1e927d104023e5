"""IDX files (LeCun et al.'s MNIST format), optionally gzip-compressed, and the ``mnist`` dataset.

MNIST splits: train = the first 50,000 training images, valid = the last 10,000, trainval = all
60,000, test = the 10,000 test images (the Larochelle & Murray convention, so ``mnist`` and
``binarized-mnist`` share their validation protocol). ``binarize="dynamic"`` draws a fresh Bernoulli
binarization per batch (Salakhutdinov & Murray 2008).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from genzoo.core import DataInfo
from genzoo.data.base import DataFileError, ImageData
from genzoo.data.download import find_file
from genzoo.registry import register_dataset

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) into an array, checking its header against its length."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataFileError(path, "file not found") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataFileError(path, f"corrupt or truncated gzip data ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataFileError(path, "not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(path, "truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise DataFileError(
            path, f"truncated or padded IDX data: {len(raw)} bytes, header {dims} implies {expected}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


@register_dataset("mnist", "MNIST 1x28x28, 256 levels, 10 classes (IDX files); binarize=dynamic option")
def load_mnist(split: str, data_dir: Path, binarize: Literal["dynamic", "none"] | None = None) -> ImageData:
    test = split == "test"
    prefix = "t10k" if test else "train"
    images = read_idx(find_file(data_dir, f"{prefix}-images-idx3-ubyte.gz", "mnist", MNIST_FILES))
    labels = read_idx(find_file(data_dir, f"{prefix}-labels-idx1-ubyte.gz", "mnist", MNIST_FILES))
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise DataFileError(data_dir, f"MNIST images {images.shape} do not match labels {labels.shape}")
    if not test:
        images, labels = {
            "train": (images[:50000], labels[:50000]),
            "valid": (images[50000:], labels[50000:]),
            "trainval": (images, labels),
        }[split]
    binarize = None if binarize in (None, "none", "") else binarize
    info = DataInfo((1, 28, 28), 2 if binarize else 256, 10)
    codes = torch.from_numpy(np.array(images)).unsqueeze(1)
    return ImageData(
        "mnist", split, codes, torch.from_numpy(labels.astype(np.int64)), info, 256, binarize,
        {"binarize": binarize},
    )


@register_dataset("dynamic-mnist", "MNIST with dynamic binarization (same as mnist, binarize=dynamic)")
def load_dynamic_mnist(split: str, data_dir: Path) -> ImageData:
    data = load_mnist(split, data_dir, binarize="dynamic")
    data.name = "dynamic-mnist"
    return data
