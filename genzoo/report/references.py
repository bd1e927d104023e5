"""The numbers a result is read beside, from one data file: ``genzoo/references.yaml``.

Two lists, both plain data that the report and the BENCHMARKS tooling read (and
``benchmarks/real_baselines.py --update-references`` rewrites the second):

``papers``
    published numbers: ``{model, data, score, value, citation}`` (optionally ``error``, ``note``). A
    likelihood is in nats per image (``nll_nats``) or bits/dim; a Parzen log-likelihood in nats.
``baselines``
    measured real-data baselines (held-out real images scored as if they were samples):
    ``{data, metric, score, value, protocol, source}`` (optionally ``error``). ``protocol`` lists the
    settings the number was measured under; a result is shown beside a baseline only when its own
    protocol has every one of those settings with the same value (:func:`same_protocol`), so a
    10,000-image baseline never sits beside a 1,000-sample score.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from genzoo.fileio import atomic_write_bytes

REFERENCES_FILE = Path(__file__).resolve().parent.parent / "references.yaml"

#: protocol keys that describe where the judged images came from, not how they were scored
SOURCE_KEYS = ("source",)

HEADER = """\
# The numbers genzoo's results are read beside (genzoo/report/references.py documents the format).
# papers: published numbers with their citation. baselines: real-data baselines measured by
# `PYTHONPATH=. python benchmarks/real_baselines.py --update-references` (2-core shared CPU; see
# benchmarks/results/real_baselines.md); each is shown only beside results with the same protocol.
"""


@dataclass(frozen=True)
class PaperNumber:
    model: str
    data: str
    score: str
    value: float
    citation: str
    error: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Baseline:
    data: str
    metric: str
    score: str
    value: float
    protocol: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    error: float | None = None


@dataclass
class References:
    papers: list[PaperNumber] = field(default_factory=list)
    baselines: list[Baseline] = field(default_factory=list)

    def paper(self, model: str | None, data: str | None, score: str) -> PaperNumber | None:
        """The published number for ``score`` of ``model`` on ``data`` (None when there is none)."""
        for p in self.papers:
            if p.model == model and p.data == data and p.score == score:
                return p
        return None

    def baseline(
        self, data: str | None, metric: str, score: str, protocol: dict[str, Any]
    ) -> Baseline | None:
        """The stored real-data baseline measured under ``protocol`` (None when none matches)."""
        for b in self.baselines:
            if b.data == data and b.metric == metric and b.score == score and same_protocol(b.protocol, protocol):
                return b
        return None


def same_protocol(required: dict[str, Any], protocol: dict[str, Any]) -> bool:
    """Whether ``protocol`` has every setting of ``required`` with the same value (source keys ignored)."""
    return all(protocol.get(k) == v for k, v in required.items() if k not in SOURCE_KEYS)


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


def parse_references(doc: dict[str, Any], where: str = "references") -> References:
    """Build :class:`References` from the YAML document; a malformed entry is a ValueError naming it."""
    refs = References()
    for i, p in enumerate(doc.get("papers") or []):
        try:
            refs.papers.append(PaperNumber(str(p["model"]), str(p["data"]), str(p["score"]), float(p["value"]),
                                           str(p["citation"]), _float(p.get("error")), str(p.get("note", ""))))
        except (KeyError, TypeError, ValueError) as e:
            need = "model, data, score, value, citation"
            raise ValueError(f"{where}: papers[{i}] is malformed ({e}); needs {need}") from None
    for i, b in enumerate(doc.get("baselines") or []):
        try:
            refs.baselines.append(Baseline(str(b["data"]), str(b["metric"]), str(b["score"]), float(b["value"]),
                                           dict(b.get("protocol") or {}), str(b.get("source", "")),
                                           _float(b.get("error"))))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{where}: baselines[{i}] is malformed ({e}); needs data, metric, score, value") from None
    return refs


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> References:
    return parse_references(yaml.safe_load(Path(path).read_text()) or {}, path)


def load_references(path: str | os.PathLike[str] | None = None) -> References:
    """The references of ``path`` (default: the packaged ``genzoo/references.yaml``), read once per change."""
    p = Path(path) if path is not None else REFERENCES_FILE
    if not p.is_file():
        raise FileNotFoundError(f"{p}: references file not found")
    return _load(str(p), p.stat().st_mtime)


def save_references(refs: References, path: str | os.PathLike[str] | None = None) -> Path:
    """Write ``refs`` as YAML (the header comment, then ``papers`` and ``baselines``)."""
    p = Path(path) if path is not None else REFERENCES_FILE

    def clean(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if v not in (None, "")}

    doc = {
        "papers": [clean(vars(x).copy()) for x in refs.papers],
        "baselines": [clean(vars(x).copy()) for x in refs.baselines],
    }
    class _Plain(yaml.SafeDumper):  # no &anchors / *aliases: every entry reads on its own
        def ignore_aliases(self, data: Any) -> bool:
            return True

    text = HEADER + yaml.dump(doc, Dumper=_Plain, sort_keys=False, allow_unicode=True, width=110)
    atomic_write_bytes(p, text.encode("utf-8"))
    return p
