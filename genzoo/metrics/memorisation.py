"""Memorisation check: are samples copies of training images?

The nearest-neighbour test used informally since Goodfellow et al. 2014 (Fig. 2, rightmost column:
"the nearest training example of the neighbouring sample") and argued for by Theis et al. 2016
(Sec. 3.3: nearest neighbours in pixel space detect only near-exact copies, so a feature-space
distance is reported as well). For every sample we find its ``k`` nearest training images by pixel
L2 distance and, when features are given, by feature L2 distance. The distribution of the samples'
nearest-neighbour distances is compared with that of a held-out real set (the test split): a model
that generalises produces samples no closer to the training set than unseen real images are.

Flagging rule (:func:`flag_copies`): a sample is flagged as a likely copy when its nearest training
distance is below ``factor * quantile_q(test nearest-training distances)`` (defaults ``q = 0.01``,
``factor = 0.5``): closer to a training image than half the distance at which only 1% of genuinely
unseen images sit. Exact copies (distance 0) and lightly perturbed ones are flagged; typical fresh
samples are not. The threshold is a heuristic; the distances and indices are returned so a report can
show each flagged sample beside its neighbours.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.stats
import torch
from torch import Tensor

from genzoo.core.results import MetricResult
from genzoo.metrics.common import (
    DEFAULT_EXTRACTOR,
    MetricContext,
    as_matrix,
    evaluation_images,
    reference_images,
    resolve_extractor_name,
)
from genzoo.registry import register_metric

__all__ = ["flag_copies", "memorisation_check", "nearest_neighbours"]


def nearest_neighbours(
    queries: Any, reference: Any, k: int = 1, chunk: int = 1024, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """Euclidean distances ``(N, k)`` (ascending) and indices ``(N, k)`` of each query's ``k`` nearest
    reference rows. Inputs are flattened; computed in chunks of queries and of reference rows."""
    q, r = as_matrix(queries, dtype), as_matrix(reference, dtype)
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"dimension mismatch: {q.shape[1]} vs {r.shape[1]}")
    if not 1 <= k <= len(r):
        raise ValueError(f"k must be in [1, {len(r)}], got {k}")
    r_sq = (r * r).sum(1)
    dists = torch.empty(len(q), k, dtype=dtype)
    index = torch.empty(len(q), k, dtype=torch.int64)
    for a in range(0, len(q), chunk):
        qc = q[a : a + chunk]
        q_sq = (qc * qc).sum(1, keepdim=True)
        best_d = torch.full((len(qc), 0), 0.0, dtype=dtype)
        best_i = torch.empty((len(qc), 0), dtype=torch.int64)
        for b in range(0, len(r), 4 * chunk):
            rc = r[b : b + 4 * chunk]
            d2 = (q_sq + r_sq[None, b : b + len(rc)] - 2.0 * (qc @ rc.T)).clamp_min_(0.0)
            kk = min(k, len(rc))
            vals, idx = d2.topk(kk, dim=1, largest=False)
            cat_d, cat_i = torch.cat([best_d, vals], 1), torch.cat([best_i, idx + b], 1)
            order = cat_d.topk(min(k, cat_d.shape[1]), dim=1, largest=False).indices
            best_d, best_i = cat_d.gather(1, order), cat_i.gather(1, order)
        dists[a : a + chunk], index[a : a + chunk] = best_d.sqrt(), best_i
    return dists, index


def flag_copies(
    sample_nn_dist: Any, test_nn_dist: Any, quantile: float = 0.01, factor: float = 0.5
) -> tuple[np.ndarray, float]:
    """Boolean flags ``(N,)`` for samples with ``dist < factor * quantile_q(test_nn_dist)``, and that
    threshold. ``*_nn_dist`` are distances to the nearest training image, ``(N,)`` / ``(T,)``."""
    s = np.asarray(sample_nn_dist.cpu() if isinstance(sample_nn_dist, Tensor) else sample_nn_dist, float)
    t = np.asarray(test_nn_dist.cpu() if isinstance(test_nn_dist, Tensor) else test_nn_dist, float)
    threshold = float(factor * np.quantile(t.reshape(-1), quantile))
    return s.reshape(-1) < threshold, threshold


def memorisation_check(
    samples: Any,
    train: Any,
    test: Any,
    k: int = 3,
    sample_features: Any = None,
    train_features: Any = None,
    test_features: Any = None,
    quantile: float = 0.01,
    factor: float = 0.5,
) -> dict[str, Any]:
    """Nearest training images of every sample (pixels, and features when given) vs the test set's.

    Returns, per space ``"pixel"`` (and ``"feature"``), a dict with ``sample_dist (N, k)``,
    ``sample_index (N, k)`` (training indices), ``test_dist (T,)`` (each test image's nearest training
    distance), ``flags (N,)`` and ``threshold``; ``"flags"`` is the union over the spaces.
    """
    spaces = {"pixel": (samples, train, test)}
    given = [f is not None for f in (sample_features, train_features, test_features)]
    if any(given):
        if not all(given):
            raise ValueError("give sample_features, train_features and test_features together")
        spaces["feature"] = (sample_features, train_features, test_features)
    out: dict[str, Any] = {}
    union = None
    for name, (s, tr, te) in spaces.items():
        s_d, s_i = nearest_neighbours(s, tr, k=k)
        t_d, _ = nearest_neighbours(te, tr, k=1)
        flags, threshold = flag_copies(s_d[:, 0], t_d[:, 0], quantile, factor)
        out[name] = {
            "sample_dist": s_d.numpy(),
            "sample_index": s_i.numpy(),
            "test_dist": t_d[:, 0].numpy(),
            "flags": flags,
            "threshold": threshold,
        }
        union = flags if union is None else union | flags
    out["flags"] = union
    return out


def _summary(prefix: str, res: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """(scores, details) of one space: the flagged fraction and KS statistic score; the distances explain."""
    s, t = res["sample_dist"][:, 0], res["test_dist"]
    scores = {
        f"{prefix}_fraction_flagged": float(res["flags"].mean()),
        f"{prefix}_ks_statistic": float(scipy.stats.ks_2samp(s, t).statistic),
    }
    details = {
        f"{prefix}_n_flagged": int(res["flags"].sum()),
        f"{prefix}_threshold": res["threshold"],
        f"{prefix}_sample_nn_median": float(np.median(s)),
        f"{prefix}_sample_nn_p01": float(np.quantile(s, 0.01)),
        f"{prefix}_test_nn_median": float(np.median(t)),
        f"{prefix}_test_nn_p01": float(np.quantile(t, 0.01)),
    }
    return scores, details


@register_metric("memorisation", "Nearest training images of samples vs the test set's (copy detection)")
def memorisation_metric(
    ctx: MetricContext,
    n_samples: int = 1000,
    train_split: str = "train",
    test_split: str = "test",
    n_test: int | None = 1000,
    baseline_split: str = "valid",
    extractor: str | None = DEFAULT_EXTRACTOR,
    k: int = 3,
    quantile: float = 0.01,
    factor: float = 0.5,
    show: int = 8,
) -> MetricResult:
    """Copy detection by nearest training neighbours, in pixels and ``extractor`` features.

    ``extractor=None``: pixels only. The headline is ``n_flagged`` (samples flagged as likely copies in
    any space).

    ``details["closest"]`` lists the ``show`` samples nearest to the training set as
    ``sample_index:train_index:pixel_distance`` (``;``-separated) for the report picture.
    """
    images, source = evaluation_images(ctx, n_samples, baseline_split)
    train = reference_images(ctx, train_split)
    test = reference_images(ctx, test_split, n_test)
    feats: dict[str, Any] = {}
    if extractor is not None:
        extractor = resolve_extractor_name(ctx, extractor, images)
        feats = {
            "sample_features": ctx.features(images, extractor),
            "train_features": ctx.features(train, extractor),
            "test_features": ctx.features(test, extractor),
        }
    res = memorisation_check(images, train, test, k=k, quantile=quantile, factor=factor, **feats)
    scores: dict[str, float] = {"n_flagged": int(res["flags"].sum())}
    details: dict[str, Any] = {}
    for space in ("pixel", "feature"):
        if space in res:
            sc, de = _summary(space, res[space])
            scores.update(sc)
            details.update(de)
    pix = res["pixel"]
    order = np.argsort(pix["sample_dist"][:, 0])[:show]
    details["closest"] = ";".join(
        f"{i}:{pix['sample_index'][i, 0]}:{pix['sample_dist'][i, 0]:.4g}" for i in order
    )
    run_dir = getattr(ctx, "run_dir", None)
    if run_dir is not None and len(order):
        details["picture"] = str(write_neighbour_picture(images, train, pix["sample_index"], order, run_dir))
    return MetricResult(
        "memorisation",
        scores,
        protocol={
            "data": getattr(ctx, "data_name", None),
            "n_samples": len(images),
            "source": source,
            "train_split": train_split,
            "n_train": len(train),
            "test_split": test_split,
            "n_test": len(test),
            "extractor": extractor or "none",
            "k": k,
            "rule": f"nn_dist < {factor} * quantile_{quantile}(test nn_dist)",
            "seed": int(ctx.seed),
        },
        details=details,
    )


def write_neighbour_picture(
    images: Any, train: Any, neighbours: Any, rows: Any, run_dir: Any, name: str = "nearest_neighbours.png"
) -> Any:
    """One row per chosen sample: the sample, then its nearest training images (pixel L2), left to right."""
    from pathlib import Path

    import torch

    from genzoo.images import save_grid

    tiles = []
    for i in rows:
        tiles.append(torch.as_tensor(images[i]))
        tiles.extend(torch.as_tensor(train[j]) for j in neighbours[i])
    path = Path(run_dir) / name
    save_grid(torch.stack(tiles).float(), path, nrow=1 + neighbours.shape[1])
    return path
