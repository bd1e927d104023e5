"""Datasets by name. ``load_dataset("mnist", "train", data_dir=...)`` returns an :class:`ImageData`."""

from __future__ import annotations

import os
from typing import Any

from genzoo.data.base import SPLITS, DataFileError, ImageData, check_split, resolve_data_dir
from genzoo.registry import DATASETS

__all__ = ["SPLITS", "DataFileError", "ImageData", "load_dataset", "resolve_data_dir"]


def load_dataset(
    name: str, split: str = "train", data_dir: str | os.PathLike[str] | None = None, **options: Any
) -> ImageData:
    """Load one split of a registered dataset.

    ``data_dir`` defaults to ``$GENZOO_DATA_DIR`` or ``./data``; ``options`` are the dataset's own
    (e.g. ``binarize="dynamic"`` for ``mnist``). Unknown names raise
    :class:`genzoo.registry.UnknownNameError`; bad files raise :class:`DataFileError`.
    """
    reader = DATASETS.get(name)
    return reader(check_split(split), resolve_data_dir(data_dir), **options)
