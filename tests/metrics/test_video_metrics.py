"""Video metrics against direct computations."""

from __future__ import annotations

import pytest
import torch

from genzoo.core import MetricUnavailable
from genzoo.metrics.video import frames_for_classifier, mask_iou, temporal_change


def test_temporal_change_is_the_mean_absolute_frame_difference():
    g = torch.Generator().manual_seed(0)
    v = torch.rand(3, 4, 2, 5, 5, generator=g)
    direct = sum(float((v[n, t + 1] - v[n, t]).abs().sum()) for n in range(3) for t in range(3)) / (3 * 3 * 2 * 25)
    assert temporal_change(v) == pytest.approx(direct, rel=1e-6)
    assert temporal_change(v[:, :1].expand(-1, 4, -1, -1, -1)) == 0.0
    with pytest.raises(MetricUnavailable):
        temporal_change(v[0])


def test_mask_iou_matches_set_counting():
    g = torch.Generator().manual_seed(1)
    p = torch.rand(4, 3, 1, 6, 6, generator=g) > 0.5
    t = torch.rand(4, 3, 1, 6, 6, generator=g) > 0.6
    direct = []
    for i in range(4):
        a = {k for k, b in enumerate(p[i].flatten().tolist()) if b}
        b = {k for k, c in enumerate(t[i].flatten().tolist()) if c}
        direct.append(len(a & b) / len(a | b))
    assert mask_iou(p, t) == pytest.approx(sum(direct) / 4)
    assert mask_iou(t, t) == 1.0
    assert mask_iou(torch.zeros_like(t), torch.zeros_like(t)) == 1.0


def test_frames_for_classifier_shape_and_grey_mean():
    v = torch.zeros(2, 3, 3, 56, 56)
    v[:, :, 0] = 0.9
    f = frames_for_classifier(v)
    assert f.shape == (6, 1, 28, 28)
    assert torch.allclose(f, torch.full_like(f, 0.3))
