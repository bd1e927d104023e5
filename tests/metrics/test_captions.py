"""The caption-alignment metric: its geometry checked by hand on drawn blocks, its wiring (which boxes,
labels and captions each sample is scored against) on real captioned-mnist scenes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genzoo.core.errors import MetricUnavailable
from genzoo.evaluation import EvalContext
from genzoo.metrics.captions import (
    alignment_scores,
    box_iou,
    box_positions,
    caption_alignment_metric,
    crop_to_mnist,
    ink_boxes,
    ink_share_in_boxes,
)


def test_geometry_on_drawn_blocks() -> None:
    x = torch.zeros(3, 1, 16, 16)
    x[0, 0, 1:5, 1:5] = 1.0  # a 4x4 block: box (1/16, 1/16, 5/16, 5/16), centre in the top left cell
    x[1, 0, 8:16, 2:6] = 0.8  # a tall block at the bottom left
    # image 2 stays blank: its ink box is the whole canvas
    boxes = ink_boxes(x)
    assert boxes.tolist() == [[0.0625, 0.0625, 0.3125, 0.3125], [0.125, 0.5, 0.375, 1.0], [0.0, 0.0, 1.0, 1.0]]
    assert box_positions(boxes) == ["top left", "bottom left", "centre"]
    # IoU by hand: the block against a box twice as wide (area 1/16 vs 1/8, intersection 1/16)
    wide = torch.tensor([[0.0625, 0.0625, 0.5625, 0.3125], [0.125, 0.5, 0.375, 1.0], [0.0, 0.0, 0.5, 0.5]])
    assert box_iou(boxes, wide).tolist() == pytest.approx([0.5, 1.0, 0.25])
    assert box_iou(wide[:1], torch.tensor([[0.8, 0.8, 0.9, 0.9]])).item() == 0.0
    # ink share: all of block 0 lies in its box; half of block 1 lies in the top half of its box
    half = torch.tensor([[0.0625, 0.0625, 0.3125, 0.3125], [0.125, 0.5, 0.375, 0.75], [0.0, 0.0, 1.0, 1.0]])
    assert ink_share_in_boxes(x, half).tolist() == pytest.approx([1.0, 0.5, 0.0])


def test_crops_are_framed_as_mnist_frames_its_digits() -> None:
    x = torch.zeros(2, 1, 32, 32)
    x[0, 0, 8:16, 8:16] = 1.0  # a square block fills its box: the crop is a full 20x20 square in the middle
    x[1, 0, 0:16, 20:28] = 1.0  # a 16-tall, 8-wide block: padded square, centred
    crops = crop_to_mnist(x, torch.tensor([[0.25, 0.25, 0.5, 0.5], [20 / 32, 0.0, 28 / 32, 0.5]]))
    assert crops.shape == (2, 1, 28, 28)
    inner = torch.zeros(28, 28, dtype=torch.bool)
    inner[4:24, 4:24] = True
    ones = lambda t: bool(torch.all((t - 1.0).abs() < 1e-6))  # noqa: E731 (bilinear keeps 1 to rounding)
    assert ones(crops[0, 0][inner]) and torch.all(crops[0, 0][~inner] == 0.0)
    # the tall block: columns 4-11 of the padded 16x16 square -> 6-13 of the 20x20 resize (+4 in the frame)
    tall = crops[1, 0]
    assert ones(tall[4:24, 10:18]) and torch.all(tall[:, :8] == 0.0) and torch.all(tall[:, 20:] == 0.0)
    assert torch.all(tall[:4] == 0.0) and torch.all(tall[24:] == 0.0)


def test_alignment_scores_take_ink_measures_over_single_digit_scenes_only() -> None:
    x = torch.zeros(3, 1, 16, 16)
    x[:, 0, 4:8, 4:8] = 1.0
    boxes = torch.tensor([[0.25, 0.25, 0.5, 0.5]] * 3)
    calls: list[int] = []

    def classify(crops: torch.Tensor) -> torch.Tensor:
        calls.append(len(crops))
        return torch.full((len(crops),), 7)

    s = alignment_scores(x, boxes, torch.tensor([7, 7, 1]), ["centre", "centre", "top"],
                         torch.tensor([True, False, True]), classify)
    assert calls == [3, 2]  # every scene at its box, the two single-digit ones at their ink
    assert s["digit_at_box"].tolist() == [1.0, 1.0, 0.0] and s["digit_at_ink"].tolist() == [1.0, 0.0]
    assert s["position"].tolist() == [1.0, 0.0] and s["iou"].tolist() == pytest.approx([1.0, 1.0])


class _Ctx(EvalContext):
    """An evaluation context whose classifier is a fixed rule of the crop's ink (no trained network)."""

    def class_probs(self, images: torch.Tensor, extractor: str) -> torch.Tensor:
        return torch.nn.functional.one_hot(ink_rule(images), 10).float()


def ink_rule(crops: torch.Tensor) -> torch.Tensor:
    return (crops.flatten(1).sum(1) * 7).long() % 10


OPTIONS = {"size": 32, "min_digits": 1, "max_digits": 2, "eval_count": 60}


def test_metric_scores_each_sample_against_its_own_caption(data_dir: Path) -> None:
    real = _Ctx(None, "captioned-mnist", OPTIONS, data_dir=data_dir, real_baseline=True)
    r = caption_alignment_metric(real, n_samples=50)
    test = real.dataset("test")
    single = torch.tensor([len(s) == 1 for s in test.scenes[:50]])
    assert r["n_single"] == int(single.sum()) and 0 < r["n_single"] < 50
    for key in ("digit_at_box", "digit_at_ink", "position", "iou", "ink_in_box"):
        assert r[key] == r[f"{key}_real"]  # the real baseline is the ceiling itself
    # the real canvases' ink agrees with the recorded first-digit boxes: the coordinates line up
    assert r["iou"] > 0.9 and r["position"] > 0.9 and r["ink_in_box"] > 0.99
    boxes, labels = test.extra["box"][:50, 0], test.labels[:50]
    direct = (ink_rule(crop_to_mnist(test.tensor()[:50], boxes)) == labels).double().mean()
    assert r["digit_at_box"] == pytest.approx(float(direct))
    # blank samples: nothing at any box, the whole canvas as their ink box
    blank = _Ctx(None, "captioned-mnist", OPTIONS, data_dir=data_dir, provided_samples=torch.zeros(50, 1, 32, 32))
    b = caption_alignment_metric(blank, n_samples=50)
    words = [s[0].position for s in test.scenes[:50]]
    assert b["position"] == pytest.approx(sum(w == "centre" for w, s in zip(words, single) if s) / int(single.sum()))
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[single]
    assert b["iou"] == pytest.approx(float(area.double().mean()), rel=1e-5)
    assert b["ink_in_box"] == 0.0 and b["digit_at_box_real"] == r["digit_at_box"]


def test_metric_refuses_data_without_captions() -> None:
    ctx = _Ctx(None, "digits", {}, provided_samples=torch.zeros(4, 1, 8, 8))
    with pytest.raises(MetricUnavailable, match="no captioned scenes"):
        caption_alignment_metric(ctx, n_samples=4)
