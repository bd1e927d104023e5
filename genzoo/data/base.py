"""The data contract: every dataset is an in-memory :class:`ImageData` of discrete images.

Images are kept as integer codes ``0..raw_levels-1`` (uint8) and handed out as float tensors in
``[0, 1]``, with the dataset's conditions beside them (``label``, and any others its ``info`` declares);
see :mod:`genzoo.core.types` for the batch contract. Generated datasets may implement
:class:`genzoo.core.Dataset` differently (building examples on the fly). Every dataset
has the splits ``train``, ``valid``, ``test`` and ``trainval`` (train + valid); each reader documents
how it carves them out of the files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genzoo.core import Batch, DataInfo
from genzoo.core.conditions import select
from genzoo.core.errors import DataFileError, UsageError

__all__ = ["SPLITS", "DataFileError", "ImageData", "check_split", "resolve_data_dir"]

SPLITS = ("train", "valid", "test", "trainval")
DATA_DIR_ENV = "GENZOO_DATA_DIR"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """``data_dir`` if given, else ``$GENZOO_DATA_DIR``, else ``./data``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    return Path(os.environ.get(DATA_DIR_ENV, "data")).expanduser()


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
    return split


def spaced_index(length: int, n: int) -> Tensor:
    """``n`` indices evenly spaced over ``0 .. length - 1`` (both ends included): a subset of a split that
    covers every class even where the split is sorted by label (the binarized MNIST test split is)."""
    return torch.linspace(0, length - 1, n).round().long()


@dataclass
class ImageData:
    """One split of a dataset, in memory.

    ``codes`` are uint8 ``(N, C, H, W)`` (video ``(N, T, C, H, W)``) with values ``0..raw_levels-1``;
    ``labels`` int64 ``(N,)`` or ``None`` (the ``label`` condition); ``extra`` the values of the other
    conditions ``info`` declares, by key (tensors with a first axis of ``N``, or lists of ``N`` captions).
    With ``binarize="dynamic"`` every batch is a fresh
    Bernoulli draw with probability ``code / (raw_levels - 1)`` (Salakhutdinov & Murray 2008), so
    ``info.levels == 2`` while ``raw_levels == 256``.
    """

    name: str
    split: str
    codes: Tensor
    labels: Tensor | None
    info: DataInfo
    raw_levels: int
    binarize: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.binarize not in (None, "dynamic"):
            raise ValueError(f"binarize must be None or 'dynamic', got {self.binarize!r}")
        if self.labels is not None and len(self.labels) != len(self.codes):
            raise ValueError(f"{len(self.codes)} images but {len(self.labels)} labels")
        for key, value in self.extra.items():
            if len(value) != len(self.codes):
                raise ValueError(f"{len(self.codes)} images but {len(value)} values of condition {key!r}")

    def __len__(self) -> int:
        return len(self.codes)

    def to_float(self, codes: Tensor, generator: torch.Generator | None = None) -> Tensor:
        x = codes.float() / (self.raw_levels - 1)
        if self.binarize == "dynamic":
            x = torch.bernoulli(x, generator=generator)
        return x

    def batch(self, index: Tensor, generator: torch.Generator | None = None) -> Batch:
        out = Batch(x=self.to_float(self.codes[index], generator))
        for key, value in self.condition_values().items():
            out[key] = select(value, index)
        return out

    def fingerprint(self) -> str:
        """A short SHA-256 of the split's pixels and labels: the same data gives the same fingerprint."""
        import hashlib

        h = hashlib.sha256(self.codes.contiguous().numpy().tobytes())
        if self.labels is not None:
            h.update(self.labels.contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def condition_values(self) -> dict[str, Any]:
        """Every condition's values for the whole split, by key."""
        values = {} if self.labels is None else {"label": self.labels}
        return {**values, **self.extra}

    def pixel_mean(self, chunk: int = 4096) -> Tensor:
        """The mean image of the split (floats in [0, 1], one per pixel): under a dynamic binarization, each
        pixel's probability of being 1, averaged. Summed over chunks of ``chunk`` images in float64, so no
        float copy of the whole split is made."""
        total = torch.zeros(self.codes.shape[1:], dtype=torch.float64)
        for start in range(0, len(self), chunk):
            total += self.codes[start : start + chunk].sum(0, dtype=torch.float64)
        return (total / (max(len(self), 1) * (self.raw_levels - 1))).float()

    def tensor(self, seed: int = 0) -> Tensor:
        """All images as floats in [0, 1]; a dynamic binarization is drawn once with ``seed``."""
        g = torch.Generator().manual_seed(seed)
        return self.to_float(self.codes, g)

    def batches(
        self, batch_size: int, shuffle: bool = False, seed: int = 0, drop_last: bool = False
    ) -> Iterator[Batch]:
        """Iterate over the split once. Deterministic for a seed."""
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self), generator=g) if shuffle else torch.arange(len(self))
        stop = len(self) - (len(self) % batch_size if drop_last else 0)
        for start in range(0, stop, batch_size):
            yield self.batch(order[start : start + batch_size], g)

    def subset(self, index: Tensor | slice) -> ImageData:
        labels = None if self.labels is None else self.labels[index]
        extra = {k: select(v, index) for k, v in self.extra.items()}
        return ImageData(
            self.name, self.split, self.codes[index], labels, self.info, self.raw_levels,
            self.binarize, dict(self.options), extra,
        )
