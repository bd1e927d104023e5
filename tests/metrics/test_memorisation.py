"""Memorisation check: planted copies of training images are flagged, fresh images are not."""

from __future__ import annotations

import numpy as np
import torch

from genzoo.data import load_dataset
from genzoo.metrics.memorisation import flag_copies, memorisation_check, nearest_neighbours


def test_nearest_neighbours_match_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    q, r = torch.rand(37, 1, 4, 4, generator=g), torch.rand(150, 1, 4, 4, generator=g)
    d, i = nearest_neighbours(q, r, k=4, chunk=5, dtype=torch.float64)  # reference chunks of 20
    full = torch.cdist(q.reshape(37, -1).double(), r.reshape(150, -1).double())
    ref_d, ref_i = full.topk(4, dim=1, largest=False)
    assert torch.equal(i, ref_i)
    assert torch.allclose(d, ref_d, atol=1e-10)


def test_flag_rule() -> None:
    test_dist = np.linspace(1.0, 3.0, 101)
    flags, thr = flag_copies(np.array([0.0, 0.4, 0.6, 2.0]), test_dist, quantile=0.0, factor=0.5)
    assert thr == 0.5
    assert flags.tolist() == [True, True, False, False]


def test_planted_copies_are_flagged() -> None:
    train = load_dataset("digits", "train").tensor()
    test = load_dataset("digits", "test").tensor()
    fresh = load_dataset("digits", "valid").tensor()  # real images the "model" never saw
    g = torch.Generator().manual_seed(0)
    src = torch.randperm(len(train), generator=g)[:20]
    exact = train[src[:10]]
    noisy = (train[src[10:]] + 0.02 * torch.randn(10, 1, 8, 8, generator=g)).clamp(0, 1)
    samples = torch.cat([fresh[:100], exact, noisy])
    order = torch.randperm(len(samples), generator=g)
    samples = samples[order]
    planted = (order >= 100).numpy()
    res = memorisation_check(samples, train, test, k=3)
    pix = res["pixel"]
    assert pix["sample_index"].shape == (120, 3) and pix["sample_dist"].shape == (120, 3)
    assert (np.diff(pix["sample_dist"], axis=1) >= 0).all()
    np.testing.assert_array_equal(pix["flags"], planted)
    # each flagged sample's nearest training image is the one it was copied from
    copied_from = torch.cat([src[:10], src[10:]]).numpy()
    np.testing.assert_array_equal(pix["sample_index"][planted, 0], copied_from[order.numpy()[planted] - 100])
    exact_mask = planted & (order < 110).numpy()
    np.testing.assert_allclose(pix["sample_dist"][exact_mask, 0], 0.0, atol=1e-3)
    # the genuinely fresh images sit as far from the training set as the test images do
    assert abs(np.median(pix["sample_dist"][~planted, 0]) - np.median(pix["test_dist"])) < 0.2


def test_feature_space_is_reported_and_combined() -> None:
    train = load_dataset("digits", "train").tensor()
    test = load_dataset("digits", "test").tensor()
    proj = torch.randn(64, 16, generator=torch.Generator().manual_seed(1))

    def feats(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1) @ proj

    samples = torch.cat([test[:30], train[:5]])
    held_out_test = test[30:]
    res = memorisation_check(
        samples, train, held_out_test, sample_features=feats(samples), train_features=feats(train),
        test_features=feats(held_out_test),
    )
    assert set(res) == {"pixel", "feature", "flags"}
    assert res["feature"]["flags"][30:].all() and res["pixel"]["flags"][30:].all()
    assert res["flags"].sum() >= 5
    assert res["flags"][30:].all()


def test_evaluator_flags_a_copying_model_and_draws_neighbours(tmp_path) -> None:
    """End to end on digits: 'samples' that are training images are flagged; the picture is written."""
    import torch
    from PIL import Image

    from genzoo.evaluation import EvalContext
    from genzoo.metrics.memorisation import memorisation_metric

    ctx = EvalContext(None, "digits", run_dir=tmp_path)
    train = ctx.dataset("train").tensor()
    fresh = ctx.dataset("valid").tensor()[:40]
    ctx.provided_samples = torch.cat([train[:10], fresh])
    out = memorisation_metric(ctx, n_samples=50, extractor=None, show=4, k=3)
    assert out["n_flagged"] == 10
    picture = Image.open(out["picture"])
    # 4 rows of (sample + 3 neighbours), 8x8 digits upscaled 8x with 2-px padding
    assert picture.size == (8 * (4 * 10 + 2), 8 * (4 * 10 + 2))
