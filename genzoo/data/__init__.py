"""Datasets by name. ``load_dataset("mnist", "train", data_dir=...)`` returns an :class:`ImageData`."""

from __future__ import annotations

import inspect
import os
import typing
from typing import Any

from genzoo.core.errors import ConfigError
from genzoo.data.base import SPLITS, DataFileError, ImageData, check_split, resolve_data_dir, spaced_index
from genzoo.registry import DATASET_OPTIONS, DATASETS

__all__ = [
    "SPLITS", "DataFileError", "ImageData", "check_data_options", "data_options", "load_dataset", "resolve_data_dir",
    "spaced_index",
]

#: a reader's positional parameters, which are not options
_READER_ARGS = ("split", "data_dir")


def data_options(name: str) -> dict[str, Any] | None:
    """The options dataset ``name``'s reader takes, with their types (None: it takes any keyword)."""
    reader = DATASETS.get(name)
    if name in DATASET_OPTIONS:
        return typing.get_type_hints(DATASET_OPTIONS[name])
    params = inspect.signature(reader).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    try:
        hints = typing.get_type_hints(reader)
    except Exception:  # an annotation that does not resolve: no type checks
        hints = {}
    return {
        n: hints.get(n, Any) for n, p in params.items()
        if n not in _READER_ARGS and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }


def check_data_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` checked against dataset ``name``'s reader signature: an unknown key is a
    :class:`ConfigError` that lists the known ones, a value of the wrong type one that says what is valid."""
    from genzoo.config import check_value

    known = data_options(name)
    if known is None:
        return dict(options)
    unknown = sorted(str(k) for k in options if k not in known)
    if unknown:
        listing = ", ".join(sorted(known)) or "(none: it takes no options)"
        raise ConfigError(f"unknown data.* key(s) {', '.join(unknown)} for dataset {name!r}; known: {listing}")
    return {k: check_value(v, known[k], f"data.{k}") for k, v in options.items()}


def load_dataset(
    name: str, split: str = "train", data_dir: str | os.PathLike[str] | None = None, **options: Any
) -> ImageData:
    """Load one split of a registered dataset.

    ``data_dir`` defaults to ``$GENZOO_DATA_DIR`` or ``./data``; ``options`` are the dataset's own
    (e.g. ``binarize="dynamic"`` for ``mnist``), checked against its reader's signature. Unknown names raise
    :class:`genzoo.registry.UnknownNameError`; unknown options :class:`ConfigError`; bad files
    :class:`DataFileError`.
    """
    reader = DATASETS.get(name)
    options = check_data_options(name, options)
    data_dir = resolve_data_dir(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise DataFileError(data_dir, "is a file; --data-dir must be a directory")
    return reader(check_split(split), data_dir, **options)
