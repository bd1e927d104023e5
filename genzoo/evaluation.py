"""Evaluation: an :class:`EvalContext` that metrics draw from, the runner, and the likelihood evaluators.

Metrics are registered functions ``fn(ctx, **options) -> MetricResult`` (see :mod:`genzoo.registry` and
:class:`genzoo.core.MetricResult`). The context (:class:`genzoo.metrics.common.MetricContext`) hands out
what they need, each computed once: dataset splits, model samples (or images from another tool, or
held-out real data for a metric's real-data baseline) and features from a named extractor. Every result
carries its protocol (sample counts, splits, extractor, seed, ...).

:func:`check_protocol` refuses, before anything is computed, a protocol that cannot be met (more samples
asked than images given; a reference classifier not trained yet, with how long training takes), and
:func:`run_metric` marks what a reader must know: scores from fewer images than asked or than the
metric's default protocol are noted as small-sample scores.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genzoo.core import ExactLikelihood, FrameScores, LikelihoodBound, default_condition, has_likelihood
from genzoo.core.conditions import move, select
from genzoo.core.errors import MetricUnavailable, ProtocolError
from genzoo.core.results import MetricResult
from genzoo.data import ImageData, load_dataset, spaced_index
from genzoo.models.base import GenerativeModel
from genzoo.registry import METRICS, register_metric

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
    progress: bool = True  # progress bars on long passes (the likelihood and frame-score loops), on stderr
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
                raise ProtocolError(_too_few(n, len(self.provided_samples)))
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
        a fixed random subset of ``n`` (the same images as :func:`genzoo.metrics.common.reference_images`)."""
        from genzoo.metrics.common import reference_images, subset_index
        from genzoo.metrics.features import cached_features

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


def _nll_result(name: str, out: dict[str, Any], data: ImageData, protocol: dict[str, Any]) -> MetricResult:
    dims = data.info.dims
    se = out["nll_stderr"]
    return MetricResult(
        name,
        {"nll_nats": out["nll_nats"], "bits_per_dim": out["bits_per_dim"]},
        errors={"nll_nats": se, "bits_per_dim": se / (dims * LN2)},
        protocol={**protocol, "method": out["method"], "n": out["n"], "error": "standard error over images"},
        details={"nll_stderr": se},  # the error under its old flat name
    )


@register_metric("nll", "test-set negative log-likelihood in nats and bits/dim (exact, or IW bound with k)")
def nll_metric(
    ctx: EvalContext, importance_samples: int = 5000, split: str = "test", subset: int | None = None
) -> MetricResult:
    """``subset=n`` scores n evenly spaced images of the split (some splits are sorted by label)."""
    model = ctx.require_model()
    exact = isinstance(model, ExactLikelihood)
    k = 1 if exact else int(importance_samples)
    if not has_likelihood(model):
        raise MetricUnavailable(f"model {model.name!r} defines no likelihood; try parzen, fid or kid")
    batch = max(1, ctx.batch_size // max(1, min(k, 64)))
    full = ctx.dataset(split)
    data = full
    if subset:
        data = full.subset(spaced_index(len(full), int(subset)))
    out = likelihood_on(model, data, batch, k=k, seed=ctx.seed, progress=getattr(ctx, "progress", True))
    protocol: dict[str, Any] = {"split": split, "images": len(data), "of": len(full),
                                "importance_samples": None if exact else k,
                                "data": ctx.data_name, **ctx.data_options}
    if model.condition_keys():
        protocol["conditional_on"] = list(model.condition_keys())
    result = _nll_result("nll", out, data, protocol)
    if len(data) < len(full):
        result.notes.append(f"subset: {len(data)} of the {len(full)} {split} images; not the published protocol")
    return result


@register_metric("elbo", "test-set evidence lower bound (nats and bits/dim) for latent-variable models")
def elbo_metric(ctx: EvalContext, split: str = "test") -> MetricResult:
    model = ctx.require_model()
    if not isinstance(model, LikelihoodBound):
        raise MetricUnavailable(f"model {model.name!r} has no variational bound")
    data = ctx.dataset(split)
    out = likelihood_on(model, data, ctx.batch_size, k=1, seed=ctx.seed, bound_only=True)
    return _nll_result("elbo", out, data, {"split": split, "data": ctx.data_name, **ctx.data_options})


@torch.no_grad()
def frame_scores_on(model: Any, data: ImageData, batch_size: int, progress: bool = False) -> tuple[Tensor, Tensor]:
    """Every predicted frame's score and its floor over ``data`` for a :class:`FrameScores` model, nats
    ``(N, T)`` each, videos taken in order ``batch_size`` at a time with their own context frames."""
    from tqdm.auto import tqdm

    keys = model.condition_keys()
    scores, floors = [], []
    for start in tqdm(range(0, len(data), batch_size), desc="frame scores", disable=not progress, leave=False):
        batch = data.batch(torch.arange(start, min(start + batch_size, len(data))))
        cond = {k: move(batch[k], model.device) for k in keys} or None
        x = batch["x"].to(model.device)
        scores.append(model.frame_nll(x, cond).double().cpu())
        floors.append(model.frame_nll_floor(x).double().cpu())
    return torch.cat(scores), torch.cat(floors)


@register_metric("frame-nll", "nats per predicted video frame given the frames before it (Video Pixel Network)")
def frame_nll_metric(ctx: EvalContext, split: str = "test", subset: int | None = None,
                     batch_size: int = 8) -> MetricResult:
    """Mean score per predicted frame (Kalchbrenner et al. 2016, Sec. 5.1: nats per frame), its standard
    error over videos, and the mean floor the score cannot go below (the paper's 86.3 on Moving MNIST);
    ``subset=n`` scores n evenly spaced videos of the split."""
    model = ctx.require_model()
    if not isinstance(model, FrameScores):
        raise MetricUnavailable(f"model {model.name!r} does not score video frames; try nll or frame-fid")
    full = ctx.dataset(split)
    data = full if not subset else full.subset(spaced_index(len(full), int(subset)))
    scores, floors = frame_scores_on(model, data, int(batch_size), progress=getattr(ctx, "progress", True))
    per_video = scores.mean(1)
    se = float(per_video.std() / math.sqrt(len(per_video))) if len(per_video) > 1 else float("nan")
    result = MetricResult(
        "frame-nll",
        {"nats_per_frame": float(per_video.mean()), "floor_nats_per_frame": float(floors.mean())},
        errors={"nats_per_frame": se},
        protocol={"split": split, "videos": len(data), "of": len(full), "predicted_frames": int(scores.shape[1]),
                  "score": model.frame_score, "error": "standard error over videos", "data": ctx.data_name,
                  **ctx.data_options},
    )
    if len(data) < len(full):
        result.notes.append(f"subset: {len(data)} of the {len(full)} {split} videos; not the published protocol")
    return result


# ----- running metrics ---------------------------------------------------------------------------------
def _too_few(asked: int, given: int) -> str:
    return (
        f"{asked} samples requested but only {given} were given; lower the protocol explicitly with "
        f"--option n_samples={given} (Python: options={{'n_samples': {given}}}); the score is then marked as "
        "a small-sample score"
    )


def _default_option(fn: Any, name: str) -> Any:
    param = inspect.signature(fn).parameters.get(name)
    if param is None or param.default is inspect.Parameter.empty:
        return None
    return param.default


def _extractor_needed(fn: Any, options: Mapping[str, Any]) -> str | None:
    """The extractor name a metric will use with these options (None: it uses none). A metric declares
    features by an ``extractor`` parameter; one that needs them only for some options sets
    ``fn.extractor_needed = lambda options: bool``."""
    if "extractor" not in inspect.signature(fn).parameters:
        return None
    needed = getattr(fn, "extractor_needed", None)
    if needed is not None and not needed(dict(options)):
        return None
    name = options.get("extractor", _default_option(fn, "extractor"))
    return None if name is None else str(name)


def check_protocol(names: list[str], options: Mapping[str, Mapping[str, Any]], ctx: EvalContext) -> None:
    """Refuse, before any work, what cannot be computed as asked (see the module docstring)."""
    from genzoo.metrics.features import get_extractor, resolve_extractor

    for name in names:
        fn = METRICS.get(name)
        mine = options.get(name, {})
        asked = mine.get("n_samples", _default_option(fn, "n_samples"))
        if ctx.provided_samples is not None and not ctx.real_baseline and isinstance(asked, int):
            if asked > len(ctx.provided_samples):
                raise ProtocolError(f"{name}: " + _too_few(asked, len(ctx.provided_samples)))
        extractor = _extractor_needed(fn, mine)
        if extractor is not None:
            get_extractor(resolve_extractor(extractor, ctx.data_name), ctx.device)  # says how to create it


def run_metric(name: str, ctx: EvalContext, options: Mapping[str, Any] | None = None) -> MetricResult:
    """Run one registered metric: a :class:`MetricResult` (``unavailable`` when the metric is not defined
    for this model), with small-sample notes and the time it took in ``details["seconds"]``."""
    fn = METRICS.get(name)
    options = dict(options or {})
    t0 = time.perf_counter()
    try:
        out = fn(ctx, **options)
    except MetricUnavailable as e:
        out = MetricResult(name, {}, unavailable=str(e))
    result = out if isinstance(out, MetricResult) else MetricResult.from_dict({"metric": name, **dict(out)})
    result.metric = name
    used = result.protocol.get("n_samples")
    asked = options.get("n_samples", _default_option(fn, "n_samples"))
    default = _default_option(fn, "n_samples")
    if isinstance(used, int) and result.unavailable is None:
        if isinstance(asked, int) and used < asked:
            where = result.protocol.get("source", "the input")
            result.notes.append(f"scored on {used} images, fewer than the {asked} asked ({where} holds no more)")
        if isinstance(default, int) and used < default:
            result.notes.append(
                f"small sample: {used} images (default {default}): noisier, FID/KID biased upwards, not "
                "comparable with published numbers"
            )
    result.details["seconds"] = round(time.perf_counter() - t0, 3)
    return result
