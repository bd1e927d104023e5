"""Name -> model / dataset / metric lookups; ``genzoo list`` prints them.

Model files in ``genzoo/models/`` (and its family packages) and metric files in ``genzoo/metrics/``
register themselves at import time; :func:`discover` imports every module of those packages once, so
adding a model is adding a file (nothing central to edit).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that is not in a registry; the message lists the names that are."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


@dataclass
class Registry(Generic[T]):
    kind: str
    entries: dict[str, T] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, obj: T, description: str = "") -> T:
        if name in self.entries and self.entries[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self.entries[name] = obj
        self.descriptions[name] = description
        return obj

    def get(self, name: str) -> T:
        discover()
        try:
            return self.entries[name]
        except KeyError:
            known = ", ".join(sorted(self.entries)) or "(none)"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}") from None

    def names(self) -> list[str]:
        discover()
        return sorted(self.entries)


MODELS: Registry[Any] = Registry("model")
DATASETS: Registry[Any] = Registry("dataset")
METRICS: Registry[Any] = Registry("metric")


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""


def register_model(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: ``@register_model("vae")`` on a :class:`GenerativeModel` subclass."""

    def deco(cls: type[T]) -> type[T]:
        cls.name = name  # type: ignore[attr-defined]
        MODELS.add(name, cls, _first_line(cls.__doc__))
        return cls

    return deco


#: dataset name -> the dataclass of its options, for readers that take ``**options`` (see ``register_dataset``)
DATASET_OPTIONS: dict[str, type] = {}


def register_dataset(name: str, description: str = "", options: type | None = None) -> Callable[[T], T]:
    """Register a reader ``fn(split, data_dir, **options)``. Its options are its keyword parameters, or the
    fields of the ``options`` dataclass when it takes ``**options`` (so they can be listed and type-checked)."""

    def deco(fn: T) -> T:
        DATASETS.add(name, fn, description or _first_line(getattr(fn, "__doc__", "")))
        if options is not None:
            DATASET_OPTIONS[name] = options
        return fn

    return deco


def register_metric(name: str, description: str = "") -> Callable[[T], T]:
    """Register an evaluator ``fn(ctx: genzoo.evaluation.EvalContext, **options) -> dict``."""

    def deco(fn: T) -> T:
        METRICS.add(name, fn, description or _first_line(getattr(fn, "__doc__", "")))
        return fn

    return deco


_DISCOVERED = False
_PACKAGES = ("genzoo.data", "genzoo.models", "genzoo.metrics", "genzoo.evaluation")


def discover() -> None:
    """Import every module of the registering packages once."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for pkg_name in _PACKAGES:
        try:
            pkg = importlib.import_module(pkg_name)
        except ModuleNotFoundError as e:
            if e.name != pkg_name:
                raise
            continue
        path = getattr(pkg, "__path__", None)
        if path is None:
            continue
        for info in pkgutil.walk_packages(path, prefix=f"{pkg_name}."):
            if not info.name.rsplit(".", 1)[-1].startswith("_"):
                importlib.import_module(info.name)
