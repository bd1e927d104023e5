"""Evaluation: an :class:`EvalContext` that metrics draw from, and the likelihood evaluators.

Metrics are registered functions ``fn(ctx, **options) -> dict`` (see :mod:`genzoo.registry`). The
context hands out what they need, each computed once: dataset splits, model samples (or images
from another tool, or held-out real data for a metric's real-data baseline) and features from a
named extractor. Every returned dict carries its protocol (sample counts, splits, extractor, ...).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genzoo.core import ExactLikelihood, LikelihoodBound, default_condition, has_likelihood
from genzoo.core.conditions import move, select
from genzoo.core.errors import MetricUnavailable
from genzoo.data import ImageData, load_dataset
from genzoo.models.base import GenerativeModel
from genzoo.registry import register_metric

LN2 = math.log(2.0)




@dataclass
class EvalContext:
    """What a metric may ask for. Built by :func:`genzoo.api.evaluate`."""

    model: GenerativeModel | None
    data_name: str
    data_options: dict[str, Any] = field(default_factory=dict)
    data_dir: str | os.PathLike[str] | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    batch_size: int = 256
    provided_samples: Tensor | None = None  # images from elsewhere, float [0, 1] (N, C, H, W)
    real_baseline: bool = False  # use held-out real data in place of samples
    run_dir: Path | None = None
    _datasets: dict[str, ImageData] = field(default_factory=dict, repr=False)
    _samples: Tensor | None = field(default=None, repr=False)

    def dataset(self, split: str) -> ImageData:
        if split not in self._datasets:
            self._datasets[split] = load_dataset(self.data_name, split, self.data_dir, **self.data_options)
        return self._datasets[split]

    def samples(self, n: int) -> Tensor:
        """``n`` images to judge: held-out test images, given images, or the model's samples."""
        if self.real_baseline:
            test = self.dataset("test")
            if n > len(test):
                raise MetricUnavailable(f"real baseline wants {n} images but the test split has {len(test)}")
            return test.subset(slice(0, n)).tensor(self.seed)
        if self.provided_samples is not None:
            if n > len(self.provided_samples):
                raise MetricUnavailable(f"{n} samples requested but only {len(self.provided_samples)} were given")
            return self.provided_samples[:n]
        if self.model is None:
            raise MetricUnavailable("no model and no images to evaluate")
        if self._samples is None or len(self._samples) < n:
            self._samples = draw_samples(self.model, n, self.batch_size, self.seed, self.condition_source())
        return self._samples[:n]

    def condition_source(self) -> ImageData | None:
        """Where a conditional model's default conditions come from: the test split (None if unconditional)."""
        if self.model is None or not self.model.condition_keys():
            return None
        return self.dataset("test")

    def features(self, images: Tensor, extractor: str) -> Tensor:
        from genzoo.metrics.features import extract_features

        return extract_features(images, extractor, batch_size=self.batch_size, device=self.device,
                                dataset=self.data_name)

    def class_probs(self, images: Tensor, extractor: str) -> Tensor:
        from genzoo.metrics.features import class_probabilities

        return class_probabilities(images, extractor, batch_size=self.batch_size, device=self.device,
                                   dataset=self.data_name)

    def reference_features(self, split: str, extractor: str, n: int | None = None) -> Tensor:
        """Features of a real split, computed once per (dataset, split, extractor) and cached on disk;
        a fixed random subset of ``n`` (the same images as :func:`genzoo.metrics.fid.reference_images`)."""
        from genzoo.metrics.features import cached_features
        from genzoo.metrics.fid import reference_images, subset_index

        if extractor == "pixels":  # nothing to save by caching raw pixels
            return self.features(reference_images(self, split, n), extractor)
        feats = cached_features(self.data_name, split, extractor, self.data_dir, options=self.data_options,
                                batch_size=self.batch_size, device=self.device, seed=self.seed)
        idx = subset_index(len(feats), n, self.seed)
        return feats if idx is None else feats[idx]

    def require_model(self) -> GenerativeModel:
        if self.model is None:
            raise MetricUnavailable("this metric needs a model (a run directory), not just images")
        return self.model


@torch.no_grad()
def draw_samples(
    model: GenerativeModel, n: int, batch_size: int, seed: int, data: ImageData | None = None,
    condition: Mapping[str, Any] | None = None,
) -> Tensor:
    """``n`` samples in batches, all randomness from one generator seeded with ``seed``.

    A conditional model is given ``condition`` (values for all ``n``) or, by default, each condition
    spec's default grid (:func:`genzoo.core.default_condition`; labels cycle through the classes, other
    kinds take the values of ``data``, e.g. the test split's captions or source images, in order).
    """
    g = torch.Generator(device=model.device).manual_seed(seed)
    specs = model.condition_specs()
    if condition is None:
        condition = default_condition(specs, n, data.condition_values() if data is not None else None)
    out = []
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        part = None if condition is None else {k: select(v, slice(start, start + m)) for k, v in condition.items()}
        out.append(model.sample(m, condition=part, generator=g).float().cpu())
    return torch.cat(out)


def likelihood_method(model: GenerativeModel, k: int) -> str:
    if isinstance(model, ExactLikelihood):
        return "exact"
    return "elbo" if k == 1 else f"importance-weighted bound, k={k}"


@torch.no_grad()
def per_image_log_likelihood(
    model: GenerativeModel, x: Tensor, k: int = 1, condition: Mapping[str, Any] | None = None,
    bound_only: bool = False,
) -> tuple[Tensor, str]:
    """Log-likelihood (nats) of each image: exact when the model has it, else the k-sample bound; a
    conditional model's ``log p(x | condition)``."""
    if isinstance(model, ExactLikelihood) and not bound_only:
        return model.log_prob(x, condition), "exact"
    if isinstance(model, LikelihoodBound):
        return model.log_prob_bound(x, k, condition), likelihood_method(model, k)
    raise MetricUnavailable(f"model {model.name!r} defines no likelihood (it is an implicit model)")


@torch.no_grad()
def likelihood_on(
    model: GenerativeModel, data: ImageData, batch_size: int, k: int = 1, seed: int = 0, progress: bool = False,
    bound_only: bool = False,
) -> dict[str, Any]:
    """Mean negative log-likelihood (nats per image), its standard error, and bits/dim.

    A dynamically binarized split is binarized once with ``seed`` (the usual protocol). Returns {}
    for models without a likelihood. bits/dim = NLL / (D ln 2), D = number of sub-pixels, valid
    because the likelihood is of the discrete data (2 or ``levels`` values per dimension). A
    conditional model is scored given each image's own conditions from ``data``.
    """
    if not has_likelihood(model):
        return {}
    x_all = data.tensor(seed)
    keys = model.condition_keys()
    cond_all = {k_: v for k_, v in data.condition_values().items() if k_ in keys}
    values = []
    method = likelihood_method(model, k)
    from tqdm.auto import tqdm

    chunks = range(0, len(x_all), batch_size)
    for start in tqdm(chunks, desc="log-likelihood", disable=not progress, leave=False):
        x = x_all[start : start + batch_size].to(model.device)
        cond = {k_: move(select(v, slice(start, start + batch_size)), model.device) for k_, v in cond_all.items()}
        ll, method = per_image_log_likelihood(model, x, k, cond or None, bound_only)
        values.append(ll.double().cpu())
    nll = -torch.cat(values)
    dims = data.info.dims
    mean = float(nll.mean())
    stderr = float(nll.std() / math.sqrt(len(nll))) if len(nll) > 1 else float("nan")
    return {
        "nll_nats": mean,
        "nll_stderr": stderr,
        "bits_per_dim": mean / (dims * LN2),
        "method": method,
        "n": len(nll),
    }


@register_metric("nll", "test-set negative log-likelihood in nats and bits/dim (exact, or IW bound with k)")
def nll_metric(
    ctx: EvalContext, importance_samples: int = 5000, split: str = "test", subset: int | None = None
) -> dict[str, Any]:
    """``subset=n`` scores n evenly spaced images of the split (some splits are sorted by label)."""
    model = ctx.require_model()
    exact = isinstance(model, ExactLikelihood)
    k = 1 if exact else int(importance_samples)
    if not has_likelihood(model):
        raise MetricUnavailable(f"model {model.name!r} defines no likelihood; try parzen, fid or kid")
    batch = max(1, ctx.batch_size // max(1, min(k, 64)))
    data = ctx.dataset(split)
    if subset:
        data = data.subset(torch.linspace(0, len(data) - 1, int(subset)).round().long())
    out = likelihood_on(model, data, batch, k=k, seed=ctx.seed, progress=True)
    out["protocol"] = {"split": split, "images": len(data), "of": len(ctx.dataset(split)),
                       "importance_samples": None if exact else k,
                       "data": ctx.data_name, **ctx.data_options}
    if model.condition_keys():
        out["protocol"]["conditional_on"] = list(model.condition_keys())
    return out


@register_metric("elbo", "test-set evidence lower bound (nats and bits/dim) for latent-variable models")
def elbo_metric(ctx: EvalContext, split: str = "test") -> dict[str, Any]:
    model = ctx.require_model()
    if not isinstance(model, LikelihoodBound):
        raise MetricUnavailable(f"model {model.name!r} has no variational bound")
    out = likelihood_on(model, ctx.dataset(split), ctx.batch_size, k=1, seed=ctx.seed, bound_only=True)
    out["protocol"] = {"split": split, "data": ctx.data_name, **ctx.data_options}
    return out
