"""The shared types below data, models and metrics: :class:`DataInfo` and :class:`Batch`.

Data contract: ``batch["x"]`` holds images as float tensors ``(N, C, H, W)`` (video ``(N, T, C, H, W)``)
with values in ``[0, 1]`` on the grid ``k / (levels - 1)``; every condition the dataset offers travels
beside it under its spec's key (``batch["label"]``, ``batch["text"]``, ``batch["box"]``, ...), as a
tensor or, for captions, a list of strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from genzoo.core.conditions import ConditionSpec, LabelSpec, count, move, select


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data to build itself.

    ``shape`` is the per-example shape (``(C, H, W)`` or ``(T, C, H, W)`` for video), ``levels`` the
    number of discrete values per dimension (values are ``k / (levels - 1)``), ``conditions`` the
    condition specs the dataset offers. ``num_classes`` is a shorthand: given alone it adds a
    :class:`LabelSpec`; given a label spec it is read from it (0 when unlabelled).
    """

    shape: tuple[int, ...]
    levels: int
    num_classes: int = 0
    conditions: tuple[ConditionSpec, ...] = field(default=())

    def __post_init__(self) -> None:
        specs = tuple(self.conditions)
        label = next((s for s in specs if isinstance(s, LabelSpec)), None)
        if label is None and self.num_classes:
            specs = (LabelSpec(num_classes=int(self.num_classes)), *specs)
        elif label is not None:
            object.__setattr__(self, "num_classes", label.num_classes)
        keys = [s.key for s in specs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"condition keys must be unique, got {keys}")
        object.__setattr__(self, "conditions", specs)
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    @property
    def dims(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def condition_specs(self) -> dict[str, ConditionSpec]:
        """The dataset's condition specs by key."""
        return {s.key: s for s in self.conditions}

    def to_dict(self) -> dict[str, Any]:
        return {
            "shape": list(self.shape), "levels": self.levels, "num_classes": self.num_classes,
            "conditions": [s.to_dict() for s in self.conditions],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataInfo:
        specs = tuple(ConditionSpec.from_dict(s) for s in d.get("conditions", []))
        return cls(tuple(int(s) for s in d["shape"]), int(d["levels"]), int(d.get("num_classes", 0)), specs)


class Batch(dict):  # type: ignore[type-arg]
    """A training or evaluation batch: ``"x"`` plus condition values by key (see the module docstring).

    A plain ``dict`` that also knows how to move, select and shard every value, whatever its type.
    """

    def to(self, device: torch.device | str) -> Batch:
        return Batch({k: move(v, device) for k, v in self.items()})

    def select(self, index: Tensor | slice) -> Batch:
        return Batch({k: select(v, index) for k, v in self.items()})

    def shard(self, rank: int, world: int) -> Batch:
        """The ``rank``-th of ``world`` contiguous equal shards (the batch size must divide evenly)."""
        n = count(self["x"])
        size = n // world
        return self.select(slice(rank * size, (rank + 1) * size))

    def conditions(self, keys: Mapping[str, Any] | list[str] | tuple[str, ...]) -> dict[str, Any] | None:
        """The values of ``keys`` (``None`` when there are none to give)."""
        keys = list(keys)
        return {k: self[k] for k in keys if k in self} or None


@runtime_checkable
class Dataset(Protocol):
    """What the engine and evaluator need of a dataset split (:class:`genzoo.data.ImageData` is one;
    generated data such as Moving MNIST may build each example on the fly from its index)."""

    info: DataInfo
    name: str
    split: str

    def __len__(self) -> int: ...

    def batch(self, index: Tensor, generator: torch.Generator | None = None) -> Batch: ...

    def subset(self, index: Tensor | slice) -> Dataset: ...

    def tensor(self, seed: int = 0) -> Tensor: ...

    def condition_values(self) -> dict[str, Any]: ...

    def fingerprint(self) -> str: ...
