"""Metrics for generated videos ``(N, T, C, H, W)`` in [0, 1].

* :func:`frame_fid` / ``frame-fid``: FID (Heusel et al. 2017) between the *frames* of generated and real
  videos, with genzoo's MNIST reference classifier features (:mod:`genzoo.metrics.classifier`): whole
  frames, converted to grey (mean of the channels) and area-resized to the classifier's 28x28 input. A
  Moving MNIST frame holds two digits, so the features are not those of one centred digit; the score
  compares generated with real frames under the same mapping, and the real-vs-real value (``frame_fid``
  of two real splits) is its floor.
* :func:`temporal_change` / ``temporal-change``: the mean absolute change between consecutive frames
  ``mean |x_{t+1} - x_t|`` per pixel, for samples and for real videos: a model whose videos flicker
  scores above the real value, one whose videos freeze below it.
* :func:`mask_iou`: intersection over union of a predicted foreground mask and a true one (e.g. a
  VGAN mask ``m > 0.5`` against Moving MNIST's digit masks, :meth:`genzoo.data.moving_mnist.MovingMNIST.masks`),
  per video over all its frames, averaged over videos.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.core import MetricResult
from genzoo.core.errors import MetricUnavailable, UsageError
from genzoo.metrics.common import MetricContext
from genzoo.registry import register_metric

FRAME_EXTRACTOR = "classifier:mnist"


def _videos(x: Tensor) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() != 5:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise MetricUnavailable(f"a video metric needs videos (N, T, C, H, W), got {shape}")
    return x.float()


def frames_for_classifier(videos: Tensor, size: int = 28) -> Tensor:
    """Every frame as a grey ``(N*T, 1, size, size)`` image (channel mean, area resizing)."""
    v = _videos(videos)
    frames = v.flatten(0, 1).mean(1, keepdim=True)
    if frames.shape[-2:] != (size, size):
        frames = F.interpolate(frames, size=(size, size), mode="area")
    return frames.clamp(0, 1)


def temporal_change(videos: Tensor) -> float:
    """``mean |x_{t+1} - x_t|`` over videos, frame pairs and pixels."""
    v = _videos(videos)
    if v.shape[1] < 2:
        raise MetricUnavailable("temporal change needs at least two frames")
    return float((v[:, 1:] - v[:, :-1]).abs().mean())


def mask_iou(pred: Tensor, true: Tensor) -> float:
    """Mean over videos of ``|P & T| / |P | T|`` over all of a video's frames (1 when both are empty)."""
    if pred.shape != true.shape:
        raise UsageError(f"mask shapes differ: {tuple(pred.shape)} vs {tuple(true.shape)}")
    p, t = pred.bool().flatten(1), true.bool().flatten(1)
    inter = (p & t).sum(1).double()
    union = (p | t).sum(1).double()
    iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
    return float(iou.mean())


def frame_fid(features_fake: Tensor, features_real: Tensor) -> float:
    from genzoo.metrics.fid import fid_from_features

    return fid_from_features(features_real, features_fake)


def _real_videos(ctx: MetricContext, split: str, n: int) -> Tensor:
    data = ctx.dataset(split)
    return data.subset(slice(0, min(n, len(data)))).tensor(ctx.seed)


@register_metric("frame-fid", "FID of video frames (whole frames -> 28x28 grey, MNIST reference classifier)")
def frame_fid_metric(ctx: MetricContext, n_samples: int = 500, reference_split: str = "test",
                     extractor: str = FRAME_EXTRACTOR) -> MetricResult:
    """FID between the frames of ``n_samples`` sampled videos and of as many real ``reference_split`` videos."""
    fake = _videos(ctx.samples(n_samples))
    real = _real_videos(ctx, reference_split, n_samples)
    f_fake = ctx.features(frames_for_classifier(fake), extractor)
    f_real = ctx.features(frames_for_classifier(real), extractor)
    return MetricResult(
        "frame-fid", {"frame_fid": frame_fid(f_fake, f_real)},
        protocol={"n_samples": len(fake), "frames": len(f_fake), "reference_split": reference_split,
                  "reference_videos": len(real), "extractor": extractor,
                  "frames_as": "whole frames, channel mean, area-resized to 28x28", "data": ctx.data_name},
    )


@register_metric("temporal-change", "mean |x_{t+1} - x_t| of sampled videos beside the real videos'")
def temporal_change_metric(ctx: MetricContext, n_samples: int = 500, reference_split: str = "test") -> MetricResult:
    """Mean absolute frame-to-frame change of sampled videos, beside the same for real videos."""
    fake = _videos(ctx.samples(n_samples))
    real = _real_videos(ctx, reference_split, n_samples)
    return MetricResult(
        "temporal-change", {"temporal_change": temporal_change(fake), "real_temporal_change": temporal_change(real)},
        protocol={"n_samples": len(fake), "reference_split": reference_split, "data": ctx.data_name},
    )
