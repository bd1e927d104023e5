"""The result type every metric returns: scores, their errors, and the protocol they were measured under.

The report and ``eval.jsonl`` read any metric through this one type, so no other module keeps a list of a
metric's output keys: ``headline`` names the score a table shows, ``errors`` the standard errors
(or standard deviations, as ``protocol["error"]`` says) shown as ``value ± error``, ``protocol`` how it was
measured (sample counts, splits, feature extractor, seed), ``details`` what else is worth keeping (per-class
numbers, thresholds, picture paths, timing) and ``notes`` what a reader must know (e.g. a small-sample
score, a collapse warning).

Record format (one ``eval.jsonl`` line, :meth:`MetricResult.to_dict`)::

    {"metric": "fid", "fid": 12.3, "headline": "fid", "errors": {}, "protocol": {...},
     "details": {...}, "notes": [...]}

the scores at the top level (so ``record["fid"]`` keeps working), everything else under its own key.
:meth:`MetricResult.from_dict` also reads the older flat records, whose first number is the headline.

For code that used the old flat dicts, ``result[key]`` (and ``key in result``, ``result.get(key)``) looks a
name up in the scores, then the details, then the protocol, then the record's own keys (``"protocol"``,
``"errors"``, ``"notes"``, ...).
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

    # ----- flat, dict-like read access (the shape of the old result dicts) --------------------------
    def __getitem__(self, key: str) -> Any:
        for part in (self.scores, self.details, self.protocol):
            if key in part:
                return part[key]
        record = self.to_dict()
        if key in record:
            return record[key]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        try:
            self[str(key)]
        except KeyError:
            return False
        return True

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def summary(self) -> str:
        """One line for a terminal: ``fid = 12.3 ± 0.4 (n_samples=1000) [note; note]``."""
        if self.unavailable is not None:
            return f"{self.metric}: unavailable ({self.unavailable})"
        parts = []
        for key, v in self.scores.items():
            err = self.errors.get(key)
            parts.append(f"{key} = {v:.6g}" + (f" ± {err:.2g}" if err is not None and math.isfinite(err) else ""))
        counts = {k: v for k, v in self.protocol.items() if k.startswith("n_") or k == "n"}
        text = f"{self.metric}: " + ", ".join(parts)
        if counts:
            text += " (" + ", ".join(f"{k}={v}" for k, v in counts.items()) + ")"
        if self.notes:
            text += " [" + "; ".join(self.notes) + "]"
        return text

    # ----- records ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON record of ``eval.jsonl``: the scores at the top level (as before), plus the rest."""
        out: dict[str, Any] = {"metric": self.metric}
        if self.unavailable is not None:
            out["unavailable"] = self.unavailable
            if self.details:
                out["details"] = dict(self.details)
            return out
        out.update(self.scores)
        out["headline"] = self.headline
        out["errors"] = dict(self.errors)
        out["protocol"] = dict(self.protocol)
        out["details"] = dict(self.details)
        out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> MetricResult:
        """Rebuild from an ``eval.jsonl`` record (older flat records take their first number as headline)."""
        rec = dict(record)
        name = str(rec.pop("metric", ""))
        if "unavailable" in rec:
            details = rec.get("details") if isinstance(rec.get("details"), dict) else {}
            return cls(name, {}, unavailable=str(rec["unavailable"]), details=dict(details))
        protocol = rec.pop("protocol", {}) or {}
        errors = rec.pop("errors", {}) or {}
        notes = rec.pop("notes", []) or []
        if "headline" in rec:
            headline = str(rec.pop("headline"))
            nested = rec.pop("details", {})
            scores = {k: float(v) for k, v in rec.items() if _is_number(v)}
            details = {k: v for k, v in rec.items() if k not in scores}
            if isinstance(nested, dict):
                details.update(nested)
            if headline not in scores:
                headline = ""
            return cls(name, scores, headline, dict(errors), dict(protocol), details, list(notes))
        return cls._from_flat(name, rec, dict(protocol), dict(errors), list(notes))

    @classmethod
    def _from_flat(
        cls, name: str, rec: dict[str, Any], protocol: dict[str, Any], errors: dict[str, float], notes: list[str]
    ) -> MetricResult:
        """An older flat record: floats are scores, integers and strings protocol (counts, splits, names),
        the writer's ``time``/``seconds``/``real_baseline`` details; the headline is the score named like the
        metric (``ms-ssim`` -> ``ms_ssim``) when there is one, else the first score."""
        details = {k: rec.pop(k) for k in ("time", "seconds", "real_baseline") if k in rec}
        scores: dict[str, float] = {}
        for key, value in rec.items():
            if _is_number(value) and isinstance(value, float):
                scores[key] = float(value)
            elif _is_number(value) or isinstance(value, str):
                protocol.setdefault(key, value)
            else:
                details[key] = value
        own = name.replace("-", "_")
        headline = own if own in scores else ""
        return cls(name, scores, headline, errors, protocol, details, notes)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
