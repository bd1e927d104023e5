"""The result type every metric returns: scores, their errors, and the protocol they were measured under.

The report and ``eval.jsonl`` read any metric through this one type, so no other module keeps a list of a
metric's output keys: ``headline`` names the score a table shows, ``errors`` the standard errors
(or standard deviations, as the metric documents) shown as ``value ± error``, ``protocol`` how it was
measured (sample counts, splits, feature extractor, seed), and ``notes`` what a reader must know
(e.g. a small-sample score).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class MetricResult:
    """One metric's outcome. ``scores`` are numbers; ``details`` anything else worth keeping (lists, names)."""

    metric: str
    scores: dict[str, float]
    headline: str = ""
    errors: dict[str, float] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unavailable: str | None = None

    def __post_init__(self) -> None:
        if not self.headline and self.scores:
            self.headline = next(iter(self.scores))

    @property
    def value(self) -> float | None:
        return self.scores.get(self.headline)

    @property
    def error(self) -> float | None:
        e = self.errors.get(self.headline)
        return e if e is not None and math.isfinite(e) else None

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON record of ``eval.jsonl``: the scores at the top level (as before), plus the rest."""
        out: dict[str, Any] = {"metric": self.metric}
        if self.unavailable is not None:
            out["unavailable"] = self.unavailable
            return out
        out.update(self.scores)
        out.update(self.details)
        out["headline"] = self.headline
        if self.errors:
            out["errors"] = dict(self.errors)
        out["protocol"] = dict(self.protocol)
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> MetricResult:
        """Rebuild from an ``eval.jsonl`` record (older records without ``headline`` take their first number)."""
        rec = dict(record)
        name = str(rec.pop("metric", ""))
        if "unavailable" in rec:
            return cls(name, {}, unavailable=str(rec["unavailable"]))
        protocol = rec.pop("protocol", {}) or {}
        errors = rec.pop("errors", {}) or {}
        notes = rec.pop("notes", []) or []
        headline = rec.pop("headline", "")
        scores = {k: float(v) for k, v in rec.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        details = {k: v for k, v in rec.items() if k not in scores}
        return cls(name, scores, headline, errors, protocol, details, list(notes))
