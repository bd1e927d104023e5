"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747): 28x28 greyscale photos of Zalando
articles in 10 classes, in the original IDX gzip files (read with :func:`genzoo.data.idx.read_idx`).

Files (searched in ``data_dir/fashion_mnist`` and ``data_dir``), SHA-256 checked: ``train-images-idx3-ubyte.gz``,
``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``.
Splits as for ``mnist``: train = the first 50,000 training images, valid = the last 10,000, trainval =
all 60,000, test = the 10,000 test images. The label condition carries the class names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genzoo.core import DataInfo, LabelSpec
from genzoo.data.base import DataFileError, ImageData
from genzoo.data.download import find_file
from genzoo.data.idx import read_idx
from genzoo.registry import register_dataset

FASHION_FILES = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def read_fashion(split: str, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``(N, 28, 28)`` and int64 labels ``(N,)`` of one split."""
    test = split == "test"
    prefix = "t10k" if test else "train"
    images = read_idx(find_file(data_dir, f"{prefix}-images-idx3-ubyte.gz", "fashion_mnist", FASHION_FILES))
    labels = read_idx(find_file(data_dir, f"{prefix}-labels-idx1-ubyte.gz", "fashion_mnist", FASHION_FILES))
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise DataFileError(data_dir / "fashion_mnist", f"images {images.shape} do not match labels {labels.shape}")
    if not test:
        keep = {"train": slice(0, 50000), "valid": slice(50000, None), "trainval": slice(None)}[split]
        images, labels = images[keep], labels[keep]
    return np.array(images), labels.astype(np.int64)


@register_dataset("fashion-mnist", "Fashion-MNIST 1x28x28, 256 levels, 10 named classes (IDX files, Xiao et al. 2017)")
def load_fashion_mnist(split: str, data_dir: Path) -> ImageData:
    images, labels = read_fashion(split, data_dir)
    info = DataInfo((1, 28, 28), 256, conditions=(LabelSpec(num_classes=10, names=FASHION_CLASSES),))
    return ImageData(
        "fashion-mnist", split, torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels), info, 256,
    )
