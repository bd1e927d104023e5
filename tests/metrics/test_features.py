"""Feature extractors by name, and the disk cache of reference-data features."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genzoo.data import load_dataset
from genzoo.metrics import classifier as C
from genzoo.metrics import features as F


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(C.CACHE_ENV, str(tmp_path / "cache"))
    F.clear_loaded()
    yield
    F.clear_loaded()


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """An extractor 'count[:version]' that records how many images it has featurised."""
    calls = {"images": 0}

    def factory(arg: str | None, device: torch.device) -> F.Extractor:
        def feats(x: torch.Tensor) -> torch.Tensor:
            calls["images"] += len(x)
            return x.flatten(1)[:, :5] * 2

        return F.Extractor("count", arg or "1", feats)

    monkeypatch.setitem(F.EXTRACTORS, "count", factory)
    return calls


def test_pixels_extractor_flattens() -> None:
    x = torch.rand(5, 1, 8, 8)
    torch.testing.assert_close(F.extract_features(x, "pixels", batch_size=2), x.flatten(1))


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.extract_features(torch.rand(3, 1, 8, 8) * 2 - 1, "pixels")
    with pytest.raises(ValueError, match="dtype"):
        F.extract_features(torch.zeros(3, 1, 8, 8, dtype=torch.uint8), "pixels")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        F.extract_features(torch.rand(3, 64), "pixels")
    with pytest.raises(ValueError, match="unknown feature extractor 'nope'.*pixels"):
        F.extract_features(torch.rand(3, 1, 8, 8), "nope")
    with pytest.raises(ValueError, match="no class probabilities"):
        F.class_probabilities(torch.rand(3, 1, 8, 8), "pixels")


def test_second_call_hits_the_cache_and_other_keys_miss(counting: dict[str, int], tmp_path: Path) -> None:
    first = F.cached_features("digits", "test", "count")
    assert counting["images"] == 360 and first.shape == (360, 5)
    expected = load_dataset("digits", "test").tensor().flatten(1)[:, :5] * 2
    torch.testing.assert_close(first, expected)

    again = F.cached_features("digits", "test", "count")
    assert counting["images"] == 360  # hit: nothing recomputed
    torch.testing.assert_close(again, first)

    F.cached_features("digits", "valid", "count")  # other split
    assert counting["images"] == 360 + 180
    F.cached_features("digits", "valid", "count:2")  # other extractor version
    assert counting["images"] == 360 + 2 * 180
    F.cached_features("digits", "valid", "count", limit=50)  # other subset
    assert counting["images"] == 360 + 2 * 180 + 50

    files = sorted((tmp_path / "cache" / "features").glob("*.safetensors"))
    assert len(files) == 4
    assert not list((tmp_path / "cache" / "features").glob("*.tmp"))


def test_corrupt_cache_entry_is_recomputed(counting: dict[str, int], tmp_path: Path) -> None:
    F.cached_features("digits", "valid", "count")
    (entry,) = (tmp_path / "cache" / "features").glob("*.safetensors")
    entry.write_bytes(entry.read_bytes()[:100])
    out = F.cached_features("digits", "valid", "count")
    assert counting["images"] == 2 * 180 and out.shape == (180, 5)


def test_auto_picks_the_reference_classifier() -> None:
    assert F.resolve_extractor("auto", "binarized-mnist") == "classifier:mnist"
    assert F.resolve_extractor("auto", "cifar10") == "classifier:cifar10"
    assert F.resolve_extractor("auto", shape=(1, 8, 8)) == "classifier:digits"
    assert F.resolve_extractor("auto", "folder") == "inception"
    assert F.resolve_extractor("pixels", "mnist") == "pixels"


def test_classifier_extractor_and_its_version_in_the_key(tmp_path: Path) -> None:
    with pytest.raises(C.ClassifierNotFoundError, match="genzoo classifier digits"):
        F.extract_features(torch.rand(2, 1, 8, 8), "classifier:digits")
    C.train_reference_classifier("digits", epochs=1, seed=0)  # into $GENZOO_CACHE; a weak net is enough here
    x = load_dataset("digits", "test").tensor()[:9]
    feats = F.extract_features(x, "auto", batch_size=4, dataset="digits")
    assert feats.shape == (9, 128)
    probs = F.class_probabilities(x, "classifier:digits")
    torch.testing.assert_close(probs.sum(1), torch.ones(9))

    F.cached_features("digits", "valid", "classifier:digits")
    C.train_reference_classifier("digits", epochs=1, seed=1)  # retrained: new weights, new cache key
    F.clear_loaded()
    F.cached_features("digits", "valid", "classifier:digits")
    assert len(list((tmp_path / "cache" / "features").glob("digits-valid-classifier_digits-*"))) == 2


def test_eval_context_reference_features_are_cached_and_match(tmp_path, monkeypatch) -> None:
    """EvalContext.reference_features = features of the same reference images, computed once."""
    import torch

    from genzoo.evaluation import EvalContext
    from genzoo.metrics import features as F
    from genzoo.metrics.common import reference_images

    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    C.train_reference_classifier("digits", epochs=1, seed=0)
    ctx = EvalContext(None, "digits")
    calls = []
    real_extract = F.extract_features
    monkeypatch.setattr(F, "extract_features", lambda *a, **k: calls.append(1) or real_extract(*a, **k))
    first = ctx.reference_features("train", "classifier:digits", n=100)
    again = ctx.reference_features("train", "classifier:digits", n=100)
    assert len(calls) == 1 and torch.equal(first, again)
    direct = real_extract(reference_images(ctx, "train", 100), "classifier:digits")
    torch.testing.assert_close(first, direct)
