"""scikit-learn's bundled 8x8 digits (UCI optdigits test set): the default dataset, needs no files.

1797 grayscale 8x8 images with 17 intensity levels (0..16) and labels 0-9. Splits come from one fixed
permutation (seed 0): train 1257, valid 180, test 360; trainval = train + valid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genzoo.core import DataInfo
from genzoo.data.base import ImageData
from genzoo.registry import register_dataset

_SIZES = {"train": 1257, "valid": 180, "test": 360}


def split_indices(n: int, sizes: dict[str, int], split: str, seed: int = 0) -> np.ndarray:
    """Indices of ``split`` in a fixed permutation of ``range(n)`` carved as train | valid | test."""
    order = np.random.RandomState(seed).permutation(n)
    a, b = sizes["train"], sizes["train"] + sizes["valid"]
    ranges = {"train": (0, a), "valid": (a, b), "test": (b, n), "trainval": (0, b)}
    lo, hi = ranges[split]
    return np.sort(order[lo:hi])


@register_dataset("digits", "scikit-learn 8x8 digits (1x8x8, 17 levels, 10 classes); bundled, no files")
def load_digits_split(split: str, data_dir: Path) -> ImageData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)  # (1797, 8, 8) values 0..16
    idx = split_indices(len(images), _SIZES, split)
    codes = torch.from_numpy(images[idx]).unsqueeze(1).contiguous()
    labels = torch.from_numpy(bunch.target[idx].astype(np.int64))
    return ImageData("digits", split, codes, labels, DataInfo((1, 8, 8), 17, 10), raw_levels=17)
