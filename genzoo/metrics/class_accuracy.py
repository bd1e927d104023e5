"""Class accuracy of class-conditional samples under a reference classifier.

AC-GAN (Odena et al. 2016, Sec. 4.1) judges a class-conditional generator by whether a classifier
recognises the requested class in its samples; genzoo uses the dataset's reference classifier
(:mod:`genzoo.metrics.classifier`, ``classifier:<dataset>``) instead of the paper's Inception network.
Samples are drawn as :func:`genzoo.evaluation.draw_samples` draws them for conditional models: sample
``i`` asks for class ``i mod K``. Also reported: the fraction of samples predicted as each class
(chance accuracy is ``1/K``).
"""

from __future__ import annotations

import torch

from genzoo.core import MetricResult, MetricUnavailable
from genzoo.metrics.common import DEFAULT_EXTRACTOR, MetricContext, resolve_extractor_name
from genzoo.registry import register_metric


@register_metric("class-accuracy", "accuracy of a reference classifier on class-conditional samples (AC-GAN)")
def class_accuracy_metric(
    ctx: MetricContext, n_samples: int = 10000, extractor: str = DEFAULT_EXTRACTOR
) -> MetricResult:
    """Fraction of ``n_samples`` conditional samples that the classifier assigns to the requested class."""
    model = ctx.require_model()
    k = model.data_info.num_classes
    if "label" not in model.condition_keys() or not k:
        raise MetricUnavailable(f"model {model.name!r} is not class-conditional; class accuracy needs labels")
    images = ctx.samples(int(n_samples))
    name = resolve_extractor_name(ctx, extractor, images)
    pred = ctx.class_probs(images, name).argmax(1).cpu()
    want = torch.arange(len(images)) % k
    correct = (pred == want).double()
    return MetricResult(
        "class-accuracy",
        {"accuracy": float(correct.mean()), "chance": 1.0 / k},
        errors={"accuracy": float(correct.std() / max(len(correct), 2) ** 0.5)},
        protocol={"n_samples": len(images), "extractor": name, "classes": "sample i asks for class i mod K",
                  "data": ctx.data_name},
        details={"class_fractions": [round(float(c), 4) for c in torch.bincount(pred, minlength=k) / len(pred)]},
    )
