"""Caption alignment: does a text-to-image sample show what its caption asks for?

GAN-INT-CLS (Reed et al. ICML 2016) and GAWWN (Reed et al. NIPS 2016) were judged by people, on birds and
flowers. On ``captioned-mnist`` every caption is generated from measured attributes of the scene, so the
request can be checked by machine. For the first ``n`` test scenes, the model's sample for the scene's
caption (the default condition grid: the test captions, boxes and keypoints in order) is scored on what
the caption names first (the first digit):

* ``digit_at_box``: the dataset's reference MNIST classifier (``classifier:mnist``, trained on MNIST's
  28x28 digits, never on canvases) on the crop of the *captioned* box (the real scene's first-digit box),
  framed as MNIST frames its digits (:func:`crop_to_mnist`); right when it names the caption's digit
  (chance 1/10). The headline.
* ``digit_at_ink``: the same on the crop of the sample's own ink box (pixels above ``ink_threshold``):
  is the digit drawn somewhere, even if not where asked?
* ``position``: the caption's position word (3 x 3 grid, :func:`genzoo.data.captioned.position_word`)
  of the sample's ink-box centre equals the caption's (chance 1/9 for a uniform guess);
* ``iou``: intersection over union of the sample's ink box and the captioned box;
* ``ink_in_box``: the share of the sample's ink inside the captioned box.

The ink measures assume one digit per canvas, so they are taken over the single-digit scenes only
(``n_single`` of them, in the protocol); ``digit_at_box`` is taken over all ``n``. Each score has its
``_real`` twin: the same measure on the real test canvases, the ceiling a perfect generator would reach
under this classifier and these crops. ``majority_position`` is the share of the commonest position word among
the scored captions (the score of always drawing there).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.core import MetricResult
from genzoo.core.errors import MetricUnavailable
from genzoo.data.captioned import position_word
from genzoo.metrics.common import MetricContext
from genzoo.registry import register_metric

#: a pixel above this (on [0, 1]) is ink when the ink box of a sample is measured
INK_THRESHOLD = 0.3
#: MNIST's framing: a digit fitted into a 20 x 20 box centred in 28 x 28
MNIST_SIDE, MNIST_BOX = 28, 20


def crop_to_mnist(images: Tensor, boxes: Tensor) -> Tensor:
    """Crop each ``(1, S, S)`` canvas at its box ``(x0, y0, x1, y1)`` (fractions of the side), pad the crop
    to a square with zeros (the content centred), resize it to 20 x 20 (bilinear) and centre it in a
    28 x 28 frame, as MNIST frames its digits. A box thinner than a pixel is widened to one pixel."""
    side = images.shape[-1]
    pad = (MNIST_SIDE - MNIST_BOX) // 2
    out = images.new_zeros(len(images), 1, MNIST_SIDE, MNIST_SIDE)
    for i, (image, box) in enumerate(zip(images, boxes.tolist())):
        x0, y0 = int(box[0] * side), int(box[1] * side)
        x1, y1 = max(round(box[2] * side), x0 + 1), max(round(box[3] * side), y0 + 1)
        crop = image[:1, y0:y1, x0:x1]
        h, w = crop.shape[-2:]
        square = crop.new_zeros(1, max(h, w), max(h, w))
        top, left = (square.shape[-2] - h) // 2, (square.shape[-1] - w) // 2
        square[:, top : top + h, left : left + w] = crop
        framed = F.interpolate(square[None], size=(MNIST_BOX, MNIST_BOX), mode="bilinear", align_corners=False)
        out[i, :, pad : pad + MNIST_BOX, pad : pad + MNIST_BOX] = framed[0]
    return out.clamp(0, 1)


def ink_boxes(images: Tensor, threshold: float = INK_THRESHOLD) -> Tensor:
    """The box ``(x0, y0, x1, y1)`` (fractions of the side) around each image's pixels above ``threshold``
    (any channel); the whole canvas for an image with no ink."""
    side_h, side_w = images.shape[-2:]
    ink = (images > threshold).any(dim=1)  # (N, H, W)
    rows, cols = ink.any(dim=2), ink.any(dim=1)
    out = torch.tensor([0.0, 0.0, 1.0, 1.0]).repeat(len(images), 1)
    for i in range(len(images)):
        ys, xs = torch.nonzero(rows[i]).flatten(), torch.nonzero(cols[i]).flatten()
        if len(ys):
            out[i] = torch.tensor([int(xs[0]) / side_w, int(ys[0]) / side_h,
                                   (int(xs[-1]) + 1) / side_w, (int(ys[-1]) + 1) / side_h])
    return out


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """Intersection over union of paired boxes ``(N, 4)`` given as ``(x0, y0, x1, y1)``."""
    width = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    height = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = width * height
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a + area_b - inter).clamp(min=1e-12)


def box_positions(boxes: Tensor) -> list[str]:
    """The caption position word of each box's centre."""
    return [position_word((x0 + x1) / 2, (y0 + y1) / 2) for x0, y0, x1, y1 in boxes.tolist()]


def ink_share_in_boxes(images: Tensor, boxes: Tensor) -> Tensor:
    """The share of each image's ink (pixel mass) that lies inside its box (rounded to whole pixels)."""
    side = images.shape[-1]
    inside = torch.zeros_like(images, dtype=torch.bool)
    for i, (x0, y0, x1, y1) in enumerate((boxes * side).round().long().tolist()):
        inside[i, :, y0:y1, x0:x1] = True
    mass = images.flatten(1).sum(1)
    return (images * inside).flatten(1).sum(1) / mass.clamp(min=1e-6)


def alignment_scores(
    images: Tensor, boxes: Tensor, labels: Tensor, positions: list[str], single: Tensor,
    classify: Callable[[Tensor], Tensor], ink_threshold: float = INK_THRESHOLD,
) -> dict[str, Tensor]:
    """Per-image scores of ``images`` against what their captions ask (module docstring).

    ``boxes`` ``(N, 4)`` and ``labels`` ``(N,)`` are the captioned (first) digit's box and class,
    ``positions`` its position words, ``single`` a boolean mask of the single-digit scenes, ``classify``
    maps 28 x 28 MNIST-framed crops to predicted classes. Returns ``digit_at_box`` over all images and
    ``digit_at_ink``, ``position``, ``iou``, ``ink_in_box`` over the single-digit ones, as float tensors.
    """
    at_box = (classify(crop_to_mnist(images, boxes)).cpu() == labels).double()
    one = images[single]
    own = ink_boxes(one, ink_threshold)
    at_ink = (classify(crop_to_mnist(one, own)).cpu() == labels[single]).double()
    wanted = [p for p, s in zip(positions, single.tolist()) if s]
    drawn = box_positions(own)
    return {
        "digit_at_box": at_box,
        "digit_at_ink": at_ink,
        "position": torch.tensor([float(d == w) for d, w in zip(drawn, wanted)], dtype=torch.float64),
        "iou": box_iou(own, boxes[single]).double(),
        "ink_in_box": ink_share_in_boxes(one, boxes[single]).double(),
    }


@register_metric("caption-alignment",
                 "text-to-image: the captioned digit in the captioned box, at the captioned position (IoU)")
def caption_alignment_metric(
    ctx: MetricContext, n_samples: int = 1000, extractor: str = "classifier:mnist",
    ink_threshold: float = INK_THRESHOLD,
) -> MetricResult:
    """Scores of the samples for the first ``n_samples`` test captions (module docstring), beside the
    same scores of the real test canvases. ``extractor`` names the classifier of the crops."""
    test = ctx.dataset("test")
    scenes = getattr(test, "scenes", None)
    if not scenes or "box" not in test.extra:
        raise MetricUnavailable(f"dataset {ctx.data_name!r} has no captioned scenes (use captioned-mnist)")
    model = getattr(ctx, "model", None)
    if model is not None and "text" not in model.condition_keys():
        raise MetricUnavailable(f"model {model.name!r} takes no caption; caption alignment needs a text model")
    if int(test.info.shape[0]) != 1:
        raise MetricUnavailable(f"caption alignment reads grey canvases; {ctx.data_name!r} has shape {test.info.shape}")
    n = min(int(n_samples), len(test))
    if n < 1:
        raise MetricUnavailable(f"n_samples must be at least 1, got {n_samples}")
    images = ctx.samples(n).float()
    real = test.subset(slice(0, n)).tensor(int(ctx.seed)).float()
    boxes = test.extra["box"][:n, 0].float()
    labels = test.labels[:n]
    positions = [scene[0].position for scene in scenes[:n]]
    single = torch.tensor([len(scene) == 1 for scene in scenes[:n]])

    def classify(x: Tensor) -> Tensor:
        return ctx.class_probs(x, extractor).argmax(1)

    fake = alignment_scores(images, boxes, labels, positions, single, classify, ink_threshold)
    ceiling = alignment_scores(real, boxes, labels, positions, single, classify, ink_threshold)
    scores: dict[str, float] = {}
    errors: dict[str, float] = {}
    for key, values in fake.items():
        if len(values):
            scores[key] = float(values.mean())
            errors[key] = float(values.std() / len(values) ** 0.5) if len(values) > 1 else 0.0
            scores[f"{key}_real"] = float(ceiling[key].mean())
    counts = {p: positions.count(p) for p in set(positions)}
    scores["majority_position"] = max(counts.values()) / n
    notes = []
    if not bool(single.any()):
        notes.append("no single-digit scenes among those scored: only digit_at_box is defined")
    return MetricResult(
        "caption-alignment", scores, headline="digit_at_box", errors=errors, notes=notes,
        protocol={"n_samples": n, "n_single": int(single.sum()), "split": "test (first n captions, in order)",
                  "classifier": extractor,
                  "ink_threshold": float(ink_threshold), "data": ctx.data_name, "seed": int(ctx.seed)},
    )
