"""Improved precision / recall (Kynkäänniemi et al. 2019)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.metrics.prd import knn_radii, precision_recall


def brute_force(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    def radii(x: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(x[:, None] - x[None], axis=2)
        return np.sort(d, axis=1)[:, k]  # column 0 is the point itself

    def covered(q: np.ndarray, s: np.ndarray, r: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(q[:, None] - s[None], axis=2)
        return (d <= r[None]).any(1)

    return float(covered(fake, real, radii(real)).mean()), float(covered(real, fake, radii(fake)).mean())


def test_self_is_one() -> None:
    x = np.random.default_rng(0).normal(size=(300, 16))
    assert precision_recall(x, x) == (1.0, 1.0)


def test_swap_arguments_swaps_results() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(200, 8)), rng.normal(size=(250, 8)) * 0.5 + 0.7
    p, r = precision_recall(a, b)
    p2, r2 = precision_recall(b, a)
    assert (p, r) == (r2, p2)
    assert p != r


def test_matches_brute_force_with_small_chunks() -> None:
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(120, 5)), rng.normal(size=(90, 5)) * 0.6 + 0.4
    expected = brute_force(real, fake, k=3)
    got = precision_recall(real, fake, k=3, chunk=17, dtype=torch.float64)
    assert got == pytest.approx(expected, abs=1e-12)


def test_collapsed_samples_have_high_precision_low_recall() -> None:
    rng = np.random.default_rng(3)
    real = rng.normal(size=(500, 4))
    fake = rng.normal(size=(500, 4)) * 0.1  # all in the dense middle of the real data
    p, r = precision_recall(real, fake)
    assert p > 0.95 and r < 0.3
    far = real + 100.0
    assert precision_recall(real, far) == (0.0, 0.0)


def test_knn_radii() -> None:
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0]], dtype=torch.float64)
    assert knn_radii(x, k=1).tolist() == [1.0, 1.0, 4.0, 9.0]  # squared distances
    assert knn_radii(x, k=2).tolist() == [9.0, 4.0, 9.0, 25.0]
