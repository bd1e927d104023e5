"""Class accuracy of class-conditional samples under a reference classifier.

AC-GAN (Odena et al. 2016, Sec. 4.1) judges a class-conditional generator by whether a classifier
recognises the requested class in its samples; genzoo uses the dataset's reference classifier
(:mod:`genzoo.metrics.classifier`, ``classifier:<dataset>``) instead of the paper's Inception network.
Samples are drawn as :func:`genzoo.evaluation.draw_samples` draws them for conditional models: sample
``i`` asks for class ``i mod K``. Also reported: the fraction of samples predicted as each class
(chance accuracy is ``1/K``).
"""

from __future__ import annotations

from typing import Any

import torch

from genzoo.core import MetricUnavailable
from genzoo.registry import register_metric


@register_metric("class-accuracy", "accuracy of a reference classifier on class-conditional samples (AC-GAN)")
def class_accuracy_metric(ctx: Any, n_samples: int = 10000, extractor: str = "auto") -> dict[str, Any]:
    """Fraction of ``n_samples`` conditional samples that the classifier assigns to the requested class."""
    model = ctx.require_model()
    k = model.data_info.num_classes
    if not (model.is_conditional and k):
        raise MetricUnavailable(f"model {model.name!r} is not class-conditional; class accuracy needs labels")
    images = ctx.samples(int(n_samples))
    probs = ctx.class_probs(images, extractor)
    pred = probs.argmax(1).cpu()
    want = torch.arange(len(images)) % k
    return {
        "accuracy": float((pred == want).float().mean()),
        "chance": 1.0 / k,
        "class_fractions": [round(float(c), 4) for c in torch.bincount(pred, minlength=k).float() / len(pred)],
        "n_samples": len(images),
        "extractor": extractor,
    }
