"""Value ranges of config fields: declared beside the field (``ranged``) and checked by :mod:`genzoo.config`.

``field: int = ranged(0, NON_NEGATIVE)`` says what values are valid where the field is declared: every
model config declares its ranges this way, so a new model's ``hidden`` never inherits another model's
rule by name. The train section (declared beside its table in :mod:`genzoo.config`), data options and
metric options use the name-keyed table :data:`genzoo.config.CONSTRAINTS`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    """A numeric interval a value (or each element of a list value) must lie in."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: float) -> bool:
        if isinstance(value, float) and math.isnan(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"{'<' if self.high_open else '<='} {self.high:g}"


AT_LEAST_1 = Range(1)
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, low_open=True)
PROBABILITY = Range(0, 1, high_open=True)  # dropout rates, momenta, Adam's betas


def ranged(default: Any, rule: Range) -> Any:
    """A dataclass field with ``default`` whose values (every element, for a list) must lie in ``rule``;
    a list or dict default is copied for each instance."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata={"range": rule})
    return dataclasses.field(default=default, metadata={"range": rule})


def field_range(cls: type) -> dict[str, Range]:
    """The ranges ``cls``'s fields declare with :func:`ranged`."""
    if not dataclasses.is_dataclass(cls):
        return {}
    return {f.name: f.metadata["range"] for f in dataclasses.fields(cls) if "range" in f.metadata}
