"""Paired-translation scores: how close a model's outputs for the test split's source images are to those
images' own targets, and whether a classifier still recognises them.

For the first ``n`` test pairs ``(x_i, y_i)`` (source, target) and the outputs ``G(x_i)`` (the model's
samples under the default condition grid, which takes the test sources in order):

* ``l1``: mean absolute error ``mean_i mean_pixels |G(x_i) - y_i|`` on the [0, 1] scale (pix2pix's L1
  term, Isola et al. 2017 Eq. 3, as a test score);
* ``ssim``: single-scale SSIM (Wang, Bovik, Sheikh & Simoncelli 2004, Eq. 13; 11-tap Gaussian window,
  sigma 1.5, ``C1 = (0.01)^2``, ``C2 = (0.03)^2``, valid filtering, channels averaged), via
  :func:`genzoo.metrics.msssim.ms_ssim` with one scale;
* ``accuracy``: the fraction of outputs the dataset's reference classifier assigns to the class of the
  source's own label (the paper's FCN-score idea, Sec. 4.2: an off-the-shelf recogniser run on the
  synthesised images, scored against the labels of the inputs), beside ``accuracy_real``: the same
  classifier on the real targets (the paper's "ground truth" row, an upper bound).

FID of the outputs against the test targets is the ``fid`` metric with ``reference_split=test``.
"""

from __future__ import annotations

from genzoo.core import MetricResult
from genzoo.core.errors import MetricUnavailable
from genzoo.metrics.common import DEFAULT_EXTRACTOR, MetricContext, resolve_extractor_name
from genzoo.metrics.msssim import ms_ssim
from genzoo.registry import register_metric


@register_metric("translation", "paired translation: L1 and SSIM to the test targets, classifier accuracy vs label")
def translation_metric(ctx: MetricContext, n_samples: int = 1000, extractor: str | None = None) -> MetricResult:
    """Scores of outputs for the first ``n_samples`` test sources against their targets (module docstring).

    ``extractor`` classifies outputs and targets when the test split is labelled (default: the dataset's
    reference classifier); an unlabelled paired folder needs none, so none is required up front."""
    if ctx.real_baseline:
        raise MetricUnavailable("translation compares outputs with their own targets; real targets score 0 / 1")
    test = ctx.dataset("test")
    if "source" not in test.info.condition_specs:
        raise MetricUnavailable(f"dataset {ctx.data_name!r} has no source images (not a paired dataset)")
    if ctx.model is not None and "source" not in ctx.model.condition_keys():
        raise MetricUnavailable(f"model {ctx.model.name!r} does not translate source images")
    n = min(int(n_samples), len(test))
    outputs = ctx.samples(n).float()
    targets = test.subset(slice(0, n)).tensor(int(ctx.seed)).float()
    if outputs.shape != targets.shape:
        raise MetricUnavailable(f"outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)} differ in shape")
    l1 = (outputs - targets).abs().flatten(1).mean(1).double()
    ssim = ms_ssim(outputs, targets, weights=(1.0,))
    result = MetricResult(
        "translation",
        {"l1": float(l1.mean()), "ssim": float(ssim.mean())},
        headline="l1",
        errors={"l1": float(l1.std() / max(n, 2) ** 0.5), "ssim": float(ssim.std() / max(n, 2) ** 0.5)},
        protocol={"n": n, "n_samples": n, "split": "test (first n pairs)", "data": ctx.data_name},
    )
    labels = test.labels
    if labels is not None:
        name = resolve_extractor_name(ctx, extractor or DEFAULT_EXTRACTOR, outputs)
        try:
            fake = ctx.class_probs(outputs, name).argmax(1)
            real = ctx.class_probs(targets, name).argmax(1)
        except (FileNotFoundError, ValueError) as e:
            result.notes.append(f"classifier accuracy unavailable: {e}")
        else:
            y = labels[:n]
            result.scores["accuracy"] = float((fake == y).double().mean())
            result.scores["accuracy_real"] = float((real == y).double().mean())
            result.protocol["classifier"] = name
    return result

