"""Density and coverage (Naeem et al. 2020) against a direct computation, and the collapse check."""

from __future__ import annotations

import numpy as np
import pytest

from genzoo.metrics.common import collapse_notes, spread_ratio
from genzoo.metrics.density import density_coverage
from genzoo.metrics.prd import precision_recall


def direct_density_coverage(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Eq. 4-5 written out with full distance matrices and loops."""
    n, m = len(real), len(fake)
    radius = []
    for i in range(n):
        d = sorted(float(np.linalg.norm(real[i] - real[j])) for j in range(n) if j != i)
        radius.append(d[k - 1])
    count, covered = 0, 0
    for i in range(n):
        inside = [float(np.linalg.norm(fake[j] - real[i])) < radius[i] for j in range(m)]
        count += sum(inside)
        covered += any(inside)
    return count / (k * m), covered / n


@pytest.mark.parametrize("k", [1, 3, 5])
def test_matches_direct_computation(k: int) -> None:
    rng = np.random.default_rng(k)
    real = rng.normal(size=(40, 3))
    fake = rng.normal(size=(30, 3)) * 0.8 + 0.3
    ours = density_coverage(real, fake, k=k, chunk=7, dtype=__import__("torch").float64)
    assert ours == pytest.approx(direct_density_coverage(real, fake, k), abs=1e-12)


def test_robust_to_a_real_outlier_unlike_precision() -> None:
    """One far real point makes a huge k-NN ball: samples near it get precision 1, density stays low."""
    rng = np.random.default_rng(0)
    real = np.concatenate([rng.normal(size=(200, 2)), [[60.0, 60.0]]])
    fake = rng.normal(size=(100, 2)) * 3 + 40.0  # far from the data, inside the outlier's ball
    precision, _ = precision_recall(real, fake, k=3)
    density, coverage = density_coverage(real, fake, k=3)
    assert precision == 1.0
    assert density <= 1 / 3 + 1e-12  # each sample sits in one ball of k = 3: counted 1/k
    assert coverage < 0.01


def test_collapse_check_flags_a_collapsed_cloud() -> None:
    rng = np.random.default_rng(1)
    real = rng.normal(size=(500, 8))
    assert spread_ratio(real, rng.normal(size=(500, 8))) == pytest.approx(1.0, abs=0.1)
    collapsed = rng.normal(size=(500, 8)) * 0.05 + real[0]
    ratio = spread_ratio(real, collapsed)
    assert ratio < 0.1
    assert collapse_notes(ratio) and "collapse" in collapse_notes(ratio)[0]
    assert collapse_notes(1.0) == []
    assert collapse_notes(5.0) and "noise" in collapse_notes(5.0)[0]
