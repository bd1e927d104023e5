"""FID against a direct scipy.linalg.sqrtm reference, and stability for singular covariances."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.linalg

from genzoo.metrics.fid import feature_statistics, fid_from_features, frechet_distance, trace_sqrt_product


def reference_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_statistics() -> None:
    rng = np.random.default_rng(0)
    f = rng.normal(size=(200, 6))
    mu, s = feature_statistics(f)
    np.testing.assert_allclose(mu, f.mean(0))
    np.testing.assert_allclose(s, np.cov(f, rowvar=False))


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_matches_reference_on_random_gaussians(method: str) -> None:
    rng = np.random.default_rng(1)
    d = 16
    a = rng.normal(size=(d, d))
    f1 = rng.normal(size=(500, d)) @ a
    f2 = rng.normal(size=(400, d)) @ (a + 0.3 * rng.normal(size=(d, d))) + 0.5
    ref = reference_fid(f1, f2)
    assert ref > 1.0
    assert fid_from_features(f1, f2, method=method) == pytest.approx(ref, rel=1e-6)


def test_closed_form_diagonal() -> None:
    # N(0, diag(a)) vs N(m, diag(b)): FID = |m|^2 + sum (sqrt a - sqrt b)^2
    a, b, m = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0]), np.array([1.0, 0.0, 2.0])
    expected = m @ m + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(np.zeros(3), np.diag(a), m, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_set_against_itself_is_zero() -> None:
    rng = np.random.default_rng(2)
    f = rng.normal(size=(300, 20))
    assert fid_from_features(f, f) == pytest.approx(0.0, abs=1e-8)


def test_singular_covariance_is_stable() -> None:
    rng = np.random.default_rng(3)
    d = 64
    f1 = rng.normal(size=(20, d))  # fewer samples than dims: rank 19
    f2 = rng.normal(size=(30, d)) + 0.1
    mu1, s1 = feature_statistics(f1)
    mu2, s2 = feature_statistics(f2)
    assert np.linalg.matrix_rank(s1) < d
    value = frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(value) and value >= 0.0
    # the trace term agrees with the (regularised) sqrtm route
    t_eig = trace_sqrt_product(s1, s2)
    t_ref = trace_sqrt_product(s1, s2, method="sqrtm")
    assert np.isfinite(t_eig) and t_eig >= 0.0
    assert t_eig == pytest.approx(t_ref, rel=1e-4)
    # a set against itself stays ~0 even when singular
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8)


def test_shape_errors() -> None:
    with pytest.raises(ValueError):
        feature_statistics(np.zeros((1, 3)))
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


# ----- the registered evaluators, end to end on the digits data with a stand-in feature extractor ----
def _context(real_baseline: bool = False):  # noqa: ANN202
    import torch

    from genzoo.evaluation import EvalContext

    proj = torch.randn(64, 12, generator=torch.Generator().manual_seed(0))

    class Ctx(EvalContext):
        def features(self, images: torch.Tensor, extractor: str) -> torch.Tensor:
            return images.reshape(len(images), -1) @ proj

        def class_probs(self, images: torch.Tensor, extractor: str) -> torch.Tensor:
            return torch.softmax(self.features(images, extractor)[:, :10], dim=1)

        def reference_features(self, split: str, extractor: str, n: int | None = None) -> torch.Tensor:
            from genzoo.metrics.common import reference_images

            return self.features(reference_images(self, split, n), extractor)

    g = torch.Generator().manual_seed(1)
    fake = (torch.rand(300, 1, 8, 8, generator=g) * 16).round() / 16
    return Ctx(model=None, data_name="digits", provided_samples=fake, real_baseline=real_baseline)


@pytest.mark.parametrize(
    ("name", "options", "key"),
    [
        ("fid", {"n_samples": 300}, "fid"),
        ("kid", {"n_samples": 300, "n_subsets": 5, "subset_size": 100}, "kid"),
        ("precision-recall", {"n_samples": 300}, "precision"),
        ("inception-score", {"n_samples": 300}, "inception_score"),
        ("parzen", {"n_samples": 300}, "parzen_log_likelihood"),
        ("ms-ssim", {"n_samples": 300, "n_pairs": 50, "per_class": True}, "ms_ssim"),
        ("memorisation", {"n_samples": 300, "n_test": 200}, "n_flagged"),
        ("density-coverage", {"n_samples": 300}, "density"),
    ],
)
def test_evaluators_real_baseline_beats_noise(name: str, options: dict, key: str) -> None:
    from genzoo.registry import METRICS

    fn = METRICS.get(name)
    noise = fn(_context(), **options)
    real = fn(_context(real_baseline=True), **options)
    assert noise["source"] == "samples" and real["source"].startswith("real:")
    assert all(isinstance(v, (int, float, str, type(None))) for v in {**noise.scores, **noise.protocol}.values())
    assert json.loads(json.dumps(noise.to_dict()))["headline"] == noise.headline
    assert np.isfinite(noise[key]) and np.isfinite(real[key])
    assert real["n_samples"] <= 300
    if name == "fid":
        assert real[key] < noise[key]
    if name == "kid":
        assert real[key] < noise[key]
    if name == "precision-recall":
        assert real["precision"] > noise["precision"] and real["recall"] > noise["recall"]
    if name == "parzen":
        assert real[key] > noise[key]
        assert real["sigma_grid"].count(",") == 9
    if name == "memorisation":
        assert real["n_flagged"] == 0
    if name == "density-coverage":
        assert real["density"] > noise["density"] and real["coverage"] > noise["coverage"]


def test_evaluators_with_the_real_feature_module() -> None:
    import torch

    from genzoo.evaluation import EvalContext
    from genzoo.registry import METRICS

    pytest.importorskip("genzoo.metrics.features")
    fake = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    ctx = EvalContext(model=None, data_name="digits", provided_samples=fake)
    out = METRICS.get("fid")(ctx, n_samples=200, extractor="pixels")
    assert out["extractor"] == "pixels" and out["feature_dim"] == 64 and out["fid"] > 0
    out = METRICS.get("memorisation")(ctx, n_samples=200, extractor="pixels")
    assert out["n_flagged"] == 0 and out["extractor"] == "pixels"
