"""Inception Score extremes and a direct reference."""

from __future__ import annotations

import numpy as np
import pytest

from genzoo.metrics.inception_score import inception_score


def test_uniform_output_scores_one() -> None:
    p = np.full((100, 10), 0.1)
    mean, std = inception_score(p, splits=5)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_confident_balanced_scores_num_classes() -> None:
    k = 7
    p = np.eye(k)[np.arange(700) % k]
    mean, _ = inception_score(p, splits=10)  # every split of 70 holds 10 of each class
    assert mean == pytest.approx(k, rel=1e-12)


def test_confident_single_class_scores_one() -> None:
    p = np.zeros((50, 4))
    p[:, 2] = 1.0
    assert inception_score(p, splits=1)[0] == pytest.approx(1.0)


def test_matches_direct_kl() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(40, 5)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    scores = []
    for part in (p[:20], p[20:]):
        py = part.mean(0)
        kl = [sum(pi[c] * np.log(pi[c] / py[c]) for c in range(5)) for pi in part]
        scores.append(np.exp(np.mean(kl)))
    mean, std = inception_score(p, splits=2)
    assert mean == pytest.approx(np.mean(scores), rel=1e-10)
    assert std == pytest.approx(np.std(scores), rel=1e-8)
    assert 1.0 < mean < 5.0


def test_rejects_non_distributions() -> None:
    with pytest.raises(ValueError):
        inception_score(np.ones((10, 3)), splits=2)



def test_evaluator_shuffles_label_sorted_inputs() -> None:
    """A real test split sorted by label: consecutive splits would each see one class and score ~1."""
    from types import SimpleNamespace

    import numpy as np
    import torch

    from genzoo.metrics.inception_score import inception_score_metric

    k, per = 10, 100
    sorted_probs = torch.from_numpy(np.repeat(np.eye(k), per, axis=0))
    ctx = SimpleNamespace(real_baseline=False, seed=0, data_name=None,
                          samples=lambda n: torch.zeros(n, 1, 8, 8),
                          class_probs=lambda images, extractor: sorted_probs)
    out = inception_score_metric(ctx, n_samples=k * per, splits=10, extractor="pixels")
    assert out["inception_score"] > 9.0  # ~10: every part holds nearly all classes


def test_splits_are_the_original_row_ranges() -> None:
    """Part i of N rows is rows [i*N//s, (i+1)*N//s) (the original code and torch-fidelity), which differs
    from np.array_split when s does not divide N."""
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(13, 4)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    n, s = len(p), 5

    def part_score(part: np.ndarray) -> float:
        py = part.mean(0)
        return float(np.exp(np.mean((part * (np.log(part) - np.log(py))).sum(1))))

    ours = [part_score(p[i * n // s : (i + 1) * n // s]) for i in range(s)]
    other = [part_score(q) for q in np.array_split(p, s)]
    mean, std = inception_score(p, splits=s)
    assert mean == pytest.approx(np.mean(ours), rel=1e-12) and std == pytest.approx(np.std(ours), rel=1e-10)
    assert std != pytest.approx(np.std(other), rel=1e-6)  # the convention matters here


def test_evaluator_records_its_shuffle() -> None:
    from types import SimpleNamespace

    import torch

    from genzoo.metrics.inception_score import inception_score_metric

    probs = torch.softmax(torch.randn(60, 5, generator=torch.Generator().manual_seed(0)), dim=1).double()
    ctx = SimpleNamespace(real_baseline=False, seed=0, data_name=None,
                          samples=lambda n: torch.zeros(n, 1, 8, 8),
                          class_probs=lambda images, extractor: probs)
    out = inception_score_metric(ctx, n_samples=60, splits=4, extractor="pixels", shuffle_seed=2020)
    assert out.protocol["shuffle_seed"] == 2020 and "RandomState" in out.protocol["shuffle"]
    # torch-fidelity's procedure on the same probabilities: RandomState(2020).permutation, then row ranges
    ref = inception_score(probs.numpy()[np.random.RandomState(2020).permutation(60)], splits=4)
    assert out.value == pytest.approx(ref[0], rel=1e-12) and out.error == pytest.approx(ref[1], rel=1e-12)
