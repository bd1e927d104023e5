"""What the sample-based metrics share: the context they are given, the images and features they score,
and the collapse check.

A registered evaluator is ``fn(ctx: MetricContext, **options) -> MetricResult``. :class:`MetricContext` is
the typed interface (``genzoo.evaluation.EvalContext`` implements it; tests may pass any object with these
members): dataset splits, the images to judge, and features under a named extractor.

Conventions shared by every evaluator here:

- the images judged are ``ctx.samples(n)``, or with ``ctx.real_baseline`` up to ``n`` real images of a
  split the metric does not use as its reference (:func:`evaluation_images`);
- reference subsets are a fixed random subset drawn with the context's seed (:func:`subset_index`), so
  the same seed scores the same images;
- the protocol records the sample counts, the splits, the resolved extractor and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from genzoo.data import ImageData

__all__ = [
    "COLLAPSE_HIGH",
    "COLLAPSE_LOW",
    "DEFAULT_EXTRACTOR",
    "FeaturePair",
    "MetricContext",
    "as_matrix",
    "collapse_notes",
    "evaluation_images",
    "feature_pair",
    "feature_spread",
    "reference_images",
    "resolve_extractor_name",
    "spread_ratio",
    "subset_index",
    "to_numpy",
]

#: extractor name passed to ``ctx.features`` when the caller names none (see genzoo/metrics/features.py)
DEFAULT_EXTRACTOR = "auto"

#: the collapse check flags samples whose feature spread is below / above these multiples of the data's
COLLAPSE_LOW = 0.5
COLLAPSE_HIGH = 2.0


@runtime_checkable
class MetricContext(Protocol):
    """What an evaluator may ask for (``genzoo.evaluation.EvalContext`` is the implementation)."""

    data_name: str
    seed: int
    batch_size: int
    real_baseline: bool
    run_dir: Path | None

    def dataset(self, split: str) -> ImageData: ...

    def samples(self, n: int) -> Tensor: ...

    def features(self, images: Tensor, extractor: str) -> Tensor: ...

    def class_probs(self, images: Tensor, extractor: str) -> Tensor: ...

    def reference_features(self, split: str, extractor: str, n: int | None = None) -> Tensor: ...


# ----- arrays --------------------------------------------------------------------------------------
def to_numpy(x: Any, dtype: Any = np.float64) -> np.ndarray:
    """Tensor / array-like -> NumPy array of ``dtype`` (on the CPU, detached)."""
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def as_matrix(x: Any, dtype: torch.dtype = torch.float64) -> Tensor:
    """Tensor / array-like -> a CPU tensor ``(N, D)`` of ``dtype``, every row flattened."""
    t = x.detach() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    t = t.to(device="cpu", dtype=dtype)
    return t.reshape(len(t), -1)


def subset_index(total: int, n: int | None, seed: int) -> Tensor | None:
    """Sorted indices of a fixed random subset of ``n`` of ``total`` items (``None``: take all)."""
    if n is None or n >= total:
        return None
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=g)[:n].sort().values


# ----- images and features --------------------------------------------------------------------------
def reference_images(ctx: MetricContext, split: str, n: int | None = None) -> Tensor:
    """Real images of ``split`` as floats in [0, 1]; a fixed random subset of ``n`` when given."""
    x = ctx.dataset(split).tensor(seed=int(ctx.seed))
    idx = subset_index(len(x), n, int(ctx.seed))
    return x if idx is None else x[idx]


def evaluation_images(ctx: MetricContext, n: int, baseline_split: str) -> tuple[Tensor, str]:
    """The images a sample-based metric scores, and where they came from.

    Normally ``ctx.samples(n)`` (source ``"samples"``). With ``ctx.real_baseline`` the samples are
    replaced by up to ``n`` real images of ``baseline_split`` (a split the metric does not use as its
    reference), giving the metric's real-data baseline (source ``"real:<split>"``); when the split is
    smaller the protocol records the count actually used and the evaluator notes it.
    """
    if ctx.real_baseline:
        return reference_images(ctx, baseline_split, n), f"real:{baseline_split}"
    return ctx.samples(n), "samples"


def resolve_extractor_name(ctx: MetricContext, extractor: str, images: Tensor) -> str:
    """The concrete extractor behind ``"auto"`` for this dataset / image shape (recorded in results)."""
    from genzoo.metrics.features import resolve_extractor

    return resolve_extractor(extractor, getattr(ctx, "data_name", None), tuple(images.shape[1:]))


@dataclass
class FeaturePair:
    """Features of the judged images and of the reference split, with the protocol that made them."""

    generated: Tensor
    reference: Tensor
    images: Tensor
    protocol: dict[str, Any]


def feature_pair(
    ctx: MetricContext,
    n_samples: int,
    reference_split: str,
    n_reference: int | None,
    baseline_split: str,
    extractor: str,
) -> FeaturePair:
    """The feature plumbing of FID, KID, precision/recall and density/coverage: judged images -> features
    under the resolved extractor, and the (cached) features of a fixed subset of ``reference_split``."""
    images, source = evaluation_images(ctx, n_samples, baseline_split)
    name = resolve_extractor_name(ctx, extractor, images)
    f_gen = ctx.features(images, name)
    f_ref = ctx.reference_features(reference_split, name, n_reference)
    protocol = {
        "data": getattr(ctx, "data_name", None),
        "n_samples": len(images),
        "source": source,
        "reference_split": reference_split,
        "n_reference": len(f_ref),
        "extractor": name,
        "feature_dim": int(f_gen.shape[1]),
        "seed": int(ctx.seed),
    }
    return FeaturePair(f_gen, f_ref, images, protocol)


# ----- collapse check -------------------------------------------------------------------------------
def feature_spread(features: Any) -> float:
    """Root mean squared distance of the rows of ``features (N, D)`` to their mean: ``sqrt(tr Cov)``
    (``ddof=0``), the scale of a feature cloud."""
    f = as_matrix(features)
    if len(f) < 2:
        raise ValueError(f"need at least 2 feature vectors, got {len(f)}")
    return float((f - f.mean(0)).pow(2).sum(1).mean().sqrt())


def spread_ratio(real: Any, fake: Any) -> float:
    """``feature_spread(fake) / feature_spread(real)``: about 1 when samples vary as much as the data,
    near 0 when they collapse onto a few points (mode collapse, or noise that the extractor maps to one
    place)."""
    r = feature_spread(real)
    return feature_spread(fake) / r if r > 0 else float("inf")


def collapse_notes(ratio: float, low: float = COLLAPSE_LOW, high: float = COLLAPSE_HIGH) -> list[str]:
    """The report's warning when the samples' feature spread is far from the data's (see the thresholds)."""
    if ratio < low:
        return [f"collapse check: the samples' features spread {ratio:.2f}x as much as the real data's "
                f"(< {low}): mode collapse, or images the extractor cannot tell apart; trust no other score"]
    if ratio > high:
        return [f"collapse check: the samples' features spread {ratio:.2f}x as much as the real data's "
                f"(> {high}): samples far off the data (e.g. noise)"]
    return []
