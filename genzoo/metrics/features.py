"""Feature extractors for sample-quality metrics, and a disk cache of reference-data features.

Sample-based metrics (FID, Heusel et al. 2017 Eq. 6; KID, Binkowski et al. 2018 Eq. 4;
precision/recall, Sajjadi et al. 2018 / Kynkaanniemi et al. 2019; the Inception Score, Salimans
et al. 2016 Sec. 4) compare samples and data in the feature space of a fixed network. Extractors are
chosen by name:

``"classifier:<dataset>"``
    penultimate 128-d features and class probabilities of genzoo's reference classifier for that
    dataset (:mod:`genzoo.metrics.classifier`; ``binarized-mnist`` uses ``mnist``'s).
``"inception"`` / ``"inception:<path>"``
    2048-d pool_3 features of the TF FID Inception network (:mod:`genzoo.metrics.inception`,
    optional weights); no class probabilities (the TorchScript file has no logits).
``"pixels"``
    the flattened images themselves (for tests and tiny data).
``"auto"``
    :func:`resolve_extractor`: the reference classifier of the dataset when genzoo has a recipe for
    it (digits, mnist and its binarized variants, cifar10), else the Inception network. Without a
    dataset name the image shape decides (1x8x8 digits, 1x28x28 mnist, 3x32x32 cifar10).

:func:`extract_features` and :func:`class_probabilities` take images in ``[0, 1]``, ``(N, C, H, W)``.
:func:`cached_features` computes the features of a whole dataset split once and keeps them in
``<cache>/features/`` (``<cache>`` = ``$GENZOO_CACHE`` or ``~/.cache/genzoo``) as safetensors files, keyed
by dataset, split, dataset options, extractor name and extractor version (the version includes the
SHA of the classifier or Inception weights, so retraining a classifier invalidates its entries).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from genzoo.fileio import atomic_write_bytes
from genzoo.metrics.classifier import cache_root

CACHE_FORMAT = "genzoo-features-1"


@dataclass
class Extractor:
    """A loaded feature extractor.

    ``features(x) -> (N, D)`` and, when the network has a classifier head,
    ``probabilities(x) -> (N, K)``; ``version`` identifies the weights for the cache.
    """

    name: str
    version: str
    features: Callable[[Tensor], Tensor]
    probabilities: Callable[[Tensor], Tensor] | None = None


#: factories by extractor kind (the part of the name before ':'); each gets (argument, device)
EXTRACTORS: dict[str, Callable[[str | None, torch.device], Extractor]] = {}
_LOADED: dict[tuple[str, str], Extractor] = {}


def register_extractor(kind: str) -> Callable[[Callable[[str | None, torch.device], Extractor]], Any]:
    """Decorator registering a factory ``fn(argument, device) -> Extractor`` for names ``kind[:argument]``."""

    def deco(
        fn: Callable[[str | None, torch.device], Extractor],
    ) -> Callable[[str | None, torch.device], Extractor]:
        EXTRACTORS[kind] = fn
        return fn

    return deco


@register_extractor("pixels")
def _pixels(arg: str | None, device: torch.device) -> Extractor:
    return Extractor("pixels", "1", lambda x: x.flatten(1).float())


@register_extractor("classifier")
def _classifier(arg: str | None, device: torch.device) -> Extractor:
    from genzoo.metrics.classifier import classifier_name, load_reference_classifier

    if not arg:
        raise ValueError(
            "the classifier extractor needs a dataset: 'classifier:<dataset>', e.g. 'classifier:mnist'"
        )
    model = load_reference_classifier(arg, device=device)
    facts = getattr(model, "facts", {})
    version = f"v{facts.get('version', '?')}-{str(facts.get('sha256', ''))[:12]}"
    return Extractor(f"classifier:{classifier_name(arg)}", version, model.features, model.probabilities)


@register_extractor("inception")
def _inception(arg: str | None, device: torch.device) -> Extractor:
    from genzoo.metrics.inception import InceptionFeatures

    net = InceptionFeatures(arg or None, device=device)
    return Extractor("inception", net.version, net.features)


def get_extractor(name: str, device: str | torch.device = "cpu") -> Extractor:
    """The extractor called ``name`` (loaded once per process and device)."""
    dev = torch.device(device)
    key = (name, str(dev))
    if key not in _LOADED:
        kind, _, arg = name.partition(":")
        if kind not in EXTRACTORS:
            raise ValueError(
                f"unknown feature extractor {name!r}; known: {', '.join(sorted(EXTRACTORS))} "
                "(use 'classifier:<dataset>' for a reference classifier)"
            )
        _LOADED[key] = EXTRACTORS[kind](arg or None, dev)
    return _LOADED[key]


def clear_loaded() -> None:
    """Forget the extractors loaded in this process (e.g. after retraining a classifier)."""
    _LOADED.clear()


#: image shape -> dataset whose reference classifier "auto" picks when no dataset name is given
_SHAPES = {(1, 8, 8): "digits", (1, 28, 28): "mnist", (3, 32, 32): "cifar10"}


def resolve_extractor(name: str, dataset: str | None = None, shape: tuple[int, ...] | None = None) -> str:
    """Resolve ``"auto"`` (see the module docstring); other names are returned unchanged."""
    if name != "auto":
        return name
    from genzoo.metrics.classifier import RECIPES, classifier_name

    if dataset is None and shape is not None:
        dataset = _SHAPES.get(tuple(int(s) for s in shape))
    if dataset is not None and classifier_name(dataset) in RECIPES:
        return f"classifier:{classifier_name(dataset)}"
    return "inception"


def _check_images(images: Tensor) -> Tensor:
    if not isinstance(images, Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"expected a float image tensor (N, C, H, W) in [0, 1], got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"expected float images in [0, 1], got dtype {images.dtype}")
    if images.numel() and (float(images.min()) < -1e-4 or float(images.max()) > 1 + 1e-4):
        raise ValueError(
            f"images must lie in [0, 1] (got min {float(images.min()):.3g}, max {float(images.max()):.3g}); "
            "GAN outputs in [-1, 1] must be mapped back first"
        )
    return images


@torch.no_grad()
def _batched(fn: Callable[[Tensor], Tensor], images: Tensor, batch_size: int, device: torch.device) -> Tensor:
    outs = [
        fn(images[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(images), batch_size)
    ]
    if not outs:
        raise ValueError("no images given")
    return torch.cat(outs)


def extract_features(
    images: Tensor,
    extractor: str = "pixels",
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    dataset: str | None = None,
) -> Tensor:
    """Features ``(N, D)`` (float32, CPU) of ``[0, 1]`` images ``(N, C, H, W)`` under ``extractor``.

    ``dataset`` only matters for ``extractor="auto"`` (:func:`resolve_extractor`).
    """
    images = _check_images(images)
    ex = get_extractor(resolve_extractor(extractor, dataset, tuple(images.shape[1:])), device)
    return _batched(ex.features, images, batch_size, torch.device(device))


def class_probabilities(
    images: Tensor,
    extractor: str = "auto",
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    dataset: str | None = None,
) -> Tensor:
    """Class probabilities ``p(y|x)`` ``(N, K)`` of ``[0, 1]`` images under a classifier extractor."""
    images = _check_images(images)
    ex = get_extractor(resolve_extractor(extractor, dataset, tuple(images.shape[1:])), device)
    if ex.probabilities is None:
        raise ValueError(
            f"extractor {extractor!r} gives no class probabilities; use 'classifier:<dataset>' "
            "(the FID Inception file has no logits)"
        )
    return _batched(ex.probabilities, images, batch_size, torch.device(device))


# ----- disk cache ----------------------------------------------------------------------------------
def features_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else cache_root() / "features"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "x"


def cache_key(
    dataset: str,
    split: str,
    extractor: str,
    version: str,
    options: dict[str, Any] | None = None,
    limit: int | None = None,
) -> str:
    """File stem of a cache entry: readable parts plus a hash of the full key."""
    full = json.dumps(
        {
            "dataset": dataset,
            "split": split,
            "extractor": extractor,
            "version": version,
            "options": options or {},
            "limit": limit,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(full.encode()).hexdigest()[:16]
    return f"{_slug(dataset)}-{_slug(split)}-{_slug(extractor)}-{digest}"


def _read_entry(path: Path) -> Tensor | None:
    try:
        raw = path.read_bytes()
        tensors = st_load(raw)
        header_len = int.from_bytes(raw[:8], "little")
        meta = json.loads(raw[8 : 8 + header_len]).get("__metadata__") or {}
    except FileNotFoundError:
        return None
    except (SafetensorError, ValueError, OSError, UnicodeDecodeError):
        return None  # a corrupt entry is recomputed and overwritten
    if meta.get("format") != CACHE_FORMAT or "features" not in tensors:
        return None
    return tensors["features"]


def cached_features(
    dataset: str,
    split: str,
    extractor: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    options: dict[str, Any] | None = None,
    limit: int | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    cache_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> Tensor:
    """Features of a dataset split (first ``limit`` images if given), computed once and cached on disk.

    ``options`` are passed to :func:`genzoo.data.load_dataset` (and are part of the key); a dynamic
    binarization is drawn once with ``seed``. Cache entries are safetensors files written atomically;
    an unreadable entry is recomputed.
    """
    extractor = resolve_extractor(extractor, dataset)
    ex = get_extractor(extractor, device)
    key = cache_key(dataset, split, ex.name, ex.version, {**(options or {}), "seed": seed}, limit)
    path = features_cache_dir(cache_dir) / f"{key}.safetensors"
    hit = _read_entry(path)
    if hit is not None:
        return hit
    from genzoo.data import load_dataset

    data = load_dataset(dataset, split, data_dir=data_dir, **(options or {}))
    if limit is not None:
        data = data.subset(slice(0, int(limit)))
    feats = extract_features(data.tensor(seed), extractor, batch_size, device).contiguous()
    meta = {
        "format": CACHE_FORMAT,
        "dataset": dataset,
        "split": split,
        "extractor": ex.name,
        "version": ex.version,
        "options": json.dumps(options or {}, sort_keys=True),
        "limit": str(limit),
        "n": str(len(feats)),
    }
    atomic_write_bytes(path, st_save({"features": feats}, metadata=meta))
    return feats
