"""The fixed binarized MNIST of Larochelle & Murray (2011): 50,000 / 10,000 / 10,000 binary images.

Read from ``binarized_mnist/binarized_mnist.npz`` (bit-packed rows, as staged in shared/data) or from
the original text files ``binarized_mnist_{train,valid,test}.amat`` (784 space-separated 0/1 per
line). The npz is checked against its known SHA-256.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from genzoo.core import DataInfo
from genzoo.data.base import DataFileError, ImageData
from genzoo.data.download import find_file
from genzoo.registry import register_dataset

NPZ_NAME = "binarized_mnist.npz"
NPZ_SHA256 = {NPZ_NAME: "beadbd72adcaa48e8a55276adba05ac0aa906f7e222cdf00d22e3a8e33e59738"}
_COUNTS = {"train": 50000, "valid": 10000, "test": 10000}


def _read_npz_split(path: Path, split: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as npz:
            packed = npz[split]
            shape = tuple(int(s) for s in npz[f"{split}_shape"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise DataFileError(path, f"corrupt or incomplete binarized MNIST npz ({e})") from None
    return np.unpackbits(packed, axis=1, count=shape[1]).reshape(shape)


def _read_amat(path: Path) -> np.ndarray:
    try:
        rows = np.loadtxt(path, dtype=np.uint8)
    except ValueError as e:
        raise DataFileError(path, f"corrupt amat text file ({e})") from None
    if rows.ndim != 2 or rows.shape[1] != 784 or rows.max() > 1:
        raise DataFileError(path, f"expected rows of 784 binary values, got shape {rows.shape}")
    return rows


def _load_split(data_dir: Path, split: str) -> np.ndarray:
    for folder in (data_dir / "binarized_mnist", data_dir):
        amat = folder / f"binarized_mnist_{split}.amat"
        if amat.is_file() and not (folder / NPZ_NAME).is_file():
            return _read_amat(amat)
    return _read_npz_split(find_file(data_dir, NPZ_NAME, "binarized_mnist", NPZ_SHA256), split)


@register_dataset("binarized-mnist", "fixed binarized MNIST (Larochelle & Murray 2011), 1x28x28, 2 levels")
def load_binarized_mnist(split: str, data_dir: Path) -> ImageData:
    parts = ["train", "valid"] if split == "trainval" else [split]
    rows = np.concatenate([_load_split(data_dir, p) for p in parts])
    expected = sum(_COUNTS[p] for p in parts)
    if rows.shape != (expected, 784):
        raise DataFileError(data_dir / "binarized_mnist", f"{split}: shape {rows.shape}, expected ({expected}, 784)")
    codes = torch.from_numpy(np.ascontiguousarray(rows)).view(-1, 1, 28, 28)
    return ImageData("binarized-mnist", split, codes, None, DataInfo((1, 28, 28), 2, 0), raw_levels=2)
